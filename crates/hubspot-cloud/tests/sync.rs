//! The HubSpot Source's CRM slice against the fake over real HTTP: each case of source.md
//! section 3 that this slice covers, with the fake's data controls causing the change.
//!
//! Every case runs against both destinations: `sqlite::…` always, `postgres::…` (ignored
//! unless run with `--ignored`) against the server at `HUBSPOT_TEST_PG_URL`, each database in a
//! schema of its own: `scripts/pg-test.sh cargo test -p hubspot-cloud --test sync -- --ignored`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use fake_hubspot::{DEFAULT_TOKEN, FakeConfig, PropertyDefinition as Def};
use hubspot_cloud::client::{HubSpotApi, UpsertInput};
use hubspot_cloud::clock::{Clock, SystemClock};
use hubspot_cloud::config::PropertySelection;
use hubspot_cloud::config::SyncTarget;
use hubspot_cloud::delivery::RateBudget;
use hubspot_cloud::source::db::{Db, Dialect};
use hubspot_cloud::source::{self, Source, SyncOptions, SyncReport};
use hubspot_cloud::sql_params;
use serde_json::json;

#[macro_use]
mod sync_support;
use sync_support::{Dest, Env, NEEDS_PG, count, db, env};

impl Env {
    /// Creates `n` contacts (`c{k}@example.com`) and makes them searchable; answers their ids.
    async fn contacts(&self, from: usize, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let inputs: Vec<UpsertInput> = (from..from + n)
            .map(|k| UpsertInput {
                id: format!("c{k}@example.com"),
                properties: json!({ "firstname": format!("n{k}") })
                    .as_object()
                    .unwrap()
                    .clone(),
            })
            .collect();
        for chunk in inputs.chunks(100) {
            for r in self
                .client
                .upsert("contacts", "email", chunk)
                .await
                .unwrap()
            {
                ids.push(r.unwrap());
            }
        }
        self.fake.settle_search();
        ids
    }
}

/// A run of `contacts` with the defaults.
fn options() -> SyncOptions {
    sync_support::options(&["contacts"])
}

/// `column`'s declared type, as the destination names it.
async fn column_type(conn: &Db, table: &str, column: &str) -> String {
    let sql = match conn.sql().dialect() {
        Dialect::Sqlite => "SELECT type FROM pragma_table_info(?1) WHERE name = ?2",
        Dialect::Postgres => {
            "SELECT data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = ?2"
        }
    };
    conn.sql()
        .query_opt(sql, sql_params![table, column])
        .await
        .unwrap()
        .and_then(|r| r.text(0))
        .unwrap()
}

/// Every row but `received_at`, in id order, for comparing two databases.
async fn rows(conn: &Db) -> Vec<String> {
    conn.sql()
        .query(
            "SELECT id, created_at, updated_at, is_deleted, merged_into, properties,
                    property_firstname, property_email
             FROM contacts ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{r:?}"))
        .collect()
}

async fn tables_have_typed_columns_and_new_properties_add_columns(dest: Dest) {
    let env = env(FakeConfig::default()
        .with_property("contacts", Def::datetime("signed_up", "contactinformation"))
        .with_property("contacts", Def::boolean("vip", "contactinformation")))
    .await;
    let input = UpsertInput {
        id: "typed@example.com".into(),
        properties: json!({ "firstname": "Ty", "signed_up": "1700000000000", "vip": "true" })
            .as_object()
            .unwrap()
            .clone(),
    };
    env.client
        .upsert("contacts", "email", &[input])
        .await
        .unwrap();
    env.fake.settle_search();
    let mut conn = db(dest).await;
    let mut opts = options();
    opts.properties = PropertySelection::All;
    let report = env.sync(&mut conn, &opts).await;
    assert_eq!(report.tables[0].inserted, 1);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM contacts WHERE property_firstname = 'Ty' AND property_vip AND property_signed_up = '2023-11-14T22:13:20.000Z'"
        ).await,
        1
    );
    env.control(
        "properties/contacts",
        json!({ "name": "seat_count", "label": "Seats", "type": "number", "fieldType": "number", "groupName": "contactinformation" }),
    )
    .await;
    env.control(
        "objects/contacts/modify",
        json!({ "properties": { "seat_count": "42.5" }, "indexed": true }),
    )
    .await;
    env.sync(&mut conn, &opts).await;
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM contacts WHERE property_seat_count = 42.5"
        )
        .await,
        1
    );
    let expected = match dest {
        Dest::Sqlite => "REAL",
        Dest::Postgres => "double precision",
    };
    assert_eq!(
        column_type(&conn, "contacts", "property_seat_count").await,
        expected
    );
}

async fn more_than_ten_thousand_records_in_one_millisecond_are_read_once_each(dest: Dest) {
    let env = env(FakeConfig::default()).await;
    let n = 10_250;
    env.contacts(0, n).await;
    let modified = env
        .control("objects/contacts/modify", json!({ "indexed": true }))
        .await;
    assert_eq!(modified["modified"], json!(n));
    let mut conn = db(dest).await;
    let report = env.sync(&mut conn, &options()).await;
    assert_eq!(
        count(&conn, "SELECT count(*) FROM contacts").await,
        n as i64
    );
    assert_eq!(report.tables[0].inserted, n as u64);
    println!(
        "requests for {n} records in one millisecond: {}",
        report.requests
    );
}

async fn a_record_inside_the_search_lag_is_picked_up_by_the_next_run(dest: Dest) {
    let env = env(FakeConfig::default().with_search_lag(Duration::from_secs(3600))).await;
    let ids = env.contacts(0, 2).await;
    let mut conn = db(dest).await;
    env.sync(&mut conn, &options()).await;
    // Written just before the run, so search does not show it yet...
    let late = env
        .client
        .upsert(
            "contacts",
            "email",
            &[UpsertInput {
                id: "late@example.com".into(),
                properties: Default::default(),
            }],
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    // ...while a later write is already searchable, moving the cursor past the lagging one.
    let later = SystemClock.now_ms() + 1_000;
    env.control(
        "objects/contacts/modify",
        json!({ "ids": [ids[0]], "indexed": true, "at_ms": later }),
    )
    .await;
    let has_late = format!("SELECT count(*) FROM contacts WHERE id = '{late}'");
    env.sync(&mut conn, &options()).await;
    assert_eq!(count(&conn, &has_late).await, 0, "search lags");
    env.fake.settle_search();
    env.sync(&mut conn, &options()).await;
    assert_eq!(count(&conn, &has_late).await, 1);
}

async fn archived_records_are_deleted_and_restored_ones_come_back(dest: Dest) {
    let env = env(FakeConfig::default()).await;
    let ids = env.contacts(0, 3).await;
    let mut conn = db(dest).await;
    // No trailing window, so the restored record's old modified time keeps it out of the
    // incremental search: only reconciling ids brings it back.
    let options = || SyncOptions {
        lag: Duration::ZERO,
        ..options()
    };
    env.sync(&mut conn, &options()).await;
    env.control("objects/contacts/archive", json!({ "ids": [ids[1]] }))
        .await;
    // Later writes move the cursor past the archived record's modified time.
    let later = SystemClock.now_ms() + 1_000;
    env.control(
        "objects/contacts/modify",
        json!({ "ids": [ids[0], ids[2]], "indexed": true, "at_ms": later }),
    )
    .await;
    let report = env.sync(&mut conn, &options()).await;
    assert_eq!(report.tables[0].deleted, 1);
    let deleted = format!("SELECT is_deleted FROM contacts WHERE id = '{}'", ids[1]);
    assert_eq!(count(&conn, &deleted).await, 1);
    env.control(
        "objects/contacts/restore",
        json!({ "ids": [ids[1]], "touch": false }),
    )
    .await;
    env.fake.settle_search();
    let report = env.sync(&mut conn, &options()).await;
    assert_eq!(report.tables[0].restored, 1);
    assert_eq!(count(&conn, &deleted).await, 0);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM contacts WHERE NOT is_deleted").await,
        3
    );
}

async fn merged_records_point_at_the_new_record(dest: Dest) {
    let env = env(FakeConfig::default()).await;
    let ids = env.contacts(0, 3).await;
    let mut conn = db(dest).await;
    env.sync(&mut conn, &options()).await;
    let merged = env
        .control(
            "objects/contacts/merge",
            json!({ "primaryObjectId": ids[0], "objectIdToMerge": ids[1] }),
        )
        .await;
    let survivor = merged["id"].as_str().unwrap().to_owned();
    env.fake.settle_search();
    env.sync(&mut conn, &options()).await;
    for old in &ids[..2] {
        let into = conn
            .sql()
            .query_opt(
                "SELECT merged_into FROM contacts WHERE id = ?1",
                sql_params![old],
            )
            .await
            .unwrap()
            .and_then(|r| r.text(0));
        assert_eq!(into.as_deref(), Some(survivor.as_str()), "{old}");
    }
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM contacts WHERE id = '{survivor}' AND merged_into IS NULL"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM contacts WHERE id = '{}' AND merged_into IS NULL",
                ids[2]
            )
        )
        .await,
        1
    );
}

async fn an_interrupted_initial_sync_resumes_and_ends_like_an_uninterrupted_one(dest: Dest) {
    let env = env(FakeConfig::default()).await;
    env.contacts(0, 1_000).await;
    let mut whole = db(dest).await;
    let full = env.sync(&mut whole, &options()).await;

    let mut conn = db(dest).await;
    let mut interrupted = options();
    interrupted.max_pages = Some(2);
    let first = env.sync(&mut conn, &interrupted).await;
    assert!(!first.tables[0].complete);
    assert_eq!(count(&conn, "SELECT count(*) FROM contacts").await, 400);
    let rest = env.sync(&mut conn, &options()).await;
    assert!(rest.tables[0].complete);
    assert_eq!(rows(&conn).await, rows(&whole).await);
    // Resumed, not started over: the second run read only what the first had not.
    assert_eq!(rest.tables[0].inserted, 600);
    assert!(
        rest.requests < full.requests,
        "{} < {}",
        rest.requests,
        full.requests
    );
    // The next run re-reads the trailing window: rows rewritten, none reported changed.
    let again = env.sync(&mut conn, &options()).await;
    assert_eq!((again.tables[0].inserted, again.tables[0].updated), (0, 0));
    assert_eq!(rows(&conn).await, rows(&whole).await);
    println!(
        "requests: initial sync of 1000 contacts {}, interrupted {} + resumed {}",
        full.requests, first.requests, rest.requests
    );
}

/// A fake whose companies have a unique `ext_key` to upsert them by.
async fn env_with_companies() -> Env {
    env(FakeConfig::default().with_property(
        "companies",
        Def::string("ext_key", "companyinformation").unique(),
    ))
    .await
}

impl Env {
    /// Creates `n` companies and makes them searchable; answers their ids.
    async fn companies(&self, n: usize) -> Vec<String> {
        let inputs: Vec<UpsertInput> = (0..n)
            .map(|k| UpsertInput {
                id: format!("co{k}"),
                properties: json!({ "name": format!("Company {k}") })
                    .as_object()
                    .unwrap()
                    .clone(),
            })
            .collect();
        let ids = self
            .client
            .upsert("companies", "ext_key", &inputs)
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        self.fake.settle_search();
        ids
    }

    /// Links a contact and a company without touching either record's modified time.
    async fn link(&self, contact: &str, company: &str) {
        self.control(
            "associations",
            json!({ "from_type": "contacts", "from_id": contact, "to_type": "companies", "to_id": company }),
        )
        .await;
    }

    /// Moves the last contact and company a second ahead, so the cursors sit on them: each run
    /// re-reads its cursor's millisecond, which must not hold the records a test links.
    async fn cursors_past(&self, contact: &str, company: &str) {
        let later = SystemClock.now_ms() + 1_000;
        for (ty, id) in [("contacts", contact), ("companies", company)] {
            self.control(
                &format!("objects/{ty}/modify"),
                json!({ "ids": [id], "indexed": true, "at_ms": later }),
            )
            .await;
        }
    }

    /// Removes every link between a contact and a company, neither record's modified time moving.
    async fn unlink(&self, contact: &str, company: &str) {
        self.control(
            "associations/remove",
            json!({ "from_type": "contacts", "from_id": contact, "to_type": "companies", "to_id": company }),
        )
        .await;
    }
}

/// Contacts and companies, without a trailing window: a run re-reads only records modified
/// since the previous run started, so unchanged records stay out of it.
fn link_options(full_every: Duration) -> SyncOptions {
    SyncOptions {
        collections: vec!["contacts".into(), "companies".into()],
        lag: Duration::ZERO,
        associations_full_every: full_every,
        ..options()
    }
}

const DAILY: Duration = Duration::from_secs(24 * 3600);

/// `(to_id, type_id, is_deleted)` of each `associations` row from `from_type` `from_id`.
async fn links_of(conn: &Db, from_type: &str, from_id: &str) -> Vec<(String, i64, i64)> {
    conn.sql()
        .query(
            "SELECT to_id, type_id, is_deleted FROM associations
             WHERE from_type = ?1 AND from_id = ?2 ORDER BY to_id, type_id",
            sql_params![from_type, from_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.text(0).unwrap(), r.int(1).unwrap(), r.int(2).unwrap()))
        .collect()
}

fn links_total(report: &SyncReport) -> (u64, u64, u64) {
    report.tables.iter().fold((0, 0, 0), |(i, u, d), t| {
        (
            i + t.associations.inserted,
            u + t.associations.updated,
            d + t.associations.deleted,
        )
    })
}

async fn a_link_between_unchanged_records_waits_for_the_full_pass(dest: Dest) {
    let env = env_with_companies().await;
    let contacts = env.contacts(0, 3).await;
    let companies = env.companies(3).await;
    env.cursors_past(&contacts[2], &companies[2]).await;
    env.link(&contacts[0], &companies[0]).await;
    let mut conn = db(dest).await;
    // The first run is a full pass: every record's links, from both sides.
    let first = env.sync(&mut conn, &link_options(DAILY)).await;
    assert_eq!(
        links_of(&conn, "contacts", &contacts[0]).await,
        vec![(companies[0].clone(), 279, 0)]
    );
    assert_eq!(
        links_of(&conn, "companies", &companies[0]).await,
        vec![(contacts[0].clone(), 280, 0)]
    );
    assert_eq!(links_total(&first), (2, 0, 0));

    env.link(&contacts[1], &companies[1]).await;
    // Neither record changed and the full pass is a day away: this run reads no links.
    let cheap = env.sync(&mut conn, &link_options(DAILY)).await;
    assert_eq!(links_of(&conn, "contacts", &contacts[1]).await, vec![]);
    assert_eq!(links_total(&cheap), (0, 0, 0));
    // The full pass falls due (a day later, here a zero interval): the link shows up.
    let full = env.sync(&mut conn, &link_options(Duration::ZERO)).await;
    assert_eq!(
        links_of(&conn, "contacts", &contacts[1]).await,
        vec![(companies[1].clone(), 279, 0)]
    );
    assert_eq!(
        links_of(&conn, "companies", &companies[1]).await,
        vec![(contacts[1].clone(), 280, 0)]
    );
    assert_eq!(links_total(&full), (2, 0, 0));
    println!(
        "requests: first run (full pass) {}, run with nothing changed {}, full pass {}",
        first.requests, cheap.requests, full.requests
    );
}

async fn a_removed_link_is_marked_deleted(dest: Dest) {
    let env = env_with_companies().await;
    let contacts = env.contacts(0, 1).await;
    let companies = env.companies(2).await;
    env.link(&contacts[0], &companies[0]).await;
    env.link(&contacts[0], &companies[1]).await;
    let mut conn = db(dest).await;
    env.sync(&mut conn, &link_options(DAILY)).await;
    env.unlink(&contacts[0], &companies[1]).await;
    let report = env.sync(&mut conn, &link_options(Duration::ZERO)).await;
    assert_eq!(
        links_of(&conn, "contacts", &contacts[0]).await,
        vec![
            (companies[0].clone(), 279, 0),
            (companies[1].clone(), 279, 1)
        ]
    );
    assert_eq!(
        links_of(&conn, "companies", &companies[1]).await,
        vec![(contacts[0].clone(), 280, 1)]
    );
    assert_eq!(links_total(&report), (0, 0, 2));
    // A link added back is live again.
    env.link(&contacts[0], &companies[1]).await;
    let report = env.sync(&mut conn, &link_options(Duration::ZERO)).await;
    assert_eq!(links_total(&report), (0, 2, 0));
    assert_eq!(
        count(&conn, "SELECT count(*) FROM associations WHERE is_deleted").await,
        0
    );
}

async fn the_links_of_a_record_changed_this_run_are_read_in_the_same_run(dest: Dest) {
    let env = env_with_companies().await;
    let contacts = env.contacts(0, 3).await;
    let companies = env.companies(3).await;
    env.cursors_past(&contacts[2], &companies[2]).await;
    env.link(&contacts[0], &companies[0]).await;
    let mut conn = db(dest).await;
    env.sync(&mut conn, &link_options(DAILY)).await;
    env.unlink(&contacts[0], &companies[0]).await;
    env.link(&contacts[0], &companies[1]).await;
    let later = SystemClock.now_ms() + 2_000;
    env.control(
        "objects/contacts/modify",
        json!({ "ids": [contacts[0]], "indexed": true, "at_ms": later }),
    )
    .await;
    // The full pass is not due: only the changed contact's links are read.
    let report = env.sync(&mut conn, &link_options(DAILY)).await;
    assert_eq!(report.tables[0].updated, 1);
    assert_eq!(
        links_of(&conn, "contacts", &contacts[0]).await,
        vec![
            (companies[0].clone(), 279, 1),
            (companies[1].clone(), 279, 0)
        ]
    );
    assert_eq!(links_total(&report), (1, 0, 1));
    println!(
        "requests: run with 1 contact changed, links read for its page: {}",
        report.requests
    );
}

/// Links are read up to 1,000 records a request (HubSpot's cap for v4 batch read), in the full
/// pass and for a changed page alike: a tenth of the requests chunks of 100 would make.
async fn links_are_read_a_thousand_records_a_request(dest: Dest) {
    let sizes = fake_hubspot::PortalSizes {
        contacts: 2_500,
        companies: 500,
        ..Default::default()
    };
    let env = env(FakeConfig::default().with_generated_portal(7, sizes)).await;
    let pair = "POST /crm/v4/associations/contacts/companies/batch/read";
    let mut conn = db(dest).await;
    env.sync(&mut conn, &link_options(DAILY)).await;
    // The first run's full pass: 2,500 contacts in three requests, every link stored (the
    // unlabeled and the Primary type of each contact's company).
    assert_eq!(env.fake.state().requests_to(pair), 3);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM associations WHERE from_type = 'contacts' \
             AND to_type = 'companies' AND NOT is_deleted"
        )
        .await,
        5_000
    );
    // 150 contacts changed: one search page, its links in one request per type.
    let changed = env
        .control(
            "objects/contacts/modify",
            json!({ "count": 150, "indexed": true, "at_ms": SystemClock.now_ms() + 1_000 }),
        )
        .await;
    assert_eq!(changed["modified"], 150);
    let report = env.sync(&mut conn, &link_options(DAILY)).await;
    assert_eq!(report.tables[0].updated, 150);
    assert_eq!(env.fake.state().requests_to(pair), 4);
}

fn lists_options() -> SyncOptions {
    SyncOptions {
        collections: vec!["contact_lists".into()],
        ..options()
    }
}

/// Creates a MANUAL contact list of `members`; answers its id.
async fn list(e: &Env, name: &str, members: &[String]) -> String {
    let created = e
        .control("lists", json!({ "name": name, "members": members }))
        .await;
    created["listId"].as_str().unwrap().to_owned()
}

async fn lists_and_memberships_land(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let ids = e.contacts(0, 300).await;
    let big = list(&e, "big", &ids).await;
    let small = list(&e, "small", &ids[..2]).await;
    let mut conn = db(dest).await;
    let report = e.sync(&mut conn, &lists_options()).await;
    assert_eq!(report.tables[0].inserted, 2);
    assert_eq!(report.tables[0].memberships.inserted, 302);
    // One search page, two membership pages for 300 members (250 a page), one for 2.
    assert_eq!(report.requests, 4);
    let row = conn
        .sql()
        .query_opt(
            "SELECT name, processing_type, size FROM contact_lists WHERE id = ?1",
            sql_params![&big],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.text(0), row.text(1), row.int(2)),
        (Some("big".into()), Some("MANUAL".into()), Some(300))
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM contact_list_memberships
                 WHERE list_id = '{small}' AND NOT is_deleted AND added_at IS NOT NULL"
            )
        )
        .await,
        2
    );
}

async fn a_removed_membership_is_marked_deleted_and_comes_back_when_re_added(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let ids = e.contacts(0, 3).await;
    let l = list(&e, "l", &ids).await;
    let mut conn = db(dest).await;
    e.sync(&mut conn, &lists_options()).await;
    e.control(&format!("lists/{l}/remove"), json!({ "ids": [ids[1]] }))
        .await;
    let deleted = format!(
        "SELECT is_deleted FROM contact_list_memberships
         WHERE list_id = '{l}' AND contact_id = '{}'",
        ids[1]
    );
    let report = e.sync(&mut conn, &lists_options()).await;
    assert_eq!(report.tables[0].memberships.deleted, 1);
    assert_eq!(count(&conn, &deleted).await, 1);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM contact_list_memberships WHERE NOT is_deleted"
        )
        .await,
        2
    );
    e.control(&format!("lists/{l}/add"), json!({ "ids": [ids[1]] }))
        .await;
    let report = e.sync(&mut conn, &lists_options()).await;
    assert_eq!(report.tables[0].memberships.updated, 1);
    assert_eq!(count(&conn, &deleted).await, 0);
}

async fn a_deleted_list_is_marked_with_its_memberships(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let ids = e.contacts(0, 2).await;
    let kept = list(&e, "kept", &ids).await;
    let gone = list(&e, "gone", &ids).await;
    let mut conn = db(dest).await;
    e.sync(&mut conn, &lists_options()).await;
    e.control(&format!("lists/{gone}/delete"), json!({})).await;
    let report = e.sync(&mut conn, &lists_options()).await;
    assert_eq!(report.tables[0].deleted, 1);
    let deleted = |id: &str| format!("SELECT is_deleted FROM contact_lists WHERE id = '{id}'");
    assert_eq!(
        (
            count(&conn, &deleted(&kept)).await,
            count(&conn, &deleted(&gone)).await
        ),
        (0, 1)
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM contact_list_memberships
                 WHERE list_id = '{gone}' AND is_deleted"
            )
        )
        .await,
        2
    );
    let status = source::status(conn.sql(), "main").await.unwrap();
    let lists = status
        .iter()
        .find(|s| s.collection == "contact_lists")
        .unwrap();
    assert_eq!(lists.rows, 2);
    assert!(lists.state.unwrap().last_success_ms.is_some());
}

async fn owners_land_and_archived_ones_are_marked(dest: Dest) {
    let mut gone = fake_hubspot::Owner::new(5_002, "gone@example.com", "Gus", "Gone");
    gone.archived = true;
    let e = env(FakeConfig::default().with_owner(gone)).await;
    let mut conn = db(dest).await;
    let report = e
        .sync(
            &mut conn,
            &SyncOptions {
                collections: vec!["owners".into()],
                ..options()
            },
        )
        .await;
    assert_eq!(report.tables[0].inserted, 2);
    // The live page, then the archived page.
    assert_eq!(report.requests, 2);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM owners WHERE id = '5001' AND NOT is_deleted
             AND email = 'admin@example.com'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&conn, "SELECT is_deleted FROM owners WHERE id = '5002'").await,
        1
    );
}

async fn deal_and_ticket_pipelines_and_their_stages_land(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    // Stage metadata is JSON: text in SQLite, jsonb in PostgreSQL.
    let ticket_state = match dest {
        Dest::Sqlite => "json_extract(s.metadata, '$.ticketState')",
        Dest::Postgres => "s.metadata->>'ticketState'",
    };
    let mut conn = db(dest).await;
    let report = e
        .sync(
            &mut conn,
            &SyncOptions {
                collections: vec!["pipelines".into()],
                ..options()
            },
        )
        .await;
    // 2 pipelines, 7 deal stages, 4 ticket stages; one request per type.
    assert_eq!(report.tables[0].inserted, 13);
    assert_eq!(report.requests, 2);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM pipeline_stages
             WHERE pipeline_id = 'default' AND object_type = 'deals' AND NOT is_deleted"
        )
        .await,
        7
    );
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM pipeline_stages s JOIN pipelines p ON p.id = s.pipeline_id
                 WHERE p.object_type = 'tickets' AND {ticket_state} IS NOT NULL"
            )
        )
        .await,
        4
    );
}

async fn progress_reports_each_collection_as_its_pages_commit(dest: Dest) {
    let env = env(FakeConfig::default()).await;
    env.contacts(0, 450).await;
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut conn = db(dest).await;
    let options = SyncOptions {
        collections: vec!["contacts".into(), "owners".into()],
        ..options()
    };
    let report = Source::new(
        "main",
        env.client.clone(),
        Arc::new(SystemClock),
        &RateBudget::Process,
        100_000,
        Duration::from_secs(10),
        1.0,
    )
    .on_progress(move |p| {
        seen.lock().unwrap().push(match p {
            source::Progress::Started { collection } => format!("start {collection}"),
            source::Progress::Advanced {
                collection,
                rows,
                requests,
            } => format!("{collection} {rows} {requests}"),
            source::Progress::Finished {
                report,
                rows,
                requests,
            } => format!("end {} {rows} {requests}", report.collection),
        })
    })
    .sync(&mut conn, &options)
    .await;
    let events = events.lock().unwrap().clone();
    let of = |c: &str| -> Vec<String> {
        let start = events
            .iter()
            .position(|e| *e == format!("start {c}"))
            .unwrap();
        let end = events
            .iter()
            .position(|e| e.starts_with(&format!("end {c} ")))
            .unwrap();
        events[start..=end].to_vec()
    };
    let contacts = of("contacts");
    // Rows climb page by page (search pages of 200), never down, before the run ends.
    let rows: Vec<u64> = contacts[1..contacts.len() - 1]
        .iter()
        .map(|e| e.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(rows.windows(2).all(|w| w[0] <= w[1]), "{contacts:?}");
    for page in [200, 400, 450] {
        assert!(rows.contains(&page), "{contacts:?}");
    }
    // The last report of each collection has its rows and its share of the run's requests.
    let (c_end, o_end) = (
        contacts.last().unwrap(),
        of("owners").last().unwrap().clone(),
    );
    let requests = |e: &str| e.split(' ').nth(3).unwrap().parse::<u64>().unwrap();
    assert!(c_end.starts_with("end contacts 450 "), "{c_end}");
    assert_eq!(requests(c_end) + requests(&o_end), report.requests);
    assert!(o_end.starts_with("end owners 1 "), "{o_end}");
}

destinations!(
    tables_have_typed_columns_and_new_properties_add_columns,
    more_than_ten_thousand_records_in_one_millisecond_are_read_once_each,
    a_record_inside_the_search_lag_is_picked_up_by_the_next_run,
    archived_records_are_deleted_and_restored_ones_come_back,
    merged_records_point_at_the_new_record,
    an_interrupted_initial_sync_resumes_and_ends_like_an_uninterrupted_one,
    a_link_between_unchanged_records_waits_for_the_full_pass,
    a_removed_link_is_marked_deleted,
    the_links_of_a_record_changed_this_run_are_read_in_the_same_run,
    lists_and_memberships_land,
    a_removed_membership_is_marked_deleted_and_comes_back_when_re_added,
    a_deleted_list_is_marked_with_its_memberships,
    owners_land_and_archived_ones_are_marked,
    deal_and_ticket_pipelines_and_their_stages_land,
    progress_reports_each_collection_as_its_pages_commit,
    links_are_read_a_thousand_records_a_request,
);

/// PostgreSQL only: the contract's column types, the sync lock, `sync status`.
mod postgres_only {
    use super::*;

    /// Every `(table, column, type)` of the test schema, in order.
    async fn column_types(conn: &Db) -> Vec<(String, String, String)> {
        conn.sql()
            .query(
                "SELECT table_name::text, column_name::text, data_type::text
                 FROM information_schema.columns WHERE table_schema = current_schema()
                 ORDER BY table_name, ordinal_position",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.text(0).unwrap(), r.text(1).unwrap(), r.text(2).unwrap()))
            .collect()
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/pg-test.sh cargo test -p hubspot-cloud --test sync -- --ignored"]
    async fn every_table_has_the_contracts_postgres_types() {
        let e = env(FakeConfig::default()
            .with_property("contacts", Def::datetime("signed_up", "contactinformation"))
            .with_property("contacts", Def::boolean("vip", "contactinformation"))
            .with_property("contacts", Def::number("seats", "contactinformation"))
            .with_custom_object(fake_hubspot::CustomObject::new(
                "cars",
                vec![Def::number("price", "carinformation")],
            )))
        .await;
        let input = UpsertInput {
            id: "typed@example.com".into(),
            properties: json!({ "firstname": "Ty", "signed_up": "1700000000000", "vip": "true", "seats": "3.5" })
                .as_object()
                .unwrap()
                .clone(),
        };
        let ids = e
            .client
            .upsert("contacts", "email", &[input])
            .await
            .unwrap();
        e.fake.settle_search();
        let id = ids[0].as_ref().unwrap().clone();
        list(&e, "l", std::slice::from_ref(&id)).await;
        // A row in every other table: a custom object, a form submission, an email event of a
        // campaign and a subscription change.
        e.control(
            "objects/p_cars/create",
            json!({ "properties": { "price": "9.5" } }),
        )
        .await;
        e.fake.settle_search();
        let form = e
            .control("forms", json!({ "name": "Demo", "fields": ["email"] }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let now = SystemClock.now_ms() as i64;
        e.control(
            &format!("forms/{form}/submissions"),
            json!({ "values": { "email": "TYPED@example.com" }, "submitted_at": now - 60_000 }),
        )
        .await;
        let campaign = e
            .control(
                "email/campaigns",
                json!({ "name": "Launch", "subject": "Hi", "last_updated_at": now }),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        e.control(
            "email/events",
            json!({ "events": [{ "id": "ev-1", "type": "CLICK", "recipient": "typed@example.com",
                    "campaign_id": campaign, "created_at": now - 60_000,
                    "fields": { "url": "https://example.com/a" } }] }),
        )
        .await;
        e.control(
            "email/subscriptions",
            json!({ "changes": [{ "recipient": "typed@example.com", "change": "UNSUBSCRIBED",
                    "change_type": "PORTAL_STATUS", "timestamp": now - 60_000 }] }),
        )
        .await;
        let mut conn = db(Dest::Postgres).await;
        let all = SyncOptions {
            collections: source::COLLECTIONS
                .iter()
                .chain(&["owners", "pipelines"])
                .map(|c| (*c).to_owned())
                .collect(),
            properties: PropertySelection::All,
            ..options()
        };
        e.sync(&mut conn, &all).await;
        let types = column_types(&conn).await;
        let ty = |table: &str, column: &str| {
            types
                .iter()
                .find(|(t, c, _)| t == table && c == column)
                .map(|(_, _, ty)| ty.as_str())
                .unwrap_or_else(|| panic!("no column {table}.{column}"))
        };
        // The contract's rules, for every column of every table.
        for (table, column, kind) in &types {
            let c = column.as_str();
            let expected = if c.ends_with("_at") || c == "timestamp" {
                "timestamp with time zone"
            } else if c.starts_with("is_")
                || [
                    "subscribed",
                    "bounced",
                    "marked_as_spam",
                    "unsubscribe_from_portal",
                ]
                .contains(&c)
            {
                "boolean"
            } else if [
                "properties",
                "metadata",
                "values",
                "fields",
                "counters",
                "subscription_statuses",
            ]
            .contains(&c)
            {
                "jsonb"
            } else if c.ends_with("_ms")
                || [
                    "cursor_id",
                    "cursor_offset_end",
                    "size",
                    "type_id",
                    "display_order",
                    "email_campaign_id",
                    "app_id",
                    "content_id",
                    "subscription_id",
                ]
                .contains(&c)
                || (table == "email_campaigns" && c == "id")
            {
                "bigint"
            } else if column.starts_with("property_") {
                continue;
            } else {
                "text"
            };
            assert_eq!(kind, expected, "{table}.{column}");
        }
        // Property columns typed from the portal's definitions.
        assert_eq!(
            ty("contacts", "property_signed_up"),
            "timestamp with time zone"
        );
        assert_eq!(ty("contacts", "property_vip"), "boolean");
        assert_eq!(ty("contacts", "property_seats"), "double precision");
        assert_eq!(ty("contacts", "property_firstname"), "text");
        assert_eq!(ty("cars", "property_price"), "double precision");
        for table in [
            "contacts",
            "cars",
            "associations",
            "contact_lists",
            "contact_list_memberships",
            "contact_identity_profiles",
            "contact_identities",
            "form_submissions",
            "owners",
            "pipelines",
            "pipeline_stages",
            "email_campaigns",
            "email_events",
            "email_subscriptions",
            "email_subscription_event_changes",
            "_sync_state",
        ] {
            assert!(types.iter().any(|(t, _, _)| t == table), "no table {table}");
        }
        // Values as PostgreSQL types: comparable without casts.
        assert_eq!(
            count(
                &conn,
                &format!(
                    "SELECT count(*) FROM contacts WHERE id = '{id}' AND property_vip
                     AND property_seats = 3.5
                     AND property_signed_up = TIMESTAMPTZ '2023-11-14 22:13:20Z'
                     AND properties->>'firstname' = 'Ty'
                     AND received_at > now() - INTERVAL '1 hour'
                     AND NOT is_deleted"
                )
            )
            .await,
            1
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM contact_list_memberships WHERE added_at IS NOT NULL"
            )
            .await,
            1
        );
        // The new tables' values, typed; the submission's address found case-insensitively.
        for (table, condition) in [
            (
                "contact_identities",
                format!(
                    "contact_id = '{id}' AND is_primary AND NOT is_secondary AND NOT is_deleted \
                     AND value = 'typed@example.com'"
                ),
            ),
            (
                "contact_identity_profiles",
                format!("canonical_contact_id = '{id}' AND received_at <= now()"),
            ),
            (
                "form_submissions",
                format!(
                    "contact_id = '{id}' AND \"values\"->>'email' = 'TYPED@example.com' \
                     AND submitted_at < now() - INTERVAL '59 seconds'"
                ),
            ),
            ("cars", "property_price = 9.5 AND NOT is_deleted".to_owned()),
            (
                "email_events",
                format!(
                    "email_campaign_id = {campaign} AND fields->>'url' = 'https://example.com/a' \
                     AND created_at < now()"
                ),
            ),
            (
                "email_campaigns",
                format!("id = {campaign} AND (counters->>'click')::int = 1"),
            ),
            (
                "email_subscriptions",
                "NOT subscribed AND unsubscribe_from_portal AND updated_at < now()".to_owned(),
            ),
            (
                "email_subscription_event_changes",
                "change = 'UNSUBSCRIBED' AND timestamp < now()".to_owned(),
            ),
        ] {
            let sql = format!("SELECT count(*) FROM {table} WHERE {condition}");
            assert_eq!(count(&conn, &sql).await, 1, "{sql}");
        }
    }

    /// A config syncing the fake's portal into `schema` of the test server.
    fn pg_config(base_url: &str, schema: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sync-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = std::env::var("HUBSPOT_TEST_PG_URL").unwrap_or_else(|_| panic!("{NEEDS_PG}"));
        let path = dir.join("hubspot-cloud.toml");
        std::fs::write(
            &path,
            format!(
                "[queue]\npath = \"{}\"\n[hubspot]\nbase_url = \"{base_url}\"\n[[portals]]\n\
                 name = \"main\"\nportal_id = \"{}\"\naccess_token = \"{DEFAULT_TOKEN}\"\n\
                 [sync]\nkind = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\n",
                dir.join("outbox.db").display(),
                fake_hubspot::DEFAULT_PORTAL_ID,
            ),
        )
        .unwrap();
        path
    }

    async fn cli(config: &std::path::Path, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_hubspot-cloud"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap()
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/pg-test.sh cargo test -p hubspot-cloud --test sync -- --ignored"]
    async fn a_second_sync_of_the_same_schema_and_portal_exits_1_while_the_first_runs() {
        let e = env(FakeConfig::default()).await;
        e.contacts(0, 2).await;
        let schema = format!("sync_test_{:016x}", rand::random::<u64>());
        let config = pg_config(&e.fake.base_url, &schema);
        let target = SyncTarget::Postgres {
            url: std::env::var("HUBSPOT_TEST_PG_URL").unwrap(),
            schema: schema.clone(),
        };
        // Another process's sync of the portal: a session of its own holding the lock.
        let first = source::open_for_sync(&target, "main").await.unwrap();
        // Not a second one in this process either, while another portal of the schema may run.
        assert!(matches!(
            source::open_for_sync(&target, "main").await,
            Err(source::db::DbError::Busy(_))
        ));
        drop(source::open_for_sync(&target, "other").await.unwrap());
        let out = cli(&config, &["sync", "--collections", "contacts"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("another hubspot-cloud sync of portal 'main'")
                && stderr.contains(&schema),
            "{stderr}"
        );
        assert_eq!(count(&first, "SELECT count(*) FROM _sync_state").await, 0);
        // The lock goes with the session: the next sync runs.
        drop(first);
        let out = cli(&config, &["sync", "--collections", "contacts"]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cli(&config, &["sync", "status"]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains(&format!("PostgreSQL schema {schema}")),
            "{stdout}"
        );
        let contacts = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("contacts "))
            .unwrap();
        assert_eq!(contacts.split_whitespace().nth(1), Some("2"), "{stdout}");
    }
}
