//! Per-user summary files (issue 22): the time to summarize generated events
//! into Parquet parts, the time to load the parts back into histories (what
//! `recompute --summaries` does instead of reading events), the incremental
//! day merged into them, and the size on disk per user; each time with its
//! ratio to reading and folding the events, measured in the same run.
//!
//! Run with `cargo bench --bench summaries`; `STRATA_SUMMARY_USERS` (default
//! 300,000) and `STRATA_SUMMARY_PARTS` (default 4) change the population and
//! the parts. Events (365 days of the retail preset, seed 1) and summaries
//! are written under `TMPDIR` and removed at the end.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use strata_core::{CurrencyConfig, LifecycleModel};
use strata_events::generate::{self, GenConfig, Preset};
use strata_events::input::{ErrorBudget, EventWriter, Format, RowLimits};
use strata_events::summary;
use strata_job::{SummarizeOptions, summarize};

const AS_OF: i64 = generate::DEFAULT_END;
const DAY: i64 = 86_400_000;

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text.parse().with_context(|| format!("{name}={text}")),
        Err(_) => Ok(default),
    }
}

fn options(
    events: Vec<PathBuf>,
    previous: Option<PathBuf>,
    out: PathBuf,
    parts: u32,
    as_of: i64,
) -> SummarizeOptions {
    SummarizeOptions {
        events,
        previous,
        out,
        parts: Some(parts),
        model: LifecycleModel::preset("retail").expect("a preset"),
        as_of,
        currency: CurrencyConfig::default(),
        reporting_currency: "EUR".to_owned(),
        budget: ErrorBudget {
            max_bad_fraction: 0.01,
            limits: RowLimits::for_run(as_of, as_of),
        },
        show_progress: false,
    }
}

fn main() -> anyhow::Result<()> {
    let users = env_number("STRATA_SUMMARY_USERS", 300_000)?;
    let parts = u32::try_from(env_number("STRATA_SUMMARY_PARTS", 4)?)?;
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;

    // Streamed to the files as generated: the events never sit in memory.
    let all_events = dir.path().join("all.parquet");
    let old_days = dir.path().join("old-days.parquet");
    let new_day = dir.path().join("new-day.parquet");
    let mut all = EventWriter::create(&all_events, Format::Parquet)?;
    let mut before = EventWriter::create(&old_days, Format::Parquet)?;
    let mut last_day = EventWriter::create(&new_day, Format::Parquet)?;
    let mut failed = None;
    generate::generate(&GenConfig::new(users, 365, 1, Preset::Retail), |event| {
        let day = if event.at <= AS_OF - DAY {
            &mut before
        } else {
            &mut last_day
        };
        if let Err(error) = all.write(event).and_then(|()| day.write(event)) {
            failed.get_or_insert(error);
        }
    });
    if let Some(error) = failed {
        return Err(error.into());
    }
    let event_count = all.finish()?;
    before.finish()?;
    last_day.finish()?;

    // The full summarize: its own read phase is the baseline.
    let full = dir.path().join("full");
    let started = Instant::now();
    let outcome = runtime.block_on(summarize(options(
        vec![all_events],
        None,
        full.clone(),
        parts,
        AS_OF,
    )))?;
    let summarize_seconds = started.elapsed().as_secs_f64();
    let phase = |name: &str| {
        outcome
            .phases
            .iter()
            .find(|(phase, _)| *phase == name)
            .map_or(0.0, |(_, took)| took.as_secs_f64())
    };
    let read_seconds = phase("read");
    let write_seconds = phase("write");
    let bytes: u64 = outcome
        .manifest
        .part_files
        .iter()
        .map(|file| file.bytes)
        .sum();

    // Loading every part back, as `recompute --summaries` does.
    let model = LifecycleModel::preset("retail")?;
    let manifest = summary::read_manifest(&full)?;
    let started = Instant::now();
    let loaded = summary::on_threads((0..manifest.parts).collect(), |index| {
        summary::read_part(&full, &manifest, index, &model).map(|users| users.len())
    })?;
    let load_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(loaded.iter().sum::<usize>() as u64 == manifest.users);

    // The incremental day: the previous summaries, then one more day.
    let previous = dir.path().join("previous");
    runtime.block_on(summarize(options(
        vec![old_days],
        None,
        previous.clone(),
        parts,
        AS_OF - DAY,
    )))?;
    let started = Instant::now();
    runtime.block_on(summarize(options(
        vec![new_day],
        Some(previous),
        dir.path().join("merged"),
        parts,
        AS_OF,
    )))?;
    let merge_seconds = started.elapsed().as_secs_f64();

    let summarized = manifest.users.max(1) as f64;
    println!(
        "summaries: {} users, {event_count} events, {parts} parts, {} cores",
        manifest.users,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!("{:<44} {:>9} {:>10}", "step", "seconds", "vs read");
    let rows = [
        ("read + fold the events (baseline)", read_seconds),
        ("summarize (read, fold, write parts)", summarize_seconds),
        ("  of which write the parts", write_seconds),
        ("load every part back into histories", load_seconds),
        (
            "incremental day (load previous, fold, write)",
            merge_seconds,
        ),
    ];
    for (step, seconds) in rows {
        println!(
            "{step:<44} {seconds:>9.2} {:>9.2}x",
            seconds / read_seconds.max(1e-9)
        );
    }
    println!(
        "size on disk: {bytes} bytes, {:.0} bytes per user",
        bytes as f64 / summarized
    );
    Ok(())
}
