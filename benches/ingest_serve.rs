//! End-to-end ingest: ApplyUpdates throughput through the real server's gRPC
//! ingest path (synced WAL, counters and transitions, as served), and the
//! read latency of BatchGetProfiles (batch 100, open loop at a fixed rate)
//! idle and while that ingest runs.
//!
//! Run with `cargo bench --bench ingest_serve`. It loads
//! `STRATA_BENCH_USERS` (default 200,000) demo profiles, starts
//! `strata_server::serve` in process on loopback, then:
//!
//! 1. ingest alone: `STRATA_BENCH_BATCHES` (default 300) batches of
//!    [`BATCH`] upserts of existing users with a new seed (so layers change),
//!    pushed by `strata_client::IngestClient` in one stream; upserts/s;
//! 2. reads idle: `strata loadtest`'s open loop at `STRATA_BENCH_RATE`
//!    (default 1,000) requests/s for `STRATA_BENCH_SECONDS` (default 5) after
//!    1 s of warm-up;
//! 3. reads busy: the same read plan while a producer pushes batches
//!    (seeds alternating, so every batch changes records) until the reads end.
//!
//! Three runtimes of one worker each: server, read client and producer, so
//! neither client's work delays the other's timers. With 2 cores or more the
//! server (and every thread it starts, the ingest pipeline's included) is
//! pinned to one core and both clients to another, and the producer runs at
//! nice 10: it stands in for a job on another machine, so its encoding must
//! not pass for the server's interference with reads.

#[allow(dead_code)] // Shared by the benches; this one uses the pinning.
mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use strata_client::{Changes, Connection, IngestClient};
use strata_loadtest::fixtures::{demo_profile, demo_user_id};
use strata_loadtest::{
    Distribution, IdConfig, IdFormat, IdSpace, LoadConfig, Method, Pace, Plan, Report, run_with_ids,
};
use strata_server::classifier::ProfileClassifier;
use strata_server::config::Config;
use strata_store::{Batch, Store, StoreOptions};

/// Upserts per pushed batch.
const BATCH: usize = 1000;
/// Reads: users per BatchGetProfiles.
const READ_BATCH: usize = 100;
const CONNECTIONS: usize = 2;
const IN_FLIGHT: usize = 8;
const WARMUP: Duration = Duration::from_secs(1);
/// Batches per stream in the busy phase: the producer checks between
/// streams whether the reads are over.
const BUSY_STREAM: usize = 20;
const COMPUTED_AT: i64 = 1_800_000_000;
const LOAD_CHUNK: u64 = 10_000;
const PRODUCER: &str = "ingest-serve";

fn main() -> anyhow::Result<()> {
    support::tune_pages();
    // `cargo test --benches` runs benches with --bench absent: keep it quick.
    if !std::env::args().any(|arg| arg == "--bench") {
        return Ok(());
    }
    let users = support::environment("STRATA_BENCH_USERS", 200_000u64)?;
    let batches = support::environment("STRATA_BENCH_BATCHES", 300usize)?;
    let rate = support::environment("STRATA_BENCH_RATE", 1_000.0f64)?;
    let seconds = support::environment("STRATA_BENCH_SECONDS", 5.0f64)?;
    if !(10_000..=5_000_000).contains(&users) {
        bail!("STRATA_BENCH_USERS={users}: between 10000 and 5000000, please");
    }
    if !(1..=5_000).contains(&batches) {
        bail!("STRATA_BENCH_BATCHES={batches}: between 1 and 5000, please");
    }
    if !(1.0..=20_000.0).contains(&rate) {
        bail!("STRATA_BENCH_RATE={rate}: between 1 and 20000, please");
    }
    if !(0.5..=60.0).contains(&seconds) {
        bail!("STRATA_BENCH_SECONDS={seconds}: between 0.5 and 60, please");
    }
    let pinning = support::Pinning::choose();
    let placement = match (pinning.server(), pinning.client()) {
        (Some(server), Some(client)) => format!(
            "server pinned to core {server}, clients to core {client} (producer at nice {PRODUCER_NICE})"
        ),
        _ => "not pinned".to_owned(),
    };
    if let Some(core) = pinning.client() {
        // block_on runs futures on this thread: it is a client too.
        support::pin_current_thread(core)?;
    }
    let server = runtime("server", pinning.server(), 0)?;
    let reader = runtime("read-client", pinning.client(), 0)?;
    let producer = runtime("producer", pinning.client(), PRODUCER_NICE)?;

    let dir = tempfile::tempdir().context("temporary folder")?;
    let store_path = dir.path().join("store");
    load(&store_path, users)?;

    eprintln!("building {batches} batches of {BATCH} upserts (x2 seeds)");
    let first = work(users, batches, 2);
    let second = work(users, batches, 3);

    let mut served = Config::default();
    served.store.data_dir = store_path.clone();
    let running = support::StrataServer::start(&server, served)?;
    let connection = Connection::new(format!("http://{}", running.address));
    let mut ingest = producer.block_on(IngestClient::connect(&connection, PRODUCER))?;

    // 1. Ingest alone, one stream, as the recompute job pushes.
    let pushed = first.iter().flatten().cloned().collect::<Vec<_>>();
    eprintln!("ingest alone");
    let upserts: usize = pushed.iter().map(|changes| changes.upserts.len()).sum();
    let started = Instant::now();
    let cpu_before = process_cpu();
    let summary = producer.block_on(ingest.push(pushed))?;
    let alone = started.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    if summary.upserts != upserts as u64 {
        bail!("server applied {} upserts of {upserts}", summary.upserts);
    }
    let alone_rate = upserts as f64 / alone.as_secs_f64();

    let ids = IdConfig {
        format: IdFormat::parse("user-{:08}")?,
        key_space: users,
        distribution: Distribution::Uniform,
        unknown_share: 0.0,
    };
    let space = Arc::new(IdSpace::build(&ids)?);
    let config = LoadConfig {
        target: running.address,
        method: Method::BatchGetProfiles,
        connections: CONNECTIONS,
        in_flight: IN_FLIGHT,
        token: None,
        tls: None,
        ids,
        plan: Plan {
            pace: Pace::Open { rate },
            batch_size: READ_BATCH,
            warmup: WARMUP,
            duration: Some(Duration::from_secs_f64(seconds)),
            max_requests: None,
            timeout: Duration::from_secs(10),
            seed: 1,
        },
        progress: false,
    };

    // 2. Reads idle.
    eprintln!("reads idle");
    let idle = reader.block_on(run_with_ids(&config, space.clone()))?;

    // 3. Reads while the producer pushes, alternating seeds, until the reads
    // are done (then it finishes its current stream).
    eprintln!("reads under ingest");
    let done = Arc::new(AtomicBool::new(false));
    let busy_upserts = Arc::new(AtomicU64::new(0));
    let producer_task = {
        let done = done.clone();
        let busy_upserts = busy_upserts.clone();
        let sets = [second, first];
        producer.spawn(async move {
            let started = Instant::now();
            let mut pushes = 0u64;
            'outer: for set in sets.iter().cycle().take(40) {
                for chunk in set {
                    if done.load(Ordering::Relaxed) {
                        break 'outer;
                    }
                    let count: usize = chunk.iter().map(|changes| changes.upserts.len()).sum();
                    ingest.push(chunk.clone()).await?;
                    busy_upserts.fetch_add(count as u64, Ordering::Relaxed);
                    pushes += 1;
                }
            }
            anyhow::Ok((started.elapsed(), pushes, done.load(Ordering::Relaxed)))
        })
    };
    let busy = reader.block_on(run_with_ids(&config, space));
    done.store(true, Ordering::Relaxed);
    let (busy_took, _, covered) = producer.block_on(producer_task)??;
    let busy = busy?;
    let busy_rate = busy_upserts.load(Ordering::Relaxed) as f64 / busy_took.as_secs_f64();
    running.stop(&server)?;

    print_table(&Summary {
        placement,
        users,
        batches,
        upserts,
        alone,
        alone_rate,
        cpu,
        busy_rate,
        covered,
        idle: &idle,
        busy: &busy,
    });
    Ok(())
}

struct Summary<'a> {
    placement: String,
    users: u64,
    batches: usize,
    upserts: usize,
    alone: Duration,
    alone_rate: f64,
    /// CPU seconds of the whole process (server and producer) during it.
    cpu: Option<f64>,
    busy_rate: f64,
    covered: bool,
    idle: &'a Report,
    busy: &'a Report,
}

fn print_table(summary: &Summary<'_>) {
    println!();
    println!(
        "ingest_serve: {} users, batches of {BATCH} upserts, synced WAL, loopback; {}",
        summary.users, summary.placement
    );
    println!();
    println!(
        "ingest alone: {} batches, {} upserts in {:.2} s = {:.0} upserts/s (target 300000)",
        summary.batches,
        summary.upserts,
        summary.alone.as_secs_f64(),
        summary.alone_rate
    );
    if let Some(cpu) = summary.cpu {
        println!(
            "  process CPU meanwhile: {cpu:.2} s = {:.1} ms per 1000 upserts (a figure other load on the machine moves less)",
            cpu * 1000.0 / (summary.upserts as f64 / 1000.0)
        );
    }
    println!(
        "ingest under reads: {:.0} upserts/s{}",
        summary.busy_rate,
        if summary.covered {
            ""
        } else {
            " (WARNING: the producer ran out of batches before the reads ended)"
        }
    );
    println!();
    println!(
        "{:<22} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "BatchGetProfiles b100",
        "req/s",
        "ok",
        "errors",
        "late",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "max us"
    );
    for (name, report) in [("idle", summary.idle), ("under ingest", summary.busy)] {
        println!(
            "{:<22} {:>8.0} {:>8} {:>6} {:>6} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            name,
            report.requests_per_second,
            report.ok,
            report.errors,
            report.late_requests,
            report.latency_us.p50,
            report.latency_us.p99,
            report.latency_us.p999,
            report.latency_us.max
        );
    }
    println!();
    println!(
        "p99 under ingest / idle: {:.2}x (target at most 2x)",
        summary.busy.latency_us.p99 / summary.idle.latency_us.p99.max(1e-9)
    );
}

/// CPU seconds this process has used (user + system, all threads), from
/// `/proc/self/stat`; `None` where that is not available.
fn process_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    // Linux reports these in USER_HZ, 100 on every mainstream platform.
    Some((user + system) as f64 / 100.0)
}

/// Niceness of the producer's threads (see the module comment).
const PRODUCER_NICE: i32 = 10;

fn runtime(name: &str, core: Option<usize>, nice: i32) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .on_thread_start(move || {
            // Best effort: an unpinned or un-niced thread still measures.
            if let Some(core) = core {
                let _ = support::pin_current_thread(core);
            }
            if nice != 0 {
                // SAFETY: setpriority on this thread's own id changes only
                // its scheduling priority.
                unsafe {
                    let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::setpriority(libc::PRIO_PROCESS, thread, nice);
                }
            }
        })
        .enable_all()
        .build()
        .with_context(|| format!("starting the {name} runtime"))
}

/// Writes `users` demo profiles (seed 1) to a new store at `path`, with the
/// server's classifier so the counters are stored and need no scan at open.
fn load(path: &Path, users: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let options = StoreOptions {
        // Loading is not what is measured; a synced WAL only slows set-up.
        sync_writes: false,
        classifier: Some(Arc::new(ProfileClassifier)),
        ..StoreOptions::default()
    };
    let store = Store::open(path, &options)?;
    for (sequence, start) in (0..users).step_by(LOAD_CHUNK as usize).enumerate() {
        let upserts: Vec<(String, Vec<u8>)> = (start..(start + LOAD_CHUNK).min(users))
            .map(|index| {
                let record = demo_profile(1, index, COMPUTED_AT).encode_to_vec();
                (demo_user_id(index), record)
            })
            .collect();
        store.apply(Batch {
            producer_id: "load",
            sequence: sequence as u64 + 1,
            upserts: &upserts,
            deletes: &[] as &[&str],
        })?;
    }
    store.flush()?;
    eprintln!(
        "loaded {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `batches` batches of existing users (distinct within a batch: a random
/// permutation taken in order, wrapping) with profiles of `seed`, grouped in
/// streams of [`BUSY_STREAM`] batches.
fn work(users: u64, batches: usize, seed: u64) -> Vec<Vec<Changes>> {
    let mut order: Vec<u64> = (0..users).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let per_batch = BATCH.min(users as usize);
    let mut next = order.iter().cycle();
    let all: Vec<Changes> = (0..batches)
        .map(|_| Changes {
            upserts: next
                .by_ref()
                .take(per_batch)
                .map(|&index| demo_profile(seed, index, COMPUTED_AT))
                .collect(),
            deletes: Vec::new(),
            model_card: None,
        })
        .collect();
    let mut streams = Vec::new();
    let mut all = all.into_iter().peekable();
    while all.peek().is_some() {
        streams.push(all.by_ref().take(BUSY_STREAM).collect());
    }
    streams
}
