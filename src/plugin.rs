//! The analytics-next destination plugin: the module's one exported class. The standalone client
//! (`js/client.js`) drives it too.

use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;

use crate::engine::Engine;

thread_local! {
    /// `"event"` as a JavaScript string, made once rather than on every call.
    static EVENT: JsValue = JsValue::from_str("event");
}

/// The package version, shown as the plugin's `version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// An analytics-next destination plugin named `HubSpot` (so `integrations: {HubSpot: false}`
/// turns it off). Event methods return the context and never throw.
#[wasm_bindgen]
pub struct Destination {
    engine: Rc<Engine>,
}

#[wasm_bindgen]
impl Destination {
    /// Validates settings (throws an `Error` naming a bad setting) and prepares the destination;
    /// nothing is injected until analytics-next calls `load`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Settings")] settings: JsValue,
    ) -> Result<Destination, JsValue> {
        Ok(Destination {
            engine: Engine::new(&settings)?,
        })
    }

    /// `'HubSpot'`: Segment's name for this destination.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        "HubSpot".into()
    }

    /// `'destination'`.
    #[wasm_bindgen(getter = type)]
    pub fn plugin_type(&self) -> String {
        "destination".into()
    }

    /// This package's version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> String {
        VERSION.into()
    }

    /// True once HubSpot's tracker is ready.
    #[wasm_bindgen(js_name = isLoaded)]
    pub fn is_loaded(&self) -> bool {
        self.engine.ready()
    }

    /// Starts loading HubSpot and listens for `analytics.reset()`. The promise always resolves:
    /// when HubSpot is ready, when it failed or timed out, or at once without consent.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn load(&self, _ctx: JsValue, analytics: JsValue) -> Promise {
        on_reset(&analytics, &self.engine);
        self.engine.start();
        self.engine.when_settled()
    }

    /// Forwards a page call; returns `ctx`.
    pub fn page(&self, ctx: JsValue) -> JsValue {
        self.forward(ctx)
    }

    /// Forwards an identify call; returns `ctx`.
    pub fn identify(&self, ctx: JsValue) -> JsValue {
        self.forward(ctx)
    }

    /// Forwards a track call; returns `ctx`.
    pub fn track(&self, ctx: JsValue) -> JsValue {
        self.forward(ctx)
    }

    /// HubSpot's tracking code has no group call: returns `ctx`.
    pub fn group(&self, ctx: JsValue) -> JsValue {
        self.forward(ctx)
    }

    /// HubSpot's tracking code has no alias call: returns `ctx`.
    pub fn alias(&self, ctx: JsValue) -> JsValue {
        self.forward(ctx)
    }

    /// HubSpot's tracking code has no screen call: returns `ctx`.
    pub fn screen(&self, ctx: JsValue) -> JsValue {
        self.forward(ctx)
    }

    /// Changes consent: `'granted' | 'pending' | 'denied'` (throws on anything else).
    #[wasm_bindgen(js_name = setConsent)]
    pub fn set_consent(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Consent")] state: String,
    ) -> Result<(), JsValue> {
        self.engine.set_consent(&state)
    }

    /// True while an identify waits for a page view or event to carry it to HubSpot.
    #[wasm_bindgen(js_name = pendingIdentity)]
    pub fn pending_identity(&self) -> bool {
        self.engine.pending_identity()
    }

    fn forward(&self, ctx: JsValue) -> JsValue {
        let event = EVENT
            .with(|key| Reflect::get(&ctx, key))
            .unwrap_or(JsValue::UNDEFINED);
        self.engine.call(&event);
        ctx
    }
}

/// Calls `analytics.on('reset', …)` when the host has an event emitter.
fn on_reset(analytics: &JsValue, engine: &Rc<Engine>) {
    let Ok(on) = Reflect::get(analytics, &"on".into()).and_then(|f| f.dyn_into::<Function>())
    else {
        return;
    };
    let weak = Rc::downgrade(engine);
    let cb = Closure::<dyn FnMut()>::new(move || {
        if let Some(e) = weak.upgrade() {
            e.reset();
        }
    });
    if on.call2(analytics, &"reset".into(), cb.as_ref()).is_ok() {
        // Lives as long as the page's analytics instance.
        cb.forget();
    }
}
