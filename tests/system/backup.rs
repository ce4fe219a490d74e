//! Backups through the real server: taken with the admin call while tills buy, restored with
//! the real `loyalty-admin` into a new data directory, checked against the source at the
//! backup's sequence, and served again with every operation it holds answered as before.

use crate::harness::*;
use loyalty_proto::pb;
use loyalty_proto::pb::admin_service_client::AdminServiceClient;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Runs the admin CLI without a server; its output, or the failure.
fn admin_cli(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty-test-admin"))
        .args(args)
        .env_remove("LOYALTY_DATA_DIR")
        .output()
        .expect("the admin CLI runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The value after `prefix` on the line that starts with it.
fn field<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {text}"))
        .trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_to_the_source_at_its_sequence() {
    let (server, mut admin, till) = world_with(test_config()).await;
    let stop = Arc::new(AtomicBool::new(false));
    // Operation ids of purchases the tills were answered, in the order they were answered.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    for t in 0..4 {
        let (stop, acknowledged, till) = (stop.clone(), acknowledged.clone(), till.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let operation_id = op();
                let r = till
                    .client
                    .clone()
                    .register_purchase(till.req(pb::RegisterPurchaseRequest {
                        operation_id: operation_id.clone(),
                        slip_width: 0,
                        cheque: Some(cheque(
                            &format!("b{t}-{n}"),
                            CARD,
                            vec![line("bread", "1", "100")],
                        )),
                    }))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(r.outcome, pb::Outcome::Ok as i32, "{}", r.message);
                acknowledged.lock().unwrap().push(operation_id);
                n += 1;
            }
        }));
    }
    let backups = server.dir.path().join("backups");
    let to = backups.to_str().unwrap().to_owned();
    let mut made = Vec::new();
    let mut before = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // Every purchase answered before the backup was asked for is in it.
        before.push(acknowledged.lock().unwrap().len());
        let b = admin
            .backup(admin_req(pb::BackupRequest {
                to: to.clone(),
                keep: 0,
            }))
            .await
            .unwrap()
            .into_inner();
        made.push(b);
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(made[0].seq > 0 && made[0].seq < made[1].seq, "{made:?}");
    assert!(
        before[0] > 0 && before[1] < acknowledged.len(),
        "taken under load"
    );
    let status = admin
        .status(admin_req(pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.backup_seq, made[1].seq);
    assert!(status.backup_unix_ms > 0);

    // Bad requests change nothing and say what is wrong.
    let empty = admin
        .backup(admin_req(pb::BackupRequest {
            to: String::new(),
            keep: 0,
        }))
        .await
        .unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    let unwritable = admin
        .backup(admin_req(pb::BackupRequest {
            to: "/proc/loyalty-backups".into(),
            keep: 0,
        }))
        .await
        .unwrap_err();
    assert_eq!(
        unwritable.code(),
        tonic::Code::FailedPrecondition,
        "{unwritable:?}"
    );

    let source_dir = server.stop().await;
    let source = source_dir.path().to_str().unwrap();
    let listed = admin_cli(&["backups", &to]).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");

    for (b, before) in made.iter().zip(&before) {
        let target = tempfile::tempdir().unwrap();
        let data = target.path().to_str().unwrap();
        let id = b.backup_id.to_string();
        let restored = admin_cli(&[
            "--data-dir",
            data,
            "restore",
            "--from",
            &to,
            "--backup",
            &id,
        ])
        .unwrap();
        assert!(
            restored.contains(&format!("sequence {}", b.seq)),
            "{restored}"
        );
        // A second restore into the same data directory is refused: it holds a store now.
        let again = admin_cli(&[
            "--data-dir",
            data,
            "restore",
            "--from",
            &to,
            "--backup",
            &id,
        ])
        .unwrap_err();
        assert!(again.contains("not empty"), "{again}");

        // The restored state is the rebuild of its log; its digests are the backup's.
        let verified = admin_cli(&["--data-dir", data, "verify-data"]).unwrap();
        assert!(
            verified.contains(&format!("events={} equal=true", b.seq)),
            "{verified}"
        );
        assert_eq!(field(&verified, "state sha256 "), b.state_sha256);
        assert_eq!(field(&verified, "log sha256 "), b.log_sha256);
        // The source, which went on, had the same log up to the backup's sequence.
        let seq = b.seq.to_string();
        let at_source =
            admin_cli(&["--data-dir", source, "verify-data", "--through", &seq]).unwrap();
        assert_eq!(
            field(&at_source, &format!("log sha256 through {seq} ")),
            b.log_sha256
        );

        // Served again: every purchase answered before the backup was asked for answers
        // its operation status as confirmed-or-registered, from the restored store.
        let server = TestServer::start_in(target, test_config()).await;
        let ch = channel(&server.url()).await;
        let mut till = Till {
            client: pb::cash_service_client::CashServiceClient::new(ch.clone()),
            ..till.clone()
        };
        for id in &acknowledged[..*before] {
            let s = till
                .client
                .get_operation(till.req(pb::GetOperationRequest {
                    operation_id: id.clone(),
                }))
                .await
                .unwrap()
                .into_inner();
            assert!(
                s.found,
                "operation {id} acknowledged before backup {} is missing",
                b.backup_id
            );
            assert_eq!(s.reply.unwrap().outcome, pb::Outcome::Ok as i32);
        }
        let mut admin = AdminServiceClient::new(ch);
        let v = admin
            .verify(admin_req(pb::VerifyRequest { rewrite: false }))
            .await
            .unwrap()
            .into_inner();
        assert!(v.equal && v.events == b.seq && v.log_sha256 == b.log_sha256);
        server.stop().await;
    }
    let missing = admin_cli(&[
        "--data-dir",
        "/nonexistent-data",
        "restore",
        "--from",
        &to,
        "--backup",
        "99",
    ])
    .unwrap_err();
    assert!(missing.contains("no backup 99"), "{missing}");
    assert!(Path::new(&to)
        .join(format!("loyalty-{}.manifest", made[1].backup_id))
        .is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_run_at_start_when_due_and_their_age_survives_a_restart() {
    let backups = tempfile::tempdir().unwrap();
    let metrics = free_addr();
    let config = || loyalty_api::server::ServerConfig {
        backup_dir: Some(backups.path().to_path_buf()),
        backup_every_secs: 3600,
        backup_keep: 2,
        metrics_listen: Some(metrics),
        ..test_config()
    };
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), config()).await;
    let mut admin = AdminServiceClient::new(channel(&server.url()).await);
    setup_program(&mut admin).await;
    // No backup there yet: the first is taken at start.
    let mut first = None;
    for _ in 0..200 {
        let s = admin
            .status(admin_req(pb::StatusRequest {}))
            .await
            .unwrap()
            .into_inner();
        if s.backup_unix_ms > 0 {
            first = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let first = first.expect("the scheduled backup ran at start");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(metrics).await.unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).await.unwrap();
    assert!(text.contains("\nloyalty_backup_age_seconds "), "{text}");
    assert!(text.contains("\nloyalty_backup_failures_total 0"), "{text}");

    // Restarted within the hour: the newest backup is the one there, none is taken at once.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, config()).await;
    let mut admin = AdminServiceClient::new(channel(&server.url()).await);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let s = admin
        .status(admin_req(pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (s.backup_unix_ms, s.backup_seq),
        (first.backup_unix_ms, first.backup_seq)
    );
    let listed = admin_cli(&["backups", backups.path().to_str().unwrap()]).unwrap();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    server.stop().await;
}
