//! The retail preset: BG/NBD purchases, Gamma-Gamma spend, browsing, feedback and
//! randomised offers whose true per-user effect differs by benefit.
//!
//! Purchases follow the BG/NBD story (Fader, Hardie and Lee 2005) in operational weeks
//! (see `clock`): a buyer's first purchase ("birth") is uniform in the window; repeat
//! purchases arrive as a Poisson process with rate lambda ~ Gamma(r, rate alpha); after
//! each *repeat* purchase the buyer drops out with probability p ~ Beta(a, b) (the BG/NBD
//! convention: nobody drops out at the first purchase, so E[X(t) | lambda, p] =
//! (1 - exp(-lambda p t)) / p repeats in the first t weeks). Each amount is
//! Gamma(p_spend, rate nu) with nu ~ Gamma(q, rate gamma), so a buyer's mean spend is
//! p_spend / nu and the population mean is p_spend gamma / (q - 1).
//!
//! Offers are a randomised experiment: each issue draws its benefit uniformly from
//! [`BENEFITS`] and goes to the control group (`offer_control`) with the configured
//! probability. A treated issue's orders in the next 14 days are drawn from the user's
//! true response to that benefit (`effects`): extra orders on top of the natural process
//! (never replacing one), a redemption and a larger redeeming order. So the log supports
//! learning the effects, and the truth holds each benefit's exact expected incremental
//! profit per user. With `offers_per_week = 0` the purchase log is pure BG/NBD +
//! Gamma-Gamma.
//!
//! Price sensitivity is a latent trait (see `effects::price_sensitivity`): strata sees it
//! only through what it drives, smaller orders, lower ratings, more browsing and more
//! abandoned carts, and more redemptions of offers the user would not have needed.

use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use strata_core::UnixMillis;
use strata_core::event::kinds;

use super::catalogue::{BENEFITS, Benefit, OFFER_HORIZON_WEEKS};
use super::effects::{self, OfferState, Traits};
use super::{
    DAY_WEEKS, GenConfig, HOUR_WEEKS, SplitMix, Stream, Streams, Timeline, WALLET_SHARE, beta,
    exponential, gamma, next_arrival, uniform,
};

/// Purchase rate lambda ~ Gamma(shape `r`, rate `alpha`) per week; dropout probability
/// p ~ Beta(`a`, `b`). The symbols are the paper's, so fits compare field by field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParameters {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbdParameters {
    pub fn mean_purchase_rate(&self) -> f64 {
        self.r / self.alpha
    }

    pub fn mean_dropout_probability(&self) -> f64 {
        self.a / (self.a + self.b)
    }
}

/// Amount ~ Gamma(shape `p`, rate nu) with nu ~ Gamma(shape `q`, rate `gamma`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParameters {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl GammaGammaParameters {
    /// Population mean of one purchase amount (finite for q > 1).
    pub fn mean_spend(&self) -> f64 {
        self.p * self.gamma / (self.q - 1.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetailParameters {
    pub bg_nbd: BgNbdParameters,
    pub gamma_gamma: GammaGammaParameters,
    /// Share of users who ever make a first purchase; the rest only browse (potential).
    pub buyer_share: f64,
    /// Rate of offer issues per known user; issues are at least 14 days apart, so one
    /// user never holds two open offers and their outcomes cannot mix.
    pub offers_per_week: f64,
}

impl RetailParameters {
    pub(super) fn assert_valid(&self) {
        let BgNbdParameters { r, alpha, a, b } = self.bg_nbd;
        let GammaGammaParameters { p, q, gamma } = self.gamma_gamma;
        for (name, value) in [("r", r), ("alpha", alpha), ("a", a), ("b", b)] {
            assert!(
                value > 0.0 && value.is_finite(),
                "bg_nbd.{name} must be positive, got {value}"
            );
        }
        for (name, value) in [("p", p), ("q", q), ("gamma", gamma)] {
            assert!(
                value > 0.0 && value.is_finite(),
                "gamma_gamma.{name} must be positive, got {value}"
            );
        }
        assert!(
            (0.0..=1.0).contains(&self.buyer_share),
            "buyer_share must be in 0..=1, got {}",
            self.buyer_share
        );
        assert!(
            self.offers_per_week >= 0.0 && self.offers_per_week.is_finite(),
            "offers_per_week must be non-negative, got {}",
            self.offers_per_week
        );
    }
}

/// The CDNOW fits: BG/NBD from Fader, Hardie and Lee (2005), Gamma-Gamma from Fader,
/// Hardie and Lee (2005b, "RFM and CLV"); 60% of users ever buy, one offer per 6 weeks.
pub const TRUE_PARAMETERS: RetailParameters = RetailParameters {
    bg_nbd: BgNbdParameters {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    },
    gamma_gamma: GammaGammaParameters {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    },
    buyer_share: 0.6,
    offers_per_week: 1.0 / 6.0,
};

/// Satisfaction at or above this is "satisfied" for the uplift segments.
pub const SATISFIED_FROM: f64 = 0.6;

/// Latent value tier, from the expected spend per week while active,
/// lambda * p_spend / nu (EUR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueTier {
    /// Never buys.
    Potential,
    Low,
    Medium,
    High,
}

impl ValueTier {
    /// With [`TRUE_PARAMETERS`] these put about 55% of buyers in low, 22% in medium and
    /// 23% in high (the heavy Gamma tail of lambda makes high value common among buyers).
    pub const MEDIUM_FROM_WEEKLY_VALUE: f64 = 0.4;
    pub const HIGH_FROM_WEEKLY_VALUE: f64 = 2.0;

    fn of(buyer: bool, weekly_value: f64) -> ValueTier {
        if !buyer {
            ValueTier::Potential
        } else if weekly_value >= Self::HIGH_FROM_WEEKLY_VALUE {
            ValueTier::High
        } else if weekly_value >= Self::MEDIUM_FROM_WEEKLY_VALUE {
            ValueTier::Medium
        } else {
            ValueTier::Low
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueTier::Potential => "potential",
            ValueTier::Low => "low",
            ValueTier::Medium => "medium",
            ValueTier::High => "high",
        }
    }
}

/// A coarse latent cell, value tier x satisfaction (ignored for potential), by which
/// the summary tallies offers. The effects themselves are per user (see `effects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Segment {
    pub tier: ValueTier,
    pub satisfied: bool,
}

impl Segment {
    fn new(tier: ValueTier, satisfied: bool) -> Segment {
        let satisfied = satisfied && tier != ValueTier::Potential;
        Segment { tier, satisfied }
    }

    /// e.g. `high/satisfied`, `low/unsatisfied`, `potential`.
    pub fn name(self) -> String {
        match (self.tier, self.satisfied) {
            (ValueTier::Potential, _) => "potential".to_owned(),
            (tier, true) => format!("{}/satisfied", tier.name()),
            (tier, false) => format!("{}/unsatisfied", tier.name()),
        }
    }

    /// Every segment, potential last.
    pub const ALL: [Segment; 7] = [
        segment(ValueTier::High, true),
        segment(ValueTier::High, false),
        segment(ValueTier::Medium, true),
        segment(ValueTier::Medium, false),
        segment(ValueTier::Low, true),
        segment(ValueTier::Low, false),
        segment(ValueTier::Potential, false),
    ];
}

const fn segment(tier: ValueTier, satisfied: bool) -> Segment {
    Segment { tier, satisfied }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferTruth {
    pub at: UnixMillis,
    pub benefit_id: &'static str,
    /// Assigned to the control group: an `offer_control` event, nothing delivered.
    pub control: bool,
    pub segment: Segment,
    /// The user's state at the issue, which with the latent traits fixes the response.
    pub state: OfferState,
    /// Probability of a purchase within 14 days without the offer (zero once dropped out).
    pub baseline: f64,
    /// True uplift of this issue: treated minus control purchase probability.
    pub uplift: f64,
    /// True expected 14-day incremental profit (EUR) of issuing this benefit at this
    /// time against issuing nothing, whichever arm the issue fell in.
    pub value: f64,
    /// Whether the offer caused an extra purchase (treated issues only).
    pub caused_purchase: bool,
    /// How many extra purchases it caused (treated issues only).
    pub extra_orders: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetailTruth {
    pub buyer: bool,
    /// lambda, purchases per week while active.
    pub purchase_rate: f64,
    /// p, chance of dropping out after each repeat purchase.
    pub dropout_probability: f64,
    /// nu of Gamma-Gamma; the buyer's mean amount is `mean_spend`.
    pub spend_rate: f64,
    pub mean_spend: f64,
    /// Latent attitude in 0..1; ratings are 1 + Binomial(4, satisfaction).
    pub satisfaction: f64,
    /// Latent share of the category spend that goes to us, in 0..1.
    pub wallet_share: f64,
    /// Latent appetite for deals in 0..1 (see `effects::price_sensitivity`).
    pub price_sensitivity: f64,
    pub value_tier: ValueTier,
    pub segment: Segment,
    /// The state at the end of the window, where the truth's offer values are taken.
    pub offer_state: OfferState,
    pub first_purchase_at: Option<UnixMillis>,
    /// The repeat purchase after which the buyer dropped out, if inside the window.
    pub dropped_out_at: Option<UnixMillis>,
    /// When browsing stopped, if inside the window.
    pub interest_ended_at: Option<UnixMillis>,
    /// `purchase` events from the BG/NBD process.
    pub purchases: u64,
    /// `purchase` events caused by offers.
    pub incremental_purchases: u64,
    pub offers: Vec<OfferTruth>,
    #[serde(skip)]
    pub(super) first_seen_weeks: f64,
}

impl RetailTruth {
    /// The latent traits the offer response depends on.
    pub fn traits(&self, parameters: &RetailParameters) -> Traits {
        Traits {
            purchase_rate: self.purchase_rate,
            dropout_probability: self.dropout_probability,
            mean_spend: self.mean_spend,
            spend_shape: parameters.gamma_gamma.p,
            satisfaction: self.satisfaction,
            price_sensitivity: self.price_sensitivity,
        }
    }
}

struct Purchase {
    weeks: f64,
    amount: f64,
    incremental: bool,
    redeemed: Option<&'static Benefit>,
}

/// Everything drawn up front from the latent stream, so later streams can change
/// without moving these.
struct Latent {
    buyer: bool,
    purchase_rate: f64,
    dropout_probability: f64,
    spend_rate: f64,
    satisfaction: f64,
    wallet_share: f64,
    price_sensitivity: f64,
    browse_rate: f64,
    /// Birth for buyers, first visit for never-buyers.
    arrival: f64,
    /// How long before the first purchase a buyer first browsed.
    lead: f64,
    /// How long browsing outlasts activity.
    interest_tail: f64,
}

impl Latent {
    fn draw(parameters: &RetailParameters, rng: &mut StdRng, start: f64, end: f64) -> Latent {
        let BgNbdParameters { r, alpha, a, b } = parameters.bg_nbd;
        let GammaGammaParameters { q, gamma: rate, .. } = parameters.gamma_gamma;
        let buyer = rng.random_bool(parameters.buyer_share);
        let purchase_rate = gamma(rng, r, 1.0 / alpha);
        let dropout_probability = beta(rng, a, b);
        // A zero draw would make the mean spend infinite; it has probability ~0.
        let spend_rate = gamma(rng, q, 1.0 / rate).max(1e-9);
        let satisfaction = beta(rng, 3.0, 1.5);
        // Frequent buyers give us a larger share of their category spend.
        let wallet_share = beta(rng, 1.5 + 20.0 * purchase_rate.min(0.5), 3.0);
        let browse_rate = gamma(rng, 1.5, 0.5) + 5.0 * purchase_rate;
        let arrival = uniform(rng, start, end);
        let lead = exponential(rng, 3.0 * DAY_WEEKS);
        let interest_tail = exponential(rng, if buyer { 4.0 } else { 6.0 });
        // Drawn last, so every draw above is what it was before this trait existed.
        let noise: f64 = rng.sample(StandardNormal);
        let price_sensitivity =
            effects::price_sensitivity(parameters.gamma_gamma.p / spend_rate, satisfaction, noise);
        // Deal hunters compare: they browse more (the mean over users stays about the same).
        let browse_rate = browse_rate * (0.6 + 0.8 * price_sensitivity);
        Latent {
            buyer,
            purchase_rate,
            dropout_probability,
            spend_rate,
            satisfaction,
            wallet_share,
            price_sensitivity,
            browse_rate,
            arrival,
            lead,
            interest_tail,
        }
    }
}

pub(super) fn simulate(
    config: &GenConfig,
    streams: &Streams,
    timeline: &mut Timeline<'_>,
) -> RetailTruth {
    let parameters = &config.retail;
    let clock = timeline.clock;
    let (start, end) = (clock.operational_start, clock.operational_end);
    let latent = Latent::draw(parameters, &mut streams.rng(Stream::Latent), start, end);
    let spend_shape = parameters.gamma_gamma.p;
    let mean_spend = spend_shape / latent.spend_rate;
    let tier = ValueTier::of(latent.buyer, latent.purchase_rate * mean_spend);
    let segment = Segment::new(tier, latent.satisfaction >= SATISFIED_FROM);

    let (mut purchases, dropped_out) = if latent.buyer {
        natural_purchases(
            &latent,
            spend_shape,
            &mut streams.rng(Stream::Purchases),
            end,
        )
    } else {
        (Vec::new(), None)
    };
    let first_seen = if latent.buyer {
        (latent.arrival - latent.lead).max(start)
    } else {
        latent.arrival
    };
    let known_from = if latent.buyer {
        latent.arrival
    } else {
        first_seen
    };
    let interest_end = if latent.buyer {
        dropped_out.unwrap_or(end) + latent.interest_tail
    } else {
        first_seen + latent.interest_tail
    };
    let traits = Traits {
        purchase_rate: latent.purchase_rate,
        dropout_probability: latent.dropout_probability,
        mean_spend,
        spend_shape,
        satisfaction: latent.satisfaction,
        price_sensitivity: latent.price_sensitivity,
    };
    let offers = Offers {
        latent: &latent,
        traits,
        segment,
        control_share: config.control_share,
        offers_per_week: parameters.offers_per_week,
        dropped_out,
        interest_end,
    };
    let offer_state = offers.state(end);
    let offers = offers.simulate(
        &mut streams.rng(Stream::Offers),
        timeline,
        known_from,
        &mut purchases,
    );

    let mut browsing_rng = streams.rng(Stream::Browsing);
    let mut feedback_rng = streams.rng(Stream::Feedback);
    let mut counts = [0u64; 2];
    for purchase in &purchases {
        browse_before(&mut browsing_rng, timeline, purchase.weeks);
        if let Some(event) = timeline.emit_money(purchase.weeks, kinds::PURCHASE, purchase.amount) {
            counts[usize::from(purchase.incremental)] += 1;
            if let Some(benefit) = purchase.redeemed {
                event.benefit_id = Some(benefit.id.to_owned());
                let cost = benefit.value_on(purchase.amount);
                if let Some(redeemed) =
                    timeline.emit_money(purchase.weeks, kinds::OFFER_REDEEMED, cost)
                {
                    redeemed.benefit_id = Some(benefit.id.to_owned());
                }
            }
        }
        give_feedback(
            &mut feedback_rng,
            timeline,
            purchase.weeks,
            latent.satisfaction,
        );
    }

    // Unclamped: browsing that began before the window is simply not in the log.
    let browse_from = if latent.buyer {
        latent.arrival - latent.lead
    } else {
        latent.arrival
    };
    browse_between(
        &latent,
        &mut browsing_rng,
        timeline,
        browse_from,
        interest_end.min(end),
    );
    if latent.buyer {
        answer_surveys(&latent, &mut feedback_rng, timeline, end);
    }

    let calendar = |weeks: f64| clock.contains(weeks).then(|| clock.to_calendar(weeks));
    RetailTruth {
        buyer: latent.buyer,
        purchase_rate: latent.purchase_rate,
        dropout_probability: latent.dropout_probability,
        spend_rate: latent.spend_rate,
        mean_spend,
        satisfaction: latent.satisfaction,
        wallet_share: latent.wallet_share,
        price_sensitivity: latent.price_sensitivity,
        value_tier: tier,
        segment,
        offer_state,
        first_purchase_at: if latent.buyer {
            calendar(latent.arrival)
        } else {
            None
        },
        dropped_out_at: dropped_out.and_then(calendar),
        interest_ended_at: calendar(interest_end),
        purchases: counts[0],
        incremental_purchases: counts[1],
        offers,
        first_seen_weeks: first_seen,
    }
}

/// The BG/NBD process from birth to the end of the window; returns the purchases and
/// the instant of the purchase after which the buyer dropped out.
fn natural_purchases(
    latent: &Latent,
    spend_shape: f64,
    rng: &mut StdRng,
    end: f64,
) -> (Vec<Purchase>, Option<f64>) {
    let spend_scale = 1.0 / latent.spend_rate;
    let mut purchases = vec![Purchase {
        weeks: latent.arrival,
        amount: gamma(rng, spend_shape, spend_scale),
        incremental: false,
        redeemed: None,
    }];
    let mut at = latent.arrival;
    loop {
        at = next_arrival(rng, at, latent.purchase_rate);
        if at >= end {
            return (purchases, None);
        }
        purchases.push(Purchase {
            weeks: at,
            amount: gamma(rng, spend_shape, spend_scale),
            incremental: false,
            redeemed: None,
        });
        if rng.random_bool(latent.dropout_probability) {
            return (purchases, Some(at));
        }
    }
}

struct Offers<'a> {
    latent: &'a Latent,
    traits: Traits,
    segment: Segment,
    control_share: f64,
    offers_per_week: f64,
    dropped_out: Option<f64>,
    /// When a never-buyer stops browsing (operational weeks).
    interest_end: f64,
}

impl Offers<'_> {
    /// Issues offers from `known_from` on, emits the issue events and applies the treated
    /// issues' reactions to `purchases`: extra orders, a redemption and its larger basket.
    fn simulate(
        &self,
        rng: &mut StdRng,
        timeline: &mut Timeline<'_>,
        known_from: f64,
        purchases: &mut Vec<Purchase>,
    ) -> Vec<OfferTruth> {
        let end = timeline.clock.operational_end;
        let mut truths = Vec::new();
        let mut at = next_arrival(rng, known_from, self.offers_per_week);
        while at < end {
            let benefit = &BENEFITS[rng.random_range(0..BENEFITS.len())];
            let control = rng.random_bool(self.control_share);
            // The reaction has a stream of its own, so the schedule and the arms never
            // depend on how many draws a reaction takes.
            let mut reaction_rng = SplitMix(rng.random());

            let kind = if control {
                kinds::OFFER_CONTROL
            } else {
                kinds::OFFER_ISSUED
            };
            let issued_at = timeline.emit(at, kind).map(|event| {
                event.benefit_id = Some(benefit.id.to_owned());
                event.at
            });
            if let Some(issued_at) = issued_at {
                let state = self.state(at);
                let effect = self.traits.effect(benefit, state);
                let extra_orders = if control {
                    0
                } else {
                    let reaction = self.traits.react(&mut reaction_rng, benefit, state);
                    apply(&reaction, benefit, at, purchases)
                };
                truths.push(OfferTruth {
                    at: issued_at,
                    benefit_id: benefit.id,
                    control,
                    segment: self.segment,
                    state,
                    baseline: self.traits.natural_purchase_probability(state),
                    uplift: effect.uplift,
                    value: effect.value,
                    caused_purchase: extra_orders > 0,
                    extra_orders,
                });
            }
            at = next_arrival(rng, at + OFFER_HORIZON_WEEKS, self.offers_per_week);
        }
        truths
    }

    /// The user's state at operational instant `at` (offers start once the user is
    /// known, so a buyer is never asked before the first purchase).
    fn state(&self, at: f64) -> OfferState {
        if !self.latent.buyer {
            if at < self.interest_end {
                OfferState::Prospect
            } else {
                OfferState::Cold
            }
        } else if self
            .dropped_out
            .is_some_and(|dropped_out| at >= dropped_out)
        {
            OfferState::Lapsed
        } else {
            OfferState::Active
        }
    }
}

/// Adds a treated issue's extra orders to `purchases` and marks the redeeming order:
/// the earliest extra order, else (with the reaction's chance) the first natural order
/// of the horizon. The redeeming order's basket grows by the lift. Returns the number of
/// extra orders.
fn apply(
    reaction: &effects::Reaction,
    benefit: &'static Benefit,
    at: f64,
    purchases: &mut Vec<Purchase>,
) -> u32 {
    let first_extra = reaction
        .orders
        .iter()
        .enumerate()
        .min_by(|left, right| left.1.0.total_cmp(&right.1.0))
        .map(|(index, _)| index);
    let lift = 1.0 + reaction.basket_lift;
    for (index, &(delay, amount)) in reaction.orders.iter().enumerate() {
        let redeems = Some(index) == first_extra;
        purchases.push(Purchase {
            weeks: at + delay,
            amount: if redeems { amount * lift } else { amount },
            incremental: true,
            redeemed: redeems.then_some(benefit),
        });
    }
    if first_extra.is_none() && reaction.natural_redeems {
        let horizon = at + OFFER_HORIZON_WEEKS;
        // Issues are a horizon apart, so no earlier issue's orders are in this one.
        let next = purchases
            .iter_mut()
            .filter(|purchase| !purchase.incremental)
            .filter(|purchase| purchase.weeks >= at && purchase.weeks < horizon)
            .min_by(|left, right| left.weeks.total_cmp(&right.weeks));
        if let Some(purchase) = next {
            purchase.amount *= lift;
            purchase.redeemed = Some(benefit);
        }
    }
    reaction.orders.len() as u32
}

/// Most purchases are preceded by a look at the product and a cart.
fn browse_before(rng: &mut StdRng, timeline: &mut Timeline<'_>, purchase: f64) {
    let browse = rng.random_bool(0.7);
    let browse_lead = HOUR_WEEKS / 12.0 + exponential(rng, 6.0 * HOUR_WEEKS);
    let cart = rng.random_bool(0.6);
    let cart_lead = HOUR_WEEKS / 60.0 + exponential(rng, HOUR_WEEKS / 4.0);
    if browse {
        timeline.emit(purchase - browse_lead - cart_lead, kinds::BROWSE);
    }
    if cart {
        timeline.emit(purchase - cart_lead, kinds::ADD_TO_CART);
    }
}

fn give_feedback(rng: &mut StdRng, timeline: &mut Timeline<'_>, purchase: f64, satisfaction: f64) {
    let rates = rng.random_bool(0.25);
    let rating_delay = exponential(rng, 3.0 * DAY_WEEKS);
    let reviews = rng.random_bool(0.08);
    let review_delay = exponential(rng, 4.0 * DAY_WEEKS);
    let ratings = [stars(rng, satisfaction), stars(rng, satisfaction)];
    if rates && let Some(event) = timeline.emit(purchase + rating_delay, kinds::RATING) {
        event.rating = Some(ratings[0]);
    }
    if reviews && let Some(event) = timeline.emit(purchase + review_delay, kinds::REVIEW) {
        event.rating = Some(ratings[1]);
    }
}

fn stars(rng: &mut StdRng, satisfaction: f64) -> u8 {
    1 + (0..4).filter(|_| rng.random_bool(satisfaction)).count() as u8
}

/// Background browsing between first contact and loss of interest; the first visit is
/// always a browse, so never-buyers are known from their arrival.
fn browse_between(
    latent: &Latent,
    rng: &mut StdRng,
    timeline: &mut Timeline<'_>,
    from: f64,
    until: f64,
) {
    let favorite_probability = 0.02 + 0.08 * latent.satisfaction;
    // Deal hunters fill carts and leave to compare prices (0.1 at the mean).
    let cart_probability = 0.04 + 0.12 * latent.price_sensitivity;
    let mut at = from;
    while at < until {
        timeline.emit(at, kinds::BROWSE);
        if rng.random_bool(cart_probability) {
            let delay = exponential(rng, HOUR_WEEKS / 6.0);
            timeline.emit(at + delay, kinds::ADD_TO_CART);
        }
        if rng.random_bool(favorite_probability) {
            let delay = exponential(rng, HOUR_WEEKS / 6.0);
            timeline.emit(at + delay, kinds::FAVORITE);
        }
        at = next_arrival(rng, at, latent.browse_rate);
    }
}

/// Three in ten buyers answer a share-of-wallet survey once or twice, with +-0.05 noise.
fn answer_surveys(latent: &Latent, rng: &mut StdRng, timeline: &mut Timeline<'_>, end: f64) {
    if !rng.random_bool(0.3) {
        return;
    }
    let answers = 1 + usize::from(rng.random_bool(0.3));
    for _ in 0..answers {
        let at = uniform(rng, latent.arrival, end);
        let answer = (latent.wallet_share + uniform(rng, -0.05, 0.05)).clamp(0.0, 1.0);
        if let Some(event) = timeline.emit(at, WALLET_SHARE) {
            event.amount = Some((answer * 100.0).round() / 100.0);
        }
    }
}
