//! The fake's mutable state behind one mutex, and [`FakeState`], its serializable snapshot.
//!
//! One lock for everything keeps each request atomic (a batch is validated and applied without
//! interleaving) and is plenty fast for a test server; no lock is held across an `.await`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::http::Method;
use serde::{Deserialize, Serialize};

use crate::FakeConfig;
use crate::associations::Association;
use crate::auth::AccessToken;
use crate::events::{EventLog, RecordedEvent};
use crate::faults::{FaultKind, Faults};
use crate::generate::{self, Generated};
use crate::limits::Limiter;
use crate::lists::{Lists, ObjectList};
use crate::marketing::{EmailCampaign, EmailEvent, Form, FormSubmission, Marketing, TimelineItem};
use crate::store::{PropertyDefinition, Store, StoredObject, canonical_type};

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLogEntry {
    /// HTTP method.
    pub method: String,
    /// Path, without the query string.
    pub path: String,
    /// Status answered; 0 when the connection was dropped without an answer.
    pub status: u16,
    /// Length of the body's `inputs` array, for batch requests.
    pub batch_size: Option<usize>,
    /// The injected fault, if one applied.
    pub fault: Option<FaultKind>,
    /// When it was answered: milliseconds since the fake started (or was last reset).
    pub at_ms: u64,
    /// When it arrived, on the same clock (before its body was read and it was processed: what
    /// a rate window counts).
    pub arrived_ms: u64,
}

/// A snapshot of everything the fake knows; also served as JSON by `GET /_fake/state`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FakeState {
    /// Records by object type (`contacts`, `companies`, `p_cars`, …), then by id.
    pub objects: BTreeMap<String, BTreeMap<String, StoredObject>>,
    /// Property definitions by object type.
    pub properties: BTreeMap<String, Vec<PropertyDefinition>>,
    /// Stored associations.
    pub associations: Vec<Association>,
    /// Lists with their members, deleted ones included.
    pub lists: Vec<ObjectList>,
    /// Email campaigns.
    pub email_campaigns: Vec<EmailCampaign>,
    /// Email events, oldest first.
    pub email_events: Vec<EmailEvent>,
    /// The subscription timeline, oldest first.
    pub subscription_timeline: Vec<TimelineItem>,
    /// Forms.
    pub forms: Vec<Form>,
    /// Submissions by form id, oldest first.
    pub form_submissions: BTreeMap<String, Vec<FormSubmission>>,
    /// Recorded custom behavioral events, in arrival order (uuid duplicates excluded): what
    /// HubSpot would hold.
    pub events: Vec<RecordedEvent>,
    /// Every custom behavioral event accepted, in arrival order, uuid repeats included: what
    /// the client sent, retries and all.
    pub event_receipts: Vec<RecordedEvent>,
    /// Events accepted but not recorded because their uuid was already received.
    pub duplicate_events: u64,
    /// Request counts by endpoint (`POST /crm/v3/objects/contacts/batch/upsert`,
    /// `GET /crm/v3/objects/contacts/{id}`, …), then by status (0 = dropped connection).
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// All API requests seen (control endpoints under `/_fake` excluded).
    pub total_requests: u64,
    /// 429 answers given.
    pub rate_limited: u64,
    /// Most requests one token had in one rolling window.
    pub max_requests_in_window: u64,
    /// Successful OAuth refreshes.
    pub token_refreshes: u64,
    /// Requests a fault rule applied to.
    pub faults_injected: u64,
    /// The most recent requests, oldest first (capped; see `request_log_dropped`).
    pub request_log: Vec<RequestLogEntry>,
    /// Log entries discarded because of the cap.
    pub request_log_dropped: u64,
}

/// The request counters alone, served by `GET /_fake/stats`: cheap to read at any portal size
/// (`/_fake/state` serializes every record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FakeStats {
    /// As [`FakeState::requests`].
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// As [`FakeState::total_requests`].
    pub total_requests: u64,
    /// As [`FakeState::rate_limited`].
    pub rate_limited: u64,
    /// As [`FakeState::max_requests_in_window`].
    pub max_requests_in_window: u64,
}

impl FakeState {
    /// The records of one object type (aliases like `contact` or `0-1` accepted).
    pub fn objects_of(&self, object_type: &str) -> Vec<&StoredObject> {
        self.objects
            .get(&canonical_type(object_type))
            .map(|m| m.values().collect())
            .unwrap_or_default()
    }

    /// All contacts.
    pub fn contacts(&self) -> Vec<&StoredObject> {
        self.objects_of("contacts")
    }

    /// All companies.
    pub fn companies(&self) -> Vec<&StoredObject> {
        self.objects_of("companies")
    }

    /// The first record of a type whose `property` equals `value`.
    pub fn find(&self, object_type: &str, property: &str, value: &str) -> Option<&StoredObject> {
        self.objects_of(object_type)
            .into_iter()
            .find(|o| o.properties.get(property).map(String::as_str) == Some(value))
    }

    /// Requests to an endpoint key (see [`FakeState::requests`]), any status.
    pub fn requests_to(&self, endpoint: &str) -> u64 {
        self.requests
            .get(endpoint)
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// Requests to an endpoint key answered with `status`.
    pub fn requests_with_status(&self, endpoint: &str, status: u16) -> u64 {
        self.requests
            .get(endpoint)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }
}

/// The stats key of a request: method plus path with record ids and tokens replaced by
/// placeholders and object type aliases canonicalized.
pub(crate) fn endpoint_key(method: &Method, path: &str) -> String {
    let mut segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(String::from)
        .collect();
    let view: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut replace: Vec<(usize, String)> = Vec::new();
    match view.as_slice() {
        ["crm", "v3", "objects" | "properties", ty, rest @ ..] => {
            replace.push((3, canonical_type(ty)));
            if view[2] == "objects" && rest.len() == 1 && !matches!(rest[0], "search" | "merge") {
                replace.push((4, "{id}".into()));
            }
        }
        ["crm", "v3", "pipelines", ty] => replace.push((3, canonical_type(ty))),
        ["email", "public", "v1", "campaigns", id] if *id != "by-id" => {
            replace.push((4, "{campaignId}".into()));
        }
        ["form-integrations", "v1", "submissions", "forms", _] => {
            replace.push((4, "{formGuid}".into()));
        }
        ["crm", "v3", "lists", id, ..] if *id != "search" => replace.push((3, "{listId}".into())),
        ["crm", "v4", "objects", from, _, "associations", to] => {
            replace.push((3, canonical_type(from)));
            replace.push((4, "{id}".into()));
            replace.push((6, canonical_type(to)));
        }
        ["crm", "v4", "associations", from, to, ..] => {
            replace.push((3, canonical_type(from)));
            replace.push((4, canonical_type(to)));
        }
        ["oauth", "v1", "access-tokens", _] => replace.push((3, "{token}".into())),
        _ => {}
    }
    for (i, value) in replace {
        segments[i] = value;
    }
    format!("{method} /{}", segments.join("/"))
}

#[derive(Debug, Default)]
struct Stats {
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
    total: u64,
    log: VecDeque<RequestLogEntry>,
    log_dropped: u64,
    faults_injected: u64,
    token_refreshes: u64,
}

/// Everything mutable.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: FakeConfig,
    pub(crate) store: Store,
    pub(crate) limiter: Limiter,
    pub(crate) events: EventLog,
    pub(crate) lists: Lists,
    pub(crate) marketing: Marketing,
    /// What the configured generated portal holds.
    pub(crate) generated: Option<Generated>,
    pub(crate) faults: Faults,
    /// Tokens issued by OAuth refresh; they survive resets so a running client keeps working.
    issued: Vec<AccessToken>,
    issued_count: u64,
    stats: Stats,
    started: Instant,
}

impl Inner {
    fn new(config: FakeConfig) -> Self {
        let mut store = Store::new(&config);
        let mut lists = Lists::default();
        let mut marketing = Marketing::default();
        let generated = config
            .generated
            .as_ref()
            .map(|spec| generate::generate(spec, &mut store, &mut lists, &mut marketing));
        Self {
            store,
            config,
            limiter: Limiter::default(),
            events: EventLog::default(),
            lists,
            marketing,
            generated,
            faults: Faults::default(),
            issued: Vec::new(),
            issued_count: 0,
            stats: Stats::default(),
            started: Instant::now(),
        }
    }

    /// Back to a fresh portal with the current configuration; issued OAuth tokens stay valid.
    pub(crate) fn reset(&mut self) {
        let issued = std::mem::take(&mut self.issued);
        let issued_count = self.issued_count;
        *self = Self::new(self.config.clone());
        self.issued = issued;
        self.issued_count = issued_count;
    }

    /// Re-applies configuration that lives in other parts after the config changed.
    pub(crate) fn config_changed(&mut self) {
        self.store.search_lag = self.config.search_lag;
    }

    /// Every accepted token: configured ones, then issued ones.
    pub(crate) fn tokens(&self) -> impl Iterator<Item = &AccessToken> {
        self.config.tokens.iter().chain(&self.issued)
    }

    /// Issues a new access token from the OAuth app's lifetime.
    pub(crate) fn issue_token(&mut self) -> AccessToken {
        self.issued_count += 1;
        let lifetime = self
            .config
            .oauth
            .as_ref()
            .map(|o| o.access_token_lifetime)
            .unwrap_or_default();
        let token = AccessToken::new(format!("fake-oauth-access-{}", self.issued_count))
            .expiring_in(lifetime);
        self.issued.push(token.clone());
        self.stats.token_refreshes += 1;
        token
    }

    pub(crate) fn count_fault(&mut self) {
        self.stats.faults_injected += 1;
    }

    /// Milliseconds since the fake started (or was last reset), the request log's clock.
    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a finished request that arrived at `arrived_ms` and appends it to the capped log.
    pub(crate) fn record_request(
        &mut self,
        method: &Method,
        path: &str,
        status: u16,
        batch_size: Option<usize>,
        fault: Option<FaultKind>,
        arrived_ms: u64,
    ) {
        let at_ms = self.elapsed_ms();
        let stats = &mut self.stats;
        stats.total += 1;
        *stats
            .requests
            .entry(endpoint_key(method, path))
            .or_default()
            .entry(status)
            .or_default() += 1;
        stats.log.push_back(RequestLogEntry {
            method: method.to_string(),
            path: path.to_string(),
            status,
            batch_size,
            fault,
            at_ms,
            arrived_ms,
        });
        while stats.log.len() > self.config.request_log_cap {
            stats.log.pop_front();
            stats.log_dropped += 1;
        }
    }

    pub(crate) fn stats(&self) -> FakeStats {
        FakeStats {
            requests: self.stats.requests.clone(),
            total_requests: self.stats.total,
            rate_limited: self.limiter.rate_limited,
            max_requests_in_window: self.limiter.max_in_window,
        }
    }

    pub(crate) fn snapshot(&self) -> FakeState {
        FakeState {
            objects: self.store.objects(),
            properties: self.store.all_properties(),
            associations: self.store.all_associations(),
            lists: self.lists.all(),
            email_campaigns: self.marketing.campaigns(),
            email_events: self.marketing.all_events(),
            subscription_timeline: self.marketing.all_timeline(),
            forms: self.marketing.forms(),
            form_submissions: self.marketing.all_submissions(),
            events: self.events.events.clone(),
            event_receipts: self.events.receipts.clone(),
            duplicate_events: self.events.duplicates,
            requests: self.stats.requests.clone(),
            total_requests: self.stats.total,
            rate_limited: self.limiter.rate_limited,
            max_requests_in_window: self.limiter.max_in_window,
            token_refreshes: self.stats.token_refreshes,
            faults_injected: self.stats.faults_injected,
            request_log: self.stats.log.iter().cloned().collect(),
            request_log_dropped: self.stats.log_dropped,
        }
    }
}

/// The state shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    pub(crate) fn new(config: FakeConfig) -> Self {
        Self {
            inner: Mutex::new(Inner::new(config)),
        }
    }

    /// Locks the state. A handler that panicked mid-update cannot leave the fake unusable for
    /// the rest of a test run, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_hide_ids() {
        let key = |m: Method, p: &str| endpoint_key(&m, p);
        assert_eq!(
            key(Method::GET, "/crm/v3/objects/0-1/123"),
            "GET /crm/v3/objects/contacts/{id}"
        );
        assert_eq!(
            key(Method::POST, "/crm/v3/objects/contacts/search"),
            "POST /crm/v3/objects/contacts/search"
        );
        assert_eq!(
            key(Method::GET, "/crm/v3/lists/12/memberships"),
            "GET /crm/v3/lists/{listId}/memberships"
        );
        assert_eq!(
            key(Method::POST, "/crm/v3/objects/0-2/merge"),
            "POST /crm/v3/objects/companies/merge"
        );
        assert_eq!(
            key(Method::GET, "/crm/v4/objects/contact/1/associations/0-2"),
            "GET /crm/v4/objects/contacts/{id}/associations/companies"
        );
    }
}
