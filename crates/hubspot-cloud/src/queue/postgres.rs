//! A [`Queue`](super::Queue) on a shared PostgreSQL, for several relay processes.
//!
//! Any number of processes connect to one database; each creates the schema if it is missing
//! (under an advisory lock, so simultaneous starts are safe). Three tables, readable with `psql`:
//!
//! - `hubspot_jobs`: one row per waiting, leased or dead job. `status` is `queued`, `in_flight`
//!   (leased by `leased_by` until `lease_until_ms`) or `dead`; `message` is the Segment message as
//!   JSON text (`message::jsonb` to query it). Delivered rows are deleted.
//! - `hubspot_portal_owners`: which process delivers for a portal, until when.
//! - `hubspot_counters`: `delivered`, the number of rows delivered (and deleted) so far, and
//!   `dead_pruned`, the number of dead letters deleted beyond [`PgOptions::dead_letters`].
//!
//! Ownership: a process delivers a portal's jobs only while its row in `hubspot_portal_owners` is
//! fresh. Every [`lease`](super::Queue::lease) of a portal that still has jobs renews the
//! process's row for it, or claims the row if it expired (`until_ms <= now_ms`); another process
//! takes a portal over only after its row expires, so per-portal rate limits hold across
//! processes and the portals of a killed process move on after `owner_ttl`. Jobs a dead process
//! had leased come back when their own lease expires. Rows are claimed with
//! `FOR UPDATE SKIP LOCKED`, as are the jobs themselves, so concurrent leasers never wait for
//! each other and never share a job. [`PgQueue::release_portals`] hands a process's portals over
//! at once on a clean shutdown. Ordering keys are scoped to their portal.
//!
//! Times are the `now_ms` the caller passes (epoch milliseconds): the processes' clocks must agree
//! to well within `owner_ttl`, and `owner_ttl` must exceed the longest delivery round, or a slow
//! owner loses its portals while it still delivers. Connections are plain TCP (no TLS).

use std::collections::{HashMap, HashSet};
use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, PoolError, RecyclingMethod};
use hubspot_core::Event;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls, Row, Transaction};

use super::{
    DeadLetter, DeadLetterLimits, Job, JobId, Outcome, Queue, QueueError, QueueStatus, WriteHealth,
    WriteKind, prune_due, undecodable_message, undecodable_reason,
};
use crate::clock::Clock as _;

/// Connections one [`PgQueue`] keeps open at most.
const POOL_SIZE: usize = 8;
/// Most waiting and leased rows read per round trip while looking for due jobs.
const SCAN_PAGE: i64 = 4_096;
/// Advisory lock key that serialises schema creation ("hubspotq" in ASCII).
const SCHEMA_LOCK: i64 = 0x6875_6273_706f_7471;
/// Advisory lock key held by the process pruning dead letters ("hubspotp" in ASCII).
const PRUNE_LOCK: i64 = 0x6875_6273_706f_7470;

/// Tables and indexes, all `IF NOT EXISTS` (and replaced indexes dropped `IF EXISTS`): running it
/// again changes nothing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hubspot_jobs (
    id             BIGSERIAL PRIMARY KEY,
    portal         TEXT   NOT NULL,
    key            TEXT   NOT NULL,
    message        TEXT   NOT NULL,
    status         TEXT   NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'in_flight', 'dead')),
    attempts       INT    NOT NULL DEFAULT 0,
    not_before_ms  BIGINT NOT NULL DEFAULT 0,
    lease_until_ms BIGINT,
    leased_by      TEXT,
    last_error     TEXT,
    enqueued_at_ms BIGINT NOT NULL,
    failed_at_ms   BIGINT
);
CREATE INDEX IF NOT EXISTS hubspot_jobs_pending
    ON hubspot_jobs (portal, id) WHERE status IN ('queued', 'in_flight');
CREATE INDEX IF NOT EXISTS hubspot_jobs_portal_due
    ON hubspot_jobs (portal, not_before_ms) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS hubspot_jobs_portal_leased
    ON hubspot_jobs (portal, lease_until_ms) WHERE status = 'in_flight';
-- Earlier versions' queue-wide indexes, replaced by the per-portal ones above.
DROP INDEX IF EXISTS hubspot_jobs_due;
DROP INDEX IF EXISTS hubspot_jobs_leased;
CREATE INDEX IF NOT EXISTS hubspot_jobs_dead
    ON hubspot_jobs (failed_at_ms, id) WHERE status = 'dead';
CREATE TABLE IF NOT EXISTS hubspot_portal_owners (
    portal   TEXT   PRIMARY KEY,
    owner    TEXT   NOT NULL,
    until_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS hubspot_counters (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO hubspot_counters (name, value) VALUES ('delivered', 0), ('dead_pruned', 0)
    ON CONFLICT (name) DO NOTHING;
";

/// Every relation [`SCHEMA`] creates: when all exist, connecting takes no lock at all.
const SCHEMA_RELATIONS: [&str; 7] = [
    "hubspot_jobs",
    "hubspot_jobs_pending",
    "hubspot_jobs_portal_due",
    "hubspot_jobs_portal_leased",
    "hubspot_jobs_dead",
    "hubspot_portal_owners",
    "hubspot_counters",
];

/// Renews this process's row of portal `$4`, or claims it if it expired, when the portal has
/// jobs; returns the portal if this process owns it now. `$1` owner, `$2` new `until_ms`, `$3`
/// now. (The `LIMIT 1` subquery is one index probe whatever the table statistics say; an
/// `EXISTS` may become a join over every job.) An idle portal's row is left alone, so polling
/// an empty queue writes nothing.
const CLAIM_PORTAL: &str = "
UPDATE hubspot_portal_owners AS o SET owner = $1, until_ms = $2
 WHERE o.portal IN (
       SELECT c.portal FROM hubspot_portal_owners AS c
        WHERE c.portal = $4
          AND (c.owner = $1 OR c.until_ms <= $3)
          AND (SELECT j.id FROM hubspot_jobs AS j
                WHERE j.portal = c.portal AND j.status IN ('queued', 'in_flight')
                LIMIT 1) IS NOT NULL
          FOR UPDATE SKIP LOCKED)
RETURNING o.portal";

/// Returns the portal's expired leases to the queue. `$1` portal, `$2` now.
const REQUEUE_EXPIRED: &str = "
UPDATE hubspot_jobs SET status = 'queued', lease_until_ms = NULL, leased_by = NULL
 WHERE id IN (SELECT id FROM hubspot_jobs
               WHERE status = 'in_flight' AND lease_until_ms <= $2 AND portal = $1
               ORDER BY id
                 FOR UPDATE SKIP LOCKED)";

/// The portal's waiting and leased jobs after id `$2`, in enqueue order, at most `$3`.
/// `$1` portal.
const SCAN_PENDING: &str = "
SELECT id, key, status, not_before_ms FROM hubspot_jobs
 WHERE portal = $1 AND status IN ('queued', 'in_flight') AND id > $2
 ORDER BY id
 LIMIT $3";

/// Locks the chosen jobs that are still due and not locked by anyone else. `$1` ids, `$2` now.
const LOCK_CHOSEN: &str = "
SELECT id, portal, key, message, attempts, enqueued_at_ms FROM hubspot_jobs
 WHERE id = ANY($1) AND status = 'queued' AND not_before_ms <= $2
 ORDER BY id
   FOR UPDATE SKIP LOCKED";

/// Dead-letters jobs `$1` with reasons `$2` at `$3`, unless they are dead already.
const DEAD_LETTER: &str = "
UPDATE hubspot_jobs AS j
   SET status = 'dead', last_error = u.reason, failed_at_ms = $3,
       lease_until_ms = NULL, leased_by = NULL
  FROM unnest($1::bigint[], $2::text[]) AS u(id, reason)
 WHERE j.id = u.id AND j.status IN ('queued', 'in_flight')";

/// Options of a [`PgQueue`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// How long a leased job stays with its process before it is offered again (the process is
    /// presumed dead). Default 60 s.
    pub lease: Duration,
    /// How long a process owns a portal's delivery after its last lease call; another process
    /// takes the portal over only after that. Default 30 s.
    pub owner_ttl: Duration,
    /// This process's name in `leased_by` and `hubspot_portal_owners.owner`: unique per process.
    /// Default: host name, process id and a random number.
    pub process_id: String,
    /// How many dead letters are kept, and for how long (all processes should agree).
    pub dead_letters: DeadLetterLimits,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            lease: Duration::from_secs(60),
            owner_ttl: Duration::from_secs(30),
            process_id: default_process_id(),
            dead_letters: DeadLetterLimits::default(),
        }
    }
}

fn default_process_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".to_owned());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Jobs in a shared PostgreSQL database; see the [module documentation](self).
pub struct PgQueue {
    pool: Pool,
    process_id: String,
    lease_ms: u64,
    owner_ttl_ms: u64,
    health: WriteHealth,
    dead_letters: DeadLetterLimits,
    /// When this process last pruned dead letters (epoch ms).
    last_prune_ms: AtomicU64,
}

impl std::fmt::Debug for PgQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgQueue")
            .field("target", &self.pool.target)
            .field("process_id", &self.process_id)
            .field("lease_ms", &self.lease_ms)
            .field("owner_ttl_ms", &self.owner_ttl_ms)
            .finish()
    }
}

impl PgQueue {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or `key=value` pairs) and
    /// creates the tables if they are missing. Error messages never contain the password.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgQueue, QueueError> {
        let queue = PgQueue {
            pool: Pool::new(parse_url(url)?, POOL_SIZE)?,
            process_id: options.process_id,
            lease_ms: millis(options.lease),
            owner_ttl_ms: millis(options.owner_ttl),
            health: WriteHealth::default(),
            dead_letters: options.dead_letters,
            last_prune_ms: AtomicU64::new(0),
        };
        queue.create_schema().await?;
        Ok(queue)
    }

    /// This process's name in the ownership and lease columns.
    pub fn process_id(&self) -> &str {
        &self.process_id
    }

    /// Gives up this process's portals so other processes take them over at once (for a
    /// graceful shutdown, after the last `settle`). Leased jobs keep their lease.
    pub async fn release_portals(&self) -> Result<(), QueueError> {
        let mut conn = self.pool.get().await?;
        conn.client()
            .execute(
                "UPDATE hubspot_portal_owners SET until_ms = 0 WHERE owner = $1",
                &[&self.process_id],
            )
            .await
            .map_err(pg("release portals"))?;
        conn.keep();
        Ok(())
    }

    async fn create_schema(&self) -> Result<(), QueueError> {
        let mut conn = self.pool.get().await?;
        let names: Vec<String> = SCHEMA_RELATIONS.iter().map(|s| (*s).to_owned()).collect();
        let present: i64 = conn
            .client()
            .query_one(
                "SELECT count(*) FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NOT NULL",
                &[&names],
            )
            .await
            .map_err(pg("schema check"))?
            .try_get(0)
            .map_err(pg("schema check"))?;
        if present != SCHEMA_RELATIONS.len() as i64 {
            let tx = conn
                .client()
                .transaction()
                .await
                .map_err(pg("schema creation"))?;
            tx.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({SCHEMA_LOCK});\n{SCHEMA}"
            ))
            .await
            .map_err(pg("schema creation"))?;
            tx.commit().await.map_err(pg("schema creation"))?;
        }
        conn.keep();
        Ok(())
    }
}

impl PgQueue {
    /// Enqueues (see [`Queue::enqueue`]).
    async fn insert(
        &self,
        portal: &str,
        items: Vec<(String, Event)>,
    ) -> Result<Vec<JobId>, QueueError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = Vec::with_capacity(items.len());
        let mut messages = Vec::with_capacity(items.len());
        for (key, message) in &items {
            keys.push(key.as_str());
            messages.push(serde_json::to_string(message).map_err(|e| {
                QueueError(format!("cannot serialise a message for the queue: {e}"))
            })?);
        }
        let count = i32::try_from(items.len())
            .map_err(|_| QueueError(format!("too many messages at once: {}", items.len())))?;
        let mut conn = self.pool.get().await?;
        let tx = conn.client().transaction().await.map_err(pg("enqueue"))?;
        // The portal's ownership row, created once (expired, so the first leaser claims it).
        // The snapshot check first: it never waits for a leaser holding the row.
        tx.execute(
            "INSERT INTO hubspot_portal_owners (portal, owner, until_ms)
             SELECT $1::text, '', 0
              WHERE NOT EXISTS (SELECT 1 FROM hubspot_portal_owners WHERE portal = $1::text)
             ON CONFLICT (portal) DO NOTHING",
            &[&portal],
        )
        .await
        .map_err(pg("enqueue"))?;
        // Ids first, sorted, so they increase in item order whatever other enqueuers do.
        let mut ids: Vec<i64> = tx
            .query(
                "SELECT nextval(pg_get_serial_sequence('hubspot_jobs', 'id'))
                   FROM generate_series(1, $1)",
                &[&count],
            )
            .await
            .map_err(pg("enqueue"))?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(pg("enqueue"))?;
        ids.sort_unstable();
        tx.execute(
            "INSERT INTO hubspot_jobs (id, portal, key, message, enqueued_at_ms)
             SELECT u.id, $2, u.key, u.message, $5
               FROM unnest($1::bigint[], $3::text[], $4::text[]) AS u(id, key, message)",
            &[
                &ids,
                &portal,
                &keys,
                &messages,
                &to_db(crate::clock::SystemClock.now_ms()),
            ],
        )
        .await
        .map_err(pg("enqueue"))?;
        tx.commit().await.map_err(pg("enqueue"))?;
        conn.keep();
        Ok(ids.into_iter().map(from_db).collect())
    }

    /// Leases (see [`Queue::lease`]).
    async fn take(&self, portal: &str, now_ms: u64, max: usize) -> Result<Vec<Job>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = to_db(now_ms);
        let owner_until = to_db(now_ms.saturating_add(self.owner_ttl_ms));
        let lease_until = to_db(now_ms.saturating_add(self.lease_ms));
        let mut conn = self.pool.get().await?;
        let tx = conn.client().transaction().await.map_err(pg("lease"))?;

        let owned = tx
            .query_opt(
                CLAIM_PORTAL,
                &[&self.process_id, &owner_until, &now, &portal],
            )
            .await
            .map_err(pg("lease"))?
            .is_some();
        if !owned {
            tx.commit().await.map_err(pg("lease"))?;
            conn.keep();
            return Ok(Vec::new());
        }
        tx.execute(REQUEUE_EXPIRED, &[&portal, &now])
            .await
            .map_err(pg("lease"))?;

        let chosen = choose(&tx, portal, now, max).await?;
        let (jobs, undecodable) = lock_chosen(&tx, chosen, now).await?;
        if !undecodable.is_empty() {
            // Never deliverable: dead-lettered now, so it neither fails this lease nor comes
            // back in the next one.
            let ids: Vec<i64> = undecodable.iter().map(|(j, _)| to_db(j.id)).collect();
            let reasons: Vec<&str> = undecodable.iter().map(|(_, r)| r.as_str()).collect();
            tx.execute(
                DEAD_LETTER,
                &[&ids, &reasons, &to_db(crate::clock::SystemClock.now_ms())],
            )
            .await
            .map_err(pg("lease"))?;
        }
        if !jobs.is_empty() {
            let ids: Vec<i64> = jobs.iter().map(|j| to_db(j.id)).collect();
            tx.execute(
                "UPDATE hubspot_jobs SET status = 'in_flight', lease_until_ms = $2, leased_by = $3
                  WHERE id = ANY($1)",
                &[&ids, &lease_until, &self.process_id],
            )
            .await
            .map_err(pg("lease"))?;
        }
        tx.commit().await.map_err(pg("lease"))?;
        conn.keep();
        for (job, reason) in &undecodable {
            tracing::warn!(
                job = job.id,
                portal = %job.portal,
                %reason,
                "dead-lettered a job whose stored message could not be decoded"
            );
        }
        Ok(jobs)
    }

    /// Settles (see [`Queue::settle`]).
    async fn record(&self, outcomes: Vec<(JobId, Outcome)>) -> Result<(), QueueError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut all: Vec<i64> = Vec::with_capacity(outcomes.len());
        let mut delivered: Vec<i64> = Vec::new();
        let (mut retry_ids, mut retry_at, mut retry_add, mut retry_err) = (
            Vec::<i64>::new(),
            Vec::<i64>::new(),
            Vec::<i32>::new(),
            Vec::new(),
        );
        let (mut dead_ids, mut dead_reasons) = (Vec::<i64>::new(), Vec::new());
        for (id, outcome) in outcomes {
            let id = to_db(id);
            all.push(id);
            match outcome {
                Outcome::Delivered => delivered.push(id),
                Outcome::Retry {
                    not_before_ms,
                    error,
                    count_attempt,
                } => {
                    retry_ids.push(id);
                    retry_at.push(to_db(not_before_ms));
                    retry_add.push(i32::from(count_attempt));
                    retry_err.push(error);
                }
                Outcome::Dead { reason } => {
                    dead_ids.push(id);
                    dead_reasons.push(reason);
                }
            }
        }
        all.sort_unstable();
        all.dedup();

        let mut conn = self.pool.get().await?;
        let tx = conn.client().transaction().await.map_err(pg("settle"))?;
        // Rows locked in id order, the counter last: concurrent settles cannot deadlock.
        tx.query(
            "SELECT id FROM hubspot_jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[&all],
        )
        .await
        .map_err(pg("settle"))?;
        // Delivered first, then retries, then dead letters: the same end state as applying the
        // outcomes one by one, whatever their order.
        if !delivered.is_empty() {
            let n = tx
                .execute(
                    "DELETE FROM hubspot_jobs
                      WHERE id = ANY($1) AND status IN ('queued', 'in_flight')",
                    &[&delivered],
                )
                .await
                .map_err(pg("settle"))?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO hubspot_counters (name, value) VALUES ('delivered', $1)
                     ON CONFLICT (name) DO UPDATE SET value = hubspot_counters.value + EXCLUDED.value",
                    &[&(n as i64)],
                )
                .await
                .map_err(pg("settle"))?;
            }
        }
        if !retry_ids.is_empty() {
            tx.execute(
                "UPDATE hubspot_jobs AS j
                    SET status = 'queued', not_before_ms = u.not_before_ms,
                        attempts = j.attempts + u.add, last_error = u.error,
                        lease_until_ms = NULL, leased_by = NULL
                   FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[])
                        AS u(id, not_before_ms, add, error)
                  WHERE j.id = u.id AND j.status IN ('queued', 'in_flight')",
                &[&retry_ids, &retry_at, &retry_add, &retry_err],
            )
            .await
            .map_err(pg("settle"))?;
        }
        let now_ms = crate::clock::SystemClock.now_ms();
        let mut added_dead = 0;
        if !dead_ids.is_empty() {
            added_dead = tx
                .execute(DEAD_LETTER, &[&dead_ids, &dead_reasons, &to_db(now_ms)])
                .await
                .map_err(pg("settle"))?;
        }
        let last_prune_ms = self.last_prune_ms.load(Ordering::Relaxed);
        if prune_due(added_dead > 0, last_prune_ms, now_ms) {
            self.prune(&tx, now_ms).await?;
        }
        tx.commit().await.map_err(pg("settle"))?;
        conn.keep();
        Ok(())
    }

    /// Replays dead letters (see [`Queue::replay_dead`]).
    async fn replay(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        let ids: Option<Vec<i64>> = ids.map(|ids| ids.into_iter().map(to_db).collect());
        let mut conn = self.pool.get().await?;
        let tx = conn.client().transaction().await.map_err(pg("replay"))?;
        let portals = tx
            .query(
                "UPDATE hubspot_jobs
                    SET status = 'queued', attempts = 0, not_before_ms = 0, last_error = NULL,
                        failed_at_ms = NULL, lease_until_ms = NULL, leased_by = NULL
                  WHERE id IN (SELECT id FROM hubspot_jobs
                                WHERE status = 'dead' AND ($1::bigint[] IS NULL OR id = ANY($1))
                                ORDER BY id FOR UPDATE)
              RETURNING portal",
                &[&ids],
            )
            .await
            .map_err(pg("replay"))?;
        let n = portals.len();
        let mut names: Vec<String> = portals
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(pg("replay"))?;
        names.sort_unstable();
        names.dedup();
        if !names.is_empty() {
            // Ownership rows normally exist since the first enqueue; make sure.
            tx.execute(
                "INSERT INTO hubspot_portal_owners (portal, owner, until_ms)
                 SELECT p, '', 0 FROM unnest($1::text[]) AS p
                  WHERE NOT EXISTS (SELECT 1 FROM hubspot_portal_owners AS o WHERE o.portal = p)
                 ON CONFLICT (portal) DO NOTHING",
                &[&names],
            )
            .await
            .map_err(pg("replay"))?;
        }
        tx.commit().await.map_err(pg("replay"))?;
        conn.keep();
        Ok(n)
    }

    /// Drops dead letters (see [`Queue::drop_dead`]).
    async fn delete_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        let ids: Option<Vec<i64>> = ids.map(|ids| ids.into_iter().map(to_db).collect());
        let mut conn = self.pool.get().await?;
        let n = conn
            .client()
            .execute(
                "DELETE FROM hubspot_jobs
                  WHERE id IN (SELECT id FROM hubspot_jobs
                                WHERE status = 'dead' AND ($1::bigint[] IS NULL OR id = ANY($1))
                                ORDER BY id FOR UPDATE)",
                &[&ids],
            )
            .await
            .map_err(pg("drop dead letters"))?;
        conn.keep();
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

#[async_trait]
impl Queue for PgQueue {
    async fn enqueue(
        &self,
        portal: &str,
        items: Vec<(String, Event)>,
    ) -> Result<Vec<JobId>, QueueError> {
        let result = self.insert(portal, items).await;
        self.health.note(WriteKind::Ingest, &result);
        result
    }

    async fn lease(&self, portal: &str, now_ms: u64, max: usize) -> Result<Vec<Job>, QueueError> {
        let result = self.take(portal, now_ms, max).await;
        self.health.note(WriteKind::Delivery, &result);
        result
    }

    async fn settle(&self, outcomes: Vec<(JobId, Outcome)>) -> Result<(), QueueError> {
        let result = self.record(outcomes).await;
        self.health.note(WriteKind::Delivery, &result);
        result
    }

    async fn depth(&self) -> Result<usize, QueueError> {
        let n = self
            .query_i64(
                "depth",
                "SELECT count(*) FROM hubspot_jobs WHERE status IN ('queued', 'in_flight')",
            )
            .await?;
        Ok(usize::try_from(n.unwrap_or(0)).unwrap_or(0))
    }

    /// The earliest `not_before_ms` of the portal's waiting jobs, or the earliest lease expiry of
    /// its leased ones (their jobs are offered again then), if any job of it waits or is leased.
    async fn next_due_ms(&self, portal: &str) -> Result<Option<u64>, QueueError> {
        let mut conn = self.pool.get().await?;
        let due: Option<i64> = conn
            .client()
            .query_one(
                "SELECT LEAST(
                    (SELECT min(not_before_ms) FROM hubspot_jobs
                      WHERE portal = $1 AND status = 'queued'),
                    (SELECT min(lease_until_ms) FROM hubspot_jobs
                      WHERE portal = $1 AND status = 'in_flight'))",
                &[&portal],
            )
            .await
            .map_err(pg("next due"))?
            .try_get(0)
            .map_err(pg("next due"))?;
        conn.keep();
        Ok(due.map(from_db))
    }

    async fn status(&self) -> Result<QueueStatus, QueueError> {
        let mut conn = self.pool.get().await?;
        let row = conn
            .client()
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 'queued' AND last_error IS NULL),
                        count(*) FILTER (WHERE status = 'queued' AND last_error IS NOT NULL),
                        count(*) FILTER (WHERE status = 'in_flight'),
                        count(*) FILTER (WHERE status = 'dead'),
                        COALESCE((SELECT value FROM hubspot_counters WHERE name = 'delivered'), 0),
                        COALESCE((SELECT value FROM hubspot_counters WHERE name = 'dead_pruned'), 0)
                   FROM hubspot_jobs",
                &[],
            )
            .await
            .map_err(pg("status"))?;
        let count = |i: usize| -> Result<u64, QueueError> {
            row.try_get::<_, i64>(i).map(from_db).map_err(pg("status"))
        };
        let status = QueueStatus {
            queued: count(0)?,
            retrying: count(1)?,
            in_flight: count(2)?,
            dead: count(3)?,
            delivered: count(4)?,
            dead_pruned: count(5)?,
        };
        conn.keep();
        Ok(status)
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get().await?;
        let rows = conn
            .client()
            .query(
                "SELECT id, portal, key, message, attempts, enqueued_at_ms, last_error,
                        failed_at_ms
                   FROM hubspot_jobs WHERE status = 'dead'
                  ORDER BY failed_at_ms, id LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(pg("dead letters"))?;
        conn.keep();
        rows.iter()
            .map(|row| {
                let (job, _) = job_from_row(row)?;
                let reason: Option<String> = row.try_get(6).map_err(pg("dead letters"))?;
                let failed_at: Option<i64> = row.try_get(7).map_err(pg("dead letters"))?;
                Ok(DeadLetter {
                    job,
                    reason: reason.unwrap_or_default(),
                    failed_at_ms: failed_at.map_or(0, from_db),
                })
            })
            .collect()
    }

    async fn replay_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        let result = self.replay(ids).await;
        self.health.note(WriteKind::Delivery, &result);
        result
    }

    async fn drop_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        let result = self.delete_dead(ids).await;
        self.health.note(WriteKind::Delivery, &result);
        result
    }

    fn write_error(&self) -> Option<String> {
        self.health.error()
    }
}

impl PgQueue {
    /// Deletes dead letters older than the age limit, then the oldest beyond the count limit,
    /// and counts them. One process prunes at a time; the others skip rather than wait.
    async fn prune(&self, tx: &Transaction<'_>, now_ms: u64) -> Result<(), QueueError> {
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
            .await
            .map_err(pg("prune dead letters"))?
            .try_get(0)
            .map_err(pg("prune dead letters"))?;
        if !locked {
            return Ok(());
        }
        // Rows locked in id order, as replay and drop lock them: no deadlock between them.
        let too_old = tx
            .execute(
                "DELETE FROM hubspot_jobs
                  WHERE id IN (SELECT id FROM hubspot_jobs
                                WHERE status = 'dead' AND failed_at_ms < $1
                                ORDER BY id FOR UPDATE)",
                &[&to_db(self.dead_letters.cutoff_ms(now_ms))],
            )
            .await
            .map_err(pg("prune dead letters"))?;
        let too_many = tx
            .execute(
                "DELETE FROM hubspot_jobs
                  WHERE id IN (SELECT id FROM hubspot_jobs
                                WHERE status = 'dead'
                                  AND id IN (SELECT id FROM hubspot_jobs WHERE status = 'dead'
                                              ORDER BY failed_at_ms DESC, id DESC OFFSET $1)
                                ORDER BY id FOR UPDATE)",
                &[&to_db(self.dead_letters.max)],
            )
            .await
            .map_err(pg("prune dead letters"))?;
        let pruned = too_old + too_many;
        if pruned > 0 {
            tx.execute(
                "INSERT INTO hubspot_counters (name, value) VALUES ('dead_pruned', $1)
                 ON CONFLICT (name) DO UPDATE SET value = hubspot_counters.value + EXCLUDED.value",
                &[&to_db(pruned)],
            )
            .await
            .map_err(pg("prune dead letters"))?;
        }
        self.last_prune_ms.store(now_ms, Ordering::Relaxed);
        Ok(())
    }

    async fn query_i64(&self, what: &'static str, sql: &str) -> Result<Option<i64>, QueueError> {
        let mut conn = self.pool.get().await?;
        let value = conn
            .client()
            .query_one(sql, &[])
            .await
            .map_err(pg(what))?
            .try_get(0)
            .map_err(pg(what))?;
        conn.keep();
        Ok(value)
    }
}

/// Walks the portal's waiting and leased jobs in id order and picks the due ones whose key has
/// no earlier job that is leased or not due (MemoryQueue's rule), up to `max`.
async fn choose(
    tx: &Transaction<'_>,
    portal: &str,
    now: i64,
    max: usize,
) -> Result<Vec<(i64, String)>, QueueError> {
    let mut blocked: HashSet<String> = HashSet::new();
    let mut chosen = Vec::new();
    let mut after = 0_i64;
    // Pages grow, so a lease usually reads about `max` rows and a long run of blocked rows
    // costs few round trips.
    let mut page = i64::try_from(max).unwrap_or(i64::MAX).clamp(16, SCAN_PAGE) * 2;
    loop {
        let rows = tx
            .query(SCAN_PENDING, &[&portal, &after, &page])
            .await
            .map_err(pg("lease"))?;
        for row in &rows {
            let id: i64 = row.try_get(0).map_err(pg("lease"))?;
            let key: String = row.try_get(1).map_err(pg("lease"))?;
            let status: &str = row.try_get(2).map_err(pg("lease"))?;
            let not_before: i64 = row.try_get(3).map_err(pg("lease"))?;
            after = id;
            let due = status == "queued" && not_before <= now;
            if due && !blocked.contains(&key) {
                chosen.push((id, key));
                if chosen.len() >= max {
                    return Ok(chosen);
                }
            } else {
                blocked.insert(key);
            }
        }
        if (rows.len() as i64) < page {
            return Ok(chosen);
        }
        page = (page * 2).min(SCAN_PAGE);
    }
}

/// Jobs a lease locked: those to deliver, and those whose stored message cannot be decoded
/// (with the dead-letter reason).
type Locked = (Vec<Job>, Vec<(Job, String)>);

/// Locks the chosen jobs (`SKIP LOCKED`) and keeps them in order, except that a chosen job that
/// could not be locked (another transaction holds it, or it changed meanwhile) blocks the later
/// chosen jobs of its key. A locked job whose message cannot be decoded is set apart; it blocks
/// nothing, as it is about to become a dead letter.
async fn lock_chosen(
    tx: &Transaction<'_>,
    chosen: Vec<(i64, String)>,
    now: i64,
) -> Result<Locked, QueueError> {
    if chosen.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let ids: Vec<i64> = chosen.iter().map(|(id, _)| *id).collect();
    let rows = tx
        .query(LOCK_CHOSEN, &[&ids, &now])
        .await
        .map_err(pg("lease"))?;
    let mut locked: HashMap<i64, Job> = HashMap::with_capacity(rows.len());
    let mut undecodable = Vec::new();
    for row in &rows {
        match job_from_row(row)? {
            (job, None) => {
                locked.insert(to_db(job.id), job);
            }
            (job, Some(reason)) => undecodable.push((job, reason)),
        }
    }
    let mut gaps: HashSet<String> = HashSet::new();
    let mut jobs = Vec::with_capacity(locked.len());
    for (id, key) in chosen {
        match locked.remove(&id) {
            Some(job) if !gaps.contains(&key) => jobs.push(job),
            None if undecodable.iter().any(|(j, _)| to_db(j.id) == id) => {}
            _ => {
                gaps.insert(key);
            }
        }
    }
    Ok((jobs, undecodable))
}

/// Reads columns `id, portal, key, message, attempts, enqueued_at_ms`. A message that cannot be
/// decoded gives the job with a stand-in message and the dead-letter reason.
fn job_from_row(row: &Row) -> Result<(Job, Option<String>), QueueError> {
    let id: i64 = row.try_get(0).map_err(pg("reading a job"))?;
    let text: &str = row.try_get(3).map_err(pg("reading a job"))?;
    let (message, reason) = match serde_json::from_str(text) {
        Ok(message) => (message, None),
        Err(e) => (undecodable_message(), Some(undecodable_reason(&e))),
    };
    let attempts: i32 = row.try_get(4).map_err(pg("reading a job"))?;
    let enqueued_at: i64 = row.try_get(5).map_err(pg("reading a job"))?;
    let job = Job {
        id: from_db(id),
        portal: row.try_get(1).map_err(pg("reading a job"))?,
        key: row.try_get(2).map_err(pg("reading a job"))?,
        message,
        attempts: u32::try_from(attempts).unwrap_or(0),
        enqueued_at_ms: from_db(enqueued_at),
    };
    Ok((job, reason))
}

/// The connection pool (deadpool): idle connections are reused, at most [`POOL_SIZE`] are open,
/// and a connection that saw an error (or whose caller was cancelled) is closed rather than
/// reused, since it may be in the middle of something.
struct Pool {
    inner: deadpool_postgres::Pool,
    /// `user@host:port/db`, for error messages (never the password).
    target: String,
}

/// `url` (`postgres://user:password@host:port/db`, or `key=value` pairs) as a connection config,
/// named `hubspot-cloud` for `pg_stat_activity`, with a 10 s connect timeout unless it says
/// otherwise. The error never contains the password.
fn parse_url(url: &str) -> Result<Config, QueueError> {
    let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
        QueueError(format!(
            "the PostgreSQL URL is not valid: {}",
            error_chain(&e)
        ))
    })?;
    if config.get_application_name().is_none() {
        config.application_name("hubspot-cloud");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// A pool of at most `max_size` connections to `url`, opened as the queue opens its own (for the
/// other users of the same database, such as the shared rate limiter). Connects lazily.
pub fn connection_pool(url: &str, max_size: usize) -> Result<deadpool_postgres::Pool, QueueError> {
    Ok(Pool::new(parse_url(url)?, max_size)?.inner)
}

impl Pool {
    fn new(config: Config, max_size: usize) -> Result<Pool, QueueError> {
        let target = describe_target(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // Only whether the connection is open: a broken one was taken out already.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let inner = deadpool_postgres::Pool::builder(manager)
            .max_size(max_size)
            .build()
            .map_err(|e| {
                QueueError(format!(
                    "cannot set up the connection pool for PostgreSQL at {target}: {e}"
                ))
            })?;
        Ok(Pool { inner, target })
    }

    async fn get(&self) -> Result<Conn, QueueError> {
        let object = self.inner.get().await.map_err(|e| match e {
            PoolError::Backend(e) => QueueError(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.target,
                error_chain(&e)
            )),
            other => QueueError(format!(
                "cannot get a connection to PostgreSQL at {}: {other}",
                self.target
            )),
        })?;
        Ok(Conn {
            object: Some(object),
            reusable: false,
        })
    }
}

/// A pooled connection; back to the pool on drop only after [`Conn::keep`], else closed.
struct Conn {
    object: Option<Object>,
    reusable: bool,
}

impl Conn {
    fn client(&mut self) -> &mut Client {
        self.object
            .as_mut()
            .expect("a pooled connection holds its client until dropped")
    }

    /// The work on this connection finished cleanly: it may be reused.
    fn keep(&mut self) {
        self.reusable = true;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(object) = self.object.take()
            && !self.reusable
        {
            // Out of the pool for good; dropping it closes the connection.
            drop(Object::take(object));
        }
    }
}

fn describe_target(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let user = config.get_user().unwrap_or("?");
    format!(
        "{user}@{}:{}/{}",
        hosts.join(","),
        if ports.is_empty() {
            "5432".to_owned()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or(user)
    )
}

/// Maps a driver error to a [`QueueError`] naming the operation, with the server's message.
fn pg(what: &'static str) -> impl Fn(tokio_postgres::Error) -> QueueError {
    move |e| QueueError(format!("PostgreSQL {what} failed: {}", error_chain(&e)))
}

/// A driver error with its causes, `: `-separated (the server's message is in a cause).
pub(crate) fn error_chain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn to_db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_db(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use hubspot_core::EventType;

    use super::*;

    const NEEDS_PG: &str = "HUBSPOT_TEST_PG_URL is not set: these tests need a PostgreSQL server; \
        run them through scripts/pg-test.sh, which starts a private one: \
        scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored";

    fn message(n: u32) -> Event {
        let mut e = Event::new(EventType::Track);
        e.message_id = Some(format!("m{n}"));
        e
    }

    fn ids(jobs: &[Job]) -> Vec<JobId> {
        jobs.iter().map(|j| j.id).collect()
    }

    /// One delivery round of a process: a lease of each portal, as its per-portal tasks make.
    async fn round(q: &PgQueue, portals: &[&str], now_ms: u64, max: usize) -> Vec<JobId> {
        let mut all = Vec::new();
        for portal in portals {
            all.extend(ids(&q.lease(portal, now_ms, max).await.expect("lease")));
        }
        all
    }

    /// A URL whose connections use a schema of their own, created here: tests never share
    /// tables.
    pub(crate) async fn fresh_schema() -> String {
        let base = std::env::var("HUBSPOT_TEST_PG_URL").unwrap_or_else(|_| panic!("{NEEDS_PG}"));
        let schema = format!("hubspot_test_{:016x}", rand::random::<u64>());
        let (client, connection) =
            tokio_postgres::connect(&base, NoTls)
                .await
                .unwrap_or_else(|e| {
                    panic!("cannot connect to HUBSPOT_TEST_PG_URL: {}", error_chain(&e))
                });
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options=-c%20search_path%3D{schema}")
    }

    fn process(name: &str, lease_ms: u64, owner_ttl_ms: u64) -> PgOptions {
        PgOptions {
            lease: Duration::from_millis(lease_ms),
            owner_ttl: Duration::from_millis(owner_ttl_ms),
            process_id: name.to_owned(),
            dead_letters: DeadLetterLimits::default(),
        }
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn conforms() {
        let url = fresh_schema().await;
        let q = PgQueue::connect(&url, PgOptions::default())
            .await
            .expect("connect");
        crate::queue::conformance::check(&q).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn dead_letters_stay_within_their_limits() {
        let url = fresh_schema().await;
        let options = PgOptions {
            dead_letters: crate::queue::conformance::DEAD_LIMITS,
            ..PgOptions::default()
        };
        let q = PgQueue::connect(&url, options).await.expect("connect");
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("connect to backdate a row");
        tokio::spawn(connection);
        crate::queue::conformance::check_dead_letter_limits(&q, async |id, failed_at_ms| {
            client
                .execute(
                    "UPDATE hubspot_jobs SET failed_at_ms = $2 WHERE id = $1",
                    &[&to_db(id), &to_db(failed_at_ms)],
                )
                .await
                .expect("backdate");
        })
        .await;
    }

    /// Makes the server refuse new job rows, as it does when its disk is full.
    async fn refuse_inserts(client: &Client) {
        client
            .batch_execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$;
                 CREATE TRIGGER refuse BEFORE INSERT ON hubspot_jobs
                 FOR EACH STATEMENT EXECUTE FUNCTION refuse();",
            )
            .await
            .expect("refuse inserts");
    }

    async fn accept_inserts(client: &Client) {
        client
            .batch_execute("DROP TRIGGER refuse ON hubspot_jobs; DROP FUNCTION refuse();")
            .await
            .expect("accept inserts");
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn a_connection_that_saw_an_error_is_closed_not_reused() {
        let url = fresh_schema().await;
        let q = PgQueue::connect(&url, process("A", 60_000, 30_000))
            .await
            .expect("connect");
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("connect to break inserts");
        tokio::spawn(connection);
        let one = || vec![("a".to_owned(), message(1))];
        q.enqueue("p", one()).await.expect("enqueue");
        q.enqueue("p", one()).await.expect("enqueue");
        assert_eq!(q.pool.inner.status().size, 1, "one connection, reused");
        refuse_inserts(&client).await;
        q.enqueue("p", one()).await.expect_err("refused");
        assert_eq!(
            q.pool.inner.status().size,
            0,
            "the connection that saw the error left the pool"
        );
        accept_inserts(&client).await;
        q.enqueue("p", one()).await.expect("a new connection");
        assert_eq!(q.pool.inner.status().size, 1);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn a_failed_write_is_reported_until_a_write_of_its_kind_succeeds() {
        let url = fresh_schema().await;
        let q = PgQueue::connect(&url, process("A", 60_000, 30_000))
            .await
            .expect("connect");
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("connect to break inserts");
        tokio::spawn(connection);
        q.enqueue("p", vec![("a".into(), message(1))])
            .await
            .expect("enqueue");
        assert_eq!(q.write_error(), None);

        refuse_inserts(&client).await;
        let two = vec![("b".into(), message(2)), ("c".into(), message(3))];
        let err = q.enqueue("p", two.clone()).await.expect_err("refused");
        assert!(err.to_string().contains("No space left on device"), "{err}");
        let reported = q.write_error().expect("the refused enqueue is reported");
        assert!(reported.contains("No space left on device"), "{reported}");
        assert_eq!(q.depth().await.expect("depth"), 1, "nothing half-stored");

        // Delivery still writes, and its successes do not hide the refusal.
        let jobs = q.lease("p", 1_000, 10).await.expect("lease");
        q.settle(vec![(jobs[0].id, Outcome::Delivered)])
            .await
            .expect("settle");
        assert!(q.write_error().is_some(), "no enqueue has succeeded yet");

        accept_inserts(&client).await;
        q.enqueue("p", two).await.expect("enqueue");
        assert_eq!(q.write_error(), None, "an enqueue that succeeds clears it");
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn an_undecodable_message_is_dead_lettered_alone() {
        let url = fresh_schema().await;
        let q = PgQueue::connect(&url, PgOptions::default())
            .await
            .expect("connect");
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("connect to damage a row");
        tokio::spawn(connection);
        crate::queue::conformance::check_undecodable(&q, async |id| {
            client
                .execute(
                    "UPDATE hubspot_jobs SET message = '{\"type\": 5' WHERE id = $1",
                    &[&to_db(id)],
                )
                .await
                .expect("damage");
        })
        .await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn a_portal_belongs_to_one_process_until_its_owner_row_expires() {
        let url = fresh_schema().await;
        // Owner rows last 1 s, job leases 5 s; time is the now_ms given to lease.
        let a = PgQueue::connect(&url, process("A", 5_000, 1_000))
            .await
            .expect("connect A");
        let b = PgQueue::connect(&url, process("B", 5_000, 1_000))
            .await
            .expect("connect B");
        let p1 = a
            .enqueue(
                "p1",
                (0..4).map(|i| (format!("k{i}"), message(i))).collect(),
            )
            .await
            .expect("enqueue p1");

        let both = ["p1", "p2"];
        assert_eq!(round(&a, &both, 1_000, 2).await, p1[..2], "A claims p1");
        assert!(
            round(&b, &both, 1_500, 10).await.is_empty(),
            "p1 belongs to A until 2 000"
        );
        let p2 = b
            .enqueue(
                "p2",
                (0..3).map(|i| (format!("k{i}"), message(10 + i))).collect(),
            )
            .await
            .expect("enqueue p2");
        assert_eq!(round(&b, &both, 1_600, 10).await, p2, "B claims p2");
        assert_eq!(
            round(&a, &both, 1_700, 10).await,
            p1[2..],
            "A renews p1 (now until 2 700) and gets none of p2"
        );

        // A dies here.
        assert!(
            round(&b, &both, 2_650, 10).await.is_empty(),
            "A's row is still fresh"
        );
        assert!(
            round(&b, &both, 2_700, 10).await.is_empty(),
            "B owns p1 now, but A's leases run until 6 000 and 6 700"
        );
        assert_eq!(
            round(&b, &both, 6_000, 10).await,
            p1[..2],
            "A's first expired leases come back, to B"
        );

        // A comes back: B's rows are fresh (until 7 000), so A gets nothing.
        assert!(round(&a, &both, 6_700, 10).await.is_empty());
        b.release_portals().await.expect("release");
        let mut taken = round(&a, &both, 6_800, 10).await;
        taken.sort_unstable();
        let mut expected = [&p1[2..], &p2[..]].concat();
        expected.sort_unstable();
        assert_eq!(
            taken, expected,
            "after B releases, A takes both portals and their expired leases"
        );
        let st = a.status().await.expect("status");
        assert_eq!((st.in_flight, st.queued), (7, 0), "{st:?}");
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn an_expired_lease_is_offered_again() {
        let url = fresh_schema().await;
        let q = PgQueue::connect(&url, process("A", 100, 30_000))
            .await
            .expect("connect");
        let enq = q
            .enqueue(
                "p",
                vec![
                    ("a".into(), message(1)),
                    ("a".into(), message(2)),
                    ("b".into(), message(3)),
                ],
            )
            .await
            .expect("enqueue");
        let first = q.lease("p", 1_000, 10).await.expect("lease");
        assert_eq!(ids(&first), enq);
        assert_eq!(
            q.next_due_ms("p").await.expect("next due"),
            Some(1_100),
            "the lease expiry"
        );
        assert!(q.lease("p", 1_099, 10).await.expect("lease").is_empty());
        let again = q.lease("p", 1_100, 10).await.expect("lease");
        assert_eq!(again, first, "the same jobs, attempts unchanged");
        let st = q.status().await.expect("status");
        assert_eq!((st.in_flight, st.queued), (3, 0), "{st:?}");
    }

    /// One lease as a leasing task saw it: (order of the lease, position in it, process, job).
    type Seen = (u64, usize, &'static str, Job);

    /// Two "processes", two tasks each, lease and deliver 6 portals × 40 jobs (7 keys a portal)
    /// until the queue is empty. Returns every job leased, with when and by whom.
    async fn race(owner_ttl_ms: u64) -> (BTreeSet<JobId>, Vec<Seen>, Arc<PgQueue>) {
        let url = fresh_schema().await;
        let a = Arc::new(
            PgQueue::connect(&url, process("A", 60_000, owner_ttl_ms))
                .await
                .expect("A"),
        );
        let b = Arc::new(
            PgQueue::connect(&url, process("B", 60_000, owner_ttl_ms))
                .await
                .expect("B"),
        );
        let mut all = BTreeSet::new();
        for p in 0..6 {
            let items = (0..40)
                .map(|i| (format!("k{}", i % 7), message(p * 100 + i)))
                .collect();
            all.extend(a.enqueue(&format!("p{p}"), items).await.expect("enqueue"));
        }
        let order = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        for (name, q) in [("A", &a), ("B", &b), ("A", &a), ("B", &b)] {
            let (q, order) = (Arc::clone(q), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let mut seen: Vec<Seen> = Vec::new();
                for n in 0..5_000 {
                    // Round-robin over the portals, as a process's per-portal tasks would.
                    let portal = format!("p{}", n % 6);
                    let jobs = q.lease(&portal, 1_000, 7).await.expect("lease");
                    if jobs.is_empty() {
                        if q.depth().await.expect("depth") == 0 {
                            break;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    // Taken before settling: a later job of a key is leased only after this.
                    let n = order.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let outcomes = jobs.iter().map(|j| (j.id, Outcome::Delivered)).collect();
                    seen.extend(jobs.into_iter().enumerate().map(|(i, j)| (n, i, name, j)));
                    q.settle(outcomes).await.expect("settle");
                }
                seen
            }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.extend(t.await.expect("task"));
        }
        (all, seen, a)
    }

    /// No job twice, none missing, and each key's jobs in enqueue order.
    fn check_race(all: &BTreeSet<JobId>, seen: &mut [Seen]) {
        let mut ids = BTreeSet::new();
        for (.., job) in seen.iter() {
            assert!(ids.insert(job.id), "job {} leased twice", job.id);
        }
        assert_eq!(&ids, all, "every job leased exactly once");
        seen.sort_by_key(|(n, i, ..)| (*n, *i));
        let mut last: BTreeMap<(String, String), JobId> = BTreeMap::new();
        for (.., job) in seen.iter() {
            let prev = last.insert((job.portal.clone(), job.key.clone()), job.id);
            assert!(
                prev < Some(job.id),
                "{}/{}: job {} leased after {prev:?}",
                job.portal,
                job.key,
                job.id
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn concurrent_leasers_never_share_a_job_or_a_portal() {
        let (all, mut seen, a) = race(30_000).await;
        check_race(&all, &mut seen);
        let mut leasers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (_, _, name, job) in &seen {
            leasers.entry(job.portal.as_str()).or_default().insert(name);
        }
        for (portal, names) in &leasers {
            assert_eq!(names.len(), 1, "{portal} was delivered by {names:?}");
        }
        assert_eq!(
            a.status().await.expect("status").delivered,
            all.len() as u64
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn without_ownership_skip_locked_alone_keeps_jobs_apart_and_in_order() {
        // owner_ttl 0: every owner row is always expired, so both processes lease from the same
        // portals (one transaction at a time per portal row) while the other's jobs are in
        // flight: the job rows' locks and states alone keep them apart and in order.
        let (all, mut seen, _) = race(0).await;
        check_race(&all, &mut seen);
        let mut leasers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (_, _, name, job) in &seen {
            leasers.entry(job.portal.as_str()).or_default().insert(name);
        }
        assert!(
            leasers.values().any(|names| names.len() == 2),
            "the race did happen: both processes leased from one portal ({leasers:?})"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn concurrent_enqueues_land_exactly_once() {
        let url = fresh_schema().await;
        // Two "processes" starting at once both create the schema safely.
        let (a, b) = tokio::join!(
            PgQueue::connect(&url, PgOptions::default()),
            PgQueue::connect(&url, PgOptions::default())
        );
        let queues = [
            Arc::new(a.expect("connect A")),
            Arc::new(b.expect("connect B")),
        ];
        let mut tasks = Vec::new();
        for t in 0..8u32 {
            let q = Arc::clone(&queues[t as usize % 2]);
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                for call in 0..20u32 {
                    let items: Vec<(String, Event)> = (0..5)
                        .map(|i| (format!("k{i}"), message(t * 10_000 + call * 10 + i)))
                        .collect();
                    let ids = q
                        .enqueue(&format!("p{t}"), items.clone())
                        .await
                        .expect("enqueue");
                    assert!(
                        ids.windows(2).all(|w| w[0] < w[1]),
                        "ids increase in a call"
                    );
                    sent.extend(ids.into_iter().zip(items.into_iter().map(|(_, m)| m)));
                }
                sent
            }));
        }
        let mut sent: BTreeMap<JobId, Event> = BTreeMap::new();
        for t in tasks {
            for (id, m) in t.await.expect("task") {
                assert!(sent.insert(id, m).is_none(), "id {id} given twice");
            }
        }
        assert_eq!(sent.len(), 800);
        assert_eq!(queues[0].depth().await.expect("depth"), 800);
        let mut got: BTreeMap<JobId, Event> = BTreeMap::new();
        for t in 0..8 {
            let jobs = queues[0]
                .lease(&format!("p{t}"), 1_000, 10_000)
                .await
                .expect("lease");
            got.extend(jobs.into_iter().map(|j| (j.id, j.message)));
        }
        assert_eq!(got, sent, "each message stored once, under its id");
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --lib queue::postgres -- --ignored"]
    async fn data_survives_reconnecting() {
        let url = fresh_schema().await;
        let q = PgQueue::connect(&url, process("A", 60_000, 30_000))
            .await
            .expect("connect");
        let enq = q
            .enqueue(
                "p",
                vec![
                    ("a".into(), message(1)),
                    ("b".into(), message(2)),
                    ("c".into(), message(3)),
                ],
            )
            .await
            .expect("enqueue");
        assert_eq!(q.lease("p", 1_000, 10).await.expect("lease").len(), 3);
        q.settle(vec![
            (enq[0], Outcome::Delivered),
            (
                enq[1],
                Outcome::Retry {
                    not_before_ms: 9_000,
                    error: "503".into(),
                    count_attempt: true,
                },
            ),
            (
                enq[2],
                Outcome::Dead {
                    reason: "bad email".into(),
                },
            ),
        ])
        .await
        .expect("settle");
        let before = q.status().await.expect("status");
        drop(q);

        let q = PgQueue::connect(&url, process("A2", 60_000, 30_000))
            .await
            .expect("reconnect");
        let after = q.status().await.expect("status");
        assert_eq!(after, before);
        assert_eq!(
            after,
            QueueStatus {
                queued: 0,
                retrying: 1,
                in_flight: 0,
                dead: 1,
                delivered: 1,
                dead_pruned: 0
            }
        );
        let dead = q.dead_letters(10).await.expect("dead letters");
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (
                dead[0].job.id,
                dead[0].reason.as_str(),
                dead[0].job.message.clone()
            ),
            (enq[2], "bad email", message(3))
        );
        assert!(dead[0].failed_at_ms > 0);
        assert_eq!(q.next_due_ms("p").await.expect("next due"), Some(9_000));
        assert!(
            q.lease("p", 9_000, 10).await.expect("lease").is_empty(),
            "the portal still belongs to the first process (until 31 000)"
        );
        let jobs = q.lease("p", 31_000, 10).await.expect("lease");
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].id, jobs[0].attempts), (enq[1], 1));
        assert_eq!(jobs[0].message, message(2));
    }

    /// Needs no server: nothing listens on port 1.
    #[tokio::test]
    async fn connection_errors_name_the_server_but_not_the_password() {
        let err = PgQueue::connect(
            "postgres://relay:s3cret-pw@127.0.0.1:1/jobs",
            PgOptions::default(),
        )
        .await
        .expect_err("nothing listens on port 1");
        let text = err.to_string();
        assert!(text.contains("relay@127.0.0.1:1/jobs"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        let err = PgQueue::connect(
            "postgres://relay:s3cret-pw@127.0.0.1:notaport/x",
            PgOptions::default(),
        )
        .await
        .expect_err("bad port");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
