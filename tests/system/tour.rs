//! The documentation's command tours run as written: the README's first purchase, then the
//! CLI page's tour of every command, in their order, through the real `loyalty-admin`
//! binary against a real server with a fresh data directory. A command that fails or is
//! refused stops the tour (`bash -e`), so the docs cannot drift from the product.

use loyalty_api::server::{serve, ServerConfig};
use std::path::Path;
use std::process::Command;
use tokio_util::sync::CancellationToken;

/// The shell block after the `<!-- tour: NAME -->` marker of a document, with the line
/// that names the admin binary (`A=...`) pointing at the binary under test.
fn tour(doc: &str, name: &str, admin: &str) -> String {
    let marker = format!("<!-- tour: {name} -->");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in the document"));
    let block = doc[start..]
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("no shell block after {marker}"))
        .0;
    let mut named = false;
    let lines: Vec<String> = block
        .lines()
        .map(|l| match l.strip_prefix("A=") {
            Some(_) => {
                named = true;
                format!("A={admin}")
            }
            None => l.to_owned(),
        })
        .collect();
    assert!(named, "the {name} tour names the admin binary with A=...");
    lines.join("\n")
}

/// Runs a tour in `dir` against the server at `url`; its output, or the failure with it.
fn run(script: &str, dir: &Path, url: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("LOYALTY_SERVER", url)
        .env_remove("LOYALTY_ADMIN_TOKEN")
        .env_remove("LOYALTY_DATA_DIR")
        .env_remove("LOYALTY_CASHBOX_SECRET")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the tour stopped: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_and_cli_tours_run_as_written_in_their_order() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo");
    let work = tempfile::tempdir().unwrap();
    // As from the repository root: the example files under docs/, the data under data/.
    std::os::unix::fs::symlink(repo.join("docs"), work.path().join("docs")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = ServerConfig {
        data_dir: work.path().join("data"),
        listen: listener.local_addr().unwrap(),
        metrics_listen: None,
        ..ServerConfig::default()
    };
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(config, listener, shutdown.clone()));
    crate::harness::channel(&url).await;

    let admin = env!("CARGO_BIN_EXE_loyalty-test-admin");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let cli = std::fs::read_to_string(repo.join("docs/cli.md")).unwrap();
    let (first, rest) = (tour(&readme, "readme", admin), tour(&cli, "cli", admin));
    let dir = work.path().to_path_buf();
    let (one, two) = tokio::task::spawn_blocking(move || {
        let one = run(&first, &dir, &url);
        (one, run(&rest, &dir, &url))
    })
    .await
    .unwrap();

    // The first purchase: 10 % off the milk, 5 % of what is paid accrues, credited by the
    // confirm and pending for the programme's 14 days — the figures the README states.
    assert!(one.contains("accrual 10.34"), "{one}");
    assert!(
        one.contains("balance 0.00 held 0.00 spendable 0.00 owed 0.00 pending 10.34"),
        "{one}"
    );
    assert!(one.contains("next to expire 10.34 on "), "{one}");
    // The history shows the lot the confirm credited, pending, with its dates.
    assert!(
        one.contains("\"lots\":[{\"id\":1,\"source\":\"Purchase\",\"points\":1034")
            && one.contains("\"pending\":true"),
        "{one}"
    );
    assert!(one.contains("| "), "the slip is printed: {one}");
    // The CLI tour: the import applied both registry cheques, the rebuild equals the live
    // state, and the status shows the outbox backlog (no broker: every event waits).
    assert!(two.contains("applied 2, duplicates 0, refused 0"), "{two}");
    assert!(two.contains("equal=true"), "{two}");
    // The mechanics' preview.
    assert!(
        two.contains("amount 362.50 discount 112.00")
            && two.contains("gift: add 1 × Kefir 1% 0.9 l at no charge"),
        "{two}"
    );
    // The limited offer's budget, used by the registered cheque.
    assert!(
        two.contains("offer 8: given 65.25 of 500.00 (434.75 left)"),
        "{two}"
    );
    // Gift certificates: 60.00 of the bread held on GC-1001, taken by the confirm; one
    // bread back goes onto it (45.00), nothing paid out.
    assert!(
        two.contains("certificate GC-1002: 50.00 of 50.00 left, 0.00 held, 50.00 payable")
            && two
                .contains("certificate GC-1001: 100.00 of 100.00 left, 60.00 held, 40.00 payable")
            && two.contains("pay out 0.00 points back 0.00 onto certificates 45.00")
            && two.contains("certificate GC-1001: 85.00 of 100.00 left, 0.00 held"),
        "{two}"
    );
    // The levels as set, read back.
    assert!(
        two.contains("spend over a calendar period of 12 months")
            && two.contains("Platinum from 100000.00"),
        "{two}"
    );
    // The event bonuses as set, read back.
    assert!(
        two.contains("welcome points=100.00 pending 0 days, lives 90 days, on")
            && two.contains("first-purchase points=50.00 pending 7 days, lives 365 days, on")
            && two.contains(
                "birthday points=200.00 pending 0 days, lives 30 days, from 3 days before to 3 days after, on"
            ),
        "{two}"
    );
    assert!(two.contains("outbox: "), "{two}");
    // The backup taken through the server restores into a new data directory whose rebuild
    // equals its state, at the backup's sequence.
    let seq = two
        .lines()
        .find_map(|l| l.strip_prefix("backup 1 at sequence "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no backup line: {two}"));
    assert!(
        two.contains(&format!("restored backup 1 (sequence {seq},"))
            && two.contains(&format!("events={seq} equal=true")),
        "{two}"
    );
    assert!(
        two.contains("cashbox secret written to till3.secret"),
        "{two}"
    );
    // Support saw the stuck cheque and resolved it; the history says so and why.
    assert!(two.contains("C-3"), "{two}");
    assert!(
        two.contains("PurchaseResolved") && two.contains("customer left without paying"),
        "{two}"
    );

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
