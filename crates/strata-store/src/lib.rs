//! strata's storage: per-user profile records and per-producer ingest
//! sequences in one RocksDB database.
//!
//! The store deals in bytes (user ids in, encoded profiles out) so that the
//! serving path can copy stored records into responses without decoding them,
//! and so that RocksDB's types never leak past this crate.
//!
//! Layout, one column family per kind of record:
//! - `profiles` (the version that existed before versioning) and
//!   `profiles@<generation>` (one per loaded model version): user id ->
//!   encoded profile;
//! - `ingest`: producer id -> last applied sequence (u64, big-endian);
//! - `meta`: the store's random id (see [`IngestState`]), the version
//!   catalog (which generation is current, which is
//!   kept for rollback), see [`versions`], and each kept version's counters
//!   (`pyramid@<generation>`), see [`facets`];
//! - `transitions`: cursor (u64, big-endian) -> one user's layer change, see
//!   [`transitions`].
//!
//! A batch of upserts and deletes is written in one `WriteBatch` together
//! with its producer's new sequence, with a synced WAL, so a batch is either
//! wholly applied and durable or not applied at all, even across a crash.
//! With a [`Classifier`] set, the same `WriteBatch` carries the version's
//! updated counters and the layer changes the batch made.

mod backup;
mod cache;
mod cards;
mod error;
pub mod facets;
mod identity;
mod keys;
mod stats;
pub mod transitions;
pub mod versions;

pub use backup::{BackupInfo, restore_backup};
pub use cache::Cached;
pub use error::StoreError;
pub use facets::{Classifier, Facets, LayerKey, Pyramid};
pub use identity::IngestState;
pub use stats::StoreStats;
pub use transitions::{Transition, TransitionRead};
pub use versions::{VersionBuilder, VersionInfo, VersionState};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rocksdb::{
    BlockBasedOptions, BoundColumnFamily, Cache, ColumnFamilyDescriptor, DB, DBCompressionType,
    Options, WriteBatch, WriteOptions,
};

use cache::ProfileCache;
use keys::PROFILES_CF;
use transitions::{TRANSITIONS_CF, TransitionLog};
use versions::Catalog;

const INGEST_CF: &str = "ingest";
pub(crate) const META_CF: &str = "meta";

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
    /// The profile cache in front of RocksDB (see `cache.rs`), in bytes of
    /// ids, records and per-entry overhead; 0 disables it.
    pub profile_cache_bytes: usize,
    /// Sync the WAL on every ingest batch. Only tests that measure something
    /// else may turn this off: an acknowledged batch must survive a crash.
    pub sync_writes: bool,
    /// Maps stored records to the labels the pyramid counts and transitions
    /// name. Without one the store keeps no counters and no transitions
    /// (and drops a written version's stored counters, which the next open
    /// with a classifier recomputes): for tools, not for serving.
    pub classifier: Option<Arc<dyn Classifier>>,
    /// Newest transitions kept in the `transitions` family.
    pub transitions_retained: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            block_cache_bytes: 256 << 20,
            bloom_bits_per_key: 10.0,
            row_cache_bytes: 256 << 20,
            profile_cache_bytes: 512 << 20,
            sync_writes: true,
            classifier: None,
            transitions_retained: 1_000_000,
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
    /// Options of every profiles column family, kept to create new versions
    /// and to write their SST files with the same table format.
    profile_options: Options,
    /// Serialises the read-check-write of producer sequences; without it two
    /// streams of one producer could both pass the gap check for the same
    /// sequence. Version switches and checkpoints take it too, so a batch is
    /// checked against and written to one version, and a backup falls
    /// between two batches.
    ingest_lock: Mutex<()>,
    /// Which version serves. Readers hold the read lock only long enough to
    /// resolve the current column family handle, which stays valid (RocksDB
    /// keeps a dropped family readable while a handle lives).
    catalog: RwLock<Catalog>,
    classifier: Option<Arc<dyn Classifier>>,
    /// Counters of the current and previous versions by generation (and of
    /// nothing else); replaced after the write that changes them is durable.
    pyramids: Mutex<HashMap<u64, Arc<Pyramid>>>,
    transition_log: TransitionLog,
    /// The serving version's profile cache, replaced by an empty one when
    /// the version switches (after the catalog: a reader takes the cache
    /// first, so it never fills a new version's cache from the old family).
    profile_cache: RwLock<Option<Arc<ProfileCache>>>,
    profile_cache_bytes: usize,
    /// Random, made with the store and again on restore (`identity.rs`).
    store_id: String,
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

        // Every existing family must be opened; a fresh store starts with
        // the unversioned `profiles` family as its first version.
        let mut names = DB::list_cf(&db_options, path).unwrap_or_else(|_| {
            vec![
                rocksdb::DEFAULT_COLUMN_FAMILY_NAME.to_owned(),
                PROFILES_CF.to_owned(),
            ]
        });
        for name in [INGEST_CF, META_CF, TRANSITIONS_CF] {
            if !names.iter().any(|existing| existing == name) {
                names.push(name.to_owned());
            }
        }
        let column_families: Vec<ColumnFamilyDescriptor> = names
            .iter()
            .map(|name| {
                let family_options = if versions::is_profiles_cf(name) {
                    profiles_options.clone()
                } else {
                    db_options.clone()
                };
                ColumnFamilyDescriptor::new(name, family_options)
            })
            .collect();
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let db = DB::open_cf_descriptors(&db_options, path, column_families).map_err(open_error)?;
        let mut store = Store {
            db,
            block_cache,
            path: path.to_path_buf(),
            sync_writes: options.sync_writes,
            profile_options: profiles_options,
            ingest_lock: Mutex::new(()),
            catalog: RwLock::new(Catalog::default()),
            classifier: options.classifier.clone(),
            pyramids: Mutex::new(HashMap::new()),
            transition_log: TransitionLog::new(options.transitions_retained),
            profile_cache: RwLock::new(None),
            profile_cache_bytes: options.profile_cache_bytes,
            store_id: String::new(),
        };
        store.store_id = store.recover_identity()?;
        store.reset_profile_cache();
        let catalog = store.recover_catalog(&names)?;
        store.recover_transitions()?;
        store.recover_pyramids(catalog.kept_generations())?;
        tracing::info!(
            path = %path.display(),
            model_version = %catalog.current_record().model_version,
            "store opened"
        );
        *store
            .catalog
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = catalog;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The serving version's column family. Resolved once per call, so one
    /// call never reads two versions.
    fn profiles(&self) -> Arc<BoundColumnFamily<'_>> {
        let catalog = self.read_catalog();
        self.db
            .cf_handle(&catalog.current_record().cf_name())
            .expect("the current version's column family exists while it is current")
    }

    fn ingest(&self) -> Arc<BoundColumnFamily<'_>> {
        self.db
            .cf_handle(INGEST_CF)
            .expect("ingest column family is created at open")
    }

    fn meta(&self) -> Arc<BoundColumnFamily<'_>> {
        self.db
            .cf_handle(META_CF)
            .expect("meta column family is created at open")
    }

    fn transitions_cf(&self) -> Arc<BoundColumnFamily<'_>> {
        self.db
            .cf_handle(TRANSITIONS_CF)
            .expect("transitions column family is created at open")
    }

    fn lock_pyramids(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Pyramid>>> {
        self.pyramids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn profile_cache(&self) -> Option<Arc<ProfileCache>> {
        self.profile_cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Starts an empty profile cache; called when the serving version
    /// changes, after the catalog does.
    fn reset_profile_cache(&self) {
        let fresh = (self.profile_cache_bytes > 0)
            .then(|| Arc::new(ProfileCache::new(self.profile_cache_bytes as u64)));
        *self
            .profile_cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }

    fn read_catalog(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_ingest(&self) -> std::sync::MutexGuard<'_, ()> {
        self.ingest_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_options(&self) -> WriteOptions {
        let mut write_options = WriteOptions::default();
        write_options.set_sync(self.sync_writes);
        write_options
    }

    /// Every user's record from the profile cache alone, in order, or
    /// `None` unless all of them are cached. Never touches RocksDB, so it is
    /// cheap enough for an async task; [`Store::multi_get`] is the fallback.
    pub fn cached<K: AsRef<[u8]>>(&self, user_ids: &[K]) -> Option<Vec<Cached>> {
        self.profile_cache()?.get_all(user_ids)
    }

    /// Looks up many users and hands each answer to `visit(index, record)`
    /// in key order, borrowing the bytes so the caller can copy them
    /// straight into a response: from the profile cache when it holds every
    /// one, else from one RocksDB MultiGet, which then fills the cache.
    ///
    /// All keys are read from one consistent view: a batch applied
    /// concurrently is seen wholly or not at all.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        user_ids: &[K],
        mut visit: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        let Some(cache) = self.profile_cache() else {
            let slices = self.read_profiles(&self.profiles(), user_ids)?;
            for (index, slice) in slices.iter().enumerate() {
                visit(index, slice.as_deref());
            }
            return Ok(());
        };
        // One pass over the cache: a whole answer when nothing is missing,
        // else hits from it and misses from RocksDB, if no writer overlaps.
        let probe = cache.probe(user_ids);
        if probe.found.iter().all(Option::is_some) {
            for (index, record) in probe.found.iter().flatten().enumerate() {
                visit(index, record.as_deref());
            }
            return Ok(());
        }
        let missed: Vec<&[u8]> = user_ids
            .iter()
            .zip(&probe.found)
            .filter(|(_, found)| found.is_none())
            .map(|(user_id, _)| user_id.as_ref())
            .collect();
        let profiles = self.profiles();
        if missed.len() < user_ids.len() {
            // The ticket before the read: see cache.rs, "No stale fill".
            let ticket = cache.ticket(&missed);
            let slices = self.read_profiles(&profiles, &missed)?;
            if probe.still_valid(&cache) {
                let mut slices_in_order = slices.iter();
                for (index, found) in probe.found.iter().enumerate() {
                    match found {
                        Some(record) => visit(index, record.as_deref()),
                        None => {
                            let slice = slices_in_order.next().expect("one slice per miss");
                            visit(index, slice.as_deref());
                        }
                    }
                }
                cache.fill(
                    &ticket,
                    &missed,
                    slices.iter().map(|slice| slice.as_deref()),
                );
                return Ok(());
            }
        }
        let ticket = cache.ticket(user_ids);
        let slices = self.read_profiles(&profiles, user_ids)?;
        for (index, slice) in slices.iter().enumerate() {
            visit(index, slice.as_deref());
        }
        cache.fill(
            &ticket,
            user_ids,
            slices.iter().map(|slice| slice.as_deref()),
        );
        Ok(())
    }

    /// One RocksDB read of `user_ids` from one snapshot.
    fn read_profiles<K: AsRef<[u8]>>(
        &self,
        profiles: &Arc<BoundColumnFamily<'_>>,
        user_ids: &[K],
    ) -> Result<Vec<Option<rocksdb::DBPinnableSlice<'_>>>, StoreError> {
        // Measured (benches/store_lookup): for one key a plain point read is
        // about twice as fast as MultiGet's batching set-up.
        if let [user_id] = user_ids {
            let slice = self
                .db
                .get_pinned_cf(profiles, user_id)
                .map_err(StoreError::Read)?;
            return Ok(vec![slice]);
        }
        self.db
            .batched_multi_get_cf(profiles, user_ids.iter(), false)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::Read)
    }

    /// Fills the profile cache from the serving version, in key order,
    /// until it is nearly full, every record is in, or `stop()` says so;
    /// returns the users read. Run after open or a version switch, on a
    /// thread of its own, so the first lookups after a restart need not all
    /// go to RocksDB; lookups fill the cache anyway, so stopping early only
    /// costs warmth.
    pub fn warm_profile_cache(&self, stop: impl Fn() -> bool) -> Result<u64, StoreError> {
        const CHUNK: usize = 1000;
        let Some(cache) = self.profile_cache() else {
            return Ok(0);
        };
        let mut warmed = 0u64;
        let mut keys: Vec<Box<[u8]>> = Vec::with_capacity(CHUNK);
        let mut iterator = self.db.raw_iterator_cf(&self.profiles());
        iterator.seek_to_first();
        loop {
            keys.clear();
            while keys.len() < CHUNK
                && let Some(key) = iterator.key()
            {
                keys.push(key.into());
                iterator.next();
            }
            iterator.status().map_err(StoreError::Read)?;
            // A new version took over, or the cache is as full as it
            // should get without evicting what lookups put there.
            let replaced = self
                .profile_cache()
                .is_none_or(|current| !Arc::ptr_eq(&current, &cache));
            if keys.is_empty() || stop() || replaced || cache.weight() >= cache.capacity() / 10 * 9
            {
                return Ok(warmed);
            }
            // Through the lookup path: the same fill rules as any reader.
            self.multi_get(&keys, |_, _| {})?;
            warmed += keys.len() as u64;
        }
    }

    /// Reads one user's record (through the profile cache).
    pub fn get<R>(
        &self,
        user_id: &[u8],
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StoreError> {
        let mut read = Some(read);
        let mut answer = None;
        self.multi_get(&[user_id], |_, record| {
            answer = read.take().map(|read| read(record));
        })?;
        Ok(answer.expect("multi_get visits every id once"))
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
        self.apply_to(None, batch)
    }

    /// [`Store::apply`] for a batch addressed to `model_version`: refused with
    /// [`StoreError::WrongVersion`] unless that version is the serving one
    /// (`None` means whichever serves). A replay is acknowledged whatever
    /// version it names: it was checked when first applied.
    pub fn apply_to<K, V, D>(
        &self,
        model_version: Option<&str>,
        batch: Batch<'_, K, V, D>,
    ) -> Result<ApplyOutcome, StoreError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
        D: AsRef<[u8]>,
    {
        self.apply_named(model_version, None, batch)
    }

    /// [`Store::apply_to`] for a batch whose records are of model version
    /// `records_version`. A store that holds no record yet (a new one) takes
    /// its serving version's name from the first batch that carries one:
    /// the addressed version, else `records_version`. So `admin versions`
    /// and the profiles agree from the first push, and a store from before,
    /// with data under "initial", keeps that name. Names are metadata: the
    /// version keeps its generation and column family.
    pub fn apply_named<K, V, D>(
        &self,
        model_version: Option<&str>,
        records_version: Option<&str>,
        batch: Batch<'_, K, V, D>,
    ) -> Result<ApplyOutcome, StoreError>
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
        let _guard = self.lock_ingest();
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

        // Under the ingest lock the serving version cannot change (switches
        // take the lock), so the check and the write agree.
        let renamed = self.named_catalog(model_version, records_version, batch.upserts.len());
        let (generation, current) = {
            let catalog = self.read_catalog();
            let record = renamed.as_ref().unwrap_or(&catalog).current_record();
            (record.generation(), record.model_version.clone())
        };
        if let Some(requested) = model_version
            && requested != current
        {
            return Err(StoreError::WrongVersion {
                producer_id: batch.producer_id.to_owned(),
                requested: requested.to_owned(),
                current,
            });
        }

        let profiles = self.profiles();
        // Under the ingest lock the cache cannot be replaced (switches take
        // the lock): the one read, marked and published to is the same.
        let cache = self.profile_cache();
        let mut write = WriteBatch::default();
        // In key order: consecutive memtable inserts then land next to each
        // other (the insert's skiplist search was 14% of the writer's time).
        // A stable sort: a user named twice keeps its last record.
        let mut in_order: Vec<&(K, V)> = batch.upserts.iter().collect();
        in_order.sort_by(|(left, _), (right, _)| left.as_ref().cmp(right.as_ref()));
        for (user_id, record) in in_order {
            write.put_cf(&profiles, user_id, record);
        }
        for user_id in batch.deletes {
            write.delete_cf(&profiles, user_id);
        }
        // Counters and transitions go into the same WriteBatch: they can
        // never disagree with the profiles they describe.
        let effects = match &self.classifier {
            Some(classifier) => {
                let mut effects = self.batch_effects(
                    classifier.as_ref(),
                    &profiles,
                    cache.as_deref(),
                    generation,
                    &batch,
                )?;
                for transition in &mut effects.transitions {
                    transition.model_version.clone_from(&current);
                }
                write.put_cf(
                    &self.meta(),
                    keys::pyramid_key(generation),
                    effects.pyramid.encode(classifier.id()),
                );
                let appended = self.append_transitions(&mut write, &mut effects.transitions);
                Some((effects.pyramid, appended))
            }
            None => {
                write.delete_cf(&self.meta(), keys::pyramid_key(generation));
                None
            }
        };
        write.put_cf(
            &self.ingest(),
            batch.producer_id.as_bytes(),
            batch.sequence.to_be_bytes(),
        );
        if let Some(renamed) = &renamed {
            self.stage_catalog(&mut write, renamed);
        }
        let mark = cache.as_deref().map(|cache| {
            cache.begin_write(
                batch
                    .upserts
                    .iter()
                    .map(|(user_id, _)| user_id.as_ref())
                    .chain(batch.deletes.iter().map(AsRef::as_ref)),
            )
        });
        self.db
            .write_opt(write, &self.write_options())
            .map_err(StoreError::Write)?;
        self.settle_name(renamed, batch.upserts.len());
        if let Some(mark) = mark {
            mark.publish(
                batch
                    .upserts
                    .iter()
                    .map(|(user_id, record)| (user_id.as_ref(), Some(record.as_ref())))
                    .chain(batch.deletes.iter().map(|user_id| (user_id.as_ref(), None))),
            );
        }
        if let Some((pyramid, (added, oldest))) = effects {
            self.lock_pyramids().insert(generation, Arc::new(pyramid));
            self.transition_log.committed(added, oldest);
        }
        Ok(ApplyOutcome::Applied)
    }

    /// What `batch` does to the version's counters and which layer changes
    /// it makes: one MultiGet of the batch's keys for their old records,
    /// both sides classified. Runs under the ingest lock.
    fn batch_effects<K, V, D>(
        &self,
        classifier: &dyn Classifier,
        profiles: &Arc<BoundColumnFamily<'_>>,
        cache: Option<&ProfileCache>,
        generation: u64,
        batch: &Batch<'_, K, V, D>,
    ) -> Result<BatchEffects, StoreError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
        D: AsRef<[u8]>,
    {
        let mut pyramid = Pyramid::clone(&*self.pyramid_of(generation)?);
        // The batch's users, sorted and distinct: MultiGet takes them sorted
        // (RocksDB would sort them otherwise), and a user's state below is
        // found by binary search instead of hashing every id.
        let mut keys: Vec<&[u8]> = batch
            .upserts
            .iter()
            .map(|(user_id, _)| user_id.as_ref())
            .chain(batch.deletes.iter().map(AsRef::as_ref))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        // Each user's facets as the batch goes: the old record's first, so
        // a user named twice in one batch is counted once.
        // Old records the profile cache holds come from it (under the
        // ingest lock no other writer is in flight, so they are current);
        // only the rest are read from RocksDB.
        let mut state: Vec<Option<Facets>> = (0..keys.len()).map(|_| None).collect();
        let mut unread: Vec<(usize, &[u8])> = Vec::new();
        for (slot, user_id) in keys.iter().enumerate() {
            match cache.and_then(|cache| cache.peek(user_id)) {
                Some(record) => {
                    state[slot] = record.map(|bytes| classifier.facets(&bytes[..]).normalised());
                }
                None => unread.push((slot, user_id)),
            }
        }
        let stored =
            self.db
                .batched_multi_get_cf(profiles, unread.iter().map(|(_, user_id)| user_id), true);
        for ((slot, _), value) in unread.iter().zip(stored) {
            let value = value.map_err(StoreError::Read)?;
            state[*slot] = value.map(|bytes| classifier.facets(&bytes).normalised());
        }
        let slot = |user_id: &[u8]| {
            keys.binary_search(&user_id)
                .expect("every user of the batch is among its keys")
        };
        let at_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        let mut transitions = Vec::new();
        let mut moved = |user_id: &[u8], from: Option<&Facets>, to: Option<&Facets>| {
            // Compared borrowed: most upserts keep their layer.
            fn label(facets: Option<&Facets>) -> &str {
                facets.map_or("", |facets| &facets.layer.label)
            }
            let (from_layer, to_layer) = (label(from), label(to));
            if from_layer != to_layer {
                transitions.push(Transition {
                    cursor: 0,
                    user_id: user_id.to_vec(),
                    from_layer: from_layer.to_owned(),
                    to_layer: to_layer.to_owned(),
                    model_version: String::new(),
                    at_millis,
                });
            }
        };
        for (user_id, record) in batch.upserts {
            let user_id = user_id.as_ref();
            let new = classifier.facets(record.as_ref()).normalised();
            let slot = &mut state[slot(user_id)];
            if let Some(old) = slot.as_ref() {
                pyramid.remove(old);
            }
            pyramid.add(&new);
            moved(user_id, slot.as_ref(), Some(&new));
            *slot = Some(new);
        }
        for user_id in batch.deletes {
            let user_id = user_id.as_ref();
            if let Some(old) = state[slot(user_id)].take() {
                pyramid.remove(&old);
                moved(user_id, Some(&old), None);
            }
        }
        Ok(BatchEffects {
            pyramid,
            transitions,
        })
    }

    /// The last sequence applied for `producer_id`, 0 if it never wrote.
    pub fn last_sequence(&self, producer_id: &str) -> Result<u64, StoreError> {
        let value = self
            .db
            .get_pinned_cf(&self.ingest(), producer_id.as_bytes())
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
            .iterator_cf(&self.ingest(), rocksdb::IteratorMode::Start)
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
                &[
                    &self.profiles(),
                    &self.ingest(),
                    &self.meta(),
                    &self.transitions_cf(),
                ],
                &rocksdb::FlushOptions::default(),
            )
            .map_err(StoreError::Write)
    }
}

/// A batch's counters (the whole version's, updated) and layer changes.
struct BatchEffects {
    pyramid: Pyramid,
    transitions: Vec<Transition>,
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
