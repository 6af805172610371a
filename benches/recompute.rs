//! The recompute job against DuckDB: strata's read (events into per-user
//! histories) at one thread and at every core, the whole recompute without
//! delivery, and DuckDB's equivalent per-user aggregation of the same file
//! (its Python package, benches/support/duckdb_summarize.py, timed inside
//! Python) at the same thread counts.
//!
//! Run with `cargo bench --bench recompute`. `STRATA_BENCH_USERS` sets the
//! generated users (1,000,000 by default: about 39 million events); the file
//! is generated once into `bench-cache/` under the target dir, so reruns
//! skip it. `STRATA_BENCH_SCALING=1` adds a run on three times the users
//! and prints the time ratio; `STRATA_BENCH_READ_ONLY=1` leaves out the
//! whole recompute (quick runs of the read). Peak memory is this process's
//! `VmHWM`, reset before each phase. The DuckDB rows are skipped, with a
//! note, when `import duckdb` fails.
//!
//! Last run (issue 22, seventh session: the offer selection from pooled
//! statistics, kept BG/NBD expectations, the diff on the apply threads; 1M
//! users, 39.4M events, 2 cores, nothing else running,
//! `STRATA_BENCH_SCALING=1`):
//!
//! ```text
//! run                              | threads |   seconds |  vs duckdb |   peak MiB |  KB/user
//! duckdb 2.0.1 aggregation         |       1 |      3.55 |      1.00x |        633 |     0.66
//! strata read (summarize)          |       1 |      5.24 |      1.48x |        487 |     0.51
//! duckdb 2.0.1 aggregation         |       2 |      1.98 |      1.00x |        690 |     0.72
//! strata read (summarize)          |       2 |      2.87 |      1.45x |        570 |     0.60
//! strata recompute, no delivery    |       2 |      9.86 |      4.99x |        851 |     0.89
//! recompute phases: read 2.90s, score 6.91s, deliver 0.00s
//! scaling: recompute of 3000000 users 25.81s vs 1000000 users 9.86s = 2.62x (target <= 3.3x); peak 0.68 KB/user
//! ```
//!
//! The sixth session ended at: read 5.82 s (1.54x) and 3.21 s (1.47x),
//! recompute 14.62 s (6.72x) at 0.87 KB/user, 3M in 2.42x at 0.66 KB/user.
//! The fifth ended at recompute 17.45 s (8.54x) at 1.13 KB/user.
//! The fourth ended at recompute 25.30 s (12.40x) at 1.72 KB/user.
//!
//! The same machine at the start of the fourth session (huge pages on, the row
//! read, fits one after the other): read 29.36 s on 1 thread (7.34x),
//! 14.33 s on 2 (6.13x), recompute 72.20 s (30.89x) at 4.56 KB/user.

#[path = "support/allocator.rs"]
mod allocator;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use strata_core::LifecycleModel;
use strata_events::generate::{self, GenConfig, Preset};
use strata_events::input::{ErrorBudget, EventWriter, Format};
use strata_job::{Delivery, ModelsConfig, RecomputeOptions};

const DAYS: u32 = 365;
const SEED: u64 = 1;

/// Peak resident memory of this process since the last reset, in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak so each phase reports its own (Linux 4.0+).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `bench-cache/` beside this bench's binary's profile folder (`target/release`).
fn cache_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("no target dir above {}", exe.display()))?;
    let dir = profile.join("bench-cache");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The generated retail log of `users` users, written once and reused.
fn events_file(users: u64) -> anyhow::Result<(PathBuf, GenConfig)> {
    let config = GenConfig::new(users, DAYS, SEED, Preset::Retail);
    let path = cache_dir()?.join(format!("events-{users}u-{DAYS}d-seed{SEED}.parquet"));
    if path.exists() {
        return Ok((path, config));
    }
    let started = Instant::now();
    let partial = path.with_extension("partial.parquet");
    let mut writer = EventWriter::create(&partial, Format::Parquet)?;
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
    std::fs::rename(&partial, &path)?;
    println!(
        "generated {events} events for {users} users into {} in {:.0}s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok((path, config))
}

fn job_options(
    events: &Path,
    config: &GenConfig,
    state: &Path,
) -> anyhow::Result<RecomputeOptions> {
    Ok(RecomputeOptions {
        events: vec![events.to_owned()],
        summaries: None,
        model: LifecycleModel::preset("retail")?,
        model_version: "retail-1".into(),
        as_of: config.end,
        models: ModelsConfig::default(),
        budget: ErrorBudget::default(),
        state_file: state.join("state.jsonl"),
        delivery: Delivery::DryRun,
        delete_missing: false,
        delete_guard: strata_job::DeleteGuard::default(),
        full_push: false,
        transitions_file: None,
        show_progress: false,
        targeting: None,
    })
}

/// One row of the table.
struct Row {
    name: String,
    threads: usize,
    seconds: f64,
    /// DuckDB's time at the same thread count, if it ran.
    baseline: Option<f64>,
    peak_kib: Option<f64>,
}

/// DuckDB's aggregation on `threads` threads: (seconds, peak KiB), or why not.
fn duckdb(events: &Path, threads: usize) -> Result<(f64, f64, String), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/duckdb_summarize.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(events)
        .arg(threads.to_string())
        .output()
        .map_err(|error| format!("python3 did not start: {error}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("unreadable answer from {}: {error}", script.display()))?;
    let number = |key: &str| answer[key].as_f64().unwrap_or(f64::NAN);
    let version = answer["version"].as_str().unwrap_or("?").to_owned();
    Ok((number("seconds"), number("peak_kib"), version))
}

/// Times the read and the whole recompute without delivery on every core.
fn recompute(options: &RecomputeOptions) -> anyhow::Result<(f64, f64, strata_job::RunSummary)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    reset_peak_rss();
    let started = Instant::now();
    let summary = runtime.block_on(strata_job::run(options.clone()))?;
    Ok((
        started.elapsed().as_secs_f64(),
        peak_rss_kib().unwrap_or(f64::NAN),
        summary,
    ))
}

fn main() -> anyhow::Result<()> {
    allocator::tune_pages();
    // `cargo test --all-targets` runs benches with `--test`: the 1M-user run is for `cargo bench`.
    if std::env::args().any(|argument| argument == "--list" || argument == "--test") {
        return Ok(());
    }
    let users: u64 = std::env::var("STRATA_BENCH_USERS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (events, config) = events_file(users)?;
    let state = tempfile::tempdir()?;
    let options = job_options(&events, &config, state.path())?;
    let file_mib = std::fs::metadata(&events)?.len() as f64 / f64::from(1 << 20);

    let mut duckdb_note = None;
    let mut duckdb_times = Vec::new();
    let mut rows = Vec::new();
    let mut thread_counts = vec![1];
    if cores > 1 {
        thread_counts.push(cores);
    }
    let mut summarized = 0;
    for &threads in &thread_counts {
        let baseline = match duckdb(&events, threads) {
            Ok((seconds, peak_kib, version)) => {
                rows.push(Row {
                    name: format!("duckdb {version} aggregation"),
                    threads,
                    seconds,
                    baseline: Some(seconds),
                    peak_kib: Some(peak_kib),
                });
                duckdb_times.push((threads, seconds));
                Some(seconds)
            }
            Err(reason) => {
                duckdb_note = Some(reason);
                None
            }
        };
        reset_peak_rss();
        let started = Instant::now();
        let (histories, _report) = strata_job::read::read_events(&options, threads)?;
        let seconds = started.elapsed().as_secs_f64();
        let peak_kib = peak_rss_kib();
        summarized = histories.len();
        drop(histories);
        rows.push(Row {
            name: "strata read (summarize)".into(),
            threads,
            seconds,
            baseline,
            peak_kib,
        });
    }
    let read_only = std::env::var("STRATA_BENCH_READ_ONLY").is_ok_and(|value| value == "1");
    let mut whole = None;
    if !read_only {
        let (seconds, peak_kib, summary) = recompute(&options)?;
        let all_cores_duckdb = duckdb_times
            .iter()
            .find(|(threads, _)| *threads == cores)
            .map(|(_, seconds)| *seconds);
        rows.push(Row {
            name: "strata recompute, no delivery".into(),
            threads: cores,
            seconds,
            baseline: all_cores_duckdb,
            peak_kib: Some(peak_kib),
        });
        whole = Some((seconds, summary));
    }

    println!(
        "\nrecompute bench: {users} users ({summarized} with events), {file_mib:.0} MiB Parquet, \
         {cores} cores"
    );
    println!(
        "{:<32} | {:>7} | {:>9} | {:>10} | {:>10} | {:>8}",
        "run", "threads", "seconds", "vs duckdb", "peak MiB", "KB/user"
    );
    for row in &rows {
        let ratio = row.baseline.map_or("n/a".to_owned(), |base| {
            format!("{:.2}x", row.seconds / base)
        });
        let (mib, per_user) = row.peak_kib.map_or(("n/a".into(), "n/a".into()), |kib| {
            (
                format!("{:.0}", kib / 1024.0),
                format!("{:.2}", kib * 1.024 / users as f64),
            )
        });
        println!(
            "{:<32} | {:>7} | {:>9.2} | {:>10} | {:>10} | {:>8}",
            row.name, row.threads, row.seconds, ratio, mib, per_user
        );
    }
    if let Some((_, summary)) = &whole {
        let phases: Vec<String> = summary
            .phases
            .iter()
            .map(|(phase, took)| format!("{phase} {:.2}s", took.as_secs_f64()))
            .collect();
        println!("recompute phases: {}", phases.join(", "));
    }
    if let Some(reason) = duckdb_note {
        println!("note: the DuckDB rows were skipped: {reason}");
    }

    if let Some((seconds, _)) = whole
        && std::env::var("STRATA_BENCH_SCALING").is_ok_and(|value| value == "1")
    {
        let (larger, larger_config) = events_file(users * 3)?;
        let larger_state = tempfile::tempdir()?;
        let larger_options = job_options(&larger, &larger_config, larger_state.path())?;
        let (larger_seconds, larger_peak, _) = recompute(&larger_options)?;
        println!(
            "scaling: recompute of {} users {larger_seconds:.2}s vs {users} users {seconds:.2}s \
             = {:.2}x (target <= 3.3x); peak {:.2} KB/user",
            users * 3,
            larger_seconds / seconds,
            larger_peak * 1.024 / (users * 3) as f64
        );
    }
    Ok(())
}
