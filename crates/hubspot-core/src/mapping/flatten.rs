//! Nested values → the flat, formatted properties HubSpot stores. Shared by identify and track
//! here and by the server crate's mapping.

use crate::prelude::*;

use crate::date::parse_iso_date_ms;
use crate::diagnostic::Diagnostic;
use crate::text::{KeyStyle, format_key, push_decimal, trim};
use crate::value::{Map, Value, bool_text, format_number};

/// Deepest nesting followed; deeper values are dropped with a diagnostic (hostile payloads must
/// not exhaust the stack).
const MAX_DEPTH: usize = 16;

/// How nested objects become properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objects {
    /// `{a: {b: 1}}` → `a_b: 1`.
    Flatten,
    /// `{a: {b: 1}}` → `a: '{"b":1}'` (Segment's cloud `flattenObject`).
    Json,
    /// Left nested (classic).
    Keep,
}

/// How arrays become properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrays {
    /// `;`-joined string: HubSpot's multi-select format.
    Join,
    /// One property per index: `tags_0`, `tags_1` (actions).
    Index,
    /// Left as arrays (classic).
    Keep,
}

/// What happens to dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dates {
    /// `Date` values and strict ISO-8601 strings become epoch milliseconds.
    EpochMs,
    /// Left as they are.
    Keep,
}

/// One flattening policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlattenRules {
    /// Key formatting.
    pub keys: KeyStyle,
    /// Nested objects.
    pub objects: Objects,
    /// Arrays.
    pub arrays: Arrays,
    /// Dates.
    pub dates: Dates,
    /// Drop `null` values (else kept as `null`).
    pub drop_null: bool,
}

/// Flattens `props` (all keys but those `skip` picks) into a new map.
pub fn flatten_properties(
    props: &Map,
    rules: &FlattenRules,
    skip: impl Fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Map {
    let mut out = Map::with_capacity(props.len());
    for (key, value) in props.iter() {
        if !skip(key) {
            flatten_into(&mut out, key, value, rules, 0, diags);
        }
    }
    out
}

/// Adds `value` under `key` (a raw, unformatted key path) to `out`.
pub(crate) fn flatten_into(
    out: &mut Map,
    key: &str,
    value: &Value,
    rules: &FlattenRules,
    depth: usize,
    diags: &mut Vec<Diagnostic>,
) {
    if depth > MAX_DEPTH {
        diags.push(Diagnostic::TooDeep(key.to_owned()));
        return;
    }
    match value {
        Value::Object(m) if rules.objects == Objects::Flatten => {
            for (k, v) in m.iter() {
                flatten_into(out, &[key, "_", k].concat(), v, rules, depth + 1, diags);
            }
        }
        Value::Array(items) if rules.arrays == Arrays::Index => {
            for (i, v) in items.iter().enumerate() {
                let mut sub = [key, "_"].concat();
                push_decimal(&mut sub, i as u64, 1);
                flatten_into(out, &sub, v, rules, depth + 1, diags);
            }
        }
        Value::Array(items) if rules.arrays == Arrays::Join => {
            out.insert(
                format_key(key, rules.keys),
                render_list(items, rules).into(),
            );
        }
        Value::Object(_) if rules.objects == Objects::Json => {
            out.insert(
                format_key(key, rules.keys),
                clean_value(value, rules, depth).to_json().into(),
            );
        }
        Value::Null if rules.drop_null => {}
        other => {
            if let Some(v) = clean_bounded(other, rules, depth, key, diags) {
                out.insert(format_key(key, rules.keys), v);
            }
        }
    }
}

fn clean_bounded(
    v: &Value,
    rules: &FlattenRules,
    depth: usize,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    if depth + nesting(v) > MAX_DEPTH {
        diags.push(Diagnostic::TooDeep(key.to_owned()));
        return None;
    }
    Some(clean_value(v, rules, depth))
}

fn nesting(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(m) => 1 + m.iter().map(|(_, v)| nesting(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// A value with strings trimmed and dates converted, all the way down (keys of nested objects
/// are left as they are).
pub(crate) fn clean_value(v: &Value, rules: &FlattenRules, depth: usize) -> Value {
    match v {
        Value::String(s) => {
            let s = trim(s);
            match rules.dates {
                Dates::EpochMs => match parse_iso_date_ms(s) {
                    Some(ms) => Value::Number(ms),
                    None => Value::String(s.to_owned()),
                },
                Dates::Keep => Value::String(s.to_owned()),
            }
        }
        Value::Date(ms) if rules.dates == Dates::EpochMs => Value::Number(*ms),
        Value::Array(items) if depth < MAX_DEPTH => Value::Array(
            items
                .iter()
                .filter(|v| !(rules.drop_null && matches!(v, Value::Null)))
                .map(|v| clean_value(v, rules, depth + 1))
                .collect(),
        ),
        Value::Object(m) if depth < MAX_DEPTH => Value::Object(
            m.iter()
                .filter(|(_, v)| !(rules.drop_null && matches!(v, Value::Null)))
                .map(|(k, v)| (k, clean_value(v, rules, depth + 1)))
                .collect(),
        ),
        Value::Array(_) | Value::Object(_) => Value::Null,
        other => other.clone(),
    }
}

/// An array as HubSpot's multi-select text: elements `;`-joined, nulls skipped, nested values as
/// JSON.
pub(crate) fn render_list(items: &[Value], rules: &FlattenRules) -> String {
    let mut out = String::new();
    for item in items {
        let text = match clean_value(item, rules, MAX_DEPTH - 1) {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Number(n) | Value::Date(n) => format_number(n),
            Value::Bool(b) => bool_text(b).to_owned(),
            nested @ (Value::Array(_) | Value::Object(_)) => nested.to_json(),
        };
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(&text);
    }
    out
}
