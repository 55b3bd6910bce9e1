//! `hubspot-cloud serve` with a `[sync]` schedule, as a process against the fake HubSpot over
//! real sockets: the scheduled sync follows the portal and shows in `/health`, and it shares the
//! portal's rate with live delivery (no 429, live messages delivered within a stated bound).
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_hubspot::{
    DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig, FakeHandle, FaultKind, FaultRule, Faults,
    PortalSizes, RateLimits,
};
use serde_json::{Value, json};

mod support;
use support::{free_port, spawn_relay, wait_healthy};

const KEY: &str = "serve-key";

/// A relay of `fake`'s portal with these extra `[server]`, `[sync]` and `[[portals]]` lines;
/// answers the config file, the relay's URL and the sync's SQLite file.
fn config(fake: &FakeHandle, server: &str, sync: &str, portal: &str) -> (PathBuf, String, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "hubspot-serve-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let db = dir.join("crm.db");
    let path = dir.join("hubspot-cloud.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{server}\n\
             [queue]\npath = \"{}\"\n[hubspot]\nbase_url = \"{}\"\n\
             [sync]\npath = \"{}\"\n{sync}\n\
             [[portals]]\nname = \"main\"\nportal_id = \"{DEFAULT_PORTAL_ID}\"\nwrite_keys = [\"{KEY}\"]\n\
             access_token = \"{DEFAULT_TOKEN}\"\n{portal}\n",
            dir.join("outbox.db").display(),
            fake.base_url,
            db.display()
        ),
    )
    .unwrap();
    (path, format!("http://127.0.0.1:{port}"), db)
}

/// One number from the sync's file (0 while the file or the table does not exist yet).
fn query(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Waits (at most `limit`) until `done` holds, polling every 100 ms.
async fn eventually(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn health(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(format!("{url}/health")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_sync_follows_the_portal_and_reports_a_failing_run_in_health() {
    let fake = fake_hubspot::start(FakeConfig::default()).await.unwrap();
    let (config, url, db) = config(&fake, "", "every = \"1s\"", "");
    let mut relay = spawn_relay(&config);
    let http = reqwest::Client::new();
    wait_healthy(&http, &url).await;

    // Records created in HubSpot reach the file on a scheduled run.
    let mut ids = Vec::new();
    for k in 0..3 {
        let created: Value = http
            .post(format!("{}/_fake/objects/contacts/create", fake.base_url))
            .json(
                &json!({"properties": {"email": format!("s{k}@example.com"), "firstname": "Ann"}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    fake.settle_search();
    eventually(
        "the contacts in the file",
        Duration::from_secs(30),
        async || query(&db, "SELECT count(*) FROM contacts") == 3,
    )
    .await;

    // A change lands on a later run.
    let modified = http
        .post(format!("{}/_fake/objects/contacts/modify", fake.base_url))
        .json(&json!({"ids": [ids[0]], "properties": {"firstname": "Changed"}, "indexed": true}))
        .send()
        .await
        .unwrap();
    assert!(modified.status().is_success());
    let changed = format!(
        "SELECT count(*) FROM contacts WHERE id = '{}' AND property_firstname = 'Changed'",
        ids[0]
    );
    eventually(
        "the change in the file",
        Duration::from_secs(30),
        async || query(&db, &changed) == 1,
    )
    .await;

    // HubSpot failing the contacts' reads: the next run fails, and /health says so.
    fake.set_faults(Faults::one(
        FaultRule::next(u32::MAX, FaultKind::Status(500))
            .on_path("/crm/v3/objects/contacts/search"),
    ));
    eventually(
        "a 503 naming the sync",
        Duration::from_secs(30),
        async || {
            let (status, body) = health(&http, &url).await;
            status == 503
                && body["problems"].as_array().unwrap().iter().any(|p| {
                    p.as_str()
                        .unwrap()
                        .starts_with("portal 'main': the last sync failed: contacts: ")
                })
        },
    )
    .await;
    // HubSpot recovers: the next run succeeds and /health is 200 again.
    fake.set_faults(Faults::none());
    eventually(
        "a 200 after recovery",
        Duration::from_secs(60),
        async || health(&http, &url).await.0 == 200,
    )
    .await;
    relay.kill().unwrap();
    relay.wait().unwrap();
    std::fs::remove_dir_all(config.parent().unwrap()).ok();
}

/// The portal's rate in the test below: `RATE` requests per `INTERVAL_MS`, sync's share of it
/// while delivery has work, and the engine's margin on the window.
const RATE: u32 = 20;
const INTERVAL_MS: u64 = 2_000;
const SHARE: f64 = 0.5;
const MARGIN_MS: u64 = 250;
const BATCH_WAIT_MS: u64 = 1_000;

/// A request the delivery engine makes (the rest, but definitions, are the sync's).
fn is_delivery(e: &fake_hubspot::RequestLogEntry) -> bool {
    e.path.ends_with("/batch/upsert") || e.path.starts_with("/events/v3/send")
}

/// A request only a sync makes (property and event definitions may be either's: left out).
fn is_sync(e: &fake_hubspot::RequestLogEntry) -> bool {
    !is_delivery(e)
        && !e.path.starts_with("/crm/v3/properties")
        && !e.path.starts_with("/events/v3/event-definitions")
}

/// The most sync requests the fake saw in one window of `window_ms` while delivery was busy
/// throughout: inside a run of delivery requests no more than `gap_ms` apart, from one full
/// rate window after the run began (the sync may hold the whole window when delivery turns
/// busy) to its end.
fn busiest_sync_window_while_delivering(
    log: &[fake_hubspot::RequestLogEntry],
    window_ms: u64,
    gap_ms: u64,
) -> usize {
    let delivery: Vec<u64> = log
        .iter()
        .filter(|e| is_delivery(e))
        .map(|e| e.arrived_ms)
        .collect();
    let sync: Vec<u64> = log
        .iter()
        .filter(|e| is_sync(e))
        .map(|e| e.arrived_ms)
        .collect();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for t in delivery {
        match runs.last_mut() {
            Some((_, end)) if t - *end <= gap_ms => *end = t,
            _ => runs.push((t, t)),
        }
    }
    let mut busiest = 0;
    for (start, end) in runs {
        let from = start + INTERVAL_MS + MARGIN_MS;
        for (i, t) in sync.iter().enumerate() {
            if *t < from || *t + window_ms > end {
                continue;
            }
            let n = sync[i..].iter().take_while(|s| **s < t + window_ms).count();
            busiest = busiest.max(n);
        }
    }
    busiest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_sync_under_a_low_limit_draws_no_429_and_leaves_live_messages_their_share() {
    // A portal of 2,000 contacts and 200 companies (with their links): about 90 requests to
    // sync, several windows' worth at 20 per 2 s. Search's own per-second limit is set out of
    // the way: the shared window is what is under test.
    let fake = fake_hubspot::start(
        FakeConfig::default()
            .with_limits(RateLimits {
                max_per_interval: RATE,
                interval: Duration::from_millis(INTERVAL_MS),
                daily_max: 1_000_000,
                search_per_second: 1_000,
            })
            .with_generated_portal(
                7,
                PortalSizes {
                    contacts: 2_000,
                    companies: 200,
                    ..PortalSizes::default()
                },
            )
            .with_event(&format!("pe{DEFAULT_PORTAL_ID}_signed_up"), &["plan"]),
    )
    .await
    .unwrap();
    let (config, url, db) = config(
        &fake,
        &format!("batch_wait_ms = {BATCH_WAIT_MS}"),
        &format!("every = \"1s\"\nmax_share = {SHARE:?}"),
        &format!("rate_max = {RATE}\nrate_interval_ms = {INTERVAL_MS}"),
    );
    let mut relay = spawn_relay(&config);
    let http = reqwest::Client::new();
    wait_healthy(&http, &url).await;

    // The bound: a message arriving while the sync holds the whole window (delivery was idle)
    // waits at most one window (plus the margin) for its first request; from then on sync
    // keeps to SHARE of the window (10 of 20) and delivery's requests (two a round) fit in
    // the rest. Plus the batch wait, a second window for a round started just before, and one
    // second for HTTP and polling.
    let window = Duration::from_millis(INTERVAL_MS + MARGIN_MS);
    let bound = Duration::from_millis(BATCH_WAIT_MS) + 2 * window + Duration::from_secs(1);

    // Live traffic at a steady rate, an identify and a track every 250 ms, so delivery has
    // work in every round (a round every batch wait) while the sync runs.
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    let sending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sender = {
        let (sent, sending, http, url) = (sent.clone(), sending.clone(), http.clone(), url.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let mut i = 0u32;
            while sending.load(std::sync::atomic::Ordering::Relaxed) {
                let email = format!("live{i}@example.com");
                let at = Instant::now();
                for (kind, body) in [
                    (
                        "identify",
                        json!({"userId": format!("u{i}"), "traits": {"email": email}}),
                    ),
                    (
                        "track",
                        json!({"userId": format!("u{i}"), "event": "Signed Up", "properties": {"email": email, "plan": "pro"}}),
                    ),
                ] {
                    let r = http
                        .post(format!("{url}/v1/{kind}"))
                        .basic_auth(KEY, Some(""))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
                sent.lock().unwrap().push((email, at));
                i += 1;
                let next = start + Duration::from_millis(250) * i;
                tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
            }
        })
    };

    let synced = "SELECT count(*) FROM _sync_state WHERE collection = 'contact_lists' \
                  AND last_success_ms IS NOT NULL";
    let started = Instant::now();
    let (mut latencies, mut during_sync) = (Vec::new(), 0);
    let mut delivered = std::collections::HashSet::new();
    loop {
        let sync_done = query(&db, synced) == 1;
        if sync_done {
            sending.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sync did not finish in two minutes"
        );
        let state = fake.state();
        let now = Instant::now();
        let pending: Vec<(String, Instant)> = sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(email, _)| !delivered.contains(email))
            .cloned()
            .collect();
        for (email, at) in pending {
            let contact = state
                .contacts()
                .iter()
                .any(|c| c.properties.get("email") == Some(&email));
            let event = state
                .events
                .iter()
                .any(|e| e.email.as_deref() == Some(email.as_str()));
            if contact && event {
                latencies.push(now - at);
                if !sync_done {
                    during_sync += 1;
                }
                delivered.insert(email);
            } else {
                assert!(
                    now - at < 4 * bound,
                    "{email} not delivered in {:?}",
                    now - at
                );
            }
        }
        if sync_done && sender.is_finished() && delivered.len() == sent.lock().unwrap().len() {
            break;
        }
        // Not more often: a snapshot holds the fake's lock, delaying requests' arrival stamps.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let state = fake.state();
    relay.kill().unwrap();
    relay.wait().unwrap();
    // The generated contacts, and the live ones the sync met.
    assert!(query(&db, "SELECT count(*) FROM contacts") >= 2_000);
    // Windows (of arrival times) a little shorter than the limiter's, for the time between a
    // permit and the request's arrival at the fake (on a busy machine, up to a snapshot of
    // the fake's state, which holds its lock).
    let share = (f64::from(RATE) * SHARE) as usize;
    let sync_busiest = busiest_sync_window_while_delivering(
        &state.request_log,
        INTERVAL_MS + MARGIN_MS - 200,
        BATCH_WAIT_MS + 600,
    );
    let worst = *latencies.iter().max().unwrap();
    eprintln!(
        "{} messages, {during_sync} while the sync ran; slowest {worst:?}; {} requests, max {} \
         in a window, sync's most in a window while delivering {sync_busiest}",
        latencies.len(),
        state.total_requests,
        state.max_requests_in_window
    );
    assert!(
        during_sync >= 20,
        "only {during_sync} messages while the sync ran"
    );
    assert_eq!(
        state.rate_limited,
        0,
        "429s: {:?}",
        std::fs::read_to_string(config.with_extension("log"))
    );
    assert!(worst <= bound, "slowest message {worst:?} > {bound:?}");
    assert!(
        sync_busiest <= share,
        "the sync took {sync_busiest} of a window while delivery had work (its share: {share})"
    );
    std::fs::remove_dir_all(config.parent().unwrap()).ok();
}
