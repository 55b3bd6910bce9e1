//! HubSpot operations: what a Segment message becomes before it is batched and sent. Plain data;
//! the mapping makes them, the delivery engine groups them, the client sends them.

use serde_json::{Map, Value};

/// A CRM object type as HubSpot's URLs name it (`contacts`, `companies`, `deals`, `p_cars`, …).
pub type ObjectType = String;

/// One thing to do in HubSpot.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// Create or update a contact identified by `id_property` (usually `email`).
    UpsertContact(Upsert),
    /// Send a custom behavioral event.
    SendEvent(BehavioralEvent),
    /// Create or update a company keyed by `segment_group_id`, then associate a contact.
    UpsertCompany {
        /// The upsert itself.
        upsert: Upsert,
        /// The contact to associate with the company (looked up by email), if known.
        associate_contact_email: Option<String>,
    },
    /// Create or update a record of a configured object type, optionally associated.
    UpsertObject {
        /// The upsert itself.
        upsert: Upsert,
        /// Associate it with this contact (by email), if the mapping asks for it.
        associate_contact_email: Option<String>,
    },
    /// A contact entered or left an audience (Segment Engage, a membership file).
    SetMembership(Membership),
}

impl Operation {
    /// The order a round sends operations in: contacts first (events and associations refer
    /// to them), then other objects, events last.
    pub fn rank(&self) -> u8 {
        match self {
            Operation::UpsertContact(_) => 0,
            // After the contact upserts, so an identify's contact exists before its membership.
            Operation::UpsertCompany { .. }
            | Operation::UpsertObject { .. }
            | Operation::SetMembership(_) => 1,
            Operation::SendEvent(_) => 2,
        }
    }

    /// Which batch endpoint it goes to: operations with the same endpoint key share batches.
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Operation::UpsertContact(u) => Endpoint::BatchUpsert {
                object_type: u.object_type.clone(),
                id_property: u.id_property.clone(),
            },
            Operation::SendEvent(_) => Endpoint::EventsBatch,
            Operation::SetMembership(m) => Endpoint::Memberships {
                id_property: m.id_property.clone(),
            },
            Operation::UpsertCompany { upsert, .. } | Operation::UpsertObject { upsert, .. } => {
                Endpoint::BatchUpsert {
                    object_type: upsert.object_type.clone(),
                    id_property: upsert.id_property.clone(),
                }
            }
        }
    }
}

/// A batchable endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /crm/v3/objects/{type}/batch/upsert` with this `idProperty` (≤ 100 inputs).
    BatchUpsert {
        /// Object type.
        object_type: ObjectType,
        /// Unique property the ids are values of.
        id_property: String,
    },
    /// `POST /events/v3/send/batch` (≤ 500 inputs).
    EventsBatch,
    /// Audience memberships of contacts identified by `id_property`: per 100 contacts one
    /// `batch/upsert` or `batch/update` (property mode), or one batch read and one
    /// `add-and-remove` per list (list mode).
    Memberships {
        /// The contact property the identities are values of (`email`, `user_id`, …).
        id_property: String,
    },
}

/// One contact's membership of one audience, as of one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Membership {
    /// The audience key as Engage or the file names it (`High Value Users`, `high_value`).
    pub audience: String,
    /// The contact property the contact is identified by (`email` or a unique property).
    pub id_property: String,
    /// Its value for this contact.
    pub id: String,
    /// In the audience (`true`) or out of it.
    pub member: bool,
}

/// An upsert of one record.
#[derive(Clone, Debug, PartialEq)]
pub struct Upsert {
    /// Object type.
    pub object_type: ObjectType,
    /// Unique property (`email`, `segment_group_id`, …).
    pub id_property: String,
    /// Its value for this record.
    pub id: String,
    /// Properties to set (HubSpot property names, values as HubSpot accepts them).
    pub properties: Map<String, Value>,
}

/// A custom behavioral event (`/events/v3/send`).
#[derive(Clone, Debug, PartialEq)]
pub struct BehavioralEvent {
    /// HubSpot's internal event name (`pe<portalId>_…`).
    pub event_name: String,
    /// The contact's email, if known.
    pub email: Option<String>,
    /// HubSpot's visitor token, if no email.
    pub utk: Option<String>,
    /// The contact's record id, if neither.
    pub object_id: Option<String>,
    /// When it happened (ISO-8601), from the message timestamp.
    pub occurred_at: Option<String>,
    /// Stable id derived from the Segment `messageId`, so a retried send is counted once.
    pub uuid: String,
    /// Event properties (at most 50).
    pub properties: Map<String, Value>,
}

impl BehavioralEvent {
    /// The JSON input HubSpot takes.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("eventName".into(), self.event_name.clone().into());
        for (k, v) in [
            ("email", &self.email),
            ("utk", &self.utk),
            ("objectId", &self.object_id),
            ("occurredAt", &self.occurred_at),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        m.insert("uuid".into(), self.uuid.clone().into());
        m.insert("properties".into(), Value::Object(self.properties.clone()));
        Value::Object(m)
    }
}
