//! One destination instance: the core's [`Machine`] plus the browser effects it asks for.
//! Shared by the analytics-next plugin and the standalone client.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use hubspot_core::script::ScriptRole;
use hubspot_core::text::quote;
use hubspot_core::{
    Action, Consent, Diagnostic, Event, Input, Machine, Settings, Timer, Tracker, Value,
};
use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Document;

use crate::convert::{event_to_value, to_value};
use crate::error::settings_error;
use crate::{hsq, loader};

/// Readiness poll period (spec section 3.5): timers, not a busy loop, which delays HubSpot.
const POLL_MS: u32 = 100;

/// A destination instance. Held in an `Rc`; callbacks hold a `Weak`.
pub struct Engine {
    machine: RefCell<Machine>,
    document: Document,
    nonce: Option<String>,
    debug: bool,
    poll: RefCell<Option<Interval>>,
    /// At most one armed timer per kind. Re-arming replaces (so cancels) the previous one,
    /// which the machine would ignore anyway, instead of leaking its closure: a page may
    /// identify thousands of times.
    timers: RefCell<Vec<(Timer, Timeout)>>,
    /// `resolve` functions of `load()` promises waiting for HubSpot to be ready or failed.
    waiters: RefCell<Vec<Function>>,
    /// The task-boundary callback, made once (calls can number thousands).
    end_task: RefCell<Option<Closure<dyn FnMut()>>>,
    task_scheduled: Cell<bool>,
}

impl Engine {
    /// Builds an engine from JavaScript settings; the error names the bad setting.
    pub fn new(settings: &JsValue) -> Result<Rc<Engine>, JsValue> {
        crate::host::install_page_text();
        let value = to_value(settings).unwrap_or(Value::Null);
        let (settings, unknown) = Settings::from_value(&value).map_err(|e| settings_error(&e))?;
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| {
                JsValue::from_str("HubSpot: no document (not running in a browser page)")
            })?;
        let nonce = settings
            .nonce
            .clone()
            .or_else(|| loader::page_nonce(&document));
        let engine = Rc::new(Engine {
            debug: settings.debug,
            machine: RefCell::new(Machine::new(settings)),
            document,
            nonce,
            poll: RefCell::new(None),
            timers: RefCell::new(Vec::new()),
            waiters: RefCell::new(Vec::new()),
            end_task: RefCell::new(None),
            task_scheduled: Cell::new(false),
        });
        let weak = Rc::downgrade(&engine);
        *engine.end_task.borrow_mut() = Some(Closure::new(move || {
            if let Some(e) = weak.upgrade() {
                e.task_scheduled.set(false);
                e.handle(Input::TaskBoundary);
            }
        }));
        for key in unknown {
            engine.log(&Diagnostic::UnknownSetting(key));
        }
        Ok(engine)
    }

    /// Looks at the page and starts (inject or adopt HubSpot's script, per consent).
    pub fn start(self: &Rc<Self>) {
        // Created before anything else so hand-written snippets and our pushes share it.
        hsq::queue();
        let portal = self.machine.borrow().settings().portal_id.clone();
        let existing = loader::existing(&self.document, &portal);
        let forms_present = loader::forms_present(&self.document);
        self.handle(Input::Start {
            existing,
            forms_present,
        });
    }

    /// Hands a Segment event (a plain object) to the machine. Never throws.
    pub fn call(self: &Rc<Self>, event: &JsValue) {
        let event = Event::from_value(event_to_value(event).unwrap_or(Value::Null));
        self.handle(Input::Call(event));
    }

    /// Changes consent (`'granted' | 'pending' | 'denied'`).
    pub fn set_consent(self: &Rc<Self>, state: &str) -> Result<(), JsValue> {
        let consent = Consent::parse(state).ok_or_else(|| {
            // `quote`, not `{:?}`: Debug formatting would link core::fmt's escape tables.
            js_sys::Error::new(
                &("HubSpot: consent must be 'granted', 'pending' or 'denied', got ".to_owned()
                    + &quote(state)),
            )
        })?;
        self.handle(Input::SetConsent(consent));
        Ok(())
    }

    /// Forgets the visitor.
    pub fn reset(self: &Rc<Self>) {
        self.handle(Input::Reset);
    }

    /// Rule 5: an identify pushed and not yet carried by a page view or event.
    pub fn pending_identity(&self) -> bool {
        self.machine.borrow().pending_identity()
    }

    /// True once HubSpot is ready, has failed, or consent keeps it from loading.
    pub fn settled(&self) -> bool {
        let m = self.machine.borrow();
        matches!(m.tracker(), Tracker::Ready | Tracker::Failed) || m.consent() != Consent::Granted
    }

    /// True when HubSpot's tracker is ready.
    pub fn ready(&self) -> bool {
        self.machine.borrow().tracker() == Tracker::Ready
    }

    /// A promise that resolves (never rejects, never hangs past `loadTimeoutMs`) once
    /// [`settled`](Self::settled).
    pub fn when_settled(self: &Rc<Self>) -> Promise {
        let this = self.clone();
        Promise::new(&mut move |resolve, _reject| {
            if this.settled() {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            } else {
                this.waiters.borrow_mut().push(resolve);
            }
        })
    }

    /// Sends one input to the machine and performs what it returns.
    pub fn handle(self: &Rc<Self>, input: Input) {
        let now = js_sys::Date::now();
        let actions = self.machine.borrow_mut().handle(input, now);
        for action in actions {
            self.perform(action);
        }
        if self.settled() {
            self.poll.borrow_mut().take();
            for resolve in self.waiters.borrow_mut().drain(..) {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    }

    fn perform(self: &Rc<Self>, action: Action) {
        let weak = Rc::downgrade(self);
        match action {
            Action::Push(cmd) => {
                if let Err(e) = hsq::push(cmd) {
                    // HubSpot's own code threw: report it, never rethrow into the page.
                    web_sys::console::warn_2(&"[HubSpot] _hsq.push failed:".into(), &e);
                }
            }
            Action::Inject(script) => {
                let role = script.role;
                let settled =
                    move |ok| with(&weak, |e| e.handle(Input::ScriptSettled { role, ok }));
                if let Err(e) =
                    loader::inject(&self.document, &script, self.nonce.as_deref(), settled)
                {
                    web_sys::console::warn_2(&"[HubSpot] could not add script:".into(), &e);
                    if role == ScriptRole::Tracking {
                        self.handle(Input::ScriptSettled { role, ok: false });
                    }
                }
            }
            Action::WatchReadiness => {
                if hsq::is_patched() {
                    self.handle(Input::TrackerReady);
                    return;
                }
                let interval = Interval::new(POLL_MS, move || {
                    if hsq::is_patched() {
                        with(&weak, |e| e.handle(Input::TrackerReady));
                    }
                });
                *self.poll.borrow_mut() = Some(interval);
            }
            Action::ArmTimer { timer, after_ms } => {
                let timeout =
                    Timeout::new(after_ms.clamp(0.0, u32::MAX as f64) as u32, move || {
                        with(&weak, |e| e.handle(Input::Timer(timer)));
                    });
                let mut timers = self.timers.borrow_mut();
                // Dropping a Timeout clears it.
                timers.retain(|(kind, _)| *kind != timer);
                timers.push((timer, timeout));
            }
            Action::EndTaskSoon => {
                if self.task_scheduled.replace(true) {
                    return;
                }
                let scheduled =
                    web_sys::window()
                        .zip(self.end_task.borrow().as_ref())
                        .map(|(w, cb)| {
                            w.set_timeout_with_callback_and_timeout_and_arguments_0(
                                cb.as_ref().unchecked_ref(),
                                0,
                            )
                        });
                if !matches!(scheduled, Some(Ok(_))) {
                    self.task_scheduled.set(false);
                    self.handle(Input::TaskBoundary);
                }
            }
            Action::DeleteCookies(names) => loader::delete_cookies(&self.document, names),
            Action::Log(d) => self.log(&d),
        }
    }

    fn log(&self, d: &Diagnostic) {
        if self.debug {
            web_sys::console::log_2(&"[HubSpot]".into(), &d.to_string().into());
        }
    }
}

fn with(weak: &Weak<Engine>, f: impl FnOnce(&Rc<Engine>)) {
    if let Some(e) = weak.upgrade() {
        f(&e);
    }
}
