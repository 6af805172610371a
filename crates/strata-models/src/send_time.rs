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
        let totals = Totals::of(user);
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
        self.user_rates(user, Totals::of(user)).at(hour_of_week)
    }

    fn user_rates(&self, user: &WeekCounts, totals: Totals) -> UserRates {
        let k = self.config.prior_sends;
        let day_prior = k * HOURS_PER_DAY as f64 / DAYS_PER_WEEK as f64;
        let all_prior = k * HOURS_PER_DAY as f64;
        let (hour_sends, hour_responses) = user.by_hour_of_day();
        let (day_sends, day_responses) = user.by_day();
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
