//! The page's own text operations, lent to the core (see `hubspot_core::host`): the browser
//! already has Unicode case tables and number formatting, so the wasm need not carry them.

use alloc::string::String;

use hubspot_core::host::{HostText, install};
use wasm_bindgen::prelude::*;

// Through `js/shell.js` rather than js-sys's `JsString`/`Number` bindings: one import each, with
// no JavaScript string object handed back to Rust to convert (those conversions cost the wasm
// and its glue more than the two functions).
#[wasm_bindgen(module = "/js/shell.js")]
extern "C" {
    #[wasm_bindgen(js_name = lowercase)]
    fn page_lowercase(s: &str) -> String;
    #[wasm_bindgen(js_name = numberText)]
    fn number_text(n: f64) -> String;
}

#[wasm_bindgen]
extern "C" {
    /// The global `parseFloat` (not js-sys's binding: see `crate::error`).
    #[wasm_bindgen(js_name = parseFloat)]
    fn parse_float(s: &str) -> f64;
}

/// The page's implementations, in a `static` because the core keeps a reference to them.
static PAGE_TEXT: HostText = HostText {
    lowercase: page_lowercase,
    number_to_string: number_text,
    parse_decimal: |s| Some(parse_float(s)).filter(|n| !n.is_nan()),
};

/// Installs the page's implementations; repeated calls are no-ops.
pub fn install_page_text() {
    install(&PAGE_TEXT);
}
