//! The one place where library errors become gRPC statuses.

use strata_store::StoreError;
use tonic::Status;

use crate::reload::ReloadError;

/// Trailer carrying the sequence a producer must send next after a gap.
pub const EXPECTED_SEQUENCE_TRAILER: &str = "strata-expected-sequence";

pub fn from_store(error: StoreError) -> Status {
    match error {
        StoreError::SequenceGap { expected, .. } => {
            let mut status = Status::failed_precondition(format!(
                "{error}; resend from sequence {expected} (see GetIngestState)"
            ));
            status.metadata_mut().insert(
                EXPECTED_SEQUENCE_TRAILER,
                expected
                    .to_string()
                    .parse()
                    .expect("a decimal number is valid metadata"),
            );
            status
        }
        StoreError::ZeroSequence { .. } => Status::invalid_argument(error.to_string()),
        StoreError::Corrupt { .. } => Status::data_loss(error.to_string()),
        // A failed write changed nothing (the batch is atomic), so the
        // producer may retry the same sequence once the store recovers.
        StoreError::Write(_) => Status::unavailable(format!(
            "{error}; the batch was not applied, retry it later"
        )),
        StoreError::Read(_) | StoreError::Open { .. } => Status::internal(error.to_string()),
        StoreError::WrongVersion { .. } => Status::failed_precondition(format!(
            "{error}; the batch was not applied: recompute it for the serving version"
        )),
        StoreError::ReloadInProgress { .. } => Status::failed_precondition(error.to_string()),
        StoreError::AlreadyCurrent { .. } => Status::already_exists(error.to_string()),
        StoreError::InvalidModelVersion { .. } => Status::invalid_argument(error.to_string()),
        StoreError::NoPreviousVersion => Status::not_found(error.to_string()),
        StoreError::NotEmpty { .. } => Status::failed_precondition(error.to_string()),
        StoreError::Build { .. } | StoreError::Io { .. } | StoreError::Checkpoint { .. } => {
            Status::internal(error.to_string())
        }
    }
}

/// A blocking task that panicked or was cancelled: a server bug, not the caller's.
pub fn from_join(error: tokio::task::JoinError) -> Status {
    tracing::error!(%error, "blocking store task failed");
    Status::internal("the store task failed; see the server log")
}

pub fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message)
}

/// A reload (snapshot load) failure: a missing file is NOT_FOUND, a
/// truncated or mixed one INVALID_ARGUMENT, a failed check DATA_LOSS.
pub fn from_reload(error: ReloadError) -> Status {
    match error {
        ReloadError::Snapshot(strata_snapshot::SnapshotError::Io { ref source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Status::not_found(error.to_string())
        }
        // A file that ends early is a truncated snapshot, not a server fault.
        ReloadError::Snapshot(strata_snapshot::SnapshotError::Io { ref source, .. })
            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Status::invalid_argument(format!("{error} (truncated)"))
        }
        ReloadError::Snapshot(strata_snapshot::SnapshotError::Io { .. }) => {
            Status::internal(error.to_string())
        }
        ReloadError::Snapshot(_)
        | ReloadError::MixedVersions { .. }
        | ReloadError::BadRecord { .. } => Status::invalid_argument(error.to_string()),
        ReloadError::Verify { .. } => Status::data_loss(error.to_string()),
        ReloadError::Empty { .. } => Status::failed_precondition(error.to_string()),
        ReloadError::Store(error) => from_store(error),
    }
}
