//! Pushing a run's changes to the service exactly once, across crashes.
//!
//! Before the first batch leaves, the run writes a plan: the changed profiles
//! (a snapshot file), the deletes, the batch size and the first sequence
//! number. Batch i of the plan always carries sequence `first + i`, so after a
//! crash the next run asks the server for the producer's last applied
//! sequence, skips the batches at or below it, and sends the rest: nothing is
//! lost and nothing is applied twice.
//!
//! The plan goes to an [`UpdateSink`]: the service itself (gRPC push) or the
//! NATS JetStream stream replicas follow (publish); both resume the same way.

use std::future::Future;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::{ServerMark, write_atomically};
use strata_client::{AuthChannel, Changes, ClientError, Connection, IngestClient};
use strata_proto::v1::ingest_service_client::IngestServiceClient;
use strata_proto::v1::{GetIngestStateRequest, Profile};
use strata_replication::{LogTarget, NatsPublisher, ReplicationError};
use strata_snapshot::{SnapshotError, read_snapshot};

/// Batches sent per ApplyUpdates stream.
const BATCHES_PER_STREAM: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Publish(#[from] ReplicationError),
    #[error("push plan {path}: {source}")]
    Plan {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "producer {producer_id:?}: the server's last applied sequence is {applied}, but the pending plan starts at {first}; \
         the store lost batches (restored from an older backup?). Remove {plan} and the state file to push everything again"
    )]
    ServerBehind {
        producer_id: String,
        applied: u64,
        first: u64,
        plan: PathBuf,
    },
    #[error("push stopped after {0} batches, as asked (--crash-after-batches)")]
    CrashForTesting(u64),
}

/// Where pushed batches go.
#[derive(Debug, Clone)]
pub enum PushTarget {
    /// ApplyUpdates on one running service.
    Server(Connection),
    /// The JetStream stream every replica follows.
    Log(LogTarget),
}

/// Takes a producer's numbered batches: the service or the update log.
pub trait UpdateSink {
    /// The producer's last applied (service) or published (log) sequence;
    /// the next batch carries it + 1.
    fn resync(&mut self) -> impl Future<Output = Result<u64, PushError>> + Send;
    /// The sequence the next batch will carry.
    fn next_sequence(&self) -> u64;
    /// Sends `batches` numbered from [`Self::next_sequence`]; they count as
    /// sent once durable at the other end. On error the sink resynchronises.
    fn push(
        &mut self,
        batches: Vec<Changes>,
    ) -> impl Future<Output = Result<Delivered, PushError>> + Send;
}

/// Records delivered by one [`UpdateSink::push`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub upserts: u64,
    pub deletes: u64,
}

impl UpdateSink for IngestClient {
    async fn resync(&mut self) -> Result<u64, PushError> {
        Ok(IngestClient::resync(self).await?)
    }

    fn next_sequence(&self) -> u64 {
        IngestClient::next_sequence(self)
    }

    async fn push(&mut self, batches: Vec<Changes>) -> Result<Delivered, PushError> {
        let response = IngestClient::push(self, batches).await?;
        Ok(Delivered {
            upserts: response.upserts,
            deletes: response.deletes,
        })
    }
}

impl UpdateSink for NatsPublisher {
    async fn resync(&mut self) -> Result<u64, PushError> {
        Ok(NatsPublisher::resync(self).await?)
    }

    fn next_sequence(&self) -> u64 {
        NatsPublisher::next_sequence(self)
    }

    async fn push(&mut self, batches: Vec<Changes>) -> Result<Delivered, PushError> {
        let published = self.publish(batches).await?;
        Ok(Delivered {
            upserts: published.upserts,
            deletes: published.deletes,
        })
    }
}

/// The sink a [`PushTarget`] names, connected for one producer.
#[derive(Debug)]
pub enum Sink {
    // Boxed: a publisher holds the stream's info (about 1.5 KB), and the
    // enum stays a pointer wide either way.
    Server(Box<ServerSink>),
    Log(Box<NatsPublisher>),
}

/// The service as a sink: the producer's client, and the raw ingest client
/// that reads the whole GetIngestState answer (store id, serving version).
#[derive(Debug)]
pub struct ServerSink {
    client: IngestClient,
    state: IngestServiceClient<AuthChannel>,
    producer_id: String,
}

impl Sink {
    pub async fn connect(target: &PushTarget, producer_id: &str) -> Result<Sink, PushError> {
        Ok(match target {
            PushTarget::Server(connection) => {
                // One connection (and one probe, should it fail) for both.
                let channel = connection.connect().await?;
                Sink::Server(Box::new(ServerSink {
                    client: IngestClient::on(channel.clone(), producer_id).await?,
                    state: IngestServiceClient::new(channel),
                    producer_id: producer_id.to_owned(),
                }))
            }
            PushTarget::Log(log) => {
                Sink::Log(Box::new(NatsPublisher::connect(log, producer_id).await?))
            }
        })
    }

    /// Which store (or stream) this is and where the producer stands in it
    /// now, to compare with what the state file recorded.
    pub async fn mark(&mut self) -> Result<ServerMark, PushError> {
        match self {
            Sink::Server(server) => {
                let state = server
                    .state
                    .get_ingest_state(GetIngestStateRequest {
                        producer_id: server.producer_id.clone(),
                    })
                    .await
                    .map_err(|status| PushError::Client(status.into()))?
                    .into_inner();
                Ok(ServerMark {
                    store: state.store_id,
                    model_version: state.model_version,
                    generation: state.version_generation,
                    sequence: state.last_applied_sequence,
                })
            }
            Sink::Log(publisher) => {
                let store = publisher.stream_identity().await?;
                let sequence = publisher.resync().await?;
                Ok(ServerMark {
                    store,
                    sequence,
                    ..ServerMark::default()
                })
            }
        }
    }
}

impl UpdateSink for Sink {
    async fn resync(&mut self) -> Result<u64, PushError> {
        match self {
            Sink::Server(server) => UpdateSink::resync(&mut server.client).await,
            Sink::Log(publisher) => UpdateSink::resync(publisher.as_mut()).await,
        }
    }

    fn next_sequence(&self) -> u64 {
        match self {
            Sink::Server(server) => server.client.next_sequence(),
            Sink::Log(publisher) => publisher.next_sequence(),
        }
    }

    async fn push(&mut self, batches: Vec<Changes>) -> Result<Delivered, PushError> {
        match self {
            Sink::Server(server) => UpdateSink::push(&mut server.client, batches).await,
            Sink::Log(publisher) => UpdateSink::push(publisher.as_mut(), batches).await,
        }
    }
}

/// A push in progress, as written to disk before the first batch is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushPlan {
    pub producer_id: String,
    pub first_sequence: u64,
    pub batch_size: usize,
    pub upserts: u64,
    pub deletes: Vec<String>,
    /// The store (or stream) the plan was made against, as it stood then;
    /// absent in plans from before marks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerMark>,
}

impl PushPlan {
    pub fn batches(&self) -> u64 {
        let size = self.batch_size as u64;
        self.upserts.div_ceil(size) + (self.deletes.len() as u64).div_ceil(size)
    }

    /// The producer's sequence once every batch of the plan is applied.
    pub fn last_sequence(&self) -> u64 {
        self.first_sequence + self.batches() - 1
    }

    /// Why finishing this plan on the server as it stands `now` would not
    /// give the server what the plan's state records: the plan only holds
    /// the changes against what the store held then, so a store that lost
    /// batches (or is another store) needs a full push instead.
    pub fn stale_against(&self, now: &ServerMark) -> Option<String> {
        if let Some(then) = &self.server
            && then.store != now.store
        {
            return Some(format!(
                "the plan was made for store {}, the server's store is now {}",
                then.store, now.store
            ));
        }
        (now.sequence + 1 < self.first_sequence).then(|| {
            format!(
                "the plan starts at sequence {} but the server is at {}: it lost batches \
                 (restored from an older backup?)",
                self.first_sequence, now.sequence
            )
        })
    }
}

/// Where the files of a pending push live, next to the state file.
#[derive(Debug, Clone)]
pub struct PlanFiles {
    pub plan: PathBuf,
    pub upserts: PathBuf,
    pub next_state: PathBuf,
}

impl PlanFiles {
    pub fn beside(state: &Path) -> PlanFiles {
        PlanFiles {
            plan: state.with_extension("push.json"),
            upserts: state.with_extension("push.snapshot"),
            next_state: state.with_extension("next.jsonl"),
        }
    }

    pub fn load_plan(&self) -> Result<Option<PushPlan>, PushError> {
        let plan_error = |source| PushError::Plan {
            path: self.plan.clone(),
            source,
        };
        match std::fs::read(&self.plan) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| plan_error(error.into())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(plan_error(error)),
        }
    }

    /// The commit point of a plan: once this file exists, the push resumes.
    pub fn save_plan(&self, plan: &PushPlan) -> Result<(), PushError> {
        write_atomically(&self.plan, |out| {
            serde_json::to_writer(out, plan).map_err(std::io::Error::from)
        })
        .map_err(|source| PushError::Plan {
            path: self.plan.clone(),
            source,
        })
    }

    /// Drops a finished plan's files.
    pub fn clear(&self) -> Result<(), PushError> {
        self.remove(&[&self.plan, &self.upserts])
    }

    /// Drops a plan that will not be finished, with the state it would
    /// have committed: the job's state stays the one before it.
    pub fn abandon(&self) -> Result<(), PushError> {
        self.remove(&[&self.plan, &self.upserts, &self.next_state])
    }

    fn remove(&self, paths: &[&PathBuf]) -> Result<(), PushError> {
        for path in paths {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(PushError::Plan {
                        path: (*path).clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushOutcome {
    pub batches_sent: u64,
    /// Batches the server had applied before this run (resumed plan).
    pub batches_skipped: u64,
    pub upserts: u64,
    pub deletes: u64,
}

/// Sends the plan's batches that the server has not applied yet (or the
/// log does not hold yet).
pub async fn push_plan(
    client: &mut impl UpdateSink,
    plan: &PushPlan,
    files: &PlanFiles,
    crash_after_batches: Option<u64>,
    mut progress: impl FnMut(u64),
) -> Result<PushOutcome, PushError> {
    let applied = client.resync().await?;
    if applied + 1 < plan.first_sequence {
        return Err(PushError::ServerBehind {
            producer_id: plan.producer_id.clone(),
            applied,
            first: plan.first_sequence,
            plan: files.plan.clone(),
        });
    }

    // The snapshot is read on a blocking thread and handed over batch by
    // batch, so memory holds a few batches, not the whole change set.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Changes>(BATCHES_PER_STREAM * 2);
    let upserts_path = files.upserts.clone();
    let batch_size = plan.batch_size;
    let deletes = plan.deletes.clone();
    let expected_upserts = plan.upserts;
    let reader = tokio::task::spawn_blocking(move || -> Result<(), PushError> {
        let mut batch: Vec<Profile> = Vec::with_capacity(batch_size);
        let mut closed = false;
        let mut read = 0u64;
        if expected_upserts > 0 {
            read_snapshot(&upserts_path, |profile| {
                read += 1;
                batch.push(profile);
                if batch.len() == batch_size && !closed {
                    let upserts = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                    closed = sender
                        .blocking_send(Changes {
                            upserts,
                            deletes: Vec::new(),
                            model_card: None,
                        })
                        .is_err();
                }
            })?;
        }
        if !batch.is_empty() && !closed {
            closed = sender
                .blocking_send(Changes {
                    upserts: batch,
                    deletes: Vec::new(),
                    model_card: None,
                })
                .is_err();
        }
        for chunk in deletes.chunks(batch_size) {
            if closed {
                break;
            }
            closed = sender
                .blocking_send(Changes {
                    upserts: Vec::new(),
                    deletes: chunk.to_vec(),
                    model_card: None,
                })
                .is_err();
        }
        debug_assert!(closed || read == expected_upserts);
        Ok(())
    });

    // The run's model card rides on the plan's last batch, so the server
    // keeps it once every profile it describes is there.
    let mut model_card = strata_snapshot::read_header(&files.upserts)
        .ok()
        .and_then(|header| header.model_card);
    let mut outcome = PushOutcome::default();
    let mut sequence = plan.first_sequence;
    let mut group = Vec::with_capacity(BATCHES_PER_STREAM);
    loop {
        let next = receiver.recv().await;
        let done = next.is_none();
        if let Some(changes) = next {
            if sequence <= applied {
                outcome.batches_skipped += 1;
                progress(1);
            } else {
                group.push(changes);
            }
            sequence += 1;
        }
        let crash_now = crash_after_batches
            .is_some_and(|limit| outcome.batches_sent + group.len() as u64 >= limit);
        if done && let Some(last) = group.last_mut() {
            last.model_card = model_card.take();
        }
        if group.len() == BATCHES_PER_STREAM || crash_now || (done && !group.is_empty()) {
            debug_assert_eq!(client.next_sequence(), sequence - group.len() as u64);
            let sent = group.len() as u64;
            let response = client.push(std::mem::take(&mut group)).await?;
            outcome.batches_sent += sent;
            outcome.upserts += response.upserts;
            outcome.deletes += response.deletes;
            progress(sent);
            if crash_now {
                return Err(PushError::CrashForTesting(outcome.batches_sent));
            }
        }
        if done {
            break;
        }
    }
    reader.await.map_err(|error| PushError::Plan {
        path: files.upserts.clone(),
        source: std::io::Error::other(error),
    })??;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_count_upserts_and_deletes_separately() {
        let plan = PushPlan {
            producer_id: "p".into(),
            first_sequence: 1,
            batch_size: 10,
            upserts: 21,
            deletes: vec!["a".into(); 10],
            server: None,
        };
        assert_eq!(plan.batches(), 4);
        assert_eq!(plan.last_sequence(), 4);
    }

    #[test]
    fn a_plan_is_stale_on_another_store_or_a_server_that_lost_batches() {
        let then = ServerMark {
            store: "s1".into(),
            sequence: 4,
            ..ServerMark::default()
        };
        let plan = PushPlan {
            producer_id: "p".into(),
            first_sequence: 5,
            batch_size: 10,
            upserts: 30,
            deletes: Vec::new(),
            server: Some(then.clone()),
        };
        // Crashed after two of its three batches: finish it.
        let partway = ServerMark {
            sequence: 6,
            ..then.clone()
        };
        assert_eq!(plan.stale_against(&then), None);
        assert_eq!(plan.stale_against(&partway), None);
        let behind = ServerMark {
            sequence: 2,
            ..then.clone()
        };
        assert!(
            plan.stale_against(&behind)
                .unwrap()
                .contains("lost batches")
        );
        let other = ServerMark {
            store: "s2".into(),
            ..partway
        };
        assert!(
            plan.stale_against(&other)
                .unwrap()
                .contains("store is now s2")
        );
    }
}
