//! Prometheus metrics: request counts and latency histograms per command, outcome counts,
//! the ledger writer's batches and commit time, queue depth, and the outbox relay's lag —
//! served as text on a small HTTP endpoint (`GET /metrics`).

use crate::relay::{outbox_lag, RelayStats};
use loyalty_core::outcome::Code;
use loyalty_engine::histogram::Histogram;
use loyalty_engine::Engine;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
        self.hist.observe_duration(self.started.elapsed());
    }
}

impl Metrics {
    pub fn timer(&self, command: &'static str) -> Timer {
        let hist = self
            .requests
            .lock()
            .expect("metrics lock")
            .entry(command)
            .or_insert_with(|| Arc::new(Histogram::latency()))
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
            let labels = format!("command=\"{name}\",");
            histogram(
                &mut out,
                "loyalty_request_duration_seconds",
                &labels,
                h,
                seconds,
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
        let _ = writeln!(
            out,
            "# TYPE loyalty_engine_commit_duration_seconds histogram"
        );
        histogram(
            &mut out,
            "loyalty_engine_commit_duration_seconds",
            "",
            &s.commit_latency,
            seconds,
        );
        let _ = writeln!(out, "# TYPE loyalty_engine_batch_operations histogram");
        histogram(
            &mut out,
            "loyalty_engine_batch_operations",
            "",
            &s.batch_sizes,
            |n| n.to_string(),
        );
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

/// Writes one histogram's series: cumulative buckets, `+Inf`, sum and count. `labels` is
/// empty or ends with a comma; `unit` renders bounds and the sum.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    h: &Histogram,
    unit: impl Fn(u64) -> String,
) {
    let s = h.snapshot();
    for (bound, n) in &s.cumulative {
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{}\"}} {n}", unit(*bound));
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", s.count);
    let labels = match labels.trim_end_matches(',') {
        "" => String::new(),
        l => format!("{{{l}}}"),
    };
    let _ = writeln!(out, "{name}_sum{labels} {}", unit(s.sum));
    let _ = writeln!(out, "{name}_count{labels} {}", s.count);
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
    fn histograms_render_as_prometheus_series() {
        let h = Histogram::new(&[1_000, 5_000]);
        h.observe(900);
        h.observe(4_000);
        h.observe(9_000);
        let mut out = String::new();
        histogram(&mut out, "x", "command=\"Pay\",", &h, seconds);
        assert_eq!(
            out,
            "x_bucket{command=\"Pay\",le=\"0.001000\"} 1\n\
             x_bucket{command=\"Pay\",le=\"0.005000\"} 2\n\
             x_bucket{command=\"Pay\",le=\"+Inf\"} 3\n\
             x_sum{command=\"Pay\"} 0.013900\n\
             x_count{command=\"Pay\"} 3\n"
        );
    }
}
