//! The HubSpot Source beyond CRM records, against the fake over real HTTP: contacts' identity
//! profiles, form submissions, custom objects, and per-object property lists.
//!
//! Every case runs against both destinations, as `tests/sync.rs`'s do: `sqlite::…` always,
//! `postgres::…` when asked:
//! `scripts/pg-test.sh cargo test -p hubspot-cloud --test sync_more -- --ignored`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fake_hubspot::{CustomObject, FakeConfig, PropertyDefinition as Def, RateLimits};
use hubspot_cloud::client::HubSpotApi;
use hubspot_cloud::clock::{Clock, SystemClock};
use hubspot_cloud::config::{ObjectProperties, PropertySelection};
use hubspot_cloud::delivery::RateBudget;
use hubspot_cloud::source::db::Db;
use hubspot_cloud::source::{self, Source, SyncOptions, SyncReport, TableReport};
use hubspot_cloud::sql_params;
use serde_json::{Value, json};

#[macro_use]
mod sync_support;
use sync_support::{Dest, Env, count, db, env, options};

impl Env {
    /// Creates a record of `object_type` now, searchable at once; answers its id.
    async fn create(&self, object_type: &str, properties: Value) -> String {
        let r = self
            .control(
                &format!("objects/{object_type}/create"),
                json!({ "properties": properties }),
            )
            .await;
        self.fake.settle_search();
        r["id"].as_str().unwrap().to_owned()
    }
}

fn table<'a>(report: &'a SyncReport, collection: &str) -> &'a TableReport {
    report
        .tables
        .iter()
        .find(|t| t.collection == collection)
        .unwrap_or_else(|| panic!("no {collection} in {report:?}"))
}

/// The `property_…` columns of `table`, sorted.
async fn property_columns(conn: &Db, table: &str) -> Vec<String> {
    let columns = conn.sql().columns(table).await.unwrap();
    columns
        .into_iter()
        .filter(|c| c.starts_with("property_"))
        .collect()
}

/// `(type, value, is_primary, is_secondary, is_deleted)` of each identity of profile `contact`.
async fn identities_of(conn: &Db, contact: &str) -> Vec<(String, String, i64, i64, i64)> {
    let rows = conn
        .sql()
        .query(
            "SELECT type, value, is_primary, is_secondary, is_deleted FROM contact_identities
             WHERE contact_id = ?1 AND type = 'EMAIL'",
            sql_params![contact],
        )
        .await
        .unwrap();
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.text(0).unwrap(),
                r.text(1).unwrap(),
                r.int(2).unwrap(),
                r.int(3).unwrap(),
                r.int(4).unwrap(),
            )
        })
        .collect();
    // By value in byte order on both destinations (PostgreSQL's ORDER BY follows its
    // collation).
    out.sort();
    out
}

fn email(
    value: &str,
    primary: i64,
    secondary: i64,
    deleted: i64,
) -> (String, String, i64, i64, i64) {
    ("EMAIL".into(), value.into(), primary, secondary, deleted)
}

async fn identities_follow_secondary_emails_merges_and_removals(dest: Dest) {
    let env = env(FakeConfig::default()).await;
    let a = env
        .create(
            "contacts",
            json!({ "email": "a@example.com", "hs_additional_emails": "a2@example.com" }),
        )
        .await;
    let b = env
        .create("contacts", json!({ "email": "b@example.com" }))
        .await;
    let mut conn = db(dest).await;
    // The initial run reads identities in its full pass.
    let report = env.sync(&mut conn, &options(&["contacts"])).await;
    assert_eq!(
        identities_of(&conn, &a).await,
        [
            email("a2@example.com", 0, 1, 0),
            email("a@example.com", 1, 0, 0)
        ]
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM contact_identities WHERE contact_id = '{a}' AND type = 'LEAD_GUID'"
            )
        ).await,
        1
    );
    assert_eq!(table(&report, "contacts").identities.inserted, 5);

    let merged = env
        .control(
            "objects/contacts/merge",
            json!({ "primaryObjectId": a, "objectIdToMerge": b }),
        )
        .await;
    let c = merged["id"].as_str().unwrap().to_owned();
    env.fake.settle_search();
    // Incremental: the survivor's page reads its identities before it commits.
    env.sync(&mut conn, &options(&["contacts"])).await;
    assert_eq!(
        identities_of(&conn, &c).await,
        [
            email("a2@example.com", 0, 1, 0),
            email("a@example.com", 1, 0, 0),
            email("b@example.com", 0, 1, 0)
        ]
    );
    // The merged-away contacts keep their own profiles, now held by the survivor.
    for old in [&a, &b] {
        let canonical = conn
            .sql()
            .query_opt(
                "SELECT canonical_contact_id FROM contact_identity_profiles WHERE contact_id = ?1",
                sql_params![old],
            )
            .await
            .unwrap()
            .and_then(|r| r.text(0))
            .unwrap();
        assert_eq!(canonical, c, "{old}");
    }
    assert_eq!(
        identities_of(&conn, &b).await,
        [email("b@example.com", 1, 0, 0)]
    );
    let every_address_of_c = format!(
        "SELECT count(DISTINCT i.value) FROM contact_identities i
         JOIN contact_identity_profiles p ON p.contact_id = i.contact_id
         WHERE p.canonical_contact_id = '{c}' AND i.type = 'EMAIL' AND NOT i.is_deleted"
    );
    assert_eq!(count(&conn, &every_address_of_c).await, 3);

    // A secondary address removed in HubSpot is marked, not left behind.
    env.control(
        "objects/contacts/modify",
        json!({ "ids": [c], "properties": { "hs_additional_emails": "b@example.com" }, "indexed": true }),
    )
    .await;
    let report = env.sync(&mut conn, &options(&["contacts"])).await;
    assert_eq!(table(&report, "contacts").identities.deleted, 1);
    assert_eq!(
        identities_of(&conn, &c).await,
        [
            email("a2@example.com", 0, 1, 1),
            email("a@example.com", 1, 0, 0),
            email("b@example.com", 0, 1, 0)
        ]
    );
}

/// `(submitted_at, values, contact_id)` of every submission, in time then key order.
async fn submissions(conn: &Db) -> Vec<(String, String, Option<String>)> {
    let rows = conn
        .sql()
        .query(
            "SELECT submitted_at, \"values\", contact_id, submission_key FROM form_submissions",
            &[],
        )
        .await
        .unwrap();
    let mut keyed: Vec<_> = rows
        .iter()
        .map(|r| {
            let row = (r.text(0).unwrap(), r.text(1).unwrap(), r.text(2));
            (row.0.clone(), r.text(3).unwrap(), row)
        })
        .collect();
    // Time, then key, in byte order on both destinations.
    keyed.sort();
    keyed.into_iter().map(|(_, _, row)| row).collect()
}

async fn form_submissions_initial_then_incremental_without_duplicates(dest: Dest) {
    let env = env(FakeConfig::default()).await;
    let known = env
        .create("contacts", json!({ "email": "known@example.com" }))
        .await;
    let form = env
        .control(
            "forms",
            json!({ "name": "Demo request", "fields": ["email", "note"] }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = env.control("forms", json!({ "name": "Empty" })).await;
    assert!(other["id"].is_string());
    let now = SystemClock.now_ms() as i64;
    // 60 submissions a minute apart (two pages), two of them in the same millisecond.
    for k in 0..60 {
        let at = now - 3_600_000 * 3 + k * 60_000;
        env.control(
            &format!("forms/{form}/submissions"),
            json!({ "values": { "email": format!("s{k}@example.com"), "note": "hi" }, "submitted_at": at }),
        )
        .await;
    }
    let same_ms = now - 3_600_000 * 3;
    env.control(
        &format!("forms/{form}/submissions"),
        json!({ "values": { "email": "known@example.com", "note": "twin" }, "submitted_at": same_ms, "page_url": "https://example.com/b" }),
    )
    .await;
    let mut conn = db(dest).await;
    // No trailing window: an unchanged form then costs one page.
    let opts = SyncOptions {
        lag: Duration::ZERO,
        ..options(&["contacts", "form_submissions"])
    };
    let report = env.sync(&mut conn, &opts).await;
    assert_eq!(table(&report, "form_submissions").inserted, 61);
    let first = submissions(&conn).await;
    assert_eq!(first.len(), 61);
    let twins: Vec<_> = first.iter().filter(|s| s.0 == first[0].0).collect();
    assert_eq!(
        twins.len(),
        2,
        "one millisecond, two submissions: {twins:?}"
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM form_submissions WHERE contact_id = '{known}' AND form_name = 'Demo request'"
            )
        ).await,
        1
    );

    // Nothing new: nothing written, and each form stops at its cursor on the first page.
    let report = env.sync(&mut conn, &options(&["form_submissions"])).await;
    let t = table(&report, "form_submissions");
    assert_eq!((t.inserted, t.updated), (0, 0));
    assert_eq!(submissions(&conn).await, first);
    let rerun = env
        .sync(
            &mut conn,
            &SyncOptions {
                lag: Duration::ZERO,
                ..options(&["form_submissions"])
            },
        )
        .await;
    assert_eq!(rerun.requests, 3, "forms list + one page per form");

    env.control(
        &format!("forms/{form}/submissions"),
        json!({ "values": { "email": "new@example.com" }, "submitted_at": now }),
    )
    .await;
    let report = env.sync(&mut conn, &options(&["form_submissions"])).await;
    assert_eq!(table(&report, "form_submissions").inserted, 1);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM form_submissions").await,
        62
    );
    let report = env
        .sync(
            &mut conn,
            &SyncOptions {
                full_refresh: true,
                ..options(&["form_submissions"])
            },
        )
        .await;
    assert_eq!(table(&report, "form_submissions").inserted, 0);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM form_submissions").await,
        62
    );
    let states = count(
        &conn,
        "SELECT count(*) FROM _sync_state WHERE collection LIKE 'form_submissions:%'",
    )
    .await;
    assert_eq!(states, 2, "one cursor per form");
}

fn cars() -> CustomObject {
    let mut cars = CustomObject::new(
        "cars",
        vec![
            Def::string("model", "carinformation"),
            Def::string("vin", "carinformation"),
            Def::number("price", "carinformation"),
        ],
    );
    cars.required_properties = vec!["vin".into()];
    cars
}

async fn a_custom_object_is_synced_archived_restored_and_linked(dest: Dest) {
    let env = env(FakeConfig::default().with_custom_object(cars())).await;
    let contact = env
        .create("contacts", json!({ "email": "driver@example.com" }))
        .await;
    let mut ids = Vec::new();
    for k in 0..3 {
        ids.push(
            env.create(
                "p_cars",
                json!({ "model": format!("m{k}"), "vin": format!("v{k}"), "price": "100" }),
            )
            .await,
        );
    }
    env.control(
        "associations",
        json!({ "from_type": "p_cars", "from_id": ids[0], "to_type": "contacts", "to_id": contact }),
    )
    .await;
    let mut conn = db(dest).await;
    let opts = || SyncOptions {
        lag: Duration::ZERO,
        ..options(&["contacts", "custom_objects"])
    };
    let report = env.sync(&mut conn, &opts()).await;
    assert_eq!(table(&report, "cars").inserted, 3);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM cars WHERE property_model = 'm1' AND property_vin = 'v1'"
        )
        .await,
        1
    );
    // Default properties of a custom object: required, searchable and display ones.
    let columns = property_columns(&conn, "cars").await;
    assert!(
        columns.contains(&"property_model".to_owned()),
        "{columns:?}"
    );
    assert!(columns.contains(&"property_vin".to_owned()), "{columns:?}");
    assert!(
        !columns.contains(&"property_price".to_owned()),
        "{columns:?}"
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM associations WHERE from_type = 'cars' AND from_id = '{}'
                 AND to_type = 'contacts' AND to_id = '{contact}' AND NOT is_deleted",
                ids[0]
            )
        )
        .await,
        1
    );

    env.control("objects/p_cars/archive", json!({ "ids": [ids[1]] }))
        .await;
    // Later writes move the cursor past the archived record's modified time, so only
    // reconciling ids can bring it back.
    env.control(
        "objects/p_cars/modify",
        json!({ "ids": [ids[0], ids[2]], "indexed": true, "at_ms": SystemClock.now_ms() + 1_000 }),
    )
    .await;
    let report = env.sync(&mut conn, &opts()).await;
    assert_eq!(table(&report, "cars").deleted, 1);
    let deleted = format!("SELECT is_deleted FROM cars WHERE id = '{}'", ids[1]);
    assert_eq!(count(&conn, &deleted).await, 1);
    env.control(
        "objects/p_cars/restore",
        json!({ "ids": [ids[1]], "touch": false }),
    )
    .await;
    // A link added later, seen when the record changes.
    env.control(
        "associations",
        json!({ "from_type": "p_cars", "from_id": ids[2], "to_type": "contacts", "to_id": contact }),
    )
    .await;
    env.control(
        "objects/p_cars/modify",
        json!({ "ids": [ids[2]], "properties": { "model": "m2b" }, "indexed": true, "at_ms": SystemClock.now_ms() + 2_000 }),
    )
    .await;
    let report = env.sync(&mut conn, &opts()).await;
    assert_eq!(table(&report, "cars").restored, 1);
    assert_eq!(count(&conn, &deleted).await, 0);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM associations WHERE from_type = 'cars' AND NOT is_deleted"
        )
        .await,
        2
    );
    let status = source::status(conn.sql(), "main").await.unwrap();
    let cars = status.iter().find(|s| s.collection == "cars").unwrap();
    assert_eq!(cars.rows, 3);
    assert!(cars.state.is_some());
    // By name too.
    let report = env.sync(&mut conn, &options(&["cars"])).await;
    assert_eq!(report.tables.len(), 1);
    assert_eq!(report.tables[0].collection, "cars");
}

async fn a_schema_added_between_runs_is_synced_on_the_next_and_never_takes_a_contract_table(
    dest: Dest,
) {
    let env = env(FakeConfig::default()).await;
    let mut conn = db(dest).await;
    let report = env.sync(&mut conn, &options(&["custom_objects"])).await;
    assert!(report.tables.is_empty(), "{report:?}");
    for name in ["boats", "owners"] {
        env.control(
            "schemas",
            json!({ "name": name, "properties": [
                { "name": "hull", "label": "Hull", "type": "string", "fieldType": "text", "groupName": "g" }
            ]}),
        )
        .await;
        env.create(&format!("p_{name}"), json!({ "hull": "wood" }))
            .await;
    }
    let report = env.sync(&mut conn, &options(&["custom_objects"])).await;
    let names: Vec<&str> = report
        .tables
        .iter()
        .map(|t| t.collection.as_str())
        .collect();
    assert_eq!(names, ["boats", "p_owners"]);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM boats WHERE property_hull = 'wood'"
        )
        .await,
        1
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM p_owners").await, 1);
    assert!(!conn.sql().table_exists("owners").await.unwrap());
    let unknown = Source::new(
        "main",
        env.client.clone(),
        Arc::new(SystemClock),
        &RateBudget::Process,
        100,
        Duration::from_secs(10),
        1.0,
    )
    .sync(&mut conn, &options(&["planes"]))
    .await;
    let error = unknown.tables[0].error.as_deref().unwrap();
    assert!(error.contains("unknown collection 'planes'"), "{error}");
}

async fn per_object_property_lists_make_exactly_those_columns(dest: Dest) {
    let env =
        env(FakeConfig::default()
            .with_property("contacts", Def::string("plan", "contactinformation")))
        .await;
    env.create(
        "contacts",
        json!({ "email": "p@example.com", "firstname": "Pat", "plan": "pro" }),
    )
    .await;
    env.create("companies", json!({ "name": "Acme", "domain": "acme.com" }))
        .await;
    env.create("deals", json!({ "dealname": "Big" })).await;
    let per = BTreeMap::from([
        (
            "contacts".to_owned(),
            ObjectProperties::Named(vec!["firstname".into(), "plan".into(), "planet".into()]),
        ),
        ("companies".to_owned(), ObjectProperties::All),
        ("contcts".to_owned(), ObjectProperties::All),
    ]);
    let opts = SyncOptions {
        properties: PropertySelection::PerObject(per),
        ..options(&["contacts", "companies", "deals"])
    };
    let mut conn = db(dest).await;
    let report = env.sync(&mut conn, &opts).await;
    assert_eq!(
        property_columns(&conn, "contacts").await,
        ["property_firstname", "property_plan"]
    );
    assert_eq!(
        table(&report, "contacts").warnings,
        ["sync.properties.contacts: planet not defined in the portal, skipped"]
    );
    assert!(table(&report, "companies").warnings.is_empty());
    assert_eq!(
        report.warnings,
        [
            "sync.properties.contcts: no such object in the portal (objects: contacts, companies, \
          deals, tickets), ignored"
        ]
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM contacts WHERE property_plan = 'pro'"
        )
        .await,
        1
    );
    let all_companies = env.client.properties("companies").await.unwrap().len();
    assert_eq!(
        property_columns(&conn, "companies").await.len(),
        all_companies
    );
    // Not named: the default list.
    let deal_columns = property_columns(&conn, "deals").await;
    assert!(deal_columns.contains(&"property_dealname".to_owned()));
    let defaults = source::crm::DEFAULT_PROPERTIES
        .iter()
        .find(|(t, _)| *t == "deals")
        .unwrap()
        .1;
    for c in &deal_columns {
        let name = c.trim_start_matches("property_");
        assert!(
            defaults.contains(&name) || name == "hs_lastmodifieddate" || name == "createdate",
            "{c}"
        );
    }

    // A property added to the portal is a column of an `all` object on the next run.
    env.control(
        "properties/companies",
        json!({ "name": "tier", "label": "Tier", "type": "string", "fieldType": "text", "groupName": "companyinformation" }),
    )
    .await;
    env.control(
        "objects/companies/modify",
        json!({ "properties": { "tier": "gold" }, "indexed": true, "at_ms": SystemClock.now_ms() + 1_000 }),
    )
    .await;
    env.sync(&mut conn, &opts).await;
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM companies WHERE property_tier = 'gold'"
        )
        .await,
        1
    );
    assert_eq!(
        property_columns(&conn, "companies").await.len(),
        all_companies + 1
    );
}

/// Requests to endpoints whose key contains `part`.
fn requests_to(state: &fake_hubspot::FakeState, part: &str) -> u64 {
    state
        .requests
        .iter()
        .filter(|(k, _)| k.contains(part))
        .map(|(_, by_status)| by_status.values().sum::<u64>())
        .sum()
}

async fn identities_and_submissions_cost_one_request_per_hundred_contacts_and_per_fifty_submissions(
    dest: Dest,
) {
    let sizes = fake_hubspot::PortalSizes {
        contacts: 3_000,
        forms: 4,
        submissions: 2_000,
        ..Default::default()
    };
    let env = env(FakeConfig::default().with_generated_portal(7, sizes)).await;
    let mut conn = db(dest).await;
    let opts = SyncOptions {
        lag: Duration::ZERO,
        ..options(&["contacts", "form_submissions"])
    };
    let started = std::time::Instant::now();
    let report = env.sync(&mut conn, &opts).await;
    let state = env.fake.state();
    let vids = requests_to(&state, "/contacts/v1/contact/vids/batch");
    let pages = requests_to(&state, "/form-integrations/v1/submissions/forms/");
    println!(
        "initial: {} requests in {:.1}s, {vids} identity reads, {pages} submission pages",
        report.requests,
        started.elapsed().as_secs_f64()
    );
    // The full pass reads every contact's identities once, 100 a request.
    assert_eq!(vids, 30);
    // 500 submissions per form, 50 a page.
    assert_eq!(pages, 4 * 10);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM form_submissions").await,
        2_000
    );
    let known = count(
        &conn,
        "SELECT count(*) FROM form_submissions WHERE contact_id IS NOT NULL",
    )
    .await;
    assert_eq!(
        known, 2_000,
        "every generated submitter is a synced contact"
    );

    // 1 % of contacts changed: their page's identities, and one page per unchanged form.
    env.control(
        "objects/contacts/modify",
        json!({ "count": 30, "indexed": true, "at_ms": SystemClock.now_ms() + 1_000 }),
    )
    .await;
    let second_run = hubspot_core::date::format_iso_ms(SystemClock.now_ms() as i64);
    let report = env.sync(&mut conn, &opts).await;
    let after = env.fake.state();
    let reread = count(
        &conn,
        &format!("SELECT count(*) FROM contacts WHERE received_at >= '{second_run}'"),
    )
    .await;
    let vids = requests_to(&after, "/contacts/v1/contact/vids/batch") - vids;
    let pages = requests_to(&after, "/form-integrations/v1/submissions/forms/") - pages;
    println!(
        "incremental, 1 % changed: {} requests, {vids} identity reads, {pages} submission pages",
        report.requests
    );
    // Only the contacts the search re-read (the 30 changed and the previous run's last
    // millisecond, which the keyset re-reads at its boundary), 100 a request.
    assert!((30..200).contains(&reread), "{reread}");
    assert_eq!(vids as i64, (reread + 99) / 100);
    assert_eq!(pages, 4);
    assert_eq!(table(&report, "form_submissions").inserted, 0);
}

async fn searches_keep_to_hubspots_search_limit_beside_the_portals_window(dest: Dest) {
    // The portal's window is wide open; only search's own 5 a second can be exceeded.
    let sizes = fake_hubspot::PortalSizes {
        contacts: 4_000,
        ..Default::default()
    };
    let fake = fake_hubspot::start(
        FakeConfig::default()
            .with_generated_portal(11, sizes)
            .with_limits(RateLimits {
                max_per_interval: 100_000,
                interval: Duration::from_secs(10),
                daily_max: 10_000_000,
                search_per_second: source::SEARCH_PER_SECOND as u32,
            }),
    )
    .await
    .unwrap();
    let env = Env {
        client: sync_support::client(&fake.base_url),
        fake,
        http: reqwest::Client::new(),
    };
    let mut conn = db(dest).await;
    let report = env.sync(&mut conn, &options(&["contacts"])).await;
    assert_eq!(report.tables[0].error, None);
    assert_eq!(count(&conn, "SELECT count(*) FROM contacts").await, 4_000);
    let state = env.fake.state();
    let searches = requests_to(&state, "/search");
    // Enough searches back to back that, unpaced, several fall in one second.
    assert!(searches >= 16, "{searches} searches");
    assert_eq!(state.rate_limited, 0, "SECONDLY 429s: {:?}", state.requests);
}

destinations!(
    identities_follow_secondary_emails_merges_and_removals,
    form_submissions_initial_then_incremental_without_duplicates,
    a_custom_object_is_synced_archived_restored_and_linked,
    a_schema_added_between_runs_is_synced_on_the_next_and_never_takes_a_contract_table,
    per_object_property_lists_make_exactly_those_columns,
    identities_and_submissions_cost_one_request_per_hundred_contacts_and_per_fifty_submissions,
    searches_keep_to_hubspots_search_limit_beside_the_portals_window,
);
