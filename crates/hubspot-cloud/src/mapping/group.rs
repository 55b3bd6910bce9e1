//! group → company upsert keyed by `segment_group_id`, with the contact association.

use hubspot_core::Event;
use hubspot_core::mapping::{address_trait, find_email, flatten_properties};
use hubspot_core::text::{trim, trimmed_text};

use super::contact::to_json_map;
use super::{MappingConfig, Rejection, SERVER_RULES, lowercase_lifecycle_stage};
use crate::ops::{Operation, Upsert};

/// The unique company property Segment's group calls are keyed by (created on demand).
pub const GROUP_ID_PROPERTY: &str = "segment_group_id";

pub(crate) fn group(event: &Event, _config: &MappingConfig) -> Result<Operation, Rejection> {
    let group_id = event
        .group_id
        .as_deref()
        .map(trim)
        .filter(|g| !g.is_empty())
        .ok_or(Rejection::NoGroupId)?;
    let traits = &event.traits;
    let renamed = [("website", "domain"), ("employees", "numberofemployees")];
    let skip = ["address", "website", "employees", "email"];
    let diags = &mut Vec::new();
    let mut properties =
        flatten_properties(traits.clone(), &SERVER_RULES, |k| skip.contains(&k), diags);
    for (from, to) in renamed {
        if let Some(v) = traits.get(from).and_then(trimmed_text) {
            properties.insert(to, v.into());
        }
    }
    lowercase_lifecycle_stage(&mut properties);
    if let Some(address) = traits.get("address") {
        address_trait(address).insert_into(&mut properties, "address", &SERVER_RULES, diags);
    }
    properties.insert(GROUP_ID_PROPERTY, group_id.into());
    // Spec: the contact upserted for userId (the engine knows it from identifies), else
    // traits.email; context.traits.email as a last resort.
    let associate_contact_email = find_email(traits, None)
        .or_else(|| find_email(&event.context_traits, None))
        .map(|(e, _)| e);
    Ok(Operation::UpsertCompany {
        upsert: Upsert {
            object_type: "companies".into(),
            id_property: GROUP_ID_PROPERTY.into(),
            id: group_id.to_owned(),
            properties: to_json_map(&properties),
        },
        associate_contact_email,
    })
}
