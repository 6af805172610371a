//! What a load run can fail on; flag errors name the flag.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{flag}: {reason}")]
    InvalidArgument { flag: &'static str, reason: String },
    #[error(
        "refusing to load-test {target} ({address} is not a loopback address); pass --allow-remote if you mean it"
    )]
    RemoteTarget { target: String, address: SocketAddr },
    #[error("cannot resolve --target {target}: {source}")]
    Resolve {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Connect(#[from] strata_client::ClientError),
    #[error("writing the JSON report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a load slot failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
