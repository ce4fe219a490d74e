//! Prometheus metrics: request counts and latency histograms per command, outcome counts,
//! the ledger writer's batches and commit time, queue depth, and the outbox relay's lag —
//! served as text on a small HTTP endpoint (`GET /metrics`).

use crate::relay::{outbox_lag, RelayStats};
use loyalty_core::outcome::Code;
use loyalty_engine::Engine;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Latency bucket bounds in microseconds.
const BUCKETS_US: [u64; 12] = [
    250, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

#[derive(Default)]
struct Histogram {
    count: AtomicU64,
    sum_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS_US.len()],
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let us = d.as_micros() as u64;
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        if let Some(i) = BUCKETS_US.iter().position(|b| us <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
    }
}

/// The server's metrics registry.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<&'static str, Arc<Histogram>>>,
    outcomes: Mutex<BTreeMap<u16, u64>>,
}

/// Records a request's latency when dropped.
pub struct Timer {
    hist: Arc<Histogram>,
    started: Instant,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.hist.observe(self.started.elapsed());
    }
}

impl Metrics {
    pub fn timer(&self, command: &'static str) -> Timer {
        let hist = self
            .requests
            .lock()
            .expect("metrics lock")
            .entry(command)
            .or_default()
            .clone();
        Timer {
            hist,
            started: Instant::now(),
        }
    }

    pub fn outcome(&self, code: Code) {
        *self
            .outcomes
            .lock()
            .expect("metrics lock")
            .entry(code.number())
            .or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self, engine: &Engine, relay: &RelayStats) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE loyalty_request_duration_seconds histogram");
        for (name, h) in self.requests.lock().expect("metrics lock").iter() {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS_US.iter().zip(&h.buckets) {
                cumulative += n.load(Relaxed);
                let _ = writeln!(out, "loyalty_request_duration_seconds_bucket{{command=\"{name}\",le=\"{}\"}} {cumulative}", seconds(*bound));
            }
            let count = h.count.load(Relaxed);
            let _ = writeln!(
                out,
                "loyalty_request_duration_seconds_bucket{{command=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "loyalty_request_duration_seconds_sum{{command=\"{name}\"}} {}",
                seconds(h.sum_us.load(Relaxed))
            );
            let _ = writeln!(
                out,
                "loyalty_request_duration_seconds_count{{command=\"{name}\"}} {count}"
            );
        }
        let _ = writeln!(out, "# TYPE loyalty_outcomes_total counter");
        for (code, n) in self.outcomes.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "loyalty_outcomes_total{{code=\"{code}\"}} {n}");
        }
        let s = engine.stats();
        let gauges = [
            (
                "loyalty_engine_batches_total",
                "counter",
                s.batches.load(Relaxed),
            ),
            (
                "loyalty_engine_operations_total",
                "counter",
                s.ops.load(Relaxed),
            ),
            (
                "loyalty_engine_events_total",
                "counter",
                s.events.load(Relaxed),
            ),
            (
                "loyalty_engine_replays_total",
                "counter",
                s.replays.load(Relaxed),
            ),
            (
                "loyalty_engine_largest_batch",
                "gauge",
                s.largest_batch.load(Relaxed),
            ),
            (
                "loyalty_engine_queue_depth",
                "gauge",
                s.queued.load(Relaxed),
            ),
            (
                "loyalty_relay_published_total",
                "counter",
                relay.published.load(Relaxed),
            ),
            (
                "loyalty_relay_failed_rounds_total",
                "counter",
                relay.failed_rounds.load(Relaxed),
            ),
        ];
        for (name, kind, v) in gauges {
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {v}");
        }
        let _ = writeln!(out, "# TYPE loyalty_engine_commit_seconds_total counter\nloyalty_engine_commit_seconds_total {}", seconds(s.commit_micros_total.load(Relaxed)));
        let _ = writeln!(out, "# TYPE loyalty_engine_decide_seconds_total counter\nloyalty_engine_decide_seconds_total {}", seconds(s.decide_micros_total.load(Relaxed)));
        if let Ok((pending, age_ms)) = outbox_lag(engine) {
            let _ = writeln!(
                out,
                "# TYPE loyalty_outbox_pending gauge\nloyalty_outbox_pending {pending}"
            );
            let _ = writeln!(
                out,
                "# TYPE loyalty_outbox_age_seconds gauge\nloyalty_outbox_age_seconds {}",
                seconds(age_ms.max(0) as u64 * 1000)
            );
        }
        out
    }
}

/// Microseconds as a decimal number of seconds (no floats).
fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// Largest HTTP request head the endpoint reads.
const HTTP_REQUEST_BYTES_MAX: usize = 8 * 1024;

/// Serves `GET /metrics` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    engine: Engine,
    relay: Arc<RelayStats>,
    shutdown: CancellationToken,
) {
    loop {
        let (mut conn, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(_) => continue,
            },
        };
        let (metrics, engine, relay) = (metrics.clone(), engine.clone(), relay.clone());
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(512);
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HTTP_REQUEST_BYTES_MAX
            {
                match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let (status, body) =
                if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?") {
                    ("200 OK", metrics.render(&engine, &relay))
                } else {
                    ("404 Not Found", "not found\n".to_owned())
                };
            let response = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = conn.write_all(response.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(1_500), "0.001500");
        assert_eq!(seconds(2_000_001), "2.000001");
    }

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_micros(900));
        h.observe(Duration::from_secs(5));
        assert_eq!(h.count.load(Relaxed), 3);
        assert_eq!(h.buckets[0].load(Relaxed), 1);
        assert_eq!(h.buckets[2].load(Relaxed), 1);
        assert_eq!(
            h.buckets.iter().map(|b| b.load(Relaxed)).sum::<u64>(),
            2,
            "over the last bound only +Inf counts it"
        );
    }
}
