//! AdminService: full reloads from snapshot files, the version list,
//! rollback, backups, the pyramid (Stats) and the transition stream
//! (WatchTransitions), for operators (admin-scoped tokens).
//!
//! WatchTransitions: each watcher reads the store's transition log from its
//! own cursor, a page at a time, and sleeps until ingest announces a newer
//! cursor. Ingest only replaces the value of a `watch` channel, so it never
//! waits on a watcher; a watcher that falls behind the log's retention is
//! told so (OUT_OF_RANGE) instead of holding anything back.
//!
//! Paths name files on the server's disk. When `store.snapshot_dir` or
//! `store.backup_dir` is set, paths are confined to it (relative paths are
//! resolved in it); when unset, any absolute path the server process can
//! reach is accepted, so only admin-scoped callers must reach this service.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use strata_proto::v1::ModelCard;
use strata_store::{Pyramid, Store, StoreError, TransitionRead, VersionInfo, VersionState};
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::reload;
use crate::status::{self, invalid};
use strata_proto::v1::admin_service_server::AdminService;
use strata_proto::v1::{
    self, CreateBackupRequest, CreateBackupResponse, ListVersionsRequest, ListVersionsResponse,
    LoadSnapshotRequest, LoadSnapshotResponse, ProducerSequence, RollbackRequest, RollbackResponse,
    StatsRequest, StatsResponse, WatchTransitionsRequest, WatchTransitionsResponse,
};

const LOAD_SNAPSHOT: &str = "LoadSnapshot";
const LIST_VERSIONS: &str = "ListVersions";
const ROLLBACK: &str = "Rollback";
const CREATE_BACKUP: &str = "CreateBackup";
const STATS: &str = "Stats";
const WATCH_TRANSITIONS: &str = "WatchTransitions";

/// Transitions read from the store per page (and sent per message at most).
const WATCH_PAGE: usize = 512;
/// Most layer labels a watcher may filter on.
const MAX_WATCHED_LAYERS: usize = 256;

type TransitionStream =
    Pin<Box<dyn Stream<Item = Result<WatchTransitionsResponse, Status>> + Send + 'static>>;

#[derive(Debug, Clone)]
pub struct AdminHandler {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    /// Snapshot files must lie here when set.
    pub snapshot_dir: Option<PathBuf>,
    /// Backups are written here when set.
    pub backup_dir: Option<PathBuf>,
    /// The newest transition cursor, replaced by ingest after each commit.
    pub transitions: Arc<watch::Sender<u64>>,
    /// Becomes true when the server shuts down: watchers end their streams.
    pub shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl AdminService for AdminHandler {
    type WatchTransitionsStream = TransitionStream;

    #[tracing::instrument(name = "Stats", skip_all)]
    async fn stats(
        &self,
        _request: Request<StatsRequest>,
    ) -> Result<Response<StatsResponse>, Status> {
        let started = Instant::now();
        // In memory: no store read, so no blocking pool.
        let result = match self.store.pyramid() {
            Some((model_version, pyramid)) => Ok(stats_to_wire(model_version, &pyramid)),
            None => Err(Status::failed_precondition(
                "this store keeps no counters (opened without a classifier)",
            )),
        };
        self.observe(STATS, &result, started);
        result.map(Response::new)
    }

    async fn watch_transitions(
        &self,
        request: Request<WatchTransitionsRequest>,
    ) -> Result<Response<Self::WatchTransitionsStream>, Status> {
        let started = Instant::now();
        let span = tracing::info_span!("WatchTransitions", from_cursor = tracing::field::Empty);
        let request = request.into_inner();
        if request.layers.len() > MAX_WATCHED_LAYERS {
            let refused = Err(invalid(format!(
                "layers names {} labels, the limit is {MAX_WATCHED_LAYERS}",
                request.layers.len()
            )));
            self.observe(WATCH_TRANSITIONS, &refused, started);
            return refused;
        }
        // 0: from the newest transition on, as of now.
        let after = match request.from_cursor {
            0 => self.store.newest_transition(),
            cursor => cursor,
        };
        span.record("from_cursor", after);
        let watcher = Watcher {
            store: self.store.clone(),
            notified: self.transitions.subscribe(),
            shutdown: self.shutdown.clone(),
            after,
            layers: request.layers.into_iter().collect(),
        };
        // Small: the watcher reads the store only as fast as the consumer
        // takes messages.
        let (sender, receiver) = mpsc::channel(2);
        let metrics = self.metrics.clone();
        tokio::spawn(
            async move {
                let code = watcher.run(&sender).await;
                tracing::info!(?code, "transition stream ended");
                metrics.observe_rpc(WATCH_TRANSITIONS, code, started.elapsed());
            }
            .instrument(span),
        );
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

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
        let result = tokio::task::spawn_blocking(move || {
            let versions = store.versions()?;
            let mut cards = Vec::new();
            for version in &versions {
                if let Some(card) = stored_card(&store, version)? {
                    cards.push(card);
                }
            }
            Ok((versions, cards))
        })
        .await
        .map_err(status::from_join)
        .and_then(|listed| listed.map_err(status::from_store))
        .map(|(versions, cards)| ListVersionsResponse {
            versions: versions.iter().map(version_to_wire).collect(),
            cards,
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
        if result.is_ok() {
            crate::cache_warmer::spawn_cache_warmer(self.store.clone(), self.shutdown.clone());
        }
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
            .map_err(status::from_reload)?;
        crate::cache_warmer::spawn_cache_warmer(self.store.clone(), self.shutdown.clone());
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

/// One WatchTransitions stream's position and filter.
struct Watcher {
    store: Arc<Store>,
    notified: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    /// The last cursor read.
    after: u64,
    /// Layer labels to pass; empty = all.
    layers: HashSet<String>,
}

type Outbox = mpsc::Sender<Result<WatchTransitionsResponse, Status>>;

impl Watcher {
    /// Sends pages until the consumer leaves, the server stops or the
    /// cursor cannot be served. Returns the code the stream ended with.
    async fn run(mut self, outbox: &Outbox) -> tonic::Code {
        loop {
            // Marked seen before the read: a commit after it wakes us again.
            self.notified.borrow_and_update();
            let store = self.store.clone();
            let after = self.after;
            let read =
                tokio::task::spawn_blocking(move || store.read_transitions(after, WATCH_PAGE))
                    .await
                    .map_err(status::from_join)
                    .and_then(|read| read.map_err(status::from_store));
            let page = match read {
                Ok(TransitionRead::Page(page)) => page,
                Ok(TransitionRead::Expired { oldest }) => {
                    let resume = oldest.saturating_sub(1);
                    return self
                        .end(
                            outbox,
                            Status::out_of_range(format!(
                                "cursor {after} is older than the oldest retained transition {oldest}; \
                                 resume from {oldest} (from_cursor {resume}): transitions {} to {resume} were lost",
                                after + 1
                            )),
                        )
                        .await;
                }
                Ok(TransitionRead::Ahead { newest }) => {
                    return self
                        .end(
                            outbox,
                            Status::out_of_range(format!(
                                "cursor {after} is beyond the newest transition {newest} \
                                 (was the store restored from an older backup?); \
                                 resume with from_cursor {newest} or 0"
                            )),
                        )
                        .await;
                }
                Err(status) => return self.end(outbox, status).await,
            };
            let full = page.len() == WATCH_PAGE;
            if let Some(last) = page.last() {
                self.after = last.cursor;
            }
            let transitions: Vec<v1::Transition> = page
                .into_iter()
                .filter(|transition| {
                    self.layers.is_empty()
                        || self.layers.contains(&transition.from_layer)
                        || self.layers.contains(&transition.to_layer)
                })
                .map(transition_to_wire)
                .collect();
            if !transitions.is_empty() {
                let message = Ok(WatchTransitionsResponse { transitions });
                let stopped = tokio::select! {
                    sent = outbox.send(message) => {
                        if sent.is_err() {
                            return tonic::Code::Ok;
                        }
                        false
                    }
                    _ = self.shutdown.wait_for(|stopped| *stopped) => true,
                };
                if stopped {
                    return self.stopping(outbox).await;
                }
            }
            if full {
                continue;
            }
            let stopped = tokio::select! {
                // An error: the sender (the server) is gone.
                changed = self.notified.changed() => changed.is_err(),
                () = outbox.closed() => return tonic::Code::Ok,
                _ = self.shutdown.wait_for(|stopped| *stopped) => true,
            };
            if stopped {
                return self.stopping(outbox).await;
            }
        }
    }

    async fn stopping(&self, outbox: &Outbox) -> tonic::Code {
        let status = Status::unavailable(format!(
            "the server is shutting down; resume with from_cursor {}",
            self.after
        ));
        self.end(outbox, status).await
    }

    async fn end(&self, outbox: &Outbox, status: Status) -> tonic::Code {
        let code = status.code();
        tracing::warn!(
            ?code,
            message = status.message(),
            "transition stream refused"
        );
        // Bounded: a consumer that reads nothing must not hold the task.
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), outbox.send(Err(status))).await;
        code
    }
}

fn transition_to_wire(transition: strata_store::Transition) -> v1::Transition {
    let millis = transition.at_millis;
    v1::Transition {
        cursor: transition.cursor,
        user_id: String::from_utf8_lossy(&transition.user_id).into_owned(),
        from_layer: transition.from_layer,
        to_layer: transition.to_layer,
        model_version: transition.model_version,
        at: Some(prost_types::Timestamp {
            seconds: millis.div_euclid(1000),
            nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
        }),
    }
}

/// The pyramid on the wire; labels at zero (kept by the store) left out.
fn stats_to_wire(model_version: String, pyramid: &Pyramid) -> StatsResponse {
    let counts = |counts: &std::collections::BTreeMap<String, u64>| {
        counts
            .iter()
            .filter(|(_, users)| **users > 0)
            .map(|(name, users)| v1::FacetUsers {
                name: name.clone(),
                users: *users,
            })
            .collect()
    };
    StatsResponse {
        model_version,
        users: pyramid.users,
        layers: pyramid
            .layers
            .iter()
            .filter(|(_, users)| **users > 0)
            .map(|(key, users)| v1::LayerUsers {
                layer_index: key.index,
                layer: key.label.clone(),
                churned: key.churned,
                users: *users,
            })
            .collect(),
        tiers: {
            let mut tiers: Vec<v1::FacetUsers> = counts(&pyramid.tiers);
            tiers.sort_by_key(|tier| strata_core::labels::tier_rank(&tier.name));
            tiers
        },
        quadrants: counts(&pyramid.quadrants),
        channels: counts(&pyramid.channels),
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
        users: info.users,
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

/// Keeps `card` as the card of the version that serves now (a pushed run's
/// models describe the profiles it wrote there), named for that version.
pub(crate) fn keep_card(store: &Store, mut card: ModelCard) -> Result<(), StoreError> {
    card.model_version = store.current_model_version();
    store.put_version_card(store.serving_generation()?, &card.encode_to_vec())
}

/// A version's card as stored; a card that no longer decodes is left out
/// with a warning rather than failing the listing.
fn stored_card(store: &Store, version: &VersionInfo) -> Result<Option<ModelCard>, StoreError> {
    let Some(bytes) = store.version_card(version.generation)? else {
        return Ok(None);
    };
    match ModelCard::decode(bytes.as_slice()) {
        Ok(mut card) => {
            card.model_version.clone_from(&version.model_version);
            Ok(Some(card))
        }
        Err(error) => {
            tracing::warn!(generation = version.generation, %error, "model card does not decode");
            Ok(None)
        }
    }
}
