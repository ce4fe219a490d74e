//! Fixed-bucket histograms updated with relaxed atomics from any thread, read as the
//! cumulative counts a Prometheus histogram exposes: the engine's distributions — the
//! durable write of each batch in microseconds, operations per batch.
//!
//! Written here rather than taken from `hdrhistogram` or `prometheus-client`: the committer
//! records every batch from its own thread while a scrape reads from another, and neither
//! crate's histogram records through a shared reference without a lock; the engine must
//! also not depend on an exposition format. The server's request latencies, recorded on
//! the request threads, are `prometheus-client` histograms (`loyalty_api::metrics`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Latency bounds in microseconds, 250 µs to 1 s.
pub const LATENCY_BOUNDS_US: [u64; 14] = [
    250, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 25_000, 50_000, 100_000, 250_000,
    1_000_000,
];

/// Batch size bounds in operations.
pub const BATCH_BOUNDS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// Observations at most `bounds[i]` and above `bounds[i - 1]`.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
}

/// What a histogram held at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `(bound, observations at most bound)`, cumulative, in bound order.
    pub cumulative: Vec<(u64, u64)>,
    pub count: u64,
    pub sum: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    pub fn latency() -> Histogram {
        Histogram::new(&LATENCY_BOUNDS_US)
    }

    pub fn batch_sizes() -> Histogram {
        Histogram::new(&BATCH_BOUNDS)
    }

    /// Counts `value`; one above the last bound counts only in the total (`+Inf`).
    pub fn observe(&self, value: u64) {
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn sum(&self) -> u64 {
        self.sum.load(Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut total = 0;
        let cumulative = self
            .bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(bound, n)| {
                total += n.load(Relaxed);
                (*bound, total)
            })
            .collect();
        Snapshot {
            cumulative,
            count: self.count(),
            sum: self.sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_the_overflow_counts_only_in_the_total() {
        let h = Histogram::new(&[10, 100]);
        for v in [0, 10, 11, 100, 101] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![(10, 2), (100, 4)]);
        assert_eq!((s.count, s.sum), (5, 222));
    }

    #[test]
    fn durations_count_in_microseconds() {
        let h = Histogram::latency();
        h.observe_duration(Duration::from_micros(900));
        h.observe_duration(Duration::from_secs(5));
        let s = h.snapshot();
        assert_eq!(s.cumulative[2], (1_000, 1));
        assert_eq!(s.cumulative.last(), Some(&(1_000_000, 1)));
        assert_eq!((s.count, s.sum), (2, 5_000_900));
    }
}
