//! track → `['trackCustomBehavioralEvent', {name, properties}]` (or classic's `trackEvent`).

use crate::prelude::*;

use super::flatten::flatten_properties;
use super::{Knobs, TrackStyle};
use crate::command::Command;
use crate::diagnostic::Diagnostic;
use crate::event::Event;
use crate::settings::Settings;
use crate::text::{is_valid_internal_event_name, js_parse_float, pe_event_name, replace, trim};
use crate::value::{Map, Value};

/// How many properties HubSpot accepts on one custom behavioral event; the rest are dropped,
/// keeping the first in key order.
pub const MAX_EVENT_PROPERTIES: usize = 50;

/// HubSpot's name for a Segment event: the name `event_names` maps the trimmed event to; else,
/// when `format` is on, `pe<portalId>_<event formatted>` (see [`pe_event_name`]); else the
/// trimmed event. The browser and the server name events by this one rule.
pub fn custom_event_name(
    event: &str,
    event_names: &[(String, String)],
    portal_id: &str,
    format: bool,
) -> String {
    let event = trim(event);
    match event_names.iter().find(|(from, _)| from == event) {
        Some((_, to)) => to.clone(),
        None if format => pe_event_name(portal_id, event),
        None => event.to_owned(),
    }
}

/// Maps a track of `properties` (the event's). `None` (with a diagnostic) when the event has no
/// name. Consumes `properties` (see [`flatten_properties`]).
pub fn map_track(
    event: &Event,
    properties: Map,
    settings: &Settings,
    knobs: &Knobs,
    diags: &mut Vec<Diagnostic>,
) -> Option<Command> {
    let Some(raw_name) = event.event.as_deref().filter(|e| !trim(e).is_empty()) else {
        diags.push(Diagnostic::TrackWithoutEvent);
        return None;
    };
    // Classic's `trackEvent` takes the event as it is: only custom behavioral events are
    // formatted.
    let format = settings.format_event_names && knobs.track == TrackStyle::CustomBehavioralEvent;
    let name = custom_event_name(raw_name, &settings.event_names, &settings.portal_id, format);
    let mut properties = flatten_properties(properties, &knobs.properties, |_| false, diags);
    match knobs.track {
        TrackStyle::CustomBehavioralEvent => {
            if !is_valid_internal_event_name(&name) {
                diags.push(Diagnostic::InvalidEventName(name.clone()));
            }
            if let Some(cap) = knobs.property_cap.filter(|cap| properties.len() > *cap) {
                diags.push(Diagnostic::PropertiesCapped {
                    dropped: properties.len() - cap,
                });
                properties.truncate(cap);
            }
            Some(Command::TrackCustomBehavioralEvent { name, properties })
        }
        TrackStyle::ClassicEvent => {
            if let Some(id) = properties
                .remove("id")
                .filter(|v| !matches!(v, Value::Null))
            {
                properties.insert("_id", id);
            }
            if let Some(value) = classic_revenue(&properties, trim(raw_name)) {
                properties.remove("revenue");
                properties.insert("value", value.into());
            }
            properties.insert("id", name.as_str().into());
            Some(Command::TrackEvent {
                id: name,
                properties,
            })
        }
    }
}

/// Classic's revenue: `revenue` (or `total` for "Order Completed" when revenue is falsy) as a
/// number; a string loses its `$` signs and is read by `parseFloat` (so `"$1,000"` is 1). Falsy,
/// unparsable or non-numeric values give `None` and stay where they are.
fn classic_revenue(props: &Map, event: &str) -> Option<f64> {
    let mut revenue = props.get("revenue").filter(|v| v.is_truthy());
    if revenue.is_none() && is_order_completed(event) {
        revenue = props.get("total");
    }
    match revenue? {
        Value::Number(n) if *n != 0.0 && !n.is_nan() => Some(*n),
        Value::String(s) if !s.is_empty() => {
            js_parse_float(&replace(s, dollar, "", false)).filter(|n| !n.is_nan())
        }
        _ => None,
    }
}

/// Finds the `$` signs [`classic_revenue`] drops (see [`replace`]).
fn dollar(b: &[u8], i: usize) -> usize {
    usize::from(b.get(i) == Some(&b'$'))
}

/// analytics.js's "Order Completed" test: `completed order…` or `order completed`, either word
/// order, any case, with an optional space or underscore around and between the words.
fn is_order_completed(event: &str) -> bool {
    // On bytes: every word and separator is ASCII, and `str` patterns of chars link a searcher.
    fn sep(s: &[u8]) -> &[u8] {
        match s {
            [b' ' | b'_', rest @ ..] => rest,
            _ => s,
        }
    }
    // `s` after `word` (lowercase), when it starts with it in any case: `get`, not
    // `<[u8]>::strip_prefix`, whose `split_at` links a panic path and its message into the wasm.
    fn after<'a>(s: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
        let starts = s
            .get(..word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word));
        s.get(word.len()..).filter(|_| starts)
    }
    let rest = sep(event.as_bytes());
    if let Some(rest) = after(rest, b"completed") {
        return after(sep(rest), b"order").is_some();
    }
    // A `let … else`, not `map().and_then()`: the closures cost the wasm bytes.
    let Some(rest) = after(rest, b"order") else {
        return false;
    };
    after(sep(rest), b"completed").is_some_and(|tail| sep(tail).is_empty())
}

#[cfg(test)]
mod tests {
    use super::{custom_event_name, dollar, is_order_completed};
    use crate::prelude::*;
    use crate::text::replace;

    proptest::proptest! {
        /// The `$` strip by [`replace`] gives what the `chars().filter()` form gave.
        #[test]
        fn dollar_strip_agrees_with_the_char_filter(s in "[$1,.é🍱 ]{0,8}|\\PC{0,8}") {
            let by_chars: String = s.chars().filter(|&c| c != '$').collect();
            proptest::prop_assert_eq!(replace(&s, dollar, "", false), by_chars);
        }
    }

    #[test]
    fn custom_event_names() {
        let names = [("Signed Up".to_owned(), "signup".to_owned())];
        let name = |event, format| custom_event_name(event, &names, "12", format);
        assert_eq!(
            name(" Signed Up ", true),
            "signup",
            "the map wins, on the trimmed event"
        );
        assert_eq!(
            name("signed up", true),
            "pe12_signed_up",
            "the map is case-sensitive"
        );
        assert_eq!(name(" Plan. Changed ", true), "pe12_plan_changed");
        assert_eq!(name(" Plan. Changed ", false), "Plan. Changed");
    }

    #[test]
    fn order_completed_forms() {
        for yes in [
            "Order Completed",
            "order_completed",
            "ORDERCOMPLETED",
            " order completed ",
            "Completed Order",
            "completed_order_x",
        ] {
            assert!(is_order_completed(yes), "{yes}");
        }
        for no in [
            "Order Completed Twice",
            "Orders Completed",
            "Order  Completed",
            "Completed",
        ] {
            assert!(!is_order_completed(no), "{no}");
        }
    }

    proptest::proptest! {
        /// The byte-slice test agrees with the `str` one it replaced.
        #[test]
        fn order_completed_agrees_with_the_str_rule(event in "[ _]?(order|completed|ORDER|Completed)?[ _]{0,2}(order|completed)?[ _x]{0,2}|\\PC{0,12}") {
            let reference = |event: &str| {
                let e = event.to_ascii_lowercase();
                let sep = |s: &str| s.strip_prefix([' ', '_']).unwrap_or(s).to_owned();
                let rest = sep(&e);
                if let Some(after) = rest.strip_prefix("completed") {
                    return sep(after).starts_with("order");
                }
                rest.strip_prefix("order")
                    .map(&sep)
                    .and_then(|after| after.strip_prefix("completed").map(sep))
                    .is_some_and(|tail| tail.is_empty())
            };
            proptest::prop_assert_eq!(is_order_completed(&event), reference(&event));
        }
    }
}
