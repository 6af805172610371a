//! Whether a probability means what it says, and the fix when it does not:
//! the Brier score, log loss and a reliability curve, and two calibrators
//! fitted on held-out rows, Platt scaling and isotonic regression.
//!
//! ## Scores and scales
//! A calibrator maps a score, higher meaning more likely (the convention of
//! [`crate::evaluation::roc_auc`]), to a probability. The score may already
//! be a probability from a model ([`ScoreScale::Probability`]: Platt works on
//! its log-odds) or any number such as a baseline's expected purchases or
//! minus the days since the last purchase ([`ScoreScale::Raw`]: Platt works
//! on the standardised score). Isotonic regression only uses the order of the
//! scores, so it ignores the scale.
//!
//! ## Platt scaling
//! `p = sigmoid(a z + b)`, a one-feature logistic regression fitted by Newton's
//! method, with Platt's (1999) smoothed targets `(N+ + 1) / (N+ + 2)` and
//! `1 / (N- + 2)` instead of 1 and 0, so a perfectly separating score still
//! has a finite slope. Two parameters: stable on a few hundred rows, but it
//! can only bend the score along a sigmoid.
//!
//! ## Isotonic regression
//! The non-decreasing step function of the score closest to the labels in
//! squared error, fitted by pool-adjacent-violators (PAV) over the scores
//! sorted, tied scores pooled first (they must get one probability). Any
//! monotone shape, but it needs more rows than Platt and overfits small sets.
//! `apply` interpolates linearly between the ends of the fitted steps (as
//! scikit-learn does) and clamps outside the fitted range. Within a step the
//! fit is flat, which would tie scores the model had ranked apart and lower
//! the AUC of the served probabilities; so `apply` mixes in `1e-6` of the
//! score's position among the step ends, which makes it strictly increasing
//! over the fitted range while moving no probability by more than `1e-6`.
//!
//! ## Honest figures
//! A calibrator judged on the rows it was fitted on looks better than it is
//! (isotonic most of all). [`cross_fitted`] gives out-of-fold calibrated
//! probabilities: rows are split into `folds` (stratified by label, seeded),
//! and each fold is calibrated by a calibrator fitted on the other folds. The
//! Brier score and reliability curve of those are honest estimates for a
//! calibrator fitted on all the rows.

use crate::Error;
use crate::evaluation::check_length;
use crate::gbt::SplitMix64;
use serde::{Deserialize, Serialize};

/// The mean squared difference between the probabilities and the 0/1
/// outcomes: 0 is perfect, `r (1 - r)` is what the base rate `r` alone scores.
pub fn brier_score(probabilities: &[f64], labels: &[bool]) -> Result<f64, Error> {
    check_probabilities(probabilities, labels)?;
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, label)| {
            let outcome = f64::from(u8::from(*label));
            (p - outcome) * (p - outcome)
        })
        .sum();
    Ok(total / probabilities.len() as f64)
}

/// The mean negative log-likelihood (natural log), probabilities clamped to
/// `[1e-15, 1 - 1e-15]` so a confident miss costs about 34.5, not infinity.
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> Result<f64, Error> {
    check_probabilities(probabilities, labels)?;
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, label)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if *label { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(total / probabilities.len() as f64)
}

/// One bin of a reliability curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub count: usize,
    /// Mean predicted probability in the bin.
    pub mean_predicted: f64,
    /// Share of the bin's rows whose label is true.
    pub observed_rate: f64,
    pub min_predicted: f64,
    pub max_predicted: f64,
}

/// The reliability curve with `bins` equal-count bins (fewer when there are
/// fewer rows): rows sorted by probability, cut into consecutive groups whose
/// sizes differ by at most one. Equal-count rather than equal-width because
/// propensities bunch near the base rate, and equal-width bins would leave
/// most of them nearly empty. A calibrated score has `observed_rate` close to
/// `mean_predicted` in every bin.
pub fn reliability_curve(
    probabilities: &[f64],
    labels: &[bool],
    bins: usize,
) -> Result<Vec<ReliabilityBin>, Error> {
    check_probabilities(probabilities, labels)?;
    if bins == 0 {
        return Err(Error::InvalidArgument {
            name: "bins",
            reason: "must be at least 1".into(),
        });
    }
    let count = probabilities.len();
    let bins = bins.min(count);
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by(|a, b| probabilities[*a].total_cmp(&probabilities[*b]));
    Ok((0..bins)
        .map(|bin| {
            let members = &order[bin * count / bins..(bin + 1) * count / bins];
            let size = members.len() as f64;
            ReliabilityBin {
                count: members.len(),
                mean_predicted: members.iter().map(|i| probabilities[*i]).sum::<f64>() / size,
                observed_rate: members.iter().filter(|i| labels[**i]).count() as f64 / size,
                min_predicted: probabilities[members[0]],
                max_predicted: probabilities[members[members.len() - 1]],
            }
        })
        .collect())
}

/// The count-weighted mean of `|mean_predicted - observed_rate|` over a
/// reliability curve's bins: one number for the curve's distance from the
/// diagonal.
pub fn expected_calibration_error(curve: &[ReliabilityBin]) -> f64 {
    let total: usize = curve.iter().map(|bin| bin.count).sum();
    if total == 0 {
        return 0.0;
    }
    curve
        .iter()
        .map(|bin| bin.count as f64 * (bin.mean_predicted - bin.observed_rate).abs())
        .sum::<f64>()
        / total as f64
}

/// The calibrator families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalibrationMethod {
    Platt,
    Isotonic,
}

/// What a score is; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreScale {
    /// A probability in `0..=1` (Platt fits on its log-odds).
    Probability,
    /// Any finite number, higher meaning more likely.
    Raw,
}

/// A fitted map from score to probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Calibrator {
    Platt(PlattScaling),
    Isotonic(IsotonicRegression),
}

/// `sigmoid(slope * (x - centre) / spread + intercept)`, `x` the score or its
/// log-odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlattScaling {
    scale: ScoreScale,
    centre: f64,
    /// 0 when the scores were constant (the slope is then 0 too).
    spread: f64,
    slope: f64,
    intercept: f64,
}

/// A non-decreasing piecewise-linear map through `(knots[i], values[i])`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsotonicRegression {
    /// Strictly increasing scores: each fitted step's lowest and highest.
    knots: Vec<f64>,
    /// Non-decreasing probabilities at the knots.
    values: Vec<f64>,
}

/// The share of the knot position mixed into isotonic output to break its
/// ties (see the module documentation).
const TIE_BREAK: f64 = 1e-6;

impl Calibrator {
    /// Fits `method` to map `scores` to the probability of `labels`.
    pub fn fit(
        method: CalibrationMethod,
        scores: &[f64],
        labels: &[bool],
        scale: ScoreScale,
    ) -> Result<Calibrator, Error> {
        match method {
            CalibrationMethod::Platt => Calibrator::fit_platt(scores, labels, scale),
            CalibrationMethod::Isotonic => Calibrator::fit_isotonic(scores, labels),
        }
    }

    pub fn fit_platt(
        scores: &[f64],
        labels: &[bool],
        scale: ScoreScale,
    ) -> Result<Calibrator, Error> {
        check_scores(scores, labels)?;
        let inputs: Vec<f64> = scores.iter().map(|s| platt_input(scale, *s)).collect();
        let count = inputs.len() as f64;
        let centre = inputs.iter().sum::<f64>() / count;
        let variance = inputs
            .iter()
            .map(|x| (x - centre) * (x - centre))
            .sum::<f64>()
            / count;
        let spread = variance.sqrt();
        let spread = if spread > 1e-12 * centre.abs().max(1.0) {
            spread
        } else {
            0.0
        };
        let positives = labels.iter().filter(|label| **label).count() as f64;
        let negatives = count - positives;
        let high = (positives + 1.0) / (positives + 2.0);
        let low = 1.0 / (negatives + 2.0);
        let targets: Vec<f64> = labels
            .iter()
            .map(|label| if *label { high } else { low })
            .collect();
        let standardised: Vec<f64> = inputs
            .iter()
            .map(|x| {
                if spread > 0.0 {
                    (x - centre) / spread
                } else {
                    0.0
                }
            })
            .collect();
        let (slope, intercept) = fit_logistic_1d(&standardised, &targets)?;
        Ok(Calibrator::Platt(PlattScaling {
            scale,
            centre,
            spread,
            slope,
            intercept,
        }))
    }

    pub fn fit_isotonic(scores: &[f64], labels: &[bool]) -> Result<Calibrator, Error> {
        check_scores(scores, labels)?;
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
        // Tied scores pooled into one observation before PAV.
        let mut distinct: Vec<f64> = Vec::new();
        let mut means: Vec<f64> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for index in order {
            let outcome = f64::from(u8::from(labels[index]));
            if distinct.last() == Some(&scores[index]) {
                let last = means.len() - 1;
                means[last] += outcome;
                weights[last] += 1.0;
            } else {
                distinct.push(scores[index]);
                means.push(outcome);
                weights.push(1.0);
            }
        }
        for (mean, weight) in means.iter_mut().zip(&weights) {
            *mean /= weight;
        }
        let fitted = pool_adjacent_violators(&means, &weights);
        // Keep only each step's two ends: the interpolation between them is
        // the same, and the model stays small.
        let mut knots = Vec::new();
        let mut values = Vec::new();
        for (index, (score, value)) in distinct.iter().zip(&fitted).enumerate() {
            let starts_step = index == 0 || fitted[index - 1] != *value;
            let ends_step = index + 1 == fitted.len() || fitted[index + 1] != *value;
            if starts_step || ends_step {
                knots.push(*score);
                values.push(value.clamp(0.0, 1.0));
            }
        }
        Ok(Calibrator::Isotonic(IsotonicRegression { knots, values }))
    }

    /// The calibrated probability of `score`, in `0..=1`.
    pub fn apply(&self, score: f64) -> f64 {
        match self {
            Calibrator::Platt(platt) => {
                let z = if platt.spread > 0.0 {
                    (platt_input(platt.scale, score) - platt.centre) / platt.spread
                } else {
                    0.0
                };
                sigmoid(platt.slope * z + platt.intercept)
            }
            Calibrator::Isotonic(isotonic) => isotonic.apply(score),
        }
    }

    pub fn method(&self) -> CalibrationMethod {
        match self {
            Calibrator::Platt(_) => CalibrationMethod::Platt,
            Calibrator::Isotonic(_) => CalibrationMethod::Isotonic,
        }
    }
}

impl IsotonicRegression {
    fn apply(&self, score: f64) -> f64 {
        let knots = &self.knots;
        let last = knots.len() - 1;
        if last == 0 {
            return self.values[0];
        }
        // (interpolated value, position among the knots in 0..=last)
        let (value, position) = if score.is_nan() || score <= knots[0] {
            (self.values[0], 0.0)
        } else if score >= knots[last] {
            (self.values[last], last as f64)
        } else {
            let upper = knots.partition_point(|knot| *knot <= score);
            let lower = upper - 1;
            let t = (score - knots[lower]) / (knots[upper] - knots[lower]);
            let value = self.values[lower] + t * (self.values[upper] - self.values[lower]);
            (value, lower as f64 + t)
        };
        (1.0 - TIE_BREAK) * value + TIE_BREAK * position / last as f64
    }
}

/// The non-decreasing sequence closest to `values` in weighted squared error
/// (`values` already in the order that must be respected), by
/// pool-adjacent-violators: merge neighbouring blocks while a block's mean
/// exceeds the next one's. O(n). Each block's fitted value is its weighted
/// mean, so the weighted sum of the output equals that of the input.
///
/// # Panics
/// If the lengths differ or a weight is not positive.
pub fn pool_adjacent_violators(values: &[f64], weights: &[f64]) -> Vec<f64> {
    assert_eq!(values.len(), weights.len(), "one weight per value");
    assert!(weights.iter().all(|w| *w > 0.0), "weights must be positive");
    // (weighted sum, weight, values covered)
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(values.len());
    for (value, weight) in values.iter().zip(weights) {
        blocks.push((value * weight, *weight, 1));
        while blocks.len() >= 2 {
            let (sum, weight, covered) = blocks[blocks.len() - 1];
            let previous = blocks[blocks.len() - 2];
            if previous.0 / previous.1 >= sum / weight {
                blocks.pop();
                let merged = blocks.last_mut().expect("two blocks");
                merged.0 += sum;
                merged.1 += weight;
                merged.2 += covered;
            } else {
                break;
            }
        }
    }
    let mut fitted = Vec::with_capacity(values.len());
    for (sum, weight, covered) in blocks {
        fitted.extend(std::iter::repeat_n(sum / weight, covered));
    }
    fitted
}

/// Out-of-fold calibrated probabilities: row `i` is calibrated by a
/// calibrator of `method` fitted on the other folds (see the module
/// documentation). `folds` (>= 2) is capped at the smaller class's size, so
/// every fitting part sees both classes when the data has them.
pub fn cross_fitted(
    method: CalibrationMethod,
    scores: &[f64],
    labels: &[bool],
    scale: ScoreScale,
    folds: usize,
    seed: u64,
) -> Result<Vec<f64>, Error> {
    check_scores(scores, labels)?;
    if folds < 2 {
        return Err(Error::InvalidArgument {
            name: "folds",
            reason: format!("must be at least 2, got {folds}"),
        });
    }
    let assignment = stratified_folds(labels, folds, seed);
    let folds = assignment.iter().max().map_or(1, |last| last + 1);
    if folds < 2 {
        return Err(Error::DegenerateInput {
            model: "calibration",
            reason: format!("{} rows are too few to cross-fit", scores.len()),
        });
    }
    let mut calibrated = vec![0.0; scores.len()];
    for fold in 0..folds {
        let (fit_scores, fit_labels): (Vec<f64>, Vec<bool>) = assignment
            .iter()
            .zip(scores.iter().zip(labels))
            .filter(|(assigned, _)| **assigned != fold)
            .map(|(_, (score, label))| (*score, *label))
            .unzip();
        let calibrator = Calibrator::fit(method, &fit_scores, &fit_labels, scale)?;
        for (index, assigned) in assignment.iter().enumerate() {
            if *assigned == fold {
                calibrated[index] = calibrator.apply(scores[index]);
            }
        }
    }
    Ok(calibrated)
}

/// A fold in `0..folds` per row: each class shuffled (seeded) and dealt out
/// in turn, so every fold gets its share of both classes. With fewer rows of
/// the smaller class than `folds`, fewer folds are used (at least 1).
pub(crate) fn stratified_folds(labels: &[bool], folds: usize, seed: u64) -> Vec<usize> {
    let positives = labels.iter().filter(|label| **label).count();
    let smaller = positives.min(labels.len() - positives);
    let folds = if smaller > 0 {
        folds.min(smaller)
    } else {
        folds.min(labels.len())
    }
    .max(1);
    let mut random = SplitMix64::new(seed);
    let mut assignment = vec![0; labels.len()];
    for class in [true, false] {
        let mut members: Vec<usize> = (0..labels.len()).filter(|i| labels[*i] == class).collect();
        // Fisher-Yates.
        for i in (1..members.len()).rev() {
            members.swap(i, random.below(i + 1));
        }
        for (position, member) in members.into_iter().enumerate() {
            assignment[member] = position % folds;
        }
    }
    assignment
}

fn platt_input(scale: ScoreScale, score: f64) -> f64 {
    match scale {
        ScoreScale::Raw => score,
        ScoreScale::Probability => {
            let p = score.clamp(1e-12, 1.0 - 1e-12);
            (p / (1.0 - p)).ln()
        }
    }
}

/// Minimises the cross-entropy of `sigmoid(a x + b)` against `targets` in
/// `(0, 1)`; returns `(a, b)`. Newton with a backtracking line search; the
/// smoothed targets keep the minimum finite.
fn fit_logistic_1d(inputs: &[f64], targets: &[f64]) -> Result<(f64, f64), Error> {
    let objective = |a: f64, b: f64| -> f64 {
        inputs
            .iter()
            .zip(targets)
            .map(|(x, t)| {
                let eta = a * x + b;
                softplus(eta) - t * eta
            })
            .sum()
    };
    let mean_target = targets.iter().sum::<f64>() / targets.len() as f64;
    let (mut a, mut b) = (0.0, (mean_target / (1.0 - mean_target)).ln());
    let mut current = objective(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (x, t) in inputs.iter().zip(targets) {
            let p = sigmoid(a * x + b);
            let w = p * (1.0 - p);
            ga += (p - t) * x;
            gb += p - t;
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        // A tiny ridge keeps the 2x2 system solvable for constant inputs.
        haa += 1e-9;
        hbb += 1e-9;
        let determinant = haa * hbb - hab * hab;
        if !(determinant.is_finite() && determinant > 0.0) {
            break;
        }
        let step_a = (hbb * ga - hab * gb) / determinant;
        let step_b = (haa * gb - hab * ga) / determinant;
        let decrement = ga * step_a + gb * step_b;
        if decrement / 2.0 < 1e-12 {
            return Ok((a, b));
        }
        let mut length = 1.0;
        loop {
            let (na, nb) = (a - length * step_a, b - length * step_b);
            let candidate = objective(na, nb);
            if candidate <= current - 0.25 * length * decrement {
                (a, b, current) = (na, nb, candidate);
                break;
            }
            length /= 2.0;
            if length < 1e-10 {
                return Ok((a, b));
            }
        }
    }
    if a.is_finite() && b.is_finite() {
        Ok((a, b))
    } else {
        Err(Error::NotConverged {
            model: "Platt scaling",
            iterations: 100,
            reason: "the parameters left the finite range".into(),
        })
    }
}

fn check_scores(scores: &[f64], labels: &[bool]) -> Result<(), Error> {
    check_length("labels", labels.len(), scores.len())?;
    if scores.is_empty() {
        return Err(Error::DegenerateInput {
            model: "calibration",
            reason: "no scores".into(),
        });
    }
    if let Some(index) = scores.iter().position(|score| !score.is_finite()) {
        return Err(Error::InvalidInput {
            input: format!("scores[{index}]"),
            reason: format!("must be finite, got {}", scores[index]),
        });
    }
    Ok(())
}

fn check_probabilities(probabilities: &[f64], labels: &[bool]) -> Result<(), Error> {
    check_length("labels", labels.len(), probabilities.len())?;
    if probabilities.is_empty() {
        return Err(Error::DegenerateInput {
            model: "calibration",
            reason: "no probabilities".into(),
        });
    }
    if let Some(index) = probabilities.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(Error::InvalidInput {
            input: format!("probabilities[{index}]"),
            reason: format!("must be in 0..=1, got {}", probabilities[index]),
        });
    }
    Ok(())
}

fn sigmoid(linear: f64) -> f64 {
    if linear >= 0.0 {
        1.0 / (1.0 + (-linear).exp())
    } else {
        let exponential = linear.exp();
        exponential / (1.0 + exponential)
    }
}

fn softplus(linear: f64) -> f64 {
    if linear > 0.0 {
        linear + (-linear).exp().ln_1p()
    } else {
        linear.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::roc_auc;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// True probabilities spread over (0.02, 0.6), the labels drawn from
    /// them, and an overconfident score: the log-odds tripled and shifted.
    fn miscalibrated(count: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<bool>) {
        let mut random = StdRng::seed_from_u64(seed);
        let mut truth = Vec::with_capacity(count);
        let mut scores = Vec::with_capacity(count);
        let mut labels = Vec::with_capacity(count);
        for _ in 0..count {
            let p: f64 = 0.02 + 0.58 * random.random::<f64>();
            let logit = (p / (1.0 - p)).ln();
            truth.push(p);
            scores.push(sigmoid(3.0 * logit + 1.5));
            labels.push(random.random::<f64>() < p);
        }
        (truth, scores, labels)
    }

    #[test]
    fn platt_and_isotonic_reduce_the_brier_score_out_of_sample() {
        let (_, fit_scores, fit_labels) = miscalibrated(5_000, 1);
        let (truth, scores, labels) = miscalibrated(20_000, 2);
        let raw = brier_score(&scores, &labels).unwrap();
        let best = brier_score(&truth, &labels).unwrap();
        for method in [CalibrationMethod::Platt, CalibrationMethod::Isotonic] {
            let calibrator =
                Calibrator::fit(method, &fit_scores, &fit_labels, ScoreScale::Probability).unwrap();
            assert_eq!(calibrator.method(), method);
            let calibrated: Vec<f64> = scores.iter().map(|s| calibrator.apply(*s)).collect();
            let brier = brier_score(&calibrated, &labels).unwrap();
            eprintln!("{method:?}: Brier raw {raw:.4} -> {brier:.4} (truth {best:.4})");
            assert!(brier < raw - 0.02, "{method:?}: {brier} vs raw {raw}");
            assert!(brier < best + 0.002, "{method:?}: {brier} vs truth {best}");
            assert!(log_loss(&calibrated, &labels).unwrap() < log_loss(&scores, &labels).unwrap());
            // Monotone maps keep the ranking (isotonic thanks to its tie
            // break), so the AUC is unchanged.
            let auc_raw = roc_auc(&scores, &labels).unwrap();
            let auc = roc_auc(&calibrated, &labels).unwrap();
            assert!(
                (auc - auc_raw).abs() < 1e-3,
                "{method:?}: AUC {auc_raw} -> {auc}"
            );
        }
        // Platt on the log-odds recovers the generating map exactly:
        // slope 1/3 on the score's log-odds.
        let Calibrator::Platt(platt) =
            Calibrator::fit_platt(&scores, &labels, ScoreScale::Probability).unwrap()
        else {
            unreachable!()
        };
        let slope = platt.slope / platt.spread;
        assert!((slope - 1.0 / 3.0).abs() < 0.03, "slope {slope}");
    }

    #[test]
    fn raw_scores_become_probabilities() {
        // A baseline score on its own scale (days since the last purchase,
        // negated): P = sigmoid(-0.05 days).
        let mut random = StdRng::seed_from_u64(3);
        let days: Vec<f64> = (0..10_000)
            .map(|_| random.random_range(0.0..120.0))
            .collect();
        let labels: Vec<bool> = days
            .iter()
            .map(|d| random.random::<f64>() < sigmoid(2.0 - 0.05 * d))
            .collect();
        let scores: Vec<f64> = days.iter().map(|d| -d).collect();
        for method in [CalibrationMethod::Platt, CalibrationMethod::Isotonic] {
            let calibrator = Calibrator::fit(method, &scores, &labels, ScoreScale::Raw).unwrap();
            for day in [0.0, 40.0, 100.0] {
                let expected = sigmoid(2.0 - 0.05 * day);
                let got = calibrator.apply(-day);
                assert!(
                    (got - expected).abs() < 0.06,
                    "{method:?} day {day}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn pav_output_is_monotone_and_keeps_the_mean() {
        let mut random = StdRng::seed_from_u64(4);
        let values: Vec<f64> = (0..2_000)
            .map(|i| f64::from(i) / 2_000.0 + random.random::<f64>() - 0.5)
            .collect();
        let weights: Vec<f64> = (0..2_000).map(|_| random.random_range(0.5..2.0)).collect();
        let fitted = pool_adjacent_violators(&values, &weights);
        assert_eq!(fitted.len(), values.len());
        assert!(fitted.windows(2).all(|pair| pair[0] <= pair[1]));
        let sum = |xs: &[f64]| xs.iter().zip(&weights).map(|(x, w)| x * w).sum::<f64>();
        assert!((sum(&fitted) - sum(&values)).abs() < 1e-6);
        // Already monotone input is returned as is; a decreasing one is
        // pooled into its mean.
        assert_eq!(
            pool_adjacent_violators(&[1.0, 2.0, 3.0], &[1.0; 3]),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(
            pool_adjacent_violators(&[3.0, 2.0, 1.0], &[1.0; 3]),
            [2.0; 3]
        );
        assert_eq!(
            pool_adjacent_violators(&[1.0, 3.0, 2.0, 4.0], &[1.0, 1.0, 3.0, 1.0]),
            [1.0, 2.25, 2.25, 4.0]
        );

        // The fitted calibrator is strictly increasing inside its range.
        let (_, scores, labels) = miscalibrated(3_000, 5);
        let calibrator = Calibrator::fit_isotonic(&scores, &labels).unwrap();
        let mut grid: Vec<f64> = scores.clone();
        grid.sort_by(f64::total_cmp);
        grid.dedup();
        let mapped: Vec<f64> = grid.iter().map(|s| calibrator.apply(*s)).collect();
        assert!(mapped.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(mapped.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn tied_scores_get_one_probability() {
        let scores = [0.1, 0.1, 0.1, 0.1, 0.9, 0.9];
        let labels = [true, false, false, false, true, false];
        let calibrator = Calibrator::fit_isotonic(&scores, &labels).unwrap();
        assert!((calibrator.apply(0.1) - 0.25).abs() < 1e-5);
        assert!((calibrator.apply(0.9) - 0.5).abs() < 1e-5);
        // Constant scores: Platt falls back to the smoothed base rate.
        let platt = Calibrator::fit_platt(&[0.3; 4], &[true, false, false, false], ScoreScale::Raw)
            .unwrap();
        assert!((platt.apply(0.3) - 0.3).abs() < 0.1);
        assert_eq!(platt.apply(0.3), platt.apply(100.0));
    }

    #[test]
    fn reliability_curve_has_equal_count_bins() {
        let (truth, _, labels) = miscalibrated(10_001, 6);
        let curve = reliability_curve(&truth, &labels, 10).unwrap();
        assert_eq!(curve.len(), 10);
        assert_eq!(curve.iter().map(|bin| bin.count).sum::<usize>(), 10_001);
        assert!(
            curve
                .iter()
                .all(|bin| bin.count == 1_000 || bin.count == 1_001)
        );
        assert!(
            curve
                .windows(2)
                .all(|pair| pair[0].max_predicted <= pair[1].min_predicted)
        );
        // The truth is calibrated: every bin's rate is near its mean.
        for bin in &curve {
            assert!(
                (bin.mean_predicted - bin.observed_rate).abs() < 0.05,
                "{bin:?}"
            );
        }
        assert!(expected_calibration_error(&curve) < 0.02);
        assert_eq!(reliability_curve(&[0.5], &[true], 10).unwrap().len(), 1);
        assert!(reliability_curve(&[1.5], &[true], 10).is_err());
    }

    #[test]
    fn cross_fitting_is_honest_about_isotonic_overfit() {
        // Scores carry no information: in-sample isotonic finds spurious
        // steps, out-of-fold it cannot beat the base rate.
        let mut random = StdRng::seed_from_u64(7);
        let scores: Vec<f64> = (0..400).map(|_| random.random::<f64>()).collect();
        let labels: Vec<bool> = (0..400).map(|_| random.random::<f64>() < 0.3).collect();
        let rate = labels.iter().filter(|l| **l).count() as f64 / 400.0;
        let base = rate * (1.0 - rate);
        let fitted = Calibrator::fit_isotonic(&scores, &labels).unwrap();
        let in_sample: Vec<f64> = scores.iter().map(|s| fitted.apply(*s)).collect();
        let out_of_fold = cross_fitted(
            CalibrationMethod::Isotonic,
            &scores,
            &labels,
            ScoreScale::Raw,
            5,
            1,
        )
        .unwrap();
        let in_brier = brier_score(&in_sample, &labels).unwrap();
        let out_brier = brier_score(&out_of_fold, &labels).unwrap();
        assert!(
            in_brier < base,
            "in-sample {in_brier} flatters vs base {base}"
        );
        assert!(out_brier > base, "out-of-fold {out_brier} vs base {base}");
        // The folds are stratified and seeded.
        let folds = stratified_folds(&labels, 5, 1);
        assert_eq!(folds, stratified_folds(&labels, 5, 1));
        for fold in 0..5 {
            let positives = (0..400).filter(|i| folds[*i] == fold && labels[*i]).count();
            assert!((positives as f64 - rate * 80.0).abs() <= 1.0);
        }
    }

    #[test]
    fn refuses_bad_input_by_name() {
        assert_eq!(
            brier_score(&[0.5, f64::NAN], &[true, false])
                .unwrap_err()
                .to_string(),
            "probabilities[1]: must be in 0..=1, got NaN"
        );
        assert!(brier_score(&[], &[]).is_err());
        assert!(brier_score(&[0.5], &[true, false]).is_err());
        assert_eq!(
            Calibrator::fit_isotonic(&[f64::INFINITY], &[true])
                .unwrap_err()
                .to_string(),
            "scores[0]: must be finite, got inf"
        );
        assert!(
            cross_fitted(
                CalibrationMethod::Platt,
                &[0.1, 0.2],
                &[true, false],
                ScoreScale::Raw,
                1,
                0
            )
            .is_err()
        );
    }
}
