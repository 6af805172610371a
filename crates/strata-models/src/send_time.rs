//! Best send time per user: the hour of the week at which a user's response
//! rate is highest, shrunk towards the population's profile, with the
//! population's best hour served when the user has too little data or when
//! personal hours do not beat it on held-out sends.
//!
//! A user has a few dozen sends and a handful of responses a year, far too
//! few for 168 separate rates. The rate is modelled as a product of an
//! hour-of-day factor and a day-of-week factor (a rank-one table, as
//! send-time tools describe their "time of day" and "day of week"), each a
//! ratio of counts shrunk towards the population's rate for that hour or day
//! by `prior_sends` pseudo-sends per hour of day:
//!
//! ```text
//! rate_u(hour) = (R_u(hour) + k p(hour)) / (S_u(hour) + k)            24 hours
//! rate_u(day)  = (R_u(day) + k' p(day)) / (S_u(day) + k'), k' = 24k/7   7 days
//! score_u(h)   = rate_u(hour of h) rate_u(day of h) / rate_u(all)
//! ```
//!
//! Hour-of-day counts are smoothed over the neighbouring hours
//! (1/4, 1/2, 1/4, circular) before the ratio: a response counts in the hour
//! it came, usually minutes after its send, and a preference for 20:00 is
//! evidence for 19:00 and 21:00 too. The population profile is the same
//! formula over everyone's counts with no prior. Counts are plain numbers in
//! UTC hours of the week (hour 0 = Monday 00:00); the caller picks the clock.

use serde::{Deserialize, Serialize};

use crate::Error;

pub const HOURS_PER_WEEK: usize = 168;
const HOURS_PER_DAY: usize = 24;
const DAYS_PER_WEEK: usize = 7;

/// The hour of day an hour of the week falls in, 0..24.
pub fn hour_of_day(hour_of_week: usize) -> usize {
    hour_of_week % HOURS_PER_DAY
}

/// Distance between two hours of the day on the 24-hour circle.
pub fn hours_apart(a: usize, b: usize) -> usize {
    let distance = a.abs_diff(b) % HOURS_PER_DAY;
    distance.min(HOURS_PER_DAY - distance)
}

/// One user's (or the population's) sends and responses by hour of the week.
#[derive(Debug, Clone, PartialEq)]
pub struct WeekCounts {
    pub sends: [f64; HOURS_PER_WEEK],
    pub responses: [f64; HOURS_PER_WEEK],
}

impl Default for WeekCounts {
    fn default() -> Self {
        WeekCounts {
            sends: [0.0; HOURS_PER_WEEK],
            responses: [0.0; HOURS_PER_WEEK],
        }
    }
}

impl WeekCounts {
    /// Adds counts at `hour_of_week` (taken modulo 168).
    pub fn add(&mut self, hour_of_week: usize, sends: u32, responses: u32) {
        let hour = hour_of_week % HOURS_PER_WEEK;
        self.sends[hour] += f64::from(sends);
        self.responses[hour] += f64::from(responses);
    }

    pub fn total_sends(&self) -> f64 {
        self.sends.iter().sum()
    }

    pub fn total_responses(&self) -> f64 {
        self.responses.iter().sum()
    }

    /// Sends and responses per hour of day, smoothed over the neighbours.
    fn by_hour_of_day(&self) -> ([f64; HOURS_PER_DAY], [f64; HOURS_PER_DAY]) {
        let mut sends = [0.0; HOURS_PER_DAY];
        let mut responses = [0.0; HOURS_PER_DAY];
        // Day by day: each hour of day adds its week's hours in order.
        for day in 0..DAYS_PER_WEEK {
            let start = day * HOURS_PER_DAY;
            for hour in 0..HOURS_PER_DAY {
                sends[hour] += self.sends[start + hour];
                responses[hour] += self.responses[start + hour];
            }
        }
        (smooth(&sends), smooth(&responses))
    }

    fn by_day(&self) -> ([f64; DAYS_PER_WEEK], [f64; DAYS_PER_WEEK]) {
        let mut sends = [0.0; DAYS_PER_WEEK];
        let mut responses = [0.0; DAYS_PER_WEEK];
        for day in 0..DAYS_PER_WEEK {
            let start = day * HOURS_PER_DAY;
            for hour in start..start + HOURS_PER_DAY {
                sends[day] += self.sends[hour];
                responses[day] += self.responses[hour];
            }
        }
        (sends, responses)
    }

    /// Sends and responses in the hours of day within one hour of
    /// `hour_of_day`'s, on any day: what the backtest scores a choice on.
    pub fn around(&self, hour_of_day_chosen: usize) -> (f64, f64) {
        let mut sends = 0.0;
        let mut responses = 0.0;
        for hour in 0..HOURS_PER_WEEK {
            if hours_apart(hour_of_day(hour), hour_of_day_chosen) <= 1 {
                sends += self.sends[hour];
                responses += self.responses[hour];
            }
        }
        (sends, responses)
    }
}

/// A user's counts folded to what a choice reads: per hour of day (not yet
/// smoothed), per day of week, and in all. A user has a handful of the 168
/// hours, so adding them here skips the week's two arrays; the counts are
/// whole numbers, so the sums are exact in any order and a choice has the
/// bits of one over the [`WeekCounts`] of the same [`WeekCounts::add`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoldedCounts {
    hour_sends: [f64; HOURS_PER_DAY],
    hour_responses: [f64; HOURS_PER_DAY],
    day_sends: [f64; DAYS_PER_WEEK],
    day_responses: [f64; DAYS_PER_WEEK],
    sends: f64,
    responses: f64,
}

impl FoldedCounts {
    /// As [`WeekCounts::add`].
    pub fn add(&mut self, hour_of_week: usize, sends: u32, responses: u32) {
        let hour = hour_of_week % HOURS_PER_WEEK;
        let (sends, responses) = (f64::from(sends), f64::from(responses));
        self.hour_sends[hour_of_day(hour)] += sends;
        self.hour_responses[hour_of_day(hour)] += responses;
        self.day_sends[hour / HOURS_PER_DAY] += sends;
        self.day_responses[hour / HOURS_PER_DAY] += responses;
        self.sends += sends;
        self.responses += responses;
    }

    /// The folded counts of `week`, summed in the order [`WeekCounts`]'s
    /// own sums take (so the same bits for any counts, whole or not).
    pub fn of(week: &WeekCounts) -> FoldedCounts {
        let mut folded = FoldedCounts {
            sends: week.total_sends(),
            responses: week.total_responses(),
            ..FoldedCounts::default()
        };
        for day in 0..DAYS_PER_WEEK {
            let start = day * HOURS_PER_DAY;
            for hour in 0..HOURS_PER_DAY {
                folded.hour_sends[hour] += week.sends[start + hour];
                folded.hour_responses[hour] += week.responses[start + hour];
            }
        }
        (folded.day_sends, folded.day_responses) = week.by_day();
        folded
    }

    pub fn total_sends(&self) -> f64 {
        self.sends
    }

    pub fn total_responses(&self) -> f64 {
        self.responses
    }

    /// As [`WeekCounts::around`], for whole-number counts.
    pub fn around(&self, hour_of_day_chosen: usize) -> (f64, f64) {
        let mut sends = 0.0;
        let mut responses = 0.0;
        for hour in 0..HOURS_PER_DAY {
            if hours_apart(hour, hour_of_day_chosen) <= 1 {
                sends += self.hour_sends[hour];
                responses += self.hour_responses[hour];
            }
        }
        (sends, responses)
    }

    fn totals(&self) -> Totals {
        Totals {
            sends: self.sends,
            responses: self.responses,
        }
    }
}

fn smooth(values: &[f64; HOURS_PER_DAY]) -> [f64; HOURS_PER_DAY] {
    let mut smoothed = [0.0; HOURS_PER_DAY];
    for (hour, value) in smoothed.iter_mut().enumerate() {
        let before = values[(hour + HOURS_PER_DAY - 1) % HOURS_PER_DAY];
        let after = values[(hour + 1) % HOURS_PER_DAY];
        *value = 0.25 * before + 0.5 * values[hour] + 0.25 * after;
    }
    smoothed
}

/// How personal hours are estimated and when they are served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SendTimeConfig {
    /// Prior strength: pseudo-sends at the population's rate per hour of day
    /// (and 24/7 times as many per day of week).
    pub prior_sends: f64,
    /// Responses a user needs before a personal hour is served.
    pub min_responses: u32,
}

impl Default for SendTimeConfig {
    fn default() -> Self {
        SendTimeConfig {
            prior_sends: 8.0,
            min_responses: 1,
        }
    }
}

/// The population's response rates: the model file's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendTimeModel {
    /// Response rate per hour of day (UTC), smoothed; 24 entries.
    pub hour_of_day: Vec<f64>,
    /// Response rate per day of week, Monday first; 7 entries.
    pub day_of_week: Vec<f64>,
    /// Response rate over every send.
    pub overall: f64,
    /// The population's best hour of the week (what everyone without a
    /// personal hour gets).
    pub population_best: usize,
    pub config: SendTimeConfig,
    /// Whether personal hours are served at all (the backtest's verdict).
    pub personal: bool,
}

/// The hour chosen for one user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendTimeChoice {
    /// Hour of the week, 0..168.
    pub hour_of_week: usize,
    /// The population's best hour is served: too few responses, or personal
    /// hours are off.
    pub fallback: bool,
    /// The user's estimated response rate at that hour.
    pub rate: f64,
}

impl SendTimeModel {
    /// The population profile from everyone's counts. `personal` starts on;
    /// the caller turns it off when the backtest says so.
    pub fn fit(population: &WeekCounts, config: SendTimeConfig) -> Result<SendTimeModel, Error> {
        let model = "send time";
        if !(config.prior_sends.is_finite() && config.prior_sends > 0.0) {
            return Err(Error::InvalidInput {
                input: "prior_sends".into(),
                reason: format!("must be finite and > 0, got {}", config.prior_sends),
            });
        }
        let (sends, responses) = (population.total_sends(), population.total_responses());
        if sends <= 0.0 || responses <= 0.0 {
            return Err(Error::DegenerateInput {
                model,
                reason: format!("{sends} sends and {responses} responses in the logs"),
            });
        }
        let overall = responses / sends;
        let ratio = |responses: f64, sends: f64| {
            if sends > 0.0 {
                responses / sends
            } else {
                overall
            }
        };
        let (hour_sends, hour_responses) = population.by_hour_of_day();
        let (day_sends, day_responses) = population.by_day();
        let hour_of_day: Vec<f64> = (0..HOURS_PER_DAY)
            .map(|hour| ratio(hour_responses[hour], hour_sends[hour]))
            .collect();
        let day_of_week: Vec<f64> = (0..DAYS_PER_WEEK)
            .map(|day| ratio(day_responses[day], day_sends[day]))
            .collect();
        let mut fitted = SendTimeModel {
            hour_of_day,
            day_of_week,
            overall,
            population_best: 0,
            config,
            personal: true,
        };
        fitted.population_best = argmax(|hour| fitted.population_rate(hour));
        Ok(fitted)
    }

    /// The population's response rate at `hour_of_week`.
    pub fn population_rate(&self, hour_of_week: usize) -> f64 {
        let hour = hour_of_week % HOURS_PER_WEEK;
        self.hour_of_day[hour_of_day(hour)] * self.day_of_week[hour / HOURS_PER_DAY] / self.overall
    }

    /// The hour to send to a user with these counts.
    pub fn choose(&self, user: &WeekCounts) -> SendTimeChoice {
        self.choose_folded(&FoldedCounts::of(user))
    }

    /// [`SendTimeModel::choose`] from folded counts.
    pub fn choose_folded(&self, user: &FoldedCounts) -> SendTimeChoice {
        let totals = user.totals();
        let rates = self.user_rates(user, totals);
        let fallback = self.falls_back(totals);
        let hour_of_week = if fallback {
            self.population_best
        } else {
            argmax(|hour| rates.at(hour))
        };
        SendTimeChoice {
            hour_of_week,
            fallback,
            rate: rates.at(hour_of_week),
        }
    }

    /// Whether `user` gets the population's hour: personal hours are off,
    /// or the user has too few responses.
    fn falls_back(&self, totals: Totals) -> bool {
        !self.personal
            || totals.responses < f64::from(self.config.min_responses)
            || totals.responses <= 0.0
    }

    /// The user's shrunk response rate at `hour_of_week` (module docs).
    pub fn user_rate(&self, user: &WeekCounts, hour_of_week: usize) -> f64 {
        let folded = FoldedCounts::of(user);
        self.user_rates(&folded, folded.totals()).at(hour_of_week)
    }

    fn user_rates(&self, user: &FoldedCounts, totals: Totals) -> UserRates {
        let k = self.config.prior_sends;
        let day_prior = k * HOURS_PER_DAY as f64 / DAYS_PER_WEEK as f64;
        let all_prior = k * HOURS_PER_DAY as f64;
        let (hour_sends, hour_responses) = (smooth(&user.hour_sends), smooth(&user.hour_responses));
        let (day_sends, day_responses) = (user.day_sends, user.day_responses);
        let mut rates = UserRates {
            hour: [0.0; HOURS_PER_DAY],
            day: [0.0; DAYS_PER_WEEK],
            all: (totals.responses + all_prior * self.overall) / (totals.sends + all_prior),
        };
        for hour in 0..HOURS_PER_DAY {
            rates.hour[hour] =
                (hour_responses[hour] + k * self.hour_of_day[hour]) / (hour_sends[hour] + k);
        }
        for day in 0..DAYS_PER_WEEK {
            rates.day[day] = (day_responses[day] + day_prior * self.day_of_week[day])
                / (day_sends[day] + day_prior);
        }
        rates
    }
}

/// What the backtest reads of a user's held-out counts.
trait HeldOut {
    fn total_sends(&self) -> f64;
    fn around(&self, hour_of_day_chosen: usize) -> (f64, f64);
}

impl HeldOut for WeekCounts {
    fn total_sends(&self) -> f64 {
        WeekCounts::total_sends(self)
    }

    fn around(&self, hour_of_day_chosen: usize) -> (f64, f64) {
        WeekCounts::around(self, hour_of_day_chosen)
    }
}

impl HeldOut for FoldedCounts {
    fn total_sends(&self) -> f64 {
        self.sends
    }

    fn around(&self, hour_of_day_chosen: usize) -> (f64, f64) {
        FoldedCounts::around(self, hour_of_day_chosen)
    }
}

/// A user's sends and responses over the whole week, summed once.
#[derive(Clone, Copy)]
struct Totals {
    sends: f64,
    responses: f64,
}

impl Totals {
    fn of(user: &WeekCounts) -> Totals {
        Totals {
            sends: user.total_sends(),
            responses: user.total_responses(),
        }
    }
}

/// One user's shrunk factors.
struct UserRates {
    hour: [f64; HOURS_PER_DAY],
    day: [f64; DAYS_PER_WEEK],
    all: f64,
}

impl UserRates {
    fn at(&self, hour_of_week: usize) -> f64 {
        let hour = hour_of_week % HOURS_PER_WEEK;
        self.hour[hour_of_day(hour)] * self.day[hour / HOURS_PER_DAY] / self.all
    }
}

/// The hour of the week with the largest value; the earliest on a tie.
fn argmax(value: impl Fn(usize) -> f64) -> usize {
    let mut best = 0;
    let mut best_value = value(0);
    for hour in 1..HOURS_PER_WEEK {
        let candidate = value(hour);
        if candidate > best_value {
            best = hour;
            best_value = candidate;
        }
    }
    best
}

/// Personal hours against the population's best hour on held-out sends:
/// for each user with a personal hour (fitted on the training weeks), the
/// held-out sends and responses within one hour of day of each choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendTimeBacktest {
    /// Users given a personal hour by the training fit.
    pub personal_users: u64,
    /// Of them, users with held-out sends.
    pub scored_users: u64,
    /// Held-out sends and responses around the personal hours.
    pub personal_sends: f64,
    pub personal_responses: f64,
    /// Held-out sends and responses around the population's best hour.
    pub population_sends: f64,
    pub population_responses: f64,
    /// The training fit's population hour of the week.
    pub population_best: usize,
}

impl SendTimeBacktest {
    /// Scores one user: `train` fitted `model`'s choice, `test` the user's
    /// held-out counts.
    pub fn add(&mut self, model: &SendTimeModel, train: &WeekCounts, test: &WeekCounts) {
        self.population_best = model.population_best;
        // A fallback user is not scored: no need for their rates.
        if model.falls_back(Totals::of(train)) {
            return;
        }
        let choice = model.choose(train);
        self.score(model, choice, test);
    }

    /// [`SendTimeBacktest::add`] from folded counts (whole numbers, as
    /// [`FoldedCounts::add`] makes them).
    pub fn add_folded(&mut self, model: &SendTimeModel, train: &FoldedCounts, test: &FoldedCounts) {
        self.population_best = model.population_best;
        if model.falls_back(train.totals()) {
            return;
        }
        let choice = model.choose_folded(train);
        self.score(model, choice, test);
    }

    /// Scores a personal `choice` against the population's hour on the
    /// user's held-out counts.
    fn score<Counts: HeldOut>(
        &mut self,
        model: &SendTimeModel,
        choice: SendTimeChoice,
        test: &Counts,
    ) {
        self.personal_users += 1;
        if test.total_sends() <= 0.0 {
            return;
        }
        self.scored_users += 1;
        let (sends, responses) = test.around(hour_of_day(choice.hour_of_week));
        self.personal_sends += sends;
        self.personal_responses += responses;
        let (sends, responses) = test.around(hour_of_day(model.population_best));
        self.population_sends += sends;
        self.population_responses += responses;
    }

    pub fn personal_rate(&self) -> Option<f64> {
        (self.personal_sends > 0.0).then(|| self.personal_responses / self.personal_sends)
    }

    pub fn population_rate(&self) -> Option<f64> {
        (self.population_sends > 0.0).then(|| self.population_responses / self.population_sends)
    }

    /// Whether personal hours beat the population's hour on held-out sends:
    /// both rates measured and the personal one strictly higher.
    pub fn personal_wins(&self) -> bool {
        matches!(
            (self.personal_rate(), self.population_rate()),
            (Some(personal), Some(population)) if personal > population
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everyone is sent once an hour; `responses(hour)` says who answers.
    fn counts(responses: impl Fn(usize) -> u32) -> WeekCounts {
        let mut counts = WeekCounts::default();
        for hour in 0..HOURS_PER_WEEK {
            counts.add(hour, 1, responses(hour));
        }
        counts
    }

    /// 100 sends an hour, answered 10% at 20h and 2% at any other hour.
    fn population() -> WeekCounts {
        let mut counts = WeekCounts::default();
        for hour in 0..HOURS_PER_WEEK {
            counts.add(hour, 100, if hour % 24 == 20 { 10 } else { 2 });
        }
        counts
    }

    #[test]
    fn the_population_best_hour_is_its_highest_rate() {
        // Responses every evening at 20h, more on Saturday (day 5).
        let population = counts(|hour| match (hour / 24, hour % 24) {
            (5, 20) => 4,
            (_, 20) => 2,
            _ => 0,
        });
        let model = SendTimeModel::fit(&population, SendTimeConfig::default()).expect("fits");
        assert_eq!(model.population_best, 5 * 24 + 20);
        assert!(model.population_rate(5 * 24 + 20) > model.population_rate(4 * 24 + 20));
        assert!(model.population_rate(20) > model.population_rate(3));
    }

    #[test]
    fn a_user_with_responses_gets_their_hour_and_one_without_the_population_hour() {
        let model = SendTimeModel::fit(&population(), SendTimeConfig::default()).expect("fits");
        assert_eq!(hour_of_day(model.population_best), 20);
        // Answers at 08h on four days of the week.
        let morning_reader = counts(|hour| u32::from(hour % 24 == 8 && (hour / 24) % 2 == 0));
        let choice = model.choose(&morning_reader);
        assert!(!choice.fallback);
        assert_eq!(hour_of_day(choice.hour_of_week), 8, "{choice:?}");

        let silent = counts(|_| 0);
        let choice = model.choose(&silent);
        assert!(choice.fallback);
        assert_eq!(choice.hour_of_week, model.population_best);

        let strict = SendTimeModel::fit(
            &population(),
            SendTimeConfig {
                min_responses: 5,
                ..SendTimeConfig::default()
            },
        )
        .expect("fits");
        assert!(strict.choose(&morning_reader).fallback, "4 responses < 5");
        let off = SendTimeModel {
            personal: false,
            ..model
        };
        assert!(off.choose(&morning_reader).fallback);
    }

    #[test]
    fn one_stray_response_moves_the_estimate_less_than_many() {
        let population = counts(|hour| u32::from(hour % 24 == 20));
        let model = SendTimeModel::fit(&population, SendTimeConfig::default()).expect("fits");
        let once = counts(|hour| u32::from(hour == 8));
        let often = counts(|hour| u32::from(hour % 24 == 8));
        let lift = |user: &WeekCounts| model.user_rate(user, 8) / model.user_rate(user, 20);
        assert!(lift(&often) > lift(&once), "more evidence, less shrinkage");
    }

    #[test]
    fn folded_counts_choose_and_backtest_with_the_bits_of_the_week() {
        let model = SendTimeModel::fit(&population(), SendTimeConfig::default()).expect("fits");
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let (mut personal, mut folded_backtest) =
            (SendTimeBacktest::default(), SendTimeBacktest::default());
        for user in 0..3_000 {
            let (mut week, mut folded) = (WeekCounts::default(), FoldedCounts::default());
            let (mut test_week, mut test_folded) = (WeekCounts::default(), FoldedCounts::default());
            // A few slots each, some hours twice (two weeks in one hour).
            for _ in 0..(user % 9) {
                let hour = next(2 * HOURS_PER_WEEK as u64) as usize;
                let sends = 1 + next(40) as u32;
                let responses = next(u64::from(sends) + 1) as u32 * u32::from(next(3) == 0);
                week.add(hour, sends, responses);
                folded.add(hour, sends, responses);
                let hour = next(HOURS_PER_WEEK as u64) as usize;
                test_week.add(hour, sends, responses / 2);
                test_folded.add(hour, sends, responses / 2);
            }
            assert_eq!(FoldedCounts::of(&week), folded);
            let (from_week, from_folded) = (model.choose(&week), model.choose_folded(&folded));
            assert_eq!(from_week.hour_of_week, from_folded.hour_of_week);
            assert_eq!(from_week.fallback, from_folded.fallback);
            assert_eq!(from_week.rate.to_bits(), from_folded.rate.to_bits());
            assert_eq!(week.total_sends().to_bits(), folded.total_sends().to_bits());
            assert_eq!(
                week.total_responses().to_bits(),
                folded.total_responses().to_bits()
            );
            for hour in 0..HOURS_PER_DAY {
                assert_eq!(test_week.around(hour), test_folded.around(hour));
            }
            personal.add(&model, &week, &test_week);
            folded_backtest.add_folded(&model, &folded, &test_folded);
        }
        assert!(personal.scored_users > 100, "{personal:?}");
        assert_eq!(personal, folded_backtest);
    }

    #[test]
    fn hours_apart_wraps_around_midnight() {
        assert_eq!(hours_apart(23, 0), 1);
        assert_eq!(hours_apart(0, 23), 1);
        assert_eq!(hours_apart(2, 22), 4);
        assert_eq!(hours_apart(12, 12), 0);
    }

    #[test]
    fn the_backtest_scores_held_out_sends_around_each_choice() {
        let model = SendTimeModel::fit(&population(), SendTimeConfig::default()).expect("fits");
        let train = counts(|hour| u32::from(hour % 24 == 8 && hour < 72));
        let mut test = WeekCounts::default();
        test.add(8, 2, 1); // around the personal hour
        test.add(9, 1, 1);
        test.add(20, 3, 0); // around the population's
        let mut backtest = SendTimeBacktest::default();
        backtest.add(&model, &train, &test);
        backtest.add(&model, &counts(|_| 0), &test); // falls back: not scored
        assert_eq!(backtest.personal_users, 1);
        assert_eq!(backtest.personal_rate(), Some(2.0 / 3.0));
        assert_eq!(backtest.population_rate(), Some(0.0));
        assert!(backtest.personal_wins());
    }

    #[test]
    fn refuses_logs_without_responses() {
        let error = SendTimeModel::fit(&counts(|_| 0), SendTimeConfig::default())
            .expect_err("nothing to learn from");
        assert!(error.to_string().contains("0 responses"), "{error}");
    }
}
