//! The `strata` command: a thin shell over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use strata::client::{Changes, IngestClient};
use strata::config::Config;
use strata::demo::{demo_profile, demo_user_id};
use strata::server::{self, Bound};
use tokio::sync::Notify;

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Per-user lifecycle decisions over batched gRPC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve profiles and ingest from the store in --data-dir.
    Serve(ServeArgs),
    /// Serve, and load a generated demo population through the ingest API.
    Demo(DemoArgs),
}

/// Settings in precedence order: flag, then environment, then --config file, then default.
#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// RocksDB folder [default: ./data].
    #[arg(long, env = "STRATA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// gRPC address; port 0 picks a free one [default: 127.0.0.1:50051].
    #[arg(long, env = "STRATA_LISTEN")]
    listen: Option<SocketAddr>,
    /// Prometheus metrics address [default: 127.0.0.1:9464].
    #[arg(long, env = "STRATA_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Most user ids per BatchGetProfiles call [default: 1000].
    #[arg(long, env = "STRATA_MAX_BATCH_SIZE")]
    max_batch_size: Option<usize>,
    /// Block cache size in MiB [default: 256].
    #[arg(long, env = "STRATA_BLOCK_CACHE_MB")]
    block_cache_mb: Option<usize>,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(data_dir) = &self.data_dir {
            config.store.data_dir = data_dir.clone();
        }
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(metrics_listen) = self.metrics_listen {
            config.server.metrics_listen = metrics_listen;
        }
        if let Some(max_batch_size) = self.max_batch_size {
            config.server.max_batch_size = max_batch_size;
        }
        if let Some(block_cache_mb) = self.block_cache_mb {
            config.store.block_cache_mb = block_cache_mb;
        }
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Demo users to generate and load.
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Seed of the generated population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after loading instead of serving on.
    #[arg(long)]
    exit_after_load: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Demo(args) => demo(args).await,
        }
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    server::serve(config, server::termination_signal(), announce).await?;
    Ok(())
}

/// Prints the bound addresses on stdout, where scripts and tests read them.
fn announce(bound: Bound) {
    println!("grpc listening on {}", bound.grpc);
    println!("metrics listening on {}", bound.metrics);
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let config = args.serve.config()?;
    let stop = Arc::new(Notify::new());
    let shutdown = {
        let stop = stop.clone();
        async move {
            tokio::select! {
                _ = server::termination_signal() => {}
                _ = stop.notified() => {}
            }
        }
    };
    let (ready_sender, ready) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(server::serve(config, shutdown, move |bound| {
        announce(bound);
        let _ = ready_sender.send(bound);
    }));
    let bound = match ready.await {
        Ok(bound) => bound,
        // The server failed before binding: report its error.
        Err(_) => {
            server.await??;
            anyhow::bail!("server stopped before it was ready");
        }
    };
    let loaded = load_demo(bound.grpc, args.users, args.seed).await;
    if args.exit_after_load || loaded.is_err() {
        stop.notify_one();
    } else {
        print_tour(bound);
    }
    let served = server.await?;
    loaded?;
    served?;
    Ok(())
}

async fn load_demo(grpc: SocketAddr, users: u64, seed: u64) -> anyhow::Result<()> {
    const USERS_PER_BATCH: u64 = 1_000;
    const BATCHES_PER_STREAM: u64 = 20;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs() as i64;
    let mut client = IngestClient::connect(&format!("http://{grpc}"), "demo").await?;
    let started = std::time::Instant::now();
    let mut next_user = 0;
    while next_user < users {
        let mut batches = Vec::new();
        while next_user < users && (batches.len() as u64) < BATCHES_PER_STREAM {
            let end = (next_user + USERS_PER_BATCH).min(users);
            batches.push(Changes {
                upserts: (next_user..end)
                    .map(|index| demo_profile(seed, index, now))
                    .collect(),
                deletes: Vec::new(),
            });
            next_user = end;
        }
        client.push(batches).await?;
    }
    println!(
        "loaded {users} demo profiles through IngestService in {:.1}s (producer \"demo\", last sequence {})",
        started.elapsed().as_secs_f64(),
        client.next_sequence() - 1
    );
    Ok(())
}

fn print_tour(bound: Bound) {
    let grpc = bound.grpc;
    let first = demo_user_id(0);
    let second = demo_user_id(1);
    println!(
        r#"
Try it (grpcurl uses server reflection):
  grpcurl -plaintext -d '{{"user_ids":["{first}","{second}","nobody"]}}' {grpc} strata.v1.ProfileService/BatchGetProfiles
  grpcurl -plaintext -d '{{"user_ids":["{first}"],"field_mask":"valueTier"}}' {grpc} strata.v1.ProfileService/BatchGetProfiles
  grpcurl -plaintext -d '{{"user_id":"{first}","context":{{"surface":"SURFACE_CHECKOUT","cart_value":5000,"currency":"EUR"}}}}' {grpc} strata.v1.ProfileService/GetOffers
  grpcurl -plaintext {grpc} grpc.health.v1.Health/Check
  curl -s http://{metrics}/metrics
Stop with Ctrl-C."#,
        metrics = bound.metrics
    );
}
