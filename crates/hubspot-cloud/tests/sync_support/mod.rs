//! What the Source's test files share: the fake and a client of it ([`Env`]), a sync of it
//! ([`Env::sync`]), and, to run each case on both destinations, the [`destinations!`] macro, a
//! fresh destination per case ([`db`]) and [`count`] for neutral SQL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use fake_hubspot::{DEFAULT_TOKEN, FakeConfig, RateLimits};
use hubspot_cloud::client::{Credentials, HubSpotClient};
use hubspot_cloud::clock::SystemClock;
use hubspot_cloud::config::{PropertySelection, SyncTarget};
use hubspot_cloud::delivery::RateBudget;
use hubspot_cloud::source::{self, Source, SyncOptions, SyncReport, db::Db};
use serde_json::Value;

/// A running fake HubSpot and a client of it.
pub struct Env {
    pub fake: fake_hubspot::FakeHandle,
    pub client: Arc<HubSpotClient>,
    pub http: reqwest::Client,
}

/// A client of the fake at `base_url` with its default token.
pub fn client(base_url: &str) -> Arc<HubSpotClient> {
    Arc::new(HubSpotClient::new(
        base_url,
        Credentials::PrivateApp {
            token: DEFAULT_TOKEN.into(),
        },
        Duration::from_secs(30),
    ))
}

/// A fake with limits high enough that tests of thousands of records do not wait on them.
pub async fn env(config: FakeConfig) -> Env {
    let fake = fake_hubspot::start(config.with_limits(RateLimits {
        max_per_interval: 100_000,
        interval: Duration::from_secs(10),
        daily_max: 10_000_000,
        search_per_second: 100_000,
    }))
    .await
    .unwrap();
    Env {
        client: client(&fake.base_url),
        fake,
        http: reqwest::Client::new(),
    }
}

impl Env {
    /// One of the fake's `/_fake/{path}` controls; answers its JSON.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/_fake/{path}", self.fake.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    /// A sync of portal `main` into `conn`, requiring every collection to succeed.
    pub async fn sync(&self, conn: &mut Db, options: &SyncOptions) -> SyncReport {
        let report = Source::new(
            "main",
            self.client.clone(),
            Arc::new(SystemClock),
            &RateBudget::Process,
            100_000,
            Duration::from_secs(10),
            1.0,
        )
        .sync(conn, options)
        .await;
        for t in &report.tables {
            assert_eq!(t.error, None, "{}", t.collection);
        }
        report
    }
}

/// A run of `collections` with the defaults (an hour's lag, default properties).
pub fn options(collections: &[&str]) -> SyncOptions {
    SyncOptions {
        collections: collections.iter().map(|c| (*c).to_owned()).collect(),
        full_refresh: false,
        lag: Duration::from_secs(3600),
        properties: PropertySelection::Default,
        max_pages: None,
        associations_full_every: Duration::from_secs(24 * 3600),
        email_history: Duration::from_secs(30 * 24 * 3600),
    }
}

/// Where a case's tables go.
#[derive(Clone, Copy, Debug)]
pub enum Dest {
    Sqlite,
    Postgres,
}

/// Why a postgres case cannot run without `HUBSPOT_TEST_PG_URL`.
pub const NEEDS_PG: &str = "HUBSPOT_TEST_PG_URL is not set: the postgres cases need a PostgreSQL \
    server; run them through scripts/pg-test.sh, which starts a private one: \
    scripts/pg-test.sh cargo test -p hubspot-cloud --test sync --test sync_email --test sync_more \
    -- --ignored";

/// A fresh destination: a new SQLite file, or a new schema of the test server.
pub async fn db(dest: Dest) -> Db {
    let target = match dest {
        Dest::Sqlite => SyncTarget::Sqlite(
            std::env::temp_dir().join(format!("sync-{}.db", uuid::Uuid::new_v4())),
        ),
        Dest::Postgres => SyncTarget::Postgres {
            url: std::env::var("HUBSPOT_TEST_PG_URL").unwrap_or_else(|_| panic!("{NEEDS_PG}")),
            schema: format!("sync_test_{:016x}", rand::random::<u64>()),
        },
    };
    source::open_for_sync(&target, "main").await.unwrap()
}

/// The first column of the first row, as a number (booleans 0/1).
pub async fn count(conn: &Db, sql: &str) -> i64 {
    conn.sql()
        .query_opt(sql, &[])
        .await
        .unwrap()
        .and_then(|r| r.int(0))
        .unwrap()
}

/// Each case (an `async fn case(dest: Dest)` of the test file) against SQLite, in `sqlite::`,
/// and against PostgreSQL when asked (`--ignored`), in `postgres::`.
macro_rules! destinations {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Dest::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: run through scripts/pg-test.sh with -- --ignored"]
                async fn $case() {
                    super::$case(super::Dest::Postgres).await
                }
            )*
        }
    };
}
