//! `contact_lists` and `contact_list_memberships`. The lists search has no modified-time
//! filter and a list's `updatedAt` does not move with its memberships, so every run reads every
//! contact list and every list's memberships (source.md 3.6):
//!
//! - each list's memberships are read to the last page, then the list row and its memberships
//!   are written in one transaction, replacing them: a member HubSpot no longer answers gets
//!   `is_deleted = 1` (and 0 again if re-added);
//! - deleted lists leave the search, so after the last page every live row the search did not
//!   answer is marked `is_deleted`, with its memberships.
//!
//! `_sync_state` records the run (`contact_lists`); there is no cursor to resume from.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;

use hubspot_core::date::format_iso_ms;
use rusqlite::Connection;

use super::state::{self, SyncState};
use super::store::{self, Written};
use super::{SyncError, TableReport, paced};
use crate::client::{ContactList, HubSpotClient};
use crate::delivery::Pacer;

/// The collection's name: its table, its `_sync_state` key and its `--collections` name.
pub const COLLECTION: &str = "contact_lists";

/// Reads one portal's contact lists and memberships into `conn`.
pub(super) struct ListsStream<'a> {
    pub portal: &'a str,
    pub client: &'a HubSpotClient,
    pub pacer: &'a Pacer,
    pub requests: &'a AtomicU64,
}

impl ListsStream<'_> {
    fn now_iso(&self) -> String {
        format_iso_ms(self.pacer.now_ms() as i64)
    }

    /// Syncs every contact list and its memberships.
    pub async fn run(&self, conn: &mut Connection) -> Result<TableReport, SyncError> {
        store::ensure_lists(conn)?;
        let started = self.pacer.now_ms() as i64;
        let mut report = TableReport::new(COLLECTION);
        let mut answered = HashSet::new();
        let mut offset = Some(0);
        while let Some(from) = offset {
            let page = paced(self.pacer, self.requests, || {
                self.client.search_contact_lists(from)
            })
            .await?;
            for list in &page.lists {
                answered.insert(list.id.clone());
                self.list(conn, list, &mut report).await?;
            }
            offset = page.next_offset;
        }
        let tx = conn.transaction()?;
        let now = self.now_iso();
        for id in store::live_list_ids(&tx)? {
            if answered.contains(&id) {
                continue;
            }
            if store::mark_list_deleted(&tx, &id, &now)? {
                report.deleted += 1;
            }
            let gone = store::replace_memberships(&tx, &id, &[], &now)?;
            report.memberships.deleted += gone.deleted;
        }
        state::save(
            &tx,
            self.portal,
            COLLECTION,
            &SyncState {
                last_run_started_ms: Some(started),
                last_success_ms: Some(started),
                ..SyncState::default()
            },
        )?;
        tx.commit()?;
        report.complete = true;
        Ok(report)
    }

    /// Reads `list`'s memberships to the last page, then writes the list and replaces its
    /// memberships in one transaction.
    async fn list(
        &self,
        conn: &mut Connection,
        list: &ContactList,
        report: &mut TableReport,
    ) -> Result<(), SyncError> {
        let mut members = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = paced(self.pacer, self.requests, || {
                self.client.list_memberships(&list.id, after.as_deref())
            })
            .await?;
            members.extend(page.members);
            match page.after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        let tx = conn.transaction()?;
        let now = self.now_iso();
        match store::upsert_list(&tx, list, &now)? {
            Written::Inserted => report.inserted += 1,
            Written::Updated => report.updated += 1,
            Written::Unchanged => {}
        }
        let w = store::replace_memberships(&tx, &list.id, &members, &now)?;
        report.memberships.inserted += w.inserted;
        report.memberships.updated += w.updated;
        report.memberships.deleted += w.deleted;
        tx.commit()?;
        Ok(())
    }
}
