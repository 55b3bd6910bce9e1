//! `owners`: the users records refer to by `hubspot_owner_id`. HubSpot has no modified filter
//! on owners and a portal has few, so every run reads them all: the live ones, then the
//! archived ones (deactivated users), which are written `is_deleted = 1`. One transaction per
//! page.

use std::sync::atomic::AtomicU64;

use hubspot_core::date::format_iso_ms;
use rusqlite::Connection;

use super::state::{self, SyncState};
use super::store::{self, Written};
use super::{SyncError, TableReport, paced};
use crate::client::HubSpotClient;
use crate::delivery::Pacer;

/// The collection's name: its table, its `_sync_state` key and its `--collections` name.
pub const COLLECTION: &str = "owners";

/// Reads one portal's owners into `conn`.
pub(super) struct OwnersStream<'a> {
    pub portal: &'a str,
    pub client: &'a HubSpotClient,
    pub pacer: &'a Pacer,
    pub requests: &'a AtomicU64,
}

impl OwnersStream<'_> {
    /// Syncs every owner, live and archived.
    pub async fn run(&self, conn: &mut Connection) -> Result<TableReport, SyncError> {
        store::ensure_owners(conn)?;
        let started = self.pacer.now_ms() as i64;
        let mut report = TableReport::new(COLLECTION);
        for archived in [false, true] {
            let mut after: Option<String> = None;
            loop {
                let (owners, next) = paced(self.pacer, self.requests, || {
                    self.client.list_owners(archived, after.as_deref())
                })
                .await?;
                let tx = conn.transaction()?;
                let now = format_iso_ms(self.pacer.now_ms() as i64);
                for owner in &owners {
                    match store::upsert_owner(&tx, owner, &now)? {
                        Written::Inserted => report.inserted += 1,
                        // An owner seen live before and answered archived now was deactivated.
                        Written::Updated if owner.archived => report.deleted += 1,
                        Written::Updated => report.updated += 1,
                        Written::Unchanged => {}
                    }
                }
                tx.commit()?;
                match next {
                    Some(a) => after = Some(a),
                    None => break,
                }
            }
        }
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
