//! CSV event logs: a header line naming the columns, then one event per record.
//!
//! Records are read one at a time into a reused buffer, as bytes, so a field that is not UTF-8
//! makes one bad row rather than a failed file.
//!
//! A record is one line: a quoted field may hold commas and doubled quotes, never a line break.
//! A quote still open at the end of a line (or of the file) fails the read with its file and
//! line ([`QuoteGuard`]), because a parser that let it run on would swallow every later line
//! into one field and report a single bad row for half a file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use ::csv::{ByteRecord, ReaderBuilder};

use super::row::{Field, RawRow};
use super::{Tally, column_index};
use crate::Error;

pub(super) fn read(path: &Path, tally: &mut Tally<'_>) -> Result<(), Error> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let csv_error = |source: ::csv::Error| match open_quote_line(&source) {
        Some(line) => Error::UnclosedQuote {
            path: path.to_owned(),
            line,
        },
        None => Error::Csv {
            path: path.to_owned(),
            source,
        },
    };
    // Flexible, so a record with the wrong number of fields is a bad row we report ourselves.
    let mut reader = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(QuoteGuard::new(file));
    let header = reader.byte_headers().map_err(csv_error)?.clone();
    if header.iter().all(<[u8]>::is_empty) && reader.is_done() {
        // An empty file is an empty log, as in the other formats: no header, no rows.
        return Ok(());
    }
    let names: Vec<String> = header
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    let columns = Columns::locate(path, &names)?;

    let mut record = ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |position| position.line());
        let outcome = if record.len() == header.len() {
            columns
                .raw_row(&record)
                .and_then(|raw| raw.fill(&mut tally.event, &mut tally.spares))
        } else {
            Err(format!(
                "expected {} fields as in the header, found {}",
                header.len(),
                record.len()
            ))
        };
        tally.row(path, line, outcome);
        tally.maybe_progress(|| reader.position().byte());
    }
    Ok(())
}

/// The line of the open quote, if `error` is the one a [`QuoteGuard`] raised.
fn open_quote_line(error: &::csv::Error) -> Option<u64> {
    match error.kind() {
        ::csv::ErrorKind::Io(io_error) => io_error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<OpenQuote>())
            .map(|open| open.line),
        _ => None,
    }
}

/// A quote left open at the end of `line` (1-based).
#[derive(Debug)]
struct OpenQuote {
    line: u64,
}

impl std::fmt::Display for OpenQuote {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "line {}: a quoted field is still open",
            self.line
        )
    }
}

impl std::error::Error for OpenQuote {}

/// Where the quote scanner is within a line, by the csv crate's own rules (RFC 4180): a quote
/// opens a quoted field only as a field's first byte, `""` inside one is a literal quote, and
/// after the closing quote the field runs on unquoted to the next comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: it closed the field, or starts a `""`.
    QuoteInQuoted,
}

/// Passes a CSV file through unchanged, failing the read with [`OpenQuote`] when a line ends
/// (or the file ends) inside a quoted field. One pass over bytes the parser reads anyway.
struct QuoteGuard<R> {
    inner: R,
    state: QuoteState,
    /// 1-based line of the next byte.
    line: u64,
    at_start: bool,
}

impl<R: Read> QuoteGuard<R> {
    fn new(inner: R) -> Self {
        QuoteGuard {
            inner,
            state: QuoteState::FieldStart,
            line: 1,
            at_start: true,
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if self.at_start && !bytes.is_empty() {
            self.at_start = false;
            // The csv crate drops a UTF-8 byte order mark, so the first field starts after it.
            if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
                bytes = rest;
            }
        }
        for &byte in bytes {
            self.state = match (self.state, byte) {
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, b'\n' | b'\r') => return Err(self.open_quote()),
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (QuoteState::FieldStart, b'"') => QuoteState::Quoted,
                (_, b',' | b'\r') => QuoteState::FieldStart,
                (_, b'\n') => {
                    self.line += 1;
                    QuoteState::FieldStart
                }
                (_, _) => QuoteState::Unquoted,
            };
        }
        Ok(())
    }

    fn open_quote(&self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, OpenQuote { line: self.line })
    }
}

impl<R: Read> Read for QuoteGuard<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let length = self.inner.read(buffer)?;
        if length == 0 && !buffer.is_empty() && self.state == QuoteState::Quoted {
            return Err(self.open_quote());
        }
        self.scan(&buffer[..length])?;
        Ok(length)
    }
}

/// Where each known column sits in a record.
struct Columns {
    user_id: usize,
    timestamp: usize,
    event_type: usize,
    amount: Option<usize>,
    currency: Option<usize>,
    channel: Option<usize>,
    benefit_id: Option<usize>,
    rating: Option<usize>,
}

impl Columns {
    fn locate(path: &Path, names: &[String]) -> Result<Columns, Error> {
        let optional = |column| column_index(names, column);
        let required = |column| {
            optional(column).ok_or_else(|| Error::MissingColumn {
                path: path.to_owned(),
                column,
            })
        };
        Ok(Columns {
            user_id: required("user_id")?,
            timestamp: required("timestamp")?,
            event_type: required("event_type")?,
            amount: optional("amount"),
            currency: optional("currency"),
            channel: optional("channel"),
            benefit_id: optional("benefit_id"),
            rating: optional("rating"),
        })
    }

    fn raw_row<'a>(&self, record: &'a ByteRecord) -> Result<RawRow<'a>, String> {
        let field = |index: Option<usize>, column: &str| -> Result<Field<'a>, String> {
            let Some(bytes) = index.and_then(|index| record.get(index)) else {
                return Ok(Field::Absent);
            };
            match std::str::from_utf8(bytes) {
                Ok("") => Ok(Field::Absent),
                Ok(text) => Ok(Field::Text(text)),
                Err(_) => Err(format!("{column} is not valid UTF-8")),
            }
        };
        Ok(RawRow {
            user_id: field(Some(self.user_id), "user_id")?,
            timestamp: field(Some(self.timestamp), "timestamp")?,
            event_type: field(Some(self.event_type), "event_type")?,
            amount: field(self.amount, "amount")?,
            currency: field(self.currency, "currency")?,
            channel: field(self.channel, "channel")?,
            benefit_id: field(self.benefit_id, "benefit_id")?,
            rating: field(self.rating, "rating")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{EventFields, Expected, check_file, event};
    use crate::Error;
    use crate::input::{EventSource, Format};

    #[test]
    fn hand_written() {
        let text = "\u{feff}User_ID,timestamp,Event_Type,amount,currency,channel,benefit_id,rating,extra\n\
                    u1,2024-05-01T12:00:00+08:00,Purchase,12.5,eur,,B1,,ignored\n\
                    u2,1714536000,browse,,,SMS,,5,\n\
                    \"u,3\",1714536000123,\"multi \"\"word\"\"\",,,,,,\n\
                    u4,2024-05-01T04:00:00Z,review,,,,,4\n\
                    ,2024-05-01T04:00:00Z,browse,,,,,,\n\
                    u5,2024-05-01T04:00:00Z,rating,,,,,9,\n\
                    u6,tomorrow,browse,,,,,,\n\
                    u7,1714536000,purchase,ten,USD,,,,\n";
        check_file(
            Format::Csv,
            text,
            &[
                Expected::Event(
                    event("u1", 1_714_536_000_000, "purchase")
                        .amount(12.5, "EUR")
                        .benefit("B1"),
                ),
                Expected::Event(
                    event("u2", 1_714_536_000_000, "browse")
                        .channel("sms")
                        .rating(5),
                ),
                Expected::Event(event("u,3", 1_714_536_000_123, "multi \"word\"")),
                Expected::Bad(5, "expected 9 fields"),
                Expected::Bad(6, "user_id is missing"),
                Expected::Bad(7, "rating 9"),
                Expected::Bad(8, "timestamp `tomorrow`"),
                Expected::Bad(9, "amount `ten`"),
            ],
        );
    }

    #[test]
    fn crlf_columns_in_any_order_and_only_required_ones() {
        let text =
            "event_type,timestamp,user_id\r\nopen,1714536000,u1\r\n\r\nlike,1714536001,u2\r\n";
        check_file(
            Format::Csv,
            text,
            &[
                Expected::Event(event("u1", 1_714_536_000_000, "open")),
                Expected::Event(event("u2", 1_714_536_001_000, "like")),
            ],
        );
    }

    #[test]
    fn a_missing_required_column_fails_the_file() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("events.csv");
        std::fs::write(&path, "user_id,event_type\nu1,open\n").expect("write");
        let source = EventSource::open(&[path]).expect("open");
        let error = source
            .read(Default::default(), |_| {})
            .expect_err("no timestamp");
        assert!(
            matches!(
                error,
                Error::MissingColumn {
                    column: "timestamp",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn invalid_utf8_is_one_bad_row() {
        let mut bytes = b"user_id,timestamp,event_type\nu1,0,open\n".to_vec();
        bytes.extend_from_slice(b"u\xff,0,open\nu3,0,open\n");
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("events.csv");
        std::fs::write(&path, bytes).expect("write");
        let source = EventSource::open(&[path]).expect("open");
        let budget = crate::input::ErrorBudget {
            max_bad_fraction: 1.0,
            ..crate::input::ErrorBudget::DEFAULT
        };
        let report = source.read(budget, |_| {}).expect("within budget");
        assert_eq!((report.rows, report.events, report.bad_rows), (3, 2, 1));
        assert_eq!(report.bad_row_samples[0].line, 3);
        assert!(report.bad_row_samples[0].reason.contains("UTF-8"));
    }
}
