//! The behaviour every [`Queue`] must have, as one async check any implementation's tests call
//! (memory here; SQLite and PostgreSQL in theirs), so the engine can rely on it whatever stores
//! the jobs. Panics with a message on the first difference. Test code only: it is not part of
//! the crate's API.

use hubspot_core::{Event, EventType};

use super::{Outcome, Queue};

fn message(n: u32) -> Event {
    let mut e = Event::new(EventType::Track);
    e.message_id = Some(format!("m{n}"));
    e
}

/// Runs the conformance checks against an empty queue.
pub async fn check<Q: Queue>(q: &Q) {
    let before = crate::delivery::now_ms();
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
    let after = crate::delivery::now_ms();
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
