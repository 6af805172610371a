//! Contact channels: campaign `send`s and the user's `response`s, for every preset.
//!
//! Each user is reachable on a subset of channels and has a latent response probability
//! per channel, Beta-distributed around the channel's population mean. Responses do not
//! change any other behaviour, so the per-channel truth can be recovered from the
//! send/response pairs alone.
//!
//! Each user also has a preferred hour of the day and a leaning to weekdays or weekends
//! (their own random stream, [`SendTimeTruth`]): a send's response probability is the
//! channel's times the user's lift at the send's hour, a bump around the preferred hour
//! scaled so that the lift averages one over the hours sends go out in. Responses come
//! minutes after their send, so they cluster at the hours the user answers.

use rand::Rng;
use serde::{Deserialize, Serialize};
use strata_core::event::kinds;

use super::clock::{Clock, HOURS_PER_WEEK, hour_of_week};
use super::{HOUR_WEEKS, Stream, Streams, Timeline, beta, exponential, next_arrival, uniform};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChannelParameters {
    pub channel: &'static str,
    /// Share of users reachable on the channel (opted in, app installed, follower).
    pub reachable_share: f64,
    pub sends_per_week: f64,
    /// Population mean of the per-user response probability.
    pub mean_response: f64,
    /// Beta concentration (alpha + beta) around the mean: lower means more spread.
    pub concentration: f64,
}

pub const CHANNELS: [ChannelParameters; 4] = [
    ChannelParameters {
        channel: "sms",
        reachable_share: 0.95,
        sends_per_week: 0.1,
        mean_response: 0.03,
        concentration: 8.0,
    },
    ChannelParameters {
        channel: "app_push",
        reachable_share: 0.55,
        sends_per_week: 0.25,
        mean_response: 0.06,
        concentration: 8.0,
    },
    ChannelParameters {
        channel: "wechat",
        reachable_share: 0.6,
        sends_per_week: 0.15,
        mean_response: 0.1,
        concentration: 8.0,
    },
    ChannelParameters {
        channel: "email",
        reachable_share: 0.7,
        sends_per_week: 0.2,
        mean_response: 0.02,
        concentration: 8.0,
    },
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelTruth {
    pub channel: &'static str,
    pub reachable: bool,
    /// Probability that one send on this channel gets a response.
    pub response_probability: f64,
}

/// Where the users' preferred hours of the day cluster (UTC, read as local
/// time): (centre, share of users). Morning, lunch, after work, late evening.
const PREFERRED_HOURS: [(f64, f64); 4] = [(8.0, 0.25), (12.5, 0.2), (18.0, 0.25), (21.0, 0.3)];
/// A user's preferred hour is its cluster's centre plus up to this many hours either way.
const PREFERRED_SPREAD: f64 = 1.5;
/// Width (standard deviation, hours) of the lift's bump around the preferred hour.
const BUMP_HOURS: f64 = 1.25;
/// The lift far from the preferred hour, relative to the bump's top (1).
const BUMP_FLOOR: f64 = 0.15;
/// Share of users who answer more at weekends, and the day factors of each kind.
const WEEKEND_SHARE: f64 = 0.4;
const LEANING: f64 = 1.5;

/// When a user answers: the hidden truth behind the best send time (read
/// back from a truth file by tests, to score served hours by their lift).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendTimeTruth {
    /// Preferred hour of the day, fractional, in `[0, 24)`.
    pub preferred_hour: f64,
    /// Whether the user answers more at weekends (else on weekdays).
    pub weekend: bool,
    /// The hour of the week (0 = Monday 00h UTC) with the largest lift.
    pub best_hour_of_week: usize,
    /// The factor scaling the bump so the lift averages one over the sends.
    scale: f64,
}

impl SendTimeTruth {
    fn draw(streams: &Streams, clock: &Clock) -> SendTimeTruth {
        let mut rng = streams.rng(Stream::Timing);
        let pick = rng.random::<f64>();
        let mut cumulative = 0.0;
        let mut centre = PREFERRED_HOURS[PREFERRED_HOURS.len() - 1].0;
        for (hour, share) in PREFERRED_HOURS {
            cumulative += share;
            if pick < cumulative {
                centre = hour;
                break;
            }
        }
        let preferred_hour =
            (centre + uniform(&mut rng, -PREFERRED_SPREAD, PREFERRED_SPREAD)).rem_euclid(24.0);
        let weekend = rng.random_bool(WEEKEND_SHARE);
        let mut truth = SendTimeTruth {
            preferred_hour,
            weekend,
            best_hour_of_week: 0,
            scale: 1.0,
        };
        // Sends in calendar hour h are proportional to the clock's weight.
        let mean: f64 = (0..HOURS_PER_WEEK)
            .map(|hour| clock.weight(hour) * truth.lift(hour as f64 + 0.5))
            .sum::<f64>()
            / HOURS_PER_WEEK as f64;
        truth.scale = 1.0 / mean;
        let mut best = 0;
        for hour in 1..HOURS_PER_WEEK {
            if truth.lift(hour as f64 + 0.5) > truth.lift(best as f64 + 0.5) {
                best = hour;
            }
        }
        truth.best_hour_of_week = best;
        truth
    }

    /// The factor on the channel's response probability for a send at
    /// `hour_of_week` (fractional, UTC).
    pub fn lift(&self, hour_of_week: f64) -> f64 {
        let hour_of_week = hour_of_week.rem_euclid(HOURS_PER_WEEK as f64);
        let day = (hour_of_week / 24.0).floor() as usize;
        let at_weekend = day >= 5;
        let leaning = if at_weekend == self.weekend {
            LEANING
        } else {
            1.0
        };
        let distance = (hour_of_week.rem_euclid(24.0) - self.preferred_hour).abs();
        let distance = distance.min(24.0 - distance);
        let bump = (-distance * distance / (2.0 * BUMP_HOURS * BUMP_HOURS)).exp();
        self.scale * leaning * (BUMP_FLOOR + bump)
    }
}

/// Sends from the moment the user is known (`first_seen`, operational weeks) to the end.
pub(super) fn simulate(
    streams: &Streams,
    timeline: &mut Timeline<'_>,
    first_seen: f64,
) -> (Vec<ChannelTruth>, SendTimeTruth) {
    let timing = SendTimeTruth::draw(streams, timeline.clock);
    let mut rng = streams.rng(Stream::Reach);
    let end = timeline.clock.operational_end;
    let mut truths = Vec::with_capacity(CHANNELS.len());
    for parameters in &CHANNELS {
        let reachable = rng.random_bool(parameters.reachable_share);
        let response_probability = beta(
            &mut rng,
            parameters.mean_response * parameters.concentration,
            (1.0 - parameters.mean_response) * parameters.concentration,
        );
        truths.push(ChannelTruth {
            channel: parameters.channel,
            reachable,
            response_probability,
        });
        if !reachable {
            continue;
        }
        let mut at = next_arrival(&mut rng, first_seen, parameters.sends_per_week);
        while at < end {
            let mut lift = 1.0;
            if let Some(send) = timeline.emit(at, kinds::SEND) {
                send.channel = Some(parameters.channel.to_owned());
                lift = timing.lift(hour_of_week(send.at));
            }
            if rng.random_bool((response_probability * lift).min(0.99)) {
                // At least a minute to read; most responses within the quarter hour.
                let delay = HOUR_WEEKS / 60.0 + exponential(&mut rng, 0.25 * HOUR_WEEKS);
                if let Some(response) = timeline.emit(at + delay, kinds::RESPONSE) {
                    response.channel = Some(parameters.channel.to_owned());
                }
            }
            at = next_arrival(&mut rng, at, parameters.sends_per_week);
        }
    }
    (truths, timing)
}
