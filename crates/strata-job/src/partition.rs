//! Partitioned recompute (`--partition i/N`): which users one of N workers
//! owns, and the per-partition names of what a run leaves behind (state, push
//! plan, snapshot, transitions, producer id) so that workers never share a
//! file or a sequence.
//!
//! A user belongs to partition `XXH3-64(user id bytes) mod N`: the same on
//! every machine, in every run and whatever the order of the input.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use twox_hash::XxHash3_64;

use crate::options::{Delivery, RecomputeOptions};

/// Partitions beyond this are a typo, not a cluster.
pub const MAX_PARTITIONS: u32 = 10_000;

/// One share of the users: partition `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    index: u32,
    count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("partition {0:?} is not i/N (e.g. 0/4: the first of four)")]
    Syntax(String),
    #[error("partition count must be between 1 and {MAX_PARTITIONS}, got {0}")]
    Count(u32),
    #[error("partition index {index} is out of range for {count} partitions (0 to {last})", last = count - 1)]
    Index { index: u32, count: u32 },
}

impl Partition {
    pub fn new(index: u32, count: u32) -> Result<Partition, PartitionError> {
        if count == 0 || count > MAX_PARTITIONS {
            return Err(PartitionError::Count(count));
        }
        if index >= count {
            return Err(PartitionError::Index { index, count });
        }
        Ok(Partition { index, count })
    }

    /// Everyone: the unpartitioned job.
    pub const fn whole() -> Partition {
        Partition { index: 0, count: 1 }
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether this partition computes and delivers `user_id`.
    pub fn owns(&self, user_id: &str) -> bool {
        self.is_whole() || partition_of(user_id, self.count) == self.index
    }

    /// `p1of4`: the tag added to the producer id and file names.
    pub fn tag(&self) -> String {
        format!("p{}of{}", self.index, self.count)
    }

    /// The producer id of this partition: each partition numbers its own
    /// batches, so two workers never race for one producer's sequence.
    pub fn producer_id(&self, base: &str) -> String {
        format!("{base}-{}", self.tag())
    }

    /// `state.jsonl` -> `state.p1of4.jsonl`: the tag before the extension,
    /// so every partition keeps its own state and push plan beside it.
    pub fn file(&self, path: &Path) -> PathBuf {
        let tag = self.tag();
        let name = match (path.file_stem(), path.extension()) {
            (Some(stem), Some(extension)) => format!(
                "{}.{tag}.{}",
                stem.to_string_lossy(),
                extension.to_string_lossy()
            ),
            (Some(stem), None) => format!("{}.{tag}", stem.to_string_lossy()),
            _ => tag,
        };
        path.with_file_name(name)
    }

    /// A run's options as this partition runs them: its own state file (and
    /// so push plan), producer id, snapshot and transitions files. The whole
    /// population keeps the names given.
    pub fn localise(&self, mut options: RecomputeOptions) -> RecomputeOptions {
        if self.is_whole() {
            return options;
        }
        options.state_file = self.file(&options.state_file);
        match &mut options.delivery {
            Delivery::Push { producer_id, .. } => *producer_id = self.producer_id(producer_id),
            Delivery::Snapshot { path } => *path = self.file(path),
            Delivery::DryRun => {}
        }
        if let Some(path) = &mut options.transitions_file {
            *path = self.file(path);
        }
        options
    }
}

/// The partition (0-based, below `count`) that owns `user_id`.
pub fn partition_of(user_id: &str, count: u32) -> u32 {
    debug_assert!(count > 0, "a partition count is at least 1");
    (XxHash3_64::oneshot(user_id.as_bytes()) % u64::from(count.max(1))) as u32
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(text: &str) -> Result<Partition, PartitionError> {
        let syntax = || PartitionError::Syntax(text.to_owned());
        let (index, count) = text.split_once('/').ok_or_else(syntax)?;
        let index: u32 = index.trim().parse().map_err(|_| syntax())?;
        let count: u32 = count.trim().parse().map_err(|_| syntax())?;
        Partition::new(index, count)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_with_the_reason() {
        assert_eq!("2/3".parse(), Partition::new(2, 3));
        assert_eq!(" 0 / 1 ".parse(), Ok(Partition::whole()));
        assert_eq!(
            "3/3".parse::<Partition>(),
            Err(PartitionError::Index { index: 3, count: 3 })
        );
        assert_eq!("0/0".parse::<Partition>(), Err(PartitionError::Count(0)));
        for bad in ["", "1", "1/", "/3", "-1/3", "a/b", "1/3/5", "1.5/3"] {
            assert_eq!(
                bad.parse::<Partition>(),
                Err(PartitionError::Syntax(bad.to_owned())),
                "{bad:?}"
            );
        }
        let message = "3/3".parse::<Partition>().unwrap_err().to_string();
        assert_eq!(
            message,
            "partition index 3 is out of range for 3 partitions (0 to 2)"
        );
    }

    /// The assignment is part of the deployment contract (a user's owner must
    /// not move between releases), so the values are pinned; they are plain
    /// XXH3-64 (seed 0), as Python's `xxhash.xxh3_64_intdigest` gives them, so
    /// tools outside strata can pre-split event logs the same way.
    #[test]
    fn assignment_is_stable() {
        let pinned: Vec<u32> = ["u00000000", "u00000001", "u00000002", "alice", ""]
            .iter()
            .map(|id| partition_of(id, 1000))
            .collect();
        assert_eq!(pinned, PINNED);
        assert_eq!(partition_of("anyone", 1), 0);
    }

    const PINNED: [u32; 5] = [691, 948, 605, 80, 138];

    #[test]
    fn partitions_are_roughly_balanced_and_cover_everyone() {
        let users: Vec<String> = (0..60_000).map(|index| format!("u{index:08}")).collect();
        for count in [2u32, 3, 7, 16] {
            let mut sizes = vec![0usize; count as usize];
            for user in &users {
                let owners: Vec<u32> = (0..count)
                    .filter(|&index| Partition::new(index, count).unwrap().owns(user))
                    .collect();
                assert_eq!(owners.len(), 1, "{user} has one owner of {count}");
                sizes[owners[0] as usize] += 1;
            }
            let expected = users.len() as f64 / f64::from(count);
            for (index, &size) in sizes.iter().enumerate() {
                let deviation = (size as f64 - expected).abs() / expected;
                assert!(
                    deviation < 0.05,
                    "partition {index}/{count} holds {size}, expected about {expected}"
                );
            }
        }
    }

    #[test]
    fn names_files_and_producers_per_partition() {
        let partition = Partition::new(1, 4).unwrap();
        assert_eq!(partition.to_string(), "1/4");
        assert_eq!(
            partition.producer_id("recompute-retail"),
            "recompute-retail-p1of4"
        );
        assert_eq!(
            partition.file(Path::new("/var/lib/strata/recompute.state.jsonl")),
            Path::new("/var/lib/strata/recompute.state.p1of4.jsonl")
        );
        assert_eq!(
            partition.file(Path::new("out/profiles")),
            Path::new("out/profiles.p1of4")
        );
    }
}
