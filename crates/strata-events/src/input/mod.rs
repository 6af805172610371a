//! Event logs in and out: CSV with a header, JSON Lines and Parquet, streamed row by row.
//!
//! [`EventSource`] resolves files and folders into an ordered list of logs and hands each good
//! row to a sink as an [`Event`]; memory stays flat however many events pass. Bad rows are
//! counted, the first [`MAX_BAD_ROW_SAMPLES`] kept with their file and line, and the whole read
//! fails when they exceed the [`ErrorBudget`]. [`EventWriter`] writes the same three formats.
//!
//! Columns (CSV header names and Parquet columns, matched case-insensitively; JSON keys, matched
//! exactly); extra ones are ignored:
//!
//! | column       | required | read as                                                        |
//! |--------------|----------|----------------------------------------------------------------|
//! | `user_id`    | yes      | text (integers become their decimal text), trimmed             |
//! | `timestamp`  | yes      | RFC 3339 with offset, or epoch seconds / milliseconds (below)  |
//! | `event_type` | yes      | text, lowercased                                               |
//! | `amount`     | no       | number, or numeric text                                        |
//! | `currency`   | no       | text, uppercased                                               |
//! | `channel`    | no       | text, lowercased                                               |
//! | `benefit_id` | no       | text (integers become their decimal text)                      |
//! | `rating`     | no       | integer 1..=5 (`4.0` is accepted)                              |
//!
//! Rows that parse are still bad rows (counted against the budget, with file and line) when
//! their time is before 1970 or more than a day after the run's as-of time (or its start, when
//! that is later: see [`RowLimits::for_run`]), their amount is
//! above the ceiling, or their user id is one the service would refuse (empty, over 256 bytes)
//! or holds a control character: see [`RowLimits`]. A CSV quote left open at the end of a line
//! fails the read with file and line. An empty file (0 bytes, a CSV header alone, blank JSON
//! lines) is an empty log in every format; a read that finds no row at all fails.
//!
//! Empty text and nulls mean absent. An epoch number `n` (a number or numeric text) is
//! milliseconds when `|n| >= 100_000_000_000` and seconds otherwise; Parquet timestamp types
//! are converted by their unit. See [`timestamp`].

mod csv;
mod jsonl;
mod limits;
mod parallel;
mod parquet;
mod quote;
mod row;
pub mod timestamp;
mod writer;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use strata_core::Event;

use crate::Error;

pub use limits::{
    Anchor, DEFAULT_MAX_AMOUNT, EARLIEST_EVENT, FUTURE_SLACK, LATEST_AS_OF, RowLimits, check_as_of,
};
pub use writer::EventWriter;

/// The columns (JSON keys) of an event log, in the order the writers use;
/// the first three are required.
pub const COLUMNS: [&str; 8] = [
    "user_id",
    "timestamp",
    "event_type",
    "amount",
    "currency",
    "channel",
    "benefit_id",
    "rating",
];

/// How many bad rows a report keeps in detail; the rest are only counted.
pub const MAX_BAD_ROW_SAMPLES: usize = 100;

/// Rows between two progress calls, so a progress bar costs nothing per row.
const PROGRESS_EVERY_ROWS: u64 = 8192;

/// An event log format, known from a file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, first line a header.
    Csv,
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`).
    Jsonl,
    Parquet,
}

impl Format {
    /// The format of `path` by its extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Format, Error> {
        Format::from_extension(path).ok_or_else(|| Error::UnknownFormat {
            path: path.to_owned(),
        })
    }

    fn from_extension(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// What makes a row bad, and the share of bad rows a read tolerates before it fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorBudget {
    /// Bad rows over all rows; a read fails when the share is strictly greater.
    pub max_bad_fraction: f64,
    /// The run's window of event times and amount ceiling (see [`RowLimits`]).
    pub limits: RowLimits,
}

impl ErrorBudget {
    /// 1% of rows, with [`RowLimits::DEFAULT`].
    pub const DEFAULT: ErrorBudget = ErrorBudget {
        max_bad_fraction: 0.01,
        limits: RowLimits::DEFAULT,
    };
}

impl Default for ErrorBudget {
    fn default() -> Self {
        ErrorBudget::DEFAULT
    }
}

/// A row that did not become an event.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub file: PathBuf,
    /// 1-based physical line for CSV (the header is line 1) and JSON Lines; 1-based row number
    /// for Parquet.
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}: {}",
            self.file.display(),
            self.line,
            self.reason
        )
    }
}

/// What a successful read saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputReport {
    pub files: usize,
    /// Good and bad rows; blank JSON lines are not rows.
    pub rows: u64,
    pub events: u64,
    pub bad_rows: u64,
    /// The first [`MAX_BAD_ROW_SAMPLES`] bad rows, in reading order.
    pub bad_row_samples: Vec<BadRow>,
    /// Size of the files read.
    pub bytes: u64,
    /// Files in the given folders that are not event logs, left unread.
    pub skipped_files: Vec<PathBuf>,
}

/// How far a read is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of input consumed so far (estimated within a Parquet file from its rows).
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub rows: u64,
}

#[derive(Debug, Clone)]
struct LogFile {
    path: PathBuf,
    format: Format,
    bytes: u64,
}

/// The event log files named by a list of files and folders, resolved once.
#[derive(Debug, Clone)]
pub struct EventSource {
    files: Vec<LogFile>,
    paths: Vec<PathBuf>,
    skipped: Vec<PathBuf>,
}

impl EventSource {
    /// Resolves `paths`: named files must have a known extension and are kept in the given
    /// order; folders are searched recursively and their logs taken in sorted path order.
    pub fn open(paths: &[PathBuf]) -> Result<EventSource, Error> {
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for path in paths {
            let metadata = fs::metadata(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            if metadata.is_dir() {
                let mut found = Vec::new();
                collect_folder(path, &mut found, &mut skipped)?;
                found.sort_by(|left: &LogFile, right| left.path.cmp(&right.path));
                files.append(&mut found);
            } else {
                let format = Format::from_path(path)?;
                files.push(LogFile {
                    path: path.clone(),
                    format,
                    bytes: metadata.len(),
                });
            }
        }
        if files.is_empty() {
            return Err(Error::NoInputFiles {
                paths: paths.to_vec(),
            });
        }
        skipped.sort();
        for path in &skipped {
            tracing::info!(file = %path.display(), "skipping a file that is not an event log");
        }
        let log_paths = files.iter().map(|file| file.path.clone()).collect();
        Ok(EventSource {
            files,
            paths: log_paths,
            skipped,
        })
    }

    /// The logs to read, in reading order.
    pub fn files(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Files found in the given folders that are not event logs.
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
    }

    /// Total size of the logs, the length of a progress bar.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.bytes).sum()
    }

    /// Calls `sink` with each good event in file order. Fails if a file cannot be read or
    /// lacks a required column, or, after the last file, if the bad rows exceed `budget`;
    /// the caller must then discard what the sink received.
    pub fn read(&self, budget: ErrorBudget, sink: impl FnMut(Event)) -> Result<InputReport, Error> {
        self.read_with_progress(budget, |_| {}, sink)
    }

    /// [`EventSource::read`], calling `progress` every few thousand rows and after each file.
    pub fn read_with_progress(
        &self,
        budget: ErrorBudget,
        mut progress: impl FnMut(Progress),
        mut sink: impl FnMut(Event),
    ) -> Result<InputReport, Error> {
        check_budget_settings(budget)?;
        let chunks = parallel::plan(&self.files);
        let bytes_total = self.total_bytes();
        let (mut bytes_read, mut rows) = (0_u64, 0_u64);
        let mut on_progress = |bytes: u64, new_rows: u64| {
            bytes_read += bytes;
            rows += new_rows;
            progress(Progress {
                bytes_read,
                bytes_total,
                rows,
            });
        };
        // The owned event each sink call hands over; the reader fills a reused buffer.
        let mut on_event =
            |event: &mut Event, _: bool| sink(std::mem::replace(event, row::empty_event()));
        let (counts, outcome) =
            parallel::read_range(chunks, budget.limits, &mut on_event, &mut on_progress);
        outcome?;
        self.finish(counts, budget.max_bad_fraction)
    }

    /// Reads every log on `sinks.len()` threads (at least one) and hands each good event to
    /// one of the sinks, as a buffer the sink may change (all but its user id, which the
    /// next row is compared with) but should not keep (take what it needs). The logs are cut into chunks (a Parquet row group, a whole CSV or JSON Lines
    /// file) and each thread reads a contiguous run of chunks in order, so the first sink
    /// sees the earliest events; the report, bad-row samples and errors are those of
    /// [`EventSource::read`]. `progress` is called from the reading threads.
    pub fn read_parallel<S: EventSink>(
        &self,
        budget: ErrorBudget,
        progress: &(dyn Fn(Progress) + Sync),
        sinks: Vec<S>,
    ) -> Result<(Vec<S>, InputReport), Error> {
        check_budget_settings(budget)?;
        let chunks = parallel::plan(&self.files);
        let (sinks, counts) =
            parallel::read_all(chunks, budget.limits, self.total_bytes(), progress, sinks)?;
        Ok((sinks, self.finish(counts, budget.max_bad_fraction)?))
    }

    fn finish(&self, counts: Counts, max_bad_fraction: f64) -> Result<InputReport, Error> {
        let report = InputReport {
            files: self.files.len(),
            rows: counts.rows,
            events: counts.events,
            bad_rows: counts.bad_rows,
            bad_row_samples: counts.samples,
            bytes: self.total_bytes(),
            skipped_files: self.skipped.clone(),
        };
        if report.rows == 0 {
            // Every format alike: empty files are empty logs, but a run with no row at all
            // would compute (and push, or delete) from nothing, which is never what was meant.
            return Err(Error::NoRows {
                paths: self.paths.clone(),
            });
        }
        tracing::info!(
            files = report.files,
            rows = report.rows,
            events = report.events,
            bad_rows = report.bad_rows,
            "read event logs"
        );
        check_budget(report, max_bad_fraction)
    }
}

/// Takes the good events of a parallel read ([`EventSource::read_parallel`]).
pub trait EventSink: Send {
    /// One good event, in a buffer reused for the next row; `same_user` when its user id is
    /// the one of the previous event this sink got (the reader compared them already).
    fn event(&mut self, event: &mut Event, same_user: bool);
}

fn check_budget_settings(budget: ErrorBudget) -> Result<(), Error> {
    let fraction = budget.max_bad_fraction;
    if !(0.0..=1.0).contains(&fraction) {
        return Err(Error::InvalidBudget(fraction));
    }
    budget.limits.validate()
}

fn check_budget(report: InputReport, max_bad_fraction: f64) -> Result<InputReport, Error> {
    // Division, not multiplication: 1 / 100 rounds to the same double as the literal 0.01,
    // so a share exactly at the budget passes.
    if report.rows > 0 && report.bad_rows as f64 / report.rows as f64 > max_bad_fraction {
        return Err(Error::TooManyBadRows {
            bad: report.bad_rows,
            rows: report.rows,
            budget: max_bad_fraction,
            samples: report.bad_row_samples,
        });
    }
    Ok(report)
}

fn collect_folder(
    folder: &Path,
    found: &mut Vec<LogFile>,
    skipped: &mut Vec<PathBuf>,
) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        path: folder.to_owned(),
        source,
    };
    for entry in fs::read_dir(folder).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        // Follows symbolic links, so a linked log is read like any other.
        let metadata = fs::metadata(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            collect_folder(&path, found, skipped)?;
            continue;
        }
        match Format::from_extension(&path) {
            Some(format) => found.push(LogFile {
                path,
                format,
                bytes: metadata.len(),
            }),
            None => skipped.push(path),
        }
    }
    Ok(())
}

/// Position of `column` among a file's column names: trimmed, case-insensitive, first match.
fn column_index(names: &[String], column: &str) -> Option<usize> {
    names.iter().position(|name| {
        // A UTF-8 byte order mark sticks to the first name of files saved by spreadsheet tools.
        name.trim_start_matches('\u{feff}')
            .trim()
            .eq_ignore_ascii_case(column)
    })
}

/// Rows, events and bad rows of part of a read.
#[derive(Debug, Default)]
struct Counts {
    rows: u64,
    events: u64,
    bad_rows: u64,
    /// The first [`MAX_BAD_ROW_SAMPLES`] bad rows, in reading order.
    samples: Vec<BadRow>,
}

impl Counts {
    /// Adds the counts of the chunks read after these.
    fn append(&mut self, later: Counts) {
        self.rows += later.rows;
        self.events += later.events;
        self.bad_rows += later.bad_rows;
        let room = MAX_BAD_ROW_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(later.samples.into_iter().take(room));
    }
}

/// The running count of one thread's read, shared by the format readers.
struct Tally<'a> {
    counts: Counts,
    limits: RowLimits,
    /// The buffer each row is decoded into.
    event: Event,
    /// The last good row's user id, whose checks need not run again.
    good_user: String,
    /// True when the last row was good, so `event` still holds `good_user`.
    last_row_good: bool,
    sink: &'a mut dyn FnMut(&mut Event, bool),
    /// Optional strings' buffers while a row lacks them, so rows without them allocate
    /// nothing either.
    spares: row::Spares,
    /// Bytes and rows read since the last call.
    progress: &'a mut dyn FnMut(u64, u64),
    /// Position in the current chunk at the last progress call.
    bytes_reported: u64,
    rows_reported: u64,
}

impl<'a> Tally<'a> {
    fn new(
        limits: RowLimits,
        sink: &'a mut dyn FnMut(&mut Event, bool),
        progress: &'a mut dyn FnMut(u64, u64),
    ) -> Tally<'a> {
        Tally {
            counts: Counts::default(),
            limits,
            event: row::empty_event(),
            good_user: String::new(),
            last_row_good: false,
            sink,
            spares: row::Spares::default(),
            progress,
            bytes_reported: 0,
            rows_reported: 0,
        }
    }

    /// Counts one row, decoded into `self.event` with `outcome` (true when the decoder kept
    /// the user id the buffer held); readers call [`Tally::maybe_progress`] with their
    /// position after it.
    fn row(&mut self, file: &Path, line: u64, outcome: Result<bool, String>) {
        self.counts.rows += 1;
        let limits = self.limits;
        // After a good row the buffer's user id is the good one: no need to compare.
        let user_known = match outcome {
            Ok(kept) => (kept && self.last_row_good) || self.good_user == self.event.user_id,
            Err(_) => false,
        };
        match outcome.and_then(|_| limits.check_known_user(&self.event, user_known)) {
            Ok(()) => {
                if !user_known {
                    self.good_user.clear();
                    self.good_user.push_str(&self.event.user_id);
                }
                self.last_row_good = true;
                self.counts.events += 1;
                (self.sink)(&mut self.event, user_known);
            }
            Err(reason) => {
                self.last_row_good = false;
                self.bad_row(file, line, reason);
            }
        }
    }

    fn bad_row(&mut self, file: &Path, line: u64, reason: String) {
        self.counts.bad_rows += 1;
        if self.counts.samples.len() < MAX_BAD_ROW_SAMPLES {
            tracing::debug!(file = %file.display(), line, reason = %reason, "bad row");
            self.counts.samples.push(BadRow {
                file: file.to_owned(),
                line,
                reason,
            });
        }
    }

    fn progress_due(&self) -> bool {
        self.counts.rows.is_multiple_of(PROGRESS_EVERY_ROWS)
    }

    /// Reports progress if enough rows passed since the last report.
    fn maybe_progress(&mut self, bytes_in_chunk: impl FnOnce() -> u64) {
        if self.progress_due() {
            self.send_progress(bytes_in_chunk());
        }
    }

    fn send_progress(&mut self, bytes_in_chunk: u64) {
        let bytes = bytes_in_chunk.saturating_sub(self.bytes_reported);
        let rows = self.counts.rows - self.rows_reported;
        self.bytes_reported = self.bytes_reported.max(bytes_in_chunk);
        self.rows_reported = self.counts.rows;
        (self.progress)(bytes, rows);
    }

    fn start_chunk(&mut self) {
        self.bytes_reported = 0;
    }

    fn finish_chunk(&mut self, bytes: u64) {
        self.send_progress(bytes);
    }
}

#[cfg(test)]
mod tests;
