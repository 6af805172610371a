//! Tests across formats (round trips, folders, the error budget) and the helpers every
//! format's own tests share.

use std::fs;
use std::path::{Path, PathBuf};

use strata_core::Event;

use super::{
    ErrorBudget, EventSource, EventWriter, Format, InputReport, MAX_BAD_ROW_SAMPLES, RowLimits,
};
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
    ..ErrorBudget::DEFAULT
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
            .benefit("tab\tand, comma"),
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
    // The formats carry more than a run accepts: years 0001 to 9999, huge amounts.
    let budget = ErrorBudget {
        limits: RowLimits {
            earliest: i64::MIN,
            latest: i64::MAX,
            max_amount: f64::MAX,
            ..RowLimits::DEFAULT
        },
        ..ErrorBudget::DEFAULT
    };
    let mut paths = Vec::new();
    for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
        let path = folder.path().join(format!("events.{}", extension(format)));
        write_events(&path, format, &events);
        let (read, report) = read_all(std::slice::from_ref(&path), budget).expect("read");
        assert_eq!(read, events, "{format:?}");
        assert_eq!(report.bad_rows, 0);
        paths.push(path);
    }
    // The folder reads as the three files in sorted order: csv, jsonl, parquet.
    let (read, report) = read_all(&[folder.path().to_owned()], budget).expect("read");
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
        ..ErrorBudget::DEFAULT
    };
    csv_with_bad_rows(&path, 10, &[]);
    read_all(std::slice::from_ref(&path), strict).expect("no bad rows");
    let invalid = ErrorBudget {
        max_bad_fraction: f64::NAN,
        ..ErrorBudget::DEFAULT
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

/// The rules of [`RowLimits`] hold in every format, with the row's own line (or Parquet row).
#[test]
fn rows_outside_the_limits_are_bad_in_every_format() {
    let good = event("u1", 1_714_536_000_000, "purchase").amount(10.0, "EUR");
    let rows = [
        good.clone(),
        event(&"x".repeat(300), 1_714_536_000_000, "browse"),
        event("nul\0id", 1_714_536_000_000, "browse"),
        event("u2", -62_135_596_800_000, "purchase").amount(10.0, "EUR"),
        event("u3", 1_735_689_600_000 + 2 * 86_400_000, "browse"),
        event("u4", 1_714_536_000_000, "purchase").amount(1e308, "EUR"),
        good.clone(),
    ];
    let budget = ErrorBudget {
        max_bad_fraction: 1.0,
        limits: RowLimits::for_as_of(1_735_689_600_000),
    };
    let folder = tempfile::tempdir().expect("temporary folder");
    for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
        let path = folder.path().join(format!("limits.{}", extension(format)));
        write_events(&path, format, &rows);
        let (read, report) = read_all(std::slice::from_ref(&path), budget).expect("read");
        assert_eq!(read, [good.clone(), good.clone()], "{format:?}");
        // CSV counts the header as line 1.
        let first = if format == Format::Csv { 3 } else { 2 };
        let lines: Vec<u64> = report.bad_row_samples.iter().map(|row| row.line).collect();
        assert_eq!(lines, (first..first + 5).collect::<Vec<_>>(), "{format:?}");
        let reasons: Vec<&str> = report
            .bad_row_samples
            .iter()
            .map(|row| row.reason.as_str())
            .collect();
        for (reason, piece) in reasons.iter().zip([
            "user id is 300 bytes, the limit is 256",
            "control character U+0000",
            "timestamp 0001-01-01T00:00:00.000Z is before 1970",
            "more than a day after the as-of time",
            "amount 1e308 is above the amount ceiling",
        ]) {
            assert!(
                reason.contains(piece),
                "{format:?}: `{reason}` lacks `{piece}`"
            );
        }
    }
}

#[test]
fn a_quote_left_open_fails_the_read_with_its_line() {
    let cases = [
        // Open at the end of a line, with many lines after it.
        (
            format!(
                "user_id,timestamp,event_type\nu1,0,open\nu2,0,\"open\n{}",
                "u3,0,open\n".repeat(5000)
            ),
            3,
        ),
        // Open at the end of the file, without a final line break.
        (
            "user_id,timestamp,event_type\nu1,0,open\nu2,0,\"op\"\"en".to_owned(),
            3,
        ),
        // In the header.
        ("user_id,\"timestamp,event_type\nu1,0,open\n".to_owned(), 1),
        // Across a CRLF line end.
        (
            "user_id,timestamp,event_type\r\n\"u1\r\n,0,open\r\n".to_owned(),
            2,
        ),
    ];
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("events.csv");
    for (text, line) in cases {
        fs::write(&path, &text).expect("write");
        let error = read_all(std::slice::from_ref(&path), ErrorBudget::default())
            .expect_err("an open quote");
        let message = error.to_string();
        assert!(
            matches!(error, Error::UnclosedQuote { line: found, .. } if found == line),
            "{message}"
        );
        assert!(
            message.starts_with(&format!(
                "{}:{line}: a quoted field is still open",
                path.display()
            )),
            "{message}"
        );
    }
}

#[test]
fn closed_quotes_still_hold_commas_and_quotes() {
    let text =
        "user_id,timestamp,event_type\n\"u,1\",0,\"say \"\"hi\"\"\"\nu\"2,0,open\n\"u3\"x,0,open\n";
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("events.csv");
    fs::write(&path, text).expect("write");
    let (events, report) = read_all(&[path], ErrorBudget::default()).expect("read");
    assert_eq!(report.bad_rows, 0);
    let ids: Vec<&str> = events.iter().map(|event| event.user_id.as_str()).collect();
    assert_eq!(ids, ["u,1", "u\"2", "u3x"]);
    assert_eq!(events[0].kind, "say \"hi\"");
}

#[test]
fn empty_files_are_empty_logs_and_no_rows_at_all_fails() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let good = folder.path().join("good.csv");
    fs::write(&good, "user_id,timestamp,event_type\nu1,0,open\n").expect("write");
    let empties = [
        ("zero.csv", ""),
        ("header.csv", "user_id,timestamp,event_type\n"),
        ("zero.jsonl", ""),
        ("blank.jsonl", "\n\n"),
        ("zero.parquet", ""),
    ];
    let mut paths = vec![good];
    for (name, text) in empties {
        let path = folder.path().join(name);
        fs::write(&path, text).expect("write");
        let error = read_all(std::slice::from_ref(&path), ErrorBudget::default())
            .expect_err("no rows at all");
        assert!(matches!(error, Error::NoRows { .. }), "{name}: {error}");
        assert!(error.to_string().contains(name), "{error}");
        paths.push(path);
    }
    let (events, report) = read_all(&paths, ErrorBudget::default()).expect("one row");
    assert_eq!((events.len(), report.rows, report.files), (1, 1, 6));
}
