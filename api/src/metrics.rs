//! Prometheus metrics through `prometheus-client`, served by axum on `GET /metrics`
//! (OpenMetrics text): request latency histograms per command and outcome counts, recorded
//! by the handlers; and, read from the engine at each scrape, the ledger writer's batches,
//! operations, events, replays, queue depth, the durable write of each batch and operations
//! per batch, the writer's deciding time, the outbox relay's progress and lag, and the age
//! of the newest backup.
//!
//! The engine keeps its own lock-free histograms (`loyalty_engine::histogram`): the engine
//! must not depend on an exposition format, and its committer records every batch from its
//! own thread. A collector turns them into Prometheus histograms when scraped.

use crate::backup::Backups;
use crate::relay::{outbox_lag, RelayStats};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use loyalty_core::outcome::Code;
use loyalty_engine::histogram::{Histogram as EngineHistogram, LATENCY_BOUNDS_US};
use loyalty_engine::Engine;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabel {
    command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: u16,
}

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<CommandLabel, Histogram>,
    outcomes: Family<CodeLabel, Counter>,
}

/// Records a request's latency when dropped.
pub struct Timer {
    hist: Histogram,
    started: Instant,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.hist.observe(self.started.elapsed().as_secs_f64());
    }
}

/// A bound in microseconds as seconds. Only metrics go through floats here.
#[allow(clippy::float_arithmetic)]
fn seconds_f64(us: u64) -> f64 {
    us as f64 / 1e6
}

impl Metrics {
    /// The registry: the handlers' families, and the engine's and the relay's figures read
    /// at each scrape.
    pub fn new(engine: Engine, relay: Arc<RelayStats>, backups: Arc<Backups>) -> Metrics {
        let requests = Family::<CommandLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BOUNDS_US.iter().map(|b| seconds_f64(*b)))
        });
        let outcomes = Family::<CodeLabel, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "loyalty_request_duration_seconds",
            "Time from a cash request's arrival to its answer, per command",
            requests.clone(),
        );
        registry.register(
            "loyalty_outcomes",
            "Answers by outcome code",
            outcomes.clone(),
        );
        registry.register_collector(Box::new(EngineFigures {
            engine,
            relay,
            backups,
        }));
        Metrics {
            registry,
            requests,
            outcomes,
        }
    }

    pub fn timer(&self, command: &'static str) -> Timer {
        Timer {
            hist: self
                .requests
                .get_or_create(&CommandLabel { command })
                .clone(),
            started: Instant::now(),
        }
    }

    pub fn outcome(&self, code: Code) {
        self.outcomes
            .get_or_create(&CodeLabel {
                code: code.number(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The engine's and the relay's figures, read when scraped.
struct EngineFigures {
    engine: Engine,
    relay: Arc<RelayStats>,
    backups: Arc<Backups>,
}

impl std::fmt::Debug for EngineFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineFigures").finish()
    }
}

/// An engine histogram as a Prometheus histogram, its bounds shown through `unit`.
struct Buckets<'h> {
    hist: &'h EngineHistogram,
    unit: fn(u64) -> f64,
}

impl std::fmt::Debug for Buckets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets").finish()
    }
}

impl EncodeMetric for Buckets<'_> {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        let s = self.hist.snapshot();
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = s
            .cumulative
            .iter()
            .map(|&(bound, n)| {
                let here = n - below;
                below = n;
                ((self.unit)(bound), here)
            })
            .collect();
        buckets.push((f64::INFINITY, s.count - below));
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            (self.unit)(s.sum),
            s.count,
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Operations as a plain number (the batch-size histogram's unit).
#[allow(clippy::float_arithmetic)]
fn count_f64(n: u64) -> f64 {
    n as f64
}

impl Collector for EngineFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.engine.stats();
        let counters = [
            (
                "loyalty_engine_batches",
                "Batches written durably",
                s.batches.load(Relaxed),
            ),
            (
                "loyalty_engine_operations",
                "Operations answered",
                s.ops.load(Relaxed),
            ),
            (
                "loyalty_engine_events",
                "Events committed",
                s.events.load(Relaxed),
            ),
            (
                "loyalty_engine_replays",
                "Operations answered from their record",
                s.replays.load(Relaxed),
            ),
            (
                "loyalty_relay_published",
                "Events the broker acknowledged",
                self.relay.published.load(Relaxed),
            ),
            (
                "loyalty_relay_failed_rounds",
                "Relay rounds that failed",
                self.relay.failed_rounds.load(Relaxed),
            ),
            (
                "loyalty_backup_failures",
                "Backups that failed since start",
                self.backups.failures.load(Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(v).encode(m)?;
        }
        let decide = seconds_f64(s.decide_micros_total.load(Relaxed));
        let m = encoder.encode_descriptor(
            "loyalty_engine_decide_seconds",
            "Time the writer spent deciding batches",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(decide).encode(m)?;
        let gauges = [
            (
                "loyalty_engine_largest_batch",
                "Operations in the largest batch so far",
                s.largest_batch.load(Relaxed),
            ),
            (
                "loyalty_engine_queue_depth",
                "Requests waiting for the writer",
                s.queued.load(Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(v as i64).encode(m)?;
        }
        let histograms = [
            (
                "loyalty_engine_commit_duration_seconds",
                "The durable write of each batch",
                &s.commit_latency,
                seconds_f64 as fn(u64) -> f64,
            ),
            (
                "loyalty_engine_batch_operations",
                "Operations per written batch",
                &s.batch_sizes,
                count_f64,
            ),
        ];
        for (name, help, hist, unit) in histograms {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            Buckets { hist, unit }.encode(m)?;
        }
        if let Some(age) = self.backups.age_secs() {
            let m = encoder.encode_descriptor(
                "loyalty_backup_age_seconds",
                "Time since the newest backup was taken (absent: none yet)",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(age).encode(m)?;
        }
        if let Ok((pending, age_ms)) = outbox_lag(&self.engine) {
            let m = encoder.encode_descriptor(
                "loyalty_outbox_pending",
                "Events committed and not yet acknowledged by the broker",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(pending as i64).encode(m)?;
            let m = encoder.encode_descriptor(
                "loyalty_outbox_age_seconds",
                "Age of the oldest event not yet published",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(seconds_f64(age_ms.max(0) as u64 * 1000)).encode(m)?;
        }
        Ok(())
    }
}

/// Serves `GET /metrics` until `shutdown`. Every answer closes its connection: a scrape is
/// one request.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |axum::extract::State(m): axum::extract::State<Arc<Metrics>>| async move {
                    (
                        [
                            (
                                header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            ),
                            (header::CONNECTION, "close"),
                        ],
                        m.render(),
                    )
                },
            ),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [(header::CONNECTION, "close")],
                "not found\n",
            )
                .into_response()
        })
        .with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_histogram_renders_as_a_prometheus_histogram() {
        static BOUNDS: [u64; 2] = [1_000, 5_000];
        let h = EngineHistogram::new(&BOUNDS);
        h.observe(900);
        h.observe(4_000);
        h.observe(9_000);
        let mut registry = Registry::default();
        #[derive(Debug)]
        struct One(EngineHistogram);
        impl Collector for One {
            fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                let m = encoder.encode_descriptor("x", "x", None, MetricType::Histogram)?;
                Buckets {
                    hist: &self.0,
                    unit: seconds_f64,
                }
                .encode(m)
            }
        }
        registry.register_collector(Box::new(One(h)));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert_eq!(
            out,
            "# HELP x x\n# TYPE x histogram\n\
             x_sum 0.0139\n\
             x_count 3\n\
             x_bucket{le=\"0.001\"} 1\n\
             x_bucket{le=\"0.005\"} 2\n\
             x_bucket{le=\"+Inf\"} 3\n\
             # EOF\n"
        );
    }
}
