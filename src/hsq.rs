//! The only code that touches `window._hsq`.

use hubspot_core::Command;
use js_sys::{Array, Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::convert::to_js;

thread_local! {
    /// `"_hsq"` and `"push"` as JavaScript strings, made once: each push looks both up, and
    /// turning a Rust `&str` into a JavaScript string costs a decode every time.
    static HSQ: JsValue = JsValue::from_str("_hsq");
    static PUSH: JsValue = JsValue::from_str("push");
}

/// `window._hsq`, created (as an array) if missing and never replaced: a hand-installed snippet
/// may have filled it, and HubSpot's script patches its `push`.
pub fn queue() -> Option<JsValue> {
    let window = web_sys::window()?;
    let existing = HSQ.with(|key| Reflect::get(&window, key)).ok()?;
    if existing.is_object() {
        return Some(existing);
    }
    let fresh: JsValue = Array::new().into();
    HSQ.with(|key| Reflect::set(&window, key, &fresh)).ok()?;
    Some(fresh)
}

fn push_fn(hsq: &JsValue) -> Option<Function> {
    PUSH.with(|key| Reflect::get(hsq, key))
        .ok()?
        .dyn_into()
        .ok()
}

/// True once HubSpot's tracking code has patched `_hsq.push` (its readiness signal).
pub fn is_patched() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Ok(hsq) = HSQ.with(|key| Reflect::get(&window, key)) else {
        return false;
    };
    if !hsq.is_object() {
        return false;
    }
    let array_push = push_fn(&Array::new().into());
    matches!((push_fn(&hsq), array_push), (Some(p), Some(a)) if *p != *a)
}

/// Pushes a command through whatever `push` `_hsq` has now (HubSpot's, once patched). A push
/// that throws inside HubSpot's code comes back as an error for the caller to log.
pub fn push(cmd: Command) -> Result<(), JsValue> {
    let hsq = queue().ok_or_else(|| JsValue::from_str("window._hsq is unavailable"))?;
    let push =
        push_fn(&hsq).ok_or_else(|| JsValue::from_str("window._hsq.push is not a function"))?;
    push.call1(&hsq, &to_js(&cmd.into_value()))?;
    Ok(())
}
