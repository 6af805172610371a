//! The recompute job's memory between runs: per user, a fingerprint of the
//! record it last pushed and the layer it was in, so the next run pushes only
//! what changed and can name every layer transition.
//!
//! Stored as JSON Lines (a header line, then one line per user) and replaced
//! atomically: written to a temporary file, synced, renamed, and the folder
//! synced, so a crash leaves either the old state or the new one.

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

/// A [`UserLine`] to write, borrowing the state's entry.
#[derive(Serialize)]
struct UserLineRef<'a> {
    #[serde(rename = "u")]
    user_id: &'a str,
    #[serde(flatten)]
    entry: &'a UserEntry,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobState {
    pub header: StateHeader,
    pub users: Users,
}

/// A state's users in id order, each once: a lookup is a binary search (or
/// a short step forward from the last one, [`Users::get_after`]), and a run's
/// users, which come in id order, are appended. Half the memory of a hash
/// map of the same entries and no hashing; the file is written in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    entries: Vec<(String, UserEntry)>,
}

impl Users {
    pub fn with_capacity(users: usize) -> Users {
        Users {
            entries: Vec::with_capacity(users),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, user_id: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(known, _)| known.as_str().cmp(user_id))
    }

    pub fn get(&self, user_id: &str) -> Option<&UserEntry> {
        self.position(user_id)
            .ok()
            .map(|index| &self.entries[index].1)
    }

    /// [`Users::get`] for lookups in ascending id order: `cursor` (0 at
    /// first) is where the last lookup stopped, and the next user is
    /// usually at it or a few entries on. Any order still finds the entry.
    pub fn get_after(&self, cursor: &mut usize, user_id: &str) -> Option<&UserEntry> {
        let start = (*cursor).min(self.entries.len());
        if start > 0 && self.entries[start - 1].0.as_str() >= user_id {
            // Not after the last lookup: search the whole list.
            return self.get(user_id);
        }
        let rest = &self.entries[start..];
        let near = rest
            .iter()
            .take(8)
            .position(|(known, _)| known.as_str() >= user_id);
        let offset =
            near.unwrap_or_else(|| rest.partition_point(|(known, _)| known.as_str() < user_id));
        *cursor = start + offset;
        match rest.get(offset) {
            Some((known, entry)) if known == user_id => {
                *cursor += 1;
                Some(entry)
            }
            _ => None,
        }
    }

    /// Sets the user's entry, returning the one it replaces; appending in
    /// id order costs no search.
    pub fn insert(&mut self, user_id: String, entry: UserEntry) -> Option<UserEntry> {
        if self
            .entries
            .last()
            .is_none_or(|(last, _)| last.as_str() < user_id.as_str())
        {
            self.entries.push((user_id, entry));
            return None;
        }
        match self.position(&user_id) {
            Ok(index) => Some(std::mem::replace(&mut self.entries[index].1, entry)),
            Err(index) => {
                self.entries.insert(index, (user_id, entry));
                None
            }
        }
    }

    /// Adds users that are not in the state yet, in any order, in one
    /// merge (an [`Users::insert`] each would move the entries after it).
    /// A user already there takes the added entry.
    pub fn extend(&mut self, users: impl IntoIterator<Item = (String, UserEntry)>) {
        let before = self.entries.len();
        self.entries.extend(users);
        if self.entries[before..].is_sorted_by(|(left, _), (right, _)| left < right)
            && (before == 0
                || self.entries.len() == before
                || self.entries[before - 1].0 < self.entries[before].0)
        {
            return;
        }
        self.settle();
    }

    /// Sorts the entries by id (stable: of one id's entries, the last
    /// added is kept, as a map's insert would).
    fn settle(&mut self) {
        self.entries
            .sort_by(|(left, _), (right, _)| left.cmp(right));
        self.entries.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &UserEntry) -> bool) {
        self.entries
            .retain(|(user_id, entry)| keep(user_id.as_str(), entry));
    }

    /// Every user in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &UserEntry)> {
        self.entries
            .iter()
            .map(|(user_id, entry)| (user_id.as_str(), entry))
    }

    /// Every user id in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(user_id, _)| user_id.as_str())
    }
}

impl std::ops::Index<&str> for Users {
    type Output = UserEntry;

    fn index(&self, user_id: &str) -> &UserEntry {
        self.get(user_id).expect("the user is in the state")
    }
}

impl FromIterator<(String, UserEntry)> for Users {
    fn from_iter<I: IntoIterator<Item = (String, UserEntry)>>(users: I) -> Users {
        let mut all = Users::default();
        all.extend(users);
        all
    }
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
        // Written in id order, so read in one pass; a file in another order
        // (or naming a user twice: the last line counts) is sorted once.
        let mut entries = Vec::new();
        for (index, line) in lines.enumerate() {
            let line = line.map_err(io)?;
            let user: UserLine = serde_json::from_str(&line)
                .map_err(|error| invalid(index + 2, error.to_string()))?;
            entries.push((user.user_id, user.entry));
        }
        let users = Users::from_iter(entries);
        Ok(JobState { header, users })
    }

    /// Replaces the file at `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        write_atomically(path, |out| {
            let mut header = self.header.clone();
            header.format = FORMAT;
            serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            // In id order, so the file is the same for the same state.
            for (user_id, entry) in self.users.iter() {
                let line = UserLineRef { user_id, entry };
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
            users: Users::default(),
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
    fn users_keep_id_order_and_the_last_entry_of_an_id_like_a_map() {
        let entry = |fingerprint: u64| UserEntry {
            fingerprint,
            layer: format!("layer {fingerprint}"),
        };
        // Out of order and with a user twice, as a hand-made file could be.
        let added = [("c", 1), ("a", 2), ("b", 3), ("a", 4), ("d", 5)];
        let mut map = std::collections::HashMap::new();
        for (user_id, fingerprint) in added {
            map.insert(user_id.to_owned(), entry(fingerprint));
        }
        let users: Users = added
            .iter()
            .map(|(user_id, fingerprint)| ((*user_id).to_owned(), entry(*fingerprint)))
            .collect();
        let mut expected: Vec<(&str, &UserEntry)> = map
            .iter()
            .map(|(user_id, entry)| (user_id.as_str(), entry))
            .collect();
        expected.sort_unstable_by_key(|(user_id, _)| *user_id);
        assert_eq!(users.iter().collect::<Vec<_>>(), expected);
        assert_eq!(users.len(), 4);
        for (user_id, entry) in &map {
            assert_eq!(users.get(user_id), Some(entry));
            assert_eq!(&users[user_id.as_str()], entry);
        }
        assert_eq!(users.get("e"), None);

        // Lookups in id order from a cursor, with misses between, then out
        // of order: the same answers as the map's.
        let mut cursor = 0;
        for user_id in ["0", "a", "aa", "b", "c", "cc", "d", "e", "b", "a", "d"] {
            assert_eq!(
                users.get_after(&mut cursor, user_id),
                map.get(user_id),
                "{user_id}"
            );
        }

        // Inserting in order appends; out of order finds its place; an id
        // already there takes the new entry.
        let mut inserted = Users::with_capacity(3);
        for (user_id, fingerprint) in added {
            inserted.insert(user_id.to_owned(), entry(fingerprint));
        }
        assert_eq!(inserted, users);
        let mut merged: Users = [("b", 3), ("d", 5)]
            .iter()
            .map(|(user_id, fingerprint)| ((*user_id).to_owned(), entry(*fingerprint)))
            .collect();
        merged.extend([("c".to_owned(), entry(1)), ("a".to_owned(), entry(4))]);
        assert_eq!(merged, users);
        merged.retain(|user_id, _| user_id != "c");
        assert_eq!(merged.keys().collect::<Vec<_>>(), ["a", "b", "d"]);
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
