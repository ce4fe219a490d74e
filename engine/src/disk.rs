//! How long the disk under a data directory takes to make a write durable: the floor under
//! every acknowledged write. A write is answered only after its batch's WAL sync, and a
//! batch cannot start syncing before the one ahead of it finished, so a sync that stalls
//! holds up every write arriving meanwhile, however fast the engine is.
//!
//! [`probe`] writes blocks into a scratch file the way the WAL does (a preallocated file
//! overwritten in place, each block synced with `fdatasync`) and [`summarize`] turns the
//! measured sync times into the figures an operator needs — among them the share of time
//! during which a write arriving would wait longer than a bound for the sync already under
//! way. When that share is above 1 %, no software on this disk can keep the 99th percentile
//! of writes under the bound.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Size of the scratch file the probe overwrites in a circle.
const SCRATCH_BYTES: u64 = 64 << 20;

/// What a run of syncs measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSummary {
    pub syncs: u64,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    /// The bound the two figures below are about.
    pub slow_over: Duration,
    /// Syncs that took longer than `slow_over`.
    pub slow: u64,
    /// Share of the wall time (0..=1) in which a sync under way still had more than
    /// `slow_over` to go: Σ max(0, sync − slow_over) / wall. A write arriving at a random
    /// moment waits longer than `slow_over` with at least this probability.
    pub over_share: f64,
}

/// Figures of `syncs` (any order; sorted in place) measured over `wall`.
pub fn summarize(syncs: &mut [Duration], wall: Duration, slow_over: Duration) -> SyncSummary {
    syncs.sort_unstable();
    let at = |q: f64| -> Duration {
        if syncs.is_empty() {
            return Duration::ZERO;
        }
        // Nearest rank: the smallest value with at least q of the samples at or below it.
        #[allow(clippy::float_arithmetic)]
        let rank = ((q * syncs.len() as f64).ceil() as usize).clamp(1, syncs.len());
        syncs[rank - 1]
    };
    let beyond: Duration = syncs.iter().map(|s| s.saturating_sub(slow_over)).sum();
    #[allow(clippy::float_arithmetic)]
    let over_share = if wall.is_zero() {
        0.0
    } else {
        (beyond.as_secs_f64() / wall.as_secs_f64()).min(1.0)
    };
    SyncSummary {
        syncs: syncs.len() as u64,
        wall,
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: syncs.last().copied().unwrap_or_default(),
        slow_over,
        slow: syncs.iter().filter(|s| **s > slow_over).count() as u64,
        over_share,
    }
}

/// Removes the scratch file however the probe ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `block_bytes` blocks into a scratch file in `dir` for `run_for`, syncing each, and
/// summarizes the sync times. The file is removed afterwards; nothing else in `dir` is
/// touched. `dir` must exist (the data directory, or a directory on the same file system).
pub fn probe(
    dir: &Path,
    run_for: Duration,
    block_bytes: usize,
    slow_over: Duration,
) -> io::Result<SyncSummary> {
    if block_bytes == 0 || block_bytes as u64 > SCRATCH_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("block size must be 1 byte to {SCRATCH_BYTES} bytes, not {block_bytes}"),
        ));
    }
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let path = dir.join(format!(".disk-check-{}", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _scratch = Scratch(path);
    preallocate(&file)?;
    let block = vec![0x5a_u8; block_bytes];
    let blocks = SCRATCH_BYTES / block_bytes as u64;
    let mut syncs = Vec::new();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < run_for {
        file.write_all_at(&block, (n % blocks) * block_bytes as u64)?;
        let t = Instant::now();
        file.sync_data()?;
        syncs.push(t.elapsed());
        n += 1;
    }
    Ok(summarize(&mut syncs, started.elapsed(), slow_over))
}

/// Writes the whole file once and syncs it, so that the probe's syncs overwrite blocks the
/// file already owns, as the recycled WAL's do, and never grow it.
fn preallocate(file: &File) -> io::Result<()> {
    let chunk = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < SCRATCH_BYTES {
        file.write_all_at(&chunk, at)?;
        at += chunk.len() as u64;
    }
    file.sync_all()
}
