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
        let method = Value::from(self.method());
        Value::Array(match self {
            Command::SetPath(p) => vec![method, p.into()],
            Command::TrackPageView => vec![method],
            Command::Identify(props) => vec![method, props.into()],
            Command::TrackCustomBehavioralEvent { name, properties } => {
                let mut arg = Map::with_capacity(2);
                arg.insert("name", name.into());
                arg.insert("properties", properties.into());
                vec![method, arg.into()]
            }
            Command::TrackEvent { id, properties } => {
                vec![method, id.into(), properties.into()]
            }
            Command::DoNotTrack { track: false } => vec![method],
            Command::DoNotTrack { track: true } => {
                vec![
                    method,
                    [("track", Value::Bool(true))]
                        .into_iter()
                        .collect::<Map>()
                        .into(),
                ]
            }
        })
    }
}
