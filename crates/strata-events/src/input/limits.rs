//! What makes a well-formed row bad anyway: a time outside the window a run can describe, an
//! amount over the ceiling, a user id the service would refuse.
//!
//! Kept apart from `row.rs` because these rules depend on the run (its as-of time, its
//! ceiling), not on the format, and every format's events pass them in one place
//! (`Tally::row`), so no reader can forget one.

use strata_core::history::MILLIS_PER_DAY;
use strata_core::{Event, UnixMillis, validate_user_id};

use super::timestamp::format_rfc3339;
use crate::Error;

/// The earliest event time accepted, 1970-01-01T00:00:00Z: earlier times in an event log are
/// corrupt dates (`0001-01-01`, a zero year), not history.
pub const EARLIEST_EVENT: UnixMillis = 0;

/// The latest as-of time a run accepts, 2100-01-01T00:00:00Z (exclusive of nothing: this very
/// instant is accepted).
pub const LATEST_AS_OF: UnixMillis = 4_102_444_800_000;

/// How far past the as-of time an event may lie and still be a good row (ignored by the job as
/// "after as-of"): clocks and time zones put some events a few hours ahead.
pub const FUTURE_SLACK: UnixMillis = MILLIS_PER_DAY;

/// The default ceiling on an event's amount (in absolute value): ten million in the event's
/// currency, far above any one retail, subscription or investment transaction we model, far
/// below the values (`1e308`) that overflow a sum.
pub const DEFAULT_MAX_AMOUNT: f64 = 10_000_000.0;

/// The per-row rules that depend on the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowLimits {
    /// The earliest good event time (inclusive).
    pub earliest: UnixMillis,
    /// The latest good event time (inclusive): a day after `anchor`.
    pub latest: UnixMillis,
    /// What `latest` is a day after, for the bad row's reason.
    pub anchor: Anchor,
    /// The largest good `|amount|`.
    pub max_amount: f64,
}

/// The moment the latest good event time is a day after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The run's as-of time.
    AsOf,
    /// The time the run started, later than its as-of time: events between
    /// the two are real (a run as of a past day over today's logs) and only
    /// ignored, while later ones cannot have happened yet.
    Now,
    /// [`LATEST_AS_OF`], for reads that have no as-of time.
    LatestAsOf,
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Anchor::AsOf => "the as-of time",
            Anchor::Now => "now,",
            Anchor::LatestAsOf => "the latest as-of time",
        })
    }
}

impl RowLimits {
    /// Without a run's as-of time: events from 1970 to a day after [`LATEST_AS_OF`].
    pub const DEFAULT: RowLimits = RowLimits {
        earliest: EARLIEST_EVENT,
        latest: LATEST_AS_OF + FUTURE_SLACK,
        anchor: Anchor::LatestAsOf,
        max_amount: DEFAULT_MAX_AMOUNT,
    };

    /// The limits of a run as of `as_of`: events from 1970 to a day after it. Check `as_of`
    /// with [`check_as_of`] first.
    pub fn for_as_of(as_of: UnixMillis) -> RowLimits {
        RowLimits {
            latest: as_of.saturating_add(FUTURE_SLACK),
            anchor: Anchor::AsOf,
            ..RowLimits::DEFAULT
        }
    }

    /// The limits of a run as of `as_of` started at `now`: as
    /// [`RowLimits::for_as_of`], except that a run as of a past time keeps
    /// events up to a day after `now` as good rows (ignored as after as-of),
    /// so a run as of last month over today's logs is no pile of bad rows.
    pub fn for_run(as_of: UnixMillis, now: UnixMillis) -> RowLimits {
        if now <= as_of {
            return RowLimits::for_as_of(as_of);
        }
        RowLimits {
            latest: now.saturating_add(FUTURE_SLACK),
            anchor: Anchor::Now,
            ..RowLimits::DEFAULT
        }
    }

    /// These limits with another amount ceiling.
    pub fn with_max_amount(self, max_amount: f64) -> RowLimits {
        RowLimits { max_amount, ..self }
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        if !(self.max_amount.is_finite() && self.max_amount > 0.0) {
            return Err(Error::InvalidMaxAmount(self.max_amount));
        }
        Ok(())
    }

    /// Why `event` is a bad row under these limits, if it is.
    #[cfg(test)]
    pub(super) fn check(&self, event: &Event) -> Result<(), String> {
        self.check_known_user(event, false)
    }

    /// [`RowLimits::check`], skipping the user id when `user_known` (the same id already
    /// passed on an earlier row).
    pub(super) fn check_known_user(&self, event: &Event, user_known: bool) -> Result<(), String> {
        if !user_known {
            check_user_id(&event.user_id)?;
        }
        if event.at < self.earliest {
            return Err(format!(
                "timestamp {} is before {}",
                describe(event.at),
                describe(self.earliest)
            ));
        }
        if event.at > self.latest {
            return Err(format!(
                "timestamp {} is more than a day after {} {}",
                describe(event.at),
                self.anchor,
                describe(self.latest.saturating_sub(FUTURE_SLACK))
            ));
        }
        if let Some(amount) = event.amount
            && amount.abs() > self.max_amount
        {
            return Err(format!(
                "amount {} is above the amount ceiling {}",
                short_number(amount),
                short_number(self.max_amount)
            ));
        }
        Ok(())
    }
}

impl Default for RowLimits {
    fn default() -> Self {
        RowLimits::DEFAULT
    }
}

/// Refuses an as-of time outside 1970-01-01 ..= 2100-01-01 (UTC): anything else is a typo, and
/// a far one would make every span-sized summary needlessly long.
pub fn check_as_of(as_of: UnixMillis) -> Result<(), Error> {
    if (EARLIEST_EVENT..=LATEST_AS_OF).contains(&as_of) {
        return Ok(());
    }
    Err(Error::AsOfOutOfRange {
        as_of: describe(as_of),
        earliest: describe(EARLIEST_EVENT),
        latest: describe(LATEST_AS_OF),
    })
}

/// The service's own rule (empty, longer than 256 bytes) plus no control characters: a NUL or
/// a line break in an id is a corrupt field, and an id nobody can type is no use to serve.
fn check_user_id(user_id: &str) -> Result<(), String> {
    validate_user_id(user_id).map_err(|error| format!("user_id: {error}"))?;
    if let Some((position, character)) = user_id
        .char_indices()
        .find(|(_, character)| character.is_control())
    {
        return Err(format!(
            "user_id holds the control character U+{:04X} at byte {position}",
            u32::from(character)
        ));
    }
    Ok(())
}

/// A number as one short word: `1e308`, not 309 digits.
fn short_number(value: f64) -> String {
    if value.abs() >= 1e15 {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// RFC 3339 when chrono can write it, else the raw milliseconds.
fn describe(at: UnixMillis) -> String {
    format_rfc3339(at).unwrap_or_else(|| format!("{at} ms since 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AS_OF: UnixMillis = 1_735_689_600_000; // 2025-01-01T00:00:00Z

    #[track_caller]
    fn check(event: Event, expected: Result<(), &str>) {
        let limits = RowLimits::for_as_of(AS_OF);
        match (limits.check(&event), expected) {
            (Ok(()), Ok(())) => {}
            (Err(reason), Err(piece)) => {
                assert!(reason.contains(piece), "`{reason}` lacks `{piece}`")
            }
            (got, expected) => panic!("{event:?}: got {got:?}, expected {expected:?}"),
        }
    }

    fn purchase(user_id: &str, at: UnixMillis, amount: f64) -> Event {
        Event {
            amount: Some(amount),
            ..Event::new(user_id, at, "purchase")
        }
    }

    #[test]
    fn the_window_is_1970_to_a_day_after_as_of() {
        check(purchase("u", 0, 1.0), Ok(()));
        check(purchase("u", AS_OF + MILLIS_PER_DAY, 1.0), Ok(()));
        check(
            purchase("u", -1, 1.0),
            Err("timestamp 1969-12-31T23:59:59.999Z is before 1970-01-01T00:00:00.000Z"),
        );
        // 0001-01-01T00:00:00Z
        check(purchase("u", -62_135_596_800_000, 1.0), Err("0001-01-01"));
        check(
            purchase("u", AS_OF + MILLIS_PER_DAY + 1, 1.0),
            Err("more than a day after the as-of time 2025-01-01T00:00:00.000Z"),
        );
        check(purchase("u", i64::MAX, 1.0), Err("ms since 1970"));
    }

    #[test]
    fn a_run_as_of_a_past_day_keeps_events_up_to_a_day_after_now() {
        let now = AS_OF + 30 * MILLIS_PER_DAY;
        let limits = RowLimits::for_run(AS_OF, now);
        assert!(
            limits
                .check(&purchase("u", AS_OF + MILLIS_PER_DAY * 10, 1.0))
                .is_ok()
        );
        assert!(
            limits
                .check(&purchase("u", now + MILLIS_PER_DAY, 1.0))
                .is_ok()
        );
        let reason = limits
            .check(&purchase("u", now + MILLIS_PER_DAY + 1, 1.0))
            .expect_err("after now");
        assert!(
            reason.contains("is more than a day after now, 2025-01-31T00:00:00.000Z"),
            "{reason}"
        );
        // A run as of a future time is bounded by its as-of time alone.
        assert_eq!(
            RowLimits::for_run(AS_OF, AS_OF - 1),
            RowLimits::for_as_of(AS_OF)
        );
    }

    #[test]
    fn amounts_over_the_ceiling_either_way_are_bad() {
        check(purchase("u", AS_OF, DEFAULT_MAX_AMOUNT), Ok(()));
        check(purchase("u", AS_OF, -DEFAULT_MAX_AMOUNT), Ok(()));
        check(purchase("u", AS_OF, 1e308), Err("amount 1e308 is above"));
        check(purchase("u", AS_OF, -2e7), Err("amount -20000000 is above"));
        let lower = RowLimits::for_as_of(AS_OF).with_max_amount(100.0);
        assert!(lower.check(&purchase("u", AS_OF, 100.5)).is_err());
        assert!(lower.validate().is_ok());
        for invalid in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                lower.with_max_amount(invalid).validate().is_err(),
                "{invalid}"
            );
        }
    }

    #[test]
    fn ids_the_service_would_refuse_are_bad() {
        check(purchase(&"x".repeat(256), AS_OF, 1.0), Ok(()));
        check(purchase("ü-用户", AS_OF, 1.0), Ok(()));
        check(
            purchase(&"x".repeat(300), AS_OF, 1.0),
            Err("user id is 300 bytes, the limit is 256"),
        );
        check(purchase("a\0b", AS_OF, 1.0), Err("U+0000 at byte 1"));
        check(purchase("a\u{7f}", AS_OF, 1.0), Err("U+007F"));
        check(purchase("a\u{85}b", AS_OF, 1.0), Err("U+0085"));
        check(purchase("", AS_OF, 1.0), Err("user id is empty"));
    }

    #[test]
    fn as_of_is_bounded() {
        assert!(check_as_of(0).is_ok());
        assert!(check_as_of(AS_OF).is_ok());
        assert!(check_as_of(LATEST_AS_OF).is_ok());
        let error = check_as_of(253_402_214_400_000).expect_err("9999-12-31");
        let message = error.to_string();
        assert!(message.contains("9999-12-31"), "{message}");
        assert!(message.contains("2100-01-01"), "{message}");
        assert!(check_as_of(-1).is_err());
    }
}
