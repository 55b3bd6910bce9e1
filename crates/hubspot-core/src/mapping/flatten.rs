//! Nested values → the flat, formatted properties HubSpot stores. Shared by identify and track
//! here and by the server crate's mapping.

use crate::prelude::*;

use crate::date::parse_iso_date_ms;
use crate::diagnostic::Diagnostic;
use crate::text::{KeyStyle, concat, format_key, push_decimal, trim};
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

/// Flattens `props` (all keys but those `skip` picks) into a new map. Consumes `props`: its
/// strings and keys become the output's where the rules leave them as they are, so a payload's
/// text is not copied (allocations are most of a browser call's cost).
pub fn flatten_properties(
    props: Map,
    rules: &FlattenRules,
    skip: impl Fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Map {
    let mut out = Map::with_capacity(props.len());
    for (key, value) in props {
        if !skip(&key) {
            flatten_into(&mut out, key, value, rules, 0, diags);
        }
    }
    out
}

/// Adds `value` under `key` (a raw, unformatted key path) to `out`.
pub(crate) fn flatten_into(
    out: &mut Map,
    key: String,
    value: Value,
    rules: &FlattenRules,
    depth: usize,
    diags: &mut Vec<Diagnostic>,
) {
    if depth > MAX_DEPTH {
        diags.push(Diagnostic::TooDeep(key));
        return;
    }
    match value {
        Value::Object(m) if rules.objects == Objects::Flatten => {
            for (k, v) in m {
                flatten_into(out, concat(&[&key, "_", &k]), v, rules, depth + 1, diags);
            }
        }
        Value::Array(items) if rules.arrays == Arrays::Index => {
            for (i, v) in items.into_iter().enumerate() {
                let mut sub = concat(&[&key, "_"]);
                push_decimal(&mut sub, i as u64, 1);
                flatten_into(out, sub, v, rules, depth + 1, diags);
            }
        }
        Value::Array(items) if rules.arrays == Arrays::Join => {
            out.insert(
                format_key(key, rules.keys),
                render_list(items, rules).into(),
            );
        }
        Value::Object(_) if rules.objects == Objects::Json => {
            let json = clean_value(value, rules, depth).to_json();
            out.insert(format_key(key, rules.keys), json.into());
        }
        Value::Null if rules.drop_null => {}
        other => {
            if depth + nesting(&other) > MAX_DEPTH {
                diags.push(Diagnostic::TooDeep(key));
            } else {
                let v = clean_value(other, rules, depth);
                out.insert(format_key(key, rules.keys), v);
            }
        }
    }
}

fn nesting(v: &Value) -> usize {
    // Loops, not `map().max()`: the adapters cost the wasm more.
    let mut deepest = 0;
    match v {
        Value::Array(items) => {
            for v in items {
                deepest = deepest.max(nesting(v));
            }
        }
        Value::Object(m) => {
            for (_, v) in m.iter() {
                deepest = deepest.max(nesting(v));
            }
        }
        _ => return 0,
    }
    1 + deepest
}

/// A value with strings trimmed and dates converted, all the way down (keys of nested objects
/// are left as they are). Strings that need no trimming are moved, not copied.
pub(crate) fn clean_value(v: Value, rules: &FlattenRules, depth: usize) -> Value {
    match v {
        Value::String(s) => {
            let trimmed = trim(&s);
            if let (Dates::EpochMs, Some(ms)) = (rules.dates, parse_iso_date_ms(trimmed)) {
                Value::Number(ms)
            } else if trimmed.len() == s.len() {
                Value::String(s)
            } else {
                Value::String(trimmed.to_owned())
            }
        }
        Value::Date(ms) if rules.dates == Dates::EpochMs => Value::Number(ms),
        Value::Array(items) if depth < MAX_DEPTH => {
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                if !(rules.drop_null && matches!(v, Value::Null)) {
                    out.push(clean_value(v, rules, depth + 1));
                }
            }
            Value::Array(out)
        }
        Value::Object(m) if depth < MAX_DEPTH => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                if !(rules.drop_null && matches!(v, Value::Null)) {
                    out.insert(k, clean_value(v, rules, depth + 1));
                }
            }
            Value::Object(out)
        }
        Value::Array(_) | Value::Object(_) => Value::Null,
        other => other,
    }
}

/// An array as HubSpot's multi-select text: elements `;`-joined, nulls skipped, nested values as
/// JSON.
pub(crate) fn render_list(items: Vec<Value>, rules: &FlattenRules) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `map().max()`, the form the loop replaced.
    fn nesting_by_max(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(nesting_by_max).max().unwrap_or(0),
            Value::Object(m) => 1 + m.iter().map(|(_, v)| nesting_by_max(v)).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool)];
        leaf.prop_recursive(6, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(("[a-c]", inner), 0..4)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn nesting_agrees_with_map_max(v in value()) {
            proptest::prop_assert_eq!(nesting(&v), nesting_by_max(&v));
        }
    }
}
