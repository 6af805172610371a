//! The transition log: every layer change a batch made, in the
//! `transitions` column family keyed by a big-endian u64 cursor, written in
//! the batch's own `WriteBatch`, so a consumer resumes from its last cursor
//! after a disconnect or a restart and sees each change exactly once.
//!
//! Cursors start at 1 and grow by one per transition, without gaps; a gap
//! in what a reader gets therefore means retention removed entries. The log
//! keeps the newest `transitions_retained` entries: once full, each batch
//! deletes as many of the oldest as it adds, in its own `WriteBatch` (point
//! deletes: RocksDB refuses range deletes with the row cache on).
//!
//! A reload writes none: a new model is not a user moving.

use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{IteratorMode, WriteBatch};

use crate::{Store, StoreError};

pub(crate) const TRANSITIONS_CF: &str = "transitions";

/// One user's layer change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub cursor: u64,
    pub user_id: Vec<u8>,
    /// Empty for a user new to the version.
    pub from_layer: String,
    /// Empty for a deleted user.
    pub to_layer: String,
    /// The version the batch was applied to.
    pub model_version: String,
    /// When the batch was applied, Unix milliseconds.
    pub at_millis: i64,
}

/// What a read from a cursor found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionRead {
    /// The transitions after the cursor, oldest first (possibly none yet).
    Page(Vec<Transition>),
    /// Transitions after the cursor were removed by retention; `oldest` is
    /// the oldest still kept.
    Expired { oldest: u64 },
    /// The cursor is beyond the newest transition (e.g. a store restored
    /// from an older backup).
    Ahead { newest: u64 },
}

/// Cursor bounds, kept in memory; changed only under the ingest lock and
/// only after the write that changes them is durable.
#[derive(Debug)]
pub(crate) struct TransitionLog {
    /// The next cursor to hand out.
    next: AtomicU64,
    /// The oldest retained cursor (== `next` when the log is empty).
    oldest: AtomicU64,
    retained: u64,
}

impl TransitionLog {
    pub(crate) fn new(retained: u64) -> TransitionLog {
        TransitionLog {
            next: AtomicU64::new(1),
            oldest: AtomicU64::new(1),
            retained: retained.max(1),
        }
    }

    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// The range of cursors to delete when `added` entries are appended,
    /// if the log would then hold more than it retains.
    pub(crate) fn trim(&self, added: u64) -> Option<std::ops::Range<u64>> {
        let next = self.next() + added;
        let oldest = self.oldest.load(Ordering::Acquire);
        (next - oldest > self.retained).then(|| oldest..next - self.retained)
    }

    /// After a durable write: `added` entries appended, trimmed to `oldest`.
    pub(crate) fn committed(&self, added: u64, oldest: Option<u64>) {
        if let Some(oldest) = oldest {
            self.oldest.store(oldest, Ordering::Release);
        }
        self.next.fetch_add(added, Ordering::AcqRel);
    }
}

pub(crate) fn encode(transition: &Transition) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        8 + 16
            + transition.user_id.len()
            + transition.from_layer.len()
            + transition.to_layer.len()
            + transition.model_version.len(),
    );
    out.extend_from_slice(&transition.at_millis.to_be_bytes());
    for field in [
        transition.user_id.as_slice(),
        transition.from_layer.as_bytes(),
        transition.to_layer.as_bytes(),
        transition.model_version.as_bytes(),
    ] {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

fn decode(cursor: u64, bytes: &[u8]) -> Result<Transition, StoreError> {
    let corrupt = || StoreError::Corrupt {
        what: format!("transition {cursor} is unreadable"),
    };
    let (at, mut rest) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let mut fields = Vec::with_capacity(4);
    for _ in 0..4 {
        let (length, tail) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let length = u32::from_be_bytes(*length) as usize;
        if tail.len() < length {
            return Err(corrupt());
        }
        let (field, tail) = tail.split_at(length);
        fields.push(field);
        rest = tail;
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Ok(Transition {
        cursor,
        user_id: fields[0].to_vec(),
        from_layer: text(fields[1]),
        to_layer: text(fields[2]),
        model_version: text(fields[3]),
        at_millis: i64::from_be_bytes(*at),
    })
}

fn cursor_of(key: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        what: format!("transition key has {} bytes, expected 8", key.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}

impl Store {
    /// Reads the log's bounds at open.
    pub(crate) fn recover_transitions(&self) -> Result<(), StoreError> {
        let family = self.transitions_cf();
        let mut first = self.db.iterator_cf(&family, IteratorMode::Start);
        let oldest = match first.next() {
            Some(entry) => Some(cursor_of(&entry.map_err(StoreError::Read)?.0)?),
            None => None,
        };
        let mut last = self.db.iterator_cf(&family, IteratorMode::End);
        let newest = match last.next() {
            Some(entry) => Some(cursor_of(&entry.map_err(StoreError::Read)?.0)?),
            None => None,
        };
        if let (Some(oldest), Some(newest)) = (oldest, newest) {
            self.transition_log.oldest.store(oldest, Ordering::Release);
            self.transition_log
                .next
                .store(newest + 1, Ordering::Release);
        }
        Ok(())
    }

    /// Appends `transitions` (cursors assigned from the log's next) to
    /// `write`, and a trim if due. Returns (appended, new oldest).
    pub(crate) fn append_transitions(
        &self,
        write: &mut WriteBatch,
        transitions: &mut [Transition],
    ) -> (u64, Option<u64>) {
        if transitions.is_empty() {
            return (0, None);
        }
        let family = self.transitions_cf();
        for (cursor, transition) in (self.transition_log.next()..).zip(transitions.iter_mut()) {
            transition.cursor = cursor;
            write.put_cf(&family, cursor.to_be_bytes(), encode(transition));
        }
        let added = transitions.len() as u64;
        let trim = self.transition_log.trim(added);
        if let Some(expired) = &trim {
            for cursor in expired.clone() {
                write.delete_cf(&family, cursor.to_be_bytes());
            }
        }
        (added, trim.map(|expired| expired.end))
    }

    /// The newest transition's cursor; 0 when none was ever written.
    pub fn newest_transition(&self) -> u64 {
        self.transition_log.next() - 1
    }

    /// The oldest retained transition's cursor (newest + 1 when none is
    /// retained).
    pub fn oldest_transition(&self) -> u64 {
        self.transition_log.oldest.load(Ordering::Acquire)
    }

    /// Up to `limit` transitions after cursor `after`, oldest first.
    pub fn read_transitions(&self, after: u64, limit: usize) -> Result<TransitionRead, StoreError> {
        // Read before the scan: entries up to here exist unless trimmed.
        let newest = self.newest_transition();
        if after > newest {
            return Ok(TransitionRead::Ahead { newest });
        }
        let family = self.transitions_cf();
        let start = (after + 1).to_be_bytes();
        let mut page = Vec::new();
        for entry in self.db.iterator_cf(
            &family,
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            if page.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(StoreError::Read)?;
            page.push(decode(cursor_of(&key)?, &value)?);
        }
        let lost = match page.first() {
            Some(first) => first.cursor != after + 1,
            None => after < newest,
        };
        if lost {
            return Ok(TransitionRead::Expired {
                oldest: self.oldest_transition(),
            });
        }
        Ok(TransitionRead::Page(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let transition = Transition {
            cursor: 9,
            user_id: b"u-1".to_vec(),
            from_layer: String::new(),
            to_layer: "growth (lapsed buyer)".into(),
            model_version: "v2".into(),
            at_millis: 1_700_000_000_123,
        };
        assert_eq!(decode(9, &encode(&transition)).unwrap(), transition);
        assert!(decode(9, &encode(&transition)[..20]).is_err());
    }

    #[test]
    fn trims_what_exceeds_retention() {
        let log = TransitionLog::new(16);
        assert_eq!(log.trim(16), None);
        assert_eq!(log.trim(19), Some(1..4));
        log.committed(19, Some(4));
        assert_eq!(log.next(), 20);
        assert_eq!(log.trim(1), Some(4..5));
    }
}
