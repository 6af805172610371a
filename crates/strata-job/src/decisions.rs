//! The decision models of a run: fitted once over the population (the
//! model file's `decisions` section, [`DecisionModels`]), then applied per
//! user. Lifetime value (BG/NBD + Gamma-Gamma), propensity to buy
//! (chosen on a time-split holdout among models and baselines, in
//! `propensity.rs`), channels ranked (Beta-Binomial with a frequency cap),
//! the best send time (`strata_models::send_time`, backtested here on
//! alternate weeks), plus the checks that say how good each is on this data. The benefits
//! and the fairness rule are `offers.rs`: they learn from issue-time
//! features, not from these per-user outputs.
//!
//! A model that cannot be fitted on this data (too few buyers, no offers)
//! leaves its fields unset and says why in the report; it never fakes a value.

use strata_core::history::day_of;
use strata_core::{CHANNELS, HOURS_PER_WEEK, QuadrantKind, Tier, UnixMillis, UserHistory};
use strata_models::channel::{ChannelConfig as ChannelModelConfig, ChannelModel, Counts};
use strata_models::send_time::{FoldedCounts, SendTimeBacktest, SendTimeModel, WeekCounts};
use strata_models::{
    BgNbdParameters, CustomerSummary, ExpectedPurchases, GammaGammaParameters, PurchaseDay,
    fit_bg_nbd, fit_gamma_gamma, summarize_purchases,
};

use serde::{Deserialize, Serialize};

use crate::churn::{PredictionModels, PredictionServer};
use crate::config::ModelsConfig;
use crate::propensity::{self, Propensity};
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

/// How the models fared on this run's data: the quality figures of the
/// model file (`report`), so a run that applies a model file reports the
/// fit's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelReport {
    pub bg_nbd: Option<(BgNbdParameters, f64)>,
    pub gamma_gamma: Option<GammaGammaParameters>,
    /// Holdout AUC of the served propensity (a model, or a baseline when no
    /// model beat it) and of the two baselines.
    pub propensity_auc: Option<f64>,
    pub recency_auc: Option<f64>,
    pub bg_nbd_auc: Option<f64>,
    /// The propensity choice in full: every candidate's holdout AUC, what is
    /// served and why, calibration (Brier, reliability curve).
    pub propensity_choice: Option<strata_models::propensity_choice::PropensityReport>,
    /// Finished offer issues of catalogue benefits in the logs.
    pub offer_issues: u64,
    /// The offer policy: candidates' off-policy values, the one served and
    /// why, what fairness cost (`offers.rs`).
    pub offer_policy: Option<strata_report::OfferPolicyCheck>,
    pub users_with_benefits: u64,
    /// Users whose served list the fairness rule changed.
    pub fairness_changes: usize,
    pub capped_users: u64,
    /// Outliers winsorised for the fits (`strata_models::robust`): repeat
    /// buyers' mean spends for Gamma-Gamma, offer issues' outcomes for the
    /// offer policy.
    pub spend_outliers: usize,
    pub outcome_outliers: usize,
    pub notes: Vec<String>,
    /// The BG/NBD fitted at T - window against the purchases of (T - window, T].
    pub bg_nbd_holdout: Option<strata_report::BgNbdHoldout>,
    pub propensity_window_days: u32,
    /// The currency values and estimates are in (the run's).
    pub currency: String,
    /// Churn and next order: backtests, what is served, what is switched off.
    #[serde(default)]
    pub predictions: Option<strata_report::PredictionsCheck>,
    /// Personal send hours against the population's best hour on held-out
    /// sends (fitted on even weeks, scored on odd ones).
    #[serde(default)]
    pub send_time: Option<SendTimeBacktest>,
    /// Users served the population's hour, and users served their own.
    #[serde(default)]
    pub send_time_fallbacks: u64,
    #[serde(default)]
    pub send_time_personal: u64,
    /// Users whose channels are in the population's order (too few sends).
    #[serde(default)]
    pub channel_not_enough_data: u64,
}

impl ModelReport {
    /// Takes what the offer learner (`offers::fit`, given a report of its
    /// own) set, its notes after ours.
    pub(crate) fn absorb_offers(&mut self, offers: ModelReport) {
        self.offer_issues = offers.offer_issues;
        self.outcome_outliers = offers.outcome_outliers;
        self.fairness_changes = offers.fairness_changes;
        self.users_with_benefits = offers.users_with_benefits;
        self.offer_policy = offers.offer_policy;
        self.notes.extend(offers.notes);
    }
}

/// The per-user inputs the models need besides the history.
pub struct UserSegment {
    pub layer_index: u32,
    pub tier: Option<Tier>,
    pub quadrant: Option<QuadrantKind>,
}

/// The fitted decision models: population-wide parameters only, no user.
/// A model that could not be fitted is `None` (the report's notes say why).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionModels {
    pub bg_nbd: Option<BgNbdParameters>,
    pub gamma_gamma: Option<GammaGammaParameters>,
    pub propensity: Option<Propensity>,
    /// Beta-Binomial priors per channel and the frequency cap's settings.
    pub channel: Option<ChannelModel>,
    /// Churn and next order: the methods served (`churn.rs`); absent in
    /// model files from before them (then neither is served).
    #[serde(default)]
    pub predictions: PredictionModels,
    /// The population's send-time profile and whether personal hours are
    /// served.
    #[serde(default)]
    pub send_time: Option<SendTimeModel>,
}

/// Fitted models, ready to decide for any user of the run.
pub struct Decisions<'a> {
    config: &'a ModelsConfig,
    as_of: UnixMillis,
    pub models: DecisionModels,
    pub report: ModelReport,
    /// The BG/NBD's expected purchases over the lifetime horizon and over
    /// the propensity window, kept across the users this instance decides
    /// (each is evaluated once per distinct x and T).
    lifetime_expectations: Option<ExpectedPurchases>,
    propensity_expectations: Option<ExpectedPurchases>,
}

/// What the models decided for one user.
pub struct UserDecision {
    pub lifetime_value: Option<v1::LifetimeValue>,
    pub propensity: Option<f64>,
    pub contact_channel: Option<v1::ContactChannel>,
    pub churn: Option<v1::Churn>,
    pub next_order: Option<v1::NextOrder>,
    pub send_time: Option<v1::SendTime>,
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
    pub fn fit(
        config: &'a ModelsConfig,
        as_of: UnixMillis,
        users: &[(&str, &UserHistory)],
    ) -> Decisions<'a> {
        Decisions::fit_with(config, as_of, users, |_| ()).0
    }

    /// [`Decisions::fit`] on three threads, with `after_lifetime` run on
    /// the first once the lifetime models are fitted (it gets their report:
    /// the offer learner reads the BG/NBD fit). One thread fits lifetime
    /// value, then runs `after_lifetime`; the second, started then, fits
    /// churn and next order (they read the BG/NBD fit too); the third fits
    /// propensity, channels and send time from the start. No fit reads another's
    /// result except through the lifetime report, so the models are the
    /// same bits as one after the other, and the report's notes keep that
    /// order (lifetime, propensity, channel, send time).
    pub fn fit_with<T: Send>(
        config: &'a ModelsConfig,
        as_of: UnixMillis,
        users: &[(&str, &UserHistory)],
        after_lifetime: impl FnOnce(&ModelReport) -> T + Send,
    ) -> (Decisions<'a>, T) {
        let (mut decisions, reach, after) = std::thread::scope(|scope| {
            let reach = scope.spawn(|| {
                let mut reach = Decisions::from_models(config, as_of, DecisionModels::default());
                timed("propensity", || reach.fit_propensity(users));
                timed("channel", || reach.fit_channel(users));
                timed("send time", || reach.fit_send_time(users));
                reach
            });
            let mut decisions = Decisions::from_models(config, as_of, DecisionModels::default());
            decisions.report.currency = config.currency_code().to_owned();
            if let Some(currency) = &config.settled_currency {
                decisions.report.notes.push(currency.to_string());
            }
            timed("lifetime", || decisions.fit_lifetime(users));
            let bg_nbd = decisions.models.bg_nbd;
            let churn = scope.spawn(move || {
                timed("churn", || {
                    crate::churn::fit(&config.predictions, as_of, users, bg_nbd.as_ref())
                })
            });
            let after = after_lifetime(&decisions.report);
            let (predictions, check) = churn
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            decisions.models.predictions = predictions;
            decisions.report.predictions = Some(check);
            let reach = reach
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (decisions, reach, after)
        });
        decisions.absorb_reach(reach);
        (decisions, after)
    }

    /// Takes what the propensity, channel and send-time fits of `reach`
    /// set (its models and report fields), its notes after ours.
    fn absorb_reach(&mut self, reach: Decisions<'_>) {
        let DecisionModels {
            propensity,
            channel,
            send_time,
            bg_nbd: _,
            gamma_gamma: _,
            predictions: _,
        } = reach.models;
        self.models.propensity = propensity;
        self.models.channel = channel;
        self.models.send_time = send_time;
        // Every field named, so a field added to the report is placed here.
        let ModelReport {
            propensity_auc,
            recency_auc,
            bg_nbd_auc,
            propensity_choice,
            notes,
            bg_nbd_holdout,
            propensity_window_days,
            send_time,
            bg_nbd: _,
            gamma_gamma: _,
            offer_issues: _,
            offer_policy: _,
            users_with_benefits: _,
            fairness_changes: _,
            capped_users: _,
            spend_outliers: _,
            outcome_outliers: _,
            currency: _,
            predictions: _,
            send_time_fallbacks: _,
            send_time_personal: _,
            channel_not_enough_data: _,
        } = reach.report;
        let report = &mut self.report;
        report.propensity_auc = propensity_auc;
        report.recency_auc = recency_auc;
        report.bg_nbd_auc = bg_nbd_auc;
        report.propensity_choice = propensity_choice;
        report.notes.extend(notes);
        report.bg_nbd_holdout = bg_nbd_holdout;
        report.propensity_window_days = propensity_window_days;
        report.send_time = send_time;
    }

    /// Models fitted before (a model file's), ready to decide; `report`
    /// starts empty of per-run tallies.
    pub fn from_models(
        config: &'a ModelsConfig,
        as_of: UnixMillis,
        models: DecisionModels,
    ) -> Decisions<'a> {
        Decisions {
            config,
            as_of,
            models,
            report: ModelReport::default(),
            lifetime_expectations: None,
            propensity_expectations: None,
        }
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
                self.models.bg_nbd = Some(fit.parameters);
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
                self.report.spend_outliers = fit.capped;
                self.models.gamma_gamma = Some(fit.parameters);
            }
            Err(error) => self
                .report
                .notes
                .push(format!("Gamma-Gamma not fitted: {error}")),
        }
    }

    fn fit_propensity(&mut self, users: &[(&str, &UserHistory)]) {
        let settings = &self.config.propensity;
        let fitted = propensity::fit(
            users,
            self.as_of,
            settings.window_days,
            settings.holdout_share,
            settings.max_train_users,
            self.config.economics.outcome_days,
        );
        self.report.propensity_window_days = settings.window_days;
        self.report.propensity_auc = fitted.report.as_ref().map(|report| report.chosen_auc);
        self.report.recency_auc = fitted.auc(propensity::BASELINES[0]);
        self.report.bg_nbd_auc = fitted.auc(propensity::BASELINES[1]);
        self.report.bg_nbd_holdout = fitted.bg_nbd_holdout;
        self.report.notes.extend(fitted.notes);
        self.report.propensity_choice = fitted.report;
        self.models.propensity = fitted.propensity;
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
            min_sends: self.config.channel.min_sends,
            min_channels: self.config.channel.min_channels,
        };
        match ChannelModel::fit(&rows, config) {
            Ok(model) => self.models.channel = Some(model),
            Err(error) => self
                .report
                .notes
                .push(format!("channel model not fitted: {error}")),
        }
    }

    /// The population's send-time profile, fitted twice: on the even weeks
    /// to score personal hours against the population's hour on the odd
    /// weeks' sends, then on every week to serve. Personal hours are served
    /// only when they won that backtest.
    fn fit_send_time(&mut self, users: &[(&str, &UserHistory)]) {
        let config = self.config.send_time.clone();
        let mut everyone = WeekCounts::default();
        let mut even_weeks = WeekCounts::default();
        // Only the slots a user has: the counts are whole numbers, so the
        // sums are exact in any order (and the same as over every hour).
        for (_, history) in users {
            for counts in history.engagement().hours() {
                let slot = usize::from(counts.slot);
                let hour = slot % HOURS_PER_WEEK;
                if slot < HOURS_PER_WEEK {
                    even_weeks.add(hour, counts.sends, counts.responses);
                }
                everyone.add(hour, counts.sends, counts.responses);
            }
        }
        let mut model = match SendTimeModel::fit(&everyone, config.clone()) {
            Ok(model) => model,
            Err(error) => {
                self.report
                    .notes
                    .push(format!("send time not fitted: {error}"));
                return;
            }
        };
        match SendTimeModel::fit(&even_weeks, config) {
            Ok(training) => {
                let mut backtest = SendTimeBacktest::default();
                for (_, history) in users {
                    let (train, test) = week_counts(history);
                    backtest.add_folded(&training, &train, &test);
                }
                model.personal = backtest.personal_wins();
                self.report.send_time = Some(backtest);
            }
            Err(error) => {
                model.personal = false;
                self.report.notes.push(format!(
                    "send time: no backtest ({error} in the even weeks): the population's hour is served"
                ));
            }
        }
        self.models.send_time = Some(model);
    }

    /// Applies the fitted models to one user.
    pub fn decide(&mut self, history: &UserHistory) -> UserDecision {
        let today = day_of(self.as_of);
        let horizon_days = self.config.lifetime.horizon_days;
        let horizon_weeks = f64::from(horizon_days) / DAYS_PER_WEEK;
        let summary = summary_at(history, today);
        let lifetime_value = match (&self.models.bg_nbd, &self.models.gamma_gamma, &summary) {
            (Some(bg_nbd), Some(gamma_gamma), Some(summary)) => {
                let expected = ExpectedPurchases::kept_in(
                    &mut self.lifetime_expectations,
                    bg_nbd,
                    horizon_weeks,
                )
                .of(summary)
                .ok();
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
                        currency: self.config.currency_code().to_owned(),
                    }),
                    _ => None,
                }
            }
            _ => None,
        };

        let propensity = self.models.propensity.as_ref().and_then(|propensity| {
            let expectations = self.models.bg_nbd.as_ref().map(|bg_nbd| {
                ExpectedPurchases::kept_in(
                    &mut self.propensity_expectations,
                    bg_nbd,
                    propensity.window_weeks(),
                )
            });
            propensity
                .predict(history, today, expectations)
                .map(|probability| round_to(probability, ESTIMATE_DECIMALS))
        });

        let contact_channel = self.models.channel.as_ref().and_then(|model| {
            let recent = history
                .engagement()
                .contacts_within(self.as_of, self.config.channel.window_days);
            let counts = channel_counts(history);
            let choice = model.choose(&counts, recent as u32).ok()?;
            if choice.capped {
                self.report.capped_users += 1;
            }
            if !choice.enough_data {
                self.report.channel_not_enough_data += 1;
            }
            Some(v1::ContactChannel {
                best: choice
                    .best
                    .map_or(v1::Channel::Unspecified, channel_from_index)
                    .into(),
                scores: choice
                    .order
                    .iter()
                    .map(|index| v1::ChannelScore {
                        channel: channel_from_index(*index).into(),
                        score: round_to(choice.scores[*index], ESTIMATE_DECIMALS),
                        sends: counts[*index].0,
                        responses: counts[*index].1,
                    })
                    .collect(),
                frequency_capped: choice.capped,
                not_enough_data: !choice.enough_data,
            })
        });

        let predictions = PredictionServer {
            models: &self.models.predictions,
            bg_nbd: self.models.bg_nbd.as_ref(),
            today,
        };
        let send_time = self.models.send_time.as_ref().map(|model| {
            // Both weeks' counts in one (whole numbers: the same sums as
            // adding the two weeks hour by hour).
            let mut counts = FoldedCounts::default();
            for hour in history.engagement().hours() {
                counts.add(usize::from(hour.slot), hour.sends, hour.responses);
            }
            let choice = model.choose_folded(&counts);
            if choice.fallback {
                self.report.send_time_fallbacks += 1;
            } else {
                self.report.send_time_personal += 1;
            }
            v1::SendTime {
                hour_of_week: choice.hour_of_week as u32,
                fallback: choice.fallback,
                sends: counts.total_sends() as u32,
                responses: counts.total_responses() as u32,
                rate: round_to(choice.rate, ESTIMATE_DECIMALS),
            }
        });

        UserDecision {
            lifetime_value,
            propensity,
            contact_channel,
            churn: predictions.churn(history),
            next_order: predictions.next_order(history),
            send_time,
        }
    }
}

/// A user's sends and responses by hour of the week: (even weeks, odd weeks).
fn week_counts(history: &UserHistory) -> (FoldedCounts, FoldedCounts) {
    let mut even = FoldedCounts::default();
    let mut odd = FoldedCounts::default();
    for counts in history.engagement().hours() {
        let slot = usize::from(counts.slot);
        let weeks = if slot < HOURS_PER_WEEK {
            &mut even
        } else {
            &mut odd
        };
        weeks.add(slot % HOURS_PER_WEEK, counts.sends, counts.responses);
    }
    (even, odd)
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

/// Runs one fit and logs its wall time (the fits share the cores, so a
/// fit's time includes waiting for them).
fn timed<T>(fit: &'static str, work: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let _span = tracing::info_span!("fit", model = fit).entered();
    let out = work();
    tracing::info!(
        model = fit,
        seconds = started.elapsed().as_secs_f64(),
        "model fitted"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{Event, LifecycleModel};

    const HOUR: i64 = 3_600_000;
    /// 2024-01-01, a Monday.
    const MONDAY: i64 = 1_704_067_200_000;

    /// Sends every day at 08h and 20h of `weeks`, answered at `answer_even`
    /// o'clock in even weeks and `answer_odd` in odd ones.
    fn history(weeks: i64, answer_even: i64, answer_odd: i64) -> UserHistory {
        let model = LifecycleModel::preset("retail").unwrap();
        let mut history = UserHistory::new(&model);
        for week in 0..weeks {
            let answer = if strata_core::engagement::week_parity(MONDAY + week * 168 * HOUR) == 0 {
                answer_even
            } else {
                answer_odd
            };
            for day in 0..7 {
                let midnight = MONDAY + (week * 7 + day) * 24 * HOUR;
                for hour in [8, 20] {
                    let at = midnight + hour * HOUR;
                    let send = Event {
                        channel: Some("sms".into()),
                        ..Event::new("u", at, "send")
                    };
                    history.observe(&model, &send);
                    if hour == answer {
                        let response = Event {
                            channel: Some("sms".into()),
                            ..Event::new("u", at + 60_000, "response")
                        };
                        history.observe(&model, &response);
                    }
                }
            }
        }
        history
    }

    fn fit(histories: &[UserHistory]) -> DecisionModels {
        let config = ModelsConfig::default();
        let users: Vec<(&str, &UserHistory)> =
            histories.iter().map(|history| ("u", history)).collect();
        let as_of = MONDAY + 8 * 168 * HOUR;
        Decisions::fit(&config, as_of, &users).models
    }

    #[test]
    fn personal_hours_are_served_when_they_win_on_held_out_weeks() {
        // Most answer at 20h; a few at 08h, in every week.
        let mut histories: Vec<UserHistory> = (0..6).map(|_| history(8, 20, 20)).collect();
        histories.extend((0..3).map(|_| history(8, 8, 8)));
        let model = fit(&histories).send_time.expect("fitted");
        assert!(model.personal);
        // Sends only at 08h and 20h: the smoothed 19h to 21h tie, the earliest wins.
        let near = |hour: usize, target: usize| {
            strata_models::send_time::hours_apart(hour % 24, target) <= 1
        };
        assert!(near(model.population_best, 20), "{}", model.population_best);
        let config = ModelsConfig::default();
        let mut decisions = Decisions::from_models(&config, MONDAY, fit(&histories));
        let morning = decisions.decide(&histories[7]).send_time.expect("served");
        assert!(!morning.fallback);
        assert!(near(morning.hour_of_week as usize, 8), "{morning:?}");
        assert_eq!(morning.sends, 8 * 14);
        assert_eq!(morning.responses, 8 * 7);
    }

    #[test]
    fn the_population_hour_is_served_when_personal_hours_lose() {
        // The 08h answerers of the even weeks answer at 20h in the odd ones:
        // their personal hour (08h) does worse on the held-out weeks.
        let mut histories: Vec<UserHistory> = (0..6).map(|_| history(8, 20, 20)).collect();
        histories.extend((0..3).map(|_| history(8, 8, 20)));
        let models = fit(&histories);
        let model = models.send_time.clone().expect("fitted");
        assert!(!model.personal, "personal hours lost the backtest");
        let config = ModelsConfig::default();
        let mut decisions = Decisions::from_models(&config, MONDAY, models);
        let served = decisions.decide(&histories[7]).send_time.expect("served");
        assert!(served.fallback);
        assert_eq!(served.hour_of_week as usize, model.population_best);
    }
}
