//! Crash safety: real `hubspot-cloud serve` processes under sustained load; one is killed with
//! SIGKILL mid-load (and restarted), and every message a relay had accepted (answered 200) must
//! reach the fake HubSpot, no custom event twice, each contact's last accepted identify applied.
//! "No event twice" is checked on what the relay sent, not only on what HubSpot kept: the fake
//! drops repeated uuids, so every send of an accepted track (retries after the kill and after
//! injected lost answers included) must carry the one uuid derived from its messageId.
//! With SQLite (one relay) always; with two relays sharing PostgreSQL when `HUBSPOT_TEST_PG_URL`
//! is set (`scripts/pg-test.sh`), also checking the shared rate limit held.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_hubspot::{DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig, FaultKind, FaultRule, Faults};
use hubspot_cloud::mapping::event_uuid;
use serde_json::{Value, json};

const KEY: &str = "crash-key";

mod support;
use support::{spawn_relay, wait_healthy};

/// What was accepted: track message ids, and per email the highest accepted score.
#[derive(Default)]
struct Accepted {
    tracks: Vec<String>,
    scores: HashMap<String, u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_load_loses_nothing_and_records_no_event_twice() {
    crash_run(None, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/pg-test.sh cargo test -p hubspot-cloud --test crash -- --ignored"]
async fn two_relays_on_postgres_one_killed_lose_nothing() {
    let url = std::env::var("HUBSPOT_TEST_PG_URL")
        .expect("HUBSPOT_TEST_PG_URL: run through scripts/pg-test.sh");
    crash_run(Some(url), 2).await;
}

/// `relays` processes share the queue (`pg_url`, else each its own… only one with SQLite); the
/// load alternates between them; the first is killed and restarted mid-load.
async fn crash_run(pg_url: Option<String>, relays: usize) {
    let limits = fake_hubspot::RateLimits {
        max_per_interval: 20,
        interval: Duration::from_secs(1),
        ..fake_hubspot::RateLimits::default()
    };
    let fake = fake_hubspot::start(
        FakeConfig::default()
            .with_limits(limits)
            .with_event(&format!("pe{DEFAULT_PORTAL_ID}_bought"), &["n", "mid"]),
    )
    .await
    .unwrap();
    // Answers lost after HubSpot recorded the events: the relay must resend the same uuids.
    fake.set_faults(Faults::one(
        FaultRule::next(3, FaultKind::DropAfterProcessing).on_path("/events/v3/send"),
    ));
    let dir = std::env::temp_dir().join(format!(
        "hubspot-crash-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let queue = match &pg_url {
        Some(url) => format!("kind = \"postgres\"\nurl = \"{url}\""),
        None => format!("path = \"{}\"", dir.join("outbox.db").display()),
    };
    let mut configs = Vec::new();
    let mut urls = Vec::new();
    for n in 0..relays {
        let port = support::free_port();
        let config = dir.join(format!("relay{n}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[queue]\n{queue}\nlease_ms = 3000\nowner_ttl_ms = 2000\n[hubspot]\nbase_url = \"{}\"\n\
                 [[portals]]\nname = \"main\"\nportal_id = \"{DEFAULT_PORTAL_ID}\"\nwrite_keys = [\"{KEY}\"]\naccess_token = \"{DEFAULT_TOKEN}\"\nrate_max = 20\nrate_interval_ms = 1000\n",
                fake.base_url
            ),
        )
        .unwrap();
        configs.push(config);
        urls.push(format!("http://127.0.0.1:{port}"));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut children: Vec<Child> = configs.iter().map(|c| spawn_relay(c)).collect();
    for url in &urls {
        wait_healthy(&http, url).await;
    }

    let accepted = Arc::new(Mutex::new(Accepted::default()));
    let running = Arc::new(AtomicBool::new(true));
    let load = {
        let (accepted, running, http, urls) = (
            accepted.clone(),
            running.clone(),
            http.clone(),
            urls.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0u64;
            while running.load(Ordering::Relaxed) {
                i += 1;
                let url = &urls[i as usize % urls.len()];
                let mut batch = Vec::new();
                let mut scores = Vec::new();
                let mut ids = Vec::new();
                for j in 0..20u64 {
                    let email = format!("user{}@example.com", (i * 20 + j) % 50);
                    let score = i * 100 + j;
                    batch.push(json!({"type": "identify", "userId": email, "messageId": format!("i-{i}-{j}"), "traits": {"email": email, "score": score}}));
                    let mid = format!("t-{i}-{j}");
                    batch.push(json!({"type": "track", "userId": email, "event": "Bought", "messageId": mid, "properties": {"email": email, "n": j, "mid": mid}}));
                    scores.push((email, score));
                    ids.push(mid);
                }
                let resp = http
                    .post(format!("{url}/v1/batch"))
                    .basic_auth(KEY, Some(""))
                    .json(&json!({"batch": batch}))
                    .send()
                    .await;
                if resp.is_ok_and(|r| r.status().is_success()) {
                    let mut a = accepted.lock().unwrap();
                    a.tracks.extend(ids);
                    for (email, score) in scores {
                        let best = a.scores.entry(email).or_default();
                        *best = (*best).max(score);
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(1500)).await;
    children[0].kill().unwrap(); // SIGKILL: no shutdown code runs.
    children[0].wait().unwrap();
    let accepted_at_kill = accepted.lock().unwrap().tracks.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    children[0] = spawn_relay(&configs[0]);
    wait_healthy(&http, &urls[0]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    running.store(false, Ordering::Relaxed);
    load.await.unwrap();

    let (tracks, scores) = {
        let a = accepted.lock().unwrap();
        (a.tracks.clone(), a.scores.clone())
    };
    assert!(
        accepted_at_kill > 0 && tracks.len() > accepted_at_kill,
        "load ran before and after the kill"
    );
    // By the messageId each track carries as its `mid` property: what HubSpot kept, and every
    // send the relay made.
    let by_message = |events: &[fake_hubspot::RecordedEvent]| {
        let mut map: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for e in events {
            if let Some(mid) = e.properties.get("mid").and_then(Value::as_str) {
                map.entry(mid.to_owned()).or_default().push(e.uuid.clone());
            }
        }
        map
    };
    let portal_id = DEFAULT_PORTAL_ID.to_string();
    let start = Instant::now();
    loop {
        let state = fake.state();
        let kept = by_message(&state.events);
        let missing = tracks.iter().filter(|m| !kept.contains_key(*m)).count();
        if missing == 0 || start.elapsed() > Duration::from_secs(60) {
            assert_eq!(
                missing, 0,
                "{missing} accepted events never reached HubSpot"
            );
            let sent = by_message(&state.event_receipts);
            for mid in &tracks {
                let uuid = event_uuid(&portal_id, mid);
                for got in &sent[mid] {
                    assert_eq!(
                        got.as_deref(),
                        Some(uuid.as_str()),
                        "message {mid} was sent with another uuid than the one derived from its messageId"
                    );
                }
                assert_eq!(kept[mid].len(), 1, "message {mid} recorded twice");
            }
            let resent = tracks.iter().filter(|m| sent[*m].len() > 1).count();
            assert!(
                resent > 0,
                "no accepted event was sent twice, so the uuid check proved nothing"
            );
            for (email, best) in &scores {
                let contact = state
                    .find("contacts", "email", email)
                    .unwrap_or_else(|| panic!("{email} missing"));
                let score: u64 = contact.properties["score"].parse().unwrap();
                assert!(
                    score >= *best,
                    "{email}: HubSpot has score {score}, but {best} was accepted later"
                );
            }
            assert!(
                state.max_requests_in_window <= 20,
                "the relays together kept HubSpot's rate: {} requests in one window",
                state.max_requests_in_window
            );
            println!(
                "{relays} relay(s): accepted {} events ({} before the kill, {resent} sent more than once); all recorded once, at most {} requests per window",
                tracks.len(),
                accepted_at_kill,
                state.max_requests_in_window
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for mut c in children {
        c.kill().ok();
        c.wait().ok();
    }
    std::fs::remove_dir_all(&dir).ok();
}
