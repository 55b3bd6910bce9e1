//! track → custom behavioral event (plus a contact update from `context.traits`), or a
//! configured object upsert; page → an optional custom behavioral event.

use hubspot_core::mapping::{
    MAX_EVENT_PROPERTIES, custom_event_name, find_email, flatten_properties,
};
use hubspot_core::text::trim;
use hubspot_core::{Event, Value as CoreValue};
use uuid::Uuid;

use super::contact::{contact_upsert, to_json_map};
use super::{EVENT_RULES, MappingConfig, Rejection, SERVER_RULES};
use crate::ops::{BehavioralEvent, Operation, Upsert};

/// Namespace for event uuids derived from Segment message ids (fixed forever: changing it would
/// let a retried message count twice).
const EVENT_UUID_NAMESPACE: Uuid = Uuid::from_u128(0x6875_6273_706f_742d_7761_736d_2d65_7674);

/// The stable event uuid for a Segment message id.
pub fn event_uuid(portal_id: &str, message_id: &str) -> String {
    Uuid::new_v5(
        &EVENT_UUID_NAMESPACE,
        format!("{portal_id}:{message_id}").as_bytes(),
    )
    .to_string()
}

pub(crate) fn track(event: &Event, config: &MappingConfig) -> Result<Vec<Operation>, Rejection> {
    let name = event
        .event
        .as_deref()
        .map(trim)
        .filter(|e| !e.is_empty())
        .ok_or(Rejection::NoEventName)?;
    if let Some(mapping) = config.object_mappings.iter().find(|m| m.event == name) {
        return object(event, mapping).map(|op| vec![op]);
    }
    let mut ops = Vec::with_capacity(2);
    // context.traits with an email also update the contact (Segment classic's documented feature).
    if let Ok(op) = contact_upsert(&event.context_traits, None, config, "track") {
        if find_email(&event.context_traits, None).is_some() {
            ops.push(op);
        }
    }
    let name = custom_event_name(
        name,
        &config.event_names,
        &config.portal_id,
        config.format_event_names,
    );
    ops.push(Operation::SendEvent(behavioral_event(event, name, config)?));
    Ok(ops)
}

pub(crate) fn page(event: &Event, config: &MappingConfig) -> Result<Operation, Rejection> {
    let name = config.page_event.clone().unwrap_or_default();
    behavioral_event(event, name, config).map(Operation::SendEvent)
}

fn behavioral_event(
    event: &Event,
    event_name: String,
    config: &MappingConfig,
) -> Result<BehavioralEvent, Rejection> {
    let email = find_email(&event.properties, None)
        .or_else(|| find_email(&event.context_traits, event.user_id.as_deref()))
        .map(|(e, _)| e);
    let text = |v: Option<&CoreValue>| {
        v.and_then(CoreValue::to_js_string)
            .filter(|s| !s.is_empty())
    };
    let utk = text(event.properties.get("utk")).or_else(|| text(event.context.get("utk")));
    let object_id = text(event.properties.get("objectId"));
    if email.is_none() && utk.is_none() && object_id.is_none() {
        return Err(Rejection::NoIdentity(event_name));
    }
    let mut properties = flatten_properties(
        event.properties.clone(),
        &EVENT_RULES,
        |k| ["email", "utk", "objectId"].contains(&k),
        &mut Vec::new(),
    );
    properties.truncate(MAX_EVENT_PROPERTIES);
    let properties = to_json_map(&properties);
    let message_id = event.message_id.clone().unwrap_or_else(|| {
        // No messageId: derive one from the content, so the same message retried is still one.
        format!(
            "{event_name}|{email:?}|{:?}|{}",
            event.timestamp,
            serde_json::Value::Object(properties.clone())
        )
    });
    Ok(BehavioralEvent {
        uuid: event_uuid(&config.portal_id, &message_id),
        event_name,
        email,
        utk,
        object_id,
        occurred_at: event.timestamp.as_ref().and_then(CoreValue::to_js_string),
        properties,
    })
}

fn object(event: &Event, mapping: &super::ObjectMapping) -> Result<Operation, Rejection> {
    let id = event
        .properties
        .get(&mapping.id_property)
        .and_then(CoreValue::to_js_string)
        .map(|s| trim(&s).to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::NoObjectId {
            event: mapping.event.clone(),
            id_property: mapping.id_property.clone(),
        })?;
    let properties = to_json_map(&flatten_properties(
        event.properties.clone(),
        &SERVER_RULES,
        |k| k == "email",
        &mut Vec::new(),
    ));
    let associate_contact_email = mapping
        .associate_contact
        .then(|| {
            find_email(&event.properties, None)
                .or_else(|| find_email(&event.context_traits, event.user_id.as_deref()))
        })
        .flatten()
        .map(|(e, _)| e);
    Ok(Operation::UpsertObject {
        upsert: Upsert {
            object_type: mapping.object_type.clone(),
            id_property: mapping.id_property.clone(),
            id,
            properties,
        },
        associate_contact_email,
    })
}
