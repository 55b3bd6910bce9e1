//! HubSpot's answers classified into kinds the delivery policy decides on. Every field of
//! HubSpot's error bodies is optional, so parsing never fails: a missing field is `None`.

use std::time::Duration;

use serde::Deserialize;

/// Which rate limit a 429 hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatePolicy {
    /// `TEN_SECONDLY_ROLLING` (the per-token burst limit).
    TenSecondly,
    /// `SECONDLY` (search).
    Secondly,
    /// `DAILY`: no point retrying before the day resets.
    Daily,
}

/// What kind of failure an answer is.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    /// 5xx (but 501), 408, 423, timeouts, connection errors, a batch write answered with no
    /// results and no errors: retry with backoff.
    Transient,
    /// 429: wait (`wait`) and retry without counting an attempt.
    Throttled {
        /// Which limit.
        policy: RatePolicy,
        /// How long to wait before trying again.
        wait: Duration,
    },
    /// 400: the input is invalid; HubSpot's message says why.
    Validation,
    /// 409: a record with this unique value exists; `existing_id` when HubSpot names it.
    Conflict {
        /// The existing record's id, read from the message text.
        existing_id: Option<String>,
    },
    /// 401: the token is invalid or expired.
    Auth,
    /// 403: missing scope or a plan without the feature.
    Permission,
    /// 404.
    NotFound,
    /// Anything else (501, unexpected 3xx/4xx): not retried.
    Other,
}

/// A failed HubSpot call.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("HubSpot {}: {message}", status.map_or_else(|| "request failed".to_owned(), |s| s.to_string()))]
pub struct ApiError {
    /// Classification.
    pub kind: ErrorKind,
    /// HTTP status, if there was a response.
    pub status: Option<u16>,
    /// HubSpot's message (or the transport error).
    pub message: String,
    /// HubSpot's `category`, if any (`VALIDATION_ERROR`, `CONFLICT`, …).
    pub category: Option<String>,
}

/// HubSpot's error body; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Human message.
    pub message: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// `RATE_LIMIT` on 429s.
    pub error_type: Option<String>,
    /// Which limit, on 429s.
    pub policy_name: Option<String>,
}

/// Classifies an HTTP answer. `interval_ms` is the rate-limit window from the response headers
/// (how long a ten-secondly wait should be), when HubSpot sent it.
pub fn classify(status: u16, body: &str, interval_ms: Option<u64>) -> ApiError {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = parsed.message.clone().unwrap_or_else(|| {
        if body.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            body.chars().take(500).collect()
        }
    });
    let kind = match status {
        429 => {
            let policy = match parsed.policy_name.as_deref() {
                Some("DAILY") => RatePolicy::Daily,
                Some("SECONDLY") => RatePolicy::Secondly,
                _ => RatePolicy::TenSecondly,
            };
            let wait = match policy {
                RatePolicy::Secondly => Duration::from_secs(1),
                RatePolicy::TenSecondly => Duration::from_millis(interval_ms.unwrap_or(10_000)),
                RatePolicy::Daily => Duration::ZERO,
            };
            ErrorKind::Throttled { policy, wait }
        }
        400 => ErrorKind::Validation,
        401 => ErrorKind::Auth,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict {
            existing_id: existing_id(&message),
        },
        408 | 423 => ErrorKind::Transient,
        501 => ErrorKind::Other,
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    };
    ApiError {
        kind,
        status: Some(status),
        message,
        category: parsed.category,
    }
}

/// A transport failure (timeout, refused, reset): always transient.
pub fn transport(e: &reqwest::Error) -> ApiError {
    ApiError {
        kind: ErrorKind::Transient,
        status: None,
        message: e.to_string(),
        category: None,
    }
}

/// "Contact already exists. Existing ID: 123" → "123".
pub fn existing_id(message: &str) -> Option<String> {
    let at = message.find("Existing ID:")? + "Existing ID:".len();
    let id: String = message[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let ten = r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#;
        let rows: [(u16, &str, ErrorKind); 12] = [
            (
                429,
                ten,
                ErrorKind::Throttled {
                    policy: RatePolicy::TenSecondly,
                    wait: Duration::from_millis(10_000),
                },
            ),
            (
                429,
                r#"{"policyName":"DAILY"}"#,
                ErrorKind::Throttled {
                    policy: RatePolicy::Daily,
                    wait: Duration::ZERO,
                },
            ),
            (
                429,
                r#"{"policyName":"SECONDLY"}"#,
                ErrorKind::Throttled {
                    policy: RatePolicy::Secondly,
                    wait: Duration::from_secs(1),
                },
            ),
            (
                429,
                "",
                ErrorKind::Throttled {
                    policy: RatePolicy::TenSecondly,
                    wait: Duration::from_millis(10_000),
                },
            ),
            (
                400,
                r#"{"message":"Property values were not valid"}"#,
                ErrorKind::Validation,
            ),
            (401, "{}", ErrorKind::Auth),
            (403, "not json", ErrorKind::Permission),
            (
                409,
                r#"{"category":"CONFLICT","message":"Contact already exists. Existing ID: 123"}"#,
                ErrorKind::Conflict {
                    existing_id: Some("123".into()),
                },
            ),
            (
                409,
                r#"{"message":"exists"}"#,
                ErrorKind::Conflict { existing_id: None },
            ),
            (503, "", ErrorKind::Transient),
            (423, "", ErrorKind::Transient),
            (501, "", ErrorKind::Other),
        ];
        for (status, body, kind) in rows {
            assert_eq!(classify(status, body, None).kind, kind, "{status} {body}");
        }
        assert_eq!(
            classify(
                400,
                r#"{"message":"bad","category":"VALIDATION_ERROR"}"#,
                None
            )
            .category
            .as_deref(),
            Some("VALIDATION_ERROR")
        );
        assert_eq!(classify(502, "<html>", None).message, "<html>");
    }
}
