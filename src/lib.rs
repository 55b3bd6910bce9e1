//! hubspot-wasm: the browser shell around [`hubspot_core`].
//!
//! It converts JavaScript values once ([`convert`]), hands every call and page signal to the
//! core's state machine ([`engine`]), and performs the effects it returns through
//! `js/shell.js` ([`page`]: `window._hsq`, script tags, timers, cookies, the console). No HubSpot
//! rule is decided here.

pub mod convert;
pub mod engine;
pub mod error;
pub mod host;
pub mod page;
pub mod plugin;

pub use hubspot_core as core;
pub use plugin::{Client, Destination, VERSION};

use wasm_bindgen::prelude::*;

/// talc instead of the default dlmalloc: about half the allocator's bytes in the wasm, and faster
/// for the many small strings an event carries (see bench/README.md).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[wasm_bindgen(typescript_custom_section)]
const SETTINGS_TS: &str = r#"
/** Consent state. */
export type Consent = 'granted' | 'pending' | 'denied';

/** Destination settings (every spelling Segment's integrations use is accepted). */
export interface Settings {
  /** Hub ID: digits, as a string or a number. Required. */
  portalId?: string | number;
  /** Alias of portalId. */
  hubId?: string | number;
  /** Alias of portalId (RudderStack's spelling). */
  hubID?: string | number;
  /** Alias of portalId. */
  portalID?: string | number;
  /** EU hosts for tracking and forms. Default false. */
  enableEuropeanDataCenter?: boolean;
  /** Also load the Forms SDK. Default false. */
  loadFormsSDK?: boolean;
  /** Alias of loadFormsSDK (classic's spelling). */
  loadFormsSdk?: boolean;
  /** Track names become pe<portalId>_<name>. Default true. */
  formatCustomBehavioralEventNames?: boolean;
  /** Segment event name → HubSpot internal event name; wins over formatting. */
  eventNames?: Record<string, string> | Array<{ key: string; value: string }>;
  /** Push trackPageView right after each identify (after load). Default false. */
  flushIdentifyImmediately?: boolean;
  /** Push trackPageView when an identify is still pending after this many ms. Default off. */
  identifyFlushMs?: number | null;
  /** Reproduce a Segment integration's _hsq output. Default 'default'. */
  compat?: 'default' | 'classic' | 'actions';
  /** Initial consent. Default 'granted'. */
  consent?: Consent;
  /** CSP nonce for injected scripts. Default: the nonce of a script already on the page. */
  nonce?: string;
  /** Give up on HubSpot's script after this many ms. Default 10000. */
  loadTimeoutMs?: number;
  /** Calls held before HubSpot can take them. Default 1000. */
  maxQueue?: number;
  /** reset() deletes HubSpot's visitor cookies. Default true. */
  resetClearsVisitor?: boolean;
  /** Log each decision to the console. Default false. */
  debug?: boolean;
  /** Load HubSpot's tracking code from this URL instead (a first-party proxy or a stand-in). */
  trackingScriptUrl?: string;
  /** Load the Forms SDK from this URL instead. */
  formsScriptUrl?: string;
}
"#;

/// An analytics-next destination plugin (same as `new Destination(settings)`).
#[wasm_bindgen]
pub fn destination(
    #[wasm_bindgen(unchecked_param_type = "Settings")] settings: JsValue,
) -> Result<Destination, JsValue> {
    Destination::new(settings)
}

/// The standalone client (same as `new Client(settings)`); it starts loading HubSpot at once.
#[wasm_bindgen(js_name = createClient)]
pub fn create_client(
    #[wasm_bindgen(unchecked_param_type = "Settings")] settings: JsValue,
) -> Result<Client, JsValue> {
    Client::new(settings)
}
