//! The email collections, read through HubSpot's v1 email endpoints (epoch ms, `offset` and
//! `hasMore`):
//!
//! - `email_events` and `email_subscription_event_changes` (and `email_subscriptions`) read a
//!   time window of a newest-first listing (`stream_window`): the first run from
//!   `email_history` ago (the whole timeline for `email_subscriptions`) to its start, each
//!   later one from `lag` before where the previous ended (HubSpot indexes events late too) to
//!   its own start. Upserts by key make the overlap harmless.
//! - `email_subscriptions` holds each email's newest timeline `snapshot` (HubSpot's own state
//!   of the recipient with that item applied), so no folding of partial history is needed.
//! - `email_campaigns` lists every campaign id and reads a campaign (with its counters) when it
//!   is new, when its `lastUpdatedTime` moved, or when `email_events` got an event of it since
//!   the previous campaigns run started: counters move with new events, so exactly the
//!   campaigns that had some are re-read. It runs after `email_events` by default, so that set
//!   is fresh; a first run (or `--full-refresh`) reads every campaign.
//!
//! Crash safety: a window's pages come newest first, so after a page every item newer than its
//! oldest was read; each page commits with the window's remaining upper bound (that oldest
//! time, inclusive, for ties continuing on the next page) and the query's next `offset`. A
//! resumed run continues with that offset; HubSpot's offsets are short-lived, so when it is
//! refused the run starts a new query below the committed time instead. Campaigns commit
//! one by one and need no cursor: whatever a killed run did not re-read is still due on the
//! next.

use std::future::Future;

use hubspot_core::date::format_iso_ms;

use super::db::{Db, DbError, Sql};
use super::email_store;
use super::state::{self, SyncState};
use super::store::Written;
use super::{Ctx, SyncError, TableReport};
use crate::client::{ApiError, V1Page};
use crate::delivery::CallError;

/// `email_events`: every email event, keyed by `id`.
pub const EVENTS: &str = "email_events";
/// `email_campaigns`: every email campaign with its counters, keyed by `id`.
pub const CAMPAIGNS: &str = "email_campaigns";
/// `email_subscriptions`: each email's current subscription state, keyed by `email`.
pub const SUBSCRIPTIONS: &str = "email_subscriptions";
/// `email_subscription_event_changes`: every subscription change, keyed by
/// [`email_store::subscription_change_key`].
pub const CHANGES: &str = "email_subscription_event_changes";

/// Counts one upsert's outcome in `report`.
fn count(report: &mut TableReport, written: Written) {
    match written {
        Written::Inserted => report.inserted += 1,
        Written::Updated => report.updated += 1,
        Written::Unchanged => {}
    }
}

/// Syncs `email_events` over its window.
pub(super) async fn run_events(ctx: &Ctx<'_>, db: &mut Db) -> Result<TableReport, SyncError> {
    email_store::ensure_email_events(db.sql()).await?;
    let history = ctx.options.email_history.as_millis() as i64;
    stream_window(
        ctx,
        db,
        EVENTS,
        |now| now - history,
        |start, end, offset| async move {
            ctx.client.email_events(start, end, offset.as_deref()).await
        },
        |e| e.created_ms,
        async |tx, events, now, report| {
            for e in events {
                count(report, email_store::upsert_email_event(tx, e, now).await?);
            }
            Ok(())
        },
    )
    .await
}

/// Syncs `email_subscription_event_changes` over its window.
pub(super) async fn run_changes(ctx: &Ctx<'_>, db: &mut Db) -> Result<TableReport, SyncError> {
    email_store::ensure_email_subscription_event_changes(db.sql()).await?;
    let history = ctx.options.email_history.as_millis() as i64;
    stream_window(
        ctx,
        db,
        CHANGES,
        |now| now - history,
        |start, end, offset| async move {
            ctx.client
                .subscription_timeline(start, end, offset.as_deref(), false)
                .await
        },
        |item| item.timestamp_ms,
        async |tx, items, now, report| {
            for item in items {
                for c in &item.changes {
                    count(
                        report,
                        email_store::upsert_subscription_change(tx, &item.recipient, c, now)
                            .await?,
                    );
                }
            }
            Ok(())
        },
    )
    .await
}

/// Syncs `email_subscriptions`: the whole timeline on the first run (a state table must know
/// an unsubscribe of any age), then the changes since, each email taking its newest snapshot.
pub(super) async fn run_subscriptions(
    ctx: &Ctx<'_>,
    db: &mut Db,
) -> Result<TableReport, SyncError> {
    email_store::ensure_email_subscriptions(db.sql()).await?;
    stream_window(
        ctx,
        db,
        SUBSCRIPTIONS,
        |_| 0,
        |start, end, offset| async move {
            ctx.client
                .subscription_timeline(start, end, offset.as_deref(), true)
                .await
        },
        |item| item.timestamp_ms,
        async |tx, items, now, report| {
            for item in items {
                if let Some(snapshot) = &item.snapshot {
                    count(
                        report,
                        email_store::upsert_email_subscription(
                            tx,
                            &item.recipient,
                            snapshot,
                            item.timestamp_ms,
                            now,
                        )
                        .await?,
                    );
                }
            }
            Ok(())
        },
    )
    .await
}

/// Reads a newest-first v1 listing over one window into `collection`'s table, a transaction
/// per page with the cursor that covers it (see the module's doc). In `_sync_state`, while a
/// run is in progress, `run_started_ms` is the window's end, `cursor_ms` its start, `cursor_id`
/// the time (epoch ms) down to which it has been read, and `cursor_offset` the query's next
/// offset; after a run, `cursor_ms` is where that window ended.
async fn stream_window<T, R, Fut, W>(
    ctx: &Ctx<'_>,
    db: &mut Db,
    collection: &str,
    first_start: impl Fn(i64) -> i64,
    read: R,
    at: impl Fn(&T) -> i64,
    mut write: W,
) -> Result<TableReport, SyncError>
where
    R: Fn(i64, i64, Option<String>) -> Fut,
    Fut: Future<Output = Result<V1Page<T>, ApiError>>,
    W: AsyncFnMut(Sql<'_>, &[T], &str, &mut TableReport) -> Result<(), DbError>,
{
    email_store::ensure_cursor_offset(db.sql()).await?;
    let mut report = TableReport::new(collection);
    let mut st = match state::load(db.sql(), ctx.portal, collection).await? {
        Some(s) if !ctx.options.full_refresh => s,
        _ => SyncState::default(),
    };
    let (end, saved) = match st.run_started_ms {
        Some(end) => (
            end,
            email_store::load_cursor_offset(db.sql(), ctx.portal, collection).await?,
        ),
        None => {
            let now = ctx.now_ms();
            st.cursor_ms = match st.last_success_ms {
                Some(_) => st.cursor_ms - ctx.options.lag.as_millis() as i64,
                None => first_start(now),
            };
            st.cursor_id = None;
            st.run_started_ms = Some(now);
            let tx = db.transaction().await?;
            state::save(tx.sql(), ctx.portal, collection, &st).await?;
            email_store::save_cursor_offset(tx.sql(), ctx.portal, collection, None).await?;
            tx.commit().await?;
            (now, None)
        }
    };
    let start = st.cursor_ms;
    let below_cursor = |st: &SyncState| st.cursor_id.map_or(end, |upper| upper as i64);
    // An offset belongs to its query, which keeps the end it started with. A resumed run first
    // tries the committed offset: it continues even inside a millisecond holding more than a
    // page of items, which a new query from the committed time would start over.
    let mut resuming = saved.is_some();
    let (mut query_end, mut offset) = match saved {
        Some((query_end, offset)) => (query_end, Some(offset)),
        None => (below_cursor(&st), None),
    };
    let mut pages = 0u64;
    loop {
        if ctx.options.max_pages.is_some_and(|max| pages >= max) {
            return Ok(report);
        }
        pages += 1;
        let page = match ctx.paced(|| read(start, query_end, offset.clone())).await {
            // HubSpot's offsets are short-lived and how it refuses an expired one is not
            // documented: any refusal starts a new query below the committed time (a real
            // outage fails that one too), so a bad offset can never wedge the collection.
            Err(SyncError::Call(CallError::Api(_))) if resuming => {
                resuming = false;
                query_end = below_cursor(&st);
                offset = None;
                continue;
            }
            page => page?,
        };
        resuming = false;
        let tx = db.transaction().await?;
        write(tx.sql(), &page.items, &ctx.now_iso(), &mut report).await?;
        match &page.next_offset {
            Some(_) => {
                // Items at the oldest time of the page may continue on the next one.
                if let Some(oldest) = page.items.iter().map(&at).min() {
                    st.cursor_id = Some(oldest as u64);
                }
            }
            None => {
                st.cursor_ms = end;
                st.cursor_id = None;
                st.last_run_started_ms = st.run_started_ms.take();
                st.last_success_ms = Some(ctx.now_ms());
            }
        }
        state::save(tx.sql(), ctx.portal, collection, &st).await?;
        let next = page.next_offset.as_deref().map(|o| (query_end, o));
        email_store::save_cursor_offset(tx.sql(), ctx.portal, collection, next).await?;
        tx.commit().await?;
        ctx.committed(page.items.len());
        match page.next_offset {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    report.complete = true;
    Ok(report)
}

/// Syncs `email_campaigns`: every campaign id, then each due campaign read with its counters
/// and committed on its own (see the module's doc for which are due).
pub(super) async fn run_campaigns(ctx: &Ctx<'_>, db: &mut Db) -> Result<TableReport, SyncError> {
    email_store::ensure_email_campaigns(db.sql()).await?;
    email_store::ensure_email_events(db.sql()).await?;
    let started = ctx.now_ms();
    // Events written since the previous run started are what moved counters since.
    let previous = match state::load(db.sql(), ctx.portal, CAMPAIGNS).await? {
        Some(s) if !ctx.options.full_refresh => s.last_run_started_ms,
        _ => None,
    };
    let since = format_iso_ms(previous.unwrap_or(i64::MIN / 2));
    let mut report = TableReport::new(CAMPAIGNS);
    let mut offset: Option<String> = None;
    loop {
        let page = ctx
            .paced(|| ctx.client.email_campaign_ids(offset.as_deref()))
            .await?;
        for (id, last_updated) in &page.items {
            let due = match email_store::campaign_last_updated(db.sql(), *id).await? {
                None => true,
                Some(stored) => {
                    previous.is_none()
                        || stored != last_updated.map(format_iso_ms)
                        || email_store::campaign_has_events_written_since(db.sql(), *id, &since)
                            .await?
                }
            };
            if !due {
                continue;
            }
            // A campaign listed but gone by the time it is read is left as last read.
            if let Some(campaign) = ctx.paced(|| ctx.client.email_campaign(*id)).await? {
                let tx = db.transaction().await?;
                count(
                    &mut report,
                    email_store::upsert_email_campaign(tx.sql(), &campaign, &ctx.now_iso()).await?,
                );
                tx.commit().await?;
                ctx.committed(1);
            }
        }
        match page.next_offset {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    ctx.save_whole_run(db.sql(), CAMPAIGNS, started).await?;
    report.complete = true;
    Ok(report)
}
