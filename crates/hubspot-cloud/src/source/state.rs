//! `_sync_state`: one row per (portal, collection) holding the keyset cursor. It is written in
//! the same transaction as the page of rows it covers, so a crash leaves rows and cursor in
//! step and the next run resumes where the last committed page ended.

use super::db::{DbError, Kind, Sql};
use crate::sql_params;

/// Where a collection's stream stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Every record modified before this millisecond has been read (epoch ms).
    pub cursor_ms: i64,
    /// Records modified at exactly `cursor_ms` with an id up to this one have been read; `None`:
    /// none at `cursor_ms` are known read (the next query starts after `cursor_ms - 1`).
    /// `Some(0)`: the millisecond must be drained by id from the start.
    pub cursor_id: Option<u64>,
    /// When the run in progress started (epoch ms); `None` when the last run finished.
    pub run_started_ms: Option<i64>,
    /// When the last finished run started: the next run re-reads the search lag before it.
    pub last_run_started_ms: Option<i64>,
    /// When the last run finished (epoch ms).
    pub last_success_ms: Option<i64>,
}

/// Creates `_sync_state` if needed (epoch-ms integers on both destinations).
pub async fn create(sql: Sql<'_>) -> Result<(), DbError> {
    let int = sql.dialect().ty(Kind::Int);
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS _sync_state (
            portal TEXT NOT NULL,
            collection TEXT NOT NULL,
            cursor_ms {int} NOT NULL,
            cursor_id {int},
            run_started_ms {int},
            last_run_started_ms {int},
            last_success_ms {int},
            PRIMARY KEY (portal, collection)
        )"
    ))
    .await
}

/// The state of `collection`, if it was ever synced.
pub async fn load(
    sql: Sql<'_>,
    portal: &str,
    collection: &str,
) -> Result<Option<SyncState>, DbError> {
    Ok(sql
        .query_opt(
            "SELECT cursor_ms, cursor_id, run_started_ms, last_run_started_ms, last_success_ms
             FROM _sync_state WHERE portal = ?1 AND collection = ?2",
            sql_params![portal, collection],
        )
        .await?
        .map(|r| SyncState {
            cursor_ms: r.int(0).unwrap_or_default(),
            cursor_id: r.int(1).map(|v| v as u64),
            run_started_ms: r.int(2),
            last_run_started_ms: r.int(3),
            last_success_ms: r.int(4),
        }))
}

/// Writes the state of `collection` (inside the caller's transaction).
pub async fn save(
    sql: Sql<'_>,
    portal: &str,
    collection: &str,
    s: &SyncState,
) -> Result<(), DbError> {
    sql.execute(
        "INSERT INTO _sync_state (portal, collection, cursor_ms, cursor_id, run_started_ms,
            last_run_started_ms, last_success_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (portal, collection) DO UPDATE SET cursor_ms = excluded.cursor_ms,
            cursor_id = excluded.cursor_id, run_started_ms = excluded.run_started_ms,
            last_run_started_ms = excluded.last_run_started_ms,
            last_success_ms = excluded.last_success_ms",
        sql_params![
            portal,
            collection,
            s.cursor_ms,
            s.cursor_id.map(|v| v as i64),
            s.run_started_ms,
            s.last_run_started_ms,
            s.last_success_ms
        ],
    )
    .await?;
    Ok(())
}

/// Every collection of `portal` with a state, in name order.
pub async fn collections(sql: Sql<'_>, portal: &str) -> Result<Vec<String>, DbError> {
    let rows = sql
        .query(
            "SELECT collection FROM _sync_state WHERE portal = ?1",
            sql_params![portal],
        )
        .await?;
    let mut names: Vec<String> = rows.iter().filter_map(|r| r.text(0)).collect();
    // Sorted here: PostgreSQL's ORDER BY follows the database's collation, SQLite's the bytes.
    names.sort();
    Ok(names)
}
