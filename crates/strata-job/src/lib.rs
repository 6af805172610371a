//! The recompute job: event logs in, one profile per user out, pushed to the
//! service as deltas (only what changed since the last push) or written as a
//! snapshot for a bulk load.
//!
//! Phases: read (stream every event into a per-user history; memory grows
//! with users, not events), score (fit the population-wide value and quadrant
//! scorers, then build each user's profile), deliver (diff against the job's
//! state, push exactly once or write a snapshot, then commit the new state).
//!
//! This file is the table of contents: `run.rs` runs the phases,
//! `score.rs` holds the fit and the four per-user passes, `model_file.rs`
//! the model file between them, `decisions.rs` the models,
//! `offers.rs` the offer policy and the fairness rule, `push.rs` the exactly-once delivery, `state.rs` the job's state file.
//! Modules import each other by their own paths, never through the
//! re-exports below, so no module imports this one back.

pub mod card;
pub mod churn;
pub mod config;
pub mod decisions;
mod error;
pub mod lift;
pub mod members;
pub mod model_file;
mod offers;
mod options;
pub mod partition;
pub mod propensity;
pub mod push;
pub mod read;
mod run;
mod score;
pub mod state;
mod summarize;
mod summary;
pub mod targeting;
pub mod threads;
pub mod wire;

pub use config::ModelsConfig;
pub use decisions::ModelReport;
pub use error::RecomputeError;
pub use model_file::{FittedModels, ModelFile, ModelFileError};
pub use options::{DeleteGuard, Delivery, RecomputeOptions};
pub use partition::Partition;
pub use push::{PlanFiles, PushError, PushOutcome, PushPlan, PushTarget, Sink, UpdateSink};
pub use run::{apply_partition, fit, run, run_partition};
pub use state::{JobState, ServerMark, StateError, StateHeader, UserEntry, Users};
pub use summarize::{SummarizeOptions, SummarizeOutcome, summarize};
pub use summary::RunSummary;
