//! `owners`: the users records refer to by `hubspot_owner_id`. HubSpot has no modified filter
//! on owners and a portal has few, so every run reads them all: the live ones, then the
//! archived ones (deactivated users), which are written `is_deleted = 1`. One transaction per
//! page.

use super::db::Db;
use super::store::{self, Written};
use super::{Ctx, SyncError, TableReport};

/// The collection's name: its table, its `_sync_state` key and its `--collections` name.
pub const COLLECTION: &str = "owners";

/// Syncs every owner of the portal, live and archived, into `db`.
pub(super) async fn run(ctx: &Ctx<'_>, db: &mut Db) -> Result<TableReport, SyncError> {
    store::ensure_owners(db.sql()).await?;
    let started = ctx.now_ms();
    let mut report = TableReport::new(COLLECTION);
    for archived in [false, true] {
        let mut after: Option<String> = None;
        loop {
            let (owners, next) = ctx
                .paced(|| ctx.client.list_owners(archived, after.as_deref()))
                .await?;
            let tx = db.transaction().await?;
            let now = ctx.now_iso();
            for owner in &owners {
                match store::upsert_owner(tx.sql(), owner, &now).await? {
                    Written::Inserted => report.inserted += 1,
                    // An owner seen live before and answered archived now was deactivated.
                    Written::Updated if owner.archived => report.deleted += 1,
                    Written::Updated => report.updated += 1,
                    Written::Unchanged => {}
                }
            }
            tx.commit().await?;
            ctx.committed(owners.len());
            match next {
                Some(a) => after = Some(a),
                None => break,
            }
        }
    }
    ctx.save_whole_run(db.sql(), COLLECTION, started).await?;
    report.complete = true;
    Ok(report)
}
