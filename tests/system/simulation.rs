//! A short smoke of the deterministic simulator: fixed seeds, plus one random seed that is
//! printed so that a failure can be replayed; and its cluster mode, whose same seed gives
//! the same run too.

use loyalty_sim::{run, SimConfig};

#[test]
fn fixed_seeds_agree_with_the_auditor() {
    for seed in [1, 2, 3, 42] {
        let report = run(SimConfig::new(seed, 400)).unwrap_or_else(|d| panic!("{d}"));
        assert!(report.requests > 500 && report.events > 300, "{report:?}");
        assert!(
            report.crashes > 0
                && report.lost_answers > 0
                && report.resends > 0
                && report.broken_streams > 0,
            "faults were injected: {report:?}"
        );
    }
}

#[test]
fn a_random_seed_agrees_with_the_auditor() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007;
    eprintln!(
        "simulation seed {seed} (replay: cargo run -p loyalty-sim --release -- --seed {seed})"
    );
    run(SimConfig::new(seed, 400)).unwrap_or_else(|d| panic!("{d}"));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = run(SimConfig::new(7, 200)).unwrap();
    let b = run(SimConfig::new(7, 200)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn cluster_mode_agrees_with_the_auditor_and_replays_exactly() {
    // Three replicas with consensus on a lossy network, replicas crashing and leaders cut
    // off, some of them while a batch is being proposed.
    let mut in_doubt = 0;
    for seed in [1, 2, 3] {
        let report = run(SimConfig::new(seed, 300).cluster()).unwrap_or_else(|d| panic!("{d}"));
        let c = report.cluster.clone().expect("cluster figures");
        assert!(
            c.messages_lost > 0 && c.replica_crashes > 0 && c.leader_changes > 0,
            "faults were injected: {c:?}"
        );
        in_doubt += c.in_doubt_committed + c.in_doubt_absent;
        if seed == 2 {
            assert_eq!(run(SimConfig::new(seed, 300).cluster()).unwrap(), report);
        }
    }
    assert!(in_doubt > 0, "some proposals were in doubt");
}
