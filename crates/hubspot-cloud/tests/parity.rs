//! Parity: the browser (`hubspot-core`'s default profile) and the server (`map_message`) turn
//! the same identify and track into the same HubSpot properties. Where they differ by design,
//! the difference is written down below as data, with its reason; any other difference fails.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;

use hubspot_cloud::mapping::{MappingConfig, map_message};
use hubspot_cloud::ops::Operation;
use hubspot_core::mapping::{Knobs, MAX_EVENT_PROPERTIES, map_identify, map_track};
use hubspot_core::{Command, Event, Profile, Settings, Value as CoreValue};
use serde_json::{Value, json};

type Props = BTreeMap<String, Value>;

const PORTAL: &str = "1234";
const EMAIL: &str = "Ada@Example.com";
/// The one `eventNames` entry both paths are configured with.
const EVENT_NAME: (&str, &str) = ("Plan Changed", "pe1234_plan_change");

/// A property the two paths send differently, or only one of them sends.
struct Difference {
    /// What the browser sends, if anything.
    browser: Option<(&'static str, Value)>,
    /// What the server sends, if anything.
    server: Option<(&'static str, Value)>,
    /// Why they differ.
    why: &'static str,
}

fn only_browser(key: &'static str, value: Value, why: &'static str) -> Difference {
    Difference {
        browser: Some((key, value)),
        server: None,
        why,
    }
}

fn both(
    browser: (&'static str, Value),
    server: (&'static str, Value),
    why: &'static str,
) -> Difference {
    Difference {
        browser: Some(browser),
        server: Some(server),
        why,
    }
}

/// Differences every identify has: the browser sends the email and the userId among the
/// properties; the server keys the upsert by the email and does not send the userId.
fn identity_differences() -> Vec<Difference> {
    vec![
        only_browser(
            "email",
            json!(EMAIL),
            "the server upserts by email: it is the record's id, and sending it as a property \
             could replace the primary address of a contact matched by a secondary one",
        ),
        only_browser(
            "id",
            json!("u-42"),
            "userId as the tracking code's external id (device spec, section 5); the cloud \
             mapping (cloud spec, section 2) sends no userId",
        ),
    ]
}

fn identify_differences() -> Vec<Difference> {
    let mut d = identity_differences();
    d.extend([
        both(
            ("prefs_news", json!(true)),
            (
                "prefs",
                json!(r#"{"news":true,"topics":["maths","engines"]}"#),
            ),
            "nested objects: the browser flattens to a_b keys, the server writes JSON text \
             (Segment's cloud flattenObject)",
        ),
        both(
            ("prefs_topics", json!("maths;engines")),
            (
                "prefs",
                json!(r#"{"news":true,"topics":["maths","engines"]}"#),
            ),
            "an array inside an object: joined by the browser's flattening, JSON on the server",
        ),
        both(
            ("birthday", json!(-4_861_728_000_000i64)),
            ("birthday", json!("1815-12-10")),
            "dates: the browser sends epoch ms; the server converts later, per the portal's \
             property type (date → midnight UTC), in conform",
        ),
        both(
            ("lifecyclestage", json!("Customer")),
            ("lifecyclestage", json!("customer")),
            "the server lowercases the lifecycle stage (cloud spec, section 2); the device spec \
             has no such rule and the browser sends traits as given",
        ),
    ]);
    d
}

fn track_differences() -> Vec<Difference> {
    vec![
        both(
            ("cart_total", json!(12.5)),
            ("cart", json!(r#"{"total":12.5}"#)),
            "nested objects: the browser flattens to a_b keys, the server writes JSON text",
        ),
        both(
            ("when", json!(1_714_557_600_000i64)),
            ("when", json!("2024-05-01T10:00:00Z")),
            "dates: the browser sends epoch ms; the server converts per property type later",
        ),
    ]
}

/// Traits exercising every rule identify shares; `company`, `address` and the names vary.
fn traits(company: Value, address: Value, names: Value) -> Value {
    let mut t = json!({
        "E-Mail": format!("  {EMAIL} "),
        "company": company,
        "address": address,
        "lifecycleStage": "Customer",
        "Favourite  Colour": " blue ",
        "plan.tier": "Pro",
        "yOlO": 1,
        "big": 9_007_199_254_740_993u64,
        "safe": 9_000_000_000_000_001u64,
        "tags": ["a", " b ", 3, null, 9_007_199_254_740_993u64],
        "prefs": {"news": true, "topics": ["maths", "engines"]},
        "birthday": "1815-12-10",
        "website": "https://e.x",
        "nothing": null
    });
    for (k, v) in names.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

fn identify(traits: Value) -> Event {
    serde_json::from_value(json!({
        "type": "identify", "userId": "u-42", "messageId": "m-identify", "traits": traits
    }))
    .unwrap()
}

fn track(event: &str) -> Event {
    let mut properties = json!({
        "Item  Name": " Tea ",
        "Sides.Item 1": "rice",
        "cart": {"total": 12.5},
        "tags": ["x", "y", 2],
        "big": 9_007_199_254_740_993u64,
        "when": "2024-05-01T10:00:00Z",
        "flag": false,
        "nothing": null
    });
    for i in 0..60 {
        properties[format!("p{i:02}")] = json!(i);
    }
    serde_json::from_value(json!({
        "type": "track", "event": event, "messageId": "m-track", "userId": "u-42",
        "timestamp": "2024-05-01T10:00:00.000Z", "properties": properties,
        "context": {"traits": {"email": EMAIL}}
    }))
    .unwrap()
}

/// The browser's settings and the server's config, alike.
fn configs(format: bool) -> (Settings, MappingConfig) {
    let (from, to) = EVENT_NAME;
    let settings: CoreValue = serde_json::from_value(json!({
        "portalId": PORTAL, "eventNames": {from: to}, "formatCustomBehavioralEventNames": format
    }))
    .unwrap();
    let mut config = MappingConfig::new(PORTAL);
    config.event_names = vec![(from.into(), to.into())];
    config.format_event_names = format;
    (Settings::from_value(&settings).unwrap().0, config)
}

fn props(map: &hubspot_core::Map) -> Props {
    serde_json::from_value(serde_json::to_value(map).unwrap()).unwrap()
}

fn browser_identify(event: &Event) -> Props {
    let (settings, _) = configs(true);
    let knobs = Knobs::for_profile(settings.profile);
    assert_eq!(settings.profile, Profile::Default);
    match map_identify(event, event.traits.clone(), &knobs, &mut Vec::new()) {
        Some(Command::Identify(p)) => props(&p),
        other => panic!("browser identify: {other:?}"),
    }
}

fn server_identify(event: &Event) -> Props {
    let (_, config) = configs(true);
    match map_message(event, &config).unwrap().as_slice() {
        [Operation::UpsertContact(u)] => {
            assert_eq!((u.id_property.as_str(), u.id.as_str()), ("email", EMAIL));
            u.properties.clone().into_iter().collect()
        }
        other => panic!("server identify: {other:?}"),
    }
}

fn browser_track(event: &Event, format: bool) -> (String, Props) {
    let (settings, _) = configs(format);
    let knobs = Knobs::for_profile(settings.profile);
    match map_track(
        event,
        event.properties.clone(),
        &settings,
        &knobs,
        &mut Vec::new(),
    ) {
        Some(Command::TrackCustomBehavioralEvent { name, properties }) => {
            (name, props(&properties))
        }
        other => panic!("browser track: {other:?}"),
    }
}

fn server_track(event: &Event, format: bool) -> (String, Props) {
    let (_, config) = configs(format);
    let ops = map_message(event, &config).unwrap();
    match ops.as_slice() {
        [Operation::UpsertContact(_), Operation::SendEvent(e)] => (
            e.event_name.clone(),
            e.properties.clone().into_iter().collect(),
        ),
        other => panic!("server track: {other:?}"),
    }
}

/// Takes each stated difference out of both sides (it must be there, exactly), then requires
/// what is left to be equal. Returns what both sent.
fn assert_parity(
    what: &str,
    mut browser: Props,
    mut server: Props,
    differences: &[Difference],
) -> Props {
    for d in differences {
        for (side, props, expected) in [
            ("browser", &mut browser, &d.browser),
            ("server", &mut server, &d.server),
        ] {
            if let Some((key, value)) = expected {
                // Two differences may name one server key (one JSON text for two browser keys).
                let got = props.get(*key).cloned();
                assert_eq!(
                    got.as_ref(),
                    Some(value),
                    "{what}: {side} {key} ({})",
                    d.why
                );
            }
        }
    }
    for d in differences {
        if let Some((key, _)) = &d.browser {
            browser.remove(*key);
        }
        if let Some((key, _)) = &d.server {
            server.remove(*key);
        }
    }
    assert_eq!(
        browser, server,
        "{what}: browser (left) and server (right) differ beyond the stated differences"
    );
    browser
}

#[test]
fn identify_maps_alike_on_both_paths() {
    let variants = [
        (
            "names in both spellings, company object, address string",
            ("Ada", "Lovelace"),
            traits(
                json!({"name": " Engines Ltd ", "plan": "x"}),
                json!(" 1 Main St "),
                json!({"firstName": " Ada ", "first_name": "Augusta", "last_name": "Lovelace",
                       "name": "Augusta Ada King"}),
            ),
        ),
        (
            "name alone, company string, address object",
            ("Augusta", "Ada King"),
            traits(
                json!(" Engines Ltd "),
                json!({"street": "1 Main St", "city": "London", "state": "LDN", "country": "UK",
                       "postal_code": 12345}),
                json!({"name": "Augusta Ada King"}),
            ),
        ),
    ];
    for (what, (first, last), traits) in variants {
        let event = identify(traits);
        let shared = assert_parity(
            what,
            browser_identify(&event),
            server_identify(&event),
            &identify_differences(),
        );
        // The rules ran: each shared rule left its mark on what both sent.
        for (key, want) in [
            ("company", json!("Engines Ltd")),
            ("address", json!("1 Main St")),
            ("favourite__colour", json!("blue")),
            ("plan_tier", json!("Pro")),
            ("yolo", json!(1)),
            ("big", json!(9_007_199_254_740_992.0)),
            ("safe", json!(9_000_000_000_000_001u64)),
            ("tags", json!("a;b;3;9007199254740992")),
        ] {
            assert_eq!(shared.get(key), Some(&want), "{what}: {key}");
        }
        assert_eq!(shared.get("firstname"), Some(&json!(first)), "{what}");
        assert_eq!(shared.get("lastname"), Some(&json!(last)), "{what}");
        for gone in ["e-mail", "first_name", "last_name", "nothing"] {
            assert!(!shared.contains_key(gone), "{what}: {gone} sent");
        }
    }
}

#[test]
fn track_maps_alike_on_both_paths() {
    for (event, format, name) in [
        ("Plan Changed", true, "pe1234_plan_change"),
        (" Plan. Changed ", true, "pe1234_plan_changed"),
        (" Plan. Changed ", false, "Plan. Changed"),
    ] {
        let event_in = track(event);
        let (browser_name, browser) = browser_track(&event_in, format);
        let (server_name, server) = server_track(&event_in, format);
        assert_eq!(
            (browser_name.as_str(), server_name.as_str()),
            (name, name),
            "{event:?}"
        );
        assert_eq!(browser.len(), MAX_EVENT_PROPERTIES, "the browser capped");
        let shared = assert_parity(event, browser, server, &track_differences());
        for (key, want) in [
            ("item_name", json!("Tea")),
            ("sides_item_1", json!("rice")),
            ("tags", json!("x;y;2")),
            ("big", json!(9_007_199_254_740_992.0)),
            ("flag", json!(false)),
            ("p00", json!(0)),
            ("p42", json!(42)),
        ] {
            assert_eq!(shared.get(key), Some(&want), "{event:?}: {key}");
        }
        assert!(!shared.contains_key("p43"), "{event:?}: the first 50 only");
    }
}

#[test]
fn company_and_address_edge_cases_agree() {
    for reserved in [
        json!({"company": {"name": 0, "plan": "x"}}),
        json!({"company": {"name": false}}),
        json!({"company": {"name": "  "}}),
        json!({"company": 12}),
        json!({"company": ""}),
        json!({"company": ["a", "b"]}),
        json!({"company": null}),
        json!({"address": 12}),
        json!({"address": "  "}),
        json!({"address": {"postalCode": 0, "postal_code": "SW1A 1AA", "city": " "}}),
        json!({"address": {"street": 5, "country": true}}),
    ] {
        let mut traits = reserved.clone();
        traits["email"] = json!(EMAIL);
        let event = identify(traits);
        assert_parity(
            &reserved.to_string(),
            browser_identify(&event),
            server_identify(&event),
            &identity_differences(),
        );
    }
}
