//! A client-side limiter that keeps a portal under HubSpot's rolling window ("at most `max`
//! requests in any `interval`"). Exact sliding window over send times, as plain state with the
//! time passed in: governor's GCRA would admit up to 2·max−1 requests in one rolling window
//! (a full burst, then the refill), which HubSpot answers with 429s.

use std::collections::VecDeque;
use std::time::Duration;

/// Sliding-window limiter state for one portal.
#[derive(Clone, Debug)]
pub struct SlidingWindow {
    max: usize,
    interval_ms: u64,
    sent: VecDeque<u64>,
}

impl SlidingWindow {
    /// At most `max` sends in any `interval` (`margin` is added to the interval to absorb
    /// network jitter between our clock and HubSpot's).
    pub fn new(max: usize, interval: Duration, margin: Duration) -> SlidingWindow {
        SlidingWindow {
            max: max.max(1),
            interval_ms: (interval + margin).as_millis() as u64,
            sent: VecDeque::new(),
        }
    }

    /// How long to wait before the next send may go at `now_ms` (zero when it may go now).
    pub fn wait(&mut self, now_ms: u64) -> Duration {
        while self
            .sent
            .front()
            .is_some_and(|t| t + self.interval_ms <= now_ms)
        {
            self.sent.pop_front();
        }
        match self.sent.front() {
            Some(oldest) if self.sent.len() >= self.max => {
                Duration::from_millis(oldest + self.interval_ms - now_ms)
            }
            _ => Duration::ZERO,
        }
    }

    /// Records a send at `now_ms`.
    pub fn record(&mut self, now_ms: u64) {
        self.sent.push_back(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn admits_max_then_waits_for_the_oldest_to_leave() {
        let mut w = SlidingWindow::new(3, Duration::from_millis(1000), Duration::ZERO);
        for t in [0, 10, 20] {
            assert_eq!(w.wait(t), Duration::ZERO);
            w.record(t);
        }
        assert_eq!(w.wait(500), Duration::from_millis(500));
        assert_eq!(w.wait(1000), Duration::ZERO);
    }

    proptest! {
        /// Whatever the arrival times, sending only when `wait` says zero never puts more than
        /// `max` sends in any window.
        #[test]
        fn never_more_than_max_in_any_window(gaps in prop::collection::vec(0u64..400, 1..300), max in 1usize..20) {
            let interval = 1000;
            let mut w = SlidingWindow::new(max, Duration::from_millis(interval), Duration::ZERO);
            let (mut now, mut sends) = (0u64, Vec::new());
            for gap in gaps {
                now += gap;
                let wait = w.wait(now);
                now += wait.as_millis() as u64;
                prop_assert_eq!(w.wait(now), Duration::ZERO);
                w.record(now);
                sends.push(now);
            }
            for (i, t) in sends.iter().enumerate() {
                let in_window = sends[i..].iter().take_while(|s| **s < t + interval).count();
                prop_assert!(in_window <= max);
            }
        }
    }
}
