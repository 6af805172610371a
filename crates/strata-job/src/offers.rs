//! Offers that earn: which benefits each user is served, best first, learned
//! from the randomised offer issues in the logs
//! (`strata_models::offer_policy`), with the fairness rule met at the least
//! estimated cost.
//!
//! ## Learning from what was known at issue time
//! Every finished issue (its `[economics] outcome_days` window over by as-of)
//! of a catalogue benefit is one `OfferIssue`. Its features and cell describe
//! the user **as of the start of the issue day**: a purchase the offer caused
//! must not say who the offer works on. Keying effects by the user's cell at
//! as-of did exactly that (a conversion moves a user out of `potential`, so
//! the never-buyers' offers looked useless and the new users' looked twice as
//! good as they were), which is why this module never reads the as-of layer
//! when learning. The issue day itself is cut too: an order that day may be
//! the offer's.
//! - `unit`: XXH3 of the user id, so a user's issues share a cross-fitting
//!   fold and a cluster of the confidence intervals.
//! - `propensity`: the logging policy's probability of the logged arm: the
//!   control share for a held-back issue, `(1 - control share) x` the
//!   benefit's share of the treated issues for a delivered one. The control
//!   share is `[offers] control_share` or, unset, the held-back share of the
//!   finished issues; the benefit mix is always read from the logs (the
//!   generator draws it uniformly, a real campaign tool may not).
//! - `outcome`: the margin (`[economics] margin_rate`) on every order from
//!   the issue day to the end of the window, minus what redemptions of the
//!   issued benefit in the window cost (the `offer_redeemed` event's amount;
//!   without one, the catalogue's `cost_fixed + cost_percent` on that day's
//!   mean order). So conversion, extra orders, order value and the
//!   benefit's real cost on this user's order all count, with no model of
//!   any of them.
//!
//! ## Features
//! Each is known at the cut, or is a per-order average an offer cannot move:
//! - purchases before the cut: whether any, `ln(1 + purchase days)`,
//!   `ln(1 + days since the last)`, `ln(1 + mean order)` (never-buyers get
//!   the buyers' median, so the value carries no signal for them), and the
//!   run's BG/NBD expected purchases over the outcome window and probability
//!   alive on them (the parameters are population-wide, fitted at as-of);
//! - tenure: `ln(1 + days since first seen)`;
//! - past offers: redemptions before the cut per treated issue before it
//!   (shrunk: `(r + 0.5) / (t + 2)`) and `ln(1 + t)`. Users who redeem
//!   offers they did not need are the price-sensitive ones;
//! - the mean rating, shrunk towards 3.5 (`(sum + 7) / (count + 2)`), over
//!   the whole log: ratings carry no timestamp in the history, but an offer
//!   that brings more orders brings more ratings of the same mean, so it
//!   does not move this average;
//! - channel response rate over the whole log (`(responses + 1) / (sends +
//!   10)`): sends and responses do not depend on offers;
//! - what the user's own orders would earn in the window anyway (BG/NBD
//!   expected purchases x mean order x margin): most of an outcome's
//!   variance, and the scale of the extra-order effects;
//! - the lifecycle layer at the cut (one indicator per layer after the
//!   first) and whether churned in it, from the model run on the purchases
//!   before the cut. Only purchases are dated for every model, so a custom
//!   model whose rules read other series sees only its purchase rules here
//!   (the presets read purchases only).
//!
//! Left out on purpose: browsing, cart and favourite counts (every order
//! brings a look and a cart, so offer-caused orders would inflate them) and
//! the value tier (a function of recency, frequency and spend, which are in).
//!
//! ## Cells and the learner: regimes, measured
//! On the generator the issues' outcomes are very heavy-tailed (the top 1%
//! carry about 85% of the variance: frequent big spenders' own orders), and
//! what a benefit does differs in kind between never-buyers (a conversion or
//! nothing), one-time buyers (nearly the same, with an order value to judge
//! by) and frequent buyers (extra orders, and costs on orders they would
//! have placed anyway). So both the cells and the learner split users into
//! those regimes rather than by layer and recency:
//! - cells: never-buyers by tenure (up to 30, 120, more days: still
//!   browsing, or gone cold), buyers by the expected natural margin
//!   (terciles among buyers at as-of) x mean order (terciles), with raw
//!   cell differences (see [`policy_config`]);
//! - learner ([`learner`]): the DR-learner on ridge (hinges, no pairwise
//!   products), fitted per stratum ([`Stratified`]: never-buyers, and buyers
//!   split at the median and 85th percentile of the expected natural margin).
//!
//! True value of each candidate as a share of the oracle's (the true best
//! benefit per user), mean over seeds 1-3 (`offers/tests.rs`,
//! `candidates_in_truth`):
//!
//! | candidate | 30k users | 100k users |
//! |---|---:|---:|
//! | best single benefit | 33% | 35% |
//! | per cell: layer x recency x order, shrunk | 34% | 28% |
//! | per cell: the regime cells, shrunk | 55% | 66% |
//! | per cell: the regime cells, raw (served) | 65% | 68% |
//! | learned: one ridge surface with products | 15% | 40% |
//! | learned: stratified, no products (served) | 39% | 53% |
//!
//! At 30k users the off-policy intervals (about +-0.06 EUR per issue) are
//! wider than the differences between candidates, so which simple policy is
//! served is nearly a coin toss (best single on 2 of 3 seeds). At 100k the
//! per-cell policy beats best single in the paired comparison on each of 6
//! seeds (by 0.024 to 0.055 EUR per issue) and earns 67-73% of the oracle's
//! value; the learned policy has not beaten it beyond noise on any.
//!
//! ## Serving
//! The selector (`select_policy`: no offer, best single benefit, best
//! benefit per cell, learned, compared off-policy on held-out issues)
//! refits the chosen policy on all issues; each user's features and cell
//! are built the same way as of as-of and the policy's estimates are ranked
//! best first, positive ones only (and worth at least half a cent, else
//! they would be served as 0.00). Served estimates are rounded to cents
//! only when written: rounding is monotone, so the stored numbers never
//! contradict the list's order, and GetOffers' stable sort by expected
//! profit keeps it (one order).
//!
//! ## Fairness at the least cost
//! `enforce_least_cost` repairs the lists so no later-layer user gets a lower
//! face value of a kind than a new user of the same tier and quadrant,
//! choosing per group and kind the cheapest repair on the estimates (lower
//! the new users', raise the later users', meet between, or drop the kind).
//! A raised offer may have a negative estimate: it is served only because
//! the rule demands it, marked `fairness_required`, and never first.
//! The report gives the estimated value per user (the first offer's
//! estimate, 0 for none) with and without the rule.
//!
//! ## Fit and apply
//! [`fit`] learns the policy and decides the rule's repairs over everyone
//! (which repair each (tier, quadrant, kind) gets compares users); the
//! result, [`OfferModel`], is the model file's `offers` section.
//! [`OfferServer::serve`] gives one user their list from it and their own
//! history: the ranked estimates, then the chosen repairs of the user's
//! group applied to that list alone (`apply_repairs`), which is the list the
//! population-wide repair gave them. So any partition of the users is
//! served the same lists.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use std::hash::Hasher;

use strata_core::history::{MILLIS_PER_DAY, day_of};
use strata_core::{
    DayTotal, Event, LifecycleModel, OfferIssue as LoggedIssue, UnixMillis, UserHistory,
};
use strata_models::Error as ModelError;
use strata_models::offer_policy::fairness::{
    BenefitTerms, FairOffer, GroupRepair, LeastCostConfig, Stage, UserOffers, apply_repairs,
    enforce_least_cost,
};
use strata_models::offer_policy::{
    BaseLearner, Estimate, OfferIssue, PolicyConfig, PolicyKind, Pool, PoolData, Regressor, Ridge,
    RidgeConfig, RidgeModel, SelectionReport, ServedPolicy, rank, select_policy,
};
use strata_models::{
    BgNbdParameters, CustomerSummary, ExpectedPurchases, PurchaseDay, summarize_purchases,
};
use strata_proto::v1;
use twox_hash::XxHash3_64;

use crate::config::ModelsConfig;
use crate::decisions::{ModelReport, UserSegment, segment_key};

#[cfg(test)]
mod tests;

const DAYS_PER_WEEK: f64 = 7.0;
/// Served estimates are in cents (as every served amount).
const MONEY_DECIMALS: i32 = 2;
/// A positive estimate below this is served as 0.00: not offered.
const HALF_A_CENT: f64 = 0.005;
/// The normal quantile of a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;
/// Days since first seen that bound the never-buyers' cells.
const TENURE_CUTS: [i32; 2] = [30, 120];
/// Features before the layer indicators (see the module documentation).
const BASE_FEATURES: usize = 12;

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// One benefit of a user's served list (40 bytes: a list per user).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ServedOffer {
    /// Catalogue index.
    pub benefit: u32,
    /// The uplift cell the estimate was learned in (for the learned policy,
    /// the user's cell); `None`: the pooled difference over every cell, or
    /// not yet known (set by [`OfferServer::serve`]).
    pub cell: Option<u32>,
    /// The estimate's variance, when the policy keeps one (the cell
    /// policies); set by [`OfferServer::serve`].
    pub variance: Option<f64>,
    /// Estimated incremental profit (rounded to cents only when served:
    /// rounding is monotone, so the served numbers keep the list's order).
    pub estimate: f64,
    /// Listed only because the fairness rule demands it.
    pub forced: bool,
}

/// A catalogue benefit the job kept off a user's list, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DroppedOffer {
    /// Catalogue index.
    pub benefit: u32,
    pub rule: v1::DropRule,
    /// The user's estimate for it.
    pub estimate: f64,
    /// The fairness rule's replacement of the same kind (catalogue index).
    pub replaced_by: Option<u32>,
}

/// At most this many dropped benefits are kept per profile.
const MAX_DROPPED: usize = 4;

/// One user's served list and the benefits the job dropped from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServedList {
    pub offers: Vec<ServedOffer>,
    pub dropped: Vec<DroppedOffer>,
}

/// The user key of the learner: folds and clusters by user.
fn unit_of(user_id: &str) -> u64 {
    let mut hasher = XxHash3_64::with_seed(0);
    hasher.write(user_id.as_bytes());
    hasher.finish()
}

/// Keeps whole users with probability `share`, by their unit (the high bits,
/// so the choice is independent of the learner's folds, which mix the key).
fn sampled(unit: u64, share: f64) -> bool {
    share >= 1.0 || ((unit >> 11) as f64 / (1u64 << 53) as f64) < share
}

/// What a user's purchases said at the start of a day: the purchase days
/// before it, and a purchase-only history the lifecycle model can place
/// (the layer as of then). Grown day by day as the user's issues pass.
struct Known<'h> {
    days: &'h [DayTotal],
    seen: usize,
    prefix: UserHistory,
}

impl<'h> Known<'h> {
    fn new(model: &LifecycleModel, history: &'h UserHistory) -> Self {
        Known {
            days: history.purchase_days(),
            seen: 0,
            prefix: UserHistory::new(model),
        }
    }

    /// Takes in every purchase day before `day`, as the model's first value
    /// event (a history has purchase days only when the model has one).
    fn advance(&mut self, model: &LifecycleModel, day: i32) {
        let Some(value_kind) = model.value_events().first() else {
            return;
        };
        while let Some(total) = self.days.get(self.seen).filter(|total| total.day < day) {
            let mut event = Event::new(
                String::new(),
                i64::from(total.day) * MILLIS_PER_DAY,
                value_kind.as_str(),
            );
            event.amount = Some(total.amount);
            self.prefix.observe(model, &event);
            self.seen += 1;
        }
    }

    fn before(&self) -> &'h [DayTotal] {
        &self.days[..self.seen]
    }
}

/// Mean order over purchase days (amount per purchase event), if any.
fn mean_order(days: &[DayTotal]) -> Option<f64> {
    let events: u64 = days.iter().map(|day| u64::from(day.events)).sum();
    (events > 0).then(|| days.iter().map(|day| day.amount).sum::<f64>() / events as f64)
}

/// How a user is described to the learner, as of any cut: the lifecycle
/// model of the run and the population-wide cut points (fitted once, in the
/// model file).
struct Space<'a> {
    model: &'a LifecycleModel,
    cuts: SpaceCuts,
}

/// The population-wide quantities of the learner's features and cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpaceCuts {
    bg_nbd: Option<BgNbdParameters>,
    horizon_weeks: f64,
    margin_rate: f64,
    /// `ln(1 + mean order)` given to users who never bought: the buyers' median.
    imputed_order: f64,
    /// Terciles of `ln(1 + mean order)` among buyers at as-of, for the cells.
    order_cuts: [f64; 2],
    /// Terciles of the expected natural margin among buyers at as-of.
    margin_cuts: [f64; 2],
}

thread_local! {
    /// This thread's BG/NBD expectations ([`ExpectedPurchases`]): the series
    /// behind a user's expected purchases depends on x and T alone, and the
    /// users and issues a thread describes take a few thousand distinct
    /// pairs at day resolution.
    static EXPECTATIONS: std::cell::RefCell<Option<ExpectedPurchases>> =
        const { std::cell::RefCell::new(None) };
}

/// `parameters`' expected purchases of `customer` over `horizon` weeks (the
/// bits of [`BgNbdParameters::expected_purchases`]), `None` on an error.
fn expected_purchases(
    parameters: &BgNbdParameters,
    horizon: f64,
    customer: &CustomerSummary,
) -> Option<f64> {
    EXPECTATIONS.with_borrow_mut(|kept| {
        ExpectedPurchases::kept_in(kept, parameters, horizon)
            .of(customer)
            .ok()
    })
}

impl<'a> Space<'a> {
    fn new(
        config: &ModelsConfig,
        model: &'a LifecycleModel,
        bg_nbd: Option<BgNbdParameters>,
        as_of: UnixMillis,
        users: &[(&str, &UserHistory)],
    ) -> Self {
        let today = day_of(as_of);
        let mut orders: Vec<f64> = users
            .iter()
            .filter_map(|(_, history)| {
                let days = history.purchase_days();
                let before = &days[..days.partition_point(|day| day.day < today)];
                mean_order(before).map(|mean| mean.max(0.0).ln_1p())
            })
            .collect();
        orders.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            if orders.is_empty() {
                0.0
            } else {
                orders[((orders.len() - 1) as f64 * q).round() as usize]
            }
        };
        let horizon_weeks = f64::from(config.economics.outcome_days) / DAYS_PER_WEEK;
        let mut margins: Vec<f64> = match &bg_nbd {
            Some(parameters) => users
                .iter()
                .filter_map(|(_, history)| {
                    let days = history.purchase_days();
                    let before = &days[..days.partition_point(|day| day.day < today)];
                    let spend = mean_order(before)?.max(0.0);
                    let purchases: Vec<PurchaseDay> = before
                        .iter()
                        .map(|total| PurchaseDay {
                            day: total.day,
                            amount: total.amount.max(0.0),
                        })
                        .collect();
                    let summary = summarize_purchases(&purchases, today).ok()?;
                    let expected = expected_purchases(parameters, horizon_weeks, &summary)?;
                    Some(config.economics.margin_rate * expected * spend)
                })
                .collect(),
            None => Vec::new(),
        };
        margins.sort_by(f64::total_cmp);
        let margin_quantile = |q: f64| {
            if margins.is_empty() {
                0.0
            } else {
                margins[((margins.len() - 1) as f64 * q).round() as usize]
            }
        };
        Space {
            model,
            cuts: SpaceCuts {
                margin_cuts: [margin_quantile(1.0 / 3.0), margin_quantile(2.0 / 3.0)],
                bg_nbd,
                horizon_weeks,
                margin_rate: config.economics.margin_rate,
                imputed_order: quantile(0.5),
                order_cuts: [quantile(1.0 / 3.0), quantile(2.0 / 3.0)],
            },
        }
    }

    fn width(&self) -> usize {
        BASE_FEATURES + self.model.layers().len().saturating_sub(1) + 1
    }

    /// Features and cell of a user as of `at`; `known` holds the purchases
    /// before `at`'s day, `treated_before` the offers delivered before `at`.
    fn describe(
        &self,
        history: &UserHistory,
        known: &Known<'_>,
        at: UnixMillis,
        treated_before: usize,
    ) -> (Vec<f64>, u32) {
        let day = day_of(at);
        let days = known.before();
        let mut features = Vec::with_capacity(self.width());
        let last = days.last();
        let bought = last.is_some();
        let recency = last.map_or(0, |last| (day - last.day).max(0));
        let spend = mean_order(days).map(|mean| mean.max(0.0));
        let order = spend.map_or(self.cuts.imputed_order, f64::ln_1p);
        features.push(f64::from(u8::from(bought)));
        features.push((days.len() as f64).ln_1p());
        features.push(f64::from(recency).ln_1p());
        features.push(order);
        let tenure = history
            .first_seen()
            .map_or(0, |first| (day - day_of(first)).max(0));
        features.push(f64::from(tenure).ln_1p());
        let (expected, alive) = match (&self.cuts.bg_nbd, bought) {
            (Some(parameters), true) => {
                let purchases: Vec<PurchaseDay> = days
                    .iter()
                    .map(|total| PurchaseDay {
                        day: total.day,
                        amount: total.amount.max(0.0),
                    })
                    .collect();
                summarize_purchases(&purchases, day)
                    .ok()
                    .map_or((0.0, 0.0), |summary| {
                        (
                            expected_purchases(parameters, self.cuts.horizon_weeks, &summary)
                                .unwrap_or(0.0),
                            parameters.probability_alive(&summary),
                        )
                    })
            }
            _ => (0.0, 0.0),
        };
        features.push(expected);
        features.push(alive);
        // What the user's own orders would earn in the window anyway: most
        // of the outcome's variance, which the outcome models should remove.
        features.push(self.cuts.margin_rate * expected * spend.unwrap_or(0.0));
        let redeemed = history.engagement().redemptions_before(at) as f64;
        let treated = treated_before as f64;
        features.push((redeemed + 0.5) / (treated + 2.0));
        features.push(treated.ln_1p());
        let rating = (history.rating_sum() as f64 + 7.0) / (history.rating_count() as f64 + 2.0);
        features.push(rating);
        let (sends, responses) = history.engagement().channels().iter().fold(
            (0u64, 0u64),
            |(sends, responses), counts| {
                (
                    sends + u64::from(counts.sends),
                    responses + u64::from(counts.responses),
                )
            },
        );
        features.push((responses as f64 + 1.0) / (sends as f64 + 10.0));
        debug_assert_eq!(features.len(), BASE_FEATURES);

        let stage = self.model.assign(&known.prefix, at);
        for layer in 1..self.model.layers().len() {
            features.push(f64::from(u8::from(stage.layer_index as usize == layer)));
        }
        features.push(f64::from(u8::from(stage.churned)));

        // Never-buyers by how long they have been around (still browsing or
        // gone cold); buyers by how much they buy anyway and their order.
        let cell = if bought {
            let margin = features[EXPECTED_MARGIN];
            let margin_bin = self
                .cuts
                .margin_cuts
                .iter()
                .filter(|cut| margin > **cut)
                .count() as u32;
            let order_bin = self
                .cuts
                .order_cuts
                .iter()
                .filter(|cut| order > **cut)
                .count() as u32;
            TENURE_CUTS.len() as u32 + 1 + margin_bin * 3 + order_bin
        } else {
            TENURE_CUTS.iter().filter(|cut| tenure > **cut).count() as u32
        };
        (features, cell)
    }
}

/// Fewer rows than this in a stratum and it joins its neighbour: a
/// separate fit would be noise.
const MIN_STRATUM_ROWS: usize = 500;
/// Column of the "bought before" indicator and of the expected natural
/// margin in the features (see [`Space::describe`]).
const BOUGHT: usize = 0;
const EXPECTED_MARGIN: usize = 7;
/// Buyers are split at these quantiles of their expected natural margin.
const BUYER_STRATA: [f64; 2] = [0.5, 0.85];

/// A base learner fitted separately per stratum of users: never-buyers,
/// and buyers by how much they buy anyway (expected natural margin in the
/// window, split at [`BUYER_STRATA`] of the pool's rows: cut once per
/// pool, from the features of every issue, so every fit of a selection
/// shares the strata). Regimes, not one surface: a never-buyer's outcome is
/// a conversion or nothing; a one-time buyer's is nearly the same; a
/// frequent buyer's is dominated by their own orders, with a noise that
/// grows with them. One additive model lets the frequent buyers' large,
/// noisy outcomes set the slopes and the penalty everyone else is predicted
/// with (measured on the generator: the learned policy then offered
/// never-buyers points and free shipping, which do nothing for them, and
/// missed that discount-15 earns on one-time buyers). Per stratum, the
/// inner learner chooses its own penalty.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stratified<L> {
    pub inner: L,
}

/// [`Stratified`]'s fitted models: the cut points and one model per stratum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StratifiedModel<M> {
    /// Expected-margin cuts between buyer strata (ascending).
    cuts: Vec<f64>,
    /// `models[0]` never-buyers, `models[1 + k]` buyer stratum `k`.
    models: Vec<M>,
}

fn stratum(features: &[f64], cuts: &[f64]) -> usize {
    if features[BOUGHT] > 0.0 {
        1 + cuts
            .iter()
            .filter(|cut| features[EXPECTED_MARGIN] > **cut)
            .count()
    } else {
        0
    }
}

impl<M: Regressor> Regressor for StratifiedModel<M> {
    fn predict(&self, features: &[f64]) -> f64 {
        self.models[stratum(features, &self.cuts)].predict(features)
    }
}

/// The buyer strata's cut points over `rows` (at [`BUYER_STRATA`] of the
/// buyers' expected margins; a stratum too small to fit alone merged with
/// a neighbour) and each row's stratum under them.
fn strata_of(rows: &[&[f64]]) -> (Vec<f64>, Vec<usize>) {
    let mut margins: Vec<f64> = rows
        .iter()
        .filter(|row| row[BOUGHT] > 0.0)
        .map(|row| row[EXPECTED_MARGIN])
        .collect();
    // The values a sort would put at the quantiles' ranks, by selection
    // (ranks increase, so each search starts past the previous one).
    let mut cuts: Vec<f64> = Vec::with_capacity(BUYER_STRATA.len());
    let mut start = 0;
    for q in BUYER_STRATA {
        if margins.is_empty() {
            break;
        }
        let rank = ((margins.len() - 1) as f64 * q).round() as usize;
        let (_, cut, _) = margins[start..].select_nth_unstable_by(rank - start, f64::total_cmp);
        cuts.push(*cut);
        start = rank;
    }
    drop(margins);
    cuts.dedup();
    let mut which: Vec<usize> = Vec::with_capacity(rows.len());
    loop {
        which.clear();
        which.extend(rows.iter().map(|row| stratum(row, &cuts)));
        let mut sizes = vec![0_usize; cuts.len() + 1];
        for &stratum in &which {
            if stratum > 0 {
                sizes[stratum - 1] += 1;
            }
        }
        let Some((smallest, size)) = sizes
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, size)| *size)
        else {
            break;
        };
        if size >= MIN_STRATUM_ROWS || cuts.is_empty() {
            break;
        }
        cuts.remove(smallest.min(cuts.len() - 1));
    }
    (cuts, which)
}

impl<L> BaseLearner for Stratified<L>
where
    L: BaseLearner + Sync,
    L::Model: Clone + Send + Sync,
{
    type Model = StratifiedModel<L::Model>;

    /// The strata are cut once, from every row of the pool; each stratum
    /// pools its own rows in the inner learner.
    fn pool<'a>(
        &'a self,
        data: PoolData<'a>,
    ) -> Result<Box<dyn Pool<Self::Model> + 'a>, ModelError> {
        if let Some(index) = data.cell.iter().position(|cell| *cell >= data.cells) {
            return Err(ModelError::InvalidInput {
                input: format!("cell[{index}]"),
                reason: format!(
                    "is {}, expected a cell below {}",
                    data.cell[index], data.cells
                ),
            });
        }
        let (cuts, which) = strata_of(&data.rows);
        let strata = cuts.len() + 2;
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); strata];
        for (index, &stratum) in which.iter().enumerate() {
            members[stratum].push(index);
        }
        let mut counts = vec![vec![0_usize; data.cells]; strata];
        let mut pools = Vec::with_capacity(strata);
        for (stratum, rows) in members.iter().enumerate() {
            for &index in rows {
                counts[stratum][data.cell[index]] += 1;
            }
            pools.push(if rows.is_empty() {
                None
            } else {
                let part = PoolData {
                    rows: rows.iter().map(|&index| data.rows[index]).collect(),
                    outcome: rows.iter().map(|&index| data.outcome[index]).collect(),
                    groups: rows.iter().map(|&index| data.groups[index]).collect(),
                    cell: rows.iter().map(|&index| data.cell[index]).collect(),
                    cells: data.cells,
                };
                Some(self.inner.pool(part)?)
            });
        }
        Ok(Box::new(StratifiedPool {
            inner: &self.inner,
            data,
            cuts,
            members,
            counts,
            pools,
            everyone: OnceLock::new(),
        }))
    }
}

/// [`Stratified`]'s pool: one inner pool per stratum, and one of every
/// row for the strata too small in a fit (made when first needed).
struct StratifiedPool<'a, L: BaseLearner> {
    inner: &'a L,
    data: PoolData<'a>,
    cuts: Vec<f64>,
    /// Per stratum: its rows, in order.
    members: Vec<Vec<usize>>,
    /// Per stratum, per cell: rows.
    counts: Vec<Vec<usize>>,
    pools: Vec<Option<InnerPool<'a, L>>>,
    everyone: OnceLock<Result<InnerPool<'a, L>, String>>,
}

/// A pool of [`Stratified`]'s inner learner.
type InnerPool<'a, L> = Box<dyn Pool<<L as BaseLearner>::Model> + 'a>;

impl<'a, L> StratifiedPool<'a, L>
where
    L: BaseLearner + Sync,
{
    /// Per stratum: its rows in `cells`.
    fn sizes(&self, cells: &[usize]) -> Vec<usize> {
        self.counts
            .iter()
            .map(|counts| cells.iter().map(|&cell| counts[cell]).sum())
            .collect()
    }

    /// The pool of every row: what a stratum too small to fit alone borrows.
    fn everyone(&self) -> Result<&(dyn Pool<L::Model> + 'a), ModelError> {
        self.everyone
            .get_or_init(|| {
                self.inner
                    .pool(self.data.clone())
                    .map_err(|error| error.to_string())
            })
            .as_deref()
            .map_err(|reason| ModelError::DegenerateInput {
                model: "stratified learner",
                reason: reason.clone(),
            })
    }
}

impl<L> Pool<StratifiedModel<L::Model>> for StratifiedPool<'_, L>
where
    L: BaseLearner + Sync,
    L::Model: Clone + Send + Sync,
{
    fn fit(&self, cells: &[usize]) -> Result<StratifiedModel<L::Model>, ModelError> {
        let sizes = self.sizes(cells);
        // A stratum too small (or empty) borrows a model fitted on everyone.
        let shared = match sizes.iter().any(|size| *size < MIN_STRATUM_ROWS) {
            true => Some(self.everyone()?.fit(cells)?),
            false => None,
        };
        let models = sizes
            .iter()
            .zip(&self.pools)
            .map(|(size, pool)| match (&shared, pool) {
                (Some(shared), _) if *size < MIN_STRATUM_ROWS => Ok(shared.clone()),
                (_, Some(pool)) => pool.fit(cells),
                (_, None) => unreachable!("an empty stratum is too small"),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StratifiedModel {
            cuts: self.cuts.clone(),
            models,
        })
    }

    fn fit_many(
        &self,
        cells: &[usize],
        targets: &[&[f64]],
    ) -> Result<Vec<StratifiedModel<L::Model>>, ModelError> {
        let rows = self.data.rows.len();
        if let Some(number) = targets.iter().position(|target| target.len() != rows) {
            return Err(ModelError::InvalidInput {
                input: format!("targets[{number}]"),
                reason: format!("has {} values, expected {rows}", targets[number].len()),
            });
        }
        let sizes = self.sizes(cells);
        let shared = match sizes.iter().any(|size| *size < MIN_STRATUM_ROWS) {
            true => Some(self.everyone()?.fit_many(cells, targets)?),
            false => None,
        };
        let mut per_stratum: Vec<Vec<L::Model>> = Vec::with_capacity(sizes.len());
        for ((size, pool), members) in sizes.iter().zip(&self.pools).zip(&self.members) {
            per_stratum.push(match (&shared, pool) {
                (Some(shared), _) if *size < MIN_STRATUM_ROWS => shared.clone(),
                (_, Some(pool)) => {
                    let columns: Vec<Vec<f64>> = targets
                        .iter()
                        .map(|target| members.iter().map(|&index| target[index]).collect())
                        .collect();
                    let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
                    pool.fit_many(cells, &columns)?
                }
                (_, None) => unreachable!("an empty stratum is too small"),
            });
        }
        Ok((0..targets.len())
            .map(|target| StratifiedModel {
                cuts: self.cuts.clone(),
                models: per_stratum
                    .iter()
                    .map(|models| models[target].clone())
                    .collect(),
            })
            .collect())
    }
}

/// The base learner of the learned policy and of the evaluation's outcome
/// models: ridge with hinges but no pairwise products, per stratum. Chosen
/// by measurement on the generator (30k and 100k users, 3 seeds each, the
/// policy's true value as a share of the oracle's): products add 136 terms
/// to 17 features, more than the noisy pseudo-outcomes can pin down (with
/// them 36% at 30k users and 46% at 100k, against 39% and 53% without), and
/// one surface for everyone was worse still (see [`Stratified`]).
fn learner() -> Stratified<Ridge> {
    Stratified {
        inner: Ridge {
            config: RidgeConfig {
                knots: 3,
                interactions: false,
                ..RidgeConfig::default()
            },
            // One thread per fit: the selection already fits its folds and
            // arm models side by side on every scoring thread, and a Gram
            // matrix split across threads evaluates every row's basis once
            // per thread (measured at 1M: about 1.3 s of CPU more with 2).
            // The fit is the same bits for any count.
            threads: 1,
        },
    }
}

/// How the candidates are fitted and compared: the library's defaults
/// (DR-learner, 5 folds by user, 95% intervals), except that cells are not
/// shrunk towards the pooled difference. The shrinkage estimates how much
/// cells truly differ from the mean over cells of `(d - pooled)^2 - se^2`,
/// unweighted, so the frequent buyers' cells, whose standard errors are
/// many times the others', drive it to zero for exactly the benefits whose
/// effect varies most between cells (free shipping and points on the
/// generator: every cell got the pooled estimate). Raw cell differences
/// earned 67-73% of the oracle's value on 6 seeds at 100k users, against
/// 25-68% shrunk.
fn policy_config() -> PolicyConfig {
    PolicyConfig {
        shrink_cells: false,
        // The same bits for any count: each fold fits from the others alone.
        threads: crate::threads::score_threads(),
        ..PolicyConfig::default()
    }
}

/// The logged issues the policies learn from.
struct Logged {
    issues: Vec<OfferIssue>,
    /// Finished catalogue issues in the logs, per arm (0 = held back).
    per_arm: Vec<u64>,
}

/// Catalogue index of a benefit id.
fn catalogue_index(config: &ModelsConfig, benefit_id: &str) -> Option<usize> {
    config
        .benefits
        .iter()
        .position(|benefit| benefit.benefit_id == benefit_id)
}

struct Learning<'a> {
    config: &'a ModelsConfig,
    as_of: UnixMillis,
    space: Space<'a>,
}

impl Learning<'_> {
    fn window_millis(&self) -> i64 {
        i64::from(self.config.economics.outcome_days) * MILLIS_PER_DAY
    }

    /// The user's finished catalogue issues: (position, issue, benefit index).
    fn finished<'i>(
        &'i self,
        issues: &'i [LoggedIssue],
    ) -> impl Iterator<Item = (usize, &'i LoggedIssue, usize)> + 'i {
        let (config, window, as_of) = (self.config, self.window_millis(), self.as_of);
        issues
            .iter()
            .enumerate()
            .filter_map(move |(position, issue)| {
                if issue.at + window > as_of {
                    // The outcome window is not over yet: not an outcome.
                    return None;
                }
                catalogue_index(config, &issue.benefit_id).map(|benefit| (position, issue, benefit))
            })
    }

    /// Every finished issue, counted; those of sampled users described.
    fn collect(&self, users: &[(&str, &UserHistory)]) -> Logged {
        let benefits = self.config.benefits.len();
        let mut per_arm = vec![0u64; benefits + 1];
        for (_, history) in users {
            for (_, issue, benefit) in self.finished(&history.engagement().offers()) {
                per_arm[if issue.treated { benefit + 1 } else { 0 }] += 1;
            }
        }
        let total: u64 = per_arm.iter().sum();
        let share = self.config.offers.max_issues as f64 / total.max(1) as f64;
        // On every core: a user's issues are described from that user alone.
        let (described, _) = crate::threads::map_in_order(
            users.iter().collect(),
            crate::threads::score_threads(),
            || (),
            |(), (user_id, history)| {
                let unit = unit_of(user_id);
                let mut issues = Vec::new();
                if !sampled(unit, share) {
                    return issues;
                }
                let logged = history.engagement().offers();
                let mut known = Known::new(self.space.model, history);
                for (position, issue, benefit) in self.finished(&logged) {
                    known.advance(self.space.model, day_of(issue.at));
                    let treated_before = logged[..position]
                        .iter()
                        .filter(|earlier| earlier.treated && earlier.at < issue.at)
                        .count();
                    let (features, cell) =
                        self.space
                            .describe(history, &known, issue.at, treated_before);
                    issues.push(OfferIssue {
                        unit,
                        features,
                        cell,
                        arm: issue.treated.then_some(benefit),
                        // Set once every issue is counted.
                        propensity: 1.0,
                        outcome: self.outcome(history, issue, benefit),
                    });
                }
                issues
            },
        );
        let mut issues =
            Vec::with_capacity(total.min(self.config.offers.max_issues as u64) as usize);
        issues.extend(described.into_iter().flatten());
        Logged { issues, per_arm }
    }

    /// A user's features and cell as of as-of, described as the issues were.
    fn at_as_of(&self, history: &UserHistory) -> (Vec<f64>, u32) {
        let mut known = Known::new(self.space.model, history);
        known.advance(self.space.model, day_of(self.as_of));
        let treated_before = history
            .engagement()
            .offers()
            .iter()
            .filter(|issue| issue.treated && issue.at < self.as_of)
            .count();
        self.space
            .describe(history, &known, self.as_of, treated_before)
    }

    /// Margin on the window's orders minus the issued benefit's redemptions.
    fn outcome(&self, history: &UserHistory, issue: &LoggedIssue, benefit: usize) -> f64 {
        let until = issue.at + self.window_millis();
        let (first, last) = (day_of(issue.at), day_of(until));
        let days = history.purchase_days();
        let window = &days[days.partition_point(|day| day.day < first)..];
        let revenue: f64 = window
            .iter()
            .take_while(|day| day.day <= last)
            .map(|day| day.amount)
            .sum();
        let cost: f64 = if issue.treated {
            history
                .engagement()
                .redemptions_between(&issue.benefit_id, issue.at, until)
                .into_iter()
                .map(|(at, amount)| {
                    amount.unwrap_or_else(|| self.catalogue_cost(benefit, days, at))
                })
                .sum()
        } else {
            0.0
        };
        self.config.economics.margin_rate * revenue - cost
    }

    /// The catalogue's cost of one redemption on the mean order of its day.
    fn catalogue_cost(&self, benefit: usize, days: &[DayTotal], at: UnixMillis) -> f64 {
        let spec = &self.config.benefits[benefit];
        let order = days
            .binary_search_by_key(&day_of(at), |day| day.day)
            .ok()
            .and_then(|index| mean_order(&days[index..=index]))
            .unwrap_or(0.0)
            .max(0.0);
        order.min(spec.cost_fixed + spec.cost_percent / 100.0 * order)
    }
}

/// Sets each issue's logging probability; returns the control share used
/// and whether it was estimated.
fn set_propensities(config: &ModelsConfig, logged: &mut Logged) -> (f64, bool) {
    let total: u64 = logged.per_arm.iter().sum();
    let held = logged.per_arm[0];
    let (control, estimated) = match config.offers.control_share {
        Some(share) => (share, false),
        None => (held as f64 / total.max(1) as f64, true),
    };
    let treated = (total - held).max(1) as f64;
    let probabilities: Vec<f64> = std::iter::once(control)
        .chain(
            logged.per_arm[1..]
                .iter()
                .map(|count| (1.0 - control) * *count as f64 / treated),
        )
        .collect();
    for issue in &mut logged.issues {
        issue.propensity = probabilities[issue.arm.map_or(0, |benefit| benefit + 1)];
    }
    (control, estimated)
}

fn interval(estimate: Estimate) -> strata_report::Interval {
    strata_report::Interval {
        mean: estimate.mean,
        lower: estimate.lower,
        upper: estimate.upper,
    }
}

/// The simple candidate with the highest DR value (ties to the simpler),
/// as the selector's rule names it.
fn best_simple(report: &SelectionReport) -> PolicyKind {
    let mut best = PolicyKind::NoOffer;
    for kind in PolicyKind::ALL.into_iter().filter(|kind| kind.is_simple()) {
        if report.candidate(kind).value.dr.mean > report.candidate(best).value.dr.mean {
            best = kind;
        }
    }
    best
}

fn policy_check(
    report: &SelectionReport,
    issues: u64,
    control: (f64, bool),
) -> strata_report::OfferPolicyCheck {
    strata_report::OfferPolicyCheck {
        issues,
        issues_used: report.issues as u64,
        control_share: control.0,
        control_share_estimated: control.1,
        confidence: report.confidence,
        candidates: report
            .candidates
            .iter()
            .map(|candidate| strata_report::PolicyEstimate {
                policy: candidate.policy.name().to_owned(),
                served: candidate.policy == report.chosen,
                dr: interval(candidate.value.dr),
                ips: interval(candidate.value.ips),
                offered: candidate.value.offered,
            })
            .collect(),
        served: report.chosen.name().to_owned(),
        reason: report.reason.clone(),
        learned_gain: Some(interval(
            report.gain(PolicyKind::Learned, best_simple(report)),
        )),
        fairness: None,
    }
}

/// What the fairness rule and the report read of every user's list as of
/// as-of, flat (a few bytes per user rather than a list each).
#[derive(Default)]
struct ListedOffers {
    /// Per user, in user order: the first offer's estimate, `None` for an
    /// empty list.
    firsts: Vec<Option<f64>>,
    /// The users the rule may repair (listed, in or after the new layer).
    compared: Vec<usize>,
    /// `compared[k]`'s listed benefits are `benefits[starts[k]..starts[k + 1]]`.
    starts: Vec<usize>,
    benefits: Vec<u32>,
    /// `compared[k]`'s estimates are `estimates[k * catalogue..][..catalogue]`,
    /// NaN where none.
    estimates: Vec<f64>,
}

impl ListedOffers {
    /// Users per call of the threads: each call's lists are flattened
    /// before the next are made.
    const STEP: usize = 1 << 16;

    fn new() -> Self {
        ListedOffers {
            starts: vec![0],
            ..ListedOffers::default()
        }
    }

    fn push(&mut self, index: usize, list: &[ServedOffer], estimates: Option<&[Option<f64>]>) {
        self.firsts.push(list.first().map(|offer| offer.estimate));
        if let Some(estimates) = estimates {
            self.compared.push(index);
            self.benefits.extend(list.iter().map(|offer| offer.benefit));
            self.starts.push(self.benefits.len());
            self.estimates
                .extend(estimates.iter().map(|value| value.unwrap_or(f64::NAN)));
        }
    }

    /// The mean over users of the first offer's estimate (0 for none): the
    /// value the fairness cost is reported in.
    fn first_offer_value(&self) -> f64 {
        self.firsts
            .iter()
            .map(|first| first.unwrap_or(0.0))
            .sum::<f64>()
            / self.firsts.len().max(1) as f64
    }
}

/// The fairness rule over the served lists.
struct Repairs<'a> {
    config: &'a ModelsConfig,
    segments: &'a [UserSegment],
    new_layer: u32,
}

/// The catalogue as the fairness rule sees it.
fn fairness_catalogue(config: &ModelsConfig) -> Vec<BenefitTerms> {
    config
        .benefits
        .iter()
        .map(|spec| BenefitTerms {
            kind: v1::BenefitKind::from(spec.kind) as u32,
            face_value: spec.face_value as f64,
        })
        .collect()
}

/// Tier and quadrant of a user for the fairness rule: the segment key
/// without its layer, as (tier, quadrant).
fn fairness_group(segment: &UserSegment) -> (u32, u32) {
    let group = segment_key(segment) % 100;
    (group / 10, group % 10)
}

impl Repairs<'_> {
    /// Decides the repairs at least cost, one (tier, quadrant) group at a
    /// time: the rule compares users only within a group, so this is the
    /// same repair as over everyone at once, with one group's copies in
    /// memory instead of every user's. `compared` are the users that may be
    /// repaired (see [`ListedOffers`]); a repaired user's first offer is
    /// updated. Returns every group's repairs, in the order they are applied.
    fn decide(
        &self,
        lists: &mut ListedOffers,
        cost: &mut strata_report::FairnessCost,
    ) -> Result<Vec<GroupRepair>, ModelError> {
        let ListedOffers {
            firsts,
            compared,
            starts,
            benefits: listed,
            estimates,
        } = lists;
        let benefits = self.config.benefits.len();
        let catalogue = fairness_catalogue(self.config);
        let mut groups: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
        for (position, &index) in compared.iter().enumerate() {
            groups
                .entry(fairness_group(&self.segments[index]))
                .or_default()
                .push(position);
        }
        let mut repairs = Vec::new();
        for members in groups.values() {
            let offers: Vec<UserOffers> = members
                .iter()
                .map(|&position| {
                    let index = compared[position];
                    let (tier, quadrant) = fairness_group(&self.segments[index]);
                    UserOffers {
                        tier,
                        quadrant,
                        stage: stage_of(&self.segments[index], self.new_layer),
                        estimates: estimates[position * benefits..][..benefits]
                            .iter()
                            .map(|value| (!value.is_nan()).then_some(*value))
                            .collect(),
                        offers: listed[starts[position]..starts[position + 1]]
                            .iter()
                            .map(|&benefit| benefit as usize)
                            .collect(),
                    }
                })
                .collect();
            let outcome = enforce_least_cost(&offers, &catalogue, &LeastCostConfig::default())?;
            cost.users_changed += outcome.users_changed as u64;
            cost.forced_offers += outcome.forced_offers as u64;
            cost.repairs += outcome.repairs.len() as u64;
            repairs.extend(outcome.repairs);
            for (&position, repaired) in members.iter().zip(outcome.offers) {
                firsts[compared[position]] = repaired.first().map(|offer| offer.estimate);
            }
        }
        Ok(repairs)
    }
}

fn served(list: Vec<FairOffer>) -> Vec<ServedOffer> {
    list.into_iter()
        .map(|offer| ServedOffer {
            benefit: offer.benefit as u32,
            cell: None,
            variance: None,
            estimate: offer.estimate,
            forced: offer.forced,
        })
        .collect()
}

/// Where a user stands for the fairness rule.
fn stage_of(segment: &UserSegment, new_layer: u32) -> Stage {
    match segment.layer_index.cmp(&new_layer) {
        std::cmp::Ordering::Less => Stage::Exempt,
        std::cmp::Ordering::Equal => Stage::New,
        std::cmp::Ordering::Greater => Stage::Later,
    }
}

/// The served offer policy, fitted over the whole population: the model
/// file's `offers` section. Everything in it is population-wide (cut points,
/// the chosen policy's estimates, the fairness repairs chosen per group and
/// kind); [`OfferModel::serve`] needs only it and one user's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OfferModel {
    /// The features' and cells' cut points.
    space: SpaceCuts,
    /// The policy served: no offer, best single benefit, per cell, or learned.
    policy: ServedPolicy<StratifiedModel<RidgeModel>>,
    /// The fairness rule's repairs, chosen over everyone at least cost, per
    /// (tier, quadrant, kind), in the order they apply; empty when the rule
    /// is off or nothing was unfair.
    repairs: Vec<GroupRepair>,
}

/// The list one user is served before the fairness rule, the user's
/// estimates (for the rule) and cell.
fn ranked(
    learning: &Learning<'_>,
    policy: &ServedPolicy<StratifiedModel<RidgeModel>>,
    history: &UserHistory,
) -> (Vec<ServedOffer>, Vec<Option<f64>>, u32) {
    let (features, cell) = learning.at_as_of(history);
    let estimates = policy.estimates(&features, cell);
    let list = rank(&estimates, false)
        .into_iter()
        // Worth less than half a cent: served as 0.00, so not worth it.
        .filter(|offer| offer.estimate >= HALF_A_CENT)
        .map(|offer| ServedOffer {
            benefit: offer.benefit as u32,
            cell: None,
            variance: None,
            estimate: offer.estimate,
            forced: false,
        })
        .collect();
    (list, estimates, cell)
}

/// Names where each offer's estimate was learned (`policy`'s cell or the
/// pool, with its variance when kept), for a user in `cell`.
fn with_sources(
    mut list: Vec<ServedOffer>,
    policy: &ServedPolicy<StratifiedModel<RidgeModel>>,
    cell: u32,
) -> Vec<ServedOffer> {
    for offer in &mut list {
        match policy.source(cell, offer.benefit as usize) {
            Some(source) => {
                offer.cell = source.cell;
                offer.variance = source.variance;
            }
            None => {
                offer.cell = Some(cell);
                offer.variance = None;
            }
        }
    }
    list
}

/// A buyer cell's margin and order terciles, by name.
const TERCILE: [&str; 3] = ["1/3", "2/3", "3/3"];

/// A cell's name for people (see [`Space::describe`] for the cells), copied
/// from names made once: every served benefit of every profile carries one
/// (two `format!`s each were about 3% of the apply stage's time at 1M
/// users).
pub(crate) fn cell_name(cell: Option<u32>) -> String {
    /// Every cell [`Space::describe`] makes: "all users", then by index.
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let cells = TENURE_CUTS.len() + 1 + TERCILE.len() * TERCILE.len();
        std::iter::once(format_cell_name(None))
            .chain((0..cells as u32).map(|cell| format_cell_name(Some(cell))))
            .collect()
    });
    let index = cell.map_or(0, |cell| cell as usize + 1);
    match names.get(index) {
        Some(name) => name.clone(),
        None => format_cell_name(cell),
    }
}

/// [`cell_name`], made anew.
fn format_cell_name(cell: Option<u32>) -> String {
    // Short: the name is stored in every benefit of every profile.
    let tenure_cells = TENURE_CUTS.len() as u32 + 1;
    match cell {
        None => "all users".to_owned(),
        Some(cell) if cell < tenure_cells => {
            let index = cell as usize;
            let seen = if index == 0 {
                format!("0-{}", TENURE_CUTS[0])
            } else if index < TENURE_CUTS.len() {
                format!("{}-{}", TENURE_CUTS[index - 1] + 1, TENURE_CUTS[index])
            } else {
                format!(">{}", TENURE_CUTS[index - 1])
            };
            format!("never bought, seen {seen} days")
        }
        Some(cell) => {
            let bought = cell - tenure_cells;
            format!(
                "buyer, margin {}, order {}",
                TERCILE[(bought / 3).min(2) as usize],
                TERCILE[(bought % 3).min(2) as usize]
            )
        }
    }
}

/// Serves a fitted [`OfferModel`] to one user at a time.
pub(crate) struct OfferServer<'a> {
    config: &'a ModelsConfig,
    model: &'a OfferModel,
    learning: Learning<'a>,
    catalogue: Vec<BenefitTerms>,
    new_layer: u32,
}

impl<'a> OfferServer<'a> {
    pub(crate) fn new(
        config: &'a ModelsConfig,
        lifecycle: &'a LifecycleModel,
        as_of: UnixMillis,
        model: &'a OfferModel,
        new_layer: u32,
    ) -> Self {
        OfferServer {
            config,
            model,
            learning: Learning {
                config,
                as_of,
                space: Space {
                    model: lifecycle,
                    cuts: model.space.clone(),
                },
            },
            catalogue: fairness_catalogue(config),
            new_layer,
        }
    }

    /// One user's served list, best first, with the fairness repairs the fit
    /// chose for the user's group applied to it: the list the whole
    /// population's run gives this user, from this user alone.
    pub(crate) fn serve(&self, history: &UserHistory, segment: &UserSegment) -> ServedList {
        let (list, estimates, cell) = ranked(&self.learning, &self.model.policy, history);
        let offers = self.repaired(list.clone(), &estimates, cell, segment);
        let dropped = self.dropped(&list, &offers, &estimates);
        ServedList { offers, dropped }
    }

    /// What the job dropped: the benefits of the ranked `list` the fairness
    /// rule took off (`offers` is the repaired list), then those estimated
    /// not to earn, best first; at most [`MAX_DROPPED`].
    fn dropped(
        &self,
        list: &[ServedOffer],
        offers: &[ServedOffer],
        estimates: &[Option<f64>],
    ) -> Vec<DroppedOffer> {
        let listed = |benefit: u32, list: &[ServedOffer]| list.iter().any(|o| o.benefit == benefit);
        let mut dropped: Vec<DroppedOffer> = list
            .iter()
            .filter(|offer| !listed(offer.benefit, offers))
            .map(|offer| {
                let kind = self.catalogue[offer.benefit as usize].kind;
                DroppedOffer {
                    benefit: offer.benefit,
                    rule: v1::DropRule::Fairness,
                    estimate: offer.estimate,
                    replaced_by: offers
                        .iter()
                        .find(|new| {
                            self.catalogue[new.benefit as usize].kind == kind
                                && !listed(new.benefit, list)
                        })
                        .map(|new| new.benefit),
                }
            })
            .collect();
        let mut unprofitable: Vec<DroppedOffer> = estimates
            .iter()
            .enumerate()
            .filter_map(|(benefit, estimate)| {
                let estimate = estimate.filter(|value| !value.is_nan())?;
                (estimate < HALF_A_CENT && !listed(benefit as u32, offers)).then_some(
                    DroppedOffer {
                        benefit: benefit as u32,
                        rule: v1::DropRule::NotProfitable,
                        estimate,
                        replaced_by: None,
                    },
                )
            })
            .collect();
        // Best estimate first, ties by catalogue order (a stable sort).
        unprofitable.sort_by(|a, b| b.estimate.total_cmp(&a.estimate));
        dropped.extend(unprofitable);
        dropped.truncate(MAX_DROPPED);
        dropped
    }

    /// The ranked list with the fit's fairness repairs for the user's group
    /// applied, each offer's source named.
    fn repaired(
        &self,
        list: Vec<ServedOffer>,
        estimates: &[Option<f64>],
        cell: u32,
        segment: &UserSegment,
    ) -> Vec<ServedOffer> {
        let policy = &self.model.policy;
        let stage = stage_of(segment, self.new_layer);
        if !self.config.fairness.enabled || list.is_empty() || stage == Stage::Exempt {
            return with_sources(list, policy, cell);
        }
        let (tier, quadrant) = fairness_group(segment);
        let user = UserOffers {
            tier,
            quadrant,
            stage,
            estimates: estimates
                .iter()
                .map(|value| value.filter(|value| !value.is_nan()))
                .collect(),
            offers: list.iter().map(|offer| offer.benefit as usize).collect(),
        };
        match apply_repairs(
            &user,
            &self.catalogue,
            &self.model.repairs,
            &LeastCostConfig::default(),
        ) {
            Ok(repaired) => with_sources(served(repaired), policy, cell),
            // The fit applied the rule to this very list without an error,
            // so this is a model file from another catalogue: serve unrepaired.
            Err(_) => with_sources(list, policy, cell),
        }
    }
}

/// Learns the offer policy from the logs, over the whole population (users
/// in id order), and decides the fairness repairs over everyone's served
/// lists. Writes what it found into `report`. `segments` are the users'
/// as-of layer, tier and quadrant (the fairness rule's groups), `new_layer`
/// the index of the model's `new` layer. `None` when no policy could be
/// learned (the notes say why): nobody is offered anything.
pub(crate) fn fit(
    config: &ModelsConfig,
    model: &LifecycleModel,
    as_of: UnixMillis,
    users: &[(&str, &UserHistory)],
    segments: &[UserSegment],
    new_layer: u32,
    report: &mut ModelReport,
) -> Option<OfferModel> {
    let started = std::time::Instant::now();
    let bg_nbd = report.bg_nbd.as_ref().map(|(parameters, _)| *parameters);
    let learning = Learning {
        config,
        as_of,
        space: Space::new(config, model, bg_nbd, as_of, users),
    };
    let mut logged = learning.collect(users);
    let total: u64 = logged.per_arm.iter().sum();
    report.offer_issues = total;
    if logged.issues.is_empty() {
        report
            .notes
            .push("no offer issues with a finished outcome window: no benefits recommended".into());
        return None;
    }
    let control = set_propensities(config, &mut logged);
    // A freak order must not set every user's estimates.
    let mut outcomes: Vec<f64> = logged.issues.iter().map(|issue| issue.outcome).collect();
    report.outcome_outliers = strata_models::robust::winsorise(&mut outcomes).capped;
    for (issue, outcome) in logged.issues.iter_mut().zip(outcomes) {
        issue.outcome = outcome;
    }
    let described = started.elapsed();
    let benefits = config.benefits.len();
    let selection = match select_policy(&logged.issues, benefits, &learner(), &policy_config()) {
        Ok(selection) => selection,
        Err(error) => {
            report
                .notes
                .push(format!("offer policy not fitted: {error}"));
            return None;
        }
    };
    let learned = started.elapsed();
    drop(logged);
    let mut check = policy_check(&selection.report, total, control);
    let policy = selection.policy;

    // Every user as of as-of, described as the issues were: the lists the
    // fairness rule decides its repairs on, kept flat ([`ListedOffers`]).
    // On every core, a step of users at a time: each user's list reads only
    // that user.
    let mut lists = ListedOffers::new();
    for start in (0..users.len()).step_by(ListedOffers::STEP) {
        let step: Vec<usize> = (start..users.len().min(start + ListedOffers::STEP)).collect();
        let (ranked_users, _) = crate::threads::map_in_order(
            step,
            crate::threads::score_threads(),
            || (),
            |(), index| {
                let (list, user_estimates, _) = ranked(&learning, &policy, users[index].1);
                let compared = config.fairness.enabled
                    && !list.is_empty()
                    && stage_of(&segments[index], new_layer) != Stage::Exempt;
                (index, list, compared.then_some(user_estimates))
            },
        );
        for (index, list, user_estimates) in ranked_users {
            lists.push(index, &list, user_estimates.as_deref());
        }
    }
    tracing::info!(
        issues = total,
        learned_from = check.issues_used,
        served = check.served.as_str(),
        describe_seconds = described.as_secs_f64(),
        select_seconds = (learned - described).as_secs_f64(),
        serve_seconds = (started.elapsed() - learned).as_secs_f64(),
        "offer policy chosen"
    );

    let value_without = lists.first_offer_value();
    let mut fairness = strata_report::FairnessCost {
        enabled: config.fairness.enabled,
        value_without,
        value_with: value_without,
        ..strata_report::FairnessCost::default()
    };
    let mut repairs = Vec::new();
    if config.fairness.enabled {
        let rule = Repairs {
            config,
            segments,
            new_layer,
        };
        match rule.decide(&mut lists, &mut fairness) {
            Ok(chosen) => {
                fairness.value_with = lists.first_offer_value();
                repairs = chosen;
            }
            Err(error) => report
                .notes
                .push(format!("fairness rule not applied: {error}")),
        }
    }
    report.fairness_changes = fairness.users_changed as usize;
    report.users_with_benefits = lists.firsts.iter().filter(|first| first.is_some()).count() as u64;
    check.fairness = Some(fairness);
    report.offer_policy = Some(check);
    Some(OfferModel {
        space: learning.space.cuts,
        policy,
        repairs,
    })
}

/// Fits over `users` and serves each of them: what a plain run serves.
#[cfg(test)]
pub(crate) fn decide(
    config: &ModelsConfig,
    model: &LifecycleModel,
    as_of: UnixMillis,
    users: &[(&str, &UserHistory)],
    segments: &[UserSegment],
    new_layer: u32,
    report: &mut ModelReport,
) -> Vec<Vec<ServedOffer>> {
    let Some(offers) = fit(config, model, as_of, users, segments, new_layer, report) else {
        return vec![Vec::new(); users.len()];
    };
    let server = OfferServer::new(config, model, as_of, &offers, new_layer);
    users
        .iter()
        .zip(segments)
        .map(|((_, history), segment)| server.serve(history, segment).offers)
        .collect()
}

/// The served benefits of one user's list, valid from as-of; `policy` is
/// the name of the offer policy served (GetOffers' explanation shows it).
pub(crate) fn benefits(
    config: &ModelsConfig,
    as_of: UnixMillis,
    list: &[ServedOffer],
    policy: &str,
) -> Vec<v1::Benefit> {
    let valid_until = as_of + i64::from(config.economics.valid_days) * MILLIS_PER_DAY;
    list.iter()
        .map(|offer| {
            let spec = &config.benefits[offer.benefit as usize];
            // A 95% interval from the cell's standard error, in the served
            // cents (rounded outwards, so it still holds the estimate).
            let half = offer
                .variance
                .map(|variance| Z_95 * variance.max(0.0).sqrt());
            v1::Benefit {
                benefit_id: spec.benefit_id.clone(),
                kind: v1::BenefitKind::from(spec.kind).into(),
                face_value: spec.face_value,
                currency: spec.currency.clone(),
                minimum_spend: spec.minimum_spend,
                expected_incremental_profit: round_to(offer.estimate, MONEY_DECIMALS),
                valid_from: Some(crate::wire::millis_to_timestamp(as_of)),
                valid_until: Some(crate::wire::millis_to_timestamp(valid_until)),
                fairness_required: offer.forced,
                policy: policy.to_owned(),
                cell: if policy.is_empty() {
                    String::new()
                } else {
                    cell_name(offer.cell)
                },
                estimate_low: half.map(|half| ((offer.estimate - half) * 100.0).floor() / 100.0),
                estimate_high: half.map(|half| ((offer.estimate + half) * 100.0).ceil() / 100.0),
            }
        })
        .collect()
}

/// The dropped benefits of one user's list, as stored.
pub(crate) fn dropped_benefits(
    config: &ModelsConfig,
    dropped: &[DroppedOffer],
) -> Vec<v1::DroppedBenefit> {
    dropped
        .iter()
        .map(|offer| v1::DroppedBenefit {
            benefit_id: config.benefits[offer.benefit as usize].benefit_id.clone(),
            rule: offer.rule.into(),
            expected_incremental_profit: round_to(offer.estimate, MONEY_DECIMALS),
            replaced_by: offer.replaced_by.map_or_else(String::new, |benefit| {
                config.benefits[benefit as usize].benefit_id.clone()
            }),
        })
        .collect()
}

/// The offer lines of the printed summary: every candidate's off-policy
/// estimate with its interval, the policy served and why, what fairness cost.
pub(crate) struct SummaryLines<'a>(pub &'a ModelReport);

impl fmt::Display for SummaryLines<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        let Some(check) = &report.offer_policy else {
            return writeln!(
                out,
                "    offers       {} finished offer issues; no policy learned (see the notes)",
                report.offer_issues
            );
        };
        let interval = |value: &strata_report::Interval| {
            format!(
                "{:+.3} [{:+.3}, {:+.3}]",
                value.mean, value.lower, value.upper
            )
        };
        writeln!(
            out,
            "    offers       {} finished issues, {} learned from; held back {:.1}% ({})",
            check.issues,
            check.issues_used,
            100.0 * check.control_share,
            if check.control_share_estimated {
                "estimated from the logs"
            } else {
                "configured"
            }
        )?;
        writeln!(
            out,
            "      {} per issue vs no offer, held out  doubly robust [{:.0}% CI]     inverse propensity          offered",
            report.currency,
            100.0 * check.confidence
        )?;
        for candidate in &check.candidates {
            writeln!(
                out,
                "      {} {:<32} {:<28} {:<27} {:>5.1}%",
                if candidate.served { "*" } else { " " },
                candidate.policy,
                interval(&candidate.dr),
                interval(&candidate.ips),
                100.0 * candidate.offered
            )?;
        }
        writeln!(out, "      served: {}", check.reason)?;
        if let Some(fairness) = &check.fairness {
            if fairness.enabled {
                writeln!(
                    out,
                    "    fairness     estimated value per user {:+.4} without the rule, {:+.4} with it \
                     (costs {:.6}); {} users changed, {} offers forced, {} groups repaired",
                    fairness.value_without,
                    fairness.value_with,
                    fairness.value_without - fairness.value_with,
                    fairness.users_changed,
                    fairness.forced_offers,
                    fairness.repairs
                )?;
            } else {
                writeln!(
                    out,
                    "    fairness     off; estimated value per user {:+.4}",
                    fairness.value_without
                )?;
            }
        }
        Ok(())
    }
}
