//! Backups on the server: one at a time, on an operator's demand (the `Backup` admin call)
//! or on the configured schedule, and what the newest one was — for status and for the
//! `loyalty_backup_age_seconds` metric. The work itself is `loyalty_engine::backup`.

use loyalty_engine::backup::{self, BackupError, BackupInfo};
use loyalty_engine::rocks::RocksStore;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Backups {
    store: Arc<RocksStore>,
    /// Where the checkpoint of the moment is staged: beside the store, on its file system.
    staging: PathBuf,
    running: tokio::sync::Mutex<()>,
    newest: Mutex<Option<BackupInfo>>,
    pub failures: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("a backup is under way; ask again when it has finished")]
    Running,
    #[error(transparent)]
    Failed(#[from] BackupError),
}

fn now_unix_ms() -> i64 {
    use loyalty_engine::Clock;
    loyalty_engine::SystemClock.now().0
}

impl Backups {
    /// The newest backup in `scheduled` (the configured backup directory), when there is
    /// one, counts as the newest so far: a restart does not make the last backup look new.
    pub fn new(store: Arc<RocksStore>, data_dir: &Path, scheduled: Option<&Path>) -> Backups {
        let newest = scheduled
            .filter(|d| d.is_dir())
            .and_then(|d| match backup::list(d) {
                Ok(all) => all.into_iter().last(),
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot read the backups");
                    None
                }
            });
        Backups {
            store,
            staging: data_dir.join("backup-staging"),
            running: tokio::sync::Mutex::new(()),
            newest: Mutex::new(newest),
            failures: AtomicU64::new(0),
        }
    }

    /// Takes a backup into `to`, keeping the newest `keep` there.
    pub async fn take(
        &self,
        to: PathBuf,
        keep: usize,
    ) -> Result<(BackupInfo, Duration), TakeError> {
        let _one = self.running.try_lock().map_err(|_| TakeError::Running)?;
        let started = Instant::now();
        let (store, staging) = (self.store.clone(), self.staging.clone());
        let made = tokio::task::spawn_blocking(move || {
            backup::create(&store, &staging, &to, keep, now_unix_ms())
        })
        .await
        .unwrap_or_else(|e| {
            Err(BackupError::Io {
                path: PathBuf::new(),
                reason: e.to_string(),
            })
        });
        match made {
            Ok(info) => {
                *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
                Ok((info, started.elapsed()))
            }
            Err(e) => {
                self.failures.fetch_add(1, Relaxed);
                Err(e.into())
            }
        }
    }

    pub fn newest(&self) -> Option<BackupInfo> {
        self.newest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Seconds since the newest backup was taken.
    pub fn age_secs(&self) -> Option<i64> {
        self.newest()
            .map(|b| (now_unix_ms() - b.created_unix_ms).max(0) / 1000)
    }
}

/// Takes a backup into `dir` every `every`, keeping `keep`: the first when the newest there
/// is `every` old (at once if there is none), until `shutdown`. A failed backup is logged,
/// counted, and tried again after a minute (or `every`, if shorter).
pub async fn run(
    backups: Arc<Backups>,
    dir: PathBuf,
    every: Duration,
    keep: usize,
    shutdown: CancellationToken,
) {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let mut wait = match backups.newest() {
        Some(b) => {
            let due = b.created_unix_ms.saturating_add(every_ms);
            Duration::from_millis(u64::try_from(due - now_unix_ms()).unwrap_or(0))
        }
        None => Duration::ZERO,
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = match backups.take(dir.clone(), keep).await {
            Ok((b, took)) => {
                tracing::info!(dir = %dir.display(), backup = b.id, seq = b.digests.seq, took_ms = took.as_millis() as u64, "backup taken");
                every
            }
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "scheduled backup failed");
                every.min(Duration::from_secs(60))
            }
        };
    }
}
