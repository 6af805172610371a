//! IngestService, the write side: ordered, idempotent, durable batches from
//! producers such as the recompute job.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use prost::Message;
use strata_core::validate_user_id;
use strata_store::{ApplyOutcome, Batch, Store};
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::Metrics;
use crate::status::{self, invalid};
use strata_proto::v1::ingest_service_server::IngestService;
use strata_proto::v1::{
    ApplyUpdatesRequest, ApplyUpdatesResponse, GetIngestStateRequest, GetIngestStateResponse,
};

const APPLY_UPDATES: &str = "ApplyUpdates";
const GET_INGEST_STATE: &str = "GetIngestState";

/// Longest producer id accepted, in bytes.
pub const MAX_PRODUCER_ID_BYTES: usize = 128;

#[derive(Debug, Clone)]
pub struct IngestHandler {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub max_records_per_batch: usize,
    /// Told the newest transition cursor after every applied batch, for
    /// WatchTransitions; replacing a value never waits on a watcher.
    pub transitions: Arc<tokio::sync::watch::Sender<u64>>,
}

#[tonic::async_trait]
impl IngestService for IngestHandler {
    #[tracing::instrument(name = "ApplyUpdates", skip_all, fields(producer, batches))]
    async fn apply_updates(
        &self,
        request: Request<Streaming<ApplyUpdatesRequest>>,
    ) -> Result<Response<ApplyUpdatesResponse>, Status> {
        let started = Instant::now();
        let result = self.apply_stream(request.into_inner()).await;
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        if let Err(status) = &result {
            tracing::warn!(code = ?status.code(), message = status.message(), "ingest stream refused");
        }
        self.metrics
            .observe_rpc(APPLY_UPDATES, code, started.elapsed());
        result.map(Response::new)
    }

    #[tracing::instrument(name = "GetIngestState", skip_all, fields(producer = %request.get_ref().producer_id))]
    async fn get_ingest_state(
        &self,
        request: Request<GetIngestStateRequest>,
    ) -> Result<Response<GetIngestStateResponse>, Status> {
        let started = Instant::now();
        let producer_id = request.into_inner().producer_id;
        let result = async {
            validate_producer_id(&producer_id)?;
            let store = self.store.clone();
            let lookup_id = producer_id.clone();
            let state = tokio::task::spawn_blocking(move || store.ingest_state(&lookup_id))
                .await
                .map_err(status::from_join)?
                .map_err(status::from_store)?;
            Ok(GetIngestStateResponse {
                producer_id,
                last_applied_sequence: state.last_sequence,
                store_id: state.store_id,
                model_version: state.model_version,
                version_generation: state.generation,
            })
        }
        .await;
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.metrics
            .observe_rpc(GET_INGEST_STATE, code, started.elapsed());
        result.map(Response::new)
    }
}

impl IngestHandler {
    /// Applies a stream's batches in order, as a pipeline of two blocking
    /// threads: one decodes, validates and encodes batch N+1 (off the async
    /// workers, which serve reads) while the other writes batch N with its
    /// synced WAL. Each batch is still one `WriteBatch`, applied only after
    /// every batch before it, and the answer is sent only after the last
    /// write is durable; a refusal (or a stream error) takes effect where it
    /// stands in the stream, after the batches before it are applied.
    async fn apply_stream(
        &self,
        stream: Streaming<ApplyUpdatesRequest>,
    ) -> Result<ApplyUpdatesResponse, Status> {
        let span = tracing::Span::current();
        let (steps, received) = tokio::sync::mpsc::channel(PIPELINE_DEPTH);
        let reader = {
            let handler = self.clone();
            let span = span.clone();
            let runtime = tokio::runtime::Handle::current();
            background("ingest-read", move || {
                handler.read_stream(&runtime, stream, &steps, &span)
            })
        };
        // A caller that goes away stops the writer before its next batch
        // (as the one-batch-at-a-time loop stopped), not after everything
        // already read ahead.
        let gone = CancelOnDrop::default();
        let writer = {
            let handler = self.clone();
            let gone = gone.0.clone();
            background("ingest-write", move || {
                handler.write_steps(received, &gone, &span)
            })
        };
        let summary = writer.await.map_err(|_| stage_failed("writer"))?;
        if summary.is_ok() {
            // The writer saw the channel close: the reader has returned.
            reader.await.map_err(|_| stage_failed("reader"))?;
        }
        summary
    }

    /// The pipeline's first stage: every message of the stream, in order,
    /// as a prepared batch or the refusal that ends the stream. Stops early
    /// when the writer has stopped.
    fn read_stream(
        &self,
        runtime: &tokio::runtime::Handle,
        mut stream: Streaming<ApplyUpdatesRequest>,
        steps: &tokio::sync::mpsc::Sender<Step>,
        span: &tracing::Span,
    ) {
        let _entered = span.enter();
        let mut producer_id: Option<String> = None;
        loop {
            let next = runtime.block_on(async {
                tokio::select! {
                    message = stream.message() => Some(message),
                    () = steps.closed() => None,
                }
            });
            let step = match next {
                None | Some(Ok(None)) => return,
                Some(Err(status)) => Step::Refused {
                    status,
                    rejected: false,
                },
                Some(Ok(Some(batch))) => self.prepare(&mut producer_id, batch, span),
            };
            let last = matches!(step, Step::Refused { .. });
            if steps.blocking_send(step).is_err() || last {
                return;
            }
        }
    }

    /// Checks one batch against the stream's producer and the batch rules,
    /// and encodes its profiles for the store.
    fn prepare(
        &self,
        producer_id: &mut Option<String>,
        batch: ApplyUpdatesRequest,
        span: &tracing::Span,
    ) -> Step {
        match producer_id {
            None => {
                if let Err(status) = validate_producer_id(&batch.producer_id) {
                    return Step::Refused {
                        status,
                        rejected: false,
                    };
                }
                span.record("producer", batch.producer_id.as_str());
                *producer_id = Some(batch.producer_id.clone());
            }
            Some(first) if *first != batch.producer_id => {
                return Step::Refused {
                    status: invalid(format!(
                        "batch {} names producer {:?} but this stream belongs to {first:?}; open one stream per producer",
                        batch.sequence, batch.producer_id
                    )),
                    rejected: false,
                };
            }
            Some(_) => {}
        }
        if let Err(status) = self.validate_batch(&batch) {
            return Step::Refused {
                status,
                rejected: true,
            };
        }
        let ApplyUpdatesRequest {
            producer_id,
            sequence,
            upserts,
            deletes,
            model_version,
            model_card,
        } = batch;
        // What a new store names its version after (`Store::apply_named`).
        let records_version = upserts
            .first()
            .map(|profile| profile.model_version.clone())
            .unwrap_or_default();
        let upserts = upserts
            .into_iter()
            .map(|profile| {
                let bytes = profile.encode_to_vec();
                (profile.user_id, bytes)
            })
            .collect();
        Step::Batch(Prepared {
            producer_id,
            sequence,
            model_version,
            records_version,
            upserts,
            deletes,
            model_card: model_card.map(Box::new),
        })
    }

    /// The pipeline's second stage: applies prepared batches in stream
    /// order until the stream ends or a step refuses it.
    fn write_steps(
        &self,
        mut steps: tokio::sync::mpsc::Receiver<Step>,
        gone: &AtomicBool,
        span: &tracing::Span,
    ) -> Result<ApplyUpdatesResponse, Status> {
        let _entered = span.enter();
        let mut summary = ApplyUpdatesResponse::default();
        while let Some(step) = steps.blocking_recv() {
            if gone.load(Ordering::Acquire) {
                return Err(Status::cancelled("the caller went away"));
            }
            match step {
                Step::Refused { status, rejected } => {
                    if rejected {
                        self.metrics.observe_ingest_batch("rejected");
                    }
                    return Err(status);
                }
                Step::Batch(batch) => self.apply_batch(batch, &mut summary)?,
            }
        }
        if summary.producer_id.is_empty() {
            return Err(invalid("the stream carried no batch"));
        }
        span.record(
            "batches",
            summary.batches_applied + summary.batches_replayed,
        );
        Ok(summary)
    }

    fn validate_batch(&self, batch: &ApplyUpdatesRequest) -> Result<(), Status> {
        let sequence = batch.sequence;
        let records = batch.upserts.len() + batch.deletes.len();
        if records > self.max_records_per_batch {
            return Err(invalid(format!(
                "batch {sequence} has {records} records, the limit is {}; split it",
                self.max_records_per_batch
            )));
        }
        // A user named twice in one batch has no single meaning: refuse it
        // rather than pick a winner silently. Places are kept as (list,
        // index) and written out only for an error: this runs per record.
        let mut seen: HashMap<&str, Place> = HashMap::with_capacity(records);
        let named = batch
            .upserts
            .iter()
            .enumerate()
            .map(|(index, profile)| (Place::Upsert(index), profile.user_id.as_str()))
            .chain(
                batch
                    .deletes
                    .iter()
                    .enumerate()
                    .map(|(index, user_id)| (Place::Delete(index), user_id.as_str())),
            );
        for (place, user_id) in named {
            validate_user_id(user_id)
                .map_err(|error| invalid(format!("batch {sequence}: {place}: {error}")))?;
            if let Some(first) = seen.insert(user_id, place) {
                return Err(invalid(format!(
                    "batch {sequence}: {place} names user {user_id:?} again, first named by {first}"
                )));
            }
        }
        // A timestamp prost accepts but the protobuf Timestamp range does
        // not (year 0, 2^62 s) would be stored and served as garbage.
        for (index, profile) in batch.upserts.iter().enumerate() {
            crate::convert::check_profile_timestamps(profile)
                .map_err(|error| invalid(format!("batch {sequence}: upserts[{index}]: {error}")))?;
        }
        Ok(())
    }

    /// Writes one prepared batch (on the writer's blocking thread).
    fn apply_batch(
        &self,
        batch: Prepared,
        summary: &mut ApplyUpdatesResponse,
    ) -> Result<(), Status> {
        let Prepared {
            producer_id,
            sequence,
            model_version,
            records_version,
            upserts,
            deletes,
            model_card,
        } = batch;
        if summary.producer_id.is_empty() {
            summary.producer_id.clone_from(&producer_id);
        }
        let (upsert_count, delete_count) = (upserts.len() as u64, deletes.len() as u64);
        self.metrics
            .observe_batch_size(APPLY_UPDATES, upserts.len() + deletes.len());
        // Empty: whichever version serves (producers from before versioned
        // reloads send none).
        let addressed = Some(model_version.as_str()).filter(|version| !version.is_empty());
        let outcome = self.store.apply_named(
            addressed,
            Some(records_version.as_str()).filter(|version| !version.is_empty()),
            Batch {
                producer_id: &producer_id,
                sequence,
                upserts: &upserts,
                deletes: &deletes,
            },
        );
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.metrics.observe_ingest_batch("rejected");
                return Err(status::from_store(error));
            }
        };
        match outcome {
            ApplyOutcome::Applied => {
                // Only a batch that moved someone wakes the watchers.
                let newest = self.store.newest_transition();
                self.transitions.send_if_modified(|announced| {
                    let moved = *announced != newest;
                    *announced = newest;
                    moved
                });
                self.metrics.observe_ingest_batch("applied");
                self.metrics.observe_applied(
                    &summary.producer_id,
                    sequence,
                    upsert_count,
                    delete_count,
                );
                summary.batches_applied += 1;
                summary.upserts += upsert_count;
                summary.deletes += delete_count;
                summary.last_applied_sequence = sequence;
                if let Some(card) = model_card {
                    crate::admin_service::keep_card(&self.store, *card)
                        .map_err(status::from_store)?;
                }
            }
            ApplyOutcome::Replayed { last_applied } => {
                self.metrics.observe_ingest_batch("replayed");
                tracing::info!(
                    sequence,
                    last_applied,
                    "replayed batch acknowledged without effect"
                );
                summary.batches_replayed += 1;
                summary.last_applied_sequence = summary.last_applied_sequence.max(last_applied);
            }
        }
        Ok(())
    }
}

/// Batches read ahead of the one being written.
const PIPELINE_DEPTH: usize = 2;

/// Niceness of the ingest pipeline's threads. Ingest is a background job
/// next to reads with a latency target: when both want the CPU, reads win
/// (measured: benches/ingest_serve, read p99 under ingest).
const INGEST_NICE: i32 = 10;

/// Runs one pipeline stage on a thread of its own at [`INGEST_NICE`]. Not
/// the blocking pool: a thread's niceness cannot be lowered back without
/// privileges, so a pooled thread would keep it for the reads it runs later.
fn background<T: Send + 'static>(
    name: &str,
    stage: impl FnOnce() -> T + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    let (done, finished) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_priority();
            let _ = done.send(stage());
        });
    if let Err(error) = spawned {
        // The receiver sees a dropped sender: the call fails as INTERNAL.
        tracing::error!(%error, "cannot start an ingest thread");
    }
    finished
}

fn lower_priority() {
    // SAFETY: gettid has no preconditions; setpriority on our own thread id
    // only changes this thread's scheduling priority.
    let result = unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, INGEST_NICE)
    };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "ingest thread keeps its priority");
    }
}

fn stage_failed(stage: &str) -> Status {
    Status::internal(format!(
        "the ingest {stage} stopped unexpectedly; batches acknowledged before are durable, resend from GetIngestState"
    ))
}

/// What the reader hands the writer, in stream order.
enum Step {
    Batch(Prepared),
    /// Ends the stream once the batches before it are applied; `rejected`
    /// when it counts as a rejected batch.
    Refused {
        status: Status,
        rejected: bool,
    },
}

/// A validated batch with its profiles encoded as the store keeps them.
struct Prepared {
    producer_id: String,
    sequence: u64,
    model_version: String,
    /// The first record's model version: names a new store's version.
    records_version: String,
    upserts: Vec<(String, Vec<u8>)>,
    deletes: Vec<String>,
    /// The run's model card, on a plan's last batch (boxed: a few hundred
    /// bytes that nearly every batch lacks).
    model_card: Option<Box<strata_proto::v1::ModelCard>>,
}

/// Set when the call's future is dropped (the caller went away).
#[derive(Default)]
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Where a user id sits in a batch, for error messages.
#[derive(Debug, Clone, Copy)]
enum Place {
    Upsert(usize),
    Delete(usize),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Upsert(index) => write!(f, "upserts[{index}].user_id"),
            Place::Delete(index) => write!(f, "deletes[{index}]"),
        }
    }
}

fn validate_producer_id(producer_id: &str) -> Result<(), Status> {
    if producer_id.is_empty() {
        return Err(invalid("producer_id is empty"));
    }
    if producer_id.len() > MAX_PRODUCER_ID_BYTES {
        return Err(invalid(format!(
            "producer_id is {} bytes, the limit is {MAX_PRODUCER_ID_BYTES}",
            producer_id.len()
        )));
    }
    Ok(())
}
