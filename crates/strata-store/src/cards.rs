//! Model cards: what each version's models were fitted on and how good they
//! were, kept beside the version as opaque bytes (the server encodes them;
//! the store knows no protobuf) under `card@<generation>` in `meta`. A
//! separate record rather than a catalog field, so stores from before cards
//! open unchanged and simply have none.

use rocksdb::WriteOptions;

use crate::{Store, StoreError};

fn card_key(generation: u64) -> Vec<u8> {
    format!("card@{generation}").into_bytes()
}

impl Store {
    /// Replaces the card of version `generation` (synced).
    pub fn put_version_card(&self, generation: u64, card: &[u8]) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .put_cf_opt(&self.meta(), card_key(generation), card, &options)
            .map_err(StoreError::Write)
    }

    /// The card of version `generation`; `None` when it has none (a version
    /// loaded before cards existed, or pushed without one).
    pub fn version_card(&self, generation: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .get_cf(&self.meta(), card_key(generation))
            .map_err(StoreError::Read)
    }

    /// The generation of the version that serves now.
    pub fn serving_generation(&self) -> Result<u64, StoreError> {
        Ok(self
            .versions()?
            .into_iter()
            .find(|version| version.current)
            .map_or(0, |version| version.generation))
    }
}
