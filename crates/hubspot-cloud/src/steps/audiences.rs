//! What an audience needs in HubSpot before its first membership is written, made once per
//! audience per run and cached: in property mode a single-checkbox contact property (in the
//! `audiences` group, created on demand) after checking the portal has a custom property left
//! (`GET /crm/v3/limits/custom-properties`); in list mode a MANUAL contact list, found by name
//! or created. Segment's Engage destination makes people create the property by hand and fails
//! the sync otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use super::definitions::Definitions;
use crate::client::{ApiError, ErrorKind, NewProperty};
use crate::delivery::{CallError, Pacer};
use crate::mapping::{AudienceMode, AudienceSettings, audience_property};

/// HubSpot's object type id of contacts, as the limits answer names it.
const CONTACTS_TYPE_ID: &str = "0-1";

/// A portal's audiences made ready so far: audience property name → the property (property
/// mode) or the list id (list mode).
#[derive(Debug, Default)]
pub struct Audiences {
    ready: Mutex<HashMap<String, String>>,
    group_ready: AtomicBool,
}

impl Audiences {
    /// Makes `audience` ready; returns where its memberships go: the contact property's name,
    /// or the list's id.
    pub async fn ensure(
        &self,
        pacer: &Pacer,
        definitions: &Definitions,
        settings: &AudienceSettings,
        audience: &str,
    ) -> Result<String, CallError> {
        let name = audience_property(audience);
        if name.is_empty() {
            return Err(refused(format!(
                "audience key '{audience}' has no letters or digits to name a HubSpot property or list by"
            )));
        }
        if let Some(target) = self.cached(&name) {
            return Ok(target);
        }
        let target = match settings.mode {
            AudienceMode::Property => {
                self.property(pacer, definitions, settings, audience, &name)
                    .await?
            }
            AudienceMode::List => list(pacer, &name).await?,
        };
        self.ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, target.clone());
        Ok(target)
    }

    fn cached(&self, name: &str) -> Option<String> {
        self.ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    async fn property(
        &self,
        pacer: &Pacer,
        definitions: &Definitions,
        settings: &AudienceSettings,
        audience: &str,
        name: &str,
    ) -> Result<String, CallError> {
        let defs = definitions.properties(pacer, "contacts").await?;
        if defs.iter().any(|d| d.name == name) {
            return Ok(name.to_owned());
        }
        let api = pacer.api();
        let limit = pacer.call(|| api.property_limit(CONTACTS_TYPE_ID)).await?;
        if limit.usage >= limit.limit {
            let reason = format!(
                "cannot create the contact property {name} for audience '{audience}': the portal has used all its custom contact properties ({} of {}); delete unused ones (Settings → Properties) or raise the limit, then replay these dead letters",
                limit.usage, limit.limit
            );
            tracing::error!(%reason, "audience property not created");
            return Err(refused(reason));
        }
        if !self.group_ready.load(Ordering::Relaxed) {
            pacer
                .call(|| api.create_property_group("contacts", &settings.group, "Audiences"))
                .await?;
            self.group_ready.store(true, Ordering::Relaxed);
        }
        let property = NewProperty {
            name: name.to_owned(),
            label: audience.to_owned(),
            group: settings.group.clone(),
            unique: false,
            hidden: false,
            checkbox: true,
        };
        pacer
            .call(|| api.create_property("contacts", &property))
            .await?;
        definitions.forget("contacts");
        Ok(name.to_owned())
    }
}

/// The MANUAL list named `name`: found, or created (a create that lost a race to another
/// process finds the winner's).
async fn list(pacer: &Pacer, name: &str) -> Result<String, CallError> {
    let api = pacer.api();
    if let Some(id) = pacer.call(|| api.find_list(name)).await? {
        return Ok(id);
    }
    match pacer.call(|| api.create_list(name)).await {
        Err(CallError::Api(ApiError {
            kind: ErrorKind::Conflict { .. },
            ..
        })) => pacer
            .call(|| api.find_list(name))
            .await?
            .ok_or_else(|| refused(format!("list {name} exists but could not be found by name"))),
        other => other,
    }
}

/// A failure no retry fixes: the message is dead-lettered with `reason`.
fn refused(reason: String) -> CallError {
    CallError::Api(ApiError {
        kind: ErrorKind::Validation,
        status: None,
        message: reason,
        category: None,
    })
}
