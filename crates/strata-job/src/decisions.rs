//! The decision models of a run: fitted once over the population, then
//! applied per user. Lifetime value (BG/NBD + Gamma-Gamma), propensity to buy
//! (logistic regression on a time split), best channel (Beta-Binomial with a
//! frequency cap), benefit recommendations (uplift by segment) and the
//! fairness rule, plus the checks that say how good each is on this data.
//!
//! A model that cannot be fitted on this data (too few buyers, no offers)
//! leaves its fields unset and says why in the report; it never fakes a value.

use std::collections::HashMap;
use std::hash::Hasher;

use strata_core::history::day_of;
use strata_core::{CHANNELS, QuadrantKind, Tier, UnixMillis, UserHistory};
use strata_models::channel::{ChannelConfig as ChannelModelConfig, ChannelModel, Counts};
use strata_models::evaluation::{qini, roc_auc, uplift_at_top};
use strata_models::fairness::{self, FairnessConfig as FairnessRule, Offer, UserOffers};
use strata_models::propensity::{LogisticConfig, LogisticModel};
use strata_models::uplift::{
    BenefitEconomics, OfferOutcome, TwoModelBaseline, UpliftConfig, UpliftModel, UpliftScorer,
    compare_on_holdout, score_holdout,
};
use strata_models::{
    BgNbdParameters, CustomerSummary, GammaGammaParameters, PurchaseDay, fit_bg_nbd,
    fit_gamma_gamma, summarize_purchases,
};
use twox_hash::XxHash3_64;

use crate::config::ModelsConfig;
use strata_proto::v1;

const DAYS_PER_WEEK: f64 = 7.0;

/// Served model outputs are rounded to what a caller can act on: 4 decimals
/// for probabilities and counts, cents for money. Besides being honest about
/// precision, it keeps a refit that moves numbers in the noise from changing
/// every user's record, and so from pushing everyone again.
const ESTIMATE_DECIMALS: i32 = 4;
const MONEY_DECIMALS: i32 = 2;

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// How the models fared on this run's data.
#[derive(Debug, Clone, Default)]
pub struct ModelReport {
    pub bg_nbd: Option<(BgNbdParameters, f64)>,
    pub gamma_gamma: Option<GammaGammaParameters>,
    /// Holdout AUC of the propensity model and of its two baselines.
    pub propensity_auc: Option<f64>,
    pub recency_auc: Option<f64>,
    pub bg_nbd_auc: Option<f64>,
    pub offer_issues: u64,
    /// Holdout Qini of the pooled uplift model, of the two-model baseline, and
    /// the random rankings' mean and spread.
    pub qini: Option<f64>,
    pub two_model_qini: Option<f64>,
    pub random_qini: Option<(f64, f64)>,
    /// Treated minus control conversion among the top 10% of the holdout, as
    /// ranked by the pooled model and by the two-model baseline; and overall
    /// (what a random 10% would show on average).
    pub uplift_top_decile: Option<(f64, f64, f64)>,
    pub users_with_benefits: u64,
    pub fairness_changes: usize,
    pub capped_users: u64,
    pub notes: Vec<String>,
    /// The BG/NBD fitted at T - window against the purchases of (T - window, T].
    pub bg_nbd_holdout: Option<strata_report::BgNbdHoldout>,
    /// Holdout Qini curves of the pooled model and of the two-model baseline.
    pub qini_curve: Vec<[f64; 2]>,
    pub two_model_qini_curve: Vec<[f64; 2]>,
    pub propensity_window_days: u32,
}

/// Calibration repeat purchases 0 to 6 get a bucket each; 7 and more share one.
const HOLDOUT_BUCKETS: usize = 8;
/// Enough points for a smooth curve on a page, whatever the holdout size.
const QINI_CURVE_POINTS: usize = 200;

/// The per-user inputs the models need besides the history.
pub struct UserSegment {
    pub layer_index: u32,
    pub tier: Option<Tier>,
    pub quadrant: Option<QuadrantKind>,
}

/// Fitted models, ready to decide for any user of the run.
pub struct Decisions<'a> {
    config: &'a ModelsConfig,
    as_of: UnixMillis,
    bg_nbd: Option<BgNbdParameters>,
    gamma_gamma: Option<GammaGammaParameters>,
    propensity: Option<PropensityModel>,
    channel: Option<ChannelModel>,
    uplift: Option<UpliftModel>,
    pub report: ModelReport,
}

struct PropensityModel {
    model: LogisticModel,
}

/// What the models decided for one user (before fairness).
pub struct UserDecision {
    pub lifetime_value: Option<v1::LifetimeValue>,
    pub propensity: Option<f64>,
    pub contact_channel: Option<v1::ContactChannel>,
    /// Benefit catalogue indices with their estimates, best first.
    pub recommendations: Vec<(usize, f64)>,
}

fn purchase_days(history: &UserHistory, through_day: i32) -> Vec<PurchaseDay> {
    history
        .purchase_days()
        .iter()
        .filter(|day| day.day <= through_day)
        .map(|day| PurchaseDay {
            day: day.day,
            amount: day.amount.max(0.0),
        })
        .collect()
}

fn summary_at(history: &UserHistory, through_day: i32) -> Option<CustomerSummary> {
    let days = purchase_days(history, through_day);
    if days.is_empty() {
        return None;
    }
    summarize_purchases(&days, through_day).ok()
}

/// A user's place in the holdout split: stable across runs and machines.
fn in_holdout(user_id: &str, share: f64) -> bool {
    let mut hasher = XxHash3_64::with_seed(0x5EED);
    hasher.write(user_id.as_bytes());
    (hasher.finish() % 10_000) as f64 / 10_000.0 < share
}

/// Propensity features of a user as of `day`: recency, frequency, monetary,
/// tenure, whether they ever bought, and BG/NBD expected purchases over the
/// window (0 without a fit). Only purchase-derived facts, which can be cut at
/// any day, so training rows (at T - window) see no future.
fn propensity_features(
    history: &UserHistory,
    day: i32,
    bg_nbd: Option<&BgNbdParameters>,
    window_weeks: f64,
) -> Option<[f64; 6]> {
    let first_seen = day_of(history.first_seen()?);
    if first_seen > day {
        return None;
    }
    let days = purchase_days(history, day);
    let tenure = f64::from(day - first_seen);
    let (recency, frequency, monetary, bought) = match days.last() {
        Some(last) => (
            f64::from(day - last.day),
            days.len() as f64,
            days.iter()
                .map(|purchase| purchase.amount)
                .sum::<f64>()
                .ln_1p(),
            1.0,
        ),
        // Never bought: as if the last purchase were long before they came.
        None => (tenure + 365.0, 0.0, 0.0, 0.0),
    };
    let expected = match (bg_nbd, days.is_empty()) {
        (Some(parameters), false) => summarize_purchases(&days, day)
            .ok()
            .and_then(|summary| parameters.expected_purchases(window_weeks, &summary).ok())
            .unwrap_or(0.0),
        _ => 0.0,
    };
    Some([recency, frequency, monetary, tenure, bought, expected])
}

pub fn segment_key(segment: &UserSegment) -> u32 {
    let tier = match segment.tier {
        None => 0,
        Some(Tier::High) => 1,
        Some(Tier::Medium) => 2,
        Some(Tier::Low) => 3,
    };
    let quadrant = match segment.quadrant {
        None => 0,
        Some(QuadrantKind::Angel) => 1,
        Some(QuadrantKind::Freeloader) => 2,
        Some(QuadrantKind::Hostage) => 3,
        Some(QuadrantKind::Danger) => 4,
    };
    segment.layer_index * 100 + tier * 10 + quadrant
}

impl<'a> Decisions<'a> {
    /// Fits every model over the run's users, given in user id order: sums
    /// in a fixed order make a rerun on the same input give the same bits.
    /// `segments` gives each user's layer, tier and quadrant (the uplift cells).
    pub fn fit(
        config: &'a ModelsConfig,
        as_of: UnixMillis,
        users: &[(&str, &UserHistory)],
        segments: &HashMap<&str, UserSegment>,
    ) -> Decisions<'a> {
        let mut decisions = Decisions {
            config,
            as_of,
            bg_nbd: None,
            gamma_gamma: None,
            propensity: None,
            channel: None,
            uplift: None,
            report: ModelReport::default(),
        };
        decisions.fit_lifetime(users);
        decisions.fit_propensity(users);
        decisions.fit_channel(users);
        decisions.fit_uplift(users, segments);
        decisions
    }

    fn fit_lifetime(&mut self, users: &[(&str, &UserHistory)]) {
        let today = day_of(self.as_of);
        let summaries: Vec<CustomerSummary> = users
            .iter()
            .filter_map(|(_, history)| summary_at(history, today))
            .collect();
        match fit_bg_nbd(&summaries) {
            Ok(fit) => {
                self.report.bg_nbd = Some((fit.parameters, fit.log_likelihood));
                self.bg_nbd = Some(fit.parameters);
            }
            Err(error) => self
                .report
                .notes
                .push(format!("BG/NBD not fitted: {error}")),
        }
        let repeat: Vec<CustomerSummary> = summaries
            .into_iter()
            .filter(|summary| summary.frequency() > 0)
            .collect();
        match fit_gamma_gamma(&repeat) {
            Ok(fit) => {
                self.report.gamma_gamma = Some(fit.parameters);
                self.gamma_gamma = Some(fit.parameters);
            }
            Err(error) => self
                .report
                .notes
                .push(format!("Gamma-Gamma not fitted: {error}")),
        }
    }

    fn fit_propensity(&mut self, users: &[(&str, &UserHistory)]) {
        let window = self.config.propensity.window_days as i32;
        let window_weeks = f64::from(window) / DAYS_PER_WEEK;
        let today = day_of(self.as_of);
        let cutoff = today - window;
        self.report.propensity_window_days = window as u32;
        // The features at T - window need a BG/NBD fit that saw only that far.
        let cutoff_summaries: Vec<CustomerSummary> = users
            .iter()
            .filter_map(|(_, history)| summary_at(history, cutoff))
            .collect();
        let cutoff_bg_nbd = fit_bg_nbd(&cutoff_summaries).ok().map(|fit| fit.parameters);

        let mut train = (Vec::new(), Vec::new());
        let mut holdout = (Vec::new(), Vec::new());
        // (buyers, predicted, actual) per calibration repeat-purchase bucket.
        let mut fit_check = [(0u64, 0.0f64, 0.0f64); HOLDOUT_BUCKETS];
        for (user_id, history) in users {
            let Some(features) =
                propensity_features(history, cutoff, cutoff_bg_nbd.as_ref(), window_weeks)
            else {
                continue;
            };
            let later = history
                .purchase_days()
                .iter()
                .filter(|day| day.day > cutoff && day.day <= today)
                .count();
            let label = later > 0;
            // features: [1] purchase days by the cutoff, [4] bought, [5] expected.
            if cutoff_bg_nbd.is_some() && features[4] > 0.0 {
                let repeat = (features[1] as usize).saturating_sub(1);
                let bucket = &mut fit_check[repeat.min(HOLDOUT_BUCKETS - 1)];
                bucket.0 += 1;
                bucket.1 += features[5];
                bucket.2 += later as f64;
            }
            let set = if in_holdout(user_id, self.config.propensity.holdout_share) {
                &mut holdout
            } else {
                &mut train
            };
            set.0.push(features);
            set.1.push(label);
        }
        if cutoff_bg_nbd.is_some() {
            self.report.bg_nbd_holdout = Some(holdout_check(&fit_check, window as u32));
        }
        let model = match LogisticModel::fit(&train.0, &train.1, &LogisticConfig::default()) {
            Ok(model) => model,
            Err(error) => {
                self.report
                    .notes
                    .push(format!("propensity not fitted: {error}"));
                return;
            }
        };
        let scores: Vec<f64> = holdout.0.iter().map(|row| model.predict(row)).collect();
        let recency: Vec<f64> = holdout.0.iter().map(|row| -row[0]).collect();
        let expected: Vec<f64> = holdout.0.iter().map(|row| row[5]).collect();
        self.report.propensity_auc = roc_auc(&scores, &holdout.1).ok();
        self.report.recency_auc = roc_auc(&recency, &holdout.1).ok();
        self.report.bg_nbd_auc = roc_auc(&expected, &holdout.1).ok();
        self.propensity = Some(PropensityModel { model });
    }

    fn fit_channel(&mut self, users: &[(&str, &UserHistory)]) {
        let rows: Vec<[Counts; 4]> = users
            .iter()
            .map(|(_, history)| channel_counts(history))
            .collect();
        let config = ChannelModelConfig {
            max_contacts: self.config.channel.max_contacts,
            window_days: self.config.channel.window_days,
            zero_sends_eligible: true,
        };
        match ChannelModel::fit(&rows, config) {
            Ok(model) => self.channel = Some(model),
            Err(error) => self
                .report
                .notes
                .push(format!("channel model not fitted: {error}")),
        }
    }

    fn fit_uplift(
        &mut self,
        users: &[(&str, &UserHistory)],
        segments: &HashMap<&str, UserSegment>,
    ) {
        let catalogue: HashMap<&str, usize> = self
            .config
            .benefits
            .iter()
            .enumerate()
            .map(|(index, benefit)| (benefit.benefit_id.as_str(), index))
            .collect();
        let outcome_millis = i64::from(self.config.economics.outcome_days) * 86_400_000;
        let margin_rate = self.config.economics.margin_rate;
        let mut train = Vec::new();
        let mut holdout = Vec::new();
        let mut order_total = 0.0;
        let mut orders = 0u64;
        for (user_id, history) in users {
            let Some(segment) = segments.get(user_id) else {
                continue;
            };
            for day in history.purchase_days() {
                order_total += day.amount;
                orders += 1;
            }
            let holdout_user = in_holdout(user_id, 0.3);
            for issue in history.engagement().offers() {
                let Some(&benefit) = catalogue.get(issue.benefit_id.as_str()) else {
                    continue;
                };
                let until = issue.at + outcome_millis;
                if until > self.as_of {
                    // The outcome window is not over yet: not an outcome.
                    continue;
                }
                let (first_day, last_day) = (day_of(issue.at), day_of(until));
                let revenue: f64 = history
                    .purchase_days()
                    .iter()
                    .filter(|day| day.day >= first_day && day.day <= last_day)
                    .map(|day| day.amount)
                    .sum();
                let converted = history
                    .purchase_days()
                    .iter()
                    .any(|day| day.day >= first_day && day.day <= last_day);
                let outcome = OfferOutcome {
                    segment: segment_key(segment),
                    benefit,
                    treated: issue.treated,
                    converted,
                    margin: revenue * margin_rate,
                    redeemed: issue.treated
                        && history.engagement().redeemed_between(
                            &issue.benefit_id,
                            issue.at,
                            until,
                        ),
                };
                if holdout_user {
                    holdout.push(outcome);
                } else {
                    train.push(outcome);
                }
            }
        }
        self.report.offer_issues = (train.len() + holdout.len()) as u64;
        if train.is_empty() {
            self.report.notes.push(
                "no offer issues with a finished outcome window: no benefits recommended".into(),
            );
            return;
        }
        let mean_order = if orders == 0 {
            0.0
        } else {
            order_total / orders as f64
        };
        let economics: Vec<BenefitEconomics> = self
            .config
            .benefits
            .iter()
            .map(|benefit| BenefitEconomics {
                cost_if_redeemed: benefit.cost_fixed + benefit.cost_percent / 100.0 * mean_order,
                redemption_rate: None,
            })
            .collect();
        let uplift_config = UpliftConfig::default();
        if !holdout.is_empty()
            && let Ok(model) = UpliftModel::fit(&train, &economics, uplift_config.clone())
            && let Ok(baseline) = TwoModelBaseline::fit(&train)
        {
            if let Ok(comparison) = compare_on_holdout(&model, &holdout, 20, 1) {
                self.report.qini = Some(comparison.qini);
                self.report.random_qini = Some((
                    comparison.random_qini_mean,
                    comparison.random_qini_deviation,
                ));
            }
            if let Ok(comparison) = compare_on_holdout(&baseline, &holdout, 1, 1) {
                self.report.two_model_qini = Some(comparison.qini);
            }
            self.report.uplift_top_decile = top_decile(&model, &baseline, &holdout);
            self.report.qini_curve = qini_curve(&model, &holdout);
            self.report.two_model_qini_curve = qini_curve(&baseline, &holdout);
        }
        // Recommendations learn from every finished issue.
        train.extend(holdout);
        match UpliftModel::fit(&train, &economics, uplift_config) {
            Ok(model) => self.uplift = Some(model),
            Err(error) => self
                .report
                .notes
                .push(format!("uplift model not fitted: {error}")),
        }
    }

    /// Applies the fitted models to one user.
    pub fn decide(&mut self, history: &UserHistory, segment: &UserSegment) -> UserDecision {
        let today = day_of(self.as_of);
        let horizon_days = self.config.lifetime.horizon_days;
        let horizon_weeks = f64::from(horizon_days) / DAYS_PER_WEEK;
        let summary = summary_at(history, today);
        let lifetime_value = match (&self.bg_nbd, &self.gamma_gamma, &summary) {
            (Some(bg_nbd), Some(gamma_gamma), Some(summary)) => {
                let expected = bg_nbd.expected_purchases(horizon_weeks, summary).ok();
                let spend = gamma_gamma.expected_average_spend(summary).ok();
                match (expected, spend) {
                    (Some(expected_purchases), Some(spend)) => Some(v1::LifetimeValue {
                        predicted_value: round_to(expected_purchases * spend, MONEY_DECIMALS),
                        probability_alive: round_to(
                            bg_nbd.probability_alive(summary),
                            ESTIMATE_DECIMALS,
                        ),
                        expected_purchases: round_to(expected_purchases, ESTIMATE_DECIMALS),
                        horizon_days,
                        currency: self.config.lifetime.currency.to_owned(),
                    }),
                    _ => None,
                }
            }
            _ => None,
        };

        let window_weeks = f64::from(self.config.propensity.window_days) / DAYS_PER_WEEK;
        let propensity = self.propensity.as_ref().and_then(|propensity| {
            propensity_features(history, today, self.bg_nbd.as_ref(), window_weeks)
                .map(|features| round_to(propensity.model.predict(&features), ESTIMATE_DECIMALS))
        });

        let contact_channel = self.channel.as_ref().and_then(|model| {
            let recent = history
                .engagement()
                .contacts_within(self.as_of, self.config.channel.window_days);
            let choice = model.choose(&channel_counts(history), recent as u32).ok()?;
            if choice.capped {
                self.report.capped_users += 1;
            }
            Some(v1::ContactChannel {
                best: choice
                    .best
                    .map_or(v1::Channel::Unspecified, channel_from_index)
                    .into(),
                scores: choice
                    .scores
                    .iter()
                    .enumerate()
                    .map(|(index, score)| v1::ChannelScore {
                        channel: channel_from_index(index).into(),
                        score: round_to(*score, ESTIMATE_DECIMALS),
                    })
                    .collect(),
                frequency_capped: choice.capped,
            })
        });

        let recommendations = self.uplift.as_ref().map_or_else(Vec::new, |model| {
            model
                .recommend(segment_key(segment))
                .into_iter()
                .map(|recommendation| {
                    (
                        recommendation.benefit,
                        recommendation.expected_incremental_profit,
                    )
                })
                .collect()
        });
        UserDecision {
            lifetime_value,
            propensity,
            contact_channel,
            recommendations,
        }
    }

    /// Applies the fairness rule across users (in place) and records how
    /// many recommendations it changed. `new_layer` is the index of the
    /// model's `new` layer.
    pub fn enforce_fairness(
        &mut self,
        users: &mut [(UserSegment, Vec<(usize, f64)>)],
        new_layer: usize,
    ) {
        let rule = FairnessRule {
            enabled: self.config.fairness.enabled,
            new_layer,
        };
        let kind_of = |benefit: usize| self.config.benefits[benefit].kind as u32;
        let mut offers: Vec<UserOffers> = users
            .iter()
            .map(|(segment, recommendations)| UserOffers {
                layer: segment.layer_index as usize,
                tier: segment_key(segment) % 100 / 10,
                quadrant: segment_key(segment) % 10,
                offers: recommendations
                    .iter()
                    .map(|(benefit, _)| Offer {
                        benefit: *benefit,
                        kind: kind_of(*benefit),
                        face_value: self.config.benefits[*benefit].face_value as f64,
                    })
                    .collect(),
            })
            .collect();
        let report = fairness::enforce(&mut offers, &rule);
        self.report.fairness_changes = report.offers_changed;
        for ((segment, recommendations), repaired) in users.iter_mut().zip(offers) {
            let before: Vec<usize> = recommendations
                .iter()
                .map(|(benefit, _)| *benefit)
                .collect();
            let after: Vec<usize> = repaired.offers.iter().map(|offer| offer.benefit).collect();
            if before == after {
                continue;
            }
            // A replaced benefit carries the model's estimate for this user's segment.
            *recommendations = after
                .into_iter()
                .map(|benefit| {
                    let estimate = self.uplift.as_ref().map_or(0.0, |model| {
                        model
                            .estimate(segment_key(segment), benefit)
                            .expected_incremental_profit
                    });
                    (benefit, estimate)
                })
                .collect();
        }
        self.report.users_with_benefits = users
            .iter()
            .filter(|(_, recommendations)| !recommendations.is_empty())
            .count() as u64;
    }

    /// The served benefits for a user's recommendations, valid from as-of.
    pub fn benefits(&self, recommendations: &[(usize, f64)]) -> Vec<v1::Benefit> {
        let valid_until = self.as_of + i64::from(self.config.economics.valid_days) * 86_400_000;
        recommendations
            .iter()
            .map(|(index, profit)| {
                let spec = &self.config.benefits[*index];
                v1::Benefit {
                    benefit_id: spec.benefit_id.clone(),
                    kind: v1::BenefitKind::from(spec.kind).into(),
                    face_value: spec.face_value,
                    currency: spec.currency.clone(),
                    minimum_spend: spec.minimum_spend,
                    expected_incremental_profit: round_to(*profit, MONEY_DECIMALS),
                    valid_from: Some(crate::wire::millis_to_timestamp(self.as_of)),
                    valid_until: Some(crate::wire::millis_to_timestamp(valid_until)),
                }
            })
            .collect()
    }
}

/// Mean predicted and actual holdout purchases per calibration bucket.
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

/// A scorer's Qini curve on `holdout`, thinned to at most
/// [`QINI_CURVE_POINTS`] points (the last one always kept).
fn qini_curve(scorer: &impl UpliftScorer, holdout: &[OfferOutcome]) -> Vec<[f64; 2]> {
    let treated: Vec<bool> = holdout.iter().map(|outcome| outcome.treated).collect();
    let converted: Vec<bool> = holdout.iter().map(|outcome| outcome.converted).collect();
    let Ok(result) = qini(&score_holdout(scorer, holdout), &treated, &converted) else {
        return Vec::new();
    };
    let step = result.curve.len().div_ceil(QINI_CURVE_POINTS).max(1);
    let last = result.curve.len() - 1;
    result
        .curve
        .iter()
        .enumerate()
        .filter(|(index, _)| index % step == 0 || *index == last)
        .map(|(_, point)| [point.population_fraction, point.incremental_responses])
        .collect()
}

/// Uplift among the top 10% of `holdout` by each scorer, and over all of it.
fn top_decile(
    model: &impl UpliftScorer,
    baseline: &impl UpliftScorer,
    holdout: &[OfferOutcome],
) -> Option<(f64, f64, f64)> {
    let treated: Vec<bool> = holdout.iter().map(|outcome| outcome.treated).collect();
    let converted: Vec<bool> = holdout.iter().map(|outcome| outcome.converted).collect();
    let top = |scores: Vec<f64>| uplift_at_top(&scores, &treated, &converted, 0.1).ok();
    Some((
        top(score_holdout(model, holdout))?,
        top(score_holdout(baseline, holdout))?,
        uplift_at_top(&vec![0.0; holdout.len()], &treated, &converted, 1.0).ok()?,
    ))
}

fn channel_counts(history: &UserHistory) -> [Counts; 4] {
    history
        .engagement()
        .channels()
        .map(|counts| (counts.sends, counts.responses))
}

fn channel_from_index(index: usize) -> v1::Channel {
    match CHANNELS.get(index).copied() {
        Some("sms") => v1::Channel::Sms,
        Some("app_push") => v1::Channel::AppPush,
        Some("wechat") => v1::Channel::Wechat,
        Some("email") => v1::Channel::Email,
        _ => v1::Channel::Unspecified,
    }
}
