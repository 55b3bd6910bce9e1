//! The delivery engine: one task per portal, each looping lease → map → batch (merge per
//! record, chunk, bisect a refused batch) → pace → settle. What HubSpot needs around a write
//! comes from `steps`; what to do after a failure from `policy`; when a request may go from
//! the portal's `Pacer`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hubspot_core::Event;
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::breaker::BreakerConfig;
use super::limiter::{SharedWindow, SlidingWindow};
use super::pacer::{CallError, Pacer};
use super::policy::{Decision, Failure, RetryConfig, decide};
use crate::client::{
    ApiError, ErrorKind, HubSpotApi, MAX_BATCH_EVENTS, MAX_BATCH_INPUTS, UpsertInput,
};
use crate::clock::Clock;
use crate::mapping::AudienceMode;
use crate::mapping::{Dropped, Identities, MappingConfig, conform, map_message_for, ordering_key};
use crate::ops::{BehavioralEvent, Endpoint, Membership, Operation, Upsert};
use crate::queue::{Job, JobId, Outcome, Queue, QueueError};
use crate::steps::audiences::Audiences;
use crate::steps::definitions::Definitions;
use crate::steps::keys::Keys;
use crate::steps::{Written, associations, conflicts, lifecycle};

/// HubSpot's contact property of secondary emails (`;`-separated).
const SECONDARY_EMAILS: &str = "hs_additional_emails";

/// How often an idle portal looks for work when nothing is due sooner.
const BLOCKED_POLL: Duration = Duration::from_millis(250);

/// One HubSpot portal the engine delivers to.
pub struct Portal {
    /// Name used in jobs and config.
    pub name: String,
    /// Its API (the HTTP client; an in-memory portal in tests).
    pub api: Arc<dyn HubSpotApi>,
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
    /// When a portal counts as down, and how it is probed.
    pub breaker: BreakerConfig,
    /// Jobs leased per round.
    pub lease_size: usize,
    /// How long property definitions are cached.
    pub definitions_ttl: Duration,
    /// Added to the rate window to absorb clock and network jitter.
    pub rate_margin: Duration,
    /// After a round that emptied a portal's queue, wait this long before the next, so live
    /// traffic travels in fuller batches.
    pub batch_wait: Duration,
    /// A portal whose delivery has made no progress (no round, no HubSpot answer) for this long
    /// is reported stuck.
    pub stuck_after: Duration,
    /// While a portal's delivery has work, the share (0..=1) of its rate window a sync through
    /// [`Engine::pacer`] may take (`[sync] max_share`).
    pub sync_share: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            lease_size: 2000,
            definitions_ttl: Duration::from_secs(300),
            rate_margin: Duration::from_millis(250),
            batch_wait: Duration::from_secs(1),
            stuck_after: Duration::from_secs(120),
            sync_share: 0.5,
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

/// Running totals for metrics.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Messages scheduled for another attempt.
    pub retried: AtomicU64,
    /// 429 answers received.
    pub rate_limited: Arc<AtomicU64>,
}

/// A portal's state as `/health` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct PortalHealth {
    /// Portal name.
    pub portal: String,
    /// What keeps it from delivering, if anything.
    pub problem: Option<String>,
}

struct PortalState {
    name: String,
    mapping: MappingConfig,
    pacer: Pacer,
    definitions: Definitions,
    keys: Keys,
    audiences: Audiences,
    identities: Mutex<Identities>,
    /// A DAILY 429: held until then.
    paused_until_ms: Mutex<Option<u64>>,
    /// The token was refused and cannot be refreshed: held until restarted with a good one.
    stopped: Mutex<Option<String>>,
    /// The last round's queue error, until a round succeeds.
    queue_error: Mutex<Option<String>>,
    /// When the portal's loop last went round (epoch ms; 0: it is not running).
    heartbeat_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The delivery engine.
pub struct Engine<Q: Queue + ?Sized> {
    queue: Arc<Q>,
    portals: Vec<Arc<PortalState>>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    reports: Mutex<Vec<Report>>,
    stats: EngineStats,
}

/// `receivedAt` (ISO-8601, set by the relay when it accepted the message) as epoch ms.
fn received_at_ms(event: &Event) -> Option<u64> {
    let at = event.extra.get("receivedAt")?.as_str()?;
    hubspot_core::date::parse_iso_date_ms(at).map(|ms| ms as u64)
}

/// Why a job has not been delivered (yet).
#[derive(Clone, Debug)]
enum Fail {
    /// HubSpot (or the mapping) refused it, or the call failed: `policy` decides.
    Error(ErrorKind, String),
    /// Not attempted: the portal's breaker is open until then.
    Held(u64),
}

impl From<CallError> for Fail {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Api(ApiError { kind, message, .. }) => Fail::Error(kind, message),
            CallError::Held { until_ms } => Fail::Held(until_ms),
        }
    }
}

/// A leased job, what was left out of it, and its first failure.
struct Work {
    job: Job,
    dropped: Vec<Dropped>,
    failure: Option<Fail>,
}

/// Marks these jobs failed (keeping each job's first failure).
fn fail_all(jobs: impl IntoIterator<Item = usize>, e: &CallError, work: &mut [Work]) {
    for j in jobs {
        if work[j].failure.is_none() {
            work[j].failure = Some(e.clone().into());
        }
    }
}

/// One contact's audience memberships, coalesced from the operations of one or more jobs.
struct Contact {
    /// Its identity's value.
    id: String,
    /// (property name or list id, member), the latest per target.
    changes: Vec<(String, bool)>,
    jobs: Vec<usize>,
}

/// One list's `add-and-remove`: record ids in, record ids out, and the contacts (indexes in
/// their chunk) it writes for.
#[derive(Default)]
struct ListChange {
    add: Vec<String>,
    remove: Vec<String>,
    contacts: Vec<usize>,
}

/// One record's upsert, merged from the operations of one or more jobs.
struct Merged {
    input: UpsertInput,
    jobs: Vec<usize>,
    /// Contacts to associate the record with, by email, each with the job that asked: jobs
    /// merged into one input (two users joining one company) keep every association.
    associate: Vec<(String, usize)>,
}

impl<Q: Queue + ?Sized + 'static> Engine<Q> {
    /// An engine over `queue` delivering to `portals`, reading time from `clock`.
    pub fn new(
        queue: Arc<Q>,
        portals: Vec<Portal>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Engine<Q> {
        let stats = EngineStats::default();
        let portals = portals
            .into_iter()
            .map(|p| {
                let window = SharedWindow::new(
                    SlidingWindow::new(p.rate_max, p.rate_interval, config.rate_margin),
                    config.sync_share,
                );
                Arc::new(PortalState {
                    pacer: Pacer::new(
                        &p.name,
                        p.api,
                        clock.clone(),
                        window,
                        config.breaker,
                        stats.rate_limited.clone(),
                    ),
                    name: p.name,
                    mapping: p.mapping,
                    definitions: Definitions::new(config.definitions_ttl),
                    keys: Keys::default(),
                    audiences: Audiences::default(),
                    identities: Mutex::default(),
                    paused_until_ms: Mutex::default(),
                    stopped: Mutex::default(),
                    queue_error: Mutex::default(),
                    heartbeat_ms: AtomicU64::new(0),
                })
            })
            .collect();
        Engine {
            queue,
            portals,
            config,
            clock,
            reports: Mutex::default(),
            stats,
        }
    }

    /// The portal's pacer, for a sync to share (see [`Pacer::for_sync`]); `None` for a portal
    /// the engine does not deliver to.
    pub fn pacer(&self, portal: &str) -> Option<Pacer> {
        self.portals
            .iter()
            .find(|p| p.name == portal)
            .map(|p| p.pacer.clone())
    }

    /// Enqueues Segment messages for a portal (each with its ordering key).
    pub async fn enqueue(
        &self,
        portal: &str,
        messages: Vec<Event>,
    ) -> Result<Vec<JobId>, QueueError> {
        let items = messages
            .into_iter()
            .map(|m| (ordering_key(&m), m))
            .collect();
        self.queue.enqueue(portal, items).await
    }

    /// Running totals (retries, 429s).
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Final outcomes reported so far (taken: each is returned once).
    pub fn take_reports(&self) -> Vec<Report> {
        std::mem::take(&mut *lock(&self.reports))
    }

    fn portal(&self, name: &str) -> Option<&Arc<PortalState>> {
        self.portals.iter().find(|p| p.name == name)
    }

    /// The reason a portal's delivery is stopped (an unusable token), if it is.
    pub fn stopped(&self, portal: &str) -> Option<String> {
        lock(&self.portal(portal)?.stopped).clone()
    }

    /// Until when a portal is paused by a DAILY limit, if it is.
    pub fn paused_until(&self, portal: &str) -> Option<u64> {
        *lock(&self.portal(portal)?.paused_until_ms)
    }

    /// Each portal's state: what keeps it from delivering, if anything.
    pub fn health(&self) -> Vec<PortalHealth> {
        let now = self.clock.now_ms();
        let iso = |ms: u64| hubspot_core::date::format_iso_ms(ms as i64);
        self.portals
            .iter()
            .map(|p| {
                let beat = p.heartbeat_ms.load(Ordering::Relaxed);
                let progress = beat.max(p.pacer.last_answer_ms());
                let stuck = self.config.stuck_after.as_millis() as u64;
                let problem = if let Some(reason) = lock(&p.stopped).clone() {
                    Some(format!("delivery stopped: {reason}"))
                } else if let Some(until) = (*lock(&p.paused_until_ms)).filter(|u| *u > now) {
                    Some(format!("paused until {}: HubSpot's daily API limit is used up", iso(until)))
                } else if let Some(since) = p.pacer.failing_since() {
                    Some(format!("HubSpot has been failing since {}: messages are held and it is probed until it answers", iso(since)))
                } else if let Some(e) = lock(&p.queue_error).clone() {
                    Some(format!("the queue failed: {e}"))
                } else if beat != 0 && now.saturating_sub(progress) > stuck {
                    Some(format!("delivery stuck: no progress for {} s", now.saturating_sub(progress) / 1000))
                } else {
                    None
                };
                PortalHealth {
                    portal: p.name.clone(),
                    problem,
                }
            })
            .collect()
    }

    /// One round for every portal, one after another. Returns the jobs leased.
    pub async fn run_once(&self) -> Result<usize, QueueError> {
        let mut leased = 0;
        for p in &self.portals {
            leased += self.round(p).await?;
        }
        Ok(leased)
    }

    /// Runs every portal until its queue is empty or holds only jobs not due before `deadline`
    /// (paused portals, long backoffs), portals side by side. Returns the jobs still queued.
    pub async fn run_until_idle(self: &Arc<Self>, deadline: Duration) -> Result<usize, QueueError> {
        let end = self.clock.now_ms() + deadline.as_millis() as u64;
        let mut tasks = tokio::task::JoinSet::new();
        for p in &self.portals {
            let (engine, p) = (self.clone(), p.clone());
            tasks.spawn(async move { engine.drain(&p, end).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| QueueError(format!("a delivery task failed: {e}")))??;
        }
        self.queue.depth().await
    }

    async fn drain(&self, p: &PortalState, end_ms: u64) -> Result<(), QueueError> {
        loop {
            if self.round(p).await? > 0 {
                continue;
            }
            let now = self.clock.now_ms();
            match self.queue.next_due_ms(&p.name).await? {
                // A due job that was not leased waits behind an earlier job of its key.
                Some(due) if due <= now && now < end_ms => tokio::time::sleep(BLOCKED_POLL).await,
                Some(due) if due < end_ms => {
                    tokio::time::sleep(Duration::from_millis(due - now)).await;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Delivers until `stop` turns true: one task per portal, so one portal's rate-limit waits,
    /// 429s or outage never hold up another. A task that panics is logged and started again.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut portal_of = HashMap::new();
        for i in 0..self.portals.len() {
            let (engine, stop) = (self.clone(), stop.clone());
            portal_of.insert(tasks.spawn(engine.portal_loop(i, stop)).id(), i);
        }
        while let Some(done) = tasks.join_next_with_id().await {
            let Err(e) = done else { continue };
            let Some(i) = portal_of.remove(&e.id()) else {
                continue;
            };
            if *stop.borrow() {
                continue;
            }
            tracing::error!(portal = %self.portals[i].name, error = %e, "a portal's delivery task failed: restarting it in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (engine, stop) = (self.clone(), stop.clone());
            portal_of.insert(tasks.spawn(engine.portal_loop(i, stop)).id(), i);
        }
    }

    async fn portal_loop(self: Arc<Self>, i: usize, mut stop: watch::Receiver<bool>) {
        let p = &self.portals[i];
        while !*stop.borrow() {
            p.heartbeat_ms
                .store(self.clock.now_ms().max(1), Ordering::Relaxed);
            // Stopping abandons a round in flight: its leased jobs are offered again after
            // their lease (or at the next start), and a repeated write is harmless (upserts
            // by key, events by uuid).
            let round = tokio::select! {
                r = self.round(p) => r,
                _ = stop.changed() => break,
            };
            let wait = match round {
                Ok(n) => {
                    if lock(&p.queue_error).take().is_some() {
                        tracing::warn!(portal = %p.name, "the queue works again");
                    }
                    if n >= self.config.lease_size {
                        Duration::ZERO
                    } else if n > 0 {
                        self.config.batch_wait
                    } else {
                        // Short enough to pick up new messages soon, never past the next due
                        // job.
                        let now = self.clock.now_ms();
                        let due = self.queue.next_due_ms(&p.name).await.ok().flatten();
                        Duration::from_millis(due.unwrap_or(u64::MAX).saturating_sub(now))
                            .clamp(Duration::from_millis(10), BLOCKED_POLL)
                    }
                }
                Err(e) => {
                    let mut last = lock(&p.queue_error);
                    if last.is_none() {
                        tracing::error!(portal = %p.name, error = %e, "the queue failed; retrying every second");
                    }
                    *last = Some(e.to_string());
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One round for one portal: lease, deliver, settle. Returns the jobs leased.
    async fn round(&self, p: &PortalState) -> Result<usize, QueueError> {
        let jobs = self
            .queue
            .lease(&p.name, self.clock.now_ms(), self.config.lease_size)
            .await?;
        let leased = jobs.len();
        // Due jobs mean delivery has work: a sync sharing the pacer keeps to its share until
        // a round finds none.
        p.pacer.set_delivery_busy(leased > 0);
        if leased == 0 {
            return Ok(0);
        }
        let outcomes = self.deliver(p, jobs).await;
        self.queue.settle(outcomes).await?;
        Ok(leased)
    }

    /// A stopped or paused portal keeps its messages without attempting them.
    fn hold(&self, p: &PortalState, now: u64) -> Option<(u64, String)> {
        if let Some(reason) = lock(&p.stopped).clone() {
            return Some((now + 60_000, reason));
        }
        let paused = (*lock(&p.paused_until_ms)).filter(|u| *u > now)?;
        Some((paused, "HubSpot's daily API limit is used up".into()))
    }

    async fn deliver(&self, p: &PortalState, jobs: Vec<Job>) -> Vec<(JobId, Outcome)> {
        if let Some((until, reason)) = self.hold(p, self.clock.now_ms()) {
            return jobs
                .into_iter()
                .map(|j| {
                    let outcome = Outcome::Retry {
                        not_before_ms: until,
                        error: format!("held: {reason}"),
                        count_attempt: false,
                    };
                    (j.id, outcome)
                })
                .collect();
        }
        let mut work: Vec<Work> = Vec::with_capacity(jobs.len());
        let mut groups: BTreeMap<(u8, Endpoint), Vec<(usize, Operation)>> = BTreeMap::new();
        {
            let mut identities = lock(&p.identities);
            for job in &jobs {
                identities.learn(&job.message);
            }
            for job in jobs {
                let i = work.len();
                let failure = match map_message_for(&job.message, &p.mapping, &identities) {
                    Ok(ops) => {
                        for op in ops {
                            groups
                                .entry((op.rank(), op.endpoint()))
                                .or_default()
                                .push((i, op));
                        }
                        None
                    }
                    Err(rejection) => {
                        Some(Fail::Error(ErrorKind::Validation, rejection.to_string()))
                    }
                };
                work.push(Work {
                    job,
                    dropped: Vec::new(),
                    failure,
                });
            }
        }
        for ((_, endpoint), ops) in groups {
            match endpoint {
                Endpoint::EventsBatch => self.send_events(p, ops, &mut work).await,
                Endpoint::Memberships { id_property } => {
                    self.memberships(p, &id_property, ops, &mut work).await
                }
                Endpoint::BatchUpsert {
                    object_type,
                    id_property,
                } => {
                    self.upsert(p, &object_type, &id_property, ops, &mut work)
                        .await
                }
            }
        }
        self.settle(p, work)
    }

    /// Each job's outcome, reported when final.
    fn settle(&self, p: &PortalState, work: Vec<Work>) -> Vec<(JobId, Outcome)> {
        let now = self.clock.now_ms();
        let mut reports = Vec::new();
        let outcomes = work
            .into_iter()
            .map(|w| {
                let outcome = match &w.failure {
                    None => Outcome::Delivered,
                    Some(Fail::Held(until)) => Outcome::Retry {
                        not_before_ms: *until,
                        error: "held: HubSpot is failing for this portal; probing until it answers"
                            .into(),
                        count_attempt: false,
                    },
                    Some(Fail::Error(kind, message)) => {
                        let failure = Failure {
                            kind,
                            message,
                            attempts: w.job.attempts,
                            enqueued_at_ms: w.job.enqueued_at_ms,
                        };
                        self.outcome(p, failure, now)
                    }
                };
                match &outcome {
                    Outcome::Delivered => reports.push(Report::Delivered {
                        job: w.job.id,
                        latency_ms: received_at_ms(&w.job.message).map(|at| now.saturating_sub(at)),
                        dropped: w.dropped,
                    }),
                    Outcome::Dead { reason } => reports.push(Report::Dead {
                        job: w.job.id,
                        reason: reason.clone(),
                    }),
                    Outcome::Retry { .. } => {
                        self.stats.retried.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (w.job.id, outcome)
            })
            .collect();
        lock(&self.reports).extend(reports);
        outcomes
    }

    fn outcome(&self, p: &PortalState, failure: Failure<'_>, now: u64) -> Outcome {
        let message = failure.message.to_owned();
        match decide(failure, &self.config.retry, now, rand::random::<f64>()) {
            Decision::Retry { after, count } => Outcome::Retry {
                not_before_ms: now + after.as_millis() as u64,
                error: message,
                count_attempt: count,
            },
            Decision::Dead(reason) => Outcome::Dead { reason },
            Decision::PausePortal { until_ms } => {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                let mut paused = lock(&p.paused_until_ms);
                if *paused != Some(until_ms) {
                    tracing::warn!(portal = %p.name, until_ms, "HubSpot daily limit reached: portal paused");
                }
                *paused = Some(until_ms);
                Outcome::Retry {
                    not_before_ms: until_ms,
                    error: message,
                    count_attempt: false,
                }
            }
            Decision::StopPortal(reason) => {
                let mut stopped = lock(&p.stopped);
                if stopped.is_none() {
                    tracing::error!(portal = %p.name, %reason, "portal delivery stopped: fix the token and restart");
                }
                *stopped = Some(reason.clone());
                Outcome::Retry {
                    not_before_ms: now + 60_000,
                    error: reason,
                    count_attempt: false,
                }
            }
        }
    }

    async fn upsert(
        &self,
        p: &PortalState,
        object_type: &str,
        id_property: &str,
        ops: Vec<(usize, Operation)>,
        work: &mut [Work],
    ) {
        if let Err(e) = p
            .keys
            .ensure(&p.pacer, &p.definitions, object_type, id_property)
            .await
        {
            return fail_all(ops.iter().map(|(i, _)| *i), &e, work);
        }
        // Merge operations on the same record: later messages win per property (HubSpot
        // refuses duplicate ids in one batch).
        let mut merged: Vec<Merged> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, op) in ops {
            let (Upsert { id, properties, .. }, associate) = match op {
                Operation::UpsertContact(u) => (u, None),
                Operation::UpsertCompany {
                    upsert,
                    associate_contact_email,
                }
                | Operation::UpsertObject {
                    upsert,
                    associate_contact_email,
                } => (upsert, associate_contact_email),
                Operation::SendEvent(_) | Operation::SetMembership(_) => continue,
            };
            let associate = associate.map(|e| (e, i));
            match index.get(&id.to_lowercase()) {
                Some(&at) => {
                    let m = &mut merged[at];
                    m.input.properties.extend(properties);
                    m.jobs.push(i);
                    m.associate.extend(associate);
                }
                None => {
                    index.insert(id.to_lowercase(), merged.len());
                    merged.push(Merged {
                        input: UpsertInput { id, properties },
                        jobs: vec![i],
                        associate: associate.into_iter().collect(),
                    });
                }
            }
        }
        let defs = match p.definitions.properties(&p.pacer, object_type).await {
            Ok(d) => d,
            Err(e) => return fail_all(merged.iter().flat_map(|m| m.jobs.clone()), &e, work),
        };
        for m in &mut merged {
            let (conformed, dropped) = conform(&m.input.properties, &defs);
            m.input.properties = conformed;
            for &j in &m.jobs {
                work[j].dropped.extend(dropped.iter().cloned());
            }
        }
        for chunk in merged.chunks(MAX_BATCH_INPUTS) {
            let inputs: Vec<UpsertInput> = chunk.iter().map(|m| m.input.clone()).collect();
            let mut written = self
                .write_bisect(p, object_type, id_property, true, &inputs)
                .await;
            conflicts::resolve(&p.pacer, object_type, &inputs, &mut written).await;
            let mut ok: Vec<(String, &Map<String, Value>)> = Vec::new();
            let mut wanted: Vec<(String, String)> = Vec::new();
            let mut askers: Vec<usize> = Vec::new();
            for (m, result) in chunk.iter().zip(written) {
                match result {
                    Ok(id) => {
                        for (email, job) in &m.associate {
                            wanted.push((id.clone(), email.clone()));
                            askers.push(*job);
                        }
                        ok.push((id, &m.input.properties));
                    }
                    Err(e) => fail_all(m.jobs.iter().copied(), &e, work),
                }
            }
            lifecycle::fix(&p.pacer, object_type, &ok).await;
            let associated = associations::associate_contacts(&p.pacer, object_type, &wanted).await;
            for (job, result) in askers.into_iter().zip(associated) {
                if let Err(e) = result {
                    fail_all([job], &e, work);
                }
            }
        }
    }

    /// Upserts (`create`) or updates by `id_property` up to 100 inputs; a 400 or 409 for
    /// several inputs is bisected, so one bad input fails alone and its siblings land.
    async fn write_bisect(
        &self,
        p: &PortalState,
        object_type: &str,
        id_property: &str,
        create: bool,
        inputs: &[UpsertInput],
    ) -> Written {
        let mut written: Written = vec![Err(CallError::Held { until_ms: 0 }); inputs.len()];
        let mut pending: Vec<std::ops::Range<usize>> = Vec::new();
        pending.push(0..inputs.len());
        let api = p.pacer.api();
        while let Some(range) = pending.pop() {
            let part = &inputs[range.clone()];
            let result = if create {
                p.pacer
                    .call(|| api.upsert(object_type, id_property, part))
                    .await
            } else {
                p.pacer
                    .call(|| api.update_by(object_type, id_property, part))
                    .await
            };
            match result {
                Ok(results) => {
                    for (k, r) in range.zip(results) {
                        written[k] = r.map_err(CallError::Api);
                    }
                }
                Err(CallError::Api(e))
                    if part.len() > 1
                        && matches!(e.kind, ErrorKind::Validation | ErrorKind::Conflict { .. }) =>
                {
                    let mid = range.start + part.len() / 2;
                    pending.push(mid..range.end);
                    pending.push(range.start..mid);
                }
                Err(e) => {
                    for k in range {
                        written[k] = Err(e.clone());
                    }
                }
            }
        }
        written
    }

    /// Audience memberships: each audience made ready once (its property or list), then the
    /// changes coalesced per contact (the latest message wins per audience) and written 100
    /// contacts per request.
    async fn memberships(
        &self,
        p: &PortalState,
        id_property: &str,
        ops: Vec<(usize, Operation)>,
        work: &mut [Work],
    ) {
        let settings = &p.mapping.audiences;
        let mut targets: HashMap<String, Result<String, CallError>> = HashMap::new();
        let mut contacts: Vec<Contact> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, op) in ops {
            let Operation::SetMembership(Membership {
                audience,
                id,
                member,
                ..
            }) = op
            else {
                continue;
            };
            if !targets.contains_key(&audience) {
                let target = p
                    .audiences
                    .ensure(&p.pacer, &p.definitions, settings, &audience)
                    .await;
                targets.insert(audience.clone(), target);
            }
            let target = match &targets[&audience] {
                Ok(t) => t.clone(),
                Err(e) => {
                    fail_all([i], e, work);
                    continue;
                }
            };
            // Emails are matched case-insensitively by HubSpot, other unique values exactly.
            let key = if id_property == "email" {
                id.to_lowercase()
            } else {
                id.clone()
            };
            let at = *index.entry(key).or_insert_with(|| {
                contacts.push(Contact {
                    id,
                    changes: Vec::new(),
                    jobs: Vec::new(),
                });
                contacts.len() - 1
            });
            let c = &mut contacts[at];
            c.changes.retain(|(t, _)| *t != target);
            c.changes.push((target, member));
            c.jobs.push(i);
        }
        for chunk in contacts.chunks(MAX_BATCH_INPUTS) {
            let written = match settings.mode {
                AudienceMode::Property => {
                    let inputs: Vec<UpsertInput> = chunk
                        .iter()
                        .map(|c| UpsertInput {
                            id: c.id.clone(),
                            properties: c
                                .changes
                                .iter()
                                .map(|(prop, member)| {
                                    (prop.clone(), Value::from(member.to_string()))
                                })
                                .collect(),
                        })
                        .collect();
                    let create = settings.create_contacts;
                    let mut written = self
                        .write_bisect(p, "contacts", id_property, create, &inputs)
                        .await;
                    if create {
                        conflicts::resolve(&p.pacer, "contacts", &inputs, &mut written).await;
                    }
                    written
                }
                AudienceMode::List => self.list_memberships(p, id_property, chunk).await,
            };
            for (c, result) in chunk.iter().zip(written) {
                match result {
                    Ok(_) => {}
                    Err(CallError::Api(e))
                        if e.kind == ErrorKind::NotFound && !settings.create_contacts =>
                    {
                        let reason = format!(
                            "no HubSpot contact with {id_property} {} and [audiences] create_contacts = false: its audience membership was not written",
                            c.id
                        );
                        for &j in &c.jobs {
                            work[j].failure =
                                Some(Fail::Error(ErrorKind::NotFound, reason.clone()));
                        }
                    }
                    Err(e) => fail_all(c.jobs.iter().copied(), &e, work),
                }
            }
        }
    }

    /// List mode for up to 100 contacts: their record ids by one batch read (those HubSpot
    /// lacks created first when allowed), then one `add-and-remove` per list. Per contact,
    /// its record id or why its memberships were not written.
    async fn list_memberships(
        &self,
        p: &PortalState,
        id_property: &str,
        chunk: &[Contact],
    ) -> Written {
        let api = p.pacer.api();
        let ids: Vec<String> = chunk.iter().map(|c| c.id.clone()).collect();
        // A contact read by a secondary email answers with its primary one: ask for both.
        let wanted = [id_property, SECONDARY_EMAILS];
        let read = match p
            .pacer
            .call(|| api.read("contacts", id_property, &ids, &wanted))
            .await
        {
            Ok(r) => r,
            Err(e) => return vec![Err(e); chunk.len()],
        };
        let found = |id: &str| {
            read.iter()
                .find(|r| {
                    let text = |name: &str| r.properties.get(name).and_then(Value::as_str);
                    if id_property != "email" {
                        return text(id_property) == Some(id);
                    }
                    let secondary = text(SECONDARY_EMAILS).unwrap_or_default().split(';');
                    text("email")
                        .into_iter()
                        .chain(secondary)
                        .any(|e| e.trim().eq_ignore_ascii_case(id))
                })
                .map(|r| r.id.clone())
        };
        let mut written: Written = chunk
            .iter()
            .map(|c| {
                found(&c.id).ok_or_else(|| {
                    CallError::Api(ApiError {
                        kind: ErrorKind::NotFound,
                        status: Some(404),
                        message: format!("no contact with {id_property} {}", c.id),
                        category: None,
                    })
                })
            })
            .collect();
        if p.mapping.audiences.create_contacts {
            let absent: Vec<usize> = (0..chunk.len()).filter(|&k| written[k].is_err()).collect();
            if !absent.is_empty() {
                let inputs: Vec<UpsertInput> = absent
                    .iter()
                    .map(|&k| UpsertInput {
                        id: chunk[k].id.clone(),
                        properties: Map::new(),
                    })
                    .collect();
                let created = self
                    .write_bisect(p, "contacts", id_property, true, &inputs)
                    .await;
                for (k, result) in absent.into_iter().zip(created) {
                    written[k] = result;
                }
            }
        }
        let mut lists: BTreeMap<&str, ListChange> = BTreeMap::new();
        for (k, (c, result)) in chunk.iter().zip(&written).enumerate() {
            let Ok(record) = result else { continue };
            for (list, member) in &c.changes {
                let change = lists.entry(list.as_str()).or_default();
                if *member {
                    &mut change.add
                } else {
                    &mut change.remove
                }
                .push(record.clone());
                change.contacts.push(k);
            }
        }
        for (list, change) in lists {
            let (add, remove) = (&change.add, &change.remove);
            if let Err(e) = p.pacer.call(|| api.update_list(list, add, remove)).await {
                for k in change.contacts {
                    written[k] = Err(e.clone());
                }
            }
        }
        written
    }

    async fn send_events(&self, p: &PortalState, ops: Vec<(usize, Operation)>, work: &mut [Work]) {
        let mut events: Vec<(usize, BehavioralEvent)> = Vec::with_capacity(ops.len());
        for (i, op) in ops {
            let Operation::SendEvent(mut e) = op else {
                continue;
            };
            match p.definitions.conform_event(&p.pacer, &mut e).await {
                Ok(Some(dropped)) => {
                    work[i].dropped.extend(dropped);
                    events.push((i, e));
                }
                Ok(None) => {
                    let message = format!(
                        "this portal has no custom behavioral event named {}: create its definition in HubSpot first",
                        e.event_name
                    );
                    work[i].failure = Some(Fail::Error(ErrorKind::Validation, message));
                }
                Err(err) => fail_all([i], &err, work),
            }
        }
        let api = p.pacer.api();
        for chunk in events.chunks(MAX_BATCH_EVENTS) {
            let mut pending: Vec<&[(usize, BehavioralEvent)]> = vec![chunk];
            while let Some(part) = pending.pop() {
                let body: Vec<BehavioralEvent> = part.iter().map(|(_, e)| e.clone()).collect();
                match p.pacer.call(|| api.send_events(&body)).await {
                    Ok(()) => {}
                    Err(CallError::Api(e)) if part.len() > 1 && e.kind == ErrorKind::Validation => {
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
