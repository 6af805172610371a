//! Meta-learners of incremental profit per benefit over a pluggable base
//! regressor.
//!
//! ## Base regressors
//! [`BaseLearner::fit_many`] fits one model per target on the same rows, so a
//! learner that shares work across targets (ridge shares its Gram matrix) can
//! do so; `groups` keys each row's user, for learners that tune by internal
//! cross-validation and must keep a user's rows in one fold. A fitted model
//! is any [`Regressor`].
//!
//! A learner also makes a [`Pool`] ([`BaseLearner::pool`]): rows split into
//! cells, and fits on any union of cells. The meta-learners below fit every
//! model on the issues outside some folds, so the issues are pooled once
//! with one cell per fold and arm ([`IssueFits`]): ridge then sums its
//! statistics once per cell, and each fit is a sum and a small solve.
//! What a learner chooses from the features alone (ridge's knots, the job's
//! strata) it chooses once per pool, from every issue's features (never
//! an outcome), so every fit of a selection shares it.
//!
//! ## T-learner
//! `mu_a(x) = E[Y | x, A = a]` fitted separately on each arm's issues;
//! `tau_b(x) = mu_b(x) - mu_0(x)`. Unbiased when both fits are, but the
//! effect is the difference of two independently noisy fits of a large
//! baseline (how much the user buys anyway), and nothing shrinks the
//! *difference*.
//!
//! ## DR-learner (Kennedy 2020)
//! 1. Cross-fit the arm models: split the issues by user into folds (the
//!    evaluation's split, [`super::evaluate`]'s salt); for each fold fit
//!    `mu_a` on the other folds and predict on this one. A caller that
//!    already has the arm models without a fold passes them in
//!    ([`fit_effects`]): the selection fits the models without each pair
//!    of its folds once, for both folds of the pair.
//! 2. Pseudo-outcome per issue and benefit `b`:
//!    `phi_b = mu_b - mu_0 + [A = b](Y - mu_b)/p - [A = none](Y - mu_0)/p`.
//!    With known propensities `E[phi_b | x] = tau_b(x)` even when `mu` is
//!    wrong; a good `mu` only lowers the variance.
//! 3. Regress `phi_b` on `x`. The base learner's own penalty, chosen by
//!    held-out error on `phi_b` (which is the error against `tau_b` plus a
//!    constant), decides how much heterogeneity the data supports, and
//!    shrinks the rest towards the benefit's mean effect.
//!
//! ## Which one (measured)
//! On the synthetic world of the tests (four benefits, heavy-tailed profit,
//! effects a tenth of the noise), the policy `argmax_b tau_b(x)` reached, as
//! a share of the oracle's true value, mean of 5 seeds:
//!
//! | learner | 20k issues | 50k issues |
//! |---|---:|---:|
//! | DR, ridge (splines + products) | 68% | 74% |
//! | T, ridge (splines + products) | 57% | 70% |
//! | DR, ridge linear | 66% | 74% |
//! | DR, gradient-boosted trees (depth 3, early stopping) | 31% | 46% |
//! | T, gradient-boosted trees | 44% | 59% |
//!
//! against 51% / 58% for the best benefit per cell and 24% for the best
//! single benefit. Trees chase the heavy tail of the pseudo-outcomes; the
//! DR-learner on ridge is the default.
//!
//! A benefit with too few issues to learn from is *inactive*: it gets no
//! estimate (`None`) and is never recommended.

use super::evaluate::FOLD_SALT;
use super::{OfferIssue, arm_index, fold_of};
use crate::Error;
use serde::{Deserialize, Serialize};

/// A fitted regression: features in, one number out.
pub trait Regressor {
    /// # Panics
    /// May panic if `features` is not as wide as the rows it was fitted on.
    fn predict(&self, features: &[f64]) -> f64;
}

/// Rows to fit on, each in one of `cells` cells: see [`BaseLearner::pool`].
#[derive(Debug, Clone)]
pub struct PoolData<'a> {
    pub rows: Vec<&'a [f64]>,
    /// The target of [`Pool::fit`].
    pub outcome: Vec<f64>,
    /// Each row's user, as in [`BaseLearner::fit_many`].
    pub groups: Vec<u64>,
    /// Each row's cell, below `cells`.
    pub cell: Vec<usize>,
    pub cells: usize,
}

/// Fits on the rows of any union of a [`PoolData`]'s cells.
pub trait Pool<M>: Send + Sync {
    /// A model of the outcome on the rows of `cells`.
    fn fit(&self, cells: &[usize]) -> Result<M, Error>;

    /// One model per target on the rows of `cells`. A target has a value
    /// for every row of the data; those of rows outside `cells` are not
    /// read.
    fn fit_many(&self, cells: &[usize], targets: &[&[f64]]) -> Result<Vec<M>, Error>;
}

/// Fits [`Regressor`]s.
pub trait BaseLearner {
    type Model: Regressor;

    /// What fits on unions of `data`'s cells share, made once. What a
    /// learner chooses from the features alone (knots, strata) it chooses
    /// here, from every row, so every fit of the pool uses the same; what
    /// it learns from a target (coefficients, penalties) it learns per fit,
    /// from the fit's rows only.
    fn pool<'a>(&'a self, data: PoolData<'a>) -> Result<Box<dyn Pool<Self::Model> + 'a>, Error>;

    /// One model per entry of `targets`, each `rows.len()` long, all on the
    /// same `rows`. `groups[i]` is row `i`'s user.
    fn fit_many(
        &self,
        rows: &[&[f64]],
        targets: &[&[f64]],
        groups: &[u64],
    ) -> Result<Vec<Self::Model>, Error> {
        let data = PoolData {
            rows: rows.to_vec(),
            outcome: targets
                .first()
                .map_or_else(|| vec![0.0; rows.len()], |target| target.to_vec()),
            groups: groups.to_vec(),
            cell: vec![0; rows.len()],
            cells: 1,
        };
        self.pool(data)?.fit_many(&[0], targets)
    }

    fn fit(&self, rows: &[&[f64]], target: &[f64], groups: &[u64]) -> Result<Self::Model, Error> {
        let mut models = self.fit_many(rows, &[target], groups)?;
        models.pop().ok_or_else(|| Error::DegenerateInput {
            model: "base learner",
            reason: "fit_many returned no model".into(),
        })
    }
}

/// Which meta-learner turns arm outcomes into effects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaLearner {
    /// One outcome model per arm, effect = difference.
    T,
    /// Doubly robust pseudo-outcomes regressed on the features.
    #[default]
    Dr,
}

/// Fitted incremental profit per benefit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectModel<M> {
    meta: MetaLearner,
    benefits: usize,
    /// T: outcome model per arm (index 0 = no offer); empty for DR.
    outcomes: Vec<Option<M>>,
    /// DR: effect model per benefit; empty for T.
    effects: Vec<Option<M>>,
}

impl<M: Regressor> EffectModel<M> {
    pub fn meta_learner(&self) -> MetaLearner {
        self.meta
    }

    pub fn benefits(&self) -> usize {
        self.benefits
    }

    /// Estimated incremental profit of `benefit` for these features; `None`
    /// for an inactive benefit (too few issues to learn from).
    pub fn effect(&self, features: &[f64], benefit: usize) -> Option<f64> {
        match self.meta {
            MetaLearner::T => {
                let control = self.outcomes[0].as_ref()?;
                let treated = self.outcomes[benefit + 1].as_ref()?;
                Some(treated.predict(features) - control.predict(features))
            }
            MetaLearner::Dr => self.effects[benefit]
                .as_ref()
                .map(|model| model.predict(features)),
        }
    }

    /// [`EffectModel::effect`] for every benefit.
    pub fn effects(&self, features: &[f64]) -> Vec<Option<f64>> {
        match self.meta {
            MetaLearner::T => {
                let Some(control) = self.outcomes[0].as_ref() else {
                    return vec![None; self.benefits];
                };
                let base = control.predict(features);
                self.outcomes[1..]
                    .iter()
                    .map(|model| model.as_ref().map(|model| model.predict(features) - base))
                    .collect()
            }
            MetaLearner::Dr => self
                .effects
                .iter()
                .map(|model| model.as_ref().map(|model| model.predict(features)))
                .collect(),
        }
    }
}

/// Offer issues in one [`Pool`] of the learner, one cell per fold and arm:
/// the arm models and the effect models of the issues outside any set of
/// folds are fits on unions of cells.
pub(crate) struct IssueFits<'a, M> {
    pool: Box<dyn Pool<M> + 'a>,
    /// Each issue's fold.
    fold: Vec<usize>,
    folds: usize,
    arms: usize,
    /// Issues per cell (`fold * arms + arm`).
    counts: Vec<usize>,
}

impl<'a, M> IssueFits<'a, M> {
    /// `issues` split into `folds` folds by user ([`FOLD_SALT`]), with
    /// `arms` arms (index 0 = no offer).
    pub(crate) fn new<L>(
        learner: &'a L,
        issues: &'a [OfferIssue],
        folds: usize,
        arms: usize,
    ) -> Result<IssueFits<'a, M>, Error>
    where
        L: BaseLearner<Model = M>,
    {
        let fold: Vec<usize> = issues
            .iter()
            .map(|issue| fold_of(issue.unit, FOLD_SALT, folds))
            .collect();
        let cell: Vec<usize> = issues
            .iter()
            .zip(&fold)
            .map(|(issue, fold)| fold * arms + arm_index(issue.arm))
            .collect();
        let mut counts = vec![0; folds * arms];
        for &cell in &cell {
            counts[cell] += 1;
        }
        let data = PoolData {
            rows: issues
                .iter()
                .map(|issue| issue.features.as_slice())
                .collect(),
            outcome: issues.iter().map(|issue| issue.outcome).collect(),
            groups: issues.iter().map(|issue| issue.unit).collect(),
            cell,
            cells: folds * arms,
        };
        Ok(IssueFits {
            pool: learner.pool(data)?,
            fold,
            folds,
            arms,
            counts,
        })
    }

    /// Each issue's fold.
    pub(crate) fn fold(&self) -> &[usize] {
        &self.fold
    }

    /// Whether fold `fold` has any issue.
    pub(crate) fn filled(&self, fold: usize) -> bool {
        self.counts[fold * self.arms..(fold + 1) * self.arms]
            .iter()
            .any(|count| *count > 0)
    }

    /// The cells of the folds outside `without`, of arm `arm` (`None`:
    /// every arm).
    fn cells(&self, without: &[usize], arm: Option<usize>) -> Vec<usize> {
        let arms = self.arms;
        (0..self.folds)
            .filter(|fold| !without.contains(fold))
            .flat_map(|fold| {
                match arm {
                    Some(arm) => arm..arm + 1,
                    None => 0..arms,
                }
                .map(move |arm| fold * arms + arm)
            })
            .collect()
    }

    /// One outcome model per arm on the issues outside the folds
    /// `without`; arms that are not `active` (index 0 = no offer) or have
    /// no issue there get `None`.
    pub(crate) fn outcomes(
        &self,
        without: &[usize],
        active: &[bool],
    ) -> Result<Vec<Option<M>>, Error> {
        (0..self.arms)
            .map(|arm| {
                let cells = self.cells(without, Some(arm));
                if !active[arm] || cells.iter().all(|&cell| self.counts[cell] == 0) {
                    return Ok(None);
                }
                self.pool.fit(&cells).map(Some)
            })
            .collect()
    }

    /// One model per target (a value per issue) on the issues outside the
    /// folds `without`.
    fn fit_many(&self, without: &[usize], targets: &[&[f64]]) -> Result<Vec<M>, Error> {
        self.pool.fit_many(&self.cells(without, None), targets)
    }
}

/// Predictions of every arm's model for one row; an arm without a model
/// borrows the no-offer arm's prediction (so its effect reads as 0), and
/// without that 0.
pub(crate) fn predict_arms<M: Regressor>(models: &[Option<M>], features: &[f64]) -> Vec<f64> {
    let control = models[0]
        .as_ref()
        .map_or(0.0, |model| model.predict(features));
    let mut out = Vec::with_capacity(models.len());
    out.push(control);
    out.extend(models[1..].iter().map(|model| {
        model
            .as_ref()
            .map_or(control, |model| model.predict(features))
    }));
    out
}

/// The arm models (index 0 = no offer) fitted on every issue outside the
/// folds of a fit and fold `f`, if the caller has them: `shared(f)`. They
/// must be what [`IssueFits::outcomes`] gives, so a shared fit and a fresh
/// one are the same bits.
pub(crate) type SharedOutcomes<'m, M> = dyn Fn(usize) -> Option<&'m [Option<M>]> + 'm;

/// Fits an [`EffectModel`] on the issues outside the folds `without` (none:
/// every issue). `active[b]` says whether benefit `b` is learned. The
/// DR-learner cross-fits its arm models over the same folds, taking them
/// from `shared` where it has them.
pub(crate) fn fit_effects<'m, M: Regressor>(
    fits: &IssueFits<'_, M>,
    meta: MetaLearner,
    issues: &[OfferIssue],
    without: &[usize],
    active: &[bool],
    shared: &SharedOutcomes<'m, M>,
) -> Result<EffectModel<M>, Error> {
    let benefits = active.len();
    let mut arms_active = Vec::with_capacity(benefits + 1);
    arms_active.push(true);
    arms_active.extend_from_slice(active);
    match meta {
        MetaLearner::T => Ok(EffectModel {
            meta,
            benefits,
            outcomes: fits.outcomes(without, &arms_active)?,
            effects: Vec::new(),
        }),
        MetaLearner::Dr => {
            let targets = pseudo_outcomes(fits, issues, without, &arms_active, shared)?;
            let learned: Vec<usize> = (0..benefits).filter(|&b| active[b]).collect();
            let columns: Vec<&[f64]> = learned.iter().map(|&b| targets[b].as_slice()).collect();
            let mut fitted = fits.fit_many(without, &columns)?.into_iter();
            let mut effects: Vec<Option<M>> = (0..benefits).map(|_| None).collect();
            for &benefit in &learned {
                effects[benefit] = fitted.next();
            }
            Ok(EffectModel {
                meta,
                benefits,
                outcomes: Vec::new(),
                effects,
            })
        }
    }
}

/// The DR pseudo-outcomes `phi_b` of every issue outside the folds
/// `without` (0 for the others), one vector per benefit (empty for inactive
/// ones), with the arm models of each fold `f` fitted without `f` (from
/// `shared` where it has them).
fn pseudo_outcomes<'m, M: Regressor>(
    fits: &IssueFits<'_, M>,
    issues: &[OfferIssue],
    without: &[usize],
    arms_active: &[bool],
    shared: &SharedOutcomes<'m, M>,
) -> Result<Vec<Vec<f64>>, Error> {
    let benefits = arms_active.len() - 1;
    let fold = fits.fold();
    let mut targets: Vec<Vec<f64>> = (0..benefits)
        .map(|b| {
            if arms_active[b + 1] {
                vec![0.0; issues.len()]
            } else {
                Vec::new()
            }
        })
        .collect();
    for held_out in 0..fits.folds {
        // (An empty fold has nothing to predict.)
        if without.contains(&held_out) || !fits.filled(held_out) {
            continue;
        }
        let fitted;
        let models = match shared(held_out) {
            Some(models) => models,
            None => {
                let mut outside = without.to_vec();
                outside.push(held_out);
                fitted = fits.outcomes(&outside, arms_active)?;
                &fitted[..]
            }
        };
        for (index, issue) in issues.iter().enumerate() {
            if fold[index] != held_out {
                continue;
            }
            let mu = predict_arms(models, &issue.features);
            let logged = arm_index(issue.arm);
            // The residual of the logged arm, inverse-propensity weighted.
            let correction = (issue.outcome - mu[logged]) / issue.propensity;
            for (benefit, target) in targets.iter_mut().enumerate() {
                if target.is_empty() {
                    continue;
                }
                let arm = benefit + 1;
                let mut phi = mu[arm] - mu[0];
                if logged == arm {
                    phi += correction;
                } else if logged == 0 {
                    phi -= correction;
                }
                target[index] = phi;
            }
        }
    }
    Ok(targets)
}
