//! The Rust client of strata: how to reach a server ([`Connection`]), batched
//! reads ([`ProfileClient`]), an exactly-once producer for the ingest
//! stream ([`IngestClient`]), and the read side's answers as proto3 JSON
//! ([`json`]).
//!
//! The generated contract is re-exported as [`v1`], so a caller needs this
//! crate only. The load tester and the recompute job use it as any other
//! team would.
//!
//! ```no_run
//! # async fn run() -> Result<(), strata_client::ClientError> {
//! use strata_client::{Connection, ProfileClient};
//! let channel = Connection::new("http://127.0.0.1:50051").connect().await?;
//! let mut profiles = ProfileClient::new(channel);
//! let answer = profiles.batch_get(["u1", "u2"], &["lifecycle", "value_tier"]).await?;
//! for (user_id, result) in ["u1", "u2"].iter().zip(&answer.results) {
//!     let layer = result.profile.as_ref().and_then(|p| p.lifecycle.as_ref());
//!     println!("{user_id}: {:?}", layer.map(|lifecycle| &lifecycle.layer));
//! }
//! # Ok(()) }
//! ```

mod admin;
mod connection;
mod ingest;
pub mod json;
mod profiles;

pub use admin::AdminClient;
pub use connection::{AuthChannel, Connection, TlsOptions};
pub use ingest::{Changes, IngestClient};
pub use profiles::ProfileClient;
pub use strata_proto::{code_name, v1};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("bearer token is not a valid header value (it must be visible ASCII)")]
    Token,
    #[error("{0}")]
    Tls(String),
    #[error("cannot read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Rpc(#[from] tonic::Status),
}
