//! Prometheus metrics: the registry, the series strata exports, and the HTTP
//! endpoint that serves them.
//!
//! Store statistics and producer sequences are read when scraped rather than
//! on every request, so the hot path only bumps counters and histograms.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use strata_store::Store;

use strata_proto::code_name;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub method: &'static str,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShedLabels {
    pub method: &'static str,
    /// `overloaded` (in-flight limit) or `deadline`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `read` (ProfileService calls) or `ingest` (ApplyUpdates streams).
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProducerLabels {
    pub producer: String,
}

/// Every series strata exports.
pub struct Metrics {
    registry: Registry,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_duration: Family<MethodLabels, Histogram>,
    rpc_shed: Family<ShedLabels, Counter>,
    rpc_in_flight: Family<LimitLabels, Gauge>,
    rpc_unsent: Family<MethodLabels, Counter>,
    connections_open: Gauge,
    connections_refused: Family<ReasonLabels, Counter>,
    connections_closed: Family<ReasonLabels, Counter>,
    batch_size: Family<MethodLabels, Histogram>,
    lookups: Family<OutcomeLabels, Counter>,
    ingest_batches: Family<OutcomeLabels, Counter>,
    ingest_records: Family<OutcomeLabels, Counter>,
    ingest_last_sequence: Family<ProducerLabels, Gauge>,
    ingest_seconds_since_apply: Family<ProducerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    last_apply: Mutex<HashMap<String, Instant>>,
    store_gauges: StoreGauges,
}

#[derive(Default)]
struct StoreGauges {
    estimated_profiles: Gauge,
    live_sst_bytes: Gauge,
    memtable_bytes: Gauge,
    block_cache_bytes: Gauge,
    block_cache_pinned_bytes: Gauge,
    pending_compaction_bytes: Gauge,
    profile_cache_entries: Gauge,
    profile_cache_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("strata");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "gRPC calls handled, by method and status code",
            rpc_requests.clone(),
        );
        // 50us .. ~1.6s: the serving path lives in the low buckets.
        let rpc_duration = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "rpc_duration_seconds",
            "gRPC handler latency, by method",
            rpc_duration.clone(),
        );
        let rpc_shed = Family::<ShedLabels, Counter>::default();
        registry.register(
            "rpc_shed",
            "calls answered without being served: over the in-flight limit (RESOURCE_EXHAUSTED) or past their deadline (DEADLINE_EXCEEDED)",
            rpc_shed.clone(),
        );
        let rpc_in_flight = Family::<LimitLabels, Gauge>::default();
        registry.register(
            "rpc_in_flight",
            "calls holding an in-flight slot, by limit (read: server.max_concurrent_requests, ingest: ingest.max_concurrent_streams)",
            rpc_in_flight.clone(),
        );
        let rpc_unsent = Family::<MethodLabels, Counter>::default();
        registry.register(
            "rpc_unsent_at_deadline",
            "calls whose response was still unsent when their deadline passed (the client was not reading it): their in-flight slot was released",
            rpc_unsent.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "gRPC connections open, of server.max_connections",
            connections_open.clone(),
        );
        let connections_refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "connections closed as soon as accepted (limit: server.max_connections reached) or not accepted (accept_error: e.g. out of file descriptors)",
            connections_refused.clone(),
        );
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "connections the server closed, by reason (preface_timeout: server.preface_timeout_seconds, idle_timeout: server.idle_timeout_seconds)",
            connections_closed.clone(),
        );
        let batch_size = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 15))
        });
        registry.register(
            "batch_size",
            "user ids per lookup call and records per ingest batch",
            batch_size.clone(),
        );
        let lookups = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "profile_lookups",
            "profiles looked up, by outcome (hit or miss)",
            lookups.clone(),
        );
        let ingest_batches = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "ingest_batches",
            "ingest batches, by outcome (applied, replayed, rejected)",
            ingest_batches.clone(),
        );
        let ingest_records = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "ingest_records",
            "records written by applied batches, by kind (upsert, delete)",
            ingest_records.clone(),
        );
        let ingest_last_sequence = Family::<ProducerLabels, Gauge>::default();
        registry.register(
            "ingest_last_sequence",
            "last applied batch sequence, by producer",
            ingest_last_sequence.clone(),
        );
        let ingest_seconds_since_apply = Family::default();
        registry.register(
            "ingest_lag_seconds",
            "seconds since the producer's last applied batch (since this process started)",
            Family::clone(&ingest_seconds_since_apply),
        );
        let store_gauges = StoreGauges::default();
        let store = registry.sub_registry_with_prefix("store");
        store.register(
            "estimated_profiles",
            "RocksDB estimate of stored profiles",
            store_gauges.estimated_profiles.clone(),
        );
        store.register(
            "live_sst_bytes",
            "bytes in live SST files of the profiles column family",
            store_gauges.live_sst_bytes.clone(),
        );
        store.register(
            "memtable_bytes",
            "bytes in the profiles memtables",
            store_gauges.memtable_bytes.clone(),
        );
        store.register(
            "block_cache_bytes",
            "bytes in the block cache",
            store_gauges.block_cache_bytes.clone(),
        );
        store.register(
            "block_cache_pinned_bytes",
            "bytes of the block cache pinned by readers",
            store_gauges.block_cache_pinned_bytes.clone(),
        );
        store.register(
            "pending_compaction_bytes",
            "compaction work RocksDB estimates it still owes",
            store_gauges.pending_compaction_bytes.clone(),
        );
        store.register(
            "profile_cache_entries",
            "ids in the profile cache (records and ids known absent)",
            store_gauges.profile_cache_entries.clone(),
        );
        store.register(
            "profile_cache_bytes",
            "bytes the profile cache holds, of store.profile_cache_mb",
            store_gauges.profile_cache_bytes.clone(),
        );
        Metrics {
            registry,
            rpc_requests,
            rpc_duration,
            rpc_shed,
            rpc_in_flight,
            rpc_unsent,
            connections_open,
            connections_refused,
            connections_closed,
            batch_size,
            lookups,
            ingest_batches,
            ingest_records,
            ingest_last_sequence,
            ingest_seconds_since_apply,
            last_apply: Mutex::new(HashMap::new()),
            store_gauges,
        }
    }

    /// Records one finished call.
    pub fn observe_rpc(&self, method: &'static str, code: tonic::Code, elapsed: Duration) {
        self.rpc_requests
            .get_or_create(&RpcLabels {
                method,
                code: code_name(code),
            })
            .inc();
        self.rpc_duration
            .get_or_create(&MethodLabels { method })
            .observe(elapsed.as_secs_f64());
    }

    /// One call shed by the overload layer.
    pub fn observe_shed(&self, method: &'static str, reason: &'static str) {
        self.rpc_shed
            .get_or_create(&ShedLabels { method, reason })
            .inc();
    }

    /// The gauge of calls holding a slot of `limit`.
    pub fn in_flight(&self, limit: &'static str) -> Gauge {
        self.rpc_in_flight
            .get_or_create(&LimitLabels { limit })
            .clone()
    }

    /// A call whose response was still unsent at its deadline.
    pub fn observe_unsent(&self, method: &'static str) {
        self.rpc_unsent
            .get_or_create(&MethodLabels { method })
            .inc();
    }

    /// The gauge of open connections.
    pub fn connections_open(&self) -> Gauge {
        self.connections_open.clone()
    }

    /// A connection refused at accept (`limit` or `accept_error`).
    pub fn observe_connection_refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// A connection the server closed (`preface_timeout` or `idle_timeout`).
    pub fn observe_connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn observe_batch_size(&self, method: &'static str, size: usize) {
        self.batch_size
            .get_or_create(&MethodLabels { method })
            .observe(size as f64);
    }

    pub fn observe_lookups(&self, hits: u64, misses: u64) {
        self.lookups
            .get_or_create(&OutcomeLabels { outcome: "hit" })
            .inc_by(hits);
        self.lookups
            .get_or_create(&OutcomeLabels { outcome: "miss" })
            .inc_by(misses);
    }

    pub fn observe_ingest_batch(&self, outcome: &'static str) {
        self.ingest_batches
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn observe_applied(&self, producer_id: &str, sequence: u64, upserts: u64, deletes: u64) {
        self.ingest_records
            .get_or_create(&OutcomeLabels { outcome: "upsert" })
            .inc_by(upserts);
        self.ingest_records
            .get_or_create(&OutcomeLabels { outcome: "delete" })
            .inc_by(deletes);
        self.ingest_last_sequence
            .get_or_create(&ProducerLabels {
                producer: producer_id.to_owned(),
            })
            .set(sequence as i64);
        self.last_apply
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(producer_id.to_owned(), Instant::now());
    }

    /// Refreshes the scrape-time gauges and encodes every series.
    pub fn render(&self, store: &Store) -> String {
        match store.stats() {
            Ok(stats) => {
                let gauges = &self.store_gauges;
                gauges
                    .estimated_profiles
                    .set(stats.estimated_profiles as i64);
                gauges.live_sst_bytes.set(stats.live_sst_bytes as i64);
                gauges.memtable_bytes.set(stats.memtable_bytes as i64);
                gauges.block_cache_bytes.set(stats.block_cache_bytes as i64);
                gauges
                    .block_cache_pinned_bytes
                    .set(stats.block_cache_pinned_bytes as i64);
                gauges
                    .pending_compaction_bytes
                    .set(stats.pending_compaction_bytes as i64);
                gauges
                    .profile_cache_entries
                    .set(stats.profile_cache_entries as i64);
                gauges
                    .profile_cache_bytes
                    .set(stats.profile_cache_bytes as i64);
            }
            Err(error) => tracing::warn!(%error, "store stats unavailable"),
        }
        match store.producers() {
            Ok(producers) => {
                for (producer, sequence) in producers {
                    self.ingest_last_sequence
                        .get_or_create(&ProducerLabels { producer })
                        .set(sequence as i64);
                }
            }
            Err(error) => tracing::warn!(%error, "producer sequences unavailable"),
        }
        let now = Instant::now();
        for (producer, at) in self
            .last_apply
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            self.ingest_seconds_since_apply
                .get_or_create(&ProducerLabels {
                    producer: producer.clone(),
                })
                .set(now.duration_since(*at).as_secs_f64());
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Serves `GET /metrics` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            let store = store.clone();
            async move {
                let body = tokio::task::spawn_blocking(move || metrics.render(&store))
                    .await
                    .unwrap_or_else(|error| format!("# metrics unavailable: {error}\n"));
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Where the metrics endpoint listens, for logs.
pub fn metrics_url(address: SocketAddr) -> String {
    format!("http://{address}/metrics")
}
/// The `method` label of a gRPC path, for metrics and logs.
pub fn method_label(path: &str) -> &'static str {
    match path.rsplit('/').next().unwrap_or("") {
        "BatchGetProfiles" => "BatchGetProfiles",
        "GetOffers" => "GetOffers",
        "ApplyUpdates" => "ApplyUpdates",
        "GetIngestState" => "GetIngestState",
        "LoadSnapshot" => "LoadSnapshot",
        "ListVersions" => "ListVersions",
        "Rollback" => "Rollback",
        "CreateBackup" => "CreateBackup",
        "Stats" => "Stats",
        "WatchTransitions" => "WatchTransitions",
        _ => "other",
    }
}
