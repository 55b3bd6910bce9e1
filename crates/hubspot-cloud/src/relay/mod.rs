//! The HTTP relay: Segment's HTTP Tracking API in front of the durable queue, plus the loop
//! that delivers from it. A 200 means the messages are durably queued; a refused request stores
//! nothing.

mod metrics;
mod refusal;
mod server;

pub use metrics::Metrics;
pub use server::serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hubspot_core::Event;
use hubspot_core::date::{format_iso_ms, parse_iso_date_ms};
use serde_json::{Value, json};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutError};

use refusal::{Refusal, refuse};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::{Engine, PortalHealth, Report};
use crate::mapping::{map_message, ordering_key};
use crate::profiles::calls::exported_from;
use crate::queue::Queue;
use crate::source::schedule::LastRun;

/// Segment's limit for one message.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Segment's limit for one request (after decompression).
pub const MAX_REQUEST_BYTES: usize = 500 * 1024;

const CALL_TYPES: [&str; 6] = ["identify", "track", "page", "screen", "group", "alias"];

/// What the handlers share.
pub struct Relay {
    config: Arc<Config>,
    queue: Arc<dyn Queue>,
    metrics: Arc<Metrics>,
    /// Undelivered messages, refreshed by the delivery loop (back-pressure without a COUNT per
    /// request).
    depth: AtomicU64,
    /// Each portal's delivery state and when the delivery loop last refreshed it (epoch ms);
    /// `None` while no delivery loop is attached (a relay that only ingests).
    delivery: std::sync::Mutex<Option<(u64, Vec<PortalHealth>)>>,
    /// Each scheduled sync's last run, by portal (empty without `[sync]`).
    syncs: std::sync::Mutex<Vec<(String, Arc<LastRun>)>>,
    /// Messages dropped since the delivery loop's last summary because a profiles export of
    /// the portal they would go to sent them (HubSpot already has them).
    looped: AtomicU64,
}

impl Relay {
    /// A relay over `queue`.
    pub fn new(config: Arc<Config>, queue: Arc<dyn Queue>, metrics: Arc<Metrics>) -> Arc<Relay> {
        Arc::new(Relay {
            config,
            queue,
            metrics,
            depth: AtomicU64::new(0),
            delivery: std::sync::Mutex::default(),
            syncs: std::sync::Mutex::default(),
            looped: AtomicU64::new(0),
        })
    }

    /// Reports `portal`'s scheduled sync in `/health` while its last run failed.
    pub fn watch_sync(&self, portal: &str, last: Arc<LastRun>) {
        if let Ok(mut syncs) = self.syncs.lock() {
            syncs.push((portal.to_owned(), last));
        }
    }
}

/// The routes: `/v1/{identify,track,page,screen,group,alias,batch}`, `/health`, `/metrics`.
/// Bodies must arrive within `server.body_timeout_ms`; every refusal is JSON and logged once.
pub fn router(relay: Arc<Relay>) -> Router {
    let mut app = Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/import", post(batch));
    for kind in CALL_TYPES {
        app = app.route(
            &format!("/v1/{kind}"),
            post(move |s, h, b| single(kind, s, h, b)),
        );
    }
    let body_timeout = relay.config.server.body_timeout();
    app.route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(RequestDecompressionLayer::new())
        // One deadline for the whole body, not per chunk: a client trickling a byte at a
        // time must not hold the connection.
        .layer(RequestBodyDeadlineLayer::new(body_timeout))
        .layer(axum::middleware::from_fn_with_state(
            relay.clone(),
            refusal::refusals,
        ))
        .with_state(relay)
}

/// The body as read (after gzip decompression, the 500 KB limit and the body deadline).
type Body = Result<Bytes, BytesRejection>;

async fn single(
    kind: &'static str,
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest(&relay, &headers, body, Some(kind)).await
}

async fn batch(State(relay): State<Arc<Relay>>, headers: HeaderMap, body: Body) -> Response {
    ingest(&relay, &headers, body, None).await
}

async fn ingest(
    relay: &Relay,
    headers: &HeaderMap,
    body: Body,
    kind: Option<&'static str>,
) -> Response {
    let result = match body {
        Ok(bytes) => accept(relay, headers, &bytes, kind).await,
        // Segment answers an oversized or unreadable body with a 400 and a reason, as we do.
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(refuse(
            StatusCode::BAD_REQUEST,
            "too_large",
            "the request is over 500 KB; send smaller batches",
        )),
        Err(e) if timed_out(&e) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request body did not arrive within {} ms; nothing was stored, send it again",
                relay.config.server.body_timeout_ms
            ),
        )),
        Err(e) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!(
                "the request body could not be read (is it valid gzip?): {}",
                e.body_text()
            ),
        )),
    };
    match result {
        Ok((count, rejected)) => {
            relay.metrics.accepted.inc_by(count as u64);
            let mut out = json!({ "success": true });
            if !rejected.is_empty() {
                // Stored all the same: the delivery loop dead-letters them with these reasons.
                out["rejected"] = Value::Array(rejected);
            }
            (StatusCode::OK, Json(out)).into_response()
        }
        Err(r) => r.into_response(),
    }
}

/// Whether reading the body failed because its deadline passed.
fn timed_out(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(rejection);
    while let Some(e) = cause {
        if e.is::<TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Validates the whole request, then stores all of it in one transaction.
async fn accept(
    relay: &Relay,
    headers: &HeaderMap,
    body: &[u8],
    kind: Option<&'static str>,
) -> Result<(usize, Vec<Value>), Refusal> {
    let parsed: Value = serde_json::from_slice(body).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            "json",
            format!("invalid JSON: {e}"),
        )
    })?;
    let messages = match kind {
        Some(_) => 1,
        None => parsed
            .get("batch")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
    };
    store(relay, headers, parsed, kind)
        .await
        .map_err(|r| r.messages(messages))
}

/// [`accept`] once the body is JSON.
async fn store(
    relay: &Relay,
    headers: &HeaderMap,
    parsed: Value,
    kind: Option<&'static str>,
) -> Result<(usize, Vec<Value>), Refusal> {
    let write_key = basic_auth_user(headers).or_else(|| {
        parsed
            .get("writeKey")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let portal = write_key
        .as_deref()
        .and_then(|k| relay.config.portal_for_key(k))
        .ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "auth",
                "unknown or missing write key (HTTP Basic auth user name)",
            )
        })?;
    let raw: Vec<Value> = match kind {
        Some(k) => {
            let mut m = parsed;
            if let Some(obj) = m.as_object_mut() {
                obj.insert("type".into(), k.into());
            }
            vec![m]
        }
        None => {
            let shared_context = parsed.get("context").cloned();
            match parsed.get("batch") {
                Some(Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|item| {
                        let mut item = item.clone();
                        if let (Some(obj), Some(ctx)) = (item.as_object_mut(), &shared_context) {
                            obj.entry("context").or_insert_with(|| ctx.clone());
                        }
                        item
                    })
                    .collect(),
                Some(Value::Array(_)) => {
                    return Err(refuse(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "`batch` is empty",
                    ));
                }
                _ => {
                    return Err(refuse(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "`batch` must be an array of messages",
                    ));
                }
            }
        }
    };
    // A profiles export of this very portal (`profiles::calls::context`) would write HubSpot's
    // own records back to it, and the next sync would export them again: a loop.
    let before = raw.len();
    let raw: Vec<Value> = raw
        .into_iter()
        .filter(|m| exported_from(m) != Some(portal.portal_id.as_str()))
        .collect();
    let looped = (before - raw.len()) as u64;
    if looped > 0 {
        relay.metrics.looped.inc_by(looped);
        relay.looped.fetch_add(looped, Ordering::Relaxed);
    }
    let now = SystemClock.now_ms();
    let mapping = portal.mapping();
    let mut items = Vec::with_capacity(raw.len());
    let mut rejected = Vec::new();
    for (i, message) in raw.into_iter().enumerate() {
        let at = if kind.is_some() {
            String::new()
        } else {
            format!("message {i}: ")
        };
        let event = prepare(message, now)
            .map_err(|(reason, e)| refuse(StatusCode::BAD_REQUEST, reason, format!("{at}{e}")))?;
        if let Err(reason) = map_message(&event, &mapping) {
            if kind.is_some() {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    reason.to_string(),
                ));
            }
            rejected.push(json!({ "index": i, "reason": reason.to_string() }));
        }
        items.push((ordering_key(&event), event));
    }
    if relay.depth.load(Ordering::Relaxed) + items.len() as u64 > relay.config.server.max_queue {
        return Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "backpressure",
            "the delivery queue is full; retry later",
        ));
    }
    let count = items.len();
    if count == 0 {
        return Ok((0, rejected));
    }
    relay
        .queue
        .enqueue(&portal.name, items)
        .await
        .map_err(|e| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "queue",
                format!("could not store the messages (nothing was stored): {e}"),
            )
        })?;
    relay.depth.fetch_add(count as u64, Ordering::Relaxed);
    Ok((count, rejected))
}

/// Checks one Segment message and readies it for the queue: structure and size as Segment's
/// API enforces them, `receivedAt` stamped, a `messageId` added if missing (the HubSpot event
/// uuid derives from it, so it must not change on a retry). The error names a metric reason
/// and says what is wrong. Shared by the relay and `hubspot-cloud send`.
pub fn prepare(mut message: Value, now_ms: u64) -> Result<Event, (&'static str, String)> {
    validate(&message).map_err(|e| ("invalid", e))?;
    let size = serde_json::to_vec(&message).map_or(usize::MAX, |v| v.len());
    if size > MAX_MESSAGE_BYTES {
        return Err((
            "too_large",
            format!("{size} bytes; a message may have at most 32 KB"),
        ));
    }
    if let Some(obj) = message.as_object_mut() {
        obj.insert("receivedAt".into(), format_iso_ms(now_ms as i64).into());
        obj.entry("messageId")
            .or_insert_with(|| uuid::Uuid::new_v4().to_string().into());
    }
    serde_json::from_value(message).map_err(|e| ("invalid", e.to_string()))
}

/// Structure checks (Segment's spec types); mapping-level problems are judged later.
fn validate(message: &Value) -> Result<(), String> {
    let Some(obj) = message.as_object() else {
        return Err("a message must be a JSON object".into());
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
    if !CALL_TYPES.contains(&kind) {
        return Err(format!("`type` must be one of {}", CALL_TYPES.join(", ")));
    }
    let id = |k: &str| obj.get(k).filter(|v| !v.is_null());
    for k in ["userId", "anonymousId"] {
        if let Some(v) = id(k) {
            if !(v.is_string() || v.is_number()) {
                return Err(format!("`{k}` must be a string or a number"));
            }
        }
    }
    if id("userId").is_none() && id("anonymousId").is_none() {
        return Err("a message needs a `userId` or an `anonymousId`".into());
    }
    for k in ["traits", "properties", "context", "integrations"] {
        if id(k).is_some_and(|v| !v.is_object()) {
            return Err(format!("`{k}` must be an object"));
        }
    }
    for k in ["event", "messageId", "groupId", "previousId", "name"] {
        if id(k).is_some_and(|v| !v.is_string()) {
            return Err(format!("`{k}` must be a string"));
        }
    }
    // Refused here, not dead-lettered later: HubSpot rejects an event whose time is not a date.
    for k in ["timestamp", "originalTimestamp", "sentAt"] {
        if id(k).is_some_and(|v| v.as_str().and_then(parse_iso_date_ms).is_none()) {
            return Err(format!(
                "`{k}` must be an ISO-8601 date-time string, such as 2024-05-01T12:00:00.000Z"
            ));
        }
    }
    if kind == "track" && id("event").is_none() {
        return Err("a track needs an `event` name".into());
    }
    Ok(())
}

/// The user name of `Authorization: Basic …` (Segment sends the write key there). The scheme
/// is case-insensitive and may be followed by any run of spaces (RFC 9110, section 11.1).
fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let decode = |s: &str| {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(s).ok())
    };
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(decode(encoded.trim())?).ok()?;
    Some(
        decoded
            .split_once(':')
            .map_or(decoded.clone(), |(u, _)| u.to_owned()),
    )
}

/// How stale the delivery loop's health report may be before the loop counts as not running.
const DELIVERY_REPORT_MAX_AGE_MS: u64 = 30_000;

/// 200 when messages are accepted and delivered; 503 with every reason otherwise: the store
/// cannot be read or written, a portal is stopped or paused or HubSpot is failing for it, or
/// delivery is stuck.
async fn health(State(relay): State<Arc<Relay>>) -> Response {
    let mut problems: Vec<String> = Vec::new();
    let depth = match relay.queue.depth().await {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(format!("the queue cannot be read: {e}"));
            None
        }
    };
    if let Some(e) = relay.queue.write_error() {
        problems.push(format!("the queue cannot be written: {e}"));
    }
    let delivery = relay.delivery.lock().map(|d| d.clone()).unwrap_or_default();
    let portals = match delivery {
        Some((at, _)) if SystemClock.now_ms().saturating_sub(at) > DELIVERY_REPORT_MAX_AGE_MS => {
            problems.push("the delivery loop is not running".into());
            Vec::new()
        }
        Some((_, portals)) => portals,
        None => Vec::new(),
    };
    for (portal, last) in relay.syncs.lock().map(|s| s.clone()).unwrap_or_default() {
        if let Some(e) = last.failure() {
            problems.push(format!("portal '{portal}': the last sync failed: {e}"));
        }
    }
    let mut by_portal = serde_json::Map::new();
    for p in portals {
        if let Some(problem) = &p.problem {
            problems.push(format!("portal '{}': {problem}", p.portal));
        }
        by_portal.insert(p.portal, json!(p.problem.as_deref().unwrap_or("ok")));
    }
    let body = json!({
        "status": if problems.is_empty() { "ok" } else { "error" },
        "queue_depth": depth,
        "portals": by_portal,
        "problems": problems,
    });
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(relay): State<Arc<Relay>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        relay.metrics.render(),
    )
        .into_response()
}

/// Delivers from the queue until `stop` turns true: the engine's portal tasks, plus a loop
/// that turns their reports into metrics and a few log lines (one summary per second, never
/// one line per message) and keeps `/health` and the relay's depth estimate current.
pub async fn deliver_forever<Q: Queue + ?Sized + 'static>(
    engine: Arc<Engine<Q>>,
    queue: Arc<Q>,
    relay: Option<Arc<Relay>>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let delivery = tokio::spawn(engine.clone().run(stop.clone()));
    let (mut retried, mut limited) = (0u64, 0u64);
    while !*stop.borrow() {
        summarize(&engine.take_reports(), &metrics);
        let stats = engine.stats();
        let (r, l) = (
            stats.retried.load(Ordering::Relaxed),
            stats.rate_limited.load(Ordering::Relaxed),
        );
        metrics.retried.inc_by(r - retried);
        metrics.rate_limited.inc_by(l - limited);
        (retried, limited) = (r, l);
        if let Ok(depth) = queue.depth().await {
            metrics.queue_depth.set(depth as i64);
            if let Some(relay) = &relay {
                relay.depth.store(depth as u64, Ordering::Relaxed);
            }
        }
        if let Ok(status) = queue.status().await {
            metrics.dead_letters.set(status.dead as i64);
            metrics.dead_letters_pruned.set(status.dead_pruned as i64);
        }
        if let Some(relay) = &relay {
            let looped = relay.looped.swap(0, Ordering::Relaxed);
            if looped > 0 {
                tracing::info!(
                    count = looped,
                    "messages from this portal's own profiles export were dropped (no loop back to HubSpot)"
                );
            }
            if let Ok(mut d) = relay.delivery.lock() {
                *d = Some((SystemClock.now_ms(), engine.health()));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
    }
    let _ = delivery.await;
    summarize(&engine.take_reports(), &metrics);
}

/// Metrics for reports, and one log line each for the dead letters and the dropped properties
/// among them, with counts.
fn summarize(reports: &[Report], metrics: &Metrics) {
    let mut dead: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut dropped: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for report in reports {
        match report {
            Report::Delivered {
                latency_ms,
                dropped: left_out,
                ..
            } => {
                metrics.delivered.inc();
                if let Some(ms) = latency_ms {
                    metrics.delivery_latency.observe(*ms as f64 / 1000.0);
                }
                for d in left_out {
                    *dropped.entry(d.name.as_str()).or_default() += 1;
                }
            }
            Report::Dead { reason, .. } => {
                metrics.dead.inc();
                *dead.entry(reason.as_str()).or_default() += 1;
            }
        }
    }
    if !dead.is_empty() {
        let total: u64 = dead.values().sum();
        let mut reasons: Vec<(&str, u64)> = dead.into_iter().collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        reasons.truncate(3);
        tracing::warn!(
            count = total,
            ?reasons,
            "messages dead-lettered (see `hubspot-cloud dead-letters list`)"
        );
    }
    if !dropped.is_empty() {
        let names: Vec<&str> = dropped.keys().copied().take(20).collect();
        tracing::warn!(properties = ?names, "properties unknown to the portal were dropped");
    }
}
