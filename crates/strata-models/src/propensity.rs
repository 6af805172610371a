//! Propensity to buy in the next 30 days: L2-regularised logistic regression
//! on standardised features, fitted by Newton's method (iteratively
//! reweighted least squares) with a backtracking line search.
//!
//! Newton on a handful of features is exact and converges in well under 20
//! steps; the ridge makes the objective strictly convex, so separable data
//! (where the unpenalised maximum is at infinity) still has one finite answer.
//! The intercept is not penalised. A feature whose scale is zero (constant in
//! the training rows) gets weight zero and is ignored at prediction time.
//!
//! ## Features the caller should build (as of T-30, labels from (T-30, T])
//! The model takes any numbers; these are the ones that carry signal in
//! repeat-purchase data, and that the recompute job already has:
//! - recency: days since the last purchase (or `ln(1 + days)`; the tail is long);
//! - frequency: purchase days in the last 365 days, `ln(1 + count)`;
//! - monetary: mean order value, `ln(1 + value)`;
//! - tenure: days since the first purchase;
//! - BG/NBD expected purchases in the next 30 days and its P(alive): the
//!   lifetime model's own forecast is usually the single strongest feature;
//! - intent: browses, cart adds and offer responses in the last 7 and 30 days;
//! - channel engagement: responses / sends over all channels.
//!
//! Labels must come strictly after the features' cut-off, or the score learns
//! the future.

use crate::Error;
use crate::evaluation::check_length;
use serde::{Deserialize, Serialize};

/// How the logistic regression is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticConfig {
    /// The ridge `lambda` in `-log-likelihood + lambda / 2 * |w|^2`, on
    /// standardised weights, summed over rows (not averaged), so its pull
    /// fades as the training set grows.
    pub l2_penalty: f64,
    pub max_iterations: u32,
    /// Stop when the Newton decrement (predicted objective decrease) is
    /// below this.
    pub tolerance: f64,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        LogisticConfig {
            l2_penalty: 1.0,
            max_iterations: 50,
            tolerance: 1e-10,
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    means: Vec<f64>,
    /// Standard deviation per feature; 0 for a constant (ignored) feature.
    scales: Vec<f64>,
    intercept: f64,
    /// Weights on the standardised features.
    weights: Vec<f64>,
    iterations: u32,
}

impl LogisticModel {
    /// Fits `P(label) = 1 / (1 + exp(-(b + w . z)))`, where `z` is each row
    /// of `features` standardised with the training means and scales.
    pub fn fit<Row: AsRef<[f64]>>(
        features: &[Row],
        labels: &[bool],
        config: &LogisticConfig,
    ) -> Result<LogisticModel, Error> {
        check_config(config)?;
        let width = check_features(features)?;
        check_length("labels", labels.len(), features.len())?;
        let positives = labels.iter().filter(|label| **label).count();
        if positives == 0 || positives == labels.len() {
            return Err(Error::DegenerateInput {
                model: "logistic regression",
                reason: format!(
                    "labels need both classes, got {positives} positive of {}",
                    labels.len()
                ),
            });
        }

        let (means, scales) = standardisation(features, width);
        let standardised: Vec<Vec<f64>> = features
            .iter()
            .map(|row| standardise(row.as_ref(), &means, &scales))
            .collect();
        let active: Vec<bool> = scales.iter().map(|scale| *scale > 0.0).collect();
        let targets: Vec<f64> = labels
            .iter()
            .map(|label| f64::from(u8::from(*label)))
            .collect();
        let (parameters, iterations) = newton(&standardised, &targets, &active, config)?;
        Ok(LogisticModel {
            means,
            scales,
            intercept: parameters[0],
            weights: parameters[1..].to_vec(),
            iterations,
        })
    }

    /// The probability of a purchase for one row of raw (unstandardised)
    /// features, in `0..=1`.
    ///
    /// # Panics
    /// If `features` does not have one value per fitted feature: that is a
    /// bug in the caller's feature builder, not bad data.
    pub fn predict(&self, features: &[f64]) -> f64 {
        assert_eq!(
            features.len(),
            self.means.len(),
            "one value per fitted feature"
        );
        sigmoid(self.linear(features))
    }

    /// The intercept on the raw feature scale.
    pub fn intercept(&self) -> f64 {
        let shift: f64 = self
            .coefficients()
            .iter()
            .zip(&self.means)
            .map(|(coefficient, mean)| coefficient * mean)
            .sum();
        self.intercept - shift
    }

    /// Log-odds per unit of each raw feature (0 for an ignored feature).
    pub fn coefficients(&self) -> Vec<f64> {
        self.weights
            .iter()
            .zip(&self.scales)
            .map(|(weight, scale)| if *scale > 0.0 { weight / scale } else { 0.0 })
            .collect()
    }

    /// Log-odds per standard deviation of each feature: comparable across
    /// features, so the ones to read when asking what drives the score.
    pub fn standardised_coefficients(&self) -> &[f64] {
        &self.weights
    }

    /// Newton steps the fit took.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    fn linear(&self, features: &[f64]) -> f64 {
        let mut sum = self.intercept;
        for (index, value) in features.iter().enumerate() {
            if self.scales[index] > 0.0 {
                sum += self.weights[index] * (value - self.means[index]) / self.scales[index];
            }
        }
        sum
    }
}

fn check_config(config: &LogisticConfig) -> Result<(), Error> {
    if !(config.l2_penalty.is_finite() && config.l2_penalty >= 0.0) {
        return Err(Error::InvalidArgument {
            name: "l2_penalty",
            reason: format!("must be finite and >= 0, got {}", config.l2_penalty),
        });
    }
    if !(config.tolerance.is_finite() && config.tolerance > 0.0) {
        return Err(Error::InvalidArgument {
            name: "tolerance",
            reason: format!("must be finite and > 0, got {}", config.tolerance),
        });
    }
    Ok(())
}

/// The common row width, after checking every value is finite.
fn check_features<Row: AsRef<[f64]>>(features: &[Row]) -> Result<usize, Error> {
    let Some(first) = features.first() else {
        return Err(Error::DegenerateInput {
            model: "logistic regression",
            reason: "no training rows".into(),
        });
    };
    let width = first.as_ref().len();
    for (row_index, row) in features.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != width {
            return Err(Error::InvalidInput {
                input: format!("features[{row_index}]"),
                reason: format!("has {} values, row 0 has {width}", row.len()),
            });
        }
        if let Some(column) = row.iter().position(|value| !value.is_finite()) {
            return Err(Error::InvalidInput {
                input: format!("features[{row_index}][{column}]"),
                reason: format!("must be finite, got {}", row[column]),
            });
        }
    }
    Ok(width)
}

fn standardisation<Row: AsRef<[f64]>>(features: &[Row], width: usize) -> (Vec<f64>, Vec<f64>) {
    let count = features.len() as f64;
    let mut means = vec![0.0; width];
    for row in features {
        for (mean, value) in means.iter_mut().zip(row.as_ref()) {
            *mean += value / count;
        }
    }
    let mut variances = vec![0.0; width];
    for row in features {
        for ((variance, value), mean) in variances.iter_mut().zip(row.as_ref()).zip(&means) {
            *variance += (value - mean) * (value - mean) / count;
        }
    }
    let scales = variances
        .iter()
        .zip(&means)
        .map(|(variance, mean)| {
            let scale = variance.sqrt();
            // Rounding leaves a tiny spread on a constant column; treat a
            // spread below 1e-12 of its magnitude as none.
            if scale <= 1e-12 * mean.abs().max(1.0) {
                0.0
            } else {
                scale
            }
        })
        .collect();
    (means, scales)
}

fn standardise(row: &[f64], means: &[f64], scales: &[f64]) -> Vec<f64> {
    row.iter()
        .zip(means)
        .zip(scales)
        .map(|((value, mean), scale)| {
            if *scale > 0.0 {
                (value - mean) / scale
            } else {
                0.0
            }
        })
        .collect()
}

/// Minimises the penalised negative log-likelihood over `[intercept,
/// weights...]`; returns the parameters and the Newton steps taken.
fn newton(
    rows: &[Vec<f64>],
    targets: &[f64],
    active: &[bool],
    config: &LogisticConfig,
) -> Result<(Vec<f64>, u32), Error> {
    let dimension = active.len() + 1;
    let mut parameters = vec![0.0; dimension];
    // Starting at the base rate makes the first step small for rare events.
    let base_rate = targets.iter().sum::<f64>() / targets.len() as f64;
    parameters[0] = (base_rate / (1.0 - base_rate)).ln();
    let mut objective = penalised_loss(rows, targets, &parameters, config.l2_penalty);

    for iteration in 1..=config.max_iterations {
        let (gradient, hessian) =
            derivatives(rows, targets, active, &parameters, config.l2_penalty);
        let Some(step) = solve_cholesky(hessian, &gradient) else {
            return Err(Error::NotConverged {
                model: "logistic regression",
                iterations: u64::from(iteration),
                reason: "the Hessian is not positive definite".into(),
            });
        };
        let decrement: f64 = gradient.iter().zip(&step).map(|(g, s)| g * s).sum();
        if decrement / 2.0 < config.tolerance {
            return Ok((parameters, iteration - 1));
        }

        let mut length = 1.0;
        loop {
            let candidate: Vec<f64> = parameters
                .iter()
                .zip(&step)
                .map(|(p, s)| p - length * s)
                .collect();
            let candidate_objective = penalised_loss(rows, targets, &candidate, config.l2_penalty);
            // Armijo condition: at least a quarter of the decrease the
            // quadratic model promises.
            if candidate_objective <= objective - 0.25 * length * decrement {
                parameters = candidate;
                objective = candidate_objective;
                break;
            }
            length /= 2.0;
            if length < 1e-10 {
                // No descent left at machine precision: this is the minimum.
                return Ok((parameters, iteration));
            }
        }
    }
    Err(Error::NotConverged {
        model: "logistic regression",
        iterations: u64::from(config.max_iterations),
        reason: "the Newton decrement stayed above the tolerance".into(),
    })
}

fn penalised_loss(rows: &[Vec<f64>], targets: &[f64], parameters: &[f64], l2_penalty: f64) -> f64 {
    let loss: f64 = rows
        .iter()
        .zip(targets)
        .map(|(row, target)| {
            let linear = linear_predictor(row, parameters);
            // -log-likelihood = log(1 + e^eta) - y * eta, computed without overflow.
            softplus(linear) - target * linear
        })
        .sum();
    let penalty: f64 = parameters[1..].iter().map(|weight| weight * weight).sum();
    loss + l2_penalty / 2.0 * penalty
}

fn derivatives(
    rows: &[Vec<f64>],
    targets: &[f64],
    active: &[bool],
    parameters: &[f64],
    l2_penalty: f64,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let dimension = parameters.len();
    let mut gradient = vec![0.0; dimension];
    let mut hessian = vec![vec![0.0; dimension]; dimension];
    let mut design = vec![0.0; dimension];
    design[0] = 1.0;
    for (row, target) in rows.iter().zip(targets) {
        design[1..].copy_from_slice(row);
        let probability = sigmoid(linear_predictor(row, parameters));
        let residual = probability - target;
        let weight = probability * (1.0 - probability);
        for ((gradient, hessian_row), value) in gradient.iter_mut().zip(&mut hessian).zip(&design) {
            *gradient += residual * value;
            for (cell, other) in hessian_row.iter_mut().zip(&design) {
                *cell += weight * value * other;
            }
        }
    }
    for i in 1..dimension {
        gradient[i] += l2_penalty * parameters[i];
        hessian[i][i] += l2_penalty;
        if !active[i - 1] {
            // An ignored feature is all zeros: pin its weight at 0 with a
            // unit diagonal so the system stays solvable.
            gradient[i] = 0.0;
            hessian[i][i] = 1.0;
        }
    }
    // A tiny ridge keeps separable, unpenalised fits solvable; it changes the
    // answer far below the tolerance.
    for (i, row) in hessian.iter_mut().enumerate() {
        row[i] += 1e-9;
    }
    (gradient, hessian)
}

/// Solves `matrix * x = right` for a symmetric positive definite `matrix`.
fn solve_cholesky(mut matrix: Vec<Vec<f64>>, right: &[f64]) -> Option<Vec<f64>> {
    let size = right.len();
    // In place: the lower triangle becomes L with matrix = L * L^T.
    for j in 0..size {
        let diagonal = matrix[j][j] - (0..j).map(|k| matrix[j][k] * matrix[j][k]).sum::<f64>();
        if !diagonal.is_finite() || diagonal <= 0.0 {
            return None;
        }
        let diagonal = diagonal.sqrt();
        matrix[j][j] = diagonal;
        for i in j + 1..size {
            let dot: f64 = (0..j).map(|k| matrix[i][k] * matrix[j][k]).sum();
            matrix[i][j] = (matrix[i][j] - dot) / diagonal;
        }
    }
    let mut forward = vec![0.0; size];
    for i in 0..size {
        let dot: f64 = (0..i).map(|k| matrix[i][k] * forward[k]).sum();
        forward[i] = (right[i] - dot) / matrix[i][i];
    }
    let mut solution = vec![0.0; size];
    for i in (0..size).rev() {
        let dot: f64 = (i + 1..size).map(|k| matrix[k][i] * solution[k]).sum();
        solution[i] = (forward[i] - dot) / matrix[i][i];
    }
    Some(solution)
}

fn linear_predictor(row: &[f64], parameters: &[f64]) -> f64 {
    parameters[0]
        + row
            .iter()
            .zip(&parameters[1..])
            .map(|(value, weight)| value * weight)
            .sum::<f64>()
}

fn sigmoid(linear: f64) -> f64 {
    if linear >= 0.0 {
        1.0 / (1.0 + (-linear).exp())
    } else {
        let exponential = linear.exp();
        exponential / (1.0 + exponential)
    }
}

/// `ln(1 + e^x)` without overflow for large `x`.
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

    #[test]
    fn separable_data_gets_finite_coefficients() {
        let features: Vec<[f64; 1]> = (0..20).map(|i| [f64::from(i)]).collect();
        let labels: Vec<bool> = (0..20).map(|i| i >= 10).collect();
        let model = LogisticModel::fit(&features, &labels, &LogisticConfig::default())
            .expect("the ridge makes separable data fittable");
        let slope = model.coefficients()[0];
        assert!(slope.is_finite() && slope > 0.0, "slope {slope}");
        assert!(model.predict(&[0.0]) < 0.05 && model.predict(&[19.0]) > 0.95);
        assert!((model.predict(&[9.5]) - 0.5).abs() < 1e-6, "symmetric data");
    }

    #[test]
    fn constant_feature_is_ignored() {
        let features: Vec<[f64; 2]> = (0..40).map(|i| [7.0, f64::from(i % 8)]).collect();
        let labels: Vec<bool> = (0..40).map(|i| i % 8 >= 5 || i % 5 == 0).collect();
        let model = LogisticModel::fit(&features, &labels, &LogisticConfig::default())
            .expect("a constant column is not an error");
        assert_eq!(model.coefficients()[0], 0.0);
        assert!(model.coefficients()[1] > 0.0);
        // Whatever the constant column holds at prediction time, it is ignored.
        assert_eq!(model.predict(&[7.0, 3.0]), model.predict(&[1000.0, 3.0]));
    }

    #[test]
    fn refuses_bad_input_by_name() {
        let config = LogisticConfig::default();
        let error = LogisticModel::fit(&[[1.0], [f64::INFINITY]], &[true, false], &config)
            .expect_err("infinite value");
        assert_eq!(error.to_string(), "features[1][0]: must be finite, got inf");
        let ragged = vec![vec![1.0, 2.0], vec![1.0]];
        let error = LogisticModel::fit(&ragged, &[true, false], &config).expect_err("ragged");
        assert_eq!(error.to_string(), "features[1]: has 1 values, row 0 has 2");
        assert!(LogisticModel::fit(&[[1.0], [2.0]], &[true, true], &config).is_err());
        assert!(LogisticModel::fit(&[[1.0], [2.0]], &[true], &config).is_err());
        let empty: &[[f64; 1]] = &[];
        assert!(LogisticModel::fit(empty, &[], &config).is_err());
    }
}
