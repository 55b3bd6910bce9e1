//! The delivery engine against the fake HubSpot API over real HTTP on 127.0.0.1: volume under
//! a rate limit, partial batch failures, conflicts, token expiry, faults, the daily limit, and
//! events retried after a timeout. Timing-dependent behaviour (outages, retry windows,
//! independent portals) is tested on paused time in `delivery::tests`; figures are measured
//! by `bench/cloud.mjs`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use fake_hubspot::{
    DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig, FakeHandle, FaultKind, FaultRule, RateLimits,
};
use hubspot_cloud::client::{Credentials, HubSpotApi, HubSpotClient, UpsertInput};
use hubspot_cloud::clock::{Clock, SystemClock};
use hubspot_cloud::delivery::policy::RetryConfig;
use hubspot_cloud::delivery::{BreakerConfig, Engine, EngineConfig, Portal, Report};
use hubspot_cloud::mapping::MappingConfig;
use hubspot_cloud::queue::MemoryQueue;
use hubspot_core::Event;
use serde_json::{Value, json};

const PORTAL: &str = "main";

fn event(v: Value) -> Event {
    serde_json::from_value(v).unwrap()
}

fn identify(email: &str, traits: Value) -> Event {
    let mut t = traits;
    t["email"] = json!(email);
    event(json!({"type": "identify", "traits": t}))
}

fn track(email: &str, name: &str, message_id: &str, properties: Value) -> Event {
    let mut p = properties;
    p["email"] = json!(email);
    event(json!({"type": "track", "event": name, "messageId": message_id, "properties": p}))
}

struct Setup {
    fake: FakeHandle,
    engine: Arc<Engine<MemoryQueue>>,
    queue: Arc<MemoryQueue>,
}

async fn setup(
    config: FakeConfig,
    credentials: Option<Credentials>,
    rate_max: usize,
    rate_interval: Duration,
) -> Setup {
    let fake = fake_hubspot::start(config).await.unwrap();
    let credentials = credentials.unwrap_or(Credentials::PrivateApp {
        token: DEFAULT_TOKEN.into(),
    });
    let client = Arc::new(HubSpotClient::new(
        &fake.base_url,
        credentials,
        Duration::from_secs(2),
    ));
    let portal = Portal {
        name: PORTAL.into(),
        api: client,
        mapping: MappingConfig::new(DEFAULT_PORTAL_ID.to_string()),
        rate_max,
        rate_interval,
    };
    let queue = Arc::new(MemoryQueue::new());
    let config = EngineConfig {
        retry: RetryConfig {
            window: Duration::from_secs(3600),
            base: Duration::from_millis(20),
            max: Duration::from_millis(300),
        },
        rate_margin: Duration::from_millis(100),
        // Injected faults open the breaker; probe again soon (real time here).
        breaker: BreakerConfig {
            failures: 3,
            probe_first: Duration::from_millis(50),
            probe_max: Duration::from_millis(200),
        },
        ..EngineConfig::default()
    };
    let engine = Arc::new(Engine::new(
        queue.clone(),
        vec![portal],
        config,
        Arc::new(SystemClock),
    ));
    Setup {
        fake,
        engine,
        queue,
    }
}

/// The fake with the custom events these tests send.
fn fake_config() -> FakeConfig {
    let pe = |name: &str| format!("pe{DEFAULT_PORTAL_ID}_{name}");
    FakeConfig::default()
        .with_event(&pe("clicked"), &[])
        .with_event(&pe("bought"), &["amount"])
        .with_event(&pe("viewed_pricing"), &["plan"])
}

async fn default_setup() -> Setup {
    setup(fake_config(), None, 100, Duration::from_secs(10)).await
}

fn dead(reports: &[Report]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| match r {
            Report::Dead { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_identifies_for_two_thousand_contacts_under_the_rate_limit() {
    let limits = RateLimits {
        max_per_interval: 100,
        interval: Duration::from_secs(10),
        ..RateLimits::default()
    };
    let s = setup(
        fake_config().with_limits(limits),
        None,
        100,
        Duration::from_secs(10),
    )
    .await;
    let mut messages = Vec::new();
    for round in 0..5 {
        for c in 0..2000 {
            messages.push(identify(
                &format!("user{c}@example.com"),
                json!({"score": round * 10 + c % 7, "city": format!("City {round}")}),
            ));
        }
    }
    s.engine.enqueue(PORTAL, messages).await.unwrap();
    assert_eq!(
        s.engine
            .run_until_idle(Duration::from_secs(120))
            .await
            .unwrap(),
        0
    );
    let reports = s.engine.take_reports();
    assert!(dead(&reports).is_empty(), "{:?}", dead(&reports).first());
    assert_eq!(reports.len(), 10_000);
    let state = s.fake.state();
    assert_eq!(state.contacts().len(), 2000);
    for c in [0, 1, 999, 1999] {
        let contact = state
            .find("contacts", "email", &format!("user{c}@example.com"))
            .unwrap();
        assert_eq!(
            contact.properties["score"],
            (40 + c % 7).to_string(),
            "the last identify wins"
        );
        assert_eq!(contact.properties["city"], "City 4");
    }
    assert_eq!(state.rate_limited, 0, "no 429s");
    assert!(state.max_requests_in_window <= 100);
    // Batches of 100 merged per contact: the floor is 100 requests, plus one definitions read.
    assert!(
        state.total_requests <= 105,
        "{} requests",
        state.total_requests
    );
}

#[tokio::test]
async fn one_bad_input_fails_alone_and_the_other_99_land() {
    let s = default_setup().await;
    let messages = (0..100)
        .map(|i| {
            identify(
                &if i == 42 {
                    "not-an-email@@example".into()
                } else {
                    format!("u{i}@example.com")
                },
                json!({"firstName": "Ann"}),
            )
        })
        .collect();
    s.engine.enqueue(PORTAL, messages).await.unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(30))
        .await
        .unwrap();
    let reports = s.engine.take_reports();
    let dead = dead(&reports);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("HubSpot rejected it"), "{}", dead[0]);
    assert_eq!(s.fake.state().contacts().len(), 99);
    let letters = hubspot_cloud::queue::Queue::dead_letters(&*s.queue, 10)
        .await
        .unwrap();
    assert_eq!(
        letters[0].job.message.traits.get("email"),
        Some(&hubspot_core::Value::from("not-an-email@@example"))
    );
}

#[tokio::test]
async fn a_secondary_email_updates_the_existing_contact() {
    let s = default_setup().await;
    let client = HubSpotClient::new(
        &s.fake.base_url,
        Credentials::PrivateApp {
            token: DEFAULT_TOKEN.into(),
        },
        Duration::from_secs(2),
    );
    client
        .upsert("contacts", "email", &[UpsertInput { id: "primary@example.com".into(), properties: json!({"email": "primary@example.com", "hs_additional_emails": "second@example.com"}).as_object().unwrap().clone() }])
        .await
        .unwrap();
    s.engine
        .enqueue(
            PORTAL,
            vec![identify("second@example.com", json!({"firstName": "Sec"}))],
        )
        .await
        .unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(dead(&s.engine.take_reports()).is_empty());
    let state = s.fake.state();
    assert_eq!(state.contacts().len(), 1, "no second contact");
    assert_eq!(
        state
            .find("contacts", "email", "primary@example.com")
            .unwrap()
            .properties["firstname"],
        "Sec"
    );
}

#[tokio::test]
async fn token_expiry_mid_run_is_refreshed() {
    let app = fake_hubspot::OAuthApp {
        access_token_lifetime: Duration::from_millis(1500),
        ..fake_hubspot::OAuthApp::default()
    };
    let mut config = fake_config();
    config.oauth = Some(app.clone());
    config.tokens.clear();
    let creds = Credentials::OAuth {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        refresh_token: app.refresh_token.clone(),
    };
    let s = setup(config, Some(creds), 100, Duration::from_secs(10)).await;
    for wave in 0..4 {
        let messages = (0..50)
            .map(|i| identify(&format!("w{wave}-{i}@example.com"), json!({})))
            .collect();
        s.engine.enqueue(PORTAL, messages).await.unwrap();
        s.engine
            .run_until_idle(Duration::from_secs(10))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        if wave == 1 {
            // Revoke the token in use: the next call gets a 401 and must refresh once.
            s.fake.update_config(|c| c.tokens.clear());
        }
    }
    assert!(dead(&s.engine.take_reports()).is_empty());
    let state = s.fake.state();
    assert_eq!(state.contacts().len(), 200);
    assert!(
        state.token_refreshes >= 2,
        "refreshed {} times",
        state.token_refreshes
    );
}

#[tokio::test]
async fn a_revoked_private_token_stops_the_portal_without_dead_letters() {
    let s = default_setup().await;
    s.fake.update_config(|c| c.tokens.clear());
    s.engine
        .enqueue(
            PORTAL,
            (0..10)
                .map(|i| identify(&format!("r{i}@example.com"), json!({})))
                .collect(),
        )
        .await
        .unwrap();
    let left = s
        .engine
        .run_until_idle(Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(left, 10, "messages kept");
    assert!(
        hubspot_cloud::queue::Queue::dead_letters(&*s.queue, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.engine.stopped(PORTAL).unwrap().contains("access token"));
}

#[tokio::test]
async fn server_errors_and_dropped_connections_lose_nothing() {
    let s = default_setup().await;
    s.fake.add_fault(FaultRule::next(3, FaultKind::Status(503)));
    s.fake
        .add_fault(FaultRule::next(2, FaultKind::DropConnection));
    s.fake.add_fault(
        FaultRule::next(1, FaultKind::EmptyBatchResult).on_path("/crm/v3/objects/contacts/batch"),
    );
    let mut messages: Vec<Event> = (0..150)
        .map(|i| identify(&format!("f{i}@example.com"), json!({"city": "Lyon"})))
        .collect();
    messages.extend((0..50).map(|i| {
        track(
            &format!("f{i}@example.com"),
            "Clicked",
            &format!("m{i}"),
            json!({}),
        )
    }));
    s.engine.enqueue(PORTAL, messages).await.unwrap();
    assert_eq!(
        s.engine
            .run_until_idle(Duration::from_secs(30))
            .await
            .unwrap(),
        0
    );
    assert!(dead(&s.engine.take_reports()).is_empty());
    let state = s.fake.state();
    assert!(state.faults_injected >= 6, "{}", state.faults_injected);
    assert_eq!(state.contacts().len(), 150);
    assert_eq!(state.events.len(), 50);
}

#[tokio::test]
async fn a_daily_429_parks_the_portal() {
    let limits = RateLimits {
        daily_max: 2,
        ..RateLimits::default()
    };
    let s = setup(
        fake_config().with_limits(limits),
        None,
        100,
        Duration::from_secs(10),
    )
    .await;
    for batch in 0..3 {
        s.engine
            .enqueue(
                PORTAL,
                vec![identify(&format!("d{batch}@example.com"), json!({}))],
            )
            .await
            .unwrap();
        s.engine.run_once().await.unwrap();
    }
    let paused = s.engine.paused_until(PORTAL).expect("portal paused");
    assert!(paused > SystemClock.now_ms());
    assert!(
        hubspot_cloud::queue::Queue::dead_letters(&*s.queue, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing dead-lettered"
    );
    assert!(
        s.engine
            .run_until_idle(Duration::from_millis(200))
            .await
            .unwrap()
            >= 1,
        "messages kept for tomorrow"
    );
    assert!(s.fake.state().rate_limited >= 1);
}

#[tokio::test]
async fn custom_events_are_never_recorded_twice_when_retried_after_a_timeout() {
    let s = default_setup().await;
    s.fake
        .add_fault(FaultRule::next(1, FaultKind::DropAfterProcessing).on_path("/events/v3/send"));
    let messages = (0..40)
        .map(|i| {
            track(
                "buyer@example.com",
                "Bought",
                &format!("msg-{i}"),
                json!({"amount": i}),
            )
        })
        .collect();
    s.engine.enqueue(PORTAL, messages).await.unwrap();
    assert_eq!(
        s.engine
            .run_until_idle(Duration::from_secs(10))
            .await
            .unwrap(),
        0
    );
    assert!(dead(&s.engine.take_reports()).is_empty());
    let state = s.fake.state();
    assert_eq!(state.events.len(), 40, "each event once");
    assert!(
        state.duplicate_events >= 40,
        "the retry was deduplicated by uuid ({})",
        state.duplicate_events
    );
}

#[tokio::test]
async fn requests_per_thousand_events() {
    let s = default_setup().await;
    let messages = (0..1000)
        .map(|i| {
            track(
                &format!("e{}@example.com", i % 200),
                "Viewed Pricing",
                &format!("ev-{i}"),
                json!({"plan": "pro", "not_defined": 1}),
            )
        })
        .collect();
    s.engine.enqueue(PORTAL, messages).await.unwrap();
    assert_eq!(
        s.engine
            .run_until_idle(Duration::from_secs(20))
            .await
            .unwrap(),
        0
    );
    let state = s.fake.state();
    assert_eq!(state.events.len(), 1000);
    // One definition read, then batches of 500.
    assert!(
        state.total_requests <= 3,
        "{} requests",
        state.total_requests
    );
    let reports = s.engine.take_reports();
    assert!(reports.iter().all(|r| matches!(r, Report::Delivered { dropped, .. } if dropped.len() == 1 && dropped[0].name == "not_defined")));
}

#[tokio::test]
async fn lifecycle_stage_moves_backwards_in_batches() {
    let s = default_setup().await;
    let forward = (0..30)
        .map(|i| {
            identify(
                &format!("l{i}@example.com"),
                json!({"lifecyclestage": "customer"}),
            )
        })
        .collect();
    s.engine.enqueue(PORTAL, forward).await.unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    let before = s.fake.state().total_requests;
    let backward = (0..30)
        .map(|i| {
            identify(
                &format!("l{i}@example.com"),
                json!({"lifecycleStage": "Lead"}),
            )
        })
        .collect();
    s.engine.enqueue(PORTAL, backward).await.unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    let state = s.fake.state();
    for i in [0, 29] {
        assert_eq!(
            state
                .find("contacts", "email", &format!("l{i}@example.com"))
                .unwrap()
                .properties["lifecyclestage"],
            "lead"
        );
    }
    assert!(
        state.total_requests - before <= 4,
        "upsert, read, clear, set: {} requests",
        state.total_requests - before
    );
}

#[tokio::test]
async fn group_upserts_the_company_and_associates_the_users_contact() {
    let s = default_setup().await;
    s.engine
        .enqueue(PORTAL, vec![
            event(json!({"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}})),
            event(json!({"type": "group", "userId": "u1", "groupId": "g-1", "traits": {"name": "Engines Ltd", "employees": 12, "website": "engines.example"}})),
        ])
        .await
        .unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(dead(&s.engine.take_reports()).is_empty());
    let state = s.fake.state();
    let company = state
        .find("companies", "segment_group_id", "g-1")
        .expect("company");
    assert_eq!(company.properties["name"], "Engines Ltd");
    assert_eq!(company.properties["numberofemployees"], "12");
    let contact = state.find("contacts", "email", "ada@example.com").unwrap();
    assert!(
        state
            .associations
            .iter()
            .any(|a| serde_json::to_string(a).unwrap().contains(&company.id)
                && serde_json::to_string(a).unwrap().contains(&contact.id)),
        "{:?}",
        state.associations
    );
}

#[tokio::test]
async fn users_joining_one_company_in_one_batch_are_each_associated() {
    let s = default_setup().await;
    let mut events = Vec::new();
    for n in 0..150 {
        events.push(identify(&format!("user{n}@example.com"), json!({})));
    }
    s.engine.enqueue(PORTAL, events).await.unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    // 150 group calls for 3 companies, delivered together: merged into 3 upsert inputs, and 150
    // associations (more than one batch of 100 of them).
    let groups = (0..150)
        .map(|n| {
            event(json!({"type": "group", "groupId": format!("g-{}", n % 3), "traits": {"name": format!("Company {}", n % 3), "email": format!("user{n}@example.com")}}))
        })
        .collect();
    s.engine.enqueue(PORTAL, groups).await.unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(dead(&s.engine.take_reports()).is_empty());
    let state = s.fake.state();
    for n in 0..150 {
        let contact = state
            .find("contacts", "email", &format!("user{n}@example.com"))
            .unwrap();
        let company = state
            .find("companies", "segment_group_id", &format!("g-{}", n % 3))
            .unwrap();
        let linked = state.associations.iter().any(|a| {
            a.from_type == "companies"
                && a.from_id == company.id
                && a.to_type == "contacts"
                && a.to_id == contact.id
        });
        assert!(linked, "user{n} not associated with g-{}", n % 3);
    }
}

#[tokio::test]
async fn unknown_properties_are_dropped_and_reported_not_fatal() {
    let s = default_setup().await;
    s.engine
        .enqueue(
            PORTAL,
            vec![identify(
                "p@example.com",
                json!({"firstName": "Pat", "shoe_size": 44, "birthday": "2000-02-29T13:00:00Z"}),
            )],
        )
        .await
        .unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    let reports = s.engine.take_reports();
    match &reports[..] {
        [Report::Delivered { dropped, .. }] => assert_eq!(
            dropped.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["shoe_size"]
        ),
        other => panic!("{other:?}"),
    }
    let state = s.fake.state();
    let contact = state.find("contacts", "email", "p@example.com").unwrap();
    assert_eq!(
        contact.properties["birthday"], "2000-02-29",
        "a date-time trait lands as midnight of its day"
    );
}

#[tokio::test]
async fn an_event_without_a_definition_is_dead_lettered_without_being_sent() {
    let s = default_setup().await;
    s.engine
        .enqueue(
            PORTAL,
            (0..20)
                .map(|i| {
                    track(
                        "x@example.com",
                        "Never Defined",
                        &format!("n{i}"),
                        json!({}),
                    )
                })
                .collect(),
        )
        .await
        .unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    let dead = dead(&s.engine.take_reports());
    assert_eq!(dead.len(), 20);
    assert!(
        dead[0].contains("no custom behavioral event named pe123456_never_defined"),
        "{}",
        dead[0]
    );
    assert_eq!(s.fake.state().requests_to("POST /events/v3/send/batch"), 0);
}

#[tokio::test]
async fn custom_events_without_the_plan_are_dead_lettered_with_a_reason() {
    let s = setup(
        fake_config().with_custom_events(false),
        None,
        100,
        Duration::from_secs(10),
    )
    .await;
    s.engine
        .enqueue(
            PORTAL,
            vec![track("x@example.com", "Clicked", "c1", json!({}))],
        )
        .await
        .unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    let dead = dead(&s.engine.take_reports());
    assert!(
        dead.len() == 1 && dead[0].contains("Marketing Hub Enterprise"),
        "{dead:?}"
    );
}

/// A fake whose deals have two unique properties, and an engine whose "Deal Won" events upsert
/// deals by `deal_id`, associated with the contact.
async fn deal_setup() -> Setup {
    use fake_hubspot::PropertyDefinition as Def;
    let config = fake_config()
        .with_property(
            "deals",
            Def::new("deal_id", "string", "text", "dealinformation").unique(),
        )
        .with_property(
            "deals",
            Def::new("external_ref", "string", "text", "dealinformation").unique(),
        );
    let mut s = setup(config, None, 100, Duration::from_secs(10)).await;
    let mut mapping = MappingConfig::new(DEFAULT_PORTAL_ID.to_string());
    mapping.object_mappings = vec![hubspot_cloud::mapping::ObjectMapping {
        event: "Deal Won".into(),
        object_type: "deals".into(),
        id_property: "deal_id".into(),
        associate_contact: true,
    }];
    let client = Arc::new(HubSpotClient::new(
        &s.fake.base_url,
        Credentials::PrivateApp {
            token: DEFAULT_TOKEN.into(),
        },
        Duration::from_secs(2),
    ));
    let portal = Portal {
        name: PORTAL.into(),
        api: client,
        mapping,
        rate_max: 100,
        rate_interval: Duration::from_secs(10),
    };
    s.engine = Arc::new(Engine::new(
        s.queue.clone(),
        vec![portal],
        EngineConfig::default(),
        Arc::new(SystemClock),
    ));
    s
}

#[tokio::test]
async fn configured_events_upsert_objects_associated_with_the_contact() {
    let s = deal_setup().await;
    s.engine
        .enqueue(PORTAL, vec![
            identify("buyer@example.com", json!({})),
            event(json!({"type": "track", "event": "Deal Won", "messageId": "d1",
                         "properties": {"deal_id": "D-1", "dealname": "Big one", "amount": "5000", "email": "buyer@example.com"}})),
        ])
        .await
        .unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(dead(&s.engine.take_reports()).is_empty());
    let state = s.fake.state();
    let deal = state.find("deals", "deal_id", "D-1").expect("deal");
    assert_eq!(deal.properties["dealname"], "Big one");
    assert_eq!(deal.properties["amount"], "5000");
    let contact = state
        .find("contacts", "email", "buyer@example.com")
        .unwrap();
    let linked = state.associations.iter().any(|a| {
        let a = serde_json::to_string(a).unwrap();
        a.contains(&format!("\"{}\"", deal.id)) && a.contains(&format!("\"{}\"", contact.id))
    });
    assert!(linked, "{:?}", state.associations);
}

#[tokio::test]
async fn a_409_is_resolved_by_updating_the_existing_record() {
    let s = deal_setup().await;
    let client = HubSpotClient::new(
        &s.fake.base_url,
        Credentials::PrivateApp {
            token: DEFAULT_TOKEN.into(),
        },
        Duration::from_secs(2),
    );
    client
        .upsert(
            "deals",
            "deal_id",
            &[UpsertInput {
                id: "D-OLD".into(),
                properties: json!({"deal_id": "D-OLD", "external_ref": "X-1", "dealname": "old"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }],
        )
        .await
        .unwrap();
    // Upserting D-NEW with external_ref X-1 collides with D-OLD: HubSpot answers 409 naming it.
    s.engine
        .enqueue(PORTAL, vec![
            event(json!({"type": "track", "event": "Deal Won", "messageId": "d2", "properties": {"deal_id": "D-NEW", "external_ref": "X-1", "dealname": "renamed"}})),
            event(json!({"type": "track", "event": "Deal Won", "messageId": "d3", "properties": {"deal_id": "D-3", "dealname": "other"}})),
        ])
        .await
        .unwrap();
    s.engine
        .run_until_idle(Duration::from_secs(10))
        .await
        .unwrap();
    let d = dead(&s.engine.take_reports());
    assert!(d.is_empty(), "{d:?} {:?}", s.fake.state().requests);
    let state = s.fake.state();
    // The conflict came back per input (207) and was written to the existing deal by id.
    assert_eq!(
        state.requests_with_status("POST /crm/v3/objects/deals/batch/upsert", 207),
        1,
        "{:?}",
        state.requests
    );
    assert_eq!(
        state.requests_to("POST /crm/v3/objects/deals/batch/update"),
        1
    );
    assert_eq!(
        state
            .find("deals", "external_ref", "X-1")
            .unwrap()
            .properties["dealname"],
        "renamed"
    );
    assert_eq!(state.objects_of("deals").len(), 2, "no duplicate deal");
}
