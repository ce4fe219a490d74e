//! Latencies of a load run, split at the end of its warm-up.
//!
//! The first moments of a run against a freshly started server measure its cold start
//! (empty caches, a heap and a write-ahead log still growing, connections being set up), not
//! its steady state. An operation that starts before the warm-up ends is therefore kept
//! apart: the per-command figures cover the steady state only, and the warm-up's own figures
//! are reported next to them rather than dropped.
//!
//! The steady state is also kept second by second (by the second an operation started in),
//! so that a run's p99 can be told apart: a steady queue raises every second a little, a
//! stall of the machine or the server raises a few seconds a lot.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Latencies {
    steady_from: Instant,
    steady: BTreeMap<&'static str, Histogram<u64>>,
    warmup: Histogram<u64>,
    seconds: Vec<Histogram<u32>>,
    /// Whole purchases in the steady state (registration sent → confirmation answered),
    /// apart from the operations.
    purchases: Histogram<u64>,
}

/// Microseconds from 1 to an hour (longer waits are recorded as an hour), 3 significant
/// digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds and precision")
}

/// Microseconds from 1 to a minute, 2 significant digits: ≈ 10 KB per second of a run, so
/// that an hour-long run keeps its timeline in memory.
fn second_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds and precision")
}

/// How the p99 varied from second to second.
#[derive(Debug, PartialEq, Eq)]
pub struct SecondsP99 {
    /// Seconds with at least one operation.
    pub seconds: usize,
    pub median_us: u64,
    pub worst_us: u64,
    pub worst_second: usize,
    /// Seconds whose p99 is above the limit.
    pub above: usize,
}

impl Latencies {
    /// Operations starting at or after `steady_from` count as steady state.
    pub fn new(steady_from: Instant) -> Latencies {
        Latencies {
            steady_from,
            steady: BTreeMap::new(),
            warmup: histogram(),
            seconds: Vec::new(),
            purchases: histogram(),
        }
    }

    /// Records one whole purchase, from its registration sent to its confirmation
    /// answered (steady state only).
    pub fn record_purchase(&mut self, started: Instant, answered: Instant) {
        if started >= self.steady_from {
            let us = answered.saturating_duration_since(started).as_micros();
            self.purchases
                .saturating_record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
        }
    }

    pub fn purchases(&self) -> &Histogram<u64> {
        &self.purchases
    }

    /// Records one operation of `command` that started at `started` and was answered at
    /// `answered`, in microseconds (at least 1).
    pub fn record(&mut self, command: &'static str, started: Instant, answered: Instant) {
        let us = answered.saturating_duration_since(started).as_micros();
        let us = u64::try_from(us).unwrap_or(u64::MAX).max(1);
        if started < self.steady_from {
            self.warmup.saturating_record(us);
            return;
        }
        self.steady
            .entry(command)
            .or_insert_with(histogram)
            .saturating_record(us);
        let second = started.duration_since(self.steady_from).as_secs();
        let second = usize::try_from(second).unwrap_or(usize::MAX);
        if self.seconds.len() <= second {
            self.seconds.resize_with(second + 1, second_histogram);
        }
        self.seconds[second].saturating_record(us);
    }

    pub fn steady_from(&self) -> Instant {
        self.steady_from
    }

    /// Steady-state latencies per command.
    pub fn steady(&self) -> &BTreeMap<&'static str, Histogram<u64>> {
        &self.steady
    }

    /// Steady-state latencies of every command together, one histogram per second of the
    /// run (index 0: operations that started in its first second).
    pub fn per_second(&self) -> &[Histogram<u32>] {
        &self.seconds
    }

    /// The per-second timeline as CSV: `second,operations,p50_ms,p99_ms,max_ms`.
    pub fn timeline_csv(&self) -> String {
        // Milliseconds with two decimals, in integers: exact.
        let ms = |us: u64| format!("{}.{:02}", us / 1000, us % 1000 / 10);
        let mut csv = String::from("second,operations,p50_ms,p99_ms,max_ms\n");
        for (i, h) in self.seconds.iter().enumerate() {
            csv.push_str(&format!(
                "{i},{},{},{},{}\n",
                h.len(),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            ));
        }
        csv
    }

    /// The p99s of the first `full` seconds (those the run lasted through; later ones hold
    /// only the last flows' tails), summed up against `limit_us`.
    pub fn seconds_p99(&self, full: usize, limit_us: u64) -> Option<SecondsP99> {
        let mut p99: Vec<(u64, usize)> = self
            .seconds
            .iter()
            .take(full)
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(i, h)| (h.value_at_quantile(0.99), i))
            .collect();
        if p99.is_empty() {
            return None;
        }
        p99.sort_unstable();
        let (worst_us, worst_second) = p99[p99.len() - 1];
        Some(SecondsP99 {
            seconds: p99.len(),
            median_us: p99[(p99.len() - 1) / 2].0,
            worst_us,
            worst_second,
            above: p99.iter().filter(|(us, _)| *us > limit_us).count(),
        })
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
    fn each_steady_operation_counts_in_the_second_it_started_in() {
        let t0 = Instant::now();
        let steady_from = t0 + 100 * MS;
        let mut l = Latencies::new(steady_from);
        // given/when/then: (started, latency) → second
        let table = [
            (t0, 5 * MS, None),                              // warm-up: no second
            (steady_from, 2 * MS, Some(0)),                  // first moment
            (steady_from + 999 * MS, 40 * MS, Some(0)),      // answered in second 1
            (steady_from + 1000 * MS, 3 * MS, Some(1)),      // second 1 begins
            (steady_from + 3500 * MS, 70_000 * MS, Some(3)), // longer than a minute
        ];
        for (started, latency, _) in table {
            l.record("Confirm", started, started + latency);
        }
        let seconds = l.per_second();
        assert_eq!(seconds.len(), 4, "second 2 exists, empty");
        let counts: Vec<u64> = seconds.iter().map(|h| h.len()).collect();
        assert_eq!(counts, [2, 1, 0, 1]);
        assert!(seconds[0].equivalent(seconds[0].max(), 40_000));
        assert!(seconds[0].equivalent(seconds[0].min(), 2_000));
        assert!(seconds[1].equivalent(seconds[1].max(), 3_000));
        assert!(
            seconds[3].equivalent(seconds[3].max(), 60_000_000),
            "beyond a minute is recorded as a minute"
        );
        let in_table = table.iter().filter(|(_, _, s)| s.is_some()).count() as u64;
        assert_eq!(counts.iter().sum::<u64>(), in_table);
        assert_eq!(l.steady()["Confirm"].len(), in_table);
    }

    #[test]
    fn the_seconds_p99s_tell_a_stall_from_a_steady_queue() {
        let t0 = Instant::now();
        let mut l = Latencies::new(t0);
        // given: five seconds of 100 operations at 2 ms, except second 3 at 50 ms, and a
        // sixth second holding only a late tail
        for second in 0..5u64 {
            let latency = if second == 3 { 50 * MS } else { 2 * MS };
            for k in 0..100u64 {
                let started = t0 + Duration::from_millis(second * 1000 + k * 10);
                l.record("Calculate", started, started + latency);
            }
        }
        let late = t0 + Duration::from_millis(5_500);
        l.record("Confirm", late, late + 900 * MS);
        // when: summed up over the five full seconds against 10 ms
        let s = l.seconds_p99(5, 10_000).expect("seconds");
        // then: one second above, found by index; the late tail is not counted
        assert_eq!((s.seconds, s.above, s.worst_second), (5, 1, 3));
        assert!(l.per_second()[3].equivalent(s.worst_us, 50_000));
        assert!(l.per_second()[0].equivalent(s.median_us, 2_000));
        assert_eq!(l.seconds_p99(6, 10_000).expect("seconds").worst_second, 5);
        let csv = l.timeline_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "second,operations,p50_ms,p99_ms,max_ms");
        assert_eq!(lines.len(), 7);
        assert!(lines[4].starts_with("3,100,"), "{}", lines[4]);
        assert!(lines[6].starts_with("5,1,"), "{}", lines[6]);
        assert_eq!(Latencies::new(t0).seconds_p99(5, 10_000), None);
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
