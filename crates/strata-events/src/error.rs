//! The crate's one error type: every failure of reading, writing or generating event logs.
//!
//! Each variant names the file (and where it helps, the column) it concerns, so the CLI can
//! print it as is.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::input::BadRow;

/// How many bad rows an error message lists; the full sample stays in the variant.
const BAD_ROWS_IN_MESSAGE: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: unknown event log format (expected .csv, .jsonl, .ndjson, .json or .parquet)",
        path.display()
    )]
    UnknownFormat { path: PathBuf },
    #[error(
        "no event log files (.csv, .jsonl, .ndjson, .json, .parquet) in {}",
        list_paths(paths)
    )]
    NoInputFiles { paths: Vec<PathBuf> },
    #[error("{}: missing required column `{column}`", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{}: column `{column}` has type {data_type}, which cannot hold it", path.display())]
    UnsupportedColumnType {
        path: PathBuf,
        column: &'static str,
        data_type: String,
    },
    #[error("{}: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{}: {source}", path.display())]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("{}: cannot write event {index}: {reason}", path.display())]
    UnwritableEvent {
        path: PathBuf,
        /// 0-based position of the event among those given to the writer.
        index: u64,
        reason: String,
    },
    #[error("{}:{line}: {reason}", path.display())]
    BadAttributeRow {
        path: PathBuf,
        /// 1-based line (the CSV header is line 1), or row for Parquet.
        line: u64,
        reason: String,
    },
    #[error(
        "{}: column `{column}` has type {data_type}; attribute columns are text, numbers, \
         booleans or lists of them",
        path.display()
    )]
    UnsupportedAttributeColumn {
        path: PathBuf,
        column: String,
        data_type: String,
    },
    /// A summary folder or part that cannot be read back as written.
    #[error("{}: {reason}", path.display())]
    Summary { path: PathBuf, reason: String },
    #[error("max_bad_fraction must be a number in 0..=1, got {0}")]
    InvalidBudget(f64),
    #[error("the amount ceiling must be a positive number, got {0}")]
    InvalidMaxAmount(f64),
    #[error("as-of time {as_of} is outside {earliest} ..= {latest}")]
    AsOfOutOfRange {
        as_of: String,
        earliest: String,
        latest: String,
    },
    #[error(
        "{}:{line}: a quoted field is still open at the end of the line; fields cannot span \
         lines (close the quote, or write a quote inside a quoted field as \"\")",
        path.display()
    )]
    UnclosedQuote {
        path: PathBuf,
        /// 1-based line where the quote opened.
        line: u64,
    },
    #[error("no event rows in {}: nothing to compute from", list_paths(paths))]
    NoRows { paths: Vec<PathBuf> },
    #[error(
        "{bad} of {rows} rows are bad ({:.3}%, budget {:.3}%): {}",
        percent(*bad, *rows),
        budget * 100.0,
        list_bad_rows(samples)
    )]
    TooManyBadRows {
        bad: u64,
        rows: u64,
        /// The `max_bad_fraction` that was exceeded.
        budget: f64,
        /// The first bad rows, in reading order.
        samples: Vec<BadRow>,
    },
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 * 100.0 / whole as f64
}

fn list_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    names.join(", ")
}

fn list_bad_rows(samples: &[BadRow]) -> String {
    let mut message = String::new();
    for (position, row) in samples.iter().take(BAD_ROWS_IN_MESSAGE).enumerate() {
        if position > 0 {
            message.push_str("; ");
        }
        // Writing into a String cannot fail.
        let _ = write!(message, "{row}");
    }
    if samples.len() > BAD_ROWS_IN_MESSAGE {
        message.push_str("; ...");
    }
    message
}
