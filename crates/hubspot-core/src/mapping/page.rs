//! page → the path HubSpot should record.

use crate::prelude::*;

use super::{Knobs, PagePath};
use crate::event::Event;
use crate::text::concat;
use crate::value::Value;

/// The path for `setPath`, or `None` when the profile sends none or the event carries none
/// (HubSpot then records the current location).
pub fn page_path(event: &Event, knobs: &Knobs) -> Option<String> {
    let prop = |k: &str| event.properties.get(k).and_then(Value::to_js_string);
    // Matches, not `clone().or_else()`, here and in the other rules of this change (script URLs,
    // the name split, the number readers): the combinators' closures cost the wasm bytes.
    let path = match event.page_field("path") {
        Some(p) => Some(p),
        None => prop("path"),
    }
    .filter(|p| !p.is_empty());
    match knobs.page_path {
        PagePath::None => None,
        PagePath::PathOnly => path,
        PagePath::PathWithSearch => {
            let path = path?;
            let search = match event.page_field("search") {
                Some(s) => s,
                None => prop("search").unwrap_or_default(),
            };
            Some(match search.as_str() {
                "" | "?" => path,
                // A `&str` prefix, not a `char` one, which links the wasm a UTF-8 encoder.
                s if s.starts_with("?") => concat(&[&path, s]),
                s => concat(&[&path, "?", s]),
            })
        }
    }
}
