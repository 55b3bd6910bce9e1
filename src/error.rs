//! Errors → JavaScript `Error`s, once, at the boundary.

use hubspot_core::SettingsError;
use wasm_bindgen::JsValue;

/// A JavaScript `Error` whose message names the setting.
pub fn settings_error(e: &SettingsError) -> JsValue {
    let err = js_sys::Error::new(&e.message());
    err.set_name("HubSpotSettingsError");
    err.into()
}
