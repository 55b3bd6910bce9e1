//! JavaScript values ↔ core [`Value`]s, once each way: in through a "tape", out as JSON (see
//! `js/tape.js`).
//!
//! Page payloads are walked by JavaScript, which survives what `JSON.stringify` would not: cycles
//! are cut, nesting is bounded, `Date`s are kept as dates, `undefined`, functions and symbols are
//! dropped (as JSON does), and getters that throw are skipped. `js/plugin.js` encodes a value
//! before it calls an export and passes the tape as its arguments: one string of all text and a
//! list of numbers, which [`read`] turns into a value.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use hubspot_core::value::format_number;
use hubspot_core::{Map, Value};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/shell.js")]
extern "C" {
    /// `JSON.parse`, turning `{"\u0000date": ms}` objects into `Date`s when `dates` is true.
    fn parse(text: &str, dates: bool) -> JsValue;
}

const NULL: f64 = 0.0;
const TRUE: f64 = 1.0;
const FALSE: f64 = 2.0;
const NUMBER: f64 = 3.0;
const DATE: f64 = 4.0;
const STRING: f64 = 5.0;
const ARRAY: f64 = 6.0;
const OBJECT: f64 = 7.0;

/// Reads a tape made by `js/tape.js` (its `text` and `ops`). `None` for what JSON would drop
/// (`undefined`, functions, symbols), for cyclic references and for a short or malformed tape.
/// Owned, as the exports receive them: borrowed `&str` / `&[f64]` export arguments cost their
/// shims ~300 B more (wasm-bindgen's anchors and their drops).
pub fn read(text: String, ops: Vec<f64>) -> Option<Value> {
    Reader {
        ascii: hubspot_core::text::is_ascii(&text),
        text: &text,
        ops: &ops,
        at: 0,
        i: 0,
    }
    .value()
}

/// The reading of one tape: a short or malformed tape ends it with `None`.
struct Reader<'a> {
    text: &'a str,
    /// When the text is ASCII, UTF-16 lengths are byte lengths (the common, fast case).
    ascii: bool,
    ops: &'a [f64],
    /// Byte offset into `text`.
    at: usize,
    /// Index into `ops`.
    i: usize,
}

impl Reader<'_> {
    fn op(&mut self) -> Option<f64> {
        let op = *self.ops.get(self.i)?;
        self.i += 1;
        Some(op)
    }

    fn count(&mut self) -> Option<usize> {
        self.op().map(|n| n as usize)
    }

    /// The next string, `units` UTF-16 code units long.
    fn string(&mut self) -> Option<String> {
        let units = self.count()?;
        let rest = self.text.get(self.at..)?;
        let bytes = if self.ascii {
            units
        } else {
            // Counted on the UTF-8 bytes: a lead byte from 0xF0 starts a character of two
            // UTF-16 units (a surrogate pair), any other one unit; its length follows from it.
            let (b, mut i, mut seen) = (rest.as_bytes(), 0, 0);
            while seen < units {
                let Some(&lead) = b.get(i) else { break };
                seen += if lead >= 0xF0 { 2 } else { 1 };
                i += match lead {
                    0..0x80 => 1,
                    0x80..0xE0 => 2,
                    0xE0..0xF0 => 3,
                    _ => 4,
                };
            }
            i
        };
        let s = rest.get(..bytes)?;
        self.at += bytes;
        Some(s.to_owned())
    }

    fn value(&mut self) -> Option<Value> {
        Some(match self.op()? {
            NULL => Value::Null,
            TRUE => Value::Bool(true),
            FALSE => Value::Bool(false),
            NUMBER => Value::Number(self.op()?),
            DATE => Value::Date(self.op()?),
            STRING => Value::String(self.string()?),
            ARRAY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n.min(self.ops.len()));
                for _ in 0..n {
                    items.push(self.value()?);
                }
                Value::Array(items)
            }
            OBJECT => {
                let n = self.count()?;
                let mut map = Map::with_capacity(n.min(self.ops.len()));
                for _ in 0..n {
                    let key = self.string()?;
                    map.insert(key, self.value()?);
                }
                Value::Object(map)
            }
            _ => return None,
        })
    }
}

/// A core value as JSON text for `js/shell.js`'s `parse` (directly, or in `hsqPush`), and
/// whether it holds dates (written as `{"\u0000date": ms}`, revived as `Date`s).
pub fn to_json(v: &Value) -> (String, bool) {
    v.to_json_with_dates(|ms, out| {
        out.push_str("{\"\\u0000date\":");
        out.push_str(&format_number(ms));
        out.push('}');
    })
}

/// Converts a core value to a JavaScript value (plain objects and arrays; dates as `Date`;
/// non-finite numbers as `null`, as JSON has them).
pub fn to_js(v: &Value) -> JsValue {
    let (text, dates) = to_json(v);
    parse(&text, dates)
}
