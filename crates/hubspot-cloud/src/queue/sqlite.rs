//! A durable [`Queue`](super::Queue) in SQLite (the embedded default).
//!
//! One file, WAL mode, `synchronous=FULL`: a call that writes returns only after its transaction
//! is on disk. All writes go through one writer thread with its own connection (SQLite has one
//! writer anyway), which **group-commits**: it takes the first waiting request, collects more
//! for up to [`SqliteOptions::group_commit_window`] (at most [`SqliteOptions::max_batch`]), runs
//! each in a savepoint of one transaction, commits once, and only then answers every caller. A
//! request that fails alone (a bad row) is rolled back alone. When SQLite rolls the whole
//! transaction back itself (disk full, I/O error), the request that met the error fails, with
//! the later requests of its kind (enqueues, or the others), and the rest are written again in a
//! new transaction: a full outbox refuses new messages but goes on delivering, which frees room.
//! A transaction that cannot begin or commit (locked by another process) fails every request in
//! it, and nothing of theirs is stored. [`Queue::write_error`](super::Queue::write_error) says
//! whether the last write of each kind failed. Reads (`depth`, `status`, …) use a second
//! connection on a blocking thread, so no SQLite call runs on a runtime thread.
//!
//! The schema is meant to be read with `sqlite3 outbox.db`:
//!
//! ```sql
//! SELECT status, count(*) FROM jobs GROUP BY status;
//! SELECT id, portal, key, last_error FROM jobs WHERE status = 'dead';
//! SELECT name, value FROM counters;
//! ```
//!
//! `jobs.status` is `queued` (waiting; `last_error` set once it has been tried), `in_flight`
//! (leased until `lease_until_ms`) or `dead` (a dead letter; `last_error` is the reason).
//! Delivered rows are deleted and only counted in `counters` (`delivered`), as are dead letters
//! pruned beyond [`SqliteOptions::dead_letters`] (`dead_pruned`). Times are epoch milliseconds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hubspot_core::Event;
use rusqlite::config::DbConfig;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::{
    DeadLetter, DeadLetterLimits, Job, JobId, Outcome, Queue, QueueError, QueueStatus, WriteHealth,
    WriteKind, prune_due, undecodable_message, undecodable_reason,
};
use crate::clock::Clock as _;

/// `PRAGMA user_version` of the schema below. Version 1 indexed the lease scan and ordering
/// keys across portals; version 2 per portal.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    portal         TEXT NOT NULL,
    key            TEXT NOT NULL,
    message        TEXT NOT NULL, -- the Segment message, JSON
    status         TEXT NOT NULL CHECK (status IN ('queued', 'in_flight', 'dead')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    not_before_ms  INTEGER NOT NULL DEFAULT 0,
    lease_until_ms INTEGER,
    last_error     TEXT,
    enqueued_at_ms INTEGER NOT NULL,
    failed_at_ms   INTEGER
);
-- A portal's lease walks its waiting jobs in id order without reading their messages, and
-- without reading other portals' jobs however many wait.
CREATE INDEX IF NOT EXISTS jobs_portal_scan ON jobs (portal, status, id, not_before_ms, key);
-- Per-key order within a portal: the earlier jobs of a key that hold back a later one.
CREATE INDEX IF NOT EXISTS jobs_portal_key ON jobs (portal, key, id);
-- A portal's next due time.
CREATE INDEX IF NOT EXISTS jobs_portal_due ON jobs (portal, status, not_before_ms);
-- A portal's leases, by expiry.
CREATE INDEX IF NOT EXISTS jobs_leased ON jobs (portal, lease_until_ms) WHERE status = 'in_flight';
-- Dead letters, oldest first.
CREATE INDEX IF NOT EXISTS jobs_dead ON jobs (failed_at_ms, id) WHERE status = 'dead';
-- Jobs that have been tried, for status.
CREATE INDEX IF NOT EXISTS jobs_tried ON jobs (status) WHERE last_error IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('delivered', 0), ('dead_pruned', 0);
";

/// How a [`SqliteQueue`] behaves; every field has a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a lease lasts. A leased job whose lease expired is offered again: the process
    /// that leased it died. Default 60 s.
    pub lease: Duration,
    /// How long a statement waits for a lock held by another process (a CLI command on the same
    /// file) before failing. Default 5 s.
    pub busy_timeout: Duration,
    /// How long the writer waits for more requests to share a transaction (one fsync) with the
    /// first one. Zero still groups whatever is already waiting. Default 2 ms.
    pub group_commit_window: Duration,
    /// At most this many requests share one transaction. Default 1,000.
    pub max_batch: usize,
    /// How many dead letters are kept, and for how long.
    pub dead_letters: DeadLetterLimits,
    /// A hard cap on the file's size, in pages (`PRAGMA max_page_count`; 4 KiB pages, so
    /// 262,144 is 1 GiB; the WAL file comes on top). Enqueues stop 1/16 short of it (at least 16
    /// pages) with "database or disk is full", storing nothing of theirs, while leases and
    /// settles may use the rest: delivery drains a full outbox, freeing pages for new messages.
    /// A cap below the file's current size acts as that size. Default: none.
    pub max_page_count: Option<u64>,
    /// Run `PRAGMA quick_check` on an existing file before anything else, and refuse a damaged
    /// one without writing to it (no migration, no checkpoint), so what can still be read is
    /// there to recover. It reads the whole file: seconds for a large backlog. Default true.
    pub check_integrity: bool,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            lease: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(5),
            group_commit_window: Duration::from_millis(2),
            max_batch: 1_000,
            dead_letters: DeadLetterLimits::default(),
            check_integrity: true,
            max_page_count: None,
        }
    }
}

/// Jobs in a SQLite file (the outbox), durable across restarts and `kill -9`.
pub struct SqliteQueue {
    path: Arc<str>,
    /// `None` only while dropping.
    writer: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    reader: Arc<Mutex<Connection>>,
    commits: Arc<AtomicU64>,
    /// Updated by the writer after each write.
    health: Arc<WriteHealth>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("path", &self.path)
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl SqliteQueue {
    /// Opens the outbox at `path`, creating the file and its tables if missing, and starts the
    /// writer thread. An existing file is checked first (see [`SqliteOptions::check_integrity`])
    /// and refused, unchanged, if it is damaged.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteQueue, QueueError> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let shown: Arc<str> = path.display().to_string().into();
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            QueueError(format!(
                "cannot open the SQLite outbox {shown}: {what}: {e}"
            ))
        };
        if options.check_integrity {
            check_integrity(&path, &shown, options.busy_timeout)?;
        }
        let mut conn = Connection::open(&path).map_err(|e| fail("open", &e))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| fail("busy_timeout", &e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| fail("journal_mode", &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail(
                "journal_mode",
                &format!("WAL mode is required, got '{mode}' (is this a file on disk?)"),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| fail("synchronous", &e))?;
        migrate(&mut conn).map_err(|e| fail("schema", &e))?;

        let reader = Connection::open(&path).map_err(|e| fail("open reader", &e))?;
        reader
            .busy_timeout(options.busy_timeout)
            .map_err(|e| fail("busy_timeout", &e))?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(|e| fail("query_only", &e))?;

        let commits = Arc::new(AtomicU64::new(0));
        let health = Arc::new(WriteHealth::default());
        let (sender, receiver) = mpsc::channel();
        let writer = Writer {
            conn,
            path: Arc::clone(&shown),
            window: options.group_commit_window,
            max_batch: options.max_batch.max(1),
            rules: Rules {
                lease_ms: u64::try_from(options.lease.as_millis()).unwrap_or(u64::MAX),
                dead_letters: options.dead_letters,
                last_prune_ms: 0,
            },
            commits: Arc::clone(&commits),
            health: Arc::clone(&health),
            max_pages: options.max_page_count.map(PageCaps::new),
            enqueue_capped: None,
        };
        let thread = std::thread::Builder::new()
            .name("sqlite-outbox-writer".into())
            .spawn(move || writer.run(&receiver))
            .map_err(|e| fail("start the writer thread", &e))?;
        Ok(SqliteQueue {
            path: shown,
            writer: Some(sender),
            thread: Some(thread),
            reader: Arc::new(Mutex::new(reader)),
            commits,
            health,
        })
    }

    /// Transactions the writer has committed since `open` (each one fsync): with group commit,
    /// fewer than the write calls when callers are concurrent.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Sends a write to the writer thread and waits for its commit.
    async fn write(&self, op: Op) -> Result<Done, QueueError> {
        let name = op.name();
        let stopped = || {
            QueueError(format!(
                "{name} on {}: the SQLite writer thread has stopped",
                self.path
            ))
        };
        let (reply, answer) = oneshot::channel();
        self.writer
            .as_ref()
            .ok_or_else(stopped)?
            .send(Request { op, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs a read on the reader connection, on a blocking thread.
    async fn read<T, F>(&self, what: &'static str, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        let path = Arc::clone(&self.path);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the connection usable (no open transaction
            // outlives a statement here).
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(|e| QueueError(format!("{what} on {path}: {e}")))
        })
        .await
        .map_err(|e| QueueError(format!("{what} on {}: {e}", self.path)))?
    }
}

impl Drop for SqliteQueue {
    fn drop(&mut self) {
        // Closing the channel ends the writer after the batch it is writing, if any.
        drop(self.writer.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `PRAGMA quick_check` on the file at `path`, if there is one, from a read-only
/// connection that never checkpoints, so a damaged file is left exactly as it was.
fn check_integrity(path: &Path, shown: &str, busy_timeout: Duration) -> Result<(), QueueError> {
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return Ok(()); // nothing yet: open creates it
    }
    let cannot = |e: &dyn std::fmt::Display| {
        QueueError(format!(
            "cannot check the SQLite outbox {shown} before opening it: {e}"
        ))
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| cannot(&e))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(|e| cannot(&e))?;
    conn.busy_timeout(busy_timeout).map_err(|e| cannot(&e))?;
    let found = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut check| {
            check
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map(|rows| rows.join("; "));
    let problems = match found {
        Ok(ok) if ok == "ok" => return Ok(()),
        Ok(problems) => problems,
        Err(e) if is_damage(&e) => e.to_string(),
        Err(e) => return Err(cannot(&e)),
    };
    let problems: String = problems
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect();
    // `.dump` is the fallback: some sqlite3 builds (Debian's) lack `.recover`.
    Err(QueueError(format!(
        "the SQLite outbox {shown} is damaged ({problems}); it was left untouched. Recover what \
         can be read into a new file with `sqlite3 {shown} \".recover\" | sqlite3 \
         {shown}.recovered` (\".dump\" where that sqlite3 has no .recover), then set [queue] \
         path to {shown}.recovered"
    )))
}

/// Whether an error means the file is damaged rather than, say, locked.
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// Version 1's indexes that version 2 replaces with per-portal ones. The rows stay as they are:
/// the table did not change.
const FROM_V1: &str = "
DROP INDEX IF EXISTS jobs_due;
DROP INDEX IF EXISTS jobs_scan;
DROP INDEX IF EXISTS jobs_key;
";

/// Creates the tables of a new file, upgrades an older schema in place, and refuses a newer one.
/// A file already at [`SCHEMA_VERSION`] is not written to.
fn migrate(conn: &mut Connection) -> Result<(), Fail> {
    let version = |conn: &Connection| -> Result<i64, Fail> {
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if v > SCHEMA_VERSION {
            return Err(Fail::Schema(format!(
                "schema version {v} is newer than this build understands ({SCHEMA_VERSION})"
            )));
        }
        Ok(v)
    };
    if version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have upgraded meanwhile.
    let upgrade = match version(&tx)? {
        SCHEMA_VERSION => return Ok(()),
        1 => FROM_V1,
        _ => "",
    };
    tx.execute_batch(&format!(
        "{upgrade} {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};"
    ))?;
    tx.commit()?;
    Ok(())
}

/// A failure inside one operation.
#[derive(Debug, thiserror::Error)]
enum Fail {
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Schema(String),
}

/// A write, as the writer thread runs it. Messages are already JSON.
enum Op {
    Enqueue {
        portal: String,
        items: Vec<(String, String)>,
        now_ms: u64,
    },
    Lease {
        portal: String,
        now_ms: u64,
        max: usize,
        /// Wall-clock time for jobs the lease dead-letters.
        failed_at_ms: u64,
    },
    Settle {
        outcomes: Vec<(JobId, Outcome)>,
        now_ms: u64,
    },
    ReplayDead(Option<Vec<JobId>>),
    DropDead(Option<Vec<JobId>>),
    Recover,
}

impl Op {
    fn kind(&self) -> WriteKind {
        match self {
            Op::Enqueue { .. } => WriteKind::Ingest,
            _ => WriteKind::Delivery,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Op::Enqueue { .. } => "enqueue",
            Op::Lease { .. } => "lease",
            Op::Settle { .. } => "settle",
            Op::ReplayDead(_) => "replay dead letters",
            Op::DropDead(_) => "drop dead letters",
            Op::Recover => "recover leases",
        }
    }
}

/// What a write returns.
enum Done {
    Ids(Vec<JobId>),
    Leased(Leased),
    Settled,
    Count(usize),
}

fn mismatch(op: &str) -> QueueError {
    QueueError(format!(
        "{op}: the SQLite writer answered with the wrong kind of result"
    ))
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Done, QueueError>>,
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    path: Arc<str>,
    window: Duration,
    max_batch: usize,
    rules: Rules,
    commits: Arc<AtomicU64>,
    health: Arc<WriteHealth>,
    max_pages: Option<PageCaps>,
    /// Which of the caps `PRAGMA max_page_count` holds now (`None`: not set yet).
    enqueue_capped: Option<bool>,
}

/// [`SqliteOptions::max_page_count`] as two limits: enqueues stop short of the cap, so leases
/// and settles (which free pages as they deliver) always have room to drain a full outbox.
#[derive(Clone, Copy)]
struct PageCaps {
    enqueue: u64,
    other: u64,
}

impl PageCaps {
    fn new(cap: u64) -> PageCaps {
        PageCaps {
            enqueue: cap.saturating_sub((cap / 16).max(16)).max(1),
            other: cap.max(1),
        }
    }
}

/// What the writes need to know beyond their arguments.
struct Rules {
    lease_ms: u64,
    dead_letters: DeadLetterLimits,
    /// When settle last pruned dead letters (epoch ms).
    last_prune_ms: u64,
}

impl Writer {
    fn run(mut self, requests: &mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let batch = self.collect(first, requests);
            self.write(batch);
        }
    }

    /// The first request plus whatever arrives within the window, up to `max_batch`.
    fn collect(&self, first: Request, requests: &mpsc::Receiver<Request>) -> Vec<Request> {
        let deadline = Instant::now() + self.window;
        let mut batch = vec![first];
        while batch.len() < self.max_batch {
            let next = match requests.try_recv() {
                Ok(r) => Some(r),
                Err(mpsc::TryRecvError::Disconnected) => None,
                Err(mpsc::TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        None
                    } else {
                        requests.recv_timeout(left).ok()
                    }
                }
            };
            match next {
                Some(r) => batch.push(r),
                None => break,
            }
        }
        batch
    }

    /// Writes a batch in one transaction and answers every caller after the commit.
    fn write(&mut self, batch: Vec<Request>) {
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|r| (r.op, r.reply)).unzip();
        let results = match self.transaction(&ops) {
            Ok(results) => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                results
            }
            Err(e) => ops
                .iter()
                .map(|op| {
                    Err(QueueError(format!(
                        "{} on {}: transaction failed, nothing stored: {e}",
                        op.name(),
                        self.path
                    )))
                })
                .collect(),
        };
        for ((op, reply), result) in ops.iter().zip(replies).zip(results) {
            self.health.note(op.kind(), &result);
            // A caller that stopped waiting has nothing to learn.
            let _ = reply.send(result);
        }
    }

    /// Runs each op in its own savepoint, so a failing op is rolled back alone. Some errors
    /// (disk full, I/O) make SQLite roll back the whole transaction itself: then the op that
    /// met it fails, with the later ops of its kind (they would meet it too), and the others
    /// run again in a new transaction. So a full outbox that refuses new messages still leases
    /// and settles, which frees room.
    fn transaction(&mut self, ops: &[Op]) -> Result<Vec<Result<Done, QueueError>>, Fail> {
        let mut lost: Vec<Option<String>> = vec![None; ops.len()];
        loop {
            let mut tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut results = Vec::with_capacity(ops.len());
            let mut rolled_back = None;
            for (i, op) in ops.iter().enumerate() {
                if let Some(e) = &lost[i] {
                    results.push(Err(QueueError(e.clone())));
                    continue;
                }
                if let Some(caps) = self.max_pages {
                    let enqueue = op.kind() == WriteKind::Ingest;
                    if self.enqueue_capped != Some(enqueue) {
                        let cap = if enqueue { caps.enqueue } else { caps.other };
                        // Never below the file's current size: SQLite keeps the larger value.
                        tx.query_row(&format!("PRAGMA max_page_count = {cap}"), [], |_| Ok(()))?;
                        self.enqueue_capped = Some(enqueue);
                    }
                }
                let sp = tx.savepoint()?;
                match apply(&sp, op, &mut self.rules) {
                    Ok(done) => {
                        sp.commit()?;
                        results.push(Ok(done));
                    }
                    Err(e) if sp.is_autocommit() => {
                        rolled_back = Some((i, e));
                        break;
                    }
                    Err(e) => {
                        sp.finish()?; // rolls back this op only
                        let name = op.name();
                        results.push(Err(QueueError(format!("{name} on {}: {e}", self.path))));
                    }
                }
            }
            let Some((at, e)) = rolled_back else {
                tx.commit()?;
                return Ok(results);
            };
            let kind = ops[at].kind();
            for (i, op) in ops.iter().enumerate().skip(at) {
                if op.kind() == kind {
                    lost[i] = Some(format!(
                        "{} on {}: nothing stored: {e}",
                        op.name(),
                        self.path
                    ));
                }
            }
        }
    }
}

/// Runs one op. It borrows the op: a transaction SQLite rolls back by itself runs its other ops
/// again.
fn apply(conn: &Connection, op: &Op, rules: &mut Rules) -> Result<Done, Fail> {
    match op {
        Op::Enqueue {
            portal,
            items,
            now_ms,
        } => insert(conn, portal, items, *now_ms).map(Done::Ids),
        Op::Lease {
            portal,
            now_ms,
            max,
            failed_at_ms,
        } => lease(conn, portal, *now_ms, *max, rules.lease_ms, *failed_at_ms).map(Done::Leased),
        Op::Settle { outcomes, now_ms } => {
            settle(conn, outcomes, *now_ms, rules).map(|()| Done::Settled)
        }
        Op::ReplayDead(ids) => replay_dead(conn, ids.as_deref()).map(Done::Count),
        Op::DropDead(ids) => drop_dead(conn, ids.as_deref()).map(Done::Count),
        Op::Recover => Ok(Done::Count(conn.execute(
            "UPDATE jobs SET status = 'queued', lease_until_ms = NULL WHERE status = 'in_flight'",
            [],
        )?)),
    }
}

fn insert(
    conn: &Connection,
    portal: &str,
    items: &[(String, String)],
    now_ms: u64,
) -> Result<Vec<JobId>, Fail> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO jobs (portal, key, message, status, attempts, not_before_ms, enqueued_at_ms)
         VALUES (?1, ?2, ?3, 'queued', 0, 0, ?4)",
    )?;
    let mut ids = Vec::with_capacity(items.len());
    for (key, message) in items {
        insert.execute(params![portal, key, message, int(now_ms)])?;
        ids.push(uint(conn.last_insert_rowid()));
    }
    Ok(ids)
}

/// A portal's expired leases go back to waiting. `?1` now, `?2` portal.
const REQUEUE_EXPIRED: &str = "
UPDATE jobs SET status = 'queued', lease_until_ms = NULL
 WHERE portal = ?2 AND status = 'in_flight' AND lease_until_ms < ?1";

/// A portal's due jobs after id `?1`, in id order, at most `?3`. `?2` now, `?4` portal.
const LEASE_SCAN: &str = "
SELECT id, key FROM jobs
 WHERE portal = ?4 AND status = 'queued' AND id > ?1 AND not_before_ms <= ?2
 ORDER BY id LIMIT ?3";

/// Whether portal `?5`'s key `?1` has a job between ids `?2` and `?3` that is leased or not due
/// at `?4`.
const HELD_BACK: &str = "
SELECT EXISTS (SELECT 1 FROM jobs
  WHERE portal = ?5 AND key = ?1 AND id > ?2 AND id < ?3
    AND (status = 'in_flight' OR (status = 'queued' AND not_before_ms > ?4)))";

/// The earliest `not_before_ms` of portal `?1`'s waiting jobs.
const NEXT_WAITING: &str =
    "SELECT min(not_before_ms) FROM jobs WHERE portal = ?1 AND status = 'queued'";

/// The earliest lease expiry of portal `?1`'s leased jobs.
const NEXT_LEASE_END: &str =
    "SELECT min(lease_until_ms) FROM jobs WHERE portal = ?1 AND status = 'in_flight'";

/// Leases a portal's due jobs in id order, keeping each key's order within the portal (the rule
/// of `MemoryQueue::lease`): a due job is leased unless an earlier job of its key is in flight or
/// waits for a later time (an earlier due job of the key was leased in this call or was itself
/// held back). Walks the portal's part of the `jobs_portal_scan` index in chunks and checks each
/// key's earlier jobs on `jobs_portal_key`, so the cost follows the jobs leased, not the queue's
/// size nor other portals' backlogs.
fn lease(
    conn: &Connection,
    portal: &str,
    now_ms: u64,
    max: usize,
    lease_ms: u64,
    failed_at_ms: u64,
) -> Result<Leased, Fail> {
    // Jobs whose process died go back to waiting, their attempts unchanged.
    conn.prepare_cached(REQUEUE_EXPIRED)?
        .execute(params![int(now_ms), portal])?;
    if max == 0 {
        return Ok(Leased::default());
    }
    let mut scan = conn.prepare_cached(LEASE_SCAN)?;
    let mut held_back = conn.prepare_cached(HELD_BACK)?;
    let chunk = max.clamp(256, 4_096);
    // Per key seen in this call: `Some(last id leased)`, or `None` when the key is held back.
    let mut keys: HashMap<String, Option<JobId>> = HashMap::new();
    let mut ids: Vec<JobId> = Vec::new();
    let mut cursor: JobId = 0;
    'scan: loop {
        let rows = scan
            .query_map(
                params![int(cursor), int(now_ms), int(chunk as u64), portal],
                |r| Ok((uint(r.get(0)?), r.get::<_, String>(1)?)),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let last_chunk = rows.len() < chunk;
        for (id, key) in rows {
            cursor = id;
            // Due jobs between the last one checked and this one were all seen by this scan,
            // so only the jobs in between that are not due can hold this one back.
            let after = match keys.get(&key) {
                Some(None) => continue,
                Some(Some(last)) => *last,
                None => 0,
            };
            let blocked: bool = held_back.query_row(
                params![key, int(after), int(id), int(now_ms), portal],
                |r| r.get(0),
            )?;
            keys.insert(key, (!blocked).then_some(id));
            if !blocked {
                ids.push(id);
                if ids.len() >= max {
                    break 'scan;
                }
            }
        }
        if last_chunk {
            break;
        }
    }
    // One statement for the whole lease; the ids travel as a JSON array.
    let list = format!(
        "[{}]",
        ids.iter()
            .map(JobId::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let lease_until = now_ms.saturating_add(lease_ms);
    let mut take = conn.prepare_cached(
        "UPDATE jobs SET status = 'in_flight', lease_until_ms = ?2
         WHERE id IN (SELECT value FROM json_each(?1))
         RETURNING id, portal, key, message, attempts, enqueued_at_ms",
    )?;
    let rows = take
        .query_map(params![list, int(lease_until)], StoredJob::read)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut leased = Leased::default();
    let mut dead = conn.prepare_cached(DEAD)?;
    for stored in rows {
        match stored.decode() {
            Ok(job) => leased.jobs.push(job),
            Err((stored, reason)) => {
                // Never deliverable: dead-lettered now, so it neither fails this lease nor
                // comes back in the next one.
                dead.execute(params![int(stored.id), reason, int(failed_at_ms)])?;
                leased.undecodable.push((stored, reason));
            }
        }
    }
    // RETURNING gives no order.
    leased.jobs.sort_unstable_by_key(|j| j.id);
    Ok(leased)
}

/// What a lease took: jobs to deliver, and jobs it dead-lettered because their stored message
/// could not be decoded (with the reason).
#[derive(Default)]
struct Leased {
    jobs: Vec<Job>,
    undecodable: Vec<(StoredJob, String)>,
}

/// Dead-letters job `?1` with reason `?2` at `?3`, unless it is dead already.
const DEAD: &str = "
UPDATE jobs SET status = 'dead', lease_until_ms = NULL, last_error = ?2, failed_at_ms = ?3
 WHERE id = ?1 AND status != 'dead'";

/// SQLite integers are signed; ids, counts and epoch ms stay far below `i64::MAX` (larger
/// values saturate).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reads a stored integer back (negative ones, only from hand edits, read as 0).
fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A job row as stored, its message not yet decoded.
struct StoredJob {
    id: JobId,
    portal: String,
    key: String,
    /// The message's bytes; `None` when the column holds a number or NULL (a hand edit).
    message: Option<Vec<u8>>,
    attempts: u32,
    enqueued_at_ms: u64,
}

impl StoredJob {
    /// Reads columns `id, portal, key, message, attempts, enqueued_at_ms`, in that order. The
    /// message is read as bytes: text that is not UTF-8 must fail its own decoding, not the
    /// read of every row beside it.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredJob> {
        let message = match r.get_ref(3)? {
            ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
            ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => None,
        };
        Ok(StoredJob {
            id: uint(r.get(0)?),
            portal: r.get(1)?,
            key: r.get(2)?,
            message,
            attempts: r.get(4)?,
            enqueued_at_ms: uint(r.get(5)?),
        })
    }

    /// The job, or the row back with the dead-letter reason when its message cannot be decoded.
    fn decode(self) -> Result<Job, (StoredJob, String)> {
        let decoded = match &self.message {
            Some(bytes) => serde_json::from_slice(bytes).map_err(|e| undecodable_reason(&e)),
            None => Err(undecodable_reason(&"it is not stored as text")),
        };
        match decoded {
            Ok(message) => Ok(self.with(message)),
            Err(reason) => Err((self, reason)),
        }
    }

    fn with(self, message: Event) -> Job {
        Job {
            id: self.id,
            portal: self.portal,
            key: self.key,
            message,
            attempts: self.attempts,
            enqueued_at_ms: self.enqueued_at_ms,
        }
    }
}

fn settle(
    conn: &Connection,
    outcomes: &[(JobId, Outcome)],
    now_ms: u64,
    rules: &mut Rules,
) -> Result<(), Fail> {
    let mut delivered =
        conn.prepare_cached("DELETE FROM jobs WHERE id = ?1 AND status != 'dead'")?;
    let mut retry = conn.prepare_cached(
        "UPDATE jobs SET status = 'queued', lease_until_ms = NULL, not_before_ms = ?2,
                         attempts = attempts + ?3, last_error = ?4
         WHERE id = ?1 AND status != 'dead'",
    )?;
    let mut dead = conn.prepare_cached(DEAD)?;
    let mut count = 0usize;
    let mut added_dead = 0usize;
    for (id, outcome) in outcomes {
        let id = int(*id);
        match outcome {
            Outcome::Delivered => count += delivered.execute([id])?,
            Outcome::Retry {
                not_before_ms,
                error,
                count_attempt,
            } => {
                retry.execute(params![
                    id,
                    int(*not_before_ms),
                    u32::from(*count_attempt),
                    error
                ])?;
            }
            Outcome::Dead { reason } => {
                added_dead += dead.execute(params![id, reason, int(now_ms)])?;
            }
        }
    }
    add_to_counter(conn, "delivered", count)?;
    if prune_due(added_dead > 0, rules.last_prune_ms, now_ms) {
        let too_old = conn
            .prepare_cached("DELETE FROM jobs WHERE status = 'dead' AND failed_at_ms < ?1")?
            .execute([int(rules.dead_letters.cutoff_ms(now_ms))])?;
        let too_many = conn
            .prepare_cached(
                "DELETE FROM jobs WHERE id IN (
                   SELECT id FROM jobs WHERE status = 'dead'
                    ORDER BY failed_at_ms DESC, id DESC LIMIT -1 OFFSET ?1)",
            )?
            .execute([int(rules.dead_letters.max)])?;
        add_to_counter(conn, "dead_pruned", too_old + too_many)?;
        rules.last_prune_ms = now_ms;
    }
    Ok(())
}

/// Adds `n` to a row of `counters`, creating it if missing.
fn add_to_counter(conn: &Connection, name: &str, n: usize) -> Result<(), Fail> {
    if n > 0 {
        conn.prepare_cached(
            "INSERT INTO counters (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        )?
        .execute(params![name, int(n as u64)])?;
    }
    Ok(())
}

fn replay_dead(conn: &Connection, ids: Option<&[JobId]>) -> Result<usize, Fail> {
    const REPLAY: &str = "UPDATE jobs SET status = 'queued', attempts = 0, not_before_ms = 0,
                          last_error = NULL, failed_at_ms = NULL, lease_until_ms = NULL
                          WHERE status = 'dead'";
    match ids {
        None => Ok(conn.execute(REPLAY, [])?),
        Some(ids) => {
            let mut one = conn.prepare_cached(&format!("{REPLAY} AND id = ?1"))?;
            ids.iter()
                .try_fold(0, |n, id| Ok(n + one.execute([int(*id)])?))
        }
    }
}

fn drop_dead(conn: &Connection, ids: Option<&[JobId]>) -> Result<usize, Fail> {
    const DROP: &str = "DELETE FROM jobs WHERE status = 'dead'";
    match ids {
        None => Ok(conn.execute(DROP, [])?),
        Some(ids) => {
            let mut one = conn.prepare_cached(&format!("{DROP} AND id = ?1"))?;
            ids.iter()
                .try_fold(0, |n, id| Ok(n + one.execute([int(*id)])?))
        }
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn enqueue(
        &self,
        portal: &str,
        items: Vec<(String, Event)>,
    ) -> Result<Vec<JobId>, QueueError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let items = items
            .into_iter()
            .map(|(key, message)| Ok((key, serde_json::to_string(&message)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| QueueError(format!("enqueue: a message cannot be stored as JSON: {e}")))?;
        let op = Op::Enqueue {
            portal: portal.to_owned(),
            items,
            now_ms: crate::clock::SystemClock.now_ms(),
        };
        match self.write(op).await? {
            Done::Ids(ids) => Ok(ids),
            _ => Err(mismatch("enqueue")),
        }
    }

    async fn lease(&self, portal: &str, now_ms: u64, max: usize) -> Result<Vec<Job>, QueueError> {
        let op = Op::Lease {
            portal: portal.to_owned(),
            now_ms,
            max,
            failed_at_ms: crate::clock::SystemClock.now_ms(),
        };
        match self.write(op).await? {
            Done::Leased(leased) => {
                for (job, reason) in &leased.undecodable {
                    tracing::warn!(
                        job = job.id,
                        portal = %job.portal,
                        outbox = %self.path,
                        %reason,
                        "dead-lettered a job whose stored message could not be decoded"
                    );
                }
                Ok(leased.jobs)
            }
            _ => Err(mismatch("lease")),
        }
    }

    async fn settle(&self, outcomes: Vec<(JobId, Outcome)>) -> Result<(), QueueError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let op = Op::Settle {
            outcomes,
            now_ms: crate::clock::SystemClock.now_ms(),
        };
        match self.write(op).await? {
            Done::Settled => Ok(()),
            _ => Err(mismatch("settle")),
        }
    }

    async fn depth(&self) -> Result<usize, QueueError> {
        self.read("depth", |conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'in_flight')",
                [],
                |r| r.get(0),
            )?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// The earliest `not_before_ms` of the portal's waiting jobs, or the moment one of its
    /// leases expires (its job is then offered again), whichever comes first.
    async fn next_due_ms(&self, portal: &str) -> Result<Option<u64>, QueueError> {
        let portal = portal.to_owned();
        self.read("next due time", move |conn| {
            let waiting: Option<i64> = conn
                .prepare_cached(NEXT_WAITING)?
                .query_row([&portal], |r| r.get(0))?;
            let lease_ends: Option<i64> = conn
                .prepare_cached(NEXT_LEASE_END)?
                .query_row([&portal], |r| r.get(0))?;
            // A lease has expired once `lease_until_ms < now`.
            let expires = lease_ends.map(|t| uint(t).saturating_add(1));
            Ok(waiting.map(uint).into_iter().chain(expires).min())
        })
        .await
    }

    async fn status(&self) -> Result<QueueStatus, QueueError> {
        self.read("status", |conn| {
            let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0).map(uint));
            let waiting = count("SELECT count(*) FROM jobs WHERE status = 'queued'")?;
            let retrying = count(
                "SELECT count(*) FROM jobs WHERE status = 'queued' AND last_error IS NOT NULL",
            )?;
            Ok(QueueStatus {
                queued: waiting - retrying,
                retrying,
                in_flight: count("SELECT count(*) FROM jobs WHERE status = 'in_flight'")?,
                dead: count("SELECT count(*) FROM jobs WHERE status = 'dead'")?,
                delivered: count("SELECT value FROM counters WHERE name = 'delivered'")?,
                dead_pruned: count(
                    "SELECT coalesce((SELECT value FROM counters WHERE name = 'dead_pruned'), 0)",
                )?,
            })
        })
        .await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.read("dead letters", move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, portal, key, message, attempts, enqueued_at_ms, last_error,
                        failed_at_ms
                   FROM jobs WHERE status = 'dead' ORDER BY failed_at_ms, id LIMIT ?1",
            )?;
            let rows = stmt
                .query_map([int(limit as u64)], |r| {
                    Ok((
                        StoredJob::read(r)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(stored, reason, failed_at)| {
                    Ok(DeadLetter {
                        job: stored
                            .decode()
                            .unwrap_or_else(|(stored, _)| stored.with(undecodable_message())),
                        reason: reason.unwrap_or_default(),
                        failed_at_ms: failed_at.map_or(0, uint),
                    })
                })
                .collect()
        })
        .await
    }

    async fn replay_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        match self.write(Op::ReplayDead(ids)).await? {
            Done::Count(n) => Ok(n),
            _ => Err(mismatch("replay dead letters")),
        }
    }

    async fn drop_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        match self.write(Op::DropDead(ids)).await? {
            Done::Count(n) => Ok(n),
            _ => Err(mismatch("drop dead letters")),
        }
    }

    async fn recover(&self) -> Result<usize, QueueError> {
        match self.write(Op::Recover).await? {
            Done::Count(n) => Ok(n),
            _ => Err(mismatch("recover leases")),
        }
    }

    fn write_error(&self) -> Option<String> {
        self.health.error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspot_core::EventType;

    /// A fresh directory under the system temp dir, removed on drop (declare it before the
    /// queue, so the queue closes first).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "hubspot-cloud-sqlite-{name}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn db(&self) -> PathBuf {
            self.0.join("outbox.db")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn message(n: u64) -> Event {
        let mut e = Event::new(EventType::Track);
        e.message_id = Some(format!("m{n}"));
        e
    }

    fn open(dir: &TempDir, options: SqliteOptions) -> SqliteQueue {
        SqliteQueue::open(dir.db(), options).expect("open")
    }

    fn ids(jobs: &[Job]) -> Vec<JobId> {
        jobs.iter().map(|j| j.id).collect()
    }

    #[tokio::test]
    async fn conforms() {
        let dir = TempDir::new("conforms");
        let q = open(&dir, SqliteOptions::default());
        crate::queue::conformance::check(&q).await;
    }

    #[tokio::test]
    async fn dead_letters_stay_within_their_limits() {
        let dir = TempDir::new("dead-limits");
        let options = SqliteOptions {
            dead_letters: crate::queue::conformance::DEAD_LIMITS,
            ..SqliteOptions::default()
        };
        let q = open(&dir, options);
        let path = dir.db();
        crate::queue::conformance::check_dead_letter_limits(&q, async |id, failed_at_ms| {
            Connection::open(&path)
                .expect("open")
                .execute(
                    "UPDATE jobs SET failed_at_ms = ?2 WHERE id = ?1",
                    [int(id), int(failed_at_ms)],
                )
                .expect("backdate");
        })
        .await;
    }

    fn capped(pages: u64) -> SqliteOptions {
        SqliteOptions {
            max_page_count: Some(pages),
            ..SqliteOptions::default()
        }
    }

    /// Fifty messages with keys of their own, numbered after `n`.
    fn fifty(n: u64) -> Vec<(String, Event)> {
        (0..50)
            .map(|i| (format!("k{n}-{i}"), message(n * 100 + i)))
            .collect()
    }

    /// Enqueues batches of fifty until one is refused; returns how many messages were stored,
    /// the number of the refused batch, and its error.
    async fn fill(q: &SqliteQueue, mut n: u64) -> (usize, u64, String) {
        let mut stored = 0;
        loop {
            n += 1;
            assert!(n < 10_000, "the cap never stopped an enqueue");
            match q.enqueue("p", fifty(n)).await {
                Ok(ids) => stored += ids.len(),
                Err(e) => return (stored, n, e.to_string()),
            }
        }
    }

    #[tokio::test]
    async fn a_full_outbox_refuses_enqueues_says_so_and_recovers_as_delivery_drains_it() {
        let dir = TempDir::new("full");
        let q = open(&dir, capped(160));
        let (stored, refused, error) = fill(&q, 0).await;
        assert!(error.contains("database or disk is full"), "{error}");
        let reported = q.write_error().expect("the refused enqueue is reported");
        assert!(reported.contains("database or disk is full"), "{reported}");
        assert_eq!(
            q.depth().await.expect("depth"),
            stored,
            "nothing of the refused enqueue is stored"
        );

        // Delivery still works at the cap, a lease at a time as the engine does, and frees room;
        // its successes do not hide that new messages are refused.
        let mut delivered = 0;
        loop {
            let jobs = q.lease("p", 1_000, 100).await.expect("a lease at the cap");
            if jobs.is_empty() {
                break;
            }
            delivered += jobs.len();
            q.settle(jobs.iter().map(|j| (j.id, Outcome::Delivered)).collect())
                .await
                .expect("a settle at the cap");
            assert!(q.write_error().is_some(), "no enqueue has succeeded yet");
        }
        assert_eq!(delivered, stored);
        q.enqueue("p", fifty(refused)).await.expect("room again");
        assert_eq!(q.write_error(), None, "an enqueue that succeeds clears it");

        // Full again; reopened with a higher cap, the refused enqueue fits.
        let (_, refused, _) = fill(&q, refused).await;
        assert!(q.write_error().is_some());
        drop(q);
        let q = open(&dir, capped(320));
        q.enqueue("p", fifty(refused))
            .await
            .expect("room under the raised cap");
        assert_eq!(q.write_error(), None);
    }

    #[tokio::test]
    async fn an_enqueue_refused_as_full_fails_alone_in_its_transaction() {
        let dir = TempDir::new("full-shared");
        let q = open(&dir, capped(160));
        fill(&q, 0).await;
        drop(q);
        // The writer's own loop, minus the thread and its timing: one transaction of three
        // requests, the middle one too big for the room left.
        let mut writer = Writer {
            conn: Connection::open(dir.db()).expect("open"),
            path: "outbox".into(),
            window: Duration::ZERO,
            max_batch: 10,
            rules: Rules {
                lease_ms: 60_000,
                dead_letters: DeadLetterLimits::default(),
                last_prune_ms: 0,
            },
            commits: Arc::new(AtomicU64::new(0)),
            health: Arc::new(WriteHealth::default()),
            max_pages: Some(PageCaps::new(160)),
            enqueue_capped: None,
        };
        let lease = |max| Op::Lease {
            portal: "p".into(),
            now_ms: 1_000,
            max,
            failed_at_ms: 1_000,
        };
        let big = Op::Enqueue {
            portal: "p".into(),
            items: (0..1_000)
                .map(|i| {
                    (
                        format!("big{i}"),
                        format!("{{\"type\":\"track\",\"n\":{i}}}"),
                    )
                })
                .collect(),
            now_ms: 1_000,
        };
        let results = writer
            .transaction(&[lease(10), big, lease(10)])
            .expect("the transaction commits");
        let leased: Vec<usize> = results
            .iter()
            .filter_map(|r| match r {
                Ok(Done::Leased(l)) => Some(l.jobs.len()),
                _ => None,
            })
            .collect();
        assert_eq!(leased, [10, 10], "both leases are written");
        let refused = results[1].as_ref().map(|_| ()).expect_err("the enqueue");
        assert!(
            refused.to_string().contains("database or disk is full"),
            "{refused}"
        );
        let in_flight: i64 = writer
            .conn
            .query_row(
                "SELECT count(*) FROM jobs WHERE status = 'in_flight'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(in_flight, 20);
    }

    #[tokio::test]
    async fn an_undecodable_message_is_dead_lettered_alone() {
        let dir = TempDir::new("undecodable");
        let q = open(&dir, SqliteOptions::default());
        let path = dir.db();
        crate::queue::conformance::check_undecodable(&q, async |id| {
            let conn = Connection::open(&path).expect("open");
            // Text that is not UTF-8, let alone JSON: even reading it as a string fails.
            conn.execute(
                "UPDATE jobs SET message = CAST(X'7B22FF' AS TEXT) WHERE id = ?1",
                [int(id)],
            )
            .expect("damage");
        })
        .await;
    }

    /// Fills an outbox at `path`, closes it with everything checkpointed into the main file, and
    /// overwrites the start (the header) of a page in the middle of the file. The file claims
    /// schema version 1, so an open that migrated before checking would write to it.
    async fn damaged_outbox(path: &Path) {
        {
            let q = SqliteQueue::open(path, SqliteOptions::default()).expect("open");
            let items = (0..2_000).map(|n| (format!("k{n}"), message(n))).collect();
            q.enqueue("p", items).await.expect("enqueue");
        }
        let conn = Connection::open(path).expect("open");
        conn.pragma_update(None, "user_version", 1)
            .expect("version 1");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        let page_size = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map(uint)
            .expect("page size");
        drop(conn);
        let mut bytes = std::fs::read(path).expect("read");
        let pages = bytes.len() as u64 / page_size;
        assert!(pages > 20, "{pages} pages");
        let start = usize::try_from(pages / 2 * page_size).expect("offset");
        bytes[start..start + 32].fill(0xA5);
        std::fs::write(path, bytes).expect("damage");
    }

    #[tokio::test]
    async fn a_damaged_file_is_refused_and_left_untouched() {
        let dir = TempDir::new("damaged");
        damaged_outbox(&dir.db()).await;
        let before = std::fs::read(dir.db()).expect("read");
        let err = SqliteQueue::open(dir.db(), SqliteOptions::default()).expect_err("damaged");
        let text = err.to_string();
        let shown = dir.db().display().to_string();
        for words in [
            format!("the SQLite outbox {shown} is damaged ("),
            "it was left untouched".to_owned(),
            format!("sqlite3 {shown} \".recover\" | sqlite3 {shown}.recovered"),
        ] {
            assert!(text.contains(&words), "{words:?} in {text}");
        }
        assert!(!text.contains('\n'), "one line: {text}");
        assert!(
            std::fs::read(dir.db()).expect("read") == before,
            "the damaged file was modified"
        );
        // The check can be turned off (this file's damage is then found by the reads that meet
        // it, not at open).
        let unchecked = SqliteOptions {
            check_integrity: false,
            ..SqliteOptions::default()
        };
        drop(SqliteQueue::open(dir.db(), unchecked).expect("opened without the check"));
    }

    #[tokio::test]
    async fn open_names_the_path_when_it_fails() {
        let dir = TempDir::new("open-fails");
        let path = dir.0.join("missing").join("outbox.db");
        let err = SqliteQueue::open(&path, SqliteOptions::default()).expect_err("no such dir");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[tokio::test]
    async fn reopening_keeps_jobs_leases_dead_letters_and_the_delivered_count() {
        let dir = TempDir::new("reopen");
        {
            let q = open(&dir, SqliteOptions::default());
            let items = ["a", "b", "c", "d"]
                .iter()
                .zip(1..)
                .map(|(k, n)| ((*k).to_owned(), message(n)))
                .collect();
            assert_eq!(q.enqueue("p", items).await.expect("enqueue"), [1, 2, 3, 4]);
            assert_eq!(
                ids(&q.lease("p", 1_000, 3).await.expect("lease")),
                [1, 2, 3]
            );
            q.settle(vec![
                (1, Outcome::Delivered),
                (
                    2,
                    Outcome::Dead {
                        reason: "bad email".into(),
                    },
                ),
            ])
            .await
            .expect("settle");
        }
        let q = open(&dir, SqliteOptions::default());
        let st = q.status().await.expect("status");
        assert_eq!(
            (st.queued, st.retrying, st.in_flight, st.dead, st.delivered),
            (1, 0, 1, 1, 1),
            "{st:?}"
        );
        assert_eq!(q.depth().await.expect("depth"), 2);
        let dead = q.dead_letters(10).await.expect("dead letters");
        assert_eq!((dead[0].job.id, dead[0].reason.as_str()), (2, "bad email"));
        assert_eq!(dead[0].job.message, message(2));
        let next = q.lease("p", 1_001, 10).await.expect("lease");
        assert_eq!(ids(&next), [4], "job 3 is still leased");
        assert_eq!(next[0].message, message(4), "the message survives");
        let again = q.lease("p", 62_000, 10).await.expect("lease");
        assert_eq!(ids(&again), [3, 4], "expired leases are offered again");
        let more = q
            .enqueue("p", vec![("e".into(), message(5))])
            .await
            .expect("enqueue");
        assert_eq!(more, [5], "ids keep increasing");
    }

    #[tokio::test]
    async fn an_expired_lease_is_offered_again_and_holds_its_key_until_then() {
        let dir = TempDir::new("lease-expiry");
        let q = open(
            &dir,
            SqliteOptions {
                lease: Duration::from_millis(100),
                ..SqliteOptions::default()
            },
        );
        q.enqueue(
            "p",
            vec![
                ("k".into(), message(1)),
                ("k".into(), message(2)),
                ("other".into(), message(3)),
            ],
        )
        .await
        .expect("enqueue");
        assert_eq!(ids(&q.lease("p", 1_000, 1).await.expect("lease")), [1]);
        assert_eq!(
            ids(&q.lease("p", 1_050, 10).await.expect("lease")),
            [3],
            "job 2 waits behind leased job 1"
        );
        assert_eq!(
            q.next_due_ms("p").await.expect("next due"),
            Some(0),
            "job 2 waits (held back) and is itself due"
        );
        assert!(q.lease("p", 1_100, 10).await.expect("lease").is_empty());
        let again = q.lease("p", 1_101, 10).await.expect("lease");
        assert_eq!(
            again.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(),
            [(1, 0), (2, 0)],
            "job 1's lease expired at 1,100: offered again with job 2, attempts unchanged"
        );
        assert_eq!(
            q.next_due_ms("p").await.expect("next due"),
            Some(1_151),
            "with every job leased, the next due time is when the first lease expires"
        );
        assert_eq!(q.status().await.expect("status").in_flight, 3);
    }

    #[tokio::test]
    async fn a_key_is_held_back_by_an_earlier_job_waiting_for_a_retry() {
        let dir = TempDir::new("held-back");
        let q = open(&dir, SqliteOptions::default());
        q.enqueue(
            "p",
            vec![
                ("a".into(), message(1)),
                ("b".into(), message(2)),
                ("a".into(), message(3)),
                ("a".into(), message(4)),
            ],
        )
        .await
        .expect("enqueue");
        assert_eq!(ids(&q.lease("p", 0, 2).await.expect("lease")), [1, 2]);
        q.settle(vec![(
            1,
            Outcome::Retry {
                not_before_ms: 500,
                error: "503".into(),
                count_attempt: true,
            },
        )])
        .await
        .expect("settle");
        assert!(q.lease("p", 100, 10).await.expect("lease").is_empty());
        let later = q.lease("p", 500, 10).await.expect("lease");
        assert_eq!(
            ids(&later),
            [1, 3, 4],
            "consecutive jobs of a key lease together"
        );
        assert_eq!(later[0].attempts, 1);
        let st = q.status().await.expect("status");
        assert_eq!((st.queued, st.retrying, st.in_flight), (0, 0, 4), "{st:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_enqueues_land_once_in_shared_transactions() {
        let dir = TempDir::new("concurrent");
        let q = Arc::new(open(&dir, SqliteOptions::default()));
        let before = q.commits();
        let tasks: Vec<_> = (0..50u64)
            .map(|t| {
                let q = Arc::clone(&q);
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..100 {
                        let n = t * 100 + i;
                        let got = q
                            .enqueue("p", vec![(format!("k{t}"), message(n))])
                            .await
                            .expect("enqueue");
                        ids.extend(got);
                    }
                    ids
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("task"));
        }
        let commits = q.commits() - before;
        println!("5,000 single-message enqueues from 50 tasks: {commits} commits");
        assert!(commits < 5_000, "{commits} commits");
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 5_000, "one distinct id per call");
        assert_eq!(q.depth().await.expect("depth"), 5_000);
        let leased = q.lease("p", 0, 10_000).await.expect("lease");
        assert_eq!(leased.len(), 5_000);
        let mut seen: Vec<String> = leased
            .iter()
            .filter_map(|j| j.message.message_id.clone())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 5_000, "every message exactly once");
        // Each task's messages keep their order within its key.
        for t in 0..50u64 {
            let of_task: Vec<String> = leased
                .iter()
                .filter(|j| j.key == format!("k{t}"))
                .filter_map(|j| j.message.message_id.clone())
                .collect();
            let expected: Vec<String> = (0..100).map(|i| format!("m{}", t * 100 + i)).collect();
            assert_eq!(of_task, expected);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enqueue_throughput() {
        let dir = TempDir::new("throughput");
        let q = Arc::new(open(&dir, SqliteOptions::default()));
        let before = q.commits();
        let start = Instant::now();
        let tasks: Vec<_> = (0..50u64)
            .map(|t| {
                let q = Arc::clone(&q);
                tokio::spawn(async move {
                    for r in 0..10u64 {
                        let items = (0..100)
                            .map(|i| (format!("k{t}-{i}"), message(t * 1_000 + r * 100 + i)))
                            .collect();
                        q.enqueue("p", items).await.expect("enqueue");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let took = start.elapsed();
        println!(
            "enqueue: 50 tasks x 1,000 messages in requests of 100: {took:?}, {:.0} messages/s, {} commits",
            50_000.0 / took.as_secs_f64(),
            q.commits() - before
        );
        assert_eq!(q.depth().await.expect("depth"), 50_000);
    }

    #[tokio::test]
    async fn a_failed_transaction_stores_nothing_and_fails_every_caller_in_it() {
        let dir = TempDir::new("locked");
        let q = open(
            &dir,
            SqliteOptions {
                busy_timeout: Duration::from_millis(50),
                group_commit_window: Duration::from_millis(20),
                ..SqliteOptions::default()
            },
        );
        // Another process (a CLI command, say) holds the write lock.
        let other = Connection::open(dir.db()).expect("open");
        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let before = q.commits();
        let (a, b, c) = tokio::join!(
            q.enqueue(
                "p",
                vec![("a".into(), message(1)), ("a".into(), message(2))]
            ),
            q.enqueue("p", vec![("b".into(), message(3))]),
            q.enqueue("p", vec![("c".into(), message(4))]),
        );
        for r in [a.map(|_| ()), b.map(|_| ()), c.map(|_| ())] {
            let err = r.expect_err("locked");
            assert!(err.to_string().contains("nothing stored"), "{err}");
            assert!(
                err.to_string().contains(&dir.db().display().to_string()),
                "{err}"
            );
        }
        assert_eq!(q.commits(), before);
        other.execute_batch("ROLLBACK").expect("unlock");
        assert_eq!(q.depth().await.expect("depth"), 0);
        assert_eq!(
            q.enqueue("p", vec![("a".into(), message(5))])
                .await
                .expect("enqueue after unlock")
                .len(),
            1
        );
        assert_eq!(q.depth().await.expect("depth"), 1);
    }

    #[tokio::test]
    async fn a_failing_request_is_rolled_back_alone_within_a_shared_transaction() {
        let dir = TempDir::new("savepoint");
        let q = open(
            &dir,
            SqliteOptions {
                group_commit_window: Duration::from_millis(50),
                ..SqliteOptions::default()
            },
        );
        let other = Connection::open(dir.db()).expect("open");
        other
            .execute_batch(
                "CREATE TRIGGER reject_boom BEFORE INSERT ON jobs WHEN NEW.key = 'boom'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .expect("trigger");
        let before = q.commits();
        let (good, bad) = tokio::join!(
            q.enqueue(
                "p",
                vec![("a".into(), message(1)), ("b".into(), message(2))]
            ),
            q.enqueue(
                "p",
                vec![("c".into(), message(3)), ("boom".into(), message(4))]
            ),
        );
        assert_eq!(good.expect("good request").len(), 2);
        let err = bad.expect_err("bad request");
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(
            q.commits() - before,
            1,
            "both requests shared one transaction"
        );
        let leased = q.lease("p", 0, 10).await.expect("lease");
        assert_eq!(
            leased.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(),
            ["a", "b"],
            "nothing of the failed request is stored"
        );
    }

    #[tokio::test]
    async fn leasing_2000_of_100000_is_fast() {
        let dir = TempDir::new("lease-speed");
        let q = open(&dir, SqliteOptions::default());
        let start = Instant::now();
        for chunk in 0..100u64 {
            let items = (0..1_000)
                .map(|i| {
                    let n = chunk * 1_000 + i;
                    (format!("user{}@example.com", n % 10_000), message(n))
                })
                .collect();
            q.enqueue("p", items).await.expect("enqueue");
        }
        println!(
            "enqueue 100,000 in requests of 1,000: {:?}",
            start.elapsed()
        );
        let mut worst = Duration::ZERO;
        for round in 0..5u64 {
            let start = Instant::now();
            let jobs = q.lease("p", 1_000, 2_000).await.expect("lease");
            let took = start.elapsed();
            println!("lease 2,000 of 100,000 (round {round}): {took:?}");
            worst = worst.max(took);
            let first = round * 2_000 + 1;
            assert_eq!(ids(&jobs), (first..first + 2_000).collect::<Vec<_>>());
        }
        // Every key now has a job in flight: the rest is held back.
        let start = Instant::now();
        assert!(q.lease("p", 1_000, 2_000).await.expect("lease").is_empty());
        println!(
            "lease with 90,000 held back by their keys: {:?}",
            start.elapsed()
        );
        assert!(worst < Duration::from_secs(1), "{worst:?}");
        let start = Instant::now();
        let st = q.status().await.expect("status");
        println!("status: {:?}", start.elapsed());
        assert_eq!((st.queued, st.in_flight), (90_000, 10_000));
    }

    /// The plan SQLite chooses for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows")
    }

    #[test]
    fn a_portal_lease_searches_only_that_portal_in_an_index() {
        let dir = TempDir::new("plans");
        drop(open(&dir, SqliteOptions::default()));
        let conn = Connection::open(dir.db()).expect("open");
        for (sql, index) in [
            (REQUEUE_EXPIRED, "jobs_leased"),
            (LEASE_SCAN, "jobs_portal_scan"),
            (HELD_BACK, "jobs_portal_key"),
            (NEXT_WAITING, "jobs_portal_due"),
            (NEXT_LEASE_END, "jobs_leased"),
        ] {
            let steps = plan(&conn, sql);
            // No scan of the table or a whole index, no sort of the portal's jobs: the cost
            // follows what is read, however long another portal's backlog.
            assert!(
                steps
                    .iter()
                    .all(|s| !s.starts_with("SCAN jobs") && !s.contains("TEMP B-TREE")),
                "{sql}: {steps:?}"
            );
            assert!(
                steps.iter().any(|s| s.starts_with("SEARCH jobs")
                    && s.contains(&format!("INDEX {index} (portal=?"))),
                "{sql}: {steps:?}"
            );
        }
    }

    /// Version 1's schema, as that version created it.
    const SCHEMA_V1: &str = "
        CREATE TABLE jobs (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            portal         TEXT NOT NULL,
            key            TEXT NOT NULL,
            message        TEXT NOT NULL,
            status         TEXT NOT NULL CHECK (status IN ('queued', 'in_flight', 'dead')),
            attempts       INTEGER NOT NULL DEFAULT 0,
            not_before_ms  INTEGER NOT NULL DEFAULT 0,
            lease_until_ms INTEGER,
            last_error     TEXT,
            enqueued_at_ms INTEGER NOT NULL,
            failed_at_ms   INTEGER
        );
        CREATE INDEX jobs_due ON jobs (status, not_before_ms);
        CREATE INDEX jobs_scan ON jobs (status, id, not_before_ms, key);
        CREATE INDEX jobs_key ON jobs (key, id);
        CREATE INDEX jobs_tried ON jobs (status) WHERE last_error IS NOT NULL;
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters (name, value) VALUES ('delivered', 7);
        PRAGMA user_version = 1;
    ";

    #[tokio::test]
    async fn a_version_1_file_is_upgraded_in_place_and_keeps_its_data() {
        let dir = TempDir::new("v1");
        {
            let conn = Connection::open(dir.db()).expect("create v1");
            conn.execute_batch(SCHEMA_V1).expect("v1 schema");
            let mut insert = conn
                .prepare(
                    "INSERT INTO jobs (portal, key, message, status, attempts, lease_until_ms,
                                       last_error, enqueued_at_ms, failed_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .expect("insert");
            let json = |n| serde_json::to_string(&message(n)).expect("json");
            for row in [
                params![
                    "p",
                    "a",
                    json(1),
                    "queued",
                    2,
                    None::<i64>,
                    "503",
                    100,
                    None::<i64>
                ],
                params![
                    "p2",
                    "a",
                    json(2),
                    "queued",
                    0,
                    None::<i64>,
                    None::<String>,
                    200,
                    None::<i64>
                ],
                params![
                    "p",
                    "b",
                    json(3),
                    "in_flight",
                    0,
                    5_000,
                    None::<String>,
                    300,
                    None::<i64>
                ],
                params![
                    "p",
                    "c",
                    json(4),
                    "dead",
                    1,
                    None::<i64>,
                    "bad email",
                    400,
                    450
                ],
            ] {
                insert.execute(row).expect("row");
            }
        }
        let q = open(&dir, SqliteOptions::default());
        let st = q.status().await.expect("status");
        assert_eq!(
            (st.queued, st.retrying, st.in_flight, st.dead, st.delivered),
            (1, 1, 1, 1, 7),
            "{st:?}"
        );
        let p = q.lease("p", 1_000, 10).await.expect("lease p");
        assert_eq!(
            p.iter()
                .map(|j| (j.id, j.attempts, j.enqueued_at_ms, j.message.clone()))
                .collect::<Vec<_>>(),
            [(1, 2, 100, message(1))],
            "job 3 is still leased until 5 000"
        );
        assert_eq!(ids(&q.lease("p2", 1_000, 10).await.expect("lease p2")), [2]);
        let dead = q.dead_letters(10).await.expect("dead letters");
        assert_eq!(
            dead.iter()
                .map(|d| (d.job.id, d.reason.as_str(), d.failed_at_ms))
                .collect::<Vec<_>>(),
            [(4, "bad email", 450)]
        );
        assert_eq!(
            q.enqueue("p", vec![("d".into(), message(5))])
                .await
                .expect("enqueue"),
            [5],
            "ids continue after the old ones"
        );
        drop(q);
        let conn = Connection::open(dir.db()).expect("open");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' ORDER BY name")
            .expect("indexes")
            .query_map([], |r| r.get(0))
            .expect("indexes")
            .collect::<Result<_, _>>()
            .expect("indexes");
        assert_eq!(
            indexes,
            [
                "jobs_dead",
                "jobs_leased",
                "jobs_portal_due",
                "jobs_portal_key",
                "jobs_portal_scan",
                "jobs_tried"
            ],
            "version 1's cross-portal indexes are gone"
        );
    }

    #[tokio::test]
    async fn the_schema_is_versioned_and_a_newer_one_is_refused() {
        let dir = TempDir::new("schema");
        drop(open(&dir, SqliteOptions::default()));
        let conn = Connection::open(dir.db()).expect("open");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        drop(conn);
        let err = SqliteQueue::open(dir.db(), SqliteOptions::default()).expect_err("newer");
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
