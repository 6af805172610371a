//! `strata recompute`: event logs in, profiles out; push what changed,
//! publish it for replicas, or write a snapshot. The job itself is
//! `strata-job`; this file turns flags into its options.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata_audience::ModelPick;
use strata_core::LifecycleModel;
use strata_job::targeting::Targeting;
use strata_job::{
    DeleteGuard, Delivery, ModelFile, ModelsConfig, Partition, PushTarget, RecomputeOptions,
};
use strata_replication::LogTarget;

use super::client_args::ClientTlsArgs;
use super::model_args::{ModelArgs, RowArgs};
use super::output::{out, outln};
use super::parse::parse_time;
use super::report::write_report_page;

#[derive(Debug, Args)]
pub struct RecomputeArgs {
    /// Event log files or folders (CSV, JSON Lines, Parquet).
    #[arg(long, required_unless_present = "summaries", num_args = 1..)]
    pub events: Vec<PathBuf>,
    /// Read per-user summaries (a `strata summarize --out` folder) instead
    /// of events; with --partition i/N, only part i (N must be its parts).
    #[arg(long, conflicts_with = "events")]
    pub summaries: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// The time the profiles describe (RFC 3339, epoch, or `today` for 00:00
    /// UTC today), 1970 to 2100; later events are ignored, and events more
    /// than a day after it (or after now, if later) are bad rows. With
    /// --summaries it defaults to theirs (and must equal it).
    #[arg(long, value_parser = parse_time, required_unless_present = "summaries")]
    pub as_of: Option<i64>,
    /// Push changed profiles to this service: host:port, e.g.
    /// 127.0.0.1:50051, or an http(s):// URL (host:port is https:// with --tls-ca).
    #[arg(long, conflicts_with = "snapshot")]
    pub push: Option<String>,
    /// Bearer token for --push (ingest scope).
    /// Prefer the environment variable: flags show up in process lists.
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Publish changed profiles to NATS JetStream for replicas instead,
    /// e.g. nats://127.0.0.1:4222 (see `strata replicate`).
    #[arg(long, conflicts_with_all = ["push", "snapshot"])]
    pub publish: Option<String>,
    /// The JetStream stream for --publish (created if missing).
    #[arg(long, requires = "publish", default_value = strata_replication::DEFAULT_STREAM)]
    pub stream: String,
    /// Copies of each batch the stream keeps: 1 on a single nats-server, 3
    /// on a cluster. A new stream is created with it; an existing stream
    /// with fewer replicas, or kept in memory, is refused.
    #[arg(long, requires = "publish", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub stream_replicas: u8,
    /// Write every profile to this snapshot file for a bulk load.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// The job's state file (what was last delivered).
    #[arg(long, default_value = "./recompute.state.jsonl")]
    pub state: PathBuf,
    /// Producer id for ApplyUpdates [default: recompute-<preset>].
    #[arg(long)]
    pub producer: Option<String>,
    /// Model version stamped on every profile [default: <preset>-1].
    #[arg(long)]
    pub model_version: Option<String>,
    /// Profiles per pushed batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    #[command(flatten)]
    pub rows: RowArgs,
    /// Erase users pushed before who have no events any more. Refused
    /// (nothing sent) when the input has no users or any bad row, or when
    /// more than --max-delete-fraction of the users would go, unless --force.
    #[arg(long)]
    pub delete_missing: bool,
    /// The largest share of the users delivered before that one
    /// --delete-missing run may erase without --force.
    #[arg(long, default_value_t = 0.05, requires = "delete_missing", value_parser = parse_fraction)]
    pub max_delete_fraction: f64,
    /// Erase with --delete-missing even past its guard (empty input, bad
    /// rows, more than --max-delete-fraction).
    #[arg(long, requires = "delete_missing")]
    pub force: bool,
    /// Send every user's record, not only the changed ones (the job does so
    /// by itself when the server is not the store, version and sequence its
    /// state file recorded).
    #[arg(long)]
    pub full_push: bool,
    /// Write every layer change (user, from, to, at) to this CSV file.
    #[arg(long)]
    pub transitions: Option<PathBuf>,
    /// Test hook: exit as if crashed after this many pushed batches.
    #[arg(long, hide = true)]
    pub crash_after_batches: Option<u64>,
    /// Write the run's numbers (JSON) here, for `strata report`.
    #[arg(long)]
    pub report_data: Option<PathBuf>,
    /// Also render the run report straight to this HTML page.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Only the users of partition i of N (0-based, e.g. 2/8), by user id
    /// hash; state, snapshot and producer id get a `p2of8` tag. With
    /// --model-file, every partition applies the same models; without it,
    /// each fits its own on its share (answers then depend on N).
    #[arg(long)]
    pub partition: Option<Partition>,
    /// Apply this model file (`strata fit --model-out`) instead of fitting:
    /// no population-wide step, so any --partition gives every user the
    /// profile one whole run gives. Refused unless the preset, model
    /// version, --as-of and --config are the ones it was fitted with.
    #[arg(long)]
    pub model_file: Option<PathBuf>,
    #[command(flatten)]
    pub targeting: TargetingArgs,
}

/// The recompute's groups and campaigns.
#[derive(Debug, Args)]
pub struct TargetingArgs {
    /// User attributes joined onto profiles as tags: CSV, JSON Lines or
    /// Parquet, one row per user (`user_id` plus any columns; several
    /// values `;`-separated in CSV, an array in JSON, a list in Parquet).
    #[arg(long)]
    attributes: Option<PathBuf>,
    /// Campaigns (`[[campaign]]` TOML) whose audiences get holdout arms on
    /// their profiles; needs --audiences.
    #[arg(long, requires = "audiences")]
    campaigns: Option<PathBuf>,
    /// Audience definition files the campaigns name (by `[audience] name`).
    #[arg(long, num_args = 1.., requires = "campaigns")]
    audiences: Vec<PathBuf>,
}

impl TargetingArgs {
    /// `None` when neither attributes nor campaigns were given.
    pub fn load(
        &self,
        model: &LifecycleModel,
        models: &ModelsConfig,
        partition: Option<Partition>,
    ) -> anyhow::Result<Option<Arc<Targeting>>> {
        if self.attributes.is_none() && self.campaigns.is_none() {
            return Ok(None);
        }
        let mut targeting = Targeting::load(
            self.attributes.as_deref(),
            self.campaigns.as_deref(),
            &self.audiences,
            model,
            models,
        )?;
        if let Some(partition) = partition.filter(|partition| !partition.is_whole()) {
            // Other partitions' users are not unknown: they are elsewhere.
            if let Some(attributes) = targeting.attributes.as_mut() {
                attributes
                    .users
                    .retain(|user_id, _| partition.owns(user_id));
                attributes.rows = attributes.users.len() as u64;
            }
            for campaign in &targeting.campaigns {
                if let Some(audience) = targeting.audiences.get(&campaign.audience)
                    && matches!(audience.model, Some(ModelPick::Top(_)))
                {
                    anyhow::bail!(
                        "campaign `{}`: audience `{}` picks `top = N` users, which a partitioned \
                         run ({partition}) would pick once per partition; use `top_share` or run \
                         campaigns unpartitioned",
                        campaign.id,
                        audience.name
                    );
                }
            }
        }
        Ok(Some(Arc::new(targeting)))
    }
}

/// `strata apply`: `strata recompute` with a model file, required.
pub async fn apply(args: RecomputeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.model_file.is_some(),
        "strata apply needs --model-file FILE (written by `strata fit --model-out FILE`);          `strata recompute` without it fits and applies in one run"
    );
    run(args).await
}

pub async fn run(args: RecomputeArgs) -> anyhow::Result<()> {
    let as_of = match (args.as_of, &args.summaries) {
        (Some(as_of), _) => as_of,
        (None, Some(dir)) => strata_events::summary::read_manifest(dir)?.as_of,
        (None, None) => anyhow::bail!("--as-of is required with --events"),
    };
    strata_events::input::check_as_of(as_of).context("--as-of")?;
    let model = args.model.lifecycle()?;
    let models = args.model.settings(&model)?;
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    let push_to = match &args.push {
        Some(endpoint) => Some(push_connection(endpoint, &args)?),
        None => None,
    };
    let target = match (&push_to, &args.publish) {
        (Some(connection), _) => Some(PushTarget::Server(connection.clone())),
        (None, Some(url)) => Some(PushTarget::Log(
            LogTarget::new(url, &args.stream).with_replicas(usize::from(args.stream_replicas)),
        )),
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
    let partition = args.partition.unwrap_or_else(Partition::whole);
    let targeting = args.targeting.load(&model, &models, args.partition)?;
    let options = RecomputeOptions {
        events: args.events,
        summaries: args.summaries,
        model_version: args
            .model_version
            .unwrap_or_else(|| format!("{}-1", model.name())),
        model,
        as_of,
        models,
        budget: args.rows.budget(as_of),
        state_file: args.state,
        delivery,
        delete_missing: args.delete_missing,
        delete_guard: DeleteGuard {
            max_fraction: args.max_delete_fraction,
            force: args.force,
        },
        full_push: args.full_push,
        transitions_file: args.transitions,
        show_progress: true,
        targeting: targeting.clone(),
    };
    let report_of = (
        options.model.name().to_owned(),
        options.model_version.clone(),
        options.as_of,
    );
    let result = match &args.model_file {
        Some(path) => {
            // Read and checked before any event: a wrong file fails at once.
            let file = ModelFile::load(path)?;
            file.models.check_identity(&options, path)?;
            strata_job::apply_partition(options, partition, Arc::new(file)).await
        }
        None => strata_job::run_partition(options, partition).await,
    };
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => return Err(explain_push(error, push_to.as_ref()).await),
    };
    // The files before the printing: a closed stdout (`| head -1`) ends the
    // command at its first failed write, and must not cost the report.
    let mut written = Vec::new();
    if args.report_data.is_some() || args.report.is_some() {
        let (preset, model_version, as_of) = report_of;
        let data = summary.report_data(&preset, &model_version, as_of);
        if let Some(path) = &args.report_data {
            std::fs::write(path, data.to_json()?)
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(format!("run report data written to {}", path.display()));
        }
        if let Some(path) = &args.report {
            write_report_page(&data, path, args.report_data.as_deref())?;
            written.push(format!("report written to {}", path.display()));
        }
    }
    if !partition.is_whole() {
        outln!("partition  {partition}")?;
    }
    out!("{summary}")?;
    if let Some(targeting) = &targeting {
        // What the run's groups and campaigns did, after the summary.
        out!("{}", targeting.report())?;
    }
    for line in written {
        outln!("{line}")?;
    }
    Ok(())
}

/// A failed push to a server that speaks the other protocol (TLS against
/// plaintext) says which scheme and flags to use, before the job's error.
/// A failed connect was already explained (and the server probed) by
/// `Connection::connect`: only errors from later calls are probed here.
async fn explain_push(
    error: strata_job::RecomputeError,
    server: Option<&strata_client::Connection>,
) -> anyhow::Error {
    use strata_client::ClientError;
    use strata_job::{PushError, RecomputeError};
    let mismatch = match (&error, server) {
        (
            RecomputeError::Push(PushError::Client(
                ClientError::Connect { .. } | ClientError::Tls(_),
            )),
            _,
        ) => None,
        (RecomputeError::Push(_), Some(server)) => server.tls_mismatch().await,
        _ => None,
    };
    match mismatch {
        Some(mismatch) => anyhow::Error::new(error).context(mismatch.to_string()),
        None => error.into(),
    }
}

/// The wall clock in Unix milliseconds: events later than a day after it
/// (or after the as-of time, if later) are bad rows.
pub(super) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The --push server with the run's token and TLS flags.
fn push_connection(
    endpoint: &str,
    args: &RecomputeArgs,
) -> anyhow::Result<strata_client::Connection> {
    args.tls.connection(endpoint, args.token.as_deref())
}

/// A share between 0 and 1.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}
