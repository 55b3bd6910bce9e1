//! HubSpot's rate limits, per access token: a rolling window (100 requests / 10 s by default),
//! a daily quota (resets at UTC midnight) and a separate per-second limit for CRM search.
//! Custom-event endpoints are exempt from all three, as on HubSpot.
//!
//! Rejected requests (429) do not consume quota. The limiter also records the busiest rolling
//! window it has seen, so benchmarks can check a client ran at the limit and not over it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use crate::errors::{ApiError, category, correlation_id};

/// Rate-limit settings of the fake portal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests allowed per rolling `interval` (HubSpot: 100 free/starter, 190 pro/enterprise).
    pub max_per_interval: u32,
    /// Length of the rolling window (HubSpot: 10 s).
    pub interval: Duration,
    /// Requests allowed per UTC day (HubSpot: 250 000 and up).
    pub daily_max: u64,
    /// CRM search requests allowed per second (HubSpot: about 4–5).
    pub search_per_second: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            max_per_interval: 100,
            interval: Duration::from_secs(10),
            daily_max: 250_000,
            search_per_second: 5,
        }
    }
}

/// Which limit a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitClass {
    /// The rolling window and the daily quota.
    General,
    /// The per-second search limit and the daily quota.
    Search,
    /// Nothing: custom behavioral events.
    Exempt,
}

/// The class of an API path.
pub(crate) fn class_of(path: &str) -> LimitClass {
    if path.starts_with("/events/v3/send") {
        LimitClass::Exempt
    } else if path.starts_with("/crm/v3/objects/") && path.ends_with("/search") {
        LimitClass::Search
    } else {
        LimitClass::General
    }
}

/// The `X-HubSpot-RateLimit-*` values of one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateHeaders {
    max: u32,
    remaining: u32,
    interval_ms: u128,
    daily: u64,
    daily_remaining: u64,
}

impl RateHeaders {
    /// Adds the headers to an answer.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        let pairs = [
            ("x-hubspot-ratelimit-max", self.max.to_string()),
            ("x-hubspot-ratelimit-remaining", self.remaining.to_string()),
            (
                "x-hubspot-ratelimit-interval-milliseconds",
                self.interval_ms.to_string(),
            ),
            ("x-hubspot-ratelimit-daily", self.daily.to_string()),
            (
                "x-hubspot-ratelimit-daily-remaining",
                self.daily_remaining.to_string(),
            ),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Bucket {
    rolling: VecDeque<Instant>,
    search: VecDeque<Instant>,
    day: i64,
    daily_used: u64,
}

fn evict(window: &mut VecDeque<Instant>, now: Instant, length: Duration) {
    while window
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= length)
    {
        window.pop_front();
    }
}

/// Per-token counters.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: HashMap<String, Bucket>,
    /// 429 answers given.
    pub(crate) rate_limited: u64,
    /// Most requests seen in one rolling window of one token.
    pub(crate) max_in_window: u64,
}

const SEARCH_WINDOW: Duration = Duration::from_secs(1);

impl Limiter {
    /// Admits a request or rejects it with HubSpot's 429. `day` is the current UTC day number
    /// (the daily quota resets when it changes).
    // The error carries the headers a 429 still sends; it is built once per refused request,
    // so its size does not matter.
    #[allow(clippy::result_large_err)]
    pub(crate) fn admit(
        &mut self,
        token: &str,
        class: LimitClass,
        limits: &RateLimits,
        now: Instant,
        day: i64,
        portal_id: u64,
    ) -> Result<RateHeaders, (RateHeaders, ApiError)> {
        let bucket = self.buckets.entry(token.to_string()).or_default();
        if bucket.day != day {
            bucket.day = day;
            bucket.daily_used = 0;
        }
        evict(&mut bucket.rolling, now, limits.interval);
        evict(&mut bucket.search, now, SEARCH_WINDOW);
        let used = u32::try_from(bucket.rolling.len()).unwrap_or(u32::MAX);
        let headers = |rolling_used: u32, daily_used: u64| RateHeaders {
            max: limits.max_per_interval,
            remaining: limits.max_per_interval.saturating_sub(rolling_used),
            interval_ms: limits.interval.as_millis(),
            daily: limits.daily_max,
            daily_remaining: limits.daily_max.saturating_sub(daily_used),
        };
        let rejected = if bucket.daily_used >= limits.daily_max {
            Some(("daily", "DAILY", "publicapi:private-app-daily"))
        } else if class == LimitClass::Search
            && bucket.search.len() >= usize::try_from(limits.search_per_second).unwrap_or(0)
        {
            Some(("secondly", "SECONDLY", "publicapi:crm-search"))
        } else if class == LimitClass::General && used >= limits.max_per_interval {
            Some((
                "ten_secondly_rolling",
                "TEN_SECONDLY_ROLLING",
                "publicapi:private-app",
            ))
        } else {
            None
        };
        if let Some((name, policy, group)) = rejected {
            self.rate_limited += 1;
            let mut body = Map::new();
            body.insert("status".into(), json!("error"));
            body.insert(
                "message".into(),
                json!(format!("You have reached your {name} limit.")),
            );
            body.insert("errorType".into(), json!("RATE_LIMIT"));
            body.insert("correlationId".into(), json!(correlation_id()));
            body.insert("policyName".into(), json!(policy));
            body.insert(
                "groupName".into(),
                Value::String(format!("{group}:{portal_id}")),
            );
            body.insert("category".into(), json!(category::RATE_LIMITS));
            let err = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                body,
            };
            return Err((headers(used, bucket.daily_used), err));
        }
        bucket.daily_used += 1;
        match class {
            LimitClass::Search => bucket.search.push_back(now),
            _ => bucket.rolling.push_back(now),
        }
        let in_window = u32::try_from(bucket.rolling.len()).unwrap_or(u32::MAX);
        self.max_in_window = self.max_in_window.max(u64::from(in_window));
        Ok(headers(in_window, bucket.daily_used))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn window_rolls() {
        let limits = RateLimits {
            max_per_interval: 2,
            interval: Duration::from_millis(100),
            ..RateLimits::default()
        };
        let mut limiter = Limiter::default();
        let t0 = Instant::now();
        let admit = |l: &mut Limiter, at| l.admit("t", LimitClass::General, &limits, at, 0, 1);
        assert!(admit(&mut limiter, t0).is_ok());
        assert!(admit(&mut limiter, t0).is_ok());
        assert!(admit(&mut limiter, t0).is_err());
        assert!(admit(&mut limiter, t0 + Duration::from_millis(100)).is_ok());
        assert_eq!(limiter.rate_limited, 1);
        assert_eq!(limiter.max_in_window, 2);
        assert_eq!(class_of("/events/v3/send/batch"), LimitClass::Exempt);
        assert_eq!(
            class_of("/crm/v3/objects/contacts/search"),
            LimitClass::Search
        );
    }
}
