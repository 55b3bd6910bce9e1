//! `pipelines` and `pipeline_stages` of deals and tickets: what `property_pipeline`,
//! `property_dealstage`, `property_hs_pipeline` and `property_hs_pipeline_stage` refer to.
//! A type's pipelines come in one unpaged answer, so every run reads them all and writes each
//! type in one transaction; archived pipelines and stages are `is_deleted`.

use rusqlite::Connection;

use super::{Ctx, SyncError, TableReport, store};

/// The collection's name: its `_sync_state` key and its `--collections` name (stages ride
/// with it).
pub const COLLECTION: &str = "pipelines";

/// The object types whose pipelines are read.
const TYPES: &[&str] = &["deals", "tickets"];

/// Syncs the pipelines and stages of deals and tickets into `conn`; `inserted` counts new rows
/// of both tables.
pub(super) async fn run(ctx: &Ctx<'_>, conn: &mut Connection) -> Result<TableReport, SyncError> {
    store::ensure_pipelines(conn)?;
    let started = ctx.now_ms();
    let mut report = TableReport::new(COLLECTION);
    let rows = |conn: &Connection| -> rusqlite::Result<i64> {
        Ok(store::row_count(conn, "pipelines")? + store::row_count(conn, "pipeline_stages")?)
    };
    let before = rows(conn)?;
    for object_type in TYPES {
        let pipelines = ctx.paced(|| ctx.client.pipelines(object_type)).await?;
        let tx = conn.transaction()?;
        let now = ctx.now_iso();
        for p in &pipelines {
            store::upsert_pipeline(&tx, object_type, p, &now)?;
        }
        tx.commit()?;
        ctx.committed(pipelines.len());
    }
    report.inserted = (rows(conn)? - before) as u64;
    ctx.save_whole_run(conn, COLLECTION, started)?;
    report.complete = true;
    Ok(report)
}
