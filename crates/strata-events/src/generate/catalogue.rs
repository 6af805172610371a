//! The generator's offer catalogues: the benefits it issues, what each
//! appeals to, what it costs when redeemed, and the window an offer's
//! outcome is judged in. Shared by the retail simulation (`retail`), which
//! issues offers, and the per-user responses to them (`effects`); the saas
//! and wealth catalogues ([`funnel_benefits`]) by `funnel_offers`.

use serde::Serialize;

use super::{DAY_WEEKS, Preset};

/// One entry of the offer catalogue. Its cost when redeemed is
/// `min(order, fixed_value + percent_off / 100 * order)` EUR, the same terms as strata's
/// default catalogue, so strata's cost model and the truth agree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Benefit {
    pub id: &'static str,
    pub fixed_value: f64,
    pub percent_off: f64,
    /// Which users it moves and how (see `effects`).
    pub appeal: Appeal,
    /// Growth of the redeeming order for a fully price-sensitive user (scaled by the
    /// user's price sensitivity; price appeal only).
    pub basket_lift: f64,
}

/// What a benefit appeals to; fixes the form of the response (see `effects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Appeal {
    /// Money off: converts price-sensitive users, in proportion to its share of the order.
    Price,
    /// A waived shipping fee: frequent small-basket buyers order more often.
    Shipping,
    /// Loyalty points: frequent loyal buyers order more often.
    Loyalty,
}

impl Benefit {
    pub fn value_on(&self, order: f64) -> f64 {
        order.min(self.fixed_value + self.percent_off / 100.0 * order)
    }
}

pub const BENEFITS: [Benefit; 5] = [
    Benefit {
        id: "coupon-5",
        fixed_value: 5.0,
        percent_off: 0.0,
        appeal: Appeal::Price,
        basket_lift: 0.0,
    },
    // A bigger coupon pulls a little harder and lifts the basket a little, but costs
    // twice as much on every order that redeems it: it mostly loses money.
    Benefit {
        id: "coupon-10",
        fixed_value: 10.0,
        percent_off: 0.0,
        appeal: Appeal::Price,
        basket_lift: 0.05,
    },
    // Deal hunters stock up on a percentage off.
    Benefit {
        id: "discount-15",
        fixed_value: 0.0,
        percent_off: 15.0,
        appeal: Appeal::Price,
        basket_lift: 0.10,
    },
    // The shipping fee it waives.
    Benefit {
        id: "free-shipping",
        fixed_value: 4.9,
        percent_off: 0.0,
        appeal: Appeal::Shipping,
        basket_lift: 0.0,
    },
    // 200 points at one cent each.
    Benefit {
        id: "points-200",
        fixed_value: 2.0,
        percent_off: 0.0,
        appeal: Appeal::Loyalty,
        basket_lift: 0.0,
    },
];

/// The outcome an offer is judged by: orders within this many weeks of the issue.
pub const OFFER_HORIZON_WEEKS: f64 = 2.0;
/// Offer-driven purchases come early: truncated exponential with this mean.
const INCREMENTAL_PURCHASE_MEAN_DELAY: f64 = 3.0 * DAY_WEEKS;
/// Inverse CDF of an exponential delay truncated to the offer horizon.
pub(super) fn truncated_delay(draw: f64) -> f64 {
    let mean = INCREMENTAL_PURCHASE_MEAN_DELAY;
    let mass = 1.0 - (-OFFER_HORIZON_WEEKS / mean).exp();
    -mean * (1.0 - draw * mass).ln()
}

/// A benefit of the saas or wealth catalogue. Its cost when redeemed is
/// `min(amount, fixed_value + percent_off / 100 * amount)` EUR on the value
/// event it brought (the same terms as strata's default catalogue for the
/// preset), and a treated customer answers it with an extra value event
/// within [`OFFER_HORIZON_WEEKS`] with probability `response`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FunnelBenefit {
    pub id: &'static str,
    pub fixed_value: f64,
    pub percent_off: f64,
    pub response: f64,
}

impl FunnelBenefit {
    pub fn value_on(&self, amount: f64) -> f64 {
        amount.min(self.fixed_value + self.percent_off / 100.0 * amount)
    }
}

/// SaaS: a discount on the first year of an add-on contract pulls hardest,
/// an onboarding credit less.
pub const SAAS_BENEFITS: [FunnelBenefit; 2] = [
    FunnelBenefit {
        id: "first-year-20",
        fixed_value: 0.0,
        percent_off: 20.0,
        response: 0.3,
    },
    FunnelBenefit {
        id: "onboarding-credit",
        fixed_value: 150.0,
        percent_off: 0.0,
        response: 0.15,
    },
];

/// Wealth: a bonus yield on a top-up (0.5% of it, once) pulls harder than a
/// waived custody fee.
pub const WEALTH_BENEFITS: [FunnelBenefit; 2] = [
    FunnelBenefit {
        id: "fee-waiver",
        fixed_value: 10.0,
        percent_off: 0.0,
        response: 0.15,
    },
    FunnelBenefit {
        id: "bonus-yield",
        fixed_value: 0.0,
        percent_off: 0.5,
        response: 0.25,
    },
];

/// The catalogue the funnel preset `preset` issues offers from (empty for
/// sns, whose events carry no value, and for retail, which has [`BENEFITS`]).
pub fn funnel_benefits(preset: Preset) -> &'static [FunnelBenefit] {
    match preset {
        Preset::Saas => &SAAS_BENEFITS,
        Preset::Wealth => &WEALTH_BENEFITS,
        Preset::Retail | Preset::Sns => &[],
    }
}
