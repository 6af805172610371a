//! IngestService, the write side: ordered, idempotent, durable batches from
//! producers such as the recompute job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use strata_core::validate_user_id;
use strata_store::{ApplyOutcome, Batch, Store};
use tonic::{Request, Response, Status, Streaming};

use super::metrics::Metrics;
use super::status::{self, invalid};
use crate::api::v1::ingest_service_server::IngestService;
use crate::api::v1::{
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
            let last_applied_sequence =
                tokio::task::spawn_blocking(move || store.last_sequence(&lookup_id))
                    .await
                    .map_err(status::from_join)?
                    .map_err(status::from_store)?;
            Ok(GetIngestStateResponse {
                producer_id,
                last_applied_sequence,
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
    async fn apply_stream(
        &self,
        mut stream: Streaming<ApplyUpdatesRequest>,
    ) -> Result<ApplyUpdatesResponse, Status> {
        let mut summary = ApplyUpdatesResponse::default();
        while let Some(batch) = stream.message().await? {
            if summary.producer_id.is_empty() {
                validate_producer_id(&batch.producer_id)?;
                tracing::Span::current().record("producer", batch.producer_id.as_str());
                summary.producer_id = batch.producer_id.clone();
            } else if batch.producer_id != summary.producer_id {
                return Err(invalid(format!(
                    "batch {} names producer {:?} but this stream belongs to {:?}; open one stream per producer",
                    batch.sequence, batch.producer_id, summary.producer_id
                )));
            }
            if let Err(status) = self.validate_batch(&batch) {
                self.metrics.observe_ingest_batch("rejected");
                return Err(status);
            }
            self.apply_batch(batch, &mut summary).await?;
        }
        if summary.producer_id.is_empty() {
            return Err(invalid("the stream carried no batch"));
        }
        tracing::Span::current().record(
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
        Ok(())
    }

    async fn apply_batch(
        &self,
        batch: ApplyUpdatesRequest,
        summary: &mut ApplyUpdatesResponse,
    ) -> Result<(), Status> {
        let ApplyUpdatesRequest {
            producer_id,
            sequence,
            upserts,
            deletes,
            model_version,
        } = batch;
        let (upsert_count, delete_count) = (upserts.len() as u64, deletes.len() as u64);
        self.metrics
            .observe_batch_size(APPLY_UPDATES, upserts.len() + deletes.len());
        let store = self.store.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let encoded: Vec<(String, Vec<u8>)> = upserts
                .into_iter()
                .map(|profile| {
                    let bytes = profile.encode_to_vec();
                    (profile.user_id, bytes)
                })
                .collect();
            // Empty: whichever version serves (producers from before
            // versioned reloads send none).
            let addressed = Some(model_version.as_str()).filter(|version| !version.is_empty());
            store.apply_to(
                addressed,
                Batch {
                    producer_id: &producer_id,
                    sequence,
                    upserts: &encoded,
                    deletes: &deletes,
                },
            )
        })
        .await
        .map_err(status::from_join)?;
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
