//! The store's identity: a random id made when the store is created, kept in
//! the `meta` family, and made anew when a backup is restored into a data
//! folder. Producers compare it (with the serving version and their own
//! sequence) against what they recorded, so an emptied, replaced or restored
//! store is noticed instead of trusted (see `Store::ingest_state`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rocksdb::{DB, Options, WriteOptions};

use crate::{META_CF, Store, StoreError};

const STORE_ID_KEY: &[u8] = b"store_id";

/// Where a producer stands in this store, and which store and version it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestState {
    /// The store's random id (32 hex digits).
    pub store_id: String,
    /// The serving model version.
    pub model_version: String,
    /// The serving version's generation: new on every load and rollback,
    /// never reused within one store.
    pub generation: u64,
    /// The producer's last applied sequence, 0 if it never wrote.
    pub last_sequence: u64,
}

impl Store {
    /// The store's random id.
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// Where `producer_id` stands, with the store's id and serving version.
    pub fn ingest_state(&self, producer_id: &str) -> Result<IngestState, StoreError> {
        let (model_version, generation) = {
            let catalog = self.read_catalog();
            let record = catalog.current_record();
            (record.model_version.clone(), record.generation())
        };
        Ok(IngestState {
            store_id: self.store_id.clone(),
            model_version,
            generation,
            last_sequence: self.last_sequence(producer_id)?,
        })
    }

    /// The stored id, or a new one written (synced) for a new store or one
    /// from before identities.
    pub(crate) fn recover_identity(&self) -> Result<String, StoreError> {
        let stored = self
            .db
            .get_pinned_cf(&self.meta(), STORE_ID_KEY)
            .map_err(StoreError::Read)?;
        if let Some(bytes) = stored {
            return String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::Corrupt {
                what: "the store id is not UTF-8".into(),
            });
        }
        let store_id = new_store_id();
        write_store_id(&self.db, &store_id)?;
        tracing::info!(%store_id, "new store identity");
        Ok(store_id)
    }
}

/// Gives the (closed) store in `data_dir` a new id: a restored backup is not
/// the store it was copied from, whatever producers recorded about that one.
pub(crate) fn renew(data_dir: &Path) -> Result<String, StoreError> {
    let open_error = |source| StoreError::Open {
        path: data_dir.to_path_buf(),
        source,
    };
    let options = Options::default();
    let families = DB::list_cf(&options, data_dir).map_err(open_error)?;
    let db = DB::open_cf(&options, data_dir, families).map_err(open_error)?;
    let store_id = new_store_id();
    write_store_id(&db, &store_id)?;
    Ok(store_id)
}

fn write_store_id(db: &DB, store_id: &str) -> Result<(), StoreError> {
    let meta = db.cf_handle(META_CF).ok_or_else(|| StoreError::Corrupt {
        what: format!("no {META_CF} column family"),
    })?;
    let mut options = WriteOptions::default();
    options.set_sync(true);
    db.put_cf_opt(&meta, STORE_ID_KEY, store_id.as_bytes(), &options)
        .map_err(StoreError::Write)
}

/// 128 random bits as hex. `RandomState` keys come from the operating
/// system's random source; the clock and process id are mixed in too, so no
/// new dependency is needed for an id that only has to differ.
fn new_store_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let mut halves = [0u64; 2];
    for (index, half) in halves.iter_mut().enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.write_usize(index);
        *half = hasher.finish();
    }
    format!("{:016x}{:016x}", halves[0], halves[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_differ() {
        let first = new_store_id();
        let second = new_store_id();
        assert_eq!(first.len(), 32);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()), "{first}");
        assert_ne!(first, second);
    }
}
