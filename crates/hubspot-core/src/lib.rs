//! The pure heart of hubspot-wasm: Segment events in, HubSpot commands out.
//!
//! - [`settings`]: what the site configures, raw → resolved.
//! - [`event`]: Segment's event model, read leniently.
//! - [`mapping`]: identify/track/page → `_hsq` [`command`]s, per profile.
//! - [`machine`]: the ordering rules: when each command may be pushed.
//! - [`script`]: which HubSpot scripts to load.
//!
//! No browser, network or clock here (see `ARCHITECTURE.md`): the browser shell and the server
//! crate supply inputs and perform the effects.
//!
//! `no_std` with `alloc`: the browser shell links no std, which saves its panic and formatting
//! machinery in the wasm; the server uses the same code with std.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod command;
pub mod date;
pub mod diagnostic;
pub mod event;
pub mod host;
pub mod machine;
pub mod mapping;
pub mod script;
pub mod settings;
pub mod text;
pub mod value;

/// What std's prelude would bring into every module: the `alloc` types the core uses.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::format;
    pub(crate) use alloc::string::String;
    /// Only tests build vectors with `vec!` (shipped code fills them in place).
    #[cfg(test)]
    pub(crate) use alloc::vec;
    pub(crate) use alloc::vec::Vec;
}

pub use command::Command;
pub use diagnostic::Diagnostic;
pub use event::{Event, EventType};
pub use machine::{Action, Existing, Input, Machine, Timer, Tracker};
pub use settings::{Consent, Profile, RawSettings, Settings, SettingsError};
pub use value::{Map, Value};
