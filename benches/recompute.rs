//! Recompute throughput: events per second and peak memory of the job's read
//! and score phases on generated events (10 million by default).
//!
//! Run with `cargo bench --bench recompute`; `STRATA_BENCH_EVENTS` sets the
//! event count. The baseline, measured in the same process, is a bare read of
//! the same file that only counts events: the table's ratio says what the
//! per-user aggregation and scoring cost on top of decoding.

#[path = "support/allocator.rs"]
mod allocator;

use std::time::Instant;

use strata_core::LifecycleModel;
use strata_events::generate::{self, GenConfig, Preset};
use strata_events::input::{ErrorBudget, EventSource, EventWriter, Format};
use strata_job::{Delivery, ModelsConfig, RecomputeOptions};

/// Retail users produce about 39 events a year each in the generator.
const EVENTS_PER_USER: u64 = 39;

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak so each phase reports its own (Linux 4.0+).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|argument| argument == "--list" || argument == "--test") {
        return Ok(());
    }
    let target_events: u64 = std::env::var("STRATA_BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000_000);
    let users = (target_events / EVENTS_PER_USER).max(1);
    let dir = tempfile::tempdir()?;
    let events_path = dir.path().join("events.parquet");

    let started = Instant::now();
    let config = GenConfig::new(users, 365, 1, Preset::Retail);
    let mut writer = EventWriter::create(&events_path, Format::Parquet)?;
    let mut failure = None;
    generate::generate(&config, |event| {
        if failure.is_none()
            && let Err(error) = writer.write(event)
        {
            failure = Some(error);
        }
    });
    if let Some(error) = failure {
        return Err(error.into());
    }
    let events = writer.finish()?;
    let file_mib = std::fs::metadata(&events_path)?.len() as f64 / (1 << 20) as f64;
    println!(
        "generated {events} events for {users} users ({file_mib:.0} MiB Parquet) in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    reset_peak_rss();
    let source = EventSource::open(std::slice::from_ref(&events_path))?;
    let started = Instant::now();
    let mut counted = 0u64;
    source.read(ErrorBudget::default(), |_| counted += 1)?;
    let bare_seconds = started.elapsed().as_secs_f64();
    let bare_peak = peak_rss_mib();

    reset_peak_rss();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let summary = runtime.block_on(strata_job::run(RecomputeOptions {
        events: vec![events_path],
        summaries: None,
        model: LifecycleModel::preset("retail")?,
        model_version: "retail-1".into(),
        as_of: config.end,
        models: ModelsConfig::default(),
        budget: ErrorBudget::default(),
        state_file: dir.path().join("state.jsonl"),
        delivery: Delivery::DryRun,
        delete_missing: false,
        delete_guard: strata_job::DeleteGuard::default(),
        full_push: false,
        transitions_file: None,
        show_progress: false,
        targeting: None,
    }))?;
    let job_seconds = started.elapsed().as_secs_f64();
    let job_peak = peak_rss_mib();
    let phase = |name: &str| {
        summary
            .phases
            .iter()
            .find(|(phase, _)| *phase == name)
            .map_or(0.0, |(_, took)| took.as_secs_f64())
    };

    let mib = |value: Option<f64>| value.map_or("n/a".to_owned(), |mib| format!("{mib:.0} MiB"));
    println!(
        "\nrecompute on {counted} events, {} users (Parquet input, 1 file)",
        summary.users
    );
    println!(
        "{:<28} | {:>10} | {:>14} | {:>12}",
        "run", "seconds", "events/s", "peak memory"
    );
    println!(
        "{:<28} | {:>10.2} | {:>14.0} | {:>12}",
        "bare read (baseline)",
        bare_seconds,
        counted as f64 / bare_seconds,
        mib(bare_peak)
    );
    println!(
        "{:<28} | {:>10.2} | {:>14.0} | {:>12}",
        "job: read + aggregate",
        phase("read"),
        counted as f64 / phase("read"),
        ""
    );
    println!(
        "{:<28} | {:>10.2} | {:>14.0} | {:>12}",
        "job: read + score (total)",
        job_seconds,
        counted as f64 / job_seconds,
        mib(job_peak)
    );
    println!(
        "aggregation cost: job read phase / bare read = {:.2}x; peak memory per user {:.0} bytes",
        phase("read") / bare_seconds,
        job_peak.unwrap_or(0.0) * (1 << 20) as f64 / summary.users.max(1) as f64
    );
    Ok(())
}
