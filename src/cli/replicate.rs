//! `strata replicate`: the replica sidecar, which applies the update
//! batches published to NATS JetStream to the local server, in order.

use clap::Args;
use strata_replication::{LogTarget, ReplicaOptions};

use super::client_args::ClientTlsArgs;
use super::output::outln;

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// The NATS server.
    #[arg(long, env = "STRATA_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// The JetStream stream of update batches (created if missing).
    #[arg(long, env = "STRATA_NATS_STREAM", default_value = strata_replication::DEFAULT_STREAM)]
    pub stream: String,
    /// This replica's durable consumer: one name per replica, kept across restarts.
    #[arg(long, env = "STRATA_REPLICA_CONSUMER")]
    pub consumer: String,
    /// The local server the batches are applied to: host:port or an
    /// http(s):// URL.
    #[arg(
        long,
        env = "STRATA_REPLICA_TARGET",
        default_value = "http://127.0.0.1:50051"
    )]
    pub target: String,
    /// Bearer token for a server that requires one (ingest scope).
    /// Prefer the environment variable: flags show up in process lists.
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Exit once every batch in the stream is applied (tests, bootstrap).
    #[arg(long, alias = "once")]
    pub until_caught_up: bool,
    /// Most batches delivered to this replica but not yet acknowledged.
    #[arg(long, default_value_t = 64)]
    pub max_ack_pending: i64,
}

pub async fn run(args: ReplicateArgs) -> anyhow::Result<()> {
    let server = args.tls.connection(&args.target, args.token.as_deref())?;
    anyhow::ensure!(
        args.max_ack_pending > 0,
        "--max-ack-pending must be at least 1"
    );
    let options = ReplicaOptions {
        log: LogTarget::new(args.nats, args.stream),
        consumer: args.consumer,
        server,
        until_caught_up: args.until_caught_up,
        max_ack_pending: args.max_ack_pending,
    };
    let report =
        strata_replication::replicate(&options, strata_server::termination_signal()).await?;
    outln!(
        "replicated {} messages: {} batches applied, {} replayed ({} upserts, {} deletes); lag {}",
        report.messages,
        report.batches_applied,
        report.batches_replayed,
        report.upserts,
        report.deletes,
        report.lag
    )?;
    Ok(())
}
