//! The tables of the email collections (see [`super::email`]): `email_campaigns`,
//! `email_events`, `email_subscriptions` and `email_subscription_event_changes`, written once
//! for both destinations over [`Sql`]. One small function per statement, each taking the
//! caller's connection or transaction. Timestamps are [`Kind::Time`], counters and fields
//! [`Kind::Json`], flags [`Kind::Bool`].

use hubspot_core::date::format_iso_ms;
use serde_json::Value;

use super::db::{DbError, Kind, Param, Sql, time_ms};
use super::store::Written;
use crate::client::{EmailCampaign, EmailEvent, SubscriptionChange};
use crate::sql_params;

/// Creates `email_campaigns` if needed.
pub async fn ensure_email_campaigns(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS email_campaigns (
            id {int} PRIMARY KEY,
            name TEXT,
            subject TEXT,
            type TEXT,
            app_id {int},
            app_name TEXT,
            content_id {int},
            counters {json},
            last_updated_at {time},
            received_at {time} NOT NULL
        )",
        int = d.ty(Kind::Int),
        json = d.ty(Kind::Json),
        time = d.ty(Kind::Time),
    ))
    .await
}

/// The stored `last_updated_at` of campaign `id` (ISO-8601 with milliseconds): `None` when
/// there is no row yet.
pub async fn campaign_last_updated(
    sql: Sql<'_>,
    id: i64,
) -> Result<Option<Option<String>>, DbError> {
    Ok(sql
        .query_opt(
            "SELECT last_updated_at FROM email_campaigns WHERE id = ?1",
            sql_params![id],
        )
        .await?
        .map(|r| r.text(0)))
}

/// Writes `campaign` (its counters as JSON); answers what changed.
pub async fn upsert_email_campaign(
    sql: Sql<'_>,
    c: &EmailCampaign,
    received_at: &str,
) -> Result<Written, DbError> {
    let last_updated = c.last_updated_ms.map(format_iso_ms);
    let row = (
        c.name.clone(),
        c.subject.clone(),
        c.kind.clone(),
        c.app_id,
        c.app_name.clone(),
        c.content_id,
        Some(c.counters.clone()),
        last_updated.clone(),
    );
    let before = sql
        .query_opt(
            "SELECT name, subject, type, app_id, app_name, content_id, counters, last_updated_at
             FROM email_campaigns WHERE id = ?1",
            sql_params![c.id],
        )
        .await?
        .map(|r| {
            (
                r.text(0),
                r.text(1),
                r.text(2),
                r.int(3),
                r.text(4),
                r.int(5),
                r.json(6),
                r.text(7),
            )
        });
    if before.as_ref() == Some(&row) {
        return Ok(Written::Unchanged);
    }
    sql.execute(
        "INSERT INTO email_campaigns (id, name, subject, type, app_id, app_name, content_id,
            counters, last_updated_at, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, subject = excluded.subject,
            type = excluded.type, app_id = excluded.app_id, app_name = excluded.app_name,
            content_id = excluded.content_id, counters = excluded.counters,
            last_updated_at = excluded.last_updated_at, received_at = excluded.received_at",
        sql_params![
            c.id,
            &c.name,
            &c.subject,
            &c.kind,
            c.app_id,
            &c.app_name,
            c.content_id,
            Param::Json(c.counters.clone()),
            Param::Time(last_updated),
            Param::time(Some(received_at))
        ],
    )
    .await?;
    // An unchanged row returned before the write.
    Ok(Written::from_before(before, |_| false))
}

/// Creates `email_events` if needed, with the index that finds a campaign's events written
/// since a time.
pub async fn ensure_email_events(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS email_events (
            id TEXT PRIMARY KEY,
            type TEXT,
            recipient TEXT,
            created_at {time} NOT NULL,
            email_campaign_id {int},
            app_id {int},
            app_name TEXT,
            sent_by_id TEXT,
            fields {json} NOT NULL,
            received_at {time} NOT NULL
        );
        CREATE INDEX IF NOT EXISTS email_events_campaign_received
            ON email_events (email_campaign_id, received_at)",
        int = d.ty(Kind::Int),
        json = d.ty(Kind::Json),
        time = d.ty(Kind::Time),
    ))
    .await
}

/// Whether `email_events` got an event of campaign `id` (new or changed) after `since` (ISO
/// `received_at`), the previous campaigns run's start. Strictly after: an event written in
/// that same millisecond was written before it (a sync runs its collections one after the
/// other, events first), so the campaigns that run read already counted it; re-reading them
/// would cost a request per campaign for nothing.
pub async fn campaign_has_events_written_since(
    sql: Sql<'_>,
    id: i64,
    since: &str,
) -> Result<bool, DbError> {
    Ok(sql
        .query_opt(
            "SELECT 1 FROM email_events WHERE email_campaign_id = ?1 AND received_at > ?2
             LIMIT 1",
            sql_params![id, Param::time(Some(since))],
        )
        .await?
        .is_some())
}

/// Writes `event`, the type's own fields as JSON; an event re-read unchanged is left as it was.
pub async fn upsert_email_event(
    sql: Sql<'_>,
    e: &EmailEvent,
    received_at: &str,
) -> Result<Written, DbError> {
    let created_at = format_iso_ms(e.created_ms);
    let fields = Value::Object(e.fields.clone());
    let row = (
        e.kind.clone(),
        e.recipient.clone(),
        Some(created_at.clone()),
        e.campaign_id,
        e.app_id,
        e.app_name.clone(),
        e.sent_by_id.clone(),
        Some(fields.clone()),
    );
    let before = sql
        .query_opt(
            "SELECT type, recipient, created_at, email_campaign_id, app_id, app_name, sent_by_id,
                fields
             FROM email_events WHERE id = ?1",
            sql_params![&e.id],
        )
        .await?
        .map(|r| {
            (
                r.text(0),
                r.text(1),
                r.text(2),
                r.int(3),
                r.int(4),
                r.text(5),
                r.text(6),
                r.json(7),
            )
        });
    if before.as_ref() == Some(&row) {
        return Ok(Written::Unchanged);
    }
    sql.execute(
        "INSERT INTO email_events (id, type, recipient, created_at, email_campaign_id, app_id,
            app_name, sent_by_id, fields, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET type = excluded.type, recipient = excluded.recipient,
            created_at = excluded.created_at, email_campaign_id = excluded.email_campaign_id,
            app_id = excluded.app_id, app_name = excluded.app_name,
            sent_by_id = excluded.sent_by_id, fields = excluded.fields,
            received_at = excluded.received_at",
        sql_params![
            &e.id,
            &e.kind,
            &e.recipient,
            Param::time(Some(&created_at)),
            e.campaign_id,
            e.app_id,
            &e.app_name,
            &e.sent_by_id,
            Param::Json(fields),
            Param::time(Some(received_at))
        ],
    )
    .await?;
    // An unchanged row returned before the write.
    Ok(Written::from_before(before, |_| false))
}

/// Creates `email_subscriptions` if needed.
pub async fn ensure_email_subscriptions(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS email_subscriptions (
            email TEXT PRIMARY KEY,
            status TEXT,
            subscribed {bool},
            bounced {bool},
            marked_as_spam {bool},
            unsubscribe_from_portal {bool},
            subscription_statuses {json},
            updated_at {time} NOT NULL,
            received_at {time} NOT NULL
        )",
        bool = d.ty(Kind::Bool),
        json = d.ty(Kind::Json),
        time = d.ty(Kind::Time),
    ))
    .await
}

/// Writes `email`'s state from a timeline `snapshot` taken at `at_ms`, unless the row holds a
/// later one: snapshots may be read in any order (newest first, re-read windows) and the
/// latest wins. `email` is lowercased, HubSpot's addresses being case-insensitive.
pub async fn upsert_email_subscription(
    sql: Sql<'_>,
    email: &str,
    snapshot: &Value,
    at_ms: i64,
    received_at: &str,
) -> Result<Written, DbError> {
    let email = email.to_lowercase();
    let row = (
        snapshot["status"].as_str().map(str::to_owned),
        snapshot["subscribed"].as_bool(),
        snapshot["bounced"].as_bool(),
        snapshot["markedAsSpam"].as_bool(),
        snapshot["unsubscribeFromPortal"].as_bool(),
        snapshot.get("subscriptionStatuses").cloned(),
        at_ms,
    );
    let before = sql
        .query_opt(
            "SELECT status, subscribed, bounced, marked_as_spam, unsubscribe_from_portal,
                subscription_statuses, updated_at
             FROM email_subscriptions WHERE email = ?1",
            sql_params![&email],
        )
        .await?
        .map(|r| {
            (
                r.text(0),
                r.opt_flag(1),
                r.opt_flag(2),
                r.opt_flag(3),
                r.opt_flag(4),
                r.json(5),
                // Written as `format_iso_ms`, so both destinations read back its instant.
                r.text(6).and_then(|t| time_ms(&t)).unwrap_or(i64::MIN),
            )
        });
    match &before {
        Some(b) if *b == row || b.6 > row.6 => return Ok(Written::Unchanged),
        _ => {}
    }
    sql.execute(
        "INSERT INTO email_subscriptions (email, status, subscribed, bounced, marked_as_spam,
            unsubscribe_from_portal, subscription_statuses, updated_at, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (email) DO UPDATE SET status = excluded.status,
            subscribed = excluded.subscribed, bounced = excluded.bounced,
            marked_as_spam = excluded.marked_as_spam,
            unsubscribe_from_portal = excluded.unsubscribe_from_portal,
            subscription_statuses = excluded.subscription_statuses,
            updated_at = excluded.updated_at, received_at = excluded.received_at",
        sql_params![
            &email,
            row.0,
            Param::Bool(row.1),
            Param::Bool(row.2),
            Param::Bool(row.3),
            Param::Bool(row.4),
            row.5.map_or(Param::Text(None), Param::Json),
            Param::Time(Some(format_iso_ms(at_ms))),
            Param::time(Some(received_at))
        ],
    )
    .await?;
    // An unchanged row returned before the write.
    Ok(Written::from_before(before, |_| false))
}

/// Creates `email_subscription_event_changes` if needed.
pub async fn ensure_email_subscription_event_changes(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS email_subscription_event_changes (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            timestamp {time} NOT NULL,
            change_type TEXT NOT NULL,
            change TEXT NOT NULL,
            source TEXT,
            subscription_id {int},
            caused_by_event_id TEXT,
            received_at {time} NOT NULL
        )",
        int = d.ty(Kind::Int),
        time = d.ty(Kind::Time),
    ))
    .await
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
pub async fn upsert_subscription_change(
    sql: Sql<'_>,
    email: &str,
    c: &SubscriptionChange,
    received_at: &str,
) -> Result<Written, DbError> {
    let inserted = sql
        .execute(
            "INSERT INTO email_subscription_event_changes (id, email, timestamp, change_type,
                change, source, subscription_id, caused_by_event_id, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO NOTHING",
            sql_params![
                subscription_change_key(email, c),
                email.to_lowercase(),
                Param::Time(Some(format_iso_ms(c.timestamp_ms))),
                &c.change_type,
                &c.change,
                &c.source,
                c.subscription_id,
                &c.caused_by_event_id,
                Param::time(Some(received_at))
            ],
        )
        .await?;
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
pub async fn ensure_cursor_offset(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    let columns = sql.columns("_sync_state").await?;
    for (column, kind) in [
        ("cursor_offset", Kind::Text),
        ("cursor_offset_end", Kind::Int),
    ] {
        if !columns.contains(column) {
            sql.batch(&d.add_column("_sync_state", column, kind))
                .await?;
        }
    }
    Ok(())
}

/// The committed `(query end, offset)` of `collection`'s window, if any.
pub async fn load_cursor_offset(
    sql: Sql<'_>,
    portal: &str,
    collection: &str,
) -> Result<Option<(i64, String)>, DbError> {
    Ok(sql
        .query_opt(
            "SELECT cursor_offset_end, cursor_offset FROM _sync_state
             WHERE portal = ?1 AND collection = ?2",
            sql_params![portal, collection],
        )
        .await?
        .and_then(|r| Some((r.int(0)?, r.text(1)?))))
}

/// Commits `collection`'s `(query end, offset)` (`None`: no query in progress). The state row
/// must exist.
pub async fn save_cursor_offset(
    sql: Sql<'_>,
    portal: &str,
    collection: &str,
    offset: Option<(i64, &str)>,
) -> Result<(), DbError> {
    sql.execute(
        "UPDATE _sync_state SET cursor_offset_end = ?3, cursor_offset = ?4
         WHERE portal = ?1 AND collection = ?2",
        sql_params![
            portal,
            collection,
            offset.map(|(end, _)| end),
            offset.map(|(_, o)| o.to_owned())
        ],
    )
    .await?;
    Ok(())
}
