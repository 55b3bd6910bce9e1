//! The module's one exported class, `Instance`: one destination instance's engine, driven by the
//! analytics-next plugin and the standalone client of `js/plugin.js`. Those two are JavaScript
//! (names, getters, argument shuffling, returning `ctx`): every export costs the wasm and its glue
//! bytes, so the wasm exports only what needs the engine.

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;

use crate::engine::Engine;

/// One destination instance (the engine behind a plugin or a client). Its methods never throw
/// into the page, except the constructor on invalid settings (`setConsent` returns the `Error`
/// for an invalid consent value, which `js/plugin.js` throws).
#[wasm_bindgen]
pub struct Instance {
    engine: Engine,
}

#[wasm_bindgen]
impl Instance {
    /// Validates settings, given as a tape (`js/tape.js`'s text and ops; `js/plugin.js` encodes
    /// them), and throws an `Error` naming a bad setting; nothing is injected until
    /// loading starts (a `signal` code). `signal(code, arg)` must call this instance's
    /// [`signal`](Self::signal): timers, the readiness poll and script events report through
    /// it; the engine calls it with `SETTLED` (`src/engine.rs`) once a load has settled.
    #[wasm_bindgen(constructor)]
    pub fn new(
        text: String,
        ops: Vec<f64>,
        #[wasm_bindgen(unchecked_param_type = "(code: number, arg: number) => void")]
        signal: JsValue,
    ) -> Result<Instance, JsValue> {
        Ok(Instance {
            engine: Engine::new(text, ops, signal)?,
        })
    }

    /// What the page reports through the constructor's `signal` function, and `js/plugin.js`'s
    /// load, reset and status questions (`isLoaded`, `pendingIdentity`), by code (see
    /// `src/engine.rs`): one export rather than five. Not for callers.
    pub fn signal(&self, code: u32, arg: u32) -> bool {
        self.engine.signal(code, arg)
    }

    /// Hands a Segment event (page, identify, track, group, alias, screen), as a tape like the
    /// settings (`js/tape.js`'s `encodeEvent`), to the engine.
    pub fn call(&self, text: String, ops: Vec<f64>) {
        self.engine.call(text, ops);
    }

    /// Changes consent: `'granted' | 'pending' | 'denied'`. Anything else returns an `Error`
    /// (else `undefined`) that `js/plugin.js` throws: a `Result` would cost the export a
    /// multi-value shim and its glue.
    #[wasm_bindgen(js_name = setConsent)]
    pub fn set_consent(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Consent")] state: String,
    ) -> JsValue {
        self.engine.set_consent(&state)
    }
}
