//! track → `['trackCustomBehavioralEvent', {name, properties}]` (or classic's `trackEvent`).

use super::flatten::flatten_properties;
use super::{Knobs, TrackStyle};
use crate::command::Command;
use crate::diagnostic::Diagnostic;
use crate::event::Event;
use crate::settings::Settings;
use crate::text::{is_valid_internal_event_name, js_parse_float, pe_event_name, trim};
use crate::value::Value;

/// HubSpot's name for a Segment event: `eventNames[event]` if set; else `pe<portalId>_<name>`
/// when `formatCustomBehavioralEventNames` is on (custom behavioral events only); else the
/// trimmed event.
pub fn event_name(event: &str, settings: &Settings, knobs: &Knobs) -> String {
    let event = trim(event);
    if let Some(mapped) = settings.mapped_event_name(event) {
        return mapped.to_owned();
    }
    match knobs.track {
        TrackStyle::CustomBehavioralEvent if settings.format_event_names => {
            pe_event_name(&settings.portal_id, event)
        }
        _ => event.to_owned(),
    }
}

/// Maps a track. `None` (with a diagnostic) when the event has no name.
pub fn map_track(
    event: &Event,
    settings: &Settings,
    knobs: &Knobs,
    diags: &mut Vec<Diagnostic>,
) -> Option<Command> {
    let Some(raw_name) = event.event.as_deref().filter(|e| !trim(e).is_empty()) else {
        diags.push(Diagnostic::TrackWithoutEvent);
        return None;
    };
    let name = event_name(raw_name, settings, knobs);
    let mut properties = flatten_properties(&event.properties, &knobs.properties, &[], diags);
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
            if let Some(id) = properties.remove("id").filter(|v| *v != Value::Null) {
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
fn classic_revenue(props: &crate::value::Map, event: &str) -> Option<f64> {
    let mut revenue = props.get("revenue").filter(|v| v.is_truthy());
    if revenue.is_none() && is_order_completed(event) {
        revenue = props.get("total");
    }
    match revenue? {
        Value::Number(n) if *n != 0.0 && !n.is_nan() => Some(*n),
        Value::String(s) if !s.is_empty() => {
            js_parse_float(&s.replace('$', "")).filter(|n| !n.is_nan())
        }
        _ => None,
    }
}

/// analytics.js's "Order Completed" test: `completed order…` or `order completed`, either word
/// order, any case, with an optional space or underscore around and between the words.
fn is_order_completed(event: &str) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::is_order_completed;

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
}
