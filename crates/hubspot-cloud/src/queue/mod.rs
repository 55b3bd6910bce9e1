//! Where messages wait for delivery. Knows persistence and order, nothing about HubSpot.

#[cfg(test)]
mod conformance;
mod memory;
pub mod postgres;
pub mod sqlite;

pub use memory::MemoryQueue;

use std::time::Duration;

use async_trait::async_trait;
use hubspot_core::{Event, EventType};

/// A job's id: increasing in enqueue order.
pub type JobId = u64;

/// A message waiting for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Id (enqueue order).
    pub id: JobId,
    /// Portal it goes to.
    pub portal: String,
    /// Ordering key, scoped to the portal: jobs of one portal with the same key are leased
    /// strictly in enqueue order, one at a time.
    pub key: String,
    /// The Segment message.
    pub message: Event,
    /// Failed attempts so far (throttling does not count).
    pub attempts: u32,
    /// When it was enqueued (epoch ms): retries of transient failures are bounded by the time
    /// since then, not only by attempts.
    pub enqueued_at_ms: u64,
}

/// How a leased job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Delivered; gone from the queue.
    Delivered,
    /// Try again at `not_before_ms` (epoch ms).
    Retry {
        /// Earliest next try.
        not_before_ms: u64,
        /// The error, kept for `status` and dead letters.
        error: String,
        /// Whether this counts as an attempt (throttling and paused portals do not).
        count_attempt: bool,
    },
    /// Never deliverable: kept as a dead letter with the reason.
    Dead {
        /// Why, in words a person understands (HubSpot's message where there is one).
        reason: String,
    },
}

/// A dead-lettered message.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// The job as it was last attempted. A message the store could not decode reads as an event
    /// of type `undecodable` with nothing else; its stored text stays in the store to inspect.
    pub job: Job,
    /// Why it can never be delivered (HubSpot's message where there is one).
    pub reason: String,
    /// When it was dead-lettered (epoch ms).
    pub failed_at_ms: u64,
}

/// Counts for `status` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStatus {
    /// Waiting, never tried.
    pub queued: u64,
    /// Waiting after a failed or throttled attempt.
    pub retrying: u64,
    /// Leased by a delivery process right now.
    pub in_flight: u64,
    /// Dead letters kept.
    pub dead: u64,
    /// Delivered since the queue was created (rows themselves are pruned).
    pub delivered: u64,
    /// Dead letters deleted by [`DeadLetterLimits`] since the queue was created.
    pub dead_pruned: u64,
}

/// How many dead letters a queue keeps, and for how long, so a long outage or a bad deploy
/// cannot fill the disk with them. `settle` deletes the oldest beyond `max` and those older than
/// `max_age`, counted in [`QueueStatus::dead_pruned`]. It does so when it adds dead letters, and
/// otherwise at most once per [`PRUNE_INTERVAL_MS`], so settling costs nothing more as a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadLetterLimits {
    /// Most dead letters kept (the newest). Default 100,000.
    pub max: u64,
    /// Dead letters older than this are deleted. Default 168 h (a week).
    pub max_age: Duration,
}

impl Default for DeadLetterLimits {
    fn default() -> DeadLetterLimits {
        DeadLetterLimits {
            max: 100_000,
            max_age: Duration::from_secs(168 * 3_600),
        }
    }
}

impl DeadLetterLimits {
    /// Dead letters that failed before this (epoch ms) are too old at `now_ms`.
    fn cutoff_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A settle that adds no dead letter prunes by age at most this often (ms).
pub const PRUNE_INTERVAL_MS: u64 = 60_000;

/// Whether a settle prunes dead letters: when it adds some, or when the last prune is
/// [`PRUNE_INTERVAL_MS`] old.
fn prune_due(added_dead: bool, last_prune_ms: u64, now_ms: u64) -> bool {
    added_dead || now_ms.saturating_sub(last_prune_ms) >= PRUNE_INTERVAL_MS
}

/// The dead-letter reason of a job whose stored message cannot be decoded (damaged or edited by
/// hand): it can never be delivered, and must not fail the lease of every job beside it.
fn undecodable_reason(error: &dyn std::fmt::Display) -> String {
    format!("the stored message could not be decoded: {error}")
}

/// The message a dead letter shows when its stored message cannot be decoded.
fn undecodable_message() -> Event {
    Event::new(EventType::Other("undecodable".into()))
}

/// The two kinds of writes [`Queue::write_error`] tracks apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteKind {
    /// Enqueues: new messages.
    Ingest,
    /// Everything else: leases, settles, replays, drops, recovery.
    Delivery,
}

/// The last write error of each kind, for [`Queue::write_error`].
#[derive(Default)]
struct WriteHealth {
    ingest: std::sync::Mutex<Option<String>>,
    delivery: std::sync::Mutex<Option<String>>,
}

impl WriteHealth {
    /// Records how a write of `kind` ended.
    fn note<T>(&self, kind: WriteKind, result: &Result<T, QueueError>) {
        let slot = match kind {
            WriteKind::Ingest => &self.ingest,
            WriteKind::Delivery => &self.delivery,
        };
        // Plain data: whatever panicked while holding the lock left it consistent.
        *slot.lock().unwrap_or_else(|p| p.into_inner()) =
            result.as_ref().err().map(ToString::to_string);
    }

    /// The ingest error, else the delivery error.
    fn error(&self) -> Option<String> {
        [&self.ingest, &self.delivery]
            .iter()
            .find_map(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// A queue failure (storage unavailable, corrupt row).
#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

/// Durable or in-memory job storage.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Appends messages for a portal, each with its ordering key: all or none, and (for a
    /// durable queue) on disk before it returns.
    async fn enqueue(
        &self,
        portal: &str,
        items: Vec<(String, Event)>,
    ) -> Result<Vec<JobId>, QueueError>;
    /// Leases up to `max` of `portal`'s jobs that are due at `now_ms`, in enqueue order, never a
    /// job whose key has an earlier job of the portal still waiting or leased. Consecutive due
    /// jobs of one key may be leased together. Other portals' jobs are neither leased nor looked
    /// at, so each portal is delivered at its own pace. A durable queue also re-offers the
    /// portal's jobs whose lease expired (their process died).
    async fn lease(&self, portal: &str, now_ms: u64, max: usize) -> Result<Vec<Job>, QueueError>;
    /// Records how leased jobs ended.
    async fn settle(&self, outcomes: Vec<(JobId, Outcome)>) -> Result<(), QueueError>;
    /// Jobs not yet delivered or dead.
    async fn depth(&self) -> Result<usize, QueueError>;
    /// The earliest time one of `portal`'s waiting jobs becomes due, if any job of it waits.
    async fn next_due_ms(&self, portal: &str) -> Result<Option<u64>, QueueError>;
    /// Counts by state.
    async fn status(&self) -> Result<QueueStatus, QueueError>;
    /// Dead letters, oldest first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Puts dead letters back in the queue (attempts reset); `None` = all. Returns how many.
    async fn replay_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError>;
    /// Deletes dead letters; `None` = all. Returns how many.
    async fn drop_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError>;
    /// Called once by the delivering process at start when it is the only one (an embedded
    /// queue): jobs still leased belong to a process that died, so they are offered again now
    /// rather than after their lease expires. Returns how many. Shared queues rely on lease
    /// expiry and ownership instead, and do nothing here.
    async fn recover(&self) -> Result<usize, QueueError> {
        Ok(0)
    }
    /// The error of the most recent failed write, until a write of the same kind succeeds:
    /// ingest (enqueue) and delivery (lease, settle, replay, …) are tracked apart, so a store
    /// that refuses new messages while it still delivers (a full outbox draining) keeps saying
    /// so. For a health check to report that the store cannot write. A queue whose writes cannot
    /// fail answers `None`.
    fn write_error(&self) -> Option<String> {
        None
    }
}
