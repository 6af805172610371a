//! Store statistics read from RocksDB properties, for the metrics endpoint.

use crate::{Store, StoreError};

/// A point-in-time view of the store's size and memory use (profiles: the
/// serving version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// RocksDB's estimate of the number of stored profiles.
    pub estimated_profiles: u64,
    /// Bytes in live SST files of the profiles column family.
    pub live_sst_bytes: u64,
    /// Bytes held by the profiles memtables.
    pub memtable_bytes: u64,
    /// Bytes in the shared block cache.
    pub block_cache_bytes: u64,
    /// Bytes of the block cache pinned by readers.
    pub block_cache_pinned_bytes: u64,
    /// Compaction work RocksDB estimates it still owes; growth means writes outpace it.
    pub pending_compaction_bytes: u64,
    /// Ids in the profile cache (records and ids known absent).
    pub profile_cache_entries: u64,
    /// Bytes the profile cache holds, overhead included.
    pub profile_cache_bytes: u64,
}

impl Store {
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let profiles = self.profiles();
        let property = |name: &str| -> Result<u64, StoreError> {
            Ok(self
                .db
                .property_int_value_cf(&profiles, name)
                .map_err(StoreError::Read)?
                .unwrap_or(0))
        };
        let (profile_cache_entries, profile_cache_bytes) = self
            .profile_cache()
            .map_or((0, 0), |cache| (cache.len() as u64, cache.weight()));
        Ok(StoreStats {
            estimated_profiles: property("rocksdb.estimate-num-keys")?,
            live_sst_bytes: property("rocksdb.live-sst-files-size")?,
            memtable_bytes: property("rocksdb.cur-size-all-mem-tables")?,
            block_cache_bytes: self.block_cache.get_usage() as u64,
            block_cache_pinned_bytes: self.block_cache.get_pinned_usage() as u64,
            pending_compaction_bytes: property("rocksdb.estimate-pending-compaction-bytes")?,
            profile_cache_entries,
            profile_cache_bytes,
        })
    }
}
