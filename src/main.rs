//! The `strata` command: a thin shell over the library.

mod admin_cli;
mod campaigns_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use strata::config::Config;
use strata::recompute::{Delivery, ModelsConfig, PushTarget, RecomputeOptions};
use strata::replication::{LogTarget, ReplicaOptions};
use strata::server::{self, Bound};
use strata_core::LifecycleModel;
use strata_recompute::generate::{self, GenConfig, Preset};
use strata_recompute::input::{ErrorBudget, EventWriter, Format, timestamp};
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

// Parsed once at start-up: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve profiles and ingest from the store in --data-dir.
    Serve(ServeArgs),
    /// Serve, generate demo events, recompute them and push the profiles in.
    Demo(DemoArgs),
    /// Write synthetic events with a known ground truth.
    Gen(GenArgs),
    /// Turn event logs into profiles; push what changed or write a snapshot.
    Recompute(RecomputeArgs),
    /// Load-test a running server with BatchGetProfiles or GetOffers.
    Loadtest(strata::loadtest::LoadtestArgs),
    /// Replica sidecar: apply the update batches published to NATS JetStream
    /// (`recompute --publish`) to the local server, in order.
    Replicate(ReplicateArgs),
    /// Render a recompute's run report (--report-data) as one HTML page with charts.
    Report(ReportArgs),
    /// Operate a running server: load-snapshot, versions, rollback.
    Admin(admin_cli::AdminArgs),
    /// Write a consistent checkpoint of a running server's store (on its disk).
    Backup(admin_cli::BackupArgs),
    /// Restore a backup into the data folder of a stopped server.
    Restore(admin_cli::RestoreArgs),
    /// Select an audience from a snapshot's profiles: size, mix, user list.
    Audience(campaigns_cli::AudienceArgs),
    /// Measure a campaign's lift (or compare campaigns) after its window.
    Lift(campaigns_cli::LiftArgs),
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The run report (JSON) a recompute wrote with --report-data.
    #[arg(long)]
    run: PathBuf,
    /// The HTML page to write.
    #[arg(long, default_value = "report.html")]
    out: PathBuf,
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

/// The generated population, shared by `gen` and `demo`.
#[derive(Debug, Args)]
struct PopulationArgs {
    /// Users to generate.
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Days of history.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Seed of the generated events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lifecycle preset: retail, sns, saas or wealth.
    #[arg(long, default_value = "retail")]
    preset: String,
}

impl PopulationArgs {
    fn gen_config(&self) -> anyhow::Result<GenConfig> {
        Ok(GenConfig::new(
            self.users,
            self.days,
            self.seed,
            preset(&self.preset)?,
        ))
    }
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    population: PopulationArgs,
    /// Folder for the generated events and the recompute job's state.
    #[arg(long, default_value = "./demo")]
    work_dir: PathBuf,
    /// Stop after loading instead of serving on.
    #[arg(long)]
    exit_after_load: bool,
}

#[derive(Debug, Args)]
struct GenArgs {
    #[command(flatten)]
    population: PopulationArgs,
    /// End of the generated window (RFC 3339 or epoch) [default: 2025-01-01T00:00:00Z].
    #[arg(long, value_parser = parse_time)]
    end: Option<i64>,
    /// Share of offer issues that go to the random control group.
    #[arg(long, default_value_t = generate::DEFAULT_CONTROL_SHARE)]
    control_share: f64,
    /// Output file; the format follows the extension (.csv, .jsonl, .parquet).
    #[arg(long)]
    out: PathBuf,
    /// Also write each user's latent ground truth as JSON Lines here.
    #[arg(long)]
    truth: Option<PathBuf>,
    #[command(flatten)]
    targeting: campaigns_cli::GenTargetingArgs,
}

#[derive(Debug, Args)]
struct ReplicateArgs {
    /// The NATS server.
    #[arg(long, env = "STRATA_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The JetStream stream of update batches (created if missing).
    #[arg(long, env = "STRATA_NATS_STREAM", default_value = strata::replication::DEFAULT_STREAM)]
    stream: String,
    /// This replica's durable consumer: one name per replica, kept across restarts.
    #[arg(long, env = "STRATA_REPLICA_CONSUMER")]
    consumer: String,
    /// The local server the batches are applied to.
    #[arg(
        long,
        env = "STRATA_REPLICA_TARGET",
        default_value = "http://127.0.0.1:50051"
    )]
    target: String,
    /// Bearer token for a server that requires one (ingest scope).
    /// Prefer the environment variable: flags show up in process lists.
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: strata::server::tls::ClientTlsArgs,
    /// Exit once every batch in the stream is applied (tests, bootstrap).
    #[arg(long, alias = "once")]
    until_caught_up: bool,
    /// Most batches delivered to this replica but not yet acknowledged.
    #[arg(long, default_value_t = 64)]
    max_ack_pending: i64,
}

#[derive(Debug, Args)]
struct RecomputeArgs {
    /// Event log files or folders (CSV, JSON Lines, Parquet).
    #[arg(long, required = true, num_args = 1..)]
    events: Vec<PathBuf>,
    /// Built-in lifecycle preset: retail, sns, saas or wealth.
    #[arg(long, default_value = "retail", conflicts_with = "model")]
    preset: String,
    /// A custom lifecycle model (TOML) instead of a preset.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Model settings (TOML: [value], [quadrant], [lifetime], [propensity],
    /// [channel], [economics], [fairness], [[benefits]]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The time the profiles describe (RFC 3339 or epoch); later events are ignored.
    #[arg(long, value_parser = parse_time)]
    as_of: i64,
    /// Push changed profiles to this service, e.g. http://127.0.0.1:50051
    /// (https://... with --tls-ca).
    #[arg(long, conflicts_with = "snapshot")]
    push: Option<String>,
    /// Bearer token for --push (ingest scope).
    /// Prefer the environment variable: flags show up in process lists.
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: strata::server::tls::ClientTlsArgs,
    /// Publish changed profiles to NATS JetStream for replicas instead,
    /// e.g. nats://127.0.0.1:4222 (see `strata replicate`).
    #[arg(long, conflicts_with_all = ["push", "snapshot"])]
    publish: Option<String>,
    /// The JetStream stream for --publish (created if missing).
    #[arg(long, requires = "publish", default_value = strata::replication::DEFAULT_STREAM)]
    stream: String,
    /// Write every profile to this snapshot file for a bulk load.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// The job's state file (what was last delivered).
    #[arg(long, default_value = "./recompute.state.jsonl")]
    state: PathBuf,
    /// Producer id for ApplyUpdates [default: recompute-<preset>].
    #[arg(long)]
    producer: Option<String>,
    /// Model version stamped on every profile [default: <preset>-1].
    #[arg(long)]
    model_version: Option<String>,
    /// Profiles per pushed batch.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Fail when more than this share of rows is bad.
    #[arg(long, default_value_t = 0.01)]
    max_bad_fraction: f64,
    /// Erase users pushed before who have no events any more.
    #[arg(long)]
    delete_missing: bool,
    /// Write every layer change (user, from, to, at) to this CSV file.
    #[arg(long)]
    transitions: Option<PathBuf>,
    /// Test hook: exit as if crashed after this many pushed batches.
    #[arg(long, hide = true)]
    crash_after_batches: Option<u64>,
    /// Write the run's numbers (JSON) here, for `strata report`.
    #[arg(long)]
    report_data: Option<PathBuf>,
    /// Also render the run report straight to this HTML page.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Only the users of partition i of N (0-based, e.g. 2/8), by user id
    /// hash; state, snapshot and producer id get a `p2of8` tag.
    #[arg(long)]
    partition: Option<strata::recompute::Partition>,
    #[command(flatten)]
    targeting: campaigns_cli::TargetingArgs,
}

fn parse_time(text: &str) -> Result<i64, String> {
    timestamp::parse_text(text)
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
            Command::Gen(args) => gen_events(args),
            Command::Recompute(args) => recompute(args).await,
            Command::Loadtest(args) => Ok(strata::loadtest::run_cli(args).await?),
            Command::Replicate(args) => replicate(args).await,
            Command::Report(args) => report(&args),
            Command::Admin(args) => admin_cli::admin(args).await,
            Command::Backup(args) => admin_cli::backup(args).await,
            Command::Restore(args) => admin_cli::restore(args),
            Command::Audience(args) => campaigns_cli::audience(args),
            Command::Lift(args) => campaigns_cli::lift(args),
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
    let loaded = load_demo(&args, bound).await;
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

/// The README's path, in one process: gen -> recompute -> push.
async fn load_demo(args: &DemoArgs, bound: Bound) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let events = args.work_dir.join("events.parquet");
    let gen_config = args.population.gen_config()?;
    let written = write_events(&gen_config, &events, None)?;
    println!(
        "generated {written} events for {} users in {}",
        args.population.users,
        events.display()
    );

    let model = LifecycleModel::preset(&args.population.preset)?;
    let summary = strata::recompute::run(RecomputeOptions {
        events: vec![events],
        model_version: format!("{}-1", model.name()),
        model,
        as_of: gen_config.end,
        models: ModelsConfig::default(),
        budget: ErrorBudget::default(),
        state_file: args.work_dir.join("recompute.state.jsonl"),
        delivery: Delivery::Push {
            target: PushTarget::Server(strata_client::Connection::new(format!(
                "http://{}",
                bound.grpc
            ))),
            producer_id: format!("demo-{}", args.population.preset),
            batch_size: 1000,
            crash_after_batches: None,
        },
        delete_missing: false,
        transitions_file: None,
        show_progress: true,
        targeting: None,
    })
    .await?;
    print!("{summary}");
    Ok(())
}

fn preset(name: &str) -> anyhow::Result<Preset> {
    Preset::from_name(name)
        .with_context(|| format!("unknown preset {name:?}; use one of retail, sns, saas, wealth"))
}

fn write_events(
    config: &GenConfig,
    out: &std::path::Path,
    truth: Option<&std::path::Path>,
) -> anyhow::Result<u64> {
    let mut writer = EventWriter::create(out, Format::from_path(out)?)?;
    let mut failure = None;
    generate::generate(config, |event| {
        if failure.is_none()
            && let Err(error) = writer.write(event)
        {
            failure = Some(error);
        }
    });
    if let Some(error) = failure {
        return Err(error.into());
    }
    let written = writer.finish()?;
    if let Some(path) = truth {
        write_truth(config, path)?;
    }
    Ok(written)
}

/// Each generated user's latent ground truth, one JSON object per line.
fn write_truth(config: &GenConfig, path: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for index in 0..config.users {
        serde_json::to_writer(&mut out, &generate::truth(config, index))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn gen_events(args: GenArgs) -> anyhow::Result<()> {
    let mut config = args.population.gen_config()?;
    if let Some(end) = args.end {
        config.end = end;
    }
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.control_share),
        "--control-share {} is outside 0..=1",
        args.control_share
    );
    config.control_share = args.control_share;
    let started = std::time::Instant::now();
    let written = if args.targeting.requested() {
        campaigns_cli::gen_targeted(&config, &args.out, args.truth.as_deref(), &args.targeting)?
    } else {
        write_events(&config, &args.out, args.truth.as_deref())?
    };
    println!(
        "wrote {written} events for {} users to {} in {:.1}s",
        args.population.users,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn recompute(args: RecomputeArgs) -> anyhow::Result<()> {
    let model = match &args.model {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading model {}", path.display()))?;
            LifecycleModel::from_toml(&text).with_context(|| format!("model {}", path.display()))?
        }
        None => LifecycleModel::preset(&args.preset)?,
    };
    let models: ModelsConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?
        }
        None => ModelsConfig::default(),
    };
    models
        .validate()
        .map_err(|reason| anyhow::anyhow!("config: {reason}"))?;
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    let target = match (&args.push, &args.publish) {
        (Some(endpoint), _) => Some(PushTarget::Server(push_connection(endpoint, &args)?)),
        (None, Some(url)) => Some(PushTarget::Log(LogTarget::new(url, &args.stream))),
        (None, None) => None,
    };
    let delivery = match (target, &args.snapshot) {
        (Some(target), _) => Delivery::Push {
            target,
            producer_id: args
                .producer
                .clone()
                .unwrap_or_else(|| format!("recompute-{}", model.name())),
            batch_size: args.batch_size,
            crash_after_batches: args.crash_after_batches,
        },
        (None, Some(path)) => Delivery::Snapshot { path: path.clone() },
        (None, None) => Delivery::DryRun,
    };
    let partition = args
        .partition
        .unwrap_or_else(strata::recompute::Partition::whole);
    let targeting = args.targeting.load(&model, &models, args.partition)?;
    let options = RecomputeOptions {
        events: args.events,
        model_version: args
            .model_version
            .unwrap_or_else(|| format!("{}-1", model.name())),
        model,
        as_of: args.as_of,
        models,
        budget: ErrorBudget {
            max_bad_fraction: args.max_bad_fraction,
        },
        state_file: args.state,
        delivery,
        delete_missing: args.delete_missing,
        transitions_file: args.transitions,
        show_progress: true,
        targeting: targeting.clone(),
    };
    let report_of = (
        options.model.name().to_owned(),
        options.model_version.clone(),
        options.as_of,
    );
    let summary = strata::recompute::run_partition(options, partition).await?;
    if !partition.is_whole() {
        println!("partition  {partition}");
    }
    print!("{summary}");
    campaigns_cli::print_report(targeting.as_ref());
    if args.report_data.is_some() || args.report.is_some() {
        let (preset, model_version, as_of) = report_of;
        let data = summary.report_data(&preset, &model_version, as_of);
        if let Some(path) = &args.report_data {
            std::fs::write(path, data.to_json()?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("run report data written to {}", path.display());
        }
        if let Some(path) = &args.report {
            write_report_page(&data, path)?;
        }
    }
    Ok(())
}

/// The --push server with the run's token and TLS flags.
fn push_connection(
    endpoint: &str,
    args: &RecomputeArgs,
) -> anyhow::Result<strata_client::Connection> {
    Ok(args.tls.connection(endpoint, args.token.as_deref())?)
}

async fn replicate(args: ReplicateArgs) -> anyhow::Result<()> {
    let server = args.tls.connection(args.target, args.token.as_deref())?;
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
    let report = strata::replication::replicate(&options, server::termination_signal()).await?;
    println!(
        "replicated {} messages: {} batches applied, {} replayed ({} upserts, {} deletes); lag {}",
        report.messages,
        report.batches_applied,
        report.batches_replayed,
        report.upserts,
        report.deletes,
        report.lag
    );
    Ok(())
}

fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.run)
        .with_context(|| format!("reading {}", args.run.display()))?;
    let data = strata_report::RunReport::from_json(&text)
        .with_context(|| format!("run report {}", args.run.display()))?;
    write_report_page(&data, &args.out)
}

fn write_report_page(
    data: &strata_report::RunReport,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let page = strata_report::render_html(data)?;
    std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
    println!("report written to {}", path.display());
    Ok(())
}

fn print_tour(bound: Bound) {
    let grpc = bound.grpc;
    let first = generate::user_id(0);
    let second = generate::user_id(1);
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
