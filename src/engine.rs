//! One destination instance: the core's [`Machine`] plus the browser effects it asks for.
//! Shared by the analytics-next plugin and the standalone client.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, Ref, RefCell};

use hubspot_core::script::ScriptRole;
use hubspot_core::text::{concat, quote};
use hubspot_core::{
    Action, Consent, Diagnostic, Event, Input, Machine, Settings, Timer, Tracker, Value,
};
use wasm_bindgen::prelude::*;

use crate::convert::{read, to_json};
use crate::error::settings_error;
use crate::page;

#[wasm_bindgen]
extern "C" {
    /// `Date.now()` (not js-sys's binding: see `crate::error`).
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// Readiness poll period (spec section 3.5): timers, not a busy loop, which delays HubSpot.
const POLL_MS: f64 = 100.0;

/// What `js/shell.js` reports through [`Engine`]'s signal function: `signal(code, arg)`, which
/// calls [`Engine::signal`].
const TASK_ENDED: u32 = 0;
const TRACKER_READY: u32 = 1;
const TRACKING_SETTLED: u32 = 2;
const FORMS_SETTLED: u32 = 3;
const LOAD_TIMEOUT: u32 = 4;
const IDENTIFY_FLUSH: u32 = 5;
// What `js/plugin.js` (which names the same numbers) sends through the same export: a reset,
// the two status questions and the start of loading. One export for all: each costs the wasm
// and its glue bytes. Public for the browser tests, which stand in for `js/plugin.js`.
/// Forget the visitor (`reset()`).
pub const RESET: u32 = 6;
/// Whether HubSpot's tracker is ready (`isLoaded()`).
pub const IS_LOADED: u32 = 7;
/// Whether an identify waits for a page view or event (`pendingIdentity()`).
pub const PENDING_IDENTITY: u32 = 8;
/// Start loading (`load()`).
pub const LOAD: u32 = 9;
/// What the engine calls the signal function with once a load has settled (also named by
/// `js/plugin.js`, which resolves its `load()` promises then).
pub const SETTLED: u32 = 10;

/// A destination instance.
pub struct Engine {
    machine: RefCell<Machine>,
    nonce: Option<String>,
    debug: bool,
    /// The one callback every timer, poll and script event of this instance calls, made by
    /// JavaScript (`js/plugin.js`) to call [`Engine::signal`] through the exported instance: a
    /// Rust `Closure` would cost the wasm and its glue a closure type and its machinery. It
    /// keeps the instance alive while a timer, the poll or a script's `load` is pending
    /// (`js/shell.js` lets go of it once a script tag has reported). The engine calls it with
    /// `SETTLED` when a load has settled.
    signal: JsValue,
    /// The readiness poll's id, while it runs.
    poll: Cell<Option<f64>>,
    /// At most one armed timer per kind ([`Timer::LoadTimeout`], [`Timer::IdentifyFlush`]).
    /// Re-arming clears the previous one, which the machine would ignore anyway: a page may
    /// identify thousands of times.
    timers: [Cell<Option<f64>>; 2],
    /// A load waits for HubSpot to be ready or failed: the signal function hears `SETTLED` then.
    /// JavaScript keeps the `load()` promises' `resolve` functions (a vector of functions here
    /// cost the wasm more).
    waiting: Cell<bool>,
    task_scheduled: Cell<bool>,
}

impl Engine {
    /// Builds an engine from settings (a tape: [`read`]'s `text` and `ops`) and the function
    /// that reaches [`signal`](Self::signal); the error names the bad setting.
    pub fn new(text: String, ops: Vec<f64>, signal: JsValue) -> Result<Engine, JsValue> {
        crate::host::install_page_text();
        let value = read(text, ops).unwrap_or(Value::Null);
        let (settings, unknown) = Settings::from_value(&value).map_err(|e| settings_error(&e))?;
        let nonce = match settings.nonce.clone() {
            Some(n) => Some(n),
            None => page::page_nonce()?,
        };
        let engine = Engine {
            debug: settings.debug,
            machine: RefCell::new(Machine::new(settings)),
            nonce,
            signal,
            poll: Cell::new(None),
            timers: [Cell::new(None), Cell::new(None)],
            waiting: Cell::new(false),
            task_scheduled: Cell::new(false),
        };
        for key in unknown {
            engine.log(&Diagnostic::UnknownSetting(key));
        }
        Ok(engine)
    }

    /// The machine, borrowed through this one call site. `try_borrow`, not `borrow`: no borrow
    /// outlives the statement that takes it, so it never fails, and `borrow`'s panic would cost
    /// the wasm its message and `Location` (likewise `try_borrow_mut` in [`handle`](Self::handle)).
    fn machine(&self) -> Option<Ref<'_, Machine>> {
        self.machine.try_borrow().ok()
    }

    /// Looks at the page and starts (inject or adopt HubSpot's script, per consent); a load
    /// that is already settled hears `SETTLED` at once.
    fn start(&self) {
        // Created before anything else so hand-written snippets and our pushes share it.
        page::hsq_queue();
        let Some((existing, forms_present)) =
            self.machine().map(|m| page::scan(&m.settings().portal_id))
        else {
            return;
        };
        self.handle(Input::Start {
            existing,
            forms_present,
        });
    }

    /// Hands a Segment event (a tape, as for [`new`](Self::new)) to the machine. Never throws.
    pub fn call(&self, text: String, ops: Vec<f64>) {
        let event = Event::from_value(read(text, ops).unwrap_or(Value::Null));
        self.handle(Input::Call(event));
    }

    /// Changes consent (`'granted' | 'pending' | 'denied'`); anything else changes nothing and
    /// returns the `Error` to throw (else `undefined`).
    pub fn set_consent(&self, state: &str) -> JsValue {
        let Some(consent) = Consent::parse(state) else {
            // `quote`, not `{:?}`: Debug formatting would link core::fmt's escape tables.
            return crate::error::Error::new(&concat(&[
                "HubSpot: consent must be 'granted', 'pending' or 'denied', got ",
                &quote(state),
            ]))
            .into();
        };
        self.handle(Input::SetConsent(consent));
        JsValue::UNDEFINED
    }

    /// Rule 5: an identify pushed and not yet carried by a page view or event.
    pub fn pending_identity(&self) -> bool {
        self.machine().is_some_and(|m| m.pending_identity())
    }

    /// True once HubSpot is ready, has failed, or consent keeps it from loading.
    pub fn settled(&self) -> bool {
        self.machine().is_some_and(|m| {
            matches!(m.tracker(), Tracker::Ready | Tracker::Failed)
                || m.consent() != Consent::Granted
        })
    }

    /// True when HubSpot's tracker is ready.
    pub fn ready(&self) -> bool {
        self.machine()
            .is_some_and(|m| m.tracker() == Tracker::Ready)
    }

    /// Sends one input to the machine and performs what it returns.
    pub fn handle(&self, input: Input) {
        let now = date_now();
        let actions = match self.machine.try_borrow_mut() {
            Ok(mut machine) => machine.handle(input, now),
            Err(_) => return,
        };
        for action in actions {
            self.perform(action);
        }
        if self.settled() {
            if let Some(poll) = self.poll.take() {
                page::clear_timer(poll);
            }
            if self.waiting.replace(false) {
                page::call(&self.signal, SETTLED);
            }
        }
    }

    /// What `js/shell.js` reported (a timer, the readiness poll, a script's `load` or `error`)
    /// or `js/plugin.js` asked (load, reset, [`ready`](Self::ready),
    /// [`pending_identity`](Self::pending_identity)), as the machine's input; unknown codes are
    /// ignored. The answer to a question, else false.
    pub fn signal(&self, code: u32, arg: u32) -> bool {
        let input = match code {
            IS_LOADED => return self.ready(),
            PENDING_IDENTITY => return self.pending_identity(),
            RESET => Input::Reset,
            LOAD => {
                self.waiting.set(true);
                self.start();
                return false;
            }
            TASK_ENDED => {
                self.task_scheduled.set(false);
                Input::TaskBoundary
            }
            TRACKER_READY => {
                self.poll.take();
                Input::TrackerReady
            }
            TRACKING_SETTLED | FORMS_SETTLED => Input::ScriptSettled {
                role: if code == TRACKING_SETTLED {
                    ScriptRole::Tracking
                } else {
                    ScriptRole::Forms
                },
                ok: arg == 1,
            },
            LOAD_TIMEOUT => Input::Timer(Timer::LoadTimeout),
            IDENTIFY_FLUSH => Input::Timer(Timer::IdentifyFlush),
            _ => return false,
        };
        self.handle(input);
        false
    }

    fn perform(&self, action: Action) {
        match action {
            Action::Push(cmd) => {
                let (json, dates) = to_json(&cmd.into_value());
                page::hsq_push(&json, dates);
            }
            Action::Inject(script) => {
                let code = match script.role {
                    ScriptRole::Tracking => TRACKING_SETTLED,
                    ScriptRole::Forms => FORMS_SETTLED,
                };
                let added = page::inject(
                    &script.url,
                    script.id,
                    self.nonce.as_deref(),
                    &self.signal,
                    code,
                );
                if !added && script.role == ScriptRole::Tracking {
                    self.handle(Input::ScriptSettled {
                        role: script.role,
                        ok: false,
                    });
                }
            }
            Action::WatchReadiness => {
                if page::is_patched() {
                    self.handle(Input::TrackerReady);
                    return;
                }
                let poll = page::arm_timer(&self.signal, TRACKER_READY, POLL_MS, true);
                if let Some(old) = self.poll.replace(Some(poll)) {
                    page::clear_timer(old);
                }
            }
            Action::ArmTimer { timer, after_ms } => {
                let (slot, code) = match timer {
                    Timer::LoadTimeout => (&self.timers[0], LOAD_TIMEOUT),
                    Timer::IdentifyFlush => (&self.timers[1], IDENTIFY_FLUSH),
                };
                let id = page::arm_timer(&self.signal, code, after_ms.max(0.0), false);
                if let Some(old) = slot.replace(Some(id)) {
                    page::clear_timer(old);
                }
            }
            Action::EndTaskSoon => {
                if !self.task_scheduled.replace(true) {
                    page::arm_timer(&self.signal, TASK_ENDED, 0.0, false);
                }
            }
            Action::DeleteCookies(names) => names.iter().for_each(|n| page::delete_cookie(n)),
            Action::Log(d) => self.log(&d),
        }
    }

    fn log(&self, d: &Diagnostic) {
        if self.debug {
            page::log(&d.message());
        }
    }
}

impl Drop for Engine {
    /// Stops this instance's poll and timers: nothing would be left to hear them.
    fn drop(&mut self) {
        for id in [&self.poll, &self.timers[0], &self.timers[1]] {
            if let Some(id) = id.take() {
                page::clear_timer(id);
            }
        }
    }
}
