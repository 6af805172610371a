//! The recompute job's side of replication: numbered update batches
//! published to the JetStream stream, one message each, resumable from the
//! stream itself.

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use prost::Message;
use strata_client::Changes;

use crate::log::{LogTarget, ReplicationError, SEQUENCE_HEADER, connect, ensure_stream};
use strata_proto::v1::ApplyUpdatesRequest;

/// Publishes one producer's batches, keeping its sequence numbers.
pub struct NatsPublisher {
    jetstream: jetstream::Context,
    stream: stream::Stream,
    stream_name: String,
    subject: String,
    producer_id: String,
    next_sequence: u64,
    /// Stream sequence of the producer's last message (0: none). Each publish
    /// expects it, so two runs of one producer cannot interleave batches.
    last_stream_sequence: u64,
}

impl std::fmt::Debug for NatsPublisher {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.debug_struct("NatsPublisher")
            .field("stream", &self.stream_name)
            .field("subject", &self.subject)
            .field("next_sequence", &self.next_sequence)
            .finish()
    }
}

/// What one [`NatsPublisher::publish`] call put in the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    pub batches: u64,
    pub upserts: u64,
    pub deletes: u64,
}

impl NatsPublisher {
    /// Connects, creates the stream if missing, and learns where the producer
    /// left off.
    pub async fn connect(
        target: &LogTarget,
        producer_id: &str,
    ) -> Result<NatsPublisher, ReplicationError> {
        let subject = LogTarget::subject(producer_id)?;
        let client = connect(&target.url, "strata-events").await?;
        let jetstream = jetstream::new(client);
        let stream = ensure_stream(&jetstream, target).await?;
        let mut publisher = NatsPublisher {
            jetstream,
            stream,
            stream_name: target.stream.clone(),
            subject,
            producer_id: producer_id.to_owned(),
            next_sequence: 1,
            last_stream_sequence: 0,
        };
        publisher.resync().await?;
        Ok(publisher)
    }

    /// The sequence the next published batch will carry.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The stream's name and creation time: a stream deleted and created
    /// again (emptied) reads differently, so the job knows to publish every
    /// record rather than only what changed since its last run.
    pub async fn stream_identity(&mut self) -> Result<String, ReplicationError> {
        let info = self.stream.info().await.map_err(|error| {
            ReplicationError::nats(format!("stream {} info", self.stream_name), error)
        })?;
        Ok(format!(
            "nats stream {} created {}",
            info.config.name,
            info.created.unix_timestamp_nanos()
        ))
    }

    /// Reads the producer's last published sequence from the stream (its
    /// last message on the producer's subject).
    #[tracing::instrument(name = "nats_resync", skip_all, fields(subject = %self.subject))]
    pub async fn resync(&mut self) -> Result<u64, ReplicationError> {
        let last = match self
            .stream
            .get_last_raw_message_by_subject(&self.subject)
            .await
        {
            Ok(message) => message,
            Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                self.next_sequence = 1;
                self.last_stream_sequence = 0;
                return Ok(0);
            }
            Err(error) => {
                return Err(ReplicationError::nats(
                    format!("last message on {}", self.subject),
                    error,
                ));
            }
        };
        let corrupt = |reason: String| ReplicationError::Corrupt {
            stream_sequence: last.sequence,
            reason,
        };
        let sequence = match last.headers.get(SEQUENCE_HEADER) {
            Some(value) => value.as_str().parse::<u64>().map_err(|_| {
                corrupt(format!("header {SEQUENCE_HEADER} is {:?}", value.as_str()))
            })?,
            // The payload carries the sequence too.
            None => {
                ApplyUpdatesRequest::decode(last.payload.clone())
                    .map_err(|error| corrupt(error.to_string()))?
                    .sequence
            }
        };
        self.next_sequence = sequence + 1;
        self.last_stream_sequence = last.sequence;
        tracing::debug!(sequence, "resumed from the stream");
        Ok(sequence)
    }

    /// Publishes `batches` numbered from [`Self::next_sequence`], one at a
    /// time: each counts as sent only once JetStream has acknowledged it
    /// (stored), so the stream never holds a batch without its predecessor.
    /// On error the publisher resynchronises from the stream.
    pub async fn publish(&mut self, batches: Vec<Changes>) -> Result<Published, ReplicationError> {
        let mut published = Published::default();
        for changes in batches {
            let (upserts, deletes) = (changes.upserts.len() as u64, changes.deletes.len() as u64);
            if let Err(error) = self.publish_one(changes).await {
                // A batch may be stored even though its ack was lost.
                let _ = self.resync().await;
                return Err(error);
            }
            published.batches += 1;
            published.upserts += upserts;
            published.deletes += deletes;
        }
        Ok(published)
    }

    #[tracing::instrument(name = "nats_publish", skip_all, fields(subject = %self.subject, sequence = self.next_sequence))]
    async fn publish_one(&mut self, changes: Changes) -> Result<(), ReplicationError> {
        let sequence = self.next_sequence;
        let payload = ApplyUpdatesRequest {
            producer_id: self.producer_id.clone(),
            sequence,
            upserts: changes.upserts,
            deletes: changes.deletes,
            model_version: String::new(),
            model_card: changes.model_card,
        }
        .encode_to_vec();
        let bytes = payload.len();
        let message = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(format!("{}/{sequence}", self.producer_id))
            .header(SEQUENCE_HEADER, sequence.to_string().as_str())
            .expected_last_subject_sequence(self.last_stream_sequence);
        let action = || format!("publishing batch {sequence} to {}", self.subject);
        let ack = self
            .jetstream
            .send_publish(self.subject.clone(), message)
            .await
            .map_err(|error| {
                if error.kind() == PublishErrorKind::MaxPayloadExceeded {
                    ReplicationError::TooLarge {
                        producer_id: self.producer_id.clone(),
                        sequence,
                        bytes,
                        max: self.jetstream.client().max_payload(),
                    }
                } else {
                    ReplicationError::nats(action(), error)
                }
            })?
            .await
            .map_err(|error| {
                if error.kind() == PublishErrorKind::WrongLastSequence {
                    ReplicationError::nats(
                        format!(
                            "{}: another run of producer {:?} published meanwhile",
                            action(),
                            self.producer_id
                        ),
                        error,
                    )
                } else {
                    ReplicationError::nats(action(), error)
                }
            })?;
        if ack.duplicate {
            tracing::info!(sequence, "the stream already held this batch");
        }
        self.last_stream_sequence = ack.sequence;
        self.next_sequence = sequence + 1;
        Ok(())
    }
}
