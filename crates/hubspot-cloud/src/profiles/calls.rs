//! Records → Segment calls, pure: traits, identity, the checksum of a call's content and the
//! `messageId` derived from it, and cutting calls into `/v1/batch` bodies.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::config::{ADDRESS_TRAITS, IdentityMapping, Traits};

/// Names this program's checksums and message ids (UUID v5), so they differ from any other
/// producer's.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a8e_4b53_4c1e_9a07_d2f3_8e51_b0c4);

/// A record's value for `property`: its text (numbers and booleans printed), or `None` when
/// missing or empty. `id` is the record id, so HubSpot's id can be the identity.
pub fn value(id: &str, properties: &Map<String, Value>, property: &str) -> Option<String> {
    if property == "id" {
        return Some(id.to_owned());
    }
    match properties.get(property)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A call's `userId` / `anonymousId`, as the mapping gives them for one record; `None` when the
/// record has a value for neither.
pub fn identity(
    id: &str,
    properties: &Map<String, Value>,
    mapping: &IdentityMapping,
) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (key, property) in [
        ("userId", &mapping.user_id),
        ("anonymousId", &mapping.anonymous_id),
    ] {
        if let Some(v) = property.as_deref().and_then(|p| value(id, properties, p)) {
            out.insert(key.into(), v.into());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The traits of a record, keys sorted (HubSpot's property order varies between reads, and
/// the checksum must not).
pub fn traits(properties: &Map<String, Value>, mapping: &Traits) -> Map<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    match mapping {
        Traits::All => {
            for (k, v) in properties {
                if !v.is_null() && v.as_str() != Some("") {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Traits::Map {
            names,
            with_address,
        } => {
            for (property, name) in names {
                if let Some(v) = value("", properties, property) {
                    out.insert(name.clone(), v.into());
                }
            }
            if *with_address {
                let address: Map<String, Value> = ADDRESS_TRAITS
                    .iter()
                    .filter_map(|(p, k)| Some(((*k).to_owned(), value("", properties, p)?.into())))
                    .collect();
                if !address.is_empty() {
                    out.insert("address".into(), Value::Object(address));
                }
            }
        }
    }
    out.into_iter().collect()
}

/// One call ready to send, with what records its export.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// `contacts` or `companies`.
    pub kind: &'static str,
    /// The record id.
    pub record_id: String,
    /// Hash of the call's content (without `messageId` and `context`).
    pub checksum: String,
    /// The whole message.
    pub message: Value,
}

/// Completes `content` (type, identity, traits, groupId: what a change is judged on) into a
/// call: the checksum, a `messageId` stable per (portal, kind, record, checksum) so a rerun or
/// retry is deduplicated by the receiver, and `context` naming this program and marking the
/// message as coming from HubSpot portal `portal_id` (the relay drops it for that portal).
pub fn call(portal_id: &str, kind: &'static str, record_id: &str, content: Value) -> Call {
    let checksum = Uuid::new_v5(&NAMESPACE, content.to_string().as_bytes())
        .simple()
        .to_string();
    let message_id = Uuid::new_v5(
        &NAMESPACE,
        format!("{portal_id}/{kind}/{record_id}/{checksum}").as_bytes(),
    );
    let mut message = content;
    if let Some(obj) = message.as_object_mut() {
        obj.insert("messageId".into(), message_id.to_string().into());
        obj.insert("context".into(), context(portal_id));
    }
    Call {
        kind,
        record_id: record_id.to_owned(),
        checksum,
        message,
    }
}

/// The marker [`call`] puts in `context`.
pub fn context(portal_id: &str) -> Value {
    json!({
        "integration": { "name": "hubspot-cloud", "version": env!("CARGO_PKG_VERSION") },
        "source": { "type": SOURCE_TYPE, "portal": portal_id },
    })
}

/// `context.source.type` of exported calls.
pub const SOURCE_TYPE: &str = "hubspot";

/// The HubSpot portal a message says it came from (`context.source` as [`context`] writes it).
pub fn exported_from(message: &Value) -> Option<&str> {
    let source = message.get("context")?.get("source")?;
    (source.get("type")?.as_str()? == SOURCE_TYPE)
        .then(|| source.get("portal")?.as_str())
        .flatten()
}

/// Bytes of a `/v1/batch` body besides its messages: `{"batch":[` `]}` and the commas.
const ENVELOPE_BYTES: usize = 16;

/// Cuts `calls` into batches of at most `max_count` calls whose body is under `max_bytes`
/// (each call's size is its JSON plus a comma). Calls that alone exceed `max_message` are
/// answered apart: no receiver takes them.
pub fn batches(
    calls: Vec<Call>,
    max_count: usize,
    max_bytes: usize,
    max_message: usize,
) -> (Vec<Vec<Call>>, Vec<Call>) {
    let (mut out, mut too_large) = (Vec::new(), Vec::new());
    let (mut current, mut size) = (Vec::new(), ENVELOPE_BYTES);
    for c in calls {
        let bytes = c.message.to_string().len() + 1;
        if bytes > max_message {
            too_large.push(c);
            continue;
        }
        if !current.is_empty() && (current.len() == max_count || size + bytes >= max_bytes) {
            out.push(std::mem::take(&mut current));
            size = ENVELOPE_BYTES;
        }
        size += bytes;
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    (out, too_large)
}

/// A `/v1/batch` body.
pub fn body(batch: &[Call]) -> Vec<u8> {
    let messages: Vec<&Value> = batch.iter().map(|c| &c.message).collect();
    serde_json::to_vec(&json!({ "batch": messages })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn default_traits_rename_and_nest_the_address_in_a_stable_order() {
        let p =
            props(json!({"zip": "1000", "lastname": "B", "firstname": "A", "x": "y", "email": ""}));
        let t = traits(
            &p,
            &super::super::config::ProfilesSettings {
                endpoint: Some("e".into()),
                write_key: Some("k".into()),
                user_id: Some("email".into()),
                companies: Some(false),
                ..Default::default()
            }
            .resolve()
            .unwrap()
            .traits,
        );
        assert_eq!(
            Value::Object(t).to_string(),
            r#"{"address":{"postalCode":"1000"},"firstName":"A","lastName":"B"}"#
        );
    }

    #[test]
    fn the_message_id_changes_with_the_content_only() {
        let a = call(
            "1",
            "contacts",
            "7",
            json!({"type": "identify", "userId": "a"}),
        );
        let again = call(
            "1",
            "contacts",
            "7",
            json!({"type": "identify", "userId": "a"}),
        );
        let changed = call(
            "1",
            "contacts",
            "7",
            json!({"type": "identify", "userId": "b"}),
        );
        assert_eq!(a, again);
        assert_ne!(a.message["messageId"], changed.message["messageId"]);
        assert_eq!(exported_from(&a.message), Some("1"));
    }

    #[test]
    fn batches_stay_under_the_byte_and_count_limits() {
        let calls: Vec<Call> = (0..10)
            .map(|i| {
                call(
                    "1",
                    "contacts",
                    &i.to_string(),
                    json!({"t": "x".repeat(100)}),
                )
            })
            .collect();
        let one = calls[0].message.to_string().len() + 1;
        let (b, big) = batches(calls.clone(), 4, ENVELOPE_BYTES + 3 * one + 1, 10_000);
        assert!(big.is_empty());
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
        assert!(
            b.iter()
                .all(|b| body(b).len() < ENVELOPE_BYTES + 3 * one + 1)
        );
        let (b, _) = batches(calls.clone(), 4, 1_000_000, 10_000);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let (b, big) = batches(calls, 4, 1_000_000, 50);
        assert!(b.is_empty());
        assert_eq!(big.len(), 10);
    }
}
