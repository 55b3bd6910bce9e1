//! Spec section 6: `compat: 'actions'` reproduces Segment's "HubSpot Web (Actions)". One test
//! per case of its test suite (15).

use crate::support::*;
use hubspot_core::script::ScriptRole;
use hubspot_core::{Input, Profile};
use serde_json::{Value as Json, json};

fn opts() -> Json {
    json!({"portalId": "1234", "compat": "actions"})
}

fn after_load(call: Json) -> Vec<Json> {
    let mut p = Page::new(opts());
    p.load_hubspot();
    let from = p.pushes.len();
    p.send(call);
    p.pushes_since(from)
}

#[test]
fn a01_loads_with_just_a_hub_id() {
    let p = Page::new(opts());
    assert_eq!(p.machine.settings().profile, Profile::Actions);
    assert_eq!(p.injected.len(), 1);
    assert_eq!(p.injected[0].url, "https://js.hs-scripts.com/1234.js");
}

#[test]
fn a02_exactly_one_loader_tag() {
    let mut p = Page::new(opts());
    p.input(Input::Start {
        existing: hubspot_core::Existing::None,
        forms_present: false,
    });
    let loaders: Vec<_> = p
        .injected
        .iter()
        .filter(|s| s.id == Some("hs-script-loader"))
        .collect();
    assert_eq!(loaders.len(), 1);
}

#[test]
fn a03_loads_the_eu_script() {
    let p = Page::new(
        json!({"portalId": "1234", "compat": "actions", "enableEuropeanDataCenter": true}),
    );
    assert_eq!(p.injected[0].url, "https://js-eu1.hs-scripts.com/1234.js");
}

#[test]
fn a04_loads_the_forms_sdk_after_tracking() {
    let mut p = Page::new(
        json!({"portalId": "1234", "compat": "actions", "loadFormsSDK": true, "enableEuropeanDataCenter": true}),
    );
    assert_eq!(p.injected.len(), 1);
    p.input(Input::ScriptSettled {
        role: ScriptRole::Tracking,
        ok: true,
    });
    assert_eq!(p.injected[1].url, "https://js-eu1.hsforms.net/forms/v2.js");
    assert_eq!(p.injected[1].role, ScriptRole::Forms);
}

#[test]
fn a05_page_with_path_sets_path_and_tracks() {
    assert_eq!(
        after_load(page("/the/path")),
        [json!(["setPath", "/the/path"]), json!(["trackPageView"])]
    );
}

#[test]
fn a06_page_without_path_tracks() {
    assert_eq!(
        after_load(json!({"type": "page"})),
        [json!(["trackPageView"])]
    );
}

#[test]
fn a07_identify_without_email_sends_nothing() {
    assert!(after_load(identify(Some("👻"), json!({"friendly": true}))).is_empty());
}

#[test]
fn a08_identify_with_email() {
    assert_eq!(
        after_load(identify(
            Some("real_hubspot_tester"),
            json!({"friendly": false, "email": "real_hubspot_tester@jest_experts.com"})
        )),
        [
            json!(["identify", {"email": "real_hubspot_tester@jest_experts.com", "id": "real_hubspot_tester", "friendly": false}])
        ]
    );
}

#[test]
fn a09_company_object_gives_only_its_name() {
    assert_eq!(
        after_load(identify(
            Some("mike"),
            json!({"friendly": false, "email": "mike_eh@lph.com",
            "company": {"id": "123", "name": "Los Pollos Hermanos", "industry": "Transportation", "employee_count": 128, "plan": "startup"}})
        )),
        [
            json!(["identify", {"email": "mike_eh@lph.com", "id": "mike", "friendly": false, "company": "Los Pollos Hermanos"}])
        ]
    );
}

fn address() -> Json {
    json!({"street": "6th St", "city": "San Francisco", "state": "CA", "postalCode": "94103", "country": "USA"})
}

fn address_out() -> Json {
    json!({"email": "mike_eh@lph.com", "id": "mike", "friendly": false, "address": "6th St", "country": "USA", "state": "CA", "city": "San Francisco", "zip": "94103"})
}

#[test]
fn a10_address_fields() {
    assert_eq!(
        after_load(identify(
            Some("mike"),
            json!({"friendly": false, "email": "mike_eh@lph.com", "address": address()})
        )),
        [json!(["identify", address_out()])]
    );
}

fn with_equipment(mut out: Json) -> Json {
    for (k, v) in [
        ("equipment_type", json!("🚘")),
        ("equipment_color", json!("red")),
        ("equipment_make_make", json!("Tesla")),
        ("equipment_make_model", json!("Model S")),
        ("equipment_make_year", json!(2019)),
    ] {
        out[k] = v;
    }
    out
}

#[test]
fn a11_nested_traits_flattened() {
    assert_eq!(
        after_load(identify(
            Some("mike"),
            json!({"friendly": false, "email": "mike_eh@lph.com", "address": address(),
            "equipment": {"type": "🚘", "color": "red", "make": {"make": "Tesla", "model": "Model S", "year": 2019}}})
        )),
        [json!(["identify", with_equipment(address_out())])]
    );
}

#[test]
fn a12_string_traits_trimmed() {
    let mut addr = address();
    addr["city"] = json!("  San Francisco  ");
    assert_eq!(
        after_load(identify(
            Some("mike"),
            json!({"friendly": false, "email": "mike_eh@lph.com", "address": addr,
            "equipment": {"type": "🚘", "color": "  red  ", "make": {"make": "Tesla", "model": "Model S", "year": 2019}}})
        )),
        [json!(["identify", with_equipment(address_out())])]
    );
}

#[test]
fn a13_event_name_formatted_with_emoji() {
    assert_eq!(
        after_load(track("purchased a 🍱", json!({}))),
        [
            json!(["trackCustomBehavioralEvent", {"name": "pe1234_purchased_a_🍱", "properties": {}}])
        ]
    );
}

#[test]
fn a14_nested_properties_flattened() {
    assert_eq!(
        after_load(track(
            "purchased a 🍱",
            json!({"sides": {"item1": "edamame", "item2": "miso"}, "price": 12})
        )),
        [
            json!(["trackCustomBehavioralEvent", {"name": "pe1234_purchased_a_🍱",
            "properties": {"sides_item1": "edamame", "sides_item2": "miso", "price": 12}}])
        ]
    );
}

#[test]
fn a15_spaces_and_dots_in_keys_become_underscores_and_false_is_kept() {
    assert_eq!(
        after_load(track(
            "x",
            json!({"Has Spaces": "a", "has.dots": "b", "flag": false, "Deep": {"Inner Key": 1}})
        )),
        [json!(["trackCustomBehavioralEvent", {"name": "pe1234_x",
            "properties": {"has_spaces": "a", "has_dots": "b", "flag": false, "deep_inner_key": 1}}])]
    );
}

#[test]
fn actions_keeps_identify_keys_arrays_by_index_and_iso_strings() {
    assert_eq!(
        after_load(identify(
            None,
            json!({"email": "a@b.co", "firstName": "Ann", "tags": ["x", "y"], "since": "2020-01-01"})
        )),
        [
            json!(["identify", {"email": "a@b.co", "firstName": "Ann", "tags_0": "x", "tags_1": "y", "since": "2020-01-01"}])
        ]
    );
}

#[test]
fn actions_first_page_before_load_counts_the_landing_twice() {
    let mut p = Page::new(opts());
    p.send(page("/landing"));
    assert_eq!(
        p.pushes,
        [json!(["setPath", "/landing"]), json!(["trackPageView"])]
    );
    p.load_hubspot();
    assert_eq!(
        p.hubspot.received,
        [pv("/landing", None), pv("/landing", None)]
    );
}
