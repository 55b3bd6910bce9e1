//! The HubSpot Source: a portal's CRM objects (`contacts`, `companies`, `deals`, `tickets`, its
//! custom objects) and what hangs off them into SQLite or PostgreSQL tables, incrementally,
//! with no missed change and no duplicate row.
//!
//! - [`db`]: the two destinations behind one SQL surface, so each table is written once.
//! - [`crm`]: one object type streamed by a keyset over search, plus deletes and restores.
//! - [`custom`]: the portal's custom object types (`/crm/v3/schemas`), each a CRM collection.
//! - [`store`]: the tables and their typed property columns.
//! - [`state`]: the cursor, committed with the page it covers.
//! - [`associations`]: links between those records, re-read with each changed page and in a
//!   periodic full pass.
//! - [`identities`]: contacts' identity profiles, read with their links.
//! - [`lists`]: contact lists and their memberships, read whole every run.
//! - [`forms`]: form submissions, newest first down to a cursor per form.
//! - [`owners`]: the owners records refer to, read whole every run.
//! - [`pipelines`]: deal and ticket pipelines and their stages, read whole every run.
//! - [`email`]: email events and subscription changes over a look-back window, each email's
//!   subscription state, and email campaigns with their counters ([`email_store`]: their
//!   tables).
//! - [`schedule`]: `serve`'s periodic runs.
//!
//! Every HubSpot call goes through the portal's [`Pacer`], the limiter delivery uses.

pub mod associations;
pub mod crm;
pub mod custom;
pub mod db;
pub mod email;
pub mod email_store;
pub mod forms;
pub mod identities;
pub mod lists;
pub mod owners;
pub mod pipelines;
pub mod schedule;
pub mod state;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::client::HubSpotClient;
use crate::clock::Clock;
use crate::config::{PropertySelection, SyncConfig, SyncTarget};
use crate::delivery::limiter::SlidingWindow;
use crate::delivery::{BreakerConfig, CallError, Pacer, RateBudget};
use db::{Db, DbError, Sql};
use hubspot_core::date::format_iso_ms;

/// The CRM object types synced (each streamed by [`crm`], linked by [`associations`]).
pub const CRM_OBJECTS: &[&str] = &["contacts", "companies", "deals", "tickets"];

/// Every collection the Source syncs, in the default order: the CRM objects,
/// [`custom::COLLECTION`] (every custom object of the portal, each its own collection),
/// [`lists::COLLECTION`] (whose memberships ride with it), [`forms::COLLECTION`] (after
/// contacts, whose identities place a submission's email), owners, pipelines, then the email
/// collections (events before campaigns, whose counters are re-read for recent events).
pub const COLLECTIONS: &[&str] = &[
    "contacts",
    "companies",
    "deals",
    "tickets",
    custom::COLLECTION,
    lists::COLLECTION,
    forms::COLLECTION,
    owners::COLLECTION,
    pipelines::COLLECTION,
    email::EVENTS,
    email::CAMPAIGNS,
    email::SUBSCRIPTIONS,
    email::CHANGES,
];

/// Why a collection's run failed (what it committed before stays).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A HubSpot call failed or the portal's breaker held it.
    #[error("HubSpot: {0:?}")]
    Call(CallError),
    /// The destination (SQLite or PostgreSQL).
    #[error("{0}")]
    Store(#[from] DbError),
}

/// What one sync does.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Collections to sync, in order.
    pub collections: Vec<String>,
    /// Forget the cursors and read everything again.
    pub full_refresh: bool,
    /// The trailing window re-read on each run, for search's lag.
    pub lag: Duration,
    /// Which properties become columns.
    pub properties: PropertySelection,
    /// Stop each collection after this many search pages, leaving its cursor where the last
    /// committed page put it; the next run resumes there (bounds a run's requests).
    pub max_pages: Option<u64>,
    /// How old the last full association pass of a type may get before a run reads every
    /// record's links again (changed records' links are read every run).
    pub associations_full_every: Duration,
    /// How far back a first run reads `email_events` and `email_subscription_event_changes`.
    pub email_history: Duration,
}

impl SyncOptions {
    /// A run of `collections` as the `[sync]` configuration says.
    pub fn from_config(config: &SyncConfig, collections: Vec<String>, full_refresh: bool) -> Self {
        SyncOptions {
            collections,
            full_refresh,
            lag: Duration::from_secs(config.lag_minutes * 60),
            properties: config.properties.clone(),
            max_pages: None,
            associations_full_every: config.associations_full_every,
            email_history: Duration::from_secs(config.email_history_days * 24 * 3600),
        }
    }
}

/// One collection's outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableReport {
    /// The collection (its table).
    pub collection: String,
    /// New rows.
    pub inserted: u64,
    /// Rows that changed (a newer version, or merged away).
    pub updated: u64,
    /// Rows newly marked `is_deleted`.
    pub deleted: u64,
    /// Rows marked deleted that HubSpot no longer archives, back to `is_deleted = 0`.
    pub restored: u64,
    /// Rows of `associations` from this collection's records that the run changed.
    pub associations: store::LinksWritten,
    /// Rows of `contact_list_memberships` the run changed (`contact_lists` only).
    pub memberships: store::LinksWritten,
    /// Rows of `contact_identities` the run changed (`contacts` only).
    pub identities: store::LinksWritten,
    /// Things the run skipped and a person should know (a listed property the portal does not
    /// define), one line each: `sync` prints them, `serve` logs them.
    pub warnings: Vec<String>,
    /// The run reached the end of the collection (false: stopped by `max_pages`).
    pub complete: bool,
    /// Why the collection failed, if it did.
    pub error: Option<String>,
}

impl TableReport {
    fn new(collection: &str) -> TableReport {
        TableReport {
            collection: collection.to_owned(),
            ..TableReport::default()
        }
    }
}

/// A sync's outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    /// Per collection, in order.
    pub tables: Vec<TableReport>,
    /// HubSpot requests made (429s resent count again).
    pub requests: u64,
    /// Things about the whole run a person should know (a `[sync] properties` entry naming no
    /// object of the portal), one line each.
    pub warnings: Vec<String>,
}

/// What a sync reports while it runs, to the callback given to [`Source::on_progress`] (the
/// CLI draws it; the library itself prints nothing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress<'a> {
    /// A collection's run started.
    Started {
        /// The collection.
        collection: &'a str,
    },
    /// A collection's run made a request or committed rows.
    Advanced {
        /// The collection.
        collection: &'a str,
        /// Rows committed so far (read and written, changed or not).
        rows: u64,
        /// HubSpot requests made so far (429s resent count again).
        requests: u64,
    },
    /// A collection's run ended (its report says whether it failed).
    Finished {
        /// Its outcome.
        report: &'a TableReport,
        /// Rows committed.
        rows: u64,
        /// HubSpot requests made.
        requests: u64,
    },
}

/// A progress callback (see [`Progress`]).
pub type OnProgress = dyn Fn(Progress<'_>) + Send + Sync;

/// A portal's source: its client and the pacer all its calls go through.
pub struct Source {
    portal: String,
    client: Arc<HubSpotClient>,
    pacer: Pacer,
    progress: Option<Arc<OnProgress>>,
    /// CRM search's own limit, beside the portal's window (only sync searches).
    search: Mutex<SlidingWindow>,
}

/// CRM search requests HubSpot allows a portal per second, apart from its rolling window: the
/// portal's window does not cover it, and a search sent past it is a `SECONDLY` 429 that costs
/// a request and a wait.
pub const SEARCH_PER_SECOND: usize = 5;

impl Source {
    /// Reads `portal` through `client` with a pacer of its own, at most `rate_max` requests per
    /// `rate_interval` (`hubspot-cloud sync`), its window kept in `budget`: this process's
    /// alone, or shared in PostgreSQL with the relays delivering to the portal. No delivery
    /// shares this process's pacer, so `sync_share` applies only through a shared budget,
    /// while another process's delivery has taken permits in the window.
    pub fn new(
        portal: &str,
        client: Arc<HubSpotClient>,
        clock: Arc<dyn Clock>,
        budget: &RateBudget,
        rate_max: usize,
        rate_interval: Duration,
        sync_share: f64,
    ) -> Source {
        let window = budget.window(
            portal,
            rate_max,
            rate_interval,
            Duration::from_millis(100),
            sync_share,
        );
        let pacer = Pacer::new(
            portal,
            client.clone(),
            clock,
            window,
            BreakerConfig::default(),
            Arc::new(AtomicU64::new(0)),
        );
        Source::with_pacer(portal, client, &pacer)
    }

    /// Reads `portal` through `client`, its calls paced by `pacer` as sync's (in `serve`, the
    /// delivery engine's pacer of the portal, so together they keep to its rate).
    pub fn with_pacer(portal: &str, client: Arc<HubSpotClient>, pacer: &Pacer) -> Source {
        Source {
            portal: portal.to_owned(),
            client,
            pacer: pacer.for_sync(),
            progress: None,
            // The margin absorbs the jitter between our clock and HubSpot's, as the window's does.
            search: Mutex::new(SlidingWindow::new(
                SEARCH_PER_SECOND,
                Duration::from_secs(1),
                Duration::from_millis(100),
            )),
        }
    }

    /// Reports each collection's progress to `progress` as the sync runs.
    pub fn on_progress(mut self, progress: impl Fn(Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Syncs each collection of `options` into `db`; a failed collection is reported and
    /// the others still run.
    pub async fn sync(&self, db: &mut Db, options: &SyncOptions) -> SyncReport {
        let requests = AtomicU64::new(0);
        let quiet = |_: Progress<'_>| {};
        let progress: &OnProgress = self.progress.as_deref().unwrap_or(&quiet);
        let mut tables = Vec::new();
        // Read once per run, when a collection may be a custom object.
        let builtin = |c: &str| c != custom::COLLECTION && COLLECTIONS.contains(&c);
        let listed: Vec<&String> = match &options.properties {
            PropertySelection::PerObject(per) => per.keys().collect(),
            _ => Vec::new(),
        };
        let standard = |c: &str| CRM_OBJECTS.contains(&c);
        let schemas = match options.collections.iter().all(|c| builtin(c))
            && listed.iter().all(|o| standard(o))
        {
            true => Ok(Vec::new()),
            false => custom::read(&self.ctx(&requests, options, progress, custom::COLLECTION))
                .await
                .map_err(|e| e.to_string()),
        };
        let mut warnings = Vec::new();
        if let Ok(objects) = &schemas {
            for o in listed {
                if !standard(o) && !objects.iter().any(|c| &c.table == o) {
                    warnings.push(format!(
                        "sync.properties.{o}: no such object in the portal (objects: {}), ignored",
                        CRM_OBJECTS
                            .iter()
                            .copied()
                            .chain(objects.iter().map(|c| c.table.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        for collection in &options.collections {
            if !builtin(collection) {
                let name = collection.as_str();
                let objects = match &schemas {
                    Ok(objects) => objects,
                    Err(e) => {
                        tables.push(TableReport {
                            error: Some(format!("reading the custom object schemas: {e}")),
                            ..TableReport::new(name)
                        });
                        continue;
                    }
                };
                let wanted: Vec<&custom::CustomObject> = objects
                    .iter()
                    .filter(|o| name == custom::COLLECTION || o.table == name)
                    .collect();
                if wanted.is_empty() && name != custom::COLLECTION {
                    tables.push(TableReport {
                        error: Some(format!(
                            "unknown collection '{name}': neither built in ({}) nor a custom \
                         object of the portal",
                            COLLECTIONS.join(", ")
                        )),
                        ..TableReport::new(name)
                    });
                }
                for object in wanted {
                    let ctx = self.ctx(&requests, options, progress, &object.table);
                    let run = crm::CrmStream {
                        ctx: &ctx,
                        object_type: &object.table,
                        api_type: &object.api_type,
                        schema_defaults: Some(&object.defaults),
                    }
                    .run(db)
                    .await;
                    tables.push(ctx.finish(run));
                }
                continue;
            }
            let ctx = self.ctx(&requests, options, progress, collection);
            let run = match collection.as_str() {
                pipelines::COLLECTION => pipelines::run(&ctx, db).await,
                owners::COLLECTION => owners::run(&ctx, db).await,
                lists::COLLECTION => lists::run(&ctx, db).await,
                forms::COLLECTION => forms::run(&ctx, db).await,
                email::EVENTS => email::run_events(&ctx, db).await,
                email::CAMPAIGNS => email::run_campaigns(&ctx, db).await,
                email::SUBSCRIPTIONS => email::run_subscriptions(&ctx, db).await,
                email::CHANGES => email::run_changes(&ctx, db).await,
                // What is left of the built-in collections: the standard CRM objects.
                object_type => {
                    crm::CrmStream {
                        ctx: &ctx,
                        object_type,
                        api_type: object_type,
                        schema_defaults: None,
                    }
                    .run(db)
                    .await
                }
            };
            tables.push(ctx.finish(run));
        }
        SyncReport {
            tables,
            requests: requests.load(Ordering::Relaxed),
            warnings,
        }
    }
}

/// `collection`'s line of [`status`], its state that of `state_of`.
async fn status_line(
    sql: Sql<'_>,
    portal: &str,
    collection: &str,
    state_of: &str,
) -> Result<CollectionStatus, DbError> {
    Ok(CollectionStatus {
        collection: collection.to_owned(),
        state: state::load(sql, portal, state_of).await?,
        rows: store::row_count(sql, collection).await?,
    })
}

impl Source {
    /// The context of one collection's run, announced to `progress` as started.
    fn ctx<'a>(
        &'a self,
        requests: &'a AtomicU64,
        options: &'a SyncOptions,
        progress: &'a OnProgress,
        collection: &'a str,
    ) -> Ctx<'a> {
        progress(Progress::Started { collection });
        Ctx {
            portal: &self.portal,
            client: &self.client,
            pacer: &self.pacer,
            search: &self.search,
            requests,
            options,
            collection,
            progress,
            rows: AtomicU64::new(0),
            collection_requests: AtomicU64::new(0),
        }
    }
}

/// What every collection's run reads through: the portal, its client and pacer, the run's
/// options, and the count of requests made.
pub(super) struct Ctx<'a> {
    /// The portal's name (the `_sync_state` key).
    pub portal: &'a str,
    /// Its client.
    pub client: &'a HubSpotClient,
    /// Sync's view of the portal's pacer.
    pub pacer: &'a Pacer,
    /// The portal's search limit (see [`Ctx::paced_search`]).
    search: &'a Mutex<SlidingWindow>,
    /// Requests made by the run (429s resent count again).
    pub requests: &'a AtomicU64,
    /// The run's options.
    pub options: &'a SyncOptions,
    /// The collection being synced.
    pub collection: &'a str,
    /// Where its progress goes.
    progress: &'a OnProgress,
    /// Rows it committed so far.
    rows: AtomicU64,
    /// Requests it made so far.
    collection_requests: AtomicU64,
}

impl Ctx<'_> {
    /// One paced request, counted (429s resent count again) and reported.
    pub async fn paced<T, F, Fut>(&self, mut f: F) -> Result<T, SyncError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::client::ApiError>>,
    {
        let result = self
            .pacer
            .call(|| {
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.collection_requests.fetch_add(1, Ordering::Relaxed);
                f()
            })
            .await
            .map_err(SyncError::Call);
        self.advanced();
        result
    }

    /// The collection's report (or its failure), announced to the progress callback as finished.
    fn finish(&self, run: Result<TableReport, SyncError>) -> TableReport {
        let report = match run {
            Ok(report) => report,
            Err(e) => TableReport {
                error: Some(e.to_string()),
                ..TableReport::new(self.collection)
            },
        };
        (self.progress)(Progress::Finished {
            report: &report,
            rows: self.rows.load(Ordering::Relaxed),
            requests: self.collection_requests.load(Ordering::Relaxed),
        });
        report
    }

    /// One paced CRM search request, also kept under [`SEARCH_PER_SECOND`]: the search permit
    /// is taken right before the request goes, after the portal's window granted its own.
    pub async fn paced_search<T, F, Fut>(&self, mut f: F) -> Result<T, SyncError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::client::ApiError>>,
    {
        self.paced(|| {
            let call = f();
            async move {
                loop {
                    let wait = {
                        let mut search = self.search.lock().unwrap_or_else(PoisonError::into_inner);
                        let now = self.pacer.now_ms();
                        let wait = search.wait(now);
                        if wait.is_zero() {
                            search.record(now);
                        }
                        wait
                    };
                    if wait.is_zero() {
                        break;
                    }
                    tokio::time::sleep(wait).await;
                }
                call.await
            }
        })
        .await
    }

    /// Reports `rows` more rows committed by the collection's run.
    pub fn committed(&self, rows: usize) {
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.advanced();
    }

    fn advanced(&self) {
        (self.progress)(Progress::Advanced {
            collection: self.collection,
            rows: self.rows.load(Ordering::Relaxed),
            requests: self.collection_requests.load(Ordering::Relaxed),
        });
    }

    /// Now, epoch ms, on the pacer's clock.
    pub fn now_ms(&self) -> i64 {
        self.pacer.now_ms() as i64
    }

    /// Now as `received_at` text.
    pub fn now_iso(&self) -> String {
        format_iso_ms(self.now_ms())
    }

    /// Records a complete run of a collection read whole every time (no cursor) that started
    /// at `started_ms`.
    pub async fn save_whole_run(
        &self,
        sql: Sql<'_>,
        collection: &str,
        started_ms: i64,
    ) -> Result<(), DbError> {
        state::save(
            sql,
            self.portal,
            collection,
            &state::SyncState {
                last_run_started_ms: Some(started_ms),
                last_success_ms: Some(started_ms),
                ..state::SyncState::default()
            },
        )
        .await
    }
}

/// Opens (creating if needed) a destination and its `_sync_state`, for reading
/// (`sync status`) or for a sync that holds no lock.
pub async fn open(target: &SyncTarget) -> Result<Db, DbError> {
    let db = connect(target).await?;
    state::create(db.sql()).await?;
    Ok(db)
}

/// Opens a destination to sync `portal` into: [`open`], holding the portal's sync lock
/// ([`Db::lock_sync`]) before any table is created, so a second process fails at once with
/// [`DbError::Busy`] instead of interleaving with the first.
pub async fn open_for_sync(target: &SyncTarget, portal: &str) -> Result<Db, DbError> {
    let db = connect(target).await?;
    db.lock_sync(portal).await?;
    state::create(db.sql()).await?;
    Ok(db)
}

async fn connect(target: &SyncTarget) -> Result<Db, DbError> {
    Ok(match target {
        SyncTarget::Sqlite(path) => Db::sqlite(path)?,
        SyncTarget::Postgres { url, schema } => Db::postgres(url, schema).await?,
    })
}

/// One collection's line of `sync status`.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionStatus {
    /// The collection.
    pub collection: String,
    /// Its state, if it was ever synced.
    pub state: Option<state::SyncState>,
    /// Rows in its table.
    pub rows: i64,
}

/// The status of each collection of `portal` in `sql` (each custom object synced so far in
/// place of [`custom::COLLECTION`]), then of `contact_list_memberships`, the contacts'
/// identities (their state is the contacts') and `associations`, whose state is the oldest
/// full association pass among the types that had one.
pub async fn status(sql: Sql<'_>, portal: &str) -> Result<Vec<CollectionStatus>, DbError> {
    let mut lines = Vec::new();
    for c in COLLECTIONS {
        if *c != custom::COLLECTION {
            lines.push(status_line(sql, portal, c, c).await?);
            continue;
        }
        // Custom objects are known from the cursors their runs saved.
        for synced in state::collections(sql, portal).await? {
            let builtin = COLLECTIONS.contains(&synced.as_str()) || synced.contains(':');
            if !builtin {
                lines.push(status_line(sql, portal, &synced, &synced).await?);
            }
        }
    }
    // Memberships are written by the lists' run: its state is theirs.
    for (table, state_of) in [
        ("contact_list_memberships", lists::COLLECTION),
        ("contact_identity_profiles", "contacts"),
        ("contact_identities", "contacts"),
    ] {
        lines.push(status_line(sql, portal, table, state_of).await?);
    }
    let mut oldest: Option<state::SyncState> = None;
    for c in CRM_OBJECTS {
        if let Some(s) = state::load(sql, portal, &associations::state_key(c)).await? {
            if oldest.is_none_or(|o| s.last_success_ms < o.last_success_ms) {
                oldest = Some(s);
            }
        }
    }
    lines.push(CollectionStatus {
        collection: "associations".to_owned(),
        state: oldest,
        rows: store::row_count(sql, "associations").await?,
    });
    Ok(lines)
}
