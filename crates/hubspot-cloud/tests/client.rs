//! The HubSpot client's typed calls against the fake over real HTTP: each endpoint of the
//! cloud spec's section 3, error classification of real answers, and rate-limit headers.
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use fake_hubspot::{DEFAULT_TOKEN, FakeConfig, RateLimits};
use hubspot_cloud::client::{Credentials, ErrorKind, Filter, HubSpotClient, RatePolicy};
use serde_json::json;

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

#[tokio::test]
async fn every_endpoint() {
    let (fake, c) = client(FakeConfig::default().with_event("pe123456_clicked", &["plan"])).await;
    let created = c
        .create(
            "contacts",
            &json!({"email": "a@example.com", "firstname": "Ann"}),
        )
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.create("contacts", &json!({"email": "a@example.com"}))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict {
            existing_id: Some(id.clone())
        }
    );
    c.update(
        "contacts",
        "a@example.com",
        Some("email"),
        &json!({"lastname": "Lee"}),
    )
    .await
    .unwrap();
    assert_eq!(
        c.update("contacts", "999999", None, &json!({"lastname": "x"}))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    let batch = c
        .batch_create(
            "companies",
            vec![json!({"properties": {"name": "Acme", "domain": "acme.example"}})],
        )
        .await
        .unwrap();
    let company = batch.results[0]["id"].as_str().unwrap().to_owned();
    c.associate_one("companies", &company, "contacts", &id)
        .await
        .unwrap();
    let page = c
        .search(
            "contacts",
            &[vec![Filter {
                property_name: "lastname".into(),
                operator: "EQ".into(),
                value: Some("Lee".into()),
            }]],
            &["email"],
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.results.len(), 1);
    c.send_event(&json!({"eventName": "pe123456_clicked", "email": "a@example.com", "properties": {"plan": "pro"}})).await.unwrap();
    assert_eq!(
        c.event_definition("pe123456_clicked").await.unwrap(),
        Some(vec!["plan".to_owned()])
    );
    assert_eq!(c.event_definition("pe123456_nope").await.unwrap(), None);
    let props = c.create_properties("contacts", vec![json!({"name": "tier", "label": "Tier", "type": "string", "fieldType": "text", "groupName": "contactinformation"})]).await.unwrap();
    assert_eq!(props.errors, []);
    assert!(
        c.properties("contacts")
            .await
            .unwrap()
            .iter()
            .any(|d| d.name == "tier")
    );
    let state = fake.state();
    assert_eq!(state.events.len(), 1);
    assert_eq!(state.associations.len(), 1);
    assert_eq!(
        state
            .find("contacts", "email", "a@example.com")
            .unwrap()
            .properties["lastname"],
        "Lee"
    );
}

#[tokio::test]
async fn rate_limit_headers_and_429_bodies() {
    let limits = RateLimits {
        max_per_interval: 2,
        interval: Duration::from_secs(5),
        ..RateLimits::default()
    };
    let (_fake, c) = client(FakeConfig::default().with_limits(limits)).await;
    c.properties("contacts").await.unwrap();
    let info = c.rate_limit();
    assert_eq!(
        (info.max, info.remaining, info.interval_ms),
        (Some(2), Some(1), Some(5000))
    );
    assert!(info.daily.is_some() && info.daily_remaining.is_some());
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
    assert_eq!(c.requests(), 3);
}

#[tokio::test]
async fn permission_and_auth_errors() {
    let (fake, c) =
        client(FakeConfig::default().without_scope("crm.objects.companies.write")).await;
    let e = c
        .batch_upsert(
            "companies",
            vec![json!({"id": "x", "idProperty": "name", "properties": {}})],
        )
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
