//! CSV event logs: a header line naming the columns, then one event per record.
//!
//! Records are read one at a time into a reused buffer, as bytes, so a field that is not UTF-8
//! makes one bad row rather than a failed file.

use std::fs::File;
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
    let csv_error = |source| Error::Csv {
        path: path.to_owned(),
        source,
    };
    // Flexible, so a record with the wrong number of fields is a bad row we report ourselves.
    let mut reader = ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(file);
    let header = reader.byte_headers().map_err(csv_error)?.clone();
    let names: Vec<String> = header
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    let columns = Columns::locate(path, &names)?;

    let mut record = ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |position| position.line());
        let outcome = if record.len() == header.len() {
            columns.raw_row(&record).and_then(|raw| raw.into_event())
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
                    \"u,3\",1714536000123,\"multi\nline\",,,,,,\n\
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
                Expected::Event(event("u,3", 1_714_536_000_123, "multi\nline")),
                Expected::Bad(6, "expected 9 fields"),
                Expected::Bad(7, "user_id is missing"),
                Expected::Bad(8, "rating 9"),
                Expected::Bad(9, "timestamp `tomorrow`"),
                Expected::Bad(10, "amount `ten`"),
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
        };
        let report = source.read(budget, |_| {}).expect("within budget");
        assert_eq!((report.rows, report.events, report.bad_rows), (3, 2, 1));
        assert_eq!(report.bad_row_samples[0].line, 3);
        assert!(report.bad_row_samples[0].reason.contains("UTF-8"));
    }
}
