//! The replica sidecar: follows the update stream with a durable pull
//! consumer and applies each batch, in stream order, to the local server
//! through `ApplyUpdates`. A message is acknowledged to JetStream only after
//! the server has acknowledged its batch (applied and synced), so a crash at
//! any point leads to a redelivery, which the server treats as a replay.

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use prost::Message;
use strata_client::Connection;
use tokio_stream::StreamExt;

use crate::log::{LogTarget, ReplicationError, SUBJECT_PREFIX, connect, ensure_stream};
use strata_proto::v1::ingest_service_client::IngestServiceClient;
use strata_proto::v1::{ApplyUpdatesRequest, ApplyUpdatesResponse};

/// Messages taken from JetStream and applied per round.
const GROUP: usize = 16;
/// How long an idle replica waits in one pull before checking again.
const IDLE_WAIT: Duration = Duration::from_secs(5);
/// JetStream redelivers a message not acknowledged within this time. It only
/// matters after a failure: a healthy replica acknowledges in milliseconds.
const ACK_WAIT: Duration = Duration::from_secs(60);
/// Longest pause between retries while the local server is unreachable.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// How often a busy replica logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// The trailer the server names the expected sequence in after a gap.
const EXPECTED_SEQUENCE_TRAILER: &str = "strata-expected-sequence";

#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    pub log: LogTarget,
    /// The durable consumer's name: one per replica, stable across restarts.
    pub consumer: String,
    /// The local server.
    pub server: Connection,
    /// Stop once every message in the stream has been applied.
    pub until_caught_up: bool,
    /// Most messages delivered but not yet acknowledged.
    pub max_ack_pending: i64,
}

/// What a replica did in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaReport {
    /// Stream messages applied and acknowledged.
    pub messages: u64,
    /// Batches that changed the local store.
    pub batches_applied: u64,
    /// Batches the store already held (redeliveries, or a store restored
    /// from a backup newer than the consumer).
    pub batches_replayed: u64,
    pub upserts: u64,
    pub deletes: u64,
    /// Messages in the stream not yet delivered to this replica.
    pub lag: u64,
}

/// Follows the stream until `shutdown` completes (after the batches in hand
/// are applied and acknowledged) or, with `until_caught_up`, until no message
/// is left.
#[tracing::instrument(
    name = "replicate",
    skip_all,
    fields(stream = %options.log.stream, consumer = %options.consumer)
)]
pub async fn replicate(
    options: &ReplicaOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<ReplicaReport, ReplicationError> {
    let client = connect(
        &options.log.url,
        &format!("strata-replica-{}", options.consumer),
    )
    .await?;
    let jetstream = jetstream::new(client);
    let stream = ensure_stream(&jetstream, &options.log).await?;
    let consumer = open_consumer(&stream, &options.consumer, options.max_ack_pending).await?;
    // Lazy: the sidecar may start before its server listens; calls retry.
    let mut server = IngestServiceClient::new(options.server.connect_lazy()?)
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);

    let mut report = ReplicaReport::default();
    let mut last_progress = Instant::now();
    tokio::pin!(shutdown);
    loop {
        let mut messages = tokio::select! {
            biased;
            () = &mut shutdown => break,
            messages = ready_messages(&consumer) => messages?,
        };
        if messages.is_empty() {
            let info = consumer
                .get_info()
                .await
                .map_err(|error| ReplicationError::nats("consumer info", error))?;
            report.lag = info.num_pending;
            if options.until_caught_up && info.num_pending == 0 {
                break;
            }
            messages = tokio::select! {
                biased;
                () = &mut shutdown => break,
                messages = first_arriving(&consumer) => messages?,
            };
        }
        let Some(last) = messages.last() else {
            continue;
        };
        report.lag = last.info().map_or(report.lag, |info| info.pending);
        match apply_group(&mut server, messages, &mut report, &mut shutdown).await {
            Ok(()) => {}
            // Unacknowledged messages come again on the next start.
            Err(ReplicationError::Stopped) => break,
            Err(error) => return Err(error),
        }
        if report.lag == 0 || last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            tracing::info!(
                messages = report.messages,
                applied = report.batches_applied,
                replayed = report.batches_replayed,
                lag = report.lag,
                "replica progress"
            );
        }
    }
    Ok(report)
}

/// The replica's durable consumer, created on first start.
async fn open_consumer(
    stream: &stream::Stream,
    name: &str,
    max_ack_pending: i64,
) -> Result<consumer::PullConsumer, ReplicationError> {
    let config = |deliver_policy| consumer::pull::Config {
        durable_name: Some(name.to_owned()),
        description: Some("strata replica: applies update batches to its server".into()),
        deliver_policy,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending,
        ..Default::default()
    };
    let create = |deliver_policy| async move {
        stream
            .create_consumer(config(deliver_policy))
            .await
            .map_err(|error| ReplicationError::nats(format!("creating consumer {name}"), error))
    };
    match stream.consumer_info(name).await {
        Ok(info) if info.num_ack_pending == 0 => stream
            .get_consumer(name)
            .await
            .map_err(|error| ReplicationError::nats(format!("opening consumer {name}"), error)),
        Ok(info) => {
            // The last run died holding delivered, unacknowledged messages.
            // JetStream would redeliver them only after the ack wait but hand
            // out later messages at once: the server would see a gap. Start
            // the consumer again at its first unacknowledged message instead.
            let start_sequence = info.ack_floor.stream_sequence + 1;
            tracing::info!(
                consumer = name,
                start_sequence,
                unacknowledged = info.num_ack_pending,
                "resuming at the first unacknowledged message"
            );
            stream.delete_consumer(name).await.map_err(|error| {
                ReplicationError::nats(format!("resetting consumer {name}"), error)
            })?;
            create(consumer::DeliverPolicy::ByStartSequence { start_sequence }).await
        }
        Err(error) if error.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound => {
            tracing::info!(
                consumer = name,
                "new replica: replaying the stream from its start"
            );
            create(consumer::DeliverPolicy::All).await
        }
        Err(error) => Err(ReplicationError::nats(format!("consumer {name}"), error)),
    }
}

/// Up to [`GROUP`] messages available now, without waiting.
async fn ready_messages(
    consumer: &consumer::PullConsumer,
) -> Result<Vec<jetstream::Message>, ReplicationError> {
    let fetch = |error: async_nats::Error| ReplicationError::nats("fetching messages", error);
    let mut messages = Vec::with_capacity(GROUP);
    let mut ready = consumer
        .fetch()
        .max_messages(GROUP)
        .messages()
        .await
        .map_err(|error| fetch(error.into()))?;
    while let Some(message) = ready.next().await {
        messages.push(message.map_err(fetch)?);
    }
    Ok(messages)
}

/// The first message to arrive within [`IDLE_WAIT`], if any: one long pull
/// instead of polling.
async fn first_arriving(
    consumer: &consumer::PullConsumer,
) -> Result<Vec<jetstream::Message>, ReplicationError> {
    let fetch = |error: async_nats::Error| ReplicationError::nats("waiting for messages", error);
    let mut messages = Vec::with_capacity(1);
    let mut arriving = consumer
        .batch()
        .max_messages(1)
        .expires(IDLE_WAIT)
        .messages()
        .await
        .map_err(|error| fetch(error.into()))?;
    while let Some(message) = arriving.next().await {
        messages.push(message.map_err(fetch)?);
    }
    Ok(messages)
}

/// Applies a group of messages in order, one ApplyUpdates stream per run of
/// one producer's batches, and acknowledges each run once the server has.
async fn apply_group(
    server: &mut IngestServiceClient<strata_client::AuthChannel>,
    messages: Vec<jetstream::Message>,
    report: &mut ReplicaReport,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), ReplicationError> {
    let mut batches = Vec::with_capacity(messages.len());
    for message in &messages {
        batches.push(decode(message)?);
    }
    let mut start = 0;
    while start < batches.len() {
        let producer_id = &batches[start].producer_id;
        let end = start
            + batches[start..]
                .iter()
                .take_while(|batch| &batch.producer_id == producer_id)
                .count();
        let response = forward(server, &batches[start..end], shutdown).await?;
        for message in &messages[start..end] {
            // Confirmed: the next round must not see this message again
            // unless JetStream really lost the acknowledgement.
            message
                .double_ack()
                .await
                .map_err(|error| ReplicationError::nats("acknowledging a message", error))?;
        }
        report.messages += (end - start) as u64;
        report.batches_applied += response.batches_applied;
        report.batches_replayed += response.batches_replayed;
        report.upserts += response.upserts;
        report.deletes += response.deletes;
        start = end;
    }
    Ok(())
}

/// The batch a message carries, checked against the subject it came on.
fn decode(message: &jetstream::Message) -> Result<ApplyUpdatesRequest, ReplicationError> {
    let stream_sequence = message.info().map_or(0, |info| info.stream_sequence);
    let corrupt = |reason: String| ReplicationError::Corrupt {
        stream_sequence,
        reason,
    };
    let batch = ApplyUpdatesRequest::decode(message.payload.clone())
        .map_err(|error| corrupt(error.to_string()))?;
    let subject_producer = message
        .subject
        .as_str()
        .strip_prefix(SUBJECT_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'));
    if subject_producer != Some(batch.producer_id.as_str()) {
        return Err(corrupt(format!(
            "subject {} carries a batch of producer {:?}",
            message.subject, batch.producer_id
        )));
    }
    Ok(batch)
}

/// Sends one producer's consecutive batches in one ApplyUpdates stream,
/// retrying while the server is unreachable or overloaded. Batches applied
/// before a failure are replays on the retry.
#[tracing::instrument(
    name = "replicate_batches",
    skip_all,
    fields(
        producer = %batches[0].producer_id,
        first = batches[0].sequence,
        last = batches[batches.len() - 1].sequence,
    )
)]
async fn forward(
    server: &mut IngestServiceClient<strata_client::AuthChannel>,
    batches: &[ApplyUpdatesRequest],
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<ApplyUpdatesResponse, ReplicationError> {
    let producer_id = batches[0].producer_id.clone();
    let (first, last) = (batches[0].sequence, batches[batches.len() - 1].sequence);
    let mut delay = Duration::from_millis(100);
    loop {
        let status = match server
            .apply_updates(tokio_stream::iter(batches.to_vec()))
            .await
        {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) => status,
        };
        match status.code() {
            tonic::Code::FailedPrecondition => {
                let expected = status
                    .metadata()
                    .get(EXPECTED_SEQUENCE_TRAILER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse::<u64>().ok());
                if let Some(expected) = expected {
                    let found = batches
                        .iter()
                        .map(|batch| batch.sequence)
                        .find(|sequence| *sequence > expected)
                        .unwrap_or(first);
                    return Err(ReplicationError::Behind {
                        producer_id,
                        expected,
                        found,
                    });
                }
            }
            // The server is starting, restarting or shedding load.
            tonic::Code::Unavailable
            | tonic::Code::ResourceExhausted
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted => {
                tracing::warn!(
                    code = ?status.code(),
                    message = status.message(),
                    retry_in_ms = delay.as_millis() as u64,
                    "the local server did not take the batches; retrying"
                );
                tokio::select! {
                    biased;
                    () = &mut *shutdown => return Err(ReplicationError::Stopped),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(MAX_RETRY_DELAY);
                continue;
            }
            _ => {}
        }
        return Err(ReplicationError::Apply {
            producer_id,
            first,
            last,
            source: status.into(),
        });
    }
}
