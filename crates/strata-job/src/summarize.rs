//! The summarize stage (`strata summarize`): events in, per-user summaries
//! out, hash-partitioned into the parts `--partition i/N` reads; and the
//! other way, a recompute that reads summaries instead of events.
//!
//! An incremental day (`--previous DIR`) loads the previous summaries and
//! continues their fold with the new day's events, exactly as one read over
//! every day would have continued it: same histories, same profiles. So the
//! new events must all be after the previous as-of time (an event at or
//! before it may already be in the summaries, or would have been), and the
//! previous run must not have left events out after its as-of.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_core::{CurrencyConfig, CurrencyTally, LifecycleModel, UnixMillis, UserHistory};
use strata_events::input::timestamp::format_rfc3339;
use strata_events::input::{ErrorBudget, InputReport};
use strata_events::summary::{
    self, CurrencyIdentity, FORMAT_VERSION, InputTotals, Manifest, ModelIdentity, RunRecord,
};

use crate::error::RecomputeError;
use crate::options::RecomputeOptions;
use crate::partition::{MAX_PARTITIONS, Partition, partition_of};
use crate::run::{EventFold, fold_events};
use crate::score::Histories;

/// What one `strata summarize` is asked to do.
#[derive(Debug, Clone)]
pub struct SummarizeOptions {
    pub events: Vec<PathBuf>,
    /// Continue these summaries with `events` (an incremental day).
    pub previous: Option<PathBuf>,
    pub out: PathBuf,
    /// Parts to spread users over; with `previous`, its count (which a given
    /// value must match).
    pub parts: Option<u32>,
    pub model: LifecycleModel,
    pub as_of: UnixMillis,
    pub currency: CurrencyConfig,
    /// The configured reporting currency (`ModelsConfig::currency_code`):
    /// what a run settles on when no amount names a currency.
    pub reporting_currency: String,
    pub budget: ErrorBudget,
    pub show_progress: bool,
}

/// What a summarize did.
#[derive(Debug, Clone)]
pub struct SummarizeOutcome {
    pub manifest: Manifest,
    /// This run's own input (the manifest totals every run merged).
    pub input: InputReport,
    pub ignored_after_as_of: u64,
    /// Users in the previous summaries, for an incremental day.
    pub previous_users: Option<u64>,
    pub phases: Vec<(&'static str, Duration)>,
}

fn refused(dir: &Path, reason: impl Into<String>) -> RecomputeError {
    RecomputeError::Summaries {
        dir: dir.to_owned(),
        reason: reason.into(),
    }
}

fn time_text(at: UnixMillis) -> String {
    format_rfc3339(at).unwrap_or_else(|| format!("{at} ms"))
}

/// Runs `strata summarize`: nothing is written unless every check passes
/// and every part is on disk.
pub async fn summarize(options: SummarizeOptions) -> Result<SummarizeOutcome, RecomputeError> {
    let mut phases = Vec::new();
    let started = Instant::now();
    let (histories, currencies, previous) = match &options.previous {
        Some(dir) => {
            let (manifest, histories) = load_previous(&options, dir).await?;
            let currencies =
                CurrencyTally::with_seen(&options.currency, manifest.currency.seen.clone());
            (histories, currencies, Some(manifest))
        }
        None => (HashMap::new(), CurrencyTally::new(&options.currency), None),
    };
    if previous.is_some() {
        phases.push(("load previous", started.elapsed()));
    }
    let parts = match (&previous, options.parts) {
        (Some(previous), _) => previous.parts,
        (None, Some(parts)) => parts,
        (None, None) => 1,
    };
    if parts == 0 || parts > MAX_PARTITIONS {
        return Err(refused(
            &options.out,
            format!("--parts must be between 1 and {MAX_PARTITIONS}, got {parts}"),
        ));
    }
    let previous_users = previous.as_ref().map(|manifest| manifest.users);

    let started = Instant::now();
    let fold = EventFold {
        events: options.events.clone(),
        model: options.model.clone(),
        as_of: options.as_of,
        budget: options.budget,
        show_progress: options.show_progress,
        partition: Partition::whole(),
    };
    let folded = fold_events(fold, histories, currencies).await?;
    phases.push(("read", started.elapsed()));
    if let (Some(previous), Some(earliest)) = (&previous, folded.earliest)
        && earliest <= previous.as_of
    {
        return Err(refused(
            options.previous.as_deref().unwrap_or(&options.out),
            format!(
                "the new events start at {}, at or before these summaries' as-of time {}: they \
                 may already be in them, so merging could count them twice. Give only events \
                 after {} (the next day's files), or summarize every day again without --previous",
                time_text(earliest),
                previous.as_of_text,
                previous.as_of_text
            ),
        ));
    }
    // Settle now, as a recompute would: mixed currencies fail here, not at
    // every later run that reads the summaries.
    folded
        .currencies
        .clone()
        .settle(&options.reporting_currency)
        .map_err(|error| refused(&options.out, error.to_string()))?;

    let started = Instant::now();
    let report = &folded.report;
    let this_run = InputTotals {
        files: report.files as u64,
        rows: report.rows,
        events: report.events,
        bad_rows: report.bad_rows,
        bytes: report.bytes,
        ignored_after_as_of: folded.ignored_after_as_of,
    };
    let mut input = previous
        .as_ref()
        .map_or_else(InputTotals::default, |manifest| manifest.input);
    input.add(&this_run);
    let mut runs = previous
        .as_ref()
        .map_or_else(Vec::new, |manifest| manifest.runs.clone());
    runs.push(RunRecord {
        as_of: options.as_of,
        previous_as_of: previous.as_ref().map(|manifest| manifest.as_of),
        input: this_run,
    });
    let window = window(&folded.histories);
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        parts,
        as_of: options.as_of,
        as_of_text: time_text(options.as_of),
        model: ModelIdentity::of(&options.model),
        currency: CurrencyIdentity {
            base: options.currency.base.clone(),
            rates: options.currency.rates.clone(),
            seen: folded.currencies.seen().clone(),
        },
        input,
        window,
        users: 0,
        runs,
        part_files: Vec::new(),
    };
    let mut split: Vec<Vec<(String, UserHistory)>> = (0..parts).map(|_| Vec::new()).collect();
    for (user_id, history) in folded.histories {
        let part = partition_of(&user_id, parts) as usize;
        split[part].push((user_id, *history));
    }
    let out = options.out.clone();
    let manifest =
        tokio::task::spawn_blocking(move || summary::write(&out, manifest, split)).await??;
    phases.push(("write", started.elapsed()));
    Ok(SummarizeOutcome {
        manifest,
        input: folded.report,
        ignored_after_as_of: folded.ignored_after_as_of,
        previous_users,
        phases,
    })
}

/// The first and last event time over every user.
fn window(histories: &Histories) -> Option<(UnixMillis, UnixMillis)> {
    let first = histories
        .values()
        .filter_map(|history| history.first_seen())
        .min()?;
    let last = histories
        .values()
        .filter_map(|history| history.last_seen())
        .max()?;
    Some((first, last))
}

/// The previous summaries of an incremental day, checked to continue
/// exactly: same model and currency, an earlier as-of, nothing left out.
async fn load_previous(
    options: &SummarizeOptions,
    dir: &Path,
) -> Result<(Manifest, Histories), RecomputeError> {
    let manifest = summary::read_manifest(dir)?;
    check_model(dir, &manifest, &options.model)?;
    check_currency(dir, &manifest, &options.currency)?;
    if let Some(parts) = options.parts
        && parts != manifest.parts
    {
        return Err(refused(
            dir,
            format!(
                "has {} parts and --parts is {parts}: an incremental day keeps the previous \
                 count (drop --parts, or summarize every day again)",
                manifest.parts
            ),
        ));
    }
    if options.as_of <= manifest.as_of {
        return Err(refused(
            dir,
            format!(
                "describes {}, and --as-of {} is not later: an incremental day moves the as-of \
                 time forward",
                manifest.as_of_text,
                time_text(options.as_of)
            ),
        ));
    }
    if manifest.input.ignored_after_as_of > 0 {
        return Err(refused(
            dir,
            format!(
                "left out {} events after its as-of time {} (they were in its input), which a \
                 merge cannot recover; summarize every day again without --previous",
                manifest.input.ignored_after_as_of, manifest.as_of_text
            ),
        ));
    }
    let histories = read_parts(dir, &manifest, &options.model, None).await?;
    Ok((manifest, histories))
}

fn check_model(
    dir: &Path,
    manifest: &Manifest,
    model: &LifecycleModel,
) -> Result<(), RecomputeError> {
    let wanted = ModelIdentity::of(model);
    if manifest.model == wanted {
        return Ok(());
    }
    Err(refused(
        dir,
        format!(
            "was folded for lifecycle model `{}` (tracking {:?}), this run uses `{}` (tracking \
             {:?}); run with the model the summaries were made for, or summarize again with this one",
            manifest.model.name, manifest.model.tracked_series, wanted.name, wanted.tracked_series
        ),
    ))
}

fn check_currency(
    dir: &Path,
    manifest: &Manifest,
    currency: &CurrencyConfig,
) -> Result<(), RecomputeError> {
    if manifest.currency.base == currency.base && manifest.currency.rates == currency.rates {
        return Ok(());
    }
    Err(refused(
        dir,
        format!(
            "amounts were converted with [currency] base {:?} and rates {:?}, this run's config \
             says base {:?} and rates {:?}; use the same [currency], or summarize again",
            manifest.currency.base, manifest.currency.rates, currency.base, currency.rates
        ),
    ))
}

/// Reads the parts of `dir` (only `only` if given) on every core, and
/// checks each user is in the part its id hashes to.
async fn read_parts(
    dir: &Path,
    manifest: &Manifest,
    model: &LifecycleModel,
    only: Option<u32>,
) -> Result<Histories, RecomputeError> {
    let indexes: Vec<u32> = match only {
        Some(index) => vec![index],
        None => (0..manifest.parts).collect(),
    };
    let (dir, manifest, model) = (dir.to_owned(), manifest.clone(), model.clone());
    tokio::task::spawn_blocking(move || {
        let parts = summary::on_threads(indexes.clone(), |index| {
            summary::read_part(&dir, &manifest, index, &model)
        })?;
        let users: usize = parts.iter().map(Vec::len).sum();
        let mut histories: Histories = HashMap::with_capacity(users);
        for (index, users) in indexes.into_iter().zip(parts) {
            for (user_id, history) in users {
                let hashed = partition_of(&user_id, manifest.parts);
                if hashed != index {
                    return Err(refused(
                        &dir,
                        format!(
                            "user {user_id:?} is in part {index} but hashes to part {hashed}: \
                             not a folder `strata summarize` wrote"
                        ),
                    ));
                }
                if histories
                    .insert(user_id.clone(), Box::new(history))
                    .is_some()
                {
                    return Err(refused(&dir, format!("user {user_id:?} appears twice")));
                }
            }
        }
        Ok(histories)
    })
    .await?
}

/// The summaries branch of a recompute's read: the histories of `dir`
/// (this partition's part only), with the input report and currency tally
/// the summarize recorded, after checking they fit this run.
pub(crate) async fn read_summaries(
    options: &RecomputeOptions,
    dir: &Path,
    partition: Partition,
) -> Result<(Histories, InputReport, u64, CurrencyTally), RecomputeError> {
    let manifest = summary::read_manifest(dir)?;
    check_model(dir, &manifest, &options.model)?;
    check_currency(dir, &manifest, &options.models.currency)?;
    if options.as_of != manifest.as_of {
        return Err(refused(
            dir,
            format!(
                "describes {}, the run asks for --as-of {}: leave --as-of out (it defaults to \
                 the summaries'), or summarize again for that time",
                manifest.as_of_text,
                time_text(options.as_of)
            ),
        ));
    }
    let only = if partition.is_whole() {
        None
    } else if partition.count() == manifest.parts {
        Some(partition.index())
    } else {
        return Err(refused(
            dir,
            format!(
                "has {} parts, and --partition {partition} splits users {} ways: a worker reads \
                 exactly one part, so run {} workers (--partition i/{}), or summarize again \
                 with --parts {}",
                manifest.parts,
                partition.count(),
                manifest.parts,
                manifest.parts,
                partition.count()
            ),
        ));
    };
    let histories = read_parts(dir, &manifest, &options.model, only).await?;
    let report = InputReport {
        files: usize::try_from(manifest.input.files).unwrap_or(usize::MAX),
        rows: manifest.input.rows,
        events: manifest.input.events,
        // The day that made these summaries: each earlier day's bad rows were
        // judged by its own run (its budget), and summed here they would
        // refuse every later --delete-missing for good.
        bad_rows: manifest
            .runs
            .last()
            .map_or(manifest.input.bad_rows, |run| run.input.bad_rows),
        bytes: manifest.input.bytes,
        ..InputReport::default()
    };
    let currencies = CurrencyTally::with_seen(&options.models.currency, manifest.currency.seen);
    Ok((
        histories,
        report,
        manifest.input.ignored_after_as_of,
        currencies,
    ))
}
