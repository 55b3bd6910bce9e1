//! Property values as the portal's property definitions want them. HubSpot rejects a whole
//! input for one unknown property or one date that is not midnight UTC; conforming first turns
//! that into a dropped property, reported, and the rest delivered.

use hubspot_core::Value as CoreValue;
use hubspot_core::date::parse_iso_date_ms;
use serde_json::{Map, Value};

/// HubSpot property types that change how a value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyType {
    /// `date`: midnight UTC of the day, epoch ms.
    Date,
    /// `datetime`: epoch ms.
    DateTime,
    /// `number`.
    Number,
    /// `bool` (`booleancheckbox`): `"true"`/`"false"`.
    Bool,
    /// `enumeration`, `string`, `phone_number` and the rest: text.
    Text,
}

impl PropertyType {
    /// From HubSpot's `type` field.
    pub fn parse(t: &str) -> PropertyType {
        match t {
            "date" => PropertyType::Date,
            "datetime" => PropertyType::DateTime,
            "number" => PropertyType::Number,
            "bool" => PropertyType::Bool,
            _ => PropertyType::Text,
        }
    }
}

/// One property of an object type, as `GET /crm/v3/properties/{type}` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyDefinition {
    /// Internal name.
    pub name: String,
    /// Value type.
    pub kind: PropertyType,
}

/// A property left out, and why (reported in logs, metrics and `check`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Property name.
    pub name: String,
    /// Why.
    pub reason: String,
}

const DAY_MS: f64 = 86_400_000.0;

/// Keeps the properties the portal defines, each converted to its type; the rest are dropped
/// with a reason.
pub fn conform(
    properties: &Map<String, Value>,
    definitions: &[PropertyDefinition],
) -> (Map<String, Value>, Vec<Dropped>) {
    let mut out = Map::with_capacity(properties.len());
    let mut dropped = Vec::new();
    for (name, value) in properties {
        let Some(def) = definitions.iter().find(|d| d.name == *name) else {
            dropped.push(Dropped {
                name: name.clone(),
                reason: "no such property in this portal".into(),
            });
            continue;
        };
        match convert(value, def.kind) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(reason) => dropped.push(Dropped {
                name: name.clone(),
                reason,
            }),
        }
    }
    (out, dropped)
}

fn convert(value: &Value, kind: PropertyType) -> Result<Value, String> {
    let as_ms = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_iso_date_ms(s.trim()).or_else(|| s.trim().parse::<f64>().ok()),
        _ => None,
    };
    match kind {
        PropertyType::Date => as_ms(value)
            .map(|ms| Value::from(((ms / DAY_MS).floor() * DAY_MS) as i64))
            .ok_or_else(|| format!("{value} is not a date")),
        PropertyType::DateTime => as_ms(value)
            .map(|ms| Value::from(ms as i64))
            .ok_or_else(|| format!("{value} is not a date-time")),
        PropertyType::Number => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                // Written as every mapped number is: a safe integer as one ("12", not "12.0").
                .and_then(|n| serde_json::to_value(CoreValue::Number(n)).ok())
                .ok_or_else(|| format!("{value} is not a number")),
            Value::Bool(b) => Ok(Value::from(u8::from(*b))),
            _ => Err(format!("{value} is not a number")),
        },
        PropertyType::Bool => match value {
            Value::Bool(b) => Ok(Value::from(b.to_string())),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok("true".into()),
                "false" | "no" | "0" | "" => Ok("false".into()),
                _ => Err(format!("{value} is not true or false")),
            },
            Value::Number(n) => Ok(Value::from((n.as_f64() != Some(0.0)).to_string())),
            _ => Err(format!("{value} is not true or false")),
        },
        PropertyType::Text => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(_) | Value::Bool(_) => Ok(Value::from(value.to_string())),
            other => Ok(Value::from(other.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conforms_to_property_types() {
        let defs: Vec<PropertyDefinition> = [
            ("birthday", PropertyType::Date),
            ("last_seen", PropertyType::DateTime),
            ("score", PropertyType::Number),
            ("vip", PropertyType::Bool),
            ("plan", PropertyType::Text),
        ]
        .into_iter()
        .map(|(n, k)| PropertyDefinition {
            name: n.into(),
            kind: k,
        })
        .collect();
        let input = json!({
            "birthday": "2020-01-01T15:30:00Z", "last_seen": "2020-01-01T00:00:01.5Z", "score": "42.5",
            "vip": true, "plan": 3, "unknown": "x", "score2": 1
        });
        let (out, dropped) = conform(input.as_object().unwrap(), &defs);
        assert_eq!(
            Value::Object(out),
            json!({
                "birthday": 1_577_836_800_000u64, "last_seen": 1_577_836_801_500u64, "score": 42.5, "vip": "true", "plan": "3"
            })
        );
        assert_eq!(
            dropped.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["unknown", "score2"]
        );
        let (_, dropped) = conform(
            json!({"birthday": "soon", "score": "many"})
                .as_object()
                .unwrap(),
            &defs,
        );
        assert_eq!(dropped.len(), 2);
        assert!(dropped[0].reason.contains("not a date"));
    }

    #[test]
    fn whole_numbers_are_integers_up_to_the_largest_safe_integer() {
        let defs = [PropertyDefinition {
            name: "n".into(),
            kind: PropertyType::Number,
        }];
        for (text, want) in [
            ("12", json!(12)),
            ("9000000000000001", json!(9_000_000_000_000_001u64)),
            ("9007199254740993", json!(9_007_199_254_740_992.0)),
        ] {
            let (out, _) = conform(json!({ "n": text }).as_object().unwrap(), &defs);
            assert_eq!(out["n"], want, "{text}");
        }
    }
}
