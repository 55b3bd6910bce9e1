//! The commands HubSpot's tracking code takes through `window._hsq`, named after its methods.

use crate::prelude::*;

use crate::value::{Map, Value};

/// One `_hsq.push([...])` argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `['setPath', path]`: the path of the next page view (the automatic one included).
    SetPath(String),
    /// `['trackPageView']`: record a page view; also transmits a pending identify.
    TrackPageView,
    /// `['identify', props]`: set the visitor's identity; sent with the next page view or event.
    Identify(Map),
    /// `['trackCustomBehavioralEvent', {name, properties}]`.
    TrackCustomBehavioralEvent {
        /// HubSpot's internal event name.
        name: String,
        /// Event properties.
        properties: Map,
    },
    /// `['trackEvent', id, props]`: the legacy events call the classic integration used.
    TrackEvent {
        /// Event id (the Segment event name).
        id: String,
        /// Event properties.
        properties: Map,
    },
    /// `['doNotTrack']` (`track: false`), or `['doNotTrack', {track: true}]` to undo it.
    DoNotTrack {
        /// `true` re-enables tracking.
        track: bool,
    },
}

impl Command {
    /// HubSpot's method name.
    pub fn method(&self) -> &'static str {
        match self {
            Command::SetPath(_) => "setPath",
            Command::TrackPageView => "trackPageView",
            Command::Identify(_) => "identify",
            Command::TrackCustomBehavioralEvent { .. } => "trackCustomBehavioralEvent",
            Command::TrackEvent { .. } => "trackEvent",
            Command::DoNotTrack { .. } => "doNotTrack",
        }
    }

    /// True when HubSpot sends something to its servers for this command, which also carries
    /// any identify set before it.
    pub fn transmits(&self) -> bool {
        matches!(
            self,
            Command::TrackPageView
                | Command::TrackCustomBehavioralEvent { .. }
                | Command::TrackEvent { .. }
        )
    }

    /// The array to push onto `_hsq` (taking the command's maps rather than copying them).
    pub fn into_value(self) -> Value {
        // One vector filled in place: a `vec![..]` per variant costs the wasm an allocation
        // and its writes each.
        let mut items = Vec::with_capacity(3);
        items.push(Value::from(self.method()));
        match self {
            Command::SetPath(p) => items.push(p.into()),
            Command::TrackPageView | Command::DoNotTrack { track: false } => {}
            Command::Identify(props) => items.push(props.into()),
            Command::TrackCustomBehavioralEvent { name, properties } => {
                let mut arg = Map::with_capacity(2);
                arg.insert("name", name.into());
                arg.insert("properties", properties.into());
                items.push(arg.into());
            }
            Command::TrackEvent { id, properties } => {
                items.push(id.into());
                items.push(properties.into());
            }
            Command::DoNotTrack { track: true } => {
                let mut arg = Map::with_capacity(1);
                arg.insert("track", Value::Bool(true));
                items.push(arg.into());
            }
        }
        Value::Array(items)
    }
}
