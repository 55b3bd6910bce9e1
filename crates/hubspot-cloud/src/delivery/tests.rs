//! The engine on paused time against an in-memory HubSpot: outages of minutes and hours, the
//! retry window, independent portals. No sleeps: tokio's clock jumps from timer to timer.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use hubspot_core::Event;
use serde_json::json;

use super::{Engine, EngineConfig, Portal, Report};
use crate::client::{MemoryHubSpot, Outage};
use crate::clock::{Clock, TokioClock};
use crate::mapping::MappingConfig;
use crate::queue::{MemoryQueue, Queue};

const T0: u64 = 1_700_000_000_000;
const PORTAL_ID: &str = "123456";
const MINUTE: u64 = 60_000;

fn event(v: serde_json::Value) -> Event {
    serde_json::from_value(v).unwrap()
}

fn identifies(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| event(json!({"type": "identify", "traits": {"email": format!("u{i}@example.com"), "city": "Oslo"}})))
        .collect()
}

fn tracks(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| event(json!({"type": "track", "event": "Clicked", "messageId": format!("m{i}"), "properties": {"email": format!("u{i}@example.com")}})))
        .collect()
}

struct World {
    clock: Arc<TokioClock>,
    queue: Arc<MemoryQueue>,
    engine: Arc<Engine<MemoryQueue>>,
    hubspots: Vec<Arc<MemoryHubSpot>>,
}

/// One engine delivering to one in-memory HubSpot per entry of `portals` (name, outages).
fn world(portals: &[(&str, Vec<Outage>)], config: EngineConfig) -> World {
    let clock = Arc::new(TokioClock::starting_at(T0));
    let queue = Arc::new(MemoryQueue::with_clock(clock.clone()));
    let mut hubspots = Vec::new();
    let mut list = Vec::new();
    for (name, outages) in portals {
        let mut hs =
            MemoryHubSpot::new(clock.clone()).with_event(&format!("pe{PORTAL_ID}_clicked"), &[]);
        for o in outages {
            hs = hs.with_outage(o.clone());
        }
        let hs = Arc::new(hs);
        hubspots.push(hs.clone());
        list.push(Portal {
            name: (*name).to_owned(),
            api: hs,
            mapping: MappingConfig::new(PORTAL_ID),
            rate_max: 100,
            rate_interval: Duration::from_secs(10),
        });
    }
    let engine = Arc::new(Engine::new(queue.clone(), list, config, clock.clone()));
    World {
        clock,
        queue,
        engine,
        hubspots,
    }
}

fn dead(reports: &[Report]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| match r {
            Report::Dead { reason, .. } => Some(reason.clone()),
            Report::Delivered { .. } => None,
        })
        .collect()
}

/// HubSpot answers 503 to everything for `outage`; then it recovers.
async fn ride_out(outage: Duration) {
    let down = Outage {
        from_ms: T0,
        until_ms: T0 + outage.as_millis() as u64,
        status: 503,
    };
    // One lease takes all, so no due job waits behind a held one of its key.
    let config = EngineConfig {
        lease_size: 5_000,
        ..EngineConfig::default()
    };
    let w = world(&[("main", vec![down.clone()])], config);
    w.engine.enqueue("main", identifies(2_000)).await.unwrap();
    w.engine.enqueue("main", tracks(100)).await.unwrap();
    let left = w
        .engine
        .run_until_idle(outage + Duration::from_secs(600))
        .await
        .unwrap();
    let reports = w.engine.take_reports();
    assert_eq!(left, 0);
    assert_eq!(dead(&reports), Vec::<String>::new());
    assert_eq!(reports.len(), 2_100);
    let hs = &w.hubspots[0];
    assert_eq!(hs.records("contacts").len(), 2_000);
    assert_eq!(hs.events().len(), 100);
    let resumed = w.clock.now_ms() - down.until_ms;
    assert!(
        resumed <= MINUTE,
        "delivered {} s after HubSpot recovered",
        resumed / 1000
    );
    // While HubSpot was down the portal was probed, not hammered: at most one call per 25 s
    // once the breaker opened (probes back off to 30 s), plus the calls that opened it.
    let during = hs
        .calls()
        .iter()
        .filter(|(at, _)| *at < down.until_ms)
        .count() as u64;
    let limit = outage.as_millis() as u64 / 25_000 + 5;
    assert!(
        during <= limit,
        "{during} calls during the outage (limit {limit})"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_of_two_minutes_loses_nothing_and_resumes_within_a_minute() {
    ride_out(Duration::from_secs(120)).await;
}

#[tokio::test(start_paused = true)]
async fn an_outage_of_two_hours_loses_nothing_and_resumes_within_a_minute() {
    ride_out(Duration::from_secs(2 * 3600)).await;
}

#[tokio::test(start_paused = true)]
async fn a_message_failing_longer_than_the_retry_window_is_dead_lettered_then_not_before() {
    let mut config = EngineConfig::default();
    config.retry.window = Duration::from_secs(3600);
    let w = world(&[("main", Vec::new())], config);
    // The company is written, but its contact never appears: the association fails
    // transiently (the identify may be on its way) while HubSpot itself works.
    let group = event(
        json!({"type": "group", "groupId": "g1", "userId": "u1", "traits": {"name": "Acme", "email": "nobody@example.com"}}),
    );
    w.engine.enqueue("main", vec![group]).await.unwrap();
    assert_eq!(
        w.engine
            .run_until_idle(Duration::from_secs(50 * 60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        dead(&w.engine.take_reports()),
        Vec::<String>::new(),
        "still inside the window"
    );
    assert_eq!(
        w.engine
            .run_until_idle(Duration::from_secs(30 * 60))
            .await
            .unwrap(),
        0
    );
    let reasons = dead(&w.engine.take_reports());
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with("gave up after retrying for 1 h"),
        "{}",
        reasons[0]
    );
    assert!(reasons[0].contains("nobody@example.com"), "{}", reasons[0]);
    assert_eq!(w.queue.status().await.unwrap().dead, 1);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_portal_does_not_slow_another() {
    // "a-throttled" comes first in any portal order; it answers 429 for a minute.
    let throttled = Outage {
        from_ms: T0,
        until_ms: T0 + MINUTE,
        status: 429,
    };
    let w = world(
        &[("a-throttled", vec![throttled]), ("b-free", Vec::new())],
        EngineConfig::default(),
    );
    for portal in ["a-throttled", "b-free"] {
        w.engine.enqueue(portal, identifies(300)).await.unwrap();
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(w.engine.clone().run(stop));
    // Wait on the free portal's HubSpot alone, in steps of paused time.
    let free = &w.hubspots[1];
    while free.records("contacts").len() < 300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            w.clock.now_ms() < T0 + 10 * MINUTE,
            "the free portal never finished"
        );
    }
    let done_at = free.calls().last().unwrap().0;
    assert!(
        done_at < T0 + 5_000,
        "the free portal finished {} ms in, behind the throttled one",
        done_at - T0
    );
    assert!(
        w.hubspots[0].records("contacts").is_empty(),
        "the throttled portal is still waiting"
    );
    while w.queue.depth().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(w.hubspots[0].records("contacts").len(), 300);
    assert!(w.clock.now_ms() >= T0 + MINUTE);
    stop_tx.send(true).unwrap();
    running.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn health_names_what_keeps_a_portal_from_delivering() {
    let config = EngineConfig::default();
    let stuck_after = config.stuck_after.as_millis() as u64;
    let hang = Outage {
        from_ms: T0,
        until_ms: T0 + 10 * stuck_after,
        status: 0,
    };
    let down = Outage {
        from_ms: T0,
        until_ms: T0 + 10 * MINUTE,
        status: 503,
    };
    let w = world(
        &[
            ("hanging", vec![hang]),
            ("down", vec![down]),
            ("fine", Vec::new()),
        ],
        config,
    );
    for portal in ["hanging", "down", "fine"] {
        w.engine.enqueue(portal, identifies(10)).await.unwrap();
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(w.engine.clone().run(stop));
    tokio::time::sleep(Duration::from_millis(stuck_after + 1_000)).await;
    let health: Vec<(String, Option<String>)> = w
        .engine
        .health()
        .into_iter()
        .map(|h| (h.portal, h.problem))
        .collect();
    let problem = |name: &str| {
        health
            .iter()
            .find(|(p, _)| p == name)
            .and_then(|(_, problem)| problem.clone())
            .unwrap_or_default()
    };
    assert!(
        problem("hanging").starts_with("delivery stuck: no progress for 12"),
        "{health:?}"
    );
    assert!(
        problem("down").starts_with("HubSpot has been failing since 2023-11-14T22:13:2"),
        "{health:?}"
    );
    assert_eq!(problem("fine"), "", "{health:?}");
    // Stopping does not wait for the call that never returns.
    stop_tx.send(true).unwrap();
    running.await.unwrap();
}

/// The most calls in any rolling `interval_ms` (what HubSpot's ten-secondly limit counts).
fn busiest_window(calls: &[(u64, &'static str)], interval_ms: u64) -> usize {
    (0..calls.len())
        .map(|i| {
            calls[i..]
                .iter()
                .take_while(|(t, _)| *t < calls[i].0 + interval_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn a_sync_sharing_the_pacer_keeps_the_rate_and_leaves_live_delivery_its_share() {
    const RATE: usize = 10;
    const WINDOW_MS: u64 = 10_000;
    let clock = Arc::new(TokioClock::starting_at(T0));
    let queue = Arc::new(MemoryQueue::with_clock(clock.clone()));
    let hs = Arc::new(MemoryHubSpot::new(clock.clone()));
    let portal = Portal {
        name: "main".into(),
        api: hs.clone(),
        mapping: MappingConfig::new(PORTAL_ID),
        rate_max: RATE,
        rate_interval: Duration::from_millis(WINDOW_MS),
    };
    let engine = Arc::new(Engine::new(
        queue.clone(),
        vec![portal],
        EngineConfig::default(),
        clock.clone(),
    ));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(engine.clone().run(stop));
    // A large sync: several readers calling as fast as the pacer lets them.
    let sync_pacer = engine.pacer("main").unwrap().for_sync();
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let pacer = sync_pacer.clone();
        readers.spawn(async move {
            for _ in 0..100 {
                let api = pacer.api();
                pacer
                    .call(|| api.read("contacts", "email", &[], &[]))
                    .await
                    .unwrap();
            }
        });
    }
    // Live traffic meanwhile: one message every 15 s, each awaited.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let sent = clock.now_ms();
        engine.enqueue("main", identifies(i + 1)).await.unwrap();
        while hs.records("contacts").len() < i + 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let latency = clock.now_ms() - sent;
        assert!(
            latency <= 2 * WINDOW_MS + 2_000,
            "message {i} took {latency} ms while the sync ran"
        );
    }
    let reads = |calls: &[(u64, &str)]| calls.iter().filter(|(_, w)| *w == "read").count();
    assert!(reads(&hs.calls()) < 400, "the sync ran throughout");
    while readers.join_next().await.is_some() {}
    let calls = hs.calls();
    assert_eq!(reads(&calls), 400);
    assert!(
        busiest_window(&calls, WINDOW_MS) <= RATE,
        "HubSpot would have answered 429: {} calls in one window",
        busiest_window(&calls, WINDOW_MS)
    );
    stop_tx.send(true).unwrap();
    running.await.unwrap();
}
