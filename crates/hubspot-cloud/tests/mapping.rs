//! Cloud mapping tables: a Segment message in, the HubSpot operations out (snapshots), for the
//! required fields and for all fields of each call, and every rejection with its reason.
#![allow(missing_docs, clippy::unwrap_used)]

use hubspot_cloud::mapping::{MappingConfig, ObjectMapping, map_message};
use hubspot_cloud::ops::Operation;
use hubspot_core::Event;
use serde_json::{Value, json};

fn config() -> MappingConfig {
    let mut c = MappingConfig::new("1234");
    c.event_names = vec![("Plan Changed".into(), "pe1234_plan_change".into())];
    c.object_mappings = vec![ObjectMapping {
        event: "Deal Won".into(),
        object_type: "deals".into(),
        id_property: "deal_id".into(),
        associate_contact: true,
    }];
    c
}

/// Operations as JSON, the shape the snapshots show.
fn check(message: Value) -> Value {
    let event: Event = serde_json::from_value(message).unwrap();
    match map_message(&event, &config()) {
        Ok(ops) => Value::Array(ops.iter().map(op_json).collect()),
        Err(rejection) => json!({ "rejected": rejection.to_string() }),
    }
}

fn op_json(op: &Operation) -> Value {
    match op {
        Operation::UpsertContact(u) => {
            json!({ "upsert": u.object_type, "idProperty": u.id_property, "id": u.id, "properties": u.properties })
        }
        Operation::SendEvent(e) => json!({ "event": e.to_json() }),
        Operation::UpsertCompany {
            upsert: u,
            associate_contact_email,
        }
        | Operation::UpsertObject {
            upsert: u,
            associate_contact_email,
        } => {
            json!({ "upsert": u.object_type, "idProperty": u.id_property, "id": u.id, "properties": u.properties, "associate": associate_contact_email })
        }
        Operation::SetMembership(m) => {
            json!({ "membership": m.audience, "idProperty": m.id_property, "id": m.id, "member": m.member })
        }
    }
}

#[test]
fn identify_required_fields() {
    insta::assert_json_snapshot!(check(
        json!({"type": "identify", "traits": {"email": "a@b.co"}})
    ));
}

#[test]
fn identify_all_fields() {
    insta::assert_json_snapshot!(check(json!({
        "type": "identify", "userId": "u1", "messageId": "m1",
        "traits": {
            "email": "  Ada@Example.com ", "firstName": "Ada", "last_name": "Lovelace", "phone": "+44 1",
            "company": {"name": "Engines Ltd", "plan": "x"}, "website": "https://e.x",
            "address": {"street": "1 Main St", "city": "London", "state": "LDN", "country": "UK", "postalCode": 12345},
            "lifecycleStage": "Customer", "Favourite Colour": " blue ", "tags": ["a", "b"], "prefs": {"news": true},
            "birthday": "1815-12-10", "nothing": null
        }
    })));
}

#[test]
fn identify_splits_name_as_the_browser_does() {
    let got = check(
        json!({"type": "identify", "traits": {"email": "g@example.com", "name": "Grace Brewster Hopper"}}),
    );
    assert_eq!(got[0]["properties"]["firstname"], "Grace");
    assert_eq!(got[0]["properties"]["lastname"], "Brewster Hopper");
}

#[test]
fn lifecycle_stage_is_lowercased_however_the_trait_is_spelled() {
    for key in ["lifecyclestage", "lifecycleStage", "LifecycleStage"] {
        let got =
            check(json!({"type": "identify", "traits": {"email": "a@b.co", key: " Customer "}}));
        assert_eq!(got[0]["properties"]["lifecyclestage"], "customer", "{key}");
        let got = check(json!({"type": "group", "groupId": "g1", "traits": {key: "Customer"}}));
        assert_eq!(got[0]["properties"]["lifecyclestage"], "customer", "{key}");
    }
}

#[test]
fn track_required_fields() {
    insta::assert_json_snapshot!(check(
        json!({"type": "track", "event": "Signed Up", "messageId": "m2", "properties": {"email": "a@b.co"}})
    ));
}

#[test]
fn track_all_fields() {
    insta::assert_json_snapshot!(check(json!({
        "type": "track", "event": "Plan Changed", "messageId": "m3", "timestamp": "2024-05-01T10:00:00.000Z",
        "userId": "u1",
        "properties": {
            "Item  Name": " Tea ", "Plan.Tier": "Pro", "UPPER Case": 1, "Sides. Item\t1": "rice",
            "cart": {"total": 12.5, "items": ["x", {"sku": "y"}], "coupon": null},
            "tags": ["a", " b ", 3, null], "when": "2024-05-01T10:00:00Z", "gift": false,
            "nothing": null, "utk": "tok-1"
        },
        "context": {"traits": {"email": "a@b.co", "plan": "pro"}}
    })));
}

#[test]
fn track_keeps_the_first_50_properties() {
    // The email is the event's contact, not a property: it does not count towards the 50.
    let props: serde_json::Map<String, Value> = std::iter::once(("email".into(), json!("a@b.co")))
        .chain((0..60).map(|i| (format!("p{i:02}"), json!(i))))
        .collect();
    let got = check(json!({"type": "track", "event": "X", "messageId": "m6", "properties": props}));
    let kept: Vec<&String> = got[0]["event"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let first_50: Vec<String> = (0..50).map(|i| format!("p{i:02}")).collect();
    assert_eq!(kept, first_50.iter().collect::<Vec<_>>());
}

#[test]
fn track_uuid_is_stable_per_message_id() {
    let a = check(
        json!({"type": "track", "event": "X", "messageId": "same", "properties": {"email": "a@b.co"}}),
    );
    let b = check(
        json!({"type": "track", "event": "X", "messageId": "same", "properties": {"email": "a@b.co", "changed": 1}}),
    );
    let c = check(
        json!({"type": "track", "event": "X", "messageId": "other", "properties": {"email": "a@b.co"}}),
    );
    assert_eq!(a[0]["event"]["uuid"], b[0]["event"]["uuid"]);
    assert_ne!(a[0]["event"]["uuid"], c[0]["event"]["uuid"]);
}

#[test]
fn track_to_a_configured_object() {
    insta::assert_json_snapshot!(check(json!({
        "type": "track", "event": "Deal Won", "messageId": "m4",
        "properties": {"deal_id": "D-9", "amount": 5000, "dealname": "Big one"}, "context": {"traits": {"email": "a@b.co"}}
    })));
}

#[test]
fn group_required_fields() {
    insta::assert_json_snapshot!(check(json!({"type": "group", "groupId": "g1"})));
}

#[test]
fn group_all_fields() {
    insta::assert_json_snapshot!(check(json!({
        "type": "group", "groupId": "g1", "userId": "u1",
        "traits": {"name": "Engines Ltd", "description": "Analytical", "website": "e.x", "employees": 12, "industry": "Computing",
                   "phone": "+44 2", "lifecycleStage": "Customer", "address": {"city": "London"}, "email": "ada@example.com", "plan": "enterprise"}
    })));
}

#[test]
fn rejections_say_why() {
    let rows = [
        (
            json!({"type": "identify", "userId": "u1", "traits": {"name": "x"}}),
            "identify rejected: no email",
        ),
        (
            json!({"type": "track", "properties": {"email": "a@b.co"}}),
            "track rejected: it has no event name",
        ),
        (
            json!({"type": "track", "event": "Anon"}),
            "track 'pe1234_anon' rejected: no email",
        ),
        (
            json!({"type": "group", "traits": {"name": "x"}}),
            "group rejected: it has no groupId",
        ),
        (
            json!({"type": "track", "event": "Deal Won", "properties": {"email": "a@b.co"}}),
            "needs properties.deal_id",
        ),
        (json!({"type": "page", "name": "Home"}), "page not sent"),
        (json!({"type": "screen"}), "screen not sent"),
        (
            json!({"type": "alias", "previousId": "x"}),
            "alias not sent",
        ),
    ];
    for (message, words) in rows {
        let got = check(message.clone());
        let reason = got["rejected"]
            .as_str()
            .unwrap_or_else(|| panic!("{message} was not rejected: {got}"));
        assert!(reason.contains(words), "{reason}");
    }
}

#[test]
fn page_as_an_event_when_configured() {
    let mut c = config();
    c.page_event = Some("pe1234_page_viewed".into());
    let event: Event = serde_json::from_value(
        json!({"type": "page", "messageId": "m5", "properties": {"path": "/x", "email": "a@b.co"}}),
    )
    .unwrap();
    let ops = map_message(&event, &c).unwrap();
    assert!(
        matches!(&ops[0], Operation::SendEvent(e) if e.event_name == "pe1234_page_viewed" && e.properties["path"] == "/x")
    );
}
