//! The side-by-side serving benchmark: strata's BatchGetProfiles against the
//! limits around it, measured in one run at batch sizes 1, 10, 100 and 1000:
//!
//! - (a) the framework limit: a tonic ProfileService answering a precomputed
//!   response of the same size, touching no storage;
//! - (b) strata: the real server (`strata_server::serve`) in process;
//! - (c) the storage limit: `Store::multi_get` in process, no network;
//! - (d) Redis (`redis-server`, started here) holding the same records, read
//!   with MGET of the same batch; skipped when it is not installed.
//!
//! (a), (b) and (d) are driven by `strata loadtest`'s closed loop. Then (a)
//! and (b) again at batch 100 in open loop, at half of the req/s their closed
//! loop reached, latency timed from each request's intended send: the
//! issue's "p99 at half of peak throughput under 1 ms" target.
//!
//! Client and server run on separate cores when the machine has two (see
//! `support`); redis-server is started from a thread pinned to the server's
//! core and inherits it; (c) runs on the server's core too.
//!
//! Run with `cargo bench --bench side_by_side`; `STRATA_BENCH_USERS` (default
//! 1,000,000) and `STRATA_BENCH_SECONDS` (default 3, after 1 s of warm-up)
//! shorten it; `STRATA_BENCH_PIN=0` runs unpinned.

mod support;

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prost::Message;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use strata_loadtest::fixtures::{demo_profile, demo_user_id};
use strata_loadtest::{
    Answer, Caller, Distribution, IdConfig, IdFormat, IdSpace, Measurement, Pace, Percentiles,
    Plan, Report, drive,
};
use strata_proto::v1::{BatchGetProfilesRequest, GetOffersRequest, GetOffersResponse};
use strata_server::config::Config;
use strata_server::splice::profile_service_server::{ProfileService, ProfileServiceServer};
use strata_server::splice::{EncodedBatchGetProfiles, ResponseWriter};
use strata_store::{Batch, Store, StoreOptions};
use support::{
    CONNECTIONS, IN_FLIGHT, PinnedRuntime, Pinning, StrataServer, environment, grpc_cell, on_core,
};
use tokio::net::TcpStream as AsyncTcpStream;
use tonic::{Code, Request, Response, Status};

const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1000];
/// The batch size of the half-peak open-loop cells.
const HALF_PEAK_BATCH: usize = 100;
const WARMUP: Duration = Duration::from_secs(1);
const SEED: u64 = 1;
const COMPUTED_AT: i64 = 1_800_000_000;
const LOAD_CHUNK: u64 = 10_000;

const FRAMEWORK: &str = "(a) tonic, no storage";
const STRATA: &str = "(b) strata";
const ROCKSDB: &str = "(c) RocksDB MultiGet";
const REDIS: &str = "(d) Redis MGET";

/// One cell of the table.
struct Row {
    system: &'static str,
    batch: usize,
    requests_per_second: f64,
    users_per_second: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

impl Row {
    fn from_report(system: &'static str, report: &Report) -> Row {
        Row {
            system,
            batch: report.batch_size,
            requests_per_second: report.requests_per_second,
            users_per_second: report.users_per_second,
            p50_us: report.latency_us.p50,
            p99_us: report.latency_us.p99,
            errors: report.errors,
        }
    }

    fn from_measurement(system: &'static str, batch: usize, measurement: &Measurement) -> Row {
        let seconds = measurement.elapsed.as_secs_f64().max(1e-9);
        let latency = Percentiles::of(&measurement.latency);
        Row {
            system,
            batch,
            requests_per_second: measurement.requests as f64 / seconds,
            users_per_second: (measurement.ok * batch as u64) as f64 / seconds,
            p50_us: latency.p50,
            p99_us: latency.p99,
            errors: measurement.errors(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    support::tune_pages();
    let users = environment("STRATA_BENCH_USERS", 1_000_000u64)?;
    let seconds = environment("STRATA_BENCH_SECONDS", 3.0f64)?;
    if !(1_000..=strata_loadtest::MAX_KEY_SPACE).contains(&users) {
        bail!("STRATA_BENCH_USERS={users}: between 1000 and 20000000, please");
    }
    if !(0.1..=60.0).contains(&seconds) {
        bail!("STRATA_BENCH_SECONDS={seconds}: between 0.1 and 60, please");
    }
    let duration = Duration::from_secs_f64(seconds);
    let pinning = Pinning::choose();
    let client = PinnedRuntime::new("load-client", pinning.client())?;
    let server = PinnedRuntime::new("server", pinning.server())?;

    let dir = tempfile::tempdir().context("temporary folder")?;
    let store_path = dir.path().join("store");
    // Started from a thread on the server's core: the child inherits its mask.
    let mut redis = on_core(pinning.server(), Redis::start)?;
    let record_bytes = load(&store_path, users, redis.as_mut())?;

    let ids = IdConfig {
        format: IdFormat::parse("user-{:08}")?,
        key_space: users,
        distribution: Distribution::Uniform,
        unknown_share: 0.0,
    };
    let space = Arc::new(IdSpace::build(&ids)?);
    let plan_for = |pace, batch_size| Plan {
        pace,
        batch_size,
        warmup: WARMUP,
        duration: Some(duration),
        max_requests: None,
        timeout: Duration::from_secs(10),
        seed: SEED,
    };
    let cell = |system, target, pace, batch_size| -> anyhow::Result<Report> {
        let report = grpc_cell(&client, target, &ids, &space, plan_for(pace, batch_size))?;
        eprintln!(
            "  {system} batch {batch_size} {}: {:.0} req/s, {:.0} users/s, p99 {:.0} us",
            report.mode, report.requests_per_second, report.users_per_second, report.latency_us.p99
        );
        Ok(report)
    };
    // Closed loop at every batch size, then open loop at half of the
    // closed loop's req/s at HALF_PEAK_BATCH.
    let grpc_cells = |system: &'static str,
                      target: SocketAddr,
                      rows: &mut Vec<Row>,
                      half_peak: &mut Vec<HalfPeak>|
     -> anyhow::Result<()> {
        for batch in BATCH_SIZES {
            rows.push(Row::from_report(
                system,
                &cell(system, target, Pace::Closed, batch)?,
            ));
        }
        let peak = rows
            .iter()
            .find(|row| row.system == system && row.batch == HALF_PEAK_BATCH)
            .map_or(0.0, |row| row.requests_per_second);
        if peak > 0.0 {
            let rate = (peak / 2.0).min(strata_loadtest::MAX_RATE);
            let report = cell(system, target, Pace::Open { rate }, HALF_PEAK_BATCH)?;
            half_peak.push(HalfPeak { system, report });
        }
        Ok(())
    };

    let mut rows = Vec::new();
    let mut half_peak = Vec::new();
    {
        eprintln!("(c) RocksDB MultiGet in process");
        // RocksDB alone: the profile cache in front of it is the server's.
        let options = StoreOptions {
            profile_cache_bytes: 0,
            ..StoreOptions::default()
        };
        let store = Store::open(&store_path, &options)?;
        for batch in BATCH_SIZES {
            let plan = plan_for(Pace::Closed, batch);
            rows.push(on_core(pinning.server(), || {
                storage_cell(&store, &space, &plan)
            }));
        }
    }
    {
        eprintln!("(b) strata in process");
        let mut config = Config::default();
        config.store.data_dir = store_path.clone();
        let running = StrataServer::start(&server.runtime, config)?;
        // As a server that has run for a while: every record read once (a
        // second of random warm-up leaves most of a million users cold).
        support::read_all(&client, running.address, users)?;
        grpc_cells(STRATA, running.address, &mut rows, &mut half_peak)?;
        running.stop(&server.runtime)?;
    }
    {
        eprintln!("(a) tonic without storage");
        let running = FrameworkServer::start(&server)?;
        grpc_cells(FRAMEWORK, running.address, &mut rows, &mut half_peak)?;
        running.stop(&server)?;
    }
    if let Some(redis) = redis.as_mut() {
        eprintln!("(d) Redis MGET");
        for batch in BATCH_SIZES {
            let address = redis.address;
            let plan = plan_for(Pace::Closed, batch);
            let measurement = client.block_on(|| async {
                let mut callers = Vec::new();
                for _ in 0..CONNECTIONS * IN_FLIGHT {
                    callers.push(RedisCaller::connect(address).await?);
                }
                anyhow::Ok(drive(callers, space.clone(), &plan, false).await?)
            })?;
            rows.push(Row::from_measurement(REDIS, batch, &measurement));
        }
    }
    let redis_ran = redis.is_some();
    if let Some(redis) = redis.take() {
        redis.stop();
    }

    let setup = Setup {
        users,
        record_bytes,
        seconds,
        pinning: pinning.describe(&client, &server),
        redis_note: redis_note(redis_ran),
    };
    print_table(&rows, &setup);
    print_half_peak(&half_peak);
    Ok(())
}

/// Writes `users` demo profiles to a new store at `path` (and to Redis, if
/// running); returns the mean encoded record size.
fn load(path: &Path, users: u64, mut redis: Option<&mut Redis>) -> anyhow::Result<usize> {
    let started = Instant::now();
    let options = StoreOptions {
        // Loading is not what is measured; a synced WAL only slows set-up.
        sync_writes: false,
        ..StoreOptions::default()
    };
    let store = Store::open(path, &options)?;
    let mut total_bytes = 0usize;
    for (sequence, start) in (0..users).step_by(LOAD_CHUNK as usize).enumerate() {
        let upserts: Vec<(String, Vec<u8>)> = (start..(start + LOAD_CHUNK).min(users))
            .map(|index| {
                let record = demo_profile(SEED, index, COMPUTED_AT).encode_to_vec();
                (demo_user_id(index), record)
            })
            .collect();
        total_bytes += upserts
            .iter()
            .map(|(_, record)| record.len())
            .sum::<usize>();
        store.apply(Batch {
            producer_id: "side-by-side",
            sequence: sequence as u64 + 1,
            upserts: &upserts,
            deletes: &[] as &[&str],
        })?;
        if let Some(redis) = redis.as_deref_mut() {
            redis.set_all(&upserts)?;
        }
    }
    store.flush()?;
    eprintln!(
        "loaded {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(total_bytes / users as usize)
}

/// (c): MultiGet on one thread, same ids, same cell length.
fn storage_cell(store: &Store, space: &IdSpace, plan: &Plan) -> Row {
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    let mut ids: Vec<&[u8]> = Vec::with_capacity(plan.batch_size);
    let mut latency = latency_histogram();
    let started = Instant::now();
    let measure_from = started + plan.warmup;
    let deadline = measure_from + plan.duration.unwrap_or(Duration::from_secs(3));
    let (mut requests, mut errors, mut bytes) = (0u64, 0u64, 0usize);
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            break;
        }
        space.fill(&mut rng, plan.batch_size, &mut ids);
        let result = store.multi_get(&ids, |_, value| bytes += value.map_or(0, <[u8]>::len));
        if sent >= measure_from {
            latency.saturating_record(sent.elapsed().as_nanos() as u64);
            requests += 1;
            errors += u64::from(result.is_err());
        }
    }
    std::hint::black_box(bytes);
    let seconds = deadline.duration_since(measure_from).as_secs_f64();
    let percentiles = Percentiles::of(&latency);
    eprintln!(
        "  {ROCKSDB} batch {}: {:.0} users/s",
        plan.batch_size,
        requests as f64 * plan.batch_size as f64 / seconds
    );
    Row {
        system: ROCKSDB,
        batch: plan.batch_size,
        requests_per_second: requests as f64 / seconds,
        users_per_second: (requests - errors) as f64 * plan.batch_size as f64 / seconds,
        p50_us: percentiles.p50,
        p99_us: percentiles.p99,
        errors,
    }
}

fn latency_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// (a): ProfileService answering, for a batch of `n` ids, a response of `n`
/// demo profiles encoded once in advance.
struct FrameworkLimit {
    responses: Arc<HashMap<usize, EncodedBatchGetProfiles>>,
}

#[tonic::async_trait]
impl ProfileService for FrameworkLimit {
    async fn batch_get_profiles(
        &self,
        request: Request<BatchGetProfilesRequest>,
    ) -> Result<Response<EncodedBatchGetProfiles>, Status> {
        let size = request.get_ref().user_ids.len();
        // Cloning `Encoded` only bumps its `Bytes` reference count; the one
        // copy of the answer is tonic encoding it into its send buffer,
        // which strata's answer pays too, after copying stored records into
        // the answer it builds.
        self.responses
            .get(&size)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| {
                Status::invalid_argument(format!("no precomputed answer for {size} ids"))
            })
    }

    async fn get_offers(
        &self,
        _request: Request<GetOffersRequest>,
    ) -> Result<Response<GetOffersResponse>, Status> {
        Err(Status::unimplemented(
            "the framework limit serves BatchGetProfiles only",
        ))
    }
}

struct FrameworkServer {
    address: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl FrameworkServer {
    fn start(runtime: &PinnedRuntime) -> anyhow::Result<FrameworkServer> {
        let responses = BATCH_SIZES
            .iter()
            .map(|&size| {
                let mut writer = ResponseWriter::with_capacity(size * 384);
                for index in 0..size as u64 {
                    let record = demo_profile(SEED, index, COMPUTED_AT).encode_to_vec();
                    writer.push(&demo_user_id(index), Some(&record));
                }
                (size, writer.finish())
            })
            .collect();
        let service = ProfileServiceServer::new(FrameworkLimit {
            responses: Arc::new(responses),
        })
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20);
        let listener = runtime
            .block_on(|| tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding the framework-limit server")?;
        let address = listener.local_addr()?;
        let incoming = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            |stream| {
                let stream = stream?;
                // As strata does: Nagle's delay would dominate small answers.
                stream.set_nodelay(true)?;
                Ok::<_, std::io::Error>(stream)
            },
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopped.await;
                }),
        );
        Ok(FrameworkServer {
            address,
            stop,
            task,
        })
    }

    fn stop(self, runtime: &PinnedRuntime) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let task = self.task;
        runtime.block_on(|| task)??;
        Ok(())
    }
}

/// (d): a `redis-server` child on a free loopback port, without persistence.
struct Redis {
    child: Child,
    address: SocketAddr,
    /// The loader's connection.
    connection: TcpStream,
    command: Vec<u8>,
}

impl Redis {
    /// Starts redis-server, or returns `None` with a message when it is not installed.
    fn start() -> anyhow::Result<Option<Redis>> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "redis-server is not installed: skipping row (d) (apt-get install redis-server)"
                );
                return Ok(None);
            }
            Err(error) => return Err(error).context("starting redis-server"),
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut redis = Redis {
            child,
            address,
            connection: connect_when_up(address)?,
            command: Vec::new(),
        };
        redis.roundtrip(&[b"PING"], b"+PONG\r\n")?;
        Ok(Some(redis))
    }

    /// MSET of one loading chunk.
    fn set_all(&mut self, records: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + 2 * records.len());
        parts.push(b"MSET");
        for (user_id, record) in records {
            parts.push(user_id.as_bytes());
            parts.push(record);
        }
        self.roundtrip(&parts, b"+OK\r\n")
    }

    fn roundtrip(&mut self, parts: &[&[u8]], expected: &[u8]) -> anyhow::Result<()> {
        resp_command(&mut self.command, parts);
        self.connection.write_all(&self.command)?;
        let mut reply = vec![0; expected.len()];
        self.connection.read_exact(&mut reply)?;
        if reply != expected {
            bail!("redis answered {:?}", String::from_utf8_lossy(&reply));
        }
        Ok(())
    }

    /// SIGTERM by pid, then waits; SIGKILL if it lingers.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Reached on an early error; `stop` has already reaped a clean exit.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn connect_when_up(address: SocketAddr) -> anyhow::Result<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(address) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) if Instant::now() > deadline => {
                return Err(error).context("redis-server did not start within 10 s");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Replaces `out` with one RESP command: an array of bulk strings.
fn resp_command(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.clear();
    let _ = write!(out, "*{}\r\n", parts.len());
    for part in parts {
        let _ = write!(out, "${}\r\n", part.len());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// An MGET client on one connection, one command at a time (like an
/// in-flight slot), with a resumable parser so a large reply is read in as
/// many socket reads as it takes and scanned once.
struct RedisCaller {
    stream: AsyncTcpStream,
    command: Vec<u8>,
    input: Vec<u8>,
}

impl RedisCaller {
    async fn connect(address: SocketAddr) -> anyhow::Result<RedisCaller> {
        let stream = AsyncTcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(RedisCaller {
            stream,
            command: Vec::new(),
            input: Vec::with_capacity(1 << 16),
        })
    }

    async fn send(&mut self) -> std::io::Result<()> {
        let mut written = 0;
        while written < self.command.len() {
            self.stream.writable().await?;
            match self.stream.try_write(&self.command[written..]) {
                Ok(count) => written += count,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        loop {
            self.input.reserve(1 << 16);
            self.stream.readable().await?;
            match self.stream.try_read_buf(&mut self.input) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => return Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
    }
}

impl Caller for RedisCaller {
    async fn call(&mut self, ids: &[&[u8]]) -> Result<Answer, Code> {
        self.command.clear();
        let _ = write!(self.command, "*{}\r\n$4\r\nMGET\r\n", ids.len() + 1);
        for id in ids {
            let _ = write!(self.command, "${}\r\n", id.len());
            self.command.extend_from_slice(id);
            self.command.extend_from_slice(b"\r\n");
        }
        self.send().await.map_err(|_| Code::Unavailable)?;

        self.input.clear();
        let mut reply = MgetReply::default();
        loop {
            match reply.advance(&self.input) {
                Ok(true) => break,
                Ok(false) => self.read_more().await.map_err(|_| Code::Unavailable)?,
                Err(()) => return Err(Code::Internal),
            }
        }
        if reply.elements != Some(ids.len()) {
            return Err(Code::Internal);
        }
        Ok(Answer {
            found: reply.found,
            missing: reply.missing,
        })
    }
}

/// Where the parse of one MGET reply stands: `*N`, then N of `$len` + bytes
/// or `$-1`.
#[derive(Debug, Default)]
struct MgetReply {
    position: usize,
    elements: Option<usize>,
    found: u32,
    missing: u32,
}

impl MgetReply {
    /// Parses what `input` holds past `position`; `Ok(true)` when complete.
    fn advance(&mut self, input: &[u8]) -> Result<bool, ()> {
        loop {
            let Some(line_end) = find_line(&input[self.position..]) else {
                return Ok(false);
            };
            let line = &input[self.position..self.position + line_end];
            let Some(elements) = self.elements else {
                let count = parse_header(line, b'*')?;
                self.elements = Some(usize::try_from(count).map_err(|_| ())?);
                self.position += line_end + 2;
                if count == 0 {
                    return Ok(true);
                }
                continue;
            };
            let length = parse_header(line, b'$')?;
            let value_end = match usize::try_from(length) {
                Ok(length) => self.position + line_end + 2 + length + 2,
                Err(_) => self.position + line_end + 2,
            };
            if value_end > input.len() {
                return Ok(false);
            }
            if length < 0 {
                self.missing += 1;
            } else {
                self.found += 1;
            }
            self.position = value_end;
            if (self.found + self.missing) as usize == elements {
                return Ok(true);
            }
        }
    }
}

fn find_line(input: &[u8]) -> Option<usize> {
    input.windows(2).position(|pair| pair == b"\r\n")
}

fn parse_header(line: &[u8], kind: u8) -> Result<i64, ()> {
    let (&first, number) = line.split_first().ok_or(())?;
    if first != kind {
        return Err(());
    }
    std::str::from_utf8(number)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(())
}

fn redis_note(running: bool) -> String {
    if running {
        format!(
            "(d) one TCP connection per in-flight slot ({}), one MGET at a time each; redis-server single-threaded, no persistence",
            CONNECTIONS * IN_FLIGHT
        )
    } else {
        "(d) skipped: redis-server is not installed".to_owned()
    }
}

/// What the table header repeats about the run.
struct Setup {
    users: u64,
    record_bytes: usize,
    seconds: f64,
    pinning: String,
    redis_note: String,
}

fn print_table(rows: &[Row], setup: &Setup) {
    let Setup {
        users,
        record_bytes,
        seconds,
        ..
    } = setup;
    println!();
    println!(
        "side by side: BatchGetProfiles on {users} demo users (~{record_bytes} bytes per record), uniform ids, all known"
    );
    println!(
        "closed loop, {CONNECTIONS} connections x {IN_FLIGHT} in flight, {:.0} s warm-up + {seconds} s per cell; (c) one thread, no network",
        WARMUP.as_secs_f64()
    );
    println!(
        "client and server: separate tokio runtimes with one worker each, in one process; {}",
        setup.pinning
    );
    println!("{}", setup.redis_note);
    println!();
    println!(
        "{:>5}  {:<22} {:>10} {:>12} {:>9} {:>9} {:>7}",
        "batch", "system", "req/s", "users/s", "p50 us", "p99 us", "errors"
    );
    for batch in BATCH_SIZES {
        for system in [FRAMEWORK, STRATA, ROCKSDB, REDIS] {
            let Some(row) = rows
                .iter()
                .find(|row| row.batch == batch && row.system == system)
            else {
                continue;
            };
            println!(
                "{:>5}  {:<22} {:>10.0} {:>12.0} {:>9.0} {:>9.0} {:>7}",
                row.batch,
                row.system,
                row.requests_per_second,
                row.users_per_second,
                row.p50_us,
                row.p99_us,
                row.errors
            );
        }
    }
    println!();
    println!(
        "{:>5}  {:>20} {:>16} {:>18}",
        "batch", "strata / framework", "strata / redis", "strata / rocksdb"
    );
    let users_per_second = |system: &str, batch: usize| {
        rows.iter()
            .find(|row| row.system == system && row.batch == batch)
            .map(|row| row.users_per_second)
    };
    let ratio = |system: &str, batch: usize| match (
        users_per_second(STRATA, batch),
        users_per_second(system, batch),
    ) {
        (Some(strata), Some(other)) if other > 0.0 => format!("{:.2}x", strata / other),
        _ => "-".to_owned(),
    };
    for batch in BATCH_SIZES {
        println!(
            "{batch:>5}  {:>20} {:>16} {:>18}",
            ratio(FRAMEWORK, batch),
            ratio(REDIS, batch),
            ratio(ROCKSDB, batch)
        );
    }
}

/// An open-loop cell at half of a system's closed-loop peak.
struct HalfPeak {
    system: &'static str,
    report: Report,
}

fn print_half_peak(cells: &[HalfPeak]) {
    println!();
    println!(
        "open loop at half of peak, batch {HALF_PEAK_BATCH}: rate = 50% of the closed-loop req/s above; latency from each request's intended send time"
    );
    println!(
        "{:<22} {:>9} {:>9} {:>8} {:>8} {:>9} {:>6} {:>6}  p99 < 1 ms",
        "system", "rate/s", "done/s", "p50 us", "p99 us", "p99.9 us", "late", "errors",
    );
    for HalfPeak { system, report } in cells {
        let latency = &report.latency_us;
        println!(
            "{:<22} {:>9.0} {:>9.0} {:>8.0} {:>8.0} {:>9.0} {:>6} {:>6}  {}",
            system,
            report.target_rate.unwrap_or(0.0),
            report.requests_per_second,
            latency.p50,
            latency.p99,
            latency.p999,
            report.late_requests,
            report.errors,
            if latency.p99 < 1_000.0 { "yes" } else { "NO" }
        );
    }
    println!(
        "late: requests sent over 1 ms after their time because all {} slots were busy",
        CONNECTIONS * IN_FLIGHT
    );
}
