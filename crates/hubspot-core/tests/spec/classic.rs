//! Spec section 6: `compat: 'classic'` reproduces Segment's analytics.js HubSpot integration.
//! One test per case of its test suite (24), in its order.

use crate::support::*;
use hubspot_core::mapping::{map_identify, map_track};
use hubspot_core::script::{ScriptRole, cache_buster};
use hubspot_core::{Consent, Profile, Value};
use serde_json::{Value as Json, json};

fn opts() -> Json {
    json!({"portalId": 62515, "compat": "classic"})
}

/// A loaded page (initialize, first page, ready), as the reference suite's "after loading".
fn loaded() -> Page {
    let mut p = Page::new(opts());
    p.send(page("/"));
    p.load_hubspot();
    p
}

/// The commands one call pushes after load.
fn after_load(call: Json) -> Vec<Json> {
    let mut p = loaded();
    let from = p.pushes.len();
    p.send(call);
    p.pushes_since(from)
}

/// Identify with a `Date` trait (JSON cannot carry one).
fn identify_pushes_with_date(key: &str, ms: f64) -> Vec<Json> {
    let s = settings(opts());
    let mut e = event(identify(None, json!({"email": "name@example.com"})));
    e.traits.insert(key, Value::Date(ms));
    vec![json_of(
        &map_identify(&e, e.traits.clone(), &knobs(&s), &mut vec![]).unwrap(),
    )]
}

#[test]
fn c01_settings_defaults() {
    let s = settings(opts());
    assert_eq!(s.profile, Profile::Classic);
    assert_eq!(s.portal_id, "62515");
    assert!(!s.load_forms_sdk && !s.european_data_center);
    assert_eq!(s.consent, Consent::Granted);
}

#[test]
fn c02_initialize_creates_the_queue_and_first_page_pushes_nothing() {
    // The shell creates `window._hsq` when the machine starts; classic's first page() is
    // covered by HubSpot's automatic page view, so it pushes nothing.
    let mut p = Page::new(opts());
    p.send(page("/"));
    assert!(p.pushes.is_empty());
    assert_eq!(p.injected.len(), 1);
}

#[test]
fn c03_initialize_calls_load() {
    let p = Page::new(opts());
    assert_eq!(p.injected[0].role, ScriptRole::Tracking);
}

#[test]
fn c04_loads_the_global_tag() {
    let p = Page::new(opts());
    let cb = cache_buster(p.now);
    assert_eq!(
        p.injected[0].url,
        format!("https://js.hs-analytics.net/analytics/{cb}/62515.js")
    );
    assert_eq!(p.injected[0].id, Some("hs-analytics"));
    assert_eq!(cb % 300_000, 0);
    assert!(cb as f64 >= p.now);
}

#[test]
fn c05_loads_the_eu_tag() {
    let p = Page::new(
        json!({"portalId": 62515, "compat": "classic", "enableEuropeanDataCenter": true}),
    );
    let cb = cache_buster(p.now);
    assert_eq!(
        p.injected[0].url,
        format!("https://js-eu1.hs-analytics.net/analytics/{cb}/62515.js")
    );
}

#[test]
fn c06_loads_forms_first_then_tracking() {
    let mut p = Page::new(
        json!({"portalId": 62515, "compat": "classic", "loadFormsSdk": true, "enableEuropeanDataCenter": true}),
    );
    assert_eq!(p.injected.len(), 1);
    assert_eq!(
        p.injected[0].url, "https://js.hsforms.net/forms/shell.js",
        "classic has no EU forms URL"
    );
    p.input(hubspot_core::Input::ScriptSettled {
        role: ScriptRole::Forms,
        ok: true,
    });
    assert_eq!(p.injected.len(), 2);
    assert_eq!(p.injected[1].role, ScriptRole::Tracking);
}

#[test]
fn c07_identify_without_email_sends_nothing() {
    assert!(after_load(identify(Some("id"), json!({}))).is_empty());
}

#[test]
fn c08_identify_with_email() {
    assert_eq!(
        after_load(identify(None, json!({"email": "name@example.com"}))),
        [json!(["identify", {"email": "name@example.com"}])]
    );
}

#[test]
fn c09_identify_with_id_and_email() {
    assert_eq!(
        after_load(identify(Some("id"), json!({"email": "name@example.com"}))),
        [json!(["identify", {"id": "id", "email": "name@example.com"}])]
    );
}

#[test]
fn c10_identify_converts_dates_to_milliseconds() {
    assert_eq!(
        identify_pushes_with_date("date", 1_600_000_000_123.0),
        [json!(["identify", {"email": "name@example.com", "date": 1_600_000_000_123u64}])]
    );
}

#[test]
fn c11_identify_normalizes_first_and_last_name() {
    assert_eq!(
        after_load(identify(
            None,
            json!({"email": "name@example.com", "firstName": "First", "lastName": "Last"})
        )),
        [
            json!(["identify", {"email": "name@example.com", "firstname": "First", "lastname": "Last"}])
        ]
    );
}

#[test]
fn c12_identify_lowercases_keys() {
    assert_eq!(
        after_load(identify(
            None,
            json!({"email": "name@example.com", "yOlO": "yolo"})
        )),
        [json!(["identify", {"email": "name@example.com", "yolo": "yolo"}])]
    );
}

#[test]
fn c13_identify_replaces_white_space_in_keys() {
    assert_eq!(
        after_load(identify(
            None,
            json!({"email": "name@example.com", "gogurts are\tlife\rand\u{0B}good\ntoday\u{0C}horray": "yolo"})
        )),
        [
            json!(["identify", {"email": "name@example.com", "gogurts_are_life_and_good_today_horray": "yolo"}])
        ]
    );
}

#[test]
fn c14_identify_replaces_periods_in_keys() {
    assert_eq!(
        after_load(identify(
            None,
            json!({"email": "name@example.com", "gogurts.are.life": "yolo"})
        )),
        [json!(["identify", {"email": "name@example.com", "gogurts_are_life": "yolo"}])]
    );
}

#[test]
fn c15_identify_fills_in_company_name() {
    assert_eq!(
        after_load(identify(
            None,
            json!({"email": "name@example.com", "company": {"name": "Example Company"}})
        )),
        [json!(["identify", {"email": "name@example.com", "company": "Example Company"}])]
    );
}

#[test]
fn c16_identify_trims_padded_values() {
    assert_eq!(
        after_load(identify(
            Some("  id "),
            json!({"email": " name@example.com\u{200B}", "plan": "  pro  ", "nested": {"x": " y "}})
        )),
        [
            json!(["identify", {"email": "name@example.com", "id": "id", "plan": "pro", "nested": {"x": "y"}}])
        ]
    );
}

#[test]
fn c17_track_sends_an_event() {
    assert_eq!(
        after_load(track("event", json!({}))),
        [json!(["trackEvent", "event", {"id": "event"}])]
    );
}

#[test]
fn c18_track_sends_event_and_properties() {
    assert_eq!(
        after_load(track("event", json!({"property": true}))),
        [json!(["trackEvent", "event", {"property": true, "id": "event"}])]
    );
}

#[test]
fn c19_track_converts_dates_to_milliseconds() {
    let s = settings(opts());
    let mut e = event(track("event", json!({})));
    e.properties
        .insert("date", Value::Date(1_600_000_000_000.0));
    let cmd = map_track(&e, e.properties.clone(), &s, &knobs(&s), &mut vec![]).unwrap();
    assert_eq!(
        json_of(&cmd),
        json!(["trackEvent", "event", {"date": 1_600_000_000_000u64, "id": "event"}])
    );
}

#[test]
fn c20_track_attaches_event_name_as_id() {
    assert_eq!(
        after_load(track("Viewed Product", json!({}))),
        [json!(["trackEvent", "Viewed Product", {"id": "Viewed Product"}])]
    );
}

#[test]
fn c21_track_moves_properties_id_to_underscore_id() {
    assert_eq!(
        after_load(track("Viewed Product", json!({"id": "12345"}))),
        [json!(["trackEvent", "Viewed Product", {"id": "Viewed Product", "_id": "12345"}])]
    );
}

#[test]
fn c22_track_sends_revenue_as_value() {
    assert_eq!(
        after_load(track(
            "Did Something Valuable",
            json!({"id": "12345", "revenue": 13})
        )),
        [
            json!(["trackEvent", "Did Something Valuable", {"id": "Did Something Valuable", "_id": "12345", "value": 13}])
        ]
    );
}

#[test]
fn c23_track_trims_padded_event_and_id() {
    assert_eq!(
        after_load(track("  Viewed Product ", json!({"id": " 12345 "}))),
        [json!(["trackEvent", "Viewed Product", {"id": "Viewed Product", "_id": "12345"}])]
    );
}

#[test]
fn c24_second_page_sends_track_page_view() {
    assert_eq!(after_load(page("/next")), [json!(["trackPageView"])]);
}

/// Where classic's source decides beyond its suite. Classic 2.2.5 is
/// `integrations/hubspot/lib/index.js` in segmentio/analytics.js-integrations; its `identify`
/// calls segmentio-facade's `Identify#traits({firstName: 'firstname', lastName: 'lastname'})`,
/// whose lookups go through obj-case (keys compared lowercased, without separators).
/// Each case: the classic behaviour it pins, traits in, the identify pushed after load.
#[test]
fn classic_identify_traits_as_classic_sends_them() {
    let cases = [
        (
            "traits(aliases) finds `first_name`/`last_name` for the aliases firstName/lastName and \
             copies them to firstname/lastname, but deletes only the exact alias keys: the \
             snake_case ones are sent too",
            json!({"email": "a@b.co", "first_name": " Ann ", "last_name": "Lee"}),
            json!({"email": "a@b.co", "first_name": "Ann", "last_name": "Lee", "firstname": "Ann", "lastname": "Lee"}),
        ),
        (
            "the camelCase alias key is deleted, a snake_case one beside it is kept",
            json!({"email": "a@b.co", "first_name": "Ann", "lastName": "Lee"}),
            json!({"email": "a@b.co", "first_name": "Ann", "firstname": "Ann", "lastname": "Lee"}),
        ),
        (
            "Identify#firstName/#lastName split `name` when no first/last name trait exists; \
             `name` is no alias, so it stays",
            json!({"email": "a@b.co", "name": "Ann Lee"}),
            json!({"email": "a@b.co", "name": "Ann Lee", "firstname": "Ann", "lastname": "Lee"}),
        ),
        (
            "identify maps no address fields: an `address` object is pushed nested, its keys as \
             sent (formatTraits renames top-level keys only), its strings trimmed \
             (sanitizeValue) and its ISO dates in ms (facade's ISO traverse, then convertDates)",
            json!({"email": "a@b.co", "address": {
                "street": " 1 Main St ", "city": "Paris", "postalCode": 75001,
                "movedIn": "2020-01-01T00:00:00Z"
            }}),
            json!({"email": "a@b.co", "address": {
                "street": "1 Main St", "city": "Paris", "postalCode": 75001,
                "movedIn": 1_577_836_800_000u64
            }}),
        ),
        (
            "a string `address` is an ordinary trait too",
            json!({"email": "a@b.co", "address": " 1 Main St, Paris "}),
            json!({"email": "a@b.co", "address": "1 Main St, Paris"}),
        ),
    ];
    for (classic, traits, want) in cases {
        assert_eq!(
            after_load(identify(None, traits)),
            [json!(["identify", want])],
            "{classic}"
        );
    }
}

/// When classic pushes: segmentio/analytics.js-integration 3.x (`lib/protos.js`), which classic
/// 2.2.5 is built on. `invoke` queues every call while the integration is not ready; `ready`
/// (classic's callback to `load` of its tracking tag) flushes the queue in order through the
/// wrapped methods, the first `page` skipped (`assumesPageview`); `load` calls back only on
/// success, and on a script error only logs. Each case: the classic behaviour it pins, calls
/// while HubSpot's script loads, whether it loads, calls after, every command pushed.
#[test]
fn classic_pushes_nothing_before_its_script_has_loaded() {
    let id = || identify(None, json!({"email": "a@b.co"}));
    let event = |name: &str| json!(["trackEvent", name, {"id": name}]);
    let cases = [
        (
            "calls wait in the integration's queue and are flushed in order once the script \
             has loaded; the first page is skipped",
            vec![id(), page("/"), track("Before", json!({}))],
            true,
            vec![],
            vec![json!(["identify", {"email": "a@b.co"}]), event("Before")],
        ),
        (
            "a later page waits in the same queue, in call order",
            vec![page("/"), id(), page("/two"), track("Before", json!({}))],
            true,
            vec![],
            vec![
                json!(["identify", {"email": "a@b.co"}]),
                json!(["trackPageView"]),
                event("Before"),
            ],
        ),
        (
            "a failed script never calls back, so the integration never becomes ready: calls \
             made before or after the failure are never pushed",
            vec![id(), page("/"), track("Before", json!({}))],
            false,
            vec![id(), page("/two"), track("After", json!({}))],
            vec![],
        ),
    ];
    for (classic, before, loads, after, want) in cases {
        let mut p = Page::new(opts());
        for call in before {
            p.send(call);
        }
        assert_eq!(
            p.pushes,
            Vec::<Json>::new(),
            "{classic}: before the script settled"
        );
        if loads {
            p.load_hubspot();
        } else {
            p.input(hubspot_core::Input::ScriptSettled {
                role: ScriptRole::Tracking,
                ok: false,
            });
        }
        for call in after {
            p.send(call);
        }
        assert_eq!(p.pushes, want, "{classic}");
    }
}

#[test]
fn classic_keeps_other_nested_traits_nested_and_converts_deep_dates() {
    let pushes = after_load(identify(
        None,
        json!({
            "email": "a@b.co",
            "prefs": {"since": "2020-01-01T00:00:00Z", "tags": ["x ", "2020-01-01"]}
        }),
    ));
    assert_eq!(
        pushes,
        [json!(["identify", {
            "email": "a@b.co",
            "prefs": {"since": 1_577_836_800_000u64, "tags": ["x", 1_577_836_800_000u64]}
        }])]
    );
}

#[test]
fn classic_revenue_edge_cases() {
    let cases = [
        (
            track("Bought", json!({"revenue": "$1,000"})),
            json!({"value": 1, "id": "Bought"}),
        ),
        (
            track("Bought", json!({"revenue": 0})),
            json!({"revenue": 0, "id": "Bought"}),
        ),
        (
            track("Bought", json!({"revenue": "abc"})),
            json!({"revenue": "abc", "id": "Bought"}),
        ),
        (
            track("Bought", json!({"revenue": "$12.50"})),
            json!({"value": 12.5, "id": "Bought"}),
        ),
        (
            track("Order Completed", json!({"total": 30})),
            json!({"total": 30, "value": 30, "id": "Order Completed"}),
        ),
        (
            track("completed_order", json!({"total": "$5"})),
            json!({"total": "$5", "value": 5, "id": "completed_order"}),
        ),
        (
            track("Checkout", json!({"total": 30})),
            json!({"total": 30, "id": "Checkout"}),
        ),
    ];
    for (call, want) in cases {
        let got = after_load(call.clone());
        assert_eq!(got, [json!(["trackEvent", call["event"], want])], "{call}");
    }
}

#[test]
fn classic_identify_by_email_user_id_still_carries_email() {
    // Classic passes the gate on an email userId but then pushes no `email`; we always do.
    let got = after_load(identify(Some("u@example.com"), json!({"plan": "pro"})));
    assert_eq!(
        got,
        [json!(["identify", {"email": "u@example.com", "id": "u@example.com", "plan": "pro"}])]
    );
}
