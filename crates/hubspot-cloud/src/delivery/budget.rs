//! Where a portal's rate window is kept: in this process, or in PostgreSQL when several
//! processes call the same portals. The pacer asks its [`Window`] for a permit and does not
//! know which.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::limiter::{Sender, SharedWindow, SlidingWindow};
use super::limiter_pg::{PgLimiter, PgWindow};

/// Where the rate windows of a process's portals live.
#[derive(Clone, Debug, Default)]
pub enum RateBudget {
    /// In this process: it is the only one calling its portals (a SQLite or memory queue).
    #[default]
    Process,
    /// In PostgreSQL, shared by every process on the database (`[queue] kind = "postgres"`).
    Shared(PgLimiter),
}

impl RateBudget {
    /// The window of `portal`: at most `max` requests in any `interval` plus `margin`, sync
    /// keeping to `sync_share` of them while delivery is busy.
    pub fn window(
        &self,
        portal: &str,
        max: usize,
        interval: Duration,
        margin: Duration,
        sync_share: f64,
    ) -> Window {
        match self {
            RateBudget::Process => Window::Process(Mutex::new(SharedWindow::new(
                SlidingWindow::new(max, interval, margin),
                sync_share,
            ))),
            RateBudget::Shared(pg) => {
                Window::Shared(pg.window(portal, max, interval, margin, sync_share))
            }
        }
    }
}

/// One portal's window, from [`RateBudget::window`].
pub enum Window {
    /// Kept in this process, on the pacer's clock.
    Process(Mutex<SharedWindow>),
    /// Kept in PostgreSQL, on the database's clock.
    Shared(PgWindow),
}

impl Window {
    /// Takes a permit for `sender` at `now_ms` if the window has room (answers zero), else
    /// answers how long to wait before asking again.
    pub async fn take(&self, now_ms: u64, sender: Sender, delivery_busy: bool) -> Duration {
        match self {
            Window::Process(w) => {
                let mut w = w.lock().unwrap_or_else(PoisonError::into_inner);
                let wait = w.wait(now_ms, sender, delivery_busy);
                if wait.is_zero() {
                    w.record(now_ms, sender);
                }
                wait
            }
            Window::Shared(w) => w.take(sender, delivery_busy).await,
        }
    }
}
