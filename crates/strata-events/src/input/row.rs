//! One row as a format hands it over, and the rules that turn it into an [`Event`] or a reason.
//!
//! Every format reader fills a [`RawRow`] of borrowed [`Field`]s, so the validation and
//! normalisation (trimming, case, empty means absent) are written once.

use strata_core::{Event, UnixMillis};

use super::quote::shorten;
use super::timestamp;

/// One cell, typed as far as its format knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Field<'a> {
    Absent,
    Text(&'a str),
    Integer(i64),
    Float(f64),
    /// A value its format already typed as an instant (Parquet timestamps).
    Millis(UnixMillis),
}

/// The columns an event is made of; a column a file lacks is [`Field::Absent`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRow<'a> {
    pub user_id: Field<'a>,
    pub timestamp: Field<'a>,
    pub event_type: Field<'a>,
    pub amount: Field<'a>,
    pub currency: Field<'a>,
    pub channel: Field<'a>,
    pub benefit_id: Field<'a>,
    pub rating: Field<'a>,
}

impl RawRow<'_> {
    /// The event, or why this row is bad.
    #[cfg(test)]
    pub fn into_event(self) -> Result<Event, String> {
        let mut event = empty_event();
        self.fill(&mut event, &mut Spares::default())?;
        Ok(event)
    }

    /// Writes this row's event into `event`, reusing its strings' buffers (and those in
    /// `spares` for optional strings an earlier row lacked) so a read allocates nothing per
    /// row; or says why the row is bad (then `event` holds a partial row).
    /// True when the user id is the one `event` held already.
    pub fn fill(self, event: &mut Event, spares: &mut Spares) -> Result<bool, String> {
        let user = fill_text(&mut event.user_id, self.user_id, "user_id", Case::Keep)?;
        if user == Filled::Absent {
            return Err(missing("user_id"));
        }
        event.at = timestamp_of(self.timestamp)?;
        if fill_text(&mut event.kind, self.event_type, "event_type", Case::Lower)? == Filled::Absent
        {
            return Err(missing("event_type"));
        }
        event.amount = amount_of(self.amount)?;
        let [currency, channel, benefit_id] = &mut spares.0;
        fill_optional(
            &mut event.currency,
            currency,
            self.currency,
            "currency",
            Case::Upper,
        )?;
        fill_optional(
            &mut event.channel,
            channel,
            self.channel,
            "channel",
            Case::Lower,
        )?;
        fill_optional(
            &mut event.benefit_id,
            benefit_id,
            self.benefit_id,
            "benefit_id",
            Case::Keep,
        )?;
        event.rating = rating_of(self.rating)?;
        Ok(user == Filled::Kept)
    }
}

/// The buffers of an event's optional strings (currency, channel, benefit id) while the
/// event lacks them.
#[derive(Debug, Default)]
pub(crate) struct Spares([String; 3]);

/// An event with empty fields, the buffer [`RawRow::fill`] writes into.
pub(crate) fn empty_event() -> Event {
    Event {
        user_id: String::new(),
        at: 0,
        kind: String::new(),
        amount: None,
        currency: None,
        channel: None,
        benefit_id: None,
        rating: None,
    }
}

fn missing(column: &str) -> String {
    format!("{column} is missing or empty")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// What [`fill_text`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filled {
    /// The field is absent or empty.
    Absent,
    /// The text was there already.
    Kept,
    Copied,
}

/// Text, trimmed and cased, into `into`; integers are accepted as their decimal text because
/// ids often are numbers.
fn fill_text(
    into: &mut String,
    field: Field<'_>,
    column: &str,
    case: Case,
) -> Result<Filled, String> {
    match field {
        Field::Absent => {
            into.clear();
            Ok(Filled::Absent)
        }
        Field::Text(text) => {
            let text = text.trim();
            if text.is_empty() {
                into.clear();
                return Ok(Filled::Absent);
            }
            // Most rows repeat the last row's user and type: compare instead of copying.
            if same_text(into, text, case) {
                return Ok(Filled::Kept);
            }
            into.clear();
            // ASCII case mapping is what `to_lowercase` does to ASCII text, without a new
            // String; other text takes the full Unicode mapping.
            match case {
                Case::Keep => into.push_str(text),
                Case::Lower if text.is_ascii() => {
                    into.push_str(text);
                    into.make_ascii_lowercase();
                }
                Case::Upper if text.is_ascii() => {
                    into.push_str(text);
                    into.make_ascii_uppercase();
                }
                Case::Lower => into.push_str(&text.to_lowercase()),
                Case::Upper => into.push_str(&text.to_uppercase()),
            }
            Ok(Filled::Copied)
        }
        Field::Integer(integer) => {
            use std::fmt::Write as _;
            into.clear();
            let _ = write!(into, "{integer}");
            Ok(Filled::Copied)
        }
        Field::Float(_) | Field::Millis(_) => {
            into.clear();
            Err(format!(
                "{column} must be text or an integer, not a fractional number or time"
            ))
        }
    }
}

/// True when `text` cased as `case` is already `current`; false for non-ASCII text with a
/// case mapping to make, which is always copied.
fn same_text(current: &str, text: &str, case: Case) -> bool {
    if current.len() != text.len() {
        return false;
    }
    match case {
        Case::Keep => current == text,
        Case::Lower => current
            .bytes()
            .zip(text.bytes())
            .all(|(have, new)| new.is_ascii() && have == new.to_ascii_lowercase()),
        Case::Upper => current
            .bytes()
            .zip(text.bytes())
            .all(|(have, new)| new.is_ascii() && have == new.to_ascii_uppercase()),
    }
}

/// [`fill_text`] into an optional string; its buffer waits in `spare` while it is absent.
fn fill_optional(
    into: &mut Option<String>,
    spare: &mut String,
    field: Field<'_>,
    column: &str,
    case: Case,
) -> Result<(), String> {
    if field == Field::Absent {
        if let Some(buffer) = into.take() {
            *spare = buffer;
        }
        return Ok(());
    }
    let mut buffer = into.take().unwrap_or_else(|| std::mem::take(spare));
    let filled = fill_text(&mut buffer, field, column, case);
    if matches!(filled, Ok(Filled::Kept | Filled::Copied)) {
        *into = Some(buffer);
    } else {
        *spare = buffer;
    }
    filled.map(|_| ())
}

fn timestamp_of(field: Field<'_>) -> Result<UnixMillis, String> {
    match field {
        Field::Absent => Err("timestamp is missing or empty".to_owned()),
        Field::Text(text) if text.trim().is_empty() => {
            Err("timestamp is missing or empty".to_owned())
        }
        Field::Text(text) => timestamp::parse_text(text),
        Field::Integer(integer) => Ok(timestamp::from_epoch_integer(integer)),
        Field::Float(float) => timestamp::from_epoch_float(float),
        Field::Millis(millis) => Ok(millis),
    }
}

fn amount_of(field: Field<'_>) -> Result<Option<f64>, String> {
    let amount = match field {
        Field::Absent => return Ok(None),
        Field::Text(text) if text.trim().is_empty() => return Ok(None),
        Field::Text(text) => text
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("amount `{}` is not a number", shorten(text)))?,
        Field::Integer(integer) => integer as f64,
        Field::Float(float) => float,
        Field::Millis(_) => return Err("amount must be a number, not a time".to_owned()),
    };
    if !amount.is_finite() {
        return Err(format!("amount {amount} is not a finite number"));
    }
    Ok(Some(amount))
}

fn rating_of(field: Field<'_>) -> Result<Option<u8>, String> {
    let rating = match field {
        Field::Absent => return Ok(None),
        Field::Text(text) if text.trim().is_empty() => return Ok(None),
        Field::Text(text) => {
            let text = text.trim();
            match text.parse::<i64>() {
                Ok(integer) => integer as f64,
                // Tools that write integer columns with gaps as floats give `4.0`.
                Err(_) => text
                    .parse::<f64>()
                    .map_err(|_| format!("rating `{}` is not an integer", shorten(text)))?,
            }
        }
        Field::Integer(integer) => integer as f64,
        Field::Float(float) => float,
        Field::Millis(_) => return Err("rating must be an integer, not a time".to_owned()),
    };
    if rating.fract() != 0.0 || !(1.0..=5.0).contains(&rating) {
        return Err(format!("rating {rating} is not an integer in 1..=5"));
    }
    Ok(Some(rating as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSENT: RawRow<'static> = RawRow {
        user_id: Field::Absent,
        timestamp: Field::Absent,
        event_type: Field::Absent,
        amount: Field::Absent,
        currency: Field::Absent,
        channel: Field::Absent,
        benefit_id: Field::Absent,
        rating: Field::Absent,
    };

    fn row<'a>(user_id: Field<'a>, timestamp: Field<'a>, event_type: Field<'a>) -> RawRow<'a> {
        RawRow {
            user_id,
            timestamp,
            event_type,
            ..ABSENT
        }
    }

    #[track_caller]
    fn check_bad(raw: RawRow<'_>, reason_contains: &str) {
        match raw.into_event() {
            Ok(event) => panic!("expected a bad row, got {event:?}"),
            Err(reason) => assert!(
                reason.contains(reason_contains),
                "reason `{reason}` lacks `{reason_contains}`"
            ),
        }
    }

    #[test]
    fn normalises_case_and_whitespace() {
        let raw = RawRow {
            amount: Field::Text(" 12.50 "),
            currency: Field::Text("eur"),
            channel: Field::Text("APP_PUSH"),
            benefit_id: Field::Text("B-7"),
            rating: Field::Text("4.0"),
            ..row(
                Field::Text(" u1 "),
                Field::Integer(1_714_536_000),
                Field::Text("Purchase"),
            )
        };
        let expected = Event {
            user_id: "u1".into(),
            at: 1_714_536_000_000,
            kind: "purchase".into(),
            amount: Some(12.5),
            currency: Some("EUR".into()),
            channel: Some("app_push".into()),
            benefit_id: Some("B-7".into()),
            rating: Some(4),
        };
        assert_eq!(raw.into_event(), Ok(expected));
    }

    #[test]
    fn empty_optionals_are_absent() {
        let raw = RawRow {
            amount: Field::Text(""),
            currency: Field::Text(" "),
            channel: Field::Absent,
            benefit_id: Field::Text(""),
            rating: Field::Text(""),
            ..row(Field::Integer(42), Field::Millis(7), Field::Text("browse"))
        };
        let event = raw.into_event().expect("a good row");
        assert_eq!(event.user_id, "42");
        assert_eq!(event.at, 7);
        assert_eq!(
            (
                event.amount,
                event.currency,
                event.channel,
                event.benefit_id,
                event.rating
            ),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn bad_rows_say_why() {
        let good = row(Field::Text("u1"), Field::Integer(0), Field::Text("open"));
        let cases: Vec<(RawRow<'_>, &str)> = vec![
            (
                RawRow {
                    user_id: Field::Absent,
                    ..good
                },
                "user_id is missing",
            ),
            (
                RawRow {
                    user_id: Field::Text("  "),
                    ..good
                },
                "user_id is missing",
            ),
            (
                RawRow {
                    user_id: Field::Float(1.5),
                    ..good
                },
                "user_id must be text",
            ),
            (
                RawRow {
                    event_type: Field::Text(""),
                    ..good
                },
                "event_type is missing",
            ),
            (
                RawRow {
                    timestamp: Field::Absent,
                    ..good
                },
                "timestamp is missing",
            ),
            (
                RawRow {
                    timestamp: Field::Text("soon"),
                    ..good
                },
                "timestamp `soon`",
            ),
            (
                RawRow {
                    amount: Field::Text("12,50"),
                    ..good
                },
                "amount `12,50`",
            ),
            (
                RawRow {
                    amount: Field::Text("NaN"),
                    ..good
                },
                "not a finite number",
            ),
            (
                RawRow {
                    rating: Field::Integer(6),
                    ..good
                },
                "rating 6",
            ),
            (
                RawRow {
                    rating: Field::Integer(0),
                    ..good
                },
                "rating 0",
            ),
            (
                RawRow {
                    rating: Field::Text("4.5"),
                    ..good
                },
                "rating 4.5",
            ),
            (
                RawRow {
                    rating: Field::Text("good"),
                    ..good
                },
                "rating `good`",
            ),
        ];
        for (raw, reason) in cases {
            check_bad(raw, reason);
        }
    }
}
