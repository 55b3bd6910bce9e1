//! JavaScript values → core [`Value`]s, once, at the boundary.
//!
//! Payloads come from arbitrary page code, so this walk survives what `JSON.stringify` would not:
//! cycles are cut, nesting is bounded, `Date`s are kept as dates, `undefined`, functions and
//! symbols are dropped (as JSON does), and getters that throw are skipped.

use hubspot_core::{Map, Value};
use js_sys::{Array, Date, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// Deepest nesting read from a page value; the core's mapping cuts at 16 as well.
const MAX_DEPTH: usize = 24;

/// Converts a JavaScript value. `None` for what JSON would drop (`undefined`, functions,
/// symbols) and for cyclic references.
pub fn to_value(js: &JsValue) -> Option<Value> {
    let mut path = Vec::new();
    walk(js, &mut path)
}

fn walk(js: &JsValue, path: &mut Vec<JsValue>) -> Option<Value> {
    if let Some(s) = js.as_string() {
        return Some(Value::String(s));
    }
    if let Some(n) = js.as_f64() {
        return Some(Value::Number(n));
    }
    if let Some(b) = js.as_bool() {
        return Some(Value::Bool(b));
    }
    if js.is_null() {
        return Some(Value::Null);
    }
    if js.is_undefined() || js.is_function() || js.is_symbol() {
        return None;
    }
    if let Some(big) = js.dyn_ref::<js_sys::BigInt>() {
        return big.to_string(10).ok().map(|s| Value::String(s.into()));
    }
    if !js.is_object() || path.len() >= MAX_DEPTH || path.iter().any(|seen| Object::is(seen, js)) {
        return None;
    }
    if let Some(d) = js.dyn_ref::<Date>() {
        let ms = d.get_time();
        return Some(if ms.is_nan() {
            Value::Null
        } else {
            Value::Date(ms)
        });
    }
    path.push(js.clone());
    let out = if Array::is_array(js) {
        let arr: &Array = js.unchecked_ref();
        Value::Array(
            arr.iter()
                .map(|item| walk(&item, path).unwrap_or(Value::Null))
                .collect(),
        )
    } else {
        let obj: &Object = js.unchecked_ref();
        let keys = Object::keys(obj);
        let mut map = Map::with_capacity(keys.length() as usize);
        for key in keys.iter() {
            let Some(k) = key.as_string() else { continue };
            // A throwing getter drops that key, not the call.
            let Ok(v) = Reflect::get(obj, &key) else {
                continue;
            };
            if let Some(v) = walk(&v, path) {
                map.insert(k, v);
            }
        }
        Value::Object(map)
    };
    path.pop();
    Some(out)
}

/// Converts a core value to a JavaScript value (plain objects and arrays; dates as `Date`).
pub fn to_js(v: &Value) -> JsValue {
    match v {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(*n),
        Value::String(s) => JsValue::from_str(s),
        Value::Date(ms) => Date::new(&JsValue::from_f64(*ms)).into(),
        Value::Array(items) => items.iter().map(to_js).collect::<Array>().into(),
        Value::Object(m) => {
            let obj = Object::new();
            for (k, v) in m.iter() {
                // Setting a property on a fresh plain object cannot fail.
                let _ = Reflect::set(&obj, &JsValue::from_str(k), &to_js(v));
            }
            obj.into()
        }
    }
}
