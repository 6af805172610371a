//! Per-user summary files: the output of `strata summarize` and the input of
//! a recompute that reads no events. A summary is a user's whole
//! [`UserHistory`], so every model downstream sees exactly what a run over
//! the events would have folded.
//!
//! A summary folder holds N Parquet parts, `part-00000-of-00004.parquet` ...,
//! users spread over them by a hash of their id chosen by the caller (the job
//! uses its `--partition` hash, so part i is partition i), and
//! `manifest.json`: the format version, the model the histories were folded
//! for, the as-of time, what the input held, and each part's user count, size
//! and checksum. The columns are plain Parquet types (see [`schema`]), so
//! another engine (Spark) can write the same files.
//!
//! Writing is atomic: everything goes to a hidden sibling folder that is
//! renamed to the target only once every part and the manifest are on disk,
//! so a crash never leaves a half set that looks complete. Reading checks the
//! manifest and every part's size and checksum before a single history is
//! built, so a damaged file is an error, never a partial population.

mod columns;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_core::{LifecycleModel, UnixMillis, UserHistory};
use twox_hash::XxHash3_64;

pub use columns::schema;

use crate::Error;

/// The summary format this build writes and reads.
/// 2: the `send_hours` column (sends and responses by hour of the week).
pub const FORMAT_VERSION: u32 = 2;

pub const MANIFEST: &str = "manifest.json";

/// Users per Parquet record batch.
const BATCH_USERS: usize = 16 * 1024;

/// `manifest.json`: what a summary folder holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// How many parts the users are spread over.
    pub parts: u32,
    /// The time the histories describe: no event after it is in them.
    pub as_of: UnixMillis,
    /// `as_of` for people (RFC 3339).
    pub as_of_text: String,
    pub model: ModelIdentity,
    /// `[currency]` the amounts were converted with as they were read.
    pub currency: CurrencyIdentity,
    /// What was read, over every run merged into these summaries.
    pub input: InputTotals,
    /// The first and last event time over all users (the data window).
    pub window: Option<(UnixMillis, UnixMillis)>,
    pub users: u64,
    /// One entry per summarize run folded in, oldest first: a full run,
    /// then each incremental day.
    pub runs: Vec<RunRecord>,
    /// Filled by [`write`].
    #[serde(default)]
    pub part_files: Vec<PartFile>,
}

/// The lifecycle model whose series the histories track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelIdentity {
    pub name: String,
    /// `LifecycleModel::tracked_series`, in order.
    pub tracked_series: Vec<String>,
}

impl ModelIdentity {
    pub fn of(model: &LifecycleModel) -> ModelIdentity {
        ModelIdentity {
            name: model.name().to_owned(),
            tracked_series: model.tracked_series(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyIdentity {
    pub base: Option<String>,
    pub rates: BTreeMap<String, f64>,
    /// Amounts seen per currency, as written in the events.
    pub seen: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputTotals {
    pub files: u64,
    pub rows: u64,
    pub events: u64,
    pub bad_rows: u64,
    pub bytes: u64,
    /// Events after the as-of time of the run that read them, left out.
    pub ignored_after_as_of: u64,
}

impl InputTotals {
    pub fn add(&mut self, other: &InputTotals) {
        self.files += other.files;
        self.rows += other.rows;
        self.events += other.events;
        self.bad_rows += other.bad_rows;
        self.bytes += other.bytes;
        self.ignored_after_as_of += other.ignored_after_as_of;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    pub as_of: UnixMillis,
    /// `None` for a full run; the as-of time it continued from otherwise.
    pub previous_as_of: Option<UnixMillis>,
    pub input: InputTotals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartFile {
    pub name: String,
    pub users: u64,
    pub bytes: u64,
    /// XXH3-64 of the file's bytes, in hex.
    pub xxh3: String,
}

/// `part-00002-of-00008.parquet`.
pub fn part_name(index: u32, parts: u32) -> String {
    format!("part-{index:05}-of-{parts:05}.parquet")
}

fn summary_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Summary {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `parts` (part i's users, any order) and the manifest to `out`,
/// atomically. `out` must not exist yet: a summary folder is never
/// overwritten, because an incremental run reads the previous one.
/// Returns the manifest as written (with its part files).
pub fn write(
    out: &Path,
    mut manifest: Manifest,
    parts: Vec<Vec<(String, UserHistory)>>,
) -> Result<Manifest, Error> {
    if out.exists() {
        return Err(summary_error(
            out,
            "already exists; summaries go to a new folder (remove it, or pick another --out)",
        ));
    }
    let parts_count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    if parts_count == 0 || parts_count != manifest.parts {
        return Err(summary_error(
            out,
            format!(
                "{} parts given for a manifest of {}",
                parts.len(),
                manifest.parts
            ),
        ));
    }
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_error(&parent))?;
    let name = out
        .file_name()
        .ok_or_else(|| summary_error(out, "is not a folder name"))?
        .to_string_lossy();
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_error(&staging))?;
    }
    std::fs::create_dir(&staging).map_err(io_error(&staging))?;
    let written = write_staged(&staging, &mut manifest, parts).and_then(|()| {
        sync_dir(&staging)?;
        std::fs::rename(&staging, out).map_err(io_error(out))?;
        sync_dir(&parent)
    });
    if let Err(error) = written {
        // Best effort: the staging folder is hidden and never read anyway.
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    Ok(manifest)
}

fn write_staged(
    staging: &Path,
    manifest: &mut Manifest,
    parts: Vec<Vec<(String, UserHistory)>>,
) -> Result<(), Error> {
    let count = manifest.parts;
    let jobs: Vec<(u32, Vec<(String, UserHistory)>)> = (0..count).zip(parts).collect();
    let files = on_threads(jobs, |(index, mut users)| {
        // Sorted, so the same histories always make the same bytes.
        users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let path = staging.join(part_name(index, count));
        columns::write_part(&path, &users, BATCH_USERS)?;
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        Ok(PartFile {
            name: part_name(index, count),
            users: users.len() as u64,
            bytes: bytes.len() as u64,
            xxh3: format!("{:016x}", XxHash3_64::oneshot(&bytes)),
        })
    })?;
    manifest.users = files.iter().map(|file| file.users).sum();
    manifest.part_files = files;
    let path = staging.join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|error| summary_error(&path, error.to_string()))?;
    let mut file = File::create(&path).map_err(io_error(&path))?;
    file.write_all(&text).map_err(io_error(&path))?;
    file.write_all(b"\n").map_err(io_error(&path))?;
    file.sync_all().map_err(io_error(&path))
}

fn sync_dir(path: &Path) -> Result<(), Error> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(path))
}

/// Reads and checks `dir/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, Error> {
    let path = dir.join(MANIFEST);
    if !dir.is_dir() {
        return Err(summary_error(
            dir,
            "is not a summary folder (write one with `strata summarize --out`)",
        ));
    }
    let text = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => summary_error(
            dir,
            "has no manifest.json: not a summary folder, or one whose summarize did not finish",
        ),
        _ => Error::Io {
            path: path.clone(),
            source,
        },
    })?;
    // The version first, so a newer format says so instead of a field error.
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    let version: Version = serde_json::from_slice(&text)
        .map_err(|error| summary_error(&path, format!("not a summary manifest: {error}")))?;
    if version.format_version != FORMAT_VERSION {
        return Err(summary_error(
            &path,
            format!(
                "summary format {} is not this strata's ({FORMAT_VERSION}); summarize the events \
                 again with this version",
                version.format_version
            ),
        ));
    }
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|error| summary_error(&path, format!("damaged manifest: {error}")))?;
    let expected: Vec<String> = (0..manifest.parts)
        .map(|index| part_name(index, manifest.parts))
        .collect();
    let named: Vec<&String> = manifest.part_files.iter().map(|file| &file.name).collect();
    if manifest.parts == 0 || named.iter().copied().ne(expected.iter()) {
        return Err(summary_error(
            &path,
            format!(
                "damaged manifest: {} parts, but part files {named:?}",
                manifest.parts
            ),
        ));
    }
    Ok(manifest)
}

/// Reads part `index` of the folder `dir` described by `manifest`: checks
/// its size and checksum, then builds each user's history for `model`.
/// Users come back sorted by id.
pub fn read_part(
    dir: &Path,
    manifest: &Manifest,
    index: u32,
    model: &LifecycleModel,
) -> Result<Vec<(String, UserHistory)>, Error> {
    let Some(entry) = manifest.part_files.get(index as usize) else {
        return Err(summary_error(
            dir,
            format!("no part {index}: the summaries have {}", manifest.parts),
        ));
    };
    let path = dir.join(&entry.name);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => summary_error(
            &path,
            "is missing: every part of a summary folder must be present",
        ),
        _ => Error::Io {
            path: path.clone(),
            source,
        },
    })?;
    let checksum = format!("{:016x}", XxHash3_64::oneshot(&bytes));
    if bytes.len() as u64 != entry.bytes || checksum != entry.xxh3 {
        return Err(summary_error(
            &path,
            format!(
                "damaged: {} bytes with checksum {checksum}, the manifest says {} bytes with {}; \
                 summarize again",
                bytes.len(),
                entry.bytes,
                entry.xxh3
            ),
        ));
    }
    let users = columns::read_part(&path, bytes::Bytes::from(bytes), model)?;
    if users.len() as u64 != entry.users {
        return Err(summary_error(
            &path,
            format!(
                "holds {} users, the manifest says {}",
                users.len(),
                entry.users
            ),
        ));
    }
    Ok(users)
}

/// Runs `work` over `jobs` on up to as many threads as there are cores,
/// keeping the jobs' order in the result; the first error wins.
pub fn on_threads<J: Send, T: Send>(
    jobs: Vec<J>,
    work: impl Fn(J) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(jobs.len().max(1));
    let total = jobs.len();
    let mut queues: Vec<Vec<(usize, J)>> = (0..threads).map(|_| Vec::new()).collect();
    for (position, job) in jobs.into_iter().enumerate() {
        queues[position % threads].push((position, job));
    }
    let work = &work;
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = queues
            .into_iter()
            .map(|queue| {
                scope.spawn(move || {
                    queue
                        .into_iter()
                        .map(|(position, job)| work(job).map(|result| (position, result)))
                        .collect::<Result<Vec<_>, Error>>()
                })
            })
            .collect();
        let mut done = Vec::with_capacity(total);
        for handle in handles {
            match handle.join() {
                Ok(results) => done.extend(results?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok::<_, Error>(done)
    })?;
    done.sort_unstable_by_key(|(position, _)| *position);
    Ok(done.into_iter().map(|(_, result)| result).collect())
}

#[cfg(test)]
mod tests;
