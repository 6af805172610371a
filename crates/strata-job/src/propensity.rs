//! Propensity to buy within the window: the features, the choice between
//! models and baselines on a holdout, and serving the chosen one.
//!
//! ## A time split, and no future in the features
//! The label is "bought in the `window_days` after a cut-off day". Training
//! and holdout rows are built as of `cutoff = as_of - window` and labelled
//! with the purchases of `(cutoff, as_of]`; served rows are built the same way
//! as of the as-of day. So every feature must be computable from what was
//! known at the end of a given day, and nothing after it, or the holdout AUC
//! would reward a leak the served score cannot have. What `UserHistory` keeps
//! decides what qualifies:
//! - **Purchases** are kept by day (all days), so recency, frequency, spend,
//!   purchase days in the last 30 and 90 days, mean order value, the age of
//!   the first purchase and the BG/NBD figures can be cut at any day. The
//!   BG/NBD used for the cut-off rows is fitted on purchases up to the cut-off
//!   only; served rows use the run's own fit, as the lifetime value does.
//! - **Tenure** is measured from the first event of any kind, which is the
//!   same at any later day.
//! - **Offers** are kept per issue with their time, and redemptions with
//!   theirs, so "a treated offer still open" (issued within the outcome
//!   window before the day) and "offers received / redeemed by the day" can
//!   be cut too. A redemption counts only if it happened by the day.
//! - **Left out, because they cannot be cut at a day:** browsing, add-to-cart,
//!   favourites, ratings and reviews (the history keeps only counters, unless
//!   the lifecycle model tracks them, and then privately and only for its own
//!   windows); channel sends and responses (counters per channel; the contact
//!   times kept are only the newest 32, so a count as of the cut-off would be
//!   short by an amount that differs between training and serving); the last
//!   time seen (it moves with any later event). Per-day series of these in
//!   `strata_core::history` would let them in.
//!
//! ## The choice
//! [`strata_models::propensity_choice::choose_propensity`] fits a regularised
//! logistic regression and gradient-boosted trees on the training rows, scores
//! them and the two baselines on the holdout by ROC AUC, and serves a model
//! only if it beats the best baseline; otherwise the baseline itself,
//! calibrated to a probability. The baselines are read from the same feature
//! row ([`baseline_scores`]), at the cut-off for the holdout and at the as-of
//! day for serving, so a served baseline is exactly the score that was
//! judged: `recency` (minus the days since the last purchase; never-buyers as
//! if they last bought a year before they arrived) and `bg_nbd_expected`
//! (the BG/NBD expected purchases in the window; 0 without a purchase).
//!
//! The holdout split is by a hash of the user id (as it was before this
//! module), so a user is in the same set on every run and machine.

use std::fmt;
use std::hash::Hasher;

use strata_core::history::{DayTotal, MILLIS_PER_DAY, day_of};
use strata_core::{UnixMillis, UserHistory};
use strata_models::calibration::CalibrationMethod;
use strata_models::propensity_choice::{
    CandidateKind, PropensityChoiceConfig, PropensityData, PropensityReport, ServedPropensity,
    choose_propensity,
};
use strata_models::{
    CustomerSummary, ExpectedPurchases, PurchaseDay, fit_bg_nbd, summarize_purchases,
};
use twox_hash::XxHash3_64;

const DAYS_PER_WEEK: f64 = 7.0;

/// The feature row's columns, in order; the reports name them so.
pub const FEATURES: [&str; 14] = [
    "recency_days",
    "purchase_days",
    "log_spend",
    "tenure_days",
    "bought",
    "bg_nbd_expected",
    "bg_nbd_alive",
    "purchase_days_30",
    "purchase_days_90",
    "log_mean_order",
    "first_purchase_age_days",
    "open_offers",
    "offers_received",
    "offers_redeemed",
];
const RECENCY: usize = 0;
const FREQUENCY: usize = 1;
const BOUGHT: usize = 4;
const EXPECTED: usize = 5;

type Row = [f64; FEATURES.len()];

/// The baselines' names, in the order of [`baseline_scores`].
pub const BASELINES: [&str; 2] = ["recency", "bg_nbd_expected"];

/// The baselines' scores from a feature row; higher means more likely.
pub fn baseline_scores(row: &Row) -> [f64; 2] {
    [-row[RECENCY], row[EXPECTED]]
}

/// Calibration repeat purchases 0 to 6 get a bucket each; 7 and more share one.
const HOLDOUT_BUCKETS: usize = 8;

/// What a feature row needs besides the history.
#[derive(Debug)]
struct FeatureContext<'a> {
    /// The BG/NBD fitted on purchases up to the row's day, if one could be,
    /// with its expectations over the window remembered per (x, T).
    bg_nbd: Option<&'a mut ExpectedPurchases>,
    /// A treated offer issued fewer than this many days before the day is
    /// still open: its outcome window reaches into the predicted one.
    offer_days: u32,
}

fn purchase_day(total: &DayTotal) -> PurchaseDay {
    PurchaseDay {
        day: total.day,
        amount: total.amount.max(0.0),
    }
}

/// Purchase days in `(day - days, day]` of `purchases` (all on or before `day`).
fn days_within(purchases: &[DayTotal], day: i32, days: i32) -> f64 {
    let since = day - days;
    (purchases.len() - purchases.partition_point(|total| total.day <= since)) as f64
}

/// The user's features as of the end of `day`; `None` for a user not yet
/// seen by then. See the module documentation for why these and no others.
fn features(history: &UserHistory, day: i32, context: &mut FeatureContext<'_>) -> Option<Row> {
    let first_seen = day_of(history.first_seen()?);
    if first_seen > day {
        return None;
    }
    let all = history.purchase_days();
    let purchases = &all[..all.partition_point(|total| total.day <= day)];
    let tenure = f64::from(day - first_seen);
    let mut row: Row = [0.0; FEATURES.len()];
    row[3] = tenure;
    match (purchases.first(), purchases.last()) {
        (Some(first), Some(last)) => {
            let spend: f64 = purchases.iter().map(|total| total.amount.max(0.0)).sum();
            let count = purchases.len() as f64;
            row[RECENCY] = f64::from(day - last.day);
            row[FREQUENCY] = count;
            row[2] = spend.ln_1p();
            row[BOUGHT] = 1.0;
            row[7] = days_within(purchases, day, 30);
            row[8] = days_within(purchases, day, 90);
            row[9] = (spend / count).ln_1p();
            row[10] = f64::from(day - first.day);
            if let Some(expected) = context.bg_nbd.as_deref_mut() {
                let days: Vec<PurchaseDay> = purchases.iter().map(purchase_day).collect();
                if let Ok(summary) = summarize_purchases(&days, day) {
                    row[EXPECTED] = expected.of(&summary).unwrap_or(0.0);
                    row[6] = expected.parameters().probability_alive(&summary);
                }
            }
        }
        // Never bought: as if the last purchase were a year before they came.
        _ => row[RECENCY] = tenure + 365.0,
    }
    let engagement = history.engagement();
    // The end of `day`: nothing after it is known at the cut-off.
    let day_end = (i64::from(day) + 1) * MILLIS_PER_DAY - 1;
    let open_from = i64::from(day) - i64::from(context.offer_days);
    let outcome_millis = i64::from(context.offer_days) * MILLIS_PER_DAY;
    for issue in engagement.offers() {
        if issue.at > day_end {
            break;
        }
        if !issue.treated {
            continue;
        }
        row[12] += 1.0;
        if i64::from(day_of(issue.at)) > open_from {
            row[11] += 1.0;
        }
        let until = (issue.at + outcome_millis).min(day_end);
        if engagement.redeemed_between(&issue.benefit_id, issue.at, until) {
            row[13] += 1.0;
        }
    }
    Some(row)
}

/// A user's place in the holdout: a hash of the id, stable across runs and
/// machines (the seed and rule the job used before this module).
fn in_holdout(user_id: &str, share: f64) -> bool {
    let mut hasher = XxHash3_64::with_seed(0x5EED);
    hasher.write(user_id.as_bytes());
    (hasher.finish() % 10_000) as f64 / 10_000.0 < share
}

/// Whether a training user is in the sample the candidates train on: a
/// hash of the id under its own seed (independent of the holdout draw), in
/// millionths of `share`.
fn in_training_sample(user_id: &str, share: f64) -> bool {
    if share >= 1.0 {
        return true;
    }
    let mut hasher = XxHash3_64::with_seed(0x7EA1);
    hasher.write(user_id.as_bytes());
    (hasher.finish() % 1_000_000) as f64 / 1_000_000.0 < share
}

/// The served propensity with what it needs to build a row at serving time
/// (the model file's `decisions.propensity`: the chosen model's
/// coefficients or trees and its calibration).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Propensity {
    served: ServedPropensity,
    window_weeks: f64,
    offer_days: u32,
}

impl Propensity {
    /// The calibrated probability of a purchase in the window after `day`,
    /// for a user known by then. `bg_nbd` is the run's own fit (the one that
    /// saw every purchase up to `day`) over [`Propensity::window_weeks`],
    /// kept across users.
    pub fn predict(
        &self,
        history: &UserHistory,
        day: i32,
        bg_nbd: Option<&mut ExpectedPurchases>,
    ) -> Option<f64> {
        let mut context = FeatureContext {
            bg_nbd,
            offer_days: self.offer_days,
        };
        let row = features(history, day, &mut context)?;
        Some(self.served.predict(&row, &baseline_scores(&row)))
    }

    /// The window predicted, in weeks: the horizon of the BG/NBD
    /// expectation among the features.
    pub fn window_weeks(&self) -> f64 {
        self.window_weeks
    }

    pub fn served(&self) -> &ServedPropensity {
        &self.served
    }
}

/// What fitting produced, for the job's decisions and its report.
#[derive(Default)]
pub struct Fitted {
    /// `None` when nothing could be chosen (see `notes`).
    pub propensity: Option<Propensity>,
    pub report: Option<PropensityReport>,
    /// The cut-off BG/NBD's predictions against the window's purchases.
    pub bg_nbd_holdout: Option<strata_report::BgNbdHoldout>,
    pub notes: Vec<String>,
}

impl Fitted {
    /// The holdout AUC of the candidate called `name`.
    pub fn auc(&self, name: &str) -> Option<f64> {
        self.report
            .as_ref()?
            .candidates
            .iter()
            .find(|candidate| candidate.name == name)?
            .auc
    }
}

/// Builds the rows as of `as_of - window_days`, labels them with the
/// window's purchases, and chooses the propensity on the holdout. `users`
/// in user id order, so a rerun fits the same bits. `offer_days` is the
/// offers' outcome window (an offer younger than that is still open).
/// Beyond `max_train_users` training users, the candidates train on a
/// sample of them drawn by a hash of the id (about that many); the holdout
/// and the BG/NBD check keep every user.
pub fn fit(
    users: &[(&str, &UserHistory)],
    as_of: UnixMillis,
    window_days: u32,
    holdout_share: f64,
    max_train_users: usize,
    offer_days: u32,
) -> Fitted {
    let mut fitted = Fitted::default();
    let window = i32::try_from(window_days).unwrap_or(i32::MAX);
    let window_weeks = f64::from(window_days) / DAYS_PER_WEEK;
    let today = day_of(as_of);
    let cutoff = today.saturating_sub(window);
    // The cut-off rows need a BG/NBD fit that saw only that far.
    let cutoff_summaries: Vec<CustomerSummary> = users
        .iter()
        .filter_map(|(_, history)| {
            let purchases = history.purchase_days();
            let days: Vec<PurchaseDay> = purchases
                [..purchases.partition_point(|total| total.day <= cutoff)]
                .iter()
                .map(purchase_day)
                .collect();
            if days.is_empty() {
                return None;
            }
            summarize_purchases(&days, cutoff).ok()
        })
        .collect();
    let cutoff_bg_nbd = fit_bg_nbd(&cutoff_summaries).ok().map(|fit| fit.parameters);
    drop(cutoff_summaries);
    let mut expectations =
        cutoff_bg_nbd.map(|parameters| ExpectedPurchases::new(parameters, window_weeks));
    let mut context = FeatureContext {
        bg_nbd: expectations.as_mut(),
        offer_days,
    };

    // Users with a row (seen by the cut-off), to size the training sample.
    let with_rows = users
        .iter()
        .filter(|(_, history)| {
            history
                .first_seen()
                .is_some_and(|first_seen| day_of(first_seen) <= cutoff)
        })
        .count();
    let expected_training = with_rows as f64 * (1.0 - holdout_share);
    let train_share = max_train_users as f64 / expected_training.max(1.0);
    let mut not_sampled = 0usize;
    let (mut train_rows, mut train_labels) = (Vec::new(), Vec::new());
    let (mut holdout_rows, mut holdout_labels) = (Vec::new(), Vec::new());
    // (buyers, predicted, actual) per calibration repeat-purchase bucket.
    let mut fit_check = [(0u64, 0.0f64, 0.0f64); HOLDOUT_BUCKETS];
    for (user_id, history) in users {
        let Some(row) = features(history, cutoff, &mut context) else {
            continue;
        };
        let later = history
            .purchase_days()
            .iter()
            .filter(|total| total.day > cutoff && total.day <= today)
            .count();
        if cutoff_bg_nbd.is_some() && row[BOUGHT] > 0.0 {
            let repeat = (row[FREQUENCY] as usize).saturating_sub(1);
            let bucket = &mut fit_check[repeat.min(HOLDOUT_BUCKETS - 1)];
            bucket.0 += 1;
            bucket.1 += row[EXPECTED];
            bucket.2 += later as f64;
        }
        if in_holdout(user_id, holdout_share) {
            holdout_rows.push(row);
            holdout_labels.push(later > 0);
        } else if in_training_sample(user_id, train_share) {
            train_rows.push(row);
            train_labels.push(later > 0);
        } else {
            not_sampled += 1;
        }
    }
    if not_sampled > 0 {
        fitted.notes.push(format!(
            "propensity trained on {} of {} training users, sampled by a hash of the id \
             ([propensity] max_train_users {max_train_users}); every user is scored",
            train_rows.len(),
            train_rows.len() + not_sampled
        ));
    }
    if cutoff_bg_nbd.is_some() {
        fitted.bg_nbd_holdout = Some(holdout_check(&fit_check, window_days));
    }

    let baselines: Vec<(String, Vec<f64>)> = BASELINES
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let scores = holdout_rows
                .iter()
                .map(|row| baseline_scores(row)[index])
                .collect();
            ((*name).to_owned(), scores)
        })
        .collect();
    let data = PropensityData {
        train_rows: &train_rows,
        train_labels: &train_labels,
        holdout_rows: &holdout_rows,
        holdout_labels: &holdout_labels,
        baselines: &baselines,
    };
    match choose_propensity(&data, &PropensityChoiceConfig::default()) {
        Ok(choice) => {
            for candidate in &choice.report.candidates {
                if candidate.auc.is_none()
                    && let Some(note) = &candidate.note
                {
                    fitted
                        .notes
                        .push(format!("propensity {}: {note}", candidate.name));
                }
            }
            fitted.propensity = Some(Propensity {
                served: choice.served,
                window_weeks,
                offer_days,
            });
            fitted.report = Some(choice.report);
        }
        Err(error) => fitted.notes.push(format!("propensity not fitted: {error}")),
    }
    fitted
}

/// The choice's figures for the run report's page, which knows no model
/// types; the default (no candidates) when nothing was chosen.
pub fn report_check(report: Option<&PropensityReport>) -> strata_report::PropensityCheck {
    let Some(report) = report else {
        return strata_report::PropensityCheck::default();
    };
    let calibration = &report.calibration;
    strata_report::PropensityCheck {
        candidates: report
            .candidates
            .iter()
            .map(|candidate| strata_report::PropensityCandidate {
                name: candidate.name.clone(),
                baseline: candidate.kind == CandidateKind::Baseline,
                auc: candidate.auc,
                note: candidate.note.clone(),
            })
            .collect(),
        served: Some(report.chosen.clone()),
        reason: Some(report.reason.clone()),
        calibration: Some(strata_report::PropensityCalibration {
            method: method_name(calibration.method).to_owned(),
            holdout_users: report.holdout_rows as u64,
            base_rate: report.holdout_positive_rate,
            brier_base_rate: calibration.brier_base_rate,
            brier_before: calibration.brier_uncalibrated,
            brier_after: calibration.brier_calibrated,
            reliability: calibration
                .reliability_calibrated
                .iter()
                .map(|bin| strata_report::ReliabilityBin {
                    users: bin.count as u64,
                    predicted: bin.mean_predicted,
                    observed: bin.observed_rate,
                })
                .collect(),
        }),
        ..strata_report::PropensityCheck::default()
    }
}

fn method_name(method: CalibrationMethod) -> &'static str {
    match method {
        CalibrationMethod::Platt => "Platt scaling",
        CalibrationMethod::Isotonic => "isotonic regression",
    }
}

/// The choice as lines of the printed run summary, under the propensity
/// line: what is served and why, every candidate, calibration.
pub struct SummaryLines<'a>(pub &'a PropensityReport);

impl fmt::Display for SummaryLines<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        writeln!(
            out,
            "      served       {}: {}",
            report.chosen, report.reason
        )?;
        let candidates: Vec<String> = report
            .candidates
            .iter()
            .map(|candidate| {
                let auc = candidate
                    .auc
                    .map_or("none".to_owned(), |auc| format!("{auc:.4}"));
                match (&candidate.kind, &candidate.note) {
                    (CandidateKind::Model, Some(note)) => {
                        format!("{} {auc} ({note})", candidate.name)
                    }
                    _ => format!("{} {auc}", candidate.name),
                }
            })
            .collect();
        writeln!(
            out,
            "      candidates   holdout AUC on {} users ({} trained): {}",
            report.holdout_rows,
            report.train_rows,
            candidates.join(", ")
        )?;
        let calibration = &report.calibration;
        let before = calibration
            .brier_uncalibrated
            .map_or("none (a baseline score)".to_owned(), |brier| {
                format!("{brier:.4}")
            });
        writeln!(
            out,
            "      calibrated   {}, {}-fold out of fold: Brier {before} before, {:.4} after; \
             base rate {:.1}% (Brier {:.4})",
            method_name(calibration.method),
            calibration.folds,
            calibration.brier_calibrated,
            100.0 * report.holdout_positive_rate,
            calibration.brier_base_rate
        )?;
        let bins: Vec<String> = calibration
            .reliability_calibrated
            .iter()
            .map(|bin| format!("{:.3}/{:.3}", bin.mean_predicted, bin.observed_rate))
            .collect();
        writeln!(
            out,
            "      reliability  predicted/bought per tenth of the holdout: {}",
            bins.join(" ")
        )
    }
}

/// Mean predicted and actual window purchases per calibration bucket.
fn holdout_check(
    buckets: &[(u64, f64, f64); HOLDOUT_BUCKETS],
    holdout_days: u32,
) -> strata_report::BgNbdHoldout {
    let buckets = buckets
        .iter()
        .enumerate()
        .filter(|(_, (buyers, _, _))| *buyers > 0)
        .map(
            |(repeat, (buyers, predicted, actual))| strata_report::FrequencyBucket {
                label: if repeat + 1 == HOLDOUT_BUCKETS {
                    format!("{repeat}+")
                } else {
                    repeat.to_string()
                },
                customers: *buyers,
                predicted: predicted / *buyers as f64,
                actual: actual / *buyers as f64,
            },
        )
        .collect();
    strata_report::BgNbdHoldout {
        holdout_days,
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{Event, LifecycleModel};

    const DAY: i64 = MILLIS_PER_DAY;

    fn history(events: &[Event]) -> UserHistory {
        let model = LifecycleModel::preset("retail").unwrap();
        let mut history = UserHistory::new(&model);
        for event in events {
            history.observe(&model, event);
        }
        history
    }

    fn event(kind: &str, day: i64, amount: Option<f64>, benefit: Option<&str>) -> Event {
        Event {
            amount,
            benefit_id: benefit.map(str::to_owned),
            ..Event::new("u", day * DAY + 3_600_000, kind)
        }
    }

    fn context() -> FeatureContext<'static> {
        FeatureContext {
            bg_nbd: None,
            offer_days: 14,
        }
    }

    /// A population where about half the users buy in the window, buyers
    /// more often the more they bought before.
    fn population(users: usize) -> Vec<(String, UserHistory)> {
        (0..users)
            .map(|index| {
                let before = (index * 7) % 5;
                let mut events: Vec<Event> = (0..before)
                    .map(|purchase| event("purchase", 10 + 15 * purchase as i64, Some(20.0), None))
                    .collect();
                events.push(event("browse", 5, None, None));
                if (index * 13) % 10 < 2 + before {
                    events.push(event("purchase", 95, Some(25.0), None));
                }
                (format!("user-{index:05}"), history(&events))
            })
            .collect()
    }

    #[test]
    fn training_beyond_the_cap_is_a_sample_and_the_holdout_is_whole() {
        let owned = population(6_000);
        let users: Vec<(&str, &UserHistory)> = owned
            .iter()
            .map(|(user_id, history)| (user_id.as_str(), history))
            .collect();
        let as_of = 100 * DAY;
        let whole = fit(&users, as_of, 30, 0.2, usize::MAX, 14);
        let capped = fit(&users, as_of, 30, 0.2, 1_000, 14);
        let whole_report = whole.report.expect("fitted on every user");
        let capped_report = capped.report.expect("fitted on the sample");
        assert!(
            whole_report.train_rows > 4_000,
            "{}",
            whole_report.train_rows
        );
        assert!(
            (800..=1_200).contains(&capped_report.train_rows),
            "{}",
            capped_report.train_rows
        );
        assert_eq!(capped_report.holdout_rows, whole_report.holdout_rows);
        assert!(whole.notes.iter().all(|note| !note.contains("sampled")));
        let note = capped
            .notes
            .iter()
            .find(|note| note.contains("sampled by a hash"))
            .expect("the sample is reported");
        assert!(
            note.contains(&format!(
                "trained on {} of {} training users",
                capped_report.train_rows, whole_report.train_rows
            )),
            "{note}"
        );
        // The same users give the same sample.
        let again = fit(&users, as_of, 30, 0.2, 1_000, 14).report.unwrap();
        assert_eq!(again.train_rows, capped_report.train_rows);
        assert_eq!(
            again.chosen_auc.to_bits(),
            capped_report.chosen_auc.to_bits()
        );
    }

    /// Everything after the row's day is invisible: the row at day 100 of a
    /// history with later events equals the row of the history cut there.
    #[test]
    fn a_row_sees_nothing_after_its_day() {
        let early = [
            event("browse", 10, None, None),
            event("purchase", 20, Some(30.0), None),
            event("purchase", 80, Some(50.0), None),
            event("offer_issued", 95, None, Some("coupon-5")),
            event("offer_control", 60, None, Some("coupon-10")),
            event("offer_issued", 40, None, Some("free-shipping")),
            event("offer_redeemed", 45, Some(4.9), Some("free-shipping")),
        ];
        let late = [
            event("purchase", 101, Some(70.0), None),
            event("offer_redeemed", 102, Some(5.0), Some("coupon-5")),
            event("offer_issued", 105, None, Some("points-200")),
            event("send", 103, None, None),
        ];
        let cut = history(&early);
        let all: Vec<Event> = early.iter().chain(&late).cloned().collect();
        let full = history(&all);
        let row = features(&full, 100, &mut context()).unwrap();
        assert_eq!(row, features(&cut, 100, &mut context()).unwrap());
        assert_eq!(row[RECENCY], 20.0);
        assert_eq!(row[FREQUENCY], 2.0);
        assert_eq!(row[2], 80f64.ln_1p());
        assert_eq!(row[3], 90.0, "tenure from the first event");
        assert_eq!(row[7], 1.0, "day 80 is within 30 days of day 100");
        assert_eq!(row[8], 2.0);
        assert_eq!(row[9], 40f64.ln_1p());
        assert_eq!(row[10], 80.0);
        assert_eq!(row[11], 1.0, "the day-95 offer is still open");
        assert_eq!(row[12], 2.0, "treated issues only");
        assert_eq!(row[13], 1.0, "the day-102 redemption is after the day");
        // Later, the redemption and the new purchase count.
        let row = features(&full, 110, &mut context()).unwrap();
        assert_eq!(row[FREQUENCY], 3.0);
        assert_eq!(row[13], 2.0);
        assert_eq!(row[11], 1.0, "day 95 is no longer open, day 105 is");
        // Before the first event the user is unknown.
        assert!(features(&full, 9, &mut context()).is_none());
    }

    #[test]
    fn never_buyers_rank_last_by_recency_and_have_no_expectation() {
        let row = features(
            &history(&[event("browse", 10, None, None)]),
            40,
            &mut context(),
        )
        .unwrap();
        assert_eq!(row[RECENCY], 30.0 + 365.0);
        assert_eq!(row[BOUGHT], 0.0);
        assert_eq!(baseline_scores(&row), [-395.0, 0.0]);
    }
}
