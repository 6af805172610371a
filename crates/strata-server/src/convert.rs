//! From wire to domain: the request fields the domain judges (surfaces,
//! timestamps, a benefit's offer terms). The opposite direction, computed
//! decisions put on the wire, belongs to the job (`strata-job`'s `wire.rs`).
//!
//! Free functions rather than `From` impls: both sides are foreign to this
//! crate.

use strata_core::{Surface, UnixNanos};

use strata_proto::v1;

/// The domain's surface for a wire surface; `None` for UNSPECIFIED or a value
/// this server does not know.
pub fn surface_from_wire(surface: i32) -> Option<Surface> {
    match v1::Surface::try_from(surface).ok()? {
        v1::Surface::Unspecified => None,
        v1::Surface::Checkout => Some(Surface::Checkout),
        v1::Surface::AppHome => Some(Surface::AppHome),
        v1::Surface::Push => Some(Surface::Push),
    }
}

/// The range `google.protobuf.Timestamp` defines as valid:
/// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
pub const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// A timestamp read from outside, checked against the range the type
/// defines; the error names `field` and the bounds.
pub fn checked_timestamp(
    field: &str,
    timestamp: &prost_types::Timestamp,
) -> Result<UnixNanos, String> {
    if !TIMESTAMP_SECONDS.contains(&timestamp.seconds) {
        return Err(format!(
            "{field}.seconds {} is outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59Z ({}..={} seconds since the epoch)",
            timestamp.seconds,
            TIMESTAMP_SECONDS.start(),
            TIMESTAMP_SECONDS.end()
        ));
    }
    if !(0..1_000_000_000).contains(&timestamp.nanos) {
        return Err(format!(
            "{field}.nanos {} is outside 0..=999999999",
            timestamp.nanos
        ));
    }
    Ok(timestamp_to_nanos(timestamp))
}

/// Every timestamp a profile carries (its benefits' validity and its
/// campaign arms' windows, which GetOffers acts on; when it was computed and
/// the last purchase day), checked; the error names the first bad field,
/// e.g. `benefits[2].valid_until.seconds`.
pub fn check_profile_timestamps(profile: &v1::Profile) -> Result<(), String> {
    // Runs per ingested and reloaded record: the field's name is written out
    // only for an error.
    fn check(
        timestamp: &Option<prost_types::Timestamp>,
        field: impl FnOnce() -> String,
    ) -> Result<(), String> {
        match timestamp {
            Some(timestamp)
                if !TIMESTAMP_SECONDS.contains(&timestamp.seconds)
                    || !(0..1_000_000_000).contains(&timestamp.nanos) =>
            {
                checked_timestamp(&field(), timestamp).map(drop)
            }
            _ => Ok(()),
        }
    }
    check(&profile.computed_at, || "computed_at".into())?;
    check(&profile.last_purchase_at, || "last_purchase_at".into())?;
    for (index, benefit) in profile.benefits.iter().enumerate() {
        check(&benefit.valid_from, || {
            format!("benefits[{index}].valid_from")
        })?;
        check(&benefit.valid_until, || {
            format!("benefits[{index}].valid_until")
        })?;
    }
    for (index, arm) in profile.campaigns.iter().enumerate() {
        check(&arm.start, || format!("campaigns[{index}].start"))?;
        check(&arm.end, || format!("campaigns[{index}].end"))?;
    }
    Ok(())
}

pub fn timestamp_to_nanos(timestamp: &prost_types::Timestamp) -> UnixNanos {
    i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos)
}

/// The parts of a benefit that decide whether it may be offered.
pub fn benefit_terms(benefit: &v1::Benefit) -> strata_core::OfferTerms<'_> {
    strata_core::OfferTerms {
        currency: &benefit.currency,
        minimum_spend: benefit.minimum_spend,
        valid_from: benefit.valid_from.as_ref().map(timestamp_to_nanos),
        valid_until: benefit.valid_until.as_ref().map(timestamp_to_nanos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces() {
        assert_eq!(surface_from_wire(0), None);
        assert_eq!(surface_from_wire(1), Some(Surface::Checkout));
        assert_eq!(surface_from_wire(3), Some(Surface::Push));
        assert_eq!(surface_from_wire(99), None);
    }

    #[test]
    fn timestamps_are_checked_against_the_types_range() {
        let at = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        assert_eq!(checked_timestamp("t", &at(0, 0)), Ok(0));
        assert!(checked_timestamp("t", &at(253_402_300_799, 999_999_999)).is_ok());
        assert!(checked_timestamp("t", &at(-62_135_596_800, 0)).is_ok());
        let far = checked_timestamp("context.request_time", &at(1 << 62, 0)).unwrap_err();
        assert!(far.starts_with("context.request_time.seconds 4611686018427387904 is outside"));
        assert!(checked_timestamp("t", &at(-62_135_596_801, 0)).is_err());
        let nanos = checked_timestamp("t", &at(0, -1)).unwrap_err();
        assert!(nanos.starts_with("t.nanos -1 is outside"), "{nanos}");
        assert!(checked_timestamp("t", &at(0, 1_000_000_000)).is_err());

        let mut profile = v1::Profile::default();
        profile.benefits.push(v1::Benefit::default());
        profile.benefits.push(v1::Benefit {
            valid_until: Some(at(i64::MAX, 0)),
            ..v1::Benefit::default()
        });
        let error = check_profile_timestamps(&profile).unwrap_err();
        assert!(
            error.starts_with("benefits[1].valid_until.seconds"),
            "{error}"
        );
        profile.benefits.pop();
        assert_eq!(check_profile_timestamps(&profile), Ok(()));
    }

    #[test]
    fn timestamps_before_the_epoch_stay_ordered() {
        let before = prost_types::Timestamp {
            seconds: -1,
            nanos: 500_000_000,
        };
        assert_eq!(timestamp_to_nanos(&before), -500_000_000);
    }
}
