//! Conversions between wire and domain types: the request fields the domain
//! judges, and the computed decisions the recompute job puts on the wire.
//!
//! Free functions rather than `From` impls: both sides are foreign to this
//! crate since the generated types moved to `strata-proto`.

use strata_core::{
    LoyaltySatisfaction, QuadrantKind, Stage, Surface, Tier, UnixNanos, ValueAssessment,
};

use super::v1;

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

pub fn tier_to_wire(tier: Tier) -> v1::Tier {
    match tier {
        Tier::High => v1::Tier::High,
        Tier::Medium => v1::Tier::Medium,
        Tier::Low => v1::Tier::Low,
    }
}

pub fn value_tier_to_wire(value: &ValueAssessment) -> v1::ValueTier {
    v1::ValueTier {
        tier: tier_to_wire(value.tier).into(),
        recency_score: value.recency_score.into(),
        frequency_score: value.frequency_score.into(),
        monetary_score: value.monetary_score.into(),
        rfm_segment: value.segment.to_owned(),
    }
}

pub fn quadrant_kind_to_wire(kind: QuadrantKind) -> v1::QuadrantKind {
    match kind {
        QuadrantKind::Angel => v1::QuadrantKind::Angel,
        QuadrantKind::Freeloader => v1::QuadrantKind::Freeloader,
        QuadrantKind::Hostage => v1::QuadrantKind::Hostage,
        QuadrantKind::Danger => v1::QuadrantKind::Danger,
    }
}

/// `kind` is `None` for a user without satisfaction signal: the wire then
/// says UNSPECIFIED and carries no satisfaction score.
pub fn quadrant_to_wire(scores: &LoyaltySatisfaction, kind: Option<QuadrantKind>) -> v1::Quadrant {
    v1::Quadrant {
        kind: kind
            .map_or(v1::QuadrantKind::Unspecified, quadrant_kind_to_wire)
            .into(),
        loyalty_score: scores.loyalty,
        satisfaction_score: scores.satisfaction,
    }
}

pub fn lifecycle_to_wire(preset: &str, stage: &Stage<'_>) -> v1::Lifecycle {
    v1::Lifecycle {
        preset: preset.to_owned(),
        layer: stage.layer.to_owned(),
        layer_index: stage.layer_index,
        churned: stage.churned,
        churn_label: stage.churn_label.unwrap_or_default().to_owned(),
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
