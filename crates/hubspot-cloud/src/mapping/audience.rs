//! Audience membership (Segment Engage, Adobe's activation files) → [`Operation::SetMembership`].
//!
//! Engage sends a membership two ways: an identify with `traits.<audience_key>: true|false` and
//! `context.personas.computation_class = "audience"`, `computation_key = <audience_key>`; and a
//! track `Audience Entered` / `Audience Exited` with `properties.audience_key`. Both become the
//! same operation. The audience trait is never also written as an ordinary property: it becomes
//! the membership alone (in list mode a property of that name would be wrong, and in property
//! mode it would be the same property written twice).

use hubspot_core::mapping::find_email;
use hubspot_core::text::trim;
use hubspot_core::{Event, EventType, Map as CoreMap, Value as CoreValue};

use super::contact::contact_upsert;
use super::{MappingConfig, Rejection};
use crate::ops::{Membership, Operation};

/// The track event names Engage uses for entering and leaving an audience.
pub const ENTERED: &str = "Audience Entered";
/// See [`ENTERED`].
pub const EXITED: &str = "Audience Exited";

/// How memberships reach HubSpot (`[audiences] mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudienceMode {
    /// A single-checkbox contact property per audience (Adobe's HubSpot destination).
    #[default]
    Property,
    /// A MANUAL contact list per audience.
    List,
}

/// `[audiences]`, resolved. Every field has a default.
#[derive(Clone, Debug, PartialEq)]
pub struct AudienceSettings {
    /// Property or list per audience (default property).
    pub mode: AudienceMode,
    /// Create contacts HubSpot does not have (default true); `false` only updates, and a
    /// membership of a contact HubSpot lacks is dead-lettered with that reason.
    pub create_contacts: bool,
    /// The contact property members are identified by: `email` (default) or a unique property.
    pub identity: String,
    /// The contact property group audience properties are created in (default `audiences`).
    pub group: String,
}

impl Default for AudienceSettings {
    fn default() -> Self {
        AudienceSettings {
            mode: AudienceMode::Property,
            create_contacts: true,
            identity: "email".into(),
            group: "audiences".into(),
        }
    }
}

/// The contact property (and list name) of an audience: the key in snake_case (`High Value
/// Users` and `highValueUsers` → `high_value_users`), as HubSpot names must be (lowercase
/// letters, digits, `_`, starting with a letter: a leading digit gets `audience_` before it).
pub fn audience_property(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev: Option<char> = None;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            let boundary = c.is_ascii_uppercase()
                && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        prev = Some(c);
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("audience_{out}")
    } else {
        out
    }
}

/// The audience key of an Engage audience identify, if it is one.
fn engage_audience_key(event: &Event) -> Option<&str> {
    let personas = event.context.get("personas")?.as_object()?;
    (personas.get("computation_class")?.as_str()? == "audience")
        .then(|| personas.get("computation_key")?.as_str())
        .flatten()
}

/// `true`/`false` as Engage and the files write it (booleans, or their text).
fn membership_value(v: &CoreValue) -> Option<bool> {
    match v {
        CoreValue::Bool(b) => Some(*b),
        CoreValue::String(s) => match trim(s).to_ascii_lowercase().as_str() {
            "true" | "realized" | "entered" => Some(true),
            "false" | "exited" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The contact's identity for memberships: its email (from `maps`, else an email `userId`), or
/// the configured unique property's value (from `maps`, else the `userId`).
fn identity(
    maps: &[&CoreMap],
    user_id: Option<&str>,
    settings: &AudienceSettings,
) -> Option<String> {
    if settings.identity == "email" {
        let none = CoreMap::default();
        return maps
            .iter()
            .find_map(|m| find_email(m, None).map(|(e, _)| e))
            .or_else(|| find_email(&none, user_id).map(|(e, _)| e));
    }
    maps.iter()
        .find_map(|m| m.get(&settings.identity)?.to_js_string())
        .or_else(|| user_id.map(str::to_owned))
        .map(|s| trim(&s).to_owned())
        .filter(|s| !s.is_empty())
}

fn no_identity(call: &'static str, settings: &AudienceSettings) -> Rejection {
    Rejection::NoAudienceIdentity {
        call,
        identity: settings.identity.clone(),
    }
}

/// An Engage audience identify: the membership, plus the contact upsert of its other traits
/// when contacts may be created and there are any. `None`: not an audience identify.
pub(crate) fn identify(
    event: &Event,
    config: &MappingConfig,
) -> Option<Result<Vec<Operation>, Rejection>> {
    let key = engage_audience_key(event)?;
    let settings = &config.audiences;
    Some((|| {
        let member = event
            .traits
            .get(key)
            .and_then(membership_value)
            .ok_or_else(|| Rejection::NoMembership(key.to_owned()))?;
        let id = identity(&[&event.traits], event.user_id.as_deref(), settings)
            .ok_or_else(|| no_identity("identify", settings))?;
        let mut ops = Vec::with_capacity(2);
        if settings.create_contacts {
            let mut rest = event.traits.clone();
            rest.remove(key);
            if let Ok(Operation::UpsertContact(u)) =
                contact_upsert(&rest, event.user_id.as_deref(), config, "identify")
            {
                if !u.properties.is_empty() {
                    ops.push(Operation::UpsertContact(u));
                }
            }
        }
        ops.push(membership(key, settings, id, member));
        Ok(ops)
    })())
}

/// An Engage `Audience Entered` / `Audience Exited` track. `None`: another event.
pub(crate) fn track(
    event: &Event,
    config: &MappingConfig,
) -> Option<Result<Vec<Operation>, Rejection>> {
    let name = trim(event.event.as_deref()?);
    let member = match name {
        ENTERED => true,
        EXITED => false,
        _ => return None,
    };
    let settings = &config.audiences;
    Some((|| {
        let key = event
            .properties
            .get("audience_key")
            .and_then(CoreValue::to_js_string)
            .filter(|k| !trim(k).is_empty())
            .ok_or_else(|| Rejection::NoAudienceKey(name.to_owned()))?;
        let maps = [&event.properties, &event.context_traits, &event.traits];
        let id = identity(&maps, event.user_id.as_deref(), settings)
            .ok_or_else(|| no_identity("track", settings))?;
        Ok(vec![membership(trim(&key), settings, id, member)])
    })())
}

/// Whether a message is an Engage audience membership (identify or track).
pub(crate) fn is_membership(event: &Event) -> bool {
    match event.kind {
        EventType::Identify => engage_audience_key(event).is_some(),
        EventType::Track => matches!(event.event.as_deref().map(trim), Some(ENTERED | EXITED)),
        _ => false,
    }
}

fn membership(key: &str, settings: &AudienceSettings, id: String, member: bool) -> Operation {
    Operation::SetMembership(Membership {
        audience: key.to_owned(),
        id_property: settings.identity.clone(),
        id,
        member,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::map_message;
    use serde_json::json;

    fn ops(v: serde_json::Value, config: &MappingConfig) -> Result<Vec<Operation>, Rejection> {
        map_message(&serde_json::from_value(v).unwrap(), config)
    }

    fn member(audience: &str, id: &str, member: bool) -> Operation {
        Operation::SetMembership(Membership {
            audience: audience.into(),
            id_property: "email".into(),
            id: id.into(),
            member,
        })
    }

    #[test]
    fn property_names_are_snake_case() {
        for (key, want) in [
            ("high_value_users", "high_value_users"),
            ("High Value Users", "high_value_users"),
            ("highValueUsers", "high_value_users"),
            ("churn-risk.q3", "churn_risk_q3"),
            ("  30 day buyers ", "audience_30_day_buyers"),
        ] {
            assert_eq!(audience_property(key), want, "{key}");
        }
    }

    #[test]
    fn engage_identify_becomes_a_membership_and_nothing_else() {
        let config = MappingConfig::new("1");
        let identify = json!({"type": "identify", "userId": "u1",
            "traits": {"email": "A@x.io", "high_value": true},
            "context": {"personas": {"computation_class": "audience", "computation_key": "high_value"}}});
        assert_eq!(
            ops(identify, &config).unwrap(),
            vec![member("high_value", "A@x.io", true)]
        );
        let exited = json!({"type": "identify",
            "traits": {"email": "a@x.io", "high_value": false, "plan": "pro"},
            "context": {"personas": {"computation_class": "audience", "computation_key": "high_value"}}});
        let got = ops(exited, &config).unwrap();
        assert_eq!(got.len(), 2);
        let Operation::UpsertContact(u) = &got[0] else {
            panic!("{got:?}")
        };
        assert!(!u.properties.contains_key("high_value"), "{u:?}");
        assert_eq!(got[1], member("high_value", "a@x.io", false));
    }

    #[test]
    fn engage_tracks_and_their_rejections() {
        let mut config = MappingConfig::new("1");
        let entered = json!({"type": "track", "event": "Audience Entered",
            "properties": {"audience_key": "vip"}, "context": {"traits": {"email": "b@x.io"}}});
        assert_eq!(
            ops(entered, &config).unwrap(),
            vec![member("vip", "b@x.io", true)]
        );
        let no_key =
            json!({"type": "track", "event": "Audience Exited", "properties": {"email": "b@x.io"}});
        assert_eq!(
            ops(no_key, &config),
            Err(Rejection::NoAudienceKey("Audience Exited".into()))
        );
        config.audiences.identity = "user_id".into();
        let by_user = json!({"type": "track", "event": "Audience Exited", "userId": "u9",
            "properties": {"audience_key": "vip"}});
        let got = ops(by_user, &config).unwrap();
        assert_eq!(
            got,
            vec![Operation::SetMembership(Membership {
                audience: "vip".into(),
                id_property: "user_id".into(),
                id: "u9".into(),
                member: false
            })]
        );
    }
}
