//! From domain to wire: the decisions the job computed, as the contract's
//! messages. The server's opposite direction lives in `strata-server`'s
//! `convert.rs`; each edge owns its own conversion.

use strata_core::{LoyaltySatisfaction, QuadrantKind, Stage, Tier, UnixMillis, ValueAssessment};
use strata_proto::v1;

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

pub use strata_proto::millis_to_timestamp;

/// The header of a snapshot holding every profile of a run.
pub fn full_snapshot_header(
    model_version: &str,
    preset: &str,
    as_of: UnixMillis,
    created_at: prost_types::Timestamp,
    model_card: Option<v1::ModelCard>,
) -> v1::SnapshotHeader {
    v1::SnapshotHeader {
        model_version: model_version.to_owned(),
        preset: preset.to_owned(),
        as_of: Some(millis_to_timestamp(as_of)),
        created_at: Some(created_at),
        model_card,
    }
}

/// The wall clock as a protobuf Timestamp.
pub fn now_timestamp() -> prost_types::Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(std::time::Duration::ZERO);
    prost_types::Timestamp {
        seconds: since_epoch.as_secs() as i64,
        nanos: since_epoch.subsec_nanos() as i32,
    }
}
