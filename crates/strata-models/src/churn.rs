//! What the fitted BG/NBD purchase process says about one customer's next
//! purchase: the probability of none within a horizon (churn), the median
//! wait until the next one, and the typical gap between purchases. Separate
//! from `lifetime` because these are read off the fitted model (no fit of
//! their own) and are judged against naive baselines by the caller.
//!
//! While alive, a BG/NBD customer buys as a Poisson process of rate λ, and
//! can drop out only right after a purchase; given alive at T with x repeat
//! purchases, λ ~ Gamma(r + x, α + T) (Fader, Hardie and Lee 2005a, sec. 4).
//! So the wait W from T to the next purchase, given alive, is Lomax:
//! `P(W > w) = ((α + T) / (α + T + w))^(r + x)`, and a dead customer never
//! buys again.

use crate::lifetime::{BgNbdParameters, CustomerSummary};

/// P(no purchase in the next `horizon` weeks | x, t_x, T):
/// `1 - P(alive) + P(alive) ((α + T) / (α + T + t))^(r + x)`.
pub fn probability_no_purchase(
    parameters: &BgNbdParameters,
    customer: &CustomerSummary,
    horizon: f64,
) -> f64 {
    let alive = parameters.probability_alive(customer);
    alive_no_purchase(parameters, customer, horizon).mul_add(alive, 1.0 - alive)
}

/// `P(W > horizon | alive)`, in log space first: the power overflows no
/// float but underflows gracefully to 0 for frequent buyers.
fn alive_no_purchase(
    parameters: &BgNbdParameters,
    customer: &CustomerSummary,
    horizon: f64,
) -> f64 {
    let shape = parameters.r + f64::from(customer.frequency());
    let scale = parameters.alpha + customer.age();
    (shape * (scale.ln() - (scale + horizon.max(0.0)).ln())).exp()
}

/// The median wait, in weeks from T, until the next purchase of a customer
/// who is alive: `(α + T) (2^(1 / (r + x)) - 1)`. The median, not the mean:
/// the Lomax mean is infinite when `r + x <= 1`, and the median is the point
/// that minimises the absolute error in days the backtest measures.
pub fn median_wait_weeks(parameters: &BgNbdParameters, customer: &CustomerSummary) -> f64 {
    let shape = parameters.r + f64::from(customer.frequency());
    let scale = parameters.alpha + customer.age();
    scale * (std::f64::consts::LN_2 / shape).exp_m1()
}

/// The median wait, in weeks from T, of a customer who buys again within
/// `horizon` weeks: the w with `P(W <= w) = P(W <= horizon) / 2`, i.e.
/// `S(w) = (1 + S(horizon)) / 2` for the Lomax survival S. A customer who
/// buys again at all is alive, so P(alive) drops out. It is the date to act
/// on for the customers worth a reminder (those who will order within the
/// horizon) and, unlike [`median_wait_weeks`], never lies past the horizon;
/// the unconditional median of a slow buyer can lie years away.
pub fn median_wait_within_weeks(
    parameters: &BgNbdParameters,
    customer: &CustomerSummary,
    horizon: f64,
) -> f64 {
    let shape = parameters.r + f64::from(customer.frequency());
    let scale = parameters.alpha + customer.age();
    let target = (1.0 + alive_no_purchase(parameters, customer, horizon)) / 2.0;
    scale * (-target.ln() / shape).exp_m1()
}

/// The typical gap between purchases while alive, in weeks: the inverse of
/// the posterior mean purchase rate, `(α + T) / (r + x)`.
pub fn typical_gap_weeks(parameters: &BgNbdParameters, customer: &CustomerSummary) -> f64 {
    (parameters.alpha + customer.age()) / (parameters.r + f64::from(customer.frequency()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMETERS: BgNbdParameters = BgNbdParameters {
        r: 0.24,
        alpha: 4.41,
        a: 0.79,
        b: 2.43,
    };

    fn customer(frequency: u32, recency: f64, age: f64) -> CustomerSummary {
        CustomerSummary::new(frequency, recency, age, 0.0).unwrap()
    }

    #[test]
    fn churn_is_one_minus_alive_plus_the_alive_who_wait_past_the_horizon() {
        let buyer = customer(4, 20.0, 30.0);
        let alive = PARAMETERS.probability_alive(&buyer);
        // No horizon: nobody buys, certain churn; a horizon of centuries:
        // only the dead do not buy.
        assert!((probability_no_purchase(&PARAMETERS, &buyer, 0.0) - 1.0).abs() < 1e-12);
        let forever = probability_no_purchase(&PARAMETERS, &buyer, 1e7);
        assert!(
            (forever - (1.0 - alive)).abs() < 1e-3,
            "{forever} vs {}",
            1.0 - alive
        );
        // Monotone in the horizon.
        let short = probability_no_purchase(&PARAMETERS, &buyer, 4.0);
        let long = probability_no_purchase(&PARAMETERS, &buyer, 26.0);
        assert!(short > long && long > forever);
    }

    #[test]
    fn churn_matches_a_simulation_of_the_posterior() {
        // Draw λ from its posterior given alive and count how many wait past
        // the horizon: the closed form must agree within sampling error.
        use rand::SeedableRng;
        use rand_distr::{Distribution, Gamma};
        let buyer = customer(2, 10.0, 40.0);
        let horizon = 13.0;
        let shape = PARAMETERS.r + 2.0;
        let rate = PARAMETERS.alpha + 40.0;
        let gamma = Gamma::new(shape, 1.0 / rate).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws = 200_000;
        let waited = (0..draws)
            .filter(|_| {
                let lambda: f64 = gamma.sample(&mut rng);
                let survive: f64 = (-lambda * horizon).exp();
                rand::Rng::random::<f64>(&mut rng) < survive
            })
            .count();
        let simulated = waited as f64 / f64::from(draws);
        let closed = alive_no_purchase(&PARAMETERS, &buyer, horizon);
        assert!(
            (simulated - closed).abs() < 0.005,
            "{simulated} vs {closed}"
        );
    }

    #[test]
    fn half_the_alive_buy_within_the_median_wait() {
        let buyer = customer(3, 12.0, 20.0);
        let median = median_wait_weeks(&PARAMETERS, &buyer);
        assert!((alive_no_purchase(&PARAMETERS, &buyer, median) - 0.5).abs() < 1e-12);
        // More purchases in the same time: a shorter wait and gap.
        // Within a horizon: half of those who buy by then buy by the
        // conditional median, which lies inside the horizon.
        let within = median_wait_within_weeks(&PARAMETERS, &buyer, 13.0);
        let by = |weeks| 1.0 - alive_no_purchase(&PARAMETERS, &buyer, weeks);
        assert!(within > 0.0 && within < 13.0);
        assert!((by(within) / by(13.0) - 0.5).abs() < 1e-12);
        let frequent = customer(9, 19.0, 20.0);
        assert!(median_wait_weeks(&PARAMETERS, &frequent) < median);
        assert!(typical_gap_weeks(&PARAMETERS, &frequent) < typical_gap_weeks(&PARAMETERS, &buyer));
    }
}
