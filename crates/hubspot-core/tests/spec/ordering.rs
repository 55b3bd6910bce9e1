//! Spec section 4: ordering rules, asserted on what HubSpot would receive (the tracker model in
//! `support`), not only on what was pushed.

use crate::support::*;
use hubspot_core::script::ScriptRole;
use hubspot_core::{Action, Consent, Diagnostic, Existing, Input, Timer, Tracker};
use serde_json::{Value as Json, json};

fn opts() -> Json {
    json!({"portalId": "1234"})
}

fn with(extra: Json) -> Json {
    let mut o = opts();
    o.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    o
}

const A: &str = "a@b.co";

#[test]
fn first_page_before_load_pushes_only_set_path() {
    let mut p = Page::new(opts());
    p.send(page("/landing?x"));
    assert_eq!(p.pushes, [json!(["setPath", "/landing?x"])]);
    p.load_hubspot();
    assert!(
        !p.pushes.iter().any(|c| c[0] == "trackPageView"),
        "never trackPageView before load"
    );
    assert_eq!(
        p.hubspot.received,
        [pv("/landing?x", None)],
        "the landing page counted once"
    );
}

#[test]
fn several_pages_before_load_are_replayed_in_order_after_load() {
    let mut p = Page::new(opts());
    p.send(page("/one"));
    p.send(page("/two"));
    p.send(track("Clicked", json!({})));
    p.send(page("/three"));
    assert_eq!(p.pushes, [json!(["setPath", "/one"])]);
    assert_eq!(p.machine.held_len(), 3);
    p.load_hubspot();
    assert_eq!(
        p.hubspot.received,
        [
            pv("/one", None),
            pv("/two", None),
            ev("pe1234_clicked", json!({}), None),
            pv("/three", None)
        ]
    );
}

#[test]
fn identify_then_page_in_one_task_before_load() {
    let mut p = Page::new(opts());
    p.call(identify(Some("u1"), json!({"email": A})));
    p.call(page("/landing"));
    p.end_task();
    p.load_hubspot();
    assert_eq!(p.hubspot.received, [pv("/landing", Some(A))]);
    assert!(!p.machine.pending_identity());
}

#[test]
fn page_then_identify_in_one_task_is_pushed_identify_first() {
    for loaded_first in [false, true] {
        let mut p = Page::new(opts());
        if loaded_first {
            p.load_hubspot();
            p.hubspot.received.clear();
        }
        let from = p.pushes.len();
        p.call(page("/pricing"));
        p.call(identify(Some("u1"), json!({"email": A})));
        assert_eq!(p.pushes.len(), from, "nothing pushed before the task ends");
        p.end_task();
        assert_eq!(
            p.pushes[from][0], "identify",
            "loaded first: {loaded_first}"
        );
        if !loaded_first {
            p.load_hubspot();
        }
        assert_eq!(
            p.hubspot.received,
            [pv("/pricing", Some(A))],
            "loaded first: {loaded_first}"
        );
    }
}

#[test]
fn across_tasks_call_order_is_kept() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    p.hubspot.received.clear();
    p.send(page("/a"));
    p.send(identify(None, json!({"email": A})));
    p.send(page("/b"));
    assert_eq!(p.hubspot.received, [pv("/a", None), pv("/b", Some(A))]);
}

#[test]
fn identify_alone_stays_pending_until_a_page_or_event() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    p.send(identify(None, json!({"email": A})));
    assert!(p.machine.pending_identity());
    assert!(
        !p.hubspot
            .received
            .iter()
            .any(|r| matches!(r, Received::PageView { email: Some(_), .. }))
    );
    p.send(track("Clicked", json!({})));
    assert!(!p.machine.pending_identity());
    assert_eq!(
        p.hubspot.received.last(),
        Some(&ev("pe1234_clicked", json!({}), Some(A)))
    );
}

#[test]
fn identify_without_email_is_not_pending_and_pushes_nothing() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    let from = p.pushes.len();
    p.send(identify(Some("u1"), json!({"plan": "pro"})));
    assert!(p.pushes_since(from).is_empty());
    assert!(!p.machine.pending_identity());
    assert!(p.logs().contains(&Diagnostic::IdentifyWithoutEmail));
}

#[test]
fn identify_before_load_is_carried_by_the_automatic_page_view() {
    let mut p = Page::new(opts());
    p.send(identify(None, json!({"email": A})));
    assert!(p.machine.pending_identity());
    p.load_hubspot();
    assert!(!p.machine.pending_identity());
    assert_eq!(p.hubspot.received, [pv("/landing", Some(A))]);
}

#[test]
fn flush_identify_immediately_pushes_a_page_view_after_load_only() {
    let mut p = Page::new(with(json!({"flushIdentifyImmediately": true})));
    p.send(identify(None, json!({"email": A})));
    assert_eq!(p.pushes.len(), 1, "no trackPageView before load");
    p.load_hubspot();
    let from = p.pushes.len();
    p.send(identify(None, json!({"email": "c@d.co"})));
    assert_eq!(
        p.pushes_since(from),
        [
            json!(["identify", {"email": "c@d.co"}]),
            json!(["trackPageView"])
        ]
    );
    assert!(!p.machine.pending_identity());
}

#[test]
fn identify_flush_ms_resolves_a_pending_identity_with_a_page_view() {
    let mut p = Page::new(with(json!({"identifyFlushMs": 2000})));
    p.load_hubspot();
    p.send(identify(None, json!({"email": A})));
    p.advance(1999.0);
    assert!(p.machine.pending_identity());
    p.advance(1.0);
    assert!(!p.machine.pending_identity());
    assert_eq!(p.hubspot.received.last(), Some(&pv("/landing", Some(A))));
    assert!(p.logs().contains(&Diagnostic::IdentifyFlushed));

    // Carried by a track in time: no extra page view.
    let views = p.pushes.iter().filter(|c| c[0] == "trackPageView").count();
    p.send(identify(None, json!({"email": A})));
    p.advance(500.0);
    p.send(track("Clicked", json!({})));
    p.advance(5000.0);
    assert_eq!(
        p.pushes.iter().filter(|c| c[0] == "trackPageView").count(),
        views
    );
}

#[test]
fn identify_flush_ms_is_off_by_default() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    p.send(identify(None, json!({"email": A})));
    assert!(!p.actions.iter().any(|a| matches!(
        a,
        Action::ArmTimer {
            timer: Timer::IdentifyFlush,
            ..
        }
    )));
}

#[test]
fn track_with_context_traits_email_identifies_first_once_per_session() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    let call = json!({"type": "track", "event": "Clicked", "context": {"traits": {"email": A, "plan": "pro"}}});
    let from = p.pushes.len();
    p.send(call.clone());
    assert_eq!(
        p.pushes_since(from),
        [
            json!(["identify", {"email": A, "plan": "pro"}]),
            json!(["trackCustomBehavioralEvent", {"name": "pe1234_clicked", "properties": {}}])
        ]
    );
    let from = p.pushes.len();
    p.send(call.clone());
    assert_eq!(
        p.pushes_since(from).len(),
        1,
        "identify already sent this session"
    );
    p.input(Input::Reset);
    let from = p.pushes.len();
    p.send(call);
    assert_eq!(
        p.pushes_since(from).len(),
        2,
        "a reset starts a new session"
    );
}

#[test]
fn consent_pending_holds_everything_and_injects_nothing_until_granted() {
    let mut p = Page::new(with(json!({"consent": "pending"})));
    assert!(p.injected.is_empty());
    p.send(page("/landing"));
    p.send(identify(None, json!({"email": A})));
    p.send(page("/two"));
    assert!(p.pushes.is_empty());
    assert_eq!(p.machine.held_len(), 3);
    p.input(Input::SetConsent(Consent::Granted));
    assert_eq!(p.injected.len(), 1);
    assert_eq!(
        p.pushes,
        [
            json!(["setPath", "/landing"]),
            json!(["identify", {"email": A}])
        ]
    );
    p.load_hubspot();
    assert_eq!(
        p.hubspot.received,
        [pv("/landing", Some(A)), pv("/two", Some(A))]
    );
}

#[test]
fn consent_pending_then_denied_drops_the_queue() {
    let mut p = Page::new(with(json!({"consent": "pending"})));
    p.send(page("/landing"));
    p.input(Input::SetConsent(Consent::Denied));
    assert_eq!(p.machine.held_len(), 0);
    p.send(page("/two"));
    assert!(p.injected.is_empty() && p.pushes.is_empty());
    assert!(p.logs().contains(&Diagnostic::DroppedNoConsent("page")));
}

#[test]
fn consent_denied_from_the_start_injects_nothing() {
    let mut p = Page::new(with(json!({"consent": "denied"})));
    p.send(page("/"));
    p.send(identify(None, json!({"email": A})));
    assert!(p.injected.is_empty() && p.pushes.is_empty());
    assert_eq!(p.machine.tracker(), Tracker::Idle);
}

#[test]
fn consent_denied_after_load_pushes_do_not_track_and_drops_later_calls() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    p.input(Input::SetConsent(Consent::Denied));
    assert_eq!(p.pushes.last(), Some(&json!(["doNotTrack"])));
    let from = p.pushes.len();
    p.send(page("/after"));
    p.send(track("Clicked", json!({})));
    assert!(p.pushes_since(from).is_empty());
    // Granted again: tracking is re-enabled, later calls flow.
    p.input(Input::SetConsent(Consent::Granted));
    p.send(page("/back"));
    assert_eq!(
        p.pushes_since(from),
        [
            json!(["doNotTrack", {"track": true}]),
            json!(["setPath", "/back"]),
            json!(["trackPageView"])
        ]
    );
}

#[test]
fn consent_change_does_not_split_a_task() {
    // A call made before the consent change in the same task is judged under the old state.
    let mut p = Page::new(opts());
    p.load_hubspot();
    let from = p.pushes.len();
    p.call(track("Before", json!({})));
    p.input(Input::SetConsent(Consent::Denied));
    assert_eq!(p.pushes_since(from)[0][1]["name"], "pe1234_before");
}

#[test]
fn denied_then_granted_before_start_loads_normally() {
    let mut p = Page::new(with(json!({"consent": "denied"})));
    p.input(Input::SetConsent(Consent::Granted));
    assert_eq!(p.injected.len(), 1);
    assert!(
        p.pushes.is_empty(),
        "nothing of ours was on the page: no doNotTrack undo"
    );
}

#[test]
fn a_script_error_fails_the_destination_and_drops_calls_quietly() {
    let mut p = Page::new(opts());
    p.send(identify(None, json!({"email": A})));
    p.send(page("/one"));
    p.send(page("/two"));
    p.input(Input::ScriptSettled {
        role: ScriptRole::Tracking,
        ok: false,
    });
    assert_eq!(p.machine.tracker(), Tracker::Failed);
    assert_eq!(p.machine.held_len(), 0);
    let from = p.pushes.len();
    p.send(track("Clicked", json!({})));
    assert!(p.pushes_since(from).is_empty());
    assert!(p.logs().contains(&Diagnostic::DroppedAfterFailure("track")));
}

#[test]
fn a_load_timeout_fails_the_destination() {
    let mut p = Page::new(with(json!({"loadTimeoutMs": 3000})));
    p.advance(2999.0);
    assert_eq!(p.machine.tracker(), Tracker::Loading);
    p.advance(1.0);
    assert_eq!(p.machine.tracker(), Tracker::Failed);
    // A late load after the timeout changes nothing.
    p.input(Input::TrackerReady);
    assert_eq!(p.machine.tracker(), Tracker::Failed);
}

#[test]
fn the_timeout_is_harmless_after_ready() {
    let mut p = Page::new(with(json!({"loadTimeoutMs": 3000})));
    p.load_hubspot();
    p.advance(5000.0);
    assert_eq!(p.machine.tracker(), Tracker::Ready);
}

#[test]
fn queue_overflow_drops_the_oldest_with_one_warning() {
    let mut p = Page::new(with(json!({"consent": "pending", "maxQueue": 3})));
    for i in 0..6 {
        p.send(page(&format!("/p{i}")));
    }
    assert_eq!(p.machine.held_len(), 3);
    let warnings = p
        .logs()
        .iter()
        .filter(|d| matches!(d, Diagnostic::QueueFull { max: 3 }))
        .count();
    assert_eq!(warnings, 1);
    p.input(Input::SetConsent(Consent::Granted));
    p.load_hubspot();
    assert_eq!(
        p.hubspot.received,
        [pv("/p3", None), pv("/p4", None), pv("/p5", None)]
    );
}

#[test]
fn max_queue_zero_holds_nothing() {
    let mut p = Page::new(with(json!({"consent": "pending", "maxQueue": 0})));
    p.send(page("/p"));
    assert_eq!(p.machine.held_len(), 0);
}

#[test]
fn hubspot_already_ready_on_the_page() {
    let mut p = Page::with_existing(opts(), Existing::Ready);
    assert!(p.injected.is_empty(), "no second tag");
    assert_eq!(p.machine.tracker(), Tracker::Ready);
    assert!(p.logs().contains(&Diagnostic::AlreadyPresent));
    p.send(page("/spa"));
    assert_eq!(
        p.pushes,
        [json!(["setPath", "/spa"]), json!(["trackPageView"])]
    );
}

#[test]
fn hubspot_tag_already_loading_on_the_page() {
    let mut p = Page::with_existing(opts(), Existing::Loading);
    assert!(p.injected.is_empty());
    assert!(p.actions.contains(&Action::WatchReadiness));
    p.send(page("/landing"));
    p.hubspot.load();
    p.input(Input::TrackerReady);
    assert_eq!(p.hubspot.received, [pv("/landing", None)]);
}

#[test]
fn forms_load_in_parallel_and_never_gate_tracking() {
    let mut p = Page::new(with(
        json!({"loadFormsSDK": true, "enableEuropeanDataCenter": true}),
    ));
    let urls: Vec<_> = p.injected.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://js-eu1.hs-scripts.com/1234.js",
            "https://js-eu1.hsforms.net/forms/v2.js"
        ]
    );
    p.input(Input::ScriptSettled {
        role: ScriptRole::Forms,
        ok: false,
    });
    p.load_hubspot();
    assert_eq!(p.machine.tracker(), Tracker::Ready);
}

#[test]
fn script_url_overrides() {
    let p = Page::new(with(
        json!({"trackingScriptUrl": "/hs/tracker.js", "formsScriptUrl": "/hs/forms.js", "loadFormsSDK": true}),
    ));
    let urls: Vec<_> = p.injected.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(urls, ["/hs/tracker.js", "/hs/forms.js"]);
    assert_eq!(p.injected[0].id, Some("hs-script-loader"));
}

#[test]
fn reset_forgets_the_visitor_and_deletes_cookies() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    p.send(identify(None, json!({"email": A})));
    p.input(Input::Reset);
    assert!(!p.machine.pending_identity());
    assert!(p.actions.iter().any(|a| matches!(a, Action::DeleteCookies(c) if c.contains(&"hubspotutk") && c.contains(&"__hstc") && c.contains(&"__hssc") && c.contains(&"__hssrc"))));
    p.send(page("/next"));
    assert_eq!(
        p.hubspot.received.last(),
        Some(&pv("/next", None)),
        "the next visitor is anonymous"
    );
}

#[test]
fn reset_keeps_cookies_when_configured() {
    let mut p = Page::new(with(json!({"resetClearsVisitor": false})));
    p.input(Input::Reset);
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a, Action::DeleteCookies(_)))
    );
}

#[test]
fn reset_while_calls_are_held_forgets_the_held_identity() {
    let mut p = Page::new(with(json!({"consent": "pending"})));
    p.send(identify(None, json!({"email": A})));
    p.send(page("/one"));
    p.input(Input::Reset);
    p.send(page("/two"));
    p.input(Input::SetConsent(Consent::Granted));
    assert!(!p.pushes.iter().any(|c| c[0] == "identify"));
    p.load_hubspot();
    assert_eq!(p.hubspot.received, [pv("/one", None), pv("/two", None)]);
}

#[test]
fn start_twice_injects_once() {
    let mut p = Page::new(opts());
    p.input(Input::Start {
        existing: Existing::None,
        forms_present: false,
    });
    assert_eq!(p.injected.len(), 1);
}

#[test]
fn a_burst_in_one_task_is_delivered_in_ordered_slices() {
    let mut p = Page::new(opts());
    p.load_hubspot();
    p.hubspot.received.clear();
    let from = p.pushes.len();
    // 15 tracks, then an identify: the slice of 16 is full and goes at once, identify first.
    for n in 0..15 {
        p.call(track(&format!("Burst {n}"), json!({})));
    }
    assert_eq!(p.pushes.len(), from, "held until the slice is full");
    p.call(identify(None, json!({"email": A})));
    assert_eq!(p.pushes.len(), from + 16);
    assert_eq!(p.pushes[from][0], "identify");
    // The rest of the task waits for its end as usual.
    p.call(page("/after"));
    assert_eq!(p.pushes.len(), from + 16);
    p.end_task();
    assert_eq!(p.hubspot.received.len(), 16);
    assert_eq!(
        p.hubspot.received[0],
        ev("pe1234_burst_0", json!({}), Some(A))
    );
    assert_eq!(p.hubspot.received[15], pv("/after", Some(A)));
    assert!(p.machine.held_len() == 0);
    assert_eq!(hubspot_core::machine::MAX_TASK_CALLS, 16);
}

#[test]
fn every_call_opens_at_most_one_task() {
    let mut p = Page::new(opts());
    p.call(page("/a"));
    p.call(page("/b"));
    let asks = p
        .actions
        .iter()
        .filter(|a| **a == Action::EndTaskSoon)
        .count();
    assert_eq!(asks, 1);
}

proptest::proptest! {
    /// Held calls released after resets skip exactly the identifies a later reset forgot, as the
    /// rule was first written: the last reset found with `rposition`, identifies before it
    /// (by index) forgotten.
    #[test]
    fn held_identifies_before_a_reset_are_forgotten(ops in proptest::collection::vec(0u8..3, 0..12)) {
        let mut p = Page::new(with(json!({"consent": "pending"})));
        for (n, op) in ops.iter().enumerate() {
            match op {
                0 => p.send(identify(None, json!({"email": format!("u{n}@b.co")}))),
                1 => p.send(page(&format!("/{n}"))),
                _ => p.input(Input::Reset),
            }
        }
        p.input(Input::SetConsent(Consent::Granted));
        p.load_hubspot();
        let last_reset = ops.iter().rposition(|op| *op == 2);
        let want: Vec<String> = ops
            .iter()
            .enumerate()
            .filter(|&(n, op)| *op == 0 && last_reset.is_none_or(|r| n > r))
            .map(|(n, _)| format!("u{n}@b.co"))
            .collect();
        let got: Vec<String> = p
            .pushes
            .iter()
            .filter(|c| c[0] == "identify")
            .map(|c| c[1]["email"].as_str().unwrap_or_default().to_owned())
            .collect();
        proptest::prop_assert_eq!(got, want);
    }
}

proptest::proptest! {
    /// Each task's calls are pushed identifies first, then the rest, each in call order, as the
    /// rule was first written (the task split into two vectors), however tasks and full slices
    /// follow one another: the task's vector, reused from task to task, carries nothing over.
    #[test]
    fn each_task_is_pushed_identifies_first(ops in proptest::collection::vec(0u8..4, 0..48)) {
        let mut p = Page::new(opts());
        p.load_hubspot();
        let from = p.pushes.len();
        let (mut want, mut task) = (Vec::new(), Vec::<(bool, String)>::new());
        let flush = |task: &mut Vec<(bool, String)>, want: &mut Vec<String>| {
            let (ids, rest): (Vec<_>, Vec<_>) = task.drain(..).partition(|(id, _)| *id);
            want.extend(ids.into_iter().chain(rest).map(|(_, tag)| tag));
        };
        for (n, op) in ops.iter().enumerate() {
            let tag = format!("c{n}");
            match op {
                0 => p.call(identify(None, json!({"email": format!("{tag}@b.co")}))),
                1 => p.call(track(&tag, json!({}))),
                2 => p.call(page(&format!("/{tag}"))),
                _ => {
                    p.end_task();
                    flush(&mut task, &mut want);
                    continue;
                }
            }
            task.push((*op == 0, tag));
            if task.len() == hubspot_core::machine::MAX_TASK_CALLS {
                flush(&mut task, &mut want);
            }
        }
        p.end_task();
        flush(&mut task, &mut want);
        // Each call's own command, by the tag it carries (pages also push `setPath`).
        let got: Vec<String> = p.pushes[from..]
            .iter()
            .filter_map(|c| match c[0].as_str()? {
                "identify" => Some(c[1]["email"].as_str()?.trim_end_matches("@b.co").to_owned()),
                "trackCustomBehavioralEvent" => {
                    Some(c[1]["name"].as_str()?.trim_start_matches("pe1234_").to_owned())
                }
                "setPath" => Some(c[1].as_str()?.trim_start_matches('/').to_owned()),
                _ => None,
            })
            .collect();
        proptest::prop_assert_eq!(got, want);
    }
}
