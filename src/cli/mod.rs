//! The command line: the commands and their dispatch, one file per command
//! (rust-analyzer's `cli/*.rs`, Quickwit's `quickwit-cli`). Each command's
//! file holds its flags and a `run`; the libraries below hold the work.

mod admin;
mod audience;
mod backup;
mod client_args;
mod demo;
mod dev_cert;
mod fit;
mod generate;
mod get;
mod lift;
mod loadtest;
mod model_args;
mod offers;
pub mod output;
mod parse;
mod recompute;
mod replicate;
mod report;
mod serve;
mod summarize;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Per-user lifecycle decisions over batched gRPC"
)]
pub struct Cli {
    /// Log lines on stderr: `text` (coloured only on a terminal, and never
    /// with NO_COLOR set) or `json` (one object per line, for collectors).
    #[arg(
        long,
        global = true,
        env = "STRATA_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How `main` writes log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once at start-up: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve profiles and ingest from the store in --data-dir.
    Serve(serve::ServeArgs),
    /// Serve, generate demo events, recompute them and push the profiles in.
    Demo(demo::DemoArgs),
    /// Write synthetic events with a known ground truth.
    Gen(generate::GenArgs),
    /// Fit every population-wide model once and write the model file
    /// (`recompute --model-file` applies it, on any number of partitions).
    Fit(fit::FitArgs),
    /// Turn event logs into profiles; push what changed or write a snapshot.
    Recompute(recompute::RecomputeArgs),
    /// `recompute` with a model file (--model-file required): apply only.
    Apply(recompute::RecomputeArgs),
    /// Fold event logs into per-user summaries (Parquet parts by user hash)
    /// for `recompute --summaries`; --previous merges in one more day.
    Summarize(summarize::SummarizeArgs),
    /// Look users up: layer, tier, quadrant, values, benefits best first
    /// (--json: one proto3 JSON object per user). Exits 3 if one is unknown.
    Get(get::GetArgs),
    /// The offers a user may get now, best first (GetOffers); exits 3 for
    /// an unknown user (its cold-start offers are still printed).
    Offers(offers::OffersArgs),
    /// Load-test a running server with BatchGetProfiles or GetOffers.
    Loadtest(loadtest::LoadtestArgs),
    /// Replica sidecar: apply the update batches published to NATS JetStream
    /// (`recompute --publish`) to the local server, in order.
    Replicate(replicate::ReplicateArgs),
    /// Render a recompute's run report (--report-data) as one HTML page with charts.
    Report(report::ReportArgs),
    /// Operate a running server: load-snapshot, versions, rollback.
    Admin(admin::AdminArgs),
    /// Write a consistent checkpoint of a running server's store (on its disk).
    Backup(backup::BackupArgs),
    /// Restore a backup into the data folder of a stopped server.
    Restore(backup::RestoreArgs),
    /// Select an audience from a snapshot's profiles: size, mix, user list.
    Audience(audience::AudienceArgs),
    /// Measure a campaign's lift (or compare campaigns) after its window.
    Lift(lift::LiftArgs),
    /// Write a development CA and a server certificate it signed (TLS on localhost).
    DevCert(dev_cert::DevCertArgs),
}

impl Cli {
    /// Runs the command on the caller's runtime.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Gen(args) => generate::run(args),
            Command::Fit(args) => fit::run(args).await,
            Command::Recompute(args) => recompute::run(args).await,
            Command::Apply(args) => recompute::apply(args).await,
            Command::Summarize(args) => summarize::run(args).await,
            Command::Get(args) => get::run(args).await,
            Command::Offers(args) => offers::run(args).await,
            Command::Loadtest(args) => Ok(loadtest::run(args).await?),
            Command::Replicate(args) => replicate::run(args).await,
            Command::Report(args) => report::run(&args),
            Command::Admin(args) => admin::run(args).await,
            Command::Backup(args) => backup::backup(args).await,
            Command::Restore(args) => backup::restore(args),
            Command::Audience(args) => audience::run(args),
            Command::Lift(args) => lift::run(args),
            Command::DevCert(args) => dev_cert::run(args),
        }
    }
}
