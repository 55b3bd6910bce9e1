//! The page, through `js/shell.js`: `window._hsq`, script tags, timers, cookies and the console.
//! JavaScript performs and reports; what counts as HubSpot on the page is decided by the core
//! (`hubspot_core::script`).

use alloc::string::String;
use hubspot_core::Existing;
use hubspot_core::script::{HUBSPOT_TAG_IDS, is_hubspot_forms_url, is_hubspot_tracking_url};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/shell.js")]
extern "C" {
    /// The page operations without text: one import with an operation code (the `OP_`
    /// constants) rather than one each, which would cost the wasm and its glue bytes each (and
    /// a bundler a namespace object for the imports the glue passes through unwrapped). `f` is
    /// the function [`call`] calls, else `undefined`.
    #[wasm_bindgen(js_name = pageOp)]
    fn page_op(op: u32, id: f64, f: &JsValue) -> bool;
    /// Pushes a command written as JSON (with tagged dates when `dates`); reports, never throws.
    #[wasm_bindgen(js_name = hsqPush)]
    pub fn hsq_push(json: &str, dates: bool);
    #[wasm_bindgen(js_name = hasElement)]
    fn has_element(id: &str) -> bool;
    #[wasm_bindgen(js_name = scriptSources)]
    fn script_sources() -> String;
    /// `None` outside a page. Not `catch`: a throwing import costs the glue and the wasm an
    /// exception path.
    #[wasm_bindgen(js_name = pageNonce)]
    fn page_nonce_or_empty() -> Option<String>;
    /// Inserts a script tag; `signal(code, 1 | 0)` on its `load` or `error`. False when it
    /// could not be added (already reported).
    pub fn inject(
        url: &str,
        id: Option<&str>,
        nonce: Option<&str>,
        signal: &JsValue,
        code: u32,
    ) -> bool;
    /// `signal(code, 0)` after `ms`, or with `poll`: once `_hsq.push` is patched, polled every
    /// `ms`. The timer's or poll's id. One import for both: each costs the wasm and its glue.
    #[wasm_bindgen(js_name = armTimer)]
    pub fn arm_timer(signal: &JsValue, code: u32, ms: f64, poll: bool) -> f64;
    /// Deletes a cookie on this host and every parent domain.
    #[wasm_bindgen(js_name = deleteCookie)]
    pub fn delete_cookie(name: &str);
    /// `console.log('[HubSpot]', text)`.
    pub fn log(text: &str);
}

const OP_HSQ_QUEUE: u32 = 0;
const OP_IS_PATCHED: u32 = 1;
const OP_HAS_FORMS_GLOBAL: u32 = 2;
const OP_CLEAR_TIMER: u32 = 3;
const OP_CALL: u32 = 4;

/// Creates `window._hsq` if missing (never replaces it).
pub fn hsq_queue() {
    page_op(OP_HSQ_QUEUE, 0.0, &JsValue::UNDEFINED);
}

/// True once HubSpot's tracking code has patched `_hsq.push`.
pub fn is_patched() -> bool {
    page_op(OP_IS_PATCHED, 0.0, &JsValue::UNDEFINED)
}

/// Whether the page has `window.hbspt.forms` (the Forms SDK ran).
fn has_forms_global() -> bool {
    page_op(OP_HAS_FORMS_GLOBAL, 0.0, &JsValue::UNDEFINED)
}

/// Cancels a timer or poll.
pub fn clear_timer(id: f64) {
    page_op(OP_CLEAR_TIMER, id, &JsValue::UNDEFINED);
}

/// Calls the signal function with `code` (no `catch`, unlike js-sys's `Function::call1`: it
/// never throws).
pub fn call(signal: &JsValue, code: u32) {
    page_op(OP_CALL, code.into(), signal);
}

/// What of HubSpot the site already has (spec section 3.3): a patched `_hsq.push`, a tag with
/// HubSpot's ids, or a script from HubSpot's hosts for this portal; and whether the Forms SDK is
/// on the page (`window.hbspt.forms`, or a script from its hosts). One walk over the scripts for
/// both: a loop per question cost the wasm a second copy.
pub fn scan(portal_id: &str) -> (Existing, bool) {
    let (mut tracking, mut forms) = (false, false);
    let sources = script_sources();
    let mut rest = sources.as_str();
    loop {
        // A loop over bytes rather than `str::split('\n')`, whose searcher costs the wasm about
        // 0.7 KB; `get`, not indexing or `split_at`, whose panics would link core::fmt. `\n` is
        // one byte, so every position found is a character boundary.
        let end = rest.bytes().position(|b| b == b'\n').unwrap_or(rest.len());
        let src = rest.get(..end).unwrap_or(rest);
        tracking = tracking || is_hubspot_tracking_url(src, portal_id);
        forms = forms || is_hubspot_forms_url(src);
        match rest.get(end + 1..) {
            Some(next) => rest = next,
            None => break,
        }
    }
    let existing = if is_patched() {
        Existing::Ready
    } else if tracking || HUBSPOT_TAG_IDS.iter().any(|id| has_element(id)) {
        Existing::Loading
    } else {
        Existing::None
    };
    (existing, forms || has_forms_global())
}

/// The nonce of a script already on the page (the one that loaded this module, under a strict
/// CSP), if any. An error outside a browser page.
pub fn page_nonce() -> Result<Option<String>, JsValue> {
    match page_nonce_or_empty() {
        Some(n) => Ok(Some(n).filter(|n| !n.is_empty())),
        None => Err(crate::error::Error::new(
            "HubSpot: no document (not running in a browser page)",
        )
        .into()),
    }
}
