//! Customer lifetime value: the BG/NBD purchase model, the Gamma-Gamma spend
//! model, and the per-customer summaries (frequency, recency, age, mean
//! spend) both are fitted on, following the conventions of Fader, Hardie and
//! Lee (2005) and the BTYD and `lifetimes` packages.
//!
//! References: Fader, Hardie and Lee 2005a, "Counting your customers the
//! easy way: an alternative to the Pareto/NBD model" (Marketing Science
//! 24(2)); 2005b, "RFM and CLV: using iso-value curves for customer base
//! analysis" (Journal of Marketing Research 42(4)).
//!
//! Time is in weeks of 7 days throughout. Fits are maximum likelihood by
//! Nelder-Mead on the logarithms of the parameters, which keeps every
//! parameter positive without constraints.

mod bgnbd;
mod gamma_gamma;
#[cfg(test)]
mod simulation_tests;
pub mod special;

use std::borrow::Cow;

use argmin::core::{CostFunction, Executor, State, TerminationReason};
use argmin::solver::neldermead::NelderMead;

use crate::error::Error;

pub use bgnbd::{BgNbdFit, BgNbdParameters, ExpectedPurchases, fit_bg_nbd};
pub use gamma_gamma::{GammaGammaFit, GammaGammaParameters, fit_gamma_gamma};

/// Days in the week the models count time in.
const DAYS_PER_WEEK: f64 = 7.0;

/// One customer's purchase history, reduced to what the models read.
///
/// Invariants (checked by [`CustomerSummary::new`]): recency and age are
/// finite, `0 <= recency <= age`, recency is 0 when frequency is 0, and the
/// mean repeat spend is finite and non-negative (ignored when frequency is 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CustomerSummary {
    frequency: u32,
    recency: f64,
    age: f64,
    mean_repeat_spend: f64,
}

impl CustomerSummary {
    /// `frequency` is x (repeat purchase days), `recency` is t_x (weeks from
    /// the first to the last purchase), `age` is T (weeks from the first
    /// purchase to the end of calibration).
    pub fn new(
        frequency: u32,
        recency: f64,
        age: f64,
        mean_repeat_spend: f64,
    ) -> Result<Self, Error> {
        let invalid = |reason: String| Err(Error::InvalidSummary { reason });
        if !(recency.is_finite() && age.is_finite() && recency >= 0.0 && recency <= age) {
            return invalid(format!(
                "need 0 <= recency <= age, both finite; got recency {recency}, age {age}"
            ));
        }
        if frequency == 0 && recency != 0.0 {
            return invalid(format!(
                "a customer with no repeat purchase has recency 0, got {recency}"
            ));
        }
        if !(mean_repeat_spend.is_finite() && mean_repeat_spend >= 0.0) {
            return invalid(format!(
                "mean repeat spend must be finite and non-negative, got {mean_repeat_spend}"
            ));
        }
        Ok(Self {
            frequency,
            recency,
            age,
            mean_repeat_spend,
        })
    }

    /// x: purchase days after the first one.
    pub fn frequency(&self) -> u32 {
        self.frequency
    }

    /// t_x: weeks from the first purchase day to the last.
    pub fn recency(&self) -> f64 {
        self.recency
    }

    /// T: weeks from the first purchase day to the end of calibration.
    pub fn age(&self) -> f64 {
        self.age
    }

    /// Mean amount of the repeat purchase days (the first day excluded);
    /// 0 when there is no repeat purchase.
    pub fn mean_repeat_spend(&self) -> f64 {
        self.mean_repeat_spend
    }
}

/// One purchase: a day number (any fixed epoch, one per calendar day) and
/// its amount. Several entries on one day count as one purchase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PurchaseDay {
    pub day: i32,
    pub amount: f64,
}

/// Summarises one customer's purchases as of `calibration_end` (a day number,
/// inclusive) following the lifetime-value conventions: entries on the same
/// day are one purchase with their amounts summed; purchases after
/// `calibration_end` are ignored; zero amounts still count as purchases; the
/// first purchase day is excluded from the mean spend.
///
/// Errors name the offending entry when an amount is negative or not finite,
/// and refuse a customer with no purchase in the calibration period.
pub fn summarize_purchases(
    purchases: &[PurchaseDay],
    calibration_end: i32,
) -> Result<CustomerSummary, Error> {
    for (index, purchase) in purchases.iter().enumerate() {
        if !(purchase.amount.is_finite() && purchase.amount >= 0.0) {
            return Err(Error::InvalidPurchase {
                index,
                reason: format!(
                    "amount must be finite and non-negative, got {}",
                    purchase.amount
                ),
            });
        }
    }
    // Histories arrive in day order almost always; copy only when they do not.
    let ordered: Cow<'_, [PurchaseDay]> = if purchases.is_sorted_by_key(|purchase| purchase.day) {
        Cow::Borrowed(purchases)
    } else {
        let mut sorted = purchases.to_vec();
        sorted.sort_by_key(|purchase| purchase.day);
        Cow::Owned(sorted)
    };
    let in_calibration = ordered
        .iter()
        .take_while(|purchase| purchase.day <= calibration_end);
    let mut first_day = None;
    let mut last_day = 0;
    let mut repeat_days = 0_u32;
    let mut repeat_spend = 0.0;
    for purchase in in_calibration {
        let Some(first) = first_day else {
            first_day = Some(purchase.day);
            last_day = purchase.day;
            continue;
        };
        if purchase.day != last_day {
            repeat_days += 1;
            last_day = purchase.day;
        }
        if purchase.day != first {
            repeat_spend += purchase.amount;
        }
    }
    let Some(first_day) = first_day else {
        return Err(Error::NoPurchaseInCalibration { calibration_end });
    };
    let weeks = |from: i32, to: i32| f64::from(to - from) / DAYS_PER_WEEK;
    let mean_repeat_spend = if repeat_days == 0 {
        0.0
    } else {
        repeat_spend / f64::from(repeat_days)
    };
    CustomerSummary::new(
        repeat_days,
        weeks(first_day, last_day),
        weeks(first_day, calibration_end),
        mean_repeat_spend,
    )
}

/// A customer's predicted value over the next `horizon` weeks: expected
/// purchases from BG/NBD (Fader, Hardie and Lee 2005a, eq. 10) times the
/// expected spend per purchase from Gamma-Gamma (Fader, Hardie and Lee
/// 2005b).
///
/// The product is exact, not an approximation, because the Gamma-Gamma model
/// assumes spend per purchase is independent of the purchase process. It is
/// undiscounted: a horizon of a few years at typical discount rates moves the
/// value by a few percent, and a discounted variant (the paper's DERL) needs
/// a rate the caller does not have yet.
pub fn predicted_value(
    purchases: &BgNbdParameters,
    spend: &GammaGammaParameters,
    horizon: f64,
    summary: &CustomerSummary,
) -> Result<f64, Error> {
    Ok(purchases.expected_purchases(horizon, summary)? * spend.expected_average_spend(summary)?)
}

/// Standard deviation of the simplex's objective values (mean negative
/// log-likelihood per customer) at which Nelder-Mead stops. Near the optimum
/// a change of 1e-4 in a log-parameter moves this objective by roughly
/// 1e-9, so 1e-12 pins parameters well past the three decimals published.
const SIMPLEX_TOLERANCE: f64 = 1e-12;

/// Restarts stop once a fresh simplex improves the objective by less than
/// this; restarting is the standard guard against Nelder-Mead collapsing
/// its simplex before the optimum (Lagarias et al. 1998).
const RESTART_IMPROVEMENT: f64 = 1e-11;

const MAXIMUM_RESTARTS: u32 = 8;

const MAXIMUM_ITERATIONS: u64 = 20_000;

/// The minimum an objective reached.
pub(crate) struct Minimum {
    pub(crate) point: Vec<f64>,
    pub(crate) value: f64,
    pub(crate) iterations: u64,
}

/// Log-parameters beyond this (parameters past about 1e10 or below 1e-10)
/// mean the likelihood is flat in that direction: the data do not identify
/// the parameter, and a fitted value there would be noise.
const LOG_PARAMETER_LIMIT: f64 = 23.0;

impl Minimum {
    /// Refuses a minimum where a log-parameter ran past the limit; `hint`
    /// says what in the data usually causes it.
    pub(crate) fn identified(self, model: &'static str, hint: &str) -> Result<Minimum, Error> {
        match self
            .point
            .iter()
            .find(|value| value.abs() > LOG_PARAMETER_LIMIT)
        {
            Some(log_parameter) => Err(Error::NotConverged {
                model,
                iterations: self.iterations,
                reason: format!(
                    "a parameter ran to {:e}: the data do not identify it{hint}",
                    log_parameter.exp()
                ),
            }),
            None => Ok(self),
        }
    }
}

/// Adapts a closure to argmin; non-finite values become +infinity so the
/// simplex backs away from overflow instead of sorting NaN arbitrarily.
struct Objective<F>(F);

impl<F: Fn(&[f64]) -> f64> CostFunction for Objective<F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, point: &Self::Param) -> Result<f64, argmin::core::Error> {
        let value = (self.0)(point);
        Ok(if value.is_finite() {
            value
        } else {
            f64::INFINITY
        })
    }
}

/// Minimises `objective` by Nelder-Mead from `start`, restarting from the
/// best point with a smaller simplex until a restart no longer helps.
pub(crate) fn minimize(
    model: &'static str,
    objective: impl Fn(&[f64]) -> f64,
    start: Vec<f64>,
) -> Result<Minimum, Error> {
    let mut best_value = objective(&start);
    if !best_value.is_finite() {
        return Err(Error::DegenerateInput {
            model,
            reason: format!("the log-likelihood is not finite at the starting point {start:?}"),
        });
    }
    let mut best = start;
    let mut iterations = 0;
    let mut step = 1.0;
    for restart in 0..=MAXIMUM_RESTARTS {
        let not_converged = |iterations, reason: String| Error::NotConverged {
            model,
            iterations,
            reason,
        };
        let solver = NelderMead::new(simplex(&best, step))
            .with_sd_tolerance(SIMPLEX_TOLERANCE)
            .map_err(|error| not_converged(iterations, error.to_string()))?;
        let remaining = MAXIMUM_ITERATIONS - iterations;
        let result = Executor::new(Objective(&objective), solver)
            .configure(|state| state.max_iters(remaining))
            .run()
            .map_err(|error| not_converged(iterations, error.to_string()))?;
        let state = result.state();
        iterations += state.get_iter();
        if state.get_termination_reason() != Some(&TerminationReason::SolverConverged) {
            return Err(not_converged(
                iterations,
                format!("stopped by {:?}", state.get_termination_reason()),
            ));
        }
        let Some(point) = state.get_best_param() else {
            return Err(not_converged(iterations, "no best point".to_owned()));
        };
        let value = state.get_best_cost();
        let improvement = best_value - value;
        if value < best_value {
            best_value = value;
            best.clone_from(point);
        }
        if restart > 0 && improvement < RESTART_IMPROVEMENT {
            return Ok(Minimum {
                point: best,
                value: best_value,
                iterations,
            });
        }
        step = 0.1;
    }
    Err(Error::NotConverged {
        model,
        iterations,
        reason: format!("still improving after {MAXIMUM_RESTARTS} restarts"),
    })
}

/// The starting simplex: `center` and one vertex `step` along each axis.
fn simplex(center: &[f64], step: f64) -> Vec<Vec<f64>> {
    let mut vertices = vec![center.to_vec()];
    for axis in 0..center.len() {
        let mut vertex = center.to_vec();
        vertex[axis] += step;
        vertices.push(vertex);
    }
    vertices
}

/// The distinct customers by `key`, each once with how many share its key,
/// in key order (a fixed order, so sums over them do not depend on the
/// order of the input). The likelihoods are evaluated per distinct summary:
/// at day resolution there are far fewer than customers.
fn count_distinct<K: Ord>(
    customers: &[CustomerSummary],
    key: impl Fn(&CustomerSummary) -> K,
) -> Vec<(CustomerSummary, f64)> {
    let mut sorted = customers.to_vec();
    sorted.sort_by_key(&key);
    let mut groups: Vec<(CustomerSummary, f64)> = Vec::new();
    for customer in sorted {
        match groups.last_mut() {
            Some((last, count)) if key(last) == key(&customer) => *count += 1.0,
            _ => groups.push((customer, 1.0)),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purchase(day: i32, amount: f64) -> PurchaseDay {
        PurchaseDay { day, amount }
    }

    fn check(purchases: &[PurchaseDay], end: i32, expected: (u32, f64, f64, f64)) {
        let summary = summarize_purchases(purchases, end).expect("valid history");
        let actual = (
            summary.frequency(),
            summary.recency(),
            summary.age(),
            summary.mean_repeat_spend(),
        );
        assert_eq!(actual, expected, "{purchases:?} until day {end}");
    }

    #[test]
    fn summaries_follow_the_conventions() {
        // One purchase: no repeat, recency 0, mean spend 0.
        check(&[purchase(0, 10.0)], 14, (0, 0.0, 2.0, 0.0));
        // Same day twice is one purchase, and the first day's spend is excluded.
        check(
            &[purchase(0, 10.0), purchase(0, 5.0), purchase(7, 20.0)],
            14,
            (1, 1.0, 2.0, 20.0),
        );
        // Repeat days' amounts are summed per day before averaging.
        check(
            &[
                purchase(0, 1.0),
                purchase(7, 3.0),
                purchase(7, 3.0),
                purchase(14, 12.0),
            ],
            21,
            (2, 2.0, 3.0, 9.0),
        );
        // Zero amounts count, order does not matter, later purchases are ignored.
        check(
            &[purchase(35, 4.0), purchase(7, 0.0), purchase(0, 0.0)],
            28,
            (1, 1.0, 4.0, 0.0),
        );
    }

    #[test]
    fn summaries_refuse_bad_input() {
        let negative = summarize_purchases(&[purchase(0, 1.0), purchase(1, -2.0)], 10);
        assert!(matches!(
            negative,
            Err(Error::InvalidPurchase { index: 1, .. })
        ));
        let late = summarize_purchases(&[purchase(11, 1.0)], 10);
        assert!(matches!(late, Err(Error::NoPurchaseInCalibration { .. })));
        assert!(CustomerSummary::new(0, 1.0, 2.0, 0.0).is_err());
        assert!(CustomerSummary::new(2, 3.0, 2.0, 5.0).is_err());
        assert!(CustomerSummary::new(2, 1.0, f64::NAN, 5.0).is_err());
        assert!(CustomerSummary::new(2, 1.0, 2.0, -5.0).is_err());
    }

    #[test]
    fn predicted_value_is_purchases_times_spend() {
        let purchases = BgNbdParameters {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let spend = GammaGammaParameters {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let summary = CustomerSummary::new(3, 20.0, 30.0, 40.0).expect("valid summary");
        let value = predicted_value(&purchases, &spend, 52.0, &summary).expect("defined");
        let expected = purchases
            .expected_purchases(52.0, &summary)
            .expect("defined")
            * spend.expected_average_spend(&summary).expect("defined");
        assert_eq!(value, expected);
        assert!(value > 0.0);
    }

    #[test]
    fn minimize_finds_a_quadratic_minimum() {
        let minimum = minimize(
            "quadratic",
            |point| (point[0] - 1.5).powi(2) + 3.0 * (point[1] + 0.5).powi(2),
            vec![0.0, 0.0],
        )
        .expect("converges");
        assert!((minimum.point[0] - 1.5).abs() < 1e-5);
        assert!((minimum.point[1] + 0.5).abs() < 1e-5);
    }
}
