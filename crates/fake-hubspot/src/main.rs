//! `fake-hubspot`: runs the fake HubSpot API until killed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clap::Parser;
use fake_hubspot::{
    AccessToken, DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig, GeneratedPortal, OAuthApp,
    PortalSizes, RateLimits,
};

/// A fake HubSpot REST API on 127.0.0.1 for tests and demos.
///
/// Control it from other processes with `GET /_fake/state`, `POST /_fake/faults`,
/// `POST /_fake/reset`, `POST /_fake/tokens` and the data controls of the README.
#[derive(Debug, Parser)]
#[command(name = "fake-hubspot", version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the line printed at start says which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Accepted bearer token; repeat for several.
    #[arg(long = "token", default_values_t = [DEFAULT_TOKEN.to_string()])]
    tokens: Vec<String>,
    /// Requests allowed per rolling window, per token.
    #[arg(long, default_value_t = 100)]
    rate_max: u32,
    /// Length of the rolling window in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    rate_interval_ms: u64,
    /// Requests allowed per UTC day, per token.
    #[arg(long, default_value_t = 250_000)]
    daily_max: u64,
    /// CRM search requests allowed per second, per token.
    #[arg(long, default_value_t = 5)]
    search_per_sec: u32,
    /// Milliseconds a write stays invisible to search.
    #[arg(long, default_value_t = 0)]
    search_lag_ms: u64,
    /// Custom properties allowed per object type.
    #[arg(long, default_value_t = 1000)]
    custom_property_limit: usize,
    /// Portal (hub) id.
    #[arg(long, default_value_t = DEFAULT_PORTAL_ID)]
    portal_id: u64,
    /// Allowed custom event: full eventName, optionally with its properties
    /// (`pe123456_signed_up:plan,source`); repeat for several.
    #[arg(long = "event", value_name = "NAME[:PROP,...]")]
    events: Vec<String>,
    /// The portal's plan lacks custom behavioral events (403 on /events/v3/...).
    #[arg(long)]
    no_custom_events: bool,
    /// OAuth client id accepted by POST /oauth/v1/token.
    #[arg(long, default_value = "fake-client-id")]
    client_id: String,
    /// OAuth client secret.
    #[arg(long, default_value = "fake-client-secret")]
    client_secret: String,
    /// OAuth refresh token.
    #[arg(long, default_value = "fake-refresh-token")]
    refresh_token: String,
    /// Lifetime of access tokens issued by refresh, in seconds.
    #[arg(long, default_value_t = 1800)]
    token_lifetime_secs: u64,
    /// Generate a portal at start and on every reset:
    /// `contacts=100000,companies=20000,deals=5000,tickets=1000,lists=20,email_events=50000,
    /// forms=3,submissions=2000,owners=10,bulk=10001` (every kind optional).
    #[arg(long, value_name = "KIND=COUNT,...")]
    generate: Option<PortalSizes>,
    /// Seed of the generated portal: same seed and sizes, same portal.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Every generated time is before this (epoch ms); default: the start of the current UTC day.
    #[arg(long)]
    anchor_ms: Option<i64>,
}

impl Args {
    fn into_config(self) -> FakeConfig {
        let mut config = FakeConfig {
            port: self.port,
            portal_id: self.portal_id,
            tokens: self.tokens.into_iter().map(AccessToken::new).collect(),
            oauth: Some(OAuthApp {
                client_id: self.client_id,
                client_secret: self.client_secret,
                refresh_token: self.refresh_token,
                access_token_lifetime: Duration::from_secs(self.token_lifetime_secs),
            }),
            custom_events_enabled: !self.no_custom_events,
            limits: RateLimits {
                max_per_interval: self.rate_max,
                interval: Duration::from_millis(self.rate_interval_ms),
                daily_max: self.daily_max,
                search_per_second: self.search_per_sec,
            },
            search_lag: Duration::from_millis(self.search_lag_ms),
            custom_property_limit: self.custom_property_limit,
            generated: self.generate.map(|sizes| GeneratedPortal {
                seed: self.seed,
                sizes,
                anchor_ms: self.anchor_ms,
            }),
            ..FakeConfig::default()
        };
        for spec in self.events {
            let (name, props) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
            let props: BTreeSet<String> = props
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            config.event_definitions.insert(name.to_string(), props);
        }
        config
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = Args::parse().into_config();
    let started = Instant::now();
    let fake = fake_hubspot::start(config).await?;
    // The report comes before the listening line, so whoever waits for that line has it.
    if let Some(generated) = fake.generated() {
        let records: Vec<String> = generated
            .records
            .iter()
            .map(|(ty, n)| format!("{n} {ty}"))
            .collect();
        eprintln!(
            "generated {}, {} associations, {} lists ({} memberships), {} email events, \
             {} form submissions; {} contacts share modified ms {}; in {} ms",
            records.join(", "),
            generated.associations,
            generated.lists,
            generated.memberships,
            generated.email_events,
            generated.submissions,
            generated.bulk_contacts,
            generated.bulk_ms,
            started.elapsed().as_millis()
        );
    }
    println!("fake HubSpot listening on {}", fake.base_url);
    tokio::signal::ctrl_c().await?;
    fake.shutdown().await;
    Ok(())
}
