//! The retail offer response model: what each benefit truly does to each user, and the
//! exact expected incremental profit of issuing it.
//!
//! The effect of a benefit depends on latent traits (the BG/NBD purchase rate lambda and
//! dropout p, the mean order m = p_spend / nu, satisfaction, and price sensitivity s) and
//! on the user's state when it is issued. strata never sees a trait: it sees behaviour
//! they drive (order value, frequency, recency, ratings, browsing, carts, redemptions).
//! So the best benefit differs between users, and learning it means learning the traits
//! from what they leave in the log.
//!
//! One treated issue, in a horizon H of two weeks, works as follows (control issues do
//! nothing; the natural BG/NBD purchases are the same in both arms):
//! - **conversion**: one extra order with probability `q`, independent of the natural ones;
//! - **extra orders**: Poisson(`mu`) more extra orders (frequent buyers respond this way);
//! - **redemption**: the benefit is single-use. If there is an extra order, the earliest
//!   redeems it. Otherwise the first natural order of the horizon, if any, redeems it with
//!   probability `rho`: users who would have bought anyway also cost money;
//! - **order value**: the redeeming order's amount grows by the factor (1 + `g`);
//! - **cost**: the benefit's value on the order actually placed, `Benefit::value_on`.
//!
//! Every order amount is an independent Gamma(p_spend, rate nu) draw, so with
//! pi = P(a natural order in H) = 1 - exp(-lambda H) for an active buyer (0 otherwise),
//! P0 = (1 - q) exp(-mu) (no extra order) and R = 1 - P0 + P0 pi rho (redeemed), the
//! expected 14-day incremental profit against issuing nothing is exactly
//!
//! ```text
//! value  = margin * (m (q + mu) + R m g) - R * E[value_on(Y)]
//!          with Y ~ Gamma(p_spend, mean m (1 + g)), the redeeming order
//! uplift = (1 - pi) (1 - P0)    (treated minus control P(any order in H))
//! ```
//!
//! with `E[value_on(Y)]` in closed form through the regularised incomplete gamma function.
//! The response per benefit appeal (s in 0..1, loyalty l = satisfaction * (1 - p)):
//!
//! | appeal | q | mu | g | rho |
//! |---|---|---|---|---|
//! | price (coupons, discount) | 0.10 s f / (f + 0.1) | 0 | lift s | 0.1 + 0.8 s |
//! | shipping | 0.05 k | 1.5 k lambda H | 0 | 0.5 + 0.5 k |
//! | loyalty (points) | 0.02 l | 0.5 l^2 lambda H | 0 | 1 |
//!
//! where f = value_on(m) / m is the face value's share of the order, `lift` is the
//! benefit's [`Benefit::basket_lift`], k = 1 / (1 + (m / 28)^3) is how much the shipping
//! fee weighs on the basket, and points are credited on any order (rho = 1).
//!
//! So a percentage discount earns on price-sensitive small spenders (its cost scales with
//! the order, a fixed coupon would eat the margin); a fixed coupon earns on price-sensitive
//! big spenders; free shipping earns on frequent small-basket buyers who then order more
//! often; points earn on frequent loyal buyers; coupon-10 mostly loses. Users who buy
//! anyway and respond little (frequent big spenders, neither loyal nor price-sensitive)
//! are best left alone. Never-buyers (prospects) convert at half the rate while they
//! still browse and at 0.3 of that once their interest has ended; they make no extra
//! orders, and points mean little to them. A buyer who has dropped out is gone for good
//! (BG/NBD dropout is permanent): no benefit moves them, so every value is exactly 0 and
//! their best is none.

use rand::Rng;
use serde::Serialize;

use super::catalogue::{Appeal, BENEFITS, Benefit, OFFER_HORIZON_WEEKS, truncated_delay};
use super::{gamma, uniform};

/// Gross margin on revenue, as strata's default `economics.margin_rate`, so strata's
/// profit and the truth's are the same quantity.
pub const MARGIN_RATE: f64 = 0.3;

const PRICE_CONVERSION: f64 = 0.10;
/// The face value share of the order at which a price benefit has half its pull.
const PRICE_HALF_SHARE: f64 = 0.10;
const SHIPPING_CONVERSION: f64 = 0.05;
const SHIPPING_EXTRA_ORDERS: f64 = 1.5;
/// Orders of this mean (EUR) feel the shipping fee at half strength; the cube makes it
/// fade fast above, where the fee is a small share of the order.
const SMALL_BASKET: f64 = 28.0;
const LOYALTY_CONVERSION: f64 = 0.02;
const LOYALTY_EXTRA_ORDERS: f64 = 0.5;
/// A prospect's conversion relative to a buyer's, while they still browse.
const PROSPECT_RESPONSE: f64 = 0.5;
/// Further factor once a prospect's interest has ended.
const COLD_RESPONSE: f64 = 0.3;
/// Points mean little to someone who has never bought.
const PROSPECT_LOYALTY: f64 = 0.2;
/// Caps the Poisson mean so the sampler stays cheap for extreme purchase rates; the
/// analytic value uses the capped mean too, so it stays exact.
const MAX_EXTRA_ORDERS: f64 = 20.0;

/// Where a user stands when a benefit is issued; with the traits it fixes the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OfferState {
    /// Never bought and still browsing.
    Prospect,
    /// Never bought, interest ended.
    Cold,
    /// A buyer who has not dropped out.
    Active,
    /// A buyer who has dropped out.
    Lapsed,
}

impl OfferState {
    pub fn name(self) -> &'static str {
        match self {
            OfferState::Prospect => "prospect",
            OfferState::Cold => "cold",
            OfferState::Active => "active",
            OfferState::Lapsed => "lapsed",
        }
    }
}

/// The latent traits a response depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traits {
    /// lambda, purchases per week while active.
    pub purchase_rate: f64,
    /// p, chance of dropping out after each repeat purchase.
    pub dropout_probability: f64,
    /// m, the mean order amount (EUR).
    pub mean_spend: f64,
    /// Gamma shape of one order amount (Gamma-Gamma's p).
    pub spend_shape: f64,
    pub satisfaction: f64,
    pub price_sensitivity: f64,
}

/// One user's response to one benefit in one state (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Response {
    /// q: probability of one extra order.
    pub conversion: f64,
    /// mu: mean of the further Poisson extra orders.
    pub extra_orders: f64,
    /// g: relative growth of the redeeming order.
    pub basket_lift: f64,
    /// rho: chance a natural order redeems the benefit when no extra order does.
    pub natural_redemption: f64,
}

impl Response {
    const NONE: Response = Response {
        conversion: 0.0,
        extra_orders: 0.0,
        basket_lift: 0.0,
        natural_redemption: 0.0,
    };
}

/// The exact expectations of one issue against issuing nothing, over the horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Effect {
    /// Treated minus control probability of any order.
    pub uplift: f64,
    /// Incremental profit (EUR): margin on the extra revenue minus the benefit's cost.
    pub value: f64,
}

/// Price sensitivity in 0..1 from the mean order, satisfaction and a standard normal
/// draw: small spenders and unhappy customers hunt deals (the "wool" users), with enough
/// noise that neither observable settles it.
pub fn price_sensitivity(mean_spend: f64, satisfaction: f64, noise: f64) -> f64 {
    let z = 1.3 * (30.0 / mean_spend).ln() + 2.5 * (0.67 - satisfaction) + 0.8 * noise;
    1.0 / (1.0 + (-z).exp())
}

impl Traits {
    /// Satisfaction times the chance of staying after a purchase.
    pub fn loyalty(&self) -> f64 {
        self.satisfaction * (1.0 - self.dropout_probability)
    }

    /// The user's response to `benefit` in `state`.
    pub fn response(&self, benefit: &Benefit, state: OfferState) -> Response {
        if state == OfferState::Lapsed {
            return Response::NONE;
        }
        let m = self.mean_spend;
        let s = self.price_sensitivity;
        let orders_in_horizon = self.purchase_rate * OFFER_HORIZON_WEEKS;
        let mut response = match benefit.appeal {
            Appeal::Price => {
                let share = benefit.value_on(m) / m;
                Response {
                    conversion: PRICE_CONVERSION * s * share / (share + PRICE_HALF_SHARE),
                    extra_orders: 0.0,
                    basket_lift: benefit.basket_lift * s,
                    natural_redemption: 0.1 + 0.8 * s,
                }
            }
            Appeal::Shipping => {
                let small = 1.0 / (1.0 + (m / SMALL_BASKET).powi(3));
                Response {
                    conversion: SHIPPING_CONVERSION * small,
                    extra_orders: SHIPPING_EXTRA_ORDERS * small * orders_in_horizon,
                    basket_lift: 0.0,
                    natural_redemption: 0.5 + 0.5 * small,
                }
            }
            Appeal::Loyalty => {
                let loyalty = self.loyalty();
                Response {
                    conversion: LOYALTY_CONVERSION * loyalty,
                    extra_orders: LOYALTY_EXTRA_ORDERS * loyalty * loyalty * orders_in_horizon,
                    basket_lift: 0.0,
                    natural_redemption: 1.0,
                }
            }
        };
        response.extra_orders = response.extra_orders.min(MAX_EXTRA_ORDERS);
        if matches!(state, OfferState::Prospect | OfferState::Cold) {
            // Extra orders come from a purchase habit a prospect does not have.
            response.extra_orders = 0.0;
            response.conversion *= PROSPECT_RESPONSE;
            if benefit.appeal == Appeal::Loyalty {
                response.conversion *= PROSPECT_LOYALTY;
            }
            if state == OfferState::Cold {
                response.conversion *= COLD_RESPONSE;
            }
        }
        response
    }

    /// P(at least one natural order in the horizon): memoryless while active, since
    /// BG/NBD dropout happens only right after a purchase.
    pub fn natural_purchase_probability(&self, state: OfferState) -> f64 {
        match state {
            OfferState::Active => 1.0 - (-self.purchase_rate * OFFER_HORIZON_WEEKS).exp(),
            OfferState::Prospect | OfferState::Cold | OfferState::Lapsed => 0.0,
        }
    }

    /// The exact expected effect of issuing `benefit` in `state` (module docs).
    pub fn effect(&self, benefit: &Benefit, state: OfferState) -> Effect {
        let response = self.response(benefit, state);
        let natural = self.natural_purchase_probability(state);
        let no_extra = (1.0 - response.conversion) * (-response.extra_orders).exp();
        let redeemed = 1.0 - no_extra + no_extra * natural * response.natural_redemption;
        if redeemed <= 0.0 {
            return Effect {
                uplift: 0.0,
                value: 0.0,
            };
        }
        let m = self.mean_spend;
        let lift = response.basket_lift;
        let revenue = m * (response.conversion + response.extra_orders) + redeemed * m * lift;
        let cost = redeemed * expected_cost(benefit, self.spend_shape, m * (1.0 + lift));
        Effect {
            uplift: (1.0 - natural) * (1.0 - no_extra),
            value: MARGIN_RATE * revenue - cost,
        }
    }

    /// Draws what one treated issue does (module docs); the caller applies it to the
    /// natural orders it holds.
    pub(super) fn react<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        benefit: &Benefit,
        state: OfferState,
    ) -> Reaction {
        let response = self.response(benefit, state);
        let scale = self.mean_spend / self.spend_shape;
        let mut orders = Vec::new();
        if rng.random::<f64>() < response.conversion {
            // A converted order comes early, as the offer prompted it.
            let delay = truncated_delay(rng.random());
            orders.push((delay, gamma(rng, self.spend_shape, scale)));
        }
        // Given their count, a Poisson process's points are uniform on the horizon.
        for _ in 0..poisson(rng, response.extra_orders) {
            let delay = uniform(rng, 0.0, OFFER_HORIZON_WEEKS);
            orders.push((delay, gamma(rng, self.spend_shape, scale)));
        }
        Reaction {
            orders,
            natural_redeems: rng.random::<f64>() < response.natural_redemption,
            basket_lift: response.basket_lift,
        }
    }
}

/// One treated issue's draws.
pub(super) struct Reaction {
    /// Offer-caused orders: (weeks after the issue, amount before any lift).
    pub orders: Vec<(f64, f64)>,
    /// Whether the first natural order redeems, if no extra order does.
    pub natural_redeems: bool,
    pub basket_lift: f64,
}

/// The value and uplift of every catalogue benefit, in catalogue order.
pub fn effects(traits: &Traits, state: OfferState) -> [Effect; BENEFITS.len()] {
    BENEFITS.map(|benefit| traits.effect(&benefit, state))
}

/// Poisson by inversion: one uniform, cheap for the small means used here.
fn poisson<R: Rng + ?Sized>(rng: &mut R, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let draw: f64 = rng.random();
    let mut probability = (-mean).exp();
    let mut cumulative = probability;
    let mut count = 0;
    // The bound only guards rounding at the far tail; the mean is capped at 20.
    while draw > cumulative && count < 200 {
        count += 1;
        probability *= mean / f64::from(count);
        cumulative += probability;
    }
    count
}

/// E[value_on(Y)] for Y ~ Gamma(`shape`, mean `mean`): the benefit's expected cost on
/// one redeeming order. value_on(y) = min(y, F + c y) is y below T = F / (1 - c) and
/// F + c y above, and E[Y; Y < T] = mean * P(shape + 1, T / scale).
pub fn expected_cost(benefit: &Benefit, shape: f64, mean: f64) -> f64 {
    let fixed = benefit.fixed_value;
    let percent = benefit.percent_off / 100.0;
    if percent >= 1.0 {
        return mean;
    }
    if fixed <= 0.0 {
        return percent * mean;
    }
    let scale = mean / shape;
    let threshold = fixed / (1.0 - percent) / scale;
    let (below, log_density) = regularized_lower_gamma(shape, threshold);
    // P(a + 1, x) = P(a, x) - x^a e^-x / Gamma(a + 1): one series serves both.
    let below_next = (below - (log_density - shape.ln()).exp()).max(0.0);
    let below_mean = mean * below_next;
    below_mean + fixed * (1.0 - below) + percent * (mean - below_mean)
}

/// P(a, x), the regularised lower incomplete gamma function: the series below a + 1,
/// the continued fraction for Q above (Numerical Recipes' gser and gcf). Also returns
/// ln(x^a e^-x / Gamma(a)), which the caller needs for P(a + 1, x).
fn regularized_lower_gamma(a: f64, x: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, f64::NEG_INFINITY);
    }
    let log_prefix = a * x.ln() - x - ln_gamma(a);
    let lower = if x < a + 1.0 {
        let (mut term, mut sum, mut denominator) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            denominator += 1.0;
            term *= x / denominator;
            sum += term;
            if term < sum * 1e-15 {
                break;
            }
        }
        (sum * log_prefix.exp()).min(1.0)
    } else {
        // Modified Lentz for the continued fraction of Q(a, x).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let i = f64::from(i);
            let an = -i * (i - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let step = d * c;
            h *= step;
            if (step - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (1.0 - log_prefix.exp() * h).max(0.0)
    };
    (lower, log_prefix)
}

/// ln Gamma(x) for x > 0, Lanczos (g = 7, nine terms), relative error about 1e-15.
fn ln_gamma(x: f64) -> f64 {
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, coefficient) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += coefficient / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn traits(purchase_rate: f64, mean_spend: f64, price_sensitivity: f64) -> Traits {
        Traits {
            purchase_rate,
            dropout_probability: 0.2,
            mean_spend,
            spend_shape: 6.25,
            satisfaction: 0.8,
            price_sensitivity,
        }
    }

    #[test]
    fn ln_gamma_and_incomplete_gamma_hit_known_values() {
        // Gamma(5) = 24, Gamma(0.5) = sqrt(pi).
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        // P(1, x) = 1 - exp(-x); P(3, x) = 1 - exp(-x) (1 + x + x^2 / 2).
        for x in [0.1f64, 1.0, 2.5, 4.0, 12.0, 40.0] {
            let one = 1.0 - (-x).exp();
            let three = 1.0 - (-x).exp() * (1.0 + x + x * x / 2.0);
            assert!(
                (regularized_lower_gamma(1.0, x).0 - one).abs() < 1e-13,
                "{x}"
            );
            assert!(
                (regularized_lower_gamma(3.0, x).0 - three).abs() < 1e-13,
                "{x}"
            );
        }
    }

    /// The closed-form cost against a fixed-seed average over a million orders, for a
    /// fixed coupon where min(order, F) binds, a percentage and a mixed benefit.
    #[test]
    fn expected_cost_matches_sampling() {
        let mut rng = StdRng::seed_from_u64(7);
        let mixed = Benefit {
            id: "mixed",
            fixed_value: 3.0,
            percent_off: 10.0,
            appeal: Appeal::Price,
            basket_lift: 0.0,
        };
        for benefit in [BENEFITS[1], BENEFITS[2], mixed] {
            for mean in [6.0, 15.0, 40.0] {
                let shape = 6.25;
                let draws = 1_000_000;
                let (mut sum, mut squares) = (0.0, 0.0);
                for _ in 0..draws {
                    let cost = benefit.value_on(gamma(&mut rng, shape, mean / shape));
                    sum += cost;
                    squares += cost * cost;
                }
                let sampled = sum / f64::from(draws);
                let error =
                    ((squares / f64::from(draws) - sampled * sampled) / f64::from(draws)).sqrt();
                let exact = expected_cost(&benefit, shape, mean);
                assert!(
                    (exact - sampled).abs() < 4.0 * error + 1e-12,
                    "{} at {mean}: {exact} vs {sampled} +- {error}",
                    benefit.id
                );
            }
        }
    }

    /// The analytic value and uplift against the generator's own sampler (`react`),
    /// with natural orders drawn from their law: the exact-expectation promise.
    #[test]
    fn effect_is_the_expectation_of_the_sampled_reaction() {
        let mut rng = StdRng::seed_from_u64(11);
        let users = [
            traits(0.02, 18.0, 0.8),
            traits(0.6, 22.0, 0.3),
            traits(0.9, 60.0, 0.1),
            traits(0.1, 90.0, 0.9),
        ];
        let states = [
            OfferState::Active,
            OfferState::Prospect,
            OfferState::Cold,
            OfferState::Lapsed,
        ];
        for user in &users {
            for state in states {
                let natural = user.natural_purchase_probability(state);
                for benefit in &BENEFITS {
                    let effect = user.effect(benefit, state);
                    let draws = 200_000;
                    let (mut sum, mut squares, mut converted) = (0.0, 0.0, 0.0);
                    for _ in 0..draws {
                        let has_natural = rng.random::<f64>() < natural;
                        let natural_amount = gamma(&mut rng, 6.25, user.mean_spend / 6.25);
                        let reaction = user.react(&mut rng, benefit, state);
                        let lift = 1.0 + reaction.basket_lift;
                        let mut revenue: f64 =
                            reaction.orders.iter().map(|(_, amount)| amount).sum();
                        let redeemed = if let Some(first) = reaction
                            .orders
                            .iter()
                            .min_by(|left, right| left.0.total_cmp(&right.0))
                        {
                            Some(first.1 * lift)
                        } else if has_natural && reaction.natural_redeems {
                            Some(natural_amount * lift)
                        } else {
                            None
                        };
                        let mut cost = 0.0;
                        if let Some(amount) = redeemed {
                            revenue += amount * (1.0 - 1.0 / lift);
                            cost = benefit.value_on(amount);
                        }
                        let profit = MARGIN_RATE * revenue - cost;
                        sum += profit;
                        squares += profit * profit;
                        converted +=
                            f64::from(u8::from(!has_natural && !reaction.orders.is_empty()));
                    }
                    let draws = f64::from(draws);
                    let mean = sum / draws;
                    let error = ((squares / draws - mean * mean) / draws).sqrt();
                    assert!(
                        (mean - effect.value).abs() <= 4.0 * error + 1e-12,
                        "{user:?} {state:?} {}: sampled {mean} +- {error}, exact {}",
                        benefit.id,
                        effect.value
                    );
                    let uplift = converted / draws;
                    let uplift_error = (uplift * (1.0 - uplift) / draws).sqrt();
                    assert!(
                        (uplift - effect.uplift).abs() <= 4.0 * uplift_error + 1e-12,
                        "{user:?} {state:?} {}: uplift {uplift} vs {}",
                        benefit.id,
                        effect.uplift
                    );
                }
            }
        }
    }

    #[test]
    fn lapsed_buyers_respond_to_nothing() {
        let user = traits(0.5, 30.0, 0.9);
        for effect in effects(&user, OfferState::Lapsed) {
            assert_eq!(effect.value, 0.0);
            assert_eq!(effect.uplift, 0.0);
        }
    }

    #[test]
    fn the_economics_pick_different_benefits_for_different_users() {
        let best = |user: &Traits| {
            let values = effects(user, OfferState::Active);
            let (index, value) = values
                .iter()
                .enumerate()
                .max_by(|left, right| left.1.value.total_cmp(&right.1.value))
                .expect("a catalogue");
            (value.value > 0.0).then_some(BENEFITS[index].id)
        };
        // Deal hunters with small baskets who rarely buy: a percentage costs little.
        assert_eq!(best(&traits(0.02, 18.0, 0.9)), Some("discount-15"));
        // Deal hunters with big baskets: a fixed coupon is cheaper than 15%.
        assert_eq!(best(&traits(0.02, 70.0, 0.9)), Some("coupon-5"));
        // Frequent small-basket buyers: free shipping brings more orders.
        assert_eq!(best(&traits(0.8, 24.0, 0.2)), Some("free-shipping"));
        // Frequent loyal big spenders: points bring more orders.
        assert_eq!(best(&traits(0.8, 60.0, 0.1)), Some("points-200"));
        // Frequent big spenders, disloyal and not price-sensitive: they buy anyway and
        // would redeem whatever they get, so leave them alone.
        let disloyal = Traits {
            dropout_probability: 0.7,
            satisfaction: 0.3,
            ..traits(0.8, 90.0, 0.05)
        };
        assert_eq!(best(&disloyal), None);
    }
}
