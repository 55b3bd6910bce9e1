//! HTTP routing: the HubSpot endpoints, the `/_fake` control endpoints, and the two middleware
//! layers in front of the API.
//!
//! Request path through the layers, outermost first:
//! 1. `front`: buffers the body (to log the batch size), applies an injected fault, and records
//!    the request in the stats and log once its status is known.
//! 2. `gate`: authentication, scope, plan, rate limit; adds the `X-HubSpot-RateLimit-*` headers.
//! 3. the handler: parses the body, then does all its work under one lock of the shared state.
//!
//! `/oauth/v1/token` passes through `front` only; `/_fake/...` through neither.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::associations::{Association, LinkType, default_type};
use crate::auth::{self, AccessToken};
use crate::dates;
use crate::errors::{ApiError, category};
use crate::events::{self, MAX_EVENT_BATCH};
use crate::faults::{ConnectionKiller, FaultKind, Faults};
use crate::generate::GeneratedPortal;
use crate::limits::{self, LimitClass};
use crate::lists::ObjectList;
use crate::marketing::{self, EventFilter};
use crate::portal;
use crate::search::{SearchRequest, modified_property};
use crate::state::{Inner, Shared};
use crate::store::{
    MAX_BATCH_INPUTS, PropertyDefinition, StoredObject, default_read_properties, object_type_id,
    scalar_text,
};

type AppState = State<Arc<Shared>>;
type ApiResult = Result<Response, ApiError>;

/// Largest request body the fake reads.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The whole application.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let objects = "/crm/v3/objects/{object_type}";
    let api = Router::new()
        .route(objects, get(list_objects))
        .route(
            &format!("{objects}/{{id}}"),
            get(read_object).delete(archive_object),
        )
        .route(&format!("{objects}/batch/archive"), post(batch_archive))
        .route(&format!("{objects}/merge"), post(merge_objects))
        .route(&format!("{objects}/batch/update"), post(batch_update))
        .route(&format!("{objects}/batch/upsert"), post(batch_upsert))
        .route(&format!("{objects}/batch/read"), post(batch_read))
        .route(&format!("{objects}/search"), post(search))
        .route(
            "/crm/v3/properties/{object_type}",
            get(list_properties).post(create_property),
        )
        .route(
            "/crm/v3/properties/{object_type}/{name}",
            get(read_property),
        )
        .route(
            "/crm/v3/properties/{object_type}/groups",
            get(list_property_groups).post(create_property_group),
        )
        .route(
            "/crm/v3/limits/custom-properties",
            get(custom_property_limits),
        )
        .route("/crm/v3/lists", post(create_list))
        .route(
            "/crm/v4/objects/{from}/{id}/associations/{to}",
            get(list_associations),
        )
        .route(
            "/crm/v4/associations/{from}/{to}/batch/associate/default",
            post(associate_batch),
        )
        .route(
            "/crm/v4/associations/{from}/{to}/batch/read",
            post(read_associations_batch),
        )
        .route(
            "/crm/v4/associations/{from}/{to}/batch/archive",
            post(archive_associations_batch),
        )
        .route("/crm/v3/lists/search", post(search_lists))
        .route(
            "/crm/v3/lists/{list_id}",
            get(read_list).delete(delete_list),
        )
        .route("/crm/v3/lists/{list_id}/memberships", get(list_memberships))
        .route("/crm/v3/lists/{list_id}/memberships/add", put(add_members))
        .route(
            "/crm/v3/lists/{list_id}/memberships/remove",
            put(remove_members),
        )
        .route(
            "/crm/v3/lists/{list_id}/memberships/add-and-remove",
            put(add_and_remove_members),
        )
        .route("/crm/v3/schemas", get(list_schemas))
        .route("/email/public/v1/events", get(email_events))
        .route("/email/public/v1/campaigns/by-id", get(email_campaign_ids))
        .route("/email/public/v1/campaigns/{id}", get(email_campaign))
        .route(
            "/email/public/v1/subscriptions/timeline",
            get(subscription_timeline),
        )
        .route("/marketing/v3/forms", get(list_forms))
        .route(
            "/form-integrations/v1/submissions/forms/{form_id}",
            get(form_submissions),
        )
        .route("/contacts/v1/contact/vids/batch", get(contacts_by_vid))
        .route("/contacts/v1/contact/vids/batch/", get(contacts_by_vid))
        .route("/crm/v3/owners", get(list_owners))
        .route("/crm/v3/pipelines/{object_type}", get(list_pipelines))
        .route("/events/v3/send/batch", post(send_events))
        .route(
            "/events/v3/event-definitions",
            get(list_event_definitions).post(create_event_definition),
        )
        .route(
            "/events/v3/event-definitions/{name}",
            get(read_event_definition),
        )
        .route("/account-info/v3/details", get(account_info))
        .route("/oauth/v1/access-tokens/{token}", get(token_info))
        .fallback(unknown_endpoint)
        .layer(middleware::from_fn_with_state(shared.clone(), gate));
    let oauth = Router::new().route("/oauth/v1/token", post(oauth_token));
    let control = Router::new()
        .route("/_fake/state", get(control_state))
        .route(
            "/_fake/faults",
            get(control_faults).post(control_set_faults),
        )
        .route("/_fake/reset", post(control_reset))
        .route("/_fake/tokens", post(control_add_token))
        .route("/_fake/search/settle", post(control_settle_search))
        .route("/_fake/objects/{object_type}/create", post(control_create))
        .route("/_fake/objects/{object_type}/modify", post(control_modify))
        .route(
            "/_fake/objects/{object_type}/archive",
            post(control_archive),
        )
        .route(
            "/_fake/objects/{object_type}/restore",
            post(control_restore),
        )
        .route("/_fake/objects/{object_type}/merge", post(control_merge))
        .route(
            "/_fake/properties/{object_type}",
            post(control_create_property),
        )
        .route("/_fake/generate", post(control_generate))
        .route("/_fake/email/campaigns", post(control_add_campaign))
        .route("/_fake/email/events", post(control_add_email_events))
        .route(
            "/_fake/email/subscriptions",
            post(control_add_subscription_changes),
        )
        .route("/_fake/schemas", post(control_add_schema))
        .route("/_fake/forms", post(control_add_form))
        .route(
            "/_fake/forms/{form_id}/submissions",
            post(control_add_submission),
        )
        .route("/_fake/lists", post(control_create_list))
        .route("/_fake/lists/{list_id}/add", post(control_add_members))
        .route(
            "/_fake/lists/{list_id}/remove",
            post(control_remove_members),
        )
        .route("/_fake/lists/{list_id}/delete", post(control_delete_list))
        .route("/_fake/associations", post(control_associate))
        .route("/_fake/associations/remove", post(control_dissociate));
    api.merge(oauth)
        .layer(middleware::from_fn_with_state(shared.clone(), front))
        .merge(control)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Middleware

fn batch_size(body: &[u8]) -> Option<usize> {
    if !body.starts_with(b"{") {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("inputs")?.as_array().map(Vec::len)
}

fn injected_status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return ApiError::new(
            status,
            category::INTERNAL_ERROR,
            "internal error (injected by the fake)",
        )
        .into_response();
    }
    // Gateways in front of HubSpot answer 502/503/504 with HTML, not HubSpot's JSON.
    let reason = status.canonical_reason().unwrap_or("Error");
    let html = format!("<html><body><h1>{code} {reason}</h1></body></html>");
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Closes the connection the request came on; the future never completes because the serving
/// task drops it together with the connection.
async fn drop_connection(killer: Option<ConnectionKiller>) -> Response {
    match killer {
        Some(killer) => {
            killer.kill();
            std::future::pending().await
        }
        None => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            category::INTERNAL_ERROR,
            "a connection drop was injected, but this connection cannot be closed",
        )
        .into_response(),
    }
}

async fn front(State(shared): AppState, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        let err = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            category::VALIDATION_ERROR,
            "Request body too large or unreadable",
        );
        return err.into_response();
    };
    let batch = batch_size(&bytes);
    let killer = parts.extensions.get::<ConnectionKiller>().cloned();
    let req = Request::from_parts(parts, Body::from(bytes));
    let fault = {
        let mut inner = shared.lock();
        let fault = inner.faults.take(&path);
        if fault.is_some() {
            inner.count_fault();
        }
        fault
    };
    let record = |status: u16| {
        shared
            .lock()
            .record_request(&method, &path, status, batch, fault.clone());
    };
    let response = match &fault {
        None => next.run(req).await,
        Some(FaultKind::Status(code)) => injected_status(*code),
        Some(FaultKind::DelayMs(ms)) => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            next.run(req).await
        }
        Some(FaultKind::EmptyBatchResult) => {
            Json(json!({ "status": "COMPLETE", "results": [], "errors": [], "numErrors": 0 }))
                .into_response()
        }
        Some(FaultKind::DropConnection) => {
            record(0);
            return drop_connection(killer).await;
        }
        Some(FaultKind::DropAfterProcessing) => {
            let processed = next.run(req).await;
            record(processed.status().as_u16());
            return drop_connection(killer).await;
        }
    };
    record(response.status().as_u16());
    response
}

async fn gate(State(shared): AppState, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let now = Instant::now();
    let rate_headers = {
        let mut guard = shared.lock();
        let inner = &mut *guard;
        let token = match auth::authenticate(authorization.as_deref(), inner.tokens(), now) {
            Ok(token) => token,
            Err(err) => return err.into_response(),
        };
        if let Some(scope) = auth::required_scope(&method, &path) {
            if !inner.config.scopes.contains(&scope) {
                return auth::missing_scope(&scope).into_response();
            }
        }
        if path.starts_with("/events/v3/") && !inner.config.custom_events_enabled {
            return auth::custom_events_unavailable().into_response();
        }
        match limits::class_of(&path) {
            LimitClass::Exempt => None,
            class => {
                let day = dates::now_ms().div_euclid(dates::DAY_MS);
                let admitted = inner.limiter.admit(
                    &token,
                    class,
                    &inner.config.limits,
                    now,
                    day,
                    inner.config.portal_id,
                );
                match admitted {
                    Ok(headers) => Some(headers),
                    Err((headers, err)) => {
                        let mut response = err.into_response();
                        headers.apply(response.headers_mut());
                        return response;
                    }
                }
            }
        }
    };
    let mut response = next.run(req).await;
    if let Some(headers) = rate_headers {
        headers.apply(response.headers_mut());
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Wire helpers

/// The store's name for an object type named in a path: HubSpot's aliases (`contact`, `0-1`)
/// and a custom object's type id or fully qualified name resolved.
fn object_type(shared: &Shared, raw: &str) -> String {
    shared.lock().store.type_of(raw)
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(format!(
            "Invalid input JSON on line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

fn inputs_of(body: &Value, max: usize) -> Result<&[Value], ApiError> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::validation("Invalid input JSON: inputs must be an array"))?;
    if inputs.len() > max {
        return Err(ApiError::validation(format!(
            "Batch input cannot exceed {max} inputs (got {})",
            inputs.len()
        )));
    }
    Ok(inputs)
}

fn properties_of(input: &Value) -> Result<Map<String, Value>, ApiError> {
    match input.get("properties") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::validation("properties must be an object")),
    }
}

fn text(input: &Value, key: &str) -> Option<String> {
    input
        .get(key)
        .and_then(scalar_text)
        .filter(|s| !s.is_empty())
}

fn now_iso() -> String {
    dates::iso_from_ms(dates::now_ms())
}

/// A record in HubSpot's shape. `select` lists the properties to include (absent ones as
/// `null`); `None` includes every stored property. System properties are always present.
fn object_json(ty: &str, object: &StoredObject, select: Option<&[String]>) -> Value {
    let mut props = Map::new();
    match select {
        None => {
            for (name, value) in &object.properties {
                props.insert(name.clone(), json!(value));
            }
        }
        Some(names) => {
            for name in names {
                let value = object
                    .properties
                    .get(name)
                    .map_or(Value::Null, |v| json!(v));
                props.insert(name.clone(), value);
            }
        }
    }
    let created = dates::iso_from_ms(object.created_at);
    let updated = dates::iso_from_ms(object.updated_at);
    props.insert("hs_object_id".into(), json!(object.id));
    props.insert("createdate".into(), json!(created));
    props.insert(modified_property(ty).into(), json!(updated));
    let mut value = json!({
        "id": object.id,
        "properties": props,
        "createdAt": created,
        "updatedAt": updated,
        "archived": object.archived_at.is_some(),
    });
    if let Some(at) = object.archived_at {
        value["archivedAt"] = json!(dates::iso_from_ms(at));
    }
    value
}

/// The `properties` query parameter: comma-separated names.
fn query_properties(query: &HashMap<String, String>) -> Vec<String> {
    query
        .get("properties")
        .map(|p| {
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A `true`/`false` query parameter; absent is `false`.
fn query_flag(query: &HashMap<String, String>, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A numeric query parameter: `default` when absent, a 400 when not a number or above `max`.
fn query_limit(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(raw) = query.get(name).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let n: usize = raw
        .trim()
        .parse()
        .map_err(|_| ApiError::validation(format!("{name} must be a number, got {raw}")))?;
    if n > max {
        return Err(ApiError::validation(format!(
            "{name} must be at most {max}, got {n}"
        )));
    }
    Ok(n)
}

fn read_selection(ty: &str, requested: Vec<String>) -> Vec<String> {
    if requested.is_empty() {
        default_read_properties(ty)
            .iter()
            .map(|s| (*s).to_string())
            .collect()
    } else {
        requested
    }
}

/// A failed batch input: its error and the ids and trace id that identify it.
struct BatchError {
    err: ApiError,
    ids: Vec<String>,
    trace: Option<String>,
}

impl BatchError {
    fn context(&self) -> Map<String, Value> {
        let mut context = match self.err.body.get("context") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        if !self.ids.is_empty() {
            context.insert("ids".into(), json!(self.ids));
        }
        if let Some(trace) = &self.trace {
            context.insert("objectWriteTraceId".into(), json!([trace]));
        }
        context
    }
}

/// HubSpot's batch answer: 200 when every input worked; when every input failed, the first
/// input's error as the whole answer; otherwise 207 with `errors[]`.
fn batch_response(results: Vec<Value>, errors: Vec<BatchError>) -> Response {
    let stamp = now_iso();
    if errors.is_empty() {
        let body = json!({
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp,
            "completedAt": stamp,
        });
        return Json(body).into_response();
    }
    if results.is_empty() {
        if let Some(first) = errors.first() {
            let context = first.context();
            let mut err = first.err.clone();
            if !context.is_empty() {
                err = err.with("context", Value::Object(context));
            }
            return err.into_response();
        }
    }
    let items: Vec<Value> = errors
        .iter()
        .map(|e| {
            json!({
                "status": "error",
                "category": e.err.category(),
                "message": e.err.message(),
                "context": e.context(),
            })
        })
        .collect();
    let body = json!({
        "status": "COMPLETE",
        "results": results,
        "numErrors": items.len(),
        "errors": items,
        "startedAt": stamp,
        "completedAt": stamp,
    });
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Objects

#[derive(Clone, Copy)]
enum WriteOp {
    Update,
    Upsert,
}

struct WriteInput {
    id: Option<String>,
    id_property: Option<String>,
    properties: Result<Map<String, Value>, ApiError>,
    trace: Option<String>,
}

/// HubSpot rejects a batch naming one record twice; emails compare case-insensitively.
fn check_duplicates(ty: &str, inputs: &[WriteInput]) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    let mut duplicates: Vec<String> = Vec::new();
    for input in inputs {
        let Some(id) = &input.id else { continue };
        let by_email = ty == "contacts" && input.id_property.as_deref() == Some("email");
        let key = if by_email {
            id.trim().to_lowercase()
        } else {
            id.clone()
        };
        if !seen.insert(key) && !duplicates.contains(id) {
            duplicates.push(id.clone());
        }
    }
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "Duplicate IDs found in batch input: [{}]. IDs must be unique",
            duplicates.join(", ")
        )))
    }
}

fn batch_write(shared: &Shared, ty: &str, body: &Bytes, op: WriteOp) -> ApiResult {
    let body = parse_json(body)?;
    let raw_inputs = inputs_of(&body, MAX_BATCH_INPUTS)?;
    let ty = object_type(shared, ty);
    let top_id_property = body.get("idProperty").and_then(Value::as_str);
    let inputs: Vec<WriteInput> = raw_inputs
        .iter()
        .map(|input| WriteInput {
            id: text(input, "id"),
            id_property: input
                .get("idProperty")
                .and_then(Value::as_str)
                .or(top_id_property)
                .map(str::to_string),
            properties: properties_of(input),
            trace: text(input, "objectWriteTraceId"),
        })
        .collect();
    check_duplicates(&ty, &inputs)?;
    let now = Instant::now();
    let mut inner = shared.lock();
    let store = &mut inner.store;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        let id = input.id.clone();
        let outcome = input.properties.and_then(|props| {
            let id_property = input.id_property.as_deref();
            let need_id = || {
                id.clone()
                    .ok_or_else(|| ApiError::validation("id is required"))
            };
            match op {
                WriteOp::Update => store
                    .update(&ty, &need_id()?, id_property, &props, now)
                    .map(|o| (o, None)),
                WriteOp::Upsert => store
                    .upsert(&ty, &need_id()?, id_property, &props, now)
                    .map(|(o, new)| (o, Some(new))),
            }
        });
        match outcome {
            Ok((object, new)) => {
                let mut value = object_json(&ty, &object, None);
                if let Some(new) = new {
                    value["new"] = json!(new);
                }
                if let Some(trace) = &input.trace {
                    value["objectWriteTraceId"] = json!(trace);
                }
                results.push(value);
            }
            Err(err) => errors.push(BatchError {
                err,
                ids: id.into_iter().collect(),
                trace: input.trace,
            }),
        }
    }
    Ok(batch_response(results, errors))
}

async fn batch_update(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    batch_write(&s, &ty, &body, WriteOp::Update)
}

async fn batch_upsert(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    batch_write(&s, &ty, &body, WriteOp::Upsert)
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn batch_read(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_json(&body)?;
    let inputs = inputs_of(&body, MAX_BATCH_INPUTS)?;
    let ty = object_type(&s, &ty);
    let id_property = body.get("idProperty").and_then(Value::as_str);
    let archived = body.get("archived").and_then(Value::as_bool) == Some(true);
    let select = read_selection(&ty, string_list(body.get("properties")));
    let inner = s.lock();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in inputs {
        let id = text(input, "id").unwrap_or_default();
        match inner.store.read(&ty, &id, id_property, archived)? {
            Some(object) => results.push(object_json(&ty, &object, Some(&select))),
            None => missing.push(id),
        }
    }
    if missing.is_empty() {
        return Ok(batch_response(results, Vec::new()));
    }
    // A read never fails as a whole: missing records are one grouped error beside the results.
    let stamp = now_iso();
    let body = json!({
        "status": "COMPLETE",
        "results": results,
        "numErrors": 1,
        "errors": [{
            "status": "error",
            "category": category::OBJECT_NOT_FOUND,
            "message": format!(
                "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
                ty.to_uppercase()
            ),
            "context": { "ids": missing },
        }],
        "startedAt": stamp,
        "completedAt": stamp,
    });
    Ok((StatusCode::MULTI_STATUS, Json(body)).into_response())
}

async fn read_object(
    State(s): AppState,
    Path((ty, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let ty = object_type(&s, &ty);
    let requested = query_properties(&query);
    let id_property = query.get("idProperty").map(String::as_str);
    let archived = query_flag(&query, "archived");
    let object = s
        .lock()
        .store
        .read(&ty, &id, id_property, archived)?
        .ok_or_else(|| ApiError::not_found("resource not found"))?;
    let select = read_selection(&ty, requested);
    Ok(Json(object_json(&ty, &object, Some(&select))).into_response())
}

/// Most records one page of `GET /crm/v3/objects/{type}` may carry.
const MAX_LIST_LIMIT: usize = 100;

async fn list_objects(
    State(s): AppState,
    Path(ty): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let ty = object_type(&s, &ty);
    let limit = query_limit(&query, "limit", 10, MAX_LIST_LIMIT)?;
    let after = match query.get("after").filter(|a| !a.is_empty()) {
        None => 0,
        Some(a) => a
            .trim()
            .parse::<u64>()
            .map_err(|_| ApiError::validation(format!("after must be a paging cursor, got {a}")))?,
    };
    let archived = query_flag(&query, "archived");
    let select = read_selection(&ty, query_properties(&query));
    let (page, next) = s.lock().store.list(&ty, after, limit, archived);
    let results: Vec<Value> = page
        .iter()
        .map(|o| object_json(&ty, o, Some(&select)))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        body["paging"] = json!({ "next": {
            "after": next.to_string(),
            "link": format!("/crm/v3/objects/{ty}?after={next}"),
        }});
    }
    Ok(Json(body).into_response())
}

async fn archive_object(State(s): AppState, Path((ty, id)): Path<(String, String)>) -> StatusCode {
    let ty = object_type(&s, &ty);
    let mut inner = s.lock();
    let store = &mut inner.store;
    // Deleting what is already gone (or never was) is not an error, as on HubSpot.
    if let Ok(rids) = store.select(&ty, Some(std::slice::from_ref(&id)), None) {
        store.archive(&ty, &rids, dates::now_ms());
    }
    StatusCode::NO_CONTENT
}

async fn batch_archive(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_json(&body)?;
    let inputs = inputs_of(&body, MAX_BATCH_INPUTS)?;
    let ty = object_type(&s, &ty);
    let ids: Vec<String> = inputs.iter().filter_map(|i| text(i, "id")).collect();
    let mut inner = s.lock();
    let store = &mut inner.store;
    let rids: Vec<u64> = ids
        .iter()
        .filter_map(|id| store.select(&ty, Some(std::slice::from_ref(id)), None).ok())
        .flatten()
        .collect();
    store.archive(&ty, &rids, dates::now_ms());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Body of `POST /crm/v3/objects/{type}/merge`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeRequest {
    primary_object_id: Value,
    object_id_to_merge: Value,
}

fn merge(shared: &Shared, ty: &str, body: &Bytes) -> ApiResult {
    let request: MergeRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("Invalid merge request: {e}")))?;
    let id = |v: &Value| scalar_text(v).unwrap_or_default();
    let ty = object_type(shared, ty);
    let mut inner = shared.lock();
    let (old, object) = inner.store.merge(
        &ty,
        &id(&request.primary_object_id),
        &id(&request.object_id_to_merge),
        Instant::now(),
    )?;
    let new_id = object.id.parse().unwrap_or_default();
    inner.lists.merged(&ty, &old, new_id);
    Ok(Json(object_json(&ty, &object, None)).into_response())
}

async fn merge_objects(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    merge(&s, &ty, &body)
}

async fn search(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let request: SearchRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid search request: {e}")))?;
    let ty = object_type(&s, &ty);
    let page = s.lock().store.search(&ty, &request, Instant::now())?;
    let select = read_selection(&ty, request.properties.clone());
    let results: Vec<Value> = page
        .results
        .iter()
        .map(|o| object_json(&ty, o, Some(&select)))
        .collect();
    let mut body = json!({ "total": page.total, "results": results });
    if let Some(after) = page.next_after {
        body["paging"] = json!({ "next": { "after": after } });
    }
    Ok(Json(body).into_response())
}

// ---------------------------------------------------------------------------------------------
// Properties

async fn list_properties(State(s): AppState, Path(ty): Path<String>) -> Response {
    let ty = object_type(&s, &ty);
    let results = s.lock().store.properties(&ty);
    Json(json!({ "results": results })).into_response()
}

async fn read_property(State(s): AppState, Path((ty, name)): Path<(String, String)>) -> ApiResult {
    let ty = object_type(&s, &ty);
    let def = s
        .lock()
        .store
        .property(&ty, &name)
        .ok_or_else(|| ApiError::not_found(format!("Property {name} does not exist")))?;
    Ok(Json(def).into_response())
}

fn definition_from(value: Value) -> Result<PropertyDefinition, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::validation(format!("Invalid property definition: {e}")))
}

async fn create_property(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let def = definition_from(parse_json(&body)?)?;
    let ty = object_type(&s, &ty);
    let mut inner = s.lock();
    let limit = inner.config.custom_property_limit;
    let def = inner.store.create_property_checked(&ty, def, limit)?;
    Ok((StatusCode::CREATED, Json(def)).into_response())
}

fn group_json(name: &str) -> Value {
    json!({ "name": name, "label": name, "displayOrder": -1, "archived": false })
}

async fn list_property_groups(State(s): AppState, Path(ty): Path<String>) -> Response {
    let ty = object_type(&s, &ty);
    let groups: Vec<Value> = s
        .lock()
        .store
        .property_groups(&ty)
        .iter()
        .map(|g| group_json(g))
        .collect();
    Json(json!({ "results": groups })).into_response()
}

async fn create_property_group(
    State(s): AppState,
    Path(ty): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    let name = text(&body, "name").unwrap_or_default();
    if name.is_empty() || text(&body, "label").is_none_or(|l| l.trim().is_empty()) {
        return Err(ApiError::validation("Missing required fields: name, label"));
    }
    let ty = object_type(&s, &ty);
    s.lock().store.create_property_group(&ty, &name)?;
    let mut group = group_json(&name);
    group["label"] = body["label"].clone();
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

/// `GET /crm/v3/limits/custom-properties`: per object type, the limit and how many custom
/// properties it has; overall, their sums.
async fn custom_property_limits(State(s): AppState) -> Response {
    let inner = s.lock();
    let limit = inner.config.custom_property_limit;
    let by_type: Vec<Value> = inner
        .store
        .object_types()
        .iter()
        .map(|ty| {
            let usage = inner.store.custom_property_count(ty);
            json!({
                "objectTypeId": crate::store::object_type_id(ty),
                "singularLabel": ty.trim_end_matches('s'),
                "pluralLabel": ty,
                "limit": limit,
                "usage": usage,
                "percentage": usage as f64 * 100.0 / limit.max(1) as f64,
            })
        })
        .collect();
    let overall_limit = limit * by_type.len();
    let overall_usage: u64 = by_type.iter().filter_map(|t| t["usage"].as_u64()).sum();
    Json(json!({
        "byObjectType": by_type,
        "overallLimit": overall_limit,
        "overallUsage": overall_usage,
        "overallPercentage": overall_usage as f64 * 100.0 / overall_limit.max(1) as f64,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Lists

/// Body of `POST /crm/v3/lists/search`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ListSearch {
    query: Option<String>,
    processing_types: Option<Vec<String>>,
    list_ids: Option<Vec<Value>>,
    object_type_id: Option<String>,
    count: Option<usize>,
    offset: Option<usize>,
    additional_properties: Vec<String>,
}

/// Most lists one page of `POST /crm/v3/lists/search` carries.
const MAX_LIST_SEARCH_COUNT: usize = 500;
/// Most memberships one page of `GET /crm/v3/lists/{id}/memberships` carries.
const MAX_MEMBERSHIPS_LIMIT: usize = 250;

/// How many members of a list are live records.
fn live_size(inner: &Inner, list: &ObjectList) -> usize {
    list.members
        .keys()
        .filter(|rid| inner.store.is_live(&list.object_type, **rid))
        .count()
}

async fn search_lists(State(s): AppState, body: Bytes) -> ApiResult {
    let request: ListSearch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid list search: {e}")))?;
    let count = request.count.unwrap_or(20);
    if count > MAX_LIST_SEARCH_COUNT {
        return Err(ApiError::validation(format!(
            "count must be at most {MAX_LIST_SEARCH_COUNT}"
        )));
    }
    let offset = request.offset.unwrap_or(0);
    let query = request.query.as_deref().map(str::to_lowercase);
    let ids: Option<Vec<String>> = request
        .list_ids
        .map(|ids| ids.iter().filter_map(scalar_text).collect());
    let inner = s.lock();
    let object_type = request
        .object_type_id
        .as_deref()
        .map(|t| inner.store.type_of(t));
    let matching: Vec<&ObjectList> = inner
        .lists
        .live()
        .filter(|l| {
            query
                .as_ref()
                .is_none_or(|q| l.name.to_lowercase().contains(q))
        })
        .filter(|l| {
            request
                .processing_types
                .as_ref()
                .is_none_or(|t| t.contains(&l.processing_type))
        })
        .filter(|l| {
            ids.as_ref()
                .is_none_or(|ids| ids.contains(&l.id.to_string()))
        })
        .filter(|l| object_type.as_ref().is_none_or(|t| &l.object_type == t))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(count)
        .map(|l| l.json(live_size(&inner, l), false, &request.additional_properties))
        .collect();
    let next = offset + page.len();
    Ok(Json(json!({
        "lists": page,
        "hasMore": next < matching.len(),
        "offset": next,
        "total": matching.len(),
    }))
    .into_response())
}

async fn read_list(State(s): AppState, Path(id): Path<String>) -> ApiResult {
    let inner = s.lock();
    let list = inner.lists.get(&id)?;
    Ok(Json(json!({ "list": list.json(live_size(&inner, list), true, &[]) })).into_response())
}

async fn delete_list(State(s): AppState, Path(id): Path<String>) -> ApiResult {
    s.lock().lists.delete(&id, dates::now_ms())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_memberships(
    State(s): AppState,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = query_limit(&query, "limit", 100, MAX_MEMBERSHIPS_LIMIT)?;
    let after: u64 = match query.get("after").filter(|a| !a.is_empty()) {
        None => 0,
        Some(a) => a
            .parse()
            .map_err(|_| ApiError::validation(format!("after must be a paging cursor, got {a}")))?,
    };
    let inner = s.lock();
    let list = inner.lists.get(&id)?;
    let mut live = list
        .members
        .range(after..)
        .filter(|(rid, _)| inner.store.is_live(&list.object_type, **rid));
    let results: Vec<Value> = live
        .by_ref()
        .take(limit)
        .map(|(rid, at)| {
            json!({ "recordId": rid.to_string(), "membershipTimestamp": dates::iso_from_ms(*at) })
        })
        .collect();
    let mut body = json!({ "results": results, "total": live_size(&inner, list) });
    if let Some((next, _)) = live.next() {
        body["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    Ok(Json(body).into_response())
}

/// A membership edit body: a JSON array of record ids.
fn record_ids(body: &Bytes) -> Result<Vec<String>, ApiError> {
    let value = parse_json(body)?;
    value
        .as_array()
        .map(|ids| ids.iter().filter_map(scalar_text).collect())
        .ok_or_else(|| ApiError::validation("The body must be an array of record ids"))
}

fn edit_members(shared: &Shared, id: &str, body: &Bytes, add: bool, api: bool) -> ApiResult {
    let records = record_ids(body)?;
    let mut guard = shared.lock();
    let inner = &mut *guard;
    let at = dates::now_ms();
    let change = if add {
        let store = &inner.store;
        inner
            .lists
            .add(id, &records, |ty, rid| store.exists(ty, rid), at, api)?
    } else {
        inner.lists.remove(id, &records, at, api)?
    };
    Ok(Json(change.json()).into_response())
}

async fn add_members(State(s): AppState, Path(id): Path<String>, body: Bytes) -> ApiResult {
    edit_members(&s, &id, &body, true, true)
}

async fn remove_members(State(s): AppState, Path(id): Path<String>, body: Bytes) -> ApiResult {
    edit_members(&s, &id, &body, false, true)
}

/// `PUT /crm/v3/lists/{id}/memberships/add-and-remove`
/// `{"recordIdsToAdd":[..],"recordIdsToRemove":[..]}`: removals first, then additions, one
/// answer for both.
async fn add_and_remove_members(
    State(s): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    let ids = |key: &str| -> Vec<String> {
        body.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(scalar_text).collect())
            .unwrap_or_default()
    };
    let (add, remove) = (ids("recordIdsToAdd"), ids("recordIdsToRemove"));
    let mut guard = s.lock();
    let inner = &mut *guard;
    let at = dates::now_ms();
    let mut change = inner.lists.remove(&id, &remove, at, true)?;
    let store = &inner.store;
    let added = inner
        .lists
        .add(&id, &add, |ty, rid| store.exists(ty, rid), at, true)?;
    change.added = added.added;
    change.missing.extend(added.missing);
    Ok(Json(change.json()).into_response())
}

/// `POST /crm/v3/lists` `{"name","objectTypeId","processingType"}`: a new list (`DYNAMIC`
/// ones would need filters, which the fake does not evaluate: refused).
async fn create_list(State(s): AppState, body: Bytes) -> ApiResult {
    let body = parse_json(&body)?;
    let name = text(&body, "name").unwrap_or_default();
    let kind = text(&body, "processingType").unwrap_or_default();
    let type_id = text(&body, "objectTypeId").unwrap_or_default();
    if name.trim().is_empty() || kind.is_empty() || type_id.is_empty() {
        return Err(ApiError::validation(
            "Missing required fields: name, objectTypeId, processingType",
        ));
    }
    if kind == "DYNAMIC" {
        return Err(ApiError::validation(
            "The fake does not evaluate list filters: create MANUAL or SNAPSHOT lists",
        ));
    }
    let ty = object_type(&s, &type_id);
    let mut guard = s.lock();
    let inner = &mut *guard;
    let id = inner.lists.create(&name, &kind, &ty, dates::now_ms())?;
    let list = inner.lists.get(&id.to_string())?;
    Ok(Json(json!({ "list": list.json(0, true, &[]) })).into_response())
}

// ---------------------------------------------------------------------------------------------
// Email, forms and v1 contacts

/// An epoch-ms query parameter, if present; a 400 when it is not a number.
fn query_ms(query: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    query
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::validation(format!("{name} must be epoch milliseconds")))
        })
        .transpose()
}

/// Most events one page of `GET /email/public/v1/events` carries.
const MAX_EMAIL_EVENTS_LIMIT: usize = 1000;

async fn email_events(
    State(s): AppState,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = query_limit(&query, "limit", 100, MAX_EMAIL_EVENTS_LIMIT)?;
    let campaign_id = query
        .get("campaignId")
        .map(|c| {
            c.parse::<u64>()
                .map_err(|_| ApiError::validation("campaignId must be a number"))
        })
        .transpose()?;
    let filter = EventFilter {
        start: query_ms(&query, "startTimestamp")?,
        end: query_ms(&query, "endTimestamp")?,
        kind: query.get("eventType").cloned(),
        recipient: query.get("recipient").cloned(),
        campaign_id,
    };
    let offset = query.get("offset").filter(|o| !o.is_empty());
    let inner = s.lock();
    let portal = inner.config.portal_id;
    let page = inner
        .marketing
        .events(&filter, offset.map(String::as_str), limit)?;
    let events: Vec<Value> = page
        .items
        .iter()
        .map(|e| inner.marketing.event_json(e, portal))
        .collect();
    Ok(
        Json(json!({ "hasMore": page.has_more, "offset": page.offset, "events": events }))
            .into_response(),
    )
}

/// Most campaigns one page of `GET /email/public/v1/campaigns/by-id` carries.
const MAX_CAMPAIGNS_LIMIT: usize = 1000;

async fn email_campaign_ids(
    State(s): AppState,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = query_limit(&query, "limit", 250, MAX_CAMPAIGNS_LIMIT)?;
    let offset = query
        .get("offset")
        .filter(|o| !o.is_empty())
        .map(|o| {
            o.parse::<u64>()
                .map_err(|_| ApiError::validation(format!("Invalid offset {o}")))
        })
        .transpose()?;
    let inner = s.lock();
    let (page, has_more) = inner.marketing.campaign_page(offset, limit);
    let campaigns: Vec<Value> = page
        .iter()
        .map(|c| json!({ "id": c.id, "appId": c.app_id, "appName": c.app_name, "lastUpdatedTime": c.last_updated_at }))
        .collect();
    let next = page.last().map(|c| c.id.to_string());
    Ok(
        Json(json!({ "campaigns": campaigns, "hasMore": has_more, "offset": next }))
            .into_response(),
    )
}

async fn email_campaign(State(s): AppState, Path(id): Path<String>) -> ApiResult {
    let inner = s.lock();
    id.parse::<u64>()
        .ok()
        .and_then(|id| inner.marketing.campaign_json(id))
        .map(|c| Json(c).into_response())
        .ok_or_else(|| ApiError::not_found(format!("No email campaign {id}")))
}

async fn subscription_timeline(
    State(s): AppState,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = query_limit(&query, "limit", 100, MAX_EMAIL_EVENTS_LIMIT)?;
    let start = query_ms(&query, "startTimestamp")?;
    let end = query_ms(&query, "endTimestamp")?;
    let offset = query.get("offset").filter(|o| !o.is_empty());
    let snapshots = query
        .get("includeSnapshots")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let inner = s.lock();
    let portal = inner.config.portal_id;
    let page = inner
        .marketing
        .timeline(start, end, offset.map(String::as_str), limit)?;
    let timeline: Vec<Value> = page
        .items
        .iter()
        .map(|item| {
            let snapshot = snapshots.then(|| {
                inner
                    .marketing
                    .snapshot(&item.recipient, item.timestamp, portal)
            });
            marketing::timeline_json(item, portal, snapshot)
        })
        .collect();
    Ok(
        Json(json!({ "hasMore": page.has_more, "offset": page.offset, "timeline": timeline }))
            .into_response(),
    )
}

/// Most forms one page of `GET /marketing/v3/forms` carries.
const MAX_FORMS_LIMIT: usize = 50;

async fn list_forms(State(s): AppState, Query(query): Query<HashMap<String, String>>) -> ApiResult {
    let limit = query_limit(&query, "limit", 20, MAX_FORMS_LIMIT)?;
    let after = query.get("after").map(String::as_str).unwrap_or("");
    let inner = s.lock();
    let (page, next) = inner.marketing.form_page(after, limit);
    let results: Vec<Value> = page.iter().map(|f| marketing::form_json(f)).collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        body["paging"] = json!({ "next": { "after": next, "link": format!("/marketing/v3/forms?after={next}") } });
    }
    Ok(Json(body).into_response())
}

/// Most submissions one page of the v1 submissions endpoint carries.
const MAX_SUBMISSIONS_LIMIT: usize = 50;

async fn form_submissions(
    State(s): AppState,
    Path(form_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = query_limit(&query, "limit", 20, MAX_SUBMISSIONS_LIMIT)?;
    let after = query.get("after").filter(|a| !a.is_empty());
    let inner = s.lock();
    let page = inner
        .marketing
        .submissions(&form_id, after.map(String::as_str), limit)?;
    let results: Vec<Value> = page
        .items
        .iter()
        .map(|x| marketing::submission_json(x))
        .collect();
    let mut body = json!({ "results": results });
    if let (true, Some(next)) = (page.has_more, page.offset) {
        let link = format!("/form-integrations/v1/submissions/forms/{form_id}?after={next}");
        body["paging"] = json!({ "next": { "after": next, "link": link } });
    }
    Ok(Json(body).into_response())
}

/// Decodes `%XX` and `+` in one query-string component.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every `name=value` pair of a query string, repeated names kept (v1 repeats `vid`).
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Most vids one v1 batch read takes.
const MAX_VIDS: usize = 100;

async fn contacts_by_vid(State(s): AppState, RawQuery(raw): RawQuery) -> ApiResult {
    let pairs = query_pairs(raw.as_deref());
    let vids: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "vid")
        .map(|(_, v)| v.as_str())
        .collect();
    if vids.len() > MAX_VIDS {
        return Err(ApiError::validation(format!(
            "At most {MAX_VIDS} vids per request, got {}",
            vids.len()
        )));
    }
    let wanted: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "property")
        .map(|(_, v)| v.as_str())
        .collect();
    let inner = s.lock();
    let mut body = Map::new();
    for vid in vids {
        let contact = vid
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|rid| inner.store.live_record("contacts", rid));
        if let Some(contact) = contact {
            body.insert(
                contact.id.clone(),
                contact_v1_json(&inner, contact, &wanted),
            );
        }
    }
    Ok(Json(Value::Object(body)).into_response())
}

/// One contact's identity profile: its emails (primary, then secondary) and its lead guid.
fn identity_profile(contact: &StoredObject) -> Value {
    let at = contact.created_at;
    let mut identities = Vec::new();
    if let Some(email) = contact.properties.get("email") {
        identities
            .push(json!({ "type": "EMAIL", "value": email, "timestamp": at, "is-primary": true }));
    }
    for email in contact
        .properties
        .get("hs_additional_emails")
        .into_iter()
        .flat_map(|list| list.split(';'))
        .filter(|e| !e.is_empty())
    {
        identities.push(
            json!({ "type": "EMAIL", "value": email, "timestamp": at, "is-secondary": true }),
        );
    }
    let rid: u64 = contact.id.parse().unwrap_or_default();
    identities.push(json!({ "type": "LEAD_GUID", "value": marketing::guid(rid), "timestamp": at }));
    json!({
        "vid": rid,
        "saved-at-timestamp": contact.updated_at,
        "deleted-changed-timestamp": 0,
        "identities": identities,
    })
}

/// A contact in the v1 shape: `properties` as `{"value"}` (dates in epoch ms), the merged vids,
/// and one identity profile for it and for each contact merged into it.
fn contact_v1_json(inner: &Inner, contact: &StoredObject, wanted: &[&str]) -> Value {
    let store = &inner.store;
    let mut properties = Map::new();
    let mut put = |name: &str, value: String| {
        if wanted.is_empty() || wanted.contains(&name) {
            properties.insert(name.to_string(), json!({ "value": value }));
        }
    };
    for (name, value) in &contact.properties {
        let kind = store.property("contacts", name).map(|d| d.kind);
        let value = match kind.as_deref() {
            Some("date" | "datetime") => {
                dates::parse_iso(value).map_or(value.clone(), |ms| ms.to_string())
            }
            _ => value.clone(),
        };
        put(name, value);
    }
    put("createdate", contact.created_at.to_string());
    put("lastmodifieddate", contact.updated_at.to_string());
    let merged: Vec<u64> = contact
        .properties
        .get("hs_calculated_merged_vids")
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split(':').next()?.parse().ok())
        .collect();
    let mut profiles = vec![identity_profile(contact)];
    profiles.extend(
        merged
            .iter()
            .filter_map(|rid| store.record("contacts", *rid))
            .map(identity_profile),
    );
    let rid: u64 = contact.id.parse().unwrap_or_default();
    json!({
        "vid": rid,
        "canonical-vid": rid,
        "merged-vids": merged,
        "portal-id": inner.config.portal_id,
        "is-contact": true,
        "properties": properties,
        "identity-profiles": profiles,
        "form-submissions": [],
        "list-memberships": [],
    })
}

// ---------------------------------------------------------------------------------------------
// Schemas, owners, pipelines

async fn list_schemas(State(s): AppState) -> Response {
    let inner = s.lock();
    let portal = inner.config.portal_id;
    let results: Vec<Value> = inner
        .config
        .custom_objects
        .iter()
        .enumerate()
        .map(|(index, object)| {
            let properties = inner.store.properties(&object.type_name());
            portal::schema_json(portal, index, object, &properties)
        })
        .collect();
    Json(json!({ "results": results })).into_response()
}

/// Most owners one page of `GET /crm/v3/owners` carries.
const MAX_OWNERS_LIMIT: usize = 500;

async fn list_owners(
    State(s): AppState,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = query_limit(&query, "limit", 100, MAX_OWNERS_LIMIT)?;
    let after: u64 = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let archived = query_flag(&query, "archived");
    let email = query.get("email").map(|e| e.to_lowercase());
    let inner = s.lock();
    let all = inner.config.all_owners();
    let mut owners: Vec<_> = all
        .iter()
        .filter(|o| o.archived == archived && o.id >= after)
        .filter(|o| email.as_ref().is_none_or(|e| &o.email.to_lowercase() == e))
        .collect();
    owners.sort_by_key(|o| o.id);
    let next = owners.get(limit).map(|o| o.id);
    let results: Vec<Value> = owners.iter().take(limit).map(|o| o.json()).collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        body["paging"] = json!({ "next": { "after": next.to_string(), "link": format!("/crm/v3/owners?after={next}") } });
    }
    Ok(Json(body).into_response())
}

async fn list_pipelines(State(s): AppState, Path(ty): Path<String>) -> Response {
    let ty = object_type(&s, &ty);
    Json(portal::pipelines_json(&ty)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Associations

fn association_json(from: &str, from_id: &str, to: &str, to_id: &str, type_id: u32) -> Value {
    json!({
        "from": { "id": from_id },
        "to": { "id": to_id },
        "fromObjectTypeId": object_type_id(from),
        "toObjectTypeId": object_type_id(to),
        "associationSpec": {
            "associationCategory": "HUBSPOT_DEFINED",
            "associationTypeId": type_id,
        },
    })
}

/// The id of one side of a v4 input: `{"id": "123"}`.
fn side_id(input: &Value, key: &str) -> String {
    input
        .get(key)
        .and_then(|f| text(f, "id"))
        .unwrap_or_default()
}

fn link_types_json(types: &[LinkType]) -> Vec<Value> {
    types
        .iter()
        .map(|t| json!({ "category": t.category, "typeId": t.type_id, "label": t.label }))
        .collect()
}

async fn associate_batch(
    State(s): AppState,
    Path((from, to)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    let inputs = inputs_of(&body, MAX_BATCH_INPUTS)?;
    let (from, to) = (object_type(&s, &from), object_type(&s, &to));
    let (type_id, inverse_type_id) = default_type(&from, &to);
    let mut inner = s.lock();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        let from_id = side_id(input, "from");
        let to_id = side_id(input, "to");
        let link = Association {
            from_type: from.clone(),
            from_id: from_id.clone(),
            to_type: to.clone(),
            to_id: to_id.clone(),
            type_id,
            inverse_type_id,
            category: "HUBSPOT_DEFINED".into(),
            label: None,
        };
        match inner.store.associate(&link) {
            Ok(_) => results.push(association_json(&from, &from_id, &to, &to_id, type_id)),
            Err(err) => errors.push(BatchError {
                err,
                ids: vec![from_id, to_id],
                trace: None,
            }),
        }
    }
    Ok(batch_response(results, errors))
}

/// Most `inputs` one v4 association batch read accepts.
const MAX_ASSOCIATION_READ_INPUTS: usize = 1000;
/// Most associated records one input of a v4 batch read answers before paging.
const MAX_ASSOCIATIONS_PER_INPUT: usize = 500;

async fn read_associations_batch(
    State(s): AppState,
    Path((from, to)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    let inputs = inputs_of(&body, MAX_ASSOCIATION_READ_INPUTS)?;
    let (from, to) = (object_type(&s, &from), object_type(&s, &to));
    let inner = s.lock();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in inputs {
        let id = text(input, "id").unwrap_or_default();
        let after: u64 = text(input, "after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let linked = id
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|_| inner.store.exists(&from, &id))
            .map(|rid| inner.store.associated(&from, rid, &to))
            .unwrap_or_default();
        if linked.is_empty() {
            missing.push(id);
            continue;
        }
        let mut page = linked.range(after..);
        let to_json: Vec<Value> = page
            .by_ref()
            .take(MAX_ASSOCIATIONS_PER_INPUT)
            .map(|(to_id, types)| {
                json!({ "toObjectId": to_id, "associationTypes": link_types_json(types) })
            })
            .collect();
        let mut result = json!({ "from": { "id": id }, "to": to_json });
        if let Some((next, _)) = page.next() {
            result["paging"] = json!({ "next": { "after": next.to_string() } });
        }
        results.push(result);
    }
    let stamp = now_iso();
    if missing.is_empty() {
        return Ok(Json(json!({
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp,
            "completedAt": stamp,
        }))
        .into_response());
    }
    // Ids with nothing associated (or that do not exist) are one error each beside the results.
    let errors: Vec<Value> = missing
        .iter()
        .map(|id| {
            json!({
                "status": "error",
                "category": category::OBJECT_NOT_FOUND,
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": format!("No {to} is associated with {} {id}.", singular_name(&from)),
                "context": { "fromObjectId": [id] },
            })
        })
        .collect();
    Ok((
        StatusCode::MULTI_STATUS,
        Json(json!({
            "status": "COMPLETE",
            "results": results,
            "numErrors": errors.len(),
            "errors": errors,
            "startedAt": stamp,
            "completedAt": stamp,
        })),
    )
        .into_response())
}

/// `contact` for `contacts`: how HubSpot's association messages name a type.
fn singular_name(ty: &str) -> &str {
    ty.strip_suffix("ies")
        .map(|_| "company")
        .or_else(|| ty.strip_suffix('s'))
        .unwrap_or(ty)
}

async fn archive_associations_batch(
    State(s): AppState,
    Path((from, to)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_json(&body)?;
    let inputs = inputs_of(&body, MAX_ASSOCIATION_READ_INPUTS)?;
    let (from, to) = (object_type(&s, &from), object_type(&s, &to));
    let mut inner = s.lock();
    for input in inputs {
        let from_id = side_id(input, "from");
        let targets = input.get("to").and_then(Value::as_array);
        for target in targets.into_iter().flatten() {
            let to_id = text(target, "id").unwrap_or_default();
            inner
                .store
                .dissociate((&from, &from_id), (&to, &to_id), None);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_associations(
    State(s): AppState,
    Path((from, id, to)): Path<(String, String, String)>,
) -> ApiResult {
    let (from, to) = (object_type(&s, &from), object_type(&s, &to));
    let inner = s.lock();
    let rid = id
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|_| inner.store.exists(&from, &id))
        .ok_or_else(|| ApiError::not_found(format!("No {from} record with ID {id} exists")))?;
    let results: Vec<Value> = inner
        .store
        .associated(&from, rid, &to)
        .iter()
        .map(|(to_id, types)| {
            json!({ "toObjectId": to_id, "associationTypes": link_types_json(types) })
        })
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

// ---------------------------------------------------------------------------------------------
// Events

async fn send_events(State(s): AppState, body: Bytes) -> ApiResult {
    let body = parse_json(&body)?;
    let inputs = inputs_of(&body, MAX_EVENT_BATCH)?;
    let mut guard = s.lock();
    let inner = &mut *guard;
    // All or nothing: one invalid event rejects the batch before anything is recorded.
    let parsed = inputs
        .iter()
        .map(|input| events::parse_event(input, &inner.config.event_definitions, &inner.store))
        .collect::<Result<Vec<_>, _>>()?;
    for event in parsed {
        inner.events.record(event);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_event_definitions(State(s): AppState) -> Response {
    let inner = s.lock();
    let portal = inner.config.portal_id;
    let results: Vec<Value> = inner
        .config
        .event_definitions
        .iter()
        .map(|(name, props)| events::definition_json(portal, name, props))
        .collect();
    Json(json!({ "total": results.len(), "results": results })).into_response()
}

async fn read_event_definition(State(s): AppState, Path(name): Path<String>) -> ApiResult {
    let inner = s.lock();
    let portal = inner.config.portal_id;
    let definitions = &inner.config.event_definitions;
    let qualified = events::qualified_name(portal, &name);
    [name.clone(), qualified]
        .iter()
        .find_map(|n| definitions.get_key_value(n))
        .map(|(fqn, props)| Json(events::definition_json(portal, fqn, props)).into_response())
        .ok_or_else(|| ApiError::not_found(format!("Event definition {name} not found")))
}

async fn create_event_definition(State(s): AppState, body: Bytes) -> ApiResult {
    let body = parse_json(&body)?;
    let mut inner = s.lock();
    let portal = inner.config.portal_id;
    let (fqn, props) = events::definition_from_body(portal, &body)?;
    if inner.config.event_definitions.contains_key(&fqn) {
        return Err(ApiError::conflict(format!(
            "Event definition {fqn} already exists"
        )));
    }
    let answer = events::definition_json(portal, &fqn, &props);
    inner.config.event_definitions.insert(fqn, props);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

// ---------------------------------------------------------------------------------------------
// Account and OAuth

async fn account_info(State(s): AppState) -> Response {
    let portal = s.lock().config.portal_id;
    Json(json!({
        "portalId": portal,
        "accountType": "STANDARD",
        "timeZone": "Etc/UTC",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "+00:00",
        "utcOffsetMilliseconds": 0,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }))
    .into_response()
}

async fn token_info(State(s): AppState, Path(token): Path<String>) -> ApiResult {
    let inner = s.lock();
    let now = Instant::now();
    let known = inner
        .tokens()
        .filter(|t| t.token == token)
        .last()
        .filter(|t| t.expires_at.is_none_or(|at| at > now))
        .ok_or_else(|| ApiError::not_found("Token not found or expired"))?;
    let expires_in = known.expires_at.map(|at| at.duration_since(now).as_secs());
    Ok(Json(json!({
        "token": known.token,
        "hub_id": inner.config.portal_id,
        "app_id": 1,
        "expires_in": expires_in,
        "scopes": inner.config.scopes,
        "token_type": "access",
    }))
    .into_response())
}

async fn oauth_token(
    State(s): AppState,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> ApiResult {
    let Form(form) = form.map_err(|e| ApiError::validation(e.body_text()))?;
    let mut inner = s.lock();
    auth::check_refresh(inner.config.oauth.as_ref(), &form)?;
    let token = inner.issue_token();
    let (refresh_token, lifetime) = inner
        .config
        .oauth
        .as_ref()
        .map(|o| (o.refresh_token.clone(), o.access_token_lifetime.as_secs()))
        .unwrap_or_default();
    Ok(Json(json!({
        "token_type": "bearer",
        "access_token": token.token,
        "refresh_token": refresh_token,
        "expires_in": lifetime,
    }))
    .into_response())
}

async fn unknown_endpoint(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("No such endpoint: {method} {}", uri.path()))
}

// ---------------------------------------------------------------------------------------------
// /_fake control endpoints

async fn control_state(State(s): AppState) -> Response {
    let state = s.lock().snapshot();
    Json(state).into_response()
}

async fn control_faults(State(s): AppState) -> Response {
    let faults = s.lock().faults.clone();
    Json(faults).into_response()
}

async fn control_set_faults(State(s): AppState, body: Bytes) -> ApiResult {
    let faults: Faults = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid faults: {e}")))?;
    s.lock().faults = faults.clone();
    Ok(Json(faults).into_response())
}

async fn control_reset(State(s): AppState) -> StatusCode {
    s.lock().reset();
    StatusCode::NO_CONTENT
}

async fn control_settle_search(State(s): AppState) -> StatusCode {
    s.lock().store.settle_search();
    StatusCode::NO_CONTENT
}

/// Body of `POST /_fake/objects/{type}/create`.
#[derive(Deserialize)]
struct CreateRequest {
    #[serde(default)]
    properties: Map<String, Value>,
}

/// Creates a record now, validated like an API write and lagging in search like one, without
/// counting a request: the write that lands just before a sync.
async fn control_create(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let request: CreateRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid create request: {e}")))?;
    let ty = object_type(&s, &ty);
    let object = s
        .lock()
        .store
        .create(&ty, &request.properties, Instant::now())?;
    Ok((StatusCode::CREATED, Json(object_json(&ty, &object, None))).into_response())
}

/// Body of `POST /_fake/objects/{type}/modify`.
#[derive(Deserialize)]
struct ModifyRequest {
    /// Records to modify; default: the first `count` live records by id (all without `count`).
    ids: Option<Vec<String>>,
    count: Option<usize>,
    /// Property values to write (validated like an API write).
    #[serde(default)]
    properties: Map<String, Value>,
    /// The modified time to set, epoch ms; default: now. Every record gets the same one.
    at_ms: Option<i64>,
    /// Whether search sees the write at once (a bulk update long past) instead of after the
    /// search lag (a write that just happened).
    #[serde(default)]
    indexed: bool,
}

async fn control_modify(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let request: ModifyRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid modify request: {e}")))?;
    let ty = object_type(&s, &ty);
    let at_ms = request.at_ms.unwrap_or_else(dates::now_ms);
    let mut inner = s.lock();
    let store = &mut inner.store;
    let rids = store.select(&ty, request.ids.as_deref(), request.count)?;
    store.modify(
        &ty,
        &rids,
        &request.properties,
        at_ms,
        Instant::now(),
        request.indexed,
    )?;
    let ids: Vec<String> = rids.iter().map(u64::to_string).collect();
    Ok(Json(json!({ "modified": ids.len(), "atMs": at_ms, "ids": ids })).into_response())
}

/// Body of `POST /_fake/objects/{type}/archive` and `/restore`.
#[derive(Deserialize)]
struct IdsRequest {
    ids: Vec<String>,
    /// Restore only: whether restoring is a write that moves the modified time (default true).
    touch: Option<bool>,
}

fn ids_request(body: &Bytes) -> Result<IdsRequest, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::validation(format!("Invalid ids: {e}")))
}

async fn control_create_property(
    State(s): AppState,
    Path(ty): Path<String>,
    body: Bytes,
) -> ApiResult {
    create_property(State(s), Path(ty), body).await
}

fn control_body<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::validation(format!("Invalid {what}: {e}")))
}

/// Resets the fake to a freshly generated portal (kept for later resets) and answers what it
/// holds and how long it took.
async fn control_generate(State(s): AppState, body: Bytes) -> ApiResult {
    let spec: GeneratedPortal = control_body(&body, "generated portal")?;
    let started = Instant::now();
    let mut inner = s.lock();
    inner.config.generated = Some(spec);
    inner.reset();
    let elapsed = started.elapsed().as_millis();
    Ok(Json(json!({ "generated": inner.generated, "elapsedMs": elapsed })).into_response())
}

/// Body of `POST /_fake/email/campaigns`.
#[derive(Deserialize)]
struct CampaignRequest {
    id: Option<u64>,
    name: String,
    #[serde(default)]
    subject: String,
    app_id: Option<u64>,
    app_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// `lastUpdatedTime` (default: now): an old one is a campaign sent long ago.
    last_updated_at: Option<i64>,
}

async fn control_add_campaign(State(s): AppState, body: Bytes) -> ApiResult {
    let request: CampaignRequest = control_body(&body, "campaign")?;
    let mut inner = s.lock();
    let id = request
        .id
        .unwrap_or_else(|| inner.marketing.next_campaign_id());
    inner.marketing.add_campaign(marketing::EmailCampaign {
        id,
        app_id: request.app_id.unwrap_or(113),
        app_name: request.app_name.unwrap_or_else(|| "Batch".into()),
        name: request.name,
        subject: request.subject,
        kind: request.kind.unwrap_or_else(|| "BATCH_EMAIL".into()),
        content_id: id + 1_000_000,
        last_updated_at: request.last_updated_at.unwrap_or_else(dates::now_ms),
    });
    Ok(Json(json!({ "id": id })).into_response())
}

/// One event of `POST /_fake/email/events`.
#[derive(Deserialize)]
struct EventRequest {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    recipient: String,
    campaign_id: u64,
    /// Default: now. An old time is a late event, one a look-back window must catch.
    created_at: Option<i64>,
    /// The id of the `SENT` event this one follows.
    sent_by: Option<String>,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
struct EventsRequest {
    events: Vec<EventRequest>,
}

async fn control_add_email_events(State(s): AppState, body: Bytes) -> ApiResult {
    let request: EventsRequest = control_body(&body, "email events")?;
    let mut inner = s.lock();
    let marketing = &mut inner.marketing;
    let mut ids = Vec::new();
    for event in request.events {
        let id = event.id.unwrap_or_else(|| marketing.new_guid());
        let sent_by = event
            .sent_by
            .map(|sent| (sent.clone(), marketing.event_time(&sent).unwrap_or(0)));
        marketing.add_event(marketing::EmailEvent {
            id: id.clone(),
            kind: event.kind,
            recipient: event.recipient.to_lowercase(),
            created_at: event.created_at.unwrap_or_else(dates::now_ms),
            campaign_id: event.campaign_id,
            sent_by,
            fields: event.fields,
        })?;
        ids.push(id);
    }
    Ok(Json(json!({ "ids": ids })).into_response())
}

/// One change of `POST /_fake/email/subscriptions`.
#[derive(Deserialize)]
struct ChangeRequest {
    recipient: String,
    /// Default: now.
    timestamp: Option<i64>,
    change: String,
    change_type: String,
    source: Option<String>,
    subscription_id: Option<u64>,
    caused_by_event_id: Option<String>,
}

#[derive(Deserialize)]
struct ChangesRequest {
    changes: Vec<ChangeRequest>,
}

async fn control_add_subscription_changes(State(s): AppState, body: Bytes) -> ApiResult {
    let request: ChangesRequest = control_body(&body, "subscription changes")?;
    let mut inner = s.lock();
    let marketing = &mut inner.marketing;
    let count = request.changes.len();
    for change in request.changes {
        let timestamp = change.timestamp.unwrap_or_else(dates::now_ms);
        let caused_by = change
            .caused_by_event_id
            .map(|id| (id.clone(), marketing.event_time(&id).unwrap_or(timestamp)));
        marketing.add_timeline(marketing::TimelineItem {
            recipient: change.recipient.to_lowercase(),
            timestamp,
            changes: vec![marketing::SubscriptionChange {
                change: change.change,
                change_type: change.change_type,
                source: change.source.unwrap_or_else(|| "SOURCE_RECIPIENT".into()),
                subscription_id: change.subscription_id,
                caused_by,
            }],
        });
    }
    Ok(Json(json!({ "added": count })).into_response())
}

/// Body of `POST /_fake/forms`.
#[derive(Deserialize)]
struct FormRequest {
    name: String,
    #[serde(default)]
    fields: Vec<String>,
}

async fn control_add_form(State(s): AppState, body: Bytes) -> ApiResult {
    let request: FormRequest = control_body(&body, "form")?;
    let mut inner = s.lock();
    let id = inner.marketing.new_guid();
    inner.marketing.add_form(marketing::Form {
        id: id.clone(),
        name: request.name,
        fields: request.fields,
        created_at: dates::now_ms(),
    });
    Ok(Json(json!({ "id": id })).into_response())
}

/// Body of `POST /_fake/schemas`: a custom object type created in the portal's settings.
#[derive(Deserialize)]
struct SchemaRequest {
    name: String,
    #[serde(default)]
    properties: Vec<PropertyDefinition>,
    /// Default: the first property.
    primary_display_property: Option<String>,
    #[serde(default)]
    required_properties: Vec<String>,
}

/// Adds a custom object type, listed by `GET /crm/v3/schemas` from now on; answers its schema.
async fn control_add_schema(State(s): AppState, body: Bytes) -> ApiResult {
    let request: SchemaRequest = control_body(&body, "schema")?;
    let mut object = portal::CustomObject::new(&request.name, request.properties);
    if let Some(display) = request.primary_display_property {
        object.primary_display_property = display;
    }
    object.required_properties = request.required_properties;
    let mut inner = s.lock();
    if inner
        .config
        .custom_objects
        .iter()
        .any(|o| o.name == object.name)
    {
        return Err(ApiError::conflict(format!(
            "Object type {} already exists",
            object.name
        )));
    }
    let portal_id = inner.config.portal_id;
    let index = inner.config.custom_objects.len();
    inner.store.add_custom_object(portal_id, index, &object);
    inner.config.custom_objects.push(object.clone());
    let properties = inner.store.properties(&object.type_name());
    Ok(Json(portal::schema_json(portal_id, index, &object, &properties)).into_response())
}

/// Body of `POST /_fake/forms/{id}/submissions`.
#[derive(Deserialize)]
struct SubmissionRequest {
    #[serde(default)]
    values: Map<String, Value>,
    page_url: Option<String>,
    /// Default: now.
    submitted_at: Option<i64>,
}

async fn control_add_submission(
    State(s): AppState,
    Path(form_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let request: SubmissionRequest = control_body(&body, "submission")?;
    let mut inner = s.lock();
    let conversion_id = inner.marketing.new_guid();
    let values = request
        .values
        .iter()
        .map(|(k, v)| (k.clone(), scalar_text(v).unwrap_or_default()))
        .collect();
    inner.marketing.add_submission(
        &form_id,
        marketing::FormSubmission {
            conversion_id: conversion_id.clone(),
            submitted_at: request.submitted_at.unwrap_or_else(dates::now_ms),
            page_url: request
                .page_url
                .unwrap_or_else(|| "https://example.com/".into()),
            values,
        },
    )?;
    Ok(Json(json!({ "conversionId": conversion_id })).into_response())
}

/// Body of `POST /_fake/lists`.
#[derive(Deserialize)]
struct ListRequest {
    name: String,
    /// `MANUAL` (default), `SNAPSHOT` or `DYNAMIC`.
    processing_type: Option<String>,
    /// The members' object type (default contacts).
    object_type: Option<String>,
    /// Initial members.
    #[serde(default)]
    members: Vec<String>,
}

async fn control_create_list(State(s): AppState, body: Bytes) -> ApiResult {
    let request: ListRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid list: {e}")))?;
    let ty = object_type(&s, request.object_type.as_deref().unwrap_or("contacts"));
    let at = dates::now_ms();
    let mut guard = s.lock();
    let inner = &mut *guard;
    let kind = request.processing_type.as_deref().unwrap_or("MANUAL");
    let id = inner
        .lists
        .create(&request.name, kind, &ty, at)?
        .to_string();
    let store = &inner.store;
    let change = inner.lists.add(
        &id,
        &request.members,
        |ty, rid| store.exists(ty, rid),
        at,
        false,
    )?;
    Ok(Json(json!({ "listId": id, "added": change.added.len() })).into_response())
}

/// Control edits may change any list, DYNAMIC ones included (HubSpot's own re-evaluation).
async fn control_add_members(State(s): AppState, Path(id): Path<String>, body: Bytes) -> ApiResult {
    edit_members(&s, &id, &ids_array(&body)?, true, false)
}

async fn control_remove_members(
    State(s): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    edit_members(&s, &id, &ids_array(&body)?, false, false)
}

/// A control body `{"ids": [..]}` as the array body the list endpoints take.
fn ids_array(body: &Bytes) -> Result<Bytes, ApiError> {
    let request = ids_request(body)?;
    let array = serde_json::to_vec(&request.ids)
        .map_err(|e| ApiError::validation(format!("Invalid ids: {e}")))?;
    Ok(Bytes::from(array))
}

async fn control_delete_list(State(s): AppState, Path(id): Path<String>) -> ApiResult {
    delete_list(State(s), Path(id)).await
}

async fn control_merge(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    merge(&s, &ty, &body)
}

async fn control_archive(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let request = ids_request(&body)?;
    let ty = object_type(&s, &ty);
    let mut inner = s.lock();
    let store = &mut inner.store;
    let rids = store.select(&ty, Some(&request.ids), None)?;
    store.archive(&ty, &rids, dates::now_ms());
    Ok(Json(json!({ "archived": rids.len() })).into_response())
}

async fn control_restore(State(s): AppState, Path(ty): Path<String>, body: Bytes) -> ApiResult {
    let request = ids_request(&body)?;
    let ty = object_type(&s, &ty);
    let mut inner = s.lock();
    let store = &mut inner.store;
    let rids = store.archived_ids(&ty, &request.ids);
    if rids.len() != request.ids.len() {
        return Err(ApiError::not_found("Some ids are not archived records"));
    }
    let touch = request.touch.unwrap_or(true);
    let restored = store.restore(&ty, &rids, touch, Instant::now());
    Ok(Json(json!({ "restored": restored.len() })).into_response())
}

/// Body of `POST /_fake/associations` and `/_fake/associations/remove`.
#[derive(Deserialize)]
struct LinkRequest {
    from_type: String,
    from_id: String,
    to_type: String,
    to_id: String,
    /// Type id read from the `from` side; default: HubSpot's unlabeled default for the pair
    /// (remove: every type).
    type_id: Option<u32>,
    /// Type id read from the `to` side; default: the pair's default inverse.
    inverse_type_id: Option<u32>,
    /// `HUBSPOT_DEFINED` (default) or `USER_DEFINED`.
    category: Option<String>,
    label: Option<String>,
}

async fn control_associate(State(s): AppState, body: Bytes) -> ApiResult {
    let request: LinkRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid association: {e}")))?;
    let (from, to) = (
        object_type(&s, &request.from_type),
        object_type(&s, &request.to_type),
    );
    let (default_id, default_inverse) = default_type(&from, &to);
    let link = Association {
        from_type: from,
        from_id: request.from_id,
        to_type: to,
        to_id: request.to_id,
        type_id: request.type_id.unwrap_or(default_id),
        inverse_type_id: request.inverse_type_id.unwrap_or(default_inverse),
        category: request.category.unwrap_or_else(|| "HUBSPOT_DEFINED".into()),
        label: request.label,
    };
    let new = s.lock().store.associate(&link)?;
    Ok(Json(json!({ "new": new })).into_response())
}

async fn control_dissociate(State(s): AppState, body: Bytes) -> ApiResult {
    let request: LinkRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid association: {e}")))?;
    let (from, to) = (
        object_type(&s, &request.from_type),
        object_type(&s, &request.to_type),
    );
    let removed = s.lock().store.dissociate(
        (&from, &request.from_id),
        (&to, &request.to_id),
        request.type_id,
    );
    Ok(Json(json!({ "removed": removed })).into_response())
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
    /// Milliseconds until expiry; absent never expires, 0 is already expired.
    expires_in_ms: Option<u64>,
}

async fn control_add_token(State(s): AppState, body: Bytes) -> ApiResult {
    let request: TokenRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("Invalid token request: {e}")))?;
    let mut token = AccessToken::new(request.token);
    if let Some(ms) = request.expires_in_ms {
        token = token.expiring_in(Duration::from_millis(ms));
    }
    let mut inner = s.lock();
    inner.config.tokens.retain(|t| t.token != token.token);
    inner.config.tokens.push(token);
    Ok(StatusCode::NO_CONTENT.into_response())
}
