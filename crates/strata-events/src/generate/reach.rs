//! Contact channels: campaign `send`s and the user's `response`s, for every preset.
//!
//! Each user is reachable on a subset of channels and has a latent response probability
//! per channel, Beta-distributed around the channel's population mean. Responses do not
//! change any other behaviour, so the per-channel truth can be recovered from the
//! send/response pairs alone.

use rand::Rng;
use serde::Serialize;
use strata_core::event::kinds;

use super::{HOUR_WEEKS, Stream, Streams, Timeline, beta, exponential, next_arrival};

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

/// Sends from the moment the user is known (`first_seen`, operational weeks) to the end.
pub(super) fn simulate(
    streams: &Streams,
    timeline: &mut Timeline<'_>,
    first_seen: f64,
) -> Vec<ChannelTruth> {
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
            if let Some(send) = timeline.emit(at, kinds::SEND) {
                send.channel = Some(parameters.channel.to_owned());
            }
            if rng.random_bool(response_probability) {
                // At least a minute to read; most responses within a few hours.
                let delay = HOUR_WEEKS / 60.0 + exponential(&mut rng, 2.0 * HOUR_WEEKS);
                if let Some(response) = timeline.emit(at + delay, kinds::RESPONSE) {
                    response.channel = Some(parameters.channel.to_owned());
                }
            }
            at = next_arrival(&mut rng, at, parameters.sends_per_week);
        }
    }
    truths
}
