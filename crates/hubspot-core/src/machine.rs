//! The ordering state machine (device-mode spec, section 4).
//!
//! It takes Segment calls and signals from the page (script loaded, load failed, a task ended,
//! a timer fired, consent changed, reset) and returns what the browser shell must do, in order:
//! commands to push onto `_hsq`, scripts to inject, cookies to delete, timers to arm, lines to
//! log. It performs no I/O and never reads the clock: `now_ms` is an argument.
//!
//! Facts about HubSpot's tracking code that shape it: commands queued before the script loads
//! are processed when it loads, then it records one page view by itself; `identify` sends
//! nothing until the next page view or event; `setPath` sets the path of the next page view,
//! the automatic one included.

use crate::prelude::*;

use crate::command::Command;
use crate::diagnostic::Diagnostic;
use crate::event::{Event, EventType};
use crate::mapping::{
    FirstPage, Knobs, ScriptStyle, find_email, map_identify, map_track, page_path,
};
use crate::script::{Script, ScriptRole, forms_script, tracking_script};
use crate::settings::{Consent, Settings};

/// HubSpot's visitor cookies, deleted on reset so the next person on a shared browser is not
/// merged into the previous contact.
pub const VISITOR_COOKIES: [&str; 4] = ["hubspotutk", "__hstc", "__hssc", "__hssrc"];

/// What the shell found on the page before starting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// No HubSpot tracking code: inject it.
    None,
    /// A HubSpot tag is on the page but `_hsq.push` is not patched yet: wait for it.
    Loading,
    /// `_hsq.push` is already HubSpot's: ready now.
    Ready,
}

/// Timers the machine asks the shell to arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// `loadTimeoutMs` after loading began.
    LoadTimeout,
    /// `identifyFlushMs` after an identify was pushed.
    IdentifyFlush,
}

/// Something that happened.
// Calls are nearly every input, so boxing the big variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The module starts. `existing`: what the shell found; `forms_present`: the Forms SDK is
    /// already on the page.
    Start {
        /// HubSpot's tracking code on the page.
        existing: Existing,
        /// The Forms SDK on the page.
        forms_present: bool,
    },
    /// A Segment call (page, identify, track, group, alias, screen).
    Call(Event),
    /// The current task ended (the shell's answer to [`Action::EndTaskSoon`]).
    TaskBoundary,
    /// A script tag fired `load` (`ok`) or `error`.
    ScriptSettled {
        /// Which script.
        role: ScriptRole,
        /// `load` rather than `error`.
        ok: bool,
    },
    /// `_hsq.push` is HubSpot's: the tracker has processed the queue and counted its page view.
    TrackerReady,
    /// An armed timer fired.
    Timer(Timer),
    /// The site changed consent.
    SetConsent(Consent),
    /// `analytics.reset()` / `client.reset()`.
    Reset,
}

/// Something the shell must do, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `window._hsq.push(command)`.
    Push(Command),
    /// Insert this script tag.
    Inject(Script),
    /// Poll (every 100 ms, with timers) until `_hsq.push !== Array.prototype.push`, then send
    /// [`Input::TrackerReady`].
    WatchReadiness,
    /// Send [`Input::Timer`] after this many milliseconds.
    ArmTimer {
        /// Which timer.
        timer: Timer,
        /// Delay.
        after_ms: f64,
    },
    /// Send [`Input::TaskBoundary`] at the next macrotask.
    EndTaskSoon,
    /// Delete these cookies (every domain and path HubSpot may have set them on).
    DeleteCookies(&'static [&'static str]),
    /// A decision worth a debug line.
    Log(Diagnostic),
}

/// Where HubSpot's tracking code stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracker {
    /// Not started (before [`Input::Start`], or consent not granted yet).
    Idle,
    /// Injected or found, not ready yet.
    Loading,
    /// Ready: pushes are processed at once.
    Ready,
    /// Blocked, failed or timed out: calls are dropped.
    Failed,
}

/// A held item: a call, or the point where the visitor was reset.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
enum Held {
    Call(Event),
    Reset,
}

/// Calls held for reordering within one task before they are delivered as a slice.
pub const MAX_TASK_CALLS: usize = 16;

/// The ordering state machine. One per destination instance.
#[derive(Debug)]
pub struct Machine {
    settings: Settings,
    knobs: Knobs,
    started: bool,
    tracker: Tracker,
    consent: Consent,
    /// Calls of the current task (each a `Held::Call`), reordered when it ends.
    task: Vec<Held>,
    /// Calls HubSpot cannot take yet (consent pending, or pages after the first before load).
    /// A `Vec`, not a `VecDeque`: the front is removed only when `maxQueue` overflows, and a
    /// `VecDeque` costs ~0.7 KB of wasm.
    held: Vec<Held>,
    /// Holding everything until load, to keep call order once one page had to wait.
    holding_until_ready: bool,
    queue_full_reported: bool,
    pages_before_load: usize,
    /// A script tag of ours (or the site's) is on the page: consent changes must tell it.
    scripts_on_page: bool,
    forms_present: bool,
    /// What the site had embedded, while consent keeps us from starting.
    pending_existing: Option<Existing>,
    forms_after: Option<Script>,
    tracking_after_forms: Option<Script>,
    identify_sent: bool,
    pending_identity: bool,
    identity_pushed_before_load: bool,
    pending_since_ms: f64,
}

impl Machine {
    /// A machine for these settings; nothing happens until [`Input::Start`].
    pub fn new(settings: Settings) -> Machine {
        let knobs = Knobs::for_profile(settings.profile);
        let consent = settings.consent;
        Machine {
            settings,
            knobs,
            started: false,
            tracker: Tracker::Idle,
            consent,
            task: Vec::new(),
            held: Vec::new(),
            holding_until_ready: false,
            queue_full_reported: false,
            pages_before_load: 0,
            scripts_on_page: false,
            forms_present: false,
            pending_existing: None,
            forms_after: None,
            tracking_after_forms: None,
            identify_sent: false,
            pending_identity: false,
            identity_pushed_before_load: false,
            pending_since_ms: 0.0,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where HubSpot's tracking code stands.
    pub fn tracker(&self) -> Tracker {
        self.tracker
    }

    /// The consent state in force.
    pub fn consent(&self) -> Consent {
        self.consent
    }

    /// True while an identify has been pushed and no page view or event has carried it yet
    /// (rule 5): without one, HubSpot never receives it.
    pub fn pending_identity(&self) -> bool {
        self.pending_identity
    }

    /// Number of calls held (consent pending, or waiting for HubSpot's script).
    pub fn held_len(&self) -> usize {
        self.held
            .iter()
            .filter(|h| matches!(h, Held::Call(_)))
            .count()
    }

    /// Handles one input and returns what to do.
    pub fn handle(&mut self, input: Input, now_ms: f64) -> Vec<Action> {
        let mut out = Out::default();
        match input {
            Input::Start {
                existing,
                forms_present,
            } => {
                if !self.started {
                    self.started = true;
                    self.forms_present = forms_present;
                    if self.consent == Consent::Granted {
                        self.begin_loading(existing, now_ms, &mut out);
                    } else if existing != Existing::None {
                        // The site embeds HubSpot itself; consent decides only what we forward.
                        self.scripts_on_page = true;
                        self.pending_existing = Some(existing);
                        if self.consent == Consent::Denied {
                            self.push(Command::DoNotTrack { track: false }, &mut out);
                        }
                    }
                }
            }
            Input::Call(event) => {
                if self.task.is_empty() {
                    out.act(Action::EndTaskSoon);
                }
                self.task.push(Held::Call(event));
                // A burst of calls in one task (a replayed queue, a loop) is delivered in slices
                // rather than held whole: rule 2 still orders each slice, and memory stays
                // bounded (wasm memory never shrinks once grown).
                if self.task.len() >= MAX_TASK_CALLS {
                    self.end_task(now_ms, &mut out);
                }
            }
            Input::TaskBoundary => self.end_task(now_ms, &mut out),
            Input::ScriptSettled { role, ok } => self.script_settled(role, ok, &mut out),
            Input::TrackerReady => self.ready(now_ms, &mut out),
            Input::Timer(Timer::LoadTimeout) => {
                if self.tracker == Tracker::Loading {
                    self.fail("did not load within loadTimeoutMs", &mut out);
                }
            }
            Input::Timer(Timer::IdentifyFlush) => {
                let due = now_ms - self.pending_since_ms
                    >= self.settings.identify_flush_ms.unwrap_or(f64::INFINITY) - 1.0;
                if self.pending_identity && self.tracker == Tracker::Ready && due {
                    out.log(Diagnostic::IdentifyFlushed);
                    self.push(Command::TrackPageView, &mut out);
                }
            }
            Input::SetConsent(consent) => {
                self.end_task(now_ms, &mut out);
                self.set_consent(consent, now_ms, &mut out);
            }
            Input::Reset => {
                self.end_task(now_ms, &mut out);
                self.reset(&mut out);
            }
        }
        out.0
    }

    fn begin_loading(&mut self, existing: Existing, now_ms: f64, out: &mut Out) {
        self.tracker = Tracker::Loading;
        self.scripts_on_page = true;
        let forms = if self.forms_present {
            None
        } else {
            forms_script(&self.settings, &self.knobs)
        };
        match existing {
            // One arm for both: each `Action` pushed is a copy of a large enum in the wasm.
            Existing::Ready | Existing::Loading => {
                out.log(Diagnostic::AlreadyPresent);
                if let Some(f) = forms {
                    out.act(Action::Inject(f));
                }
                if existing == Existing::Ready {
                    self.ready(now_ms, out);
                    return;
                }
                out.act(Action::WatchReadiness);
            }
            Existing::None => {
                let tracking = tracking_script(&self.settings, &self.knobs, now_ms);
                match (self.knobs.scripts, forms) {
                    (ScriptStyle::ClassicFormsFirst, Some(f)) => {
                        self.tracking_after_forms = Some(tracking);
                        out.act(Action::Inject(f));
                    }
                    (ScriptStyle::LoaderFormsAfter, Some(f)) => {
                        self.forms_after = Some(f);
                        out.act(Action::Inject(tracking));
                    }
                    (_, forms) => {
                        out.act(Action::Inject(tracking));
                        if let Some(f) = forms {
                            out.act(Action::Inject(f));
                        }
                    }
                }
            }
        }
        out.act(Action::ArmTimer {
            timer: Timer::LoadTimeout,
            after_ms: self.settings.load_timeout_ms,
        });
        self.release_held(now_ms, out);
    }

    fn script_settled(&mut self, role: ScriptRole, ok: bool, out: &mut Out) {
        match role {
            ScriptRole::Forms => {
                // Forms never gate tracking; classic loads tracking once forms settle.
                if let Some(tracking) = self.tracking_after_forms.take() {
                    out.act(Action::Inject(tracking));
                }
            }
            ScriptRole::Tracking => {
                if let Some(forms) = self.forms_after.take() {
                    out.act(Action::Inject(forms));
                }
                if self.tracker == Tracker::Loading {
                    if ok {
                        out.act(Action::WatchReadiness);
                    } else {
                        self.fail("failed to load (blocked or unreachable)", out);
                    }
                }
            }
        }
    }

    fn ready(&mut self, now_ms: f64, out: &mut Out) {
        if self.tracker != Tracker::Loading {
            return;
        }
        self.tracker = Tracker::Ready;
        self.holding_until_ready = false;
        out.log(Diagnostic::Ready);
        // The automatic page view carried any identity pushed before load.
        if self.identity_pushed_before_load {
            self.pending_identity = false;
            self.identity_pushed_before_load = false;
        }
        self.release_held(now_ms, out);
    }

    fn fail(&mut self, why: &'static str, out: &mut Out) {
        self.tracker = Tracker::Failed;
        self.holding_until_ready = false;
        self.held.clear();
        out.log(Diagnostic::LoadFailed(why));
    }

    fn set_consent(&mut self, consent: Consent, now_ms: f64, out: &mut Out) {
        let before = self.consent;
        if before == consent {
            return;
        }
        self.consent = consent;
        match consent {
            Consent::Denied => {
                self.held.clear();
                if self.scripts_on_page {
                    self.push(Command::DoNotTrack { track: false }, out);
                }
            }
            Consent::Granted => {
                if before == Consent::Denied && self.scripts_on_page {
                    self.push(Command::DoNotTrack { track: true }, out);
                }
                if self.started && self.tracker == Tracker::Idle {
                    let existing = self.pending_existing.take().unwrap_or(Existing::None);
                    self.begin_loading(existing, now_ms, out);
                } else {
                    self.release_held(now_ms, out);
                }
            }
            Consent::Pending => {}
        }
    }

    fn reset(&mut self, out: &mut Out) {
        self.pending_identity = false;
        self.identity_pushed_before_load = false;
        self.identify_sent = false;
        if !self.held.is_empty() {
            self.held.push(Held::Reset);
        }
        if self.settings.reset_clears_visitor {
            out.act(Action::DeleteCookies(&VISITOR_COOKIES));
        }
    }

    /// Ends the current task: identifies go first (rule 2), the rest keep call order.
    fn end_task(&mut self, now_ms: f64, out: &mut Out) {
        // Two passes over the slots, each call taken out as it is dispatched (a `Reset` left in
        // its slot, which `dispatch` passes over): no second vector, and the task's vector keeps
        // its capacity for the next task, so a call allocates nothing here. `matches!`, not `==`:
        // a derived `PartialEq` compares `EventType::Other` names.
        let mut task = core::mem::take(&mut self.task);
        for identifies in [true, false] {
            for slot in &mut task {
                if matches!(slot, Held::Call(e) if identifies == matches!(e.kind, EventType::Identify))
                {
                    let item = core::mem::replace(slot, Held::Reset);
                    self.dispatch(item, now_ms, out);
                }
            }
        }
        task.clear();
        self.task = task;
    }

    /// Replays held items in order through the current rules.
    fn release_held(&mut self, now_ms: f64, out: &mut Out) {
        self.queue_full_reported = false;
        let held = core::mem::take(&mut self.held);
        // A reset marker drops the held identifies before it: that identity was reset.
        // `matches!`, not `==` (here and on event kinds): a derived `PartialEq` would link a deep
        // comparison of events, or of `EventType::Other` names.
        // Counted forward, not found with `rposition` and compared by index (100 B less code):
        // an identify is forgotten while a reset is still ahead of it.
        let mut resets_ahead = 0;
        for h in &held {
            resets_ahead += usize::from(matches!(h, Held::Reset));
        }
        for item in held {
            match &item {
                Held::Reset => resets_ahead -= 1,
                Held::Call(e) if resets_ahead > 0 && matches!(e.kind, EventType::Identify) => {}
                Held::Call(_) => self.dispatch(item, now_ms, out),
            }
        }
    }

    fn dispatch(&mut self, item: Held, now_ms: f64, out: &mut Out) {
        let Held::Call(event) = item else { return };
        let kind = kind_name(&event.kind);
        match (self.consent, self.tracker) {
            (Consent::Denied, _) => out.log(Diagnostic::DroppedNoConsent(kind)),
            (_, Tracker::Failed) => out.log(Diagnostic::DroppedAfterFailure(kind)),
            (Consent::Pending, _) | (_, Tracker::Idle) => self.hold(event, kind, out),
            (Consent::Granted, Tracker::Loading)
                if self.holding_until_ready
                    || (self.knobs.hold_until_ready && !matches!(event.kind, EventType::Page)) =>
            {
                self.hold(event, kind, out)
            }
            (Consent::Granted, Tracker::Loading) => self.forward(event, false, now_ms, out),
            (Consent::Granted, Tracker::Ready) => self.forward(event, true, now_ms, out),
        }
    }

    fn hold(&mut self, event: Event, kind: &'static str, out: &mut Out) {
        if self.settings.max_queue == 0 {
            out.log(Diagnostic::QueueFull { max: 0 });
            return;
        }
        while self.held_len() >= self.settings.max_queue {
            if let Some(pos) = self.held.iter().position(|h| matches!(h, Held::Call(_))) {
                crate::value::remove_at(&mut self.held, pos);
            }
            if !self.queue_full_reported {
                self.queue_full_reported = true;
                out.log(Diagnostic::QueueFull {
                    max: self.settings.max_queue,
                });
            }
        }
        out.log(Diagnostic::Held(kind));
        self.held.push(Held::Call(event));
    }

    /// Maps a call and pushes its commands. `loaded`: HubSpot's tracker is ready.
    fn forward(&mut self, mut event: Event, loaded: bool, now_ms: f64, out: &mut Out) {
        let mut diags = Vec::new();
        match event.kind {
            EventType::Page => {
                let path = page_path(&event, &self.knobs);
                if loaded {
                    if let Some(p) = path {
                        self.push(Command::SetPath(p), out);
                    }
                    self.push(Command::TrackPageView, out);
                } else {
                    self.pages_before_load += 1;
                    if self.pages_before_load > 1 {
                        // Rule 3: a second page before load waits, and so does all after it.
                        self.holding_until_ready = true;
                        self.hold(event, "page", out);
                        return;
                    }
                    match self.knobs.first_page {
                        FirstPage::Nothing => {}
                        FirstPage::SetPathOnly => {
                            if let Some(p) = path {
                                self.push(Command::SetPath(p), out);
                            }
                        }
                        FirstPage::SetPathAndView => {
                            if let Some(p) = path {
                                self.push(Command::SetPath(p), out);
                            }
                            self.push(Command::TrackPageView, out);
                        }
                    }
                }
            }
            EventType::Identify => {
                let traits = core::mem::take(&mut event.traits);
                if let Some(cmd) = map_identify(&event, traits, &self.knobs, &mut diags) {
                    self.push_identify(cmd, loaded, now_ms, out);
                }
            }
            EventType::Track => {
                let properties = core::mem::take(&mut event.properties);
                if let Some(cmd) =
                    map_track(&event, properties, &self.settings, &self.knobs, &mut diags)
                {
                    let from_context = self.knobs.identify_from_context_traits
                        && !self.identify_sent
                        && find_email(&event.context_traits, None).is_some();
                    if from_context {
                        let mut ignored = Vec::new();
                        let traits = core::mem::take(&mut event.context_traits);
                        if let Some(identify) =
                            map_identify(&event, traits, &self.knobs, &mut ignored)
                        {
                            self.push_identify(identify, loaded, now_ms, out);
                        }
                    }
                    self.push(cmd, out);
                }
            }
            ref other => diags.push(Diagnostic::NotForwarded(kind_name(other).to_owned())),
        }
        for d in diags {
            out.log(d);
        }
    }

    fn push_identify(&mut self, cmd: Command, loaded: bool, now_ms: f64, out: &mut Out) {
        self.push(cmd, out);
        self.identify_sent = true;
        self.identity_pushed_before_load = !loaded;
        self.pending_since_ms = now_ms;
        if !loaded {
            // HubSpot's automatic page view on load carries it; never trackPageView before load.
            return;
        }
        if self.settings.flush_identify_immediately {
            self.push(Command::TrackPageView, out);
        } else if let Some(ms) = self.settings.identify_flush_ms {
            out.act(Action::ArmTimer {
                timer: Timer::IdentifyFlush,
                after_ms: ms,
            });
        }
    }

    fn push(&mut self, cmd: Command, out: &mut Out) {
        if cmd.transmits() {
            self.pending_identity = false;
            self.identity_pushed_before_load = false;
        } else if matches!(cmd, Command::Identify(_)) {
            self.pending_identity = true;
        }
        out.act(Action::Push(cmd));
    }
}

fn kind_name(kind: &EventType) -> &'static str {
    match kind {
        EventType::Page => "page",
        EventType::Identify => "identify",
        EventType::Track => "track",
        EventType::Group => "group",
        EventType::Alias => "alias",
        EventType::Screen => "screen",
        EventType::Other(_) => "call",
    }
}

#[derive(Default)]
struct Out(Vec<Action>);

impl Out {
    fn act(&mut self, a: Action) {
        self.0.push(a);
    }
    fn log(&mut self, d: Diagnostic) {
        self.0.push(Action::Log(d));
    }
}
