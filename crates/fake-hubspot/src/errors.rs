//! HubSpot's error answer: `{"status":"error","message","category","correlationId",…}`.
//!
//! One type serves whole-request errors and, in batches, per-input errors (their category and
//! message are copied into the 207 `errors[]` items).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// HubSpot's `category` values used by the fake.
pub(crate) mod category {
    pub(crate) const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    pub(crate) const OBJECT_NOT_FOUND: &str = "OBJECT_NOT_FOUND";
    pub(crate) const CONFLICT: &str = "CONFLICT";
    pub(crate) const MISSING_SCOPES: &str = "MISSING_SCOPES";
    pub(crate) const INVALID_AUTHENTICATION: &str = "INVALID_AUTHENTICATION";
    pub(crate) const EXPIRED_AUTHENTICATION: &str = "EXPIRED_AUTHENTICATION";
    pub(crate) const RATE_LIMITS: &str = "RATE_LIMITS";
    pub(crate) const FORBIDDEN: &str = "FORBIDDEN";
    pub(crate) const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// A HubSpot-shaped error: an HTTP status and a JSON object body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Map<String, Value>,
}

impl ApiError {
    /// The usual shape; a fresh correlation id is added, as HubSpot does on every error.
    pub(crate) fn new(status: StatusCode, category: &str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("status".into(), json!("error"));
        body.insert("message".into(), json!(message.into()));
        body.insert("correlationId".into(), json!(correlation_id()));
        body.insert("category".into(), json!(category));
        Self { status, body }
    }

    /// 400 `VALIDATION_ERROR`.
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, category::VALIDATION_ERROR, message)
    }

    /// 404 `OBJECT_NOT_FOUND`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, category::OBJECT_NOT_FOUND, message)
    }

    /// 409 `CONFLICT`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, category::CONFLICT, message)
    }

    /// Adds or replaces a body field.
    pub(crate) fn with(mut self, key: &str, value: Value) -> Self {
        self.body.insert(key.into(), value);
        self
    }

    pub(crate) fn category(&self) -> &str {
        self.body
            .get("category")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub(crate) fn message(&self) -> &str {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(Value::Object(self.body))).into_response()
    }
}

/// A UUID-looking id, unique per process; it only has to look like HubSpot's and differ per call.
pub(crate) fn correlation_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Truncation is fine: this only seeds a mixer.
    let seed = crate::dates::now_ms() as u64;
    let a = splitmix(seed ^ n.rotate_left(32));
    let b = splitmix(a ^ n);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 52) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
