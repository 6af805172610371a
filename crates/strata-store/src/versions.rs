//! Model versions: each version's profiles in their own column family, a
//! catalog saying which one serves, building a new one from sorted SST files
//! beside the serving one, the atomic switch, rollback, and clean-up of
//! versions a crash left half-built.
//!
//! The catalog is one record in the `meta` column family, rewritten whole
//! (synced) on every change, so a crash leaves either the old or the new
//! catalog, never a mix. Readers see it through `Store::catalog`, swapped
//! after the record is durable.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rocksdb::{IngestExternalFileOptions, SstFileWriter};

use crate::facets::Pyramid;
use crate::keys::{PROFILES_CF, cf_name, pyramid_key};
use crate::{Store, StoreError};

const CATALOG_KEY: &[u8] = b"catalog";
const CATALOG_MAGIC: &str = "strata-catalog 1";
/// The model version name of the profiles stored before versioning existed,
/// and of a new store's version until the first batch that carries a model
/// version names it (see [`Store::apply_named`]).
pub const INITIAL_MODEL_VERSION: &str = "initial";
/// Failed loads kept in the catalog so that a caller polling ListVersions
/// learns why; older ones are forgotten.
const FAILED_KEPT: usize = 3;
/// Longest model version name, in bytes.
pub const MAX_MODEL_VERSION_BYTES: usize = 128;
/// SST files written while building roll over at this size, so no single
/// file is huge and ingestion moves several.
const SST_FILE_BYTES: u64 = 64 << 20;
/// Where a version's SST files are written before ingestion, inside the
/// data directory so that ingestion moves (links) rather than copies them.
const STAGING_DIR: &str = "reload-staging";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// SST files are being written, ingested or verified; not serving.
    Building,
    /// Complete and verified: serving (current) or kept for rollback.
    Ready,
    /// The load stopped; its column family was dropped. `note` says why.
    Failed,
}

impl VersionState {
    fn as_str(self) -> &'static str {
        match self {
            VersionState::Building => "building",
            VersionState::Ready => "ready",
            VersionState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<VersionState> {
        match text {
            "building" => Some(VersionState::Building),
            "ready" => Some(VersionState::Ready),
            "failed" => Some(VersionState::Failed),
            _ => None,
        }
    }
}

/// One model version as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Unique per load, never reused: names the column family.
    pub generation: u64,
    pub model_version: String,
    pub state: VersionState,
    /// Records loaded from the snapshot (0 for the initial version, which
    /// was filled by ingest).
    pub records: u64,
    /// When the snapshot was made, Unix seconds; 0 if unknown.
    pub created_at: i64,
    /// When the version became ready (or failed), Unix seconds.
    pub loaded_at: i64,
    /// Why a load failed; empty otherwise.
    pub note: String,
    pub current: bool,
    pub previous: bool,
    /// RocksDB's live estimate of the records in the version (ready ones).
    pub estimated_records: u64,
    /// The exact count: the version's pyramid counters (`Stats`), kept in
    /// the same write as every applied batch. Kept versions of a store
    /// opened with a classifier; `None` otherwise.
    pub users: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionRecord {
    generation: u64,
    pub(crate) model_version: String,
    state: VersionState,
    records: u64,
    created_at: i64,
    loaded_at: i64,
    note: String,
}

impl VersionRecord {
    pub(crate) fn cf_name(&self) -> String {
        cf_name(self.generation)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

/// True for the column families that hold a version's profiles.
pub(crate) fn is_profiles_cf(name: &str) -> bool {
    name == PROFILES_CF || generation_of(name).is_some()
}

fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix(PROFILES_CF)?
        .strip_prefix('@')?
        .parse()
        .ok()
}

/// Which version serves, which is kept for rollback, and recent loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Catalog {
    current: u64,
    previous: Option<u64>,
    next_generation: u64,
    versions: Vec<VersionRecord>,
    /// The serving version is the initial one and holds no record yet, so
    /// the first batch that carries a model version gives it that name.
    /// Not stored: worked out at open (a store from before, with data under
    /// "initial", keeps that name).
    unnamed: bool,
}

impl Default for Catalog {
    /// A store without a catalog: its `profiles` family is the one version.
    fn default() -> Self {
        Catalog {
            current: 0,
            previous: None,
            next_generation: 1,
            versions: vec![VersionRecord {
                generation: 0,
                model_version: INITIAL_MODEL_VERSION.to_owned(),
                state: VersionState::Ready,
                records: 0,
                created_at: 0,
                loaded_at: 0,
                note: String::new(),
            }],
            unnamed: false,
        }
    }
}

impl Catalog {
    pub(crate) fn current_record(&self) -> &VersionRecord {
        self.record(self.current)
            .expect("the catalog always holds its current version")
    }

    /// The generations whose profiles are kept: current and previous.
    pub(crate) fn kept_generations(&self) -> Vec<u64> {
        [Some(self.current), self.previous]
            .into_iter()
            .flatten()
            .collect()
    }

    fn record(&self, generation: u64) -> Option<&VersionRecord> {
        self.versions
            .iter()
            .find(|record| record.generation == generation)
    }

    fn record_mut(&mut self, generation: u64) -> Option<&mut VersionRecord> {
        self.versions
            .iter_mut()
            .find(|record| record.generation == generation)
    }

    fn building(&self) -> Option<&VersionRecord> {
        self.versions
            .iter()
            .find(|record| record.state == VersionState::Building)
    }

    /// Keeps only the newest failed records.
    fn trim_failed(&mut self) {
        let failed = self
            .versions
            .iter()
            .filter(|record| record.state == VersionState::Failed)
            .count();
        let mut to_forget = failed.saturating_sub(FAILED_KEPT);
        self.versions.retain(|record| {
            if to_forget > 0 && record.state == VersionState::Failed {
                to_forget -= 1;
                return false;
            }
            true
        });
    }

    fn encode(&self) -> Vec<u8> {
        let mut text = format!(
            "{CATALOG_MAGIC}\ncurrent\t{}\nprevious\t{}\nnext\t{}\n",
            self.current,
            self.previous
                .map_or_else(|| "-".to_owned(), |g| g.to_string()),
            self.next_generation
        );
        for record in &self.versions {
            // The note is free text: keep it on its line.
            let note: String = record
                .note
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            text.push_str(&format!(
                "version\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                record.generation,
                record.state.as_str(),
                record.records,
                record.created_at,
                record.loaded_at,
                record.model_version,
                note
            ));
        }
        text.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Catalog, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let mut lines = text.lines();
        if lines.next() != Some(CATALOG_MAGIC) {
            return Err("unknown catalog format".into());
        }
        let mut current = None;
        let mut previous = None;
        let mut next_generation = None;
        let mut versions = Vec::new();
        for line in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            let number = |text: &str| {
                text.parse::<i64>()
                    .map_err(|_| format!("bad number {text:?} in {line:?}"))
            };
            match fields.as_slice() {
                ["current", generation] => current = Some(number(generation)? as u64),
                ["previous", "-"] => previous = None,
                ["previous", generation] => previous = Some(number(generation)? as u64),
                ["next", generation] => next_generation = Some(number(generation)? as u64),
                [
                    "version",
                    generation,
                    state,
                    records,
                    created_at,
                    loaded_at,
                    model_version,
                    note,
                ] => versions.push(VersionRecord {
                    generation: number(generation)? as u64,
                    state: VersionState::parse(state)
                        .ok_or_else(|| format!("bad state {state:?}"))?,
                    records: number(records)? as u64,
                    created_at: number(created_at)?,
                    loaded_at: number(loaded_at)?,
                    model_version: (*model_version).to_owned(),
                    note: (*note).to_owned(),
                }),
                _ => return Err(format!("unreadable line {line:?}")),
            }
        }
        let catalog = Catalog {
            current: current.ok_or("no current version")?,
            previous,
            next_generation: next_generation.ok_or("no next generation")?,
            versions,
            unnamed: false,
        };
        if catalog.record(catalog.current).is_none() {
            return Err("the current version has no record".into());
        }
        if let Some(previous) = catalog.previous
            && catalog.record(previous).is_none()
        {
            return Err("the previous version has no record".into());
        }
        Ok(catalog)
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Model version names travel in catalogs, logs and statuses: short and
/// without whitespace or control characters.
fn validate_model_version(model_version: &str) -> Result<(), StoreError> {
    let reason = if model_version.is_empty() {
        Some("is empty")
    } else if model_version.len() > MAX_MODEL_VERSION_BYTES {
        Some("is longer than 128 bytes")
    } else if model_version
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        Some("contains whitespace or control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StoreError::InvalidModelVersion {
            model_version: model_version.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

impl Store {
    /// Reads the catalog at open and repairs what a crash left: a version
    /// that was building is marked failed and its column family dropped, as
    /// is any profiles family the catalog does not keep; staged SST files are
    /// removed.
    pub(crate) fn recover_catalog(&self, families: &[String]) -> Result<Catalog, StoreError> {
        let stored = self
            .db
            .get_pinned_cf(&self.meta(), CATALOG_KEY)
            .map_err(StoreError::Read)?;
        // A store from before versioning has no catalog: its `profiles`
        // family becomes the initial version.
        let (mut catalog, mut changed) = match stored {
            Some(bytes) => (
                Catalog::decode(&bytes).map_err(|reason| StoreError::Corrupt {
                    what: format!("version catalog: {reason}"),
                })?,
                false,
            ),
            None => (Catalog::default(), true),
        };

        let mut interrupted = Vec::new();
        for record in &mut catalog.versions {
            if record.state == VersionState::Building {
                changed = true;
                record.state = VersionState::Failed;
                record.loaded_at = now_seconds();
                record.note = "interrupted: the server stopped while loading it".into();
                interrupted.push(record.model_version.clone());
            }
        }
        for model_version in interrupted {
            tracing::warn!(%model_version, "a load was interrupted by a restart; dropped it");
        }
        if let Some(previous) = catalog.previous
            && !families.contains(&cf_name(previous))
        {
            tracing::warn!("the previous version's column family is missing: no rollback");
            catalog.previous = None;
            changed = true;
        }
        if changed {
            catalog.trim_failed();
            self.write_catalog(&catalog)?;
        }
        catalog.unnamed = catalog.current == 0
            && catalog.current_record().model_version == INITIAL_MODEL_VERSION
            && self.initial_is_empty()?;
        let keep: Vec<String> = [Some(catalog.current), catalog.previous]
            .into_iter()
            .flatten()
            .map(cf_name)
            .collect();
        // Readers assume the serving family exists; say so at open if not.
        let serving = catalog.current_record().cf_name();
        if !families.contains(&serving) {
            return Err(StoreError::Corrupt {
                what: format!("the serving version's column family {serving} is missing"),
            });
        }
        for family in families {
            if is_profiles_cf(family) && !keep.contains(family) {
                self.db.drop_cf(family).map_err(StoreError::Write)?;
                tracing::info!(family, "dropped a column family no version uses");
            }
        }
        let staging = self.path.join(STAGING_DIR);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(StoreError::io(&staging))?;
        }
        Ok(catalog)
    }

    /// True when the initial version's family holds no record (tombstones
    /// are skipped by the iterator).
    fn initial_is_empty(&self) -> Result<bool, StoreError> {
        let Some(family) = self.db.cf_handle(PROFILES_CF) else {
            return Ok(true);
        };
        match self
            .db
            .iterator_cf(&family, rocksdb::IteratorMode::Start)
            .next()
        {
            None => Ok(true),
            Some(Ok(_)) => Ok(false),
            Some(Err(error)) => Err(StoreError::Read(error)),
        }
    }

    /// The catalog once a batch of `records` upserts, addressed to
    /// `requested`, with records of model version `named`, is applied, when
    /// that batch names the serving version: only an unnamed version (see
    /// `Catalog::unnamed`) takes a name, from a batch that brings records,
    /// the addressed name first, else the records' (when valid). `None`:
    /// nothing to rename. The caller holds the ingest lock and writes the
    /// catalog in the same `WriteBatch` as the records, so the name and the
    /// data land together.
    pub(crate) fn named_catalog(
        &self,
        requested: Option<&str>,
        named: Option<&str>,
        records: usize,
    ) -> Option<Catalog> {
        let catalog = self.read_catalog();
        if !catalog.unnamed || catalog.current != 0 || records == 0 {
            return None;
        }
        let name = requested
            .or(named)
            .filter(|name| validate_model_version(name).is_ok())?;
        let mut renamed = catalog.clone();
        renamed.unnamed = false;
        let current = renamed.current;
        renamed
            .record_mut(current)
            .expect("the catalog always holds its current version")
            .model_version = name.to_owned();
        Some(renamed)
    }

    /// Once a batch with records was applied, the serving version keeps its
    /// name; with `renamed`, readers see the name that batch gave it.
    pub(crate) fn settle_name(&self, renamed: Option<Catalog>, upserts: usize) {
        // The common case takes no write lock: readers never wait on it.
        if renamed.is_none() && (upserts == 0 || !self.read_catalog().unnamed) {
            return;
        }
        let mut catalog = self
            .catalog
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match renamed {
            Some(renamed) => *catalog = renamed,
            None if upserts > 0 => catalog.unnamed = false,
            None => {}
        }
    }

    /// Adds `catalog` to `write`, to land with the batch it names.
    pub(crate) fn stage_catalog(&self, write: &mut rocksdb::WriteBatch, catalog: &Catalog) {
        write.put_cf(&self.meta(), CATALOG_KEY, catalog.encode());
    }

    fn write_catalog(&self, catalog: &Catalog) -> Result<(), StoreError> {
        let mut options = rocksdb::WriteOptions::default();
        // Always synced: a switch acknowledged to the operator must survive.
        options.set_sync(true);
        self.db
            .put_cf_opt(&self.meta(), CATALOG_KEY, catalog.encode(), &options)
            .map_err(StoreError::Write)
    }

    /// Makes `catalog` durable, then visible to readers. The caller holds
    /// the ingest lock, which serialises every catalog change.
    fn commit_catalog(&self, catalog: Catalog) -> Result<(), StoreError> {
        self.write_catalog(&catalog)?;
        let switched = self.read_catalog().current != catalog.current;
        *self
            .catalog
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = catalog;
        if switched {
            self.reset_profile_cache();
        }
        Ok(())
    }

    /// The serving model version.
    pub fn current_model_version(&self) -> String {
        self.read_catalog().current_record().model_version.clone()
    }

    /// Every version the catalog knows: current, previous, building and
    /// recent failures, newest first.
    pub fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let catalog = self.read_catalog().clone();
        let pyramids = self.lock_pyramids().clone();
        let mut infos = Vec::with_capacity(catalog.versions.len());
        for record in catalog.versions.iter().rev() {
            let estimated_records = match (record.state, self.db.cf_handle(&record.cf_name())) {
                (VersionState::Ready, Some(family)) => self
                    .db
                    .property_int_value_cf(&family, "rocksdb.estimate-num-keys")
                    .map_err(StoreError::Read)?
                    .unwrap_or(0),
                _ => 0,
            };
            infos.push(VersionInfo {
                generation: record.generation,
                model_version: record.model_version.clone(),
                state: record.state,
                records: record.records,
                created_at: record.created_at,
                loaded_at: record.loaded_at,
                note: record.note.clone(),
                current: record.generation == catalog.current,
                previous: Some(record.generation) == catalog.previous,
                estimated_records,
                users: match (record.state, &self.classifier) {
                    (VersionState::Ready, Some(_)) => pyramids
                        .get(&record.generation)
                        .map(|pyramid| pyramid.users),
                    _ => None,
                },
            });
        }
        Ok(infos)
    }

    /// Starts building `model_version` beside the serving one. Only one
    /// version builds at a time; the serving version cannot be rebuilt.
    /// `created_at` is when its snapshot was made (Unix seconds, 0 unknown).
    pub fn begin_version(
        &self,
        model_version: &str,
        created_at: i64,
    ) -> Result<VersionBuilder<'_>, StoreError> {
        validate_model_version(model_version)?;
        let _guard = self.lock_ingest();
        let mut catalog = self.read_catalog().clone();
        if let Some(building) = catalog.building() {
            return Err(StoreError::ReloadInProgress {
                model_version: building.model_version.clone(),
            });
        }
        if catalog.current_record().model_version == model_version {
            return Err(StoreError::AlreadyCurrent {
                model_version: model_version.to_owned(),
            });
        }
        let generation = catalog.next_generation;
        catalog.next_generation += 1;
        let record = VersionRecord {
            generation,
            model_version: model_version.to_owned(),
            state: VersionState::Building,
            records: 0,
            created_at,
            loaded_at: 0,
            note: String::new(),
        };
        catalog.versions.push(record.clone());
        // The record goes first: a crash from here on leaves a building
        // entry, which the next open turns into a failure and cleans up.
        self.commit_catalog(catalog)?;
        let staging = self.path.join(STAGING_DIR).join(generation.to_string());
        let mut builder = VersionBuilder {
            store: self,
            record,
            staging,
            writer: None,
            files: Vec::new(),
            last_key: None,
            finished: false,
            failure: None,
            pyramid: self.classifier.is_some().then(Pyramid::default),
        };
        self.db
            .create_cf(builder.record.cf_name(), &self.profile_options)
            .map_err(|error| builder.failed(StoreError::Write(error)))?;
        std::fs::create_dir_all(&builder.staging)
            .map_err(|error| builder.failed(StoreError::io(&builder.staging)(error)))?;
        tracing::info!(model_version, generation, "building a new version");
        Ok(builder)
    }

    /// Serves the previous version again; the version rolled back from
    /// becomes the previous one, so a second rollback undoes the first.
    /// Returns (from, to) model versions.
    pub fn rollback(&self) -> Result<(String, String), StoreError> {
        let _guard = self.lock_ingest();
        let mut catalog = self.read_catalog().clone();
        let previous = catalog.previous.ok_or(StoreError::NoPreviousVersion)?;
        let from = catalog.current_record().model_version.clone();
        catalog.previous = Some(catalog.current);
        catalog.current = previous;
        let to = catalog.current_record().model_version.clone();
        self.commit_catalog(catalog)?;
        tracing::warn!(%from, %to, "rolled back");
        Ok((from, to))
    }

    /// Marks a build failed and drops its column family and staged files.
    fn abandon(&self, record: &VersionRecord, staging: &Path, reason: &str) {
        let _guard = self.lock_ingest();
        let mut catalog = self.read_catalog().clone();
        if let Some(stored) = catalog.record_mut(record.generation) {
            stored.state = VersionState::Failed;
            stored.loaded_at = now_seconds();
            stored.note = reason.to_owned();
        }
        catalog.trim_failed();
        if let Err(error) = self.commit_catalog(catalog) {
            // The next open turns the building record into a failure.
            tracing::error!(%error, "cannot record a failed load");
        }
        if self.db.cf_handle(&record.cf_name()).is_some()
            && let Err(error) = self.db.drop_cf(&record.cf_name())
        {
            tracing::error!(%error, "cannot drop a failed version; the next open will");
        }
        if staging.exists()
            && let Err(error) = std::fs::remove_dir_all(staging)
        {
            tracing::error!(%error, "cannot remove staged files; the next open will");
        }
        tracing::warn!(model_version = %record.model_version, reason, "load failed");
    }
}

/// A version being built: sorted records go into SST files, which are then
/// ingested into the version's own column family, checked, and published.
/// Dropped unpublished (an error, a panic), the build is marked failed and
/// its column family dropped; the serving version is never touched.
pub struct VersionBuilder<'s> {
    store: &'s Store,
    record: VersionRecord,
    staging: PathBuf,
    writer: Option<SstFileWriter<'s>>,
    files: Vec<PathBuf>,
    last_key: Option<Vec<u8>>,
    finished: bool,
    failure: Option<String>,
    /// The version's counters, counted as records are put (with a
    /// classifier), stored when it is published.
    pyramid: Option<Pyramid>,
}

impl std::fmt::Debug for VersionBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionBuilder")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl<'s> VersionBuilder<'s> {
    pub fn model_version(&self) -> &str {
        &self.record.model_version
    }

    /// Records put so far.
    pub fn records(&self) -> u64 {
        self.record.records
    }

    fn failed(&mut self, error: StoreError) -> StoreError {
        self.failure = Some(error.to_string());
        error
    }

    fn build_error(&mut self, what: String) -> StoreError {
        let error = StoreError::Build {
            model_version: self.record.model_version.clone(),
            what,
        };
        self.failed(error)
    }

    /// Adds one record; keys must come in strictly ascending byte order
    /// (SST files are sorted), which snapshot files guarantee.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if let Some(last) = &self.last_key
            && key <= last.as_slice()
        {
            let what = format!(
                "record {} is not in ascending key order",
                self.record.records
            );
            return Err(self.build_error(what));
        }
        if self.writer.is_none() {
            let path = self
                .staging
                .join(format!("{:06}.sst", self.files.len() + 1));
            let writer = SstFileWriter::create(&self.store.profile_options);
            writer.open(&path).map_err(|error| {
                self.build_error(format!("opening {}: {error}", path.display()))
            })?;
            self.files.push(path);
            self.writer = Some(writer);
        }
        let writer = self.writer.as_mut().expect("opened above");
        if let Err(error) = writer.put(key, value) {
            return Err(self.build_error(format!("writing an SST file: {error}")));
        }
        let full = writer.file_size() >= SST_FILE_BYTES;
        if let (Some(pyramid), Some(classifier)) = (&mut self.pyramid, &self.store.classifier) {
            pyramid.add(&classifier.facets(value).normalised());
        }
        self.record.records += 1;
        self.last_key = Some(key.to_vec());
        if full {
            self.finish_file()?;
        }
        Ok(())
    }

    fn finish_file(&mut self) -> Result<(), StoreError> {
        if let Some(mut writer) = self.writer.take()
            && let Err(error) = writer.finish()
        {
            return Err(self.build_error(format!("finishing an SST file: {error}")));
        }
        Ok(())
    }

    /// Moves every written SST file into the version's column family in one
    /// ingestion. Returns the number of files.
    pub fn ingest(&mut self) -> Result<usize, StoreError> {
        self.finish_file()?;
        if self.files.is_empty() {
            return Ok(0);
        }
        let family = self
            .store
            .db
            .cf_handle(&self.record.cf_name())
            .expect("the building version's column family exists until it is abandoned");
        let mut options = IngestExternalFileOptions::default();
        options.set_move_files(true);
        if let Err(error) =
            self.store
                .db
                .ingest_external_file_cf_opts(&family, &options, self.files.clone())
        {
            return Err(self.build_error(format!("ingesting SST files: {error}")));
        }
        Ok(self.files.len())
    }

    /// Visits every ingested record in key order, for verification.
    pub fn scan(&mut self, mut visit: impl FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        let family = self
            .store
            .db
            .cf_handle(&self.record.cf_name())
            .expect("the building version's column family exists until it is abandoned");
        for entry in self
            .store
            .db
            .iterator_cf(&family, rocksdb::IteratorMode::Start)
        {
            let (key, value) = entry.map_err(|error| self.failed(StoreError::Read(error)))?;
            visit(&key, &value);
        }
        Ok(())
    }

    /// Point-reads `key` from the built version, as a reader will.
    pub fn get<R>(
        &mut self,
        key: &[u8],
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StoreError> {
        let family = self
            .store
            .db
            .cf_handle(&self.record.cf_name())
            .expect("the building version's column family exists until it is abandoned");
        let value = self
            .store
            .db
            .get_pinned_cf(&family, key)
            .map_err(|error| self.failed(StoreError::Read(error)))?;
        Ok(read(value.as_deref()))
    }

    /// Stops the build with `reason`: marked failed, column family dropped.
    pub fn fail(mut self, reason: &str) {
        self.failure = Some(reason.to_owned());
    }

    /// Switches readers and writers to the built version atomically. The
    /// version that served becomes the previous one (kept for rollback); the
    /// one before it is dropped.
    pub fn publish(mut self) -> Result<VersionInfo, StoreError> {
        let store = self.store;
        let _guard = store.lock_ingest();
        let mut catalog = store.read_catalog().clone();
        let generation = self.record.generation;
        let dropped = catalog.previous.take();
        catalog.previous = Some(catalog.current);
        catalog.current = generation;
        let record = catalog
            .record_mut(generation)
            .expect("a building version stays in the catalog");
        record.state = VersionState::Ready;
        record.records = self.record.records;
        record.loaded_at = now_seconds();
        let published = record.clone();
        let dropped_record = dropped.and_then(|generation| catalog.record(generation).cloned());
        catalog
            .versions
            .retain(|record| Some(record.generation) != dropped);
        // The counters first: stored counters of a version that never
        // served are dropped at the next open.
        if let (Some(pyramid), Some(classifier)) = (&self.pyramid, &store.classifier) {
            let mut options = rocksdb::WriteOptions::default();
            options.set_sync(true);
            if let Err(error) = store.db.put_cf_opt(
                &store.meta(),
                pyramid_key(generation),
                pyramid.encode(classifier.id()),
                &options,
            ) {
                return Err(self.failed(StoreError::Write(error)));
            }
        }
        if let Err(error) = store.commit_catalog(catalog) {
            return Err(self.failed(error));
        }
        self.finished = true;
        {
            let mut pyramids = store.lock_pyramids();
            if let Some(pyramid) = self.pyramid.take() {
                pyramids.insert(generation, std::sync::Arc::new(pyramid));
            }
            if let Some(dropped) = dropped {
                pyramids.remove(&dropped);
            }
        }
        if let Some(dropped) = dropped
            && let Err(error) = store.db.delete_cf(&store.meta(), pyramid_key(dropped))
        {
            tracing::error!(%error, "cannot drop an old version's counters; the next open will");
        }
        if let Some(dropped) = dropped_record
            && let Err(error) = store.db.drop_cf(&dropped.cf_name())
        {
            // Harmless: the next open drops families no version uses.
            tracing::error!(%error, model_version = %dropped.model_version, "cannot drop an old version");
        }
        if self.staging.exists() {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
        tracing::info!(
            model_version = %published.model_version,
            records = published.records,
            "new version serving"
        );
        drop(_guard);
        Ok(store
            .versions()?
            .into_iter()
            .find(|info| info.generation == generation)
            .expect("just published"))
    }
}

impl Drop for VersionBuilder<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The writer holds its file open; close it before removing files.
        drop(self.writer.take());
        let reason = self
            .failure
            .take()
            .unwrap_or_else(|| "abandoned before it was published".into());
        self.store.abandon(&self.record, &self.staging, &reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_round_trips() {
        let mut catalog = Catalog::default();
        catalog.versions.push(VersionRecord {
            generation: 4,
            model_version: "retail-2".into(),
            state: VersionState::Failed,
            records: 12,
            created_at: 1_700_000_000,
            loaded_at: 1_700_000_100,
            note: "checksum\tmismatch\nhere".into(),
        });
        catalog.previous = Some(4);
        catalog.next_generation = 5;
        let decoded = Catalog::decode(&catalog.encode()).unwrap();
        assert_eq!(decoded.versions[1].note, "checksum mismatch here");
        assert_eq!(decoded.previous, Some(4));
        assert_eq!(decoded.next_generation, 5);
        assert_eq!(decoded.current_record().model_version, "initial");
    }

    #[test]
    fn family_names() {
        assert!(is_profiles_cf("profiles"));
        assert!(is_profiles_cf("profiles@12"));
        assert!(!is_profiles_cf("profiles@x"));
        assert!(!is_profiles_cf("ingest"));
        assert_eq!(cf_name(3), "profiles@3");
    }

    #[test]
    fn model_version_names_are_checked() {
        assert!(validate_model_version("retail-2").is_ok());
        for bad in ["", "a b", "a\nb"] {
            assert!(validate_model_version(bad).is_err(), "{bad:?}");
        }
    }
}
