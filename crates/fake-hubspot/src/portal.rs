//! Portal metadata a Source reads to know what to sync: custom object schemas, owners and
//! pipelines, in the shapes of `GET /crm/v3/schemas`, `/crm/v3/owners` and
//! `/crm/v3/pipelines/{type}`.
//!
//! Architecture invariant: this is configuration-shaped data; the records of a custom object
//! type live in the store under the type's canonical name, [`CustomObject::type_name`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dates;
use crate::store::PropertyDefinition;

/// A custom object type of the portal (HubSpot's schema).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomObject {
    /// The schema's `name` (`cars`): a Source names its table after it.
    pub name: String,
    /// Singular label.
    pub singular: String,
    /// Plural label.
    pub plural: String,
    /// The property shown as the record's name.
    pub primary_display_property: String,
    /// Properties required on create.
    pub required_properties: Vec<String>,
    /// The type's own properties.
    pub properties: Vec<PropertyDefinition>,
}

impl CustomObject {
    /// A custom object type whose first property is the display property.
    pub fn new(name: &str, properties: Vec<PropertyDefinition>) -> Self {
        let display = properties
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        Self {
            name: name.to_string(),
            singular: name.to_string(),
            plural: name.to_string(),
            primary_display_property: display,
            required_properties: Vec::new(),
            properties,
        }
    }

    /// The fake's name for the type's records: `p_{name}`, the short form HubSpot accepts in
    /// paths (the type id `2-…` and `p{portal}_{name}` resolve to it too).
    pub fn type_name(&self) -> String {
        format!("p_{}", self.name)
    }
}

/// The aliases of the `index`-th custom object type of a portal: its type id and its fully
/// qualified name.
pub(crate) fn custom_aliases(
    portal_id: u64,
    index: usize,
    object: &CustomObject,
) -> (String, String) {
    (
        format!("2-{}", custom_number(index)),
        format!("p{portal_id}_{}", object.name),
    )
}

fn custom_number(index: usize) -> usize {
    // HubSpot's type ids are large numbers; these only have to be stable per portal.
    3_000_001 + index
}

/// `GET /crm/v3/schemas` entry of a custom object type, with the properties it has now.
pub(crate) fn schema_json(
    portal_id: u64,
    index: usize,
    object: &CustomObject,
    properties: &[PropertyDefinition],
) -> Value {
    let (type_id, qualified) = custom_aliases(portal_id, index, object);
    let created = dates::iso_from_ms(0);
    json!({
        "id": custom_number(index).to_string(),
        "objectTypeId": type_id,
        "name": object.name,
        "fullyQualifiedName": qualified,
        "labels": { "singular": object.singular, "plural": object.plural },
        "primaryDisplayProperty": object.primary_display_property,
        "requiredProperties": object.required_properties,
        "searchableProperties": [object.primary_display_property],
        "secondaryDisplayProperties": [],
        "properties": properties,
        "associations": [],
        "archived": false,
        "createdAt": created,
        "updatedAt": created,
    })
}

/// A user who can own records (`hubspot_owner_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Owner id (what `hubspot_owner_id` holds).
    pub id: u64,
    /// Email address.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The HubSpot user id behind the owner.
    pub user_id: u64,
    /// Deactivated users' owners are archived.
    pub archived: bool,
    /// Creation and last update, epoch ms.
    pub created_at: i64,
}

impl Owner {
    /// An active owner created at the epoch.
    pub fn new(id: u64, email: &str, first_name: &str, last_name: &str) -> Self {
        Self {
            id,
            email: email.to_string(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            user_id: id + 1_000_000,
            archived: false,
            created_at: 0,
        }
    }

    pub(crate) fn json(&self) -> Value {
        let at = dates::iso_from_ms(self.created_at);
        json!({
            "id": self.id.to_string(),
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": at,
            "updatedAt": at,
            "archived": self.archived,
            "teams": [],
        })
    }
}

/// The owner every portal starts with: the account's creator.
pub(crate) fn default_owners() -> Vec<Owner> {
    vec![Owner::new(5_001, "admin@example.com", "Ada", "Admin")]
}

/// The stage ids of the default deal pipeline, in order, with their win probability.
pub const DEAL_STAGES: [(&str, &str, &str); 7] = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
];

/// The stage ids of the default ticket pipeline (`0`), in order, with their state.
pub const TICKET_STAGES: [(&str, &str, &str); 4] = [
    ("1", "New", "OPEN"),
    ("2", "Waiting on contact", "OPEN"),
    ("3", "Waiting on us", "OPEN"),
    ("4", "Closed", "CLOSED"),
];

/// `GET /crm/v3/pipelines/{type}`: HubSpot's default pipeline of deals or tickets (created at
/// the epoch, as HubSpot's defaults are); other types have none.
pub(crate) fn pipelines_json(ty: &str) -> Value {
    let epoch = dates::iso_from_ms(0);
    let stage = |order: usize, id: &str, label: &str, metadata: Value| {
        json!({
            "id": id, "label": label, "displayOrder": order, "metadata": metadata,
            "createdAt": epoch, "updatedAt": epoch, "archived": false,
        })
    };
    let (id, label, stages): (&str, &str, Vec<Value>) = match ty {
        "deals" => (
            "default",
            "Sales Pipeline",
            DEAL_STAGES
                .iter()
                .enumerate()
                .map(|(i, (id, label, p))| {
                    stage(i, id, label, json!({ "isClosed": id.starts_with("closed").to_string(), "probability": p }))
                })
                .collect(),
        ),
        "tickets" => (
            "0",
            "Support Pipeline",
            TICKET_STAGES
                .iter()
                .enumerate()
                .map(|(i, (id, label, state))| stage(i, id, label, json!({ "ticketState": state })))
                .collect(),
        ),
        _ => return json!({ "results": [] }),
    };
    json!({ "results": [{
        "id": id, "label": label, "displayOrder": 0, "stages": stages,
        "createdAt": epoch, "updatedAt": epoch, "archived": false,
    }]})
}
