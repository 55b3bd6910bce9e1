//! [`HubSpotApi`] over HTTP with reqwest.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use super::error::{self, ApiError, ErrorKind};
use super::{
    Credentials, HubSpotApi, InputResults, NewProperty, PropertyLimit, Record, TokenSource,
    UpdateInput, UpsertInput,
};
use crate::mapping::{PropertyDefinition, PropertyType};
use crate::ops::BehavioralEvent;

/// A HubSpot API client for one portal.
pub struct HubSpotClient {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenSource,
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
        }
    }

    /// Sends one request; on a 401 with OAuth credentials, refreshes once and resends.
    pub(super) async fn call(
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
            let resp = req.send().await.map_err(|e| error::transport(&e))?;
            let status = resp.status();
            let interval_ms = resp
                .headers()
                .get("x-hubspot-ratelimit-interval-milliseconds")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
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
                return Err(error::classify(status.as_u16(), &text, interval_ms));
            }
            let json = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::Null)
            };
            return Ok((status.as_u16(), json));
        }
    }
}

#[async_trait]
impl HubSpotApi for HubSpotClient {
    async fn upsert(
        &self,
        object_type: &str,
        id_property: &str,
        inputs: &[UpsertInput],
    ) -> Result<InputResults, ApiError> {
        // The trace id is the input's index: HubSpot echoes it on results and errors, which is
        // how a 207's items find their inputs.
        let body: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(k, i)| json!({ "id": i.id, "idProperty": id_property, "properties": i.properties, "objectWriteTraceId": k.to_string() }))
            .collect();
        let (status, answer) = self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object_type}/batch/upsert"),
                Some(&json!({ "inputs": body })),
            )
            .await?;
        let batch = Batch::parse(&answer);
        Ok(inputs
            .iter()
            .enumerate()
            .map(|(k, input)| {
                let trace = k.to_string();
                batch.result_for(
                    status,
                    &input.id,
                    |r| {
                        r["objectWriteTraceId"].as_str() == Some(&trace)
                            || r["properties"][id_property]
                                .as_str()
                                .is_some_and(|v| v.eq_ignore_ascii_case(&input.id))
                    },
                    Some(&trace),
                )
            })
            .collect())
    }

    async fn update(
        &self,
        object_type: &str,
        inputs: &[UpdateInput],
    ) -> Result<InputResults, ApiError> {
        let body: Vec<Value> = inputs
            .iter()
            .map(|i| json!({ "id": i.id, "properties": i.properties }))
            .collect();
        let (status, answer) = self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object_type}/batch/update"),
                Some(&json!({ "inputs": body })),
            )
            .await?;
        let batch = Batch::parse(&answer);
        Ok(inputs
            .iter()
            .map(|input| {
                batch.result_for(
                    status,
                    &input.id,
                    |r| r["id"].as_str() == Some(&input.id),
                    None,
                )
            })
            .collect())
    }

    async fn read(
        &self,
        object_type: &str,
        id_property: &str,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Vec<Record>, ApiError> {
        let inputs: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let body = json!({ "inputs": inputs, "idProperty": id_property, "properties": properties });
        let (_, answer) = self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object_type}/batch/read"),
                Some(&body),
            )
            .await?;
        Ok(answer["results"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| {
                        Some(Record {
                            id: r["id"].as_str()?.to_owned(),
                            properties: r["properties"].as_object().cloned().unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn send_events(&self, events: &[BehavioralEvent]) -> Result<(), ApiError> {
        let inputs: Vec<Value> = events.iter().map(BehavioralEvent::to_json).collect();
        self.call(
            Method::POST,
            "/events/v3/send/batch",
            Some(&json!({ "inputs": inputs })),
        )
        .await
        .map(drop)
    }

    async fn properties(&self, object_type: &str) -> Result<Vec<PropertyDefinition>, ApiError> {
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

    async fn event_definition(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
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

    async fn create_property(
        &self,
        object_type: &str,
        property: &NewProperty,
    ) -> Result<(), ApiError> {
        let mut definition = json!({
            "name": property.name, "label": property.label, "type": "string", "fieldType": "text",
            "groupName": property.group, "hasUniqueValue": property.unique, "hidden": property.hidden
        });
        if property.checkbox {
            definition["type"] = "bool".into();
            definition["fieldType"] = "booleancheckbox".into();
            definition["options"] = json!([
                { "label": "Yes", "value": "true", "displayOrder": 0 },
                { "label": "No", "value": "false", "displayOrder": 1 }
            ]);
        }
        match self
            .call(
                Method::POST,
                &format!("/crm/v3/properties/{object_type}"),
                Some(&definition),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind, ErrorKind::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn associate(
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

    async fn update_by(
        &self,
        object_type: &str,
        id_property: &str,
        inputs: &[UpsertInput],
    ) -> Result<InputResults, ApiError> {
        let body: Vec<Value> = inputs
            .iter()
            .map(|i| json!({ "id": i.id, "idProperty": id_property, "properties": i.properties }))
            .collect();
        let (status, answer) = match self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object_type}/batch/update"),
                Some(&json!({ "inputs": body })),
            )
            .await
        {
            Ok(answer) => answer,
            // Every input missing: HubSpot answers the batch with the first one's 404.
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Ok(inputs.iter().map(|_| Err(e.clone())).collect());
            }
            Err(e) => return Err(e),
        };
        let batch = Batch::parse(&answer);
        Ok(inputs
            .iter()
            .map(|input| {
                batch.result_for(
                    status,
                    &input.id,
                    |r| {
                        r["properties"][id_property]
                            .as_str()
                            .is_some_and(|v| v.eq_ignore_ascii_case(&input.id))
                    },
                    None,
                )
            })
            .collect())
    }

    async fn property_limit(&self, object_type_id: &str) -> Result<PropertyLimit, ApiError> {
        let (_, json) = self
            .call(Method::GET, "/crm/v3/limits/custom-properties", None)
            .await?;
        let entry = json["byObjectType"]
            .as_array()
            .and_then(|types| {
                types
                    .iter()
                    .find(|t| t["objectTypeId"].as_str() == Some(object_type_id))
            })
            .ok_or_else(|| ApiError {
                kind: ErrorKind::Transient,
                status: None,
                message: format!("HubSpot's custom-property limits did not list {object_type_id}"),
                category: None,
            })?;
        Ok(PropertyLimit {
            usage: entry["usage"].as_u64().unwrap_or(0),
            limit: entry["limit"].as_u64().unwrap_or(u64::MAX),
        })
    }

    async fn create_property_group(
        &self,
        object_type: &str,
        name: &str,
        label: &str,
    ) -> Result<(), ApiError> {
        match self
            .call(
                Method::POST,
                &format!("/crm/v3/properties/{object_type}/groups"),
                Some(&json!({ "name": name, "label": label })),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind, ErrorKind::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn find_list(&self, name: &str) -> Result<Option<String>, ApiError> {
        // `query` matches substrings: page through the matches for the exact name.
        let mut offset = 0;
        loop {
            let body =
                json!({ "query": name, "objectTypeId": "0-1", "count": 100, "offset": offset });
            let (_, json) = self
                .call(Method::POST, "/crm/v3/lists/search", Some(&body))
                .await?;
            let lists = json["lists"].as_array().cloned().unwrap_or_default();
            if let Some(list) = lists.iter().find(|l| l["name"].as_str() == Some(name)) {
                return Ok(list["listId"].as_str().map(str::to_owned));
            }
            if json["hasMore"].as_bool() != Some(true) || lists.is_empty() {
                return Ok(None);
            }
            offset = json["offset"]
                .as_u64()
                .unwrap_or(offset + lists.len() as u64);
        }
    }

    async fn create_list(&self, name: &str) -> Result<String, ApiError> {
        let body = json!({ "name": name, "objectTypeId": "0-1", "processingType": "MANUAL" });
        let (_, json) = self
            .call(Method::POST, "/crm/v3/lists", Some(&body))
            .await?;
        json["list"]["listId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError {
                kind: ErrorKind::Transient,
                status: None,
                message: format!("HubSpot created list {name} without answering its id"),
                category: None,
            })
    }

    async fn update_list(
        &self,
        list_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ApiError> {
        self.call(
            Method::PUT,
            &format!("/crm/v3/lists/{list_id}/memberships/add-and-remove"),
            Some(&json!({ "recordIdsToAdd": add, "recordIdsToRemove": remove })),
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

/// One failed input of a batch answer (a 207's `errors[]`).
struct ItemError {
    status: Option<u16>,
    category: Option<String>,
    message: String,
    /// `context.objectWriteTraceId`.
    trace_ids: Vec<String>,
    /// `context.ids`.
    ids: Vec<String>,
}

impl ItemError {
    /// The HTTP-like status of the item: HubSpot writes `"status": "error"` on items and puts
    /// the meaning in `category`.
    fn status(&self) -> u16 {
        self.status.unwrap_or(match self.category.as_deref() {
            Some("CONFLICT") => 409,
            Some("OBJECT_NOT_FOUND") => 404,
            Some("RATE_LIMITS") => 429,
            Some("MISSING_SCOPES" | "FORBIDDEN") => 403,
            _ => 400,
        })
    }

    fn to_api_error(&self) -> ApiError {
        let body = json!({ "message": self.message, "category": self.category }).to_string();
        ApiError {
            kind: error::classify(self.status(), &body, None).kind,
            status: self.status,
            message: self.message.clone(),
            category: self.category.clone(),
        }
    }
}

/// A batch write's answer, read defensively (every field optional).
struct Batch {
    results: Vec<Value>,
    errors: Vec<ItemError>,
}

impl Batch {
    fn parse(json: &Value) -> Batch {
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
                    .map(|e| ItemError {
                        status: e["status"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .or_else(|| e["status"].as_u64().and_then(|n| u16::try_from(n).ok())),
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
        Batch {
            results: json["results"].as_array().cloned().unwrap_or_default(),
            errors,
        }
    }

    /// One input's fate: its error item (by trace id or id), else its result's record id. A
    /// 2xx with neither results nor errors is a silent failure, and an input the answer does not
    /// mention is not known to be written: both are retried.
    fn result_for(
        &self,
        status: u16,
        id: &str,
        is_result: impl Fn(&Value) -> bool,
        trace: Option<&str>,
    ) -> Result<String, ApiError> {
        let transient = |message: String| ApiError {
            kind: ErrorKind::Transient,
            status: Some(status),
            message,
            category: None,
        };
        if self.results.is_empty() && self.errors.is_empty() {
            return Err(transient(
                "HubSpot answered the batch with no results and no errors".into(),
            ));
        }
        if let Some(e) = self.errors.iter().find(|e| {
            trace.is_some_and(|t| e.trace_ids.iter().any(|x| x == t))
                || e.ids.iter().any(|x| x.eq_ignore_ascii_case(id))
        }) {
            return Err(e.to_api_error());
        }
        self.results
            .iter()
            .find(|r| is_result(r))
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| transient(format!("HubSpot's answer did not include {id}")))
    }
}
