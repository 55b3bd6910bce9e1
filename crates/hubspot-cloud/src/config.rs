//! The relay's configuration: one TOML file, with environment overrides for what differs per
//! deployment (tokens above all, which should not sit in a file). Secrets never reach logs:
//! `Debug` redacts them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::client::Credentials;
use crate::mapping::{AudienceMode, AudienceSettings, MappingConfig, ObjectMapping};
use crate::profiles::ProfilesSettings;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP relay settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where messages wait.
    #[serde(default)]
    pub queue: QueueConfig,
    /// HubSpot API settings shared by all portals.
    #[serde(default)]
    pub hubspot: HubSpotConfig,
    /// Portals to deliver to (at least one).
    #[serde(default, rename = "portals")]
    pub portals: Vec<PortalConfig>,
    /// The HubSpot Source: HubSpot's CRM into SQLite or PostgreSQL (`hubspot-cloud sync`).
    #[serde(default)]
    pub sync: SyncConfig,
    /// How audience memberships are written, for every portal.
    #[serde(default)]
    pub audiences: AudiencesConfig,
}

/// `[audiences]`: how Engage's audience identifies and tracks and `hubspot-cloud audiences
/// load` files are written to HubSpot.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudiencesConfig {
    /// `property` (default: a single-checkbox contact property per audience) or `list` (a
    /// MANUAL contact list per audience).
    #[serde(default)]
    pub mode: AudienceMode,
    /// Create contacts HubSpot does not have (default true). With `false` memberships only
    /// update, and one for a contact HubSpot lacks is dead-lettered with that reason.
    #[serde(default = "yes")]
    pub create_contacts: bool,
    /// The contact property members are identified by: `email` (default) or a unique
    /// property such as `user_id` (its value from the traits, else the `userId`).
    #[serde(default = "default_audience_identity")]
    pub identity: String,
    /// The contact property group audience properties are created in (default `audiences`).
    #[serde(default = "default_audience_group")]
    pub group: String,
}

impl Default for AudiencesConfig {
    fn default() -> Self {
        let d = AudienceSettings::default();
        AudiencesConfig {
            mode: d.mode,
            create_contacts: d.create_contacts,
            identity: d.identity,
            group: d.group,
        }
    }
}

fn default_audience_identity() -> String {
    AudienceSettings::default().identity
}

fn default_audience_group() -> String {
    AudienceSettings::default().group
}

/// `[sync]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Where the tables go: `sqlite` (default, the file at `path`) or `postgres` (schema
    /// `schema` of the database at `url`).
    #[serde(default)]
    pub kind: SyncKind,
    /// PostgreSQL URL, for `kind = "postgres"` (plain TCP).
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL schema (default `hubspot`), created if missing. With several portals each
    /// gets its own, the portal's name after an underscore: `hubspot_eu`.
    #[serde(default = "default_sync_schema")]
    pub schema: String,
    /// The SQLite file (default `hubspot.db`). With several portals each gets its own file,
    /// the portal's name before the extension: `hubspot.eu.db`.
    #[serde(default = "default_sync_path")]
    pub path: String,
    /// Search lags behind writes: each run re-reads records modified this long before the
    /// previous run started (default 60).
    #[serde(default = "default_lag_minutes")]
    pub lag_minutes: u64,
    /// How far back the first run (and `--full-refresh`) reads `email_events` and
    /// `email_subscription_event_changes`, in days (default 30); later runs continue from the
    /// previous one, `lag_minutes` before where it ended.
    #[serde(default = "default_email_history_days")]
    pub email_history_days: u64,
    /// Which properties to sync: `default` (a short list of each object's standard properties
    /// that the portal defines, see `source::crm::DEFAULT_PROPERTIES`), `all` (every property
    /// the portal defines, new ones included on the next run), or per object
    /// `{ contacts = ["firstname", "plan"], companies = "all" }` (objects not named: `default`;
    /// a listed name the portal does not define is skipped with one warning line).
    #[serde(default)]
    pub properties: PropertySelection,
    /// How often every record's associations are read again, beside the changed records'
    /// read each run: a link can change without moving either record's modified time. A
    /// number of hours or a string `"24h"`, `"90m"`, `"2d"` (default `"24h"`).
    #[serde(
        default = "default_associations_full_every",
        deserialize_with = "human_duration"
    )]
    pub associations_full_every: Duration,
    /// While a portal's delivery has work, the most of its rate window a sync in the same
    /// process may take (0 to 1, default 0.5): delivery keeps the rest and never waits on it.
    #[serde(default = "default_max_share")]
    pub max_share: f64,
    /// How often `serve` syncs every portal (default `3h`; `90m`, `1h30m`, `45s`). The first
    /// run is one interval after start.
    #[serde(default = "default_every", deserialize_with = "human_duration")]
    pub every: Duration,
    /// The config has a `[sync]` section: `serve` runs the schedule.
    #[serde(skip)]
    pub scheduled: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            kind: SyncKind::default(),
            url: None,
            schema: default_sync_schema(),
            path: default_sync_path(),
            lag_minutes: default_lag_minutes(),
            email_history_days: default_email_history_days(),
            properties: PropertySelection::default(),
            associations_full_every: default_associations_full_every(),
            max_share: default_max_share(),
            every: default_every(),
            scheduled: false,
        }
    }
}

impl SyncConfig {
    /// The SQLite file of `portal` when the config has `portals` portals.
    pub fn path_for(&self, portal: &str, portals: usize) -> std::path::PathBuf {
        let path = std::path::PathBuf::from(&self.path);
        if portals <= 1 {
            return path;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match path.extension() {
            Some(ext) => format!("{stem}.{portal}.{}", ext.to_string_lossy()),
            None => format!("{stem}.{portal}"),
        };
        path.with_file_name(name)
    }

    /// The PostgreSQL schema of `portal` when the config has `portals` portals, named like
    /// [`SyncConfig::path_for`]'s files.
    pub fn schema_for(&self, portal: &str, portals: usize) -> String {
        if portals <= 1 {
            self.schema.clone()
        } else {
            format!("{}_{portal}", self.schema)
        }
    }

    /// Where `portal`'s tables go when the config has `portals` portals.
    pub fn target_for(&self, portal: &str, portals: usize) -> SyncTarget {
        match (self.kind, &self.url) {
            (SyncKind::Postgres, Some(url)) => SyncTarget::Postgres {
                url: url.clone(),
                schema: self.schema_for(portal, portals),
            },
            // `validate` refuses postgres without a URL.
            _ => SyncTarget::Sqlite(self.path_for(portal, portals)),
        }
    }
}

/// `[sync] kind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncKind {
    /// A SQLite file per portal (the default).
    #[default]
    Sqlite,
    /// A schema per portal in a shared PostgreSQL database.
    Postgres,
}

/// One portal's destination, resolved from `[sync]`.
#[derive(Clone, PartialEq, Eq)]
pub enum SyncTarget {
    /// A SQLite file.
    Sqlite(std::path::PathBuf),
    /// A schema of a PostgreSQL database.
    Postgres {
        /// The database.
        url: String,
        /// The schema.
        schema: String,
    },
}

/// Names the destination without the URL (it may hold a password).
impl std::fmt::Display for SyncTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncTarget::Sqlite(path) => write!(f, "{}", path.display()),
            SyncTarget::Postgres { schema, .. } => write!(f, "PostgreSQL schema {schema}"),
        }
    }
}

/// Like `Display`: the URL may hold a password.
impl std::fmt::Debug for SyncTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// `[sync] properties`: one choice for every object, or a choice per object (objects not
/// named take `default`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(from = "RawSelection")]
pub enum PropertySelection {
    /// Each object's standard properties.
    #[default]
    Default,
    /// Every property the portal defines.
    All,
    /// Per object type, by its table (`contacts`, `companies`, a custom object's, such as
    /// `cars`).
    PerObject(BTreeMap<String, ObjectProperties>),
}

/// Which properties of one object type become columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ObjectProperties {
    /// The object's standard properties (a custom object's: its schema's required,
    /// searchable and primary display properties).
    #[default]
    Default,
    /// Every property the portal defines for it.
    All,
    /// These, where the portal defines them (plus the ones always read).
    Named(Vec<String>),
}

impl PropertySelection {
    /// The choice for `object_type`.
    pub fn for_object(&self, object_type: &str) -> ObjectProperties {
        match self {
            PropertySelection::Default => ObjectProperties::Default,
            PropertySelection::All => ObjectProperties::All,
            PropertySelection::PerObject(per) => per.get(object_type).cloned().unwrap_or_default(),
        }
    }
}

/// `default` or `all`, as TOML spells them.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SelectionWord {
    Default,
    All,
}

/// `[sync] properties` as written.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "\"default\", \"all\", or a table of object = \"default\" | \"all\" | [property names]"
)]
enum RawSelection {
    Word(SelectionWord),
    PerObject(BTreeMap<String, RawObject>),
}

/// One object's entry as written.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "\"default\", \"all\" or a list of property names"
)]
enum RawObject {
    Word(SelectionWord),
    Named(Vec<String>),
}

impl From<RawSelection> for PropertySelection {
    fn from(raw: RawSelection) -> Self {
        match raw {
            RawSelection::Word(SelectionWord::Default) => PropertySelection::Default,
            RawSelection::Word(SelectionWord::All) => PropertySelection::All,
            RawSelection::PerObject(per) => PropertySelection::PerObject(
                per.into_iter()
                    .map(|(object, raw)| {
                        let choice = match raw {
                            RawObject::Word(SelectionWord::Default) => ObjectProperties::Default,
                            RawObject::Word(SelectionWord::All) => ObjectProperties::All,
                            RawObject::Named(names) => ObjectProperties::Named(names),
                        };
                        (object, choice)
                    })
                    .collect(),
            ),
        }
    }
}

fn default_associations_full_every() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// A number of hours, or text of a number and a unit (`s`, `m`, `h`, `d`).
fn default_sync_schema() -> String {
    "hubspot".into()
}

fn default_sync_path() -> String {
    "hubspot.db".into()
}

fn default_lag_minutes() -> u64 {
    60
}

fn default_email_history_days() -> u64 {
    30
}

fn default_max_share() -> f64 {
    0.5
}

fn default_every() -> Duration {
    Duration::from_secs(3 * 3600)
}

/// A duration as people write it: numbers each followed by `d`, `h`, `m` or `s` (`3h`,
/// `1h30m`, `2d`); more than zero.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (mut secs, mut digits, mut parts) = (0u64, String::new(), 0);
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = std::mem::take(&mut digits).parse().ok()?;
        secs = secs.checked_add(n.checked_mul(unit)?)?;
        parts += 1;
    }
    (digits.is_empty() && parts > 0 && secs > 0).then(|| Duration::from_secs(secs))
}

/// A `[sync]` interval: a number of hours, or text [`parse_duration`] reads.
fn human_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Hours(u64),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Hours(h) if h > 0 => return Ok(Duration::from_secs(h * 3600)),
        Raw::Hours(h) => h.to_string(),
        Raw::Text(t) => t,
    };
    parse_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "'{text}' is not a duration: write hours as a number, or \"3h\", \"90m\", \"1h30m\", \"2d\""
        ))
    })
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address (default `127.0.0.1:8088`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Back-pressure: above this many undelivered messages, answer 503 with Retry-After.
    #[serde(default = "default_max_queue")]
    pub max_queue: u64,
    /// After a delivery round that emptied the queue, wait this long before the next, so live
    /// traffic travels in fuller batches: fewer requests against the portal's daily limit, for
    /// at most this much more latency. 0 sends at once.
    #[serde(default = "default_batch_wait_ms")]
    pub batch_wait_ms: u64,
    /// A new connection that has not sent a complete request head within this is closed
    /// (default 10 000 ms): slow or silent clients cannot hold sockets.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// A request body that has not fully arrived within this of the request head is refused
    /// with 408 and nothing of it is stored (default 30 000 ms).
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// A kept-alive connection with no new request within this after its last answer is closed
    /// (default 60 000 ms).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Most connections served at once (default 512, well under the usual 1,024 open files);
    /// further ones wait in the kernel's accept queue until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            max_queue: default_max_queue(),
            batch_wait_ms: default_batch_wait_ms(),
            header_timeout_ms: default_header_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            max_connections: default_max_connections(),
        }
    }
}

impl ServerConfig {
    /// [`header_timeout_ms`](Self::header_timeout_ms) as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// [`body_timeout_ms`](Self::body_timeout_ms) as a duration.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    /// [`idle_timeout_ms`](Self::idle_timeout_ms) as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

fn default_listen() -> String {
    "127.0.0.1:8088".into()
}

fn default_max_queue() -> u64 {
    1_000_000
}

fn default_batch_wait_ms() -> u64 {
    1000
}

fn default_header_timeout_ms() -> u64 {
    10_000
}

fn default_body_timeout_ms() -> u64 {
    30_000
}

fn default_idle_timeout_ms() -> u64 {
    60_000
}

fn default_max_connections() -> usize {
    512
}

/// `[queue] kind`: where messages wait. Parsed by serde, so an unknown kind is refused with the
/// list of valid ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    /// A SQLite file on this machine (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by several relay processes.
    Postgres,
    /// In memory: lost on exit, for tests only.
    Memory,
}

/// `[queue]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// `sqlite` (default), `postgres` or `memory` (tests only: not durable).
    #[serde(default)]
    pub kind: QueueKind,
    /// SQLite file (default `outbox.db`).
    #[serde(default = "default_path")]
    pub path: PathBuf,
    /// PostgreSQL URL, for `kind = "postgres"`.
    #[serde(default)]
    pub url: Option<String>,
    /// How long a leased message is reserved for the process delivering it (default 60 000 ms);
    /// longer than a delivery round, short enough that a crashed process's work resumes soon.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// PostgreSQL: how long a process owns a portal's delivery without renewing (default 30 000 ms).
    #[serde(default = "default_owner_ttl_ms")]
    pub owner_ttl_ms: u64,
    /// Most dead letters kept; the oldest beyond are deleted (default 100 000).
    #[serde(default = "default_dead_letter_max")]
    pub dead_letter_max: u64,
    /// Dead letters older than this are deleted (default 168 hours, a week).
    #[serde(default = "default_dead_letter_max_age_hours")]
    pub dead_letter_max_age_hours: u64,
    /// SQLite: check the file (`PRAGMA quick_check`) at start and refuse a damaged one, leaving
    /// it untouched (default true; the check reads the whole file).
    #[serde(default = "yes")]
    pub check_integrity: bool,
    /// SQLite: a hard cap on the outbox file, in 4 KiB pages (262 144 = 1 GiB). Near it, new
    /// messages are refused while delivery goes on and frees room (default: no cap).
    #[serde(default)]
    pub max_page_count: Option<u64>,
}

fn default_lease_ms() -> u64 {
    60_000
}

fn default_owner_ttl_ms() -> u64 {
    30_000
}

fn default_dead_letter_max() -> u64 {
    100_000
}

fn default_dead_letter_max_age_hours() -> u64 {
    168
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            kind: QueueKind::default(),
            path: default_path(),
            url: None,
            lease_ms: default_lease_ms(),
            owner_ttl_ms: default_owner_ttl_ms(),
            dead_letter_max: default_dead_letter_max(),
            dead_letter_max_age_hours: default_dead_letter_max_age_hours(),
            check_integrity: true,
            max_page_count: None,
        }
    }
}

fn default_path() -> PathBuf {
    "outbox.db".into()
}

/// `[hubspot]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// API base URL (default HubSpot's; a fake's in tests).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Per-request timeout in seconds (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How long a message keeps being retried after transient failures (5xx, timeouts),
    /// counted from when it was queued; time HubSpot spends down for the whole portal does not
    /// make messages fail meanwhile (the circuit breaker holds them). Default 24.
    #[serde(default = "default_retry_window_hours")]
    pub retry_window_hours: u64,
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        HubSpotConfig {
            base_url: default_base_url(),
            timeout_secs: default_timeout(),
            retry_window_hours: default_retry_window_hours(),
        }
    }
}

fn default_base_url() -> String {
    crate::client::DEFAULT_BASE_URL.into()
}

fn default_timeout() -> u64 {
    30
}

fn default_retry_window_hours() -> u64 {
    24
}

/// `[[portals]]`: one HubSpot account.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// Name used in logs and commands.
    pub name: String,
    /// Hub ID.
    pub portal_id: String,
    /// Segment write keys whose messages go to this portal.
    #[serde(default)]
    pub write_keys: Vec<String>,
    /// Private-app access token (or `HUBSPOT_ACCESS_TOKEN[_<NAME>]`).
    #[serde(default)]
    pub access_token: Option<String>,
    /// OAuth credentials instead of a private-app token.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// Requests per `rate_interval_ms` (default 100: HubSpot's free/starter limit).
    #[serde(default = "default_rate_max")]
    pub rate_max: usize,
    /// Rate window (default 10 000 ms).
    #[serde(default = "default_rate_interval")]
    pub rate_interval_ms: u64,
    /// Segment event name → HubSpot internal event name.
    #[serde(default)]
    pub event_names: BTreeMap<String, String>,
    /// Format event names as `pe<portalId>_<name>` (default true).
    #[serde(default = "yes")]
    pub format_event_names: bool,
    /// Send page calls as this custom behavioral event (default: not sent).
    #[serde(default)]
    pub page_event: Option<String>,
    /// Track events that upsert other objects.
    #[serde(default)]
    pub objects: Vec<ObjectConfig>,
    /// `[audiences]`, copied into every portal at load.
    #[serde(skip)]
    pub audiences: AudienceSettings,
    /// `[portals.profiles]`: export the synced contacts and companies as Segment calls.
    #[serde(default)]
    pub profiles: Option<ProfilesSettings>,
}

/// `[portals.oauth]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// App client id.
    pub client_id: String,
    /// App client secret.
    pub client_secret: String,
    /// Refresh token.
    pub refresh_token: String,
}

/// `[[portals.objects]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectConfig {
    /// Segment event name.
    pub event: String,
    /// HubSpot object type.
    pub object_type: String,
    /// Unique property to upsert by.
    pub id_property: String,
    /// Associate with the message's contact.
    #[serde(default)]
    pub associate_contact: bool,
}

fn default_rate_max() -> usize {
    100
}

fn default_rate_interval() -> u64 {
    10_000
}

fn yes() -> bool {
    true
}

impl std::fmt::Debug for PortalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalConfig")
            .field("name", &self.name)
            .field("portal_id", &self.portal_id)
            .field(
                "write_keys",
                &format_args!("<{} redacted>", self.write_keys.len()),
            )
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("oauth", &self.oauth.as_ref().map(|_| "<redacted>"))
            .field("rate_max", &self.rate_max)
            .field("rate_interval_ms", &self.rate_interval_ms)
            .field("profiles", &self.profiles)
            .finish_non_exhaustive()
    }
}

/// A configuration problem, said so a person can fix it.
#[derive(Debug, thiserror::Error)]
#[error("config: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the file, then applies environment overrides from `env` (a lookup, so tests need
    /// not touch the process environment): `HUBSPOT_ACCESS_TOKEN` (the only portal's, or any
    /// portal without one), `HUBSPOT_ACCESS_TOKEN_<NAME>` (per portal, NAME uppercased),
    /// `HUBSPOT_BASE_URL`, `HUBSPOT_CLOUD_LISTEN`, `HUBSPOT_CLOUD_QUEUE_PATH`,
    /// `HUBSPOT_CLOUD_PG_URL` (also selects the postgres queue), `HUBSPOT_CLOUD_SYNC_PG_URL`
    /// (also selects the postgres sync destination), `HUBSPOT_CLOUD_PROFILES_WRITE_KEY[_<NAME>]`
    /// (`[portals.profiles] write_key`, as for the access token).
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        config.sync.scheduled =
            toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("sync"));
        config.apply_env(env);
        config.validate()?;
        let a = &config.audiences;
        let audiences = AudienceSettings {
            mode: a.mode,
            create_contacts: a.create_contacts,
            identity: a.identity.trim().to_owned(),
            group: a.group.trim().to_owned(),
        };
        for p in &mut config.portals {
            p.audiences = audiences.clone();
        }
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        if let Some(v) = env("HUBSPOT_BASE_URL") {
            self.hubspot.base_url = v;
        }
        if let Some(v) = env("HUBSPOT_CLOUD_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = env("HUBSPOT_CLOUD_QUEUE_PATH") {
            self.queue.path = v.into();
        }
        if let Some(v) = env("HUBSPOT_CLOUD_SYNC_PG_URL") {
            self.sync.kind = SyncKind::Postgres;
            self.sync.url = Some(v);
        }
        if let Some(v) = env("HUBSPOT_CLOUD_PG_URL") {
            self.queue.kind = QueueKind::Postgres;
            self.queue.url = Some(v);
        }
        let shared = env("HUBSPOT_ACCESS_TOKEN");
        let shared_key = env("HUBSPOT_CLOUD_PROFILES_WRITE_KEY");
        for p in &mut self.portals {
            let own_key = env(&format!(
                "HUBSPOT_CLOUD_PROFILES_WRITE_KEY_{}",
                p.env_name()
            ));
            if let Some(profiles) = &mut p.profiles {
                if let Some(k) = own_key.or_else(|| {
                    profiles
                        .write_key
                        .is_none()
                        .then(|| shared_key.clone())
                        .flatten()
                }) {
                    profiles.write_key = Some(k);
                }
            }
            let own = env(&format!("HUBSPOT_ACCESS_TOKEN_{}", p.env_name()));
            if let Some(t) =
                own.or_else(|| p.access_token.is_none().then(|| shared.clone()).flatten())
            {
                p.access_token = Some(t);
            }
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.portals.is_empty() {
            return Err(ConfigError(
                "no [[portals]]: configure at least one HubSpot portal".into(),
            ));
        }
        let server = &self.server;
        for (key, ms) in [
            ("header_timeout_ms", server.header_timeout_ms),
            ("body_timeout_ms", server.body_timeout_ms),
            ("idle_timeout_ms", server.idle_timeout_ms),
        ] {
            if ms == 0 {
                return Err(ConfigError(format!(
                    "server.{key} = 0 would close every connection at once; give it milliseconds, or leave it out for the default"
                )));
            }
        }
        if server.max_connections == 0 {
            return Err(ConfigError(
                "server.max_connections = 0 would serve no one; it must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.sync.max_share) {
            return Err(ConfigError(format!(
                "sync.max_share = {} is not a share of the rate window; it must be from 0 to 1",
                self.sync.max_share
            )));
        }
        if self.hubspot.timeout_secs == 0 {
            return Err(ConfigError(
                "hubspot.timeout_secs = 0 would fail every HubSpot request; it must be at least 1"
                    .into(),
            ));
        }
        let mut keys = std::collections::HashSet::new();
        let mut names: BTreeMap<String, &str> = BTreeMap::new();
        for p in &self.portals {
            if let Some(other) = names.insert(p.env_name(), &p.name) {
                return Err(ConfigError(format!(
                    "portals '{other}' and '{}' have the same name once case, '-', '.' and spaces are ignored (both would take HUBSPOT_ACCESS_TOKEN_{}); rename one",
                    p.name,
                    p.env_name()
                )));
            }
            if !p.portal_id.chars().all(|c| c.is_ascii_digit()) || p.portal_id.is_empty() {
                return Err(ConfigError(format!(
                    "portal '{}': portal_id must be the Hub ID's digits",
                    p.name
                )));
            }
            if p.rate_max == 0 {
                return Err(ConfigError(format!(
                    "portal '{}': rate_max = 0 would never send a request; it must be at least 1",
                    p.name
                )));
            }
            if p.rate_interval_ms == 0 {
                return Err(ConfigError(format!(
                    "portal '{}': rate_interval_ms = 0 is no rate window; give HubSpot's (10000)",
                    p.name
                )));
            }
            if let Some(profiles) = &p.profiles {
                profiles
                    .resolve()
                    .map_err(|e| ConfigError(format!("portal '{}': {e}", p.name)))?;
            }
            for k in &p.write_keys {
                if !keys.insert(k) {
                    return Err(ConfigError(format!(
                        "a write key is listed for two portals (second: '{}')",
                        p.name
                    )));
                }
            }
        }
        if self.sync.kind == SyncKind::Postgres && self.sync.url.is_none() {
            return Err(ConfigError(
                "sync.kind = postgres needs sync.url (or HUBSPOT_CLOUD_SYNC_PG_URL)".into(),
            ));
        }
        let a = &self.audiences;
        for (key, value) in [("identity", &a.identity), ("group", &a.group)] {
            let ok = value.trim().starts_with(|c: char| c.is_ascii_lowercase())
                && value
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(ConfigError(format!(
                    "audiences.{key} = '{value}' is not a HubSpot internal name (lowercase letters, digits and _, starting with a letter)"
                )));
            }
        }
        if self.queue.kind == QueueKind::Postgres && self.queue.url.is_none() {
            return Err(ConfigError(
                "queue.kind = postgres needs queue.url (or HUBSPOT_CLOUD_PG_URL)".into(),
            ));
        }
        Ok(())
    }

    /// Checks that every portal has credentials. Only the commands that talk to HubSpot
    /// (`serve`, `send`, `check`) need them; `status` and `dead-letters` read the queue alone.
    pub fn require_credentials(&self) -> Result<(), ConfigError> {
        match self
            .portals
            .iter()
            .find(|p| p.access_token.is_none() && p.oauth.is_none())
        {
            Some(p) => Err(ConfigError(format!(
                "portal '{}' has no credentials: set access_token, [portals.oauth], HUBSPOT_ACCESS_TOKEN_{} or HUBSPOT_ACCESS_TOKEN",
                p.name,
                p.env_name()
            ))),
            None => Ok(()),
        }
    }

    /// The portal a write key belongs to.
    pub fn portal_for_key(&self, write_key: &str) -> Option<&PortalConfig> {
        self.portals
            .iter()
            .find(|p| p.write_keys.iter().any(|k| k == write_key))
    }

    /// The HTTP timeout for HubSpot calls.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.hubspot.timeout_secs)
    }
}

impl PortalConfig {
    /// The name as it appears in `HUBSPOT_ACCESS_TOKEN_<NAME>`: uppercased, with `-`, `.` and
    /// spaces as `_`. Two portals may not share it.
    pub fn env_name(&self) -> String {
        self.name.to_uppercase().replace(['-', ' ', '.'], "_")
    }

    /// Credentials for the client.
    pub fn credentials(&self) -> Credentials {
        match (&self.oauth, &self.access_token) {
            (Some(o), _) => Credentials::OAuth {
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.clone(),
                refresh_token: o.refresh_token.clone(),
            },
            (None, Some(t)) => Credentials::PrivateApp { token: t.clone() },
            (None, None) => Credentials::PrivateApp {
                token: String::new(),
            },
        }
    }

    /// The mapping settings.
    pub fn mapping(&self) -> MappingConfig {
        let mut m = MappingConfig::new(&self.portal_id);
        m.event_names = self
            .event_names
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m.format_event_names = self.format_event_names;
        m.page_event = self.page_event.clone();
        m.object_mappings = self
            .objects
            .iter()
            .map(|o| ObjectMapping {
                event: o.event.clone(),
                object_type: o.object_type.clone(),
                id_property: o.id_property.clone(),
                associate_contact: o.associate_contact,
            })
            .collect();
        m.audiences = self.audiences.clone();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "hubspot-cloud-config-{}-{}.toml",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn loads_with_env_overrides_and_redacts_secrets() {
        let p =
            write("[[portals]]\nname = \"main\"\nportal_id = \"123\"\nwrite_keys = [\"wk1\"]\n");
        let env = |k: &str| match k {
            "HUBSPOT_ACCESS_TOKEN" => Some("pat-secret".to_owned()),
            "HUBSPOT_BASE_URL" => Some("http://127.0.0.1:9".to_owned()),
            _ => None,
        };
        let c = Config::load(&p, env).unwrap();
        assert_eq!(c.portals[0].access_token.as_deref(), Some("pat-secret"));
        assert_eq!(c.hubspot.base_url, "http://127.0.0.1:9");
        assert_eq!(c.queue.kind, QueueKind::Sqlite);
        assert_eq!(c.portal_for_key("wk1").unwrap().name, "main");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("pat-secret") && !debug.contains("wk1"),
            "{debug}"
        );
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn human_durations() {
        let d = |s| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(d("3h"), Some(10_800));
        assert_eq!(d("30m"), Some(1_800));
        assert_eq!(d("1h30m"), Some(5_400));
        assert_eq!(d("45s"), Some(45));
        assert_eq!(d("2d"), Some(172_800));
        for bad in ["", "3", "h", "0m", "1.5h", "-1h"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn sync_defaults_and_one_file_per_portal_when_there_are_several() {
        let p = write("[[portals]]\nname = \"a\"\nportal_id = \"1\"\n");
        let c = Config::load(&p, |_| None).unwrap();
        assert_eq!(c.sync.path, "hubspot.db");
        assert_eq!(c.sync.lag_minutes, 60);
        assert_eq!(c.sync.email_history_days, 30);
        assert_eq!(c.sync.properties, PropertySelection::Default);
        assert_eq!(
            c.sync.associations_full_every,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(c.sync.max_share, 0.5);
        assert!(!c.sync.scheduled, "no [sync]: no schedule");
        assert_eq!(c.sync.path_for("a", 1), PathBuf::from("hubspot.db"));
        assert_eq!(c.sync.path_for("eu", 2), PathBuf::from("hubspot.eu.db"));
        let p = write(
            "[sync]\npath = \"/data/crm.sqlite\"\nproperties = \"all\"\nlag_minutes = 5\nemail_history_days = 90\nmax_share = 0.25\nevery = \"1h30m\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
        );
        let c = Config::load(&p, |_| None).unwrap();
        assert_eq!(c.sync.properties, PropertySelection::All);
        assert_eq!(c.sync.lag_minutes, 5);
        assert_eq!(c.sync.email_history_days, 90);
        for (every, secs) in [("12", 12 * 3600), ("\"90m\"", 5400), ("\"2d\"", 172_800)] {
            let p = write(&format!(
                "[sync]\nassociations_full_every = {every}\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n"
            ));
            let c = Config::load(&p, |_| None).unwrap();
            assert_eq!(
                c.sync.associations_full_every,
                Duration::from_secs(secs),
                "{every}"
            );
        }
        let p = write(
            "[sync]\nassociations_full_every = \"daily\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
        );
        assert!(Config::load(&p, |_| None).is_err());
        assert_eq!(c.sync.max_share, 0.25);
        assert!(c.sync.scheduled);
        assert_eq!(c.sync.every, Duration::from_secs(5400));
        assert_eq!(
            c.sync.path_for("us", 3),
            PathBuf::from("/data/crm.us.sqlite")
        );
        let p =
            write("[sync]\nproperties = \"some\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n");
        let e = Config::load(&p, |_| None).unwrap_err().to_string();
        assert!(e.contains("\"default\", \"all\", or a table"), "{e}");
        let p = write(
            "[sync]\nproperties = { contacts = [\"firstname\", \"plan\"], companies = \"all\" }\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
        );
        let c = Config::load(&p, |_| None).unwrap();
        assert_eq!(
            c.sync.properties.for_object("contacts"),
            ObjectProperties::Named(vec!["firstname".into(), "plan".into()])
        );
        assert_eq!(
            c.sync.properties.for_object("companies"),
            ObjectProperties::All
        );
        assert_eq!(
            c.sync.properties.for_object("deals"),
            ObjectProperties::Default
        );
        let p = write(
            "[sync]\nproperties = { contacts = 3 }\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
        );
        assert!(Config::load(&p, |_| None).is_err());
        let p = write("[sync]\nmax_share = 1.5\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n");
        let e = Config::load(&p, |_| None).unwrap_err().to_string();
        assert!(e.contains("sync.max_share = 1.5"), "{e}");
        let p =
            write("[sync]\nevery = \"3 hours\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n");
        let e = Config::load(&p, |_| None).unwrap_err().to_string();
        assert!(e.contains("'3 hours' is not a duration"), "{e}");
        let p = write("[sync]\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n");
        let c = Config::load(&p, |_| None).unwrap();
        assert!(c.sync.scheduled);
        assert_eq!(c.sync.every, Duration::from_secs(3 * 3600));
    }

    #[test]
    fn a_postgres_sync_target_is_a_schema_per_portal_and_needs_a_url() {
        let p = write(
            "[sync]\nkind = \"postgres\"\nurl = \"postgres://sync:pw@db/warehouse\"\n\
             [[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
        );
        let c = Config::load(&p, |_| None).unwrap();
        let target = c.sync.target_for("a", 1);
        assert_eq!(
            target,
            SyncTarget::Postgres {
                url: "postgres://sync:pw@db/warehouse".into(),
                schema: "hubspot".into()
            }
        );
        // Named without the URL, whose password would reach the terminal and logs.
        assert_eq!(target.to_string(), "PostgreSQL schema hubspot");
        assert_eq!(format!("{target:?}"), "PostgreSQL schema hubspot");
        assert_eq!(c.sync.schema_for("eu", 2), "hubspot_eu");
        let p =
            write("[sync]\nkind = \"postgres\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n");
        let e = Config::load(&p, |_| None).unwrap_err().to_string();
        assert!(e.contains("sync.kind = postgres needs sync.url"), "{e}");
        let env =
            |k: &str| (k == "HUBSPOT_CLOUD_SYNC_PG_URL").then(|| "postgres://db/w".to_owned());
        let c = Config::load(&p, env).unwrap();
        assert!(matches!(
            c.sync.target_for("a", 1),
            SyncTarget::Postgres { .. }
        ));
        // Without `kind`, the SQLite file as before.
        let p = write("[sync]\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n");
        let c = Config::load(&p, |_| None).unwrap();
        assert_eq!(
            c.sync.target_for("a", 1),
            SyncTarget::Sqlite(PathBuf::from("hubspot.db"))
        );
    }

    #[test]
    fn the_postgres_url_from_the_environment_selects_the_postgres_queue() {
        let p = write(
            "[queue]\nkind = \"sqlite\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\naccess_token = \"t\"\n",
        );
        let env = |k: &str| {
            (k == "HUBSPOT_CLOUD_PG_URL").then(|| "postgres://relay@db:5432/hubspot".to_owned())
        };
        let c = Config::load(&p, env).unwrap();
        assert_eq!(c.queue.kind, QueueKind::Postgres);
        assert_eq!(
            c.queue.url.as_deref(),
            Some("postgres://relay@db:5432/hubspot")
        );
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn errors_say_what_to_fix() {
        for (text, words) in [
            ("", "no [[portals]]"),
            (
                "[[portals]]\nname = \"a\"\nportal_id = \"x1\"\naccess_token = \"t\"\n",
                "portal_id must be",
            ),
            (
                "[queue]\nkind = \"redis\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\naccess_token = \"t\"\n",
                "unknown variant `redis`, expected one of `sqlite`, `postgres`, `memory`",
            ),
            ("[server]\nlisten = 1\n", "listen"),
            ("[surprise]\n", "unknown field"),
            (
                "[[portals]]\nname = \"eu-main\"\nportal_id = \"1\"\n[[portals]]\nname = \"EU_Main\"\nportal_id = \"2\"\n",
                "portals 'eu-main' and 'EU_Main' have the same name",
            ),
            (
                "[[portals]]\nname = \"a\"\nportal_id = \"1\"\nrate_max = 0\n",
                "portal 'a': rate_max = 0",
            ),
            (
                "[[portals]]\nname = \"a\"\nportal_id = \"1\"\nrate_interval_ms = 0\n",
                "portal 'a': rate_interval_ms = 0",
            ),
            (
                "[server]\nheader_timeout_ms = 0\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
                "server.header_timeout_ms = 0",
            ),
            (
                "[server]\nbody_timeout_ms = 0\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
                "server.body_timeout_ms = 0",
            ),
            (
                "[server]\nidle_timeout_ms = 0\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
                "server.idle_timeout_ms = 0",
            ),
            (
                "[server]\nmax_connections = 0\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
                "server.max_connections = 0",
            ),
            (
                "[hubspot]\ntimeout_secs = 0\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
                "hubspot.timeout_secs = 0",
            ),
            (
                "[audiences]\nidentity = \"User Id\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
                "audiences.identity = 'User Id' is not a HubSpot internal name",
            ),
            (
                "[audiences]\nmode = \"segment\"\n[[portals]]\nname = \"a\"\nportal_id = \"1\"\n",
                "unknown variant `segment`, expected `property` or `list`",
            ),
        ] {
            let p = write(text);
            let e = Config::load(&p, |_| None).unwrap_err().to_string();
            assert!(e.contains(words), "{text:?}: {e}");
            std::fs::remove_file(p).ok();
        }
    }

    #[test]
    fn audiences_reach_every_portal() {
        let p = write(
            "[audiences]\nmode = \"list\"\ncreate_contacts = false\nidentity = \"user_id\"\n\
             [[portals]]\nname = \"a\"\nportal_id = \"1\"\n[[portals]]\nname = \"b\"\nportal_id = \"2\"\n",
        );
        let c = Config::load(&p, |_| None).unwrap();
        for portal in &c.portals {
            let a = portal.mapping().audiences;
            assert_eq!(
                (
                    a.mode,
                    a.create_contacts,
                    a.identity.as_str(),
                    a.group.as_str()
                ),
                (AudienceMode::List, false, "user_id", "audiences")
            );
        }
        std::fs::remove_file(p).ok();
    }

    #[test]
    fn credentials_are_checked_only_when_asked() {
        let p = write("[[portals]]\nname = \"eu-main\"\nportal_id = \"1\"\n");
        let c = Config::load(&p, |_| None).unwrap();
        let e = c.require_credentials().unwrap_err().to_string();
        assert!(
            e.contains("portal 'eu-main' has no credentials")
                && e.contains("HUBSPOT_ACCESS_TOKEN_EU_MAIN"),
            "{e}"
        );
        let with_env = Config::load(&p, |k| {
            (k == "HUBSPOT_ACCESS_TOKEN_EU_MAIN").then(|| "t".to_owned())
        })
        .unwrap();
        assert!(with_env.require_credentials().is_ok());
        std::fs::remove_file(p).ok();
    }
}
