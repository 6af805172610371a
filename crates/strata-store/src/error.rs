//! The store's one error type; the service edge maps it to gRPC statuses.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("store read failed: {0}")]
    Read(#[source] rocksdb::Error),
    #[error("store write failed: {0}")]
    Write(#[source] rocksdb::Error),
    #[error("producer {producer_id:?}: sequence 0 is not valid, sequences start at 1")]
    ZeroSequence { producer_id: String },
    #[error("producer {producer_id:?}: expected sequence {expected}, got {got}")]
    SequenceGap {
        producer_id: String,
        expected: u64,
        got: u64,
    },
    #[error("store data is corrupt: {what}")]
    Corrupt { what: String },
    #[error(
        "producer {producer_id:?}: batch addressed to model version {requested:?}, but {current:?} is serving"
    )]
    WrongVersion {
        producer_id: String,
        requested: String,
        current: String,
    },
    #[error("model version {model_version:?} is being loaded; wait for it to finish or fail")]
    ReloadInProgress { model_version: String },
    #[error("model version {model_version:?} is already serving")]
    AlreadyCurrent { model_version: String },
    #[error("model version {model_version:?}: {reason}")]
    InvalidModelVersion {
        model_version: String,
        reason: &'static str,
    },
    #[error("no previous version to roll back to")]
    NoPreviousVersion,
    #[error("building model version {model_version:?}: {what}")]
    Build { model_version: String, what: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint into {path}: {source}")]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("{path} is not empty; pass --force to replace its contents")]
    NotEmpty { path: PathBuf },
}

impl StoreError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
