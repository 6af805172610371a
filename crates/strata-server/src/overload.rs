//! Overload protection in front of the services: in-flight limits that shed
//! excess calls at once, client deadlines (capped by the server's), the
//! per-message size limit, and the wire rules of `protocol.rs` (content
//! type, one message per unary request), as one tower layer.
//!
//! Together they bound memory: at most `server.max_concurrent_requests`
//! ProfileService calls and `ingest.max_concurrent_streams` ApplyUpdates
//! streams hold decoded messages, each at most `server.max_message_bytes` on
//! the wire (reads: at most the largest valid batch); everything beyond is
//! answered RESOURCE_EXHAUSTED before its body is read.
//!
//! A read's deadline covers sending its response too: a client that never
//! reads (an HTTP/2 window of zero) keeps its stream, which counts against
//! its own connection's `server.max_concurrent_streams`, but its slot is
//! released when the deadline passes, so it cannot starve other clients.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;

use crate::config::Config;
use crate::connections::{CallGuard, ConnectionInfo, LogThrottle};
use crate::metrics::{Metrics, method_label};
use crate::protocol::{refuse_content_type, takes_one_message};

/// tonic's own deadline timer (outside this layer, not configurable) answers
/// an expired `grpc-timeout` with CANCELLED. Ours fires this much earlier so
/// the caller gets DEADLINE_EXCEEDED, as the gRPC spec asks; the client's
/// clock started before the request reached us, so it is no loss.
const DEADLINE_MARGIN: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// ProfileService: the global in-flight limit and the server's deadline cap.
    Read,
    /// An ApplyUpdates stream: its own small limit; streams may run long.
    IngestStream,
    /// Everything else: client deadlines and the message limit only.
    Other,
}

fn classify(path: &str) -> Class {
    if path.starts_with("/strata.v1.ProfileService/") {
        Class::Read
    } else if path == "/strata.v1.IngestService/ApplyUpdates" {
        Class::IngestStream
    } else {
        Class::Other
    }
}

/// Settings and shared counters of the layer.
#[derive(Debug)]
struct Limits {
    reads: Arc<Semaphore>,
    read_limit: usize,
    reads_in_flight: Gauge,
    streams: Arc<Semaphore>,
    stream_limit: usize,
    streams_in_flight: Gauge,
    request_timeout: Duration,
    max_message_bytes: MessageCap,
    /// ProfileService requests: also no larger than the largest valid batch.
    read_message_bytes: MessageCap,
    metrics: Arc<Metrics>,
    /// Warnings about responses left unread past their deadline.
    unsent_log: LogThrottle,
}

/// A message size limit and the config that sets it, for the refusal.
#[derive(Debug, Clone, Copy)]
struct MessageCap {
    bytes: usize,
    set_by: &'static str,
}

/// Room for a field mask and framing in a BatchGetProfiles request.
const READ_REQUEST_SLACK_BYTES: usize = 64 << 10;

#[derive(Debug, Clone)]
pub struct OverloadLayer {
    limits: Arc<Limits>,
}

impl OverloadLayer {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> OverloadLayer {
        let read_limit = config
            .server
            .max_concurrent_requests
            .min(Semaphore::MAX_PERMITS);
        let stream_limit = config
            .ingest
            .max_concurrent_streams
            .min(Semaphore::MAX_PERMITS);
        OverloadLayer {
            limits: Arc::new(Limits {
                reads: Arc::new(Semaphore::new(read_limit)),
                read_limit,
                reads_in_flight: metrics.in_flight("read"),
                streams: Arc::new(Semaphore::new(stream_limit)),
                stream_limit,
                streams_in_flight: metrics.in_flight("ingest"),
                request_timeout: Duration::from_secs(config.server.request_timeout_seconds),
                max_message_bytes: MessageCap {
                    bytes: config.server.max_message_bytes,
                    set_by: "server.max_message_bytes",
                },
                read_message_bytes: read_message_cap(config),
                metrics,
                unsent_log: LogThrottle::default(),
            }),
        }
    }
}

impl<S> tower_layer::Layer<S> for OverloadLayer {
    type Service = Overload<S>;

    fn layer(&self, inner: S) -> Overload<S> {
        Overload {
            inner,
            limits: self.limits.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Overload<S> {
    inner: S,
    limits: Arc<Limits>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> tower_service::Service<http::Request<Body>> for Overload<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let arrived = Instant::now();
        let limits = self.limits.clone();
        let path = request.uri().path();
        let class = classify(path);
        let method = method_label(path);
        let one_message = takes_one_message(path);

        // Not gRPC in protobuf: refused before anything else is looked at.
        if let Some(refusal) = refuse_content_type(request.headers()) {
            tracing::debug!(method, "unsupported content type");
            limits
                .metrics
                .observe_rpc(method, tonic::Code::Unimplemented, arrived.elapsed());
            return Box::pin(std::future::ready(Ok(refusal)));
        }

        // An unparsable header is ignored, as tonic's own timer does.
        let client = grpc_timeout(request.headers());
        let budget = match class {
            Class::Read => Some(client.map_or(limits.request_timeout, |client| {
                client.min(limits.request_timeout)
            })),
            Class::IngestStream | Class::Other => client,
        };
        if let Some(budget) = budget
            && budget <= DEADLINE_MARGIN
        {
            let status = Status::deadline_exceeded(format!(
                "deadline exceeded: the call's deadline of {budget:?} left no time to serve it"
            ));
            return limits.refuse(method, status, "deadline", arrived);
        }

        let permit = match class {
            Class::Read => match Slot::take(&limits.reads, &limits.reads_in_flight) {
                Some(slot) => Some(slot),
                None => {
                    let status = Status::resource_exhausted(format!(
                        "server overloaded: {} requests in flight (server.max_concurrent_requests), retry with backoff",
                        limits.read_limit
                    ));
                    return limits.refuse(method, status, "overloaded", arrived);
                }
            },
            Class::IngestStream => match Slot::take(&limits.streams, &limits.streams_in_flight) {
                Some(slot) => Some(slot),
                None => {
                    let status = Status::resource_exhausted(format!(
                        "server overloaded: {} ingest streams open (ingest.max_concurrent_streams), retry with backoff",
                        limits.stream_limit
                    ));
                    return limits.refuse(method, status, "overloaded", arrived);
                }
            },
            Class::Other => None,
        };

        let cap = match class {
            Class::Read => limits.read_message_bytes,
            Class::IngestStream | Class::Other => limits.max_message_bytes,
        };
        let connection = request.extensions().get::<ConnectionInfo>().cloned();
        let call = connection.as_ref().map(ConnectionInfo::begin_call);
        let received = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            Body::new(MessageLimit::new(
                body,
                cap,
                method,
                one_message,
                received.clone(),
            ))
        });
        let mut future = Box::pin(self.inner.call(request));
        Box::pin(async move {
            let mut permit = permit;
            // A deadline too far to represent is no deadline.
            let expires = budget
                .and_then(|budget| Some((budget, arrived.checked_add(budget - DEADLINE_MARGIN)?)));
            let response = match expires {
                None => future.await?,
                Some((budget, expires)) => {
                    tokio::select! {
                        biased;
                        response = &mut future => response?,
                        () = tokio::time::sleep_until(expires.into()) => {
                            // A call whose request had not fully arrived never
                            // ran: dropping it ends it. One that had may be in a
                            // store read, which cannot be interrupted: it keeps
                            // its slot until the read ends, so the limit counts
                            // work actually running.
                            if received.load(Ordering::Acquire)
                                && let Some(permit) = permit.take()
                            {
                                tokio::spawn(async move {
                                    let _ = future.await;
                                    drop(permit);
                                });
                            }
                            limits.metrics.observe_shed(method, "deadline");
                            tracing::debug!(method, ?budget, "deadline exceeded");
                            return Ok(Status::deadline_exceeded(format!(
                                "deadline exceeded: not answered within {budget:?} \
                                 (the client's grpc-timeout, at most server.request_timeout_seconds for reads)"
                            ))
                            .into_http());
                        }
                    }
                }
            };
            // The slot is held until the response has been sent (an encoded
            // response waiting for a slow reader still uses memory), but a
            // read's no longer than its deadline: past it, a client that is
            // not reading loses only its own call.
            let hold = match (class, permit, expires) {
                (Class::Read, Some(slot), Some((_, expires))) => Hold::watched(
                    Held {
                        _slot: Some(slot),
                        _call: call,
                    },
                    expires,
                    method,
                    connection,
                    limits.clone(),
                ),
                (_, slot, _) => Hold::Owned {
                    _held: Held {
                        _slot: slot,
                        _call: call,
                    },
                },
            };
            Ok(response.map(|body| {
                Body::new(CallBody {
                    inner: body,
                    _hold: hold,
                })
            }))
        })
    }
}

/// What a call keeps until its response is sent: its in-flight slot (if
/// its class has a limit) and its place among its connection's calls.
#[derive(Debug)]
struct Held {
    _slot: Option<Slot>,
    _call: Option<CallGuard>,
}

enum Hold {
    /// Released when the response body is dropped.
    Owned { _held: Held },
    /// Also released by a watchdog at the call's deadline, whichever comes
    /// first. hyper stops polling a body whose stream has no send window,
    /// so only a task of its own can end the wait. Measured (a scratch loop
    /// of spawn, oneshot and timer, ended by dropping the sender, on the
    /// shared 2-core machine): 1.0 to 1.5 us per read, against about 130 us
    /// of CPU per batch-1 read (15.5k req/s on 2 cores).
    Watched {
        held: Arc<Mutex<Option<Held>>>,
        /// Dropped with the body: ends the watchdog.
        _done: tokio::sync::oneshot::Sender<()>,
    },
}

impl Hold {
    fn watched(
        held: Held,
        expires: Instant,
        method: &'static str,
        connection: Option<ConnectionInfo>,
        limits: Arc<Limits>,
    ) -> Hold {
        let held = Arc::new(Mutex::new(Some(held)));
        let (done, ended) = tokio::sync::oneshot::channel::<()>();
        let watched = held.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = ended => {}
                () = tokio::time::sleep_until(expires.into()) => {
                    let unsent = take(&watched);
                    if unsent.is_some() {
                        limits.metrics.observe_unsent(method);
                        if let Some(calls) = limits.unsent_log.note() {
                            tracing::warn!(
                                method,
                                calls,
                                remote = ?connection.as_ref().map(ConnectionInfo::remote),
                                "responses unsent at their deadline (the client is not reading): slots released"
                            );
                        }
                    }
                }
            }
        });
        Hold::Watched { held, _done: done }
    }
}

fn take(held: &Mutex<Option<Held>>) -> Option<Held> {
    held.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
}

impl Drop for Hold {
    fn drop(&mut self) {
        // Released here rather than when the watchdog next runs.
        if let Hold::Watched { held, .. } = self {
            drop(take(held));
        }
    }
}

impl Limits {
    fn refuse<E: Send + 'static>(
        &self,
        method: &'static str,
        status: Status,
        reason: &'static str,
        arrived: Instant,
    ) -> BoxFuture<http::Response<Body>, E> {
        tracing::debug!(method, reason, "call shed");
        self.metrics.observe_shed(method, reason);
        self.metrics
            .observe_rpc(method, status.code(), arrived.elapsed());
        Box::pin(std::future::ready(Ok(status.into_http())))
    }
}

/// A valid ProfileService request is at most `server.max_batch_size` ids of
/// at most 256 bytes each (3 bytes of framing apiece) and a field mask.
/// Capping reads there, below `server.max_message_bytes`, keeps a request of
/// many tiny ids from decoding into far more memory than its wire size.
fn read_message_cap(config: &Config) -> MessageCap {
    let largest_batch = config
        .server
        .max_batch_size
        .saturating_mul(strata_core::MAX_USER_ID_BYTES + 3)
        .saturating_add(READ_REQUEST_SLACK_BYTES);
    if largest_batch < config.server.max_message_bytes {
        MessageCap {
            bytes: largest_batch,
            set_by: "the largest valid batch: server.max_batch_size ids of up to 256 bytes",
        }
    } else {
        MessageCap {
            bytes: config.server.max_message_bytes,
            set_by: "server.max_message_bytes",
        }
    }
}

/// The `grpc-timeout` header: 1 to 8 digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())??;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// A slot of an in-flight limit; counted in the `rpc_in_flight` gauge while held.
#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
    gauge: Gauge,
}

impl Slot {
    fn take(semaphore: &Arc<Semaphore>, gauge: &Gauge) -> Option<Slot> {
        let permit = semaphore.clone().try_acquire_owned().ok()?;
        gauge.inc();
        Some(Slot {
            _permit: permit,
            gauge: gauge.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// A request body that refuses any gRPC message longer than the limit as
/// soon as its 5-byte length prefix arrives, before the message is buffered,
/// for every service alike (those added later too); and, for a method that
/// takes one message, a second one (tonic would read and ignore it).
struct MessageLimit {
    inner: Body,
    limit: MessageCap,
    method: &'static str,
    one_message: bool,
    messages: usize,
    /// Set once the whole body has been read (or refused).
    received: Arc<AtomicBool>,
    prefix: [u8; 5],
    prefix_len: usize,
    /// Bytes of the current message still to pass.
    remaining: usize,
    failed: bool,
}

impl MessageLimit {
    fn new(
        inner: Body,
        limit: MessageCap,
        method: &'static str,
        one_message: bool,
        received: Arc<AtomicBool>,
    ) -> MessageLimit {
        MessageLimit {
            inner,
            limit,
            method,
            one_message,
            messages: 0,
            received,
            prefix: [0; 5],
            prefix_len: 0,
            remaining: 0,
            failed: false,
        }
    }

    fn scan(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = self.remaining.min(data.len());
                self.remaining -= skip;
                data = &data[skip..];
                continue;
            }
            let take = (5 - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&data[..take]);
            self.prefix_len += take;
            data = &data[take..];
            if self.prefix_len == 5 {
                self.prefix_len = 0;
                let length = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]) as usize;
                if length > self.limit.bytes {
                    tracing::debug!(method = self.method, length, "request message too large");
                    return Err(Status::resource_exhausted(format!(
                        "request message is {length} bytes, larger than the limit of {} bytes ({})",
                        self.limit.bytes, self.limit.set_by
                    )));
                }
                self.messages += 1;
                if self.one_message && self.messages > 1 {
                    tracing::debug!(method = self.method, "second request message");
                    return Err(Status::invalid_argument(
                        "the request carries more than one message; this method takes exactly one",
                    ));
                }
                self.remaining = length;
            }
        }
        Ok(())
    }
}

impl http_body::Body for MessageLimit {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref()
                    && let Err(status) = self.scan(data)
                {
                    self.failed = true;
                    self.received.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(status)));
                }
            }
            Some(Err(_)) | None => self.received.store(true, Ordering::Release),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds its call's slot and place until it is fully
/// sent (or dropped), or a read's deadline passes.
struct CallBody {
    inner: Body,
    _hold: Hold,
}

impl http_body::Body for CallBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().unwrap());
        grpc_timeout(&headers)
    }

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(timeout("1m"), Some(Duration::from_millis(1)));
        assert_eq!(timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(timeout("3H"), Some(Duration::from_secs(3 * 3600)));
        assert_eq!(timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "m", "1", "123456789m", "1x", "-1m", "1.5S"] {
            assert_eq!(timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn message_limit_reads_prefixes_split_across_frames() {
        let cap = MessageCap {
            bytes: 10,
            set_by: "server.max_message_bytes",
        };
        let mut limit = MessageLimit::new(Body::empty(), cap, "test", false, Arc::default());
        // A 10-byte message (allowed) split oddly, then an 11-byte prefix.
        let mut wire = vec![0, 0, 0, 0, 10];
        wire.extend([7; 10]);
        wire.extend([0, 0, 0, 0, 11]);
        let (first, rest) = wire.split_at(3);
        limit.scan(first).unwrap();
        let (second, third) = rest.split_at(9);
        limit.scan(second).unwrap();
        let error = limit.scan(third).unwrap_err();
        assert_eq!(error.code(), tonic::Code::ResourceExhausted);
        assert!(
            error.message().contains("server.max_message_bytes"),
            "{error:?}"
        );
    }

    #[test]
    fn a_second_message_is_refused_where_one_is_expected() {
        let cap = MessageCap {
            bytes: 10,
            set_by: "server.max_message_bytes",
        };
        let two = [0, 0, 0, 0, 1, 7, 0, 0, 0, 0, 1, 7];
        let mut streaming = MessageLimit::new(Body::empty(), cap, "test", false, Arc::default());
        streaming.scan(&two).unwrap();
        let mut unary = MessageLimit::new(Body::empty(), cap, "test", true, Arc::default());
        unary.scan(&two[..6]).unwrap();
        let error = unary.scan(&two[6..]).unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert!(
            error.message().contains("more than one message"),
            "{error:?}"
        );
    }

    #[test]
    fn paths_and_labels() {
        assert_eq!(
            classify("/strata.v1.ProfileService/BatchGetProfiles"),
            Class::Read
        );
        assert_eq!(
            classify("/strata.v1.IngestService/ApplyUpdates"),
            Class::IngestStream
        );
        assert_eq!(
            classify("/strata.v1.IngestService/GetIngestState"),
            Class::Other
        );
        assert_eq!(
            method_label("/strata.v1.ProfileService/GetOffers"),
            "GetOffers"
        );
        assert_eq!(method_label("/x.Y/Z"), "other");
    }
}
