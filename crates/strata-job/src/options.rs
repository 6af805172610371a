//! What one run is asked to do: its inputs, its model and settings, and
//! where its results go.

use std::path::PathBuf;

use strata_core::{LifecycleModel, UnixMillis};
use strata_events::input::ErrorBudget;

use crate::config::ModelsConfig;
use crate::push::PushTarget;

/// Where a run's results go.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Push the changed profiles to a running service, or publish them to
    /// the update log replicas follow.
    Push {
        target: PushTarget,
        producer_id: String,
        batch_size: usize,
        /// Test hook: stop as if crashed after this many pushed batches.
        crash_after_batches: Option<u64>,
    },
    /// Write every profile to a snapshot file.
    Snapshot { path: PathBuf },
    /// Compute and report only.
    DryRun,
}

#[derive(Debug, Clone)]
pub struct RecomputeOptions {
    pub events: Vec<PathBuf>,
    /// Read the per-user summaries in this folder (`strata summarize`)
    /// instead of `events`; a partitioned run reads only its own part.
    pub summaries: Option<PathBuf>,
    pub model: LifecycleModel,
    pub model_version: String,
    pub as_of: UnixMillis,
    /// Thresholds, horizons, the benefit catalogue and the fairness switch.
    pub models: ModelsConfig,
    pub budget: ErrorBudget,
    pub state_file: PathBuf,
    pub delivery: Delivery,
    /// Erase users who were pushed before but have no events any more.
    pub delete_missing: bool,
    /// When --delete-missing may erase without --force.
    pub delete_guard: DeleteGuard,
    /// Deliver every user's record, not only the changed ones. The run sets
    /// it when the server does not hold what the state file recorded.
    pub full_push: bool,
    /// Write every layer change (user, from, to, at) here as CSV.
    pub transitions_file: Option<PathBuf>,
    pub show_progress: bool,
    /// Attributes joined as tags and campaign arms assigned
    /// (`--attributes`, `--campaigns`); see `crate::targeting`.
    pub targeting: Option<std::sync::Arc<crate::targeting::Targeting>>,
}

/// The bounds on what `--delete-missing` may erase in one run. Erasure
/// cannot be undone, and empty or damaged input looks exactly like everyone
/// having left: the run is refused (nothing sent, state unchanged) when the
/// input holds no user, when any bad row was read, or when more than
/// `max_fraction` of the users delivered before would be erased, unless
/// `force`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeleteGuard {
    pub max_fraction: f64,
    pub force: bool,
}

impl Default for DeleteGuard {
    fn default() -> Self {
        DeleteGuard {
            max_fraction: 0.05,
            force: false,
        }
    }
}
