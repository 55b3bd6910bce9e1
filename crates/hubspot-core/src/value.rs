//! Values as JavaScript has them: what a Segment payload can hold in a browser.
//!
//! `serde_json::Value` cannot hold a `Date`, and HubSpot's rules treat dates specially, so the
//! core has its own small value type. Objects keep insertion order (JavaScript's order for string
//! keys), because "the first 50 properties" and "later duplicates win" depend on it.

use crate::prelude::*;

use core::fmt;

/// One JavaScript value, as far as analytics payloads go.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`. (`undefined` never becomes a `Value`: converters drop it, as `JSON.stringify` does.)
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JavaScript number (IEEE double, which is all JavaScript has).
    Number(f64),
    /// A string.
    String(String),
    /// A `Date` object, as epoch milliseconds.
    Date(f64),
    /// An array.
    Array(Vec<Value>),
    /// A plain object.
    Object(Map),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// JavaScript truthiness (`0`, `NaN`, `""`, `null` and `false` are falsy).
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Date(_) | Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// The value as a string the way `String(value)` renders primitives; `None` for objects,
    /// arrays and `null`.
    pub fn to_js_string(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(format_number(*n)),
            Value::Bool(b) => Some(bool_text(*b).to_owned()),
            Value::Null | Value::Date(_) | Value::Array(_) | Value::Object(_) => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

impl Value {
    /// Compact JSON text, dates as epoch milliseconds. Written here rather than pulling a JSON
    /// serializer into the browser module, where every dependency is paid for in download size.
    pub fn to_json(&self) -> String {
        self.to_json_with_dates(|ms, out| out.push_str(&format_number(ms)))
            .0
    }

    /// Compact JSON text, each date written by `date` (the browser shell tags them so
    /// JavaScript can make `Date`s again), and whether any was. Non-finite numbers become `null`,
    /// as in `JSON.stringify`.
    pub fn to_json_with_dates(&self, date: fn(f64, &mut String)) -> (String, bool) {
        // Room for a typical command, so the text is not regrown from a few bytes.
        let mut out = String::with_capacity(256);
        let dated = write_json(self, &mut out, date);
        (out, dated)
    }
}

/// Writes `v`; true when it holds a (finite) date.
fn write_json(v: &Value, out: &mut String, date: fn(f64, &mut String)) -> bool {
    let mut dated = false;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_finite() => write_number(*n, out),
        Value::Date(ms) if ms.is_finite() => {
            date(*ms, out);
            dated = true;
        }
        Value::Number(_) | Value::Date(_) => out.push_str("null"),
        Value::String(s) => {
            out.push('"');
            write_escaped(s, out);
            out.push('"');
        }
        Value::Array(items) => {
            let mut open = "[";
            for item in items {
                out.push_str(open);
                open = ",";
                dated |= write_json(item, out, date);
            }
            out.push_str(if items.is_empty() { "[]" } else { "]" });
        }
        Value::Object(m) => {
            // Each key with the text around it in two pushes: `{"` or `,"` before, `":` after.
            let mut open = "{\"";
            for (k, v) in m.iter() {
                out.push_str(open);
                open = ",\"";
                write_escaped(k, out);
                out.push_str("\":");
                dated |= write_json(v, out, date);
            }
            out.push_str(if m.is_empty() { "{}" } else { "}" });
        }
    }
    dated
}

/// A JSON string's content: `s` with quotes, backslashes and control characters escaped.
fn write_escaped(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Runs of bytes that need no escape are copied whole: the bytes escaped are all ASCII, so a
    // run never splits a UTF-8 sequence (`get`, not indexing: no panic path in the wasm).
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(s.get(run..i).unwrap_or_default());
        run = i + 1;
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(s.get(run..).unwrap_or_default());
}

/// JavaScript's `Number.MAX_SAFE_INTEGER` (2^53 − 1). Whole numbers up to it are exact in a
/// double, so they are written as integers (text and JSON, browser and server); beyond it a double
/// may not be the integer that was sent: its text comes from the host (JavaScript's `String`), its
/// JSON is a float.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// `String(b)` for a boolean (`b.to_string()` would link `core::fmt`).
pub(crate) fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Whether `n` is an integer no larger in magnitude than [`MAX_SAFE_INTEGER`].
fn is_safe_integer(n: f64) -> bool {
    n.abs() <= MAX_SAFE_INTEGER && trunc(n) == n
}

/// `n` rounded toward zero, as std's `f64::trunc` (which `core` lacks on stable) except that a
/// result of zero is always `+0`, which compares equal to `-0`.
pub(crate) fn trunc(n: f64) -> f64 {
    // From 2^52 on every double is an integer (and infinities and NaN stay as they are); below it
    // the conversion to i64 is exact after dropping the fraction.
    if n.abs() < 4_503_599_627_370_496.0 {
        n as i64 as f64
    } else {
        n
    }
}

/// Whether `n` is finite and has no fraction (std's `n.fract() == 0.0`).
pub(crate) fn is_whole(n: f64) -> bool {
    n.is_finite() && trunc(n) == n
}

/// Formats a number as JavaScript's `String(n)` does: safe integers here, the rest by the host
/// (see [`crate::host`]).
pub fn format_number(n: f64) -> String {
    let mut out = String::new();
    write_number(n, &mut out);
    out
}

/// [`format_number`], appended to `out`: safe integers digit by digit (no allocation), the rest
/// by the host.
fn write_number(n: f64, out: &mut String) {
    if is_safe_integer(n) {
        // `-0` prints as `0`, as in JavaScript.
        if n < 0.0 {
            out.push('-');
        }
        crate::text::push_decimal(out, n.abs() as u64, 1);
    } else {
        out.push_str(&(crate::host::host().number_to_string)(n));
    }
}

/// An object: string keys in insertion order. Setting an existing key replaces its value in
/// place, as assignment to a JavaScript object does.
#[derive(Clone, Debug, Default)]
pub struct Map {
    /// Each key with a hash of it: lookups compare hashes first, so building a map of n keys
    /// costs n² integer compares rather than n² string compares (payloads have dozens of keys,
    /// too few for a hash table to pay for its code in the wasm).
    entries: Vec<(u32, String, Value)>,
    /// One bit per [`bucket`] of every key ever inserted (a one-word Bloom filter): a key whose
    /// bit is clear is absent without a scan, which is most new keys while a map is being built
    /// (the scans were a fifth of an identify's time natively). Removals leave their bits set.
    /// Native builds only: in the wasm the field would make every `Value` 24 bytes instead of 16,
    /// +80 to +230 B brotli (bench/README.md §1), and there the download counts first.
    #[cfg(not(target_family = "wasm"))]
    seen: u64,
}

/// Maps are equal when their entries are (the `seen` filter also remembers removed keys).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.entries == other.entries
    }
}

/// The bit of [`Map::seen`] for a key's hash: the top six bits of a multiplicative hash, which
/// spreads keys whose lengths and end bytes differ little.
#[cfg(not(target_family = "wasm"))]
fn bucket(h: u32) -> u64 {
    1 << (h.wrapping_mul(0x9E37_79B9) >> 26)
}

/// A key's length and three of its bytes (first, middle, last): constant time whatever the key,
/// and different for nearly every two keys of one payload; when two collide, their strings are
/// compared anyway.
fn key_hash(key: &str) -> u32 {
    let b = key.as_bytes();
    let at = |i: usize| u32::from(b.get(i).copied().unwrap_or(0));
    (b.len() as u32) ^ (at(0) << 8) ^ (at(b.len() / 2) << 16) ^ (at(b.len().wrapping_sub(1)) << 24)
}

type Slot = (u32, String, Value);

/// `Vec::remove` without its panic: the item at `i` is moved to the end by swaps and popped
/// (`None` when `i` is out of bounds). `Vec::remove`'s assertion links a formatted panic message
/// and its `Location`s into the wasm; the vectors this serves are short.
pub(crate) fn remove_at<T>(v: &mut Vec<T>, i: usize) -> Option<T> {
    let tail = v.get_mut(i..).filter(|tail| !tail.is_empty())?;
    for j in 1..tail.len() {
        tail.swap(j - 1, j);
    }
    v.pop()
}

impl Map {
    /// An empty object.
    pub const fn new() -> Self {
        Map {
            entries: Vec::new(),
            #[cfg(not(target_family = "wasm"))]
            seen: 0,
        }
    }

    /// An empty object with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Map {
            entries: Vec::with_capacity(n),
            #[cfg(not(target_family = "wasm"))]
            seen: 0,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> usize {
        self.position_hashed(key_hash(key), key)
    }

    /// The index of `key`, or the number of entries when it is absent (which `get`, `get_mut`
    /// and [`remove_at`] then find nothing at): a plain `usize`, where an `Option` would be
    /// returned through memory in the wasm.
    fn position_hashed(&self, h: u32, key: &str) -> usize {
        #[cfg(not(target_family = "wasm"))]
        if self.seen & bucket(h) == 0 {
            return self.entries.len();
        }
        let mut i = 0;
        for (kh, k, _) in &self.entries {
            if *kh == h && k == key {
                break;
            }
            i += 1;
        }
        i
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        // `get`, not indexing, here and below: a bounds check's panic path costs the wasm bytes.
        let (_, _, v) = self.entries.get(self.position(key))?;
        Some(v)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key) < self.len()
    }

    /// Sets `key`: replaces the value in place if the key exists, else appends.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        self.insert_string(key.into(), value);
    }

    // Not generic: one copy in the wasm whatever the key's type at the call site.
    fn insert_string(&mut self, key: String, value: Value) {
        let h = key_hash(&key);
        let i = self.position_hashed(h, &key);
        match self.entries.get_mut(i) {
            Some(slot) => slot.2 = value,
            None => {
                #[cfg(not(target_family = "wasm"))]
                {
                    self.seen |= bucket(h);
                }
                self.entries.push((h, key, value));
            }
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key);
        let (_, _, v) = remove_at(&mut self.entries, i)?;
        Some(v)
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) {
        self.entries.truncate(n);
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(_, k, v)| (k.as_str(), v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, k, _)| k.as_str())
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter(self.entries.into_iter())
    }
}

/// A [`Map`]'s entries, moved out in order. A type of its own rather than `map` with a `fn`
/// pointer, which the wasm calls indirectly for every entry (and keeps in its function table).
pub struct IntoIter(alloc::vec::IntoIter<Slot>);

impl Iterator for IntoIter {
    type Item = (String, Value);
    fn next(&mut self) -> Option<(String, Value)> {
        let (_, k, v) = self.0.next()?;
        Some((k, v))
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

// JSON in and out: how the server side and the native tests see values. A `Date` is written as
// epoch milliseconds (what HubSpot wants); JSON has no way to say "Date" on the way in.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) | Value::Date(n) => {
                if is_safe_integer(*n) {
                    s.serialize_i64(*n as i64)
                } else if n.is_finite() {
                    s.serialize_f64(*n)
                } else {
                    s.serialize_unit()
                }
            }
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => s.collect_seq(a),
            Value::Object(m) => m.serialize(s),
        }
    }
}

impl serde::Serialize for Map {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Map {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(m) => Ok(m),
            _ => Err(serde::de::Error::custom("expected an object")),
        }
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Doubles around every boundary the std-free `trunc` has: zero, fractions, 2^52, 2^53,
    /// the i64 range, infinities and NaN.
    const EDGES: [f64; 20] = [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.0,
        -1.5,
        2.999_999,
        1e-300,
        4_503_599_627_370_495.5,
        -4_503_599_627_370_495.5,
        4_503_599_627_370_496.0,
        9_007_199_254_740_993.0,
        1e19,
        -1e19,
        1e300,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];

    #[test]
    fn trunc_and_is_whole_match_std() {
        for n in EDGES {
            let (ours, std) = (trunc(n), n.trunc());
            assert!(
                ours == std || ours.is_nan() && std.is_nan(),
                "{n}: {ours} vs {std}"
            );
            assert_eq!(is_whole(n), n.fract() == 0.0, "{n}");
            assert_eq!(
                is_safe_integer(n),
                n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER,
                "{n}"
            );
        }
    }

    #[test]
    fn numbers_format_like_javascript() {
        for (n, s) in [
            (0.0, "0"),
            (-0.0, "0"),
            (94103.0, "94103"),
            (-42.0, "-42"),
            (10.0, "10"),
            (9007199254740991.0, "9007199254740991"),
            (-9007199254740991.0, "-9007199254740991"),
            (1.5, "1.5"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (9007199254740993.0, "9007199254740992"),
            (1_152_921_504_606_846_976.0, "1152921504606847000"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
        ] {
            assert_eq!(format_number(n), s, "{n}");
        }
    }

    #[test]
    fn json_text_is_valid_json() {
        let v: Value =
            serde_json::from_str(r#"{"a":[1,"x\"y\n\u0001",null,true],"b":{"c":1.5}}"#).unwrap();
        let text = v.to_json();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, serde_json::to_value(&v).unwrap());
        let dated = Value::Array(vec![Value::Date(5.0), Value::Number(f64::NAN)]);
        assert_eq!(dated.to_json(), "[5,null]");
        assert_eq!(
            dated
                .to_json_with_dates(|ms, out| out.push_str(&format!("{{\"d\":{ms}}}")))
                .0,
            r#"[{"d":5},null]"#
        );
        let tagged = |v: Value| v.to_json_with_dates(|_, out| out.push('0')).1;
        assert!(tagged(dated), "a finite date, nested, is reported");
        assert!(
            !tagged(Value::Array(vec![Value::Date(f64::NAN)])),
            "NaN is written as null"
        );
        assert!(!tagged(Value::Number(5.0)));
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut m = Map::new();
        m.insert("a", 1.0.into());
        m.insert("b", 2.0.into());
        m.insert("a", 3.0.into());
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("a"), Some(&Value::Number(3.0)));
    }

    #[test]
    fn truthiness_matches_javascript() {
        assert!(!Value::Number(0.0).is_truthy());
        assert!(!Value::Number(f64::NAN).is_truthy());
        assert!(!Value::from("").is_truthy());
        assert!(Value::Object(Map::new()).is_truthy());
        assert!(Value::from("0").is_truthy());
    }

    proptest::proptest! {
        /// `remove_at` leaves what `Vec::remove` leaves, and `None` where it would panic.
        #[test]
        fn remove_at_agrees_with_vec_remove(v in proptest::collection::vec(0u8..10, 0..12), i in 0usize..14) {
            let mut ours = v.clone();
            let got = remove_at(&mut ours, i);
            let mut std = v;
            let want = (i < std.len()).then(|| std.remove(i));
            proptest::prop_assert_eq!((got, ours), (want, std));
        }

        /// Lookups, inserts and removals through the index-or-length `position_hashed`, behind
        /// the `seen` filter, do what they did through the `Option` of `iter().position` they
        /// replaced (up to 100 keys, so that the filter's 64 bits fill up).
        #[test]
        fn map_operations_agree_with_the_option_position(
            keys in proptest::collection::vec("[a-c]{0,2}|\\PC{0,3}", 0..100),
            probes in proptest::collection::vec("[a-c]{0,2}", 0..6),
        ) {
            let old_position = |m: &Map, key: &str| {
                let h = key_hash(key);
                m.entries.iter().position(|(kh, k, _)| *kh == h && k == key)
            };
            let mut m = Map::new();
            for (n, k) in keys.iter().enumerate() {
                let before = old_position(&m, k);
                let len = m.len();
                m.insert(k.as_str(), Value::Number(n as f64));
                // Replaced in place when present, else appended.
                let want = before.unwrap_or(len);
                proptest::prop_assert_eq!(old_position(&m, k), Some(want));
                proptest::prop_assert_eq!(m.len(), if before.is_some() { len } else { len + 1 });
            }
            for k in keys.iter().chain(&probes) {
                let at = old_position(&m, k);
                let want = at.and_then(|i| m.entries.get(i)).map(|(_, _, v)| v.clone());
                proptest::prop_assert_eq!(m.get(k).cloned(), want.clone());
                proptest::prop_assert_eq!(m.contains_key(k), at.is_some());
                let mut left = m.clone();
                let mut want_left = m.entries.clone();
                if let Some(i) = at {
                    want_left.remove(i);
                }
                proptest::prop_assert_eq!(left.remove(k), want);
                proptest::prop_assert_eq!(left.entries, want_left);
            }
        }

        /// A map's entries move out as the `map` over its vector gave them, in order.
        #[test]
        fn into_iter_agrees_with_the_mapped_vector(keys in proptest::collection::vec("[a-d]{0,2}", 0..8)) {
            let m: Map = keys.iter().enumerate().map(|(i, k)| (k.as_str(), Value::Number(i as f64))).collect();
            let want: Vec<(String, Value)> = m.clone().entries.into_iter().map(|(_, k, v)| (k, v)).collect();
            proptest::prop_assert_eq!(m.into_iter().collect::<Vec<_>>(), want);
        }
    }
}
