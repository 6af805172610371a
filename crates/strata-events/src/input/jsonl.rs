//! JSON Lines event logs: one JSON object per line, keys named like the CSV columns.
//!
//! Each line is parsed from a reused byte buffer into borrowed fields, so strings without
//! escapes are never copied before they become the event's own.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::Tally;
use super::row::{Field, RawRow, Spares};
use crate::Error;

pub(super) fn read(path: &Path, tally: &mut Tally<'_>) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    let mut line_number = 0_u64;
    let mut bytes_read = 0_u64;
    loop {
        line.clear();
        let length = reader.read_until(b'\n', &mut line).map_err(io_error)?;
        if length == 0 {
            return Ok(());
        }
        line_number += 1;
        bytes_read += length as u64;
        // Blank lines (often the last one) separate nothing and are not rows.
        if line.trim_ascii().is_empty() {
            continue;
        }
        let outcome = parse_line(&line, &mut tally.event, &mut tally.spares);
        tally.row(path, line_number, outcome);
        tally.maybe_progress(|| bytes_read);
    }
}

fn parse_line(
    line: &[u8],
    event: &mut strata_core::Event,
    spares: &mut Spares,
) -> Result<bool, String> {
    // serde would also fill a struct from an array by position; only objects name their keys.
    if !line.trim_ascii_start().starts_with(b"{") {
        return Err("malformed JSON: a line must be one JSON object".to_owned());
    }
    let object: JsonEvent<'_> =
        serde_json::from_slice(line).map_err(|error| format!("malformed JSON: {error}"))?;
    object.raw_row().fill(event, spares)
}

/// The keys of one line; unknown keys are skipped by serde.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object with user_id, timestamp and event_type")]
struct JsonEvent<'a> {
    #[serde(default, borrow)]
    user_id: JsonField<'a>,
    #[serde(default, borrow)]
    timestamp: JsonField<'a>,
    #[serde(default, borrow)]
    event_type: JsonField<'a>,
    #[serde(default, borrow)]
    amount: JsonField<'a>,
    #[serde(default, borrow)]
    currency: JsonField<'a>,
    #[serde(default, borrow)]
    channel: JsonField<'a>,
    #[serde(default, borrow)]
    benefit_id: JsonField<'a>,
    #[serde(default, borrow)]
    rating: JsonField<'a>,
}

impl JsonEvent<'_> {
    fn raw_row(&self) -> RawRow<'_> {
        RawRow {
            user_id: self.user_id.field(),
            timestamp: self.timestamp.field(),
            event_type: self.event_type.field(),
            amount: self.amount.field(),
            currency: self.currency.field(),
            channel: self.channel.field(),
            benefit_id: self.benefit_id.field(),
            rating: self.rating.field(),
        }
    }
}

/// A scalar JSON value; objects, arrays and booleans make the line bad.
#[derive(Debug, Default)]
enum JsonField<'a> {
    #[default]
    Null,
    Text(Cow<'a, str>),
    Integer(i64),
    Float(f64),
}

impl JsonField<'_> {
    fn field(&self) -> Field<'_> {
        match self {
            JsonField::Null => Field::Absent,
            JsonField::Text(text) => Field::Text(text),
            JsonField::Integer(integer) => Field::Integer(*integer),
            JsonField::Float(float) => Field::Float(*float),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonField<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

struct ScalarVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = JsonField<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string, a number or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonField::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonField::Null)
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(JsonField::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(JsonField::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(JsonField::Text(Cow::Owned(text)))
    }

    fn visit_i64<E: de::Error>(self, integer: i64) -> Result<Self::Value, E> {
        Ok(JsonField::Integer(integer))
    }

    fn visit_u64<E: de::Error>(self, integer: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(integer) {
            Ok(integer) => JsonField::Integer(integer),
            Err(_) => JsonField::Float(integer as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, float: f64) -> Result<Self::Value, E> {
        Ok(JsonField::Float(float))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{EventFields, Expected, check_file, event};
    use crate::input::Format;

    #[test]
    fn hand_written() {
        let text = r#"{"user_id":"u1","timestamp":"2024-05-01T12:00:00+08:00","event_type":"Purchase","amount":12.5,"currency":"eur","benefit_id":"B1","extra":{"nested":[1,2]}}
{"user_id": 42, "timestamp": 1714536000, "event_type": "browse", "channel": "SMS", "rating": 5, "amount": null}

{"user_id":"u\"3\"","timestamp":"1714536000123","event_type":"open","rating":"4","amount":"7","currency":""}
{"user_id":"u4","timestamp":1714536000123.0,"event_type":"open"}
{"user_id":"u5","timestamp":1714536000,"event_type":"open"
["u6", 1714536000, "open"]
{"user_id":"u7","timestamp":1714536000,"event_type":"open","rating":6}
{"user_id":"u8","timestamp":1714536000,"event_type":true}
{"user_id":"","timestamp":1714536000,"event_type":"open"}
{"user_id":"u9","event_type":"open"}
   {"user_id":"u10","timestamp":"2024-05-01T04:00:00Z","event_type":"mystery_type"}   
"#;
        check_file(
            Format::Jsonl,
            text,
            &[
                Expected::Event(
                    event("u1", 1_714_536_000_000, "purchase")
                        .amount(12.5, "EUR")
                        .benefit("B1"),
                ),
                Expected::Event(
                    event("42", 1_714_536_000_000, "browse")
                        .channel("sms")
                        .rating(5),
                ),
                Expected::Event(
                    event("u\"3\"", 1_714_536_000_123, "open")
                        .rating(4)
                        .amount_only(7.0),
                ),
                Expected::Event(event("u4", 1_714_536_000_123, "open")),
                Expected::Bad(6, "malformed JSON"),
                Expected::Bad(7, "malformed JSON"),
                Expected::Bad(8, "rating 6"),
                Expected::Bad(9, "malformed JSON"),
                Expected::Bad(10, "user_id is missing"),
                Expected::Bad(11, "timestamp is missing"),
                Expected::Event(event("u10", 1_714_536_000_000, "mystery_type")),
            ],
        );
    }

    #[test]
    fn last_line_without_newline_and_crlf() {
        let text = "{\"user_id\":\"a\",\"timestamp\":0,\"event_type\":\"open\"}\r\n{\"user_id\":\"b\",\"timestamp\":0,\"event_type\":\"like\"}";
        check_file(
            Format::Jsonl,
            text,
            &[
                Expected::Event(event("a", 0, "open")),
                Expected::Event(event("b", 0, "like")),
            ],
        );
    }
}
