//! `serve`'s schedule: one task per portal runs a sync, waits `every`, and runs again. The
//! first run is one interval after start, so a process restarting in a loop does not sync in
//! a loop (`hubspot-cloud sync` runs one now). Runs of a portal follow one another in its
//! task, so two never overlap however long one takes. A failed run is logged in one line and
//! stays in [`LastRun`] until a run succeeds. Stopping abandons a run in flight: each page is
//! committed with its cursor, so nothing is lost.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

/// A portal's last scheduled run, for `/health`.
#[derive(Debug, Default)]
pub struct LastRun {
    failure: Mutex<Option<String>>,
}

impl LastRun {
    /// Why the last run failed; `None` once one succeeds (or before any ran).
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, failure: Option<String>) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = failure;
    }
}

/// Runs `run` every `every` (after the previous run ends) until `stop` turns true, recording
/// each outcome in `last`.
pub async fn every<F, Fut>(
    portal: &str,
    every: Duration,
    last: &LastRun,
    mut run: F,
    mut stop: watch::Receiver<bool>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    while !*stop.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => continue,
        }
        // Stopping abandons a run: what it committed stays, and the next run resumes there.
        let outcome = tokio::select! {
            r = run() => r,
            _ = stop.changed() => break,
        };
        match outcome {
            Ok(()) => last.set(None),
            Err(e) => {
                tracing::warn!(portal, error = %e, next_in_s = every.as_secs(), "the scheduled sync failed");
                last.set(Some(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn runs_each_interval_one_at_a_time_and_reports_only_the_last_failure() {
        let start = tokio::time::Instant::now();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let last = Arc::new(LastRun::default());
        let (stop_tx, stop) = watch::channel(false);
        let task = {
            let (starts, running, most, last) =
                (starts.clone(), running.clone(), most.clone(), last.clone());
            tokio::spawn(async move {
                every(
                    "main",
                    HOUR,
                    &last,
                    || {
                        let (starts, running, most) =
                            (starts.clone(), running.clone(), most.clone());
                        async move {
                            let n = {
                                let mut s = starts.lock().unwrap();
                                s.push(start.elapsed());
                                s.len()
                            };
                            most.fetch_max(
                                running.fetch_add(1, Ordering::SeqCst) + 1,
                                Ordering::SeqCst,
                            );
                            // The second run outlasts the interval; the third fails.
                            let took = if n == 2 { 2 * HOUR } else { HOUR / 4 };
                            tokio::time::sleep(took).await;
                            running.fetch_sub(1, Ordering::SeqCst);
                            if n == 3 {
                                Err("HubSpot: 401".into())
                            } else {
                                Ok(())
                            }
                        }
                    },
                    stop,
                )
                .await;
            })
        };
        let m = |minutes: u64| Duration::from_secs(minutes * 60);
        tokio::time::sleep(m(59)).await;
        assert!(starts.lock().unwrap().is_empty(), "no run at start");
        // Run 2 ends at 4h15, so run 3 starts at 5h15 and fails at 5h30.
        tokio::time::sleep(m(5 * 60 + 40 - 59)).await;
        assert_eq!(last.failure().as_deref(), Some("HubSpot: 401"));
        // Run 4 starts at 6h30 and succeeds at 6h45.
        tokio::time::sleep(m(6 * 60 + 50 - (5 * 60 + 40))).await;
        assert_eq!(last.failure(), None);
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(
            *starts.lock().unwrap(),
            vec![m(60), m(2 * 60 + 15), m(5 * 60 + 15), m(6 * 60 + 30)]
        );
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }
}
