//! Commands that need no server: the disk check of a data directory and a cashbox's
//! signing key.

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
