//! Typed calls to HubSpot's REST API. Knows endpoints and auth; nothing about batching, retries
//! or limits (that is `delivery`).

mod auth;
pub mod error;

pub use auth::{Credentials, TokenSource};
pub use error::{ApiError, ErrorKind, RatePolicy};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::mapping::{PropertyDefinition, PropertyType};

/// HubSpot's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// Rate-limit state from the last response's headers (any may be missing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `X-HubSpot-RateLimit-Max`.
    pub max: Option<u64>,
    /// `X-HubSpot-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`.
    pub interval_ms: Option<u64>,
    /// `X-HubSpot-RateLimit-Daily`.
    pub daily: Option<u64>,
    /// `X-HubSpot-RateLimit-Daily-Remaining`.
    pub daily_remaining: Option<u64>,
}

/// One failed input of a batch (207, or the error list of a batch answer).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchError {
    /// Per-input status (e.g. 400, 409), when given.
    pub status: Option<u16>,
    /// HubSpot's category.
    pub category: Option<String>,
    /// HubSpot's message.
    pub message: String,
    /// `context.objectWriteTraceId`: which inputs failed.
    pub trace_ids: Vec<String>,
    /// `context.ids`: the ids (e.g. emails) that failed.
    pub ids: Vec<String>,
}

/// The answer to a batch write or read.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchResult {
    /// HTTP status (200, 201, 207).
    pub status: u16,
    /// `results[]`.
    pub results: Vec<Value>,
    /// `errors[]`.
    pub errors: Vec<BatchError>,
}

/// One search filter (`propertyName`, `operator` such as `EQ`, `IN`, `HAS_PROPERTY`, `value`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Property.
    pub property_name: String,
    /// Operator.
    pub operator: String,
    /// Value (absent for `HAS_PROPERTY`/`NOT_HAS_PROPERTY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPage {
    /// Matching records.
    pub results: Vec<Value>,
    /// Cursor for the next page, if any.
    pub after: Option<String>,
}

/// A HubSpot API client for one portal.
pub struct HubSpotClient {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenSource,
    rate: std::sync::Mutex<RateLimitInfo>,
    requests: AtomicU64,
}

impl HubSpotClient {
    /// A client for `base_url` (HubSpot's, or a fake's in tests) with a request timeout.
    pub fn new(
        base_url: impl Into<String>,
        credentials: Credentials,
        timeout: Duration,
    ) -> HubSpotClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("hubspot-cloud/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        HubSpotClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            tokens: TokenSource::new(credentials),
            rate: std::sync::Mutex::new(RateLimitInfo::default()),
            requests: AtomicU64::new(0),
        }
    }

    /// Requests sent so far (token refreshes not counted).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Rate-limit headers of the last answer.
    pub fn rate_limit(&self) -> RateLimitInfo {
        self.rate.lock().map(|r| *r).unwrap_or_default()
    }

    /// Sends one request; on a 401 with OAuth credentials, refreshes once and resends.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ApiError> {
        let mut refreshed = false;
        loop {
            let token = self
                .tokens
                .token(&self.http, &self.base_url)
                .await
                .map_err(auth_error)?;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base_url))
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let resp = req.send().await.map_err(|e| error::transport(&e))?;
            let status = resp.status();
            let info = rate_info(resp.headers());
            if let Ok(mut r) = self.rate.lock() {
                *r = info;
            }
            let text = resp.text().await.map_err(|e| error::transport(&e))?;
            if status == StatusCode::UNAUTHORIZED && self.tokens.refreshable() && !refreshed {
                refreshed = true;
                self.tokens
                    .refresh(&self.http, &self.base_url)
                    .await
                    .map_err(auth_error)?;
                continue;
            }
            if !status.is_success() {
                return Err(error::classify(status.as_u16(), &text, info.interval_ms));
            }
            let json = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::Null)
            };
            return Ok((status.as_u16(), json));
        }
    }

    async fn batch(&self, path: &str, body: Value) -> Result<BatchResult, ApiError> {
        let (status, json) = self.call(Method::POST, path, Some(&body)).await?;
        Ok(parse_batch(status, &json))
    }

    /// `POST /crm/v3/objects/{type}/batch/upsert`: inputs `{id, idProperty, properties, objectWriteTraceId}`.
    pub async fn batch_upsert(
        &self,
        object_type: &str,
        inputs: Vec<Value>,
    ) -> Result<BatchResult, ApiError> {
        self.batch(
            &format!("/crm/v3/objects/{object_type}/batch/upsert"),
            json!({ "inputs": inputs }),
        )
        .await
    }

    /// `POST /crm/v3/objects/{type}/batch/update`: inputs `{id, idProperty?, properties}`.
    pub async fn batch_update(
        &self,
        object_type: &str,
        inputs: Vec<Value>,
    ) -> Result<BatchResult, ApiError> {
        self.batch(
            &format!("/crm/v3/objects/{object_type}/batch/update"),
            json!({ "inputs": inputs }),
        )
        .await
    }

    /// `POST /crm/v3/objects/{type}/batch/read` by a unique property.
    pub async fn batch_read(
        &self,
        object_type: &str,
        id_property: &str,
        ids: &[String],
        properties: &[&str],
    ) -> Result<BatchResult, ApiError> {
        let inputs: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let body = json!({ "inputs": inputs, "idProperty": id_property, "properties": properties });
        self.batch(&format!("/crm/v3/objects/{object_type}/batch/read"), body)
            .await
    }

    /// `POST /crm/v3/objects/{type}`: creates one record (409 if a unique value is taken).
    pub async fn create(&self, object_type: &str, properties: &Value) -> Result<Value, ApiError> {
        let body = json!({ "properties": properties });
        self.call(
            Method::POST,
            &format!("/crm/v3/objects/{object_type}"),
            Some(&body),
        )
        .await
        .map(|(_, v)| v)
    }

    /// `PATCH /crm/v3/objects/{type}/{id}?idProperty=…`: updates one record (404 if missing).
    pub async fn update(
        &self,
        object_type: &str,
        id: &str,
        id_property: Option<&str>,
        properties: &Value,
    ) -> Result<Value, ApiError> {
        let id = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC);
        let query = id_property
            .map(|p| format!("?idProperty={p}"))
            .unwrap_or_default();
        let body = json!({ "properties": properties });
        self.call(
            Method::PATCH,
            &format!("/crm/v3/objects/{object_type}/{id}{query}"),
            Some(&body),
        )
        .await
        .map(|(_, v)| v)
    }

    /// `POST /crm/v3/objects/{type}/batch/create`: inputs `{properties}`.
    pub async fn batch_create(
        &self,
        object_type: &str,
        inputs: Vec<Value>,
    ) -> Result<BatchResult, ApiError> {
        self.batch(
            &format!("/crm/v3/objects/{object_type}/batch/create"),
            json!({ "inputs": inputs }),
        )
        .await
    }

    /// `POST /crm/v3/objects/{type}/search`: filter groups are ORed, filters within a group ANDed
    /// (HubSpot allows at most 5 groups and 25 filters).
    pub async fn search(
        &self,
        object_type: &str,
        filter_groups: &[Vec<Filter>],
        properties: &[&str],
        limit: u32,
        after: Option<&str>,
    ) -> Result<SearchPage, ApiError> {
        let groups: Vec<Value> = filter_groups
            .iter()
            .map(|g| json!({ "filters": g }))
            .collect();
        let mut body = json!({ "filterGroups": groups, "properties": properties, "limit": limit });
        if let Some(a) = after {
            body["after"] = json!(a);
        }
        let (_, v) = self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object_type}/search"),
                Some(&body),
            )
            .await?;
        Ok(SearchPage {
            results: v["results"].as_array().cloned().unwrap_or_default(),
            after: v["paging"]["next"]["after"].as_str().map(str::to_owned),
        })
    }

    /// `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}`.
    pub async fn associate_one(
        &self,
        from: &str,
        from_id: &str,
        to: &str,
        to_id: &str,
    ) -> Result<(), ApiError> {
        self.call(
            Method::PUT,
            &format!("/crm/v4/objects/{from}/{from_id}/associations/default/{to}/{to_id}"),
            None,
        )
        .await
        .map(drop)
    }

    /// `POST /events/v3/send`: one custom behavioral event.
    pub async fn send_event(&self, input: &Value) -> Result<(), ApiError> {
        self.call(Method::POST, "/events/v3/send", Some(input))
            .await
            .map(drop)
    }

    /// `POST /crm/v3/properties/{type}/batch/create`.
    pub async fn create_properties(
        &self,
        object_type: &str,
        definitions: Vec<Value>,
    ) -> Result<BatchResult, ApiError> {
        self.batch(
            &format!("/crm/v3/properties/{object_type}/batch/create"),
            json!({ "inputs": definitions }),
        )
        .await
    }

    /// `POST /events/v3/send/batch` (≤ 500 events).
    pub async fn send_events(&self, inputs: Vec<Value>) -> Result<(), ApiError> {
        self.call(
            Method::POST,
            "/events/v3/send/batch",
            Some(&json!({ "inputs": inputs })),
        )
        .await
        .map(drop)
    }

    /// `GET /crm/v3/properties/{type}`: the portal's property definitions.
    pub async fn properties(&self, object_type: &str) -> Result<Vec<PropertyDefinition>, ApiError> {
        let (_, json) = self
            .call(
                Method::GET,
                &format!("/crm/v3/properties/{object_type}"),
                None,
            )
            .await?;
        Ok(json["results"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| {
                        Some(PropertyDefinition {
                            name: r["name"].as_str()?.to_owned(),
                            kind: PropertyType::parse(r["type"].as_str().unwrap_or("string")),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /events/v3/event-definitions/{eventName}`: the event's property names, or `None`
    /// when the portal has no such event.
    pub async fn event_definition(
        &self,
        event_name: &str,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let name =
            percent_encoding::utf8_percent_encode(event_name, percent_encoding::NON_ALPHANUMERIC);
        match self
            .call(
                Method::GET,
                &format!("/events/v3/event-definitions/{name}"),
                None,
            )
            .await
        {
            Ok((_, json)) => Ok(Some(
                json["properties"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| p["name"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /crm/v3/properties/{type}`; a 409 (it exists) counts as success.
    pub async fn create_property(
        &self,
        object_type: &str,
        definition: &Value,
    ) -> Result<(), ApiError> {
        match self
            .call(
                Method::POST,
                &format!("/crm/v3/properties/{object_type}"),
                Some(definition),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind, ErrorKind::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /crm/v4/associations/{from}/{to}/batch/associate/default` with `(from id, to id)` pairs.
    pub async fn associate(
        &self,
        from: &str,
        to: &str,
        pairs: &[(String, String)],
    ) -> Result<(), ApiError> {
        let inputs: Vec<Value> = pairs
            .iter()
            .map(|(f, t)| json!({ "from": { "id": f }, "to": { "id": t } }))
            .collect();
        self.call(
            Method::POST,
            &format!("/crm/v4/associations/{from}/{to}/batch/associate/default"),
            Some(&json!({ "inputs": inputs })),
        )
        .await
        .map(drop)
    }
}

fn auth_error(message: String) -> ApiError {
    ApiError {
        kind: ErrorKind::Auth,
        status: None,
        message,
        category: None,
    }
}

fn rate_info(headers: &reqwest::header::HeaderMap) -> RateLimitInfo {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    };
    RateLimitInfo {
        max: num("x-hubspot-ratelimit-max"),
        remaining: num("x-hubspot-ratelimit-remaining"),
        interval_ms: num("x-hubspot-ratelimit-interval-milliseconds"),
        daily: num("x-hubspot-ratelimit-daily"),
        daily_remaining: num("x-hubspot-ratelimit-daily-remaining"),
    }
}

/// Reads a batch answer defensively (every field optional).
pub fn parse_batch(status: u16, json: &Value) -> BatchResult {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .or_else(|| x.as_u64().map(|n| n.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let errors = json["errors"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| BatchError {
                    status: e["status"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| e["status"].as_u64().map(|n| n as u16)),
                    category: e["category"].as_str().map(str::to_owned),
                    message: e["message"]
                        .as_str()
                        .unwrap_or("HubSpot reported an error without a message")
                        .to_owned(),
                    trace_ids: strings(&e["context"]["objectWriteTraceId"]),
                    ids: strings(&e["context"]["ids"]),
                })
                .collect()
        })
        .unwrap_or_default();
    BatchResult {
        status,
        results: json["results"].as_array().cloned().unwrap_or_default(),
        errors,
    }
}
