//! Operators' calls: full reloads, the version list, rollback, backups,
//! the pyramid and the transition stream (AdminService; the token needs the
//! admin scope).

use strata_proto::v1::admin_service_client::AdminServiceClient;
use strata_proto::v1::{
    CreateBackupRequest, CreateBackupResponse, ListVersionsRequest, ListVersionsResponse,
    LoadSnapshotRequest, LoadSnapshotResponse, ModelVersion, RollbackRequest, RollbackResponse,
    StatsRequest, StatsResponse, WatchTransitionsRequest, WatchTransitionsResponse,
};

use crate::{AuthChannel, ClientError};

/// AdminService over one connection.
#[derive(Debug, Clone)]
pub struct AdminClient {
    client: AdminServiceClient<AuthChannel>,
}

impl AdminClient {
    pub fn new(channel: AuthChannel) -> AdminClient {
        AdminClient {
            client: AdminServiceClient::new(channel),
        }
    }

    /// Loads the snapshot at `path` (on the server's disk) as a new version
    /// and switches to it; returns once it serves or the load failed.
    pub async fn load_snapshot(
        &mut self,
        path: impl Into<String>,
    ) -> Result<LoadSnapshotResponse, ClientError> {
        let request = LoadSnapshotRequest { path: path.into() };
        Ok(self.client.load_snapshot(request).await?.into_inner())
    }

    /// Known versions, newest first.
    pub async fn versions(&mut self) -> Result<Vec<ModelVersion>, ClientError> {
        Ok(self
            .client
            .list_versions(ListVersionsRequest {})
            .await?
            .into_inner()
            .versions)
    }

    /// The whole listing: the versions and the model card of each that has one.
    pub async fn version_listing(&mut self) -> Result<ListVersionsResponse, ClientError> {
        Ok(self
            .client
            .list_versions(ListVersionsRequest {})
            .await?
            .into_inner())
    }

    /// Serves the previous version again.
    pub async fn rollback(&mut self) -> Result<RollbackResponse, ClientError> {
        Ok(self.client.rollback(RollbackRequest {}).await?.into_inner())
    }

    /// Writes a checkpoint of the store into `dir` (on the server's disk).
    pub async fn create_backup(
        &mut self,
        dir: impl Into<String>,
    ) -> Result<CreateBackupResponse, ClientError> {
        let request = CreateBackupRequest { dir: dir.into() };
        Ok(self.client.create_backup(request).await?.into_inner())
    }

    /// The serving version's users per layer, tier, quadrant and channel.
    pub async fn stats(&mut self) -> Result<StatsResponse, ClientError> {
        Ok(self.client.stats(StatsRequest {}).await?.into_inner())
    }

    /// Layer transitions after `from_cursor` (0: from now on), into or out
    /// of `layers` (empty: all). The stream ends with an error status when
    /// the cursor is out of the server's retention or the server stops;
    /// resume with the last cursor received.
    pub async fn watch_transitions(
        &mut self,
        from_cursor: u64,
        layers: Vec<String>,
    ) -> Result<tonic::Streaming<WatchTransitionsResponse>, ClientError> {
        let request = WatchTransitionsRequest {
            from_cursor,
            layers,
        };
        Ok(self.client.watch_transitions(request).await?.into_inner())
    }

    /// The generated client, for calls this wrapper does not cover.
    pub fn inner(&mut self) -> &mut AdminServiceClient<AuthChannel> {
        &mut self.client
    }
}
