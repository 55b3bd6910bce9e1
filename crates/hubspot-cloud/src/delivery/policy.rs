//! Delivery decisions as pure functions of (error kind, attempts, age, config, now, jitter): what
//! to do after a failed call. The loop that acts on them lives in `engine`.

use std::time::Duration;

use crate::client::{ErrorKind, RatePolicy};

/// Retry settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConfig {
    /// How long after it was queued a message keeps being retried after transient failures
    /// (HubSpot incidents last minutes to hours). Default 24 hours.
    pub window: Duration,
    /// First backoff.
    pub base: Duration,
    /// Backoff ceiling.
    pub max: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            window: Duration::from_secs(24 * 3600),
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

/// A failed message: what failed and how old it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failure<'a> {
    /// The failure's kind.
    pub kind: &'a ErrorKind,
    /// HubSpot's message (or the transport error).
    pub message: &'a str,
    /// Failed attempts before this one.
    pub attempts: u32,
    /// When the message was queued (epoch ms).
    pub enqueued_at_ms: u64,
}

/// Decides after a failure. A transient failure is retried with backoff until the message is
/// `cfg.window` old, then dead-lettered; permanent ones are dead-lettered at once.
pub fn decide(failure: Failure<'_>, cfg: &RetryConfig, now_ms: u64, jitter: f64) -> Decision {
    let Failure {
        kind,
        message,
        attempts,
        enqueued_at_ms,
    } = failure;
    let age = Duration::from_millis(now_ms.saturating_sub(enqueued_at_ms));
    match kind {
        ErrorKind::Transient if age >= cfg.window => Decision::Dead(format!(
            "gave up after retrying for {} ({} attempts): {message}",
            human(cfg.window),
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

/// "24 h", "90 min", "30 s": how long a retry window was, for dead-letter reasons.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s % 3600 == 0 {
        format!("{} h", s / 3600)
    } else if s >= 60 && s % 60 == 0 {
        format!("{} min", s / 60)
    } else {
        format!("{} s", d.as_secs_f64())
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
        let hours_ago = |h: u64| now - h * 3_600_000;
        // (kind, attempts, queued at, decision)
        let rows: Vec<(ErrorKind, u32, u64, Decision)> = vec![
            (
                ErrorKind::Transient,
                0,
                now,
                Decision::Retry {
                    after: Duration::from_millis(250),
                    count: true,
                },
            ),
            (
                ErrorKind::Transient,
                3,
                now,
                Decision::Retry {
                    after: Duration::from_millis(2000),
                    count: true,
                },
            ),
            // Many attempts are no reason to give up: time is.
            (
                ErrorKind::Transient,
                500,
                hours_ago(23),
                Decision::Retry {
                    after: Duration::from_secs(150),
                    count: true,
                },
            ),
            (
                ErrorKind::Transient,
                7,
                hours_ago(24),
                Decision::Dead("gave up after retrying for 24 h (8 attempts): m".into()),
            ),
            (
                ten.clone(),
                7,
                hours_ago(30),
                Decision::Retry {
                    after: Duration::from_secs(10),
                    count: false,
                },
            ),
            (
                daily,
                0,
                now,
                Decision::PausePortal {
                    until_ms: 1_700_006_400_000,
                },
            ),
            (
                ErrorKind::Auth,
                0,
                now,
                Decision::StopPortal("HubSpot rejected the access token: m".into()),
            ),
            (
                ErrorKind::Validation,
                0,
                now,
                Decision::Dead("HubSpot rejected it: m".into()),
            ),
            (
                ErrorKind::Conflict { existing_id: None },
                0,
                now,
                Decision::Dead("HubSpot rejected it: m".into()),
            ),
        ];
        fn failure(kind: &ErrorKind, attempts: u32, enqueued_at_ms: u64) -> Failure<'_> {
            Failure {
                kind,
                message: "m",
                attempts,
                enqueued_at_ms,
            }
        }
        for (kind, attempts, queued, want) in rows {
            assert_eq!(
                decide(failure(&kind, attempts, queued), &cfg, now, 0.0),
                want,
                "{kind:?} {attempts}"
            );
        }
        assert!(
            matches!(decide(failure(&ErrorKind::Permission, 0, now), &cfg, now, 0.0), Decision::Dead(r) if r.contains("scope"))
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_half_to_full() {
        let cfg = RetryConfig {
            window: Duration::from_secs(3600),
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
