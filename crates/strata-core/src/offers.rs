//! Offer eligibility: which of a user's benefits may be shown in a given
//! context, and in what order.
//!
//! Benefits are judged through a borrowed [`OfferTerms`] view so the serving
//! path can filter stored records without copying them into domain structs.

use crate::Error;

/// Nanoseconds since the Unix epoch; wide enough for any protobuf Timestamp.
pub type UnixNanos = i128;

/// Where an offer is shown; it decides which parts of the context are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Paying now: the cart is known, so minimum spend and currency are checked.
    Checkout,
    AppHome,
    Push,
}

impl Surface {
    fn name(self) -> &'static str {
        match self {
            Surface::Checkout => "CHECKOUT",
            Surface::AppHome => "APP_HOME",
            Surface::Push => "PUSH",
        }
    }
}

/// The situation an offer is requested for, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferContext<'a> {
    surface: Surface,
    cart_value: Option<i64>,
    currency: Option<&'a str>,
    at: UnixNanos,
}

impl<'a> OfferContext<'a> {
    /// `cart_value` is in minor units of `currency`. At checkout both are
    /// required; elsewhere an absent one means "don't filter on it", because a
    /// home screen or push has no cart yet.
    pub fn new(
        surface: Surface,
        cart_value: Option<i64>,
        currency: Option<&'a str>,
        at: UnixNanos,
    ) -> Result<Self, Error> {
        if let Some(value) = cart_value.filter(|value| *value < 0) {
            return Err(Error::NegativeCartValue(value));
        }
        if surface == Surface::Checkout {
            if cart_value.is_none() {
                return Err(Error::MissingCartValue {
                    surface: surface.name(),
                });
            }
            if currency.is_none() {
                return Err(Error::MissingCurrency {
                    surface: surface.name(),
                });
            }
        }
        Ok(OfferContext {
            surface,
            cart_value,
            currency,
            at,
        })
    }

    pub fn surface(&self) -> Surface {
        self.surface
    }

    /// Why `terms` may not be offered in this context, if it may not.
    pub fn check(&self, terms: &OfferTerms<'_>) -> Result<(), Ineligible> {
        if terms.valid_from.is_some_and(|from| self.at < from) {
            return Err(Ineligible::NotYetValid);
        }
        if terms.valid_until.is_some_and(|until| self.at >= until) {
            return Err(Ineligible::Expired);
        }
        if let Some(currency) = self.currency
            && !terms.currency.eq_ignore_ascii_case(currency)
        {
            return Err(Ineligible::CurrencyMismatch);
        }
        if let Some(cart_value) = self.cart_value
            && cart_value < terms.minimum_spend
        {
            return Err(Ineligible::BelowMinimumSpend);
        }
        Ok(())
    }
}

/// The parts of a benefit that decide its eligibility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferTerms<'a> {
    pub currency: &'a str,
    /// Minor units of `currency`; 0 = no minimum.
    pub minimum_spend: i64,
    /// Inclusive start; `None` = always started.
    pub valid_from: Option<UnixNanos>,
    /// Exclusive end; `None` = never ends.
    pub valid_until: Option<UnixNanos>,
}

/// Why a benefit is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    NotYetValid,
    Expired,
    CurrencyMismatch,
    BelowMinimumSpend,
}

/// Orders offers best first: highest expected incremental profit, ties kept
/// in their stored (recommended) order. An estimate that is not a number
/// sorts last rather than poisoning the order.
pub fn sort_best_first<T>(offers: &mut [T], expected_profit: impl Fn(&T) -> f64) {
    offers.sort_by(|a, b| {
        let (a, b) = (expected_profit(a), expected_profit(b));
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => b.total_cmp(&a),
        }
    });
}

/// A campaign arm as GetOffers' campaign rule sees it: the benefit, the
/// user's role, and the campaign's window (`None`: open at that end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignArmView<'a> {
    pub benefit_id: &'a str,
    pub role: ArmRole,
    pub start: Option<UnixNanos>,
    pub end: Option<UnixNanos>,
}

/// The user's role in a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmRole {
    /// Held back: the campaign's benefit is not offered.
    Control,
    /// Offered the campaign's benefit first.
    Treatment,
    /// Left out by the cap on campaigns at once: nothing changes.
    Unassigned,
}

/// GetOffers' campaign rule: applies the user's running campaigns
/// (start <= `at` < end) to `offers`, which are already checked and sorted
/// best first.
///
/// - Control: every offer of the campaign's benefit is removed, whatever
///   else recommended it, so the control arm measures the world without
///   the benefit. A user in one campaign's control and another's treatment
///   of the same benefit is held back: the holdout wins.
/// - Treatment: the campaign's benefit moves to the front (campaigns in
///   their stored (start, id) order), once.
/// - Unassigned arms and campaigns not running change nothing.
pub fn apply_campaign_arms<T>(
    offers: &mut Vec<T>,
    benefit_id: impl Fn(&T) -> &str,
    arms: &[CampaignArmView<'_>],
    at: UnixNanos,
) {
    let running = |arm: &&CampaignArmView<'_>| {
        let starts = arm.start.unwrap_or(UnixNanos::MIN);
        let ends = arm.end.unwrap_or(UnixNanos::MAX);
        (starts..ends).contains(&at)
    };
    let withheld: Vec<&str> = arms
        .iter()
        .filter(running)
        .filter(|arm| arm.role == ArmRole::Control)
        .map(|arm| arm.benefit_id)
        .collect();
    offers.retain(|offer| !withheld.contains(&benefit_id(offer)));
    let mut front: Vec<T> = Vec::new();
    for arm in arms
        .iter()
        .filter(running)
        .filter(|arm| arm.role == ArmRole::Treatment)
    {
        if front
            .iter()
            .any(|offer| benefit_id(offer) == arm.benefit_id)
        {
            continue;
        }
        if let Some(position) = offers
            .iter()
            .position(|offer| benefit_id(offer) == arm.benefit_id)
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
            .any(|first| benefit_id(first) == benefit_id(offer))
    });
    front.append(offers);
    *offers = front;
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: UnixNanos = 86_400 * 1_000_000_000;

    fn terms(
        currency: &str,
        minimum_spend: i64,
        from: Option<i128>,
        until: Option<i128>,
    ) -> OfferTerms<'_> {
        OfferTerms {
            currency,
            minimum_spend,
            valid_from: from,
            valid_until: until,
        }
    }

    fn check(context: &OfferContext<'_>, terms: OfferTerms<'_>, expected: Result<(), Ineligible>) {
        assert_eq!(context.check(&terms), expected, "{terms:?} in {context:?}");
    }

    #[test]
    fn checkout_checks_window_currency_and_minimum_spend() {
        let at = 100 * DAY;
        let context = OfferContext::new(Surface::Checkout, Some(5_000), Some("EUR"), at).unwrap();
        check(&context, terms("EUR", 0, None, None), Ok(()));
        check(&context, terms("eur", 5_000, None, None), Ok(()));
        check(
            &context,
            terms("EUR", 5_001, None, None),
            Err(Ineligible::BelowMinimumSpend),
        );
        check(
            &context,
            terms("USD", 0, None, None),
            Err(Ineligible::CurrencyMismatch),
        );
        check(&context, terms("EUR", 0, Some(at), Some(at + 1)), Ok(()));
        check(
            &context,
            terms("EUR", 0, Some(at + 1), None),
            Err(Ineligible::NotYetValid),
        );
        check(
            &context,
            terms("EUR", 0, None, Some(at)),
            Err(Ineligible::Expired),
        );
    }

    #[test]
    fn home_without_cart_skips_spend_and_currency() {
        let context = OfferContext::new(Surface::AppHome, None, None, 0).unwrap();
        check(&context, terms("USD", 1_000_000, None, None), Ok(()));
        check(
            &context,
            terms("USD", 0, None, Some(0)),
            Err(Ineligible::Expired),
        );
    }

    #[test]
    fn checkout_needs_cart() {
        assert_eq!(
            OfferContext::new(Surface::Checkout, None, Some("EUR"), 0),
            Err(Error::MissingCartValue {
                surface: "CHECKOUT"
            })
        );
        assert_eq!(
            OfferContext::new(Surface::Checkout, Some(1), None, 0),
            Err(Error::MissingCurrency {
                surface: "CHECKOUT"
            })
        );
        assert_eq!(
            OfferContext::new(Surface::Push, Some(-1), None, 0),
            Err(Error::NegativeCartValue(-1))
        );
    }

    #[test]
    fn best_first_is_stable_and_puts_nan_last() {
        let mut offers = [("a", 1.0), ("nan", f64::NAN), ("b", 3.0), ("c", 1.0)];
        sort_best_first(&mut offers, |offer| offer.1);
        let order: Vec<&str> = offers.iter().map(|offer| offer.0).collect();
        assert_eq!(order, ["b", "a", "c", "nan"]);
    }
}
