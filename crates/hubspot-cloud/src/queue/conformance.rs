//! The behaviour every [`Queue`] must have, as one async check any implementation's tests call
//! (memory here; SQLite and PostgreSQL in theirs), so the engine can rely on it whatever stores
//! the jobs. Panics with a message on the first difference. Test code only: it is not part of
//! the crate's API.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot_core::{Event, EventType};

use super::{DeadLetterLimits, JobId, Outcome, Queue};
use crate::clock::Clock as _;

fn message(n: u32) -> Event {
    let mut e = Event::new(EventType::Track);
    e.message_id = Some(format!("m{n}"));
    e
}

/// Runs the conformance checks against an empty queue.
pub async fn check<Q: Queue>(q: &Q) {
    let before = crate::clock::SystemClock.now_ms();
    let ids = q
        .enqueue(
            "p1",
            vec![
                ("a".into(), message(1)),
                ("b".into(), message(2)),
                ("a".into(), message(3)),
            ],
        )
        .await
        .expect("enqueue");
    let after = crate::clock::SystemClock.now_ms();
    assert_eq!(ids.len(), 3, "one id per message");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids increase in enqueue order"
    );
    let (a1, b, a2) = (ids[0], ids[1], ids[2]);
    assert_eq!(q.depth().await.expect("depth"), 3);

    assert!(
        q.lease("p2", 1_000, 10).await.expect("lease").is_empty(),
        "another portal's jobs are not leased"
    );
    let leased = q.lease("p1", 1_000, 10).await.expect("lease");
    assert_eq!(
        leased.iter().map(|j| j.id).collect::<Vec<_>>(),
        [a1, b, a2],
        "due jobs lease in order"
    );
    assert!(
        leased
            .iter()
            .all(|j| (before..=after).contains(&j.enqueued_at_ms)),
        "the enqueue time is kept: {before}..={after}, {:?}",
        leased.iter().map(|j| j.enqueued_at_ms).collect::<Vec<_>>()
    );
    assert_eq!(
        leased[0].message.message_id.as_deref(),
        Some("m1"),
        "the message round-trips"
    );
    assert_eq!(
        (leased[0].portal.as_str(), leased[0].key.as_str()),
        ("p1", "a")
    );
    assert!(
        q.lease("p1", 1_000, 10).await.expect("lease").is_empty(),
        "leased jobs are not leased again"
    );
    assert_eq!(q.status().await.expect("status").in_flight, 3);

    q.settle(vec![
        (
            a1,
            Outcome::Retry {
                not_before_ms: 5_000,
                error: "503".into(),
                count_attempt: true,
            },
        ),
        (b, Outcome::Delivered),
        (
            a2,
            Outcome::Retry {
                not_before_ms: 2_000,
                error: "503".into(),
                count_attempt: false,
            },
        ),
    ])
    .await
    .expect("settle");
    let st = q.status().await.expect("status");
    assert_eq!(
        (st.retrying, st.in_flight, st.delivered),
        (2, 0, 1),
        "{st:?}"
    );
    assert_eq!(q.next_due_ms("p1").await.expect("next due"), Some(2_000));
    assert_eq!(
        q.next_due_ms("p2").await.expect("next due"),
        None,
        "another portal's waiting jobs do not count"
    );
    assert!(
        q.lease("p1", 3_000, 10).await.expect("lease").is_empty(),
        "a later job of a key waits behind an earlier one"
    );
    let again = q.lease("p1", 5_000, 10).await.expect("lease");
    assert_eq!(
        again.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(),
        [(a1, 1), (a2, 0)],
        "attempts count only when asked"
    );

    q.settle(vec![
        (
            a1,
            Outcome::Dead {
                reason: "HubSpot rejected it: bad email".into(),
            },
        ),
        (a2, Outcome::Delivered),
    ])
    .await
    .expect("settle");
    let dead = q.dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].job.id, dead[0].reason.as_str()),
        (a1, "HubSpot rejected it: bad email")
    );
    assert_eq!(q.depth().await.expect("depth"), 0);
    let st = q.status().await.expect("status");
    assert_eq!((st.dead, st.delivered, st.queued), (1, 2, 0), "{st:?}");

    assert_eq!(q.replay_dead(Some(vec![a1])).await.expect("replay"), 1);
    let replayed = q.lease("p1", 5_000, 10).await.expect("lease");
    assert_eq!(
        replayed
            .iter()
            .map(|j| (j.id, j.attempts))
            .collect::<Vec<_>>(),
        [(a1, 0)],
        "replay resets attempts"
    );
    q.settle(vec![(
        a1,
        Outcome::Dead {
            reason: "again".into(),
        },
    )])
    .await
    .expect("settle");
    assert_eq!(q.drop_dead(None).await.expect("drop"), 1);
    assert_eq!(q.status().await.expect("status").dead, 0);

    // The lease size bounds a lease.
    let many: Vec<(String, Event)> = (0..5).map(|i| (format!("k{i}"), message(10 + i))).collect();
    q.enqueue("p2", many).await.expect("enqueue");
    assert_eq!(q.lease("p2", 5_000, 2).await.expect("lease").len(), 2);
    assert_eq!(q.lease("p2", 5_000, 10).await.expect("lease").len(), 3);

    // Keys are scoped to their portal: p3's "k" waits for a retry, p4's "k" does not wait.
    let p3 = q
        .enqueue(
            "p3",
            vec![("k".into(), message(20)), ("k".into(), message(21))],
        )
        .await
        .expect("enqueue");
    let p4 = q
        .enqueue("p4", vec![("k".into(), message(22))])
        .await
        .expect("enqueue");
    let first = q.lease("p3", 5_000, 1).await.expect("lease");
    assert_eq!(first.iter().map(|j| j.id).collect::<Vec<_>>(), [p3[0]]);
    q.settle(vec![(
        p3[0],
        Outcome::Retry {
            not_before_ms: 9_000,
            error: "503".into(),
            count_attempt: true,
        },
    )])
    .await
    .expect("settle");
    assert!(
        q.lease("p3", 5_000, 10).await.expect("lease").is_empty(),
        "p3's second k waits behind its first"
    );
    let other = q.lease("p4", 5_000, 10).await.expect("lease");
    assert_eq!(
        other.iter().map(|j| j.id).collect::<Vec<_>>(),
        p4,
        "the same key in another portal is not held back"
    );
}

/// Captures what a `tracing` subscriber writes, for checking log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner()))
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// A job whose stored message cannot be decoded is dead-lettered by the lease that meets it,
/// with one warning, and the rest of the lease goes on. `damage` overwrites a job's stored
/// message with something that is not a Segment message (a durable queue only). Run it on a
/// queue that leases on a current-thread runtime, so the warning reaches this task's subscriber.
pub async fn check_undecodable<Q: Queue>(q: &Q, damage: impl AsyncFn(JobId)) {
    let ids = q
        .enqueue(
            "pu",
            vec![
                ("a".into(), message(30)),
                ("a".into(), message(31)),
                ("b".into(), message(32)),
            ],
        )
        .await
        .expect("enqueue");
    damage(ids[0]).await;

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let leased = {
        let _guard = tracing::subscriber::set_default(subscriber);
        q.lease("pu", 1_000, 10).await
    };
    let leased = leased.expect("a lease meeting an undecodable message still succeeds");
    assert_eq!(
        leased.iter().map(|j| j.id).collect::<Vec<_>>(),
        ids[1..],
        "the rest of the lease, the undecodable job's key included, goes on"
    );
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "one warning: {lines:?}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains(&format!("job={}", ids[0])),
        "{lines:?}"
    );

    let dead = q
        .dead_letters(100)
        .await
        .expect("dead letters can still be listed");
    let letter = dead
        .iter()
        .find(|d| d.job.id == ids[0])
        .expect("the undecodable job is a dead letter");
    assert!(
        letter
            .reason
            .starts_with("the stored message could not be decoded: "),
        "{}",
        letter.reason
    );
    assert_eq!(letter.job.message.kind.as_str(), "undecodable");
    assert!(
        q.lease("pu", 1_000, 10).await.expect("lease").is_empty(),
        "it is not offered again"
    );
    let st = q.status().await.expect("status");
    assert_eq!((st.in_flight, st.dead), (2, 1), "{st:?}");
}

/// The limits [`check_dead_letter_limits`] expects its queue to have.
pub const DEAD_LIMITS: DeadLetterLimits = DeadLetterLimits {
    max: 100,
    max_age: Duration::from_secs(168 * 3_600),
};

/// Dead letters beyond [`DEAD_LIMITS`] are pruned, the oldest first, and counted; one older
/// than the age limit goes too. `backdate` sets a dead letter's failure time (epoch ms) in the
/// store. Run it on an empty queue.
pub async fn check_dead_letter_limits<Q: Queue>(q: &Q, backdate: impl AsyncFn(JobId, u64)) {
    let items: Vec<(String, Event)> = (0..10_000)
        .map(|i| (format!("k{i}"), message(100_000 + i)))
        .collect();
    let ids = q.enqueue("pd", items).await.expect("enqueue");
    let leased = q.lease("pd", 1_000, 10_000).await.expect("lease");
    assert_eq!(leased.len(), 10_000);
    let dead = |ids: &[JobId]| -> Vec<(JobId, Outcome)> {
        ids.iter()
            .map(|id| {
                let reason = "HubSpot rejected it".to_owned();
                (*id, Outcome::Dead { reason })
            })
            .collect()
    };
    q.settle(dead(&ids)).await.expect("settle");
    let st = q.status().await.expect("status");
    assert_eq!((st.dead, st.dead_pruned), (100, 9_900), "{st:?}");
    let kept: Vec<JobId> = q
        .dead_letters(1_000)
        .await
        .expect("dead letters")
        .iter()
        .map(|d| d.job.id)
        .collect();
    assert_eq!(kept, ids[9_900..], "the newest are kept");

    // Below the count limit, age alone prunes.
    assert_eq!(
        q.drop_dead(Some(kept[..50].to_vec())).await.expect("drop"),
        50
    );
    let week_and_a_day_ago = crate::clock::SystemClock.now_ms() - 192 * 3_600_000;
    backdate(kept[70], week_and_a_day_ago).await;
    let more = q
        .enqueue("pd", vec![("late".into(), message(200_000))])
        .await
        .expect("enqueue");
    assert_eq!(q.lease("pd", 1_000, 10).await.expect("lease").len(), 1);
    q.settle(dead(&more)).await.expect("settle");
    let left: Vec<JobId> = q
        .dead_letters(1_000)
        .await
        .expect("dead letters")
        .iter()
        .map(|d| d.job.id)
        .collect();
    assert_eq!(left.len(), 50, "{left:?}");
    assert!(!left.contains(&kept[70]), "the old one is gone");
    assert!(left.contains(&more[0]), "the new one is kept");
    let st = q.status().await.expect("status");
    assert_eq!(
        (st.dead, st.dead_pruned),
        (50, 9_901),
        "dropped dead letters are not counted as pruned: {st:?}"
    );
}
