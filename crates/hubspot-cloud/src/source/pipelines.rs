//! `pipelines` and `pipeline_stages` of deals and tickets: what `property_pipeline`,
//! `property_dealstage`, `property_hs_pipeline` and `property_hs_pipeline_stage` refer to.
//! A type's pipelines come in one unpaged answer, so every run reads them all and writes each
//! type in one transaction; archived pipelines and stages are `is_deleted`.

use super::db::Db;
use super::{Ctx, SyncError, TableReport, store};

/// The collection's name: its `_sync_state` key and its `--collections` name (stages ride
/// with it).
pub const COLLECTION: &str = "pipelines";

/// The object types whose pipelines are read.
const TYPES: &[&str] = &["deals", "tickets"];

/// Syncs the pipelines and stages of deals and tickets into `db`; `inserted` counts new rows
/// of both tables.
pub(super) async fn run(ctx: &Ctx<'_>, db: &mut Db) -> Result<TableReport, SyncError> {
    store::ensure_pipelines(db.sql()).await?;
    let started = ctx.now_ms();
    let mut report = TableReport::new(COLLECTION);
    let before = rows(db).await?;
    for object_type in TYPES {
        let pipelines = ctx.paced(|| ctx.client.pipelines(object_type)).await?;
        let tx = db.transaction().await?;
        let now = ctx.now_iso();
        for p in &pipelines {
            store::upsert_pipeline(tx.sql(), object_type, p, &now).await?;
        }
        tx.commit().await?;
        ctx.committed(pipelines.len());
    }
    report.inserted = (rows(db).await? - before) as u64;
    ctx.save_whole_run(db.sql(), COLLECTION, started).await?;
    report.complete = true;
    Ok(report)
}

/// Rows of both tables.
async fn rows(db: &Db) -> Result<i64, SyncError> {
    Ok(store::row_count(db.sql(), "pipelines").await?
        + store::row_count(db.sql(), "pipeline_stages").await?)
}
