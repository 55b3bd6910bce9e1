//! The delivery loop: lease jobs, map them, batch per portal and endpoint, send, and settle each
//! job with its outcome. Decisions come from `policy`; pacing from `limiter`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hubspot_core::mapping::find_email;
use hubspot_core::{Event, EventType};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::limiter::SlidingWindow;
use super::policy::{Decision, RetryConfig, decide};
use crate::client::{ApiError, BatchResult, ErrorKind, HubSpotClient};
use crate::mapping::{Dropped, MappingConfig, PropertyDefinition, conform, map_message};
use crate::ops::{BehavioralEvent, Endpoint, Operation, Upsert};
use crate::queue::{Job, JobId, Outcome, Queue};

/// One HubSpot portal the engine delivers to.
pub struct Portal {
    /// Name used in jobs and config.
    pub name: String,
    /// Its API client.
    pub client: Arc<HubSpotClient>,
    /// Its mapping settings.
    pub mapping: MappingConfig,
    /// Requests allowed per `rate_interval` (HubSpot: 100 free/starter, 190 pro/enterprise).
    pub rate_max: usize,
    /// The rate window (HubSpot: 10 s).
    pub rate_interval: Duration,
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Retries.
    pub retry: RetryConfig,
    /// Jobs leased per round.
    pub lease_size: usize,
    /// How long property definitions are cached.
    pub definitions_ttl: Duration,
    /// Added to the rate window to absorb clock and network jitter.
    pub rate_margin: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            retry: RetryConfig::default(),
            lease_size: 2000,
            definitions_ttl: Duration::from_secs(300),
            rate_margin: Duration::from_millis(250),
        }
    }
}

/// What happened to one message, reported once, when it is final.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// Delivered; `dropped` lists properties left out (unknown to the portal, wrong type).
    Delivered {
        /// Job id.
        job: JobId,
        /// Properties left out.
        dropped: Vec<Dropped>,
        /// Milliseconds from the message's `receivedAt` (set by the relay) to delivery.
        latency_ms: Option<u64>,
    },
    /// Dead-lettered with a reason.
    Dead {
        /// Job id.
        job: JobId,
        /// Why.
        reason: String,
    },
}

/// How many `userId` → email pairs the engine remembers for group associations.
const MAX_KNOWN_USERS: usize = 100_000;

/// HubSpot's limit on inputs per CRM batch call (upsert, read, associate).
const BATCH_INPUTS: usize = 100;

/// HubSpot's limit on events per `/events/v3/send/batch` call.
const BATCH_EVENTS: usize = 500;

/// A per-name cache of definitions with the time each was fetched.
type Cache<T> = Mutex<HashMap<String, (Instant, T)>>;

struct PortalState {
    portal: Portal,
    window: Mutex<SlidingWindow>,
    definitions: Cache<Vec<PropertyDefinition>>,
    /// Custom event name → its property names (`None`: the portal has no such event).
    event_definitions: Cache<Option<Vec<String>>>,
    /// `userId` → email from identifies, so a group can associate the user's contact.
    user_emails: Mutex<HashMap<String, String>>,
    group_property_ready: Mutex<bool>,
    paused_until_ms: Mutex<Option<u64>>,
    stopped: Mutex<Option<String>>,
}

/// The delivery engine.
pub struct Engine<Q: Queue + ?Sized> {
    queue: Arc<Q>,
    portals: HashMap<String, PortalState>,
    config: EngineConfig,
    reports: Mutex<Vec<Report>>,
    stats: EngineStats,
}

/// Running totals for metrics.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Messages scheduled for another attempt.
    pub retried: std::sync::atomic::AtomicU64,
    /// 429 answers received.
    pub rate_limited: std::sync::atomic::AtomicU64,
}

/// Wall-clock epoch ms (the queue's time base).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `receivedAt` (ISO-8601, set by the relay when it accepted the message) as epoch ms.
fn received_at_ms(event: &Event) -> Option<u64> {
    let at = event.extra.get("receivedAt")?.as_str()?;
    hubspot_core::date::parse_iso_date_ms(at).map(|ms| ms as u64)
}

/// The ordering key for a message: its contact's email when it has one (so a contact's
/// identifies and events stay in order), else its group, else the message itself.
pub fn ordering_key(event: &Event) -> String {
    let email = find_email(&event.traits, event.user_id.as_deref())
        .or_else(|| find_email(&event.properties, None))
        .or_else(|| find_email(&event.context_traits, None));
    match (email, &event.group_id, &event.message_id) {
        (Some((e, _)), _, _) if event.kind != EventType::Group => {
            format!("contact:{}", e.to_lowercase())
        }
        (_, Some(g), _) if event.kind == EventType::Group => format!("group:{g}"),
        (_, _, Some(m)) => format!("message:{m}"),
        _ => format!(
            "anonymous:{}",
            event
                .user_id
                .clone()
                .or_else(|| event.anonymous_id.clone())
                .unwrap_or_default()
        ),
    }
}

/// A job's operations, and which of them failed how.
struct Work {
    job: Job,
    dropped: Vec<Dropped>,
    failure: Option<(ErrorKind, String)>,
}

/// One input of a batch, merged from the operations of one or more jobs.
struct Input {
    id: String,
    properties: Map<String, Value>,
    jobs: Vec<usize>,
    /// Contacts to associate the record with, by email, each with the job that asked: jobs
    /// merged into one input (two users joining one company) keep every association.
    associate: Vec<(String, usize)>,
}

impl<Q: Queue + ?Sized> Engine<Q> {
    /// An engine over `queue` delivering to `portals`.
    pub fn new(queue: Arc<Q>, portals: Vec<Portal>, config: EngineConfig) -> Engine<Q> {
        let portals = portals
            .into_iter()
            .map(|p| {
                let window = SlidingWindow::new(p.rate_max, p.rate_interval, config.rate_margin);
                (
                    p.name.clone(),
                    PortalState {
                        portal: p,
                        window: Mutex::new(window),
                        definitions: Mutex::new(HashMap::new()),
                        event_definitions: Mutex::new(HashMap::new()),
                        user_emails: Mutex::new(HashMap::new()),
                        group_property_ready: Mutex::new(false),
                        paused_until_ms: Mutex::new(None),
                        stopped: Mutex::new(None),
                    },
                )
            })
            .collect();
        Engine {
            queue,
            portals,
            config,
            reports: Mutex::new(Vec::new()),
            stats: EngineStats::default(),
        }
    }

    /// Enqueues Segment messages for a portal (each with its ordering key).
    pub async fn enqueue(
        &self,
        portal: &str,
        messages: Vec<Event>,
    ) -> Result<Vec<JobId>, crate::queue::QueueError> {
        let items = messages
            .into_iter()
            .map(|m| (ordering_key(&m), m))
            .collect();
        self.queue.enqueue(portal, items).await
    }

    /// Jobs one round leases at most.
    pub fn lease_size(&self) -> usize {
        self.config.lease_size
    }

    /// Running totals (retries, 429s).
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Final outcomes reported so far (taken: each is returned once).
    pub async fn take_reports(&self) -> Vec<Report> {
        std::mem::take(&mut *self.reports.lock().await)
    }

    /// The reason a portal's delivery is stopped (an unusable token), if it is.
    pub async fn stopped(&self, portal: &str) -> Option<String> {
        let p = self.portals.get(portal)?;
        p.stopped.lock().await.clone()
    }

    /// Until when a portal is paused by a DAILY limit, if it is.
    pub async fn paused_until(&self, portal: &str) -> Option<u64> {
        let p = self.portals.get(portal)?;
        *p.paused_until_ms.lock().await
    }

    /// Runs rounds until the queue is empty, or only holds jobs that are not due before
    /// `deadline` (paused portals, long backoffs). Returns the jobs still queued.
    pub async fn run_until_idle(
        &self,
        deadline: Duration,
    ) -> Result<usize, crate::queue::QueueError> {
        let end = Instant::now() + deadline;
        loop {
            let worked = self.run_once().await?;
            let depth = self.queue.depth().await?;
            if depth == 0 || Instant::now() >= end {
                return Ok(depth);
            }
            if worked == 0 {
                let due = self.next_due_ms().await?.unwrap_or(u64::MAX);
                let wait = Duration::from_millis(due.saturating_sub(now_ms()));
                if Instant::now() + wait >= end {
                    return Ok(depth);
                }
                tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
            }
        }
    }

    /// The earliest time a waiting job of a configured portal becomes due, if any waits.
    pub async fn next_due_ms(&self) -> Result<Option<u64>, crate::queue::QueueError> {
        let mut earliest = None;
        for name in self.portals.keys() {
            if let Some(due) = self.queue.next_due_ms(name).await? {
                earliest = Some(earliest.map_or(due, |e: u64| e.min(due)));
            }
        }
        Ok(earliest)
    }

    /// One round: for each configured portal in turn, lease its due jobs, deliver, settle.
    /// Returns the number of jobs leased.
    pub async fn run_once(&self) -> Result<usize, crate::queue::QueueError> {
        let mut leased = 0;
        for (name, p) in &self.portals {
            let jobs = self
                .queue
                .lease(name, now_ms(), self.config.lease_size)
                .await?;
            if jobs.is_empty() {
                continue;
            }
            leased += jobs.len();
            let outcomes = self.deliver(p, jobs).await;
            self.queue.settle(outcomes).await?;
        }
        Ok(leased)
    }

    async fn deliver(&self, p: &PortalState, jobs: Vec<Job>) -> Vec<(JobId, Outcome)> {
        let now = now_ms();
        // A stopped or paused portal keeps its messages without spending attempts.
        let hold = match (
            p.stopped.lock().await.clone(),
            *p.paused_until_ms.lock().await,
        ) {
            (Some(_), _) => Some(now + 60_000),
            (None, Some(until)) if until > now => Some(until),
            _ => None,
        };
        if let Some(until) = hold {
            return jobs
                .into_iter()
                .map(|j| {
                    (
                        j.id,
                        Outcome::Retry {
                            not_before_ms: until,
                            error: "portal paused".into(),
                            count_attempt: false,
                        },
                    )
                })
                .collect();
        }
        let mut work: Vec<Work> = Vec::with_capacity(jobs.len());
        let mut ops: Vec<(usize, Operation)> = Vec::new();
        for job in jobs {
            let i = work.len();
            match map_message(&job.message, &p.portal.mapping) {
                Ok(mapped) => {
                    if job.message.kind == EventType::Identify {
                        if let (Some(uid), Some(Operation::UpsertContact(u))) =
                            (&job.message.user_id, mapped.first())
                        {
                            let mut known = p.user_emails.lock().await;
                            // Bounded: a long-running relay sees unboundedly many users. An
                            // evicted user's group falls back to traits.email.
                            if known.len() >= MAX_KNOWN_USERS && !known.contains_key(uid) {
                                if let Some(evict) = known.keys().next().cloned() {
                                    known.remove(&evict);
                                }
                            }
                            known.insert(uid.clone(), u.id.clone());
                        }
                    }
                    ops.extend(mapped.into_iter().map(|op| (i, op)));
                    work.push(Work {
                        job,
                        dropped: Vec::new(),
                        failure: None,
                    });
                }
                Err(rejection) => {
                    work.push(Work {
                        job,
                        dropped: Vec::new(),
                        failure: Some((ErrorKind::Validation, rejection.to_string())),
                    });
                }
            }
        }
        // Contacts first (events and associations refer to them), then other objects, events last.
        let mut groups: BTreeMap<(u8, Endpoint), Vec<(usize, Operation)>> = BTreeMap::new();
        for (i, op) in ops {
            let rank = match &op {
                Operation::UpsertContact(_) => 0,
                Operation::UpsertCompany { .. } | Operation::UpsertObject { .. } => 1,
                Operation::SendEvent(_) => 2,
            };
            groups
                .entry((rank, op.endpoint()))
                .or_default()
                .push((i, op));
        }
        for ((_, endpoint), ops) in groups {
            match endpoint {
                Endpoint::EventsBatch => self.send_events(p, ops, &mut work).await,
                Endpoint::BatchUpsert {
                    object_type,
                    id_property,
                } => {
                    self.upsert(p, &object_type, &id_property, ops, &mut work)
                        .await
                }
            }
        }
        let mut reports = Vec::new();
        let outcomes = work
            .into_iter()
            .map(|w| {
                let outcome = match w.failure {
                    None => Outcome::Delivered,
                    Some((kind, message)) => self.outcome(p, &kind, &message, w.job.attempts, now),
                };
                match &outcome {
                    Outcome::Delivered => reports.push(Report::Delivered {
                        job: w.job.id,
                        latency_ms: received_at_ms(&w.job.message)
                            .map(|at| now_ms().saturating_sub(at)),
                        dropped: w.dropped,
                    }),
                    Outcome::Dead { reason } => reports.push(Report::Dead {
                        job: w.job.id,
                        reason: reason.clone(),
                    }),
                    Outcome::Retry { .. } => {
                        self.stats
                            .retried
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                (w.job.id, outcome)
            })
            .collect();
        self.reports.lock().await.extend(reports);
        outcomes
    }

    fn outcome(
        &self,
        p: &PortalState,
        kind: &ErrorKind,
        message: &str,
        attempts: u32,
        now: u64,
    ) -> Outcome {
        match decide(
            kind,
            message,
            attempts,
            &self.config.retry,
            now,
            rand::random::<f64>(),
        ) {
            Decision::Retry { after, count } => {
                tracing::debug!(portal = %p.portal.name, attempts, ?after, error = message, "will retry");
                Outcome::Retry {
                    not_before_ms: now + after.as_millis() as u64,
                    error: message.to_owned(),
                    count_attempt: count,
                }
            }
            Decision::Dead(reason) => Outcome::Dead { reason },
            Decision::PausePortal { until_ms } => {
                self.stats
                    .rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut paused) = p.paused_until_ms.try_lock() {
                    *paused = Some(until_ms);
                }
                tracing::warn!(portal = %p.portal.name, until_ms, "HubSpot daily limit reached: portal paused");
                Outcome::Retry {
                    not_before_ms: until_ms,
                    error: message.to_owned(),
                    count_attempt: false,
                }
            }
            Decision::StopPortal(reason) => {
                if let Ok(mut stopped) = p.stopped.try_lock() {
                    if stopped.is_none() {
                        tracing::error!(portal = %p.portal.name, %reason, "portal delivery stopped: fix the token and restart");
                    }
                    *stopped = Some(reason.clone());
                }
                Outcome::Retry {
                    not_before_ms: now + 60_000,
                    error: reason,
                    count_attempt: false,
                }
            }
        }
    }

    /// Waits for the portal's rate window, then records the send.
    async fn pace(&self, p: &PortalState) {
        loop {
            let wait = p.window.lock().await.wait(now_ms());
            if wait.is_zero() {
                p.window.lock().await.record(now_ms());
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends a call, waiting out ten-secondly/secondly 429s without counting attempts.
    async fn send<T, F, Fut>(&self, p: &PortalState, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        loop {
            self.pace(p).await;
            match call().await {
                Err(ApiError {
                    kind: ErrorKind::Throttled { policy, wait },
                    ..
                }) if policy != crate::client::RatePolicy::Daily => {
                    self.stats
                        .rate_limited
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(portal = %p.portal.name, ?wait, "429: waiting for the window");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn definitions(
        &self,
        p: &PortalState,
        object_type: &str,
    ) -> Result<Vec<PropertyDefinition>, ApiError> {
        if let Some((at, defs)) = p.definitions.lock().await.get(object_type) {
            if at.elapsed() < self.config.definitions_ttl {
                return Ok(defs.clone());
            }
        }
        let client = p.portal.client.clone();
        let defs = self.send(p, || client.properties(object_type)).await?;
        p.definitions
            .lock()
            .await
            .insert(object_type.to_owned(), (Instant::now(), defs.clone()));
        Ok(defs)
    }

    /// The `segment_group_id` company property, created once per portal (409 means it exists).
    async fn ensure_group_property(&self, p: &PortalState) -> Result<(), ApiError> {
        if *p.group_property_ready.lock().await {
            return Ok(());
        }
        let def = json!({
            "name": crate::mapping::GROUP_ID_PROPERTY, "label": "Segment group id", "type": "string", "fieldType": "text",
            "groupName": "companyinformation", "hasUniqueValue": true, "hidden": true
        });
        let client = p.portal.client.clone();
        self.send(p, || client.create_property("companies", &def))
            .await?;
        p.definitions.lock().await.remove("companies");
        *p.group_property_ready.lock().await = true;
        Ok(())
    }

    async fn upsert(
        &self,
        p: &PortalState,
        object_type: &str,
        id_property: &str,
        ops: Vec<(usize, Operation)>,
        work: &mut [Work],
    ) {
        if object_type == "companies" && id_property == crate::mapping::GROUP_ID_PROPERTY {
            if let Err(e) = self.ensure_group_property(p).await {
                return fail_all(ops.iter().map(|(i, _)| *i), &e, work);
            }
        }
        // Merge operations on the same record: later messages win per property.
        let mut inputs: Vec<Input> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, op) in ops {
            let (upsert, associate_email) = match op {
                Operation::UpsertContact(u) => (u, None),
                Operation::UpsertCompany {
                    upsert,
                    associate_contact_email,
                } => {
                    let by_user = match work[i].job.message.user_id.as_ref() {
                        Some(uid) => p.user_emails.lock().await.get(uid).cloned(),
                        None => None,
                    };
                    (upsert, by_user.or(associate_contact_email))
                }
                Operation::UpsertObject {
                    upsert,
                    associate_contact_email,
                } => (upsert, associate_contact_email),
                Operation::SendEvent(_) => continue,
            };
            let Upsert { id, properties, .. } = upsert;
            let key = id.to_lowercase();
            match index.get(&key) {
                Some(&at) => {
                    let input = &mut inputs[at];
                    input.properties.extend(properties);
                    input.jobs.push(i);
                    input.associate.extend(associate_email.map(|e| (e, i)));
                }
                None => {
                    index.insert(key, inputs.len());
                    inputs.push(Input {
                        id,
                        properties,
                        jobs: vec![i],
                        associate: associate_email.map(|e| (e, i)).into_iter().collect(),
                    });
                }
            }
        }
        let defs = match self.definitions(p, object_type).await {
            Ok(d) => d,
            Err(e) => return fail_all(inputs.iter().flat_map(|x| x.jobs.clone()), &e, work),
        };
        for input in &mut inputs {
            let (conformed, dropped) = conform(&input.properties, &defs);
            input.properties = conformed;
            for &j in &input.jobs {
                work[j].dropped.extend(dropped.iter().cloned());
            }
        }
        let mut ids: HashMap<usize, String> = HashMap::new();
        for chunk in inputs.chunks(BATCH_INPUTS) {
            let results = self.upsert_chunk(p, object_type, id_property, chunk).await;
            for (k, result) in results {
                match result {
                    Ok(record_id) => {
                        ids.insert(k, record_id);
                    }
                    Err(e) => fail_all(chunk[k].jobs.iter().copied(), &e, work),
                }
            }
            self.fix_lifecycle(p, object_type, chunk, &ids).await;
            self.associate(p, object_type, chunk, &ids, work).await;
            ids.clear();
        }
    }

    /// Upserts up to 100 inputs; returns, per input index, the record id or the error. A 400 or
    /// 409 for several inputs is bisected so one bad input fails alone.
    async fn upsert_chunk(
        &self,
        p: &PortalState,
        object_type: &str,
        id_property: &str,
        chunk: &[Input],
    ) -> Vec<(usize, Result<String, ApiError>)> {
        let mut pending: Vec<Vec<usize>> = vec![(0..chunk.len()).collect()];
        let mut out = Vec::with_capacity(chunk.len());
        while let Some(part) = pending.pop() {
            let body: Vec<Value> = part
                .iter()
                .map(|&k| json!({ "id": chunk[k].id, "idProperty": id_property, "properties": chunk[k].properties, "objectWriteTraceId": k.to_string() }))
                .collect();
            let client = p.portal.client.clone();
            match self
                .send(p, || client.batch_upsert(object_type, body.clone()))
                .await
            {
                Ok(result) => out.extend(match_results(&part, chunk, id_property, &result)),
                Err(e)
                    if part.len() > 1
                        && matches!(e.kind, ErrorKind::Validation | ErrorKind::Conflict { .. }) =>
                {
                    let (a, b) = part.split_at(part.len() / 2);
                    pending.push(b.to_vec());
                    pending.push(a.to_vec());
                }
                Err(e) => out.extend(part.iter().map(|&k| (k, Err(e.clone())))),
            }
        }
        self.resolve_conflicts(p, object_type, chunk, out).await
    }

    /// Inputs that hit a 409 naming the existing record (their unique value is taken, e.g. by a
    /// secondary email) are written to that record by id, all in one batch update. HubSpot
    /// reports such conflicts for a whole request or per input in a 207.
    async fn resolve_conflicts(
        &self,
        p: &PortalState,
        object_type: &str,
        chunk: &[Input],
        mut out: Vec<(usize, Result<String, ApiError>)>,
    ) -> Vec<(usize, Result<String, ApiError>)> {
        let conflicts: Vec<(usize, String)> = out
            .iter()
            .filter_map(|(k, r)| match r {
                Err(ApiError {
                    kind:
                        ErrorKind::Conflict {
                            existing_id: Some(id),
                        },
                    ..
                }) => Some((*k, id.clone())),
                _ => None,
            })
            .collect();
        if conflicts.is_empty() {
            return out;
        }
        let updates: Vec<Value> = conflicts
            .iter()
            .map(|(k, id)| json!({ "id": id, "properties": chunk[*k].properties }))
            .collect();
        let client = p.portal.client.clone();
        let result = self
            .send(p, || client.batch_update(object_type, updates.clone()))
            .await;
        for (k, id) in conflicts {
            let resolved = match &result {
                Ok(r) => match r.errors.iter().find(|e| e.ids.contains(&id)) {
                    None => Ok(id),
                    Some(e) => Err(ApiError {
                        kind: ErrorKind::Validation,
                        status: e.status,
                        message: e.message.clone(),
                        category: e.category.clone(),
                    }),
                },
                Err(e) => Err(e.clone()),
            };
            if let Some(slot) = out.iter_mut().find(|(kk, _)| *kk == k) {
                slot.1 = resolved;
            }
        }
        out
    }

    /// HubSpot ignores a lifecycle stage that moves backwards: where the stored stage differs
    /// from the one sent, clear it and set it again, for the whole chunk in two calls.
    async fn fix_lifecycle(
        &self,
        p: &PortalState,
        object_type: &str,
        chunk: &[Input],
        ids: &HashMap<usize, String>,
    ) {
        let wanted: Vec<(String, Value)> = ids
            .iter()
            .filter_map(|(k, id)| {
                Some((
                    id.clone(),
                    chunk[*k].properties.get("lifecyclestage")?.clone(),
                ))
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        let client = p.portal.client.clone();
        let record_ids: Vec<String> = wanted.iter().map(|(id, _)| id.clone()).collect();
        let Ok(read) = self
            .send(p, || {
                client.batch_read(
                    object_type,
                    "hs_object_id",
                    &record_ids,
                    &["lifecyclestage"],
                )
            })
            .await
        else {
            return;
        };
        let stale: Vec<&(String, Value)> = wanted
            .iter()
            .filter(|(id, want)| {
                read.results.iter().any(|r| {
                    r["id"].as_str() == Some(id) && r["properties"]["lifecyclestage"] != *want
                })
            })
            .collect();
        if stale.is_empty() {
            return;
        }
        for value in [None, Some(())] {
            let inputs: Vec<Value> = stale
                .iter()
                .map(|(id, want)| json!({ "id": id, "properties": { "lifecyclestage": if value.is_some() { (*want).clone() } else { json!("") } } }))
                .collect();
            let client = p.portal.client.clone();
            if let Err(e) = self
                .send(p, || client.batch_update(object_type, inputs.clone()))
                .await
            {
                tracing::warn!(portal = %p.portal.name, error = %e, "could not move lifecycle stages backwards");
                return;
            }
        }
    }

    /// Associates upserted records with their contacts (looked up by email in one read).
    async fn associate(
        &self,
        p: &PortalState,
        object_type: &str,
        chunk: &[Input],
        ids: &HashMap<usize, String>,
        work: &mut [Work],
    ) {
        // (job, record id, contact email), in HubSpot-sized batches.
        let wanted: Vec<(usize, String, String)> = ids
            .iter()
            .flat_map(|(k, id)| {
                chunk[*k]
                    .associate
                    .iter()
                    .map(move |(email, job)| (*job, id.clone(), email.clone()))
            })
            .collect();
        for batch in wanted.chunks(BATCH_INPUTS) {
            self.associate_batch(p, object_type, batch, work).await;
        }
    }

    async fn associate_batch(
        &self,
        p: &PortalState,
        object_type: &str,
        wanted: &[(usize, String, String)],
        work: &mut [Work],
    ) {
        let mut emails: Vec<String> = wanted.iter().map(|(_, _, e)| e.to_lowercase()).collect();
        emails.sort();
        emails.dedup();
        let client = p.portal.client.clone();
        let read = match self
            .send(p, || {
                client.batch_read("contacts", "email", &emails, &["email"])
            })
            .await
        {
            Ok(r) => r,
            Err(e) => return fail_all(wanted.iter().map(|(job, _, _)| *job), &e, work),
        };
        let contact_id = |email: &str| {
            read.results
                .iter()
                .find(|r| {
                    r["properties"]["email"]
                        .as_str()
                        .is_some_and(|e| e.eq_ignore_ascii_case(email))
                })
                .and_then(|r| r["id"].as_str().map(str::to_owned))
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut asked: Vec<usize> = Vec::new();
        for (job, record_id, email) in wanted {
            match contact_id(email) {
                Some(cid) => {
                    asked.push(*job);
                    let pair = (record_id.clone(), cid);
                    if !pairs.contains(&pair) {
                        pairs.push(pair);
                    }
                }
                None => {
                    // The contact may be on its way (an identify not delivered yet): retry.
                    let e = ApiError {
                        kind: ErrorKind::Transient,
                        status: None,
                        message: format!("no HubSpot contact with email {email} to associate yet"),
                        category: None,
                    };
                    fail_all([*job], &e, work);
                }
            }
        }
        if pairs.is_empty() {
            return;
        }
        let client = p.portal.client.clone();
        if let Err(e) = self
            .send(p, || client.associate(object_type, "contacts", &pairs))
            .await
        {
            fail_all(asked, &e, work);
        }
    }

    async fn event_definition(
        &self,
        p: &PortalState,
        name: &str,
    ) -> Result<Option<Vec<String>>, ApiError> {
        if let Some((at, def)) = p.event_definitions.lock().await.get(name) {
            if at.elapsed() < self.config.definitions_ttl {
                return Ok(def.clone());
            }
        }
        let client = p.portal.client.clone();
        let def = self.send(p, || client.event_definition(name)).await?;
        p.event_definitions
            .lock()
            .await
            .insert(name.to_owned(), (Instant::now(), def.clone()));
        Ok(def)
    }

    async fn send_events(&self, p: &PortalState, ops: Vec<(usize, Operation)>, work: &mut [Work]) {
        let mut events: Vec<(usize, BehavioralEvent)> = Vec::with_capacity(ops.len());
        for (i, op) in ops {
            let Operation::SendEvent(mut e) = op else {
                continue;
            };
            // An event HubSpot has no definition for would fail every batch it is in: settle it
            // here, and keep only the properties the definition has (the rest are reported).
            match self.event_definition(p, &e.event_name).await {
                Ok(Some(allowed)) => {
                    let unknown: Vec<String> = e
                        .properties
                        .keys()
                        .filter(|k| !allowed.contains(k))
                        .cloned()
                        .collect();
                    for name in unknown {
                        e.properties.remove(&name);
                        work[i].dropped.push(Dropped {
                            name,
                            reason: format!("not a property of event {}", e.event_name),
                        });
                    }
                    events.push((i, e));
                }
                Ok(None) => {
                    let message = format!(
                        "this portal has no custom behavioral event named {}: create its definition in HubSpot first",
                        e.event_name
                    );
                    fail_all(
                        [i],
                        &ApiError {
                            kind: ErrorKind::Validation,
                            status: None,
                            message,
                            category: None,
                        },
                        work,
                    );
                }
                Err(err) => fail_all([i], &err, work),
            }
        }
        for chunk in events.chunks(BATCH_EVENTS) {
            let mut pending: Vec<&[(usize, BehavioralEvent)]> = vec![chunk];
            while let Some(part) = pending.pop() {
                let body: Vec<Value> = part.iter().map(|(_, e)| e.to_json()).collect();
                let client = p.portal.client.clone();
                match self.send(p, || client.send_events(body.clone())).await {
                    Ok(()) => {}
                    Err(e) if part.len() > 1 && matches!(e.kind, ErrorKind::Validation) => {
                        let (a, b) = part.split_at(part.len() / 2);
                        pending.push(b);
                        pending.push(a);
                    }
                    Err(e) => fail_all(part.iter().map(|(i, _)| *i), &e, work),
                }
            }
        }
    }
}

/// Marks these jobs failed with `e` (keeping the first failure of a job).
fn fail_all(jobs: impl IntoIterator<Item = usize>, e: &ApiError, work: &mut [Work]) {
    for j in jobs {
        if work[j].failure.is_none() {
            work[j].failure = Some((e.kind.clone(), e.message.clone()));
        }
    }
}

/// The HTTP-like status of one failed batch input: HubSpot writes `"status": "error"` on items
/// and puts the meaning in `category`.
fn item_status(err: &crate::client::BatchError) -> u16 {
    err.status.unwrap_or(match err.category.as_deref() {
        Some("CONFLICT") => 409,
        Some("OBJECT_NOT_FOUND") => 404,
        Some("RATE_LIMITS") => 429,
        Some("MISSING_SCOPES" | "FORBIDDEN") => 403,
        _ => 400,
    })
}

/// Maps a batch answer back to its inputs by `objectWriteTraceId` (falling back to the id
/// property's value). A 2xx with neither results nor errors is a silent failure.
fn match_results(
    part: &[usize],
    chunk: &[Input],
    id_property: &str,
    result: &BatchResult,
) -> Vec<(usize, Result<String, ApiError>)> {
    if result.results.is_empty() && result.errors.is_empty() {
        let e = ApiError {
            kind: ErrorKind::Transient,
            status: Some(result.status),
            message: "HubSpot answered the batch with no results and no errors".into(),
            category: None,
        };
        return part.iter().map(|&k| (k, Err(e.clone()))).collect();
    }
    part.iter()
        .map(|&k| {
            let trace = k.to_string();
            let input = &chunk[k];
            if let Some(err) = result.errors.iter().find(|e| {
                e.trace_ids.contains(&trace)
                    || e.ids.iter().any(|id| id.eq_ignore_ascii_case(&input.id))
            }) {
                let kind = crate::client::error::classify(
                    item_status(err),
                    &json!({ "message": err.message, "category": err.category }).to_string(),
                    None,
                )
                .kind;
                return (
                    k,
                    Err(ApiError {
                        kind,
                        status: err.status,
                        message: err.message.clone(),
                        category: err.category.clone(),
                    }),
                );
            }
            let found = result.results.iter().find(|r| {
                r["objectWriteTraceId"].as_str() == Some(&trace)
                    || r["properties"][id_property]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case(&input.id))
            });
            match found.and_then(|r| r["id"].as_str()) {
                Some(id) => (k, Ok(id.to_owned())),
                None => (
                    k,
                    Err(ApiError {
                        kind: ErrorKind::Transient,
                        status: Some(result.status),
                        message: format!("HubSpot's answer did not include {}", input.id),
                        category: None,
                    }),
                ),
            }
        })
        .collect()
}
