//! Off-policy value of an offer policy from randomised issues, with
//! confidence intervals.
//!
//! ## Scores
//! For issue `i` with logged arm `A_i`, propensity `p_i`, outcome `Y_i` and
//! outcome-model predictions `mu_a(x_i)` (fitted without issue `i`), the
//! doubly robust value of taking arm `a` is
//! `G_i(a) = mu_a(x_i) + [A_i = a] (Y_i - mu_a(x_i)) / p_i`,
//! unbiased for `E[Y | x_i, do(a)]` when `p_i` is right, whatever `mu`; a
//! good `mu` removes most of the variance (how much the user buys anyway).
//! A policy's value against sending nothing is the mean of
//! `s_i = G_i(pi(x_i)) - G_i(none)`, which is exactly 0 where the policy
//! sends nothing. The inverse-propensity score
//! `[A_i = pi(x_i)] Y_i / p_i - [A_i = none] Y_i / p_i` (0 where the policy
//! sends nothing) needs no model and is the cross-check: it agrees with DR on
//! average, with a wider interval.
//!
//! ## Intervals
//! Normal intervals `mean +- z se`, with the standard error clustered by
//! user: `se^2 = G/(G-1) sum_g (S_g - n_g mean)^2 / n^2` over users `g` with
//! score sum `S_g` and `n_g` issues, which is the usual `s^2/n` when every
//! user has one issue and is right when one user's issues are correlated.
//! A paired difference of two policies is the same estimator on
//! `G_i(pi_1(x_i)) - G_i(pi_2(x_i))`: the issues where they agree add exact
//! zeros, so the interval reflects only where they differ.

use super::learner::{BaseLearner, IssueFits, predict_arms};
use super::{OfferIssue, arm_index, check_issues};
use crate::Error;
use serde::{Deserialize, Serialize};

/// A mean with its clustered standard error and confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub mean: f64,
    pub std_error: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Estimate {
    /// An exact value (no uncertainty), e.g. no offer against itself.
    pub fn exact(value: f64) -> Estimate {
        Estimate {
            mean: value,
            std_error: 0.0,
            lower: value,
            upper: value,
        }
    }

    /// The mean of `scores` with a `confidence` interval, clustered by
    /// `clusters` (one key per score). Empty scores give an exact 0.
    ///
    /// # Panics
    /// If the lengths differ or `confidence` is not in `(0, 1)`.
    pub fn from_scores(scores: &[f64], clusters: &[u64], confidence: f64) -> Estimate {
        assert_eq!(scores.len(), clusters.len(), "one cluster per score");
        Estimate::from_clustered(scores, &Clusters::of(clusters.to_vec()), confidence)
    }

    /// [`Estimate::from_scores`] with the clusters grouped once for many
    /// estimates over the same issues (the same bits).
    pub(crate) fn from_clustered(scores: &[f64], clusters: &Clusters, confidence: f64) -> Estimate {
        assert_eq!(scores.len(), clusters.keys.len(), "one cluster per score");
        assert!(confidence > 0.0 && confidence < 1.0, "confidence in (0, 1)");
        if scores.is_empty() {
            return Estimate::exact(0.0);
        }
        let count = scores.len() as f64;
        let mean = scores.iter().sum::<f64>() / count;
        let (clusters, order) = (&clusters.keys, &clusters.order);
        let (mut groups, mut squares) = (0_usize, 0.0);
        let mut start = 0;
        while start < order.len() {
            let key = clusters[order[start]];
            let mut end = start;
            let mut sum = 0.0;
            while end < order.len() && clusters[order[end]] == key {
                sum += scores[order[end]] - mean;
                end += 1;
            }
            squares += sum * sum;
            groups += 1;
            start = end;
        }
        let std_error = if groups > 1 {
            (squares * groups as f64 / (groups as f64 - 1.0)).sqrt() / count
        } else {
            0.0
        };
        let z = normal_quantile(0.5 + confidence / 2.0);
        Estimate {
            mean,
            std_error,
            lower: mean - z * std_error,
            upper: mean + z * std_error,
        }
    }
}

/// Scores' cluster keys with the order the clustered sums run in: by key,
/// then by position, so the sums are independent of the input's order.
/// Sorting 400k keys took a tenth of a second, and a selection makes 14
/// estimates over the same issues.
pub(crate) struct Clusters {
    keys: Vec<u64>,
    order: Vec<usize>,
}

impl Clusters {
    pub(crate) fn of(keys: Vec<u64>) -> Clusters {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&index| (keys[index], index));
        Clusters { keys, order }
    }

    /// The issues' users.
    pub(crate) fn of_issues(issues: &[OfferIssue]) -> Clusters {
        Clusters::of(issues.iter().map(|issue| issue.unit).collect())
    }
}

/// Doubly robust and inverse-propensity value of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PolicyValue {
    pub dr: Estimate,
    pub ips: Estimate,
    /// Share of issues the policy sends an offer.
    pub offered: f64,
}

/// `G(action) - G(none)` for one issue; `predictions[a]` is the outcome
/// model's prediction for arm index `a` (0 = no offer, `b + 1` = benefit `b`).
pub fn dr_score(issue: &OfferIssue, predictions: &[f64], action: Option<usize>) -> f64 {
    dr_value(issue, predictions, action) - dr_value(issue, predictions, None)
}

fn dr_value(issue: &OfferIssue, predictions: &[f64], action: Option<usize>) -> f64 {
    let arm = arm_index(action);
    let mut value = predictions[arm];
    if issue.arm == action {
        value += (issue.outcome - predictions[arm]) / issue.propensity;
    }
    value
}

/// The inverse-propensity counterpart of [`dr_score`].
pub fn ips_score(issue: &OfferIssue, action: Option<usize>) -> f64 {
    if action.is_none() {
        return 0.0;
    }
    let weighted = issue.outcome / issue.propensity;
    if issue.arm == action {
        weighted
    } else if issue.arm.is_none() {
        -weighted
    } else {
        0.0
    }
}

/// The value of a policy that took `actions[i]` on `issues[i]`, against
/// sending nothing. `predictions[i]` must come from outcome models that did
/// not see issue `i` (see [`cross_fit_outcomes`]).
pub fn evaluate_policy(
    issues: &[OfferIssue],
    predictions: &[Vec<f64>],
    actions: &[Option<usize>],
    confidence: f64,
) -> PolicyValue {
    let clusters = Clusters::of_issues(issues);
    evaluate_clustered(issues, predictions, actions, confidence, &clusters)
}

/// [`evaluate_policy`] with the issues' [`Clusters`] made once.
pub(crate) fn evaluate_clustered(
    issues: &[OfferIssue],
    predictions: &[Vec<f64>],
    actions: &[Option<usize>],
    confidence: f64,
    clusters: &Clusters,
) -> PolicyValue {
    let dr: Vec<f64> = issues
        .iter()
        .zip(predictions)
        .zip(actions)
        .map(|((issue, mu), action)| dr_score(issue, mu, *action))
        .collect();
    let ips: Vec<f64> = issues
        .iter()
        .zip(actions)
        .map(|(issue, action)| ips_score(issue, *action))
        .collect();
    let offered = actions.iter().filter(|action| action.is_some()).count() as f64
        / actions.len().max(1) as f64;
    PolicyValue {
        dr: Estimate::from_clustered(&dr, clusters, confidence),
        ips: Estimate::from_clustered(&ips, clusters, confidence),
        offered,
    }
}

/// The doubly robust value of policy `first` minus policy `second`, paired
/// on the same issues.
pub fn compare_policies(
    issues: &[OfferIssue],
    predictions: &[Vec<f64>],
    first: &[Option<usize>],
    second: &[Option<usize>],
    confidence: f64,
) -> Estimate {
    let clusters = Clusters::of_issues(issues);
    compare_clustered(issues, predictions, first, second, confidence, &clusters)
}

/// [`compare_policies`] with the issues' [`Clusters`] made once.
pub(crate) fn compare_clustered(
    issues: &[OfferIssue],
    predictions: &[Vec<f64>],
    first: &[Option<usize>],
    second: &[Option<usize>],
    confidence: f64,
    clusters: &Clusters,
) -> Estimate {
    let scores: Vec<f64> = issues
        .iter()
        .enumerate()
        .map(|(index, issue)| {
            if first[index] == second[index] {
                0.0
            } else {
                dr_value(issue, &predictions[index], first[index])
                    - dr_value(issue, &predictions[index], second[index])
            }
        })
        .collect();
    Estimate::from_clustered(&scores, clusters, confidence)
}

/// Salt of the evaluation folds (shared with [`super::select`]).
pub(crate) const FOLD_SALT: u64 = 0xF01D_5EED;

/// Outcome-model predictions for every issue and arm, each from models
/// fitted on the other `folds - 1` folds (split by user): the `predictions`
/// argument of [`evaluate_policy`] for any policy fixed in advance.
pub fn cross_fit_outcomes<L: BaseLearner>(
    learner: &L,
    issues: &[OfferIssue],
    benefits: usize,
    folds: usize,
) -> Result<Vec<Vec<f64>>, Error> {
    check_issues(issues, benefits)?;
    if folds < 2 {
        return Err(Error::InvalidArgument {
            name: "folds",
            reason: format!("is {folds}, expected at least 2"),
        });
    }
    let fits = IssueFits::new(learner, issues, folds, benefits + 1)?;
    let fold = fits.fold();
    let active = vec![true; benefits + 1];
    let mut predictions = vec![Vec::new(); issues.len()];
    for held_out in 0..folds {
        let models = fits.outcomes(&[held_out], &active)?;
        for (index, issue) in issues.iter().enumerate() {
            if fold[index] == held_out {
                predictions[index] = predict_arms(&models, &issue.features);
            }
        }
    }
    Ok(predictions)
}

/// The standard normal quantile, by bisection on `erfc` (exact to 1e-12;
/// called once per interval).
pub(crate) fn normal_quantile(probability: f64) -> f64 {
    let cdf = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    let (mut low, mut high) = (-40.0, 40.0);
    for _ in 0..200 {
        let middle = 0.5 * (low + high);
        if cdf(middle) < probability {
            low = middle;
        } else {
            high = middle;
        }
        if high - low < 1e-12 {
            break;
        }
    }
    0.5 * (low + high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(unit: u64, arm: Option<usize>, propensity: f64, outcome: f64) -> OfferIssue {
        OfferIssue {
            unit,
            features: vec![],
            cell: 0,
            arm,
            propensity,
            outcome,
        }
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-10);
        assert!((normal_quantile(0.05) + 1.644_853_627).abs() < 1e-8);
    }

    #[test]
    fn clusters_grouped_once_give_the_bits_of_each_estimate_alone() {
        let keys: Vec<u64> = (0..500_u64).map(|index| (index * 7919) % 61).collect();
        let clusters = Clusters::of(keys.clone());
        for seed in 0..4_u64 {
            let scores: Vec<f64> = (0..500_u64)
                .map(|index| ((index * 31 + seed * 17) % 97) as f64 / 7.0 - 6.0)
                .collect();
            let alone = Estimate::from_scores(&scores, &keys, 0.9);
            let shared = Estimate::from_clustered(&scores, &clusters, 0.9);
            assert_eq!(format!("{alone:?}"), format!("{shared:?}"));
            assert!(alone.std_error > 0.0);
        }
    }

    #[test]
    fn estimate_matches_the_textbook_interval_and_clusters() {
        let scores = [1.0, 2.0, 3.0, 4.0];
        let plain = Estimate::from_scores(&scores, &[1, 2, 3, 4], 0.95);
        assert!((plain.mean - 2.5).abs() < 1e-12);
        // s^2 = 5/3, se = sqrt(5/12).
        assert!((plain.std_error - (5.0_f64 / 12.0).sqrt()).abs() < 1e-12);
        assert!((plain.upper - plain.mean - 1.959_964 * plain.std_error).abs() < 1e-5);
        // Two users with two identical issues each: half the information.
        let balanced = Estimate::from_scores(&[1.0, 1.0, 3.0, 3.0], &[7, 9, 7, 9], 0.95);
        let alike = Estimate::from_scores(&[1.0, 1.0, 3.0, 3.0], &[7, 7, 9, 9], 0.95);
        assert!(alike.std_error > balanced.std_error);
        assert!((alike.std_error - 1.0).abs() < 1e-12);
        assert_eq!(Estimate::from_scores(&[], &[], 0.95), Estimate::exact(0.0));
    }

    #[test]
    fn scores_by_hand() {
        // Treated with benefit 1 at p = 0.25, outcome 10; mu = [2, 3, 5].
        let treated = issue(1, Some(1), 0.25, 10.0);
        let mu = [2.0, 3.0, 5.0];
        assert!((dr_score(&treated, &mu, Some(1)) - (5.0 + 20.0 - 2.0)).abs() < 1e-12);
        assert!((dr_score(&treated, &mu, Some(0)) - 1.0).abs() < 1e-12);
        assert_eq!(dr_score(&treated, &mu, None), 0.0);
        assert!((ips_score(&treated, Some(1)) - 40.0).abs() < 1e-12);
        assert_eq!(ips_score(&treated, Some(0)), 0.0);
        // Held back at p = 0.5, outcome 4: G(none) = 2 + (4 - 2)/0.5 = 6.
        let control = issue(2, None, 0.5, 4.0);
        assert!((dr_score(&control, &mu, Some(1)) - (5.0 - 6.0)).abs() < 1e-12);
        assert!((ips_score(&control, Some(1)) + 8.0).abs() < 1e-12);
        let issues = [treated, control];
        let predictions = vec![mu.to_vec(), mu.to_vec()];
        let same = compare_policies(
            &issues,
            &predictions,
            &[Some(1), None],
            &[Some(1), None],
            0.9,
        );
        assert_eq!(same, Estimate::exact(0.0));
    }
}
