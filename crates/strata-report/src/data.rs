//! The run report's numbers: what a recompute hands the renderer, as plain
//! serde types (the JSON file between `strata recompute --report-data` and
//! `strata report`), plus the two derived views computed from raw counts
//! here so they are tested once: the cohort matrix and the layer funnel.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning; `strata report` refuses other formats.
pub const FORMAT: u32 = 1;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// One recompute run, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub format: u32,
    pub preset: String,
    pub model_version: String,
    /// RFC 3339.
    pub as_of: String,
    pub users: u64,
    pub events: u64,
    pub bad_rows: u64,
    /// Every layer of the model in its order, including empty ones.
    pub layers: Vec<LayerCount>,
    pub tiers: Vec<Count>,
    pub quadrants: Vec<Count>,
    /// Layer changes since the job's last delivered state; `(none)` is a user
    /// new to the job, `(erased)` one erased.
    pub transitions: Vec<Transition>,
    pub cohorts: CohortMatrix,
    pub models: ModelChecks,
    /// What the users bought and are predicted to be worth, and the offers
    /// made to them (absent from reports written before it existed).
    #[serde(default)]
    pub value: ValueReport,
}

/// The run's money: revenue so far, predicted lifetime value by layer, and
/// the benefits recommended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueReport {
    /// The run's currency (ISO 4217); empty when no amount was read.
    pub currency: String,
    /// Users with at least one purchase before the as-of time.
    pub buyers: u64,
    /// Everything they spent before the as-of time.
    pub revenue: f64,
    /// Users with a predicted lifetime value, and the sum of their values.
    pub valued_users: u64,
    pub predicted_value: f64,
    /// The prediction's horizon, days (0 when no user has a value).
    pub horizon_days: u32,
    /// Predicted lifetime value per layer (churned states included in
    /// their layer), in the model's order.
    pub layers: Vec<LayerValue>,
    /// Every benefit recommended to at least one user, most recommended
    /// first.
    pub benefits: Vec<BenefitMix>,
}

impl ValueReport {
    /// Mean predicted lifetime value of the users who have one.
    pub fn mean_predicted_value(&self) -> Option<f64> {
        (self.valued_users > 0).then(|| self.predicted_value / self.valued_users as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerValue {
    pub index: u32,
    pub name: String,
    /// Users of the layer with a predicted value, and the sum of the values.
    pub valued_users: u64,
    pub predicted_value: f64,
}

impl LayerValue {
    pub fn mean(&self) -> Option<f64> {
        (self.valued_users > 0).then(|| self.predicted_value / self.valued_users as f64)
    }
}

/// One benefit of the catalogue as the run recommends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenefitMix {
    pub benefit_id: String,
    /// `coupon`, `discount`, `points`, `free shipping`.
    pub kind: String,
    /// Users it is recommended to.
    pub users: u64,
    /// The sum of its expected incremental profit over those users.
    pub expected_incremental_profit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerCount {
    pub index: u32,
    pub name: String,
    pub active: u64,
    /// Users who reached this layer and then churned from it.
    pub churned: u64,
}

impl LayerCount {
    pub fn total(&self) -> u64 {
        self.active + self.churned
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub count: u64,
}

/// Buyers grouped by the UTC calendar month of their first purchase, and how
/// many of each cohort bought again in each later month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CohortMatrix {
    /// Oldest cohort first; every month from the first cohort to the last
    /// observed month, empty cohorts included (with no `buyers`, so the
    /// matrix grows with the buyers, not with the square of the span).
    pub rows: Vec<CohortRow>,
    /// The last observed month is cut short by the as-of time.
    pub partial_last_month: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortRow {
    /// `2024-03`.
    pub month: String,
    /// Users whose first purchase fell in this month.
    pub size: u64,
    /// `buyers[k]`: users of the cohort with a purchase in month `month + k`,
    /// for every observed month (so `buyers[0] == size`); empty when the
    /// cohort is.
    pub buyers: Vec<u64>,
}

/// How well the models did on this run's data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelChecks {
    pub bg_nbd: Option<BgNbdFit>,
    pub gamma_gamma: Option<GammaGammaFit>,
    /// BG/NBD fitted on the calibration period, against what users really
    /// bought in the holdout period after it.
    pub bg_nbd_holdout: Option<BgNbdHoldout>,
    pub propensity: PropensityCheck,
    /// The offer policy; absent when no policy was chosen (no offers).
    #[serde(default)]
    pub offers: Option<OfferPolicyCheck>,
    pub users_with_benefits: u64,
    pub fairness_changes: u64,
    pub capped_users: u64,
    /// Why a model is missing, in words.
    pub notes: Vec<String>,
    /// Churn probability and next order: backtests and what is served
    /// (absent in older reports).
    #[serde(default)]
    pub predictions: Option<PredictionsCheck>,
}

/// The churn probability and next-order date of a run: each one's backtest
/// on a time split (fitted as of `as_of - horizon`, judged on the horizon
/// after), the one served and why, and which predictions were switched off
/// for lack of data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictionsCheck {
    pub churn: Option<ChurnCheck>,
    pub next_order: Option<NextOrderCheck>,
    /// Predictions not served, each with why (`churn`, `next_order`).
    pub switched_off: Vec<SwitchedOff>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwitchedOff {
    pub prediction: String,
    pub reason: String,
}

/// Churn: P(no purchase in the next `horizon_days`), every candidate's
/// Brier score and reliability curve (deciles) on the held-out users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChurnCheck {
    pub horizon_days: u32,
    pub holdout_users: u64,
    /// Share of the held-out buyers who made no purchase in the horizon.
    pub base_rate: f64,
    pub candidates: Vec<ChurnCandidate>,
    pub served: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChurnCandidate {
    pub name: String,
    pub baseline: bool,
    pub brier: f64,
    pub reliability: Vec<ReliabilityBin>,
}

/// Next order: median absolute error in days of the predicted date on the
/// held-out users who ordered within the holdout window, strata's against
/// the naive "last order + median gap".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NextOrderCheck {
    pub holdout_days: u32,
    pub holdout_users: u64,
    pub model_error_days: f64,
    pub baseline_error_days: f64,
    pub served: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgNbdHoldout {
    pub holdout_days: u32,
    /// By repeat purchases in the calibration period: 0, 1, ... and the last
    /// bucket open-ended (`7+`).
    pub buckets: Vec<FrequencyBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyBucket {
    pub label: String,
    pub customers: u64,
    /// Mean purchases per customer in the holdout period.
    pub predicted: f64,
    pub actual: f64,
}

/// Holdout ROC AUC of the served propensity and its two baselines, and, from
/// runs that choose the model on the holdout, every candidate, the choice
/// and its calibration (absent in older reports, hence the defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PropensityCheck {
    pub window_days: u32,
    /// The served score's AUC (a model's, or a baseline's when it is served).
    pub model_auc: Option<f64>,
    pub recency_auc: Option<f64>,
    pub bg_nbd_auc: Option<f64>,
    /// Models first, then baselines, each with its holdout AUC.
    #[serde(default)]
    pub candidates: Vec<PropensityCandidate>,
    /// The served candidate's name, and why it was chosen.
    #[serde(default)]
    pub served: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub calibration: Option<PropensityCalibration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PropensityCandidate {
    pub name: String,
    /// A baseline (a simple score) rather than a fitted model.
    pub baseline: bool,
    /// `None` when the model could not be fitted (`note` says why).
    pub auc: Option<f64>,
    pub note: Option<String>,
}

/// How the served score was turned into a probability, measured out of fold
/// on the holdout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PropensityCalibration {
    /// `Platt` or `Isotonic`.
    pub method: String,
    pub holdout_users: u64,
    /// Share of the holdout that bought in the window.
    pub base_rate: f64,
    /// Brier score of predicting the base rate for everyone.
    pub brier_base_rate: f64,
    /// The model's own probabilities; `None` for a served baseline, whose
    /// score is not a probability.
    pub brier_before: Option<f64>,
    pub brier_after: f64,
    /// Equal-count bins, lowest predictions first, after calibration.
    pub reliability: Vec<ReliabilityBin>,
}

/// One bin of a reliability curve: a calibrated score has `observed` close
/// to `predicted`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub users: u64,
    pub predicted: f64,
    pub observed: f64,
}

/// The offer policy of a run: every candidate's incremental profit per issue
/// against sending nothing, estimated off-policy on held-out randomised
/// offers (cross-fitted by user), the one served and why, and what the
/// fairness rule cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferPolicyCheck {
    /// Finished issues of catalogue benefits in the logs, and how many of
    /// them (whole users, by hash) the policies were learned from.
    #[serde(default)]
    pub issues: u64,
    #[serde(default)]
    pub issues_used: u64,
    /// The held-back share used as the logging probability, and whether it
    /// was estimated from the logs (else configured).
    #[serde(default)]
    pub control_share: f64,
    #[serde(default)]
    pub control_share_estimated: bool,
    /// Of every interval, e.g. 0.95.
    #[serde(default)]
    pub confidence: f64,
    /// Simplest first: no offer, best single benefit, best benefit per
    /// cell, learned.
    #[serde(default)]
    pub candidates: Vec<PolicyEstimate>,
    /// The served candidate's name, and the selector's reason in words.
    #[serde(default)]
    pub served: String,
    #[serde(default)]
    pub reason: String,
    /// The learned policy's paired gain over the best simple candidate.
    #[serde(default)]
    pub learned_gain: Option<Interval>,
    #[serde(default)]
    pub fairness: Option<FairnessCost>,
}

/// A mean with its confidence interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
}

/// One candidate policy's off-policy value (EUR per issue against sending
/// nothing): doubly robust, and inverse propensity as the model-free check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyEstimate {
    pub policy: String,
    #[serde(default)]
    pub served: bool,
    pub dr: Interval,
    pub ips: Interval,
    /// Share of the held-out issues the policy would send an offer.
    #[serde(default)]
    pub offered: f64,
}

/// What the fairness rule cost on the served policy's own estimates: the
/// estimated incremental profit of the first offer, per user, without and
/// with the rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FairnessCost {
    pub enabled: bool,
    pub value_without: f64,
    pub value_with: f64,
    /// Users whose list the rule changed; offers listed only because the
    /// rule demands them; (tier, quadrant, kind) groups repaired.
    pub users_changed: u64,
    pub forced_offers: u64,
    pub repairs: u64,
}

/// Counts each buyer into the cohort of their first purchase month. Cheap:
/// one pass over a user's purchase days, a few integers per cohort.
#[derive(Debug, Clone)]
pub struct CohortCounter {
    /// Months counted as `year * 12 + month - 1`.
    last_month: i64,
    partial_last_month: bool,
    /// Cohort month -> (size, buyers per month offset).
    cohorts: BTreeMap<i64, (u64, Vec<u64>)>,
    months: Vec<i64>,
}

impl CohortCounter {
    /// Observes months up to and including the one holding the last moment
    /// before `as_of` (Unix milliseconds). Purchases later than that are
    /// left out, so an as-of at midnight on the 1st ends on a whole month.
    pub fn new(as_of: i64) -> Self {
        let last_moment = as_of.saturating_sub(1);
        let last_month = month_of_day(last_moment.div_euclid(MILLIS_PER_DAY));
        let (_, _, day) = civil_from_days(as_of.div_euclid(MILLIS_PER_DAY));
        let starts_a_month = as_of.rem_euclid(MILLIS_PER_DAY) == 0 && day == 1;
        CohortCounter {
            last_month,
            partial_last_month: !starts_a_month,
            cohorts: BTreeMap::new(),
            months: Vec::new(),
        }
    }

    /// One user's purchase days (days since 1970-01-01, any order); users
    /// who never bought are not in any cohort.
    pub fn add_user(&mut self, purchase_days: impl IntoIterator<Item = i32>) {
        self.months.clear();
        self.months.extend(
            purchase_days
                .into_iter()
                .map(|day| month_of_day(i64::from(day)))
                .filter(|month| *month <= self.last_month),
        );
        self.months.sort_unstable();
        self.months.dedup();
        let Some(&first) = self.months.first() else {
            return;
        };
        let observed = (self.last_month - first + 1) as usize;
        let (size, buyers) = self
            .cohorts
            .entry(first)
            .or_insert_with(|| (0, vec![0; observed]));
        *size += 1;
        for month in &self.months {
            buyers[(month - first) as usize] += 1;
        }
    }

    pub fn finish(self) -> CohortMatrix {
        let Some(&first) = self.cohorts.keys().next() else {
            return CohortMatrix {
                rows: Vec::new(),
                partial_last_month: self.partial_last_month,
            };
        };
        let rows = (first..=self.last_month)
            .map(|month| {
                let (size, buyers) = self.cohorts.get(&month).cloned().unwrap_or_default();
                CohortRow {
                    month: month_label(month),
                    size,
                    buyers,
                }
            })
            .collect();
        CohortMatrix {
            rows,
            partial_last_month: self.partial_last_month,
        }
    }
}

/// One row of the funnel: users who reached a layer or a deeper one.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStep {
    pub name: String,
    /// Users whose layer (active or churned) is this one or deeper in the
    /// model's order.
    pub reached: u64,
    /// `reached` over all users.
    pub share: f64,
    /// `reached` over the previous step's `reached`; none for the first
    /// step or after an empty one.
    pub step_conversion: Option<f64>,
}

/// The funnel between layers, in the model's order. A churned user counts
/// as having reached the layer they churned from.
pub fn funnel(layers: &[LayerCount]) -> Vec<FunnelStep> {
    let mut ordered: Vec<&LayerCount> = layers.iter().collect();
    ordered.sort_by_key(|layer| layer.index);
    let total: u64 = ordered.iter().map(|layer| layer.total()).sum();
    let mut reached: Vec<u64> = ordered
        .iter()
        .rev()
        .scan(0u64, |deeper, layer| {
            *deeper += layer.total();
            Some(*deeper)
        })
        .collect();
    reached.reverse();
    ordered
        .iter()
        .zip(&reached)
        .enumerate()
        .map(|(position, (layer, &reached_here))| FunnelStep {
            name: layer.name.clone(),
            reached: reached_here,
            share: ratio(reached_here, total).unwrap_or(0.0),
            step_conversion: position
                .checked_sub(1)
                .and_then(|previous| ratio(reached_here, reached[previous])),
        })
        .collect()
}

pub(crate) fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn month_of_day(day: i64) -> i64 {
    let (year, month, _) = civil_from_days(day);
    year * 12 + i64::from(month) - 1
}

fn month_label(month: i64) -> String {
    format!(
        "{:04}-{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Days since 1970-01-01 of a UTC date.
    fn day(year: i64, month: u32, day: u32) -> i32 {
        // Inverse of civil_from_days by search: the tests stay independent of it.
        let mut candidate = (year - 1970) * 365 + i64::from(month - 1) * 28;
        while civil_from_days(candidate) != (year, month, day) {
            candidate += 1;
        }
        candidate as i32
    }

    fn millis(year: i64, month: u32, of_month: u32) -> i64 {
        i64::from(day(year, month, of_month)) * MILLIS_PER_DAY
    }

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(month_label(month_of_day(19_782)), "2024-02");
    }

    #[test]
    fn cohort_matrix_of_a_hand_made_history() {
        // As of midnight on 1 April: January to March are whole months.
        let mut counter = CohortCounter::new(millis(2024, 4, 1));
        // January cohort: one buys in Jan, Feb and Mar (twice in Jan); one
        // only in Jan; one in Jan and Mar.
        counter.add_user([
            day(2024, 1, 3),
            day(2024, 1, 20),
            day(2024, 2, 2),
            day(2024, 3, 9),
        ]);
        counter.add_user([day(2024, 1, 31)]);
        counter.add_user([day(2024, 3, 1), day(2024, 1, 15)]);
        // March cohort, with a purchase at the as-of moment's day left out.
        counter.add_user([day(2024, 3, 31), day(2024, 4, 1)]);
        // Never bought.
        counter.add_user([]);
        let matrix = counter.finish();
        assert!(!matrix.partial_last_month);
        let rows: Vec<(&str, u64, &[u64])> = matrix
            .rows
            .iter()
            .map(|row| (row.month.as_str(), row.size, row.buyers.as_slice()))
            .collect();
        assert_eq!(
            rows,
            [
                ("2024-01", 3, &[3, 1, 2][..]),
                ("2024-02", 0, &[][..]),
                ("2024-03", 1, &[1][..]),
            ]
        );
    }

    #[test]
    fn an_as_of_within_a_month_leaves_it_partial() {
        let mut counter = CohortCounter::new(millis(2024, 3, 15) + 3_600_000);
        counter.add_user([day(2024, 3, 15)]);
        let matrix = counter.finish();
        assert!(matrix.partial_last_month);
        assert_eq!(matrix.rows.len(), 1);
        assert_eq!(matrix.rows[0].buyers, [1]);
        assert!(CohortCounter::new(0).finish().rows.is_empty());
    }

    #[test]
    fn a_long_span_costs_one_row_per_month_and_buyers_per_cohort() {
        // One buyer in 1970, as of 2100: 1,561 rows, one of them with buyers.
        let mut counter = CohortCounter::new(millis(2100, 1, 1));
        counter.add_user([0]);
        let matrix = counter.finish();
        assert_eq!(matrix.rows.len(), 130 * 12);
        let cells: usize = matrix.rows.iter().map(|row| row.buyers.len()).sum();
        assert_eq!(cells, 130 * 12);
        assert_eq!(matrix.rows[0].buyers[0], 1);
    }

    fn layer(index: u32, name: &str, active: u64, churned: u64) -> LayerCount {
        LayerCount {
            index,
            name: name.into(),
            active,
            churned,
        }
    }

    #[test]
    fn funnel_counts_each_layer_or_deeper_and_step_rates() {
        // Out of order on purpose: the model's index decides.
        let layers = [
            layer(2, "growth", 10, 10),
            layer(0, "potential", 40, 0),
            layer(1, "new", 30, 10),
            layer(3, "mature", 0, 0),
        ];
        let steps = funnel(&layers);
        let summary: Vec<(&str, u64, f64, Option<f64>)> = steps
            .iter()
            .map(|step| {
                (
                    step.name.as_str(),
                    step.reached,
                    step.share,
                    step.step_conversion,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("potential", 100, 1.0, None),
                ("new", 60, 0.6, Some(0.6)),
                ("growth", 20, 0.2, Some(20.0 / 60.0)),
                ("mature", 0, 0.0, Some(0.0)),
            ]
        );
        // After an empty step there is no rate, and no users means no shares.
        let empty = funnel(&[layer(0, "a", 0, 0), layer(1, "b", 0, 0)]);
        assert_eq!(empty[1].step_conversion, None);
        assert_eq!(empty[0].share, 0.0);
    }
}
