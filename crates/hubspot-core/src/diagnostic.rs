//! What the core decided and why, for debug logging. Each is a value, so tests can assert on
//! decisions and the browser shell prints them only when `debug` is on.

use crate::prelude::*;

use core::fmt;

/// One decision or warning.
#[derive(Clone, Debug, PartialEq)]
pub enum Diagnostic {
    /// A settings key that matched no setting (ignored).
    UnknownSetting(String),
    /// An identify without any email: nothing pushed.
    IdentifyWithoutEmail,
    /// A track without an event name: nothing pushed.
    TrackWithoutEvent,
    /// group/alias/screen (or an unknown type): HubSpot's tracking code has no such call.
    NotForwarded(String),
    /// The HubSpot event name is outside `[a-z0-9_-]{1,50}`; pushed as is.
    InvalidEventName(String),
    /// More than 50 event properties: only the first 50 were kept.
    PropertiesCapped {
        /// How many were dropped.
        dropped: usize,
    },
    /// A value nested deeper than the mapping follows was dropped.
    TooDeep(String),
    /// The call was held (consent pending, or a later page before HubSpot loaded).
    Held(&'static str),
    /// The hold queue is full: the oldest held call was dropped (reported once per overflow).
    QueueFull {
        /// The bound (`maxQueue`).
        max: usize,
    },
    /// HubSpot's tracker is ready (`_hsq.push` patched).
    Ready,
    /// HubSpot's script failed or timed out; later calls are dropped.
    LoadFailed(&'static str),
    /// A call arrived after the load failed and was dropped.
    DroppedAfterFailure(&'static str),
    /// Consent is denied: the call was dropped.
    DroppedNoConsent(&'static str),
    /// HubSpot was already on the page: nothing injected.
    AlreadyPresent,
    /// An identify was still pending after `identifyFlushMs`: a page view was pushed for it.
    IdentifyFlushed,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::UnknownSetting(k) => write!(f, "unknown setting `{k}` ignored"),
            Diagnostic::IdentifyWithoutEmail => {
                f.write_str("identify dropped: no email in traits or userId (HubSpot needs one)")
            }
            Diagnostic::TrackWithoutEvent => f.write_str("track dropped: no event name"),
            Diagnostic::NotForwarded(kind) => {
                write!(
                    f,
                    "{kind} not forwarded: HubSpot's tracking code has no such call"
                )
            }
            Diagnostic::InvalidEventName(n) => write!(
                f,
                "event name {} is not a HubSpot internal name ([a-z0-9_-], at most 50); sent as is",
                crate::text::quote(n)
            ),
            Diagnostic::PropertiesCapped { dropped } => write!(
                f,
                "HubSpot takes at most 50 event properties: {dropped} dropped (the last in key order)"
            ),
            Diagnostic::TooDeep(k) => write!(f, "value under `{k}` nested too deeply: dropped"),
            Diagnostic::Held(kind) => write!(f, "{kind} held until HubSpot can take it"),
            Diagnostic::QueueFull { max } => {
                write!(
                    f,
                    "more than {max} calls held (maxQueue): dropping the oldest"
                )
            }
            Diagnostic::Ready => f.write_str("HubSpot tracking code is ready"),
            Diagnostic::LoadFailed(why) => {
                write!(f, "HubSpot's script {why}: calls will be dropped")
            }
            Diagnostic::DroppedAfterFailure(kind) => {
                write!(f, "{kind} dropped: HubSpot's script did not load")
            }
            Diagnostic::DroppedNoConsent(kind) => write!(f, "{kind} dropped: consent denied"),
            Diagnostic::AlreadyPresent => {
                f.write_str("HubSpot tracking code already on the page: not injecting it again")
            }
            Diagnostic::IdentifyFlushed => {
                f.write_str("identify still pending after identifyFlushMs: pushed a page view")
            }
        }
    }
}
