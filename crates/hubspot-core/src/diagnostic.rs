//! What the core decided and why, for debug logging. Each is a value, so tests can assert on
//! decisions and the browser shell prints them only when `debug` is on.

use crate::prelude::*;

use core::fmt;

use crate::text::{concat, push_decimal, quote};

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

impl Diagnostic {
    /// The decision in words, as [`Display`](fmt::Display) writes it. Built without `core::fmt`,
    /// which the browser wasm does not link (see `crate::text::push_decimal`).
    pub fn message(&self) -> String {
        let count = |n: usize| {
            let mut out = String::new();
            push_decimal(&mut out, n as u64, 1);
            out
        };
        match self {
            Diagnostic::UnknownSetting(k) => concat(&["unknown setting `", k, "` ignored"]),
            Diagnostic::IdentifyWithoutEmail => {
                "identify dropped: no email in traits or userId (HubSpot needs one)".into()
            }
            Diagnostic::TrackWithoutEvent => "track dropped: no event name".into(),
            Diagnostic::NotForwarded(kind) => concat(&[
                kind,
                " not forwarded: HubSpot's tracking code has no such call",
            ]),
            Diagnostic::InvalidEventName(n) => concat(&[
                "event name ",
                &quote(n),
                " is not a HubSpot internal name ([a-z0-9_-], at most 50); sent as is",
            ]),
            Diagnostic::PropertiesCapped { dropped } => concat(&[
                "HubSpot takes at most 50 event properties: ",
                &count(*dropped),
                " dropped (the last in key order)",
            ]),
            Diagnostic::TooDeep(k) => concat(&["value under `", k, "` nested too deeply: dropped"]),
            Diagnostic::Held(kind) => concat(&[kind, " held until HubSpot can take it"]),
            Diagnostic::QueueFull { max } => concat(&[
                "more than ",
                &count(*max),
                " calls held (maxQueue): dropping the oldest",
            ]),
            Diagnostic::Ready => "HubSpot tracking code is ready".into(),
            Diagnostic::LoadFailed(why) => {
                concat(&["HubSpot's script ", why, ": calls will be dropped"])
            }
            Diagnostic::DroppedAfterFailure(kind) => {
                concat(&[kind, " dropped: HubSpot's script did not load"])
            }
            Diagnostic::DroppedNoConsent(kind) => concat(&[kind, " dropped: consent denied"]),
            Diagnostic::AlreadyPresent => {
                "HubSpot tracking code already on the page: not injecting it again".into()
            }
            Diagnostic::IdentifyFlushed => {
                "identify still pending after identifyFlushMs: pushed a page view".into()
            }
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages are built by hand (no `core::fmt`); these are the `format!` texts they
    /// replaced, word for word.
    #[test]
    fn messages_read_as_before() {
        let kind = "identify";
        for (d, want) in [
            (
                Diagnostic::UnknownSetting("x".into()),
                "unknown setting `x` ignored".to_owned(),
            ),
            (
                Diagnostic::NotForwarded("group".into()),
                "group not forwarded: HubSpot's tracking code has no such call".to_owned(),
            ),
            (
                Diagnostic::InvalidEventName("Signed Up".into()),
                format!(
                    "event name {} is not a HubSpot internal name ([a-z0-9_-], at most 50); sent as is",
                    quote("Signed Up")
                ),
            ),
            (
                Diagnostic::PropertiesCapped { dropped: 12 },
                "HubSpot takes at most 50 event properties: 12 dropped (the last in key order)"
                    .to_owned(),
            ),
            (
                Diagnostic::TooDeep("a_b".into()),
                "value under `a_b` nested too deeply: dropped".to_owned(),
            ),
            (
                Diagnostic::Held(kind),
                format!("{kind} held until HubSpot can take it"),
            ),
            (
                Diagnostic::QueueFull { max: 100 },
                "more than 100 calls held (maxQueue): dropping the oldest".to_owned(),
            ),
            (
                Diagnostic::LoadFailed("timed out"),
                "HubSpot's script timed out: calls will be dropped".to_owned(),
            ),
            (
                Diagnostic::DroppedAfterFailure(kind),
                format!("{kind} dropped: HubSpot's script did not load"),
            ),
            (
                Diagnostic::DroppedNoConsent(kind),
                format!("{kind} dropped: consent denied"),
            ),
        ] {
            assert_eq!(d.message(), want);
            assert_eq!(format!("{d}"), want);
        }
    }
}
