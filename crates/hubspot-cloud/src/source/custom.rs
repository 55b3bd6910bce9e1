//! Custom objects: every type `GET /crm/v3/schemas` lists is a CRM collection of its own,
//! synced by [`super::crm`] exactly like contacts (search keyset, archived, merges), its links
//! read to the standard objects. The schemas are read once per run, so a type created in the
//! portal since the last run is synced (from scratch) on the next one.
//!
//! The table is the schema's `name`, lowercased; a name that is a table of the contract
//! (`owners`, `email_events`, …) or starts with `_` gets HubSpot's own short alias instead,
//! `p_{name}`, so a custom object never writes into another collection's table. API calls use
//! the type's `objectTypeId`.

use super::{Ctx, SyncError};
use crate::client::ObjectSchema;

/// The `--collections` name standing for every custom object of the portal.
pub const COLLECTION: &str = "custom_objects";

/// Tables the Source's contract names (source.md section 2), and [`COLLECTION`]: a custom
/// object of one of these names is renamed.
pub const CONTRACT_TABLES: &[&str] = &[
    "contacts",
    "companies",
    "deals",
    "tickets",
    "associations",
    "contact_lists",
    "contact_list_memberships",
    "contact_identity_profiles",
    "contact_identities",
    "form_submissions",
    "email_campaigns",
    "email_events",
    "email_subscriptions",
    "email_subscription_event_changes",
    "owners",
    "pipelines",
    "pipeline_stages",
    COLLECTION,
];

/// A custom object type as the Source syncs it.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomObject {
    /// Its table, collection and `_sync_state` name.
    pub table: String,
    /// What API paths name it by (`objectTypeId`).
    pub api_type: String,
    /// `properties = "default"` for it: the schema's required, searchable and primary display
    /// properties.
    pub defaults: Vec<String>,
}

/// The table a custom object named `name` syncs into.
pub fn table_name(name: &str) -> String {
    let name = name.to_lowercase();
    if name.starts_with('_') || CONTRACT_TABLES.contains(&name.as_str()) {
        format!("p_{name}")
    } else {
        name
    }
}

impl From<&ObjectSchema> for CustomObject {
    fn from(s: &ObjectSchema) -> Self {
        let mut defaults: Vec<String> = Vec::new();
        let named = s
            .required_properties
            .iter()
            .chain(&s.searchable_properties)
            .chain(&s.primary_display_property);
        for n in named {
            if !defaults.contains(n) {
                defaults.push(n.clone());
            }
        }
        CustomObject {
            table: table_name(&s.name),
            api_type: s.object_type_id.clone(),
            defaults,
        }
    }
}

/// The portal's custom object types now.
pub(super) async fn read(ctx: &Ctx<'_>) -> Result<Vec<CustomObject>, SyncError> {
    let schemas = ctx.paced(|| ctx.client.schemas()).await?;
    Ok(schemas.iter().map(CustomObject::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_object_never_takes_a_contract_table() {
        assert_eq!(table_name("cars"), "cars");
        assert_eq!(table_name("Cars"), "cars");
        assert_eq!(table_name("owners"), "p_owners");
        assert_eq!(table_name("email_events"), "p_email_events");
        assert_eq!(table_name("custom_objects"), "p_custom_objects");
        assert_eq!(table_name("_sync_state"), "p__sync_state");
    }

    #[test]
    fn default_properties_are_required_searchable_and_display() {
        let o = CustomObject::from(&ObjectSchema {
            name: "cars".into(),
            object_type_id: "2-1".into(),
            primary_display_property: Some("model".into()),
            required_properties: vec!["vin".into(), "model".into()],
            searchable_properties: vec!["model".into(), "plate".into()],
        });
        assert_eq!(o.defaults, ["vin", "model", "plate"]);
        assert_eq!(o.api_type, "2-1");
    }
}
