//! Online backups: taken while the writer commits, restored into new data directories, and
//! compared with the source at the backup's sequence.

use loyalty_core::command::*;
use loyalty_core::ids::*;
use loyalty_core::model::CashboxKind;
use loyalty_engine::backup::{self, BackupError};
use loyalty_engine::rocks::RocksStore;
use loyalty_engine::{
    digests, log_digest_through, verify_store, Engine, EngineConfig, SystemClock,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn register(id: u32) -> Request {
    Request {
        op: OpId(u128::from(id) << 8),
        actor: Actor::Admin(OperatorName::new("ops").expect("operator name")),
        command: Command::RegisterCashbox {
            id: CashboxId(id),
            store: StoreId(1),
            kind: CashboxKind::Pos,
            secret_sha256: [0; 32],
            public_key: None,
            login: None,
        },
    }
}

#[test]
fn backups_taken_under_load_restore_to_the_source_at_their_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RocksStore::open(&dir.path().join("db")).unwrap());
    let engine = Engine::start(
        store.clone(),
        EngineConfig::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let mut id = 1;
            while !stop.load(Ordering::Relaxed) {
                // Sixteen in flight at a time, so that batches commit while the backups run.
                let batch = (id..id + 16).map(register).collect();
                for r in rt.block_on(engine.execute_many(batch)).unwrap() {
                    assert!(r.reply.is_ok());
                }
                id += 16;
            }
            id - 1
        })
    };
    let backups = dir.path().join("backups");
    let mut made = Vec::new();
    while made.len() < 3 {
        std::thread::sleep(std::time::Duration::from_millis(30));
        let staging = dir.path().join("staging");
        made.push(backup::create(&store, &staging, &backups, 2, made.len() as i64).unwrap());
        assert!(!staging.exists(), "the staging copy is removed");
    }
    stop.store(true, Ordering::Relaxed);
    let registered = load.join().unwrap();
    let source = digests(store.as_ref()).unwrap();
    assert_eq!(source.seq, u64::from(registered), "one event per cashbox");

    // Given three backups kept two at a time, when listed, then the newest two remain.
    let listed = backup::list(&backups).unwrap();
    assert_eq!(listed, made[1..].to_vec());
    assert!(made
        .windows(2)
        .all(|w| w[0].digests.seq <= w[1].digests.seq));
    assert!(
        made[0].digests.seq > 0 && made[2].digests.seq < source.seq,
        "taken under load"
    );

    for b in &listed {
        // When restored into a new data directory, then its state is the rebuild of its log,
        // and its log is the source's up to the backup's sequence.
        let target = dir.path().join(format!("restored-{}", b.id));
        let info = backup::restore(&backups, Some(b.id), &target).unwrap();
        assert_eq!(&info, b);
        let restored = RocksStore::open(&target).unwrap();
        let report = verify_store(&restored, false).unwrap();
        assert!(report.equal, "{:?}", report.differences);
        assert_eq!(report.events, b.digests.seq);
        assert_eq!(report.state_sha256, b.digests.state_sha256);
        assert_eq!(report.log_sha256, b.digests.log_sha256);
        assert_eq!(
            log_digest_through(store.as_ref(), b.digests.seq).unwrap(),
            b.digests.log_sha256
        );
        // A restore never overwrites a data directory.
        drop(restored);
        assert!(matches!(
            backup::restore(&backups, Some(b.id), &target),
            Err(BackupError::TargetNotEmpty(_))
        ));
    }
    assert!(matches!(
        backup::restore(&backups, Some(made[0].id), &dir.path().join("gone")),
        Err(BackupError::NoSuchBackup { .. })
    ));
    assert!(matches!(
        backup::list(&dir.path().join("nothing here")),
        Err(BackupError::Empty(_))
    ));
    engine.shutdown();
}
