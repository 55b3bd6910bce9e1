//! Posting a `/v1/batch` body to the receiver: HTTP Basic with the write key, retried with
//! backoff on 5xx, 429 and connection errors. The decision is [`retry_after`], a pure function;
//! the loop that sleeps is [`Receiver::send`].

use std::time::Duration;

use crate::delivery::policy::{RetryConfig, backoff};

/// Attempts per batch before the export fails (and commits nothing for that batch).
const ATTEMPTS: u32 = 6;

/// Backoff between attempts: from 200 ms, at most 10 s (the export runs in the foreground).
const RETRY: RetryConfig = RetryConfig {
    window: Duration::from_secs(60),
    base: Duration::from_millis(200),
    max: Duration::from_secs(10),
};

/// How long to wait before attempt `attempt + 1` after an answer with `status` (`None`: no
/// answer, a connection error) and its `Retry-After` seconds; `None`: do not retry.
pub fn retry_after(
    status: Option<u16>,
    header: Option<u64>,
    attempt: u32,
    jitter: f64,
) -> Option<Duration> {
    let retryable = match status {
        None => true,
        Some(s) => s == 429 || s >= 500,
    };
    if !retryable || attempt + 1 >= ATTEMPTS {
        return None;
    }
    let wait = backoff(attempt, &RETRY, jitter);
    Some(header.map_or(wait, |s| Duration::from_secs(s).min(RETRY.max).max(wait)))
}

/// Why a batch was not accepted.
#[derive(Debug, thiserror::Error)]
#[error("the receiver at {url} did not accept a batch after {attempts} attempt(s): {last}")]
pub struct SendError {
    url: String,
    attempts: u32,
    last: String,
}

/// A Segment HTTP Tracking API receiver.
pub struct Receiver {
    http: reqwest::Client,
    url: String,
    write_key: String,
}

impl Receiver {
    /// A receiver at `batch_url`, authenticated with `write_key`.
    pub fn new(batch_url: &str, write_key: &str, timeout: Duration) -> Receiver {
        Receiver {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            url: batch_url.to_owned(),
            write_key: write_key.to_owned(),
        }
    }

    /// Posts `body` until a 2xx, or fails with the last answer.
    pub async fn send(&self, body: Vec<u8>) -> Result<(), SendError> {
        let mut attempt = 0;
        loop {
            let answer = self
                .http
                .post(&self.url)
                .basic_auth(&self.write_key, Some(""))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let (status, header, last) = match answer {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let header = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()?.trim().parse().ok());
                    let text = r.text().await.unwrap_or_default();
                    let text: String = text.chars().take(300).collect();
                    (Some(status), header, format!("HTTP {status} {text}"))
                }
                Err(e) => (None, None, with_causes(&e)),
            };
            match retry_after(status, header, attempt, rand::random()) {
                Some(wait) => {
                    tracing::debug!(attempt, ?wait, %last, "profiles batch retried");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => {
                    return Err(SendError {
                        url: self.url.clone(),
                        attempts: attempt + 1,
                        last,
                    });
                }
            }
        }
    }
}

/// An error and its causes on one line (reqwest's own text omits why a connection failed).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_throttling_and_lost_connections_are_retried_client_errors_not() {
        for status in [None, Some(500), Some(503), Some(429)] {
            assert!(retry_after(status, None, 0, 0.0).is_some(), "{status:?}");
        }
        for status in [Some(400), Some(401), Some(413)] {
            assert_eq!(retry_after(status, None, 0, 0.0), None);
        }
        assert_eq!(retry_after(Some(500), None, ATTEMPTS - 1, 0.0), None);
        assert_eq!(
            retry_after(Some(429), Some(3), 0, 0.0),
            Some(Duration::from_secs(3))
        );
        assert!(retry_after(Some(500), None, 3, 0.0) > retry_after(Some(500), None, 0, 0.0));
    }
}
