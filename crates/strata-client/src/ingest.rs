//! A producer's client for IngestService: numbers batches, streams them, and
//! resumes from the server's ingest state after a failure.

use strata_proto::v1::ingest_service_client::IngestServiceClient;
use strata_proto::v1::{
    ApplyUpdatesRequest, ApplyUpdatesResponse, GetIngestStateRequest, ModelCard, Profile,
};

use crate::{AuthChannel, ClientError, Connection};

/// One batch of changes before it is numbered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub upserts: Vec<Profile>,
    pub deletes: Vec<String>,
    /// The run's model card: the job sends it with a plan's last batch.
    pub model_card: Option<ModelCard>,
}

/// Pushes batches for one producer, keeping its sequence numbers.
#[derive(Debug, Clone)]
pub struct IngestClient {
    client: IngestServiceClient<AuthChannel>,
    producer_id: String,
    next_sequence: u64,
}

impl IngestClient {
    /// Connects and learns where the producer left off.
    pub async fn connect(
        connection: &Connection,
        producer_id: &str,
    ) -> Result<IngestClient, ClientError> {
        IngestClient::on(connection.connect().await?, producer_id).await
    }

    /// As [`Self::connect`], on a channel the caller already opened (and
    /// shares with its other clients).
    pub async fn on(channel: AuthChannel, producer_id: &str) -> Result<IngestClient, ClientError> {
        // The server enforces its own message limit and says so in the status.
        let client = IngestServiceClient::new(channel)
            .max_encoding_message_size(usize::MAX)
            .max_decoding_message_size(usize::MAX);
        let mut ingest = IngestClient {
            client,
            producer_id: producer_id.to_owned(),
            next_sequence: 1,
        };
        ingest.resync().await?;
        Ok(ingest)
    }

    /// The sequence the next pushed batch will carry.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Asks the server for the producer's last applied sequence.
    pub async fn resync(&mut self) -> Result<u64, ClientError> {
        let state = self
            .client
            .get_ingest_state(GetIngestStateRequest {
                producer_id: self.producer_id.clone(),
            })
            .await?
            .into_inner();
        self.next_sequence = state.last_applied_sequence + 1;
        Ok(state.last_applied_sequence)
    }

    /// Streams `batches` in one ApplyUpdates call, numbered from
    /// [`Self::next_sequence`]. On error the client resynchronises, so the
    /// caller can resend what was not applied.
    pub async fn push(
        &mut self,
        batches: Vec<Changes>,
    ) -> Result<ApplyUpdatesResponse, ClientError> {
        let first = self.next_sequence;
        let producer_id = self.producer_id.clone();
        let requests: Vec<ApplyUpdatesRequest> = batches
            .into_iter()
            .zip(first..)
            .map(|(changes, sequence)| ApplyUpdatesRequest {
                producer_id: producer_id.clone(),
                sequence,
                upserts: changes.upserts,
                deletes: changes.deletes,
                model_version: String::new(),
                model_card: changes.model_card,
            })
            .collect();
        let count = requests.len() as u64;
        match self
            .client
            .apply_updates(tokio_stream::iter(requests))
            .await
        {
            Ok(response) => {
                self.next_sequence = first + count;
                Ok(response.into_inner())
            }
            Err(status) => {
                // Some batches may have landed before the failure.
                let _ = self.resync().await;
                Err(status.into())
            }
        }
    }
}
