//! Churn probability and the next order: which method to serve, chosen on a
//! time-split backtest against naive baselines (the fit, population-wide,
//! kept in the model file as [`PredictionModels`]), then applied per user.
//!
//! ## The backtest
//! Both are judged as of `cutoff = as_of - horizon`: a BG/NBD is fitted on
//! the purchases up to the cut-off only, and every candidate predicts from
//! what was known then; the purchases of `(cutoff, as_of]` are the outcome.
//! - **Churn** (no purchase in the horizon), on the buyers at the cut-off,
//!   split in two halves by a hash of the user id: the recency-bucket
//!   baseline learns its rates on one half, every candidate is scored on the
//!   other (Brier score, reliability curve in deciles). Candidates: `bg_nbd`
//!   (P(no purchase in the horizon) from the fitted process),
//!   `one_minus_alive` (1 - P(alive)) and `recency_buckets`. The lowest
//!   Brier score is served; a served bucket rate is exactly the rate judged.
//! - **Next order**, on the users with at least two purchase days at the
//!   cut-off who ordered again within the horizon: the median absolute error
//!   in days of `bg_nbd` (the fitted process's median wait of a user who
//!   orders within the horizon) against
//!   `last_order_plus_median_gap`. The baseline is served unless strata's
//!   error is strictly lower.
//!
//! Below `[predictions] min_buyers` buyers or `min_history_days` of history
//! both are switched off, and the report says why. Served values use the
//! run's own BG/NBD (fitted as of the as-of day), as the lifetime value does.

use std::hash::Hasher;

use serde::{Deserialize, Serialize};
use strata_core::history::{MILLIS_PER_DAY, day_of};
use strata_core::{UnixMillis, UserHistory};
use strata_models::calibration::{brier_score, reliability_curve};
use strata_models::churn::{median_wait_within_weeks, probability_no_purchase, typical_gap_weeks};
use strata_models::{
    BgNbdParameters, CustomerSummary, PurchaseDay, fit_bg_nbd, summarize_purchases,
};
use strata_proto::v1;
use strata_report::{
    ChurnCandidate, ChurnCheck, NextOrderCheck, PredictionsCheck, ReliabilityBin, SwitchedOff,
};
use twox_hash::XxHash3_64;

use crate::config::PredictionsConfig;

const DAYS_PER_WEEK: f64 = 7.0;
/// Upper edges (days since the last purchase) of the recency buckets; the
/// last bucket is open.
const RECENCY_EDGES: [i32; 6] = [14, 30, 60, 90, 180, 365];
/// Purchase-day classes crossed with the recency buckets: 1, 2 to 4, 5 or more.
const FREQUENCY_CLASSES: usize = 3;
pub(crate) const BUCKETS: usize = (RECENCY_EDGES.len() + 1) * FREQUENCY_CLASSES;
/// Pseudo-users at the overall rate added to every bucket, so a bucket of
/// a few users does not serve 0 or 1.
const BUCKET_PRIOR_USERS: f64 = 5.0;
/// Seed of the hash that splits the churn holdout in halves (not the
/// propensity holdout's: the halves need not line up).
const SPLIT_SEED: u64 = 0x6368_7572_6e21;
const RELIABILITY_BINS: usize = 10;

pub(crate) const BG_NBD: &str = "bg_nbd";
pub(crate) const ONE_MINUS_ALIVE: &str = "one_minus_alive";
pub(crate) const RECENCY_BUCKETS: &str = "recency_buckets";
pub(crate) const LAST_ORDER_PLUS_MEDIAN_GAP: &str = "last_order_plus_median_gap";

/// The served churn method, population-wide: the model file's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ChurnMethod {
    BgNbd,
    OneMinusAlive,
    /// The churn rate of each (recency bucket, frequency class), recency
    /// major; [`BUCKETS`] of them.
    RecencyBuckets {
        rates: Vec<f64>,
    },
}

impl ChurnMethod {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ChurnMethod::BgNbd => BG_NBD,
            ChurnMethod::OneMinusAlive => ONE_MINUS_ALIVE,
            ChurnMethod::RecencyBuckets { .. } => RECENCY_BUCKETS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextOrderMethod {
    BgNbd,
    LastOrderPlusMedianGap,
}

impl NextOrderMethod {
    pub(crate) fn name(self) -> &'static str {
        match self {
            NextOrderMethod::BgNbd => BG_NBD,
            NextOrderMethod::LastOrderPlusMedianGap => LAST_ORDER_PLUS_MEDIAN_GAP,
        }
    }
}

/// What the apply stage needs to serve churn and the next order; `None`
/// for a prediction switched off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionModels {
    pub churn: Option<ChurnModel>,
    pub next_order: Option<NextOrderMethod>,
    /// The next order's horizon: `bg_nbd` predicts the date of an order
    /// within it.
    #[serde(default)]
    pub next_order_horizon_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnModel {
    pub horizon_days: u32,
    pub method: ChurnMethod,
}

impl PredictionModels {
    /// The horizon both predictions were judged over (the churn horizon).
    fn horizon_days(&self) -> Option<u32> {
        self.next_order_horizon_days
    }

    /// What a model file must hold to be served: checked on load.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.next_order == Some(NextOrderMethod::BgNbd)
            && self.next_order_horizon_days.is_none_or(|days| days == 0)
        {
            return Err(
                "predictions.next_order is bg_nbd without a next_order_horizon_days".into(),
            );
        }
        let Some(churn) = &self.churn else {
            return Ok(());
        };
        if churn.horizon_days == 0 {
            return Err("predictions.churn.horizon_days is 0".into());
        }
        if let ChurnMethod::RecencyBuckets { rates } = &churn.method {
            if rates.len() != BUCKETS {
                return Err(format!(
                    "predictions.churn.method.recency_buckets.rates has {} rates, not {BUCKETS}",
                    rates.len()
                ));
            }
            if let Some(index) = rates
                .iter()
                .position(|rate| !(rate.is_finite() && (0.0..=1.0).contains(rate)))
            {
                return Err(format!(
                    "predictions.churn.method.recency_buckets.rates[{index}] {} is not in 0..=1",
                    rates[index]
                ));
            }
        }
        Ok(())
    }
}

fn bucket(recency_days: i32, purchase_days: usize) -> usize {
    let recency = RECENCY_EDGES
        .iter()
        .position(|edge| recency_days <= *edge)
        .unwrap_or(RECENCY_EDGES.len());
    let frequency = match purchase_days {
        0 | 1 => 0,
        2..=4 => 1,
        _ => 2,
    };
    recency * FREQUENCY_CLASSES + frequency
}

/// One user's purchases up to `day`, as the lifetime models read them.
fn purchases_through(history: &UserHistory, day: i32) -> Vec<PurchaseDay> {
    history
        .purchase_days()
        .iter()
        .take_while(|total| total.day <= day)
        .map(|total| PurchaseDay {
            day: total.day,
            amount: total.amount.max(0.0),
        })
        .collect()
}

fn summary_through(history: &UserHistory, day: i32) -> Option<CustomerSummary> {
    let days = purchases_through(history, day);
    if days.is_empty() {
        return None;
    }
    summarize_purchases(&days, day).ok()
}

/// The median of the gaps between consecutive purchase days up to `day`;
/// `None` with fewer than two.
fn median_gap_days(history: &UserHistory, day: i32) -> Option<f64> {
    let days: Vec<i32> = history
        .purchase_days()
        .iter()
        .take_while(|total| total.day <= day)
        .map(|total| total.day)
        .collect();
    let mut gaps: Vec<i32> = days.windows(2).map(|pair| pair[1] - pair[0]).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    let middle = gaps.len() / 2;
    Some(if gaps.len() % 2 == 1 {
        f64::from(gaps[middle])
    } else {
        f64::from(gaps[middle - 1] + gaps[middle]) / 2.0
    })
}

/// Days from `day` to the predicted next order: at least the day after.
fn wait_days(days: f64) -> i32 {
    (days.round() as i32).max(1)
}

/// The naive rule: last order + median gap, days after `day`.
fn baseline_wait(history: &UserHistory, day: i32) -> Option<(i32, f64)> {
    let gap = median_gap_days(history, day)?;
    let last = history
        .purchase_days()
        .iter()
        .take_while(|total| total.day <= day)
        .last()?
        .day;
    Some((wait_days(f64::from(last - day) + gap), gap))
}

/// The fitted process's next order: the median wait of a user who orders
/// again within `horizon_days` (see `median_wait_within_weeks`).
fn model_wait(
    parameters: &BgNbdParameters,
    history: &UserHistory,
    day: i32,
    horizon_days: u32,
) -> Option<(i32, f64)> {
    let summary = summary_through(history, day)?;
    if summary.frequency() == 0 {
        return None;
    }
    let horizon = f64::from(horizon_days) / DAYS_PER_WEEK;
    let wait = median_wait_within_weeks(parameters, &summary, horizon) * DAYS_PER_WEEK;
    let gap = typical_gap_weeks(parameters, &summary) * DAYS_PER_WEEK;
    (wait.is_finite() && gap.is_finite()).then_some((wait_days(wait), gap))
}

/// A churn candidate's probability for one user as of `day`.
fn churn_probability(
    method: &ChurnMethod,
    parameters: Option<&BgNbdParameters>,
    history: &UserHistory,
    day: i32,
    horizon_days: u32,
) -> Option<f64> {
    let buyer_days = history
        .purchase_days()
        .iter()
        .take_while(|total| total.day <= day)
        .count();
    if buyer_days == 0 {
        return None;
    }
    let probability = match method {
        ChurnMethod::RecencyBuckets { rates } => {
            let last = history.purchase_days()[buyer_days - 1].day;
            rates[bucket(day - last, buyer_days)]
        }
        ChurnMethod::BgNbd => {
            let summary = summary_through(history, day)?;
            probability_no_purchase(
                parameters?,
                &summary,
                f64::from(horizon_days) / DAYS_PER_WEEK,
            )
        }
        ChurnMethod::OneMinusAlive => {
            let summary = summary_through(history, day)?;
            1.0 - parameters?.probability_alive(&summary)
        }
    };
    probability.is_finite().then(|| probability.clamp(0.0, 1.0))
}

/// One held-out user: their history, and whether they bought in the horizon
/// after the cut-off.
struct Row<'a> {
    history: &'a UserHistory,
    churned: bool,
    learn: bool,
}

/// The fit: minimum data, the backtests, the choice. `bg_nbd` is the run's
/// own fit (as of the as-of day), which serving uses.
pub(crate) fn fit(
    config: &PredictionsConfig,
    as_of: UnixMillis,
    users: &[(&str, &UserHistory)],
    bg_nbd: Option<&BgNbdParameters>,
) -> (PredictionModels, PredictionsCheck) {
    let mut check = PredictionsCheck::default();
    let mut models = PredictionModels::default();
    let switch_off = |check: &mut PredictionsCheck, reason: String| {
        for prediction in ["churn", "next_order"] {
            check.switched_off.push(SwitchedOff {
                prediction: prediction.to_owned(),
                reason: reason.clone(),
            });
        }
    };
    let today = day_of(as_of);
    let buyers = users
        .iter()
        .filter(|(_, history)| !history.purchase_days().is_empty())
        .count() as u64;
    let first_day = users
        .iter()
        .filter_map(|(_, history)| history.first_seen())
        .min()
        .map(day_of);
    let history_days = first_day.map_or(0, |first| i64::from(today - first));
    if buyers < config.min_buyers {
        switch_off(
            &mut check,
            format!(
                "{buyers} buyers, fewer than the {} [predictions] min_buyers needs",
                config.min_buyers
            ),
        );
        return (models, check);
    }
    if history_days < i64::from(config.min_history_days) {
        switch_off(
            &mut check,
            format!(
                "{history_days} days of history, fewer than the {} [predictions] min_history_days needs",
                config.min_history_days
            ),
        );
        return (models, check);
    }
    if bg_nbd.is_none() {
        switch_off(
            &mut check,
            "the run's BG/NBD was not fitted (see its note)".to_owned(),
        );
        return (models, check);
    }
    let horizon = config.churn_horizon_days;
    let cutoff = today - horizon as i32;
    let summaries: Vec<CustomerSummary> = users
        .iter()
        .filter_map(|(_, history)| summary_through(history, cutoff))
        .collect();
    let cutoff_bg_nbd = match fit_bg_nbd(&summaries) {
        Ok(fit) => fit.parameters,
        Err(error) => {
            switch_off(
                &mut check,
                format!("BG/NBD as of the backtest's cut-off not fitted: {error}"),
            );
            return (models, check);
        }
    };
    let rows: Vec<Row<'_>> = users
        .iter()
        .filter(|(_, history)| {
            history
                .purchase_days()
                .first()
                .is_some_and(|first| first.day <= cutoff)
        })
        .map(|(user_id, history)| {
            let mut hasher = XxHash3_64::with_seed(SPLIT_SEED);
            hasher.write(user_id.as_bytes());
            Row {
                history,
                churned: !history
                    .purchase_days()
                    .iter()
                    .any(|total| total.day > cutoff && total.day <= today),
                learn: hasher.finish().is_multiple_of(2),
            }
        })
        .collect();
    match choose_churn(&rows, &cutoff_bg_nbd, cutoff, horizon) {
        Ok((method, churn_check)) => {
            models.churn = Some(ChurnModel {
                horizon_days: horizon,
                method,
            });
            check.churn = Some(churn_check);
        }
        Err(reason) => check.switched_off.push(SwitchedOff {
            prediction: "churn".into(),
            reason,
        }),
    }
    match choose_next_order(&rows, &cutoff_bg_nbd, cutoff, horizon) {
        Ok((method, order_check)) => {
            models.next_order = Some(method);
            models.next_order_horizon_days = Some(horizon);
            check.next_order = Some(order_check);
        }
        Err(reason) => check.switched_off.push(SwitchedOff {
            prediction: "next_order".into(),
            reason,
        }),
    }
    (models, check)
}

fn choose_churn(
    rows: &[Row<'_>],
    parameters: &BgNbdParameters,
    cutoff: i32,
    horizon: u32,
) -> Result<(ChurnMethod, ChurnCheck), String> {
    // The baseline's rates, learned on one half.
    let learn: Vec<&Row<'_>> = rows.iter().filter(|row| row.learn).collect();
    let judge: Vec<&Row<'_>> = rows.iter().filter(|row| !row.learn).collect();
    if learn.len() < 50 || judge.len() < 50 {
        return Err(format!(
            "{} buyers before the backtest's cut-off, fewer than 100",
            rows.len()
        ));
    }
    let overall = learn.iter().filter(|row| row.churned).count() as f64 / learn.len() as f64;
    let mut churned = [0.0; BUCKETS];
    let mut counts = [0.0; BUCKETS];
    for row in &learn {
        let days = purchases_through(row.history, cutoff);
        let last = days.last().map_or(cutoff, |day| day.day);
        let index = bucket(cutoff - last, days.len());
        counts[index] += 1.0;
        churned[index] += f64::from(u8::from(row.churned));
    }
    let rates: Vec<f64> = (0..BUCKETS)
        .map(|index| {
            (churned[index] + BUCKET_PRIOR_USERS * overall) / (counts[index] + BUCKET_PRIOR_USERS)
        })
        .collect();
    let candidates = [
        (ChurnMethod::BgNbd, false),
        (ChurnMethod::OneMinusAlive, false),
        (ChurnMethod::RecencyBuckets { rates }, true),
    ];
    let labels: Vec<bool> = judge.iter().map(|row| row.churned).collect();
    let mut scored = Vec::new();
    for (method, baseline) in candidates {
        let probabilities: Option<Vec<f64>> = judge
            .iter()
            .map(|row| churn_probability(&method, Some(parameters), row.history, cutoff, horizon))
            .collect();
        let Some(probabilities) = probabilities else {
            continue;
        };
        let (Ok(brier), Ok(curve)) = (
            brier_score(&probabilities, &labels),
            reliability_curve(&probabilities, &labels, RELIABILITY_BINS),
        ) else {
            continue;
        };
        scored.push((method, baseline, brier, curve));
    }
    let best = scored
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| a.2.total_cmp(&b.2))
        .map(|(index, _)| index)
        .ok_or("no candidate could be scored on the backtest")?;
    let served = scored[best].0.clone();
    let runner_up = scored
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != best)
        .min_by(|(_, a), (_, b)| a.2.total_cmp(&b.2))
        .map(|(_, candidate)| candidate);
    let reason = match runner_up {
        Some((method, _, brier, _)) => format!(
            "lowest Brier score on {} held-out buyers: {:.4} against {} {:.4}",
            judge.len(),
            scored[best].2,
            method.name(),
            brier
        ),
        None => "the only candidate scored".to_owned(),
    };
    let check = ChurnCheck {
        horizon_days: horizon,
        holdout_users: judge.len() as u64,
        base_rate: labels.iter().filter(|label| **label).count() as f64 / labels.len() as f64,
        candidates: scored
            .into_iter()
            .map(|(method, baseline, brier, curve)| ChurnCandidate {
                name: method.name().to_owned(),
                baseline,
                brier,
                reliability: curve
                    .into_iter()
                    .map(|bin| ReliabilityBin {
                        users: bin.count as u64,
                        predicted: bin.mean_predicted,
                        observed: bin.observed_rate,
                    })
                    .collect(),
            })
            .collect(),
        served: served.name().to_owned(),
        reason,
    };
    Ok((served, check))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn choose_next_order(
    rows: &[Row<'_>],
    parameters: &BgNbdParameters,
    cutoff: i32,
    horizon: u32,
) -> Result<(NextOrderMethod, NextOrderCheck), String> {
    let mut model_errors = Vec::new();
    let mut baseline_errors = Vec::new();
    for row in rows.iter().filter(|row| !row.churned) {
        let Some(next) = row
            .history
            .purchase_days()
            .iter()
            .find(|total| total.day > cutoff)
        else {
            continue;
        };
        let actual = next.day - cutoff;
        let (Some((model, _)), Some((baseline, _))) = (
            model_wait(parameters, row.history, cutoff, horizon),
            baseline_wait(row.history, cutoff),
        ) else {
            continue;
        };
        model_errors.push(f64::from((model - actual).abs()));
        baseline_errors.push(f64::from((baseline - actual).abs()));
    }
    if model_errors.len() < 30 {
        return Err(format!(
            "{} repeat buyers ordered again in the backtest's {horizon} days, fewer than 30",
            model_errors.len()
        ));
    }
    let model_error = median(&mut model_errors);
    let baseline_error = median(&mut baseline_errors);
    let (method, reason) = if model_error < baseline_error {
        (
            NextOrderMethod::BgNbd,
            format!(
                "strata's median error {model_error:.1} days beats the naive rule's \
                 {baseline_error:.1}"
            ),
        )
    } else {
        (
            NextOrderMethod::LastOrderPlusMedianGap,
            format!(
                "strata's median error {model_error:.1} days does not beat the naive rule's \
                 {baseline_error:.1}: the naive rule is served"
            ),
        )
    };
    Ok((
        method,
        NextOrderCheck {
            holdout_days: horizon,
            holdout_users: model_errors.len() as u64,
            model_error_days: model_error,
            baseline_error_days: baseline_error,
            served: method.name().to_owned(),
            reason,
        },
    ))
}

/// The per-user side: serves the fitted choices from one user's history.
pub(crate) struct PredictionServer<'a> {
    pub models: &'a PredictionModels,
    pub bg_nbd: Option<&'a BgNbdParameters>,
    pub today: i32,
}

const PROBABILITY_DECIMALS: f64 = 10_000.0;

impl PredictionServer<'_> {
    pub(crate) fn churn(&self, history: &UserHistory) -> Option<v1::Churn> {
        let model = self.models.churn.as_ref()?;
        let probability = churn_probability(
            &model.method,
            self.bg_nbd,
            history,
            self.today,
            model.horizon_days,
        )?;
        Some(v1::Churn {
            probability: (probability * PROBABILITY_DECIMALS).round() / PROBABILITY_DECIMALS,
            horizon_days: model.horizon_days,
            method: model.method.name().to_owned(),
        })
    }

    pub(crate) fn next_order(&self, history: &UserHistory) -> Option<v1::NextOrder> {
        let method = self.models.next_order?;
        let (wait, gap) = match method {
            NextOrderMethod::BgNbd => model_wait(
                self.bg_nbd?,
                history,
                self.today,
                self.models.horizon_days()?,
            )?,
            NextOrderMethod::LastOrderPlusMedianGap => baseline_wait(history, self.today)?,
        };
        let day = i64::from(self.today) + i64::from(wait);
        Some(v1::NextOrder {
            expected_at: Some(prost_types::Timestamp {
                seconds: day * MILLIS_PER_DAY / 1000,
                nanos: 0,
            }),
            typical_gap_days: (gap * 10.0).round() / 10.0,
            method: method.name().to_owned(),
        })
    }
}

/// The run summary's lines: each candidate's backtest, what is served and
/// why, and what is switched off.
pub(crate) struct SummaryLines<'a>(pub &'a PredictionsCheck);

impl std::fmt::Display for SummaryLines<'_> {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let check = self.0;
        if let Some(churn) = &check.churn {
            writeln!(
                out,
                "    churn        no purchase in {} days: {} served ({}); {} held-out buyers, \
                 base rate {:.3}",
                churn.horizon_days,
                churn.served,
                churn.reason,
                churn.holdout_users,
                churn.base_rate
            )?;
            for candidate in &churn.candidates {
                let curve: Vec<String> = candidate
                    .reliability
                    .iter()
                    .map(|bin| format!("{:.2}/{:.2}", bin.predicted, bin.observed))
                    .collect();
                writeln!(
                    out,
                    "                 {:<16} Brier {:.4}{}; deciles predicted/observed {}",
                    candidate.name,
                    candidate.brier,
                    if candidate.baseline {
                        " (baseline)"
                    } else {
                        ""
                    },
                    curve.join(" ")
                )?;
            }
        }
        if let Some(order) = &check.next_order {
            writeln!(
                out,
                "    next order   {} served: median error {:.1} days (naive last order + median \
                 gap {:.1}) on {} repeat buyers; {}",
                order.served,
                order.model_error_days,
                order.baseline_error_days,
                order.holdout_users,
                order.reason
            )?;
        }
        for off in &check.switched_off {
            writeln!(
                out,
                "    {:<12} switched off: {}",
                off.prediction, off.reason
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_recency_and_frequency() {
        assert_eq!(bucket(0, 1), 0);
        assert_eq!(bucket(14, 4), 1);
        assert_eq!(bucket(15, 5), FREQUENCY_CLASSES + 2);
        assert_eq!(bucket(10_000, 100), BUCKETS - 1);
    }

    #[test]
    fn a_model_file_with_bad_rates_is_refused() {
        let mut models = PredictionModels {
            churn: Some(ChurnModel {
                horizon_days: 90,
                method: ChurnMethod::RecencyBuckets {
                    rates: vec![0.5; BUCKETS],
                },
            }),
            next_order: Some(NextOrderMethod::BgNbd),
            next_order_horizon_days: Some(90),
        };
        assert_eq!(models.validate(), Ok(()));
        if let Some(ChurnModel {
            method: ChurnMethod::RecencyBuckets { rates },
            ..
        }) = &mut models.churn
        {
            rates[3] = 1.5;
        }
        assert!(models.validate().unwrap_err().contains("rates[3] 1.5"));
        models.churn = Some(ChurnModel {
            horizon_days: 90,
            method: ChurnMethod::RecencyBuckets { rates: vec![0.5] },
        });
        assert!(models.validate().unwrap_err().contains("has 1 rates"));
    }

    #[test]
    fn the_median_gap_is_over_distinct_purchase_days() {
        let model = strata_core::LifecycleModel::preset("retail").unwrap();
        let mut history = UserHistory::new(&model);
        for day in [0_i64, 10, 30, 31] {
            let event = strata_core::Event {
                amount: Some(5.0),
                ..strata_core::Event::new("u", day * MILLIS_PER_DAY + 3_600_000, "purchase")
            };
            history.observe(&model, &event);
        }
        // Gaps 10, 20, 1: median 10; a day before the last leaves 10, 20.
        assert_eq!(median_gap_days(&history, 40), Some(10.0));
        assert_eq!(median_gap_days(&history, 30), Some(15.0));
        assert_eq!(median_gap_days(&history, 5), None);
        // Last order day 31 + 10 = 41: 1 day after day 40.
        assert_eq!(baseline_wait(&history, 40), Some((1, 10.0)));
        // Overdue: served as the day after.
        assert_eq!(baseline_wait(&history, 60), Some((1, 10.0)));
    }
}
