//! `hubspot-cloud`: the relay and its tools. Glue only; the library does the work.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use hubspot_cloud::app;
use hubspot_cloud::client::{HubSpotApi, HubSpotClient};
use hubspot_cloud::clock::{Clock, SystemClock};
use hubspot_cloud::config::Config;
use hubspot_cloud::delivery::Report;
use hubspot_cloud::mapping::{map_message, ordering_key};
use hubspot_cloud::profiles::{self, Receiver};
use hubspot_cloud::queue::Queue;
use hubspot_cloud::relay::{self, Metrics, Relay};
use hubspot_cloud::source;

#[derive(Parser)]
#[command(
    name = "hubspot-cloud",
    version,
    about = "Delivers Segment-spec events to HubSpot's API: a Segment-compatible HTTP relay with a durable queue, and its tools."
)]
struct Cli {
    /// The TOML configuration file.
    #[arg(
        long,
        short,
        global = true,
        default_value = "hubspot-cloud.toml",
        env = "HUBSPOT_CLOUD_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Segment's HTTP Tracking API and deliver to HubSpot.
    Serve,
    /// Queue and deliver Segment messages from an NDJSON file (`-` for stdin).
    Send {
        /// NDJSON file, one Segment message per line.
        file: String,
        /// Portal to send to (default: the first configured).
        #[arg(long)]
        portal: Option<String>,
        /// Only queue the messages (a running `serve` delivers them).
        #[arg(long)]
        no_deliver: bool,
    },
    /// Audience memberships (`[audiences]`).
    Audiences {
        #[command(subcommand)]
        action: AudienceAction,
    },
    /// Queue counts.
    Status,
    /// Messages that can never be delivered.
    DeadLetters {
        #[command(subcommand)]
        action: DeadAction,
    },
    /// Check the token, scopes, properties and event definitions against each portal (read-only).
    Check,
    /// Sync each portal's CRM and email data into its SQLite file or PostgreSQL schema
    /// (`[sync]`).
    Sync {
        /// `status`: per collection, the cursor, the last successful run and the row count.
        #[command(subcommand)]
        action: Option<SyncAction>,
        /// Only this portal (default: every configured portal).
        #[arg(long, global = true)]
        portal: Option<String>,
        /// Forget the cursors and read everything again.
        #[arg(long)]
        full_refresh: bool,
        /// Comma-separated collections (default: all of contacts,companies,deals,tickets,
        /// custom_objects,contact_lists,form_submissions,owners,pipelines,email_events,
        /// email_campaigns,email_subscriptions,email_subscription_event_changes); a custom object
        /// by its table name.
        #[arg(long, value_delimiter = ',')]
        collections: Vec<String>,
    },
    /// Profiles out: synced HubSpot records as Segment calls (`[portals.profiles]`).
    Profiles {
        #[command(subcommand)]
        action: ProfilesAction,
    },
}

#[derive(Subcommand)]
enum ProfilesAction {
    /// Send the synced contacts and companies that changed since the last export to
    /// `[portals.profiles] endpoint` as Segment identify and group calls.
    Export {
        /// Print the calls as NDJSON instead; send and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this portal (default: every portal with `[portals.profiles]`).
        #[arg(long)]
        portal: Option<String>,
    },
}

#[derive(Subcommand)]
enum AudienceAction {
    /// Queue and deliver a membership file: CSV (with a header) or NDJSON rows of `email` (or
    /// the `[audiences] identity` column), `audience`, `status` (realized/exited, true/false).
    Load {
        /// The membership file.
        file: String,
        /// Portal to send to (default: the first configured).
        #[arg(long)]
        portal: Option<String>,
        /// Only queue the memberships (a running `serve` delivers them).
        #[arg(long)]
        no_deliver: bool,
    },
}

#[derive(Subcommand)]
enum SyncAction {
    /// Per collection: the cursor, the last successful run, the row count.
    Status,
}

#[derive(Subcommand)]
enum DeadAction {
    /// List dead letters with their reasons.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Put dead letters back in the queue.
    Replay {
        /// Job ids (default: all).
        #[arg(long = "id")]
        ids: Vec<u64>,
    },
    /// Delete dead letters.
    Drop {
        /// Job ids (default: all).
        #[arg(long = "id")]
        ids: Vec<u64>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files and log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config = Arc::new(Config::load(&cli.config, |k| std::env::var(k).ok())?);
    if let Command::Sync {
        action,
        portal,
        full_refresh,
        collections,
    } = cli.command
    {
        let portals = sync_portals(&config, portal.as_deref())?;
        return match action {
            Some(SyncAction::Status) => sync_status(&config, &portals).await,
            None => {
                config.require_credentials()?;
                sync(&config, &portals, full_refresh, collections).await
            }
        };
    }
    if let Command::Profiles {
        action: ProfilesAction::Export { dry_run, portal },
    } = cli.command
    {
        return profiles_export(&config, portal.as_deref(), dry_run).await;
    }
    if matches!(
        cli.command,
        Command::Serve | Command::Send { .. } | Command::Audiences { .. } | Command::Check
    ) {
        config.require_credentials()?;
    }
    let queue = app::open_queue(&config)
        .await
        .context("opening the queue")?;
    match cli.command {
        Command::Serve => serve(config, queue).await,
        Command::Send {
            file,
            portal,
            no_deliver,
        } => send(&config, queue, &file, portal, no_deliver).await,
        Command::Audiences {
            action:
                AudienceAction::Load {
                    file,
                    portal,
                    no_deliver,
                },
        } => load_audiences(&config, queue, &file, portal, no_deliver).await,
        Command::Status => {
            let s = queue.status().await?;
            println!(
                "queued    {}\nretrying  {}\nin flight {}\ndead      {}\npruned    {}\ndelivered {}",
                s.queued, s.retrying, s.in_flight, s.dead, s.dead_pruned, s.delivered
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::DeadLetters { action } => dead_letters(queue, action).await,
        Command::Check => check(&config).await,
        Command::Sync { .. } | Command::Profiles { .. } => {
            unreachable!("handled before the queue opens")
        }
    }
}

/// The portals a sync command covers: the named one, or all.
fn sync_portals<'a>(
    config: &'a Config,
    name: Option<&str>,
) -> Result<Vec<&'a hubspot_cloud::config::PortalConfig>> {
    Ok(match name {
        Some(name) => vec![
            config
                .portals
                .iter()
                .find(|p| p.name == name)
                .with_context(|| format!("no portal named '{name}'"))?,
        ],
        None => config.portals.iter().collect(),
    })
}

async fn sync(
    config: &Config,
    portals: &[&hubspot_cloud::config::PortalConfig],
    full_refresh: bool,
    collections: Vec<String>,
) -> Result<ExitCode> {
    // Names that are not built in may be custom objects: the portal's schemas tell, in the
    // run (an unknown one fails that collection).
    let collections = if collections.is_empty() {
        source::COLLECTIONS
            .iter()
            .map(|c| (*c).to_owned())
            .collect()
    } else {
        collections
    };
    let options = source::SyncOptions::from_config(&config.sync, collections, full_refresh);
    // With a PostgreSQL queue, relays may be calling the same portals: share their windows.
    let budget = app::rate_budget(config)
        .await
        .context("opening the shared rate limiter")?;
    let mut failed = false;
    for p in portals {
        let target = config.sync.target_for(&p.name, config.portals.len());
        let mut db = source::open_for_sync(&target, &p.name)
            .await
            .with_context(|| format!("opening {target}"))?;
        let client = Arc::new(HubSpotClient::new(
            &config.hubspot.base_url,
            p.credentials(),
            config.timeout(),
        ));
        let started = std::time::Instant::now();
        let progress = SyncProgress::new(&p.name);
        let report = source::Source::new(
            &p.name,
            client,
            Arc::new(SystemClock),
            &budget,
            p.rate_max,
            Duration::from_millis(p.rate_interval_ms),
            config.sync.max_share,
        )
        .on_progress(move |event| progress.show(event))
        .sync(&mut db, &options)
        .await;
        println!("portal {} -> {target}", p.name);
        // As wide as the longest table name, `email_subscription_event_changes`.
        println!("  {:<32} inserted  updated  deleted restored", "table");
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        for t in &report.tables {
            for w in &t.warnings {
                eprintln!("warning: {w}");
            }
            match &t.error {
                Some(e) => {
                    failed = true;
                    println!("  {:<32} FAILED: {e}", t.collection);
                }
                None => println!(
                    "  {:<32} {:>8} {:>8} {:>8} {:>8}",
                    t.collection, t.inserted, t.updated, t.deleted, t.restored
                ),
            }
        }
        // Links are written by each object's run; the table gets one line.
        let links = report.tables.iter().fold((0, 0, 0), |(i, u, d), t| {
            (
                i + t.associations.inserted,
                u + t.associations.updated,
                d + t.associations.deleted,
            )
        });
        println!(
            "  {:<32} {:>8} {:>8} {:>8} {:>8}",
            "associations", links.0, links.1, links.2, "-"
        );
        // Memberships are written by the lists' run, which fills `memberships`.
        if let Some(m) = report
            .tables
            .iter()
            .find(|t| t.collection == source::lists::COLLECTION && t.error.is_none())
        {
            println!(
                "  {:<32} {:>8} {:>8} {:>8} {:>8}",
                "contact_list_memberships",
                m.memberships.inserted,
                m.memberships.updated,
                m.memberships.deleted,
                "-"
            );
        }
        // Identities are written by the contacts' run.
        if let Some(c) = report
            .tables
            .iter()
            .find(|t| t.collection == "contacts" && t.error.is_none())
        {
            println!(
                "  {:<32} {:>8} {:>8} {:>8} {:>8}",
                "contact_identities",
                c.identities.inserted,
                c.identities.updated,
                c.identities.deleted,
                "-"
            );
        }
        println!(
            "  {} HubSpot requests in {:.1}s",
            report.requests,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `sync`'s progress on stderr: a bar per collection (rows committed, requests, time) at a
/// terminal; elsewhere (CI logs, files) one plain line per finished collection.
struct SyncProgress {
    portal: String,
    /// The bars' group, at a terminal only.
    bars: Option<indicatif::MultiProgress>,
    /// The running collection's bar and start.
    current: std::sync::Mutex<Option<(indicatif::ProgressBar, std::time::Instant)>>,
}

impl SyncProgress {
    fn new(portal: &str) -> SyncProgress {
        SyncProgress {
            portal: portal.to_owned(),
            bars: std::io::IsTerminal::is_terminal(&std::io::stderr())
                .then(indicatif::MultiProgress::new),
            current: std::sync::Mutex::new(None),
        }
    }

    fn show(&self, event: source::Progress<'_>) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            source::Progress::Started { collection } => {
                let bar = match &self.bars {
                    Some(bars) => {
                        let bar = bars.add(indicatif::ProgressBar::new_spinner());
                        bar.set_style(
                            indicatif::ProgressStyle::with_template(
                                "{spinner} {prefix:<26} {pos:>9} rows  {msg} ({elapsed})",
                            )
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                        );
                        bar.set_prefix(format!("{} {collection}", self.portal));
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bar
                    }
                    None => indicatif::ProgressBar::hidden(),
                };
                *current = Some((bar, std::time::Instant::now()));
            }
            source::Progress::Advanced { rows, requests, .. } => {
                if let Some((bar, _)) = current.as_ref() {
                    bar.set_position(rows);
                    bar.set_message(format!("{requests} requests"));
                }
            }
            source::Progress::Finished {
                report,
                rows,
                requests,
            } => {
                let Some((bar, started)) = current.take() else {
                    return;
                };
                let outcome = match &report.error {
                    Some(_) => "FAILED",
                    None => "done",
                };
                if self.bars.is_some() {
                    bar.set_position(rows);
                    bar.finish_with_message(format!("{requests} requests, {outcome}"));
                } else {
                    eprintln!(
                        "{} {}: {rows} rows, {requests} requests, {:.1}s, {outcome}",
                        self.portal,
                        report.collection,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}

/// `profiles export`: each portal with `[portals.profiles]` (or the named one), one summary
/// line each; a dry run's calls go to stdout and its summary to stderr.
async fn profiles_export(config: &Config, name: Option<&str>, dry_run: bool) -> Result<ExitCode> {
    let portals: Vec<_> = sync_portals(config, name)?
        .into_iter()
        .filter(|p| p.profiles.is_some() || name.is_some())
        .collect();
    if portals.is_empty() {
        bail!("no portal has [portals.profiles]: nothing to export");
    }
    for p in portals {
        let target = config.sync.target_for(&p.name, config.portals.len());
        let mut db = source::open_for_sync(&target, &p.name)
            .await
            .with_context(|| format!("opening {target}"))?;
        let s = export_profiles(config, p, &mut db, dry_run).await?;
        let line = format!(
            "portal {}: sent {}, skipped without identity {}, unchanged {}, deleted {}, too large {} ({} requests)",
            p.name,
            s.sent,
            s.skipped_no_identity,
            s.unchanged,
            s.deleted,
            s.skipped_too_large,
            s.requests
        );
        if dry_run {
            eprintln!("{line} (dry run: nothing sent)");
        } else {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Exports `portal`'s profiles from `db`, its sync destination.
async fn export_profiles(
    config: &Config,
    portal: &hubspot_cloud::config::PortalConfig,
    db: &mut source::db::Db,
    dry_run: bool,
) -> Result<profiles::ExportSummary> {
    let settings = portal
        .profiles
        .as_ref()
        .with_context(|| format!("portal '{}' has no [portals.profiles]", portal.name))?
        .resolve()
        .map_err(|e| anyhow::anyhow!("portal '{}': {e}", portal.name))?;
    let receiver = Receiver::new(&settings.batch_url, &settings.write_key, config.timeout());
    let mut stdout = std::io::stdout();
    let output = if dry_run {
        profiles::Output::DryRun(&mut stdout)
    } else {
        profiles::Output::Send(&receiver)
    };
    profiles::export(db, &portal.portal_id, &settings, output)
        .await
        .with_context(|| format!("portal '{}': profiles export", portal.name))
}

async fn sync_status(
    config: &Config,
    portals: &[&hubspot_cloud::config::PortalConfig],
) -> Result<ExitCode> {
    let iso = |ms: Option<i64>| ms.map_or("-".to_owned(), hubspot_core::date::format_iso_ms);
    for p in portals {
        let target = config.sync.target_for(&p.name, config.portals.len());
        let db = source::open(&target)
            .await
            .with_context(|| format!("opening {target}"))?;
        println!("portal {} ({target})", p.name);
        println!(
            "  {:<32} {:<9} {:<25} last success",
            "collection", "rows", "cursor"
        );
        for s in source::status(db.sql(), &p.name).await? {
            let (cursor, last) = match &s.state {
                Some(st) => (
                    format!(
                        "{}{}",
                        // 0: the collection had no record yet.
                        iso(Some(st.cursor_ms).filter(|ms| *ms > 0)),
                        if st.run_started_ms.is_some() {
                            " (run interrupted, resumes)"
                        } else {
                            ""
                        }
                    ),
                    iso(st.last_success_ms),
                ),
                None => ("never synced".to_owned(), "-".to_owned()),
            };
            println!("  {:<32} {:<9} {:<25} {last}", s.collection, s.rows, cursor);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Arc<Config>, queue: Arc<dyn Queue>) -> Result<ExitCode> {
    let recovered = queue.recover().await.context("recovering the queue")?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "messages leased by a previous run that did not finish are offered again"
        );
    }
    let metrics = Arc::new(Metrics::new());
    let relay = Relay::new(config.clone(), queue.clone(), metrics.clone());
    let budget = app::rate_budget(&config)
        .await
        .context("opening the shared rate limiter")?;
    let engine = app::engine(&config, queue.clone(), budget);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut syncs = Vec::new();
    if config.sync.scheduled {
        for p in &config.portals {
            let last = Arc::new(source::schedule::LastRun::default());
            relay.watch_sync(&p.name, last.clone());
            let pacer = engine.pacer(&p.name).context("a portal without a pacer")?;
            let (config, portal, stop) = (config.clone(), p.clone(), stop_rx.clone());
            // A sync holds its SQLite connection across awaits (the future is not `Send`) and
            // SQLite calls block, so it runs on a thread of its own, driving the runtime from
            // there; PostgreSQL's connection task runs on the runtime as usual.
            let handle = tokio::runtime::Handle::current();
            syncs.push(tokio::task::spawn_blocking(move || {
                handle.block_on(source::schedule::every(
                    &portal.name,
                    config.sync.every,
                    &last,
                    || scheduled_sync(&config, &portal, &pacer),
                    stop,
                ))
            }));
        }
    }
    let delivery = tokio::spawn(relay::deliver_forever(
        engine,
        queue,
        Some(relay.clone()),
        metrics,
        stop_rx,
    ));
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    println!(
        "hubspot-cloud relay listening on http://{}",
        listener.local_addr()?
    );
    relay::serve(listener, relay, async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = delivery.await;
    for s in syncs {
        let _ = s.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// One scheduled sync of `portal`, its calls through delivery's `pacer`: every collection,
/// incrementally, then its profiles export when `[portals.profiles]` is set. Fails with the
/// failed collections' errors (or the export's) in one line.
async fn scheduled_sync(
    config: &Config,
    portal: &hubspot_cloud::config::PortalConfig,
    pacer: &hubspot_cloud::delivery::Pacer,
) -> std::result::Result<(), String> {
    let target = config.sync.target_for(&portal.name, config.portals.len());
    let mut db = source::open_for_sync(&target, &portal.name)
        .await
        .map_err(|e| format!("opening {target}: {e}"))?;
    let client = Arc::new(HubSpotClient::new(
        &config.hubspot.base_url,
        portal.credentials(),
        config.timeout(),
    ));
    let all = source::COLLECTIONS
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    let options = source::SyncOptions::from_config(&config.sync, all, false);
    let report = source::Source::with_pacer(&portal.name, client, pacer)
        .sync(&mut db, &options)
        .await;
    for w in report
        .warnings
        .iter()
        .chain(report.tables.iter().flat_map(|t| &t.warnings))
    {
        tracing::warn!(portal = %portal.name, "{w}");
    }
    let failed: Vec<String> = report
        .tables
        .iter()
        .filter_map(|t| Some(format!("{}: {}", t.collection, t.error.as_ref()?)))
        .collect();
    if !failed.is_empty() {
        return Err(failed.join("; "));
    }
    tracing::info!(portal = %portal.name, requests = report.requests, "scheduled sync done");
    if portal.profiles.is_some() {
        let s = export_profiles(config, portal, &mut db, false)
            .await
            .map_err(|e| format!("{e:#}"))?;
        tracing::info!(
            portal = %portal.name,
            sent = s.sent,
            skipped_no_identity = s.skipped_no_identity,
            unchanged = s.unchanged,
            deleted = s.deleted,
            "profiles export done"
        );
    }
    Ok(())
}

/// The named portal, or the first configured.
fn pick_portal(
    config: &Config,
    portal: Option<String>,
) -> Result<&hubspot_cloud::config::PortalConfig> {
    Ok(match portal {
        Some(name) => config
            .portals
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("no portal named '{name}'"))?,
        None => &config.portals[0],
    })
}

/// Checks one message as the relay does and maps it; the queue item, or why it is refused.
fn prepare_line(
    message: std::result::Result<serde_json::Value, String>,
    mapping: &hubspot_cloud::mapping::MappingConfig,
) -> std::result::Result<(String, hubspot_core::Event), String> {
    message
        .and_then(|v| relay::prepare(v, SystemClock.now_ms()).map_err(|(_, e)| e))
        .and_then(|ev| {
            map_message(&ev, mapping)
                .map(|_| ev)
                .map_err(|r| r.to_string())
        })
        .map(|ev| (ordering_key(&ev), ev))
}

async fn send(
    config: &Config,
    queue: Arc<dyn Queue>,
    file: &str,
    portal: Option<String>,
    no_deliver: bool,
) -> Result<ExitCode> {
    let portal = pick_portal(config, portal)?;
    let input: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| format!("opening {file}"))?)
    };
    let mapping = portal.mapping();
    let (mut items, mut rejected) = (Vec::new(), Vec::new());
    for (n, line) in BufReader::new(input).lines().enumerate() {
        let line = line.context("reading input")?;
        if line.trim().is_empty() {
            continue;
        }
        let message = serde_json::from_str(&line).map_err(|e| format!("invalid JSON: {e}"));
        match prepare_line(message, &mapping) {
            Ok(item) => items.push(item),
            Err(reason) => rejected.push(format!("line {}: {reason}", n + 1)),
        }
    }
    deliver(config, queue, portal, items, rejected, no_deliver).await
}

/// `audiences load`: the file's rows become Engage's messages and go the way `send`'s do.
async fn load_audiences(
    config: &Config,
    queue: Arc<dyn Queue>,
    file: &str,
    portal: Option<String>,
    no_deliver: bool,
) -> Result<ExitCode> {
    let portal = pick_portal(config, portal)?;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let (messages, bad) = hubspot_cloud::audiences::parse(&text, &portal.audiences.identity);
    let mapping = portal.mapping();
    let mut rejected: Vec<String> = bad
        .into_iter()
        .map(|b| format!("line {}: {}", b.line, b.reason))
        .collect();
    let mut items = Vec::with_capacity(messages.len());
    for (line, message) in messages {
        match prepare_line(Ok(message), &mapping) {
            Ok(item) => items.push(item),
            Err(reason) => rejected.push(format!("line {line}: {reason}")),
        }
    }
    deliver(config, queue, portal, items, rejected, no_deliver).await
}

/// Queues `items` for `portal`, then (unless `no_deliver`) delivers until they are settled,
/// with a progress bar; prints the counts and the first rejections and dead letters.
async fn deliver(
    config: &Config,
    queue: Arc<dyn Queue>,
    portal: &hubspot_cloud::config::PortalConfig,
    items: Vec<(String, hubspot_core::Event)>,
    rejected: Vec<String>,
    no_deliver: bool,
) -> Result<ExitCode> {
    let total = items.len() as u64;
    for chunk in items.chunks(500) {
        queue.enqueue(&portal.name, chunk.to_vec()).await?;
    }
    let (mut delivered, mut dead) = (0u64, Vec::new());
    if !no_deliver && total > 0 {
        let budget = app::rate_budget(config)
            .await
            .context("opening the shared rate limiter")?;
        let engine = app::engine(config, queue.clone(), budget);
        let bar = indicatif::ProgressBar::new(total).with_message("delivered");
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        while delivered + (dead.len() as u64) < total {
            let worked = engine.run_once().await?;
            for r in engine.take_reports() {
                match r {
                    Report::Delivered { .. } => delivered += 1,
                    Report::Dead { job, reason } => dead.push(format!("job {job}: {reason}")),
                }
            }
            bar.set_position(delivered + dead.len() as u64);
            if worked == 0 {
                if queue.depth().await? == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        bar.finish();
    }
    println!(
        "queued {total}, delivered {delivered}, dead {}, rejected {}",
        dead.len(),
        rejected.len()
    );
    for line in rejected.iter().chain(dead.iter()).take(20) {
        println!("  {line}");
    }
    Ok(if rejected.is_empty() && dead.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn dead_letters(queue: Arc<dyn Queue>, action: DeadAction) -> Result<ExitCode> {
    let ids = |ids: Vec<u64>| (!ids.is_empty()).then_some(ids);
    match action {
        DeadAction::List { limit } => {
            for d in queue.dead_letters(limit).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    d.job.id,
                    d.job.portal,
                    d.job.message.kind.as_str(),
                    hubspot_core::date::format_iso_ms(d.failed_at_ms as i64),
                    d.reason
                );
            }
        }
        DeadAction::Replay { ids: list } => {
            println!("replayed {}", queue.replay_dead(ids(list)).await?)
        }
        DeadAction::Drop { ids: list } => println!("dropped {}", queue.drop_dead(ids(list)).await?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Read-only checks against each portal.
async fn check(config: &Config) -> Result<ExitCode> {
    let mut failures = 0;
    let mut report = |ok: bool, what: String| {
        println!("{} {what}", if ok { "ok  " } else { "FAIL" });
        failures += usize::from(!ok);
    };
    for p in &config.portals {
        let client =
            HubSpotClient::new(&config.hubspot.base_url, p.credentials(), config.timeout());
        for object_type in ["contacts", "companies"] {
            match client.properties(object_type).await {
                Ok(defs) => report(
                    true,
                    format!(
                        "{}: token works, {object_type} readable ({} properties)",
                        p.name,
                        defs.len()
                    ),
                ),
                Err(e) => report(false, format!("{}: {object_type}: {e}", p.name)),
            }
        }
        for o in &p.objects {
            match client.properties(&o.object_type).await {
                Ok(defs) => report(
                    defs.iter().any(|d| d.name == o.id_property),
                    format!(
                        "{}: {} has the id property {}",
                        p.name, o.object_type, o.id_property
                    ),
                ),
                Err(e) => report(false, format!("{}: {}: {e}", p.name, o.object_type)),
            }
        }
        // Audiences: the identity property exists, and there is room for audience properties.
        let identity = &p.audiences.identity;
        if identity != "email" {
            match client.properties("contacts").await {
                Ok(defs) => report(
                    defs.iter().any(|d| d.name == *identity),
                    format!("{}: contacts have the audience identity {identity}", p.name),
                ),
                Err(e) => report(false, format!("{}: contacts: {e}", p.name)),
            }
        }
        match client.property_limit("0-1").await {
            Ok(l) => report(
                l.usage < l.limit,
                format!(
                    "{}: {} of {} custom contact properties used (each audience in property mode needs one)",
                    p.name, l.usage, l.limit
                ),
            ),
            Err(e) => report(false, format!("{}: custom-property limits: {e}", p.name)),
        }
        for name in p.event_names.values() {
            match client.event_definition(name).await {
                Ok(Some(props)) => report(
                    true,
                    format!(
                        "{}: event {name} is defined ({} properties)",
                        p.name,
                        props.len()
                    ),
                ),
                Ok(None) => report(
                    false,
                    format!("{}: event {name} has no definition in the portal", p.name),
                ),
                Err(e) => report(false, format!("{}: event {name}: {e}", p.name)),
            }
        }
    }
    if failures > 0 {
        bail!("{failures} check(s) failed");
    }
    Ok(ExitCode::SUCCESS)
}
