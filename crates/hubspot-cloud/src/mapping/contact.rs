//! identify → contact upsert.

use hubspot_core::mapping::{contact_names, find_email, flatten_properties};
use hubspot_core::text::trim;
use hubspot_core::{Event, Map as CoreMap, Value as CoreValue};
use serde_json::{Map, Value};

use super::{MappingConfig, Rejection, SERVER_RULES};
use crate::ops::{Operation, Upsert};

/// Maps an identify (or `context.traits` of a track) to a contact upsert.
pub(crate) fn identify(event: &Event, config: &MappingConfig) -> Result<Operation, Rejection> {
    contact_upsert(&event.traits, event.user_id.as_deref(), config, "identify")
}

/// A contact upsert from traits; shared by identify and by tracks carrying `context.traits`.
pub(crate) fn contact_upsert(
    traits: &CoreMap,
    user_id: Option<&str>,
    config: &MappingConfig,
    call: &'static str,
) -> Result<Operation, Rejection> {
    let (email, email_key) = find_email(traits, user_id).ok_or(Rejection::NoEmail { call })?;
    let id = if config.contact_id_property == "email" {
        email.clone()
    } else {
        traits
            .get(&config.contact_id_property)
            .and_then(CoreValue::to_js_string)
            .map(|s| trim(&s).to_owned())
            .filter(|s| !s.is_empty())
            .ok_or(Rejection::NoEmail { call })?
    };
    let skip: Vec<&str> = [
        Some("firstName"),
        Some("first_name"),
        Some("lastName"),
        Some("last_name"),
        Some("company"),
        Some("address"),
        Some("lifecyclestage"),
        Some("lifecycleStage"),
        email_key,
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut properties = to_json_map(&flatten_properties(
        traits,
        &SERVER_RULES,
        &skip,
        &mut Vec::new(),
    ));
    // Keyed by email, the upsert sets it on create; sending it too could replace the primary
    // address of a contact matched by a secondary one.
    if config.contact_id_property != "email" {
        properties.insert("email".into(), email.into());
    }
    let text = |m: &CoreMap, keys: &[&str]| {
        keys.iter()
            .find_map(|k| m.get(k).and_then(CoreValue::to_js_string))
            .map(|s| trim(&s).to_owned())
            .filter(|s| !s.is_empty())
    };
    let (first, last) = contact_names(traits);
    if let Some(v) = first {
        properties.insert("firstname".into(), v.into());
    }
    if let Some(v) = last {
        properties.insert("lastname".into(), v.into());
    }
    if let Some(v) = text(traits, &["lifecyclestage", "lifecycleStage"]) {
        properties.insert("lifecyclestage".into(), v.to_lowercase().into());
    }
    match traits.get("company") {
        Some(CoreValue::Object(c)) => {
            if let Some(name) = text(c, &["name"]) {
                properties.insert("company".into(), name.into());
            }
        }
        Some(other) => {
            if let Some(name) = other
                .to_js_string()
                .map(|s| trim(&s).to_owned())
                .filter(|s| !s.is_empty())
            {
                properties.insert("company".into(), name.into());
            }
        }
        None => {}
    }
    address_fields(traits, &mut properties);
    Ok(Operation::UpsertContact(Upsert {
        object_type: "contacts".into(),
        id_property: config.contact_id_property.clone(),
        id,
        properties,
    }))
}

/// `address` as HubSpot's fields (`street`→`address`, `postalCode`/`postal_code`→`zip`); a
/// string address is kept. Shared with company mapping.
pub(crate) fn address_fields(traits: &CoreMap, properties: &mut Map<String, Value>) {
    match traits.get("address") {
        Some(CoreValue::Object(a)) => {
            for (to, v) in hubspot_core::mapping::address_fields(a) {
                properties.insert(to.into(), v.into());
            }
        }
        Some(CoreValue::String(s)) if !trim(s).is_empty() => {
            properties.insert("address".into(), trim(s).into());
        }
        _ => {}
    }
}

/// Core values as JSON (dates become epoch ms).
pub(crate) fn to_json_map(m: &CoreMap) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (k.to_owned(), serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect()
}
