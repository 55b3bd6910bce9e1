//! `_sync_state`: one row per (portal, collection) holding the keyset cursor. It is written in
//! the same transaction as the page of rows it covers, so a crash leaves rows and cursor in
//! step and the next run resumes where the last committed page ended.

use rusqlite::{Connection, OptionalExtension, params};

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

/// Creates `_sync_state` if needed.
pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sync_state (
            portal TEXT NOT NULL,
            collection TEXT NOT NULL,
            cursor_ms INTEGER NOT NULL,
            cursor_id INTEGER,
            run_started_ms INTEGER,
            last_run_started_ms INTEGER,
            last_success_ms INTEGER,
            PRIMARY KEY (portal, collection)
        )",
    )
}

/// The state of `collection`, if it was ever synced.
pub fn load(
    conn: &Connection,
    portal: &str,
    collection: &str,
) -> rusqlite::Result<Option<SyncState>> {
    conn.query_row(
        "SELECT cursor_ms, cursor_id, run_started_ms, last_run_started_ms, last_success_ms
         FROM _sync_state WHERE portal = ?1 AND collection = ?2",
        params![portal, collection],
        |r| {
            Ok(SyncState {
                cursor_ms: r.get(0)?,
                cursor_id: r.get::<_, Option<i64>>(1)?.map(|v| v as u64),
                run_started_ms: r.get(2)?,
                last_run_started_ms: r.get(3)?,
                last_success_ms: r.get(4)?,
            })
        },
    )
    .optional()
}

/// Writes the state of `collection` (inside the caller's transaction).
pub fn save(
    conn: &Connection,
    portal: &str,
    collection: &str,
    s: &SyncState,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO _sync_state (portal, collection, cursor_ms, cursor_id, run_started_ms,
            last_run_started_ms, last_success_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (portal, collection) DO UPDATE SET cursor_ms = excluded.cursor_ms,
            cursor_id = excluded.cursor_id, run_started_ms = excluded.run_started_ms,
            last_run_started_ms = excluded.last_run_started_ms,
            last_success_ms = excluded.last_success_ms",
        params![
            portal,
            collection,
            s.cursor_ms,
            s.cursor_id.map(|v| v as i64),
            s.run_started_ms,
            s.last_run_started_ms,
            s.last_success_ms
        ],
    )?;
    Ok(())
}

/// Forgets `collection`'s cursor (`--full-refresh`): the next run reads everything again.
pub fn reset(conn: &Connection, portal: &str, collection: &str) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM _sync_state WHERE portal = ?1 AND collection = ?2",
        params![portal, collection],
    )?;
    Ok(())
}

/// Every collection of `portal` with a state, in name order.
pub fn collections(conn: &Connection, portal: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT collection FROM _sync_state WHERE portal = ?1 ORDER BY collection")?;
    let names = stmt.query_map([portal], |r| r.get(0))?;
    names.collect()
}
