//! strata's storage: per-user profile records and per-producer ingest
//! sequences in one RocksDB database.
//!
//! The store deals in bytes (user ids in, encoded profiles out) so that the
//! serving path can copy stored records into responses without decoding them,
//! and so that RocksDB's types never leak past this crate.
//!
//! Layout, one column family per kind of record:
//! - `profiles`: user id -> encoded profile;
//! - `ingest`: producer id -> last applied sequence (u64, big-endian).
//!
//! A batch of upserts and deletes is written in one `WriteBatch` together
//! with its producer's new sequence, with a synced WAL, so a batch is either
//! wholly applied and durable or not applied at all, even across a crash.

mod error;
mod stats;

pub use error::StoreError;
pub use stats::StoreStats;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options,
    WriteBatch, WriteOptions,
};

const PROFILES_CF: &str = "profiles";
const INGEST_CF: &str = "ingest";

/// Tuning knobs of the store; defaults suit a development machine.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Shared LRU block cache size, in bytes.
    pub block_cache_bytes: usize,
    /// Bloom filter bits per key for the profiles column family; 0 disables it.
    pub bloom_bits_per_key: f64,
    /// Row cache (whole key -> value, in front of the block cache), in
    /// bytes; 0 disables it. Measured (benches/store_lookup, 200k profiles,
    /// all cached): MultiGet of 100 random users 237 us without, 60 us with.
    pub row_cache_bytes: usize,
    /// Sync the WAL on every ingest batch. Only tests that measure something
    /// else may turn this off: an acknowledged batch must survive a crash.
    pub sync_writes: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            block_cache_bytes: 256 << 20,
            bloom_bits_per_key: 10.0,
            row_cache_bytes: 256 << 20,
            sync_writes: true,
        }
    }
}

/// What became of a batch handed to [`Store::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The batch was written and is durable.
    Applied,
    /// The producer had already applied this sequence; nothing was written.
    Replayed { last_applied: u64 },
}

/// One producer's batch of changes, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, K, V, D> {
    pub producer_id: &'a str,
    pub sequence: u64,
    /// (user id, encoded profile) pairs to insert or replace.
    pub upserts: &'a [(K, V)],
    /// User ids to erase.
    pub deletes: &'a [D],
}

/// The RocksDB-backed store. Cheap to share behind an `Arc`; every method
/// takes `&self`.
pub struct Store {
    db: DB,
    block_cache: Cache,
    path: PathBuf,
    sync_writes: bool,
    /// Serialises the read-check-write of producer sequences; without it two
    /// streams of one producer could both pass the gap check for the same
    /// sequence.
    ingest_lock: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating it if missing.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let block_cache = Cache::new_lru_cache(options.block_cache_bytes);

        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_compression_type(DBCompressionType::Lz4);
        // Deletes are erasure requests: make sure tombstoned records are
        // rewritten away within a week even in a cold key range.
        db_options.set_periodic_compaction_seconds(7 * 24 * 3600);

        let row_cache =
            (options.row_cache_bytes > 0).then(|| Cache::new_lru_cache(options.row_cache_bytes));
        if let Some(cache) = &row_cache {
            db_options.set_row_cache(cache);
        }
        let mut profiles_options = db_options.clone();
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&block_cache);
        if options.bloom_bits_per_key > 0.0 {
            table.set_bloom_filter(options.bloom_bits_per_key, false);
        }
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        profiles_options.set_block_based_table_factory(&table);

        let column_families = vec![
            ColumnFamilyDescriptor::new(PROFILES_CF, profiles_options),
            ColumnFamilyDescriptor::new(INGEST_CF, db_options.clone()),
        ];
        let db = DB::open_cf_descriptors(&db_options, path, column_families).map_err(|source| {
            StoreError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
        tracing::info!(path = %path.display(), "store opened");
        Ok(Store {
            db,
            block_cache,
            path: path.to_path_buf(),
            sync_writes: options.sync_writes,
            ingest_lock: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn profiles(&self) -> &ColumnFamily {
        self.db
            .cf_handle(PROFILES_CF)
            .expect("profiles column family is created at open")
    }

    fn ingest(&self) -> &ColumnFamily {
        self.db
            .cf_handle(INGEST_CF)
            .expect("ingest column family is created at open")
    }

    /// Looks up many users in one RocksDB MultiGet and hands each answer to
    /// `visit(index, record)` in key order, borrowing the stored bytes so the
    /// caller can copy them straight into a response.
    ///
    /// All keys are read from one consistent view: a batch applied
    /// concurrently is seen wholly or not at all.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        user_ids: &[K],
        mut visit: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        // Measured (benches/store_lookup): for one key a plain point read is
        // about twice as fast as MultiGet's batching set-up.
        if let [user_id] = user_ids {
            let slice = self
                .db
                .get_pinned_cf(self.profiles(), user_id)
                .map_err(StoreError::Read)?;
            visit(0, slice.as_deref());
            return Ok(());
        }
        let results = self
            .db
            .batched_multi_get_cf(self.profiles(), user_ids.iter(), false);
        for (index, result) in results.into_iter().enumerate() {
            let slice = result.map_err(StoreError::Read)?;
            visit(index, slice.as_deref());
        }
        Ok(())
    }

    /// Reads one user's record.
    pub fn get<R>(
        &self,
        user_id: &[u8],
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StoreError> {
        let slice = self
            .db
            .get_pinned_cf(self.profiles(), user_id)
            .map_err(StoreError::Read)?;
        Ok(read(slice.as_deref()))
    }

    /// Applies one producer batch atomically with its sequence number.
    ///
    /// Sequences start at 1 and grow by one. A sequence at or below the last
    /// applied one is a replay and changes nothing; a higher one than the next
    /// expected is a gap and is refused.
    pub fn apply<K, V, D>(&self, batch: Batch<'_, K, V, D>) -> Result<ApplyOutcome, StoreError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
        D: AsRef<[u8]>,
    {
        if batch.sequence == 0 {
            return Err(StoreError::ZeroSequence {
                producer_id: batch.producer_id.to_owned(),
            });
        }
        let _guard = self
            .ingest_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let last_applied = self.last_sequence(batch.producer_id)?;
        if batch.sequence <= last_applied {
            return Ok(ApplyOutcome::Replayed { last_applied });
        }
        let expected = last_applied + 1;
        if batch.sequence != expected {
            return Err(StoreError::SequenceGap {
                producer_id: batch.producer_id.to_owned(),
                expected,
                got: batch.sequence,
            });
        }

        let profiles = self.profiles();
        let mut write = WriteBatch::default();
        for (user_id, record) in batch.upserts {
            write.put_cf(profiles, user_id, record);
        }
        for user_id in batch.deletes {
            write.delete_cf(profiles, user_id);
        }
        write.put_cf(
            self.ingest(),
            batch.producer_id.as_bytes(),
            batch.sequence.to_be_bytes(),
        );
        let mut write_options = WriteOptions::default();
        write_options.set_sync(self.sync_writes);
        self.db
            .write_opt(write, &write_options)
            .map_err(StoreError::Write)?;
        Ok(ApplyOutcome::Applied)
    }

    /// The last sequence applied for `producer_id`, 0 if it never wrote.
    pub fn last_sequence(&self, producer_id: &str) -> Result<u64, StoreError> {
        let value = self
            .db
            .get_pinned_cf(self.ingest(), producer_id.as_bytes())
            .map_err(StoreError::Read)?;
        match value {
            None => Ok(0),
            Some(bytes) => decode_sequence(producer_id, &bytes),
        }
    }

    /// Every producer that has written, with its last applied sequence.
    pub fn producers(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut producers = Vec::new();
        for entry in self
            .db
            .iterator_cf(self.ingest(), rocksdb::IteratorMode::Start)
        {
            let (key, value) = entry.map_err(StoreError::Read)?;
            let producer_id = String::from_utf8_lossy(&key).into_owned();
            let sequence = decode_sequence(&producer_id, &value)?;
            producers.push((producer_id, sequence));
        }
        Ok(producers)
    }

    /// Flushes memtables to SST files, so a restart need not replay the WAL.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush_cfs_opt(
                &[self.profiles(), self.ingest()],
                &rocksdb::FlushOptions::default(),
            )
            .map_err(StoreError::Write)
    }
}

fn decode_sequence(producer_id: &str, bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what: format!(
            "sequence of producer {producer_id:?} has {} bytes, expected 8",
            bytes.len()
        ),
    })?;
    Ok(u64::from_be_bytes(array))
}

#[cfg(test)]
mod tests;
