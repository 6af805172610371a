//! GetOffers' explanation (`explain: true`): for every candidate benefit,
//! the rule that kept or dropped it at this request.
//!
//! Built only when asked, after the answer itself is chosen: it replays the
//! same domain rules (`OfferContext::check`, `sort_best_first`,
//! `apply_campaign_arms`, the limit) on the candidates' positions, so the
//! verdicts follow the code that chose the offers rather than a second copy
//! of it, and a request without the flag does no work and no allocation for
//! it.

use strata_core::{ArmRole, CampaignArmView, Ineligible, OfferContext, UnixNanos};
use strata_proto::v1::{
    Benefit, CampaignArm, DroppedBenefit, OfferExplanation, OfferVerdict, OffersExplanation,
};

use crate::campaign_offers::arm_view;
use crate::convert::{benefit_terms, timestamp_to_nanos};

/// What the explanation needs besides the candidates.
pub struct Request<'a> {
    pub context: &'a OfferContext<'a>,
    /// The request's cart, as sent (minor units), for the details.
    pub cart_value: Option<i64>,
    /// The request's currency, as sent.
    pub currency: &'a str,
    pub arms: &'a [CampaignArm],
    pub at: UnixNanos,
    pub limit: usize,
    pub model_version: String,
    pub frequency_capped: bool,
    /// The benefits the recompute job dropped (the stored profile's).
    pub dropped: Vec<DroppedBenefit>,
}

/// Explains `candidates` (the stored benefits, or the cold-start set, in
/// stored order) under `request`.
pub fn explain(candidates: Vec<Benefit>, request: &Request<'_>) -> OffersExplanation {
    let checks: Vec<Result<(), Ineligible>> = candidates
        .iter()
        .map(|benefit| request.context.check(&benefit_terms(benefit)))
        .collect();
    // The serving path on positions: the same filter, order and campaign rule.
    let mut chosen: Vec<(usize, &str)> = (0..candidates.len())
        .filter(|&index| checks[index].is_ok())
        .map(|index| (index, candidates[index].benefit_id.as_str()))
        .collect();
    strata_core::sort_best_first(&mut chosen, |&(index, _)| {
        candidates[index].expected_incremental_profit
    });
    let views: Vec<CampaignArmView<'_>> = request.arms.iter().map(arm_view).collect();
    strata_core::apply_campaign_arms(&mut chosen, |&(_, id)| id, &views, request.at);
    let chosen: Vec<usize> = chosen.into_iter().map(|(index, _)| index).collect();
    let running = |role: ArmRole, benefit_id: &str| {
        request.arms.iter().zip(&views).find(|(_, view)| {
            view.role == role
                && view.benefit_id == benefit_id
                && (view.start.unwrap_or(UnixNanos::MIN)..view.end.unwrap_or(UnixNanos::MAX))
                    .contains(&request.at)
        })
    };

    let mut explained = Vec::with_capacity(candidates.len());
    for (index, (benefit, check)) in candidates.iter().zip(&checks).enumerate() {
        let mut entry = OfferExplanation::default();
        let (verdict, detail) = match check {
            Err(reason) => ineligible(*reason, benefit, request),
            Ok(()) => match chosen.iter().position(|&kept| kept == index) {
                Some(position) if position < request.limit => {
                    entry.rank = position as u32 + 1;
                    let mut detail = format!("offered at rank {}", entry.rank);
                    if benefit.fairness_required {
                        detail.push_str(", required by the fairness rule");
                    }
                    if let Some((arm, _)) = running(ArmRole::Treatment, &benefit.benefit_id) {
                        entry.campaign_id = arm.campaign_id.clone();
                        detail.push_str(&format!(
                            ", moved first by campaign {} (treatment arm)",
                            arm.campaign_id
                        ));
                    }
                    (OfferVerdict::Served, detail)
                }
                Some(position) => (
                    OfferVerdict::BeyondLimit,
                    format!(
                        "eligible at rank {}, beyond the limit of {} offers",
                        position + 1,
                        request.limit
                    ),
                ),
                None => match running(ArmRole::Control, &benefit.benefit_id) {
                    Some((arm, _)) => {
                        entry.campaign_id = arm.campaign_id.clone();
                        (
                            OfferVerdict::ControlArm,
                            format!(
                                "held back: control arm of campaign {} while it runs",
                                arm.campaign_id
                            ),
                        )
                    }
                    None => {
                        let campaign = running(ArmRole::Treatment, &benefit.benefit_id)
                            .map(|(arm, _)| arm.campaign_id.clone())
                            .unwrap_or_default();
                        let detail =
                            format!("offered once, first, by campaign {campaign} (treatment arm)");
                        entry.campaign_id = campaign;
                        (OfferVerdict::Duplicate, detail)
                    }
                },
            },
        };
        entry.verdict = verdict.into();
        entry.detail = detail;
        explained.push(entry);
    }
    for (entry, benefit) in explained.iter_mut().zip(candidates) {
        entry.benefit = Some(benefit);
    }
    OffersExplanation {
        benefits: explained,
        model_version: request.model_version.clone(),
        frequency_capped: request.frequency_capped,
        dropped_by_job: request.dropped.clone(),
    }
}

/// The verdict and detail of a benefit the context refuses.
fn ineligible(
    reason: Ineligible,
    benefit: &Benefit,
    request: &Request<'_>,
) -> (OfferVerdict, String) {
    let at = request.at;
    match reason {
        Ineligible::NotYetValid => {
            let from = benefit.valid_from.as_ref().map_or(at, timestamp_to_nanos);
            (
                OfferVerdict::NotYetValid,
                format!("valid_from is {} after the request time", span(from - at)),
            )
        }
        Ineligible::Expired => {
            let until = benefit.valid_until.as_ref().map_or(at, timestamp_to_nanos);
            (
                OfferVerdict::Expired,
                format!(
                    "valid_until was {} before the request time",
                    span(at - until)
                ),
            )
        }
        Ineligible::CurrencyMismatch => (
            OfferVerdict::CurrencyMismatch,
            format!(
                "benefit in {}, cart in {}",
                benefit.currency, request.currency
            ),
        ),
        Ineligible::BelowMinimumSpend => (
            OfferVerdict::BelowMinimumSpend,
            format!(
                "cart {} is below the minimum spend {} (minor units of {})",
                request.cart_value.unwrap_or_default(),
                benefit.minimum_spend,
                benefit.currency
            ),
        ),
    }
}

/// A non-negative span of nanoseconds in the largest whole unit.
fn span(nanos: UnixNanos) -> String {
    const SECOND: UnixNanos = 1_000_000_000;
    let seconds = nanos.max(0) / SECOND;
    let (count, unit) = match seconds {
        0..60 => (seconds, "second"),
        60..3_600 => (seconds / 60, "minute"),
        3_600..86_400 => (seconds / 3_600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::Surface;

    #[test]
    fn spans_use_the_largest_whole_unit() {
        const SECOND: UnixNanos = 1_000_000_000;
        assert_eq!(span(0), "0 seconds");
        assert_eq!(span(SECOND), "1 second");
        assert_eq!(span(90 * SECOND), "1 minute");
        assert_eq!(span(7_200 * SECOND), "2 hours");
        assert_eq!(span(3 * 86_400 * SECOND + 5), "3 days");
    }

    #[test]
    fn verdicts_follow_the_serving_rules() {
        let benefit = |id: &str, profit: f64, minimum_spend: i64, currency: &str| Benefit {
            benefit_id: id.into(),
            expected_incremental_profit: profit,
            minimum_spend,
            currency: currency.into(),
            ..Benefit::default()
        };
        let context = OfferContext::new(Surface::Checkout, Some(1_000), Some("EUR"), 0).unwrap();
        let request = Request {
            context: &context,
            cart_value: Some(1_000),
            currency: "EUR",
            arms: &[],
            at: 0,
            limit: 2,
            model_version: "m".into(),
            frequency_capped: false,
            dropped: Vec::new(),
        };
        let explained = explain(
            vec![
                benefit("a", 1.0, 0, "EUR"),
                benefit("b", 3.0, 0, "EUR"),
                benefit("c", 2.0, 5_000, "EUR"),
                benefit("d", 5.0, 0, "USD"),
                benefit("e", 0.5, 0, "EUR"),
            ],
            &request,
        );
        let verdicts: Vec<(String, OfferVerdict, u32)> = explained
            .benefits
            .iter()
            .map(|entry| {
                (
                    entry.benefit.as_ref().unwrap().benefit_id.clone(),
                    entry.verdict(),
                    entry.rank,
                )
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                ("a".to_owned(), OfferVerdict::Served, 2),
                ("b".to_owned(), OfferVerdict::Served, 1),
                ("c".to_owned(), OfferVerdict::BelowMinimumSpend, 0),
                ("d".to_owned(), OfferVerdict::CurrencyMismatch, 0),
                ("e".to_owned(), OfferVerdict::BeyondLimit, 0),
            ]
        );
        assert_eq!(
            explained.benefits[2].detail,
            "cart 1000 is below the minimum spend 5000 (minor units of EUR)"
        );
    }
}
