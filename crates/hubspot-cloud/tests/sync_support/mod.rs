//! What the Source's test files share to run each case on both destinations: the
//! [`destinations!`] macro, a fresh destination per case ([`db`]) and [`count`] for neutral SQL.
#![allow(clippy::unwrap_used)]

use hubspot_cloud::config::SyncTarget;
use hubspot_cloud::source::{self, db::Db};

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
