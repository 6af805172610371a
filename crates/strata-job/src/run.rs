//! Running the job: finish an interrupted push, read, reconcile with the
//! server, score, guard erasure, deliver, and commit the state only once the
//! service has acknowledged everything.

use std::sync::Arc;
use std::time::Instant;

use strata_core::kind_tally::UNKNOWN_WARN_SHARE;
use strata_core::{CurrencyTally, Event, KindTally, UnixMillis, UserHistory};
use strata_events::input::{EventSource, InputReport, Progress};

use crate::error::RecomputeError;
use crate::model_file::{FittedModels, ModelFile};
use crate::options::{Delivery, RecomputeOptions};
use crate::partition::Partition;
use crate::push::{self, PlanFiles, PushPlan, Sink, UpdateSink};
use crate::read;
use crate::score::{Histories, score};
use crate::state::{self, JobState, ServerMark, StateError};
use crate::summary::RunSummary;

/// Runs the job end to end.
pub async fn run(options: RecomputeOptions) -> Result<RunSummary, RecomputeError> {
    run_partition(options, Partition::whole()).await
}

/// The fit stage alone (`strata fit`): reads every user's events and fits
/// every population-wide quantity into one model file's worth of models.
pub async fn fit(
    mut options: RecomputeOptions,
) -> Result<(FittedModels, RunSummary), RecomputeError> {
    let mut summary = RunSummary::default();
    let started = Instant::now();
    let (histories, report, ignored_after_as_of, currencies, kinds) =
        read_histories(&options, Partition::whole()).await?;
    options.models.settle_currency(currencies)?;
    summary.phases.push(("read", started.elapsed()));
    summary.input = report;
    summary.ignored_after_as_of = ignored_after_as_of;
    note_event_kinds(&options, &kinds, &mut summary);
    summary.users = histories.len() as u64;
    if histories.is_empty() {
        return Err(RecomputeError::EmptyFit {
            events: summary.input.events,
            after_as_of: ignored_after_as_of,
        });
    }
    let started = Instant::now();
    let fitted = tokio::task::spawn_blocking(move || {
        let histories = crate::score::in_id_order(histories);
        crate::score::fit(&options, &crate::score::Population::of(&histories))?
            .through_file()
            .map_err(RecomputeError::from)
    })
    .await??;
    summary.phases.push(("fit", started.elapsed()));
    summary.models = fitted.report.clone();
    Ok((fitted, summary))
}

/// The apply stage (`strata recompute --model FILE`): the run of
/// [`run_partition`] with the model file's models instead of a fit, so each
/// worker serves its users exactly what a single run would.
pub async fn apply_partition(
    options: RecomputeOptions,
    partition: Partition,
    model_file: Arc<ModelFile>,
) -> Result<RunSummary, RecomputeError> {
    model_file
        .models
        .check_identity(&options, &model_file.path)?;
    run_stages(options, partition, Some(model_file)).await
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
    run_stages(options, partition, None).await
}

async fn run_stages(
    options: RecomputeOptions,
    partition: Partition,
    model_file: Option<Arc<ModelFile>>,
) -> Result<RunSummary, RecomputeError> {
    let mut options = partition.localise(options);
    let mut summary = RunSummary::default();
    let plan_files = PlanFiles::beside(&options.state_file);

    // A push that crashed last time is finished first, so this run's diff
    // starts from what the service really holds; unless the service lost
    // what the plan builds on, then the plan is dropped and the check below
    // sends everything.
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
        let now = client.mark().await?;
        if let Some(reason) = plan.stale_against(&now) {
            plan_files.abandon()?;
            tracing::warn!(%reason, "dropped the interrupted push");
            summary
                .reconciled
                .push(format!("interrupted push dropped: {reason}"));
        } else {
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
        }
        summary.phases.push(("resume push", started.elapsed()));
    }

    // The target first, before a single event is read: an unreachable
    // server, a refused token or a TLS mismatch fails the run in seconds,
    // not after the whole compute.
    let mut previous = JobState::load(&options.state_file)?;
    if !partition.is_whole() {
        previous.users.retain(|user_id, _| partition.owns(user_id));
    }
    // The server, not the state file, decides what must be sent: when it is
    // not the store, version and sequence the state recorded, everyone is.
    let mut sink = None;
    if let Delivery::Push {
        target,
        producer_id,
        ..
    } = &options.delivery
    {
        let mut client = Sink::connect(target, producer_id).await?;
        let now = client.mark().await?;
        if let Some(reason) = full_push_reason(&previous, &now, producer_id) {
            tracing::warn!(%reason, "sending every record");
            summary
                .reconciled
                .push(format!("full push: {reason}; sending every record"));
            options.full_push = true;
        }
        sink = Some((client, now));
    }

    let started = Instant::now();
    let (histories, report, ignored_after_as_of, currencies, kinds) =
        read_histories(&options, partition).await?;
    // Before any model: every amount is now in one currency, or the run stops.
    options.models.settle_currency(currencies)?;
    summary.phases.push(("read", started.elapsed()));
    summary.input = report;
    summary.ignored_after_as_of = ignored_after_as_of;
    note_event_kinds(&options, &kinds, &mut summary);
    // A full bulk load of nobody is damaged input, never a model version:
    // refused before the snapshot file is even created.
    if matches!(options.delivery, Delivery::Snapshot { .. }) && histories.is_empty() {
        return Err(RecomputeError::EmptySnapshot {
            events: summary.input.events,
            after_as_of: ignored_after_as_of,
        });
    }

    let started = Instant::now();
    let delivered_before = previous.users.len() as u64;
    let scored = tokio::task::spawn_blocking({
        let options = options.clone();
        move || score(&options, histories, previous, model_file.as_deref())
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
    summary.value = scored.value.clone();
    summary.layer_names = options
        .model
        .layers()
        .iter()
        .map(|layer| layer.name().to_owned())
        .collect();

    if let Err(refused) = check_deletes(&options, &summary, delivered_before) {
        // The changed records were written for a plan that will not be made.
        plan_files.clear()?;
        return Err(refused);
    }

    let started = Instant::now();
    let mut next_state = scored.next_state;
    match (&options.delivery, sink) {
        (
            Delivery::Push {
                producer_id,
                batch_size,
                crash_after_batches,
                ..
            },
            Some((mut client, now)),
        ) => {
            if scored.changed == 0 && scored.deletes.is_empty() {
                // Nothing to send; keep the state's header current.
                next_state.header.server = Some(now);
                next_state.save(&options.state_file)?;
            } else {
                let first_sequence = client.resync().await? + 1;
                let plan = PushPlan {
                    producer_id: producer_id.clone(),
                    first_sequence,
                    batch_size: *batch_size,
                    upserts: scored.changed,
                    deletes: scored.deletes.clone(),
                    server: Some(now.clone()),
                };
                // What the server will be once every batch is acknowledged;
                // a rollback or restore meanwhile shows as a mismatch next run.
                next_state.header.server = Some(ServerMark {
                    sequence: plan.last_sequence(),
                    ..now
                });
                next_state.save(&plan_files.next_state)?;
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
        (Delivery::Snapshot { .. }, _) => next_state.save(&options.state_file)?,
        _ => {}
    }
    if let Some(path) = &options.transitions_file {
        write_transitions(path, &scored.transition_rows, options.as_of)?;
    }
    summary.phases.push(("deliver", started.elapsed()));
    Ok(summary)
}

/// Says in the summary when the model has no value events, and warns when
/// most events are of types it does not read (naming them and the presets
/// that do).
fn note_event_kinds(options: &RecomputeOptions, kinds: &KindTally, summary: &mut RunSummary) {
    summary.no_value_events = !options.model.has_value_events();
    let unknown = kinds.unknown_to(&options.model);
    if unknown.is_most(UNKNOWN_WARN_SHARE) {
        let line = unknown.describe(options.model.name());
        tracing::warn!(share = unknown.share(), "{line}");
        summary.warnings.push(line);
    }
}

/// Why the state file cannot stand for what the server holds, so every
/// record must be sent; `None` when it can (or nothing was delivered before,
/// so everything is new anyway).
fn full_push_reason(previous: &JobState, now: &ServerMark, producer_id: &str) -> Option<String> {
    if previous.users.is_empty() {
        return None;
    }
    match &previous.header.server {
        None => Some(
            "the state file records no server (a snapshot run, or a state from an older strata)"
                .to_owned(),
        ),
        Some(recorded) => now.differs_from(recorded, producer_id),
    }
}

/// Refuses a --delete-missing run that would erase on empty or damaged
/// input, or erase more than the allowed share, unless forced.
fn check_deletes(
    options: &RecomputeOptions,
    summary: &RunSummary,
    delivered_before: u64,
) -> Result<(), RecomputeError> {
    let erase = summary.deleted;
    let guard = options.delete_guard;
    if erase == 0 || guard.force {
        return Ok(());
    }
    let share = erase as f64 / delivered_before.max(1) as f64;
    let mut reasons = Vec::new();
    if summary.users == 0 {
        reasons.push("the input holds no users".to_owned());
    }
    if summary.input.bad_rows > 0 {
        reasons.push(format!("the input has {} bad rows", summary.input.bad_rows));
    }
    if share > guard.max_fraction {
        reasons.push(format!(
            "that is above --max-delete-fraction {}",
            guard.max_fraction
        ));
    }
    if reasons.is_empty() {
        return Ok(());
    }
    Err(RecomputeError::DeleteRefused {
        erase,
        delivered: delivered_before,
        percent: share * 100.0,
        users: summary.users,
        reasons: reasons.join(" and "),
    })
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

async fn read_histories(
    options: &RecomputeOptions,
    partition: Partition,
) -> Result<(Histories, InputReport, u64, CurrencyTally, KindTally), RecomputeError> {
    if let Some(dir) = &options.summaries {
        // The summarize stage counted the event types; its summary said so.
        let (histories, report, ignored, currencies) =
            crate::summarize::read_summaries(options, dir, partition).await?;
        return Ok((histories, report, ignored, currencies, KindTally::new()));
    }
    let source = EventSource::open(&options.events)?;
    let currencies = CurrencyTally::new(&options.models.currency);
    let model = options.model.clone();
    let as_of = options.as_of;
    let budget = options.budget;
    let bar = progress_bar(options.show_progress, source.total_bytes(), "read");
    let task_bar = bar.clone();
    let result = tokio::task::spawn_blocking(move || {
        let settings = read::ReadSettings {
            model: &model,
            partition,
            as_of,
            budget,
            currencies: &currencies,
            threads: read::read_threads(),
        };
        let progress = |progress: Progress| task_bar.set_position(progress.bytes_read);
        read::read_histories(&source, &settings, &progress)
    })
    .await?;
    bar.finish_and_clear();
    let outcome = result?;
    Ok((
        outcome.histories,
        outcome.report,
        outcome.ignored,
        outcome.currencies,
        outcome.kinds,
    ))
}

/// What [`fold_events`] reads and how.
pub(crate) struct EventFold {
    pub(crate) events: Vec<std::path::PathBuf>,
    pub(crate) model: strata_core::LifecycleModel,
    pub(crate) as_of: UnixMillis,
    pub(crate) budget: strata_events::input::ErrorBudget,
    pub(crate) show_progress: bool,
    pub(crate) partition: Partition,
}

pub(crate) struct Folded {
    pub(crate) histories: Histories,
    pub(crate) report: InputReport,
    pub(crate) ignored_after_as_of: u64,
    pub(crate) currencies: CurrencyTally,
    /// The earliest event time folded in, for an incremental day's overlap check.
    pub(crate) earliest: Option<UnixMillis>,
}

/// Folds the events of `fold` into `histories` (empty, or the previous
/// day's, which an incremental summarize continues exactly as a full read
/// would have), counting currencies into `currencies`. One thread, in the
/// logs' order: `strata summarize` folds with it, so a day continued from the
/// previous summaries sums every amount in the order one summarize over
/// every day would (the parallel read groups sums per chunk).
pub(crate) async fn fold_events(
    fold: EventFold,
    histories: Histories,
    currencies: CurrencyTally,
) -> Result<Folded, RecomputeError> {
    let source = EventSource::open(&fold.events)?;
    let bar = progress_bar(fold.show_progress, source.total_bytes(), "read");
    let task_bar = bar.clone();
    let result = tokio::task::spawn_blocking(move || {
        let EventFold {
            model,
            as_of,
            budget,
            partition,
            ..
        } = fold;
        let mut histories = histories;
        let mut currencies = currencies;
        let mut ignored = 0u64;
        let mut earliest: Option<UnixMillis> = None;
        let report = source.read_with_progress(
            budget,
            |progress: Progress| task_bar.set_position(progress.bytes_read),
            |mut event: Event| {
                // Before any per-user memory: a worker holds only its share.
                if !partition.owns(&event.user_id) {
                    return;
                }
                if event.at > as_of {
                    ignored += 1;
                    return;
                }
                earliest = Some(earliest.map_or(event.at, |known| known.min(event.at)));
                currencies.observe(&mut event);
                match histories.get_mut(event.user_id.as_str()) {
                    Some(history) => history.observe(&model, &event),
                    None => {
                        let mut history = UserHistory::new(&model);
                        history.observe(&model, &event);
                        histories.insert(event.user_id, Box::new(history));
                    }
                }
            },
        )?;
        Ok::<_, RecomputeError>(Folded {
            histories,
            report,
            ignored_after_as_of: ignored,
            currencies,
            earliest,
        })
    })
    .await?;
    bar.finish_and_clear();
    result
}

fn write_transitions(
    path: &std::path::Path,
    rows: &[(String, String, String)],
    as_of: UnixMillis,
) -> Result<(), RecomputeError> {
    let at = strata_events::input::timestamp::format_rfc3339(as_of).unwrap_or_default();
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

pub(crate) fn progress_bar(show: bool, length: u64, phase: &'static str) -> indicatif::ProgressBar {
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
