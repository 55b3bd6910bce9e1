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

/// The most of a window of `max` requests sync may take while delivery is busy: `share`
/// (0..=1) of it, at least one so a sync always progresses. One rule for every window, in
/// process or in PostgreSQL.
pub fn sync_max(max: usize, share: f64) -> usize {
    ((max as f64 * share.clamp(0.0, 1.0)).floor() as usize).max(1)
}

/// Who makes a call, for [`SharedWindow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// The delivery engine (Segment messages into HubSpot).
    Delivery,
    /// The HubSpot Source (reads for a sync).
    Sync,
}

impl Sender {
    /// The sender's name where windows are stored (PostgreSQL's `hubspot_rate_permits.sender`).
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Delivery => "delivery",
            Sender::Sync => "sync",
        }
    }
}

/// A portal's window shared by delivery and sync. Every call counts in the portal's window, so
/// together they never exceed its rate. While delivery has work, sync may also hold at most
/// its share of that window (a second, smaller window over sync's own sends), leaving the rest
/// to delivery; delivery never waits on that share, and an idle delivery leaves sync the whole
/// window.
#[derive(Clone, Debug)]
pub struct SharedWindow {
    all: SlidingWindow,
    sync: SlidingWindow,
}

impl SharedWindow {
    /// `all` for every call; sync limited to `sync_share` (0..=1) of its requests while
    /// delivery is busy (at least one request, so a sync always progresses).
    pub fn new(all: SlidingWindow, sync_share: f64) -> SharedWindow {
        let sync = SlidingWindow {
            max: sync_max(all.max, sync_share),
            interval_ms: all.interval_ms,
            sent: VecDeque::new(),
        };
        SharedWindow { all, sync }
    }

    /// How long `sender` waits before its next call may go at `now_ms`, given whether delivery
    /// has work.
    pub fn wait(&mut self, now_ms: u64, sender: Sender, delivery_busy: bool) -> Duration {
        let all = self.all.wait(now_ms);
        let own = self.sync.wait(now_ms);
        match sender {
            Sender::Sync if delivery_busy => all.max(own),
            _ => all,
        }
    }

    /// Records a call of `sender` at `now_ms`.
    pub fn record(&mut self, now_ms: u64, sender: Sender) {
        self.all.record(now_ms);
        if sender == Sender::Sync {
            self.sync.record(now_ms);
        }
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

    #[test]
    fn sync_keeps_to_its_share_only_while_delivery_is_busy() {
        let all = SlidingWindow::new(4, Duration::from_millis(1000), Duration::ZERO);
        let mut w = SharedWindow::new(all, 0.5);
        for t in [0, 1] {
            assert_eq!(w.wait(t, Sender::Sync, true), Duration::ZERO);
            w.record(t, Sender::Sync);
        }
        // Busy delivery: sync has used its two, delivery still has two.
        assert_eq!(w.wait(2, Sender::Sync, true), Duration::from_millis(998));
        assert_eq!(w.wait(2, Sender::Delivery, true), Duration::ZERO);
        // Idle delivery: sync may take the rest of the window, and no more.
        assert_eq!(w.wait(2, Sender::Sync, false), Duration::ZERO);
        w.record(2, Sender::Sync);
        w.record(3, Sender::Delivery);
        assert_eq!(w.wait(4, Sender::Sync, false), Duration::from_millis(996));
        assert_eq!(
            w.wait(4, Sender::Delivery, true),
            Duration::from_millis(996)
        );
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
