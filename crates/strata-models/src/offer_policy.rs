//! Offers that earn: which benefit, if any, earns the most incremental profit
//! for this user, learned from past offer issues with a random assignment,
//! checked off-policy against simpler policies, and served best first.
//!
//! ## Data: one logged issue ([`OfferIssue`])
//! An issue is a draw `(x, A, p, Y)`: `x` the user's features *as known at
//! issue time* (never after: a purchase the offer caused must not leak into
//! what predicts the offer's effect), `A` the arm (`None` = held back,
//! `Some(b)` = benefit `b`), `p = P_log(A | x)` the logging policy's
//! probability of that arm, known from the random assignment, and `Y` the
//! realised profit over the horizon: the margin of every order in it minus
//! what the benefit actually cost. `Y` already contains conversion, extra
//! orders, order value and cost, so nothing below needs a benefit's
//! economics: the *incremental profit* of benefit `b` for features `x` is
//! `tau_b(x) = E[Y | x, do(b)] - E[Y | x, do(none)]`.
//!
//! ## Learning `tau_b(x)` ([`learner`])
//! A meta-learner over any base regressor ([`BaseLearner`]; [`Ridge`] ships
//! here, a gradient-boosted one can be plugged in):
//! - **T-learner**: one outcome model per arm, `tau_b = mu_b - mu_none`;
//! - **DR-learner** (default): regress the doubly robust pseudo-outcome
//!   `phi_b = mu_b(x) - mu_0(x) + [A=b](Y - mu_b(x))/p - [A=none](Y - mu_0(x))/p`
//!   on `x`, with `mu` cross-fitted. `E[phi_b | x] = tau_b(x)` whatever the
//!   quality of `mu` (the propensities are known), so the second stage's
//!   penalty, chosen by held-out error on `phi_b`, shrinks the *effect*
//!   itself towards its mean: noisy heterogeneity is shrunk away, which the
//!   T-learner (two independently noisy outcome fits) cannot do.
//!
//! ## Off-policy value ([`evaluate`])
//! For a deterministic policy `pi(x)` on issues the models did not see, the
//! doubly robust score of issue `i` is
//! `G_i(a) = mu_a(x_i) + [A_i = a](Y_i - mu_a(x_i)) / p_i`, and the policy's
//! value against sending nothing is the mean of `G_i(pi(x_i)) - G_i(none)`;
//! inverse propensity (`[A_i = pi(x_i)] Y_i/p_i - [A_i = none] Y_i/p_i`) is the
//! model-free cross-check. Confidence intervals are normal, from the per-issue
//! scores, clustered by user. Two policies are compared on the *same* issues:
//! where they agree the paired score is exactly 0, so the difference is far
//! tighter than either value.
//!
//! ## Choosing the served policy ([`select`])
//! K-fold cross-fitting by user: every fold is held out once, every candidate
//! (no offer, best single benefit, best benefit per cell, learned) is fitted
//! on the other folds and scored on it, so every issue is used for
//! evaluation and none is scored by a model that saw it. The learned policy
//! is served only when it beats every simpler one (see [`select`] for the
//! rule); the chosen policy is then refitted on all issues, and serves a
//! ranked list, best first, with no negative estimate unless asked for.
//!
//! ## Fairness at the least cost ([`fairness`])
//! Repairs the served lists so no later-layer user gets a lower face value
//! of a kind than a new user of the same tier and quadrant, choosing per
//! (group, kind) the repair that loses the least estimated profit.

pub mod evaluate;
pub mod fairness;
pub mod learner;
pub mod ridge;
pub mod select;

mod cells;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod world;

pub use cells::{CellEffects, EstimateSource};
pub use evaluate::{
    Estimate, PolicyValue, compare_policies, cross_fit_outcomes, dr_score, evaluate_policy,
    ips_score,
};
pub use learner::{BaseLearner, EffectModel, MetaLearner, Pool, PoolData, Regressor};
pub use ridge::{Ridge, RidgeConfig, RidgeModel};
pub use select::{
    CandidateReport, PairedGain, PolicyConfig, PolicyKind, RankedOffer, Selection, SelectionReport,
    ServedPolicy, fit_policy, rank, select_policy,
};

use crate::Error;
use serde::{Deserialize, Serialize};

/// One logged offer issue: what was known, what was done, with what
/// probability, and what it earned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferIssue {
    /// The user (e.g. a hash of the user id). All issues of one user fall in
    /// one cross-fitting fold and one cluster of the confidence intervals:
    /// their outcomes are correlated, so splitting them would let a model be
    /// scored on its own training user and make intervals too narrow.
    pub unit: u64,
    /// Features as of the issue time, built by the caller; the same width
    /// for every issue and for serving.
    pub features: Vec<f64>,
    /// A discrete cell as of the issue time (e.g. layer x RFM bins), used
    /// only by the per-cell baseline policy.
    pub cell: u32,
    /// `None`: held back (control); `Some(b)`: benefit `b` was delivered.
    pub arm: Option<usize>,
    /// The logging policy's probability of this issue's `arm` given its
    /// features, in `(0, 1]`.
    pub propensity: f64,
    /// Margin of all orders in the horizon minus the benefit's actual cost.
    pub outcome: f64,
}

/// Arms are indexed `0` = no offer, `b + 1` = benefit `b`, so one vector
/// holds a quantity for every arm.
pub(crate) fn arm_index(arm: Option<usize>) -> usize {
    arm.map_or(0, |benefit| benefit + 1)
}

/// A 64-bit mixer (SplitMix64's finaliser): fold assignment from a user key,
/// so sequential ids spread evenly and a salt gives independent splits.
pub(crate) fn mix(key: u64, salt: u64) -> u64 {
    let mut z = (key ^ salt).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fold of a unit among `folds`, for a given salt.
pub(crate) fn fold_of(unit: u64, salt: u64, folds: usize) -> usize {
    (mix(unit, salt) % folds as u64) as usize
}

/// Checks every issue; returns the feature width.
pub(crate) fn check_issues(issues: &[OfferIssue], benefits: usize) -> Result<usize, Error> {
    let Some(first) = issues.first() else {
        return Err(Error::InvalidInput {
            input: "issues".into(),
            reason: "is empty".into(),
        });
    };
    let width = first.features.len();
    for (index, issue) in issues.iter().enumerate() {
        let invalid = |field: &str, reason: String| Error::InvalidInput {
            input: format!("issues[{index}].{field}"),
            reason,
        };
        if issue.features.len() != width {
            return Err(invalid(
                "features",
                format!(
                    "has {} values, expected {width} (as issues[0])",
                    issue.features.len()
                ),
            ));
        }
        if let Some(column) = issue.features.iter().position(|value| !value.is_finite()) {
            return Err(Error::InvalidInput {
                input: format!("issues[{index}].features[{column}]"),
                reason: format!("is {}, expected a finite number", issue.features[column]),
            });
        }
        if let Some(benefit) = issue.arm
            && benefit >= benefits
        {
            return Err(invalid(
                "arm",
                format!("is benefit {benefit}, but there are {benefits} benefits"),
            ));
        }
        if !(issue.propensity > 0.0 && issue.propensity <= 1.0) {
            return Err(invalid(
                "propensity",
                format!("is {}, expected a probability in (0, 1]", issue.propensity),
            ));
        }
        if !issue.outcome.is_finite() {
            return Err(invalid(
                "outcome",
                format!("is {}, expected a finite number", issue.outcome),
            ));
        }
    }
    Ok(width)
}
