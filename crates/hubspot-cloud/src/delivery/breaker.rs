//! A per-portal circuit breaker, as plain state with the time passed in. When a portal's
//! requests keep failing transiently (5xx, timeouts, refused connections), HubSpot is down for
//! it: the breaker opens, delivery holds that portal's messages without attempting them (so
//! they spend neither attempts nor backoff), and one probe request at a time tests whether
//! HubSpot is back. Probes start a few seconds apart and back off to `probe_max`, so delivery
//! resumes within `probe_max` of HubSpot recovering.

use std::time::Duration;

/// Breaker settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive transient request failures that open the breaker.
    pub failures: u32,
    /// Wait before the first probe.
    pub probe_first: Duration,
    /// Longest wait between probes.
    pub probe_max: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 3,
            probe_first: Duration::from_secs(5),
            probe_max: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    /// No requests until `until_ms`; then one probe.
    Open {
        until_ms: u64,
        since_ms: u64,
    },
    /// A probe may go; its result closes or re-opens the breaker.
    Probing {
        since_ms: u64,
    },
}

/// One portal's breaker.
#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: State,
    wait: Duration,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config,
            state: State::Closed { failures: 0 },
            wait: config.probe_first,
        }
    }

    /// Whether a request may go at `now_ms`: `Err(until_ms)` while open. Once the wait is over
    /// the breaker lets one probe through.
    pub fn allow(&mut self, now_ms: u64) -> Result<(), u64> {
        match self.state {
            State::Open { until_ms, .. } if now_ms < until_ms => Err(until_ms),
            State::Open { since_ms, .. } => {
                self.state = State::Probing { since_ms };
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// HubSpot answered (any answer but a transient failure): it is up.
    pub fn success(&mut self) {
        self.state = State::Closed { failures: 0 };
        self.wait = self.config.probe_first;
    }

    /// A transient failure at `now_ms`. Returns `Some(until_ms)` when the breaker is (now) open.
    pub fn failure(&mut self, now_ms: u64) -> Option<u64> {
        let since_ms = match self.state {
            State::Closed { failures } if failures + 1 < self.config.failures => {
                self.state = State::Closed {
                    failures: failures + 1,
                };
                return None;
            }
            State::Closed { .. } => now_ms,
            State::Open { since_ms, .. } | State::Probing { since_ms } => {
                self.wait = (self.wait * 2).min(self.config.probe_max);
                since_ms
            }
        };
        let until_ms = now_ms + self.wait.as_millis() as u64;
        self.state = State::Open { until_ms, since_ms };
        Some(until_ms)
    }

    /// Since when HubSpot has been failing, while the breaker is open or probing.
    pub fn open_since(&self) -> Option<u64> {
        match self.state {
            State::Open { since_ms, .. } | State::Probing { since_ms } => Some(since_ms),
            State::Closed { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_probes_with_backoff() {
        let mut b = Breaker::new(BreakerConfig::default());
        assert_eq!(b.failure(0), None);
        b.success();
        assert_eq!(b.failure(0), None);
        assert_eq!(b.failure(1), None);
        assert_eq!(b.failure(2), Some(5_002), "third in a row opens it");
        assert_eq!(b.allow(3_000), Err(5_002));
        assert_eq!(b.open_since(), Some(2));
        // The probe fails: waits double, up to the cap.
        let mut now = 5_002;
        for want in [10_000, 20_000, 30_000, 30_000] {
            assert_eq!(b.allow(now), Ok(()));
            assert_eq!(b.failure(now), Some(now + want));
            now += want;
        }
        assert_eq!(b.allow(now), Ok(()));
        b.success();
        assert_eq!(b.open_since(), None);
        assert_eq!(b.allow(now), Ok(()));
        // Back to the first wait after recovering.
        for _ in 0..2 {
            assert_eq!(b.failure(now), None);
        }
        assert_eq!(b.failure(now), Some(now + 5_000));
    }
}
