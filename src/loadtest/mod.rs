//! The built-in load generator behind `strata loadtest` and the side-by-side
//! serving benchmark: BatchGetProfiles or GetOffers over a pool of gRPC
//! connections, closed or open loop, latencies in an HDR histogram.
//!
//! - `ids`: the key space, formatted once, and the id distributions;
//! - `driver`: the load loop, independent of the transport, and the
//!   coordinated-omission-safe open-loop schedule;
//! - `grpc`: connections, request encoding, response counting;
//! - `report`: the JSON document and the table;
//! - `cli`: the `strata loadtest` flags.

mod cli;
mod driver;
mod grpc;
mod ids;
mod report;

use std::net::SocketAddr;
use std::sync::Arc;

pub use cli::{DistributionKind, LoadtestArgs, parse_duration, run_cli};
pub use driver::{
    Answer, Caller, MAX_DURATION, MAX_RATE, MAX_REQUESTS, Measurement, Pace, Plan, code_name, drive,
};
pub use grpc::{GrpcCaller, Method, callers, connect};
pub use ids::{Distribution, IdConfig, IdFormat, IdSpace, MAX_KEY_SPACE};
pub use report::{Percentiles, Report, Settings};

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

/// A whole gRPC load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: SocketAddr,
    pub method: Method,
    pub connections: usize,
    /// Requests in flight per connection.
    pub in_flight: usize,
    /// Bearer token sent with every call (a read-scope token).
    pub token: Option<String>,
    /// TLS to the target (then https://), or plaintext.
    pub tls: Option<strata_client::TlsOptions>,
    pub ids: IdConfig,
    pub plan: Plan,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// Builds the ids, connects, runs the plan and reports.
pub async fn run(config: &LoadConfig) -> Result<Report, LoadError> {
    let ids = config.ids.clone();
    // Formatting a large key space takes a moment; keep it off the workers.
    let space = tokio::task::spawn_blocking(move || IdSpace::build(&ids)).await??;
    run_with_ids(config, Arc::new(space)).await
}

/// [`run`] with ids built once by the caller, for callers that run many
/// cells over one key space.
pub async fn run_with_ids(config: &LoadConfig, space: Arc<IdSpace>) -> Result<Report, LoadError> {
    let channels = connect(
        config.target,
        config.connections,
        config.plan.timeout,
        config.token.as_deref(),
        config.tls.as_ref(),
    )
    .await?;
    let slots = callers(config.method, &channels, config.in_flight);
    let measurement = drive(slots, space, &config.plan, config.progress).await?;
    tracing::debug!(
        requests = measurement.requests,
        errors = measurement.errors(),
        "load run finished"
    );
    Ok(Report::new(
        &Settings {
            target: config.target.to_string(),
            method: config.method,
            connections: config.connections,
            in_flight: config.in_flight,
            ids: &config.ids,
            plan: &config.plan,
        },
        &measurement,
    ))
}
