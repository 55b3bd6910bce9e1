//! The SQLite tables of the email collections (see [`super::email`]): `email_campaigns`,
//! `email_events`, `email_subscriptions` and `email_subscription_event_changes`. One small
//! function per statement, each taking the caller's connection or transaction, so another
//! destination can port them one by one. Timestamps are ISO-8601 UTC text.

use hubspot_core::date::format_iso_ms;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::store::Written;
use crate::client::{EmailCampaign, EmailEvent, SubscriptionChange};

/// Creates `email_campaigns` if needed.
pub fn ensure_email_campaigns(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS email_campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT,
            subject TEXT,
            type TEXT,
            app_id INTEGER,
            app_name TEXT,
            content_id INTEGER,
            counters TEXT,
            last_updated_at TEXT,
            received_at TEXT NOT NULL
        )",
    )
}

/// The stored `last_updated_at` of campaign `id`: `None` when there is no row yet.
pub fn campaign_last_updated(
    conn: &Connection,
    id: i64,
) -> rusqlite::Result<Option<Option<String>>> {
    conn.query_row(
        "SELECT last_updated_at FROM email_campaigns WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// Writes `campaign` (its counters as JSON); answers what changed.
pub fn upsert_email_campaign(
    conn: &Connection,
    c: &EmailCampaign,
    received_at: &str,
) -> rusqlite::Result<Written> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let row: Row = (
        c.name.clone(),
        c.subject.clone(),
        c.kind.clone(),
        c.app_id,
        c.app_name.clone(),
        c.content_id,
        Some(c.counters.to_string()),
        c.last_updated_ms.map(format_iso_ms),
    );
    let before: Option<Row> = conn
        .query_row(
            "SELECT name, subject, type, app_id, app_name, content_id, counters, last_updated_at
             FROM email_campaigns WHERE id = ?1",
            [c.id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .optional()?;
    if before.as_ref() == Some(&row) {
        return Ok(Written::Unchanged);
    }
    conn.execute(
        "INSERT INTO email_campaigns (id, name, subject, type, app_id, app_name, content_id,
            counters, last_updated_at, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, subject = excluded.subject,
            type = excluded.type, app_id = excluded.app_id, app_name = excluded.app_name,
            content_id = excluded.content_id, counters = excluded.counters,
            last_updated_at = excluded.last_updated_at, received_at = excluded.received_at",
        params![
            c.id,
            row.0,
            row.1,
            row.2,
            row.3,
            row.4,
            row.5,
            row.6,
            row.7,
            received_at
        ],
    )?;
    Ok(if before.is_none() {
        Written::Inserted
    } else {
        Written::Updated
    })
}

/// Creates `email_events` if needed, with the index that finds a campaign's events written
/// since a time.
pub fn ensure_email_events(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS email_events (
            id TEXT PRIMARY KEY,
            type TEXT,
            recipient TEXT,
            created_at TEXT NOT NULL,
            email_campaign_id INTEGER,
            app_id INTEGER,
            app_name TEXT,
            sent_by_id TEXT,
            fields TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS email_events_campaign_received
            ON email_events (email_campaign_id, received_at)",
    )
}

/// Whether `email_events` got an event of campaign `id` (new or changed) at or after
/// `since` (ISO `received_at`).
pub fn campaign_has_events_written_since(
    conn: &Connection,
    id: i64,
    since: &str,
) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM email_events WHERE email_campaign_id = ?1 AND received_at >= ?2
             LIMIT 1",
            params![id, since],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Writes `event`, the type's own fields as JSON; an event re-read unchanged is left as it was.
pub fn upsert_email_event(
    conn: &Connection,
    e: &EmailEvent,
    received_at: &str,
) -> rusqlite::Result<Written> {
    type Row = (
        Option<String>,
        Option<String>,
        String,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        String,
    );
    let row: Row = (
        e.kind.clone(),
        e.recipient.clone(),
        format_iso_ms(e.created_ms),
        e.campaign_id,
        e.app_id,
        e.app_name.clone(),
        e.sent_by_id.clone(),
        Value::Object(e.fields.clone()).to_string(),
    );
    let before: Option<Row> = conn
        .query_row(
            "SELECT type, recipient, created_at, email_campaign_id, app_id, app_name, sent_by_id,
                fields
             FROM email_events WHERE id = ?1",
            [&e.id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .optional()?;
    if before.as_ref() == Some(&row) {
        return Ok(Written::Unchanged);
    }
    conn.execute(
        "INSERT INTO email_events (id, type, recipient, created_at, email_campaign_id, app_id,
            app_name, sent_by_id, fields, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET type = excluded.type, recipient = excluded.recipient,
            created_at = excluded.created_at, email_campaign_id = excluded.email_campaign_id,
            app_id = excluded.app_id, app_name = excluded.app_name,
            sent_by_id = excluded.sent_by_id, fields = excluded.fields,
            received_at = excluded.received_at",
        params![
            e.id,
            row.0,
            row.1,
            row.2,
            row.3,
            row.4,
            row.5,
            row.6,
            row.7,
            received_at
        ],
    )?;
    Ok(if before.is_none() {
        Written::Inserted
    } else {
        Written::Updated
    })
}

/// Creates `email_subscriptions` if needed.
pub fn ensure_email_subscriptions(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS email_subscriptions (
            email TEXT PRIMARY KEY,
            status TEXT,
            subscribed INTEGER,
            bounced INTEGER,
            marked_as_spam INTEGER,
            unsubscribe_from_portal INTEGER,
            subscription_statuses TEXT,
            updated_at TEXT NOT NULL,
            received_at TEXT NOT NULL
        )",
    )
}

/// Writes `email`'s state from a timeline `snapshot` taken at `at_ms`, unless the row holds a
/// later one: snapshots may be read in any order (newest first, re-read windows) and the
/// latest wins. `email` is lowercased, HubSpot's addresses being case-insensitive.
pub fn upsert_email_subscription(
    conn: &Connection,
    email: &str,
    snapshot: &Value,
    at_ms: i64,
    received_at: &str,
) -> rusqlite::Result<Written> {
    type Row = (
        Option<String>,
        Option<bool>,
        Option<bool>,
        Option<bool>,
        Option<bool>,
        Option<String>,
        String,
    );
    let email = email.to_lowercase();
    let row: Row = (
        snapshot["status"].as_str().map(str::to_owned),
        snapshot["subscribed"].as_bool(),
        snapshot["bounced"].as_bool(),
        snapshot["markedAsSpam"].as_bool(),
        snapshot["unsubscribeFromPortal"].as_bool(),
        snapshot.get("subscriptionStatuses").map(Value::to_string),
        format_iso_ms(at_ms),
    );
    let before: Option<Row> = conn
        .query_row(
            "SELECT status, subscribed, bounced, marked_as_spam, unsubscribe_from_portal,
                subscription_statuses, updated_at
             FROM email_subscriptions WHERE email = ?1",
            [&email],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    match &before {
        Some(b) if *b == row || b.6 > row.6 => return Ok(Written::Unchanged),
        _ => {}
    }
    conn.execute(
        "INSERT INTO email_subscriptions (email, status, subscribed, bounced, marked_as_spam,
            unsubscribe_from_portal, subscription_statuses, updated_at, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (email) DO UPDATE SET status = excluded.status,
            subscribed = excluded.subscribed, bounced = excluded.bounced,
            marked_as_spam = excluded.marked_as_spam,
            unsubscribe_from_portal = excluded.unsubscribe_from_portal,
            subscription_statuses = excluded.subscription_statuses,
            updated_at = excluded.updated_at, received_at = excluded.received_at",
        params![
            email,
            row.0,
            row.1,
            row.2,
            row.3,
            row.4,
            row.5,
            row.6,
            received_at
        ],
    )?;
    Ok(if before.is_none() {
        Written::Inserted
    } else {
        Written::Updated
    })
}

/// Creates `email_subscription_event_changes` if needed.
pub fn ensure_email_subscription_event_changes(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS email_subscription_event_changes (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            change_type TEXT NOT NULL,
            change TEXT NOT NULL,
            source TEXT,
            subscription_id INTEGER,
            caused_by_event_id TEXT,
            received_at TEXT NOT NULL
        )",
    )
}

/// A change's key: its time (epoch ms), type, subscription and change, then the lowercased
/// email, `:`-joined. Nothing but the email can hold a `:`, and it comes last, so two changes
/// share a key only when HubSpot answered the same change twice.
pub fn subscription_change_key(email: &str, c: &SubscriptionChange) -> String {
    format!(
        "{}:{}:{}:{}:{}",
        c.timestamp_ms,
        c.change_type,
        c.subscription_id
            .map_or_else(String::new, |id| id.to_string()),
        c.change,
        email.to_lowercase()
    )
}

/// Writes one change of `email`'s timeline; answers `Inserted` or `Unchanged` (a change is
/// never edited; re-reading it only confirms it).
pub fn upsert_subscription_change(
    conn: &Connection,
    email: &str,
    c: &SubscriptionChange,
    received_at: &str,
) -> rusqlite::Result<Written> {
    let inserted = conn.execute(
        "INSERT INTO email_subscription_event_changes (id, email, timestamp, change_type, change,
            source, subscription_id, caused_by_event_id, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO NOTHING",
        params![
            subscription_change_key(email, c),
            email.to_lowercase(),
            format_iso_ms(c.timestamp_ms),
            c.change_type,
            c.change,
            c.source,
            c.subscription_id,
            c.caused_by_event_id,
            received_at
        ],
    )?;
    Ok(if inserted > 0 {
        Written::Inserted
    } else {
        Written::Unchanged
    })
}

/// Adds `_sync_state`'s `cursor_offset` and `cursor_offset_end` if missing: the v1 `offset` a
/// window's query had reached and that query's end (epoch ms), committed with each page so a
/// resumed run can continue inside a millisecond holding more than a page of items.
/// [`super::state::save`] leaves them as they are.
pub fn ensure_cursor_offset(conn: &Connection) -> rusqlite::Result<()> {
    let columns: Vec<String> = conn
        .prepare("PRAGMA table_info(_sync_state)")?
        .query_map([], |r| r.get(1))?
        .collect::<Result<_, _>>()?;
    if !columns.iter().any(|c| c == "cursor_offset") {
        conn.execute_batch(
            "ALTER TABLE _sync_state ADD COLUMN cursor_offset TEXT;
             ALTER TABLE _sync_state ADD COLUMN cursor_offset_end INTEGER;",
        )?;
    }
    Ok(())
}

/// The committed `(query end, offset)` of `collection`'s window, if any.
pub fn load_cursor_offset(
    conn: &Connection,
    portal: &str,
    collection: &str,
) -> rusqlite::Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT cursor_offset_end, cursor_offset FROM _sync_state
             WHERE portal = ?1 AND collection = ?2",
            params![portal, collection],
            |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<String>>(1)?)),
        )
        .optional()?
        .and_then(|(end, offset)| Some((end?, offset?))))
}

/// Commits `collection`'s `(query end, offset)` (`None`: no query in progress). The state row
/// must exist.
pub fn save_cursor_offset(
    conn: &Connection,
    portal: &str,
    collection: &str,
    offset: Option<(i64, &str)>,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _sync_state SET cursor_offset_end = ?3, cursor_offset = ?4
         WHERE portal = ?1 AND collection = ?2",
        params![
            portal,
            collection,
            offset.map(|(end, _)| end),
            offset.map(|(_, o)| o)
        ],
    )?;
    Ok(())
}
