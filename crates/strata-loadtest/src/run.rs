//! A whole gRPC load run: build the ids, connect, drive the plan, report.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::driver::{Plan, drive};
use crate::error::LoadError;
use crate::grpc::{Method, callers, connect};
use crate::ids::{IdConfig, IdSpace};
use crate::report::{Report, Settings};

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
