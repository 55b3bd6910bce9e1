//! The `associations` table: links between synced records, as v4 reads them from each
//! record's side (a contact–company link is the row contacts→companies type 279 and the row
//! companies→contacts type 280). Every standard object type reads its links to each other type
//! of [`super::CRM_OBJECTS`], so the pairs are contacts↔companies, contacts↔deals,
//! companies↔deals and tickets↔contacts/companies/deals; a custom object reads its links to
//! each standard type, stored from its side only (`from_type` its table): the standard types
//! do not read theirs to custom objects, which would cost every standard page one more request
//! per custom type.
//!
//! A link can be added or removed without moving either record's modified time, so two reads:
//! - each search page's records have their links re-read before the page commits, and written
//!   in the page's transaction (a crash leaves records, links and cursor in step);
//! - a full pass over every live record of the table when the last one is older than
//!   `[sync] associations_full_every` (daily by default), recorded in `_sync_state` as
//!   `associations:{type}`. While a full pass is due (the initial sync) the per-page reads are
//!   skipped: the pass at the end of the run covers those records.
//!
//! Contacts' identity profiles ride with their links (see [`super::identities`]): read for
//! each page, written in its transaction, and in the full pass.
//!
//! Reading a record's links replaces the rows `from` it: links no longer answered get
//! `is_deleted = 1`. The other side's rows follow when that record is read (its own change or
//! the full pass).

use super::crm::CrmStream;
use super::db::{Db, Sql};
use super::state::{self, SyncState};
use super::store::{self, LinksWritten};
use super::{CRM_OBJECTS, SyncError, TableReport, identities};
use crate::client::{AssociationLink, IdentityProfile, MAX_ASSOCIATION_READ_INPUTS};

/// The links of some records to one other type: the complete answer for `from_ids`.
pub(super) struct ReadLinks {
    to_type: &'static str,
    from_ids: Vec<String>,
    links: Vec<AssociationLink>,
}

/// What is read about some records beside themselves: their links and, for contacts, their
/// identity profiles.
#[derive(Default)]
pub(super) struct Related {
    links: Vec<ReadLinks>,
    identities: Vec<IdentityProfile>,
}

/// The `_sync_state` collection recording `object_type`'s last full association pass.
pub fn state_key(object_type: &str) -> String {
    format!("associations:{object_type}")
}

impl CrmStream<'_> {
    /// The types `object_type` reads its links to: the other standard types (all of them, for
    /// a custom object).
    fn link_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        CRM_OBJECTS
            .iter()
            .copied()
            .filter(move |t| *t != self.object_type)
    }

    /// Reads the links of `ids` and, for contacts, their identity profiles.
    pub(super) async fn read_related(&self, ids: &[String]) -> Result<Related, SyncError> {
        let links = self.read_links(ids).await?;
        let identities = match self.object_type {
            "contacts" => identities::read(self.ctx, ids).await?,
            _ => Vec::new(),
        };
        Ok(Related { links, identities })
    }

    /// Writes what [`Self::read_related`] read inside the caller's transaction.
    pub(super) async fn write_related(
        &self,
        sql: Sql<'_>,
        related: &Related,
        received_at: &str,
        report: &mut TableReport,
    ) -> Result<(), SyncError> {
        self.write_links(sql, &related.links, received_at, &mut report.associations)
            .await?;
        identities::write(
            sql,
            &related.identities,
            received_at,
            &mut report.identities,
        )
        .await
    }

    /// Whether this run must read every record's links: never done, older than
    /// `associations_full_every`, or a full refresh.
    pub(super) async fn full_pass_due(&self, db: &Db) -> Result<bool, SyncError> {
        if self.ctx.options.full_refresh {
            return Ok(true);
        }
        let last = state::load(db.sql(), self.ctx.portal, &state_key(self.object_type))
            .await?
            .and_then(|s| s.last_success_ms);
        let every = self.ctx.options.associations_full_every.as_millis() as i64;
        Ok(last.is_none_or(|ms| self.ctx.now_ms() - ms >= every))
    }

    /// Reads the links of `ids` (≤ 1,000 per call, HubSpot's cap, following per-record paging)
    /// to each other synced type.
    async fn read_links(&self, ids: &[String]) -> Result<Vec<ReadLinks>, SyncError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_ASSOCIATION_READ_INPUTS) {
            for to_type in self.link_types() {
                let mut links = Vec::new();
                let mut inputs: Vec<(String, Option<String>)> =
                    chunk.iter().map(|id| (id.clone(), None)).collect();
                while !inputs.is_empty() {
                    let page = self
                        .ctx
                        .paced(|| {
                            self.ctx
                                .client
                                .read_associations(self.api_type, to_type, &inputs)
                        })
                        .await?;
                    links.extend(page.links);
                    inputs = page.more.into_iter().map(|(id, a)| (id, Some(a))).collect();
                }
                out.push(ReadLinks {
                    to_type,
                    from_ids: chunk.to_vec(),
                    links,
                });
            }
        }
        Ok(out)
    }

    /// Writes read links inside the caller's transaction.
    async fn write_links(
        &self,
        sql: Sql<'_>,
        read: &[ReadLinks],
        received_at: &str,
        written: &mut LinksWritten,
    ) -> Result<(), SyncError> {
        for r in read {
            let w = store::replace_links(
                sql,
                self.object_type,
                r.to_type,
                &r.from_ids,
                &r.links,
                received_at,
            )
            .await?;
            written.inserted += w.inserted;
            written.updated += w.updated;
            written.deleted += w.deleted;
        }
        Ok(())
    }

    /// Re-reads the links (and contacts' identities) of every live record of the table, one
    /// batch read's worth of records per transaction, then records the pass. A pass cut short
    /// starts over on the next run.
    pub(super) async fn full_association_pass(
        &self,
        db: &mut Db,
        report: &mut TableReport,
    ) -> Result<(), SyncError> {
        let started = self.ctx.now_ms();
        let mut after = String::new();
        loop {
            let ids = store::live_ids_after(
                db.sql(),
                self.object_type,
                &after,
                MAX_ASSOCIATION_READ_INPUTS,
            )
            .await?;
            let Some(last) = ids.last() else { break };
            after = last.clone();
            let read = self.read_related(&ids).await?;
            let tx = db.transaction().await?;
            self.write_related(tx.sql(), &read, &self.ctx.now_iso(), report)
                .await?;
            tx.commit().await?;
        }
        state::save(
            db.sql(),
            self.ctx.portal,
            &state_key(self.object_type),
            &SyncState {
                last_run_started_ms: Some(started),
                last_success_ms: Some(started),
                ..SyncState::default()
            },
        )
        .await?;
        Ok(())
    }
}
