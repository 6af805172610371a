//! `strata fit`: the fit stage alone. Reads every event (or every part of
//! the summaries), fits every
//! population-wide quantity once and writes the model file that
//! `strata recompute --model-file` (alias `strata apply`) applies per
//! partition, so every worker serves what one whole run would.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_core::LifecycleModel;
use strata_events::input::{ErrorBudget, RowLimits};
use strata_job::{DeleteGuard, Delivery, ModelsConfig, RecomputeOptions};

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
    /// Built-in lifecycle preset: retail, sns, saas or wealth.
    #[arg(long, default_value = "retail", conflicts_with = "model")]
    pub preset: String,
    /// A custom lifecycle model (TOML) instead of a preset.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Model settings (TOML), as for `strata recompute --config`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The time the profiles will describe (RFC 3339, epoch, or `today`);
    /// later events are ignored. The applying runs must use the same.
    #[arg(long, value_parser = parse_time)]
    pub as_of: i64,
    /// Model version the applying runs stamp on profiles [default: <preset>-1].
    #[arg(long)]
    pub model_version: Option<String>,
    /// Fail when more than this share of rows is bad.
    #[arg(long, default_value_t = 0.01)]
    pub max_bad_fraction: f64,
    /// Rows whose amount is above this (in absolute value) are bad rows.
    #[arg(long, default_value_t = strata_events::input::DEFAULT_MAX_AMOUNT)]
    pub max_amount: f64,
    /// Where to write the model file (JSON; written atomically).
    #[arg(long)]
    pub model_out: PathBuf,
}

pub async fn run(args: FitArgs) -> anyhow::Result<()> {
    strata_events::input::check_as_of(args.as_of).context("--as-of")?;
    let model = match &args.model {
        Some(path) => super::parse::read_model(path)?,
        None => LifecycleModel::preset(&args.preset)?,
    };
    let mut models = ModelsConfig::load(args.config.as_deref())?;
    // The catalogue the applying run uses (recompute does the same).
    models.use_model_catalogue(model.name());
    let options = RecomputeOptions {
        events: args.events,
        summaries: args.summaries,
        model_version: args
            .model_version
            .unwrap_or_else(|| format!("{}-1", model.name())),
        model,
        as_of: args.as_of,
        models,
        budget: ErrorBudget {
            max_bad_fraction: args.max_bad_fraction,
            limits: RowLimits::for_run(args.as_of, super::recompute::now_millis())
                .with_max_amount(args.max_amount),
        },
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
