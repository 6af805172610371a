//! The strata server: the gRPC services, health, reflection and the metrics
//! endpoint on one store, with graceful shutdown.

pub mod admin_service;
pub mod auth;
mod cache_warmer;
mod campaign_offers;
pub mod classifier;
pub mod config;
pub mod connections;
pub mod convert;
mod explain;
pub mod ingest_service;
pub mod metrics;
pub mod overload;
pub mod profile_service;
pub mod protocol;
pub mod reload;
pub mod splice;
pub mod status;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use strata_store::Store;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::splice::profile_service_server::ProfileServiceServer;
use admin_service::AdminHandler;
use ingest_service::IngestHandler;
use metrics::Metrics;
use profile_service::ProfileHandler;
use strata_proto::v1::admin_service_server::AdminServiceServer;
use strata_proto::v1::ingest_service_server::IngestServiceServer;
use strata_proto::{FILE_DESCRIPTOR_SET, v1};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("metrics endpoint failed: {0}")]
    Metrics(#[source] std::io::Error),
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Auth(#[from] auth::AuthConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Addresses the server actually bound (ports 0 in the config become real ports).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub grpc: SocketAddr,
    pub metrics: SocketAddr,
}

/// Opens the store, binds both ports, calls `on_ready` and serves until
/// `shutdown` resolves; then finishes in-flight calls and flushes the store.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    // Tokens and certificates first: a bad file fails start-up before the store opens.
    let tokens = config.auth.as_ref().map(auth::Tokens::load).transpose()?;
    let tls = config.tls.as_ref().map(tls::TlsConfig::load).transpose()?;
    let store_config = config.store.clone();
    let store = tokio::task::spawn_blocking(move || {
        let options = strata_store::StoreOptions {
            classifier: Some(Arc::new(crate::classifier::ProfileClassifier)),
            ..store_config.store_options()
        };
        Store::open(&store_config.data_dir, &options)
    })
    .await??;
    let store = Arc::new(store);
    let metrics = Arc::new(Metrics::new());

    let grpc_listener = bind(config.server.listen).await?;
    let metrics_listener = bind(config.server.metrics_listen).await?;
    let bound = Bound {
        grpc: local_address(&grpc_listener, config.server.listen)?,
        metrics: local_address(&metrics_listener, config.server.metrics_listen)?,
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ProfileServiceServer<ProfileHandler>>()
        .await;
    health_reporter
        .set_serving::<IngestServiceServer<IngestHandler>>()
        .await;
    health_reporter
        .set_serving::<AdminServiceServer<AdminHandler>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max_message = config.server.max_message_bytes;
    // Ingest replaces the newest transition cursor; each watcher subscribes.
    let transitions = Arc::new(tokio::sync::watch::Sender::new(store.newest_transition()));
    // One shutdown signal fans out to the gRPC server, the metrics endpoint
    // and transition watchers.
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let profiles = ProfileServiceServer::new(ProfileHandler {
        store: store.clone(),
        metrics: metrics.clone(),
        max_batch_size: config.server.max_batch_size,
        default_max_offers: config.offers.default_max_offers,
        cold_start: config
            .offers
            .cold_start
            .iter()
            .map(v1::Benefit::from)
            .collect(),
    })
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);
    let ingest = IngestServiceServer::new(IngestHandler {
        store: store.clone(),
        metrics: metrics.clone(),
        max_records_per_batch: config.ingest.max_records_per_batch,
        transitions: transitions.clone(),
    })
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);
    let admin = AdminServiceServer::new(AdminHandler {
        store: store.clone(),
        metrics: metrics.clone(),
        snapshot_dir: config.store.snapshot_dir.clone(),
        backup_dir: config.store.backup_dir.clone(),
        transitions,
        shutdown: stop.clone(),
    })
    .max_decoding_message_size(max_message)
    .max_encoding_message_size(max_message);

    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_sender.send(true);
    });
    cache_warmer::spawn_cache_warmer(store.clone(), stop.clone());
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };

    let metrics_task = tokio::spawn(metrics::serve_metrics(
        metrics_listener,
        metrics.clone(),
        store.clone(),
        stopped(stop.clone()),
    ));

    on_ready(bound);
    if tokens.is_none() && !bound.grpc.ip().is_loopback() {
        tracing::warn!(grpc = %bound.grpc, "no [auth] section: any client that reaches this address can read and write profiles");
    }
    if tokens.is_some() && tls.is_none() && !bound.grpc.ip().is_loopback() {
        tracing::warn!(grpc = %bound.grpc, "bearer tokens without [tls]: tokens cross the network in plaintext");
    }
    tracing::info!(
        tokens = tokens.as_ref().map_or(0, auth::Tokens::len),
        tls = tls.is_some(),
        client_certificates = config
            .tls
            .as_ref()
            .is_some_and(tls::TlsConfig::requires_client_certificates),
        "security"
    );
    tracing::info!(grpc = %bound.grpc, metrics = %metrics::metrics_url(bound.metrics), "serving");

    let connection_limits = connections::ConnectionLimits::new(&config.server);
    connections::fit_descriptor_limit(connection_limits.max_connections);
    if config.server.max_concurrent_streams as usize >= config.server.max_concurrent_requests {
        tracing::warn!(
            max_concurrent_streams = config.server.max_concurrent_streams,
            max_concurrent_requests = config.server.max_concurrent_requests,
            "one connection may take every read slot: set server.max_concurrent_streams below server.max_concurrent_requests"
        );
    }
    let incoming = connections::Incoming::new(grpc_listener, connection_limits, metrics.clone());
    let grpc_stop = stopped(stop.clone());
    // One connection holds at most this many calls, so at most this many
    // read slots, whatever it does with them.
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(config.server.max_concurrent_streams);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let grpc = builder
        .trace_fn(|request| tracing::info_span!("grpc", path = %request.uri().path()))
        // Outermost first: an unauthenticated call never takes an in-flight slot.
        .layer(auth::AuthLayer::new(tokens, metrics.clone()))
        .layer(overload::OverloadLayer::new(&config, metrics.clone()))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(profiles)
        .add_service(ingest)
        .add_service(admin)
        .serve_with_incoming_shutdown(incoming, async move {
            grpc_stop.await;
            tracing::info!("shutting down: finishing in-flight calls");
            health_reporter
                .set_not_serving::<ProfileServiceServer<ProfileHandler>>()
                .await;
            health_reporter
                .set_not_serving::<IngestServiceServer<IngestHandler>>()
                .await;
            health_reporter
                .set_not_serving::<AdminServiceServer<AdminHandler>>()
                .await;
        });
    // A client that never closes its connection must not hold the process
    // past the grace period; dropping the server closes what is left. Batches
    // not yet acknowledged are safe to lose: their producer resends them.
    let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
    let grace_stop = stopped(stop.clone());
    let grace_over = async move {
        grace_stop.await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = grpc => served?,
        () = grace_over => tracing::warn!(?grace, "grace period over: closing remaining connections"),
    }

    match metrics_task.await? {
        Ok(()) => {}
        Err(error) => return Err(ServeError::Metrics(error)),
    }
    let flushing = store.clone();
    tokio::task::spawn_blocking(move || flushing.flush()).await??;
    tracing::info!("store flushed; stopped");
    Ok(())
}

async fn bind(address: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })
}

fn local_address(listener: &TcpListener, address: SocketAddr) -> Result<SocketAddr, ServeError> {
    listener
        .local_addr()
        .map_err(|source| ServeError::Bind { address, source })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
