//! Custom behavioral events (`/events/v3/send/batch`) and their definitions.
//!
//! Event names and property names must be defined for the portal; sending is validated in full
//! before anything is recorded, so a rejected batch records nothing. An event whose `uuid` was
//! already received is accepted (204) but not recorded again: this is what lets a client retry
//! after a lost answer without counting the event twice. Every accepted event, repeats included,
//! is also kept as a receipt, so a test can see what a client actually sent on each retry.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dates;
use crate::errors::ApiError;
use crate::store::{Store, scalar_text};

/// Most custom properties on one event.
pub const MAX_EVENT_PROPERTIES: usize = 50;
/// Most events in one `/events/v3/send/batch` request.
pub const MAX_EVENT_BATCH: usize = 500;

/// A received event, as recorded in the fake's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    /// `eventName` (the definition's fully qualified name, `pe<portal>_<name>`).
    pub event_name: String,
    /// `uuid`, the client's idempotency key, if sent.
    pub uuid: Option<String>,
    /// `email`, if sent.
    pub email: Option<String>,
    /// `utk`, if sent.
    pub utk: Option<String>,
    /// `objectId`, if sent.
    pub object_id: Option<String>,
    /// The contact the event was attributed to (by `objectId`, else by email, primary or
    /// secondary); `None` when neither matches a contact.
    pub contact_id: Option<String>,
    /// `occurredAt`, as ISO-8601 (epoch ms inputs are converted).
    pub occurred_at: Option<String>,
    /// Custom properties, values as sent.
    pub properties: BTreeMap<String, Value>,
    /// When the fake received it, epoch ms.
    pub received_at: i64,
}

/// Received events and the uuids seen so far.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    pub(crate) events: Vec<RecordedEvent>,
    /// Every accepted event in arrival order, uuid repeats included.
    pub(crate) receipts: Vec<RecordedEvent>,
    seen: HashSet<String>,
    /// Events accepted but not recorded because their uuid was seen before.
    pub(crate) duplicates: u64,
}

impl EventLog {
    /// Keeps a receipt, then records the event unless its uuid was seen; returns whether it
    /// was recorded.
    pub(crate) fn record(&mut self, event: RecordedEvent) -> bool {
        self.receipts.push(event.clone());
        if let Some(uuid) = &event.uuid {
            if !self.seen.insert(uuid.clone()) {
                self.duplicates += 1;
                return false;
            }
        }
        self.events.push(event);
        true
    }
}

fn text_field(input: &Value, key: &str) -> Option<String> {
    input
        .get(key)
        .and_then(scalar_text)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Validates one event completion against the definitions and resolves its contact.
pub(crate) fn parse_event(
    input: &Value,
    definitions: &BTreeMap<String, BTreeSet<String>>,
    store: &Store,
) -> Result<RecordedEvent, ApiError> {
    if !input.is_object() {
        return Err(ApiError::validation("Each event must be a JSON object"));
    }
    let event_name = text_field(input, "eventName")
        .ok_or_else(|| ApiError::validation("eventName is required"))?;
    let allowed = definitions.get(&event_name).ok_or_else(|| {
        ApiError::validation(format!(
            "Event definition not found for eventName {event_name}"
        ))
    })?;
    let properties: BTreeMap<String, Value> = match input.get("properties") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map.clone().into_iter().collect(),
        Some(_) => return Err(ApiError::validation("properties must be an object")),
    };
    if properties.len() > MAX_EVENT_PROPERTIES {
        return Err(ApiError::validation(format!(
            "Too many properties: {} > {MAX_EVENT_PROPERTIES} for event {event_name}",
            properties.len()
        )));
    }
    if let Some(unknown) = properties.keys().find(|k| !allowed.contains(*k)) {
        return Err(ApiError::validation(format!(
            "Property {unknown} is not defined for event {event_name}"
        )));
    }
    let email = text_field(input, "email").map(|e| e.to_lowercase());
    let utk = text_field(input, "utk");
    let object_id = text_field(input, "objectId");
    if email.is_none() && utk.is_none() && object_id.is_none() {
        return Err(ApiError::validation(
            "One of email, utk or objectId is required to attribute the event",
        ));
    }
    let occurred_at = match input.get("occurredAt") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .map(dates::iso_from_ms)
                .ok_or_else(|| ApiError::validation("occurredAt must be epoch ms or ISO-8601"))?,
        ),
        Some(Value::String(s)) => {
            dates::parse_iso(s)
                .ok_or_else(|| ApiError::validation(format!("occurredAt {s} is not ISO-8601")))?;
            Some(s.clone())
        }
        Some(_) => {
            return Err(ApiError::validation(
                "occurredAt must be epoch ms or ISO-8601",
            ));
        }
    };
    let by_id = object_id
        .as_deref()
        .filter(|id| store.exists("contacts", id))
        .map(str::to_string);
    let contact_id = by_id.or_else(|| store.contact_id_by_email(email.as_deref()?));
    Ok(RecordedEvent {
        event_name,
        uuid: text_field(input, "uuid"),
        email,
        utk,
        object_id,
        contact_id,
        occurred_at,
        properties,
        received_at: dates::now_ms(),
    })
}

/// The fully qualified name HubSpot gives a definition named `name`.
pub(crate) fn qualified_name(portal_id: u64, name: &str) -> String {
    format!("pe{portal_id}_{name}")
}

/// A definition in the shape of `GET /events/v3/event-definitions/{eventName}`.
pub(crate) fn definition_json(portal_id: u64, fqn: &str, properties: &BTreeSet<String>) -> Value {
    let prefix = format!("pe{portal_id}_");
    let name = fqn.strip_prefix(&prefix).unwrap_or(fqn);
    let props: Vec<Value> = properties
        .iter()
        .map(|p| json!({ "name": p, "label": p, "type": "string", "archived": false }))
        .collect();
    json!({
        "id": fqn,
        "name": name,
        "fullyQualifiedName": fqn,
        "labels": { "singular": name, "plural": null },
        "primaryObject": "CONTACT",
        "archived": false,
        "properties": props,
    })
}

/// Reads a `POST /events/v3/event-definitions` body: the fully qualified name and properties.
pub(crate) fn definition_from_body(
    portal_id: u64,
    body: &Value,
) -> Result<(String, BTreeSet<String>), ApiError> {
    let label =
        text_field(body, "label").ok_or_else(|| ApiError::validation("label is required"))?;
    let name = text_field(body, "name").unwrap_or_else(|| {
        label
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    });
    let mut properties = BTreeSet::new();
    for def in body
        .get("propertyDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let prop = text_field(def, "name")
            .ok_or_else(|| ApiError::validation("each propertyDefinitions entry needs a name"))?;
        properties.insert(prop);
    }
    if properties.len() > MAX_EVENT_PROPERTIES {
        return Err(ApiError::validation(format!(
            "An event definition has at most {MAX_EVENT_PROPERTIES} custom properties"
        )));
    }
    Ok((qualified_name(portal_id, &name), properties))
}
