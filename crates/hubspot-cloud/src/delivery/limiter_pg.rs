//! A portal's rate window kept in PostgreSQL, shared by every process on the database (the
//! `[queue] kind = "postgres"` mode): relays, their scheduled syncs and `hubspot-cloud sync`
//! runs together stay within the portal's `rate_max` per `rate_interval`.
//!
//! One table, `hubspot_rate_permits (portal, sender, at_ms)`: one row per request sent in the
//! current window. A permit is one call of the function `hubspot_rate_take` (one round trip,
//! its statement prepared once per connection), which, in its own transaction:
//! 1. takes the portal's transaction-scoped advisory lock, so takers of one portal go one at a
//!    time and never two decide on the same count (other portals are not held up);
//! 2. reads the time from the database's clock (after the lock, so a portal's permits are
//!    stamped in the order they are granted, and every process shares one clock);
//! 3. deletes the portal's permits older than the window: the table holds at most `rate_max`
//!    rows per portal, and a dead process's permits expire with the window like any other;
//! 4. counts the rest: with `rate_max` of them, the answer is how long until the oldest leaves;
//!    for sync while delivery is busy (this process's flag, or a delivery permit in the
//!    window, whichever process took it), also with its share of them;
//! 5. else inserts the permit and answers 0.
//!
//! The rules are [`SharedWindow`](super::limiter::SharedWindow)'s; its pure tests state them,
//! and this module's tests check the database keeps them under concurrent processes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::limiter::{Sender, sync_max};
use crate::queue::QueueError;
use crate::queue::postgres::error_chain;

/// Advisory lock key that serialises creating the limiter's table and function ("hubspotr").
const SCHEMA_LOCK: i64 = 0x6875_6273_706f_7472;

/// The table, its index and the taking function; running it again changes nothing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hubspot_rate_permits (
    portal TEXT   NOT NULL,
    sender TEXT   NOT NULL CHECK (sender IN ('delivery', 'sync')),
    at_ms  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS hubspot_rate_permits_portal ON hubspot_rate_permits (portal, at_ms);
CREATE OR REPLACE FUNCTION hubspot_rate_take(
    p_portal TEXT, p_sender TEXT, p_max INT, p_sync_max INT, p_interval_ms BIGINT,
    p_delivery_busy BOOLEAN
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    now_ms BIGINT;
    taken INT;
    oldest BIGINT;
    sync_taken INT;
    sync_oldest BIGINT;
    delivery_recent BOOLEAN;
    wait_ms BIGINT := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('hubspot_rate:' || p_portal, 0));
    now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000);
    DELETE FROM hubspot_rate_permits
     WHERE portal = p_portal AND at_ms <= now_ms - p_interval_ms;
    SELECT count(*), min(at_ms),
           count(*) FILTER (WHERE sender = 'sync'), min(at_ms) FILTER (WHERE sender = 'sync'),
           coalesce(bool_or(sender = 'delivery'), false)
      INTO taken, oldest, sync_taken, sync_oldest, delivery_recent
      FROM hubspot_rate_permits WHERE portal = p_portal;
    IF taken >= p_max THEN
        wait_ms := oldest + p_interval_ms - now_ms;
    END IF;
    IF p_sender = 'sync' AND (p_delivery_busy OR delivery_recent) AND sync_taken >= p_sync_max THEN
        wait_ms := greatest(wait_ms, sync_oldest + p_interval_ms - now_ms);
    END IF;
    IF wait_ms > 0 THEN
        RETURN wait_ms;
    END IF;
    INSERT INTO hubspot_rate_permits (portal, sender, at_ms) VALUES (p_portal, p_sender, now_ms);
    RETURN 0;
END
$$;
";

/// How long a taker waits before asking again when PostgreSQL does not answer.
const RETRY_UNREACHABLE: Duration = Duration::from_secs(1);

/// The rate windows of every portal, in one PostgreSQL database. Cheap to clone.
#[derive(Clone)]
pub struct PgLimiter {
    pool: deadpool_postgres::Pool,
}

impl std::fmt::Debug for PgLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLimiter").finish_non_exhaustive()
    }
}

impl PgLimiter {
    /// The limiter on `pool`'s database, creating its table and function if they are missing
    /// (under an advisory lock, so processes starting together are safe).
    pub async fn new(pool: deadpool_postgres::Pool) -> Result<PgLimiter, QueueError> {
        let fail = |e: tokio_postgres::Error| {
            QueueError(format!(
                "PostgreSQL rate limiter setup failed: {}",
                error_chain(&e)
            ))
        };
        let mut conn = pool.get().await.map_err(|e| {
            QueueError(format!(
                "cannot connect to PostgreSQL for the rate limiter: {e}"
            ))
        })?;
        let tx = conn.transaction().await.map_err(fail)?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({SCHEMA_LOCK});\n{SCHEMA}"
        ))
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(PgLimiter { pool })
    }

    /// The window of `portal`: at most `max` requests in any `interval` plus `margin`, sync
    /// keeping to `sync_share` of them while delivery is busy.
    pub fn window(
        &self,
        portal: &str,
        max: usize,
        interval: Duration,
        margin: Duration,
        sync_share: f64,
    ) -> PgWindow {
        let max = max.max(1);
        PgWindow {
            pool: self.pool.clone(),
            portal: portal.to_owned(),
            max: i32::try_from(max).unwrap_or(i32::MAX),
            sync_max: i32::try_from(sync_max(max, sync_share)).unwrap_or(i32::MAX),
            interval_ms: i64::try_from((interval + margin).as_millis()).unwrap_or(i64::MAX),
            unreachable: AtomicBool::new(false),
        }
    }
}

/// One portal's window in PostgreSQL (see the module documentation).
pub struct PgWindow {
    pool: deadpool_postgres::Pool,
    portal: String,
    max: i32,
    sync_max: i32,
    interval_ms: i64,
    /// The last attempt failed (logged once per outage, not once a second).
    unreachable: AtomicBool,
}

impl PgWindow {
    /// Takes a permit for `sender` if the window has room (answers zero), else answers how long
    /// to wait before asking again. While PostgreSQL does not answer, no permit is granted
    /// (a process cut off from the others cannot know what they sent): the caller waits and
    /// asks again, with one warning per outage.
    pub async fn take(&self, sender: Sender, delivery_busy: bool) -> Duration {
        match self.try_take(sender, delivery_busy).await {
            Ok(wait_ms) => {
                if self.unreachable.swap(false, Ordering::Relaxed) {
                    tracing::warn!(portal = %self.portal, "the shared rate limiter answers again");
                }
                Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
            }
            Err(error) => {
                if !self.unreachable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(portal = %self.portal, %error, "the shared rate limiter in PostgreSQL does not answer: HubSpot calls wait until it does");
                }
                RETRY_UNREACHABLE
            }
        }
    }

    async fn try_take(&self, sender: Sender, delivery_busy: bool) -> Result<i64, String> {
        let conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let statement = conn
            .prepare_cached("SELECT hubspot_rate_take($1, $2, $3, $4, $5, $6)")
            .await
            .map_err(|e| error_chain(&e))?;
        let row = conn
            .query_one(
                &statement,
                &[
                    &self.portal,
                    &sender.as_str(),
                    &self.max,
                    &self.sync_max,
                    &self.interval_ms,
                    &delivery_busy,
                ],
            )
            .await
            .map_err(|e| error_chain(&e))?;
        row.try_get(0).map_err(|e| error_chain(&e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use fake_hubspot::{DEFAULT_TOKEN, FakeConfig, RateLimits};

    use super::*;
    use crate::client::{Credentials, HubSpotClient};
    use crate::clock::SystemClock;
    use crate::delivery::{BreakerConfig, Pacer, RateBudget};
    use crate::queue::postgres::connection_pool;
    use crate::queue::postgres::tests::fresh_schema;

    /// A limiter as one process opens it: a pool of its own on the test's schema.
    async fn process(url: &str) -> PgLimiter {
        PgLimiter::new(connection_pool(url, 2).unwrap())
            .await
            .unwrap()
    }

    async fn permits(url: &str, portal: &str) -> i64 {
        let pool = connection_pool(url, 1).unwrap();
        let conn = pool.get().await.unwrap();
        conn.query_one(
            "SELECT count(*) FROM hubspot_rate_permits WHERE portal = $1",
            &[&portal],
        )
        .await
        .unwrap()
        .get(0)
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run through scripts/pg-test.sh"]
    async fn a_dead_process_permits_expire_with_the_window_and_the_table_stays_bounded() {
        let url = fresh_schema().await;
        let interval = Duration::from_millis(400);
        {
            let dead = process(&url).await;
            let w = dead.window("p", 5, interval, Duration::ZERO, 0.5);
            for _ in 0..5 {
                assert_eq!(w.take(Sender::Delivery, true).await, Duration::ZERO);
            }
        }
        // The process is gone; its five permits fill the window until they expire.
        let alive = process(&url).await;
        let w = alive.window("p", 5, interval, Duration::ZERO, 0.5);
        let wait = w.take(Sender::Delivery, true).await;
        assert!(!wait.is_zero() && wait <= interval, "{wait:?}");
        tokio::time::sleep(wait).await;
        for _ in 0..5 {
            let mut wait = w.take(Sender::Delivery, true).await;
            while !wait.is_zero() {
                tokio::time::sleep(wait).await;
                wait = w.take(Sender::Delivery, true).await;
            }
        }
        assert_eq!(permits(&url, "p").await, 5, "expired permits are deleted");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run through scripts/pg-test.sh"]
    async fn concurrent_takers_in_four_processes_get_exactly_the_window() {
        let url = fresh_schema().await;
        let mut takers = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let limiter = PgLimiter::new(connection_pool(&url, 8).unwrap())
                .await
                .unwrap();
            let w = Arc::new(limiter.window("p", 10, Duration::from_secs(60), Duration::ZERO, 0.5));
            for k in 0..16 {
                let w = w.clone();
                let sender = if k % 2 == 0 {
                    Sender::Delivery
                } else {
                    Sender::Sync
                };
                takers.spawn(async move { w.take(sender, false).await.is_zero() });
            }
        }
        let mut granted = 0;
        while let Some(r) = takers.join_next().await {
            granted += usize::from(r.unwrap());
        }
        assert_eq!(granted, 10, "64 simultaneous takers, a window of 10");
        assert_eq!(permits(&url, "p").await, 10);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run through scripts/pg-test.sh"]
    async fn another_process_delivering_limits_sync_to_its_share() {
        let url = fresh_schema().await;
        let minute = Duration::from_secs(60);
        let (relay, syncer) = (process(&url).await, process(&url).await);
        let delivery = relay.window("p", 10, minute, Duration::ZERO, 0.5);
        let sync = syncer.window("p", 10, minute, Duration::ZERO, 0.5);
        // No delivery anywhere: sync may take the whole window.
        let other = syncer.window("q", 10, minute, Duration::ZERO, 0.5);
        for _ in 0..10 {
            assert_eq!(other.take(Sender::Sync, false).await, Duration::ZERO);
        }
        // The relay delivered once: the syncing process, which has no delivery of its own,
        // keeps to five, and the relay still has the other four.
        assert_eq!(delivery.take(Sender::Delivery, true).await, Duration::ZERO);
        for _ in 0..5 {
            assert_eq!(sync.take(Sender::Sync, false).await, Duration::ZERO);
        }
        assert!(!sync.take(Sender::Sync, false).await.is_zero());
        for _ in 0..4 {
            assert_eq!(delivery.take(Sender::Delivery, true).await, Duration::ZERO);
        }
        assert!(!delivery.take(Sender::Delivery, true).await.is_zero());
    }

    /// Two processes' pacers (each with its own limiter and connections), two callers each,
    /// all calling one portal as fast as they are let.
    async fn two_processes_calling(budgets: [RateBudget; 2]) -> fake_hubspot::FakeState {
        const RATE: u32 = 8;
        let interval = Duration::from_millis(1_000);
        let fake = fake_hubspot::start(FakeConfig::default().with_limits(RateLimits {
            max_per_interval: RATE,
            interval,
            daily_max: 1_000_000,
            search_per_second: 1_000,
        }))
        .await
        .unwrap();
        let mut callers = tokio::task::JoinSet::new();
        for budget in budgets {
            let client = Arc::new(HubSpotClient::new(
                &fake.base_url,
                Credentials::PrivateApp {
                    token: DEFAULT_TOKEN.into(),
                },
                Duration::from_secs(30),
            ));
            let pacer = Pacer::new(
                "main",
                client.clone(),
                Arc::new(SystemClock),
                budget.window(
                    "main",
                    RATE as usize,
                    interval,
                    Duration::from_millis(100),
                    0.5,
                ),
                BreakerConfig::default(),
                Arc::new(AtomicU64::new(0)),
            );
            // A relay's delivery and a sync in each process.
            for pacer in [pacer.clone(), pacer.for_sync()] {
                let client = client.clone();
                callers.spawn(async move {
                    for _ in 0..6 {
                        pacer
                            .call(|| client.list_owners(false, None))
                            .await
                            .unwrap();
                    }
                });
            }
        }
        while let Some(r) = callers.join_next().await {
            r.unwrap();
        }
        fake.state()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: run through scripts/pg-test.sh"]
    async fn two_processes_sharing_postgres_stay_within_the_portal_rate() {
        let url = fresh_schema().await;
        let shared = [
            RateBudget::Shared(process(&url).await),
            RateBudget::Shared(process(&url).await),
        ];
        let state = two_processes_calling(shared).await;
        assert_eq!(state.total_requests, 24);
        assert_eq!(state.rate_limited, 0, "429s with a shared window");
        assert!(state.max_requests_in_window <= 8);
        // The control: each process with its own window sends twice the rate.
        let apart = two_processes_calling([RateBudget::Process, RateBudget::Process]).await;
        assert!(
            apart.rate_limited > 0,
            "per-process windows should overrun the portal's rate"
        );
    }
}
