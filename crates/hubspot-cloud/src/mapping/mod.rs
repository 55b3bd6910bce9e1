//! Segment message → HubSpot [`Operation`]s. Pure: no network, no clock. The rules HubSpot's
//! browser and server paths share (key formatting, flattening, email discovery, contact names,
//! company and address, the traits identify maps itself, event names, the property cap, the
//! largest safe integer) come from `hubspot-core`, so a trait becomes the same property either
//! way; `tests/parity.rs` holds the two paths to that.

mod audience;
mod contact;
mod event;
mod group;
mod identities;
mod ordering;
mod values;

pub use audience::{AudienceMode, AudienceSettings, ENTERED, EXITED, audience_property};
pub use event::event_uuid;
pub use group::GROUP_ID_PROPERTY;
pub use identities::Identities;
pub use ordering::ordering_key;
pub use values::{Dropped, PropertyDefinition, PropertyType, conform};

use hubspot_core::mapping::{Arrays, Dates, FlattenRules, Objects};
use hubspot_core::text::KeyStyle;
use hubspot_core::{Event, EventType, Map as CoreMap, Value as CoreValue};

use crate::ops::Operation;

/// How messages map, per portal. Every field has a default matching Segment's cloud mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingConfig {
    /// The portal's Hub ID (for `pe<portalId>_` event names).
    pub portal_id: String,
    /// Segment event name → HubSpot internal event name; wins over formatting.
    pub event_names: Vec<(String, String)>,
    /// Turn event names into `pe<portalId>_<name>` (default true).
    pub format_event_names: bool,
    /// The contact property identify upserts by (default `email`).
    pub contact_id_property: String,
    /// Send page calls as this custom behavioral event (off by default).
    pub page_event: Option<String>,
    /// Track events that upsert other objects instead of sending an event.
    pub object_mappings: Vec<ObjectMapping>,
    /// How audience memberships (Engage's identifies and tracks) are written.
    pub audiences: AudienceSettings,
}

impl MappingConfig {
    /// Defaults for a portal.
    pub fn new(portal_id: impl Into<String>) -> MappingConfig {
        MappingConfig {
            portal_id: portal_id.into(),
            event_names: Vec::new(),
            format_event_names: true,
            contact_id_property: "email".into(),
            page_event: None,
            object_mappings: Vec::new(),
            audiences: AudienceSettings::default(),
        }
    }
}

/// A track event that creates or updates a record of another object type (deals, tickets,
/// custom objects by name), keyed by a unique property taken from the event's properties.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectMapping {
    /// The Segment event name that triggers it.
    pub event: String,
    /// HubSpot object type (`deals`, `tickets`, `p_cars`, a custom object's fully qualified name).
    pub object_type: String,
    /// The unique property to upsert by; its value is `properties[id_property]`.
    pub id_property: String,
    /// Associate the record with the message's contact (by email).
    pub associate_contact: bool,
}

/// Why a message produced nothing. Every rejection says it in words a person understands.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No email (or configured id) to identify the contact by.
    #[error("{call} rejected: no email in traits (or userId) to identify the HubSpot contact by")]
    NoEmail {
        /// The call type.
        call: &'static str,
    },
    /// A track without an event name.
    #[error("track rejected: it has no event name")]
    NoEventName,
    /// A track with no email, utk or objectId: HubSpot cannot attribute it.
    #[error(
        "track '{0}' rejected: no email (properties.email or context.traits.email), utk or objectId to attribute it to"
    )]
    NoIdentity(String),
    /// A group without a groupId.
    #[error("group rejected: it has no groupId")]
    NoGroupId,
    /// An object mapping whose id property is missing from the event.
    #[error("track '{event}' rejected: the object mapping needs properties.{id_property}")]
    NoObjectId {
        /// Event name.
        event: String,
        /// Missing property.
        id_property: String,
    },
    /// An Engage audience identify without `traits.<computation_key>` true or false.
    #[error("audience identify rejected: traits.{0} must be true or false")]
    NoMembership(String),
    /// An `Audience Entered` / `Audience Exited` track without `properties.audience_key`.
    #[error("track '{0}' rejected: it has no properties.audience_key")]
    NoAudienceKey(String),
    /// A membership without the contact's identity.
    #[error("audience {call} rejected: no {identity} to identify the HubSpot contact by")]
    NoAudienceIdentity {
        /// The call type.
        call: &'static str,
        /// The identity property (`[audiences] identity`).
        identity: String,
    },
    /// A call HubSpot has no use for with this configuration (page when off, screen, alias).
    #[error("{0} not sent: HubSpot has no operation for it in this configuration")]
    NotMapped(String),
}

/// Maps one Segment message.
pub fn map_message(event: &Event, config: &MappingConfig) -> Result<Vec<Operation>, Rejection> {
    match &event.kind {
        EventType::Identify => audience::identify(event, config)
            .unwrap_or_else(|| contact::identify(event, config).map(|op| vec![op])),
        EventType::Track => {
            audience::track(event, config).unwrap_or_else(|| event::track(event, config))
        }
        EventType::Group => group::group(event, config).map(|op| vec![op]),
        EventType::Page if config.page_event.is_some() => {
            event::page(event, config).map(|op| vec![op])
        }
        other => Err(Rejection::NotMapped(other.as_str().to_owned())),
    }
}

/// Maps one Segment message with what earlier identifies taught: a group's contact is the one
/// last identified for its `userId`, else the email in its own traits.
pub fn map_message_for(
    event: &Event,
    config: &MappingConfig,
    identities: &Identities,
) -> Result<Vec<Operation>, Rejection> {
    let mut ops = map_message(event, config)?;
    let known = event.user_id.as_deref().and_then(|u| identities.email(u));
    if let (EventType::Group, Some(email)) = (&event.kind, known) {
        for op in &mut ops {
            if let Operation::UpsertCompany {
                associate_contact_email,
                ..
            } = op
            {
                *associate_contact_email = Some(email.to_owned());
            }
        }
    }
    Ok(ops)
}

/// Flattening for server-side properties: keys as identify formats them, nested objects as
/// JSON text and arrays `;`-joined (Segment's cloud `flattenObject`), nulls dropped; dates are
/// converted later, per property type.
pub(crate) const SERVER_RULES: FlattenRules = FlattenRules {
    keys: KeyStyle::PerChar,
    objects: Objects::Json,
    arrays: Arrays::Join,
    dates: Dates::Keep,
    drop_null: true,
};

/// Event properties: runs of white space or `.` become one `_`, as in the browser.
pub(crate) const EVENT_RULES: FlattenRules = FlattenRules {
    keys: KeyStyle::Runs,
    ..SERVER_RULES
};

/// HubSpot's lifecycle stages are lowercase internal values (cloud spec, section 2): the
/// flattened `lifecyclestage` property is lowercased, whichever way the trait was spelled
/// (`lifecycleStage`, `LifecycleStage`, …), for contacts and companies alike.
pub(crate) fn lowercase_lifecycle_stage(properties: &mut CoreMap) {
    if let Some(stage) = properties
        .get("lifecyclestage")
        .and_then(CoreValue::as_str)
        .map(str::to_lowercase)
    {
        properties.insert("lifecyclestage", stage.into());
    }
}
