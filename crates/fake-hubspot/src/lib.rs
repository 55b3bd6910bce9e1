//! A fake HubSpot REST API for tests and demos: a real HTTP server on 127.0.0.1.
//!
//! It implements the parts of HubSpot that a delivery pipeline meets — CRM objects (batch
//! upsert/update/read, single read, search with index lag), properties, v4 associations (batch
//! associate, list), custom behavioral events (batch send, definitions), OAuth refresh — and the
//! read side a Source meets: search with its 10,000-result cap, lists of live and archived
//! records, merges, typed associations, v3 lists, schemas, owners, pipelines, the v1 email,
//! form and identity endpoints, and generated portals of 100,000 records. All with HubSpot's
//! validation rules, error shapes and rate limits, plus fault injection, controls that cause
//! each kind of change, and a state snapshot to assert on. The README lists the endpoints.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fake_hubspot::{FakeConfig, FaultKind, FaultRule, Faults};
//! let fake = fake_hubspot::start(FakeConfig::default()).await?;
//! fake.set_faults(Faults::one(FaultRule::next(2, FaultKind::Status(503))));
//! // point the client at fake.base_url with token fake_hubspot::DEFAULT_TOKEN, then:
//! let state = fake.state();
//! assert!(state.contacts().is_empty());
//! fake.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The same state and fault control is served over HTTP for other processes:
//! `GET /_fake/state`, `GET|POST /_fake/faults`, `POST /_fake/reset`, `POST /_fake/tokens` and
//! the data controls the README lists.

mod associations;
mod auth;
mod dates;
mod errors;
mod events;
mod faults;
mod generate;
mod limits;
mod lists;
mod marketing;
mod portal;
mod routes;
mod search;
mod state;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tower::Service;

pub use associations::Association;
pub use auth::{AccessToken, OAuthApp, all_scopes};
pub use events::{MAX_EVENT_BATCH, MAX_EVENT_PROPERTIES, RecordedEvent};
pub use faults::{FaultKind, FaultRule, Faults};
pub use generate::{Generated, GeneratedPortal, PortalSizes};
pub use limits::RateLimits;
pub use lists::{ObjectList, PROCESSING_TYPES};
pub use marketing::{
    EmailCampaign, EmailEvent, Form, FormSubmission, SubscriptionChange, TimelineItem,
};
pub use portal::{CustomObject, DEAL_STAGES, Owner, TICKET_STAGES};
pub use search::{
    MAX_FILTER_GROUPS, MAX_FILTERS, MAX_FILTERS_PER_GROUP, MAX_SEARCH_LIMIT, MAX_SEARCH_RESULTS,
};
pub use state::{FakeState, RequestLogEntry};
pub use store::{
    LIFECYCLE_STAGES, MAX_BATCH_INPUTS, PropertyDefinition, PropertyOption, StoredObject,
    canonical_type, default_properties,
};

use faults::ConnectionKiller;
use state::Shared;

/// The access token the default configuration accepts (never expires).
pub const DEFAULT_TOKEN: &str = "fake-token";

/// The portal id of the default configuration.
pub const DEFAULT_PORTAL_ID: u64 = 123_456;

/// Configuration of a fake portal. Every field has a default; the `with_*` methods are
/// shorthands for tests.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Portal (hub) id: in event names `pe<portal>_…`, token info and 429 group names.
    pub portal_id: u64,
    /// Accepted bearer tokens (default: [`DEFAULT_TOKEN`], never expiring).
    pub tokens: Vec<AccessToken>,
    /// The OAuth app for `POST /oauth/v1/token`; `None` rejects every refresh.
    pub oauth: Option<OAuthApp>,
    /// Granted scopes (default: [`all_scopes`]); an endpoint whose scope is missing answers 403.
    pub scopes: BTreeSet<String>,
    /// Whether the portal's plan includes custom behavioral events; `false` answers 403 on
    /// `/events/v3/...`.
    pub custom_events_enabled: bool,
    /// Rate limits.
    pub limits: RateLimits,
    /// How long a write stays invisible to search (HubSpot indexes asynchronously).
    pub search_lag: Duration,
    /// Allowed custom events: full `eventName` (`pe<portal>_<name>`) → allowed property names.
    /// `POST /events/v3/event-definitions` adds to it.
    pub event_definitions: BTreeMap<String, BTreeSet<String>>,
    /// Property definitions added to the defaults at start and reset: (object type, definition).
    pub extra_properties: Vec<(String, PropertyDefinition)>,
    /// Custom object types (`GET /crm/v3/schemas`); their records are under `p_{name}`.
    pub custom_objects: Vec<CustomObject>,
    /// Owners (`GET /crm/v3/owners`); default: one, the account's creator.
    pub owners: Vec<Owner>,
    /// A portal generated at start and on every reset.
    pub generated: Option<GeneratedPortal>,
    /// Most request-log entries kept (oldest are dropped first).
    pub request_log_cap: usize,
    /// Custom properties allowed per object type (HubSpot: 1,000 on most plans); creating one
    /// more is a 400, and `GET /crm/v3/limits/custom-properties` reports it.
    pub custom_property_limit: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            port: 0,
            portal_id: DEFAULT_PORTAL_ID,
            tokens: vec![AccessToken::new(DEFAULT_TOKEN)],
            oauth: Some(OAuthApp::default()),
            scopes: all_scopes(),
            custom_events_enabled: true,
            limits: RateLimits::default(),
            search_lag: Duration::ZERO,
            event_definitions: BTreeMap::new(),
            extra_properties: Vec::new(),
            custom_objects: Vec::new(),
            owners: portal::default_owners(),
            generated: None,
            request_log_cap: 100_000,
            custom_property_limit: 1000,
        }
    }
}

impl FakeConfig {
    /// Listens on this port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Accepts one more token.
    pub fn with_token(mut self, token: AccessToken) -> Self {
        self.tokens.push(token);
        self
    }

    /// Uses these rate limits.
    pub fn with_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Hides writes from search for this long.
    pub fn with_search_lag(mut self, lag: Duration) -> Self {
        self.search_lag = lag;
        self
    }

    /// Defines a custom event (full `eventName`) with its allowed properties.
    pub fn with_event(mut self, event_name: &str, properties: &[&str]) -> Self {
        let props = properties.iter().map(|p| (*p).to_string()).collect();
        self.event_definitions.insert(event_name.to_string(), props);
        self
    }

    /// Adds a property definition to an object type.
    pub fn with_property(mut self, object_type: &str, definition: PropertyDefinition) -> Self {
        self.extra_properties
            .push((canonical_type(object_type), definition));
        self
    }

    /// Adds a custom object type.
    pub fn with_custom_object(mut self, object: CustomObject) -> Self {
        self.custom_objects.push(object);
        self
    }

    /// Generates a portal of these sizes at start and on every reset, deterministic by seed
    /// (see [`GeneratedPortal`]).
    pub fn with_generated_portal(mut self, seed: u64, sizes: PortalSizes) -> Self {
        self.generated = Some(GeneratedPortal {
            seed,
            sizes,
            anchor_ms: None,
        });
        self
    }

    /// Every owner: the configured ones, then the generated portal's.
    pub fn all_owners(&self) -> Vec<Owner> {
        let mut owners = self.owners.clone();
        if let Some(spec) = &self.generated {
            owners.extend(spec.owners());
        }
        owners
    }

    /// Adds an owner.
    pub fn with_owner(mut self, owner: Owner) -> Self {
        self.owners.push(owner);
        self
    }

    /// Revokes one scope.
    pub fn without_scope(mut self, scope: &str) -> Self {
        self.scopes.remove(scope);
        self
    }

    /// Turns custom behavioral events on or off for the portal's plan.
    pub fn with_custom_events(mut self, enabled: bool) -> Self {
        self.custom_events_enabled = enabled;
        self
    }
}

/// A running fake. Dropping it stops the server as [`FakeHandle::shutdown`] does, without
/// waiting.
#[derive(Debug)]
pub struct FakeHandle {
    /// `http://127.0.0.1:PORT`, the base URL to give a client.
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FakeHandle {
    /// A snapshot of the state.
    pub fn state(&self) -> FakeState {
        self.shared.lock().snapshot()
    }

    /// Replaces the active fault rules.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }

    /// Appends one fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.lock().faults.rules.push(rule);
    }

    /// Back to a fresh portal (records, events, counters, log, limits, faults) with the current
    /// configuration; tokens issued by OAuth refresh stay valid.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }

    /// What the generated portal holds (counts, the bulk update's millisecond), if the
    /// configuration asks for one.
    pub fn generated(&self) -> Option<Generated> {
        self.shared.lock().generated.clone()
    }

    /// Makes every write so far visible to search, as if the search lag had passed: lets a test
    /// move on without sleeping through the lag.
    pub fn settle_search(&self) {
        self.shared.lock().store.settle_search();
    }

    /// Changes the configuration of the running fake (tokens, scopes, limits, search lag, event
    /// definitions, owners, …). `port`, `extra_properties` and `custom_objects` take effect
    /// only at start and reset.
    pub fn update_config(&self, change: impl FnOnce(&mut FakeConfig)) {
        let mut inner = self.shared.lock();
        change(&mut inner.config);
        inner.config_changed();
    }

    /// The current configuration.
    pub fn config(&self) -> FakeConfig {
        self.shared.lock().config.clone()
    }

    /// Stops accepting connections, closes open ones, and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts a fake on 127.0.0.1:`config.port`.
pub async fn start(config: FakeConfig) -> std::io::Result<FakeHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config));
    let app = routes::router(shared.clone());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, app, stopped));
    Ok(FakeHandle {
        base_url: format!("http://{addr}"),
        addr,
        shared,
        stop,
        task,
    })
}

async fn accept_loop(listener: TcpListener, app: axum::Router, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            // Also fires when the handle is dropped (the sender goes away).
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, app.clone(), stopped.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Serves one connection with hyper directly (not `axum::serve`) so that a handler can close
/// its own connection: each request carries a [`ConnectionKiller`], and when it fires this task
/// drops the connection, which closes the socket without an answer.
async fn serve_connection(
    stream: TcpStream,
    app: axum::Router,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let killer = ConnectionKiller(kill.clone());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(killer.clone());
        let mut app = app.clone();
        async move { app.call(req).await }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        () = kill.notified() => {}
        _ = stopped.changed() => {}
    }
}
