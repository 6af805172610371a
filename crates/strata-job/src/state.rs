//! The recompute job's memory between runs: per user, a fingerprint of the
//! record it last pushed and the layer it was in, so the next run pushes only
//! what changed and can name every layer transition.
//!
//! Stored as JSON Lines (a header line, then one line per user) and replaced
//! atomically: written to a temporary file, synced, renamed, and the folder
//! synced, so a crash leaves either the old state or the new one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} line {line}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateHeader {
    pub format: u32,
    pub producer_id: String,
    pub preset: String,
    pub model_version: String,
    /// Unix milliseconds of the run's as-of time.
    pub as_of: i64,
    /// What the records were delivered to, once the service (or the update
    /// log) acknowledged them; absent for a snapshot or a state from before
    /// marks. The next push compares it with the server's GetIngestState
    /// and sends every record when they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerMark>,
}

/// Which store (and serving version) a push went to, and the producer's
/// sequence there after it: enough to tell that the store still holds what
/// the job sent, or that it was emptied, restored, reloaded or rolled back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMark {
    /// The store's id (GetIngestState), or for the update log the stream's
    /// name and creation time.
    pub store: String,
    /// The serving model version and its generation (empty and 0 for the
    /// update log, whose replicas each have their own).
    pub model_version: String,
    pub generation: u64,
    /// The producer's last applied (or published) sequence.
    pub sequence: u64,
}

impl ServerMark {
    /// Why `self` (what the server says now) does not vouch for what
    /// `recorded` says was delivered; `None` when it does.
    pub fn differs_from(&self, recorded: &ServerMark, producer_id: &str) -> Option<String> {
        if self.store != recorded.store {
            return Some(format!(
                "the server's store is {}, not {} that the state file recorded \
                 (an emptied data folder, a restored backup or another server)",
                self.store, recorded.store
            ));
        }
        // The generation is the version's identity (never reused in a
        // store); its name is metadata, which a new store takes from the
        // first push (`Store::apply_named`), so a name alone is no change.
        if self.generation != recorded.generation {
            return Some(format!(
                "the serving version is {} (generation {}), not {} (generation {}) that the state \
                 file recorded (a reload or rollback since)",
                self.model_version, self.generation, recorded.model_version, recorded.generation
            ));
        }
        if self.sequence != recorded.sequence {
            return Some(format!(
                "producer {producer_id:?} is at sequence {} on the server, the state file recorded {}",
                self.sequence, recorded.sequence
            ));
        }
        None
    }
}

/// What the job last pushed for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// XXH3-64 of the pushed profile without its computed-at time.
    #[serde(rename = "f")]
    pub fingerprint: u64,
    /// Layer name, with the churn label in parentheses for the churned state.
    #[serde(rename = "l")]
    pub layer: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct UserLine {
    #[serde(rename = "u")]
    user_id: String,
    #[serde(flatten)]
    entry: UserEntry,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobState {
    pub header: StateHeader,
    pub users: HashMap<String, UserEntry>,
}

impl JobState {
    /// Loads the state, or an empty one if the file does not exist yet.
    pub fn load(path: &Path) -> Result<JobState, StateError> {
        let io = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(JobState::default());
            }
            Err(error) => return Err(io(error)),
        };
        let invalid = |line: usize, reason: String| StateError::Invalid {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut lines = BufReader::new(file).lines();
        let header_line = lines
            .next()
            .ok_or_else(|| invalid(1, "empty file".into()))?
            .map_err(io)?;
        let header: StateHeader =
            serde_json::from_str(&header_line).map_err(|error| invalid(1, error.to_string()))?;
        if header.format != FORMAT {
            return Err(invalid(
                1,
                format!("format {} is not the supported {FORMAT}", header.format),
            ));
        }
        let mut users = HashMap::new();
        for (index, line) in lines.enumerate() {
            let line = line.map_err(io)?;
            let user: UserLine = serde_json::from_str(&line)
                .map_err(|error| invalid(index + 2, error.to_string()))?;
            users.insert(user.user_id, user.entry);
        }
        Ok(JobState { header, users })
    }

    /// Replaces the file at `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        write_atomically(path, |out| {
            let mut header = self.header.clone();
            header.format = FORMAT;
            serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            // Sorted, so the file is the same for the same state.
            let mut user_ids: Vec<&String> = self.users.keys().collect();
            user_ids.sort_unstable();
            for user_id in user_ids {
                let line = UserLine {
                    user_id: user_id.clone(),
                    entry: self.users[user_id].clone(),
                };
                serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        })
        .map_err(|source| StateError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Writes through `fill` into a temporary sibling, syncs it, renames it over
/// `path` and syncs the folder, so readers see the old file or the new one.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut out = BufWriter::new(File::create(&temporary)?);
    fill(&mut out)?;
    let file = out.into_inner().map_err(|error| error.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_an_empty_state_and_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        assert_eq!(JobState::load(&path).unwrap(), JobState::default());

        let mut state = JobState {
            header: StateHeader {
                format: FORMAT,
                producer_id: "recompute".into(),
                preset: "retail".into(),
                model_version: "retail-1".into(),
                as_of: 1_700_000_000_000,
                server: Some(ServerMark {
                    store: "0123456789abcdef0123456789abcdef".into(),
                    model_version: "initial".into(),
                    generation: 0,
                    sequence: 7,
                }),
            },
            users: HashMap::new(),
        };
        for (user_id, fingerprint, layer) in [("b", 2, "new"), ("a", u64::MAX, "growth (churned)")]
        {
            state.users.insert(
                user_id.into(),
                UserEntry {
                    fingerprint,
                    layer: layer.into(),
                },
            );
        }
        state.save(&path).unwrap();
        assert_eq!(JobState::load(&path).unwrap(), state);
        assert!(!path.with_extension("tmp").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().nth(1).unwrap().starts_with(r#"{"u":"a""#),
            "{text}"
        );
    }

    #[test]
    fn a_mark_differs_by_store_version_or_sequence() {
        let recorded = ServerMark {
            store: "s1".into(),
            model_version: "initial".into(),
            generation: 0,
            sequence: 4,
        };
        assert_eq!(recorded.differs_from(&recorded, "p"), None);
        // A new store's version takes its name from the first push: the same
        // version (generation), so nothing to send again.
        let named = ServerMark {
            model_version: "retail-1".into(),
            ..recorded.clone()
        };
        assert_eq!(named.differs_from(&recorded, "p"), None);
        let check = |now: ServerMark, expected: &str| {
            let reason = now.differs_from(&recorded, "p").expect("differs");
            assert!(reason.contains(expected), "{reason}");
        };
        check(
            ServerMark {
                store: "s2".into(),
                ..recorded.clone()
            },
            "store is s2",
        );
        check(
            ServerMark {
                generation: 3,
                ..recorded.clone()
            },
            "generation 3",
        );
        check(
            ServerMark {
                sequence: 2,
                ..recorded.clone()
            },
            "at sequence 2",
        );
    }

    #[test]
    fn a_state_without_a_mark_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        std::fs::write(
            &path,
            "{\"format\":1,\"producer_id\":\"p\",\"preset\":\"retail\",\"model_version\":\"m\",\"as_of\":0}\n",
        )
        .unwrap();
        assert_eq!(JobState::load(&path).unwrap().header.server, None);
    }

    #[test]
    fn a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.jsonl");
        std::fs::write(
            &path,
            "{\"format\":1,\"producer_id\":\"p\",\"preset\":\"retail\",\"model_version\":\"m\",\"as_of\":0}\n{\"u\":\"a\"\n",
        )
        .unwrap();
        let error = JobState::load(&path).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
    }
}
