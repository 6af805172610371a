//! Writing events as CSV, JSON Lines or Parquet, in the layout the readers expect.
//!
//! The demo generator writes millions of events through this, so every format buffers:
//! CSV and JSON Lines through a 64 KiB buffer with reused scratch strings, Parquet through
//! Arrow builders flushed as one record batch every [`PARQUET_BATCH_ROWS`] events.
//!
//! Timestamps are written as RFC 3339 UTC with milliseconds in text formats, and in Parquet
//! as INT64 milliseconds annotated `TIMESTAMP(MILLIS, UTC)`, so no reader needs the
//! seconds-or-milliseconds guess for them.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use strata_core::Event;

use super::timestamp::format_rfc3339;
use super::{COLUMNS, Format};
use crate::Error;

/// Rows per Parquet record batch.
pub const PARQUET_BATCH_ROWS: usize = 64 * 1024;

/// Rows per Parquet row group: the unit a parallel read hands to one thread, so a file of
/// a few million events already spreads over every core.
pub const PARQUET_ROW_GROUP_ROWS: usize = 256 * 1024;

const TEXT_BUFFER_BYTES: usize = 64 * 1024;

/// Writes events to one file. Call [`EventWriter::finish`]: a Parquet file is unreadable
/// until its footer is written, and text buffers are flushed only there.
pub struct EventWriter {
    path: PathBuf,
    events: u64,
    sink: Sink,
}

enum Sink {
    Csv(Box<CsvSink>),
    Jsonl(JsonlSink),
    Parquet(Box<ParquetSink>),
}

impl EventWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path, format: Format) -> Result<EventWriter, Error> {
        EventWriter::create_with_row_groups(path, format, PARQUET_ROW_GROUP_ROWS)
    }

    /// [`EventWriter::create`] with `row_group_rows` rows per Parquet row group (at least
    /// one; ignored by the text formats).
    pub fn create_with_row_groups(
        path: &Path,
        format: Format,
        row_group_rows: usize,
    ) -> Result<EventWriter, Error> {
        let file = File::create(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let sink = match format {
            Format::Csv => Sink::Csv(Box::new(CsvSink::new(path, file)?)),
            Format::Jsonl => Sink::Jsonl(JsonlSink {
                output: BufWriter::with_capacity(TEXT_BUFFER_BYTES, file),
                line: Vec::new(),
            }),
            Format::Parquet => Sink::Parquet(Box::new(ParquetSink::new(
                path,
                file,
                row_group_rows.max(1),
            )?)),
        };
        Ok(EventWriter {
            path: path.to_owned(),
            events: 0,
            sink,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, event: &Event) -> Result<(), Error> {
        if let Some(amount) = event.amount
            && !amount.is_finite()
        {
            return Err(self.unwritable(format!("amount {amount} is not a finite number")));
        }
        if matches!(self.sink, Sink::Csv(_))
            && let Some(column) = line_break_column(event)
        {
            // The reader takes one record per line, so such a file could not be read back.
            return Err(self.unwritable(format!("{column} holds a line break, which CSV refuses")));
        }
        let timestamp = match self.sink {
            // Parquet stores the instant as a number; the empty String does not allocate.
            Sink::Parquet(_) => String::new(),
            Sink::Csv(_) | Sink::Jsonl(_) => self.timestamp_text(event)?,
        };
        let path = &self.path;
        match &mut self.sink {
            Sink::Csv(sink) => sink
                .write(event, &timestamp)
                .map_err(|source| csv_error(path, source))?,
            Sink::Jsonl(sink) => sink
                .write(event, &timestamp)
                .map_err(|source| io_error(path, source))?,
            Sink::Parquet(sink) => sink.write(path, event)?,
        }
        self.events += 1;
        Ok(())
    }

    /// Flushes everything and closes the file; returns how many events it holds.
    pub fn finish(self) -> Result<u64, Error> {
        let path = &self.path;
        match self.sink {
            Sink::Csv(sink) => sink.finish().map_err(|source| io_error(path, source))?,
            Sink::Jsonl(sink) => sink.finish().map_err(|source| io_error(path, source))?,
            Sink::Parquet(sink) => sink.finish(path)?,
        }
        Ok(self.events)
    }

    fn timestamp_text(&self, event: &Event) -> Result<String, Error> {
        format_rfc3339(event.at).ok_or_else(|| {
            self.unwritable(format!(
                "timestamp {} ms is outside years -262143..=262142",
                event.at
            ))
        })
    }

    fn unwritable(&self, reason: String) -> Error {
        Error::UnwritableEvent {
            path: self.path.clone(),
            index: self.events,
            reason,
        }
    }
}

/// The first text column of `event` holding a line break, if any.
fn line_break_column(event: &Event) -> Option<&'static str> {
    let columns = [
        ("user_id", Some(event.user_id.as_str())),
        ("event_type", Some(event.kind.as_str())),
        ("currency", event.currency.as_deref()),
        ("channel", event.channel.as_deref()),
        ("benefit_id", event.benefit_id.as_deref()),
    ];
    columns.into_iter().find_map(|(column, text)| {
        text.filter(|text| text.contains(['\n', '\r']))
            .map(|_| column)
    })
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn csv_error(path: &Path, source: ::csv::Error) -> Error {
    Error::Csv {
        path: path.to_owned(),
        source,
    }
}

struct CsvSink {
    output: ::csv::Writer<File>,
    amount: String,
    rating: String,
}

impl CsvSink {
    fn new(path: &Path, file: File) -> Result<CsvSink, Error> {
        let mut output = ::csv::WriterBuilder::new()
            .buffer_capacity(TEXT_BUFFER_BYTES)
            .from_writer(file);
        output
            .write_record(COLUMNS)
            .map_err(|source| csv_error(path, source))?;
        Ok(CsvSink {
            output,
            amount: String::new(),
            rating: String::new(),
        })
    }

    fn write(&mut self, event: &Event, timestamp: &str) -> Result<(), ::csv::Error> {
        self.amount.clear();
        if let Some(amount) = event.amount {
            // `Display` for f64 is the shortest text that parses back to the same value.
            let _ = write!(self.amount, "{amount}");
        }
        self.rating.clear();
        if let Some(rating) = event.rating {
            let _ = write!(self.rating, "{rating}");
        }
        self.output.write_record([
            event.user_id.as_str(),
            timestamp,
            event.kind.as_str(),
            self.amount.as_str(),
            event.currency.as_deref().unwrap_or(""),
            event.channel.as_deref().unwrap_or(""),
            event.benefit_id.as_deref().unwrap_or(""),
            self.rating.as_str(),
        ])
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.output.flush()?;
        let file = self
            .output
            .into_inner()
            .map_err(|error| std::io::Error::other(error.to_string()))?;
        file.sync_all()
    }
}

struct JsonlSink {
    output: BufWriter<File>,
    line: Vec<u8>,
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    user_id: &'a str,
    timestamp: &'a str,
    event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    benefit_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rating: Option<u8>,
}

impl JsonlSink {
    fn write(&mut self, event: &Event, timestamp: &str) -> std::io::Result<()> {
        let object = JsonEvent {
            user_id: &event.user_id,
            timestamp,
            event_type: &event.kind,
            amount: event.amount,
            currency: event.currency.as_deref(),
            channel: event.channel.as_deref(),
            benefit_id: event.benefit_id.as_deref(),
            rating: event.rating,
        };
        // Serialised whole before writing, so a failure never leaves half a line.
        self.line.clear();
        serde_json::to_writer(&mut self.line, &object)?;
        self.line.push(b'\n');
        self.output.write_all(&self.line)
    }

    fn finish(self) -> std::io::Result<()> {
        let file = self
            .output
            .into_inner()
            .map_err(|error| error.into_error())?;
        file.sync_all()
    }
}

struct ParquetSink {
    output: ArrowWriter<File>,
    schema: SchemaRef,
    user_id: StringBuilder,
    timestamp: TimestampMillisecondBuilder,
    event_type: StringBuilder,
    amount: Float64Builder,
    currency: StringBuilder,
    channel: StringBuilder,
    benefit_id: StringBuilder,
    rating: Int32Builder,
    pending: usize,
}

impl ParquetSink {
    fn new(path: &Path, file: File, row_group_rows: usize) -> Result<ParquetSink, Error> {
        let utc: Arc<str> = Arc::from("UTC");
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some(utc.clone())),
                false,
            ),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, true),
            Field::new("currency", DataType::Utf8, true),
            Field::new("channel", DataType::Utf8, true),
            Field::new("benefit_id", DataType::Utf8, true),
            Field::new("rating", DataType::Int32, true),
        ]));
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(row_group_rows))
            .build();
        let output =
            ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(|source| {
                Error::Parquet {
                    path: path.to_owned(),
                    source,
                }
            })?;
        let strings = || StringBuilder::with_capacity(PARQUET_BATCH_ROWS, PARQUET_BATCH_ROWS * 8);
        Ok(ParquetSink {
            output,
            schema,
            user_id: strings(),
            timestamp: TimestampMillisecondBuilder::with_capacity(PARQUET_BATCH_ROWS)
                .with_timezone(utc),
            event_type: strings(),
            amount: Float64Builder::with_capacity(PARQUET_BATCH_ROWS),
            currency: strings(),
            channel: strings(),
            benefit_id: strings(),
            rating: Int32Builder::with_capacity(PARQUET_BATCH_ROWS),
            pending: 0,
        })
    }

    fn write(&mut self, path: &Path, event: &Event) -> Result<(), Error> {
        self.user_id.append_value(&event.user_id);
        self.timestamp.append_value(event.at);
        self.event_type.append_value(&event.kind);
        self.amount.append_option(event.amount);
        self.currency.append_option(event.currency.as_deref());
        self.channel.append_option(event.channel.as_deref());
        self.benefit_id.append_option(event.benefit_id.as_deref());
        self.rating.append_option(event.rating.map(i32::from));
        self.pending += 1;
        if self.pending >= PARQUET_BATCH_ROWS {
            self.flush(path)?;
        }
        Ok(())
    }

    fn flush(&mut self, path: &Path) -> Result<(), Error> {
        if self.pending == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.user_id.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.benefit_id.finish()),
            Arc::new(self.rating.finish()),
        ];
        self.pending = 0;
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|source| Error::Arrow {
                path: path.to_owned(),
                source,
            })?;
        self.output.write(&batch).map_err(|source| Error::Parquet {
            path: path.to_owned(),
            source,
        })
    }

    fn finish(mut self: Box<Self>, path: &Path) -> Result<(), Error> {
        self.flush(path)?;
        let parquet_error = |source| Error::Parquet {
            path: path.to_owned(),
            source,
        };
        let file = self.output.into_inner().map_err(parquet_error)?;
        file.sync_all().map_err(|source| io_error(path, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_path() {
        let cases = [
            ("a.csv", Some(Format::Csv)),
            ("a.CSV", Some(Format::Csv)),
            ("dir.d/a.jsonl", Some(Format::Jsonl)),
            ("a.ndjson", Some(Format::Jsonl)),
            ("a.json", Some(Format::Jsonl)),
            ("a.parquet", Some(Format::Parquet)),
            ("a.csv.gz", None),
            ("README.txt", None),
            ("csv", None),
        ];
        for (path, expected) in cases {
            assert_eq!(Format::from_path(Path::new(path)).ok(), expected, "{path}");
        }
    }

    #[test]
    fn unwritable_events_are_refused_with_their_index() {
        let folder = tempfile::tempdir().expect("temporary folder");
        for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
            let path = folder.path().join("out");
            let mut writer = EventWriter::create(&path, format).expect("create");
            let mut event = Event {
                amount: Some(1.0),
                ..Event::new("u", 0, "purchase")
            };
            writer.write(&event).expect("a good event");
            event.amount = Some(f64::NAN);
            let error = writer.write(&event).expect_err("NaN amount");
            assert!(
                matches!(error, Error::UnwritableEvent { index: 1, .. }),
                "{error}"
            );
            assert_eq!(writer.finish().expect("finish"), 1);
        }
    }

    #[test]
    fn csv_refuses_line_breaks_the_reader_would_refuse() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("out.csv");
        let mut writer = EventWriter::create(&path, Format::Csv).expect("create");
        let event = Event {
            benefit_id: Some("two\nlines".into()),
            ..Event::new("u", 0, "purchase")
        };
        let error = writer.write(&event).expect_err("a line break");
        assert!(
            error.to_string().contains("benefit_id holds a line break"),
            "{error}"
        );
        let mut writer =
            EventWriter::create(&path.with_extension("jsonl"), Format::Jsonl).expect("create");
        writer.write(&event).expect("JSON escapes it");
    }
}
