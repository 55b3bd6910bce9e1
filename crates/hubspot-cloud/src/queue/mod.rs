//! Where messages wait for delivery. Knows persistence and order, nothing about HubSpot.

mod memory;

pub use memory::MemoryQueue;

use async_trait::async_trait;
use hubspot_core::Event;

/// A job's id: increasing in enqueue order.
pub type JobId = u64;

/// A message waiting for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Id (enqueue order).
    pub id: JobId,
    /// Portal it goes to.
    pub portal: String,
    /// Ordering key: jobs with the same key are leased strictly in enqueue order, one at a time.
    pub key: String,
    /// The Segment message.
    pub message: Event,
    /// Failed attempts so far (throttling does not count).
    pub attempts: u32,
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

/// A queue failure (storage unavailable, corrupt row).
#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

/// Durable or in-memory job storage.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Appends messages for a portal, each with its ordering key.
    async fn enqueue(
        &self,
        portal: &str,
        items: Vec<(String, Event)>,
    ) -> Result<Vec<JobId>, QueueError>;
    /// Leases up to `max` jobs that are due at `now_ms`, in enqueue order, never a job whose key
    /// has an earlier job still waiting or leased.
    async fn lease(&self, now_ms: u64, max: usize) -> Result<Vec<Job>, QueueError>;
    /// Records how leased jobs ended.
    async fn settle(&self, outcomes: Vec<(JobId, Outcome)>) -> Result<(), QueueError>;
    /// Jobs not yet delivered or dead.
    async fn depth(&self) -> Result<usize, QueueError>;
    /// The earliest time a waiting job becomes due, if any job waits.
    async fn next_due_ms(&self) -> Result<Option<u64>, QueueError>;
}
