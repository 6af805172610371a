//! The update log: the JetStream stream replicas follow, its subjects and
//! headers, where it is (`LogTarget`), connecting to it and creating the
//! stream when missing, and what can go wrong on the way.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// The stream both sides use unless told otherwise.
pub const DEFAULT_STREAM: &str = "STRATA_UPDATES";
/// Subjects are `<prefix>.<producer_id>`; the stream takes `<prefix>.>`.
pub const SUBJECT_PREFIX: &str = "strata.updates";
/// The batch's sequence, so the publisher can resume from the stream alone.
pub const SEQUENCE_HEADER: &str = "Strata-Sequence";
/// How long JetStream remembers message ids to drop a republished batch.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// The ingest service's limit on producer ids, in bytes.
const MAX_PRODUCER_ID_BYTES: usize = 128;

/// A NATS server and the stream of update batches on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// e.g. `nats://127.0.0.1:4222`
    pub url: String,
    pub stream: String,
    /// Copies JetStream keeps of each message (1 on a single server; 3 on a
    /// cluster, so an acknowledged batch is on a quorum of two servers). A
    /// new stream is created with it; an existing one with fewer is refused.
    pub replicas: usize,
}

impl LogTarget {
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> LogTarget {
        LogTarget {
            url: url.into(),
            stream: stream.into(),
            replicas: 1,
        }
    }

    pub fn with_replicas(mut self, replicas: usize) -> LogTarget {
        self.replicas = replicas;
        self
    }

    /// The subject a producer's batches go to.
    pub fn subject(producer_id: &str) -> Result<String, ReplicationError> {
        // A dot would split the id over two subject tokens, and `*`/`>` are
        // wildcards: either would mix producers up.
        let usable = !producer_id.is_empty()
            && producer_id.len() <= MAX_PRODUCER_ID_BYTES
            && producer_id
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '.' | '*' | '>'));
        if !usable {
            return Err(ReplicationError::ProducerId(producer_id.to_owned()));
        }
        Ok(format!("{SUBJECT_PREFIX}.{producer_id}"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("NATS JetStream, {action}: {source}")]
    Nats {
        action: String,
        #[source]
        source: async_nats::Error,
    },
    #[error(
        "stream {stream} exists but does not take subject {subject:?} (its subjects: {subjects:?}); \
         pick another --stream or add the subject"
    )]
    StreamSubjects {
        stream: String,
        subject: String,
        subjects: Vec<String>,
    },
    #[error(
        "stream {stream} {problem}: an acknowledged batch would not be durable. Recreate the stream \
         (`nats stream rm {stream}`; strata creates it with file storage and --stream-replicas copies) \
         or pick another --stream"
    )]
    NotDurable { stream: String, problem: String },
    #[error(
        "producer id {0:?} cannot be a NATS subject token: use 1 to 128 visible ASCII characters without '.', '*' or '>'"
    )]
    ProducerId(String),
    #[error(
        "batch {sequence} of producer {producer_id:?} is {bytes} bytes, above the NATS server's max_payload of {max} bytes; \
         lower --batch-size for a new run or raise max_payload"
    )]
    TooLarge {
        producer_id: String,
        sequence: u64,
        bytes: usize,
        max: usize,
    },
    #[error("stream message {stream_sequence} is not a strata update batch: {reason}")]
    Corrupt {
        stream_sequence: u64,
        reason: String,
    },
    #[error(transparent)]
    Client(#[from] strata_client::ClientError),
    #[error(
        "applying batches {first}..={last} of producer {producer_id:?} to the local server: {source}"
    )]
    Apply {
        producer_id: String,
        first: u64,
        last: u64,
        #[source]
        source: strata_client::ClientError,
    },
    #[error(
        "the local server expects batch {expected} of producer {producer_id:?} next, but the log's next batch is {found}: \
         the batches in between are no longer in the stream (retention) or this consumer already acknowledged them \
         (the store was restored from an older backup). Restore a newer backup of a peer (`strata restore`) and restart, \
         or delete this consumer to replay the stream from its start"
    )]
    Behind {
        producer_id: String,
        expected: u64,
        found: u64,
    },
    #[error("stopped before the batches in hand were applied")]
    Stopped,
}

impl ReplicationError {
    pub(crate) fn nats(action: impl Into<String>, source: impl Into<async_nats::Error>) -> Self {
        ReplicationError::Nats {
            action: action.into(),
            source: source.into(),
        }
    }
}

/// Connects to NATS, naming the connection for `nats-server`'s monitoring.
pub(crate) async fn connect(url: &str, name: &str) -> Result<async_nats::Client, ReplicationError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connect(url)
        .await
        .map_err(|source| ReplicationError::Connect {
            url: url.to_owned(),
            source,
        })
}

/// The update stream, created on first use by whichever side comes first.
/// An existing stream is taken as it is (an operator may have created it
/// with replicas and retention limits), as long as it takes our subjects.
pub(crate) async fn ensure_stream(
    jetstream: &jetstream::Context,
    target: &LogTarget,
) -> Result<stream::Stream, ReplicationError> {
    let subjects = format!("{SUBJECT_PREFIX}.>");
    // Only fields nats-server 2.9 knows: with the crate's server_2_10
    // features off, nothing newer is serialised.
    let config = stream::Config {
        name: target.stream.clone(),
        description: Some("strata update batches, one message per ApplyUpdates batch".into()),
        subjects: vec![subjects.clone()],
        // File storage and the asked replicas: what makes a publish
        // acknowledgement mean "stored" (README, "Replicas over NATS
        // JetStream", for what it still does not promise).
        storage: stream::StorageType::File,
        num_replicas: target.replicas,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    };
    let mut stream = jetstream
        .get_or_create_stream(config)
        .await
        .map_err(|error| {
            ReplicationError::nats(format!("opening stream {}", target.stream), error)
        })?;
    let info = stream
        .info()
        .await
        .map_err(|error| ReplicationError::nats(format!("stream {} info", target.stream), error))?;
    let taken = &info.config.subjects;
    if !taken
        .iter()
        .any(|subject| subject == &subjects || subject == ">")
    {
        return Err(ReplicationError::StreamSubjects {
            stream: target.stream.clone(),
            subject: subjects,
            subjects: taken.clone(),
        });
    }
    check_durable(target, &info.config)?;
    Ok(stream)
}

/// An existing stream (an operator may have made it) must keep messages on
/// disk, in at least as many copies as asked.
fn check_durable(target: &LogTarget, config: &stream::Config) -> Result<(), ReplicationError> {
    let problem = if config.storage != stream::StorageType::File {
        "keeps messages in memory only (storage: memory), so a nats-server restart loses them"
            .to_owned()
    } else if config.num_replicas < target.replicas {
        format!(
            "has {} replica(s), fewer than the {} asked (--stream-replicas)",
            config.num_replicas, target.replicas
        )
    } else {
        return Ok(());
    };
    Err(ReplicationError::NotDurable {
        stream: target.stream.clone(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_streams_with_enough_replicas_are_durable() {
        let target = LogTarget::new("nats://127.0.0.1:4222", "S").with_replicas(3);
        let config = |storage, num_replicas| stream::Config {
            storage,
            num_replicas,
            ..Default::default()
        };
        assert!(check_durable(&target, &config(stream::StorageType::File, 3)).is_ok());
        assert!(check_durable(&target, &config(stream::StorageType::File, 5)).is_ok());
        let fewer = check_durable(&target, &config(stream::StorageType::File, 1)).unwrap_err();
        assert!(
            fewer.to_string().contains("1 replica(s), fewer than the 3"),
            "{fewer}"
        );
        let memory = check_durable(&target, &config(stream::StorageType::Memory, 3)).unwrap_err();
        assert!(memory.to_string().contains("memory"), "{memory}");
    }

    #[test]
    fn subjects_keep_one_token_per_producer() {
        assert_eq!(
            LogTarget::subject("recompute-retail-p2of8").unwrap(),
            "strata.updates.recompute-retail-p2of8"
        );
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(129)] {
            assert!(LogTarget::subject(bad).is_err(), "{bad:?}");
        }
    }
}
