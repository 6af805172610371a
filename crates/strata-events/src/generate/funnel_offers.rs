//! Offers in the saas and wealth presets: a randomised experiment on the
//! customers who already carry value (paying SaaS customers, investors), so
//! the offer policy has past issues to learn from on every preset with
//! value events.
//!
//! From a customer's first value event until they go quiet, issues arrive at
//! [`OFFERS_PER_WEEK`], at least [`OFFER_HORIZON_WEEKS`] apart (one open offer
//! at a time), each a benefit of the preset's catalogue drawn uniformly and
//! held back (`offer_control`) with the configured control share. A treated
//! customer answers with probability `response` by an extra value event
//! within the horizon (an add-on contract, a top-up investment) carrying the
//! benefit's id, and an `offer_redeemed` event with its cost. The extra
//! amount keeps the funnel's truth: a loyal investor's investments keep
//! growing (the top-up lies between its neighbours), anyone else's top-up is
//! half their previous value event, so it never makes an investor loyal.
//!
//! The draws per issue are the same whatever the arm, so the schedule never
//! depends on which issues were answered.

use rand::Rng;
use rand::rngs::StdRng;
use strata_core::event::kinds;

use super::catalogue::{OFFER_HORIZON_WEEKS, funnel_benefits, truncated_delay};
use super::funnel::{base_kind, value_kind};
use super::{HOUR_WEEKS, Preset, Timeline, next_arrival};

/// Offer issues per week to a customer (before the horizon's spacing).
pub const OFFERS_PER_WEEK: f64 = 1.0 / 4.0;

/// A funnel user's value events, as the offers see them.
pub(super) struct Customer {
    /// Value events as (operational weeks, amount), in any order.
    pub values: Vec<(f64, f64)>,
    /// Their amounts grow from each to the next and must keep doing so.
    pub growing: bool,
    /// When the user goes quiet (or the window ends): nothing after it.
    pub until: f64,
}

pub(super) fn simulate(
    preset: Preset,
    rng: &mut StdRng,
    timeline: &mut Timeline<'_>,
    customer: &Customer,
    control_share: f64,
) {
    let benefits = funnel_benefits(preset);
    let Some(kind) = value_kind(preset).filter(|_| !benefits.is_empty()) else {
        return;
    };
    let mut values = customer.values.clone();
    values.sort_by(|left, right| left.0.total_cmp(&right.0));
    let Some(&(first_at, _)) = values.first() else {
        return;
    };
    let mut at = next_arrival(rng, first_at, OFFERS_PER_WEEK);
    while at < customer.until {
        let benefit = &benefits[rng.random_range(0..benefits.len())];
        let control = rng.random_bool(control_share);
        let responds = rng.random::<f64>() < benefit.response;
        let answered_at = at + truncated_delay(rng.random());
        let issue_kind = if control {
            kinds::OFFER_CONTROL
        } else {
            kinds::OFFER_ISSUED
        };
        let issued = timeline
            .emit(at, issue_kind)
            .map(|event| event.benefit_id = Some(benefit.id.to_owned()))
            .is_some();
        if issued && !control && responds && answered_at < customer.until {
            let amount = extra_amount(&values, answered_at, customer.growing);
            let position = values.partition_point(|(weeks, _)| *weeks <= answered_at);
            values.insert(position, (answered_at, amount));
            timeline.emit(answered_at - 2.0 * HOUR_WEEKS / 60.0, base_kind(preset));
            if let Some(event) = timeline.emit_money(answered_at, kind, amount) {
                event.benefit_id = Some(benefit.id.to_owned());
            }
            if let Some(redeemed) =
                timeline.emit_money(answered_at, kinds::OFFER_REDEEMED, benefit.value_on(amount))
            {
                redeemed.benefit_id = Some(benefit.id.to_owned());
            }
        }
        at = next_arrival(rng, at + OFFER_HORIZON_WEEKS, OFFERS_PER_WEEK);
    }
}

/// The amount of an extra value event at `at` (after the first one).
fn extra_amount(values: &[(f64, f64)], at: f64, growing: bool) -> f64 {
    let position = values.partition_point(|(weeks, _)| *weeks <= at);
    let previous = values[position.saturating_sub(1)].1;
    if !growing {
        return previous / 2.0;
    }
    match values.get(position) {
        Some(&(_, next)) => (previous + next) / 2.0,
        None => previous * 1.01,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_amounts_keep_growth_or_halve() {
        let values = [(1.0, 100.0), (5.0, 120.0)];
        assert_eq!(extra_amount(&values, 3.0, true), 110.0);
        assert_eq!(extra_amount(&values, 6.0, true), 121.2);
        assert_eq!(extra_amount(&values, 3.0, false), 50.0);
        assert_eq!(extra_amount(&values, 1.0, false), 50.0);
    }
}
