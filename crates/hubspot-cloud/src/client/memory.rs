//! A HubSpot portal in memory, behind the same [`HubSpotApi`] as the HTTP client: the delivery
//! engine's unit tests run against it on paused time (outages of hours pass in milliseconds).
//! It keeps HubSpot's rules that delivery depends on: unique keys matched case-insensitively,
//! duplicate ids and unknown properties refused for the whole batch, events de-duplicated by
//! `uuid`, unknown events refused. The over-the-wire fake (`crates/fake-hubspot`) enforces the
//! rest.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::error::{self, ApiError};
use super::{
    HubSpotApi, InputResults, NewProperty, PropertyLimit, Record, UpdateInput, UpsertInput,
};
use crate::clock::Clock;
use crate::mapping::{PropertyDefinition, PropertyType};
use crate::ops::BehavioralEvent;

/// A window of time during which every call fails with `status` (503 for an outage, 429 for a
/// throttled portal), or never answers (`status` 0: a peer that accepts and goes silent).
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    /// First failing instant (epoch ms, by the portal's clock).
    pub from_ms: u64,
    /// First instant that works again.
    pub until_ms: u64,
    /// The HTTP status every call gets meanwhile.
    pub status: u16,
}

#[derive(Default)]
struct State {
    /// Object type → records (id, properties as text).
    records: BTreeMap<String, Vec<Record>>,
    definitions: BTreeMap<String, Vec<PropertyDefinition>>,
    /// Event name → property names.
    event_definitions: BTreeMap<String, Vec<String>>,
    events: Vec<BehavioralEvent>,
    event_receipts: usize,
    associations: Vec<(String, String, String, String)>,
    /// (epoch ms, what) of every call, failed ones included.
    calls: Vec<(u64, &'static str)>,
    outages: Vec<Outage>,
    next_id: u64,
    /// Contact lists: name → (id, member record ids).
    lists: BTreeMap<String, (String, std::collections::BTreeSet<String>)>,
}

/// An in-memory HubSpot portal.
pub struct MemoryHubSpot {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl MemoryHubSpot {
    /// A portal with HubSpot's usual contact and company properties, on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> MemoryHubSpot {
        let text = |names: &[&str]| {
            names
                .iter()
                .map(|n| PropertyDefinition {
                    name: (*n).to_owned(),
                    kind: PropertyType::Text,
                })
                .collect::<Vec<_>>()
        };
        let mut state = State {
            next_id: 1000,
            ..State::default()
        };
        state.definitions.insert(
            "contacts".into(),
            text(&[
                "email",
                "firstname",
                "lastname",
                "phone",
                "company",
                "website",
                "address",
                "city",
                "state",
                "country",
                "zip",
                "lifecyclestage",
            ]),
        );
        state.definitions.insert(
            "companies".into(),
            text(&[
                "name",
                "domain",
                "phone",
                "industry",
                "city",
                "lifecyclestage",
            ]),
        );
        MemoryHubSpot {
            clock,
            state: Mutex::new(state),
        }
    }

    /// Adds a property definition.
    pub fn with_property(self, object_type: &str, name: &str, kind: PropertyType) -> Self {
        self.lock()
            .definitions
            .entry(object_type.to_owned())
            .or_default()
            .push(PropertyDefinition {
                name: name.to_owned(),
                kind,
            });
        self
    }

    /// Defines a custom behavioral event with these properties.
    pub fn with_event(self, name: &str, properties: &[&str]) -> Self {
        self.lock().event_definitions.insert(
            name.to_owned(),
            properties.iter().map(|p| (*p).to_owned()).collect(),
        );
        self
    }

    /// Every call between `from_ms` and `until_ms` fails with `status`.
    pub fn with_outage(self, outage: Outage) -> Self {
        self.lock().outages.push(outage);
        self
    }

    /// The records of an object type.
    pub fn records(&self, object_type: &str) -> Vec<Record> {
        self.lock()
            .records
            .get(object_type)
            .cloned()
            .unwrap_or_default()
    }

    /// Events recorded (one per `uuid`, as HubSpot keeps them).
    pub fn events(&self) -> Vec<BehavioralEvent> {
        self.lock().events.clone()
    }

    /// Events received, repeats included.
    pub fn event_receipts(&self) -> usize {
        self.lock().event_receipts
    }

    /// Associations made: (from type, from id, to type, to id).
    pub fn associations(&self) -> Vec<(String, String, String, String)> {
        self.lock().associations.clone()
    }

    /// The members of the contact list named `name`.
    pub fn list_members(&self, name: &str) -> Vec<String> {
        self.lock()
            .lists
            .get(name)
            .map(|(_, m)| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every call so far, as (epoch ms, endpoint), failed ones included.
    pub fn calls(&self) -> Vec<(u64, &'static str)> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs the call and fails it (or never answers it) if an outage covers now.
    async fn enter(&self, what: &'static str) -> Result<MutexGuard<'_, State>, ApiError> {
        let now = self.clock.now_ms();
        let status = {
            let mut s = self.lock();
            s.calls.push((now, what));
            s.outages
                .iter()
                .find(|o| (o.from_ms..o.until_ms).contains(&now))
                .map(|o| o.status)
        };
        match status {
            None => Ok(self.lock()),
            Some(0) => std::future::pending().await,
            Some(429) => Err(error::classify(
                429,
                r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#,
                Some(10_000),
            )),
            Some(status) => Err(error::classify(status, "", None)),
        }
    }
}

fn invalid(message: String) -> ApiError {
    error::classify(
        400,
        &json!({ "message": message, "category": "VALIDATION_ERROR" }).to_string(),
        None,
    )
}

fn text(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        other => Value::String(other.to_string()),
    }
}

impl State {
    /// Refuses the whole batch for a property the portal does not define, as HubSpot does.
    fn check_properties<'a>(
        &self,
        object_type: &str,
        maps: impl IntoIterator<Item = &'a Map<String, Value>>,
    ) -> Result<(), ApiError> {
        let defs = self.definitions.get(object_type);
        for m in maps {
            if let Some(name) = m
                .keys()
                .find(|k| !defs.is_some_and(|d| d.iter().any(|p| &p.name == *k)))
            {
                return Err(invalid(format!(
                    "Property values were not valid: [{{\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{name}\"}}]"
                )));
            }
        }
        Ok(())
    }

    fn find(&mut self, object_type: &str, property: &str, value: &str) -> Option<&mut Record> {
        self.records.get_mut(object_type)?.iter_mut().find(|r| {
            r.properties
                .get(property)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
                || (property == "hs_object_id" && r.id == value)
        })
    }
}

#[async_trait]
impl HubSpotApi for MemoryHubSpot {
    async fn upsert(
        &self,
        object_type: &str,
        id_property: &str,
        inputs: &[UpsertInput],
    ) -> Result<InputResults, ApiError> {
        let mut s = self.enter("upsert").await?;
        let mut seen = HashSet::new();
        if let Some(dup) = inputs.iter().find(|i| !seen.insert(i.id.to_lowercase())) {
            return Err(invalid(format!(
                "Duplicate IDs found in batch input: [{}]. IDs must be unique",
                dup.id
            )));
        }
        s.check_properties(object_type, inputs.iter().map(|i| &i.properties))?;
        Ok(inputs
            .iter()
            .map(|input| {
                let props: Map<String, Value> = input
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), text(v)))
                    .collect();
                if let Some(r) = s.find(object_type, id_property, &input.id) {
                    r.properties.extend(props);
                    return Ok(r.id.clone());
                }
                s.next_id += 1;
                let id = s.next_id.to_string();
                let mut properties = props;
                properties.insert(id_property.to_owned(), input.id.clone().into());
                s.records
                    .entry(object_type.to_owned())
                    .or_default()
                    .push(Record {
                        id: id.clone(),
                        properties,
                    });
                Ok(id)
            })
            .collect())
    }

    async fn update(
        &self,
        object_type: &str,
        inputs: &[UpdateInput],
    ) -> Result<InputResults, ApiError> {
        let mut s = self.enter("update").await?;
        s.check_properties(object_type, inputs.iter().map(|i| &i.properties))?;
        Ok(inputs
            .iter()
            .map(
                |input| match s.find(object_type, "hs_object_id", &input.id) {
                    Some(r) => {
                        r.properties
                            .extend(input.properties.iter().map(|(k, v)| (k.clone(), text(v))));
                        Ok(input.id.clone())
                    }
                    None => Err(error::classify(
                        404,
                        &json!({ "message": format!("Object {} not found", input.id) }).to_string(),
                        None,
                    )),
                },
            )
            .collect())
    }

    async fn read(
        &self,
        object_type: &str,
        id_property: &str,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Vec<Record>, ApiError> {
        let mut s = self.enter("read").await?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let r = s.find(object_type, id_property, id)?;
                Some(Record {
                    id: r.id.clone(),
                    properties: properties
                        .iter()
                        .filter_map(|p| Some(((*p).to_owned(), r.properties.get(*p)?.clone())))
                        .collect(),
                })
            })
            .collect())
    }

    async fn send_events(&self, events: &[BehavioralEvent]) -> Result<(), ApiError> {
        let mut s = self.enter("send_events").await?;
        if let Some(e) = events
            .iter()
            .find(|e| !s.event_definitions.contains_key(&e.event_name))
        {
            return Err(invalid(format!("Event {} does not exist", e.event_name)));
        }
        s.event_receipts += events.len();
        for e in events {
            if !s.events.iter().any(|x| x.uuid == e.uuid) {
                s.events.push(e.clone());
            }
        }
        Ok(())
    }

    async fn properties(&self, object_type: &str) -> Result<Vec<PropertyDefinition>, ApiError> {
        let s = self.enter("properties").await?;
        Ok(s.definitions.get(object_type).cloned().unwrap_or_default())
    }

    async fn event_definition(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let s = self.enter("event_definition").await?;
        Ok(s.event_definitions.get(name).cloned())
    }

    async fn create_property(
        &self,
        object_type: &str,
        property: &NewProperty,
    ) -> Result<(), ApiError> {
        let mut s = self.enter("create_property").await?;
        let defs = s.definitions.entry(object_type.to_owned()).or_default();
        if !defs.iter().any(|d| d.name == property.name) {
            defs.push(PropertyDefinition {
                name: property.name.clone(),
                kind: if property.checkbox {
                    PropertyType::Bool
                } else {
                    PropertyType::Text
                },
            });
        }
        Ok(())
    }

    async fn update_by(
        &self,
        object_type: &str,
        id_property: &str,
        inputs: &[UpsertInput],
    ) -> Result<InputResults, ApiError> {
        let mut s = self.enter("update_by").await?;
        s.check_properties(object_type, inputs.iter().map(|i| &i.properties))?;
        Ok(inputs
            .iter()
            .map(|input| match s.find(object_type, id_property, &input.id) {
                Some(r) => {
                    r.properties
                        .extend(input.properties.iter().map(|(k, v)| (k.clone(), text(v))));
                    Ok(r.id.clone())
                }
                None => Err(error::classify(
                    404,
                    &json!({ "message": format!("Object {} not found", input.id) }).to_string(),
                    None,
                )),
            })
            .collect())
    }

    /// The in-memory portal has room for every property.
    async fn property_limit(&self, _object_type_id: &str) -> Result<PropertyLimit, ApiError> {
        drop(self.enter("property_limit").await?);
        Ok(PropertyLimit {
            usage: 0,
            limit: 1000,
        })
    }

    async fn create_property_group(
        &self,
        _object_type: &str,
        _name: &str,
        _label: &str,
    ) -> Result<(), ApiError> {
        self.enter("create_property_group").await.map(drop)
    }

    async fn find_list(&self, name: &str) -> Result<Option<String>, ApiError> {
        let s = self.enter("find_list").await?;
        Ok(s.lists.get(name).map(|(id, _)| id.clone()))
    }

    async fn create_list(&self, name: &str) -> Result<String, ApiError> {
        let mut s = self.enter("create_list").await?;
        if s.lists.contains_key(name) {
            return Err(error::classify(
                409,
                &json!({ "message": format!("A list named {name} already exists"), "category": "CONFLICT" }).to_string(),
                None,
            ));
        }
        s.next_id += 1;
        let id = s.next_id.to_string();
        s.lists
            .insert(name.to_owned(), (id.clone(), Default::default()));
        Ok(id)
    }

    async fn update_list(
        &self,
        list_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ApiError> {
        let mut s = self.enter("update_list").await?;
        let Some((_, members)) = s.lists.values_mut().find(|(id, _)| id == list_id) else {
            return Err(error::classify(404, "", None));
        };
        for r in remove {
            members.remove(r);
        }
        members.extend(add.iter().cloned());
        Ok(())
    }

    async fn associate(
        &self,
        from: &str,
        to: &str,
        pairs: &[(String, String)],
    ) -> Result<(), ApiError> {
        let mut s = self.enter("associate").await?;
        for (f, t) in pairs {
            s.associations
                .push((from.to_owned(), f.clone(), to.to_owned(), t.clone()));
        }
        Ok(())
    }
}
