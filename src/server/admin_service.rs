//! AdminService: full reloads from snapshot files, the version list,
//! rollback and backups, for operators (admin-scoped tokens).
//!
//! Paths name files on the server's disk. When `store.snapshot_dir` or
//! `store.backup_dir` is set, paths are confined to it (relative paths are
//! resolved in it); when unset, any absolute path the server process can
//! reach is accepted, so only admin-scoped callers must reach this service.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use strata_store::{Store, VersionInfo, VersionState};
use tonic::{Request, Response, Status};

use super::metrics::Metrics;
use super::status::{self, invalid};
use crate::api::v1::admin_service_server::AdminService;
use crate::api::v1::{
    self, CreateBackupRequest, CreateBackupResponse, ListVersionsRequest, ListVersionsResponse,
    LoadSnapshotRequest, LoadSnapshotResponse, ProducerSequence, RollbackRequest, RollbackResponse,
};
use crate::reload::{self, ReloadError};

const LOAD_SNAPSHOT: &str = "LoadSnapshot";
const LIST_VERSIONS: &str = "ListVersions";
const ROLLBACK: &str = "Rollback";
const CREATE_BACKUP: &str = "CreateBackup";

#[derive(Debug, Clone)]
pub struct AdminHandler {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    /// Snapshot files must lie here when set.
    pub snapshot_dir: Option<PathBuf>,
    /// Backups are written here when set.
    pub backup_dir: Option<PathBuf>,
}

#[tonic::async_trait]
impl AdminService for AdminHandler {
    #[tracing::instrument(name = "LoadSnapshot", skip_all)]
    async fn load_snapshot(
        &self,
        request: Request<LoadSnapshotRequest>,
    ) -> Result<Response<LoadSnapshotResponse>, Status> {
        let started = Instant::now();
        let result = self.load(request.into_inner()).await;
        self.observe(LOAD_SNAPSHOT, &result, started);
        result.map(Response::new)
    }

    #[tracing::instrument(name = "ListVersions", skip_all)]
    async fn list_versions(
        &self,
        _request: Request<ListVersionsRequest>,
    ) -> Result<Response<ListVersionsResponse>, Status> {
        let started = Instant::now();
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || store.versions())
            .await
            .map_err(status::from_join)
            .and_then(|versions| versions.map_err(status::from_store))
            .map(|versions| ListVersionsResponse {
                versions: versions.iter().map(version_to_wire).collect(),
            });
        self.observe(LIST_VERSIONS, &result, started);
        result.map(Response::new)
    }

    #[tracing::instrument(name = "Rollback", skip_all)]
    async fn rollback(
        &self,
        _request: Request<RollbackRequest>,
    ) -> Result<Response<RollbackResponse>, Status> {
        let started = Instant::now();
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || store.rollback())
            .await
            .map_err(status::from_join)
            .and_then(|rolled| rolled.map_err(status::from_store))
            .map(|(from, to)| RollbackResponse {
                from_model_version: from,
                to_model_version: to,
            });
        self.observe(ROLLBACK, &result, started);
        result.map(Response::new)
    }

    #[tracing::instrument(name = "CreateBackup", skip_all)]
    async fn create_backup(
        &self,
        request: Request<CreateBackupRequest>,
    ) -> Result<Response<CreateBackupResponse>, Status> {
        let started = Instant::now();
        let result = self.backup(request.into_inner()).await;
        self.observe(CREATE_BACKUP, &result, started);
        result.map(Response::new)
    }
}

impl AdminHandler {
    fn observe<T>(&self, method: &'static str, result: &Result<T, Status>, started: Instant) {
        let code = match result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "admin call refused");
                status.code()
            }
        };
        self.metrics.observe_rpc(method, code, started.elapsed());
    }

    async fn load(&self, request: LoadSnapshotRequest) -> Result<LoadSnapshotResponse, Status> {
        let path = resolve_existing(&request.path, self.snapshot_dir.as_deref(), "path")?;
        let store = self.store.clone();
        // The load runs to its end on the blocking pool even if the caller
        // goes away: a half-built version is dropped, never left behind.
        let reloaded = tokio::task::spawn_blocking(move || reload::load_snapshot(&store, &path))
            .await
            .map_err(status::from_join)?
            .map_err(from_reload)?;
        tracing::info!(
            model_version = %reloaded.version.model_version,
            records = reloaded.version.records,
            sst_files = reloaded.sst_files,
            sampled_reads = reloaded.sampled_reads,
            elapsed = ?reloaded.elapsed,
            "snapshot loaded"
        );
        Ok(LoadSnapshotResponse {
            version: Some(version_to_wire(&reloaded.version)),
            previous_model_version: reloaded.previous_model_version,
            sampled_reads: reloaded.sampled_reads,
        })
    }

    async fn backup(&self, request: CreateBackupRequest) -> Result<CreateBackupResponse, Status> {
        let dir = resolve_new(&request.dir, self.backup_dir.as_deref(), "dir")?;
        let store = self.store.clone();
        let target = dir.clone();
        let info = tokio::task::spawn_blocking(move || store.checkpoint(&target))
            .await
            .map_err(status::from_join)?
            .map_err(status::from_store)?;
        Ok(CreateBackupResponse {
            dir: dir.display().to_string(),
            model_version: info.model_version,
            producers: info
                .producers
                .into_iter()
                .map(|(producer_id, last_applied_sequence)| ProducerSequence {
                    producer_id,
                    last_applied_sequence,
                })
                .collect(),
        })
    }
}

fn from_reload(error: ReloadError) -> Status {
    match error {
        ReloadError::Snapshot(crate::snapshot::SnapshotError::Io { ref source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Status::not_found(error.to_string())
        }
        // A file that ends early is a truncated snapshot, not a server fault.
        ReloadError::Snapshot(crate::snapshot::SnapshotError::Io { ref source, .. })
            if source.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Status::invalid_argument(format!("{error} (truncated)"))
        }
        ReloadError::Snapshot(crate::snapshot::SnapshotError::Io { .. }) => {
            Status::internal(error.to_string())
        }
        ReloadError::Snapshot(_) | ReloadError::MixedVersions { .. } => {
            Status::invalid_argument(error.to_string())
        }
        ReloadError::Verify { .. } => Status::data_loss(error.to_string()),
        ReloadError::Store(error) => status::from_store(error),
    }
}

fn version_to_wire(info: &VersionInfo) -> v1::ModelVersion {
    let time = |seconds: i64| (seconds > 0).then_some(prost_types::Timestamp { seconds, nanos: 0 });
    let state = match info.state {
        VersionState::Building => v1::VersionState::Building,
        VersionState::Ready => v1::VersionState::Ready,
        VersionState::Failed => v1::VersionState::Failed,
    };
    v1::ModelVersion {
        model_version: info.model_version.clone(),
        state: state.into(),
        record_count: info.records,
        estimated_records: info.estimated_records,
        created_at: time(info.created_at),
        loaded_at: time(info.loaded_at),
        current: info.current,
        previous: info.previous,
        failure: info.note.clone(),
    }
}

/// A path the caller names, made absolute against `root` when one is set.
fn join_root(text: &str, root: Option<&Path>, field: &str) -> Result<PathBuf, Status> {
    if text.is_empty() {
        return Err(invalid(format!("{field} is empty")));
    }
    let path = PathBuf::from(text);
    match root {
        Some(root) => Ok(root.join(path)),
        None if path.is_absolute() => Ok(path),
        None => Err(invalid(format!(
            "{field} {text:?} is relative and the server has no directory configured for it; send an absolute path"
        ))),
    }
}

fn outside(field: &str, path: &Path, root: &Path) -> Status {
    Status::permission_denied(format!(
        "{field} {} is outside the configured directory {}",
        path.display(),
        root.display()
    ))
}

/// An existing file, inside `root` (after resolving links) when set.
fn resolve_existing(text: &str, root: Option<&Path>, field: &str) -> Result<PathBuf, Status> {
    let path = join_root(text, root, field)?;
    let resolved = path
        .canonicalize()
        .map_err(|error| Status::not_found(format!("{field} {}: {error}", path.display())))?;
    if let Some(root) = root {
        let root = root
            .canonicalize()
            .map_err(|error| Status::internal(format!("{}: {error}", root.display())))?;
        if !resolved.starts_with(&root) {
            return Err(outside(field, &resolved, &root));
        }
    }
    Ok(resolved)
}

/// A folder to create: it must not exist, its parent must, and with `root`
/// set the parent must lie inside it.
fn resolve_new(text: &str, root: Option<&Path>, field: &str) -> Result<PathBuf, Status> {
    let path = join_root(text, root, field)?;
    let name = match path.components().next_back() {
        Some(Component::Normal(name)) => name.to_owned(),
        _ => {
            return Err(invalid(format!(
                "{field} {} must end in a folder name",
                path.display()
            )));
        }
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let parent = parent.canonicalize().map_err(|error| {
        Status::failed_precondition(format!(
            "{field}: parent folder {}: {error}",
            parent.display()
        ))
    })?;
    if let Some(root) = root {
        let root = root
            .canonicalize()
            .map_err(|error| Status::internal(format!("{}: {error}", root.display())))?;
        if !parent.starts_with(&root) {
            return Err(outside(field, &parent, &root));
        }
    }
    let resolved = parent.join(name);
    if resolved.exists() {
        return Err(Status::already_exists(format!(
            "{field} {} already exists; backups go into a new folder",
            resolved.display()
        )));
    }
    Ok(resolved)
}
