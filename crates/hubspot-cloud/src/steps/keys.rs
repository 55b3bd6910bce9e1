//! Unique properties that records are upserted by and that the project creates itself: the
//! company property `segment_group_id` that group calls are keyed by (string, hidden, unique,
//! in `companyinformation`), created once per portal; 409 means it exists already.

use std::sync::atomic::{AtomicBool, Ordering};

use super::definitions::Definitions;
use crate::client::NewProperty;
use crate::delivery::{CallError, Pacer};
use crate::mapping::GROUP_ID_PROPERTY;

/// Whether a portal's own keys exist yet.
#[derive(Debug, Default)]
pub struct Keys {
    group_id_ready: AtomicBool,
}

impl Keys {
    /// Makes sure the unique property `object_type` records are upserted by exists, when it is
    /// one this project owns.
    pub async fn ensure(
        &self,
        pacer: &Pacer,
        definitions: &Definitions,
        object_type: &str,
        id_property: &str,
    ) -> Result<(), CallError> {
        if object_type != "companies"
            || id_property != GROUP_ID_PROPERTY
            || self.group_id_ready.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        let property = NewProperty {
            name: GROUP_ID_PROPERTY.into(),
            label: "Segment group id".into(),
            group: "companyinformation".into(),
            unique: true,
            hidden: true,
            checkbox: false,
        };
        let api = pacer.api();
        pacer
            .call(|| api.create_property("companies", &property))
            .await?;
        definitions.forget("companies");
        self.group_id_ready.store(true, Ordering::Relaxed);
        Ok(())
    }
}
