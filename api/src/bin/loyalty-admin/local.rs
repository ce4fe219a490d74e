//! Commands that need no server: the disk check of a data directory, a cashbox's signing
//! key, and backups (list, restore, verify a store no server has open).

use anyhow::Context;
use loyalty_api::signing::CashboxSigner;
use std::path::Path;
use std::time::Duration;

/// Generates a cashbox signing key: the seed goes to `file` (mode 0600), the public key to
/// register is printed.
pub fn cashbox_keygen(file: &Path) -> anyhow::Result<()> {
    let seed: [u8; 32] = rand::random();
    loyalty_api::signing::write_private_file(file, &hex::encode(seed))
        .with_context(|| file.display().to_string())?;
    println!("{}", CashboxSigner::new(seed, 0).public_hex());
    Ok(())
}

// Durations and shares are shown as decimals; nothing here is money.
#[allow(clippy::float_arithmetic)]
pub fn disk_check(
    dir: &std::path::Path,
    run_for: Duration,
    block_bytes: usize,
    slow_over: Duration,
) -> anyhow::Result<()> {
    eprintln!(
        "syncing {block_bytes}-byte writes in {} for {} s ...",
        dir.display(),
        run_for.as_secs()
    );
    let s = loyalty_engine::disk::probe(dir, run_for, block_bytes, slow_over)
        .with_context(|| dir.display().to_string())?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let bound = ms(s.slow_over);
    println!(
        "{} syncs in {:.1} s ({:.0}/s); sync ms: p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.1}",
        s.syncs,
        s.wall.as_secs_f64(),
        s.syncs as f64 / s.wall.as_secs_f64(),
        ms(s.p50),
        ms(s.p99),
        ms(s.p999),
        ms(s.max)
    );
    println!(
        "{} syncs over {bound:.0} ms; a write arriving at a random moment waits over {bound:.0} ms \
         for the sync under way {:.2} % of the time",
        s.slow,
        s.over_share * 100.0
    );
    if s.over_share > 0.01 {
        println!(
            "this disk alone puts the 99th percentile of writes above {bound:.0} ms \
             (more than 1 % of the time)"
        );
    }
    Ok(())
}

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

pub fn backups(dir: &Path) -> anyhow::Result<()> {
    for b in loyalty_engine::backup::list(dir)? {
        println!(
            "backup {}  sequence {}  taken {} UTC  {} files  {} bytes",
            b.id,
            b.digests.seq,
            utc(b.created_unix_ms),
            b.files,
            b.bytes
        );
    }
    Ok(())
}

pub fn restore(from: &Path, backup: Option<u32>, data_dir: &Path) -> anyhow::Result<()> {
    let db = data_dir.join("db");
    let b = loyalty_engine::backup::restore(from, backup, &db)?;
    println!(
        "restored backup {} (sequence {}, taken {} UTC) into {}\nstate sha256 {}\nlog sha256 {}",
        b.id,
        b.digests.seq,
        utc(b.created_unix_ms),
        db.display(),
        hex::encode(b.digests.state_sha256),
        hex::encode(b.digests.log_sha256)
    );
    Ok(())
}

pub fn verify_data(data_dir: &Path, through: Option<u64>) -> anyhow::Result<()> {
    let db = data_dir.join("db");
    if !db.join("CURRENT").is_file() {
        anyhow::bail!("{}: no store here", db.display());
    }
    let store = loyalty_engine::rocks::RocksStore::open(&db)
        .with_context(|| format!("{} (is a server running on it?)", db.display()))?;
    let v = loyalty_engine::verify_store(&store, false)?;
    println!(
        "events={} equal={} rewritten=false\nstate sha256 {}\nlog sha256 {}",
        v.events,
        v.equal,
        hex::encode(v.state_sha256),
        hex::encode(v.log_sha256)
    );
    if let Some(seq) = through {
        if seq > v.events {
            anyhow::bail!("--through {seq}: the log ends at {}", v.events);
        }
        let d = loyalty_engine::log_digest_through(&store, seq)?;
        println!("log sha256 through {seq} {}", hex::encode(d));
    }
    for d in &v.differences {
        println!("  differs: {d}");
    }
    if !v.equal {
        anyhow::bail!("live state differs from the rebuild");
    }
    Ok(())
}
