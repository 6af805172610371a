//! GetOffers' campaign rule on the wire's arms: each stored
//! `CampaignArm` seen through `strata_core::CampaignArmView`, and the
//! domain's rule (`strata_core::apply_campaign_arms`) applied to the
//! checked, best-first benefits.

use strata_core::{ArmRole, CampaignArmView};
use strata_proto::v1::{Arm, Benefit, CampaignArm};

use crate::convert::timestamp_to_nanos;

/// Applies the user's running campaigns to `offers` (see
/// [`strata_core::apply_campaign_arms`]).
pub fn apply_campaign_arms(offers: &mut Vec<Benefit>, arms: &[CampaignArm], at: i128) {
    let views: Vec<CampaignArmView<'_>> = arms.iter().map(arm_view).collect();
    strata_core::apply_campaign_arms(offers, |offer| offer.benefit_id.as_str(), &views, at);
}

/// One stored arm as the domain's campaign rule sees it.
pub(crate) fn arm_view(arm: &CampaignArm) -> CampaignArmView<'_> {
    CampaignArmView {
        benefit_id: &arm.benefit_id,
        role: match Arm::try_from(arm.arm) {
            Ok(Arm::Control) => ArmRole::Control,
            Ok(Arm::Treatment) => ArmRole::Treatment,
            Ok(Arm::Unspecified) | Err(_) => ArmRole::Unassigned,
        },
        start: arm.start.as_ref().map(timestamp_to_nanos),
        end: arm.end.as_ref().map(timestamp_to_nanos),
    }
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
