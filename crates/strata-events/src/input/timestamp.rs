//! Timestamps as logs write them (RFC 3339 text, epoch seconds or milliseconds) to UTC millis.
//!
//! Kept apart because all three formats share the rule that tells seconds from milliseconds,
//! and the writers share the text form.
//!
//! The rule: an epoch number `n` with `|n| >= 100_000_000_000` is milliseconds, anything
//! smaller is seconds. 10^11 seconds is the year 5138, 10^11 milliseconds is 1973-03-03, so
//! the two readings never overlap for events after March 1973. Sub-millisecond precision
//! (RFC 3339 fractions, fractional milliseconds) is truncated towards the past.

use chrono::{DateTime, SecondsFormat};
use strata_core::UnixMillis;

/// Epoch numbers at least this large in magnitude are milliseconds, smaller ones seconds.
pub const EPOCH_MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Reads RFC 3339 (`2024-05-01T12:00:00+08:00`, `T` or space) or an epoch number in text.
pub fn parse_text(text: &str) -> Result<UnixMillis, String> {
    let text = text.trim();
    if let Ok(integer) = text.parse::<i64>() {
        return Ok(from_epoch_integer(integer));
    }
    if let Ok(float) = text.parse::<f64>()
        && float.is_finite()
    {
        return from_epoch_float(float);
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(moment) => Ok(moment.timestamp_millis()),
        Err(_) => Err(format!(
            "timestamp `{}` is neither RFC 3339 with an offset nor epoch seconds or milliseconds",
            super::quote::shorten(text)
        )),
    }
}

pub fn from_epoch_integer(value: i64) -> UnixMillis {
    if value.unsigned_abs() >= EPOCH_MILLIS_THRESHOLD as u64 {
        value
    } else {
        // Cannot overflow: |value| < 10^11, so |value * 1000| < 10^14.
        value * 1000
    }
}

pub fn from_epoch_float(value: f64) -> Result<UnixMillis, String> {
    if !value.is_finite() {
        return Err(format!("timestamp {value} is not a finite number"));
    }
    let millis = if value.abs() >= EPOCH_MILLIS_THRESHOLD as f64 {
        value
    } else {
        value * 1000.0
    };
    // Rounding first: 1700000000.123 seconds times 1000 is 1700000000122.9998 in binary.
    let millis = (millis * 1000.0).round() / 1000.0;
    let millis = millis.floor();
    // i64::MAX as f64 rounds up to 2^63, so the upper bound must be exclusive.
    if millis < i64::MIN as f64 || millis >= i64::MAX as f64 {
        return Err(format!("timestamp {value} is out of range"));
    }
    Ok(millis as i64)
}

/// `2024-05-01T04:00:00.000Z`: UTC with milliseconds, so text round-trips exactly.
pub fn format_rfc3339(at: UnixMillis) -> Option<String> {
    let moment = DateTime::from_timestamp_millis(at)?;
    Some(moment.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Result<UnixMillis, ()>) {
        assert_eq!(
            parse_text(text).map_err(|_| ()),
            expected,
            "parsing `{text}`"
        );
    }

    #[test]
    fn text_forms() {
        let cases: &[(&str, Result<UnixMillis, ()>)] = &[
            ("2024-05-01T04:00:00Z", Ok(1_714_536_000_000)),
            ("2024-05-01T04:00:00.000Z", Ok(1_714_536_000_000)),
            ("2024-05-01T12:00:00+08:00", Ok(1_714_536_000_000)),
            ("2024-04-30T23:00:00-05:00", Ok(1_714_536_000_000)),
            ("2024-05-01 04:00:00z", Ok(1_714_536_000_000)),
            ("2024-05-01T04:00:00.1239Z", Ok(1_714_536_000_123)),
            (" 2024-05-01T04:00:00Z ", Ok(1_714_536_000_000)),
            ("1969-12-31T23:59:59.9995Z", Ok(-1)),
            // Epoch seconds and milliseconds, as text.
            ("1714536000", Ok(1_714_536_000_000)),
            ("1714536000123", Ok(1_714_536_000_123)),
            ("1714536000.5", Ok(1_714_536_000_500)),
            ("1700000000.123", Ok(1_700_000_000_123)),
            ("0", Ok(0)),
            ("-86400", Ok(-86_400_000)),
            // Just under and at the threshold.
            ("99999999999", Ok(99_999_999_999_000)),
            ("100000000000", Ok(100_000_000_000)),
            // Not timestamps.
            ("", Err(())),
            ("yesterday", Err(())),
            ("2024-05-01", Err(())),
            ("2024-05-01T04:00:00", Err(())),
            ("NaN", Err(())),
            ("inf", Err(())),
            ("1e300", Err(())),
        ];
        for &(text, expected) in cases {
            check(text, expected);
        }
    }

    #[test]
    fn epoch_numbers() {
        assert_eq!(from_epoch_integer(1_714_536_000), 1_714_536_000_000);
        assert_eq!(from_epoch_integer(1_714_536_000_000), 1_714_536_000_000);
        assert_eq!(from_epoch_integer(-100_000_000_000), -100_000_000_000);
        assert_eq!(from_epoch_integer(i64::MIN), i64::MIN);
        assert_eq!(from_epoch_float(1_714_536_000.0), Ok(1_714_536_000_000));
        assert_eq!(from_epoch_float(1_714_536_000_123.0), Ok(1_714_536_000_123));
        assert!(from_epoch_float(f64::NAN).is_err());
        assert!(from_epoch_float(1e30).is_err());
    }

    #[test]
    fn formatted_text_reads_back() {
        for at in [0, 1_714_536_000_123, -1, -62_135_596_800_000] {
            let text = format_rfc3339(at).expect("in chrono's range");
            assert_eq!(parse_text(&text), Ok(at), "{text}");
        }
        assert_eq!(
            format_rfc3339(1_714_536_000_000).as_deref(),
            Some("2024-05-01T04:00:00.000Z")
        );
        assert_eq!(format_rfc3339(i64::MAX), None);
    }
}
