//! Wiring from a [`Config`]: the queue it names and an engine for its portals. Shared by every
//! CLI command and by tests that run the relay in-process.

use std::sync::Arc;
use std::time::Duration;

use crate::client::HubSpotClient;
use crate::clock::SystemClock;
use crate::config::{Config, QueueKind};
use crate::delivery::limiter_pg::PgLimiter;
use crate::delivery::{Engine, EngineConfig, Portal, RateBudget};
use crate::queue::postgres::{PgOptions, PgQueue, connection_pool};
use crate::queue::sqlite::{SqliteOptions, SqliteQueue};
use crate::queue::{DeadLetterLimits, MemoryQueue, Queue, QueueError};

/// Opens the configured queue (`sqlite` file, shared `postgres`, or `memory`).
pub async fn open_queue(config: &Config) -> Result<Arc<dyn Queue>, QueueError> {
    let lease = Duration::from_millis(config.queue.lease_ms);
    let dead_letters = DeadLetterLimits {
        max: config.queue.dead_letter_max,
        max_age: Duration::from_secs(config.queue.dead_letter_max_age_hours.saturating_mul(3_600)),
    };
    Ok(match config.queue.kind {
        QueueKind::Postgres => {
            let url = config.queue.url.as_deref().unwrap_or_default();
            let owner_ttl = Duration::from_millis(config.queue.owner_ttl_ms);
            Arc::new(
                PgQueue::connect(
                    url,
                    PgOptions {
                        lease,
                        owner_ttl,
                        dead_letters,
                        ..PgOptions::default()
                    },
                )
                .await?,
            )
        }
        QueueKind::Memory => Arc::new(MemoryQueue::with_dead_letter_limits(dead_letters)),
        QueueKind::Sqlite => Arc::new(SqliteQueue::open(
            &config.queue.path,
            SqliteOptions {
                lease,
                dead_letters,
                check_integrity: config.queue.check_integrity,
                max_page_count: config.queue.max_page_count,
                ..SqliteOptions::default()
            },
        )?),
    })
}

/// The portals of the config, each with its client.
pub fn portals(config: &Config) -> Vec<Portal> {
    config
        .portals
        .iter()
        .map(|p| Portal {
            name: p.name.clone(),
            api: Arc::new(HubSpotClient::new(
                &config.hubspot.base_url,
                p.credentials(),
                config.timeout(),
            )),
            mapping: p.mapping(),
            rate_max: p.rate_max,
            rate_interval: std::time::Duration::from_millis(p.rate_interval_ms),
        })
        .collect()
}

/// Where the portals' rate windows live: shared in PostgreSQL when the queue is there (several
/// processes may call the same portals), else in this process.
pub async fn rate_budget(config: &Config) -> Result<RateBudget, QueueError> {
    Ok(match (config.queue.kind, config.queue.url.as_deref()) {
        (QueueKind::Postgres, Some(url)) => {
            // Two connections: permits are one short statement each.
            RateBudget::Shared(PgLimiter::new(connection_pool(url, 2)?).await?)
        }
        _ => RateBudget::Process,
    })
}

/// An engine delivering from `queue` to the config's portals, their windows in `budget`.
pub fn engine(
    config: &Config,
    queue: Arc<dyn Queue>,
    budget: RateBudget,
) -> Arc<Engine<dyn Queue>> {
    let mut engine = EngineConfig {
        batch_wait: Duration::from_millis(config.server.batch_wait_ms),
        sync_share: config.sync.max_share,
        rate_budget: budget,
        ..EngineConfig::default()
    };
    engine.retry.window = Duration::from_secs(config.hubspot.retry_window_hours * 3600);
    Arc::new(Engine::new(
        queue,
        portals(config),
        engine,
        Arc::new(SystemClock),
    ))
}
