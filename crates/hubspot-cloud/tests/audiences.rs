//! Audience memberships against the fake HubSpot over real HTTP: Engage's identifies and
//! tracks become a checkbox property per audience (created once, after the custom-property
//! limit check) or a MANUAL list, written 100 contacts per request with the latest state
//! winning; contacts HubSpot lacks are dead-lettered when they may not be created; and the
//! `audiences load` command, from a file through the queue.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use fake_hubspot::{
    DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig, FakeHandle, PropertyDefinition, RateLimits,
};
use hubspot_cloud::client::{Credentials, HubSpotApi, HubSpotClient, UpsertInput};
use hubspot_cloud::clock::SystemClock;
use hubspot_cloud::delivery::{Engine, EngineConfig, Portal, Report};
use hubspot_cloud::mapping::{AudienceMode, AudienceSettings, MappingConfig};
use hubspot_cloud::queue::MemoryQueue;
use hubspot_core::Event;
use serde_json::{Value, json};

const PORTAL: &str = "main";
const UPSERT: &str = "POST /crm/v3/objects/contacts/batch/upsert";
const UPDATE: &str = "POST /crm/v3/objects/contacts/batch/update";
const LIMITS: &str = "GET /crm/v3/limits/custom-properties";
const CREATE_PROPERTY: &str = "POST /crm/v3/properties/contacts";

struct Setup {
    fake: FakeHandle,
    engine: Arc<Engine<MemoryQueue>>,
    client: HubSpotClient,
}

async fn setup(fake: FakeConfig, audiences: AudienceSettings) -> Setup {
    let fake = fake_hubspot::start(fake).await.unwrap();
    let client = || {
        HubSpotClient::new(
            &fake.base_url,
            Credentials::PrivateApp {
                token: DEFAULT_TOKEN.into(),
            },
            Duration::from_secs(5),
        )
    };
    let mut mapping = MappingConfig::new(DEFAULT_PORTAL_ID.to_string());
    mapping.audiences = audiences;
    let portal = Portal {
        name: PORTAL.into(),
        api: Arc::new(client()),
        mapping,
        rate_max: 1000,
        rate_interval: Duration::from_secs(10),
    };
    let engine = Arc::new(Engine::new(
        Arc::new(MemoryQueue::new()),
        vec![portal],
        EngineConfig::default(),
        Arc::new(SystemClock),
    ));
    Setup {
        client: client(),
        fake,
        engine,
    }
}

/// A fake whose rate limit is not what these tests measure.
fn roomy() -> FakeConfig {
    FakeConfig::default().with_limits(RateLimits {
        max_per_interval: 1000,
        ..RateLimits::default()
    })
}

fn event(v: Value) -> Event {
    serde_json::from_value(v).unwrap()
}

/// Engage's audience identify.
fn engage_identify(email: &str, audience: &str, member: bool) -> Event {
    event(json!({"type": "identify", "userId": email,
        "traits": {"email": email, audience: member},
        "context": {"personas": {"computation_class": "audience", "computation_key": audience}}}))
}

/// Engage's `Audience Entered` / `Audience Exited` track.
fn engage_track(email: &str, audience: &str, member: bool) -> Event {
    let name = if member {
        "Audience Entered"
    } else {
        "Audience Exited"
    };
    event(json!({"type": "track", "event": name, "userId": email,
        "properties": {"audience_key": audience}, "context": {"traits": {"email": email}}}))
}

async fn run(s: &Setup, messages: Vec<Event>) -> Vec<Report> {
    s.engine.enqueue(PORTAL, messages).await.unwrap();
    let left = s
        .engine
        .run_until_idle(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(left, 0, "everything settled");
    s.engine.take_reports()
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

async fn create_contacts(s: &Setup, rows: &[Value]) {
    let inputs: Vec<UpsertInput> = rows
        .iter()
        .map(|r| UpsertInput {
            id: r["email"].as_str().unwrap().into(),
            properties: r.as_object().unwrap().clone(),
        })
        .collect();
    for r in s.client.upsert("contacts", "email", &inputs).await.unwrap() {
        r.unwrap();
    }
}

fn member_value(s: &Setup, email: &str, property: &str) -> Option<String> {
    s.fake
        .state()
        .find("contacts", "email", email)
        .and_then(|c| c.properties.get(property).cloned())
}

#[tokio::test]
async fn enter_exit_and_enter_again_in_one_batch_keeps_the_latest() {
    let s = setup(roomy(), AudienceSettings::default()).await;
    let reports = run(
        &s,
        vec![
            engage_identify("a@x.io", "high_value", true),
            engage_track("A@x.io", "high_value", false),
            engage_identify("a@x.io", "high_value", true),
            engage_track("b@x.io", "high_value", true),
            engage_identify("b@x.io", "high_value", false),
            engage_track("c@x.io", "Churn Risk", true),
        ],
    )
    .await;
    assert!(dead(&reports).is_empty(), "{:?}", dead(&reports));
    assert_eq!(reports.len(), 6);
    assert_eq!(
        member_value(&s, "a@x.io", "high_value").as_deref(),
        Some("true")
    );
    assert_eq!(
        member_value(&s, "b@x.io", "high_value").as_deref(),
        Some("false")
    );
    assert_eq!(
        member_value(&s, "c@x.io", "churn_risk").as_deref(),
        Some("true")
    );
    let state = s.fake.state();
    let def = state.properties["contacts"]
        .iter()
        .find(|d| d.name == "high_value")
        .unwrap();
    assert_eq!(
        (
            def.kind.as_str(),
            def.field_type.as_str(),
            def.group_name.as_str()
        ),
        ("bool", "booleancheckbox", "audiences")
    );
    let churn = state.properties["contacts"]
        .iter()
        .find(|d| d.name == "churn_risk")
        .unwrap();
    assert_eq!(churn.label, "Churn Risk");
    // Three contacts, two audiences: one write; each property made once, after one limit read.
    assert_eq!(state.requests_to(UPSERT), 1);
    assert_eq!(state.requests_to(CREATE_PROPERTY), 2);
    assert_eq!(state.requests_to(LIMITS), 2);
    assert_eq!(
        state.requests_to("POST /crm/v3/properties/contacts/groups"),
        1
    );

    // A second run finds both properties cached: only the write.
    let before = state.total_requests;
    run(&s, vec![engage_track("a@x.io", "high_value", false)]).await;
    assert_eq!(
        member_value(&s, "a@x.io", "high_value").as_deref(),
        Some("false")
    );
    assert_eq!(s.fake.state().total_requests, before + 1);
}

#[tokio::test]
async fn a_contact_hubspot_lacks_is_dead_lettered_when_contacts_are_not_created() {
    let settings = AudienceSettings {
        create_contacts: false,
        ..AudienceSettings::default()
    };
    let s = setup(roomy(), settings).await;
    create_contacts(
        &s,
        &[json!({"email": "a@x.io"}), json!({"email": "c@x.io"})],
    )
    .await;
    let reports = run(
        &s,
        vec![
            engage_track("a@x.io", "loyal", true),
            engage_track("ghost@x.io", "loyal", true),
            engage_identify("c@x.io", "loyal", true),
            engage_identify("c@x.io", "loyal", false),
        ],
    )
    .await;
    let dead = dead(&reports);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].contains("no HubSpot contact with email ghost@x.io")
            && dead[0].contains("create_contacts = false"),
        "{dead:?}"
    );
    assert_eq!(reports.len(), 4);
    assert_eq!(member_value(&s, "a@x.io", "loyal").as_deref(), Some("true"));
    assert_eq!(
        member_value(&s, "c@x.io", "loyal").as_deref(),
        Some("false")
    );
    let state = s.fake.state();
    assert_eq!(state.contacts().len(), 2, "no contact was created");
    assert_eq!(state.requests_to(UPSERT), 1, "only the setup's upsert");
    assert_eq!(state.requests_to(UPDATE), 1, "one update for the batch");
}

#[tokio::test]
async fn a_portal_out_of_custom_properties_is_a_clear_dead_letter() {
    let fake = FakeConfig {
        custom_property_limit: 2,
        ..roomy()
    }
    .with_property(
        "contacts",
        PropertyDefinition::string("plan", "contactinformation"),
    )
    .with_property(
        "contacts",
        PropertyDefinition::string("tier", "contactinformation"),
    );
    let s = setup(fake, AudienceSettings::default()).await;
    let reports = run(
        &s,
        vec![
            engage_track("a@x.io", "loyal", true),
            engage_track("b@x.io", "loyal", true),
        ],
    )
    .await;
    let dead = dead(&reports);
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead[0].contains("used all its custom contact properties (2 of 2)"),
        "{dead:?}"
    );
    let state = s.fake.state();
    assert_eq!(state.requests_to(LIMITS), 1, "checked once per round");
    assert_eq!(
        state.requests_to(CREATE_PROPERTY),
        0,
        "nothing HubSpot would refuse"
    );
    assert_eq!(state.requests_to(UPSERT), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_membership_changes_cost_about_a_hundred_writes() {
    let s = setup(roomy(), AudienceSettings::default()).await;
    // 5,000 contacts enter `vip`; 2,500 of them leave again, later in the stream, and 2,500
    // others enter `churn`: 10,000 changes for 7,500 contacts.
    let mut messages = Vec::new();
    for c in 0..5000 {
        messages.push(engage_track(&format!("u{c}@x.io"), "loyal", true));
    }
    for c in 0..2500 {
        messages.push(engage_identify(&format!("u{c}@x.io"), "loyal", false));
        messages.push(engage_track(&format!("w{c}@x.io"), "churn", true));
    }
    let reports = run(&s, messages).await;
    assert!(dead(&reports).is_empty(), "{:?}", dead(&reports).first());
    assert_eq!(reports.len(), 10_000);
    let state = s.fake.state();
    assert_eq!(state.contacts().len(), 7500);
    assert_eq!(
        member_value(&s, "u1@x.io", "loyal").as_deref(),
        Some("false")
    );
    assert_eq!(
        member_value(&s, "u4999@x.io", "loyal").as_deref(),
        Some("true")
    );
    assert_eq!(
        member_value(&s, "w7@x.io", "churn").as_deref(),
        Some("true")
    );
    let writes = state.requests_to(UPSERT);
    // The floor is 75 (7,500 contacts); contacts split across lease rounds cost a little more.
    assert!((75..=105).contains(&writes), "{writes} writes");
    // Besides the writes, per audience: a definitions read (a create makes the cache
    // stale), a limit read and a create; and one group.
    assert!(
        state.total_requests <= writes + 7,
        "{} requests for {writes} writes",
        state.total_requests
    );
}

#[tokio::test]
async fn list_mode_keeps_a_manual_list_per_audience() {
    let settings = AudienceSettings {
        mode: AudienceMode::List,
        ..AudienceSettings::default()
    };
    let s = setup(roomy(), settings).await;
    create_contacts(
        &s,
        &[json!({"email": "a@x.io"}), json!({"email": "b@x.io"})],
    )
    .await;
    let reports = run(
        &s,
        vec![
            engage_track("a@x.io", "loyal", true),
            engage_track("b@x.io", "loyal", true),
            engage_identify("b@x.io", "loyal", false),
            engage_identify("new@x.io", "loyal", true),
        ],
    )
    .await;
    assert!(dead(&reports).is_empty(), "{:?}", dead(&reports));
    let state = s.fake.state();
    let list = state.lists.iter().find(|l| l.name == "loyal").unwrap();
    assert_eq!(list.processing_type, "MANUAL");
    let id = |email: &str| {
        state
            .find("contacts", "email", email)
            .unwrap()
            .id
            .parse::<u64>()
            .unwrap()
    };
    let members: Vec<u64> = list.members.keys().copied().collect();
    let mut want = vec![id("a@x.io"), id("new@x.io")];
    want.sort_unstable();
    assert_eq!(members, want);
    assert!(
        state.properties["contacts"]
            .iter()
            .all(|d| d.name != "loyal"),
        "no property in list mode"
    );

    // `a` leaves in a later run: the list id is cached, the contact read once.
    let before = state.total_requests;
    let new = id("new@x.io");
    run(&s, vec![engage_track("a@x.io", "loyal", false)]).await;
    let state = s.fake.state();
    let list = state.lists.iter().find(|l| l.name == "loyal").unwrap();
    assert_eq!(list.members.keys().copied().collect::<Vec<_>>(), vec![new]);
    assert_eq!(
        state.total_requests,
        before + 2,
        "one read, one add-and-remove"
    );
}

#[tokio::test]
async fn memberships_by_a_unique_property_update_without_creating() {
    let fake = roomy().with_property(
        "contacts",
        PropertyDefinition {
            has_unique_value: true,
            ..PropertyDefinition::string("user_id", "contactinformation")
        },
    );
    let settings = AudienceSettings {
        identity: "user_id".into(),
        create_contacts: false,
        ..AudienceSettings::default()
    };
    let s = setup(fake, settings).await;
    create_contacts(&s, &[json!({"email": "a@x.io", "user_id": "u-1"})]).await;
    let by_user = |user: &str, member: bool| {
        event(json!({"type": "track", "userId": user,
            "event": if member { "Audience Entered" } else { "Audience Exited" },
            "properties": {"audience_key": "loyal"}}))
    };
    let reports = run(&s, vec![by_user("u-1", true), by_user("u-2", true)]).await;
    let dead = dead(&reports);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("user_id u-2"), "{dead:?}");
    assert_eq!(member_value(&s, "a@x.io", "loyal").as_deref(), Some("true"));
    assert_eq!(s.fake.state().contacts().len(), 1);
}

#[tokio::test]
async fn list_mode_finds_contacts_by_secondary_email_and_reports_missing_ones() {
    let settings = AudienceSettings {
        mode: AudienceMode::List,
        create_contacts: false,
        ..AudienceSettings::default()
    };
    let s = setup(roomy(), settings).await;
    create_contacts(
        &s,
        &[json!({"email": "primary@x.io", "hs_additional_emails": "second@x.io"})],
    )
    .await;
    let reports = run(
        &s,
        vec![
            engage_track("Second@x.io", "loyal", true),
            engage_track("ghost@x.io", "loyal", true),
        ],
    )
    .await;
    let dead = dead(&reports);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("ghost@x.io"), "{dead:?}");
    let state = s.fake.state();
    let primary: u64 = state
        .find("contacts", "email", "primary@x.io")
        .unwrap()
        .id
        .parse()
        .unwrap();
    let list = state.lists.iter().find(|l| l.name == "loyal").unwrap();
    assert_eq!(
        list.members.keys().copied().collect::<Vec<_>>(),
        vec![primary]
    );
    assert_eq!(state.contacts().len(), 1, "no contact was created");
}
