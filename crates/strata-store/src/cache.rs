//! The profile cache: recently read records (and known-absent ids) in
//! memory, in front of RocksDB, so a hot batch is answered without a
//! MultiGet.
//!
//! Measured (issue 5, benches/side_by_side, a million users, 2-core VM): a
//! RocksDB MultiGet of 100 users in its caches costs about 3 us per user,
//! which alone is below what Redis MGET serves; from this cache about 1 us
//! (three random memory reads: table slot, entry, record), which serves
//! more users/s than Redis MGET.
//!
//! The cache must never change what a reader sees. Three rules keep it
//! exact, each against one race:
//!
//! - **Whole batches.** A batch is answered from the cache alone only when
//!   every id is cached, read under `publishing` (shared), which a writer
//!   holds exclusively while it replaces a batch's entries. A batch with
//!   misses reads only those from RocksDB if no writer was in flight when
//!   it began and none began before its RocksDB read ended (`writers`:
//!   writers begun and in flight, one word): the cache and RocksDB then held
//!   the same state throughout. Otherwise the whole batch goes to RocksDB,
//!   whose MultiGet reads one snapshot. A lookup never mixes a cached old
//!   record with a newer stored one.
//! - **No stale fill.** A reader that missed fills the cache after its
//!   RocksDB read. A writer may have written the same user in between; the
//!   fill is then refused: each id hashes to a stripe whose counter a writer
//!   bumps (version and in-flight count) before it writes, and a fill goes in
//!   only if its stripe is unchanged since before the read and no writer was
//!   in flight. The check and the insert happen under `gate` (shared), the
//!   bump under it exclusively, so no writer starts between them.
//! - **Writers refresh what is cached.** After its RocksDB write, a writer
//!   replaces the entries it changed that are cached (the new records made
//!   before it takes `publishing`, so it holds it for lookups only), then
//!   ends its stripes. It never adds entries: a bulk ingest does not
//!   flush the hot set.
//!
//! One cache serves one model version; a version switch starts an empty one.
//!
//! Between a writer's RocksDB write and its publish (microseconds, before
//! the batch is acknowledged), a lookup that misses may already see the
//! batch while one answered from the cache does not yet: each answer is a
//! whole state, and a batch is visible to all once acknowledged.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

/// Stripes of the fill check: a batch of 1,000 writes blocks fills of about
/// 1.5% of ids while it is in flight.
const STRIPES: usize = 1 << 16;
/// Low bits of a stripe (and of `writers`) count writers in flight, the
/// rest its version (writers begun).
const IN_FLIGHT: u64 = 1;
const IN_FLIGHT_MASK: u64 = (1 << 24) - 1;
const VERSION: u64 = 1 << 24;
/// Bookkeeping per entry on top of key and value (hash table slot, `Bytes`
/// header, allocation rounding), so the capacity bounds real memory.
const ENTRY_OVERHEAD: u64 = 96;

/// Ids up to this long are kept inside the entry, not in an allocation of
/// their own: one pointer chase (a likely cache miss) less per lookup.
const INLINE_KEY: usize = 30;

/// A cached answer: the stored record, or `None` for an id known absent.
/// An `Arc<[u8]>` keeps its count beside the bytes, so sharing a record
/// touches the memory its copy reads next anyway.
pub type Cached = Option<Arc<[u8]>>;

/// A user id as the cache keeps it; hashes and compares as its bytes.
#[derive(Clone, PartialEq, Eq)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(user_id: &[u8]) -> Key {
        if user_id.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..user_id.len()].copy_from_slice(user_id);
            Key::Inline {
                len: user_id.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(user_id.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(bytes) => bytes,
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// A borrowed id to look a [`Key`] up with.
#[derive(Hash)]
struct Lookup<'a>(&'a [u8]);

impl Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0 == key.as_bytes()
    }
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Cached> for ByBytes {
    fn weight(&self, key: &Key, value: &Cached) -> u64 {
        let heap_key = match key {
            Key::Inline { .. } => 0,
            Key::Heap(bytes) => bytes.len() as u64,
        };
        heap_key + value.as_ref().map_or(0, |bytes| bytes.len() as u64) + ENTRY_OVERHEAD
    }
}

pub(crate) struct ProfileCache {
    entries: Cache<Key, Cached, ByBytes>,
    /// Readers of whole batches share it; a writer replacing a batch's
    /// entries holds it alone. A lock, not a sequence lock: measured
    /// (benches/ingest_serve), readers that gave up on a concurrent publish
    /// fell back to RocksDB so often under ingest that read p99 grew 12x,
    /// while waiting out a publish costs tens of microseconds. Readers park
    /// rather than spin, so a low-priority writer is not starved inside it.
    publishing: RwLock<()>,
    writers: AtomicU64,
    stripes: Box<[AtomicU64]>,
    gate: RwLock<()>,
    capacity_bytes: u64,
}

impl std::fmt::Debug for ProfileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// What a reader noted before its RocksDB read, to fill the cache after it.
pub(crate) struct FillTicket {
    stamps: Vec<u64>,
}

impl ProfileCache {
    /// A cache holding up to `capacity_bytes` of keys, records and overhead.
    pub(crate) fn new(capacity_bytes: u64) -> ProfileCache {
        // A guess for the table's initial size; it grows as needed.
        let estimated_items = (capacity_bytes / 512).clamp(1024, 1 << 24) as usize;
        ProfileCache {
            entries: Cache::with_weighter(estimated_items, capacity_bytes, ByBytes),
            publishing: RwLock::new(()),
            writers: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            gate: RwLock::new(()),
            capacity_bytes,
        }
    }

    /// Every id's cached answer, in order, or `None` if any id is not
    /// cached.
    pub(crate) fn get_all<K: AsRef<[u8]>>(&self, user_ids: &[K]) -> Option<Vec<Cached>> {
        let _shared = self
            .publishing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut found = Vec::with_capacity(user_ids.len());
        for user_id in user_ids {
            found.push(self.entries.get(&Lookup(user_id.as_ref()))?);
        }
        Some(found)
    }

    /// One id's cached answer, without counting as a use (writers read old
    /// records this way; they should not keep them hot).
    pub(crate) fn peek(&self, user_id: &[u8]) -> Option<Cached> {
        self.entries.peek(&Lookup(user_id))
    }

    /// What the cache holds of `user_ids`, read under `publishing` like
    /// [`ProfileCache::get_all`], so with no miss it is a whole answer; with
    /// misses, a lookup reads the rest from RocksDB: see
    /// [`Probe::still_valid`].
    pub(crate) fn probe<K: AsRef<[u8]>>(&self, user_ids: &[K]) -> Probe {
        let writers = self.writers.load(Ordering::Acquire);
        let _shared = self
            .publishing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let found = user_ids
            .iter()
            .map(|user_id| self.entries.get(&Lookup(user_id.as_ref())))
            .collect();
        Probe {
            found,
            writers: (writers & IN_FLIGHT_MASK == 0).then_some(writers),
        }
    }

    /// Notes the ids' stripes before a RocksDB read of them.
    pub(crate) fn ticket<K: AsRef<[u8]>>(&self, user_ids: &[K]) -> FillTicket {
        FillTicket {
            stamps: user_ids
                .iter()
                .map(|user_id| self.stripe(user_id.as_ref()).load(Ordering::Acquire))
                .collect(),
        }
    }

    /// Fills the answers a RocksDB read under `ticket` returned, `values`
    /// in the ticket's id order; skips ids a writer touched meanwhile.
    pub(crate) fn fill<'v, K: AsRef<[u8]>>(
        &self,
        ticket: &FillTicket,
        user_ids: &[K],
        values: impl IntoIterator<Item = Option<&'v [u8]>>,
    ) {
        let _shared = self
            .gate
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((user_id, stamp), value) in user_ids.iter().zip(&ticket.stamps).zip(values) {
            let user_id = user_id.as_ref();
            let untouched = stamp & IN_FLIGHT_MASK == 0
                && self.stripe(user_id).load(Ordering::Acquire) == *stamp;
            if untouched {
                self.entries.insert(Key::new(user_id), value.map(Arc::from));
            }
        }
    }

    /// Marks `user_ids` as being written, before the RocksDB write. The
    /// returned guard ends the mark when dropped, after [`WriteMark::publish`]
    /// or on failure (then the cached entries are dropped instead).
    pub(crate) fn begin_write<'c>(
        &'c self,
        user_ids: impl Iterator<Item = &'c [u8]>,
    ) -> WriteMark<'c> {
        let _exclusive = self
            .gate
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.writers
            .fetch_add(VERSION + IN_FLIGHT, Ordering::AcqRel);
        let stripes: Vec<usize> = user_ids.map(|user_id| self.stripe_index(user_id)).collect();
        for &index in &stripes {
            self.stripes[index].fetch_add(VERSION + IN_FLIGHT, Ordering::AcqRel);
        }
        WriteMark {
            cache: self,
            stripes,
            published: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn weight(&self) -> u64 {
        self.entries.weight()
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity_bytes
    }

    fn stripe_index(&self, user_id: &[u8]) -> usize {
        // FNV-1a: ids are short, and the stripe only needs to spread them.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in user_id {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash as usize) & (STRIPES - 1)
    }

    fn stripe(&self, user_id: &[u8]) -> &AtomicU64 {
        &self.stripes[self.stripe_index(user_id)]
    }
}

/// The cached part of a lookup (`found[i]` is `None` for a miss).
pub(crate) struct Probe {
    pub(crate) found: Vec<Option<Cached>>,
    /// `writers` when the probe began, if no writer was in flight.
    writers: Option<u64>,
}

impl Probe {
    /// Whether the cached answers and a RocksDB read of the misses made
    /// since the probe began, and ended before this call, show one state:
    /// true if no writer was in flight at the start and none has begun.
    pub(crate) fn still_valid(&self, cache: &ProfileCache) -> bool {
        self.writers == Some(cache.writers.load(Ordering::Acquire))
    }
}

/// A write in flight: see [`ProfileCache::begin_write`].
pub(crate) struct WriteMark<'c> {
    cache: &'c ProfileCache,
    stripes: Vec<usize>,
    published: bool,
}

impl WriteMark<'_> {
    /// After a durable write: replaces the cached entries of the written
    /// users with their new records (`None`: deleted), as one change readers
    /// see wholly or not at all.
    pub(crate) fn publish<'v>(
        mut self,
        written: impl Iterator<Item = (&'v [u8], Option<&'v [u8]>)>,
    ) {
        let cache = self.cache;
        let records: Vec<(Key, Cached)> = written
            .map(|(user_id, value)| (Key::new(user_id), value.map(Arc::from)))
            .collect();
        let _alone = cache
            .publishing
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (user_id, record) in records {
            // Only entries already there (one lookup; Err when absent).
            let _ = cache.entries.replace(user_id, record, true);
        }
        self.published = true;
    }
}

impl Drop for WriteMark<'_> {
    fn drop(&mut self) {
        if !self.published {
            // The write failed or panicked: what RocksDB holds for these
            // users is unknown here. Failures are rare (a full disk, an I/O
            // error), so forgetting everything is simpler than tracking ids.
            let _alone = self
                .cache
                .publishing
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            self.cache.entries.clear();
        }
        for &index in &self.stripes {
            self.cache.stripes[index].fetch_sub(IN_FLIGHT, Ordering::AcqRel);
        }
        self.cache.writers.fetch_sub(IN_FLIGHT, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Option<&[u8]> {
        Some(text.as_bytes())
    }

    #[test]
    fn a_batch_is_answered_only_when_every_id_is_cached() {
        let cache = ProfileCache::new(1 << 20);
        let ids = ["a", "b"];
        let ticket = cache.ticket(&ids[..1]);
        cache.fill(&ticket, &ids[..1], [record("1")]);
        assert!(cache.get_all(&ids).is_none(), "b is not cached");
        let ticket = cache.ticket(&ids[1..]);
        cache.fill(&ticket, &ids[1..], [None]);
        let found = cache.get_all(&ids).expect("both cached");
        assert_eq!(found[0].as_deref(), Some(&b"1"[..]));
        assert_eq!(found[1], None, "b is cached as absent");
    }

    #[test]
    fn a_fill_read_before_a_write_is_refused() {
        let cache = ProfileCache::new(1 << 20);
        let ids = ["a"];
        // A reader notes its stripes and reads the old record...
        let ticket = cache.ticket(&ids);
        // ...a writer writes a and publishes (a is not cached: no entry)...
        cache
            .begin_write(ids.iter().map(|id| id.as_bytes()))
            .publish([(&b"a"[..], record("new"))].into_iter());
        // ...and the reader's old record must not go in.
        cache.fill(&ticket, &ids, [record("old")]);
        assert!(cache.entries.get(&Lookup(b"a")).is_none());
        // A read after the write fills.
        let ticket = cache.ticket(&ids);
        cache.fill(&ticket, &ids, [record("new")]);
        assert_eq!(
            cache.entries.get(&Lookup(b"a")).unwrap().as_deref(),
            Some(&b"new"[..])
        );
    }

    #[test]
    fn no_fill_while_a_write_is_in_flight() {
        let cache = ProfileCache::new(1 << 20);
        let ids = ["a"];
        let mark = cache.begin_write(ids.iter().map(|id| id.as_bytes()));
        let ticket = cache.ticket(&ids);
        cache.fill(&ticket, &ids, [record("maybe old")]);
        assert!(cache.entries.get(&Lookup(b"a")).is_none());
        drop(mark);
    }

    #[test]
    fn a_write_replaces_cached_entries_and_adds_none() {
        let cache = ProfileCache::new(1 << 20);
        let ids = ["a"];
        let ticket = cache.ticket(&ids);
        cache.fill(&ticket, &ids, [record("old")]);
        cache
            .begin_write([&b"a"[..], &b"b"[..]].into_iter())
            .publish([(&b"a"[..], record("new")), (&b"b"[..], None)].into_iter());
        assert_eq!(
            cache.entries.get(&Lookup(b"a")).unwrap().as_deref(),
            Some(&b"new"[..])
        );
        assert!(
            cache.entries.get(&Lookup(b"b")).is_none(),
            "b was not cached: not added"
        );
    }

    #[test]
    fn a_probe_is_valid_only_if_no_writer_overlapped_it() {
        let cache = ProfileCache::new(1 << 20);
        let ids = ["a", "b"];
        let ticket = cache.ticket(&ids[..1]);
        cache.fill(&ticket, &ids[..1], [record("1")]);
        let probe = cache.probe(&ids);
        assert!(probe.found[0].is_some() && probe.found[1].is_none());
        assert!(probe.still_valid(&cache));
        // A writer begins after the probe: its misses may show a newer state.
        let mark = cache.begin_write([&b"b"[..]].into_iter());
        assert!(!probe.still_valid(&cache));
        // A probe that starts while a writer is in flight is never valid.
        let during = cache.probe(&ids);
        assert!(!during.still_valid(&cache));
        mark.publish([(&b"b"[..], record("2"))].into_iter());
        assert!(!during.still_valid(&cache));
        assert!(cache.probe(&ids).still_valid(&cache));
    }

    #[test]
    fn a_failed_write_forgets_cached_entries() {
        let cache = ProfileCache::new(1 << 20);
        let ids = ["a"];
        let ticket = cache.ticket(&ids);
        cache.fill(&ticket, &ids, [record("old")]);
        drop(cache.begin_write(ids.iter().map(|id| id.as_bytes())));
        assert!(cache.entries.get(&Lookup(b"a")).is_none());
    }
}
