//! Synthetic profiles for the serving benchmarks (`store_lookup`,
//! `side_by_side`), built directly without events.
//!
//! These records are plausible but invented; the `demo` command does not use
//! them: it generates events and runs the recompute job. Benchmarks need a
//! large population in seconds, which this gives.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use strata_proto::v1::{
    Benefit, BenefitKind, Channel, ChannelScore, ContactChannel, Lifecycle, LifetimeValue, Profile,
    Quadrant, QuadrantKind, Tier, ValueTier,
};

/// The retail preset's layers, in order.
const RETAIL_LAYERS: [&str; 5] = ["potential", "new", "growth", "mature", "declining"];
/// Share of users per layer: a pyramid with a wide base.
const LAYER_WEIGHTS: [f64; 5] = [0.35, 0.25, 0.18, 0.14, 0.08];

/// The id of the `index`-th demo user; fixed width so ids sort in index order.
pub fn demo_user_id(index: u64) -> String {
    format!("user-{index:08}")
}

/// Generates the profile of demo user `index`; the same seed and index
/// always give the same profile.
pub fn demo_profile(seed: u64, index: u64, computed_at_unix: i64) -> Profile {
    let mut rng = StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let layer_index = pick_weighted(&mut rng, &LAYER_WEIGHTS);
    let churned = layer_index > 0 && rng.random_bool(0.15);
    let has_purchased = layer_index > 0;

    let (value_tier, lifetime_value) = if has_purchased {
        let scores: [u32; 3] = [
            rng.random_range(1..=5),
            rng.random_range(1..=5),
            rng.random_range(1..=5),
        ];
        let total = scores.iter().sum::<u32>();
        let tier = match total {
            12.. => Tier::High,
            8..=11 => Tier::Medium,
            _ => Tier::Low,
        };
        let expected_purchases = rng.random_range(0.0..3.0) * f64::from(total) / 15.0;
        (
            Some(ValueTier {
                tier: tier.into(),
                recency_score: scores[0],
                frequency_score: scores[1],
                monetary_score: scores[2],
                rfm_segment: rfm_segment(scores).to_owned(),
            }),
            Some(LifetimeValue {
                predicted_value: expected_purchases * rng.random_range(20.0..120.0),
                probability_alive: if churned {
                    rng.random_range(0.0..0.3)
                } else {
                    rng.random_range(0.5..1.0)
                },
                expected_purchases,
                horizon_days: 90,
                currency: "EUR".to_owned(),
            }),
        )
    } else {
        (None, None)
    };

    let quadrant = has_purchased.then(|| {
        let loyalty_score: f64 = rng.random();
        let satisfaction_score: Option<f64> = rng.random_bool(0.7).then(|| rng.random());
        let kind = match satisfaction_score {
            None => QuadrantKind::Unspecified,
            Some(satisfaction) => match (loyalty_score >= 0.5, satisfaction >= 0.5) {
                (true, true) => QuadrantKind::Angel,
                (true, false) => QuadrantKind::Freeloader,
                (false, true) => QuadrantKind::Hostage,
                (false, false) => QuadrantKind::Danger,
            },
        };
        Quadrant {
            kind: kind.into(),
            loyalty_score,
            satisfaction_score,
        }
    });

    let channels = [
        Channel::Sms,
        Channel::AppPush,
        Channel::Wechat,
        Channel::Email,
    ];
    let mut scores: Vec<ChannelScore> = channels
        .iter()
        .map(|channel| ChannelScore {
            channel: (*channel).into(),
            score: rng.random_range(0.005..0.12),
            ..ChannelScore::default()
        })
        .collect();
    // Best first, as the recompute job ranks them.
    scores.sort_by(|a, b| b.score.total_cmp(&a.score));
    let best = scores
        .first()
        .map_or(Channel::Unspecified.into(), |best| best.channel);

    let benefit_count = rng.random_range(0..=3);
    let benefits = (0..benefit_count)
        .map(|rank| demo_benefit(&mut rng, rank, computed_at_unix))
        .collect();

    Profile {
        user_id: demo_user_id(index),
        lifecycle: Some(Lifecycle {
            preset: "retail".to_owned(),
            layer: RETAIL_LAYERS[layer_index].to_owned(),
            layer_index: layer_index as u32,
            churned,
            churn_label: if churned {
                "churned".to_owned()
            } else {
                String::new()
            },
        }),
        value_tier,
        lifetime_value,
        quadrant,
        propensity: Some(rng.random_range(0.0..1.0)),
        contact_channel: Some(ContactChannel {
            best,
            scores,
            frequency_capped: false,
            not_enough_data: false,
        }),
        benefits,
        computed_at: Some(prost_types::Timestamp {
            seconds: computed_at_unix,
            nanos: 0,
        }),
        model_version: "demo-1".to_owned(),
        ..Profile::default()
    }
}

fn demo_benefit(rng: &mut StdRng, rank: u32, now_unix: i64) -> Benefit {
    let (kind, face_value, minimum_spend) = match rng.random_range(0..4) {
        0 => (BenefitKind::Coupon, rng.random_range(1..=4) * 500, 3_000),
        1 => (BenefitKind::Discount, rng.random_range(1..=3) * 500, 0),
        2 => (BenefitKind::Points, rng.random_range(1..=10) * 100, 0),
        _ => (BenefitKind::FreeShipping, 499, 2_000),
    };
    const DAY: i64 = 86_400;
    Benefit {
        benefit_id: format!("{}-{face_value}", kind.as_str_name().to_lowercase()),
        kind: kind.into(),
        face_value,
        currency: "EUR".to_owned(),
        minimum_spend,
        expected_incremental_profit: 10.0 / f64::from(rank + 1) + rng.random_range(0.0..2.0),
        valid_from: Some(prost_types::Timestamp {
            seconds: now_unix - DAY,
            nanos: 0,
        }),
        valid_until: Some(prost_types::Timestamp {
            seconds: now_unix + 30 * DAY,
            nanos: 0,
        }),
        fairness_required: false,
        policy: String::new(),
        cell: String::new(),
        estimate_low: None,
        estimate_high: None,
    }
}

fn pick_weighted(rng: &mut StdRng, weights: &[f64]) -> usize {
    let mut draw: f64 = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (index, weight) in weights.iter().enumerate() {
        if draw < *weight {
            return index;
        }
        draw -= weight;
    }
    weights.len() - 1
}

/// A coarse RFM segment name from (R, F, M) scores.
fn rfm_segment([recency, frequency, monetary]: [u32; 3]) -> &'static str {
    match (recency, frequency + monetary) {
        (5, 9..) | (4, 10) => "Champions",
        (3.., 7..) => "Loyal",
        (4.., _) => "Recent",
        (1..=2, 7..) => "At Risk",
        (3, _) => "Needs Attention",
        _ => "Hibernating",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed_and_index() {
        assert_eq!(
            demo_profile(7, 42, 1_700_000_000),
            demo_profile(7, 42, 1_700_000_000)
        );
        assert_ne!(
            demo_profile(7, 42, 1_700_000_000),
            demo_profile(8, 42, 1_700_000_000)
        );
    }

    #[test]
    fn potential_users_have_no_purchase_derived_fields() {
        for index in 0..200 {
            let profile = demo_profile(1, index, 1_700_000_000);
            let lifecycle = profile.lifecycle.as_ref().unwrap();
            if lifecycle.layer_index == 0 {
                assert!(profile.value_tier.is_none() && profile.lifetime_value.is_none());
                assert!(!lifecycle.churned);
            } else {
                assert!(profile.value_tier.is_some());
            }
        }
    }
}
