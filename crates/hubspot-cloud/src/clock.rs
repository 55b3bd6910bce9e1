//! Time as an injected dependency. Everything that decides by time (retry windows, backoff, the
//! circuit breaker, rate windows, definition caches) reads a [`Clock`], so tests run on tokio's
//! paused time: hours of HubSpot outage pass in milliseconds, with no sleeps and no timing
//! assertions.

use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch milliseconds, the queue's time base.
pub trait Clock: Send + Sync {
    /// Now, as epoch milliseconds.
    fn now_ms(&self) -> u64;
}

/// The wall clock (production).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// Tokio's clock from a fixed epoch start: under `tokio::time::pause()` it advances only as the
/// runtime's timers do, so it agrees with every `tokio::time::sleep` the engine takes.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    epoch_ms: u64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `epoch_ms` now.
    pub fn starting_at(epoch_ms: u64) -> TokioClock {
        TokioClock {
            epoch_ms,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        self.epoch_ms + self.start.elapsed().as_millis() as u64
    }
}
