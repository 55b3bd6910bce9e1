//! Test harness: a page driving the machine, and a model of HubSpot's tracking code that
//! records what HubSpot would receive.

use hubspot_core::mapping::Knobs;
use hubspot_core::script::{Script, ScriptRole};
use hubspot_core::{Action, Command, Event, Existing, Input, Machine, Settings, Timer, Value};
use serde_json::{Value as Json, json};

/// Resolved settings from JSON.
pub fn settings(json: Json) -> Settings {
    let v: Value = serde_json::from_value(json).expect("settings JSON");
    Settings::from_value(&v).expect("valid settings").0
}

/// An event from JSON.
pub fn event(json: Json) -> Event {
    serde_json::from_value(json).expect("event JSON")
}

/// Knobs for a settings object.
pub fn knobs(s: &Settings) -> Knobs {
    Knobs::for_profile(s.profile)
}

/// A command as the JSON array pushed onto `_hsq`.
pub fn json_of(cmd: &Command) -> Json {
    serde_json::to_value(cmd.clone().into_value()).expect("command serializes")
}

/// What HubSpot's servers would receive.
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    /// A page view: path and the visitor's email, if identified.
    PageView { path: String, email: Option<String> },
    /// An event: name, properties, email.
    Event {
        name: String,
        properties: Json,
        email: Option<String>,
    },
}

/// A model of HubSpot's tracking code, from the facts in the spec: it processes queued commands
/// on load and then records one page view; `identify` only sets the identity, which the next
/// page view or event carries; `setPath` sets the next page view's path.
#[derive(Debug, Default)]
pub struct HubSpot {
    pub loaded: bool,
    queue: Vec<Json>,
    next_path: Option<String>,
    identity: Option<String>,
    do_not_track: bool,
    pub received: Vec<Received>,
    pub location: String,
}

impl HubSpot {
    fn push(&mut self, cmd: Json) {
        if self.loaded {
            self.process(cmd);
        } else {
            self.queue.push(cmd);
        }
    }

    pub fn load(&mut self) {
        self.loaded = true;
        for cmd in std::mem::take(&mut self.queue) {
            self.process(cmd);
        }
        self.page_view();
    }

    fn page_view(&mut self) {
        if self.do_not_track {
            return;
        }
        let path = self
            .next_path
            .take()
            .unwrap_or_else(|| self.location.clone());
        self.received.push(Received::PageView {
            path,
            email: self.identity.clone(),
        });
    }

    fn process(&mut self, cmd: Json) {
        let method = cmd[0].as_str().expect("method").to_owned();
        match method.as_str() {
            "setPath" => self.next_path = Some(cmd[1].as_str().expect("path").to_owned()),
            "identify" => {
                if let Some(e) = cmd[1]["email"].as_str() {
                    self.identity = Some(e.to_owned());
                }
            }
            "trackPageView" => self.page_view(),
            "trackCustomBehavioralEvent" if !self.do_not_track => {
                self.received.push(Received::Event {
                    name: cmd[1]["name"].as_str().expect("name").to_owned(),
                    properties: cmd[1]["properties"].clone(),
                    email: self.identity.clone(),
                })
            }
            "trackEvent" if !self.do_not_track => self.received.push(Received::Event {
                name: cmd[1].as_str().expect("id").to_owned(),
                properties: cmd[2].clone(),
                email: self.identity.clone(),
            }),
            "doNotTrack" => {
                self.do_not_track = cmd.get(1).is_none_or(|o| o["track"] != json!(true))
            }
            _ => {}
        }
    }
}

/// A browser page running the machine, with HubSpot's script under the test's control.
pub struct Page {
    pub machine: Machine,
    pub now: f64,
    /// Every command pushed, in order.
    pub pushes: Vec<Json>,
    /// Every action, in order.
    pub actions: Vec<Action>,
    pub injected: Vec<Script>,
    pub hubspot: HubSpot,
    /// Armed timers: (due time, timer).
    timers: Vec<(f64, Timer)>,
    task_open: bool,
}

impl Page {
    /// A page that starts the module with no HubSpot on it.
    pub fn new(settings_json: Json) -> Page {
        Page::with_existing(settings_json, Existing::None)
    }

    /// A page whose site already embeds HubSpot in the given state.
    pub fn with_existing(settings_json: Json, existing: Existing) -> Page {
        let mut page = Page {
            machine: Machine::new(settings(settings_json)),
            now: 1_700_000_000_000.0,
            pushes: Vec::new(),
            actions: Vec::new(),
            injected: Vec::new(),
            hubspot: HubSpot {
                location: "/landing".into(),
                ..HubSpot::default()
            },
            timers: Vec::new(),
            task_open: false,
        };
        if existing == Existing::Ready {
            page.hubspot.load();
            page.hubspot.received.clear();
        }
        page.input(Input::Start {
            existing,
            forms_present: false,
        });
        page
    }

    /// Sends one input and performs what comes back.
    pub fn input(&mut self, input: Input) {
        let actions = self.machine.handle(input, self.now);
        for a in actions {
            match &a {
                Action::Push(cmd) => {
                    let j = json_of(cmd);
                    self.pushes.push(j.clone());
                    self.hubspot.push(j);
                }
                Action::Inject(s) => self.injected.push(s.clone()),
                Action::ArmTimer { timer, after_ms } => {
                    self.timers.push((self.now + after_ms, *timer))
                }
                Action::EndTaskSoon => self.task_open = true,
                Action::DeleteCookies(_) => self.hubspot.identity = None,
                Action::WatchReadiness | Action::Log(_) => {}
            }
            self.actions.push(a);
        }
    }

    /// A call within the current task (no task boundary after it).
    pub fn call(&mut self, json: Json) {
        self.input(Input::Call(event(json)));
    }

    /// Ends the current task, as the next macrotask does.
    pub fn end_task(&mut self) {
        if std::mem::take(&mut self.task_open) {
            self.input(Input::TaskBoundary);
        }
    }

    /// A call in a task of its own.
    pub fn send(&mut self, json: Json) {
        self.call(json);
        self.end_task();
    }

    /// HubSpot's script loads: its `load` event, then the tracker patches `_hsq.push`.
    pub fn load_hubspot(&mut self) {
        self.input(Input::ScriptSettled {
            role: ScriptRole::Tracking,
            ok: true,
        });
        self.hubspot.load();
        self.input(Input::TrackerReady);
    }

    /// Time passes; due timers fire.
    pub fn advance(&mut self, ms: f64) {
        self.now += ms;
        let now = self.now;
        let (due, rest): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|(at, _)| *at <= now);
        self.timers = rest;
        for (_, t) in due {
            self.input(Input::Timer(t));
        }
    }

    /// Pushes since index `from`.
    pub fn pushes_since(&self, from: usize) -> Vec<Json> {
        self.pushes[from..].to_vec()
    }

    /// Diagnostics logged so far.
    pub fn logs(&self) -> Vec<hubspot_core::Diagnostic> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Log(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Shorthands for the common calls, as analytics.js shapes them.
pub fn page(path: &str) -> Json {
    json!({"type": "page", "properties": {"path": path}, "context": {"page": {"path": path}}})
}

pub fn identify(user_id: Option<&str>, traits: Json) -> Json {
    json!({"type": "identify", "userId": user_id, "traits": traits})
}

pub fn track(name: &str, properties: Json) -> Json {
    json!({"type": "track", "event": name, "properties": properties})
}

pub fn pv(path: &str, email: Option<&str>) -> Received {
    Received::PageView {
        path: path.into(),
        email: email.map(str::to_owned),
    }
}

pub fn ev(name: &str, properties: Json, email: Option<&str>) -> Received {
    Received::Event {
        name: name.into(),
        properties,
        email: email.map(str::to_owned),
    }
}
