//! Tests across formats (round trips, folders, the error budget) and the helpers every
//! format's own tests share.

use std::fs;
use std::path::{Path, PathBuf};

use strata_core::Event;

use super::{ErrorBudget, EventSource, EventWriter, Format, InputReport, MAX_BAD_ROW_SAMPLES};
use crate::Error;

pub(super) fn event(user_id: &str, at: i64, kind: &str) -> Event {
    Event::new(user_id, at, kind)
}

/// Builder-style setters for the optional fields, so expected events read as one line.
pub(super) trait EventFields {
    fn amount(self, amount: f64, currency: &str) -> Self;
    fn amount_only(self, amount: f64) -> Self;
    fn channel(self, channel: &str) -> Self;
    fn benefit(self, benefit_id: &str) -> Self;
    fn rating(self, rating: u8) -> Self;
}

impl EventFields for Event {
    fn amount(self, amount: f64, currency: &str) -> Self {
        Event {
            amount: Some(amount),
            currency: Some(currency.to_owned()),
            ..self
        }
    }

    fn amount_only(self, amount: f64) -> Self {
        Event {
            amount: Some(amount),
            ..self
        }
    }

    fn channel(self, channel: &str) -> Self {
        Event {
            channel: Some(channel.to_owned()),
            ..self
        }
    }

    fn benefit(self, benefit_id: &str) -> Self {
        Event {
            benefit_id: Some(benefit_id.to_owned()),
            ..self
        }
    }

    fn rating(self, rating: u8) -> Self {
        Event {
            rating: Some(rating),
            ..self
        }
    }
}

/// One outcome of a row, in file order.
pub(super) enum Expected {
    Event(Event),
    /// The 1-based line and a piece of the reason.
    Bad(u64, &'static str),
}

const ALL_BAD_ALLOWED: ErrorBudget = ErrorBudget {
    max_bad_fraction: 1.0,
};

fn extension(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
        Format::Parquet => "parquet",
    }
}

fn read_all(paths: &[PathBuf], budget: ErrorBudget) -> Result<(Vec<Event>, InputReport), Error> {
    let source = EventSource::open(paths)?;
    let mut events = Vec::new();
    let report = source.read(budget, |event| events.push(event))?;
    Ok((events, report))
}

/// Reads `text` as a file of `format` and compares the events and bad rows it yields.
#[track_caller]
pub(super) fn check_file(format: Format, text: &str, expected: &[Expected]) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join(format!("events.{}", extension(format)));
    fs::write(&path, text).expect("write the log");
    let (events, report) = read_all(std::slice::from_ref(&path), ALL_BAD_ALLOWED).expect("read");

    let expected_events: Vec<&Event> = expected
        .iter()
        .filter_map(|outcome| match outcome {
            Expected::Event(event) => Some(event),
            Expected::Bad(..) => None,
        })
        .collect();
    let expected_bad: Vec<(u64, &str)> = expected
        .iter()
        .filter_map(|outcome| match outcome {
            Expected::Bad(line, reason) => Some((*line, *reason)),
            Expected::Event(_) => None,
        })
        .collect();
    assert_eq!(events.iter().collect::<Vec<_>>(), expected_events);
    assert_eq!(report.rows, expected.len() as u64);
    assert_eq!(report.bad_rows, expected_bad.len() as u64);
    let lines: Vec<u64> = report.bad_row_samples.iter().map(|row| row.line).collect();
    let expected_lines: Vec<u64> = expected_bad.iter().map(|(line, _)| *line).collect();
    assert_eq!(
        lines, expected_lines,
        "bad rows: {:#?}",
        report.bad_row_samples
    );
    for (row, (_, reason)) in report.bad_row_samples.iter().zip(&expected_bad) {
        assert_eq!(row.file, path);
        assert!(
            row.reason.contains(reason),
            "line {}: `{}` lacks `{reason}`",
            row.line,
            row.reason
        );
    }
}

fn write_events(path: &Path, format: Format, events: &[Event]) {
    let mut writer = EventWriter::create(path, format).expect("create");
    for event in events {
        writer.write(event).expect("write");
    }
    assert_eq!(writer.finish().expect("finish"), events.len() as u64);
}

/// Events that stress every column: absent and present optionals, awkward text, instants
/// before 1973 (where a bare epoch number would be ambiguous), negative and tiny amounts.
fn awkward_events() -> Vec<Event> {
    vec![
        event("u1", 1_714_536_000_123, "purchase")
            .amount(12.5, "EUR")
            .channel("app_push")
            .benefit("B-1")
            .rating(5),
        event("u2", 1_714_536_000_000, "browse"),
        event("用户-3", 0, "mystery_type").amount_only(0.1),
        event("u,4 \"quoted\"", -1, "review")
            .rating(1)
            .benefit("line\nbreak, comma"),
        event("5", 5_000, "offer_redeemed").amount(-3.25, "JPY"),
        event("u6", 99_999_999_999, "send").channel("sms"),
        event("u7", 253_402_300_799_999, "invest").amount(1e-7, "USD"),
        event("u8", -62_135_596_800_000, "signup").amount(123_456_789.987_654_3, "CNY"),
    ]
}

#[test]
fn written_events_read_back_identical_in_every_format() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let events = awkward_events();
    let mut paths = Vec::new();
    for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
        let path = folder.path().join(format!("events.{}", extension(format)));
        write_events(&path, format, &events);
        let (read, report) =
            read_all(std::slice::from_ref(&path), ErrorBudget::default()).expect("read");
        assert_eq!(read, events, "{format:?}");
        assert_eq!(report.bad_rows, 0);
        paths.push(path);
    }
    // The folder reads as the three files in sorted order: csv, jsonl, parquet.
    let (read, report) =
        read_all(&[folder.path().to_owned()], ErrorBudget::default()).expect("read");
    assert_eq!(report.files, 3);
    assert_eq!(read, [events.clone(), events.clone(), events].concat());
    let total: u64 = paths
        .iter()
        .map(|path| fs::metadata(path).expect("size").len())
        .sum();
    assert_eq!(report.bytes, total);
}

#[test]
fn every_timestamp_spelling_reads_the_same() {
    let events = [
        event("a", 1_714_536_000_000, "purchase")
            .amount(10.0, "USD")
            .rating(4),
        event("b", 1_714_536_000_250, "browse"),
    ];
    let csv = "user_id,timestamp,event_type,amount,currency,rating\n\
               a,2024-05-01T12:00:00+08:00,PURCHASE,10,usd,4\n\
               b,2024-04-30T23:00:00.250-05:00,browse,,,\n";
    let jsonl = "{\"user_id\":\"a\",\"timestamp\":1714536000,\"event_type\":\"purchase\",\"amount\":10,\"currency\":\"USD\",\"rating\":4}\n\
                 {\"user_id\":\"b\",\"timestamp\":\"1714536000250\",\"event_type\":\"browse\",\"amount\":\"\",\"rating\":null}\n";
    check_file(
        Format::Csv,
        csv,
        &events
            .iter()
            .cloned()
            .map(Expected::Event)
            .collect::<Vec<_>>(),
    );
    check_file(
        Format::Jsonl,
        jsonl,
        &events
            .iter()
            .cloned()
            .map(Expected::Event)
            .collect::<Vec<_>>(),
    );
}

/// A CSV log of `rows` rows whose rows listed in `bad` lack a user id.
fn csv_with_bad_rows(path: &Path, rows: u64, bad: &[u64]) {
    let mut text = String::from("user_id,timestamp,event_type\n");
    for row in 1..=rows {
        let user_id = if bad.contains(&row) {
            String::new()
        } else {
            format!("u{row}")
        };
        text.push_str(&format!("{user_id},1714536000,open\n"));
    }
    fs::write(path, text).expect("write");
}

#[test]
fn error_budget_passes_at_the_limit_and_fails_above() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("events.csv");

    csv_with_bad_rows(&path, 100, &[7]);
    let (events, report) =
        read_all(std::slice::from_ref(&path), ErrorBudget::default()).expect("1% is allowed");
    assert_eq!((report.rows, report.events, report.bad_rows), (100, 99, 1));
    assert_eq!(events.len(), 99);
    // Row 7 is line 8: the header is line 1.
    assert_eq!(report.bad_row_samples[0].line, 8);

    csv_with_bad_rows(&path, 100, &[7, 50]);
    let error =
        read_all(std::slice::from_ref(&path), ErrorBudget::default()).expect_err("2% is not");
    let message = error.to_string();
    match error {
        Error::TooManyBadRows {
            bad,
            rows,
            budget,
            samples,
        } => {
            assert_eq!((bad, rows, budget), (2, 100, 0.01));
            let lines: Vec<u64> = samples.iter().map(|row| row.line).collect();
            assert_eq!(lines, vec![8, 51]);
        }
        other => panic!("expected TooManyBadRows, got {other}"),
    }
    let first = format!("{}:8: user_id is missing", path.display());
    assert!(message.contains(&first), "{message}");

    let strict = ErrorBudget {
        max_bad_fraction: 0.0,
    };
    csv_with_bad_rows(&path, 10, &[]);
    read_all(std::slice::from_ref(&path), strict).expect("no bad rows");
    let invalid = ErrorBudget {
        max_bad_fraction: f64::NAN,
    };
    assert!(matches!(
        read_all(&[path], invalid),
        Err(Error::InvalidBudget(_))
    ));
}

#[test]
fn bad_row_samples_are_capped_but_all_counted() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("events.csv");
    let bad: Vec<u64> = (1..=150).collect();
    csv_with_bad_rows(&path, 200, &bad);
    let (_, report) = read_all(&[path], ALL_BAD_ALLOWED).expect("read");
    assert_eq!(report.bad_rows, 150);
    assert_eq!(report.bad_row_samples.len(), MAX_BAD_ROW_SAMPLES);
}

#[test]
fn folder_of_mixed_formats_with_a_stray_file() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let root = folder.path();
    fs::create_dir_all(root.join("a")).expect("mkdir");
    fs::create_dir_all(root.join("c/d")).expect("mkdir");
    fs::write(
        root.join("a/events.csv"),
        "user_id,timestamp,event_type\nu1,0,open\n,0,open\n",
    )
    .expect("write");
    fs::write(
        root.join("b.JSONL"),
        "{\"user_id\":\"u2\",\"timestamp\":0,\"event_type\":\"like\"}\n{oops\n",
    )
    .expect("write");
    write_events(
        &root.join("c/d/events.parquet"),
        Format::Parquet,
        &[event("u3", 0, "visit")],
    );
    fs::write(root.join("README.txt"), "not events").expect("write");

    let source = EventSource::open(&[root.to_owned()]).expect("open");
    let expected_files = vec![
        root.join("a/events.csv"),
        root.join("b.JSONL"),
        root.join("c/d/events.parquet"),
    ];
    assert_eq!(source.files(), expected_files.as_slice());
    assert_eq!(source.skipped(), [root.join("README.txt")]);

    let mut events = Vec::new();
    let mut progress = Vec::new();
    let report = source
        .read_with_progress(
            ALL_BAD_ALLOWED,
            |step| progress.push(step),
            |event| events.push(event),
        )
        .expect("read");
    let users: Vec<&str> = events.iter().map(|event| event.user_id.as_str()).collect();
    assert_eq!(users, ["u1", "u2", "u3"]);
    assert_eq!((report.files, report.rows, report.bad_rows), (3, 5, 2));
    let bad: Vec<(PathBuf, u64)> = report
        .bad_row_samples
        .iter()
        .map(|row| (row.file.clone(), row.line))
        .collect();
    assert_eq!(
        bad,
        [(root.join("a/events.csv"), 3), (root.join("b.JSONL"), 2)]
    );
    assert_eq!(report.skipped_files, [root.join("README.txt")]);

    let last = progress.last().expect("progress after each file");
    assert_eq!(last.bytes_read, source.total_bytes());
    assert_eq!(last.bytes_total, source.total_bytes());
    assert!(
        progress
            .windows(2)
            .all(|pair| pair[0].bytes_read <= pair[1].bytes_read)
    );
}

#[test]
fn named_files_are_checked() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let readme = folder.path().join("README.txt");
    fs::write(&readme, "not events").expect("write");
    assert!(matches!(
        EventSource::open(&[readme]),
        Err(Error::UnknownFormat { .. })
    ));

    let missing = folder.path().join("missing.csv");
    assert!(matches!(
        EventSource::open(&[missing]),
        Err(Error::Io { .. })
    ));

    let empty = folder.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    assert!(matches!(
        EventSource::open(&[empty]),
        Err(Error::NoInputFiles { .. })
    ));
}

#[test]
fn many_events_stream_through_parquet_batches() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("many.parquet");
    let count = super::writer::PARQUET_BATCH_ROWS as i64 * 2 + 17;
    let mut writer = EventWriter::create(&path, Format::Parquet).expect("create");
    for index in 0..count {
        let mut written = event(
            &format!("u{}", index % 1000),
            1_714_536_000_000 + index,
            "open",
        );
        if index % 3 == 0 {
            written = written.amount(index as f64, "USD");
        }
        writer.write(&written).expect("write");
    }
    writer.finish().expect("finish");

    let mut seen = 0_i64;
    let mut amounts = 0_i64;
    let report = EventSource::open(&[path])
        .expect("open")
        .read(ErrorBudget::default(), |read| {
            assert_eq!(read.at, 1_714_536_000_000 + seen);
            amounts += i64::from(read.amount.is_some());
            seen += 1;
        })
        .expect("read");
    assert_eq!(report.events, count as u64);
    assert_eq!(amounts, (count + 2) / 3);
}
