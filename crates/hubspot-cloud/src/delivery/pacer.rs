//! Every HubSpot call of a portal goes through its [`Pacer`]: the circuit breaker may hold it,
//! the sliding window spaces it (in this process or, across processes, in PostgreSQL: a
//! [`Window`]), and a ten-secondly or secondly 429 is waited out without
//! counting as an attempt. Delivery, the steps around a write and the HubSpot Source share it
//! (each holding a handle to the same state), so one portal's requests never exceed its rate,
//! whatever makes them; while delivery has work, sync keeps to its share
//! ([`SharedWindow`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::breaker::{Breaker, BreakerConfig};
use super::budget::Window;
use super::limiter::Sender;
use crate::client::{ApiError, ErrorKind, HubSpotApi, RatePolicy};
use crate::clock::Clock;

/// Why a call did not succeed.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// HubSpot answered with an error (or the transport failed).
    Api(ApiError),
    /// Not attempted: the portal's breaker is open until `until_ms` (HubSpot is failing).
    Held {
        /// When the next probe may go (epoch ms).
        until_ms: u64,
    },
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        CallError::Api(e)
    }
}

/// A portal's paced access to HubSpot: a handle to the portal's shared state, marked with who
/// calls through it. Clones share the window and the breaker.
#[derive(Clone)]
pub struct Pacer {
    state: Arc<State>,
    sender: Sender,
}

struct State {
    portal: String,
    api: Arc<dyn HubSpotApi>,
    clock: Arc<dyn Clock>,
    window: Window,
    breaker: Mutex<Breaker>,
    rate_limited: Arc<AtomicU64>,
    /// When HubSpot last answered anything (epoch ms), for health.
    last_answer_ms: AtomicU64,
    /// Delivery has work (its last round leased jobs): sync keeps to its share.
    delivery_busy: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pacer {
    /// Paces `api` for `portal`: at most `window`'s requests per interval, `breaker` settings,
    /// 429s counted in `rate_limited`. The handle calls as delivery; see [`Pacer::for_sync`].
    pub fn new(
        portal: &str,
        api: Arc<dyn HubSpotApi>,
        clock: Arc<dyn Clock>,
        window: Window,
        breaker: BreakerConfig,
        rate_limited: Arc<AtomicU64>,
    ) -> Pacer {
        Pacer {
            state: Arc::new(State {
                portal: portal.to_owned(),
                api,
                clock,
                window,
                breaker: Mutex::new(Breaker::new(breaker)),
                rate_limited,
                last_answer_ms: AtomicU64::new(0),
                delivery_busy: AtomicBool::new(false),
            }),
            sender: Sender::Delivery,
        }
    }

    /// A handle on the same window and breaker whose calls count as sync's.
    pub fn for_sync(&self) -> Pacer {
        Pacer {
            state: self.state.clone(),
            sender: Sender::Sync,
        }
    }

    /// Says whether delivery has work, which limits sync to its share while it does.
    pub fn set_delivery_busy(&self, busy: bool) {
        self.state.delivery_busy.store(busy, Ordering::Relaxed);
    }

    /// The API, for building calls to pass to [`Pacer::call`].
    pub fn api(&self) -> &dyn HubSpotApi {
        self.state.api.as_ref()
    }

    /// The portal's clock.
    pub fn now_ms(&self) -> u64 {
        self.state.clock.now_ms()
    }

    /// Since when HubSpot has been failing for this portal, while its breaker is open.
    pub fn failing_since(&self) -> Option<u64> {
        lock(&self.state.breaker).open_since()
    }

    /// When HubSpot last answered this portal (epoch ms; 0: never).
    pub fn last_answer_ms(&self) -> u64 {
        self.state.last_answer_ms.load(Ordering::Relaxed)
    }

    /// Makes one call: held while the breaker is open, paced by the window, 429s (but DAILY)
    /// waited out and resent.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        loop {
            lock(&self.state.breaker)
                .allow(self.state.clock.now_ms())
                .map_err(|until_ms| CallError::Held { until_ms })?;
            self.pace().await;
            let result = call().await;
            let now = self.state.clock.now_ms();
            self.state.last_answer_ms.store(now, Ordering::Relaxed);
            let e = match result {
                Ok(v) => {
                    self.recovered();
                    return Ok(v);
                }
                Err(e) => e,
            };
            match e.kind {
                ErrorKind::Throttled { policy, wait } if policy != RatePolicy::Daily => {
                    self.recovered();
                    self.state.rate_limited.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(portal = %self.state.portal, ?wait, "429: waiting for the window");
                    tokio::time::sleep(wait).await;
                }
                ErrorKind::Transient => {
                    let mut breaker = lock(&self.state.breaker);
                    let was_open = breaker.open_since().is_some();
                    return Err(match breaker.failure(now) {
                        Some(until_ms) => {
                            if !was_open {
                                tracing::warn!(portal = %self.state.portal, error = %e, "HubSpot is failing for this portal: holding its messages and probing until it answers");
                            }
                            CallError::Held { until_ms }
                        }
                        None => CallError::Api(e),
                    });
                }
                _ => {
                    self.recovered();
                    return Err(CallError::Api(e));
                }
            }
        }
    }

    /// HubSpot answered: close the breaker, saying so if it was open.
    fn recovered(&self) {
        let mut breaker = lock(&self.state.breaker);
        if let Some(since) = breaker.open_since() {
            let secs = self.state.clock.now_ms().saturating_sub(since) / 1000;
            tracing::warn!(portal = %self.state.portal, failing_for_s = secs, "HubSpot answers again: delivery resumes");
        }
        breaker.success();
    }

    /// Waits for the rate window to grant a permit.
    async fn pace(&self) {
        loop {
            let busy = self.state.delivery_busy.load(Ordering::Relaxed);
            let wait = self
                .state
                .window
                .take(self.state.clock.now_ms(), self.sender, busy)
                .await;
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}
