//! Script tags: finding HubSpot already on the page, injecting ours, and their load events.

use hubspot_core::Existing;
use hubspot_core::script::{
    HUBSPOT_TAG_IDS, Script, is_hubspot_forms_url, is_hubspot_tracking_url,
};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, HtmlScriptElement};

use crate::hsq;

/// What of HubSpot the site already has (spec section 3.3): a tag with HubSpot's ids, a script
/// from HubSpot's hosts for this portal, or a patched `_hsq.push`.
pub fn existing(document: &Document, portal_id: &str) -> Existing {
    if hsq::is_patched() {
        return Existing::Ready;
    }
    let tagged = HUBSPOT_TAG_IDS
        .iter()
        .any(|id| document.get_element_by_id(id).is_some());
    if tagged
        || scripts(document)
            .iter()
            .any(|s| is_hubspot_tracking_url(&s.src(), portal_id))
    {
        Existing::Loading
    } else {
        Existing::None
    }
}

/// True when the Forms SDK is already on the page.
pub fn forms_present(document: &Document) -> bool {
    let hbspt_forms = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &"hbspt".into()).ok())
        .filter(JsValue::is_object)
        .and_then(|h| js_sys::Reflect::get(&h, &"forms".into()).ok())
        .is_some_and(|f| f.is_object());
    hbspt_forms
        || scripts(document)
            .iter()
            .any(|s| is_hubspot_forms_url(&s.src()))
}

fn scripts(document: &Document) -> Vec<HtmlScriptElement> {
    let all = document.scripts();
    (0..all.length())
        .filter_map(|i| all.item(i))
        .filter_map(|e| e.dyn_into::<HtmlScriptElement>().ok())
        .collect()
}

/// A nonce to put on injected tags when the settings give none: that of a script already on the
/// page (the one that loaded this module, under a strict CSP).
pub fn page_nonce(document: &Document) -> Option<String> {
    if let Some(current) = document
        .current_script()
        .and_then(|s| s.dyn_into::<HtmlScriptElement>().ok())
    {
        let n = current.nonce();
        if !n.is_empty() {
            return Some(n);
        }
    }
    scripts(document)
        .into_iter()
        .map(|s| s.nonce())
        .find(|n| !n.is_empty())
}

/// Inserts `script` (async, `text/javascript`, the nonce) before the first `<script>`, else into
/// `<head>`, else the root element. `settled(ok)` runs once on its `load` or `error` event.
pub fn inject(
    document: &Document,
    script: &Script,
    nonce: Option<&str>,
    settled: impl FnOnce(bool) + 'static,
) -> Result<(), JsValue> {
    let tag: HtmlScriptElement = document.create_element("script")?.dyn_into()?;
    tag.set_type("text/javascript");
    tag.set_async(true);
    if let Some(id) = script.id {
        tag.set_id(id);
    }
    if let Some(n) = nonce {
        tag.set_nonce(n);
    }
    let settled = std::rc::Rc::new(std::cell::RefCell::new(Some(settled)));
    for (event, ok) in [("load", true), ("error", false)] {
        let settled = settled.clone();
        let cb = Closure::once_into_js(move || {
            if let Some(f) = settled.borrow_mut().take() {
                f(ok);
            }
        });
        tag.add_event_listener_with_callback(event, cb.unchecked_ref())?;
    }
    tag.set_src(&script.url);
    let first_script = scripts(document).into_iter().next();
    match (
        first_script.as_ref().and_then(|s| s.parent_node()),
        document.head(),
    ) {
        (Some(parent), _) => {
            parent.insert_before(&tag, first_script.as_deref().map(|s| s.as_ref()))?
        }
        (None, Some(head)) => head.append_child(&tag)?,
        (None, None) => document
            .document_element()
            .ok_or_else(|| JsValue::from_str("document has no root element"))?
            .append_child(&tag)?,
    };
    Ok(())
}

/// Deletes cookies on this host and every parent domain HubSpot may have set them on.
pub fn delete_cookies(document: &Document, names: &[&str]) {
    let Ok(html) = document.clone().dyn_into::<web_sys::HtmlDocument>() else {
        return;
    };
    let host = web_sys::window()
        .and_then(|w| w.location().hostname().ok())
        .unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let mut domains = vec![String::new()];
    for i in 0..labels.len().saturating_sub(1) {
        domains.push(format!("; domain=.{}", labels[i..].join(".")));
    }
    for name in names {
        for domain in &domains {
            let _ = html.set_cookie(&format!(
                "{name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/{domain}"
            ));
        }
    }
}
