//! The connections under the gRPC server: how many may be open, how long a
//! new one may take to start speaking, and how long one may sit with no call
//! in progress. tonic and hyper enforce none of these: a client that opens
//! connections and never sends a byte would hold a file descriptor each,
//! forever, until no one else could connect.
//!
//! `Incoming` accepts; each admitted socket becomes a `Connection`, the IO
//! object hyper reads and writes (beneath TLS when it is on). Its timer is
//! checked on every read, write and flush, and wakes the connection's task
//! when it fires, so a connection past its preface or idle deadline fails
//! its next IO and hyper drops it. The overload layer counts each
//! connection's calls in progress through `ConnectionInfo`, which tonic puts
//! in every request's extensions.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// The HTTP/2 client preface is 24 bytes; a TLS hello is longer.
const PREFACE_BYTES: u64 = 24;
/// After an accept error (out of descriptors, say), wait this long before
/// accepting again rather than spin on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning of a kind per interval; the events between are
/// counted into the next line.
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Timeouts are clamped here: tokio's timer and `Instant` arithmetic need a
/// finite deadline, and a year is as good as never.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// Descriptors kept for everything but connections: RocksDB's files, the
/// listeners, the metrics endpoint, logs.
const RESERVED_DESCRIPTORS: u64 = 1024;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub preface_timeout: Duration,
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    pub fn new(config: &ServerConfig) -> ConnectionLimits {
        let seconds = |seconds: u64| Duration::from_secs(seconds).min(LONGEST_TIMEOUT);
        ConnectionLimits {
            max_connections: config.max_connections,
            preface_timeout: seconds(config.preface_timeout_seconds),
            idle_timeout: seconds(config.idle_timeout_seconds),
        }
    }
}

/// What every connection of one listener shares.
struct Shared {
    limits: ConnectionLimits,
    open: AtomicUsize,
    open_gauge: Gauge,
    metrics: Arc<Metrics>,
    refused_log: LogThrottle,
    accept_error_log: LogThrottle,
    preface_log: LogThrottle,
}

/// The accepted connections of one listener, as tonic's incoming stream.
pub struct Incoming {
    listener: TcpListener,
    shared: Arc<Shared>,
    backoff: Option<Pin<Box<Sleep>>>,
}

impl Incoming {
    pub fn new(listener: TcpListener, limits: ConnectionLimits, metrics: Arc<Metrics>) -> Incoming {
        Incoming {
            listener,
            shared: Arc::new(Shared {
                limits,
                open: AtomicUsize::new(0),
                open_gauge: metrics.connections_open(),
                metrics,
                refused_log: LogThrottle::default(),
                accept_error_log: LogThrottle::default(),
                preface_log: LogThrottle::default(),
            }),
            backoff: None,
        }
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Connection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(backoff) = this.backoff.as_mut() {
                ready!(backoff.as_mut().poll(cx));
                this.backoff = None;
            }
            match ready!(this.listener.poll_accept(cx)) {
                Ok((stream, remote)) => {
                    if let Some(connection) = this.shared.admit(stream, remote) {
                        return Poll::Ready(Some(Ok(connection)));
                    }
                }
                // The peer gave up before we accepted: nothing to do.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) => {}
                // Out of descriptors (EMFILE, ENFILE) or memory: the pending
                // connection stays in the backlog; retrying at once would spin.
                Err(error) => {
                    this.shared
                        .metrics
                        .observe_connection_refused("accept_error");
                    if let Some(errors) = this.shared.accept_error_log.note() {
                        tracing::warn!(
                            %error,
                            errors,
                            max_connections = this.shared.limits.max_connections,
                            "cannot accept connections; retrying (out of file descriptors? lower server.max_connections or raise the limit)"
                        );
                    }
                    this.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                }
            }
        }
    }
}

impl Shared {
    /// The accepted socket as a `Connection`, or `None` (closed at once)
    /// when `server.max_connections` are open.
    fn admit(self: &Arc<Self>, stream: TcpStream, remote: SocketAddr) -> Option<Connection> {
        // Only the accept loop adds, so the check cannot be raced past the limit.
        if self.open.load(Ordering::Acquire) >= self.limits.max_connections {
            drop(stream);
            self.metrics.observe_connection_refused("limit");
            if let Some(refused) = self.refused_log.note() {
                tracing::warn!(
                    refused,
                    max_connections = self.limits.max_connections,
                    "connection limit reached: new connections are closed at once (server.max_connections)"
                );
            }
            return None;
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        self.open_gauge.inc();
        // Small request/response pairs: Nagle's delay would dominate latency.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        Some(Connection::new(stream, remote, self.clone()))
    }
}

/// One connection's calls in progress, shared with the requests it carries.
#[derive(Debug)]
struct ConnectionState {
    accepted: Instant,
    remote: SocketAddr,
    calls: AtomicUsize,
    /// When the last call ended, in milliseconds since `accepted`.
    idle_since_ms: AtomicU64,
}

/// The connection a request arrived on (tonic puts it in every request's
/// extensions).
#[derive(Debug, Clone)]
pub struct ConnectionInfo(Arc<ConnectionState>);

impl ConnectionInfo {
    /// Counts a call in progress until the guard is dropped: a connection
    /// is idle only while it has none.
    pub fn begin_call(&self) -> CallGuard {
        self.0.calls.fetch_add(1, Ordering::AcqRel);
        CallGuard(self.0.clone())
    }

    pub fn remote(&self) -> SocketAddr {
        self.0.remote
    }
}

/// A call in progress on its connection.
#[derive(Debug)]
pub struct CallGuard(Arc<ConnectionState>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let state = &self.0;
        // Stamped before the count drops, so a reader that sees no calls
        // sees an idle clock at least as new as the last call's end.
        let since = state.accepted.elapsed().as_millis() as u64;
        state.idle_since_ms.store(since, Ordering::Release);
        state.calls.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Clone, Copy)]
enum Expiry {
    Preface,
    Idle,
}

/// An accepted TCP connection with its preface and idle deadlines.
pub struct Connection {
    stream: TcpStream,
    state: Arc<ConnectionState>,
    shared: Arc<Shared>,
    /// Bytes received, counted up to the preface.
    received: u64,
    /// Fires at the earliest moment the connection could be closed; when it
    /// does, the deadline is computed again (it only ever moves later).
    timer: Pin<Box<Sleep>>,
    closed: bool,
}

impl Connection {
    fn new(stream: TcpStream, remote: SocketAddr, shared: Arc<Shared>) -> Connection {
        let accepted = Instant::now();
        let timer = Box::pin(tokio::time::sleep_until(
            (accepted + shared.limits.preface_timeout).into(),
        ));
        Connection {
            stream,
            state: Arc::new(ConnectionState {
                accepted,
                remote,
                calls: AtomicUsize::new(0),
                idle_since_ms: AtomicU64::new(0),
            }),
            shared,
            received: 0,
            timer,
            closed: false,
        }
    }

    /// Fails once the connection is past its preface or idle deadline;
    /// otherwise leaves the timer armed (waking this task when it fires).
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.closed {
            return Err(closed());
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let (deadline, expiry) = self.deadline(now);
            if deadline <= now {
                self.close(expiry);
                return Err(closed());
            }
            self.timer.as_mut().reset(deadline.into());
        }
        Ok(())
    }

    fn deadline(&self, now: Instant) -> (Instant, Expiry) {
        let limits = &self.shared.limits;
        let state = &self.state;
        if self.received < PREFACE_BYTES {
            return (state.accepted + limits.preface_timeout, Expiry::Preface);
        }
        if state.calls.load(Ordering::Acquire) > 0 {
            return (now + limits.idle_timeout, Expiry::Idle);
        }
        let idle_since =
            state.accepted + Duration::from_millis(state.idle_since_ms.load(Ordering::Acquire));
        (idle_since + limits.idle_timeout, Expiry::Idle)
    }

    fn close(&mut self, expiry: Expiry) {
        self.closed = true;
        let shared = &self.shared;
        match expiry {
            Expiry::Preface => {
                shared.metrics.observe_connection_closed("preface_timeout");
                if let Some(closed) = shared.preface_log.note() {
                    tracing::warn!(
                        closed,
                        timeout = ?shared.limits.preface_timeout,
                        "closed connections that sent no HTTP/2 preface in time (server.preface_timeout_seconds)"
                    );
                }
            }
            Expiry::Idle => {
                shared.metrics.observe_connection_closed("idle_timeout");
                tracing::debug!(
                    remote = %self.state.remote,
                    timeout = ?shared.limits.idle_timeout,
                    "closed an idle connection (server.idle_timeout_seconds)"
                );
            }
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "connection closed by the server: preface or idle timeout",
    )
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
        self.shared.open_gauge.dec();
    }
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo(self.state.clone())
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.check(cx)?;
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        let read = (buf.filled().len() - before) as u64;
        this.received = this.received.saturating_add(read);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Rate limit for a warning that may fire once per connection or call:
/// one line per `LOG_INTERVAL`, carrying the count since the last one.
#[derive(Debug, Default)]
pub(crate) struct LogThrottle {
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    /// Counts one event; `Some(events since the last line)` when a line is due.
    pub(crate) fn note(&self) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (last, pending) = &mut *state;
        *pending += 1;
        let now = Instant::now();
        if last.is_some_and(|last| now.duration_since(last) < LOG_INTERVAL) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(pending))
    }
}

/// Raises the soft limit on open files so `max_connections` fit beside the
/// store's own files (as far as the hard limit allows; warns when it does
/// not): the usual soft limit of 1,024 is below what a server needs.
// rlim_t is u64 on Linux, not on every Unix.
#[allow(clippy::unnecessary_cast)]
pub fn fit_descriptor_limit(max_connections: usize) {
    let wanted = (max_connections as u64).saturating_add(RESERVED_DESCRIPTORS);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let current = limit.rlim_cur as u64;
    if current >= wanted {
        return;
    }
    let raised = wanted.min(limit.rlim_max as u64);
    if raised > current {
        let new = libc::rlimit {
            rlim_cur: raised as libc::rlim_t,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit through a valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            tracing::info!(from = current, to = raised, "raised the open-file limit");
        }
    }
    if raised < wanted {
        tracing::warn!(
            limit = raised,
            max_connections,
            reserved = RESERVED_DESCRIPTORS,
            "open-file limit below server.max_connections plus the store's files: lower server.max_connections or raise the hard limit (ulimit -n)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_speaks_once_per_interval_with_the_count() {
        let throttle = LogThrottle::default();
        assert_eq!(throttle.note(), Some(1));
        assert_eq!(throttle.note(), None);
        assert_eq!(throttle.note(), None);
        // Pretend the interval passed: the next line carries both events.
        throttle.state.lock().unwrap().0 = Some(Instant::now() - LOG_INTERVAL);
        assert_eq!(throttle.note(), Some(3));
    }
}
