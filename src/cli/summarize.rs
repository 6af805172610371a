//! `strata summarize`: event logs in, per-user summaries out (Parquet parts
//! hash-partitioned by user, plus a manifest), which `strata recompute
//! --summaries` reads instead of events; `--previous` merges one more day
//! into an earlier run's summaries. The work is `strata_job::summarize`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_job::SummarizeOptions;

use super::model_args::{ModelArgs, RowArgs};
use super::output::outln;
use super::parse::parse_time;

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Event log files or folders (CSV, JSON Lines, Parquet); with
    /// --previous, only the new day's (every event after its as-of time).
    #[arg(long, required = true, num_args = 1..)]
    pub events: Vec<PathBuf>,
    /// Merge the events into these summaries (an earlier summarize's --out)
    /// instead of starting from nothing: the result equals one summarize
    /// over every day.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// The folder to write (must not exist yet): part-00000-of-0000N.parquet
    /// ... and manifest.json, all or nothing.
    #[arg(long)]
    pub out: PathBuf,
    /// Parts to spread users over, by the hash `recompute --partition i/N`
    /// uses [default: 1, or the previous summaries' count].
    #[arg(long)]
    pub parts: Option<u32>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// The time the summaries describe (RFC 3339, epoch, or `today`); later
    /// events are left out, and events more than a day after it are bad rows.
    #[arg(long, value_parser = parse_time)]
    pub as_of: i64,
    #[command(flatten)]
    pub rows: RowArgs,
}

pub async fn run(args: SummarizeArgs) -> anyhow::Result<()> {
    strata_events::input::check_as_of(args.as_of).context("--as-of")?;
    let model = args.model.lifecycle()?;
    let models = args.model.settings(&model)?;
    let options = SummarizeOptions {
        events: args.events,
        previous: args.previous,
        out: args.out,
        parts: args.parts,
        model,
        as_of: args.as_of,
        currency: models.currency.clone(),
        reporting_currency: models.currency_code().to_owned(),
        budget: args.rows.budget(args.as_of),
        show_progress: true,
    };
    let out = options.out.clone();
    let outcome = strata_job::summarize(options).await?;
    let manifest = &outcome.manifest;
    let input = &outcome.input;
    outln!("summarize")?;
    outln!(
        "  input      {} files, {} rows, {} events, {} bad rows, {} after as-of (left out)",
        input.files,
        input.rows,
        input.events,
        input.bad_rows,
        outcome.ignored_after_as_of
    )?;
    if let Some(previous) = outcome.previous_users {
        outln!(
            "  merged     into {previous} users summarized before ({} runs in all)",
            manifest.runs.len()
        )?;
    }
    outln!(
        "  users      {} in {} parts, as of {}",
        manifest.users,
        manifest.parts,
        manifest.as_of_text
    )?;
    let bytes: u64 = manifest.part_files.iter().map(|file| file.bytes).sum();
    outln!(
        "  written    {} ({} bytes, {:.0} per user)",
        out.display(),
        bytes,
        bytes as f64 / manifest.users.max(1) as f64
    )?;
    let phases: Vec<String> = outcome
        .phases
        .iter()
        .map(|(phase, took)| format!("{phase} {:.2}s", took.as_secs_f64()))
        .collect();
    outln!("  phases     {}", phases.join(", "))?;
    Ok(())
}
