//! The job's read: every event log on every core into per-user histories.
//!
//! [`EventSource::read_parallel`] spreads the logs' chunks (Parquet row groups, whole CSV
//! and JSON Lines files) over threads. Each thread folds its events into its own
//! [`ReadShard`]: a partition filter, the as-of cut, a currency tally, event types
//! classified once each, and per-user histories in a map of the job's own type. The later
//! threads' maps are then merged into the first one's in thread order
//! ([`UserHistory::merge`]), so a run is deterministic for a given thread count, and the
//! first thread's histories are never copied.

use rustc_hash::FxHashMap;
use strata_core::{
    CurrencyTally, Event, KindClass, KindTally, LifecycleModel, UnixMillis, UserHistory,
};
use strata_events::input::{ErrorBudget, EventSink, EventSource, InputReport, Progress};

use crate::error::RecomputeError;
use crate::options::RecomputeOptions;
use crate::partition::Partition;
use crate::score::Histories;

/// Threads the job reads with: `STRATA_READ_THREADS` if set to a positive number, else
/// every core.
pub fn read_threads() -> usize {
    std::env::var("STRATA_READ_THREADS")
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|threads| *threads > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The job's read alone, as `strata recompute` runs it over its whole input on `threads`
/// threads: the per-user histories and the input report (for benches and tools).
pub fn read_events(
    options: &RecomputeOptions,
    threads: usize,
) -> Result<(Histories, InputReport), RecomputeError> {
    let source = EventSource::open(&options.events)?;
    let currencies = CurrencyTally::new(&options.models.currency);
    let settings = ReadSettings {
        model: &options.model,
        partition: Partition::whole(),
        as_of: options.as_of,
        budget: options.budget,
        currencies: &currencies,
        threads,
    };
    let outcome = read_histories(&source, &settings, &|_| {})?;
    Ok((outcome.histories, outcome.report))
}

/// What the read hands the rest of the job.
pub(crate) struct ReadOutcome {
    pub histories: Histories,
    pub report: InputReport,
    /// Good events after the as-of time, counted and not folded.
    pub ignored: u64,
    pub currencies: CurrencyTally,
    /// Events per type, for the unknown-types warning.
    pub kinds: KindTally,
}

/// What a parallel read of the job needs to know.
#[derive(Clone, Copy)]
pub(crate) struct ReadSettings<'a> {
    pub model: &'a LifecycleModel,
    pub partition: Partition,
    pub as_of: UnixMillis,
    pub budget: ErrorBudget,
    pub currencies: &'a CurrencyTally,
    pub threads: usize,
}

/// Reads `source` on `settings.threads` threads into per-user histories.
pub(crate) fn read_histories(
    source: &EventSource,
    settings: &ReadSettings<'_>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ReadOutcome, RecomputeError> {
    let threads = settings.threads.max(1);
    let shards: Vec<ReadShard<'_>> = (0..threads).map(|_| ReadShard::new(settings)).collect();
    let (shards, report) = source.read_parallel(settings.budget, progress, shards)?;
    let mut currencies = settings.currencies.clone();
    let mut ignored = 0;
    let mut kinds = KindTally::new();
    let mut histories: Option<Histories> = None;
    for mut shard in shards {
        shard.park();
        currencies.merge(shard.currencies);
        for (kind, (_, count)) in shard.kinds {
            kinds.add(&kind, count);
        }
        ignored += shard.ignored;
        // Into the first thread's map, in thread order: a user's histories merge in the
        // order of the events, and most users are in one thread's map only.
        match &mut histories {
            None => histories = Some(shard.users),
            Some(merged) => merge_into(merged, shard.users),
        }
    }
    let histories = histories.unwrap_or_default();
    Ok(ReadOutcome {
        histories,
        report,
        ignored,
        currencies,
        kinds,
    })
}

/// One thread's share of a read.
struct ReadShard<'a> {
    model: &'a LifecycleModel,
    partition: Partition,
    as_of: UnixMillis,
    currencies: CurrencyTally,
    /// Each event type seen, classified once, with its events.
    kinds: FxHashMap<Box<str>, (KindClass, u64)>,
    ignored: u64,
    /// Histories by user: the job's map itself, so the first thread's needs no copy.
    users: Histories,
    /// The last event's user and history, out of the map: logs mostly hold a user's events
    /// together, so most events skip the map.
    current: Option<(String, Box<UserHistory>)>,
    /// True when the last event this shard got was folded into `current`.
    current_is_last: bool,
    /// Whether the partition owns the last event's user.
    last_owned: bool,
}

impl<'a> ReadShard<'a> {
    fn new(settings: &ReadSettings<'a>) -> ReadShard<'a> {
        ReadShard {
            model: settings.model,
            partition: settings.partition,
            as_of: settings.as_of,
            currencies: settings.currencies.clone(),
            kinds: FxHashMap::default(),
            ignored: 0,
            users: Histories::new(),
            current: None,
            current_is_last: false,
            last_owned: false,
        }
    }

    /// Puts the current user's history back into its map, its lists cut to their exact
    /// length (on the read's own threads: the freed slack serves the next users).
    fn park(&mut self) {
        if let Some((user_id, mut history)) = self.current.take() {
            history.compact();
            self.users.insert(user_id, history);
        }
    }
}

impl EventSink for ReadShard<'_> {
    fn event(&mut self, event: &mut Event, same_user: bool) {
        // Before any per-user memory: a worker holds only its share.
        if !same_user {
            self.last_owned = self.partition.owns(&event.user_id);
        }
        if !self.last_owned {
            self.current_is_last = false;
            return;
        }
        if event.at > self.as_of {
            self.current_is_last = false;
            self.ignored += 1;
            return;
        }
        self.currencies.observe(event);
        let class = match self.kinds.get_mut(event.kind.as_str()) {
            Some((class, count)) => {
                *count += 1;
                *class
            }
            None => {
                let class = self.model.classify(&event.kind);
                self.kinds.insert(event.kind.as_str().into(), (class, 1));
                class
            }
        };
        // `same_user` is about the previous event this sink got; `current` holds its user
        // only when that event was folded.
        let same_user = same_user && self.current_is_last;
        self.current_is_last = true;
        if !same_user {
            self.park();
            let (user_id, history) = self
                .users
                .remove_entry(event.user_id.as_str())
                .unwrap_or_else(|| {
                    (
                        event.user_id.clone(),
                        Box::new(UserHistory::new(self.model)),
                    )
                });
            self.current = Some((user_id, history));
        }
        if let Some((_, history)) = &mut self.current {
            history.observe_classified(self.model, class, event);
        }
    }
}

/// Adds `later`, the histories of a later thread's events, to `merged`.
fn merge_into(merged: &mut Histories, later: Histories) {
    // Most users are in one thread's map only: grow once.
    merged.reserve(later.len());
    for (user_id, history) in later {
        match merged.get_mut(&user_id) {
            Some(mine) => {
                mine.merge(*history);
                mine.compact();
            }
            None => {
                merged.insert(user_id, history);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::PathBuf;

    use strata_core::history::MILLIS_PER_DAY;
    use strata_core::{CurrencyConfig, Event};
    use strata_events::generate::{self, GenConfig, Preset};
    use strata_events::input::{EventWriter, Format, RowLimits};

    use super::*;

    /// The read as it was before the parallel one: every event through
    /// [`EventSource::read`] into one map, in file order.
    fn read_by_rows(
        source: &EventSource,
        settings: &ReadSettings<'_>,
    ) -> (Histories, InputReport, u64, CurrencyTally) {
        let mut histories = Histories::new();
        let mut ignored = 0;
        let mut currencies = settings.currencies.clone();
        let report = source
            .read(settings.budget, |mut event: Event| {
                if !settings.partition.owns(&event.user_id) {
                    return;
                }
                if event.at > settings.as_of {
                    ignored += 1;
                    return;
                }
                currencies.observe(&mut event);
                histories
                    .entry(event.user_id.clone())
                    .or_insert_with(|| Box::new(UserHistory::new(settings.model)))
                    .observe(settings.model, &event);
            })
            .expect("the row read");
        (histories, report, ignored, currencies)
    }

    /// Generated events spread over two Parquet files of small row groups, a CSV and a JSON
    /// Lines file, with bad rows in each format; returns the files and the data's end.
    fn write_logs(folder: &std::path::Path) -> (Vec<PathBuf>, i64) {
        let config = GenConfig::new(400, 120, 7, Preset::Retail);
        let mut events = Vec::new();
        generate::generate(&config, |event| events.push(event.clone()));
        let formats = [
            ("a.parquet", Format::Parquet, 97),
            ("b.parquet", Format::Parquet, 50),
            ("c.csv", Format::Csv, 1),
            ("d.jsonl", Format::Jsonl, 1),
        ];
        let paths: Vec<PathBuf> = formats
            .iter()
            .map(|(name, _, _)| folder.join(name))
            .collect();
        let mut writers: Vec<EventWriter> = formats
            .iter()
            .zip(&paths)
            .map(|((_, format, rows), path)| {
                EventWriter::create_with_row_groups(path, *format, *rows).expect("writer")
            })
            .collect();
        for (index, event) in events.iter_mut().enumerate() {
            // Whole amounts, so sums are exact whatever order they are added in; some in
            // another currency, converted at a rate that keeps them whole.
            if let Some(amount) = event.amount.as_mut() {
                *amount = amount.round();
                event.currency = Some(if index % 5 == 0 { "EUR" } else { "USD" }.into());
            }
            // Bad rows the writers let through: a rating out of range, a huge amount.
            if index % 1009 == 3 {
                event.rating = Some(9);
            }
            if index % 1013 == 5 {
                event.amount = Some(1e12);
            }
            // Every user's events over every file, so histories merge across threads.
            let file = index % writers.len();
            writers[file].write(event).expect("write");
        }
        for writer in writers {
            writer.finish().expect("finish");
        }
        let mut csv = std::fs::OpenOptions::new()
            .append(true)
            .open(&paths[2])
            .expect("csv");
        writeln!(csv, "u-bad,soon,purchase,,,,,").expect("append");
        writeln!(csv, ",2024-01-01T00:00:00Z,open,,,,,").expect("append");
        let mut jsonl = std::fs::OpenOptions::new()
            .append(true)
            .open(&paths[3])
            .expect("jsonl");
        writeln!(jsonl, "[1, 2]").expect("append");
        (paths, config.end)
    }

    #[test]
    fn the_parallel_read_folds_what_the_row_read_folds() {
        let folder = tempfile::tempdir().expect("folder");
        let (paths, end) = write_logs(folder.path());
        let source = EventSource::open(&paths).expect("open");
        let model = LifecycleModel::preset("retail").expect("retail");
        let currencies = CurrencyTally::new(&CurrencyConfig {
            base: Some("USD".into()),
            rates: [("EUR".to_owned(), 2.0)].into(),
        });
        // As of 30 days before the data ends: later events are read and ignored.
        let as_of = end - 30 * MILLIS_PER_DAY;
        for partition in [Partition::whole(), Partition::new(1, 3).expect("1/3")] {
            let base = ReadSettings {
                model: &model,
                partition,
                as_of,
                budget: ErrorBudget {
                    max_bad_fraction: 0.01,
                    limits: RowLimits::for_run(as_of, end),
                },
                currencies: &currencies,
                threads: 1,
            };
            let (histories, report, ignored, tally) = read_by_rows(&source, &base);
            assert!(report.bad_rows >= 8, "{report:?}");
            assert!(ignored > 0);
            assert!(histories.len() > 50, "{}", histories.len());
            let expected_currency = tally.settle("USD").expect("a rate for EUR");
            for threads in [1, 2, 3, 8] {
                let settings = ReadSettings { threads, ..base };
                let outcome =
                    super::read_histories(&source, &settings, &|_| {}).expect("parallel read");
                assert_eq!(outcome.report, report, "{threads} threads");
                assert_eq!(outcome.ignored, ignored, "{threads} threads");
                assert_eq!(
                    outcome.currencies.settle("USD").expect("settles"),
                    expected_currency,
                    "{threads} threads"
                );
                assert_eq!(outcome.histories.len(), histories.len());
                for (user_id, history) in &histories {
                    assert_eq!(
                        outcome.histories.get(user_id),
                        Some(history),
                        "user {user_id}, {threads} threads"
                    );
                }
            }
        }
    }

    /// A user's rows broken by rows the shard skips (after as-of, another partition's user)
    /// or the reader refuses (a bad row): the reader's "same user" must not glue the wrong
    /// rows to the current history.
    #[test]
    fn rows_between_a_users_rows_do_not_confuse_the_current_user() {
        let partition = Partition::new(1, 3).expect("1/3");
        let ids: Vec<String> = (0..100).map(|index| format!("u{index}")).collect();
        let mine = ids
            .iter()
            .find(|id| partition.owns(id))
            .expect("an owned id");
        let other = ids
            .iter()
            .find(|id| !partition.owns(id))
            .expect("another's id");
        let day = |day: i64| (1_714_500_000_000 + day * MILLIS_PER_DAY).to_string();
        let as_of = 1_714_500_000_000 + 10 * MILLIS_PER_DAY;
        let rows = [
            format!("{mine},{},purchase,10,USD", day(1)),
            format!("{mine},{},purchase,20,USD", day(20)),
            format!("{mine},{},purchase,5,USD", day(2)),
            format!("{other},{},purchase,7,USD", day(2)),
            format!("{mine},{},purchase,3,USD", day(3)),
            format!("{mine},{},purchase,1e12,USD", day(3)),
            format!("{mine},{},purchase,1,USD", day(4)),
            format!("{other},{},purchase,20,USD", day(20)),
            format!("{other},{},browse,,", day(5)),
            format!("{mine},{},browse,,", day(5)),
        ];
        let folder = tempfile::tempdir().expect("folder");
        let path = folder.path().join("events.csv");
        let text = format!(
            "user_id,timestamp,event_type,amount,currency\n{}\n",
            rows.join("\n")
        );
        std::fs::write(&path, text).expect("write");
        let source = EventSource::open(&[path]).expect("open");
        let model = LifecycleModel::preset("retail").expect("retail");
        let currencies = CurrencyTally::new(&CurrencyConfig::default());
        for partition in [Partition::whole(), partition] {
            let settings = ReadSettings {
                model: &model,
                partition,
                as_of,
                budget: ErrorBudget {
                    max_bad_fraction: 0.5,
                    limits: RowLimits::for_run(as_of, as_of + 30 * MILLIS_PER_DAY),
                },
                currencies: &currencies,
                threads: 1,
            };
            let (histories, _, ignored, _) = read_by_rows(&source, &settings);
            let outcome = super::read_histories(&source, &settings, &|_| {}).expect("read");
            assert_eq!(outcome.histories, histories, "{partition:?}");
            assert_eq!(outcome.ignored, ignored, "{partition:?}");
            let parts = histories[mine.as_str()].to_parts();
            assert_eq!((parts.purchases.count, parts.event_count), (4, 5));
            assert_eq!(parts.purchases.total, 19.0);
            assert_eq!(histories.contains_key(other.as_str()), partition.is_whole());
        }
    }

    #[test]
    fn the_parallel_read_fails_as_the_row_read_does() {
        let folder = tempfile::tempdir().expect("folder");
        let (mut paths, end) = write_logs(folder.path());
        let broken = folder.path().join("broken.parquet");
        std::fs::write(&broken, b"not a parquet file").expect("write");
        paths.insert(1, broken);
        let source = EventSource::open(&paths).expect("open");
        let model = LifecycleModel::preset("retail").expect("retail");
        let currencies = CurrencyTally::new(&CurrencyConfig::default());
        let settings = ReadSettings {
            model: &model,
            partition: Partition::whole(),
            as_of: end,
            budget: ErrorBudget::DEFAULT,
            currencies: &currencies,
            threads: 4,
        };
        let expected = source
            .read(settings.budget, |_| {})
            .expect_err("a broken file")
            .to_string();
        let Err(error) = super::read_histories(&source, &settings, &|_| {}) else {
            panic!("the parallel read passed a broken file");
        };
        assert!(
            error.to_string().contains(&expected),
            "{error} / {expected}"
        );
        assert!(expected.contains("broken.parquet"), "{expected}");
    }
}
