//! HubSpot's REST API as typed calls. Knows endpoints, auth and how to read HubSpot's answers
//! (207s, error categories, silent failures) into per-input results; nothing about batching,
//! retries or limits (that is `delivery`).
//!
//! [`HubSpotApi`] is the seam: [`HubSpotClient`] speaks HTTP, [`MemoryHubSpot`] keeps a portal
//! in memory for the engine's unit tests.

mod auth;
pub mod error;
mod http;
mod memory;
mod read;

pub use auth::{Credentials, TokenSource};
pub use error::{ApiError, ErrorKind, RatePolicy};
pub use http::HubSpotClient;
pub use memory::{MemoryHubSpot, Outage};
pub use read::{
    AssociationLink, AssociationPage, ContactList, CrmOwner, EmailCampaign, EmailEvent, ListPage,
    MembershipPage, ObjectPage, SourceRecord, SubscriptionChange, TimelineItem, V1Page,
};
pub use read::{FormSubmission, Identity, IdentityProfile, MAX_VIDS, MarketingForm, ObjectSchema};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::mapping::PropertyDefinition;
use crate::ops::BehavioralEvent;

/// HubSpot's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// HubSpot's limit on inputs per CRM batch call (upsert, update, read, associate).
pub const MAX_BATCH_INPUTS: usize = 100;

/// HubSpot's limit on events per `/events/v3/send/batch` call.
pub const MAX_BATCH_EVENTS: usize = 500;

/// One record to create or update by a unique property.
#[derive(Clone, Debug, PartialEq)]
pub struct UpsertInput {
    /// The unique property's value (an email, a group id).
    pub id: String,
    /// Properties to set.
    pub properties: Map<String, Value>,
}

/// One record to update by its record id.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateInput {
    /// HubSpot's record id.
    pub id: String,
    /// Properties to set.
    pub properties: Map<String, Value>,
}

/// A record as a read returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// HubSpot's record id.
    pub id: String,
    /// The properties asked for (HubSpot returns every value as text).
    pub properties: Map<String, Value>,
}

/// A property to create (`POST /crm/v3/properties/{type}`).
#[derive(Clone, Debug, PartialEq)]
pub struct NewProperty {
    /// Internal name.
    pub name: String,
    /// Label shown in HubSpot.
    pub label: String,
    /// Property group.
    pub group: String,
    /// Whether values must be unique (a key records can be upserted by).
    pub unique: bool,
    /// Hidden from HubSpot's UI.
    pub hidden: bool,
    /// A single checkbox (`bool`, `booleancheckbox`, values `true`/`false`) instead of text.
    pub checkbox: bool,
}

/// A portal's custom properties of one object type against its plan's limit
/// (`GET /crm/v3/limits/custom-properties`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PropertyLimit {
    /// Custom properties defined.
    pub usage: u64,
    /// Custom properties allowed.
    pub limit: u64,
}

/// Per input of a batch write, in input order: the record id, or why that input failed.
pub type InputResults = Vec<Result<String, ApiError>>;

/// HubSpot's API as the delivery engine uses it. Every write answers per input, so one bad
/// input never hides its siblings' fate; an `Err` of the whole call means no input was written.
#[async_trait]
pub trait HubSpotApi: Send + Sync {
    /// `POST /crm/v3/objects/{type}/batch/upsert` by `id_property` (≤ 100 inputs).
    async fn upsert(
        &self,
        object_type: &str,
        id_property: &str,
        inputs: &[UpsertInput],
    ) -> Result<InputResults, ApiError>;
    /// `POST /crm/v3/objects/{type}/batch/update` by record id (≤ 100 inputs).
    async fn update(
        &self,
        object_type: &str,
        inputs: &[UpdateInput],
    ) -> Result<InputResults, ApiError>;
    /// `POST /crm/v3/objects/{type}/batch/read` by a unique property (≤ 100 ids): the records
    /// found, with `properties`.
    async fn read(
        &self,
        object_type: &str,
        id_property: &str,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Vec<Record>, ApiError>;
    /// `POST /events/v3/send/batch` (≤ 500 events); all or nothing.
    async fn send_events(&self, events: &[BehavioralEvent]) -> Result<(), ApiError>;
    /// `GET /crm/v3/properties/{type}`: the portal's property definitions.
    async fn properties(&self, object_type: &str) -> Result<Vec<PropertyDefinition>, ApiError>;
    /// `GET /events/v3/event-definitions/{name}`: the event's property names, `None` when the
    /// portal has no such event.
    async fn event_definition(&self, name: &str) -> Result<Option<Vec<String>>, ApiError>;
    /// `POST /crm/v3/properties/{type}`; one that exists already (409) is a success.
    async fn create_property(
        &self,
        object_type: &str,
        property: &NewProperty,
    ) -> Result<(), ApiError>;
    /// `POST /crm/v4/associations/{from}/{to}/batch/associate/default` with `(from id, to id)`.
    async fn associate(
        &self,
        from: &str,
        to: &str,
        pairs: &[(String, String)],
    ) -> Result<(), ApiError>;
    /// `POST /crm/v3/objects/{type}/batch/update` by a unique property (`idProperty`): never
    /// creates; an id no record has is that input's `NotFound`.
    async fn update_by(
        &self,
        object_type: &str,
        id_property: &str,
        inputs: &[UpsertInput],
    ) -> Result<InputResults, ApiError>;
    /// `GET /crm/v3/limits/custom-properties`, the entry of `object_type_id` (`0-1`: contacts).
    async fn property_limit(&self, object_type_id: &str) -> Result<PropertyLimit, ApiError>;
    /// `POST /crm/v3/properties/{type}/groups`; one that exists already (409) is a success.
    async fn create_property_group(
        &self,
        object_type: &str,
        name: &str,
        label: &str,
    ) -> Result<(), ApiError>;
    /// The id of the contact list named exactly `name` (`POST /crm/v3/lists/search`), if any.
    async fn find_list(&self, name: &str) -> Result<Option<String>, ApiError>;
    /// `POST /crm/v3/lists`: a MANUAL contact list; its id. A name in use is a `Conflict`.
    async fn create_list(&self, name: &str) -> Result<String, ApiError>;
    /// `PUT /crm/v3/lists/{id}/memberships/add-and-remove` with contact record ids.
    async fn update_list(
        &self,
        list_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ApiError>;
}
