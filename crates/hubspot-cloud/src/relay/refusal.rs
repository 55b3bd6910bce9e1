//! Refusals. Every error answer has one JSON shape, `{"success": false, "code", "message"}`:
//! analytics-python raises `APIError(status, body["code"], body["message"])` from it and logs
//! "Unknown error" with a traceback when either key is missing; analytics-node reads only the
//! status. Every refused request is also one log line and one count in `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Relay;

/// A refused request: its status, a stable code (also the metric's `reason` label) and a
/// sentence saying what to fix.
pub(super) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Messages in the request, once its body was read that far.
    messages: usize,
}

/// Builds a [`Refusal`].
pub(super) fn refuse(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
        messages: 0,
    }
}

impl Refusal {
    /// The number of messages the refused request carried, for the log line.
    pub(super) fn messages(mut self, messages: usize) -> Refusal {
        self.messages = messages;
        self
    }
}

/// Left on a refusal's response for [`refusals`] to log.
#[derive(Clone, Copy)]
struct Refused {
    code: &'static str,
    messages: usize,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "code": self.code, "message": self.message });
        let mut resp = (self.status, Json(body)).into_response();
        let headers = resp.headers_mut();
        match self.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            // The rest of a late body may still be on its way; it must not be read as the next
            // request.
            StatusCode::REQUEST_TIMEOUT => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        resp.extensions_mut().insert(Refused {
            code: self.code,
            messages: self.messages,
        });
        resp
    }
}

/// Middleware around every route: answers that did not come from a handler's [`Refusal`]
/// (an unknown path, a wrong method, an unsupported `Content-Encoding`) get the same JSON
/// body, and each refused request is logged once (reason, status, client address, message
/// count; never the write key or the body) and counted.
pub(super) async fn refusals(
    State(relay): State<Arc<Relay>>,
    req: Request,
    next: Next,
) -> Response {
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let encoding = req.headers().get(header::CONTENT_ENCODING).cloned();
    let resp = next.run(req).await;
    let status = resp.status();
    // `/health` answers 503 with its own reasons: a state, not a refused request.
    let own_answer = method == Method::GET && path == "/health";
    if own_answer || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (resp, Refused { code, messages }) = match resp.extensions().get::<Refused>().copied() {
        Some(refused) => (resp, refused),
        None => bare(resp, &method, &path, encoding.as_ref()),
    };
    relay.metrics.rejected.with_label_values(&[code]).inc();
    tracing::warn!(
        reason = code,
        status = status.as_u16(),
        %remote,
        messages,
        %method,
        path,
        "request refused"
    );
    resp
}

/// The JSON refusal for an error answer produced outside the handlers, keeping its headers
/// (`Allow` on a 405).
fn bare(
    resp: Response,
    method: &Method,
    path: &str,
    encoding: Option<&HeaderValue>,
) -> (Response, Refused) {
    let status = resp.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            format!(
                "nothing is served at {path}; Segment's endpoints are POST /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/group, /v1/alias and /v1/batch"
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("{path} does not take {method}"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_encoding",
            format!(
                "Content-Encoding {:?} is not supported; send gzip or an uncompressed body",
                encoding
                    .map(|e| String::from_utf8_lossy(e.as_bytes()))
                    .unwrap_or_default()
            ),
        ),
        _ => (
            "refused",
            status
                .canonical_reason()
                .unwrap_or("the request was refused")
                .to_owned(),
        ),
    };
    let mut out = refuse(status, code, message).into_response();
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    (out, Refused { code, messages: 0 })
}
