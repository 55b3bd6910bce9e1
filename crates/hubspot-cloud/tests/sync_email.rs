//! The Source's email collections against the fake over real HTTP: the look-back window of a
//! first run, the lag window of the next, ties across pages, a stopped run resuming from its
//! cursor, campaign counters, and subscription state following the timeline.
//!
//! Every case runs against both destinations, as `tests/sync.rs`'s do: `sqlite::…` always,
//! `postgres::…` when asked:
//! `scripts/pg-test.sh cargo test -p hubspot-cloud --test sync_email -- --ignored`.
#![allow(missing_docs, clippy::unwrap_used)]

use fake_hubspot::FakeConfig;
use hubspot_cloud::clock::{Clock, SystemClock};
use hubspot_cloud::source::db::Db;
use hubspot_cloud::source::{self, SyncOptions, SyncReport, TableReport};
use hubspot_cloud::sql_params;
use serde_json::{Value, json};

#[macro_use]
mod sync_support;
use sync_support::{Dest, Env, count, db, env, options};

const DAY_MS: i64 = 24 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;

impl Env {
    /// A campaign last updated at `last_updated_ms`; answers its id.
    async fn campaign(&self, name: &str, last_updated_ms: i64) -> i64 {
        self.control(
            "email/campaigns",
            json!({ "name": name, "subject": format!("About {name}"), "last_updated_at": last_updated_ms }),
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    /// Events `(id, type, created ms)` of `campaign` to `to@example.com`.
    async fn events(&self, campaign: i64, events: &[(String, &str, i64)]) {
        let events: Vec<Value> = events
            .iter()
            .map(|(id, kind, at)| {
                json!({ "id": id, "type": kind, "recipient": "to@example.com",
                        "campaign_id": campaign, "created_at": at,
                        "fields": if *kind == "CLICK" { json!({ "url": "https://example.com/a" }) } else { json!({}) } })
            })
            .collect();
        for chunk in events.chunks(1000) {
            self.control("email/events", json!({ "events": chunk }))
                .await;
        }
    }

    /// One portal-status change of `email` at `at`.
    async fn change(&self, email: &str, change: &str, change_type: &str, at: i64) {
        self.control(
            "email/subscriptions",
            json!({ "changes": [{ "recipient": email, "change": change,
                                  "change_type": change_type, "timestamp": at }] }),
        )
        .await;
    }
}

/// The first column of every row, as text.
async fn ids(conn: &Db, sql: &str) -> Vec<String> {
    conn.sql()
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.text(0).unwrap())
        .collect()
}

fn table<'a>(report: &'a SyncReport, collection: &str) -> &'a TableReport {
    report
        .tables
        .iter()
        .find(|t| t.collection == collection)
        .unwrap()
}

/// `(inserted, updated)` of a collection.
fn written(report: &SyncReport, collection: &str) -> (u64, u64) {
    let t = table(report, collection);
    (t.inserted, t.updated)
}

/// Where the last finished run of `collection` ended (its start), epoch ms.
async fn window_end(conn: &Db, collection: &str) -> i64 {
    count(
        conn,
        &format!(
            "SELECT cursor_ms FROM _sync_state WHERE collection = '{collection}'
             AND run_started_ms IS NULL"
        ),
    )
    .await
}

const WINDOWED: [&str; 3] = [
    "email_events",
    "email_subscription_event_changes",
    "email_subscriptions",
];

async fn a_first_run_reads_exactly_the_look_back_window(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let now = SystemClock.now_ms() as i64;
    let c = e.campaign("Launch", now).await;
    e.events(
        c,
        &[
            ("too-old".into(), "SENT", now - 30 * DAY_MS - 60_000),
            ("oldest-kept".into(), "SENT", now - 30 * DAY_MS + 60_000),
            ("recent".into(), "CLICK", now - DAY_MS),
        ],
    )
    .await;
    e.change(
        "old@example.com",
        "UNSUBSCRIBED",
        "PORTAL_STATUS",
        now - 30 * DAY_MS - 60_000,
    )
    .await;
    e.change(
        "new@example.com",
        "BOUNCED",
        "PORTAL_BOUNCE",
        now - 30 * DAY_MS + 60_000,
    )
    .await;
    let mut conn = db(dest).await;
    let report = e.sync(&mut conn, &options(&WINDOWED)).await;

    assert_eq!(
        ids(&conn, "SELECT id FROM email_events ORDER BY created_at").await,
        ["oldest-kept", "recent"]
    );
    let click = conn
        .sql()
        .query_opt(
            "SELECT type, recipient, created_at, email_campaign_id, fields FROM email_events
             WHERE id = 'recent'",
            &[],
        )
        .await
        .unwrap()
        .map(|r| {
            (
                r.text(0).unwrap(),
                r.text(1).unwrap(),
                r.text(2).unwrap(),
                r.int(3).unwrap(),
                r.text(4).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(click.0, "CLICK");
    assert_eq!(click.1, "to@example.com");
    assert!(
        click.2.ends_with('Z') && click.2.contains('T'),
        "{}",
        click.2
    );
    assert_eq!(click.3, c);
    // The type's own fields, not the columns'.
    assert_eq!(
        serde_json::from_str::<Value>(&click.4).unwrap(),
        json!({ "url": "https://example.com/a" })
    );
    assert_eq!(
        ids(
            &conn,
            "SELECT email FROM email_subscription_event_changes ORDER BY email"
        )
        .await,
        ["new@example.com"]
    );
    // The state table reads the whole timeline: an old unsubscribe still counts.
    assert_eq!(
        ids(
            &conn,
            "SELECT email || ':' || status || ':' || CAST(bounced AS INTEGER) FROM email_subscriptions
             ORDER BY email"
        ).await,
        [
            "new@example.com:subscribed:1",
            "old@example.com:unsubscribed:0"
        ]
    );
    assert_eq!(written(&report, "email_events"), (2, 0));
    assert_eq!(written(&report, "email_subscription_event_changes"), (1, 0));
    assert_eq!(written(&report, "email_subscriptions"), (2, 0));
    // One page each.
    assert_eq!(report.requests, 3);
    for t in &report.tables {
        assert!(t.complete, "{}", t.collection);
    }
    for t in WINDOWED {
        assert!(source::store::row_count(conn.sql(), t).await.unwrap() > 0);
    }
}

async fn the_next_run_reads_new_and_late_items_within_the_lag_and_a_rerun_writes_nothing(
    dest: Dest,
) {
    let e = env(FakeConfig::default()).await;
    let now = SystemClock.now_ms() as i64;
    let c = e.campaign("Weekly", now).await;
    e.events(c, &[("first".into(), "SENT", now - 2 * DAY_MS)])
        .await;
    e.change(
        "a@example.com",
        "UNSUBSCRIBED",
        "PORTAL_STATUS",
        now - DAY_MS,
    )
    .await;
    let mut conn = db(dest).await;
    e.sync(&mut conn, &options(&WINDOWED)).await;
    let end = window_end(&conn, "email_events").await;
    assert!(end >= now, "the window ends at the run's start");

    // Written after the run: a new event, one HubSpot indexed late (created just before the
    // run, inside the lag) and one older than the lag, which no run reads any more.
    e.events(
        c,
        &[
            ("new".into(), "OPEN", SystemClock.now_ms() as i64),
            ("late".into(), "DELIVERED", end - 10 * 60_000),
            ("too-late".into(), "DELIVERED", end - 2 * HOUR_MS),
        ],
    )
    .await;
    e.change(
        "b@example.com",
        "BOUNCED",
        "PORTAL_BOUNCE",
        end - 10 * 60_000,
    )
    .await;
    e.change(
        "a@example.com",
        "SUBSCRIBED",
        "PORTAL_STATUS",
        SystemClock.now_ms() as i64,
    )
    .await;
    let report = e.sync(&mut conn, &options(&WINDOWED)).await;
    assert_eq!(
        ids(&conn, "SELECT id FROM email_events ORDER BY id").await,
        ["first", "late", "new"]
    );
    assert_eq!(written(&report, "email_events"), (2, 0));
    assert_eq!(written(&report, "email_subscription_event_changes"), (2, 0));
    // b is new; a resubscribed.
    assert_eq!(written(&report, "email_subscriptions"), (1, 1));
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM email_subscription_event_changes"
        )
        .await,
        3
    );

    let again = e.sync(&mut conn, &options(&WINDOWED)).await;
    for t in WINDOWED {
        assert_eq!(written(&again, t), (0, 0), "{t}");
    }
    assert_eq!(count(&conn, "SELECT count(*) FROM email_events").await, 3);
}

async fn events_sharing_one_millisecond_across_pages_are_read_once_each(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let now = SystemClock.now_ms() as i64;
    let c = e.campaign("Blast", now).await;
    let t = now - DAY_MS;
    // 2,500 events in one millisecond, between neighbours on either side: three pages of
    // 1,000 whose boundaries fall inside the tie.
    let mut events: Vec<(String, &str, i64)> = (0..2500)
        .map(|k| (format!("tie-{k:04}"), "SENT", t))
        .collect();
    events.extend((0..10).map(|k| (format!("after-{k}"), "OPEN", t + 1)));
    events.extend((0..10).map(|k| (format!("before-{k}"), "OPEN", t - 1)));
    e.events(c, &events).await;

    let mut conn = db(dest).await;
    let report = e.sync(&mut conn, &options(&["email_events"])).await;
    assert_eq!(
        count(&conn, "SELECT count(*) FROM email_events").await,
        2520
    );
    assert_eq!(written(&report, "email_events"), (2520, 0));
    assert_eq!(report.requests, 3);

    // Stopped after each page, then resumed from the committed offset: the same rows, and
    // the runs move on through the tie instead of starting it over.
    let mut stopped = db(dest).await;
    let one_page = SyncOptions {
        max_pages: Some(1),
        ..options(&["email_events"])
    };
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(
            runs <= 3,
            "the stopped sync did not move on through the tie"
        );
        let r = e.sync(&mut stopped, &one_page).await;
        if table(&r, "email_events").complete {
            break;
        }
    }
    assert_eq!(
        ids(&stopped, "SELECT id FROM email_events ORDER BY id").await,
        ids(&conn, "SELECT id FROM email_events ORDER BY id").await
    );
}

async fn a_stopped_run_resumes_from_its_committed_cursor(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let now = SystemClock.now_ms() as i64;
    let c = e.campaign("Series", now).await;
    let events: Vec<(String, &str, i64)> = (0..3000)
        .map(|k| (format!("ev-{k:04}"), "SENT", now - DAY_MS + k))
        .collect();
    e.events(c, &events).await;
    let mut conn = db(dest).await;
    let first = e
        .sync(
            &mut conn,
            &SyncOptions {
                max_pages: Some(1),
                ..options(&["email_events"])
            },
        )
        .await;
    assert!(!table(&first, "email_events").complete);
    assert_eq!(written(&first, "email_events"), (1000, 0));
    // The newest 1,000 came first.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM email_events WHERE id >= 'ev-2000'"
        )
        .await,
        1000
    );

    // The committed offset continues the query: two pages, not three from the start.
    let rest = e.sync(&mut conn, &options(&["email_events"])).await;
    assert_eq!(
        count(&conn, "SELECT count(*) FROM email_events").await,
        3000
    );
    assert_eq!(written(&rest, "email_events"), (2000, 0));
    assert_eq!(rest.requests, 2);
    assert!(table(&rest, "email_events").complete);
}

async fn an_expired_offset_resumes_below_the_committed_time(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let now = SystemClock.now_ms() as i64;
    let c = e.campaign("Series", now).await;
    let events: Vec<(String, &str, i64)> = (0..3000)
        .map(|k| (format!("ev-{k:04}"), "SENT", now - DAY_MS + k))
        .collect();
    e.events(c, &events).await;
    let mut conn = db(dest).await;
    e.sync(
        &mut conn,
        &SyncOptions {
            max_pages: Some(1),
            ..options(&["email_events"])
        },
    )
    .await;
    // HubSpot refuses the saved offset (400), as it may once it expired.
    e.fake.add_fault(
        fake_hubspot::FaultRule::next(1, fake_hubspot::FaultKind::Status(400))
            .on_path("/email/public/v1/events"),
    );
    let rest = e.sync(&mut conn, &options(&["email_events"])).await;
    assert_eq!(
        count(&conn, "SELECT count(*) FROM email_events").await,
        3000
    );
    assert_eq!(written(&rest, "email_events"), (2000, 0));
    // The refused request, then a new query from the oldest event read (inclusive): 1,000 +
    // 1,000 + 1, not the three pages from the start again.
    assert_eq!(rest.requests, 1 + 3);
}

async fn campaigns_land_and_recent_ones_get_new_counters(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let now = SystemClock.now_ms() as i64;
    let recent = e.campaign("Recent", now).await;
    let old_quiet = e.campaign("Old and quiet", now - 90 * DAY_MS).await;
    let old_busy = e.campaign("Old but opened", now - 90 * DAY_MS).await;
    e.events(
        recent,
        &[
            ("r1".into(), "SENT", now - DAY_MS),
            ("r2".into(), "SENT", now - DAY_MS),
        ],
    )
    .await;
    e.events(old_quiet, &[("q1".into(), "SENT", now - 80 * DAY_MS)])
        .await;
    e.events(old_busy, &[("b1".into(), "SENT", now - 80 * DAY_MS)])
        .await;
    let both = ["email_events", "email_campaigns"];
    let mut conn = db(dest).await;
    let report = e.sync(&mut conn, &options(&both)).await;
    assert_eq!(written(&report, "email_campaigns"), (3, 0));
    let row = conn
        .sql()
        .query_opt(
            "SELECT name, subject, type, app_id, app_name, content_id, counters
             FROM email_campaigns WHERE id = ?1",
            sql_params![recent],
        )
        .await
        .unwrap()
        .map(|r| {
            (
                r.text(0).unwrap(),
                r.text(1).unwrap(),
                r.text(2).unwrap(),
                r.int(3).unwrap(),
                r.text(4).unwrap(),
                r.int(5).unwrap(),
                r.text(6).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(
        (
            row.0.as_str(),
            row.1.as_str(),
            row.2.as_str(),
            row.3,
            row.4.as_str()
        ),
        ("Recent", "About Recent", "BATCH_EMAIL", 113, "Batch")
    );
    assert_eq!(row.5, recent + 1_000_000);
    assert_eq!(
        serde_json::from_str::<Value>(&row.6).unwrap(),
        json!({ "sent": 2 })
    );

    // Opens arrive for the recent campaign and the old busy one: both are read again; the
    // old quiet one is not.
    e.events(
        recent,
        &[("r3".into(), "OPEN", SystemClock.now_ms() as i64)],
    )
    .await;
    e.events(
        old_busy,
        &[("b2".into(), "OPEN", SystemClock.now_ms() as i64)],
    )
    .await;
    let report = e.sync(&mut conn, &options(&both)).await;
    assert_eq!(written(&report, "email_events"), (2, 0));
    assert_eq!(written(&report, "email_campaigns"), (0, 2));
    // Events: one page; campaigns: the id list and the two due ones.
    assert_eq!(report.requests, 1 + 1 + 2);
    let counters = async |id: i64| -> Value {
        let text = ids(
            &conn,
            &format!("SELECT counters FROM email_campaigns WHERE id = {id}"),
        )
        .await;
        serde_json::from_str(&text[0]).unwrap()
    };
    assert_eq!(counters(recent).await, json!({ "sent": 2, "open": 1 }));
    assert_eq!(counters(old_busy).await, json!({ "sent": 1, "open": 1 }));
    assert_eq!(counters(old_quiet).await, json!({ "sent": 1 }));

    // No new event: only the id list (and the events page).
    let again = e.sync(&mut conn, &options(&both)).await;
    assert_eq!(written(&again, "email_campaigns"), (0, 0));
    assert_eq!(again.requests, 1 + 1);
}

async fn subscription_state_follows_unsubscribe_then_resubscribe(dest: Dest) {
    let e = env(FakeConfig::default()).await;
    let now = SystemClock.now_ms() as i64;
    let state = async |conn: &Db| -> (String, i64, i64, i64, i64) {
        conn.sql()
            .query_opt(
                "SELECT status, subscribed, unsubscribe_from_portal, bounced, marked_as_spam
                 FROM email_subscriptions WHERE email = 'ada@example.com'",
                &[],
            )
            .await
            .unwrap()
            .map(|r| {
                (
                    r.text(0).unwrap(),
                    r.int(1).unwrap(),
                    r.int(2).unwrap(),
                    r.int(3).unwrap(),
                    r.int(4).unwrap(),
                )
            })
            .unwrap()
    };
    let both = ["email_subscriptions", "email_subscription_event_changes"];
    // The address's case differs from HubSpot's lowercase answers: one row either way.
    e.change(
        "Ada@Example.com",
        "UNSUBSCRIBED",
        "PORTAL_STATUS",
        now - 2 * HOUR_MS,
    )
    .await;
    e.change(
        "ada@example.com",
        "REPORTED_SPAM",
        "PORTAL_SPAM",
        now - HOUR_MS,
    )
    .await;
    let mut conn = db(dest).await;
    e.sync(&mut conn, &options(&both)).await;
    assert_eq!(state(&conn).await, ("unsubscribed".into(), 0, 1, 0, 1));

    e.change(
        "ada@example.com",
        "SUBSCRIBED",
        "PORTAL_STATUS",
        SystemClock.now_ms() as i64,
    )
    .await;
    let report = e.sync(&mut conn, &options(&both)).await;
    assert_eq!(state(&conn).await, ("subscribed".into(), 1, 0, 0, 1));
    assert_eq!(written(&report, "email_subscriptions"), (0, 1));
    assert_eq!(written(&report, "email_subscription_event_changes"), (1, 0));
    assert_eq!(
        ids(
            &conn,
            "SELECT change_type || ' ' || change FROM email_subscription_event_changes
             WHERE email = 'ada@example.com' ORDER BY timestamp"
        )
        .await,
        [
            "PORTAL_STATUS UNSUBSCRIBED",
            "PORTAL_SPAM REPORTED_SPAM",
            "PORTAL_STATUS SUBSCRIBED"
        ]
    );
    // The key is the change's time, type, subscription, change and email.
    let key = ids(
        &conn,
        "SELECT id FROM email_subscription_event_changes WHERE change = 'REPORTED_SPAM'",
    )
    .await;
    assert_eq!(
        key[0],
        format!(
            "{}:PORTAL_SPAM::REPORTED_SPAM:ada@example.com",
            now - HOUR_MS
        )
    );
}

/// A snapshot without `subscriptionStatuses` leaves the JSON column NULL (PostgreSQL binds that
/// NULL as `jsonb`), and an older snapshot read later changes nothing.
async fn a_snapshot_without_subscription_statuses_stores_null(dest: Dest) {
    use source::email_store::{ensure_email_subscriptions, upsert_email_subscription};
    use source::store::Written;
    let conn = db(dest).await;
    ensure_email_subscriptions(conn.sql()).await.unwrap();
    let at = 1_700_000_000_000;
    let received = "2026-01-01T00:00:00.000Z";
    let snapshot = json!({ "status": "subscribed", "subscribed": true });
    let write = async |snapshot: &Value, at: i64| {
        upsert_email_subscription(conn.sql(), "Ada@Example.com", snapshot, at, received)
            .await
            .unwrap()
    };
    assert_eq!(write(&snapshot, at).await, Written::Inserted);
    assert_eq!(write(&snapshot, at).await, Written::Unchanged);
    let older = json!({ "status": "unsubscribed", "subscribed": false });
    assert_eq!(write(&older, at - 1).await, Written::Unchanged);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM email_subscriptions WHERE email = 'ada@example.com'
             AND subscription_statuses IS NULL AND bounced IS NULL AND subscribed"
        )
        .await,
        1
    );
}

destinations!(
    a_first_run_reads_exactly_the_look_back_window,
    the_next_run_reads_new_and_late_items_within_the_lag_and_a_rerun_writes_nothing,
    events_sharing_one_millisecond_across_pages_are_read_once_each,
    a_stopped_run_resumes_from_its_committed_cursor,
    an_expired_offset_resumes_below_the_committed_time,
    campaigns_land_and_recent_ones_get_new_counters,
    subscription_state_follows_unsubscribe_then_resubscribe,
    a_snapshot_without_subscription_statuses_stores_null,
);
