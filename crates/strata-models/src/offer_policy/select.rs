//! Candidate offer policies, their cross-fitted off-policy comparison, the
//! rule that picks the served one, and the ranked list it serves.
//!
//! ## Candidates, simplest first
//! - `NoOffer`: nothing; value 0 by definition.
//! - `BestSingle`: the benefit with the highest pooled difference in mean
//!   profit (treated minus held back), for everyone; nothing if none is
//!   positive.
//! - `PerCell`: per cell (the caller's key, e.g. layer x RFM bins as of the
//!   issue), the benefit with the highest shrunk difference ([`CellEffects`]).
//! - `Learned`: `argmax_b tau_b(x)` of the meta-learner, nothing if every
//!   estimate is `<= 0`.
//!
//! ## Cross-fitting
//! Issues are split into `folds` folds by a hash of their user. For each
//! fold, every candidate and the evaluation's outcome models are fitted on
//! the other folds and the candidates' actions are scored on this fold
//! ([`super::evaluate`]); the DR-learner's own cross-fitting runs inside the
//! training folds, so no score uses a model that saw its issue. All issues
//! are scored once, and the estimate is the value of *fitting the policy*
//! this way, which is what refitting on all issues serves.
//!
//! The DR-learner cross-fits over the same split. Inside fold `o`'s
//! training folds, the arm models that predict fold `i` are fitted on the
//! folds other than `o` and `i`: the same issues as inside fold `i`'s
//! training folds for fold `o`. So those arm models are fitted once per
//! pair of folds (10 fits for 5 folds instead of 25), and the evaluation's
//! outcome models (every fold but `o`) are the arm models of the refit on
//! all issues. A shared fit is the fit each fold would make alone, to the
//! bit.
//!
//! ## The rule
//! Let `best simple` be the simple candidate (no offer, best single, per
//! cell) with the highest DR value; ties go to the simpler, so no offer is
//! chosen when no simple candidate has a positive estimate. The learned
//! policy is served iff
//! 1. its paired DR gain over every simple candidate is positive, and
//! 2. the lower bound of its paired gain over `best simple` is above 0
//!    (at the configured confidence, 95% by default);
//!
//! otherwise `best simple` is served. The burden of proof is on the model:
//! among the simple policies the point estimate decides (each is a handful
//! of honest held-out means), but the learned policy must beat the best of
//! them by more than noise, since its extra complexity is only worth
//! serving where it demonstrably earns.
//!
//! ## Serving
//! The chosen policy is refitted on all issues ([`fit_policy`]); per user
//! it gives an estimate per benefit, and [`rank`] turns them into the
//! served list: best first, ties by benefit index, positive estimates only
//! unless the caller forces the others in, and then always after every
//! positive one. So a negative estimate is never first unless the caller
//! asked for negatives and there is nothing positive.

use super::cells::{CellEffects, EstimateSource};
use super::evaluate::{Clusters, Estimate, PolicyValue, compare_clustered, evaluate_clustered};
use super::learner::{
    BaseLearner, EffectModel, IssueFits, MetaLearner, Regressor, SharedOutcomes, fit_effects,
    predict_arms,
};
use super::{OfferIssue, arm_index, check_issues};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// How candidates are fitted and compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Cross-fitting folds (by user), also the DR-learner's inner folds.
    pub folds: usize,
    pub meta_learner: MetaLearner,
    /// Of every interval, and of the learned policy's gate.
    pub confidence: f64,
    /// A benefit with fewer issues is not learned (no estimate, never
    /// offered); the held-back arm needs as many or nothing can be learned.
    pub min_arm_issues: usize,
    /// Shrink per-cell differences towards the pooled one.
    pub shrink_cells: bool,
    /// Cross-fitting folds fitted side by side (0 or 1: one after the
    /// other). Each fold is fitted from the other folds' issues alone, so
    /// the selection is the same bits for any count. Not a setting of the
    /// model: the caller's machine.
    #[serde(skip)]
    pub threads: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            folds: 5,
            meta_learner: MetaLearner::Dr,
            confidence: 0.95,
            min_arm_issues: 100,
            shrink_cells: true,
            threads: 1,
        }
    }
}

/// The candidate policies, simplest first (the order is the complexity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    NoOffer,
    BestSingle,
    PerCell,
    Learned,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 4] = [
        PolicyKind::NoOffer,
        PolicyKind::BestSingle,
        PolicyKind::PerCell,
        PolicyKind::Learned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::NoOffer => "no offer",
            PolicyKind::BestSingle => "best single benefit",
            PolicyKind::PerCell => "best benefit per cell",
            PolicyKind::Learned => "learned",
        }
    }

    /// Served on the point estimate, without a gate.
    pub fn is_simple(self) -> bool {
        self != PolicyKind::Learned
    }
}

/// One benefit of a served list with its estimated incremental profit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankedOffer {
    pub benefit: usize,
    pub estimate: f64,
}

/// Orders benefits best first (ties by index): those with a positive
/// estimate, then, only if `include_negative`, the rest. Benefits without an
/// estimate are never listed.
pub fn rank(estimates: &[Option<f64>], include_negative: bool) -> Vec<RankedOffer> {
    let mut offers: Vec<RankedOffer> = estimates
        .iter()
        .enumerate()
        .filter_map(|(benefit, estimate)| {
            let estimate = (*estimate)?;
            (include_negative || estimate > 0.0).then_some(RankedOffer { benefit, estimate })
        })
        .collect();
    offers.sort_by(|a, b| {
        b.estimate
            .total_cmp(&a.estimate)
            .then(a.benefit.cmp(&b.benefit))
    });
    offers
}

/// The first benefit a list would serve, if its estimate is positive.
fn best_positive(estimates: &[Option<f64>]) -> Option<usize> {
    rank(estimates, false).first().map(|offer| offer.benefit)
}

/// A fitted policy, ready to serve (and to be written in a model file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServedPolicy<M> {
    NoOffer { benefits: usize },
    BestSingle(CellEffects),
    PerCell(CellEffects),
    Learned(EffectModel<M>),
}

impl<M: Regressor> ServedPolicy<M> {
    pub fn kind(&self) -> PolicyKind {
        match self {
            ServedPolicy::NoOffer { .. } => PolicyKind::NoOffer,
            ServedPolicy::BestSingle(_) => PolicyKind::BestSingle,
            ServedPolicy::PerCell(_) => PolicyKind::PerCell,
            ServedPolicy::Learned(_) => PolicyKind::Learned,
        }
    }

    /// Estimated incremental profit of every benefit for one user (`None`:
    /// not estimated). `cell` is read by the per-cell policy only,
    /// `features` by the learned one only.
    pub fn estimates(&self, features: &[f64], cell: u32) -> Vec<Option<f64>> {
        match self {
            ServedPolicy::NoOffer { benefits } => vec![None; *benefits],
            ServedPolicy::BestSingle(effects) => effects.pooled().to_vec(),
            ServedPolicy::PerCell(effects) => effects.cell(cell).to_vec(),
            ServedPolicy::Learned(model) => model.effects(features),
        }
    }

    /// Where the estimate of `benefit` for a user in `cell` came from;
    /// `None` for the learned policy (a ridge surface over the features,
    /// which keeps no standard error) and for no offer.
    pub fn source(&self, cell: u32, benefit: usize) -> Option<EstimateSource> {
        match self {
            ServedPolicy::NoOffer { .. } | ServedPolicy::Learned(_) => None,
            ServedPolicy::BestSingle(effects) => Some(effects.pooled_source(benefit)),
            ServedPolicy::PerCell(effects) => Some(effects.source(cell, benefit)),
        }
    }

    /// The served list for one user; see [`rank`].
    pub fn rank(&self, features: &[f64], cell: u32, include_negative: bool) -> Vec<RankedOffer> {
        rank(&self.estimates(features, cell), include_negative)
    }

    /// What the policy sends this user: its first positive benefit.
    pub fn action(&self, features: &[f64], cell: u32) -> Option<usize> {
        best_positive(&self.estimates(features, cell))
    }
}

/// One candidate's cross-fitted value against no offer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    pub policy: PolicyKind,
    pub value: PolicyValue,
}

/// `policy` minus `over`, paired on the same issues (DR).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedGain {
    pub policy: PolicyKind,
    pub over: PolicyKind,
    pub gain: Estimate,
}

/// Everything the choice was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionReport {
    pub issues: usize,
    pub folds: usize,
    pub meta_learner: MetaLearner,
    pub confidence: f64,
    /// Benefits with fewer than `min_arm_issues` issues: never offered.
    pub inactive_benefits: Vec<usize>,
    /// Simplest first.
    pub candidates: Vec<CandidateReport>,
    /// Every more complex candidate over every simpler one.
    pub gains: Vec<PairedGain>,
    pub chosen: PolicyKind,
    /// One paragraph saying what was served and why.
    pub reason: String,
}

impl SelectionReport {
    pub fn candidate(&self, policy: PolicyKind) -> &CandidateReport {
        self.candidates
            .iter()
            .find(|candidate| candidate.policy == policy)
            .expect("every kind is a candidate")
    }

    /// The paired gain of `policy` over `over` (either order).
    pub fn gain(&self, policy: PolicyKind, over: PolicyKind) -> Estimate {
        if policy == over {
            return Estimate::exact(0.0);
        }
        for pair in &self.gains {
            if (pair.policy, pair.over) == (policy, over) {
                return pair.gain;
            }
            if (pair.policy, pair.over) == (over, policy) {
                let gain = pair.gain;
                return Estimate {
                    mean: -gain.mean,
                    std_error: gain.std_error,
                    lower: -gain.upper,
                    upper: -gain.lower,
                };
            }
        }
        unreachable!("every pair of kinds is compared")
    }
}

/// The report and the chosen policy refitted on all issues.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection<M> {
    pub report: SelectionReport,
    pub policy: ServedPolicy<M>,
}

fn check_config(config: &PolicyConfig) -> Result<(), Error> {
    if config.folds < 2 {
        return Err(Error::InvalidArgument {
            name: "folds",
            reason: format!("is {}, expected at least 2", config.folds),
        });
    }
    if !(config.confidence > 0.0 && config.confidence < 1.0) {
        return Err(Error::InvalidArgument {
            name: "confidence",
            reason: format!("is {}, expected a probability in (0, 1)", config.confidence),
        });
    }
    Ok(())
}

/// Which benefits have enough issues to be learned; refuses when the
/// held-back arm has too few.
fn active_benefits(
    issues: &[OfferIssue],
    benefits: usize,
    config: &PolicyConfig,
) -> Result<Vec<bool>, Error> {
    let mut counts = vec![0_usize; benefits + 1];
    for issue in issues {
        counts[arm_index(issue.arm)] += 1;
    }
    let minimum = config.min_arm_issues.max(1);
    if counts[0] < minimum {
        return Err(Error::DegenerateInput {
            model: "offer policy",
            reason: format!(
                "{} held-back issues, at least {minimum} needed to learn any effect",
                counts[0]
            ),
        });
    }
    Ok(counts[1..].iter().map(|count| *count >= minimum).collect())
}

/// Fits one candidate on all `issues` for serving.
pub fn fit_policy<L: BaseLearner>(
    kind: PolicyKind,
    issues: &[OfferIssue],
    benefits: usize,
    learner: &L,
    config: &PolicyConfig,
) -> Result<ServedPolicy<L::Model>, Error> {
    check_config(config)?;
    check_issues(issues, benefits)?;
    let active = active_benefits(issues, benefits, config)?;
    let fits = IssueFits::new(learner, issues, config.folds, benefits + 1)?;
    let all: Vec<usize> = (0..issues.len()).collect();
    fit_on(kind, issues, &all, &[], &active, &fits, config, &|_| None)
}

/// Fits `kind` on the issues `subset`, which are those outside the folds
/// `without`; the learned policy takes the DR-learner's arm models from
/// `shared` where it has them.
#[allow(clippy::too_many_arguments)]
fn fit_on<'m, M: Regressor>(
    kind: PolicyKind,
    issues: &[OfferIssue],
    subset: &[usize],
    without: &[usize],
    active: &[bool],
    fits: &IssueFits<'_, M>,
    config: &PolicyConfig,
    shared: &SharedOutcomes<'m, M>,
) -> Result<ServedPolicy<M>, Error> {
    Ok(match kind {
        PolicyKind::NoOffer => ServedPolicy::NoOffer {
            benefits: active.len(),
        },
        PolicyKind::BestSingle => ServedPolicy::BestSingle(CellEffects::fit(
            issues,
            subset,
            active,
            config.shrink_cells,
        )),
        PolicyKind::PerCell => ServedPolicy::PerCell(CellEffects::fit(
            issues,
            subset,
            active,
            config.shrink_cells,
        )),
        PolicyKind::Learned => ServedPolicy::Learned(fit_effects(
            fits,
            config.meta_learner,
            issues,
            without,
            active,
            shared,
        )?),
    })
}

/// Cross-fits and compares every candidate on `issues`, picks the served
/// one by the rule in the module documentation, and refits it on all
/// issues. `benefits` is the size of the catalogue (arms `Some(0..benefits)`).
pub fn select_policy<L>(
    issues: &[OfferIssue],
    benefits: usize,
    learner: &L,
    config: &PolicyConfig,
) -> Result<Selection<L::Model>, Error>
where
    L: BaseLearner + Sync,
    L::Model: Send + Sync,
{
    check_config(config)?;
    check_issues(issues, benefits)?;
    let active = active_benefits(issues, benefits, config)?;
    let folds = config.folds;
    let fits = IssueFits::new(learner, issues, folds, benefits + 1)?;
    let mut arms_active = vec![true];
    arms_active.extend_from_slice(&active);

    let outcomes = OutcomeFits::fit(&fits, &arms_active, config);
    let mut predictions: Vec<Vec<f64>> = vec![Vec::new(); issues.len()];
    let mut actions: Vec<Vec<Option<usize>>> =
        vec![vec![None; issues.len()]; PolicyKind::ALL.len()];
    let mut scored = 0;
    // Folds in order, whatever thread fitted them: the first error is the
    // one a fold-by-fold loop would have met.
    for fitted in cross_fit(issues, &fits, &active, &arms_active, config, &outcomes) {
        let Some(mut fitted) = fitted? else {
            continue;
        };
        scored += 1;
        for (position, &index) in fitted.testing.iter().enumerate() {
            predictions[index] = std::mem::take(&mut fitted.predictions[position]);
            for kind in PolicyKind::ALL {
                actions[kind as usize][index] = fitted.actions[kind as usize][position];
            }
        }
    }
    if scored < 2 {
        return Err(Error::DegenerateInput {
            model: "offer policy",
            reason: format!("the issues' users fill only {scored} of {folds} folds"),
        });
    }

    let clusters = Clusters::of_issues(issues);
    let candidates: Vec<CandidateReport> = PolicyKind::ALL
        .iter()
        .map(|&policy| CandidateReport {
            policy,
            value: evaluate_clustered(
                issues,
                &predictions,
                &actions[policy as usize],
                config.confidence,
                &clusters,
            ),
        })
        .collect();
    let mut gains = Vec::new();
    for &policy in &PolicyKind::ALL {
        for &over in PolicyKind::ALL.iter().filter(|over| **over < policy) {
            gains.push(PairedGain {
                policy,
                over,
                gain: compare_clustered(
                    issues,
                    &predictions,
                    &actions[policy as usize],
                    &actions[over as usize],
                    config.confidence,
                    &clusters,
                ),
            });
        }
    }
    let mut report = SelectionReport {
        issues: issues.len(),
        folds,
        meta_learner: config.meta_learner,
        confidence: config.confidence,
        inactive_benefits: (0..benefits).filter(|&b| !active[b]).collect(),
        candidates,
        gains,
        chosen: PolicyKind::NoOffer,
        reason: String::new(),
    };
    let (chosen, reason) = choose(&report);
    report.chosen = chosen;
    report.reason = reason;
    let all: Vec<usize> = (0..issues.len()).collect();
    // The arm models without each fold are the refit's own cross-fit.
    let without = |held_out: usize| outcomes.without(&[held_out]);
    let policy = fit_on(chosen, issues, &all, &[], &active, &fits, config, &without)?;
    Ok(Selection { report, policy })
}

/// The arm models fitted on every issue outside one fold or a pair of
/// folds, each fitted once (see the module documentation): the evaluation's
/// outcome models and the DR-learner's arm models. A slot is `None` where
/// the fit was not needed or failed: a caller then fits it itself, and meets
/// the error where a fold-by-fold loop would.
struct OutcomeFits<M> {
    folds: usize,
    /// Without fold `o`, at `o`.
    singles: Vec<Option<Vec<Option<M>>>>,
    /// Without folds `o < i`, at [`OutcomeFits::pair`].
    pairs: Vec<Option<Vec<Option<M>>>>,
}

impl<M: Send> OutcomeFits<M> {
    fn fit(fits: &IssueFits<'_, M>, arms_active: &[bool], config: &PolicyConfig) -> OutcomeFits<M> {
        let folds = config.folds;
        // Every fold's set, then (DR only) every pair of filled folds.
        let mut sets: Vec<Vec<usize>> = (0..folds).map(|f| vec![f]).collect();
        if config.meta_learner == MetaLearner::Dr {
            for first in 0..folds {
                for second in first + 1..folds {
                    sets.push(vec![first, second]);
                }
            }
        }
        let fitted = in_slots(sets.len(), config.threads, |job| {
            let without = &sets[job];
            if !without.iter().all(|&f| fits.filled(f)) {
                return None;
            }
            fits.outcomes(without, arms_active).ok()
        });
        let mut fitted = fitted.into_iter();
        let singles = fitted.by_ref().take(folds).collect();
        OutcomeFits {
            folds,
            singles,
            pairs: fitted.collect(),
        }
    }
}

impl<M> OutcomeFits<M> {
    /// Index of the pair `{first, second}` (distinct) in `pairs`.
    fn pair(&self, first: usize, second: usize) -> usize {
        let (low, high) = (first.min(second), first.max(second));
        // Pairs (0, 1..), then (1, 2..), ...
        low * self.folds - low * (low + 1) / 2 + (high - low - 1)
    }

    /// The arm models without the folds `without` (one or two), if fitted.
    fn without(&self, without: &[usize]) -> Option<&[Option<M>]> {
        let slot = match *without {
            [only] => self.singles.get(only)?,
            [first, second] if first != second => self.pairs.get(self.pair(first, second))?,
            _ => return None,
        };
        slot.as_deref()
    }
}

/// `(0..jobs).map(work)` on up to `threads` threads; each thread takes the
/// next job not yet taken, and results land in their job's slot.
fn in_slots<T: Send>(jobs: usize, threads: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, jobs.max(1));
    if threads == 1 {
        return (0..jobs).map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> =
        (0..jobs).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let job = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if job >= jobs {
                        break;
                    }
                    let result = work(job);
                    *slots[job]
                        .lock()
                        .unwrap_or_else(|poison| poison.into_inner()) = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|poison| poison.into_inner())
                .expect("every job ran")
        })
        .collect()
}

/// One cross-fitting fold: the held-out issues, the arm predictions of
/// each (from the outcome models fitted on the other folds) and each
/// candidate's action for each.
struct FoldFit {
    testing: Vec<usize>,
    predictions: Vec<Vec<f64>>,
    /// By `PolicyKind as usize`, then by position in `testing`; `None` for
    /// no offer.
    actions: Vec<Vec<Option<usize>>>,
}

/// A fold's fit, `None` for a fold with no held-out or no training issue.
type FoldResult = Result<Option<FoldFit>, Error>;

/// Every fold's [`FoldResult`], in fold order, on up to `config.threads`
/// threads, with the arm models of `outcomes`.
fn cross_fit<M>(
    issues: &[OfferIssue],
    fits: &IssueFits<'_, M>,
    active: &[bool],
    arms_active: &[bool],
    config: &PolicyConfig,
    outcomes: &OutcomeFits<M>,
) -> Vec<FoldResult>
where
    M: Regressor + Send + Sync,
{
    let fold = fits.fold();
    let fit_fold = |held_out: usize| -> FoldResult {
        let (training, testing): (Vec<usize>, Vec<usize>) =
            (0..issues.len()).partition(|&index| fold[index] != held_out);
        if testing.is_empty() || training.is_empty() {
            return Ok(None);
        }
        let fitted;
        let models = match outcomes.without(&[held_out]) {
            Some(models) => models,
            None => {
                fitted = fits.outcomes(&[held_out], arms_active)?;
                &fitted[..]
            }
        };
        let predictions = testing
            .iter()
            .map(|&index| predict_arms(models, &issues[index].features))
            .collect();
        // Inside this fold's training folds, fold `i`'s arm models are
        // those without this fold and `i`.
        let shared = |inner: usize| outcomes.without(&[held_out, inner]);
        let mut actions = vec![vec![None; testing.len()]; PolicyKind::ALL.len()];
        for kind in PolicyKind::ALL {
            if kind == PolicyKind::NoOffer {
                continue;
            }
            let policy = fit_on(
                kind,
                issues,
                &training,
                &[held_out],
                active,
                fits,
                config,
                &shared,
            )?;
            for (position, &index) in testing.iter().enumerate() {
                let issue = &issues[index];
                actions[kind as usize][position] = policy.action(&issue.features, issue.cell);
            }
        }
        Ok(Some(FoldFit {
            testing,
            predictions,
            actions,
        }))
    };
    in_slots(config.folds, config.threads, fit_fold)
}

fn interval(estimate: &Estimate) -> String {
    format!(
        "{:+.3} [{:+.3}, {:+.3}]",
        estimate.mean, estimate.lower, estimate.upper
    )
}

/// The rule of the module documentation, with its reason.
fn choose(report: &SelectionReport) -> (PolicyKind, String) {
    let percent = report.confidence * 100.0;
    let value = |kind: PolicyKind| report.candidate(kind).value.dr;
    // Highest DR value among the simple ones; ties to the simpler.
    let mut best_simple = PolicyKind::NoOffer;
    for kind in PolicyKind::ALL.into_iter().filter(|kind| kind.is_simple()) {
        if value(kind).mean > value(best_simple).mean {
            best_simple = kind;
        }
    }
    let mut reason = String::new();
    let learned = PolicyKind::Learned;
    let losing: Vec<PolicyKind> = PolicyKind::ALL
        .into_iter()
        .filter(|kind| kind.is_simple() && report.gain(learned, *kind).mean <= 0.0)
        .collect();
    let over_best = report.gain(learned, best_simple);
    if losing.is_empty() && over_best.lower > 0.0 {
        let _ = write!(
            reason,
            "learned policy served: it earns {} per issue against no offer, and beats \
             the best simple policy ({}) by {}, above 0 at {percent:.0}%",
            interval(&value(learned)),
            best_simple.name(),
            interval(&over_best),
        );
        return (learned, reason);
    }
    let _ = write!(reason, "{} served", best_simple.name());
    if best_simple == PolicyKind::NoOffer {
        let _ = write!(
            reason,
            ": no simple policy has a positive estimate (best single {}, per cell {})",
            interval(&value(PolicyKind::BestSingle)),
            interval(&value(PolicyKind::PerCell)),
        );
    } else {
        let _ = write!(
            reason,
            ": it has the highest estimate of the simple policies, {} per issue against no offer",
            interval(&value(best_simple)),
        );
    }
    if let Some(first) = losing.first() {
        let _ = write!(
            reason,
            "; the learned policy was not served: it does not beat {} ({})",
            first.name(),
            interval(&report.gain(learned, *first)),
        );
    } else {
        let _ = write!(
            reason,
            "; the learned policy was not served: its gain over {} is {}, not above 0 at \
             {percent:.0}%",
            best_simple.name(),
            interval(&over_best),
        );
    }
    (best_simple, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offer_policy::Ridge;
    use crate::offer_policy::world::{BENEFITS, World};

    #[test]
    fn shared_arm_models_give_the_bits_of_each_fold_fitting_its_own() {
        let world = World::heterogeneous();
        let (issues, _) = world.issues(6_000, 5);
        let learner = Ridge::default();
        let config = PolicyConfig {
            threads: 2,
            ..PolicyConfig::default()
        };
        let active = active_benefits(&issues, BENEFITS, &config).unwrap();
        let mut arms_active = vec![true];
        arms_active.extend_from_slice(&active);
        let fits = IssueFits::new(&learner, &issues, config.folds, BENEFITS + 1).unwrap();
        let fold = fits.fold();
        let outcomes = OutcomeFits::fit(&fits, &arms_active, &config);
        assert_eq!(outcomes.pairs.len(), 10);
        assert!(outcomes.pairs.iter().all(Option::is_some));
        let bits = |policy: &ServedPolicy<_>| format!("{policy:?}");
        for held_out in 0..config.folds {
            let training: Vec<usize> = (0..issues.len())
                .filter(|&index| fold[index] != held_out)
                .collect();
            let shared = |inner: usize| outcomes.without(&[held_out, inner]);
            let kind = PolicyKind::Learned;
            let fit = |shared: &SharedOutcomes<'_, _>| {
                fit_on(
                    kind,
                    &issues,
                    &training,
                    &[held_out],
                    &active,
                    &fits,
                    &config,
                    shared,
                )
                .unwrap()
            };
            assert_eq!(
                bits(&fit(&shared)),
                bits(&fit(&|_| None)),
                "fold {held_out}"
            );
            // The evaluation's outcome models are the fold's own fit.
            let own = fits.outcomes(&[held_out], &arms_active).unwrap();
            assert_eq!(
                format!("{:?}", outcomes.without(&[held_out]).unwrap()),
                format!("{own:?}")
            );
        }
        // And the refit on all issues takes the fold fits as its own.
        let all: Vec<usize> = (0..issues.len()).collect();
        let without = |held_out: usize| outcomes.without(&[held_out]);
        let kind = PolicyKind::Learned;
        let refit = fit_on(kind, &issues, &all, &[], &active, &fits, &config, &without).unwrap();
        let fresh = fit_policy(kind, &issues, BENEFITS, &learner, &config).unwrap();
        assert_eq!(bits(&refit), bits(&fresh));
    }

    #[test]
    fn pairs_of_folds_have_one_slot_each() {
        let fits: OutcomeFits<()> = OutcomeFits {
            folds: 5,
            singles: Vec::new(),
            pairs: Vec::new(),
        };
        let mut seen = Vec::new();
        for first in 0..5 {
            for second in 0..5 {
                if first != second {
                    assert_eq!(fits.pair(first, second), fits.pair(second, first));
                    seen.push(fits.pair(first, second));
                }
            }
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn rank_is_best_first_and_keeps_negatives_out_unless_asked() {
        let estimates = [Some(-0.5), Some(0.2), None, Some(0.9), Some(0.0), Some(0.2)];
        let served = rank(&estimates, false);
        let order: Vec<usize> = served.iter().map(|offer| offer.benefit).collect();
        assert_eq!(order, vec![3, 1, 5]);
        let forced = rank(&estimates, true);
        let order: Vec<usize> = forced.iter().map(|offer| offer.benefit).collect();
        assert_eq!(order, vec![3, 1, 5, 4, 0]);
        assert!(rank(&[Some(-1.0), None], false).is_empty());
        assert_eq!(best_positive(&[Some(0.0), Some(-1.0)]), None);
    }
}
