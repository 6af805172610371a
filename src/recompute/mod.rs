//! The recompute job: event logs in, one profile per user out, pushed to the
//! service as deltas (only what changed since the last push) or written as a
//! snapshot for a bulk load.
//!
//! Phases: read (stream every event into a per-user history; memory grows
//! with users, not events), score (fit the population-wide value and quadrant
//! scorers, then build each user's profile), deliver (diff against the job's
//! state, push exactly once or write a snapshot, then commit the new state).

pub mod config;
pub mod decisions;
pub mod partition;
pub mod push;
pub mod state;
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use prost::Message;
use strata_core::{
    Event, LifecycleModel, LoyaltySatisfaction, QuadrantScorer, RfmInput, UnixMillis, UserHistory,
    ValueScorer,
};
use strata_recompute::input::{ErrorBudget, EventSource, InputReport, Progress};
use twox_hash::XxHash3_64;

use crate::api;
use crate::api::v1::{Profile, SnapshotHeader};
use crate::snapshot::{SnapshotError, SnapshotWriter};
pub use config::ModelsConfig;
pub use decisions::ModelReport;
use decisions::{Decisions, UserSegment};
pub use partition::Partition;
pub use push::{PlanFiles, PushError, PushOutcome, PushPlan, PushTarget, Sink, UpdateSink};
pub use state::{JobState, StateError, StateHeader, UserEntry};
pub use summary::RunSummary;

#[derive(Debug, thiserror::Error)]
pub enum RecomputeError {
    #[error(transparent)]
    Input(#[from] strata_recompute::Error),
    #[error(transparent)]
    Model(#[from] strata_core::Error),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error("transitions file {path}: {source}")]
    Transitions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a recompute task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

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
    /// Write every layer change (user, from, to, at) here as CSV.
    pub transitions_file: Option<PathBuf>,
    pub show_progress: bool,
    /// Attributes joined as tags and campaign arms assigned
    /// (`--attributes`, `--campaigns`); see `crate::campaigns`.
    pub targeting: Option<std::sync::Arc<crate::campaigns::Targeting>>,
}

/// Runs the job end to end.
pub async fn run(options: RecomputeOptions) -> Result<RunSummary, RecomputeError> {
    run_partition(options, Partition::whole()).await
}

/// Runs the job for the users of one partition only: other users' events are
/// dropped as they are read, and the previous state is narrowed to this
/// partition's users, so it never deletes a user another partition owns.
/// State, plan, snapshot and producer id get the partition's tag
/// (`Partition::localise`), so workers share no file and no sequence.
pub async fn run_partition(
    options: RecomputeOptions,
    partition: Partition,
) -> Result<RunSummary, RecomputeError> {
    let options = partition.localise(options);
    let mut summary = RunSummary::default();
    let plan_files = PlanFiles::beside(&options.state_file);

    // A push that crashed last time is finished first, so this run's diff
    // starts from what the service really holds.
    if let Delivery::Push {
        target,
        crash_after_batches,
        ..
    } = &options.delivery
        && let Some(plan) = plan_files.load_plan()?
    {
        let started = Instant::now();
        // The plan's own producer: its sequence numbers belong to it, even
        // if this run was started with another --producer.
        let mut client = Sink::connect(target, &plan.producer_id).await?;
        let outcome = push::push_plan(
            &mut client,
            &plan,
            &plan_files,
            *crash_after_batches,
            |_| {},
        )
        .await?;
        commit_plan(&options, &plan_files)?;
        tracing::info!(
            sent = outcome.batches_sent,
            skipped = outcome.batches_skipped,
            "resumed the interrupted push"
        );
        summary.resumed = Some(outcome);
        summary.phases.push(("resume push", started.elapsed()));
    }

    let started = Instant::now();
    let (histories, report, ignored_after_as_of) = read_histories(&options, partition).await?;
    summary.phases.push(("read", started.elapsed()));
    summary.input = report;
    summary.ignored_after_as_of = ignored_after_as_of;

    let started = Instant::now();
    let mut previous = JobState::load(&options.state_file)?;
    if !partition.is_whole() {
        previous.users.retain(|user_id, _| partition.owns(user_id));
    }
    let scored = tokio::task::spawn_blocking({
        let options = options.clone();
        move || score(&options, histories, previous)
    })
    .await??;
    summary.phases.push(("score", started.elapsed()));
    summary.users = scored.users;
    summary.layers = scored.layers.clone();
    summary.tiers = scored.tiers.clone();
    summary.quadrants = scored.quadrants.clone();
    summary.transitions = scored.transitions.clone();
    summary.changed = scored.changed;
    summary.unchanged = scored.users - scored.changed;
    summary.deleted = scored.deletes.len() as u64;
    summary.models = scored.models.clone();
    summary.cohorts = scored.cohorts.clone();
    summary.layer_names = options
        .model
        .layers()
        .iter()
        .map(|layer| layer.name().to_owned())
        .collect();

    let started = Instant::now();
    match &options.delivery {
        Delivery::Push {
            target,
            producer_id,
            batch_size,
            crash_after_batches,
        } => {
            if scored.changed == 0 && scored.deletes.is_empty() {
                // Nothing to send; keep the state's header current.
                scored.next_state.save(&options.state_file)?;
            } else {
                let mut client = Sink::connect(target, producer_id).await?;
                let first_sequence = client.resync().await? + 1;
                let plan = PushPlan {
                    producer_id: producer_id.clone(),
                    first_sequence,
                    batch_size: *batch_size,
                    upserts: scored.changed,
                    deletes: scored.deletes.clone(),
                };
                scored.next_state.save(&plan_files.next_state)?;
                plan_files.save_plan(&plan)?;
                let bar = progress_bar(options.show_progress, plan.batches(), "push");
                let outcome = push::push_plan(
                    &mut client,
                    &plan,
                    &plan_files,
                    *crash_after_batches,
                    |batches| bar.inc(batches),
                )
                .await?;
                bar.finish_and_clear();
                commit_plan(&options, &plan_files)?;
                summary.pushed = Some(outcome);
            }
        }
        Delivery::Snapshot { .. } | Delivery::DryRun => {
            if matches!(options.delivery, Delivery::Snapshot { .. }) {
                scored.next_state.save(&options.state_file)?;
            }
        }
    }
    if let Some(path) = &options.transitions_file {
        write_transitions(path, &scored.transition_rows, options.as_of)?;
    }
    summary.phases.push(("deliver", started.elapsed()));
    Ok(summary)
}

/// Makes a finished push's state the job's state, then drops the plan.
fn commit_plan(options: &RecomputeOptions, files: &PlanFiles) -> Result<(), RecomputeError> {
    if files.next_state.exists() {
        std::fs::rename(&files.next_state, &options.state_file).map_err(|source| {
            StateError::Io {
                path: options.state_file.clone(),
                source,
            }
        })?;
    }
    files.clear()?;
    Ok(())
}

type Histories = HashMap<String, UserHistory>;

async fn read_histories(
    options: &RecomputeOptions,
    partition: Partition,
) -> Result<(Histories, InputReport, u64), RecomputeError> {
    let source = EventSource::open(&options.events)?;
    let model = options.model.clone();
    let as_of = options.as_of;
    let budget = options.budget;
    let bar = progress_bar(options.show_progress, source.total_bytes(), "read");
    let task_bar = bar.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut histories: Histories = HashMap::new();
        let mut ignored = 0u64;
        let report = source.read_with_progress(
            budget,
            |progress: Progress| task_bar.set_position(progress.bytes_read),
            |event: Event| {
                // Before any per-user memory: a worker holds only its share.
                if !partition.owns(&event.user_id) {
                    return;
                }
                if event.at > as_of {
                    ignored += 1;
                    return;
                }
                match histories.get_mut(event.user_id.as_str()) {
                    Some(history) => history.observe(&model, &event),
                    None => {
                        let mut history = UserHistory::new(&model);
                        history.observe(&model, &event);
                        histories.insert(event.user_id, history);
                    }
                }
            },
        )?;
        Ok::<_, RecomputeError>((histories, report, ignored))
    })
    .await?;
    bar.finish_and_clear();
    result
}

/// One run's profiles and how they differ from the last delivered state.
struct Scored {
    users: u64,
    changed: u64,
    deletes: Vec<String>,
    next_state: JobState,
    layers: BTreeMap<(u32, String), u64>,
    tiers: BTreeMap<String, u64>,
    quadrants: BTreeMap<String, u64>,
    transitions: BTreeMap<(String, String), u64>,
    transition_rows: Vec<(String, String, String)>,
    models: ModelReport,
    cohorts: strata_report::CohortMatrix,
}

fn score(
    options: &RecomputeOptions,
    histories: Histories,
    previous: JobState,
) -> Result<Scored, RecomputeError> {
    let as_of = options.as_of;
    let model = &options.model;
    // Every population-wide fit sees users in id order, so the same input
    // gives the same bits (HashMap order differs from run to run).
    let mut user_ids: Vec<&String> = histories.keys().collect();
    user_ids.sort_unstable();
    let users: Vec<(&str, &UserHistory)> = user_ids
        .iter()
        .map(|user_id| (user_id.as_str(), &histories[*user_id]))
        .collect();
    let value_scorer = ValueScorer::fit(
        options.models.value,
        users
            .iter()
            .filter_map(|(_, history)| RfmInput::from_history(history, as_of)),
    )?;
    let quadrant_scorer = QuadrantScorer::fit(
        options.models.quadrant,
        users
            .iter()
            .map(|(_, history)| LoyaltySatisfaction::from_history(history, as_of)),
    )?;

    // Pass 1: the rule-based fields, which are also the models' segments.
    let rules: Vec<UserRules<'_>> = user_ids
        .iter()
        .map(|user_id| {
            let history = &histories[*user_id];
            let stage = model.assign(history, as_of);
            let value =
                RfmInput::from_history(history, as_of).map(|input| value_scorer.score(&input));
            let loyalty_satisfaction = LoyaltySatisfaction::from_history(history, as_of);
            let quadrant = quadrant_scorer.classify(&loyalty_satisfaction);
            UserRules {
                stage,
                value,
                loyalty_satisfaction,
                quadrant,
            }
        })
        .collect();
    let segments: HashMap<&str, UserSegment> = user_ids
        .iter()
        .zip(&rules)
        .map(|(user_id, rules)| (user_id.as_str(), rules.segment()))
        .collect();

    // Pass 2: the models, fitted over everyone, then the fairness rule,
    // which compares users with each other.
    let mut decisions = Decisions::fit(&options.models, as_of, &users, &segments);
    let mut decided = Vec::with_capacity(rules.len());
    let mut offers = Vec::with_capacity(rules.len());
    for (user_id, rules) in user_ids.iter().zip(&rules) {
        let mut decision = decisions.decide(&histories[*user_id], &rules.segment());
        offers.push((
            rules.segment(),
            std::mem::take(&mut decision.recommendations),
        ));
        decided.push(decision);
    }
    let new_layer = model
        .layers()
        .iter()
        .position(|layer| layer.name() == "new")
        .unwrap_or(1);
    decisions.enforce_fairness(&mut offers, new_layer);

    let computed_at = now_timestamp();
    let mut snapshot = match &options.delivery {
        Delivery::Snapshot { path } => {
            Some((path.clone(), full_snapshot_header(options, computed_at)))
        }
        Delivery::Push { .. } => Some((
            PlanFiles::beside(&options.state_file).upserts,
            full_snapshot_header(options, computed_at),
        )),
        Delivery::DryRun => None,
    }
    .map(|(path, header)| SnapshotWriter::create(&path, &header))
    .transpose()?;
    let write_everything = matches!(options.delivery, Delivery::Snapshot { .. });

    let mut scored = Scored {
        users: histories.len() as u64,
        changed: 0,
        deletes: Vec::new(),
        next_state: JobState {
            header: StateHeader {
                format: 0,
                producer_id: match &options.delivery {
                    Delivery::Push { producer_id, .. } => producer_id.clone(),
                    _ => previous.header.producer_id.clone(),
                },
                preset: model.name().to_owned(),
                model_version: options.model_version.clone(),
                as_of,
            },
            users: HashMap::with_capacity(histories.len()),
        },
        layers: BTreeMap::new(),
        tiers: BTreeMap::new(),
        quadrants: BTreeMap::new(),
        transitions: BTreeMap::new(),
        transition_rows: Vec::new(),
        models: ModelReport::default(),
        cohorts: strata_report::CohortMatrix::default(),
    };

    // Pass 3: profiles; then tags and campaign arms, which need them all
    // (an audience ranks the whole population).
    let mut profiles: Vec<Profile> = user_ids
        .iter()
        .zip(&rules)
        .zip(decided)
        .zip(&offers)
        .map(
            |(((user_id, rules), decision), (_, recommendations))| Profile {
                user_id: (*user_id).clone(),
                lifecycle: Some(api::lifecycle_to_wire(model.name(), &rules.stage)),
                value_tier: rules.value.as_ref().map(api::value_tier_to_wire),
                lifetime_value: decision.lifetime_value,
                quadrant: Some(api::quadrant_to_wire(
                    &rules.loyalty_satisfaction,
                    rules.quadrant,
                )),
                propensity: decision.propensity,
                contact_channel: decision.contact_channel,
                benefits: decisions.benefits(recommendations),
                computed_at: None,
                model_version: options.model_version.clone(),
                tags: Vec::new(),
                campaigns: Vec::new(),
                last_purchase_at: histories[*user_id]
                    .last_purchase_day()
                    .map(|day| millis_to_timestamp(i64::from(day) * 86_400_000)),
            },
        )
        .collect();
    if let Some(targeting) = &options.targeting {
        targeting.apply(&mut profiles, as_of);
    }

    // Pass 4: diffed against what was delivered before.
    let mut buffer = Vec::new();
    for ((user_id, rules), mut profile) in user_ids.iter().zip(&rules).zip(profiles) {
        let stage = &rules.stage;
        *scored
            .layers
            .entry((stage.layer_index, layer_label(stage)))
            .or_default() += 1;
        let tier_name = rules
            .value
            .as_ref()
            .map_or("none (no purchase)", |value| value.tier.name());
        *scored.tiers.entry(tier_name.to_owned()).or_default() += 1;
        let quadrant_name = rules
            .quadrant
            .map_or("none (no satisfaction signal)", |kind| kind.name());
        *scored
            .quadrants
            .entry(quadrant_name.to_owned())
            .or_default() += 1;

        // The fingerprint leaves out computed_at, which changes every run.
        buffer.clear();
        profile.encode(&mut buffer).expect("a Vec grows as needed");
        let mut hasher = XxHash3_64::default();
        hasher.write(&buffer);
        let fingerprint = hasher.finish();
        profile.computed_at = Some(computed_at);

        let layer = layer_label(stage);
        let before = previous.users.get(*user_id);
        let changed = before.is_none_or(|entry| entry.fingerprint != fingerprint);
        let from = before.map_or("(none)", |entry| entry.layer.as_str());
        if from != layer {
            *scored
                .transitions
                .entry((from.to_owned(), layer.clone()))
                .or_default() += 1;
            scored
                .transition_rows
                .push(((*user_id).clone(), from.to_owned(), layer.clone()));
        }
        if changed {
            scored.changed += 1;
        }
        if let Some(writer) = snapshot.as_mut()
            && (changed || write_everything)
        {
            writer.write(&profile)?;
        }
        scored
            .next_state
            .users
            .insert((*user_id).clone(), UserEntry { fingerprint, layer });
    }
    if let Some(writer) = snapshot {
        writer.finish()?;
    }
    scored.models = decisions.report;
    // For the report's retention heat map: a few integers per cohort month.
    let mut cohorts = strata_report::CohortCounter::new(as_of);
    for (_, history) in &users {
        cohorts.add_user(history.purchase_days().iter().map(|day| day.day));
    }
    scored.cohorts = cohorts.finish();

    // Users delivered before who have no events now.
    let mut gone: Vec<&String> = previous
        .users
        .keys()
        .filter(|user_id| !histories.contains_key(*user_id))
        .collect();
    gone.sort_unstable();
    for user_id in gone {
        let entry = &previous.users[user_id];
        if options.delete_missing {
            scored.deletes.push(user_id.clone());
            *scored
                .transitions
                .entry((entry.layer.clone(), "(erased)".to_owned()))
                .or_default() += 1;
            scored.transition_rows.push((
                user_id.clone(),
                entry.layer.clone(),
                "(erased)".to_owned(),
            ));
        } else {
            // Kept as delivered: the service still holds the record.
            scored
                .next_state
                .users
                .insert(user_id.clone(), entry.clone());
        }
    }
    Ok(scored)
}

/// The rule-based fields of one user.
struct UserRules<'a> {
    stage: strata_core::Stage<'a>,
    value: Option<strata_core::ValueAssessment>,
    loyalty_satisfaction: LoyaltySatisfaction,
    quadrant: Option<strata_core::QuadrantKind>,
}

impl UserRules<'_> {
    fn segment(&self) -> UserSegment {
        UserSegment {
            layer_index: self.stage.layer_index,
            tier: self.value.as_ref().map(|value| value.tier),
            quadrant: self.quadrant,
        }
    }
}

/// A layer, or its churned state, as reports and the state file name it:
/// `growth`, `growth (churned)`.
fn layer_label(stage: &strata_core::Stage<'_>) -> String {
    if stage.churned {
        format!("{} ({})", stage.layer, stage.label())
    } else {
        stage.layer.to_owned()
    }
}

fn full_snapshot_header(
    options: &RecomputeOptions,
    created_at: prost_types::Timestamp,
) -> SnapshotHeader {
    SnapshotHeader {
        model_version: options.model_version.clone(),
        preset: options.model.name().to_owned(),
        as_of: Some(millis_to_timestamp(options.as_of)),
        created_at: Some(created_at),
    }
}

fn write_transitions(
    path: &std::path::Path,
    rows: &[(String, String, String)],
    as_of: UnixMillis,
) -> Result<(), RecomputeError> {
    let at = strata_recompute::input::timestamp::format_rfc3339(as_of).unwrap_or_default();
    state::write_atomically(path, |out| {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(["user_id", "from", "to", "at"])?;
        for (user_id, from, to) in rows {
            writer.write_record([user_id, from, to, &at])?;
        }
        writer.flush()
    })
    .map_err(|source| RecomputeError::Transitions {
        path: path.to_path_buf(),
        source,
    })
}

fn progress_bar(show: bool, length: u64, phase: &'static str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(length);
    let style = if phase == "read" {
        "{prefix:>6} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{prefix:>6} [{bar:40}] {pos}/{len} batches eta {eta}"
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(style)
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(phase);
    bar
}

fn now_timestamp() -> prost_types::Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    prost_types::Timestamp {
        seconds: since_epoch.as_secs() as i64,
        nanos: since_epoch.subsec_nanos() as i32,
    }
}

pub fn millis_to_timestamp(at: UnixMillis) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.div_euclid(1000),
        nanos: (at.rem_euclid(1000) * 1_000_000) as i32,
    }
}
