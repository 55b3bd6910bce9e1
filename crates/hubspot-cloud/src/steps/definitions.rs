//! What a portal defines, cached for a TTL: property definitions per object type and custom
//! behavioral event definitions. HubSpot rejects a whole batch for one unknown property, and
//! every batch an undefined event is in; checking first makes those a dropped property or one
//! dead letter.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::delivery::{CallError, Pacer};
use crate::mapping::{Dropped, PropertyDefinition};
use crate::ops::BehavioralEvent;

type Cache<T> = Mutex<HashMap<String, (u64, T)>>;

/// A portal's definitions cache.
pub struct Definitions {
    ttl_ms: u64,
    properties: Cache<Vec<PropertyDefinition>>,
    events: Cache<Option<Vec<String>>>,
}

impl Definitions {
    /// A cache keeping answers for `ttl`.
    pub fn new(ttl: Duration) -> Definitions {
        Definitions {
            ttl_ms: ttl.as_millis() as u64,
            properties: Mutex::default(),
            events: Mutex::default(),
        }
    }

    /// The portal's properties of `object_type`.
    pub async fn properties(
        &self,
        pacer: &Pacer,
        object_type: &str,
    ) -> Result<Vec<PropertyDefinition>, CallError> {
        if let Some(hit) = self.cached(&self.properties, object_type, pacer.now_ms()) {
            return Ok(hit);
        }
        let api = pacer.api();
        let defs = pacer.call(move || api.properties(object_type)).await?;
        self.store(&self.properties, object_type, pacer.now_ms(), defs.clone());
        Ok(defs)
    }

    /// Forgets `object_type`'s properties (after creating one).
    pub fn forget(&self, object_type: &str) {
        self.properties
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(object_type);
    }

    /// Keeps only the properties the portal defines for the event; returns the ones dropped.
    /// `Ok(None)`: the portal has no such event.
    pub async fn conform_event(
        &self,
        pacer: &Pacer,
        event: &mut BehavioralEvent,
    ) -> Result<Option<Vec<Dropped>>, CallError> {
        let name = event.event_name.as_str();
        let allowed = match self.cached(&self.events, name, pacer.now_ms()) {
            Some(hit) => hit,
            None => {
                let api = pacer.api();
                let def = pacer.call(move || api.event_definition(name)).await?;
                self.store(&self.events, name, pacer.now_ms(), def.clone());
                def
            }
        };
        let Some(allowed) = allowed else {
            return Ok(None);
        };
        let unknown: Vec<String> = event
            .properties
            .keys()
            .filter(|k| !allowed.contains(k))
            .cloned()
            .collect();
        Ok(Some(
            unknown
                .into_iter()
                .map(|name| {
                    event.properties.remove(&name);
                    Dropped {
                        name,
                        reason: format!("not a property of event {}", event.event_name),
                    }
                })
                .collect(),
        ))
    }

    fn cached<T: Clone>(&self, cache: &Cache<T>, key: &str, now: u64) -> Option<T> {
        let cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = cache.get(key)?;
        (now.saturating_sub(*at) < self.ttl_ms).then(|| value.clone())
    }

    fn store<T>(&self, cache: &Cache<T>, key: &str, now: u64, value: T) {
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), (now, value));
    }
}
