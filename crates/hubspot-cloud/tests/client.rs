//! The HubSpot client's typed calls against the fake over real HTTP: each call the engine
//! makes, per-input results of batch writes (207s included), error classification of real
//! answers.
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use fake_hubspot::{DEFAULT_TOKEN, FakeConfig, PropertyDefinition as Def, RateLimits};
use hubspot_cloud::client::{
    Credentials, ErrorKind, HubSpotApi, HubSpotClient, NewProperty, RatePolicy, UpdateInput,
    UpsertInput,
};
use hubspot_cloud::mapping::event_uuid;
use hubspot_cloud::ops::BehavioralEvent;
use serde_json::{Map, Value, json};

async fn client(config: FakeConfig) -> (fake_hubspot::FakeHandle, HubSpotClient) {
    let fake = fake_hubspot::start(config).await.unwrap();
    let c = HubSpotClient::new(
        &fake.base_url,
        Credentials::PrivateApp {
            token: DEFAULT_TOKEN.into(),
        },
        Duration::from_secs(2),
    );
    (fake, c)
}

fn props(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn input(id: &str, v: Value) -> UpsertInput {
    UpsertInput {
        id: id.into(),
        properties: props(v),
    }
}

#[tokio::test]
async fn every_call_the_engine_makes() {
    let config = FakeConfig::default()
        .with_event("pe123456_clicked", &["plan"])
        .with_property(
            "deals",
            Def::new("deal_id", "string", "text", "dealinformation").unique(),
        );
    let (fake, c) = client(config).await;
    let ids = c
        .upsert(
            "contacts",
            "email",
            &[
                input("a@example.com", json!({"firstname": "Ann"})),
                input("b@example.com", json!({"firstname": "Bo"})),
            ],
        )
        .await
        .unwrap();
    let (a, b) = (ids[0].clone().unwrap(), ids[1].clone().unwrap());
    assert_ne!(a, b);
    let again = c
        .upsert(
            "contacts",
            "email",
            &[input("A@example.com", json!({"lastname": "Lee"}))],
        )
        .await
        .unwrap();
    assert_eq!(
        again[0].as_deref(),
        Ok(a.as_str()),
        "the same contact, by email"
    );
    let updated = c
        .update(
            "contacts",
            &[
                UpdateInput {
                    id: b.clone(),
                    properties: props(json!({"lastname": "Berg"})),
                },
                UpdateInput {
                    id: "999999".into(),
                    properties: props(json!({"lastname": "x"})),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(updated[0].as_deref(), Ok(b.as_str()));
    assert!(updated[1].is_err(), "{:?}", updated[1]);
    let read = c
        .read(
            "contacts",
            "email",
            &["a@example.com".into(), "nobody@example.com".into()],
            &["lastname"],
        )
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(
        (read[0].id.as_str(), &read[0].properties["lastname"]),
        (a.as_str(), &json!("Lee"))
    );
    let event = BehavioralEvent {
        event_name: "pe123456_clicked".into(),
        email: Some("a@example.com".into()),
        utk: None,
        object_id: None,
        occurred_at: None,
        uuid: event_uuid("123456", "m1"),
        properties: props(json!({"plan": "pro"})),
    };
    c.send_events(std::slice::from_ref(&event)).await.unwrap();
    c.send_events(&[event]).await.unwrap();
    assert_eq!(
        c.event_definition("pe123456_clicked").await.unwrap(),
        Some(vec!["plan".to_owned()])
    );
    assert_eq!(c.event_definition("pe123456_nope").await.unwrap(), None);
    let tier = NewProperty {
        name: "tier".into(),
        label: "Tier".into(),
        group: "contactinformation".into(),
        unique: false,
        hidden: false,
        checkbox: false,
    };
    c.create_property("contacts", &tier).await.unwrap();
    c.create_property("contacts", &tier)
        .await
        .expect("a 409 (exists) is success");
    assert!(
        c.properties("contacts")
            .await
            .unwrap()
            .iter()
            .any(|d| d.name == "tier")
    );
    let deal = c
        .upsert(
            "deals",
            "deal_id",
            &[input("D-1", json!({"dealname": "Big"}))],
        )
        .await
        .unwrap();
    c.associate(
        "deals",
        "contacts",
        &[(deal[0].clone().unwrap(), a.clone())],
    )
    .await
    .unwrap();
    let state = fake.state();
    assert_eq!(state.events.len(), 1, "one event per uuid");
    assert_eq!(state.associations.len(), 1);
    assert_eq!(
        state
            .find("contacts", "email", "b@example.com")
            .unwrap()
            .properties["lastname"],
        "Berg"
    );
}

#[tokio::test]
async fn a_207_gives_each_input_its_own_result() {
    let config = FakeConfig::default()
        .with_property(
            "deals",
            Def::new("deal_id", "string", "text", "dealinformation").unique(),
        )
        .with_property(
            "deals",
            Def::new("external_ref", "string", "text", "dealinformation").unique(),
        );
    let (_fake, c) = client(config).await;
    let first = c
        .upsert(
            "deals",
            "deal_id",
            &[input("D-OLD", json!({"external_ref": "X-1"}))],
        )
        .await
        .unwrap();
    let old = first[0].clone().unwrap();
    let results = c
        .upsert(
            "deals",
            "deal_id",
            &[
                input("D-NEW", json!({"external_ref": "X-1"})),
                input("D-2", json!({"dealname": "fine"})),
            ],
        )
        .await
        .unwrap();
    match &results[0] {
        Err(e) => assert_eq!(
            e.kind,
            ErrorKind::Conflict {
                existing_id: Some(old)
            },
            "{e}"
        ),
        Ok(id) => panic!("the taken unique value was written as {id}"),
    }
    assert!(results[1].is_ok(), "{:?}", results[1]);
}

#[tokio::test]
async fn a_429_is_classified_with_the_window_to_wait() {
    let limits = RateLimits {
        max_per_interval: 2,
        interval: Duration::from_secs(5),
        ..RateLimits::default()
    };
    let (_fake, c) = client(FakeConfig::default().with_limits(limits)).await;
    c.properties("contacts").await.unwrap();
    c.properties("contacts").await.unwrap();
    let e = c.properties("contacts").await.unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Throttled {
            policy: RatePolicy::TenSecondly,
            wait: Duration::from_millis(5000)
        }
    );
    assert!(e.message.contains("ten_secondly_rolling"), "{}", e.message);
}

#[tokio::test]
async fn permission_and_auth_errors() {
    let (fake, c) =
        client(FakeConfig::default().without_scope("crm.objects.companies.write")).await;
    let e = c
        .upsert("companies", "name", &[input("x", json!({}))])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permission, "{e}");
    let bad = HubSpotClient::new(
        &fake.base_url,
        Credentials::PrivateApp {
            token: "wrong".into(),
        },
        Duration::from_secs(2),
    );
    assert_eq!(
        bad.properties("contacts").await.unwrap_err().kind,
        ErrorKind::Auth
    );
}
