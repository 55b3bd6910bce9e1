//! identify → contact upsert.

use hubspot_core::mapping::{
    address_trait, company_trait, contact_names, find_email, flatten_properties, is_reserved_trait,
};
use hubspot_core::text::trimmed_text;
use hubspot_core::{Event, Map as CoreMap};
use serde_json::{Map, Value};

use super::{MappingConfig, Rejection, SERVER_RULES, lowercase_lifecycle_stage};
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
            .and_then(trimmed_text)
            .filter(|s| !s.is_empty())
            .ok_or(Rejection::NoEmail { call })?
    };
    let diags = &mut Vec::new();
    let mut properties = flatten_properties(
        traits.clone(),
        &SERVER_RULES,
        |k| is_reserved_trait(k, email_key, true),
        diags,
    );
    lowercase_lifecycle_stage(&mut properties);
    // Keyed by email, the upsert sets it on create; sending it too could replace the primary
    // address of a contact matched by a secondary one.
    if config.contact_id_property != "email" {
        properties.insert("email", email.into());
    }
    let (first, last) = contact_names(traits);
    if let Some(v) = first {
        properties.insert("firstname", v.into());
    }
    if let Some(v) = last {
        properties.insert("lastname", v.into());
    }
    if let Some(company) = traits.get("company") {
        company_trait(company).insert_into(&mut properties, "company", &SERVER_RULES, diags);
    }
    if let Some(address) = traits.get("address") {
        address_trait(address).insert_into(&mut properties, "address", &SERVER_RULES, diags);
    }
    Ok(Operation::UpsertContact(Upsert {
        object_type: "contacts".into(),
        id_property: config.contact_id_property.clone(),
        id,
        properties: to_json_map(&properties),
    }))
}

/// Core values as JSON (dates become epoch ms).
pub(crate) fn to_json_map(m: &CoreMap) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (k.to_owned(), serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect()
}
