//! The job's error: everything a run can fail on, each with the file or
//! step it concerns.

use std::path::PathBuf;

use strata_snapshot::SnapshotError;

use crate::push::PushError;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum RecomputeError {
    #[error(transparent)]
    Input(#[from] strata_events::Error),
    #[error(transparent)]
    Model(#[from] strata_core::Error),
    /// The run's amounts cannot be put in one currency, or the catalogue is
    /// in another one.
    #[error(transparent)]
    Currency(#[from] crate::config::ModelsConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Push(#[from] PushError),
    /// A model file that cannot be read, written or applied to this run.
    #[error(transparent)]
    ModelFile(#[from] crate::model_file::ModelFileError),
    #[error("transitions file {path}: {source}")]
    Transitions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--delete-missing would erase {erase} of the {delivered} users delivered before ({percent:.1}%; \
         this input has {users} users), refused because {reasons}. Nothing was sent and the state \
         file is unchanged: check the input, or rerun with --force to erase them"
    )]
    DeleteRefused {
        erase: u64,
        delivered: u64,
        percent: f64,
        users: u64,
        reasons: String,
    },
    #[error(
        "no user has an event up to the as-of time ({events} events read, {after_as_of} after it): \
         a snapshot of nobody would replace every served profile when loaded, so none was written; \
         check the input and --as-of"
    )]
    EmptySnapshot { events: u64, after_as_of: u64 },
    #[error(
        "no user has an event up to the as-of time ({events} events read, {after_as_of} after it): \
         a model fitted on nobody would be applied to everyone, so no model file was written; \
         check the input and --as-of"
    )]
    EmptyFit { events: u64, after_as_of: u64 },
    /// Summaries that do not fit this run (model, as-of, currency, parts),
    /// or an incremental day that would not give what a full run gives.
    #[error("{}: {reason}", dir.display())]
    Summaries { dir: PathBuf, reason: String },
    #[error("a recompute task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
