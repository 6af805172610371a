//! Full reloads: a snapshot file becomes a new store version beside the
//! serving one, is verified, and is switched to atomically.
//!
//! Steps, each logged (`reload step`):
//! 1. `checked`: the whole file is read once and its order, count and
//!    checksum verified, before the store is touched, so a corrupt file never
//!    creates anything; a file of no profiles is refused here too, since it
//!    would replace everything served with nothing;
//! 2. `created`: the version's record (state building) and column family;
//! 3. `written`: the file is read again and every profile goes, in the
//!    file's (ascending) user id order, into sorted SST files; no sort and no
//!    memory that grows with the snapshot are needed, because the format
//!    requires ascending ids and the reader enforces it;
//! 4. `ingested`: the files are moved into the column family in one
//!    ingestion;
//! 5. `verified`: a full scan counts the stored records and hashes their
//!    bytes, which must equal what was written, and a sample of point reads
//!    (up to [`SAMPLE_READS`], spread over the file) must return the
//!    snapshot's records;
//! 6. `published`: the catalog switches readers and writers.
//!
//! Any failure before 6 drops the new column family; the serving version is
//! never written by a reload. A crash anywhere leaves a building record that
//! the next open cleans up.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prost::Message;
use strata_store::{Store, StoreError, VersionInfo};
use twox_hash::XxHash3_64;

use strata_snapshot::{SnapshotError, read_snapshot};

/// Point reads compared with the snapshot after ingestion.
pub const SAMPLE_READS: u64 = 1000;

/// Hidden test hook: pause this many milliseconds after every step (and
/// every [`PAUSE_EVERY_RECORDS`] records written), so a test can kill the
/// server at chosen points of a reload.
pub const PAUSE_ENV: &str = "STRATA_TEST_RELOAD_PAUSE_MS";
const PAUSE_EVERY_RECORDS: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("snapshot {path}: {what}; the new version was dropped")]
    Verify { path: PathBuf, what: String },
    #[error(
        "snapshot {path} holds profiles of model version {found:?} but its header says {header:?}"
    )]
    MixedVersions {
        path: PathBuf,
        header: String,
        found: String,
    },
    #[error(
        "snapshot {path} holds no profiles: loading it would replace every served profile \
         (model version {serving:?}) with none; check the job's input, which was empty or \
         entirely after its --as-of"
    )]
    Empty { path: PathBuf, serving: String },
    #[error("snapshot {path}: the profile of user {user_id:?}: {what}")]
    BadRecord {
        path: PathBuf,
        user_id: String,
        what: String,
    },
}

/// What a finished reload did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub version: VersionInfo,
    pub previous_model_version: String,
    pub sampled_reads: u64,
    pub sst_files: usize,
    pub elapsed: Duration,
}

/// Loads the snapshot at `path` into a new version of `store` and switches
/// to it. Blocking: run it on the blocking pool. Reads and ingest continue
/// on the serving version meanwhile.
pub fn load_snapshot(store: &Store, path: &Path) -> Result<Reloaded, ReloadError> {
    let started = Instant::now();
    let pause = std::env::var(PAUSE_ENV)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .map(Duration::from_millis);
    let step = |name: &str| {
        tracing::info!(step = name, "reload step");
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
    };

    // 1. The whole file, verified before anything is created.
    let mut found_version: Option<String> = None;
    let mut bad_record: Option<(String, String)> = None;
    let (header, trailer) = read_snapshot(path, |profile| {
        if bad_record.is_none()
            && let Err(what) = crate::convert::check_profile_timestamps(&profile)
        {
            bad_record = Some((profile.user_id.clone(), what));
        }
        if found_version.is_none() {
            found_version = Some(profile.model_version);
        }
    })?;
    if let Some((user_id, what)) = bad_record {
        return Err(ReloadError::BadRecord {
            path: path.to_path_buf(),
            user_id,
            what,
        });
    }
    // Readers tell versions apart by the profiles' model_version: a
    // snapshot whose profiles say otherwise than its header is refused.
    if let Some(found) = found_version
        && found != header.model_version
    {
        return Err(ReloadError::MixedVersions {
            path: path.to_path_buf(),
            header: header.model_version,
            found,
        });
    }
    // A full load of nobody is damaged input, never a model version: it
    // would erase everything served (the job refuses to write one too).
    if trailer.profiles == 0 {
        return Err(ReloadError::Empty {
            path: path.to_path_buf(),
            serving: store.current_model_version(),
        });
    }
    tracing::info!(
        model_version = %header.model_version,
        profiles = trailer.profiles,
        "snapshot checked"
    );
    step("checked");

    // 2. The version's record and column family.
    let created_at = header.created_at.as_ref().map_or(0, |time| time.seconds);
    let previous_model_version = store.current_model_version();
    let mut builder = store.begin_version(&header.model_version, created_at)?;
    step("created");

    // 3. Sorted SST files, straight from the file's order.
    let stride = (trailer.profiles / SAMPLE_READS).max(1);
    let mut samples: Vec<(String, Vec<u8>)> = Vec::new();
    let mut written_hash = XxHash3_64::default();
    let mut failure: Option<ReloadError> = None;
    let mut index = 0u64;
    let mut encoded = Vec::new();
    let reread = read_snapshot(path, |profile| {
        if failure.is_some() {
            return;
        }
        if profile.model_version != header.model_version {
            failure = Some(ReloadError::MixedVersions {
                path: path.to_path_buf(),
                header: header.model_version.clone(),
                found: profile.model_version.clone(),
            });
            return;
        }
        // Checked in step 1 too; again here in case the file changed since.
        if let Err(what) = crate::convert::check_profile_timestamps(&profile) {
            failure = Some(ReloadError::BadRecord {
                path: path.to_path_buf(),
                user_id: profile.user_id.clone(),
                what,
            });
            return;
        }
        encoded.clear();
        profile.encode(&mut encoded).expect("a Vec grows as needed");
        written_hash.write(&encoded);
        if let Err(error) = builder.put(profile.user_id.as_bytes(), &encoded) {
            failure = Some(error.into());
            return;
        }
        if index.is_multiple_of(stride) {
            samples.push((profile.user_id, encoded.clone()));
        }
        index += 1;
        if index.is_multiple_of(PAUSE_EVERY_RECORDS) {
            step("writing");
        }
    });
    if let Some(error) = failure {
        builder.fail(&error.to_string());
        return Err(error);
    }
    if let Err(error) = reread {
        // The file changed between the two reads.
        builder.fail(&error.to_string());
        return Err(error.into());
    }
    step("written");

    // 4. One ingestion of every file.
    let sst_files = builder.ingest()?;
    step("ingested");

    // 5. Count and hash what the store now holds; sample point reads.
    let mut stored = 0u64;
    let mut stored_hash = XxHash3_64::default();
    builder.scan(|_, value| {
        stored += 1;
        stored_hash.write(value);
    })?;
    let verify_error = |what: String| ReloadError::Verify {
        path: path.to_path_buf(),
        what,
    };
    let mut problem = None;
    if stored != trailer.profiles {
        problem = Some(format!(
            "the new version holds {stored} records, the snapshot {}",
            trailer.profiles
        ));
    } else if stored_hash.finish() != written_hash.finish() {
        problem = Some("the new version's records differ from the snapshot's".into());
    }
    let mut sampled_reads = 0u64;
    for (user_id, expected) in &samples {
        if problem.is_some() {
            break;
        }
        let same = builder.get(user_id.as_bytes(), |value| {
            value == Some(expected.as_slice())
        })?;
        sampled_reads += 1;
        if !same {
            problem = Some(format!(
                "sampled read {sampled_reads} does not return the snapshot's record"
            ));
        }
    }
    if let Some(what) = problem {
        let error = verify_error(what);
        builder.fail(&error.to_string());
        return Err(error);
    }
    step("verified");

    // 6. The switch.
    let version = builder.publish()?;
    if let Some(mut card) = header.model_card {
        card.model_version.clone_from(&version.model_version);
        store.put_version_card(version.generation, &card.encode_to_vec())?;
    }
    step("published");
    Ok(Reloaded {
        version,
        previous_model_version,
        sampled_reads,
        sst_files,
        elapsed: started.elapsed(),
    })
}
