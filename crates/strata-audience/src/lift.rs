//! Lift of a campaign from its two arms: conversion and revenue per user,
//! their differences with confidence intervals, a p-value, and the
//! incremental profit.
//!
//! The methods, and why:
//! - absolute lift (difference of conversion rates): Newcombe's hybrid score
//!   interval (his method 10, built from two Wilson intervals), which keeps
//!   its coverage for small counts and rates near 0 where the Wald interval
//!   fails, and is what Newcombe (1998) recommends;
//! - relative lift (ratio of rates minus one): the log ratio interval of
//!   Katz et al. (1978), the delta method on ln(p_t / p_c); it needs a
//!   converter in each arm;
//! - p-value: the two-sided pooled z test of equal rates (z squared is
//!   Pearson's chi-square without continuity correction);
//! - revenue per user (all users of the arm, non-buyers at zero): Welch's t
//!   interval with Welch–Satterthwaite degrees of freedom, which does not
//!   assume equal variances (a campaign usually changes the variance);
//! - incremental profit: margin rate x (revenue per user difference) x
//!   treated users, minus the benefit's cost; its interval is the revenue
//!   interval carried through the same linear map.

use std::fmt;

use crate::distribution::{normal_cdf, normal_quantile, student_t_cdf, student_t_quantile};
use crate::error::Error;

/// Running totals of one arm. Revenue moments are kept with Welford's
/// update so a million small amounts do not lose the variance to rounding.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArmOutcomes {
    users: u64,
    converters: u64,
    mean_revenue: f64,
    squared_deviations: f64,
}

impl ArmOutcomes {
    /// One user of the arm: whether they converted in the window and their
    /// revenue there (zero for a non-buyer).
    pub fn record(&mut self, converted: bool, revenue: f64) {
        self.users += 1;
        self.converters += u64::from(converted);
        let delta = revenue - self.mean_revenue;
        self.mean_revenue += delta / self.users as f64;
        self.squared_deviations += delta * (revenue - self.mean_revenue);
    }

    /// Adds another part of the same arm (Chan et al.'s pairwise update).
    pub fn merge(&mut self, other: &ArmOutcomes) {
        if other.users == 0 {
            return;
        }
        let users = self.users + other.users;
        let delta = other.mean_revenue - self.mean_revenue;
        let weight = other.users as f64 / users as f64;
        self.squared_deviations +=
            other.squared_deviations + delta * delta * self.users as f64 * weight;
        self.mean_revenue += delta * weight;
        self.users = users;
        self.converters += other.converters;
    }

    pub fn users(&self) -> u64 {
        self.users
    }

    pub fn converters(&self) -> u64 {
        self.converters
    }

    pub fn conversion_rate(&self) -> f64 {
        ratio(self.converters, self.users)
    }

    pub fn revenue_per_user(&self) -> f64 {
        self.mean_revenue
    }

    /// Sample variance of revenue per user (n - 1 in the denominator).
    pub fn revenue_variance(&self) -> f64 {
        if self.users < 2 {
            return f64::NAN;
        }
        self.squared_deviations / (self.users - 1) as f64
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 / whole as f64
    }
}

/// A point estimate with a two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }

    fn map(self, function: impl Fn(f64) -> f64) -> Interval {
        Interval {
            estimate: function(self.estimate),
            low: function(self.low),
            high: function(self.high),
        }
    }
}

/// The two-sided z for `confidence` (1.96 for 0.95).
fn z_for(confidence: f64) -> f64 {
    normal_quantile(1.0 - (1.0 - confidence) / 2.0)
}

/// Wilson's score interval for `successes` of `trials` at normal quantile
/// `z`; the estimate is the plain proportion.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Interval {
    let n = trials as f64;
    let p = ratio(successes, trials);
    let z2 = z * z;
    let centre = (successes as f64 + z2 / 2.0) / (n + z2);
    let half = z * n.sqrt() / (n + z2) * (p * (1.0 - p) + z2 / (4.0 * n)).sqrt();
    Interval {
        estimate: p,
        // Clamped: at 0 or n successes rounding can step past the bound.
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// Newcombe's hybrid score interval for p1 - p2 (method 10 of Newcombe,
/// Statistics in Medicine 17:873, 1998).
pub fn newcombe_difference(
    successes_1: u64,
    trials_1: u64,
    successes_2: u64,
    trials_2: u64,
    confidence: f64,
) -> Interval {
    let z = z_for(confidence);
    let first = wilson_interval(successes_1, trials_1, z);
    let second = wilson_interval(successes_2, trials_2, z);
    let (p1, p2) = (first.estimate, second.estimate);
    let difference = p1 - p2;
    Interval {
        estimate: difference,
        low: difference - ((p1 - first.low).powi(2) + (second.high - p2).powi(2)).sqrt(),
        high: difference + ((first.high - p1).powi(2) + (p2 - second.low).powi(2)).sqrt(),
    }
}

/// Katz's log interval for p1 / p2 - 1; `None` without a success in both
/// groups, where the ratio or its log is undefined.
pub fn relative_difference(
    successes_1: u64,
    trials_1: u64,
    successes_2: u64,
    trials_2: u64,
    confidence: f64,
) -> Option<Interval> {
    if successes_1 == 0 || successes_2 == 0 {
        return None;
    }
    let (p1, p2) = (ratio(successes_1, trials_1), ratio(successes_2, trials_2));
    let log_ratio = (p1 / p2).ln();
    let standard_error = ((1.0 - p1) / successes_1 as f64 + (1.0 - p2) / successes_2 as f64).sqrt();
    let spread = z_for(confidence) * standard_error;
    Some(
        Interval {
            estimate: log_ratio,
            low: log_ratio - spread,
            high: log_ratio + spread,
        }
        .map(|log| log.exp() - 1.0),
    )
}

/// Two-sided p-value of the pooled z test of p1 = p2; 1 when both groups
/// are all successes or all failures (no evidence either way).
pub fn pooled_z_test(successes_1: u64, trials_1: u64, successes_2: u64, trials_2: u64) -> f64 {
    let pooled = ratio(successes_1 + successes_2, trials_1 + trials_2);
    let variance = pooled * (1.0 - pooled) * (1.0 / trials_1 as f64 + 1.0 / trials_2 as f64);
    if variance.is_nan() || variance <= 0.0 {
        return 1.0;
    }
    let z = (ratio(successes_1, trials_1) - ratio(successes_2, trials_2)) / variance.sqrt();
    2.0 * normal_cdf(-z.abs())
}

/// Welch's interval for mean_1 - mean_2, its degrees of freedom and the
/// two-sided p-value of equal means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchTest {
    pub difference: Interval,
    pub degrees_of_freedom: f64,
    pub p_value: f64,
}

/// Both groups need two members. With no spread at all in either group the
/// difference is known exactly: a zero-width interval and p-value 0 or 1.
pub fn welch_test(first: &ArmOutcomes, second: &ArmOutcomes, confidence: f64) -> WelchTest {
    let difference = first.revenue_per_user() - second.revenue_per_user();
    let share_1 = first.revenue_variance() / first.users as f64;
    let share_2 = second.revenue_variance() / second.users as f64;
    let variance = share_1 + share_2;
    if variance.is_nan() || variance <= 0.0 {
        return WelchTest {
            difference: Interval {
                estimate: difference,
                low: difference,
                high: difference,
            },
            degrees_of_freedom: (first.users + second.users) as f64 - 2.0,
            p_value: if difference == 0.0 { 1.0 } else { 0.0 },
        };
    }
    let degrees_of_freedom = variance * variance
        / (share_1 * share_1 / (first.users - 1) as f64
            + share_2 * share_2 / (second.users - 1) as f64);
    let standard_error = variance.sqrt();
    let spread =
        student_t_quantile(1.0 - (1.0 - confidence) / 2.0, degrees_of_freedom) * standard_error;
    let t = difference / standard_error;
    WelchTest {
        difference: Interval {
            estimate: difference,
            low: difference - spread,
            high: difference + spread,
        },
        degrees_of_freedom,
        p_value: 2.0 * student_t_cdf(-t.abs(), degrees_of_freedom),
    }
}

/// What a lift report needs besides the arms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiftOptions {
    /// Two-sided confidence of every interval, in (0, 1).
    pub confidence: f64,
    /// Share of revenue that is margin, in [0, 1].
    pub margin_rate: f64,
    /// What the benefit cost in the treatment arm (face value of the
    /// redemptions, sending costs), in revenue units.
    pub benefit_cost: f64,
}

impl LiftOptions {
    /// 95% intervals.
    pub fn new(margin_rate: f64, benefit_cost: f64) -> Self {
        LiftOptions {
            confidence: 0.95,
            margin_rate,
            benefit_cost,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |name, value, reason| {
            Err(Error::InvalidInput {
                name,
                value,
                reason,
            })
        };
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return invalid("confidence", self.confidence, "must be in (0, 1)");
        }
        if !(0.0..=1.0).contains(&self.margin_rate) {
            return invalid("margin_rate", self.margin_rate, "must be in [0, 1]");
        }
        if !(self.benefit_cost.is_finite() && self.benefit_cost >= 0.0) {
            return invalid(
                "benefit_cost",
                self.benefit_cost,
                "must be finite and at least 0",
            );
        }
        Ok(())
    }
}

/// One arm as a report shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmSummary {
    pub users: u64,
    pub converters: u64,
    pub conversion_rate: f64,
    pub revenue_per_user: f64,
}

impl From<&ArmOutcomes> for ArmSummary {
    fn from(arm: &ArmOutcomes) -> Self {
        ArmSummary {
            users: arm.users,
            converters: arm.converters,
            conversion_rate: arm.conversion_rate(),
            revenue_per_user: arm.revenue_per_user(),
        }
    }
}

/// A campaign's measured lift, treatment against control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lift {
    pub treatment: ArmSummary,
    pub control: ArmSummary,
    pub confidence: f64,
    /// Treatment minus control conversion rate (Newcombe).
    pub absolute: Interval,
    /// Treatment over control conversion rate, minus one (Katz log);
    /// `None` when an arm has no converter.
    pub relative: Option<Interval>,
    /// Pooled z test of equal conversion rates, two-sided.
    pub p_value: f64,
    /// Treatment minus control revenue per user (Welch).
    pub revenue_per_user: Interval,
    pub revenue_degrees_of_freedom: f64,
    pub revenue_p_value: f64,
    /// Margin on the extra revenue of the treated users, minus the
    /// benefit cost.
    pub incremental_profit: Interval,
}

/// Measures lift; each arm needs at least two users.
pub fn measure_lift(
    treatment: &ArmOutcomes,
    control: &ArmOutcomes,
    options: &LiftOptions,
) -> Result<Lift, Error> {
    options.validate()?;
    for (arm, outcomes) in [("treatment", treatment), ("control", control)] {
        if outcomes.users < 2 {
            return Err(Error::TooFewUsers {
                arm,
                users: outcomes.users,
            });
        }
    }
    let counts = (
        treatment.converters,
        treatment.users,
        control.converters,
        control.users,
    );
    let welch = welch_test(treatment, control, options.confidence);
    let treated = treatment.users as f64;
    let incremental_profit = welch
        .difference
        .map(|difference| options.margin_rate * difference * treated - options.benefit_cost);
    Ok(Lift {
        treatment: treatment.into(),
        control: control.into(),
        confidence: options.confidence,
        absolute: newcombe_difference(counts.0, counts.1, counts.2, counts.3, options.confidence),
        relative: relative_difference(counts.0, counts.1, counts.2, counts.3, options.confidence),
        p_value: pooled_z_test(counts.0, counts.1, counts.2, counts.3),
        revenue_per_user: welch.difference,
        revenue_degrees_of_freedom: welch.degrees_of_freedom,
        revenue_p_value: welch.p_value,
        incremental_profit,
    })
}

impl fmt::Display for Lift {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.in_currency(""))
    }
}

impl Lift {
    /// The table, with `currency` (an ISO code, or empty) after every money
    /// figure.
    pub fn in_currency<'a>(&'a self, currency: &'a str) -> LiftTable<'a> {
        LiftTable {
            lift: self,
            currency,
        }
    }
}

/// A [`Lift`] printed with its currency: [`Lift::in_currency`].
pub struct LiftTable<'a> {
    lift: &'a Lift,
    currency: &'a str,
}

impl fmt::Display for LiftTable<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lift = self.lift;
        let currency = if self.currency.is_empty() {
            String::new()
        } else {
            format!(" {}", self.currency)
        };
        let percent = lift.confidence * 100.0;
        writeln!(
            formatter,
            "{:<10} {:>10} {:>10} {:>10} {:>14}",
            "arm", "users", "converters", "conv rate", "revenue/user"
        )?;
        for (name, arm) in [("treatment", &lift.treatment), ("control", &lift.control)] {
            writeln!(
                formatter,
                "{name:<10} {:>10} {:>10} {:>9.3}% {:>14.2}{currency}",
                arm.users,
                arm.converters,
                arm.conversion_rate * 100.0,
                arm.revenue_per_user
            )?;
        }
        writeln!(
            formatter,
            "absolute lift      {} points ({percent}% CI, Newcombe), p {}",
            points(&lift.absolute),
            p_phrase(lift.p_value)
        )?;
        writeln!(
            formatter,
            "relative lift      {} ({percent}% CI, log ratio)",
            lift.relative
                .as_ref()
                .map_or("none (an arm has no converter)".to_owned(), percents)
        )?;
        writeln!(
            formatter,
            "revenue/user lift  {}{currency} ({percent}% CI, Welch, df {:.1}), p {}",
            amounts(&lift.revenue_per_user),
            lift.revenue_degrees_of_freedom,
            p_phrase(lift.revenue_p_value)
        )?;
        writeln!(
            formatter,
            "incremental profit {}{currency} ({percent}% CI)",
            amounts(&lift.incremental_profit)
        )
    }
}

pub(crate) fn points(interval: &Interval) -> String {
    format!(
        "{:+.2} [{:+.2}, {:+.2}]",
        interval.estimate * 100.0,
        interval.low * 100.0,
        interval.high * 100.0
    )
}

pub(crate) fn percents(interval: &Interval) -> String {
    format!(
        "{:+.1}% [{:+.1}%, {:+.1}%]",
        interval.estimate * 100.0,
        interval.low * 100.0,
        interval.high * 100.0
    )
}

pub(crate) fn amounts(interval: &Interval) -> String {
    format!(
        "{:+.2} [{:+.2}, {:+.2}]",
        interval.estimate, interval.low, interval.high
    )
}

fn p_phrase(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".to_owned()
    } else {
        format!("= {p:.4}")
    }
}

pub(crate) fn p_value(p: f64) -> String {
    if p < 1e-4 {
        "<0.0001".to_owned()
    } else {
        format!("{p:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const Z95: f64 = 1.959963984540054;

    fn close(actual: f64, expected: f64, tolerance: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{what}: {actual} vs {expected}"
        );
    }

    fn check_interval(actual: &Interval, expected: (f64, f64, f64), tolerance: f64, what: &str) {
        close(actual.estimate, expected.0, tolerance, what);
        close(actual.low, expected.1, tolerance, what);
        close(actual.high, expected.2, tolerance, what);
    }

    #[test]
    fn wilson_matches_newcombe_1998_table_one() {
        // Newcombe, Two-sided confidence intervals for the single
        // proportion, Statistics in Medicine 17:857 (1998), Table I,
        // method 3 (score, no continuity correction), to 4 decimals.
        for (successes, trials, low, high) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
            (29, 29, 0.8830, 1.0),
            (0, 1, 0.0, 0.7935),
        ] {
            let interval = wilson_interval(successes, trials, Z95);
            let what = format!("{successes}/{trials}");
            close(interval.low, low, 5e-5, &what);
            close(interval.high, high, 5e-5, &what);
        }
    }

    #[test]
    fn newcombe_matches_newcombe_1998_table_two() {
        // Newcombe, Interval estimation for the difference between
        // independent proportions, Statistics in Medicine 17:873 (1998),
        // Table II, method 10, examples (a) to (f).
        for (x1, n1, x2, n2, expected) in [
            (56, 70, 48, 80, (0.2, 0.0524, 0.3339)),
            (9, 10, 3, 10, (0.6, 0.1705, 0.8090)),
            (6, 7, 2, 7, (0.5714, 0.0582, 0.8062)),
            (5, 56, 0, 29, (0.0893, -0.0381, 0.1926)),
            (0, 10, 0, 20, (0.0, -0.1611, 0.2775)),
            (10, 10, 0, 20, (1.0, 0.6791, 1.0)),
        ] {
            let interval = newcombe_difference(x1, n1, x2, n2, 0.95);
            check_interval(&interval, expected, 5e-5, &format!("{x1}/{n1} - {x2}/{n2}"));
        }
    }

    #[test]
    fn ratio_and_z_test_match_hand_computation() {
        // 56/70 vs 48/80: ratio 4/3, se of the log ratio
        // sqrt(0.2/56 + 0.4/48); z = 0.2 / sqrt(104/150 * 46/150 * (1/70 + 1/80)),
        // whose square is R's prop.test(correct = FALSE) X-squared, 7.0234.
        let relative = relative_difference(56, 70, 48, 80, 0.95).unwrap();
        check_interval(
            &relative,
            (1.0 / 3.0, 0.07662642276319276, 0.6512485112663873),
            1e-9,
            "ratio",
        );
        close(
            pooled_z_test(56, 70, 48, 80),
            0.008045081368196568,
            1e-12,
            "p",
        );
        assert_eq!(relative_difference(0, 70, 48, 80, 0.95), None);
        assert_eq!(pooled_z_test(0, 10, 0, 20), 1.0);
        assert_eq!(pooled_z_test(10, 10, 20, 20), 1.0);
    }

    fn arm(values: &[f64]) -> ArmOutcomes {
        let mut arm = ArmOutcomes::default();
        for value in values {
            arm.record(*value > 0.0, *value);
        }
        arm
    }

    #[test]
    fn welch_matches_r_on_the_sleep_data() {
        // R: t.test(extra ~ group, data = sleep): t = -1.8608,
        // df = 17.776, p-value = 0.07939, 95% CI -3.3654832 0.2054832.
        let first = arm(&[0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]);
        let second = arm(&[1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]);
        let welch = welch_test(&first, &second, 0.95);
        check_interval(
            &welch.difference,
            (-1.58, -3.3654832, 0.2054832),
            5e-8,
            "ci",
        );
        close(welch.degrees_of_freedom, 17.776, 5e-4, "df");
        close(welch.p_value, 0.07939, 5e-6, "p");
    }

    #[test]
    fn arms_merge_like_one_pass() {
        let values = [3.0, 0.0, 0.0, 120.5, 7.25, 0.0, 99.0];
        let whole = arm(&values);
        let mut halves = arm(&values[..3]);
        halves.merge(&arm(&values[3..]));
        halves.merge(&ArmOutcomes::default());
        assert_eq!(halves.users(), whole.users());
        assert_eq!(halves.converters(), 4);
        close(
            halves.revenue_per_user(),
            whole.revenue_per_user(),
            1e-12,
            "mean",
        );
        close(
            halves.revenue_variance(),
            whole.revenue_variance(),
            1e-9,
            "variance",
        );
        close(
            whole.revenue_variance(),
            2807.0148809523807,
            1e-9,
            "variance by hand",
        );
    }

    #[test]
    fn profit_carries_the_revenue_interval() {
        let treatment = arm(&[10.0, 0.0, 20.0, 0.0]);
        let control = arm(&[0.0, 0.0, 10.0, 0.0]);
        let lift = measure_lift(&treatment, &control, &LiftOptions::new(0.25, 3.0)).unwrap();
        // Revenue per user 7.5 vs 2.5: +5 per treated user, 4 users, 25%
        // margin, minus 3 of benefit cost.
        close(lift.incremental_profit.estimate, 2.0, 1e-12, "profit");
        let scale = |revenue: f64| 0.25 * revenue * 4.0 - 3.0;
        close(
            lift.incremental_profit.low,
            scale(lift.revenue_per_user.low),
            1e-12,
            "low",
        );
        close(
            lift.incremental_profit.high,
            scale(lift.revenue_per_user.high),
            1e-12,
            "high",
        );
        let text = lift.to_string();
        assert!(text.contains("treatment"), "{text}");
        assert!(text.contains("+25.00 ["), "absolute lift in points: {text}");
    }

    #[test]
    fn bad_inputs_are_refused() {
        let two = arm(&[1.0, 0.0]);
        let one = arm(&[1.0]);
        assert_eq!(
            measure_lift(&two, &one, &LiftOptions::new(0.3, 0.0)),
            Err(Error::TooFewUsers {
                arm: "control",
                users: 1
            })
        );
        for options in [
            LiftOptions::new(1.5, 0.0),
            LiftOptions::new(0.3, -1.0),
            LiftOptions {
                confidence: 1.0,
                ..LiftOptions::new(0.3, 0.0)
            },
        ] {
            assert!(matches!(
                measure_lift(&two, &two, &options),
                Err(Error::InvalidInput { .. })
            ));
        }
        // No spread anywhere: an exact, zero-width revenue interval.
        let zeros = arm(&[0.0, 0.0, 0.0]);
        let lift = measure_lift(&zeros, &zeros, &LiftOptions::new(0.3, 0.0)).unwrap();
        assert_eq!(lift.revenue_per_user.low, lift.revenue_per_user.high);
        assert_eq!(lift.relative, None);
        assert_eq!(lift.p_value, 1.0);
    }

    /// One simulated experiment: each user converts with `rate`, and a
    /// converter spends an exponential amount with mean `spend`.
    fn simulate(rng: &mut StdRng, users: u64, rate: f64, spend: f64) -> ArmOutcomes {
        let mut outcomes = ArmOutcomes::default();
        for _ in 0..users {
            let converted = rng.random::<f64>() < rate;
            let revenue = if converted {
                -spend * (1.0 - rng.random::<f64>()).ln()
            } else {
                0.0
            };
            outcomes.record(converted, revenue);
        }
        outcomes
    }

    #[test]
    fn intervals_cover_a_known_lift_in_simulation() {
        // 200 seeded experiments of 2,000 users per arm: control converts
        // at 5% spending 50 on average, treatment at 6.5% spending 55. The
        // true lifts are +1.5 points of conversion and
        // 0.065 * 55 - 0.05 * 50 = +1.075 revenue per user.
        let (experiments, users) = (200, 2_000);
        let (true_absolute, true_relative, true_revenue) = (0.015, 0.3, 1.075);
        let mut rng = StdRng::seed_from_u64(20_240_301);
        let mut covered = [0u32; 3];
        for _ in 0..experiments {
            let treatment = simulate(&mut rng, users, 0.065, 55.0);
            let control = simulate(&mut rng, users, 0.05, 50.0);
            let lift = measure_lift(&treatment, &control, &LiftOptions::new(0.3, 0.0)).unwrap();
            covered[0] += u32::from(lift.absolute.contains(true_absolute));
            covered[1] += u32::from(lift.relative.is_some_and(|r| r.contains(true_relative)));
            covered[2] += u32::from(lift.revenue_per_user.contains(true_revenue));
        }
        for (name, count) in ["absolute", "relative", "revenue"].iter().zip(covered) {
            let coverage = f64::from(count) / f64::from(experiments);
            assert!(coverage >= 0.9, "{name} coverage {coverage}");
        }
    }
}
