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
}
