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
    fn timestamps_before_the_epoch_stay_ordered() {
        let before = prost_types::Timestamp {
            seconds: -1,
            nanos: 500_000_000,
        };
        assert_eq!(timestamp_to_nanos(&before), -500_000_000);
    }
}
