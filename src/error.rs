//! Errors → JavaScript `Error`s, once, at the boundary.

use hubspot_core::SettingsError;
use wasm_bindgen::prelude::*;

// JavaScript's `Error`, declared here rather than taken from js-sys (as are `Date.now` and
// `parseFloat`): the wasm then links no js-sys, whose descriptions of all its bindings and whose
// futures runtime left code, function-table entries and panic messages in it.
#[wasm_bindgen]
extern "C" {
    /// A JavaScript `Error`.
    pub type Error;
    /// `new Error(message)`.
    #[wasm_bindgen(constructor)]
    pub fn new(message: &str) -> Error;
    /// Sets the error's `name`.
    #[wasm_bindgen(method, setter)]
    fn set_name(this: &Error, name: &str);
}

/// A JavaScript `Error` whose message names the setting.
pub fn settings_error(e: &SettingsError) -> JsValue {
    let err = Error::new(&e.message());
    err.set_name("HubSpotSettingsError");
    err.into()
}
