//! Online backups: a consistent copy of the store taken while tills keep buying, kept by
//! RocksDB's backup engine (incremental: a table file already in the backup directory is not
//! copied again; checksummed), with a manifest per backup naming the log sequence it holds
//! and the digests `verify` will show for it. Restore brings a data directory back from it.
//!
//! How a backup is taken: a RocksDB checkpoint of the live store (hard links, a moment's
//! work, writes go on) into a staging directory; the checkpoint is opened as a store of its
//! own, its sequence and digests read, and the backup engine copies it into the backup
//! directory; the staging directory is removed. The checkpoint holds a prefix of the
//! committed batches — never half a batch — so the backup is one sequence of the ledger.

use crate::rocks::RocksStore;
use crate::store::StoreError;
use crate::verify::{digests, Digests};
use rocksdb::backup::{BackupEngine, BackupEngineOptions, RestoreOptions};
use rocksdb::Env;
use std::path::{Path, PathBuf};

/// One backup in a backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The backup engine's id: increasing within a backup directory.
    pub id: u32,
    /// The log sequence and digests of the store the backup holds.
    pub digests: Digests,
    pub created_unix_ms: i64,
    /// Bytes of this backup (files shared with other backups counted in each).
    pub bytes: u64,
    pub files: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{dir}: no backup {id}")]
    NoSuchBackup { dir: PathBuf, id: u32 },
    #[error("{0}: holds no backup")]
    Empty(PathBuf),
    #[error("{0}: not empty; restore only into a new data directory")]
    TargetNotEmpty(PathBuf),
    #[error("{path}: unreadable manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
}

fn io_at(path: &Path) -> impl Fn(rocksdb::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn fs_at(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn engine(dir: &Path) -> Result<BackupEngine, BackupError> {
    let mut opts = BackupEngineOptions::new(dir).map_err(io_at(dir))?;
    // Every file of a backup is synced before the backup counts as made.
    opts.set_sync(true);
    let env = Env::new().map_err(io_at(dir))?;
    BackupEngine::open(&opts, &env).map_err(io_at(dir))
}

fn manifest_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("loyalty-{id}.manifest"))
}

/// Backs `store` up into `to` (created if missing), keeping the newest `keep` backups
/// there (at least one). `staging` is a directory path on the store's file system that
/// does not exist; it is removed afterwards. One backup at a time per store: the caller
/// serialises them.
pub fn create(
    store: &RocksStore,
    staging: &Path,
    to: &Path,
    keep: usize,
    now_unix_ms: i64,
) -> Result<BackupInfo, BackupError> {
    std::fs::create_dir_all(to).map_err(fs_at(to))?;
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(fs_at(staging))?;
    }
    store.checkpoint(staging)?;
    let made = copy_checkpoint(staging, to, keep.max(1), now_unix_ms);
    let removed = std::fs::remove_dir_all(staging).map_err(fs_at(staging));
    let info = made?;
    removed?;
    Ok(info)
}

fn copy_checkpoint(
    staging: &Path,
    to: &Path,
    keep: usize,
    now_unix_ms: i64,
) -> Result<BackupInfo, BackupError> {
    let copy = RocksStore::open(staging)?;
    let digests = digests(&copy)?;
    let mut backups = engine(to)?;
    // The flush turns the checkpoint's log into a table file, so that the backup is table
    // files only; it writes into the staging copy, never into the live store.
    backups
        .create_new_backup_flush(copy.db(), true)
        .map_err(io_at(to))?;
    let made = backups
        .get_backup_info()
        .into_iter()
        .max_by_key(|b| b.backup_id)
        .ok_or_else(|| BackupError::Empty(to.to_path_buf()))?;
    let info = BackupInfo {
        id: made.backup_id,
        digests,
        created_unix_ms: now_unix_ms,
        bytes: made.size,
        files: made.num_files,
    };
    write_manifest(to, &info)?;
    backups.purge_old_backups(keep).map_err(io_at(to))?;
    let kept: Vec<u32> = backups
        .get_backup_info()
        .iter()
        .map(|b| b.backup_id)
        .collect();
    for entry in std::fs::read_dir(to).map_err(fs_at(to))? {
        let path = entry.map_err(fs_at(to))?.path();
        if let Some(id) = manifest_id(&path) {
            if !kept.contains(&id) {
                std::fs::remove_file(&path).map_err(fs_at(&path))?;
            }
        }
    }
    Ok(info)
}

fn manifest_id(path: &Path) -> Option<u32> {
    path.file_name()?
        .to_str()?
        .strip_prefix("loyalty-")?
        .strip_suffix(".manifest")?
        .parse()
        .ok()
}

fn write_manifest(dir: &Path, b: &BackupInfo) -> Result<(), BackupError> {
    let text = format!(
        "backup {}\nseq {}\nstate_sha256 {}\nlog_sha256 {}\ncreated_unix_ms {}\n",
        b.id,
        b.digests.seq,
        hex::encode(b.digests.state_sha256),
        hex::encode(b.digests.log_sha256),
        b.created_unix_ms
    );
    let path = manifest_path(dir, b.id);
    let tmp = path.with_extension("manifest.tmp");
    std::fs::write(&tmp, text).map_err(fs_at(&tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(fs_at(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(fs_at(&path))
}

fn read_manifest(dir: &Path, id: u32, bytes: u64, files: u32) -> Result<BackupInfo, BackupError> {
    let path = manifest_path(dir, id);
    let bad = |reason: &str| BackupError::Manifest {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let text = std::fs::read_to_string(&path).map_err(fs_at(&path))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .ok_or_else(|| bad(&format!("no {name}")))
    };
    let sha = |name: &str| -> Result<[u8; 32], BackupError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(field(name)?, &mut out).map_err(|e| bad(&format!("{name}: {e}")))?;
        Ok(out)
    };
    let number = |name: &str| -> Result<i64, BackupError> {
        field(name)?
            .parse()
            .map_err(|e| bad(&format!("{name}: {e}")))
    };
    if number("backup")? != i64::from(id) {
        return Err(bad("names another backup"));
    }
    Ok(BackupInfo {
        id,
        digests: Digests {
            seq: u64::try_from(number("seq")?).map_err(|_| bad("seq: negative"))?,
            state_sha256: sha("state_sha256")?,
            log_sha256: sha("log_sha256")?,
        },
        created_unix_ms: number("created_unix_ms")?,
        bytes,
        files,
    })
}

/// The backups in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<BackupInfo>, BackupError> {
    if !dir.is_dir() {
        return Err(BackupError::Empty(dir.to_path_buf()));
    }
    let mut all = engine(dir)?
        .get_backup_info()
        .into_iter()
        .map(|b| read_manifest(dir, b.backup_id, b.size, b.num_files))
        .collect::<Result<Vec<_>, _>>()?;
    all.sort_by_key(|b| b.id);
    Ok(all)
}

/// Restores backup `id` (the newest without it) from `from` into `db_dir`, which must be
/// missing or empty. The backup's files are checked against the sizes it recorded first,
/// and the restored store's sequence and digests against its manifest after.
pub fn restore(from: &Path, id: Option<u32>, db_dir: &Path) -> Result<BackupInfo, BackupError> {
    let all = list(from)?;
    let info =
        match id {
            Some(id) => all.iter().find(|b| b.id == id).cloned().ok_or_else(|| {
                BackupError::NoSuchBackup {
                    dir: from.to_path_buf(),
                    id,
                }
            })?,
            None => all
                .last()
                .cloned()
                .ok_or_else(|| BackupError::Empty(from.to_path_buf()))?,
        };
    if db_dir.exists()
        && std::fs::read_dir(db_dir)
            .map_err(fs_at(db_dir))?
            .next()
            .is_some()
    {
        return Err(BackupError::TargetNotEmpty(db_dir.to_path_buf()));
    }
    std::fs::create_dir_all(db_dir).map_err(fs_at(db_dir))?;
    let mut backups = engine(from)?;
    backups.verify_backup(info.id).map_err(io_at(from))?;
    backups
        .restore_from_backup(db_dir, db_dir, &RestoreOptions::default(), info.id)
        .map_err(io_at(db_dir))?;
    let restored = digests(&RocksStore::open(db_dir)?)?;
    if restored != info.digests {
        return Err(BackupError::Manifest {
            path: manifest_path(from, info.id),
            reason: format!(
                "the restored store is at sequence {} with other digests than the backup's",
                restored.seq
            ),
        });
    }
    Ok(info)
}
