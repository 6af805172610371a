//! Backups as RocksDB checkpoints, and restoring one into a data directory.
//!
//! A checkpoint is taken under the ingest lock, so it falls between two
//! batches: every producer's stored sequence matches the profiles in it, and
//! after a restore each producer resumes (GetIngestState) from the backed-up
//! sequence and resends what came after. A restored store gets a new id
//! (`identity.rs`), so a producer that recorded the store it pushed to sees
//! that this one is another.

use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;

use crate::{Store, StoreError};

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub path: PathBuf,
    /// The model version serving when the backup was taken.
    pub model_version: String,
    /// Every producer with its last applied sequence at the backup point.
    pub producers: Vec<(String, u64)>,
}

impl Store {
    /// Writes a consistent checkpoint of every column family into `dir`,
    /// which must not exist yet (its parent must). Files are hard-linked
    /// when `dir` is on the store's file system, so this is fast and small
    /// until the store compacts.
    pub fn checkpoint(&self, dir: &Path) -> Result<BackupInfo, StoreError> {
        let _guard = self.lock_ingest();
        let producers = self.producers()?;
        let model_version = self.current_model_version();
        let checkpoint_error = |source| StoreError::Checkpoint {
            path: dir.to_path_buf(),
            source,
        };
        let checkpoint = Checkpoint::new(&self.db).map_err(checkpoint_error)?;
        // Log size 0: memtables are flushed first, so the checkpoint is all
        // SST files and opens without replaying a log.
        checkpoint
            .create_checkpoint_with_log_size(dir, 0)
            .map_err(checkpoint_error)?;
        // Staged SST files of a load in progress are not part of it: that
        // load shows as interrupted when the backup is opened.
        tracing::info!(path = %dir.display(), %model_version, "checkpoint written");
        Ok(BackupInfo {
            path: dir.to_path_buf(),
            model_version,
            producers,
        })
    }
}

/// Copies the checkpoint in `from` into `data_dir` for a stopped server,
/// and gives the copy a new store id.
///
/// Refuses a non-empty `data_dir` unless `force`, which replaces its
/// contents. The copy is made beside `data_dir` and renamed into place, so
/// an interrupted restore leaves no half-restored store behind.
pub fn restore_backup(from: &Path, data_dir: &Path, force: bool) -> Result<(), StoreError> {
    if !from.join("CURRENT").is_file() {
        return Err(StoreError::Io {
            path: from.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a strata backup (no RocksDB CURRENT file)",
            ),
        });
    }
    let occupied = match std::fs::read_dir(data_dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(error) => return Err(StoreError::io(data_dir)(error)),
    };
    if occupied && !force {
        return Err(StoreError::NotEmpty {
            path: data_dir.to_path_buf(),
        });
    }
    if occupied && data_dir.join("CURRENT").is_file() {
        refuse_if_in_use(data_dir)?;
    }
    let mut staging_name = data_dir.file_name().unwrap_or_default().to_os_string();
    staging_name.push(".restoring");
    let staging = data_dir.with_file_name(staging_name);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(StoreError::io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(StoreError::io(&staging))?;
    for entry in std::fs::read_dir(from).map_err(StoreError::io(from))? {
        let entry = entry.map_err(StoreError::io(from))?;
        let source = entry.path();
        if !entry
            .file_type()
            .map_err(StoreError::io(&source))?
            .is_file()
        {
            continue;
        }
        let target = staging.join(entry.file_name());
        std::fs::copy(&source, &target).map_err(StoreError::io(&source))?;
        std::fs::File::open(&target)
            .and_then(|file| file.sync_all())
            .map_err(StoreError::io(&target))?;
    }
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir).map_err(StoreError::io(data_dir))?;
    }
    // Before the rename: a crash leaves the old folder or a renewed copy.
    crate::identity::renew(&staging)?;
    std::fs::rename(&staging, data_dir).map_err(StoreError::io(data_dir))?;
    if let Some(parent) = data_dir.parent()
        && let Ok(directory) = std::fs::File::open(parent)
    {
        // Make the rename itself durable.
        let _ = directory.sync_all();
    }
    Ok(())
}

/// A store a running server holds is locked by RocksDB: opening it fails,
/// and then --force must not delete it from under the server.
fn refuse_if_in_use(data_dir: &Path) -> Result<(), StoreError> {
    let options = rocksdb::Options::default();
    let families = rocksdb::DB::list_cf(&options, data_dir).map_err(|source| StoreError::Open {
        path: data_dir.to_path_buf(),
        source,
    })?;
    rocksdb::DB::open_cf(&options, data_dir, families)
        .map(drop)
        .map_err(|source| StoreError::Open {
            path: data_dir.to_path_buf(),
            source,
        })
}
