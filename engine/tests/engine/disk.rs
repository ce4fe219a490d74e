#![allow(clippy::float_arithmetic)] // comparing shares of time

//! The disk check: figures from measured sync times, and a real probe in a scratch directory.

use loyalty_engine::disk::{probe, summarize};
use std::time::Duration;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn figures_from_sync_times() {
    // given sync times (ms) over a wall time, when summarized with a 10 ms bound,
    // then percentiles by nearest rank, the slow syncs, and the share of time in which a
    // sync under way still had more than 10 ms to go.
    struct Case {
        syncs: Vec<u64>,
        wall_ms: u64,
        p50: u64,
        p99: u64,
        max: u64,
        slow: u64,
        over_share: f64,
    }
    let many_fast_two_stalls = {
        let mut v = vec![1; 998];
        v.extend([60, 110]);
        v
    };
    let cases = [
        Case {
            syncs: vec![],
            wall_ms: 1_000,
            p50: 0,
            p99: 0,
            max: 0,
            slow: 0,
            over_share: 0.0,
        },
        Case {
            syncs: vec![3, 1, 2],
            wall_ms: 100,
            p50: 2,
            p99: 3,
            max: 3,
            slow: 0,
            over_share: 0.0,
        },
        // exactly at the bound is not slow and adds nothing
        Case {
            syncs: vec![10, 10],
            wall_ms: 100,
            p50: 10,
            p99: 10,
            max: 10,
            slow: 0,
            over_share: 0.0,
        },
        // (60 - 10) + (110 - 10) = 150 ms of 10 s
        Case {
            syncs: many_fast_two_stalls,
            wall_ms: 10_000,
            p50: 1,
            p99: 1,
            max: 110,
            slow: 2,
            over_share: 0.015,
        },
        // a disk stalled the whole time: the share is capped at all of it
        Case {
            syncs: vec![500, 700],
            wall_ms: 1_000,
            p50: 500,
            p99: 700,
            max: 700,
            slow: 2,
            over_share: 1.0,
        },
    ];
    for c in cases {
        let mut syncs: Vec<Duration> = c.syncs.iter().map(|v| ms(*v)).collect();
        let s = summarize(&mut syncs, ms(c.wall_ms), ms(10));
        assert_eq!(s.syncs, c.syncs.len() as u64, "{:?}", c.syncs);
        assert_eq!(
            (s.p50, s.p99, s.max, s.slow),
            (ms(c.p50), ms(c.p99), ms(c.max), c.slow),
            "{:?}",
            c.syncs
        );
        assert!(
            (s.over_share - c.over_share).abs() < 1e-9,
            "{:?}: share {} not {}",
            c.syncs,
            s.over_share,
            c.over_share
        );
    }
}

#[test]
fn p999_is_the_thousandth_slowest_rank() {
    let mut syncs: Vec<Duration> = (1..=2_000).map(Duration::from_micros).collect();
    let s = summarize(&mut syncs, Duration::from_secs(1), ms(10));
    assert_eq!(s.p999, Duration::from_micros(1_998));
    assert_eq!(s.p99, Duration::from_micros(1_980));
    assert_eq!(s.p50, Duration::from_micros(1_000));
}

#[test]
fn probe_syncs_a_scratch_file_and_leaves_the_directory_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keep"), b"data").expect("write");
    let s = probe(dir.path(), ms(200), 4096, ms(10)).expect("probe");
    assert!(s.syncs > 0);
    assert!(s.wall >= ms(200));
    assert!(s.p50 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("keep")]);
}

#[test]
fn probe_refuses_a_missing_directory_and_bad_block_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let e = probe(&missing, ms(10), 4096, ms(10)).expect_err("missing dir");
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert!(!missing.exists());
    for bad in [0, (64 << 20) + 1] {
        let e = probe(dir.path(), ms(10), bad, ms(10)).expect_err("bad block size");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("read dir").count(), 0);
}
