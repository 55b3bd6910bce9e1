//! Prometheus metrics for the relay and the delivery loop.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Every metric the relay exports at `/metrics`.
pub struct Metrics {
    registry: Registry,
    /// Messages durably queued.
    pub accepted: IntCounter,
    /// Requests refused, by reason: the `code` of the JSON answer (`auth`, `json`, `invalid`,
    /// `too_large`, `timeout`, `unreadable_body`, `unsupported_encoding`, `not_found`,
    /// `method_not_allowed`, `backpressure`, `queue`).
    pub rejected: IntCounterVec,
    /// Messages dropped at ingest because this portal's own profiles export sent them.
    pub looped: IntCounter,
    /// Messages delivered to HubSpot.
    pub delivered: IntCounter,
    /// Messages scheduled for another attempt.
    pub retried: IntCounter,
    /// Messages dead-lettered.
    pub dead: IntCounter,
    /// 429 answers from HubSpot.
    pub rate_limited: IntCounter,
    /// Dead letters kept.
    pub dead_letters: IntGauge,
    /// Dead letters deleted by the count and age limits, since the queue was created.
    pub dead_letters_pruned: IntGauge,
    /// Messages waiting (queued, retrying or in flight).
    pub queue_depth: IntGauge,
    /// Seconds from acceptance to delivery.
    pub delivery_latency: Histogram,
}

impl Metrics {
    /// Registers the metrics.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("static metric definition");
        let gauge =
            |name: &str, help: &str| IntGauge::new(name, help).expect("static metric definition");
        let m = Metrics {
            accepted: counter("hubspot_relay_accepted_total", "Messages durably queued"),
            rejected: IntCounterVec::new(
                Opts::new(
                    "hubspot_relay_rejected_requests_total",
                    "Requests refused, by reason",
                ),
                &["reason"],
            )
            .expect("static metric definition"),
            looped: counter(
                "hubspot_relay_looped_total",
                "Messages dropped because this portal's own profiles export sent them",
            ),
            delivered: counter("hubspot_delivered_total", "Messages delivered to HubSpot"),
            retried: counter(
                "hubspot_retried_total",
                "Messages scheduled for another attempt",
            ),
            dead: counter("hubspot_dead_total", "Messages dead-lettered"),
            rate_limited: counter("hubspot_rate_limited_total", "429 answers from HubSpot"),
            queue_depth: gauge("hubspot_queue_depth", "Messages waiting for delivery"),
            dead_letters: gauge("hubspot_dead_letters", "Dead letters kept"),
            dead_letters_pruned: gauge(
                "hubspot_dead_letters_pruned",
                "Dead letters deleted by the count and age limits",
            ),
            delivery_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "hubspot_delivery_latency_seconds",
                    "Seconds from acceptance to delivery",
                )
                .buckets(vec![
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
                ]),
            )
            .expect("static metric definition"),
            registry,
        };
        for c in [
            &m.accepted,
            &m.looped,
            &m.delivered,
            &m.dead,
            &m.retried,
            &m.rate_limited,
        ] {
            m.registry
                .register(Box::new(c.clone()))
                .expect("unique metric names");
        }
        for g in [&m.queue_depth, &m.dead_letters, &m.dead_letters_pruned] {
            m.registry
                .register(Box::new(g.clone()))
                .expect("unique metric names");
        }
        m.registry
            .register(Box::new(m.rejected.clone()))
            .expect("unique metric names");
        m.registry
            .register(Box::new(m.delivery_latency.clone()))
            .expect("unique metric names");
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding our own registered families into memory cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
