//! hubspot-wasm: the browser shell around [`hubspot_core`]. It converts JavaScript values,
//! delegates every HubSpot decision to the core's state machine, and performs the effects it
//! returns (pushes onto `window._hsq`, script tags, timers, cookies).

pub use hubspot_core as core;
