//! Snapshot files: a full set of profiles for a bulk load, as written by
//! `strata recompute --snapshot` (format in `proto/strata/v1/snapshot.proto`).
//!
//! Its own crate, beside the contract and without the server or RocksDB, so
//! the reader (which takes files from outside) can be fuzzed on its own
//! (`fuzz/`).
//!
//! Written to a temporary file and renamed into place, so a reader never sees
//! a half-written snapshot; the trailer's count and checksum catch a
//! truncated or altered one.

use std::fs::File;
use std::hash::Hasher;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use twox_hash::XxHash3_64;

use strata_proto::v1::{Profile, SnapshotHeader, SnapshotTrailer};

pub const MAGIC: &[u8; 8] = b"STRATAS1";

/// Largest record accepted when reading, so a corrupt length cannot make the
/// reader allocate without bound.
const MAX_RECORD_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Writes profiles in ascending user id order.
pub struct SnapshotWriter {
    path: PathBuf,
    temporary: PathBuf,
    out: BufWriter<File>,
    hasher: XxHash3_64,
    profiles: u64,
    last_user_id: Option<String>,
    buffer: Vec<u8>,
}

impl SnapshotWriter {
    pub fn create(path: &Path, header: &SnapshotHeader) -> Result<SnapshotWriter, SnapshotError> {
        let temporary = path.with_extension("partial");
        let io = |source| SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut out = BufWriter::new(File::create(&temporary).map_err(io)?);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&header.encode_length_delimited_to_vec())
            .map_err(io)?;
        Ok(SnapshotWriter {
            path: path.to_path_buf(),
            temporary,
            out,
            hasher: XxHash3_64::default(),
            profiles: 0,
            last_user_id: None,
            buffer: Vec::new(),
        })
    }

    pub fn write(&mut self, profile: &Profile) -> Result<(), SnapshotError> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        profile.encode(&mut buffer).expect("a Vec grows as needed");
        let written = self.write_encoded(&profile.user_id, &buffer);
        self.buffer = buffer;
        written
    }

    /// [`SnapshotWriter::write`] of a profile already encoded
    /// (`Profile::encode`): for a caller that encodes on other threads.
    pub fn write_encoded(&mut self, user_id: &str, encoded: &[u8]) -> Result<(), SnapshotError> {
        if let Some(last) = &self.last_user_id
            && user_id <= last.as_str()
        {
            return Err(SnapshotError::Invalid {
                path: self.path.clone(),
                reason: format!(
                    "profiles must be written in ascending user id order: {user_id:?} after {last:?}"
                ),
            });
        }
        self.hasher.write(encoded);
        let io = |source| SnapshotError::Io {
            path: self.path.clone(),
            source,
        };
        // No allocation per profile: the length on the stack, the last id
        // copied into the same string.
        let mut length = [0u8; 10];
        let mut unused = &mut length[..];
        prost::encoding::encode_varint(encoded.len() as u64, &mut unused);
        let used = 10 - unused.len();
        self.out.write_all(&length[..used]).map_err(io)?;
        self.out.write_all(encoded).map_err(io)?;
        self.profiles += 1;
        match &mut self.last_user_id {
            Some(last) => user_id.clone_into(last),
            None => self.last_user_id = Some(user_id.to_owned()),
        }
        Ok(())
    }

    /// Writes the trailer, syncs, and moves the file into place.
    pub fn finish(mut self) -> Result<SnapshotTrailer, SnapshotError> {
        let trailer = SnapshotTrailer {
            profiles: self.profiles,
            checksum: self.hasher.finish(),
        };
        let io = |source| SnapshotError::Io {
            path: self.path.clone(),
            source,
        };
        self.out
            .write_all(&trailer.encode_length_delimited_to_vec())
            .map_err(io)?;
        let file = self
            .out
            .into_inner()
            .map_err(|error| io(error.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&self.temporary, &self.path).map_err(io)?;
        Ok(trailer)
    }
}

/// Reads a snapshot file back, checking order, count and checksum.
///
/// `visit` sees each profile as it is read, before the trailer is checked:
/// a caller must treat what it saw as provisional until this returns `Ok`.
pub fn read_snapshot(
    path: &Path,
    visit: impl FnMut(Profile),
) -> Result<(SnapshotHeader, SnapshotTrailer), SnapshotError> {
    let file = File::open(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_snapshot_from(BufReader::new(file), path, visit)
}

/// The header alone (the model card a push sends with its last batch),
/// without reading the profiles.
pub fn read_header(path: &Path) -> Result<SnapshotHeader, SnapshotError> {
    let invalid = |reason: String| SnapshotError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let io = |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut input = BufReader::new(File::open(path).map_err(io)?);
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(io)?;
    if &magic != MAGIC {
        return Err(invalid("not a strata snapshot (bad magic)".into()));
    }
    let header_bytes = read_record(&mut input)
        .map_err(io)?
        .ok_or_else(|| invalid("missing header".into()))?;
    SnapshotHeader::decode(header_bytes.as_slice())
        .map_err(|error| invalid(format!("header: {error}")))
}

/// [`read_snapshot`] over any reader; `path` only names it in errors.
pub fn read_snapshot_from(
    mut input: impl Read,
    path: &Path,
    mut visit: impl FnMut(Profile),
) -> Result<(SnapshotHeader, SnapshotTrailer), SnapshotError> {
    let invalid = |reason: String| SnapshotError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let io = |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(io)?;
    if &magic != MAGIC {
        return Err(invalid("not a strata snapshot (bad magic)".into()));
    }
    // Header, profiles..., trailer: the trailer is the last record, so keep
    // one record of look-behind.
    let header_bytes = read_record(&mut input)
        .map_err(io)?
        .ok_or_else(|| invalid("missing header".into()))?;
    let header = SnapshotHeader::decode(header_bytes.as_slice())
        .map_err(|error| invalid(format!("header: {error}")))?;
    let mut hasher = XxHash3_64::default();
    let mut count = 0u64;
    let mut last_user_id: Option<String> = None;
    let mut pending: Option<Vec<u8>> = None;
    while let Some(record) = read_record(&mut input).map_err(io)? {
        if let Some(previous) = pending.replace(record) {
            hasher.write(&previous);
            let profile = Profile::decode(previous.as_slice())
                .map_err(|error| invalid(format!("profile {count}: {error}")))?;
            if last_user_id
                .as_deref()
                .is_some_and(|last| profile.user_id.as_str() <= last)
            {
                return Err(invalid(format!(
                    "profile {count} ({:?}) is out of order",
                    profile.user_id
                )));
            }
            last_user_id = Some(profile.user_id.clone());
            count += 1;
            visit(profile);
        }
    }
    let trailer_bytes = pending.ok_or_else(|| invalid("missing trailer".into()))?;
    let trailer = SnapshotTrailer::decode(trailer_bytes.as_slice())
        .map_err(|error| invalid(format!("trailer: {error}")))?;
    if trailer.profiles != count {
        return Err(invalid(format!(
            "trailer counts {} profiles, the file holds {count}",
            trailer.profiles
        )));
    }
    if trailer.checksum != hasher.finish() {
        return Err(invalid(
            "checksum mismatch: the file was altered or truncated".into(),
        ));
    }
    Ok((header, trailer))
}

/// One length-delimited record; `None` at a clean end of file.
fn read_record(input: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = 0u64;
    let mut shift = 0;
    loop {
        let mut byte = [0u8; 1];
        if input.read(&mut byte)? == 0 {
            if shift == 0 {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        length |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "record length varint too long",
            ));
        }
    }
    if length > MAX_RECORD_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("record of {length} bytes is over the {MAX_RECORD_BYTES}-byte limit"),
        ));
    }
    let mut record = vec![0u8; length as usize];
    input.read_exact(&mut record)?;
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(user_id: &str) -> Profile {
        Profile {
            user_id: user_id.into(),
            model_version: "m".into(),
            ..Profile::default()
        }
    }

    fn write(path: &Path, ids: &[&str]) -> SnapshotTrailer {
        let mut writer = SnapshotWriter::create(
            path,
            &SnapshotHeader {
                model_version: "m".into(),
                ..SnapshotHeader::default()
            },
        )
        .unwrap();
        for id in ids {
            writer.write(&profile(id)).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snapshot");
        let trailer = write(&path, &["a", "b", "c"]);
        assert_eq!(trailer.profiles, 3);
        let mut seen = Vec::new();
        let (header, read_trailer) = read_snapshot(&path, |p| seen.push(p.user_id)).unwrap();
        assert_eq!(header.model_version, "m");
        assert_eq!(read_trailer, trailer);
        assert_eq!(seen, ["a", "b", "c"]);
        assert!(!path.with_extension("partial").exists());
    }

    #[test]
    fn records_of_every_length_prefix_read_back_and_stay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snapshot");
        // Lengths written in 1, 2 and 3 bytes, then a shorter id after a
        // longer one.
        let ids = [
            "a".to_owned(),
            "b".repeat(200),
            "c".repeat(20_000),
            "d".to_owned(),
        ];
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let trailer = write(&path, &refs);
        assert_eq!(trailer.profiles, 4);
        let mut seen = Vec::new();
        let (_, read_trailer) = read_snapshot(&path, |p| seen.push(p.user_id)).unwrap();
        assert_eq!(read_trailer, trailer);
        assert_eq!(seen, ids);

        let mut writer =
            SnapshotWriter::create(&dir.path().join("t"), &SnapshotHeader::default()).unwrap();
        writer.write(&profile(&"c".repeat(300))).unwrap();
        writer.write(&profile("d")).unwrap();
        for earlier in ["c", "cz", "d"] {
            let error = writer.write(&profile(earlier)).unwrap_err();
            assert!(
                error.to_string().contains("ascending user id order"),
                "{earlier}: {error}"
            );
        }
    }

    #[test]
    fn order_is_enforced_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            SnapshotWriter::create(&dir.path().join("s"), &SnapshotHeader::default()).unwrap();
        writer.write(&profile("b")).unwrap();
        let error = writer.write(&profile("a")).unwrap_err();
        assert!(
            error.to_string().contains("ascending user id order"),
            "{error}"
        );
    }

    #[test]
    fn truncation_and_tampering_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snapshot");
        write(&path, &["a", "b", "c"]);
        let bytes = std::fs::read(&path).unwrap();

        let truncated = dir.path().join("truncated");
        std::fs::write(&truncated, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_snapshot(&truncated, |_| {}).is_err());

        // Flip one byte inside a profile's model version ("m" -> "n").
        let mut tampered_bytes = bytes.clone();
        let position = tampered_bytes
            .windows(2)
            .rposition(|window| window == b"\x01m")
            .unwrap();
        tampered_bytes[position + 1] = b'n';
        let tampered = dir.path().join("tampered");
        std::fs::write(&tampered, &tampered_bytes).unwrap();
        let error = read_snapshot(&tampered, |_| {}).unwrap_err();
        assert!(error.to_string().contains("checksum mismatch"), "{error}");
    }
}
