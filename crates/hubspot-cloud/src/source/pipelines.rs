//! `pipelines` and `pipeline_stages` of deals and tickets: what `property_pipeline`,
//! `property_dealstage`, `property_hs_pipeline` and `property_hs_pipeline_stage` refer to.
//! A type's pipelines come in one unpaged answer, so every run reads them all and writes each
//! type in one transaction; archived pipelines and stages are `is_deleted`.

use std::sync::atomic::AtomicU64;

use hubspot_core::date::format_iso_ms;
use rusqlite::Connection;

use super::state::{self, SyncState};
use super::{SyncError, TableReport, paced, store};
use crate::client::HubSpotClient;
use crate::delivery::Pacer;

/// The collection's name: its `_sync_state` key and its `--collections` name (stages ride
/// with it).
pub const COLLECTION: &str = "pipelines";

/// The object types whose pipelines are read.
const TYPES: &[&str] = &["deals", "tickets"];

/// Reads one portal's pipelines into `conn`.
pub(super) struct PipelinesStream<'a> {
    pub portal: &'a str,
    pub client: &'a HubSpotClient,
    pub pacer: &'a Pacer,
    pub requests: &'a AtomicU64,
}

impl PipelinesStream<'_> {
    /// Syncs the pipelines and stages of deals and tickets; `inserted` counts new rows of both
    /// tables.
    pub async fn run(&self, conn: &mut Connection) -> Result<TableReport, SyncError> {
        store::ensure_pipelines(conn)?;
        let started = self.pacer.now_ms() as i64;
        let mut report = TableReport::new(COLLECTION);
        let rows = |conn: &Connection| -> rusqlite::Result<i64> {
            Ok(store::row_count(conn, "pipelines")? + store::row_count(conn, "pipeline_stages")?)
        };
        let before = rows(conn)?;
        for object_type in TYPES {
            let pipelines = paced(self.pacer, self.requests, || {
                self.client.pipelines(object_type)
            })
            .await?;
            let tx = conn.transaction()?;
            let now = format_iso_ms(self.pacer.now_ms() as i64);
            for p in &pipelines {
                store::upsert_pipeline(&tx, object_type, p, &now)?;
            }
            tx.commit()?;
        }
        report.inserted = (rows(conn)? - before) as u64;
        state::save(
            conn,
            self.portal,
            COLLECTION,
            &SyncState {
                last_run_started_ms: Some(started),
                last_success_ms: Some(started),
                ..SyncState::default()
            },
        )?;
        report.complete = true;
        Ok(report)
    }
}
