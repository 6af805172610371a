//! What the gRPC serving benchmarks (`side_by_side`, `scale_check`) share:
//! core pinning of the client and server runtimes, the real strata server
//! run in process, and one gRPC load cell.
//!
//! Pinning: on a machine with at least two allowed cores, every thread of
//! the client runtime (its worker, and the thread that drives `block_on`)
//! runs on one core, and every thread of the server runtime (its worker and
//! its blocking pool, where strata runs RocksDB calls) on another, set with
//! `sched_setaffinity` from the runtime Builder's `on_thread_start`, so each
//! side gets a whole core and neither can steal the other's. RocksDB's own
//! background threads (flush, compaction; idle while reads are measured)
//! are left unpinned. `STRATA_BENCH_PIN=0` turns pinning off to compare.

mod allocator;

pub use allocator::tune_pages;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use strata_loadtest::{
    Caller, IdConfig, IdSpace, LoadConfig, Method, Plan, Report, callers, connect, run_with_ids,
};
use strata_server::config::Config;

pub const CONNECTIONS: usize = 2;
/// Requests in flight per connection.
pub const IN_FLIGHT: usize = 8;

/// Where client and server threads run.
#[derive(Debug, Clone)]
pub enum Pinning {
    Pinned { client: usize, server: usize },
    NotPinned { reason: String },
}

impl Pinning {
    /// The first two cores this process may use, one per side, unless
    /// `STRATA_BENCH_PIN=0` or fewer than two are allowed.
    pub fn choose() -> Pinning {
        if std::env::var("STRATA_BENCH_PIN").is_ok_and(|value| value == "0") {
            return Pinning::NotPinned {
                reason: "STRATA_BENCH_PIN=0".to_owned(),
            };
        }
        match allowed_cores() {
            Ok(cores) if cores.len() >= 2 => Pinning::Pinned {
                client: cores[0],
                server: cores[1],
            },
            Ok(cores) => Pinning::NotPinned {
                reason: format!("{} core(s) allowed", cores.len()),
            },
            Err(error) => Pinning::NotPinned {
                reason: format!("sched_getaffinity failed: {error}"),
            },
        }
    }

    pub fn client(&self) -> Option<usize> {
        match self {
            Pinning::Pinned { client, .. } => Some(*client),
            Pinning::NotPinned { .. } => None,
        }
    }

    pub fn server(&self) -> Option<usize> {
        match self {
            Pinning::Pinned { server, .. } => Some(*server),
            Pinning::NotPinned { .. } => None,
        }
    }

    /// One line for a table header, with the threads actually pinned.
    pub fn describe(&self, client: &PinnedRuntime, server: &PinnedRuntime) -> String {
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        match self {
            Pinning::Pinned {
                client: client_core,
                server: server_core,
            } => {
                let failed = client.failed() + server.failed();
                let failures = if failed > 0 {
                    format!("; {failed} thread(s) could NOT be pinned")
                } else {
                    String::new()
                };
                format!(
                    "client pinned to core {client_core} ({} runtime thread start(s) + each block_on thread), server to core {server_core} ({} thread start(s): worker and blocking pool), by sched_setaffinity in on_thread_start; {cores} cores{failures}",
                    client.pinned(),
                    server.pinned()
                )
            }
            Pinning::NotPinned { reason } => {
                format!("not pinned to cores ({reason}; {cores} cores)")
            }
        }
    }
}

/// The CPUs this thread may run on.
fn allowed_cores() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array, valid when zeroed;
    // sched_getaffinity writes at most the size it is given, and CPU_ISSET
    // reads within the set for every index below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect())
    }
}

/// Restricts the calling thread (and the threads and processes it starts
/// afterwards, which inherit its mask) to `core`.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("core {core} is beyond CPU_SETSIZE"),
        ));
    }
    // SAFETY: as in `allowed_cores`; `core` is checked against the set's
    // size above, and pid 0 means the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `work` on a new thread pinned to `core` (or unpinned when `None`),
/// so the caller's own thread keeps its mask.
pub fn on_core<T: Send>(core: Option<usize>, work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some(core) = core
                    && let Err(error) = pin_current_thread(core)
                {
                    eprintln!("cannot pin a bench thread to core {core}: {error}");
                }
                work()
            })
            .join()
            .expect("a bench thread panicked")
    })
}

/// A tokio runtime with one worker whose threads pin themselves as they
/// start; counts them so the report can say what was pinned.
pub struct PinnedRuntime {
    pub runtime: tokio::runtime::Runtime,
    core: Option<usize>,
    pinned: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl PinnedRuntime {
    pub fn new(name: &str, core: Option<usize>) -> anyhow::Result<PinnedRuntime> {
        let pinned = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (pinned_count, failed_count) = (pinned.clone(), failed.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // One worker each, so client and server cannot take each other's
            // threads; pinning then keeps them off each other's core.
            .worker_threads(1)
            .thread_name(name)
            .on_thread_start(move || {
                let Some(core) = core else { return };
                // A hook cannot fail the runtime: count, and report it in
                // the table header.
                match pin_current_thread(core) {
                    Ok(()) => pinned_count.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed_count.fetch_add(1, Ordering::Relaxed),
                };
            })
            .enable_all()
            .build()
            .with_context(|| format!("starting the {name} runtime"))?;
        Ok(PinnedRuntime {
            runtime,
            core,
            pinned,
            failed,
        })
    }

    /// `block_on` the future `make` builds, from a thread pinned to this
    /// runtime's core: the future given to `block_on` runs on the calling
    /// thread, not on a worker.
    pub fn block_on<F: Future>(&self, make: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        on_core(self.core, || self.runtime.block_on(make()))
    }

    fn pinned(&self) -> u64 {
        self.pinned.load(Ordering::Relaxed)
    }

    fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// One BatchGetProfiles load cell over [`CONNECTIONS`] x [`IN_FLIGHT`].
pub fn grpc_cell(
    client: &PinnedRuntime,
    target: SocketAddr,
    ids: &IdConfig,
    space: &Arc<IdSpace>,
    plan: Plan,
) -> anyhow::Result<Report> {
    let config = LoadConfig {
        target,
        method: Method::BatchGetProfiles,
        connections: CONNECTIONS,
        in_flight: IN_FLIGHT,
        token: None,
        tls: None,
        ids: ids.clone(),
        plan,
        progress: false,
    };
    Ok(client.block_on(|| run_with_ids(&config, space.clone()))?)
}

/// The real server (`strata_server::serve`) in process on the server
/// runtime, on loopback ports it picks.
pub struct StrataServer {
    pub address: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), strata_server::ServeError>>,
}

impl StrataServer {
    /// Serves `config` (its store section included) with loopback ports.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        mut config: Config,
    ) -> anyhow::Result<StrataServer> {
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.metrics_listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.validate()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, bound) = std::sync::mpsc::channel();
        let task = runtime.spawn(strata_server::serve(
            config,
            async move {
                let _ = stopped.await;
            },
            move |bound| {
                let _ = ready.send(bound.grpc);
            },
        ));
        let address = bound
            .recv_timeout(Duration::from_secs(300))
            .context("strata did not start within 5 minutes")?;
        Ok(StrataServer {
            address,
            stop,
            task,
        })
    }

    pub fn stop(self, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        runtime.block_on(self.task)??;
        Ok(())
    }
}

/// An environment variable parsed as `T`, or `default` when unset.
pub fn environment<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map_err(|error| anyhow::anyhow!("{name}={text:?}: {error}")),
        Err(_) => Ok(default),
    }
}

/// Ids per request of [`read_all`].
const READ_ALL_BATCH: u64 = 1_000;

/// Reads every user once through the server, in key order, over all
/// in-flight slots, so the in-cache case starts with its caches full.
pub fn read_all(client: &PinnedRuntime, target: SocketAddr, users: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    client.block_on(|| async move {
        let channels = connect(target, CONNECTIONS, Duration::from_secs(10), None, None).await?;
        let next = Arc::new(AtomicU64::new(0));
        let mut slots = tokio::task::JoinSet::new();
        for mut caller in callers(Method::BatchGetProfiles, &channels, IN_FLIGHT) {
            let next = next.clone();
            slots.spawn(async move {
                loop {
                    let start = next.fetch_add(1, Ordering::Relaxed) * READ_ALL_BATCH;
                    if start >= users {
                        return Ok(());
                    }
                    let user_ids: Vec<String> = (start..(start + READ_ALL_BATCH).min(users))
                        .map(strata_loadtest::fixtures::demo_user_id)
                        .collect();
                    let ids: Vec<&[u8]> = user_ids.iter().map(String::as_bytes).collect();
                    let answer = caller
                        .call(&ids)
                        .await
                        .map_err(|code| anyhow::anyhow!("reading users from {start}: {code:?}"))?;
                    if answer.missing > 0 {
                        anyhow::bail!("{} of the users from {start} are missing", answer.missing);
                    }
                }
            });
        }
        while let Some(slot) = slots.join_next().await {
            slot??;
        }
        anyhow::Ok(())
    })?;
    eprintln!(
        "read all {users} users once in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
