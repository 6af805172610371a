//! The BG/NBD purchase model (Fader, Hardie and Lee 2005a, "Counting your
//! customers the easy way"): its log-likelihood, the maximum-likelihood fit,
//! and the per-customer predictions (probability alive, expected purchases).

use serde::{Deserialize, Serialize};

use super::special::{hypergeometric_2f1, ln_gamma, log_sum_exp};
use super::{CustomerSummary, minimize};
use crate::error::Error;

const MODEL: &str = "BG/NBD";

/// Half-width of the interval around `a = 1` where predictions interpolate:
/// eq. 9 and 10 divide by `a - 1`, a removable singularity. The predictions
/// are smooth in `a`, so linear interpolation across `1 ± 1e-4` errs by
/// about 1e-8 relative, while evaluating closer to 1 would lose digits to
/// cancellation.
const UNIT_A_HALF_WIDTH: f64 = 1e-4;

/// The four BG/NBD parameters, named as in the paper.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParameters {
    /// Shape of the gamma distribution of purchase rates.
    pub r: f64,
    /// Rate (inverse scale) of the gamma distribution of purchase rates, per week.
    pub alpha: f64,
    /// First shape of the beta distribution of dropout probabilities.
    pub a: f64,
    /// Second shape of the beta distribution of dropout probabilities.
    pub b: f64,
}

/// A maximum-likelihood fit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    pub parameters: BgNbdParameters,
    /// Total log-likelihood of the customers at `parameters`.
    pub log_likelihood: f64,
    /// Nelder-Mead iterations, summed over restarts.
    pub iterations: u64,
}

/// Fits BG/NBD by maximum likelihood.
///
/// Refuses empty input, input where nobody made a repeat purchase (the
/// purchase rate and the dropout are then not identified), and fits that run
/// to a boundary of the parameter space.
pub fn fit_bg_nbd(customers: &[CustomerSummary]) -> Result<BgNbdFit, Error> {
    if customers.is_empty() {
        return Err(Error::NoCustomers {
            model: MODEL,
            detail: String::new(),
        });
    }
    if customers.iter().all(|customer| customer.frequency() == 0) {
        return Err(Error::DegenerateInput {
            model: MODEL,
            reason: format!(
                "none of the {} customers made a repeat purchase",
                customers.len()
            ),
        });
    }
    // Customers with the same (x, t_x, T) contribute the same term, and at
    // day resolution there are far fewer distinct triples than customers:
    // the likelihood is evaluated once per triple, times its count. Sorted
    // by frequency first, so the gamma-function terms, which depend on x
    // only, are computed once per distinct x.
    let groups = Grouped::new(group(customers));
    let count = customers.len() as f64;
    let objective =
        |point: &[f64]| -log_likelihood_grouped(&from_logarithms(point), &groups) / count;
    let minimum = minimize(MODEL, objective, starting_point(&groups.groups))?
        .identified(MODEL, " (too few repeat purchases, or no sign of dropout)")?;
    Ok(BgNbdFit {
        parameters: from_logarithms(&minimum.point),
        log_likelihood: -minimum.value * count,
        iterations: minimum.iterations,
    })
}

/// The distinct `(x, t_x, T)` of `customers` with how many customers have
/// each, sorted by x (then t_x, T: a fixed order, so sums are reproducible
/// whatever the input order).
fn group(customers: &[CustomerSummary]) -> Vec<(CustomerSummary, f64)> {
    let key = |customer: &CustomerSummary| {
        (
            customer.frequency(),
            customer.recency().to_bits(),
            customer.age().to_bits(),
        )
    };
    super::count_distinct(customers, key)
}

/// `r = a = b = 1` (flat beta, exponential-like rates), and `alpha` matching
/// the mean purchase rate of the sample (`r / alpha` is the mean rate), which
/// puts the start within a factor of a few of typical optima.
fn starting_point(groups: &[(CustomerSummary, f64)]) -> Vec<f64> {
    let purchases: f64 = groups
        .iter()
        .map(|(customer, count)| count * f64::from(customer.frequency()))
        .sum();
    let weeks: f64 = groups
        .iter()
        .map(|(customer, count)| count * customer.age())
        .sum();
    let alpha = if purchases > 0.0 && weeks > 0.0 {
        weeks / purchases
    } else {
        1.0
    };
    vec![0.0, alpha.ln(), 0.0, 0.0]
}

fn from_logarithms(point: &[f64]) -> BgNbdParameters {
    BgNbdParameters {
        r: point[0].exp(),
        alpha: point[1].exp(),
        a: point[2].exp(),
        b: point[3].exp(),
    }
}

/// Grouped customers (see [`group`]) with the distinct ages `T` and
/// recencies `t_x` they take. At day resolution there are a few hundred of
/// each however many triples there are, so an evaluation takes
/// `ln(α + T)` and `ln(α + t_x)` once per distinct value instead of once per
/// triple.
struct Grouped {
    groups: Vec<(CustomerSummary, f64)>,
    /// Per group, the index of its age in `ages` and of its recency in
    /// `recencies`.
    at: Vec<(u32, u32)>,
    ages: Vec<f64>,
    recencies: Vec<f64>,
}

impl Grouped {
    fn new(groups: Vec<(CustomerSummary, f64)>) -> Self {
        let distinct = |value: fn(&CustomerSummary) -> f64| {
            let mut values: Vec<f64> = groups.iter().map(|(customer, _)| value(customer)).collect();
            values.sort_by(f64::total_cmp);
            values.dedup_by(|left, right| left.to_bits() == right.to_bits());
            values
        };
        let ages = distinct(CustomerSummary::age);
        let recencies = distinct(CustomerSummary::recency);
        let index = |values: &[f64], value: f64| {
            let found = values
                .binary_search_by(|probe| probe.total_cmp(&value))
                .expect("every value was collected");
            u32::try_from(found).expect("fewer distinct values than groups")
        };
        let at = groups
            .iter()
            .map(|(customer, _)| {
                (
                    index(&ages, customer.age()),
                    index(&recencies, customer.recency()),
                )
            })
            .collect();
        Grouped {
            groups,
            at,
            ages,
            recencies,
        }
    }
}

/// Total log-likelihood of grouped customers: each distinct `(x, t_x, T)`
/// once, weighted by its count. Every term is the same arithmetic, in the
/// same order, as [`BgNbdParameters::log_likelihood`]'s; only the logarithms
/// shared by many triples are taken once, so the sum has the same bits as
/// the per-group terms summed in group order.
fn log_likelihood_grouped(parameters: &BgNbdParameters, grouped: &Grouped) -> f64 {
    let BgNbdParameters { r, alpha, a, b } = *parameters;
    let ln_ages: Vec<f64> = grouped.ages.iter().map(|age| (alpha + age).ln()).collect();
    let ln_recencies: Vec<f64> = grouped
        .recencies
        .iter()
        .map(|recency| (alpha + recency).ln())
        .collect();
    let ln_a = a.ln();
    let mut total = 0.0;
    // (x, its frequency terms, ln a - ln(b + x - 1)), for the current run of x.
    let mut cached: Option<(u32, f64, f64)> = None;
    for ((customer, count), &(age, recency)) in grouped.groups.iter().zip(&grouped.at) {
        let frequency = customer.frequency();
        let x = f64::from(frequency);
        let (shared, head) = match cached {
            Some((cached_frequency, shared, head)) if cached_frequency == frequency => {
                (shared, head)
            }
            _ => {
                let shared = parameters.log_likelihood_frequency_terms(frequency);
                let head = ln_a - (b + x - 1.0).ln();
                cached = Some((frequency, shared, head));
                (shared, head)
            }
        };
        let at_age = -(r + x) * ln_ages[age as usize];
        let time = if frequency == 0 {
            at_age
        } else {
            log_sum_exp(at_age, head - (r + x) * ln_recencies[recency as usize])
        };
        total += count * (shared + time);
    }
    total
}

impl BgNbdParameters {
    /// Total log-likelihood of `customers` (Fader, Hardie and Lee 2005a,
    /// eq. 6, in log space).
    pub fn log_likelihood(&self, customers: &[CustomerSummary]) -> f64 {
        customers
            .iter()
            .map(|customer| {
                self.log_likelihood_frequency_terms(customer.frequency())
                    + self.log_likelihood_time_terms(customer)
            })
            .sum()
    }

    /// The part of eq. 6 that depends on x only:
    /// `ln[Γ(r + x) α^r / Γ(r)] + ln[B(a, b + x) / B(a, b)]`.
    fn log_likelihood_frequency_terms(&self, frequency: u32) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let x = f64::from(frequency);
        ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x)
            - ln_gamma(b)
            - ln_gamma(a + b + x)
    }

    /// The rest of eq. 6: `ln[(α + T)^-(r + x) + δ(x > 0) a / (b + x - 1)
    /// (α + t_x)^-(r + x)]`, combined by log-sum-exp because both terms
    /// underflow for frequent buyers.
    fn log_likelihood_time_terms(&self, customer: &CustomerSummary) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let x = f64::from(customer.frequency());
        let at_age = -(r + x) * (alpha + customer.age()).ln();
        if customer.frequency() == 0 {
            return at_age;
        }
        let at_recency = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + customer.recency()).ln();
        log_sum_exp(at_age, at_recency)
    }

    /// P(alive | x, t_x, T) (the denominator of Fader, Hardie and Lee 2005a,
    /// eq. 10; derived in Fader, Hardie and Lee 2008, "Computing P(alive)
    /// using the BG/NBD model"):
    /// `1 / (1 + δ(x > 0) a / (b + x - 1) ((α + T) / (α + t_x))^(r + x))`.
    ///
    /// Exactly 1 for a customer with no repeat purchase: in BG/NBD dropout
    /// can only happen right after a repeat purchase.
    pub fn probability_alive(&self, customer: &CustomerSummary) -> f64 {
        if customer.frequency() == 0 {
            return 1.0;
        }
        1.0 / (1.0 + self.log_odds_dead(customer).exp())
    }

    /// `ln` of the second term in P(alive)'s denominator, kept in log space
    /// because `((α + T) / (α + t_x))^(r + x)` overflows for frequent buyers
    /// who stopped long ago (the probability then rounds to 0, correctly).
    fn log_odds_dead(&self, customer: &CustomerSummary) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let x = f64::from(customer.frequency());
        a.ln() - (b + x - 1.0).ln()
            + (r + x) * ((alpha + customer.age()).ln() - (alpha + customer.recency()).ln())
    }

    /// E[Y(t) | x, t_x, T]: expected purchases in the next `horizon` weeks
    /// for this customer (Fader, Hardie and Lee 2005a, eq. 10).
    ///
    /// Errors when `horizon` is negative or not finite, when the parameters
    /// are not positive and finite, or when the hypergeometric series does
    /// not converge (only for horizons of centuries relative to α + T).
    pub fn expected_purchases(
        &self,
        horizon: f64,
        customer: &CustomerSummary,
    ) -> Result<f64, Error> {
        let if_alive =
            self.expected_purchases_if_alive(horizon, customer.frequency(), customer.age())?;
        Ok(if_alive * self.probability_alive(customer))
    }

    /// E[X(t)]: expected repeat purchases in the first `horizon` weeks after
    /// a randomly chosen customer's first purchase (Fader, Hardie and Lee
    /// 2005a, eq. 9).
    pub fn expected_purchases_unconditional(&self, horizon: f64) -> Result<f64, Error> {
        // Eq. 9 is eq. 10 without the P(alive) factor at x = 0, T = 0.
        self.expected_purchases_if_alive(horizon, 0, 0.0)
    }

    /// Eq. 10 without the P(alive) factor:
    /// `(a + b + x - 1) / (a - 1) [1 - ((α + T) / (α + T + t))^(r + x)
    ///  2F1(r + x, b + x; a + b + x - 1; z)]` with `z = t / (α + T + t)`.
    ///
    /// Euler's transformation `2F1(A, B; C; z) = (1 - z)^(C - A - B)
    /// 2F1(C - A, C - B; C; z)` (Abramowitz and Stegun 15.3.3), with
    /// `(α + T) / (α + T + t) = 1 - z`, turns the bracket into
    /// `1 - (1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z)`,
    /// whose series no longer grows with x: the direct form's terms reach
    /// about `(1 - z)^-(x + r + 1 - a)` before falling, which overflows for
    /// frequent buyers, and its prefactor underflows.
    fn expected_purchases_if_alive(
        &self,
        horizon: f64,
        frequency: u32,
        age: f64,
    ) -> Result<f64, Error> {
        self.check_for_prediction()?;
        if !(horizon.is_finite() && horizon >= 0.0) {
            return Err(Error::InvalidArgument {
                name: "horizon",
                reason: format!("must be finite and non-negative weeks, got {horizon}"),
            });
        }
        if horizon == 0.0 {
            return Ok(0.0);
        }
        let x = f64::from(frequency);
        let z = horizon / (self.alpha + age + horizon);
        let at = |a: f64| -> Result<f64, Error> {
            let mut b = self.b;
            if a + b + x - 1.0 == 0.0 {
                // c = 0 only when x = 0 and a + b = 1 exactly; the limit is
                // finite and continuous, so step b by one part in 1e12.
                b *= 1.0 + 1e-12;
            }
            let c = a + b + x - 1.0;
            let series = hypergeometric_2f1(a + b - 1.0 - self.r, a - 1.0, c, z)?;
            Ok(c / (a - 1.0) * (1.0 - (1.0 - z).powf(a - 1.0) * series))
        };
        if (self.a - 1.0).abs() >= UNIT_A_HALF_WIDTH {
            return at(self.a);
        }
        let below = at(1.0 - UNIT_A_HALF_WIDTH)?;
        let above = at(1.0 + UNIT_A_HALF_WIDTH)?;
        let weight = (self.a - (1.0 - UNIT_A_HALF_WIDTH)) / (2.0 * UNIT_A_HALF_WIDTH);
        Ok(below + weight * (above - below))
    }

    fn check_for_prediction(&self) -> Result<(), Error> {
        let Self { r, alpha, a, b } = *self;
        if [r, alpha, a, b]
            .iter()
            .all(|value| value.is_finite() && *value > 0.0)
        {
            return Ok(());
        }
        Err(Error::InvalidArgument {
            name: "BgNbdParameters",
            reason: format!("r, alpha, a, b must be positive and finite, got {self:?}"),
        })
    }
}

/// [`BgNbdParameters::expected_purchases`] for many customers under one fit
/// and horizon. Eq. 10's factor without P(alive) (the hypergeometric series,
/// most of the cost) depends on the customer's x and T only, and at day
/// resolution a population takes a few thousand distinct pairs: each is
/// evaluated once and kept. The same bits as the direct call; an error is
/// not kept (it is met again, as the direct call meets it).
#[derive(Debug, Clone)]
pub struct ExpectedPurchases {
    parameters: BgNbdParameters,
    horizon: f64,
    /// `(x, T's bits)` -> the factor without P(alive).
    if_alive: std::collections::HashMap<(u32, u64), f64>,
}

impl ExpectedPurchases {
    pub fn new(parameters: BgNbdParameters, horizon: f64) -> ExpectedPurchases {
        ExpectedPurchases {
            parameters,
            horizon,
            if_alive: std::collections::HashMap::new(),
        }
    }

    pub fn parameters(&self) -> &BgNbdParameters {
        &self.parameters
    }

    /// The expectations kept in `slot` when they are those of `parameters`
    /// over `horizon`; otherwise new ones, put there.
    pub fn kept_in<'slot>(
        slot: &'slot mut Option<ExpectedPurchases>,
        parameters: &BgNbdParameters,
        horizon: f64,
    ) -> &'slot mut ExpectedPurchases {
        let fits = |kept: &ExpectedPurchases| {
            kept.parameters == *parameters && kept.horizon.to_bits() == horizon.to_bits()
        };
        if !slot.as_ref().is_some_and(fits) {
            *slot = Some(ExpectedPurchases::new(*parameters, horizon));
        }
        slot.as_mut().expect("just kept")
    }

    /// E[Y(horizon) | x, t_x, T] of `customer`.
    pub fn of(&mut self, customer: &CustomerSummary) -> Result<f64, Error> {
        let key = (customer.frequency(), customer.age().to_bits());
        let if_alive = match self.if_alive.get(&key) {
            Some(&if_alive) => if_alive,
            None => {
                let if_alive = self.parameters.expected_purchases_if_alive(
                    self.horizon,
                    customer.frequency(),
                    customer.age(),
                )?;
                self.if_alive.insert(key, if_alive);
                if_alive
            }
        };
        Ok(if_alive * self.parameters.probability_alive(customer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CDNOW calibration fit reported in Fader, Hardie and Lee 2005a.
    const CDNOW: BgNbdParameters = BgNbdParameters {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn customer(frequency: u32, recency: f64, age: f64) -> CustomerSummary {
        CustomerSummary::new(frequency, recency, age, 0.0).expect("valid summary")
    }

    fn check(actual: f64, expected: f64, tolerance: f64) {
        let relative = ((actual - expected) / expected).abs();
        assert!(
            relative < tolerance,
            "got {actual}, expected {expected} (relative error {relative:e})"
        );
    }

    #[test]
    fn expected_purchases_match_direct_evaluation() {
        // Reference values: eq. 10 and eq. 9 evaluated directly (no Euler
        // transformation) with mpmath at 30 digits, for a frequent buyer
        // (x = 26, t_x = 30.86, T = 31) and a one-off customer.
        let frequent = customer(26, 30.86, 31.0);
        let expected = CDNOW
            .expected_purchases(39.0, &frequent)
            .expect("converges");
        check(expected, 20.749_726_140_857_3, 1e-12);
        let one_off = customer(0, 0.0, 38.86);
        let expected = CDNOW.expected_purchases(52.0, &one_off).expect("converges");
        check(expected, 0.252_073_022_282_459, 1e-12);
        let unconditional = CDNOW
            .expected_purchases_unconditional(78.0)
            .expect("converges");
        check(unconditional, 1.860_519_057_942_768, 1e-12);
        let alive = CDNOW.probability_alive(&frequent);
        check(alive, 0.968_915_649_717_525, 1e-13);
    }

    #[test]
    fn customers_without_repeat_purchases_are_alive() {
        assert_eq!(CDNOW.probability_alive(&customer(0, 0.0, 38.0)), 1.0);
        assert_eq!(CDNOW.probability_alive(&customer(0, 0.0, 0.0)), 1.0);
    }

    #[test]
    fn recent_buyers_are_more_alive() {
        let recent = CDNOW.probability_alive(&customer(5, 35.0, 38.0));
        let lapsed = CDNOW.probability_alive(&customer(5, 5.0, 38.0));
        assert!(recent > lapsed, "recent {recent} vs lapsed {lapsed}");
        // A very frequent buyer who stopped long ago is almost surely gone,
        // and the overflowing odds must give 0, not NaN.
        let gone = CDNOW.probability_alive(&customer(2_000, 1.0, 500.0));
        assert!((0.0..1e-100).contains(&gone), "{gone}");
    }

    #[test]
    fn remembered_expectations_give_the_bits_of_the_direct_call() {
        let unit_a = BgNbdParameters {
            a: 1.00005,
            ..CDNOW
        };
        let broken = BgNbdParameters { r: -1.0, ..CDNOW };
        for parameters in [CDNOW, unit_a, broken] {
            for horizon in [0.0, 4.3, 52.0, -1.0] {
                let mut remembered = ExpectedPurchases::new(parameters, horizon);
                // Every (x, T) twice, with different t_x.
                for _ in 0..2 {
                    for frequency in 0..12u32 {
                        for age_days in (0..400).step_by(9) {
                            let age = f64::from(age_days) / 7.0;
                            let recency = if frequency == 0 {
                                0.0
                            } else {
                                age * f64::from(age_days % 5) / 5.0
                            };
                            let summary = customer(frequency, recency, age);
                            let direct = parameters.expected_purchases(horizon, &summary);
                            match (remembered.of(&summary), direct) {
                                (Ok(left), Ok(right)) => {
                                    assert_eq!(left.to_bits(), right.to_bits(), "{summary:?}")
                                }
                                (Err(_), Err(_)) => {}
                                (left, right) => panic!("{left:?} against {right:?}"),
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn expected_purchases_grow_with_the_horizon() {
        let summary = customer(3, 20.0, 30.0);
        let mut previous = 0.0;
        for horizon in [0.0, 1.0, 4.0, 13.0, 26.0, 52.0, 104.0, 520.0] {
            let expected = CDNOW
                .expected_purchases(horizon, &summary)
                .expect("converges");
            assert!(
                expected >= previous,
                "E[Y({horizon})] = {expected} < {previous}"
            );
            previous = expected;
        }
        assert!(previous > 0.0);
    }

    #[test]
    fn frequent_buyers_do_not_overflow() {
        // In the direct form of eq. 10 the series reaches about 1e85 and the
        // prefactor about 1e-85 (overflow a few hundred purchases later);
        // the reference is that form evaluated by mpmath at 40 digits.
        let summary = customer(400, 77.5, 78.0);
        let expected = CDNOW.expected_purchases(52.0, &summary).expect("converges");
        check(expected, 201.661_944_304_146_3, 1e-11);
    }

    #[test]
    fn a_equal_to_one_is_continuous() {
        let summary = customer(2, 10.0, 30.0);
        let at = |a: f64| {
            BgNbdParameters { a, ..CDNOW }
                .expected_purchases(26.0, &summary)
                .expect("converges")
        };
        // Smooth in a: the value at 1 is the midpoint of its neighbours up
        // to the curvature (about 1e-7 here), and there is no step where the
        // interpolation takes over.
        let midpoint = (at(1.0 + 1e-3) + at(1.0 - 1e-3)) / 2.0;
        check(at(1.0), midpoint, 1e-6);
        let edge = 1.0 + UNIT_A_HALF_WIDTH;
        check(at(edge - 1e-7), at(edge + 1e-7), 1e-6);
    }

    #[test]
    fn predictions_refuse_bad_arguments() {
        let summary = customer(1, 1.0, 2.0);
        assert!(CDNOW.expected_purchases(-1.0, &summary).is_err());
        assert!(CDNOW.expected_purchases(f64::NAN, &summary).is_err());
        let broken = BgNbdParameters { r: -1.0, ..CDNOW };
        assert!(broken.expected_purchases(1.0, &summary).is_err());
    }

    #[test]
    fn fits_refuse_degenerate_input() {
        assert!(matches!(fit_bg_nbd(&[]), Err(Error::NoCustomers { .. })));
        let one_offs = vec![customer(0, 0.0, 10.0); 50];
        assert!(matches!(
            fit_bg_nbd(&one_offs),
            Err(Error::DegenerateInput { .. })
        ));
    }

    #[test]
    fn log_likelihood_grouped_equals_plain() {
        let customers = [
            customer(2, 25.0, 31.0),
            customer(0, 0.0, 30.0),
            customer(2, 10.0, 30.0),
            customer(0, 0.0, 30.0),
            customer(7, 29.0, 30.0),
            customer(2, 10.0, 30.0),
            customer(2, 10.0, 30.0),
        ];
        let groups = Grouped::new(group(&customers));
        assert_eq!(groups.groups.len(), 4);
        assert_eq!(groups.ages.len(), 2);
        assert_eq!(groups.recencies.len(), 4);
        assert_eq!(
            groups.groups.iter().map(|(_, count)| count).sum::<f64>(),
            7.0
        );
        let plain = CDNOW.log_likelihood(&customers);
        let grouped = log_likelihood_grouped(&CDNOW, &groups);
        assert!(
            (plain - grouped).abs() < 1e-9 * plain.abs(),
            "{plain} {grouped}"
        );
        assert!(plain.is_finite() && plain < 0.0);
    }

    #[test]
    fn shared_logarithms_give_the_bits_of_the_direct_terms() {
        // Day-resolution summaries: many triples, few distinct ages and
        // recencies, as in a real population.
        let customers: Vec<CustomerSummary> = (0..5_000u32)
            .map(|i| {
                let age_days = 30 + (i * 7919) % 300;
                let frequency = (i * 31) % 9;
                let recency_days = if frequency == 0 {
                    0
                } else {
                    (i * 104_729) % (age_days + 1)
                };
                customer(
                    frequency,
                    f64::from(recency_days) / 7.0,
                    f64::from(age_days) / 7.0,
                )
            })
            .collect();
        let grouped = Grouped::new(group(&customers));
        assert!(grouped.ages.len() <= 300 && grouped.groups.len() > 1_000);
        for parameters in [
            CDNOW,
            BgNbdParameters {
                r: 0.7,
                alpha: 3.1,
                a: 1.9,
                b: 0.4,
            },
        ] {
            let direct = grouped.groups.iter().fold(0.0, |total, (customer, count)| {
                total
                    + count
                        * (parameters.log_likelihood_frequency_terms(customer.frequency())
                            + parameters.log_likelihood_time_terms(customer))
            });
            let shared = log_likelihood_grouped(&parameters, &grouped);
            assert_eq!(shared.to_bits(), direct.to_bits(), "{shared} {direct}");
        }
    }
}
