//! Scale-out over NATS JetStream: the recompute job publishes its numbered
//! update batches to one stream ([`publisher`]), and every replica's sidecar
//! follows that stream with its own durable consumer and applies the batches
//! to its local server ([`replicator`]).
//!
//! Invariant: a replica applies only through the server's gRPC ingest path
//! (`ApplyUpdates`, with the producer's own sequence numbers), so the server's
//! ordering, idempotence and durability rules hold for replicas exactly as for
//! a direct push: a replayed batch is a no-op, a gap is refused.
//!
//! Layout in the stream: one message per batch, the encoded
//! `ApplyUpdatesRequest`, on subject `strata.updates.<producer_id>`, with
//! headers `Nats-Msg-Id: <producer>/<sequence>` (JetStream drops a republished
//! duplicate) and `Strata-Sequence: <sequence>`.

mod log;
pub mod publisher;
pub mod replicator;

pub use log::{DEFAULT_STREAM, LogTarget, ReplicationError, SEQUENCE_HEADER, SUBJECT_PREFIX};
pub use publisher::NatsPublisher;
pub use replicator::{ReplicaOptions, ReplicaReport, replicate};
