//! The summarize stage on two engines, for the record (issue 17): the
//! in-process `strata summarize` (`strata_job::summarize`) beside the Spark
//! job (`deploy/spark/summarize.py`, local mode on every core) over the same
//! generated Parquet file, with the ratio to the in-process time. Spark's
//! time is the whole `python3 summarize.py` run as a user starts it: JVM and
//! session start-up included (printed apart by the run itself: see the first
//! row, the job over a one-user file).
//!
//! Run with `cargo bench --bench spark_summarize` (`./dev bench` installs
//! pyspark); `STRATA_SPARK_USERS` (default 1,000,000) sets the population,
//! `STRATA_SPARK_PARTS` (default 4) the parts. Skipped, saying so, when
//! `python3` cannot import pyspark and xxhash. Files go under `TMPDIR`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use strata_core::{CurrencyConfig, Event, LifecycleModel};
use strata_events::generate::{self, GenConfig, Preset};
use strata_events::input::{ErrorBudget, EventWriter, Format, RowLimits};
use strata_job::{SummarizeOptions, summarize};

const AS_OF: i64 = generate::DEFAULT_END;
const AS_OF_TEXT: &str = "2025-01-01T00:00:00Z";

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text.parse().with_context(|| format!("{name}={text}")),
        Err(_) => Ok(default),
    }
}

fn spark_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pyspark, xxhash"])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn in_process(
    runtime: &tokio::runtime::Runtime,
    events: &Path,
    out: PathBuf,
    parts: u32,
) -> anyhow::Result<Duration> {
    let options = SummarizeOptions {
        events: vec![events.to_owned()],
        previous: None,
        out,
        parts: Some(parts),
        model: LifecycleModel::preset("retail")?,
        as_of: AS_OF,
        currency: CurrencyConfig::default(),
        reporting_currency: "EUR".to_owned(),
        budget: ErrorBudget {
            max_bad_fraction: 0.01,
            limits: RowLimits::for_run(AS_OF, AS_OF),
        },
        show_progress: false,
    };
    let started = Instant::now();
    runtime.block_on(summarize(options))?;
    Ok(started.elapsed())
}

fn spark(events: &Path, out: &Path, parts: u32, cores: usize) -> anyhow::Result<Duration> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/spark/summarize.py");
    let started = Instant::now();
    let output = Command::new("python3")
        .arg(script)
        .args(["--events", events.to_str().context("a UTF-8 path")?])
        .args(["--out", out.to_str().context("a UTF-8 path")?])
        .args(["--parts", &parts.to_string(), "--as-of", AS_OF_TEXT])
        .args(["--master", &format!("local[{cores}]")])
        .args(["--shuffle-partitions", &(4 * cores).to_string()])
        .output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "summarize.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

fn write_events(path: &Path, users: u64) -> anyhow::Result<u64> {
    let mut writer = EventWriter::create(path, Format::Parquet)?;
    let mut failed = None;
    let mut count = 0u64;
    generate::generate(&GenConfig::new(users, 365, 1, Preset::Retail), |event| {
        count += 1;
        if let Err(error) = writer.write(event) {
            failed.get_or_insert(error);
        }
    });
    if let Some(error) = failed {
        return Err(error.into());
    }
    writer.finish()?;
    Ok(count)
}

fn main() -> anyhow::Result<()> {
    if !spark_available() {
        eprintln!(
            "spark_summarize: skipped, python3 has no pyspark/xxhash (./dev bench installs them)"
        );
        return Ok(());
    }
    let users = env_number("STRATA_SPARK_USERS", 1_000_000)?;
    let parts = u32::try_from(env_number("STRATA_SPARK_PARTS", 4)?)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;

    // Spark's fixed cost: the same run over one user's events.
    let tiny = dir.path().join("tiny.parquet");
    let mut writer = EventWriter::create(&tiny, Format::Parquet)?;
    writer.write(&Event::new("u1", AS_OF - 1_000, "browse"))?;
    writer.finish()?;
    let spark_tiny = spark(&tiny, &dir.path().join("tiny-spark"), parts, cores)?;
    let rust_tiny = in_process(&runtime, &tiny, dir.path().join("tiny-rust"), parts)?;

    let events = dir.path().join("events.parquet");
    let count = write_events(&events, users)?;
    let rust_time = in_process(&runtime, &events, dir.path().join("rust"), parts)?;
    let spark_time = spark(&events, &dir.path().join("spark"), parts, cores)?;

    println!(
        "summarize stage, {users} users, {count} events, {parts} parts, {cores} cores (Spark local[{cores}])"
    );
    println!("{:<34} {:>12} {:>14}", "run", "seconds", "vs in-process");
    let row = |name: &str, time: Duration, baseline: Duration| {
        println!(
            "{name:<34} {:>12.2} {:>13.1}x",
            time.as_secs_f64(),
            time.as_secs_f64() / baseline.as_secs_f64().max(1e-9)
        );
    };
    row("in-process, one user", rust_tiny, rust_tiny);
    row("spark, one user (start-up)", spark_tiny, rust_tiny);
    row("in-process strata summarize", rust_time, rust_time);
    row("spark summarize.py", spark_time, rust_time);
    Ok(())
}
