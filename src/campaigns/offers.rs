//! GetOffers' campaign rule: while a campaign runs, its control arm is not
//! offered the campaign's benefit and its treatment arm is offered it
//! first. A pure function over the profile's arms, called by the
//! ProfileService after the offer checks.

use crate::api::timestamp_to_nanos;
use crate::api::v1::{Arm, Benefit, CampaignArm};

/// Applies the user's running campaigns (start <= `at` < end) to `offers`,
/// which are already checked and sorted best first.
///
/// - Control: every offer of the campaign's benefit is removed, whatever
///   else recommended it, so the control arm measures the world without
///   the benefit. A user in one campaign's control and another's treatment
///   of the same benefit is held back: the holdout wins.
/// - Treatment: the campaign's benefit moves to the front (campaigns in
///   their stored (start, id) order), once.
/// - Unspecified (capped) arms and campaigns not running change nothing.
pub fn apply_campaign_arms(offers: &mut Vec<Benefit>, arms: &[CampaignArm], at: i128) {
    let running = |arm: &&CampaignArm| {
        let starts = arm.start.as_ref().map_or(i128::MIN, timestamp_to_nanos);
        let ends = arm.end.as_ref().map_or(i128::MAX, timestamp_to_nanos);
        (starts..ends).contains(&at)
    };
    let withheld: Vec<&str> = arms
        .iter()
        .filter(running)
        .filter(|arm| arm.arm == i32::from(Arm::Control))
        .map(|arm| arm.benefit_id.as_str())
        .collect();
    offers.retain(|offer| !withheld.contains(&offer.benefit_id.as_str()));
    let mut front = Vec::new();
    for arm in arms
        .iter()
        .filter(running)
        .filter(|arm| arm.arm == i32::from(Arm::Treatment))
    {
        if front
            .iter()
            .any(|offer: &Benefit| offer.benefit_id == arm.benefit_id)
        {
            continue;
        }
        if let Some(position) = offers
            .iter()
            .position(|offer| offer.benefit_id == arm.benefit_id)
        {
            front.push(offers.remove(position));
        }
    }
    if front.is_empty() {
        return;
    }
    // Further copies (a recommendation beside the campaign's own entry) go.
    offers.retain(|offer| {
        !front
            .iter()
            .any(|first| first.benefit_id == offer.benefit_id)
    });
    front.append(offers);
    *offers = front;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn benefit(id: &str) -> Benefit {
        Benefit {
            benefit_id: id.into(),
            ..Benefit::default()
        }
    }

    fn arm(campaign: &str, arm: Arm, benefit: &str, start: i64, end: i64) -> CampaignArm {
        CampaignArm {
            campaign_id: campaign.into(),
            arm: arm.into(),
            benefit_id: benefit.into(),
            start: Some(prost_types::Timestamp {
                seconds: start,
                nanos: 0,
            }),
            end: Some(prost_types::Timestamp {
                seconds: end,
                nanos: 0,
            }),
            ..CampaignArm::default()
        }
    }

    fn ids(offers: &[Benefit]) -> Vec<&str> {
        offers
            .iter()
            .map(|offer| offer.benefit_id.as_str())
            .collect()
    }

    const SECOND: i128 = 1_000_000_000;

    #[test]
    fn control_withholds_and_treatment_leads_only_while_running() {
        let offers = || vec![benefit("a"), benefit("b"), benefit("c"), benefit("b")];
        let arms = [
            arm("x", Arm::Control, "a", 100, 200),
            arm("y", Arm::Treatment, "b", 100, 200),
            arm("z", Arm::Unspecified, "c", 100, 200),
        ];
        let mut during = offers();
        apply_campaign_arms(&mut during, &arms, 150 * SECOND);
        assert_eq!(ids(&during), ["b", "c"]);
        for outside in [99 * SECOND, 200 * SECOND] {
            let mut list = offers();
            apply_campaign_arms(&mut list, &arms, outside);
            assert_eq!(ids(&list), ["a", "b", "c", "b"]);
        }
        // The holdout wins over another campaign's treatment.
        let mut both = offers();
        apply_campaign_arms(
            &mut both,
            &[
                arm("x", Arm::Treatment, "a", 100, 200),
                arm("y", Arm::Control, "a", 100, 200),
            ],
            150 * SECOND,
        );
        assert_eq!(ids(&both), ["b", "c", "b"]);
    }
}
