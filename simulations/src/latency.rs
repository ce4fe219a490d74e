//! Latencies of a load run, split at the end of its warm-up.
//!
//! The first moments of a run against a freshly started server measure its cold start
//! (empty caches, a heap and a write-ahead log still growing, connections being set up), not
//! its steady state. An operation that starts before the warm-up ends is therefore kept
//! apart: the per-command figures cover the steady state only, and the warm-up's own figures
//! are reported next to them rather than dropped.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Latencies {
    steady_from: Instant,
    steady: BTreeMap<&'static str, Histogram<u64>>,
    warmup: Histogram<u64>,
}

/// Microseconds from 1 to an hour (longer waits are recorded as an hour), 3 significant
/// digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds and precision")
}

impl Latencies {
    /// Operations starting at or after `steady_from` count as steady state.
    pub fn new(steady_from: Instant) -> Latencies {
        Latencies {
            steady_from,
            steady: BTreeMap::new(),
            warmup: histogram(),
        }
    }

    /// Records one operation of `command` that started at `started` and was answered at
    /// `answered`, in microseconds (at least 1).
    pub fn record(&mut self, command: &'static str, started: Instant, answered: Instant) {
        let us = answered.saturating_duration_since(started).as_micros();
        let us = u64::try_from(us).unwrap_or(u64::MAX).max(1);
        let h = if started < self.steady_from {
            &mut self.warmup
        } else {
            self.steady.entry(command).or_insert_with(histogram)
        };
        h.saturating_record(us);
    }

    pub fn steady_from(&self) -> Instant {
        self.steady_from
    }

    /// Steady-state latencies per command.
    pub fn steady(&self) -> &BTreeMap<&'static str, Histogram<u64>> {
        &self.steady
    }

    /// Latencies of every command that started during the warm-up, together.
    pub fn warmup(&self) -> &Histogram<u64> {
        &self.warmup
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn operations_are_split_by_when_they_started_not_when_they_were_answered() {
        let t0 = Instant::now();
        let steady_from = t0 + 100 * MS;
        let mut l = Latencies::new(steady_from);
        // given/when/then: (command, started, answered) → where it lands
        l.record("Confirm", t0, t0 + 250 * MS); // started in the warm-up, answered after it
        l.record("Confirm", t0 + 99 * MS, t0 + 99 * MS); // last moment of the warm-up
        l.record("Confirm", steady_from, steady_from + 2 * MS); // first moment of the steady state
        l.record("Calculate", t0 + 300 * MS, t0 + 301 * MS);

        assert_eq!(l.warmup().len(), 2);
        assert!(l.warmup().equivalent(l.warmup().max(), 250_000));
        assert_eq!(
            l.warmup().min(),
            1,
            "an instant answer still counts, as 1 µs"
        );
        let confirm = &l.steady()["Confirm"];
        assert_eq!((confirm.len(), confirm.max()), (1, 2_000));
        assert_eq!(l.steady()["Calculate"].len(), 1);
        assert_eq!(l.steady().len(), 2);
    }

    #[test]
    fn without_a_warm_up_everything_is_steady() {
        let t0 = Instant::now();
        let mut l = Latencies::new(t0);
        l.record("Balance", t0, t0 + MS);
        assert!(l.warmup().is_empty());
        assert_eq!(l.steady()["Balance"].len(), 1);
    }

    #[test]
    fn a_wait_beyond_an_hour_is_recorded_as_an_hour() {
        let t0 = Instant::now();
        let mut l = Latencies::new(t0);
        l.record("Balance", t0, t0 + Duration::from_secs(2 * 3600));
        let h = &l.steady()["Balance"];
        assert!(h.equivalent(h.max(), 3_600_000_000));
    }

    #[test]
    fn an_answer_stamped_before_its_start_records_one_microsecond() {
        let t0 = Instant::now();
        let mut l = Latencies::new(t0);
        l.record("Balance", t0 + MS, t0);
        assert_eq!(l.steady()["Balance"].max(), 1);
    }
}
