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

use super::db::Db;
use super::store::{self, Written};
use super::{Ctx, SyncError, TableReport};
use crate::client::ContactList;

/// The collection's name: its table, its `_sync_state` key and its `--collections` name.
pub const COLLECTION: &str = "contact_lists";

/// Syncs every contact list of the portal and its memberships into `db`.
pub(super) async fn run(ctx: &Ctx<'_>, db: &mut Db) -> Result<TableReport, SyncError> {
    store::ensure_lists(db.sql()).await?;
    let started = ctx.now_ms();
    let mut report = TableReport::new(COLLECTION);
    let mut answered = HashSet::new();
    let mut offset = Some(0);
    while let Some(from) = offset {
        let page = ctx.paced(|| ctx.client.search_contact_lists(from)).await?;
        for list in &page.lists {
            answered.insert(list.id.clone());
            sync_list(ctx, db, list, &mut report).await?;
        }
        offset = page.next_offset;
    }
    let tx = db.transaction().await?;
    let now = ctx.now_iso();
    for id in store::live_list_ids(tx.sql()).await? {
        if answered.contains(&id) {
            continue;
        }
        if store::mark_list_deleted(tx.sql(), &id, &now).await? {
            report.deleted += 1;
        }
        let gone = store::replace_memberships(tx.sql(), &id, &[], &now).await?;
        report.memberships.deleted += gone.deleted;
    }
    ctx.save_whole_run(tx.sql(), COLLECTION, started).await?;
    tx.commit().await?;
    report.complete = true;
    Ok(report)
}

/// Reads `list`'s memberships to the last page, then writes the list and replaces its
/// memberships in one transaction.
async fn sync_list(
    ctx: &Ctx<'_>,
    db: &mut Db,
    list: &ContactList,
    report: &mut TableReport,
) -> Result<(), SyncError> {
    let mut members = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .paced(|| ctx.client.list_memberships(&list.id, after.as_deref()))
            .await?;
        members.extend(page.members);
        match page.after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    let tx = db.transaction().await?;
    let now = ctx.now_iso();
    match store::upsert_list(tx.sql(), list, &now).await? {
        Written::Inserted => report.inserted += 1,
        Written::Updated => report.updated += 1,
        Written::Unchanged => {}
    }
    let w = store::replace_memberships(tx.sql(), &list.id, &members, &now).await?;
    report.memberships.inserted += w.inserted;
    report.memberships.updated += w.updated;
    report.memberships.deleted += w.deleted;
    tx.commit().await?;
    ctx.committed(1 + members.len());
    Ok(())
}
