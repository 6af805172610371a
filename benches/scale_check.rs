//! The scale check (issue 5, item 4): BatchGetProfiles at batch 100 on 1
//! million demo users with the whole data set in cache, against 10 million
//! with the store's caches well under the data size; closed-loop peak, then
//! open loop at half of that peak (latency from each request's intended
//! send time), and the 10M/1M ratios.
//!
//! Each store is built the way a full reload is (`Store::begin_version`:
//! sorted SST files written outside RocksDB and ingested in one step, then
//! published), with the server's classifier so its counters are stored and
//! the server opens it without a scan. `demo_user_id` pads indexes to 8
//! digits, so ascending index is ascending key below 10^8 (the key space
//! stops at 2 x 10^7); `VersionBuilder::put` refuses any key out of order,
//! which checks it on every record. The real server then runs in process
//! with the client and server pinned to separate cores, as in
//! `side_by_side` (see `support`).
//!
//! Run with `cargo bench --bench scale_check`; `STRATA_SCALE_USERS` (default
//! 10,000,000) and `STRATA_BENCH_SECONDS` (default 3 per cell, after 1 s of
//! warm-up) shorten it; `STRATA_SCALE_BLOCK_CACHE_MB` (default 64),
//! `STRATA_SCALE_ROW_CACHE_MB` (default 32) and
//! `STRATA_SCALE_PROFILE_CACHE_MB` (default 64) set the large case's
//! caches (the in-cache case keeps the defaults); the store is built under `TMPDIR` (about 1.5 GB of
//! disk per 10M users) and removed after its cells.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prost::Message;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use strata_loadtest::fixtures::{demo_profile, demo_user_id};
use strata_loadtest::{Distribution, IdConfig, IdFormat, IdSpace, Pace, Plan, Report};
use strata_server::classifier::ProfileClassifier;
use strata_server::config::Config;
use strata_store::{Store, StoreOptions};
use support::{
    CONNECTIONS, IN_FLIGHT, PinnedRuntime, Pinning, StrataServer, environment, grpc_cell, on_core,
};

const BATCH: usize = 100;
const IN_CACHE_USERS: u64 = 1_000_000;
const WARMUP: Duration = Duration::from_secs(1);
const SEED: u64 = 1;
const COMPUTED_AT: i64 = 1_800_000_000;
/// Records generated per message between the generator threads and the
/// SST writer.
const CHUNK: u64 = 20_000;
/// Ids per request of the pass that reads every record once.
const READ_ALL_BATCH: u64 = 1_000;
/// Caches of the out-of-cache case, together a few percent of 10M users'
/// data.
const SMALL_BLOCK_CACHE_MB: usize = 64;
const SMALL_ROW_CACHE_MB: usize = 32;
const SMALL_PROFILE_CACHE_MB: usize = 64;
const MB: f64 = (1u64 << 20) as f64;

/// One store size and the caches it is served with.
struct Case {
    users: u64,
    block_cache_mb: usize,
    row_cache_mb: usize,
    profile_cache_mb: usize,
}

/// What a built store holds.
struct Data {
    /// Keys plus encoded profiles.
    raw_bytes: u64,
    /// Every file under the store's folder after the build.
    disk_bytes: u64,
    load_seconds: f64,
}

/// MultiGet in process, one thread, no network: the storage limit.
struct Storage {
    requests_per_second: f64,
    p99_us: f64,
}

struct Outcome {
    case: Case,
    data: Data,
    storage: Storage,
    closed: Report,
    half_peak: Report,
}

fn main() -> anyhow::Result<()> {
    support::tune_pages();
    let started = Instant::now();
    let users = environment("STRATA_SCALE_USERS", 10_000_000u64)?;
    let seconds = environment("STRATA_BENCH_SECONDS", 3.0f64)?;
    let max_users = strata_loadtest::MAX_KEY_SPACE;
    if !(IN_CACHE_USERS < users && users <= max_users) {
        bail!("STRATA_SCALE_USERS={users}: above {IN_CACHE_USERS} and at most {max_users}, please");
    }
    if !(0.1..=60.0).contains(&seconds) {
        bail!("STRATA_BENCH_SECONDS={seconds}: between 0.1 and 60, please");
    }
    let small_block_cache_mb = environment("STRATA_SCALE_BLOCK_CACHE_MB", SMALL_BLOCK_CACHE_MB)?;
    let small_row_cache_mb = environment("STRATA_SCALE_ROW_CACHE_MB", SMALL_ROW_CACHE_MB)?;
    let small_profile_cache_mb =
        environment("STRATA_SCALE_PROFILE_CACHE_MB", SMALL_PROFILE_CACHE_MB)?;
    let duration = Duration::from_secs_f64(seconds);
    let pinning = Pinning::choose();
    let client = PinnedRuntime::new("load-client", pinning.client())?;
    let server = PinnedRuntime::new("server", pinning.server())?;
    let dir = tempfile::tempdir().context("temporary folder")?;

    let defaults = Config::default().store;
    let mut outcomes = Vec::new();
    for (index, users) in [IN_CACHE_USERS, users].into_iter().enumerate() {
        let store_path = dir.path().join(format!("store-{users}"));
        let data = build(&store_path, users)?;
        let case = if index == 0 {
            // In cache: the defaults, with the block cache raised to hold
            // every uncompressed block if the default cannot.
            let needed_mb = (data.raw_bytes as f64 * 1.25 / MB).ceil() as usize;
            Case {
                users,
                block_cache_mb: defaults.block_cache_mb.max(needed_mb),
                row_cache_mb: defaults.row_cache_mb,
                profile_cache_mb: defaults.profile_cache_mb,
            }
        } else {
            Case {
                users,
                block_cache_mb: small_block_cache_mb,
                row_cache_mb: small_row_cache_mb,
                profile_cache_mb: small_profile_cache_mb,
            }
        };
        let mut config = Config::default();
        config.store.data_dir = store_path.clone();
        config.store.block_cache_mb = case.block_cache_mb;
        config.store.row_cache_mb = case.row_cache_mb;
        config.store.profile_cache_mb = case.profile_cache_mb;

        let ids = IdConfig {
            format: IdFormat::parse("user-{:08}")?,
            key_space: users,
            distribution: Distribution::Uniform,
            unknown_share: 0.0,
        };
        let space = Arc::new(IdSpace::build(&ids)?);
        let plan = |pace| Plan {
            pace,
            batch_size: BATCH,
            warmup: WARMUP,
            duration: Some(duration),
            max_requests: None,
            timeout: Duration::from_secs(10),
            seed: SEED,
        };
        let storage = on_core(pinning.server(), || {
            storage_cell(
                &config,
                &space,
                &plan(Pace::Closed),
                (index == 0).then_some(users),
            )
        })?;
        let running = StrataServer::start(&server.runtime, config)?;
        if index == 0 {
            // A second of random warm-up leaves most of 1M users uncached;
            // "in cache" means every record was read once.
            support::read_all(&client, running.address, users)?;
        }
        let closed = grpc_cell(&client, running.address, &ids, &space, plan(Pace::Closed))?;
        let rate = (closed.requests_per_second / 2.0).clamp(1.0, strata_loadtest::MAX_RATE);
        let half_peak = grpc_cell(
            &client,
            running.address,
            &ids,
            &space,
            plan(Pace::Open { rate }),
        )?;
        running.stop(&server.runtime)?;
        eprintln!(
            "  {users} users: MultiGet {:.0} req/s; strata closed {:.0} req/s p99 {:.0} us; open at {rate:.0}/s p99 {:.0} us",
            storage.requests_per_second,
            closed.requests_per_second,
            closed.latency_us.p99,
            half_peak.latency_us.p99
        );
        remove_store(&store_path);
        outcomes.push(Outcome {
            case,
            data,
            storage,
            closed,
            half_peak,
        });
    }

    print_table(&outcomes, seconds, &pinning.describe(&client, &server));
    println!(
        "wall time: {:.0} s (building stores included)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds a store of `users` demo profiles at `path` as one published
/// version. Profiles are generated on every core but the writer's, in
/// chunks handed to the writer in key order.
fn build(path: &Path, users: u64) -> anyhow::Result<Data> {
    let started = Instant::now();
    let options = StoreOptions {
        sync_writes: false,
        classifier: Some(Arc::new(ProfileClassifier)),
        ..StoreOptions::default()
    };
    let store = Store::open(path, &options)?;
    let mut builder = store.begin_version("scale-check", 0)?;
    let generators = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks = users.div_ceil(CHUNK);
    let mut raw_bytes = 0u64;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut receivers = Vec::new();
        for generator in 0..generators as u64 {
            let (sender, receiver) = sync_channel(2);
            receivers.push(receiver);
            scope.spawn(move || generate(sender, generator, generators as u64, chunks, users));
        }
        // Chunk c comes from generator c mod n, so reading the receivers in
        // turn yields the chunks in order.
        for chunk in 0..chunks {
            let receiver: &Receiver<Vec<(String, Vec<u8>)>> =
                &receivers[(chunk % generators as u64) as usize];
            let records = receiver.recv().context("a generator thread stopped")?;
            for (user_id, record) in &records {
                builder.put(user_id.as_bytes(), record)?;
                raw_bytes += (user_id.len() + record.len()) as u64;
            }
        }
        Ok(())
    })?;
    builder.ingest()?;
    builder.publish()?;
    drop(store);
    let data = Data {
        raw_bytes,
        disk_bytes: folder_bytes(path)?,
        load_seconds: started.elapsed().as_secs_f64(),
    };
    eprintln!(
        "built {users} users in {:.1} s: {:.0} MB of keys and records, {:.0} MB on disk",
        data.load_seconds,
        data.raw_bytes as f64 / MB,
        data.disk_bytes as f64 / MB
    );
    Ok(data)
}

/// Sends chunks `generator`, `generator + step`, ... of the demo users;
/// stops early when the writer has gone.
fn generate(
    sender: SyncSender<Vec<(String, Vec<u8>)>>,
    generator: u64,
    step: u64,
    chunks: u64,
    users: u64,
) {
    for chunk in (generator..chunks).step_by(step as usize) {
        let start = chunk * CHUNK;
        let records = (start..(start + CHUNK).min(users))
            .map(|index| {
                let record = demo_profile(SEED, index, COMPUTED_AT).encode_to_vec();
                (demo_user_id(index), record)
            })
            .collect();
        if sender.send(records).is_err() {
            return;
        }
    }
}

/// The store opened as the server opens it, MultiGet of `plan.batch_size`
/// random users in a loop for the plan's warm-up and duration; with
/// `read_all` users, every record is read once, in order, beforehand.
fn storage_cell(
    config: &Config,
    space: &IdSpace,
    plan: &Plan,
    read_all: Option<u64>,
) -> anyhow::Result<Storage> {
    // RocksDB alone: the profile cache in front of it is the server's.
    let options = StoreOptions {
        classifier: Some(Arc::new(ProfileClassifier)),
        profile_cache_bytes: 0,
        ..config.store.store_options()
    };
    let store = Store::open(&config.store.data_dir, &options)?;
    let mut bytes = 0usize;
    if let Some(users) = read_all {
        for start in (0..users).step_by(READ_ALL_BATCH as usize) {
            let user_ids: Vec<String> = (start..(start + READ_ALL_BATCH).min(users))
                .map(demo_user_id)
                .collect();
            store.multi_get(&user_ids, |_, value| bytes += value.map_or(0, <[u8]>::len))?;
        }
    }
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    let mut ids: Vec<&[u8]> = Vec::with_capacity(plan.batch_size);
    let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("valid bounds");
    let measure_from = Instant::now() + plan.warmup;
    let deadline = measure_from + plan.duration.unwrap_or(Duration::from_secs(3));
    let mut requests = 0u64;
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            break;
        }
        space.fill(&mut rng, plan.batch_size, &mut ids);
        store.multi_get(&ids, |_, value| bytes += value.map_or(0, <[u8]>::len))?;
        if sent >= measure_from {
            latency.saturating_record(sent.elapsed().as_nanos() as u64);
            requests += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok(Storage {
        requests_per_second: requests as f64 / (deadline - measure_from).as_secs_f64(),
        p99_us: latency.value_at_quantile(0.99) as f64 / 1e3,
    })
}

/// Frees the disk before the next build. The server's last references to
/// its store can outlive `serve` by a moment, and RocksDB may still write
/// a file meanwhile: retry, and leave what remains to the temporary
/// folder's own removal at exit.
fn remove_store(path: &Path) {
    for attempt in 1..=20 {
        match std::fs::remove_dir_all(path) {
            Ok(()) => return,
            Err(error) if attempt == 20 => {
                eprintln!("cannot remove {} yet: {error}", path.display());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn folder_bytes(path: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            folder_bytes(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}

fn print_table(outcomes: &[Outcome], seconds: f64, pinning: &str) {
    println!();
    println!(
        "scale check: BatchGetProfiles, batch {BATCH}, uniform ids over all users (all known), demo profiles"
    );
    println!(
        "closed loop {CONNECTIONS} connections x {IN_FLIGHT} in flight, then open loop at half the closed-loop req/s (latency from the intended send time); {:.0} s warm-up + {seconds} s per cell",
        WARMUP.as_secs_f64()
    );
    println!("client and server: separate tokio runtimes with one worker each; {pinning}");
    println!();
    println!(
        "{:>9} {:>8} {:>8} {:>9} {:>7} {:>11} {:>7} {:>14} {:>12}",
        "users",
        "data MB",
        "disk MB",
        "block MB",
        "row MB",
        "profile MB",
        "load s",
        "MultiGet req/s",
        "MultiGet p99"
    );
    for Outcome {
        case,
        data,
        storage,
        ..
    } in outcomes
    {
        println!(
            "{:>9} {:>8.0} {:>8.0} {:>9} {:>7} {:>11} {:>7.1} {:>14.0} {:>9.0} us",
            case.users,
            data.raw_bytes as f64 / MB,
            data.disk_bytes as f64 / MB,
            case.block_cache_mb,
            case.row_cache_mb,
            case.profile_cache_mb,
            data.load_seconds,
            storage.requests_per_second,
            storage.p99_us
        );
    }
    println!("data MB: keys + encoded profiles; disk MB: the store folder (LZ4 SST files)");
    println!(
        "MultiGet: the storage limit, Store::multi_get of {BATCH} random users in process on the server's core, one thread, no network, same caches"
    );
    println!();
    println!(
        "{:>9} {:>9} {:>10} {:>7} {:>7} | {:>8} {:>7} {:>7} {:>8} {:>5} {:>6}  p99 < 1 ms",
        "users",
        "req/s",
        "users/s",
        "p50 us",
        "p99 us",
        "rate/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "late",
        "errors",
    );
    println!(
        "{:>9} {:-^37} | {:-^61}",
        "", " closed loop ", " open loop at half of peak "
    );
    for Outcome {
        case,
        closed,
        half_peak,
        ..
    } in outcomes
    {
        let open = &half_peak.latency_us;
        println!(
            "{:>9} {:>9.0} {:>10.0} {:>7.0} {:>7.0} | {:>8.0} {:>7.0} {:>7.0} {:>8.0} {:>5} {:>6}  {}",
            case.users,
            closed.requests_per_second,
            closed.users_per_second,
            closed.latency_us.p50,
            closed.latency_us.p99,
            half_peak.target_rate.unwrap_or(0.0),
            open.p50,
            open.p99,
            open.p999,
            half_peak.late_requests,
            closed.errors + half_peak.errors,
            if open.p99 < 1_000.0 { "yes" } else { "NO" }
        );
    }
    if let [small, large] = outcomes {
        let ratio = |large: f64, small: f64| {
            if small > 0.0 {
                format!("{:.2}x", large / small)
            } else {
                "-".to_owned()
            }
        };
        println!(
            "{:>9} {:>9} {:>10} {:>7} {:>7} | {:>8} {:>7} {:>7} {:>8}",
            format!(
                "{}M/{}M",
                large.case.users / 1_000_000,
                small.case.users / 1_000_000
            ),
            ratio(
                large.closed.requests_per_second,
                small.closed.requests_per_second
            ),
            ratio(large.closed.users_per_second, small.closed.users_per_second),
            ratio(large.closed.latency_us.p50, small.closed.latency_us.p50),
            ratio(large.closed.latency_us.p99, small.closed.latency_us.p99),
            ratio(
                large.half_peak.target_rate.unwrap_or(0.0),
                small.half_peak.target_rate.unwrap_or(0.0)
            ),
            ratio(
                large.half_peak.latency_us.p50,
                small.half_peak.latency_us.p50
            ),
            ratio(
                large.half_peak.latency_us.p99,
                small.half_peak.latency_us.p99
            ),
            ratio(
                large.half_peak.latency_us.p999,
                small.half_peak.latency_us.p999
            ),
        );
    }
    println!(
        "late: requests sent over 1 ms after their time because all {} slots were busy",
        CONNECTIONS * IN_FLIGHT
    );
}
