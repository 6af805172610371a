//! Weekly seasonality as a time warp between calendar time and "operational" time.
//!
//! Every process in the generator (purchases, browsing, sends) is a homogeneous
//! process in operational time, measured in weeks. Calendar time runs faster or slower
//! than operational time according to an hour-of-week intensity profile whose mean is
//! one, and both clocks agree at every Monday 00:00 UTC. So a process keeps its exact
//! expected count over any whole number of weeks (BG/NBD expectations stay valid), while
//! events bunch on weekends and evenings. Over a window that is not whole weeks the
//! expected count is off by at most the profile's largest within-week drift, well under
//! a day's worth of events.

use strata_core::UnixMillis;

pub(super) const HOUR_MILLIS: i64 = 3_600_000;
pub(super) const DAY_MILLIS: i64 = 24 * HOUR_MILLIS;
pub(super) const HOURS_PER_WEEK: usize = 168;
const WEEK_MILLIS: i64 = HOURS_PER_WEEK as i64 * HOUR_MILLIS;
/// 1970-01-05T00:00:00Z, the first Monday after the epoch (a Thursday).
const FIRST_MONDAY: UnixMillis = 4 * DAY_MILLIS;

/// Relative intensity by day of week (Monday first) and by hour of day (UTC, read as
/// the users' local time). Only the shape matters: [`Clock::new`] normalises it.
#[derive(Debug, Clone, Copy)]
pub(super) struct WeekProfile {
    pub days: [f64; 7],
    pub hours: [f64; 24],
}

/// Shoppers and app users: weekends 1.6 times a weekday, an evening peak, quiet nights.
pub(super) const CONSUMER_WEEK: WeekProfile = WeekProfile {
    days: [0.85, 0.85, 0.85, 0.85, 0.85, 1.375, 1.375],
    hours: [
        0.3, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 0.8, 0.9, 1.0, 1.1, //
        1.3, 1.1, 1.0, 1.0, 1.0, 1.1, 1.4, 1.7, 1.8, 1.6, 1.1, 0.6,
    ],
};

/// Business software is evaluated in office hours on weekdays.
pub(super) const OFFICE_WEEK: WeekProfile = WeekProfile {
    days: [1.2, 1.25, 1.25, 1.2, 1.0, 0.3, 0.3],
    hours: [
        0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 1.2, 1.8, 1.9, 1.8, //
        1.2, 1.6, 1.8, 1.8, 1.6, 1.2, 0.7, 0.5, 0.4, 0.3, 0.2, 0.15,
    ],
};

/// The window of one generation run and the warp inside it.
#[derive(Debug, Clone)]
pub(super) struct Clock {
    /// Operational hours each calendar hour of the week is worth; sums to 168.
    weights: [f64; HOURS_PER_WEEK],
    /// `cumulative[h]`: operational hours elapsed at the start of calendar hour `h`.
    cumulative: [f64; HOURS_PER_WEEK + 1],
    pub start: UnixMillis,
    pub end: UnixMillis,
    /// The window in operational weeks since the first Monday.
    pub operational_start: f64,
    pub operational_end: f64,
}

impl Clock {
    pub fn new(profile: &WeekProfile, start: UnixMillis, end: UnixMillis) -> Self {
        let mut weights = [0.0; HOURS_PER_WEEK];
        for (hour_of_week, weight) in weights.iter_mut().enumerate() {
            *weight = profile.days[hour_of_week / 24] * profile.hours[hour_of_week % 24];
        }
        let total: f64 = weights.iter().sum();
        let mut cumulative = [0.0; HOURS_PER_WEEK + 1];
        for hour in 0..HOURS_PER_WEEK {
            weights[hour] *= HOURS_PER_WEEK as f64 / total;
            cumulative[hour + 1] = cumulative[hour] + weights[hour];
        }
        let mut clock = Clock {
            weights,
            cumulative,
            start,
            end,
            operational_start: 0.0,
            operational_end: 0.0,
        };
        clock.operational_start = clock.to_operational(start);
        clock.operational_end = clock.to_operational(end);
        clock
    }

    pub fn to_operational(&self, at: UnixMillis) -> f64 {
        let shifted = at - FIRST_MONDAY;
        let week = shifted.div_euclid(WEEK_MILLIS);
        let within = shifted.rem_euclid(WEEK_MILLIS);
        let hour = (within / HOUR_MILLIS) as usize;
        let fraction = (within % HOUR_MILLIS) as f64 / HOUR_MILLIS as f64;
        let hours = self.cumulative[hour] + self.weights[hour] * fraction;
        week as f64 + hours / HOURS_PER_WEEK as f64
    }

    /// The calendar millisecond containing operational instant `weeks`.
    pub fn to_calendar(&self, weeks: f64) -> UnixMillis {
        let week = weeks.floor();
        let hours = (weeks - week) * HOURS_PER_WEEK as f64;
        let hour = self.cumulative[1..]
            .partition_point(|&elapsed| elapsed <= hours)
            .min(HOURS_PER_WEEK - 1);
        let fraction = ((hours - self.cumulative[hour]) / self.weights[hour]).clamp(0.0, 1.0);
        FIRST_MONDAY
            + week as i64 * WEEK_MILLIS
            + hour as i64 * HOUR_MILLIS
            + (fraction * HOUR_MILLIS as f64).floor() as i64
    }

    /// Operational hours calendar hour of the week `hour` is worth (the
    /// relative rate of every process in that hour); they sum to 168.
    pub fn weight(&self, hour: usize) -> f64 {
        self.weights[hour % HOURS_PER_WEEK]
    }

    /// Whether operational instant `weeks` lies inside the window (false for NaN).
    pub fn contains(&self, weeks: f64) -> bool {
        weeks >= self.operational_start && weeks < self.operational_end
    }
}

/// The UTC hour of the week of `at` with its fraction, in `[0, 168)`; 0 is
/// Monday 00:00.
pub(super) fn hour_of_week(at: UnixMillis) -> f64 {
    (at - FIRST_MONDAY).rem_euclid(WEEK_MILLIS) as f64 / HOUR_MILLIS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_YEAR_2025: UnixMillis = 1_735_689_600_000; // a Wednesday

    #[test]
    fn clocks_agree_on_mondays_and_round_trip() {
        let clock = Clock::new(
            &CONSUMER_WEEK,
            NEW_YEAR_2025 - 70 * DAY_MILLIS,
            NEW_YEAR_2025,
        );
        let monday = NEW_YEAR_2025 - 2 * DAY_MILLIS;
        assert_eq!(clock.to_operational(monday).fract(), 0.0);
        for offset in (0..WEEK_MILLIS * 2).step_by(987_654_321) {
            let at = monday + offset;
            let back = clock.to_calendar(clock.to_operational(at));
            assert!((back - at).abs() <= 1, "{at} came back as {back}");
        }
    }

    #[test]
    fn weekend_hours_are_worth_more_operational_time() {
        let clock = Clock::new(&CONSUMER_WEEK, 0, NEW_YEAR_2025);
        let monday = NEW_YEAR_2025 - 2 * DAY_MILLIS;
        let day_length = |day: i64| {
            let from = monday + day * DAY_MILLIS;
            clock.to_operational(from + DAY_MILLIS) - clock.to_operational(from)
        };
        let ratio = day_length(5) / day_length(0);
        assert!((ratio - 1.375 / 0.85).abs() < 1e-9, "{ratio}");
        let week = clock.to_operational(monday + WEEK_MILLIS) - clock.to_operational(monday);
        assert!((week - 1.0).abs() < 1e-12);
    }
}
