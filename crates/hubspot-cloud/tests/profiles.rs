//! Profiles out: records written by the Source's own store functions into a SQLite
//! destination, exported to a Segment-API collector on 127.0.0.1 (which records each
//! `/v1/batch` body and its auth, and can answer errors first) and to the project's relay.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use hubspot_cloud::client::{AssociationLink, SourceRecord};
use hubspot_cloud::config::{Config, SyncTarget};
use hubspot_cloud::profiles::{self, ExportSummary, Output, Profiles, Receiver};
use hubspot_cloud::queue::{MemoryQueue, Queue};
use hubspot_cloud::relay::{self, Metrics, Relay};
use hubspot_cloud::source::db::Db;
use hubspot_cloud::source::store;
use serde_json::{Map, Value, json};

const PORTAL: &str = "123";
const KEY: &str = "collector-key";
const NOW: &str = "2026-01-01T00:00:00.000Z";

/// What the collector saw: each request's Basic user name and body.
#[derive(Default)]
struct Seen {
    requests: Vec<(Option<String>, usize, Value)>,
    /// Statuses to answer before accepting, one per request.
    fail_first: VecDeque<u16>,
    attempts: usize,
}

#[derive(Clone)]
struct Collector {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

impl Collector {
    async fn start() -> Collector {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = axum::Router::new()
            .route("/v1/batch", post(collect))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { url, seen }
    }

    fn fail_first(&self, statuses: &[u16]) {
        self.seen.lock().unwrap().fail_first.extend(statuses);
    }

    /// Every accepted call.
    fn calls(&self) -> Vec<Value> {
        let seen = self.seen.lock().unwrap();
        seen.requests
            .iter()
            .flat_map(|(_, _, b)| b["batch"].as_array().unwrap().clone())
            .collect()
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().requests.len()
    }
}

async fn collect(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut seen = seen.lock().unwrap();
    seen.attempts += 1;
    if let Some(status) = seen.fail_first.pop_front() {
        return StatusCode::from_u16(status).unwrap();
    }
    let user = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok()?.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .map(|s| s.split(':').next().unwrap_or_default().to_owned());
    let value = serde_json::from_slice(&body).unwrap();
    seen.requests.push((user, body.len(), value));
    StatusCode::OK
}

/// Where a case's tables go: SQLite always; PostgreSQL in the `--ignored` cases, through
/// `scripts/pg-test.sh cargo test -p hubspot-cloud --test profiles -- --ignored`.
#[derive(Clone, Copy)]
enum Dest {
    Sqlite,
    Postgres,
}

/// A SQLite destination as a sync leaves it, in a fresh temporary file.
async fn destination() -> Db {
    destination_in(Dest::Sqlite).await
}

/// A fresh destination (a new SQLite file or PostgreSQL schema) as a sync leaves it.
async fn destination_in(dest: Dest) -> Db {
    let target = match dest {
        Dest::Sqlite => SyncTarget::Sqlite(std::env::temp_dir().join(format!(
            "profiles-test-{}-{}.sqlite",
            std::process::id(),
            rand::random::<u32>()
        ))),
        Dest::Postgres => SyncTarget::Postgres {
            url: std::env::var("HUBSPOT_TEST_PG_URL").expect(
                "HUBSPOT_TEST_PG_URL: run through scripts/pg-test.sh, which starts a PostgreSQL",
            ),
            schema: format!("profiles_test_{:016x}", rand::random::<u64>()),
        },
    };
    let db = hubspot_cloud::source::open_for_sync(&target, "main")
        .await
        .unwrap();
    for table in ["contacts", "companies"] {
        store::ensure_table(db.sql(), table, &[]).await.unwrap();
    }
    store::ensure_associations(db.sql()).await.unwrap();
    db
}

/// Writes a record as the Source does.
async fn put(db: &Db, table: &str, id: &str, properties: Value, deleted: bool) {
    let record = SourceRecord {
        id: id.into(),
        created_at: Some(NOW.into()),
        updated_at: Some(NOW.into()),
        properties: properties.as_object().cloned().unwrap_or_default(),
    };
    store::upsert(db.sql(), table, &Default::default(), &record, deleted, NOW)
        .await
        .unwrap();
}

async fn link(db: &Db, company: &str, contacts: &[&str]) {
    let links: Vec<AssociationLink> = contacts
        .iter()
        .map(|c| AssociationLink {
            from_id: company.into(),
            to_id: (*c).into(),
            type_id: 280,
            label: None,
        })
        .collect();
    store::replace_links(
        db.sql(),
        "companies",
        "contacts",
        &[company.into()],
        &links,
        NOW,
    )
    .await
    .unwrap();
}

fn settings(endpoint: &str, extra: Map<String, Value>) -> Profiles {
    let mut s = json!({
        "endpoint": endpoint,
        "write_key": KEY,
        "user_id": "email",
        "group_id": "domain",
    });
    s.as_object_mut().unwrap().extend(extra);
    serde_json::from_value::<profiles::ProfilesSettings>(s)
        .unwrap()
        .resolve()
        .unwrap()
}

async fn export(db: &mut Db, p: &Profiles) -> ExportSummary {
    let receiver = Receiver::new(
        &p.batch_url,
        &p.write_key,
        std::time::Duration::from_secs(5),
    );
    profiles::export(db, PORTAL, p, Output::Send(&receiver))
        .await
        .unwrap()
}

/// Two contacts (one at a company) and the company.
async fn portal() -> Db {
    portal_in(Dest::Sqlite).await
}

/// [`portal`] in `dest`.
async fn portal_in(dest: Dest) -> Db {
    let db = destination_in(dest).await;
    put(
        &db,
        "contacts",
        "1",
        json!({"email": "ada@example.com", "firstname": "Ada", "city": "London", "secret": "x"}),
        false,
    )
    .await;
    put(
        &db,
        "contacts",
        "2",
        json!({"email": "bob@example.com"}),
        false,
    )
    .await;
    put(
        &db,
        "companies",
        "10",
        json!({"domain": "example.com", "name": "Example"}),
        false,
    )
    .await;
    link(&db, "10", &["2", "1"]).await;
    db
}

#[tokio::test]
async fn the_first_export_sends_every_record_once_and_a_rerun_sends_nothing() {
    first_export_then_rerun(Dest::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/pg-test.sh cargo test -p hubspot-cloud --test profiles -- --ignored"]
async fn postgres_the_first_export_sends_every_record_once_and_a_rerun_sends_nothing() {
    first_export_then_rerun(Dest::Postgres).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/pg-test.sh cargo test -p hubspot-cloud --test profiles -- --ignored"]
async fn postgres_deletions_are_ignored_or_sent_once_as_a_trait() {
    deletions(Dest::Postgres).await;
}

async fn first_export_then_rerun(dest: Dest) {
    let collector = Collector::start().await;
    let mut db = portal_in(dest).await;
    let p = settings(&collector.url, Map::new());
    let first = export(&mut db, &p).await;
    assert_eq!(
        (first.sent, first.unchanged, first.requests),
        (3, 0, 1),
        "{first:?}"
    );
    let calls = collector.calls();
    let strip = |c: &Value| {
        let mut c = c.clone();
        assert!(c["messageId"].is_string());
        c.as_object_mut().unwrap().remove("messageId");
        c
    };
    let context = json!({
        "integration": {"name": "hubspot-cloud", "version": env!("CARGO_PKG_VERSION")},
        "source": {"type": "hubspot", "portal": PORTAL},
    });
    assert_eq!(
        calls.iter().map(strip).collect::<Vec<_>>(),
        vec![
            json!({"type": "identify", "userId": "ada@example.com",
                   "traits": {"address": {"city": "London"}, "email": "ada@example.com", "firstName": "Ada"},
                   "context": context}),
            json!({"type": "identify", "userId": "bob@example.com",
                   "traits": {"email": "bob@example.com"}, "context": context}),
            // The company's first associated contact (by id) is the group call's user.
            json!({"type": "group", "userId": "ada@example.com", "groupId": "example.com",
                   "traits": {"name": "Example", "website": "example.com"}, "context": context}),
        ]
    );
    assert_eq!(
        collector.seen.lock().unwrap().requests[0].0.as_deref(),
        Some(KEY)
    );
    let again = export(&mut db, &p).await;
    assert_eq!((again.sent, again.unchanged), (0, 3), "{again:?}");
    assert_eq!(collector.requests(), 1, "a rerun sends nothing");
}

#[tokio::test]
async fn a_changed_record_is_sent_once_with_a_new_message_id() {
    let collector = Collector::start().await;
    let mut db = portal().await;
    let p = settings(&collector.url, Map::new());
    export(&mut db, &p).await;
    put(
        &db,
        "contacts",
        "2",
        json!({"email": "bob@example.com", "lastname": "Stone"}),
        false,
    )
    .await;
    // A property outside the mapping changes no call.
    put(
        &db,
        "contacts",
        "1",
        json!({"email": "ada@example.com", "firstname": "Ada", "city": "London", "secret": "y"}),
        false,
    )
    .await;
    let s = export(&mut db, &p).await;
    assert_eq!((s.sent, s.unchanged), (1, 2), "{s:?}");
    let calls = collector.calls();
    assert_eq!(calls[3]["traits"]["lastName"], "Stone");
    assert_ne!(calls[3]["messageId"], calls[1]["messageId"]);
    assert_eq!(export(&mut db, &p).await.sent, 0);
}

#[tokio::test]
async fn a_record_without_the_mapped_identity_is_skipped_and_counted() {
    let collector = Collector::start().await;
    let mut db = portal().await;
    put(
        &db,
        "contacts",
        "3",
        json!({"firstname": "No Email"}),
        false,
    )
    .await;
    // A company whose only contact has no identity has no user for its group call.
    put(
        &db,
        "companies",
        "11",
        json!({"domain": "lone.example"}),
        false,
    )
    .await;
    link(&db, "11", &["3"]).await;
    let p = settings(&collector.url, Map::new());
    let s = export(&mut db, &p).await;
    assert_eq!((s.sent, s.skipped_no_identity), (3, 2), "{s:?}");
    assert!(
        collector
            .calls()
            .iter()
            .all(|c| c["userId"].is_string() && c["traits"]["firstName"] != "No Email")
    );
    // Skipped, not recorded: counted again on the next run.
    assert_eq!(export(&mut db, &p).await.skipped_no_identity, 2);
}

#[tokio::test]
async fn a_receiver_error_is_retried_and_the_batch_committed_once() {
    let collector = Collector::start().await;
    collector.fail_first(&[500, 429]);
    let mut db = portal().await;
    let p = settings(&collector.url, Map::new());
    let s = export(&mut db, &p).await;
    assert_eq!((s.sent, s.requests), (3, 1), "{s:?}");
    assert_eq!(collector.seen.lock().unwrap().attempts, 3);
    assert_eq!(collector.calls().len(), 3);
    assert_eq!(export(&mut db, &p).await.sent, 0);
}

#[tokio::test]
async fn a_refused_batch_fails_the_export_and_commits_nothing() {
    let collector = Collector::start().await;
    collector.fail_first(&[400]);
    let mut db = portal().await;
    let p = settings(&collector.url, Map::new());
    let receiver = Receiver::new(
        &p.batch_url,
        &p.write_key,
        std::time::Duration::from_secs(5),
    );
    let e = profiles::export(&mut db, PORTAL, &p, Output::Send(&receiver))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 400"), "{e}");
    assert_eq!(export(&mut db, &p).await.sent, 3, "nothing was recorded");
}

#[tokio::test]
async fn wide_records_go_in_batches_under_500_kb_and_an_oversized_one_is_skipped() {
    let collector = Collector::start().await;
    let mut db = destination().await;
    for i in 0..60 {
        put(
            &db,
            "contacts",
            &format!("{i:03}"),
            json!({"email": format!("{i}@example.com"), "notes": "n".repeat(20_000)}),
            false,
        )
        .await;
    }
    put(
        &db,
        "contacts",
        "999",
        json!({"email": "big@example.com", "notes": "n".repeat(40_000)}),
        false,
    )
    .await;
    let mut all = Map::new();
    all.insert("traits".into(), "all".into());
    let p = settings(&collector.url, all);
    let s = export(&mut db, &p).await;
    assert_eq!((s.sent, s.skipped_too_large), (60, 1), "{s:?}");
    let seen = collector.seen.lock().unwrap();
    assert!(seen.requests.len() >= 3, "{}", seen.requests.len());
    assert!(seen.requests.iter().all(|(_, len, _)| *len < 500_000));
}

#[tokio::test]
async fn deletions_are_ignored_or_sent_once_as_a_trait() {
    deletions(Dest::Sqlite).await;
}

async fn deletions(dest: Dest) {
    let collector = Collector::start().await;
    let mut db = portal_in(dest).await;
    let mut traced = Map::new();
    traced.insert("on_delete".into(), "trait".into());
    let p = settings(&collector.url, traced);
    export(&mut db, &p).await;
    put(
        &db,
        "contacts",
        "2",
        json!({"email": "bob@example.com"}),
        true,
    )
    .await;
    let s = export(&mut db, &p).await;
    assert_eq!((s.sent, s.deleted), (1, 1), "{s:?}");
    let last = collector.calls().pop().unwrap();
    assert_eq!(last["traits"], json!({"hubspot_deleted": true}));
    assert_eq!(last["userId"], "bob@example.com");
    assert_eq!(export(&mut db, &p).await.sent, 0);
    let ignoring = settings(&collector.url, Map::new());
    put(
        &db,
        "contacts",
        "1",
        json!({"email": "ada@example.com"}),
        true,
    )
    .await;
    let s = export(&mut db, &ignoring).await;
    assert_eq!(s.deleted, 0, "{s:?}");
}

#[tokio::test]
async fn a_dry_run_prints_the_calls_and_sends_and_records_nothing() {
    let collector = Collector::start().await;
    let mut db = portal().await;
    let p = settings(&collector.url, Map::new());
    let mut out = Vec::new();
    let s = profiles::export(&mut db, PORTAL, &p, Output::DryRun(&mut out))
        .await
        .unwrap();
    assert_eq!(s.sent, 3);
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(collector.requests(), 0);
    assert_eq!(export(&mut db, &p).await.sent, 3);
    assert_eq!(collector.calls(), lines, "the dry run printed what is sent");
}

fn config_file(text: &str) -> Result<Config, String> {
    let path = std::env::temp_dir().join(format!(
        "profiles-config-{}-{}.toml",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&path, text).unwrap();
    let c = Config::load(&path, |k| {
        (k == "HUBSPOT_CLOUD_PROFILES_WRITE_KEY_MAIN").then(|| "from-env".to_owned())
    });
    std::fs::remove_file(path).ok();
    c.map_err(|e| e.to_string())
}

#[test]
fn a_config_without_an_identity_mapping_is_refused_naming_the_key() {
    let base = "[[portals]]\nname = \"main\"\nportal_id = \"123\"\n[portals.profiles]\nendpoint = \"http://c\"\n";
    let e = config_file(&format!("{base}group_id = \"domain\"\n")).unwrap_err();
    assert!(e.contains("`user_id`"), "{e}");
    let e = config_file(&format!("{base}user_id = \"email\"\n")).unwrap_err();
    assert!(e.contains("`group_id`"), "{e}");
    let c = config_file(&format!(
        "{base}user_id = \"email\"\ngroup_id = \"domain\"\n"
    ))
    .unwrap();
    let p = c.portals[0].profiles.as_ref().unwrap();
    assert_eq!(p.write_key.as_deref(), Some("from-env"));
    assert!(
        !format!("{c:?}").contains("from-env"),
        "the write key is redacted"
    );
}

/// The relay for portal `portal_id`, queueing (not delivering), and its queue and metrics.
async fn relay_for(portal_id: &str) -> (String, Arc<dyn Queue>, Arc<Metrics>) {
    let config = config_file(&format!(
        "[queue]\nkind = \"memory\"\n[[portals]]\nname = \"main\"\nportal_id = \"{portal_id}\"\nwrite_keys = [\"{KEY}\"]\naccess_token = \"t\"\n"
    ))
    .unwrap();
    let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
    let metrics = Arc::new(Metrics::new());
    let relay = Relay::new(Arc::new(config), queue.clone(), metrics.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(relay::serve(listener, relay, std::future::pending()));
    (url, queue, metrics)
}

#[tokio::test]
async fn the_relay_drops_an_export_of_the_portal_it_delivers_to_and_queues_another_portals() {
    let (url, queue, metrics) = relay_for(PORTAL).await;
    let mut db = portal().await;
    let p = settings(&url, Map::new());
    let s = export(&mut db, &p).await;
    assert_eq!(s.sent, 3, "accepted (and dropped) by the relay: {s:?}");
    assert_eq!(
        queue.depth().await.unwrap(),
        0,
        "nothing goes back to HubSpot"
    );
    assert!(
        metrics.render().contains("hubspot_relay_looped_total 3"),
        "{}",
        metrics.render()
    );
    let (other, queue, _) = relay_for("456").await;
    let mut db = portal().await;
    export(&mut db, &settings(&other, Map::new())).await;
    assert_eq!(
        queue.depth().await.unwrap(),
        3,
        "another portal's relay queues them"
    );
}

/// `hubspot-cloud` run as a user runs it, its stdout, stderr and exit code.
fn cli(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-cloud"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .env("HUBSPOT_CLOUD_PROFILES_WRITE_KEY", KEY)
        .output()
        .unwrap()
}

/// A fake HubSpot holding `contacts` contacts and a config (in a fresh directory) syncing it
/// into SQLite and exporting to `collector` with `user_id = "email"`, contacts only.
async fn synced_portal(
    collector: &Collector,
    contacts: usize,
    extra: &str,
) -> (
    fake_hubspot::FakeHandle,
    hubspot_cloud::client::HubSpotClient,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    use fake_hubspot::{DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig};
    use hubspot_cloud::client::{Credentials, HubSpotApi, HubSpotClient, UpsertInput};
    let fake = fake_hubspot::start(FakeConfig::default()).await.unwrap();
    let client = HubSpotClient::new(
        &fake.base_url,
        Credentials::PrivateApp {
            token: DEFAULT_TOKEN.into(),
        },
        std::time::Duration::from_secs(5),
    );
    let inputs: Vec<UpsertInput> = (0..contacts)
        .map(|k| UpsertInput {
            id: format!("p{k}@example.com"),
            properties: Map::new(),
        })
        .collect();
    client.upsert("contacts", "email", &inputs).await.unwrap();
    fake.settle_search();
    let dir = std::env::temp_dir().join(format!(
        "profiles-cli-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("hubspot-cloud.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[queue]\npath = \"{}\"\n[hubspot]\nbase_url = \"{}\"\n[sync]\npath = \"{}\"\n{extra}\n\
             [[portals]]\nname = \"main\"\nportal_id = \"{DEFAULT_PORTAL_ID}\"\naccess_token = \"{DEFAULT_TOKEN}\"\n\
             [portals.profiles]\nendpoint = \"{}\"\nuser_id = \"email\"\ncompanies = false\n",
            dir.join("outbox.db").display(),
            fake.base_url,
            dir.join("crm.db").display(),
            collector.url,
        ),
    )
    .unwrap();
    (fake, client, dir, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_what_sync_wrote_dry_run_first_and_fails_in_one_line() {
    use hubspot_cloud::client::{HubSpotApi, UpsertInput};
    let collector = Collector::start().await;
    let (fake, client, dir, config) = synced_portal(&collector, 5, "").await;
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let out = cli(&config, &["sync", "--collections", "contacts"]);
    assert!(out.status.success(), "{}", text(&out));

    let out = cli(&config, &["profiles", "export", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(printed.len(), 5, "{}", text(&out));
    assert!(printed.iter().all(|c| c["type"] == "identify"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sent 5"));
    assert_eq!(collector.requests(), 0, "a dry run sends nothing");

    let out = cli(&config, &["profiles", "export"]);
    let summary = text(&out);
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains("sent 5, skipped without identity 0, unchanged 0, deleted 0"),
        "{summary}"
    );
    assert_eq!(
        collector.calls(),
        printed,
        "what the dry run printed is sent"
    );
    let out = cli(&config, &["profiles", "export"]);
    assert!(text(&out).contains("sent 0, skipped without identity 0, unchanged 5"));

    client
        .upsert(
            "contacts",
            "email",
            &[UpsertInput {
                id: "p9@example.com".into(),
                properties: Map::new(),
            }],
        )
        .await
        .unwrap();
    fake.settle_search();
    assert!(
        cli(&config, &["sync", "--collections", "contacts"])
            .status
            .success()
    );
    collector.fail_first(&[401]);
    let out = cli(&config, &["profiles", "export"]);
    let failure = text(&out);
    assert_eq!(out.status.code(), Some(1), "{failure}");
    assert_eq!(failure.trim().lines().count(), 1, "{failure}");
    assert!(failure.contains("HTTP 401"), "{failure}");
    assert!(!failure.contains(KEY), "the write key is never printed");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exports_after_each_scheduled_sync() {
    let collector = Collector::start().await;
    let (_fake, _client, dir, config) = synced_portal(&collector, 4, "every = \"1s\"").await;
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_hubspot-cloud"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "error")
        .env("HUBSPOT_CLOUD_PROFILES_WRITE_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while collector.calls().len() < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Two more scheduled runs: nothing changed, nothing sent again.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert_eq!(
        collector.calls().len(),
        4,
        "sent once, by the first scheduled run"
    );
    std::fs::remove_dir_all(dir).ok();
}
