//! Delivery decisions as pure functions of (error kind, attempts, config, now, jitter): what to
//! do after a failed call. The loop that acts on them lives in `engine`.

use std::time::Duration;

use crate::client::{ErrorKind, RatePolicy};

/// Retry settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConfig {
    /// Attempts before a message is dead-lettered (transient failures only).
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Backoff ceiling.
    pub max: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 8,
            base: Duration::from_millis(500),
            max: Duration::from_secs(300),
        }
    }
}

/// What to do with the messages of a failed call.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Try again after `after`; `count` says whether it uses up an attempt.
    Retry {
        /// Delay.
        after: Duration,
        /// Counts as an attempt.
        count: bool,
    },
    /// Give up on these messages: dead-letter them with the reason.
    Dead(String),
    /// The portal is out of daily quota: hold its messages until `until_ms`.
    PausePortal {
        /// Epoch ms when it may send again.
        until_ms: u64,
    },
    /// The portal's token is invalid and cannot be refreshed: stop its delivery (and alert),
    /// keeping its messages, rather than dead-lettering everything that follows.
    StopPortal(String),
}

/// Exponential backoff with jitter: `base · 2^attempt`, capped, then scaled into
/// `[½, 1]` of itself by `jitter ∈ [0, 1)` so retries of one outage spread out.
pub fn backoff(attempt: u32, cfg: &RetryConfig, jitter: f64) -> Duration {
    let exp = cfg
        .base
        .saturating_mul(2u32.saturating_pow(attempt.min(30)));
    exp.min(cfg.max).mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// The next UTC midnight after `now_ms` (HubSpot's daily limits reset once a day).
pub fn next_midnight_ms(now_ms: u64) -> u64 {
    const DAY: u64 = 86_400_000;
    (now_ms / DAY + 1) * DAY
}

/// Decides after a failure. `attempts` = failed attempts before this one.
pub fn decide(
    kind: &ErrorKind,
    message: &str,
    attempts: u32,
    cfg: &RetryConfig,
    now_ms: u64,
    jitter: f64,
) -> Decision {
    match kind {
        ErrorKind::Transient if attempts + 1 >= cfg.max_attempts => Decision::Dead(format!(
            "gave up after {} attempts: {message}",
            attempts + 1
        )),
        ErrorKind::Transient => Decision::Retry {
            after: backoff(attempts, cfg, jitter),
            count: true,
        },
        ErrorKind::Throttled {
            policy: RatePolicy::Daily,
            ..
        } => Decision::PausePortal {
            until_ms: next_midnight_ms(now_ms),
        },
        ErrorKind::Throttled { wait, .. } => Decision::Retry {
            after: *wait,
            count: false,
        },
        ErrorKind::Auth => {
            Decision::StopPortal(format!("HubSpot rejected the access token: {message}"))
        }
        ErrorKind::Permission => Decision::Dead(format!(
            "HubSpot refused it (missing scope, or a plan without this feature: custom behavioral events need Marketing Hub Enterprise): {message}"
        )),
        ErrorKind::Validation
        | ErrorKind::Conflict { .. }
        | ErrorKind::NotFound
        | ErrorKind::Other => Decision::Dead(format!("HubSpot rejected it: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_table() {
        let cfg = RetryConfig::default();
        let ten = ErrorKind::Throttled {
            policy: RatePolicy::TenSecondly,
            wait: Duration::from_secs(10),
        };
        let daily = ErrorKind::Throttled {
            policy: RatePolicy::Daily,
            wait: Duration::ZERO,
        };
        let now = 1_700_000_000_000;
        let rows: Vec<(ErrorKind, u32, Decision)> = vec![
            (
                ErrorKind::Transient,
                0,
                Decision::Retry {
                    after: Duration::from_millis(250),
                    count: true,
                },
            ),
            (
                ErrorKind::Transient,
                3,
                Decision::Retry {
                    after: Duration::from_millis(2000),
                    count: true,
                },
            ),
            (
                ErrorKind::Transient,
                7,
                Decision::Dead("gave up after 8 attempts: m".into()),
            ),
            (
                ten.clone(),
                7,
                Decision::Retry {
                    after: Duration::from_secs(10),
                    count: false,
                },
            ),
            (
                daily,
                0,
                Decision::PausePortal {
                    until_ms: 1_700_006_400_000,
                },
            ),
            (
                ErrorKind::Auth,
                0,
                Decision::StopPortal("HubSpot rejected the access token: m".into()),
            ),
            (
                ErrorKind::Validation,
                0,
                Decision::Dead("HubSpot rejected it: m".into()),
            ),
            (
                ErrorKind::Conflict { existing_id: None },
                0,
                Decision::Dead("HubSpot rejected it: m".into()),
            ),
        ];
        for (kind, attempts, want) in rows {
            assert_eq!(
                decide(&kind, "m", attempts, &cfg, now, 0.0),
                want,
                "{kind:?} {attempts}"
            );
        }
        assert!(
            matches!(decide(&ErrorKind::Permission, "m", 0, &cfg, now, 0.0), Decision::Dead(r) if r.contains("scope"))
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_half_to_full() {
        let cfg = RetryConfig {
            max_attempts: 10,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(backoff(0, &cfg, 0.999_999).as_millis(), 99);
        assert_eq!(backoff(2, &cfg, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(20, &cfg, 0.0), Duration::from_millis(500));
        for attempt in 0..12 {
            for j in [0.0, 0.3, 0.99] {
                let d = backoff(attempt, &cfg, j);
                assert!(
                    d <= cfg.max && d >= Duration::from_millis(50),
                    "{attempt} {j} {d:?}"
                );
            }
        }
    }
}
