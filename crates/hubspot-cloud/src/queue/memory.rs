//! An in-memory [`Queue`]: for the library used without a server, and for tests.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hubspot_core::Event;

use super::{
    DeadLetter, DeadLetterLimits, Job, JobId, Outcome, Queue, QueueError, QueueStatus, prune_due,
};
use crate::clock::{Clock, SystemClock};

#[derive(Debug)]
struct Entry {
    job: Job,
    not_before_ms: u64,
    leased: bool,
    last_error: Option<String>,
}

#[derive(Default)]
struct State {
    next_id: JobId,
    jobs: BTreeMap<JobId, Entry>,
    /// Oldest first: dead letters are appended as they fail.
    dead: Vec<DeadLetter>,
    delivered: u64,
    limits: DeadLetterLimits,
    dead_pruned: u64,
    last_prune_ms: u64,
}

impl State {
    /// Deletes dead letters older than the age limit, then the oldest beyond the count limit.
    fn prune(&mut self, now_ms: u64) {
        let before = self.dead.len();
        let cutoff = self.limits.cutoff_ms(now_ms);
        self.dead.retain(|d| d.failed_at_ms >= cutoff);
        let max = usize::try_from(self.limits.max).unwrap_or(usize::MAX);
        let excess = self.dead.len().saturating_sub(max);
        self.dead.drain(..excess);
        self.dead_pruned += (before - self.dead.len()) as u64;
        self.last_prune_ms = now_ms;
    }
}

/// Jobs in memory, lost on exit.
pub struct MemoryQueue {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        MemoryQueue::with_clock(Arc::new(SystemClock))
    }
}

impl MemoryQueue {
    /// An empty queue, keeping dead letters within the default [`DeadLetterLimits`].
    pub fn new() -> MemoryQueue {
        MemoryQueue::default()
    }

    /// An empty queue that stamps jobs and dead letters with `clock` (tests on paused time).
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryQueue {
        MemoryQueue {
            state: Mutex::default(),
            clock,
        }
    }

    /// An empty queue keeping dead letters within `limits`.
    pub fn with_dead_letter_limits(limits: DeadLetterLimits) -> MemoryQueue {
        let queue = MemoryQueue::default();
        queue.lock().limits = limits;
        queue
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every change is one statement).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(
        &self,
        portal: &str,
        items: Vec<(String, Event)>,
    ) -> Result<Vec<JobId>, QueueError> {
        let enqueued_at_ms = self.clock.now_ms();
        let mut s = self.lock();
        let mut ids = Vec::with_capacity(items.len());
        for (key, message) in items {
            s.next_id += 1;
            let id = s.next_id;
            let job = Job {
                id,
                portal: portal.to_owned(),
                key,
                message,
                attempts: 0,
                enqueued_at_ms,
            };
            s.jobs.insert(
                id,
                Entry {
                    job,
                    not_before_ms: 0,
                    leased: false,
                    last_error: None,
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }

    async fn lease(&self, portal: &str, now_ms: u64, max: usize) -> Result<Vec<Job>, QueueError> {
        let mut s = self.lock();
        // Keys of this portal only: the same key in another portal is another record.
        let mut blocked: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for entry in s.jobs.values_mut().filter(|e| e.job.portal == portal) {
            if out.len() >= max {
                break;
            }
            let due = !entry.leased && entry.not_before_ms <= now_ms;
            if due && !blocked.contains(&entry.job.key) {
                // Consecutive due jobs of one key are leased together: the engine applies them
                // in order (merged into one input).
                entry.leased = true;
                out.push(entry.job.clone());
            } else {
                // Later jobs of this key wait for this one.
                blocked.insert(entry.job.key.clone());
            }
        }
        Ok(out)
    }

    async fn settle(&self, outcomes: Vec<(JobId, Outcome)>) -> Result<(), QueueError> {
        let now_ms = self.clock.now_ms();
        let mut s = self.lock();
        let mut added_dead = false;
        for (id, outcome) in outcomes {
            match outcome {
                Outcome::Delivered => {
                    if s.jobs.remove(&id).is_some() {
                        s.delivered += 1;
                    }
                }
                Outcome::Retry {
                    not_before_ms,
                    error,
                    count_attempt,
                } => {
                    if let Some(e) = s.jobs.get_mut(&id) {
                        e.leased = false;
                        e.not_before_ms = not_before_ms;
                        e.job.attempts += u32::from(count_attempt);
                        e.last_error = Some(error);
                    }
                }
                Outcome::Dead { reason } => {
                    if let Some(e) = s.jobs.remove(&id) {
                        s.dead.push(DeadLetter {
                            job: e.job,
                            reason,
                            failed_at_ms: now_ms,
                        });
                        added_dead = true;
                    }
                }
            }
        }
        if prune_due(added_dead, s.last_prune_ms, now_ms) {
            s.prune(now_ms);
        }
        Ok(())
    }

    async fn depth(&self) -> Result<usize, QueueError> {
        Ok(self.lock().jobs.len())
    }

    async fn next_due_ms(&self, portal: &str) -> Result<Option<u64>, QueueError> {
        Ok(self
            .lock()
            .jobs
            .values()
            .filter(|e| !e.leased && e.job.portal == portal)
            .map(|e| e.not_before_ms)
            .min())
    }

    async fn status(&self) -> Result<QueueStatus, QueueError> {
        let s = self.lock();
        let mut st = QueueStatus {
            dead: s.dead.len() as u64,
            delivered: s.delivered,
            dead_pruned: s.dead_pruned,
            ..QueueStatus::default()
        };
        for e in s.jobs.values() {
            match (e.leased, e.last_error.is_some()) {
                (true, _) => st.in_flight += 1,
                (false, true) => st.retrying += 1,
                (false, false) => st.queued += 1,
            }
        }
        Ok(st)
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self.lock().dead.iter().take(limit).cloned().collect())
    }

    async fn replay_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        let mut s = self.lock();
        let (replay, keep): (Vec<DeadLetter>, Vec<DeadLetter>) = std::mem::take(&mut s.dead)
            .into_iter()
            .partition(|d| ids.as_ref().is_none_or(|ids| ids.contains(&d.job.id)));
        s.dead = keep;
        let n = replay.len();
        for d in replay {
            let mut job = d.job;
            job.attempts = 0;
            s.jobs.insert(
                job.id,
                Entry {
                    job,
                    not_before_ms: 0,
                    leased: false,
                    last_error: None,
                },
            );
        }
        Ok(n)
    }

    async fn drop_dead(&self, ids: Option<Vec<JobId>>) -> Result<usize, QueueError> {
        let mut s = self.lock();
        let before = s.dead.len();
        s.dead
            .retain(|d| ids.as_ref().is_some_and(|ids| !ids.contains(&d.job.id)));
        Ok(before - s.dead.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspot_core::EventType;

    fn ev() -> Event {
        Event::new(EventType::Identify)
    }

    #[tokio::test]
    async fn conforms() {
        crate::queue::conformance::check(&MemoryQueue::new()).await;
    }

    #[tokio::test]
    async fn dead_letters_stay_within_their_limits() {
        let q = MemoryQueue::with_dead_letter_limits(crate::queue::conformance::DEAD_LIMITS);
        crate::queue::conformance::check_dead_letter_limits(&q, async |id, failed_at_ms| {
            let mut s = q.lock();
            let letter = s.dead.iter_mut().find(|d| d.job.id == id).expect("letter");
            letter.failed_at_ms = failed_at_ms;
        })
        .await;
    }

    #[tokio::test]
    async fn lease_keeps_per_key_order_and_retry_blocks_the_key() {
        let q = MemoryQueue::new();
        q.enqueue(
            "p",
            vec![("a".into(), ev()), ("b".into(), ev()), ("a".into(), ev())],
        )
        .await
        .unwrap();
        let first = q.lease("p", 0, 10).await.unwrap();
        assert_eq!(
            first.iter().map(|j| j.id).collect::<Vec<_>>(),
            [1, 2, 3],
            "due jobs of one key lease together, in order"
        );
        q.settle(vec![
            (
                1,
                Outcome::Retry {
                    not_before_ms: 100,
                    error: "503".into(),
                    count_attempt: true,
                },
            ),
            (2, Outcome::Delivered),
            (
                3,
                Outcome::Retry {
                    not_before_ms: 40,
                    error: "503".into(),
                    count_attempt: true,
                },
            ),
        ])
        .await
        .unwrap();
        assert!(
            q.lease("p", 50, 10).await.unwrap().is_empty(),
            "job 3 waits behind job 1's later retry"
        );
        assert_eq!(q.next_due_ms("p").await.unwrap(), Some(40));
        let again = q.lease("p", 100, 10).await.unwrap();
        assert_eq!(
            again.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(),
            [(1, 1), (3, 1)]
        );
        q.settle(vec![
            (
                1,
                Outcome::Dead {
                    reason: "bad".into(),
                },
            ),
            (
                3,
                Outcome::Retry {
                    not_before_ms: 0,
                    error: "x".into(),
                    count_attempt: false,
                },
            ),
        ])
        .await
        .unwrap();
        assert_eq!(q.lease("p", 100, 10).await.unwrap()[0].id, 3);
        assert_eq!(q.dead_letters(10).await.unwrap()[0].reason, "bad");
        assert_eq!(q.depth().await.unwrap(), 1);
        let st = q.status().await.unwrap();
        assert_eq!((st.in_flight, st.dead, st.delivered), (1, 1, 1));
        assert_eq!(q.replay_dead(None).await.unwrap(), 1);
        assert_eq!(q.dead_letters(10).await.unwrap().len(), 0);
        assert_eq!(q.depth().await.unwrap(), 2);
        q.settle(vec![(3, Outcome::Dead { reason: "x".into() })])
            .await
            .unwrap();
        assert_eq!(q.drop_dead(Some(vec![3])).await.unwrap(), 1);
        assert_eq!(q.status().await.unwrap().dead, 0);
    }
}
