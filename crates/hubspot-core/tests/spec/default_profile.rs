//! Spec section 5: the default profile's mapping, rule by rule, with the edge cases the spec
//! names. Each table row: input → exact `_hsq` command (or nothing).

use crate::support::*;
use hubspot_core::mapping::{map_identify, map_track, page_path};
use hubspot_core::{Diagnostic, Value};
use serde_json::{Value as Json, json};

const PORTAL: &str = "1234";

fn identify_cmd(user_id: Option<&str>, traits: Json) -> Option<Json> {
    let s = settings(json!({"portalId": PORTAL}));
    let e = event(identify(user_id, traits));
    map_identify(&e, e.traits.clone(), &knobs(&s), &mut vec![]).map(|c| json_of(&c)[1].clone())
}

fn track_cmd(settings_json: Json, call: Json) -> (Option<Json>, Vec<Diagnostic>) {
    let s = settings(settings_json);
    let mut diags = vec![];
    let e = event(call);
    let cmd = map_track(&e, e.properties.clone(), &s, &knobs(&s), &mut diags).map(|c| json_of(&c));
    (cmd, diags)
}

fn check_identify(rows: &[(Option<&str>, Json, Option<Json>)]) {
    for (user_id, traits, want) in rows {
        assert_eq!(
            identify_cmd(*user_id, traits.clone()),
            *want,
            "userId {user_id:?}, traits {traits}"
        );
    }
}

#[test]
fn email_is_found_under_any_spelling_and_trimmed() {
    let e = |traits: Json| identify_cmd(None, traits).map(|p| p["email"].clone());
    for key in ["email", "Email", "EMAIL", "e-mail", "e_mail", "E-Mail"] {
        assert_eq!(e(json!({key: "a@b.co"})), Some(json!("a@b.co")), "{key}");
    }
    assert_eq!(
        e(json!({"email": "\u{200B} a@b.co \u{FEFF}"})),
        Some(json!("a@b.co"))
    );
    assert_eq!(
        e(json!({"email": "\u{200C}\u{200D}"})),
        None,
        "only zero-width characters"
    );
    assert_eq!(e(json!({"email": "   "})), None);
    assert_eq!(e(json!({"emails": "a@b.co"})), None);
}

#[test]
fn email_rule_with_user_id() {
    check_identify(&[
        (
            Some("u@example.com"),
            json!({}),
            Some(json!({"email": "u@example.com", "id": "u@example.com"})),
        ),
        (
            Some(" u@example.com "),
            json!({}),
            Some(json!({"email": "u@example.com", "id": "u@example.com"})),
        ),
        (Some("u1"), json!({}), None),
        (Some("not an@email.com"), json!({}), None),
        (None, json!({"name": "No Email"}), None),
        (
            Some("u1"),
            json!({"email": "a@b.co"}),
            Some(json!({"email": "a@b.co", "id": "u1"})),
        ),
    ]);
}

#[test]
fn numeric_user_id_becomes_a_string_id() {
    let s = settings(json!({"portalId": PORTAL}));
    let e = event(json!({"type": "identify", "userId": 42, "traits": {"email": "a@b.co"}}));
    let cmd = map_identify(&e, e.traits.clone(), &knobs(&s), &mut vec![]).unwrap();
    assert_eq!(json_of(&cmd)[1], json!({"email": "a@b.co", "id": "42"}));
}

#[test]
fn names() {
    check_identify(&[
        (
            None,
            json!({"email": "a@b.co", "firstName": "Ann", "lastName": "Lee"}),
            Some(json!({"email": "a@b.co", "firstname": "Ann", "lastname": "Lee"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "first_name": "Ann", "last_name": "Lee"}),
            Some(json!({"email": "a@b.co", "firstname": "Ann", "lastname": "Lee"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "name": "Ann Marie Lee"}),
            Some(
                json!({"email": "a@b.co", "name": "Ann Marie Lee", "firstname": "Ann", "lastname": "Marie Lee"}),
            ),
        ),
        (
            None,
            json!({"email": "a@b.co", "name": "  Cher "}),
            Some(json!({"email": "a@b.co", "name": "Cher", "firstname": "Cher"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "name": "Ann Lee", "firstName": "Annie"}),
            Some(json!({"email": "a@b.co", "name": "Ann Lee", "firstname": "Annie"})),
        ),
    ]);
}

#[test]
fn company_as_string_and_object() {
    check_identify(&[
        (
            None,
            json!({"email": "a@b.co", "company": " Acme "}),
            Some(json!({"email": "a@b.co", "company": "Acme"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "company": {"name": "Acme", "plan": "x", "id": 1}}),
            Some(json!({"email": "a@b.co", "company": "Acme"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "company": {"plan": "x"}}),
            Some(json!({"email": "a@b.co"})),
        ),
    ]);
}

#[test]
fn address_mapping_and_numeric_postal_code() {
    check_identify(&[
        (
            None,
            json!({"email": "a@b.co", "address": {"street": "1 Main St", "city": "Paris", "state": "IDF", "country": "FR", "postalCode": 75001}}),
            Some(
                json!({"email": "a@b.co", "address": "1 Main St", "city": "Paris", "state": "IDF", "country": "FR", "zip": "75001"}),
            ),
        ),
        (
            None,
            json!({"email": "a@b.co", "address": {"postal_code": "SW1A 1AA"}}),
            Some(json!({"email": "a@b.co", "zip": "SW1A 1AA"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "address": "1 Main St"}),
            Some(json!({"email": "a@b.co", "address": "1 Main St"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "city": "Lyon", "address": {"city": "Paris"}}),
            Some(json!({"email": "a@b.co", "city": "Paris"})),
        ),
    ]);
}

#[test]
fn dates_iso_strings_and_look_alikes() {
    check_identify(&[
        (
            None,
            json!({"email": "a@b.co", "since": "2020-01-01T00:00:00.000Z"}),
            Some(json!({"email": "a@b.co", "since": 1_577_836_800_000u64})),
        ),
        (
            None,
            json!({"email": "a@b.co", "born": "2020-01-01"}),
            Some(json!({"email": "a@b.co", "born": 1_577_836_800_000u64})),
        ),
        (
            None,
            json!({"email": "a@b.co", "year": "2020"}),
            Some(json!({"email": "a@b.co", "year": "2020"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "code": "123456"}),
            Some(json!({"email": "a@b.co", "code": "123456"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "n": 2020}),
            Some(json!({"email": "a@b.co", "n": 2020})),
        ),
    ]);
    let s = settings(json!({"portalId": PORTAL}));
    let mut e = event(identify(None, json!({"email": "a@b.co"})));
    e.traits
        .insert("Signed Up", Value::Date(1_600_000_000_000.0));
    let cmd = map_identify(&e, e.traits.clone(), &knobs(&s), &mut vec![]).unwrap();
    assert_eq!(
        json_of(&cmd)[1],
        json!({"email": "a@b.co", "signed_up": 1_600_000_000_000u64})
    );
}

#[test]
fn arrays_nested_objects_and_collisions() {
    check_identify(&[
        (
            None,
            json!({"email": "a@b.co", "tags": ["a", " b ", 3, true, null]}),
            Some(json!({"email": "a@b.co", "tags": "a;b;3;true"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "prefs": {"news.letter": {"weekly": true}}}),
            Some(json!({"email": "a@b.co", "prefs_news_letter_weekly": true})),
        ),
        (
            None,
            json!({"email": "a@b.co", "list": [{"a": 1}]}),
            Some(json!({"email": "a@b.co", "list": "{\"a\":1}"})),
        ),
        // Later duplicates after formatting win.
        (
            None,
            json!({"email": "a@b.co", "Plan Name": "old", "plan_name": "new"}),
            Some(json!({"email": "a@b.co", "plan_name": "new"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "a": {"b": 1}, "a_b": 2}),
            Some(json!({"email": "a@b.co", "a_b": 2})),
        ),
        // Trait keys that format to `email` or `id` do not override the mapping's own.
        (
            Some("u1"),
            json!({"email": "a@b.co", "ID": "other", "EMAIL2": "x"}),
            Some(json!({"email": "a@b.co", "id": "u1", "email2": "x"})),
        ),
        (
            None,
            json!({"email": "a@b.co", "gone": null, "keep": 0, "empty": ""}),
            Some(json!({"email": "a@b.co", "keep": 0, "empty": ""})),
        ),
    ]);
}

#[test]
fn key_formatting_is_per_character_for_traits() {
    check_identify(&[(
        None,
        json!({"email": "a@b.co", "Favourite  Colour": "x", "tab\there": 1, "dot.ted": 2}),
        Some(json!({"email": "a@b.co", "favourite__colour": "x", "tab_here": 1, "dot_ted": 2})),
    )]);
}

#[test]
fn track_names() {
    let rows = [
        (json!({"portalId": PORTAL}), "Signed Up", "pe1234_signed_up"),
        (
            json!({"portalId": PORTAL}),
            " purchased a 🍱 ",
            "pe1234_purchased_a_🍱",
        ),
        (
            json!({"portalId": PORTAL}),
            "Order.Completed  Twice",
            "pe1234_order_completed_twice",
        ),
        (
            json!({"portalId": PORTAL, "formatCustomBehavioralEventNames": false}),
            "Signed Up",
            "Signed Up",
        ),
        (
            json!({"portalId": PORTAL, "eventNames": {"Signed Up": "pe1234_signup_v2"}}),
            "Signed Up",
            "pe1234_signup_v2",
        ),
    ];
    for (s, name, want) in rows {
        let (cmd, _) = track_cmd(s, track(name, json!({})));
        assert_eq!(cmd.unwrap()[1]["name"], json!(want), "{name}");
    }
}

#[test]
fn track_name_outside_hubspots_charset_is_warned_not_rewritten() {
    let (cmd, diags) = track_cmd(
        json!({"portalId": PORTAL}),
        track("purchased a 🍱", json!({})),
    );
    assert_eq!(cmd.unwrap()[1]["name"], json!("pe1234_purchased_a_🍱"));
    assert!(diags.contains(&Diagnostic::InvalidEventName(
        "pe1234_purchased_a_🍱".into()
    )));
    let (_, diags) = track_cmd(json!({"portalId": PORTAL}), track("ok", json!({})));
    assert!(diags.is_empty());
}

#[test]
fn track_without_a_name_pushes_nothing() {
    for call in [
        json!({"type": "track"}),
        track("   ", json!({})),
        json!({"type": "track", "event": null}),
    ] {
        let (cmd, diags) = track_cmd(json!({"portalId": PORTAL}), call);
        assert_eq!(cmd, None);
        assert_eq!(diags, [Diagnostic::TrackWithoutEvent]);
    }
}

#[test]
fn track_properties() {
    let (cmd, _) = track_cmd(
        json!({"portalId": PORTAL}),
        track(
            "x",
            json!({"Item  Name": " Tea ", "cart.items": ["a", "b"], "at": "2020-01-01", "meta": {"Source Page": "/p"}, "nothing": null}),
        ),
    );
    assert_eq!(
        cmd.unwrap()[1]["properties"],
        json!({"item_name": "Tea", "cart_items": "a;b", "at": 1_577_836_800_000u64, "meta_source_page": "/p"})
    );
}

#[test]
fn track_keeps_the_first_50_properties() {
    let props: serde_json::Map<String, Json> =
        (0..60).map(|i| (format!("p{i:02}"), json!(i))).collect();
    let (cmd, diags) = track_cmd(json!({"portalId": PORTAL}), track("x", Json::Object(props)));
    let got = cmd.unwrap()[1]["properties"].as_object().unwrap().clone();
    assert_eq!(got.len(), 50);
    assert!(got.contains_key("p49") && !got.contains_key("p50"));
    assert!(diags.contains(&Diagnostic::PropertiesCapped { dropped: 10 }));
}

#[test]
fn page_paths() {
    let s = settings(json!({"portalId": PORTAL}));
    let rows = [
        (
            json!({"type": "page", "context": {"page": {"path": "/a", "search": "?q=1"}}}),
            Some("/a?q=1"),
        ),
        (
            json!({"type": "page", "context": {"page": {"path": "/a", "search": ""}}}),
            Some("/a"),
        ),
        (
            json!({"type": "page", "properties": {"path": "/b", "search": "x=1"}}),
            Some("/b?x=1"),
        ),
        (
            json!({"type": "page", "context": {"page": {"path": "/c"}}, "properties": {"path": "/ignored"}}),
            Some("/c"),
        ),
        (json!({"type": "page"}), None),
    ];
    for (call, want) in rows {
        assert_eq!(
            page_path(&event(call.clone()), &knobs(&s)).as_deref(),
            want,
            "{call}"
        );
    }
}

#[test]
fn group_alias_and_screen_push_nothing() {
    for kind in ["group", "alias", "screen"] {
        let mut p = Page::new(json!({"portalId": PORTAL}));
        p.load_hubspot();
        let from = p.pushes.len();
        p.send(json!({"type": kind, "userId": "u1", "traits": {"email": "a@b.co"}}));
        assert!(p.pushes_since(from).is_empty(), "{kind}");
        assert!(p.logs().contains(&Diagnostic::NotForwarded(kind.into())));
    }
}

#[test]
fn mapping_never_mutates_the_event() {
    let e = event(identify(
        Some("u1"),
        json!({"email": " a@b.co ", "Name": "Ann Lee", "address": {"postalCode": 1}}),
    ));
    let before = e.clone();
    let s = settings(json!({"portalId": PORTAL}));
    let _ = map_identify(&e, e.traits.clone(), &knobs(&s), &mut vec![]);
    assert_eq!(e, before);
}
