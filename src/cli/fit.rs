//! `strata fit`: the fit stage alone. Reads every event (or every part of
//! the summaries), fits every
//! population-wide quantity once and writes the model file that
//! `strata recompute --model-file` (alias `strata apply`) applies per
//! partition, so every worker serves what one whole run would.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_job::{DeleteGuard, Delivery, RecomputeOptions};

use super::model_args::{ModelArgs, RowArgs};
use super::output::{out, outln};
use super::parse::parse_time;

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Event log files or folders (CSV, JSON Lines, Parquet): every user's.
    #[arg(long, required_unless_present = "summaries", num_args = 1..)]
    pub events: Vec<PathBuf>,
    /// Fit from per-user summaries (a `strata summarize --out` folder, every
    /// part) instead of events; --as-of must be theirs.
    #[arg(long, conflicts_with = "events")]
    pub summaries: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// The time the profiles will describe (RFC 3339, epoch, or `today`);
    /// later events are ignored. The applying runs must use the same.
    #[arg(long, value_parser = parse_time)]
    pub as_of: i64,
    /// Model version the applying runs stamp on profiles [default: <preset>-1].
    #[arg(long)]
    pub model_version: Option<String>,
    #[command(flatten)]
    pub rows: RowArgs,
    /// Where to write the model file (JSON; written atomically).
    #[arg(long)]
    pub model_out: PathBuf,
}

pub async fn run(args: FitArgs) -> anyhow::Result<()> {
    strata_events::input::check_as_of(args.as_of).context("--as-of")?;
    let model = args.model.lifecycle()?;
    let models = args.model.settings(&model)?;
    let options = RecomputeOptions {
        events: args.events,
        summaries: args.summaries,
        model_version: args
            .model_version
            .unwrap_or_else(|| format!("{}-1", model.name())),
        model,
        as_of: args.as_of,
        models,
        budget: args.rows.budget(args.as_of),
        // The fit delivers nothing and keeps no state.
        state_file: PathBuf::new(),
        delivery: Delivery::DryRun,
        delete_missing: false,
        delete_guard: DeleteGuard::default(),
        full_push: false,
        transitions_file: None,
        show_progress: true,
        targeting: None,
    };
    let (fitted, summary) = strata_job::fit(options).await?;
    fitted.save(&args.model_out)?;
    let input = &summary.input;
    let window = &fitted.window;
    outln!("fit summary")?;
    outln!(
        "  input      {} files, {} rows, {} events, {} bad rows, {} after as-of (ignored)",
        input.files,
        input.rows,
        input.events,
        input.bad_rows,
        summary.ignored_after_as_of
    )?;
    outln!(
        "  window     as of {}; events from {} to {}",
        window.as_of,
        window.first_event_day.as_deref().unwrap_or("(none)"),
        window.last_event_day.as_deref().unwrap_or("(none)")
    )?;
    outln!("  users      {} ({} buyers)", window.users, window.buyers)?;
    outln!(
        "  fitted     preset {}, model version {}, config {}",
        fitted.preset,
        fitted.model_version,
        fitted.config_fingerprint
    )?;
    out!("{}", fitted.report)?;
    let phases: Vec<String> = summary
        .phases
        .iter()
        .map(|(phase, took)| format!("{phase} {:.2}s", took.as_secs_f64()))
        .collect();
    outln!("  time       {}", phases.join(", "))?;
    outln!("model file written to {}", args.model_out.display())?;
    Ok(())
}
