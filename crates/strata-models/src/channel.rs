//! Best contact channel per user: each user's response rate on each channel,
//! shrunk towards that channel's population rate with a Beta-Binomial model,
//! and a frequency cap across channels.
//!
//! A user's rate on a channel is `responses / sends` with a handful of sends,
//! far too noisy to rank channels on. The Beta-Binomial model puts a
//! `Beta(alpha, beta)` prior on the rate, fitted per channel from all users by
//! **marginal maximum likelihood**; a user's posterior mean is then
//! `(alpha + responses) / (alpha + beta + sends)`: the fewer the sends, the
//! closer to the population mean `alpha / (alpha + beta)`.
//!
//! Maximum likelihood rather than the method of moments because send counts
//! vary a lot between users, and moments weight a 1-send user's 0% or 100% as
//! much as a 50-send user's rate; the moments are still the starting point.
//!
//! Every channel is ranked, best first (ranked channel affinity). A user
//! with fewer than `min_sends` sends on each of `min_channels` channels has
//! too little data to rank (Braze's "not enough data" rule is three messages
//! on two channels): their channels are ranked in the population's order
//! (the prior means) and the choice says so.

use crate::Error;
use argmin::core::{CostFunction, Executor, State, TerminationReason, TerminationStatus};
use argmin::solver::neldermead::NelderMead;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `(sends, responses)` of one user on one channel.
pub type Counts = (u32, u32);

/// The fit keeps `alpha + beta` in this range: below it the prior is a
/// U-shape no response data supports, above it every user is the mean.
const PRECISION_RANGE: (f64, f64) = (1e-2, 1e6);
/// And the prior mean within `logistic(-20)..logistic(20)`, so a channel no
/// one ever answered gets a tiny rate rather than an error.
const LOGIT_MEAN_LIMIT: f64 = 20.0;

/// A channel's `Beta(alpha, beta)` prior on users' response rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChannelPrior {
    pub alpha: f64,
    pub beta: f64,
}

impl ChannelPrior {
    /// Fits the prior by marginal maximum likelihood over users with at least
    /// one send (users with none carry no information about the rate).
    pub fn fit(users: &[Counts]) -> Result<ChannelPrior, Error> {
        let groups = group_counts(users)?;
        if groups.is_empty() {
            return Err(Error::DegenerateInput {
                model: "channel prior",
                reason: format!("none of {} users has a send", users.len()),
            });
        }
        let start = moment_start(&groups);
        let problem = MarginalLikelihood { groups };
        let simplex = vec![
            start.clone(),
            vec![start[0] + 0.5, start[1]],
            vec![start[0], start[1] + 0.5],
        ];
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-12)
            .map_err(|error| not_converged(0, error.to_string()))?;
        let result = Executor::new(problem, solver)
            .configure(|state| state.max_iters(2_000))
            .run()
            .map_err(|error| not_converged(0, error.to_string()))?;
        let state = result.state();
        if let TerminationStatus::Terminated(TerminationReason::MaxItersReached) =
            state.get_termination_status()
        {
            return Err(not_converged(state.get_iter(), "iteration limit".into()));
        }
        let Some(best) = state.get_best_param() else {
            return Err(not_converged(state.get_iter(), "no best point".into()));
        };
        let (mean, precision) = mean_and_precision(best);
        Ok(ChannelPrior {
            alpha: mean * precision,
            beta: (1.0 - mean) * precision,
        })
    }

    /// The population response rate, `alpha / (alpha + beta)`.
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// A user's posterior mean response rate.
    pub fn posterior_mean(&self, (sends, responses): Counts) -> f64 {
        (self.alpha + f64::from(responses)) / (self.alpha + self.beta + f64::from(sends))
    }
}

/// How channels are chosen and contacts capped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelConfig {
    /// Contacts allowed across all channels within `window_days`; a user who
    /// already has this many gets no channel.
    pub max_contacts: u32,
    /// The rolling window the caller counts recent contacts over.
    pub window_days: u32,
    /// Whether a channel the user was never sent on may be chosen (at the
    /// prior mean). Off means: only channels the user is known to read.
    pub zero_sends_eligible: bool,
    /// Enough data to rank a user's channels by their own responses: at
    /// least `min_sends` sends on each of at least `min_channels` channels.
    pub min_sends: u32,
    pub min_channels: u32,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            max_contacts: 3,
            window_days: 7,
            zero_sends_eligible: true,
            min_sends: 3,
            min_channels: 2,
        }
    }
}

/// The channel picked for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelChoice {
    /// Index of the best eligible channel; `None` when capped or none is
    /// eligible.
    pub best: Option<usize>,
    /// Posterior mean response rate per channel, eligible or not, in the
    /// caller's channel order.
    pub scores: Vec<f64>,
    /// Every channel index, best first: by `scores` (ties to the lower
    /// index), or by the population's rates when `enough_data` is false.
    pub order: Vec<usize>,
    /// The user has `min_sends` sends on `min_channels` channels.
    pub enough_data: bool,
    /// The user reached the frequency cap.
    pub capped: bool,
}

/// One prior per channel, in the caller's channel order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelModel {
    priors: Vec<ChannelPrior>,
    config: ChannelConfig,
}

impl ChannelModel {
    pub fn new(priors: Vec<ChannelPrior>, config: ChannelConfig) -> Result<ChannelModel, Error> {
        for (index, prior) in priors.iter().enumerate() {
            let valid = |value: f64| value.is_finite() && value > 0.0;
            if !valid(prior.alpha) || !valid(prior.beta) {
                return Err(Error::InvalidInput {
                    input: format!("priors[{index}]"),
                    reason: format!(
                        "alpha and beta must be finite and > 0, got {} and {}",
                        prior.alpha, prior.beta
                    ),
                });
            }
        }
        Ok(ChannelModel { priors, config })
    }

    /// Fits one prior per channel; `users[u][c]` is user `u`'s counts on
    /// channel `c`, every user with the same number of channels.
    pub fn fit<Row: AsRef<[Counts]>>(
        users: &[Row],
        config: ChannelConfig,
    ) -> Result<ChannelModel, Error> {
        let channels = users.first().map_or(0, |row| row.as_ref().len());
        if let Some(index) = users.iter().position(|row| row.as_ref().len() != channels) {
            return Err(Error::InvalidInput {
                input: format!("users[{index}]"),
                reason: format!(
                    "has {} channels, users[0] has {channels}",
                    users[index].as_ref().len()
                ),
            });
        }
        let mut priors = Vec::with_capacity(channels);
        let mut column = Vec::with_capacity(users.len());
        for channel in 0..channels {
            column.clear();
            column.extend(users.iter().map(|row| row.as_ref()[channel]));
            let prior = ChannelPrior::fit(&column).map_err(|error| Error::InvalidInput {
                input: format!("channel {channel}"),
                reason: error.to_string(),
            })?;
            priors.push(prior);
        }
        ChannelModel::new(priors, config)
    }

    pub fn priors(&self) -> &[ChannelPrior] {
        &self.priors
    }

    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// The best channel for a user reachable on every channel, given their
    /// counts per channel and their contacts in the last `window_days`.
    pub fn choose(&self, counts: &[Counts], recent_contacts: u32) -> Result<ChannelChoice, Error> {
        self.choose_reachable(counts, &vec![true; counts.len()], recent_contacts)
    }

    /// As [`ChannelModel::choose`], for a user reachable only where
    /// `reachable` is true (opted out, no app installed, no phone number).
    /// Equal scores go to the lower channel index, so the caller's channel
    /// order is the tie-break.
    pub fn choose_reachable(
        &self,
        counts: &[Counts],
        reachable: &[bool],
        recent_contacts: u32,
    ) -> Result<ChannelChoice, Error> {
        self.check_user(counts, reachable)?;
        let scores: Vec<f64> = self
            .priors
            .iter()
            .zip(counts)
            .map(|(prior, counts)| prior.posterior_mean(*counts))
            .collect();
        let tried = counts
            .iter()
            .filter(|(sends, _)| *sends >= self.config.min_sends)
            .count();
        let enough_data = tried >= self.config.min_channels as usize;
        let mut order: Vec<usize> = (0..scores.len()).collect();
        // Stable: equal rates keep the caller's channel order.
        if enough_data {
            order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        } else {
            order.sort_by(|a, b| self.priors[*b].mean().total_cmp(&self.priors[*a].mean()));
        }
        let capped = recent_contacts >= self.config.max_contacts;
        let best = if capped {
            None
        } else {
            order.iter().copied().find(|channel| {
                let (sends, _) = counts[*channel];
                reachable[*channel] && (sends > 0 || self.config.zero_sends_eligible)
            })
        };
        Ok(ChannelChoice {
            best,
            scores,
            order,
            enough_data,
            capped,
        })
    }

    fn check_user(&self, counts: &[Counts], reachable: &[bool]) -> Result<(), Error> {
        for (name, length) in [("counts", counts.len()), ("reachable", reachable.len())] {
            if length != self.priors.len() {
                return Err(Error::InvalidInput {
                    input: name.into(),
                    reason: format!("has {length} channels, the model has {}", self.priors.len()),
                });
            }
        }
        check_counts(counts).map(|_| ())
    }
}

fn check_counts(users: &[Counts]) -> Result<(), Error> {
    if let Some(index) = users
        .iter()
        .position(|(sends, responses)| responses > sends)
    {
        let (sends, responses) = users[index];
        return Err(Error::InvalidInput {
            input: format!("counts[{index}]"),
            reason: format!("{responses} responses to {sends} sends"),
        });
    }
    Ok(())
}

/// Distinct `(sends, responses)` with their number of users: send counts
/// are small integers, so this shrinks millions of users to a few hundred
/// terms per likelihood evaluation.
fn group_counts(users: &[Counts]) -> Result<Vec<(Counts, f64)>, Error> {
    check_counts(users)?;
    let mut groups: BTreeMap<Counts, u64> = BTreeMap::new();
    for counts in users.iter().filter(|(sends, _)| *sends > 0) {
        *groups.entry(*counts).or_default() += 1;
    }
    Ok(groups
        .into_iter()
        .map(|(counts, users)| (counts, users as f64))
        .collect())
}

/// Method-of-moments start in `[logit(mean), ln(precision)]`.
fn moment_start(groups: &[(Counts, f64)]) -> Vec<f64> {
    let (mut users, mut sends, mut responses) = (0.0, 0.0, 0.0);
    for ((group_sends, group_responses), count) in groups {
        users += count;
        sends += f64::from(*group_sends) * count;
        responses += f64::from(*group_responses) * count;
    }
    let mean = ((responses + 0.5) / (sends + 1.0)).clamp(1e-6, 1.0 - 1e-6);
    let variance: f64 = groups
        .iter()
        .map(|((group_sends, group_responses), count)| {
            let rate = f64::from(*group_responses) / f64::from(*group_sends);
            count * (rate - mean) * (rate - mean)
        })
        .sum::<f64>()
        / users;
    // Var(rate) ~ mean (1 - mean) / (precision + 1) when sends are many; with
    // few sends this overstates the spread, which only moves the start.
    let precision = if variance > 0.0 {
        mean * (1.0 - mean) / variance - 1.0
    } else {
        PRECISION_RANGE.1
    };
    let precision = precision.clamp(1.0, PRECISION_RANGE.1);
    vec![(mean / (1.0 - mean)).ln(), precision.ln()]
}

fn mean_and_precision(parameters: &[f64]) -> (f64, f64) {
    let logit = parameters[0].clamp(-LOGIT_MEAN_LIMIT, LOGIT_MEAN_LIMIT);
    let precision = parameters[1]
        .clamp(PRECISION_RANGE.0.ln(), PRECISION_RANGE.1.ln())
        .exp();
    (1.0 / (1.0 + (-logit).exp()), precision)
}

struct MarginalLikelihood {
    groups: Vec<(Counts, f64)>,
}

impl CostFunction for MarginalLikelihood {
    type Param = Vec<f64>;
    type Output = f64;

    /// Negative marginal log-likelihood per group weight, on clamped
    /// parameters so the simplex cannot walk off to infinity.
    fn cost(&self, parameters: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let (mean, precision) = mean_and_precision(parameters);
        let (alpha, beta) = (mean * precision, (1.0 - mean) * precision);
        let mut total = 0.0;
        let mut weight = 0.0;
        for ((sends, responses), count) in &self.groups {
            total += count * log_beta_ratio(alpha, beta, *sends, *responses);
            weight += count;
        }
        Ok(-total / weight)
    }
}

/// `ln B(alpha + r, beta + n - r) - ln B(alpha, beta)`: the Beta-Binomial
/// log-probability of `r` responses in `n` sends, less the binomial
/// coefficient (constant in the parameters).
fn log_beta_ratio(alpha: f64, beta: f64, sends: u32, responses: u32) -> f64 {
    let failures = sends - responses;
    if sends <= 512 {
        // Products of rising factorials: exact where differences of ln-gamma
        // at a large alpha + beta lose most of their digits.
        let rising =
            |start: f64, steps: u32| (0..steps).map(|i| (start + f64::from(i)).ln()).sum::<f64>();
        return rising(alpha, responses) + rising(beta, failures) - rising(alpha + beta, sends);
    }
    let log_beta = |a: f64, b: f64| libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b);
    log_beta(alpha + f64::from(responses), beta + f64::from(failures)) - log_beta(alpha, beta)
}

fn not_converged(iterations: u64, reason: String) -> Error {
    Error::NotConverged {
        model: "channel prior",
        iterations,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(max_contacts: u32, zero_sends_eligible: bool) -> ChannelModel {
        let prior = ChannelPrior {
            alpha: 2.0,
            beta: 18.0,
        };
        let config = ChannelConfig {
            max_contacts,
            window_days: 7,
            zero_sends_eligible,
            min_sends: 1,
            min_channels: 1,
        };
        ChannelModel::new(vec![prior; 3], config).expect("valid priors")
    }

    #[test]
    fn shrinks_a_small_sample_more_than_a_large_one() {
        let prior = ChannelPrior {
            alpha: 2.0,
            beta: 18.0,
        };
        // Share of the gap between raw rate (1.0) and prior mean (0.1) closed.
        let shrinkage = |counts| (1.0 - prior.posterior_mean(counts)) / (1.0 - prior.mean());
        let one_of_one = shrinkage((1, 1));
        let hundred_of_hundred = shrinkage((100, 100));
        assert!((prior.posterior_mean((1, 1)) - 3.0 / 21.0).abs() < 1e-12);
        assert!((one_of_one - 0.9524).abs() < 1e-3, "{one_of_one}");
        assert!(
            (hundred_of_hundred - 0.1667).abs() < 1e-3,
            "{hundred_of_hundred}"
        );
    }

    #[test]
    fn picks_the_best_eligible_channel() {
        let choice = model(3, true)
            .choose(&[(10, 1), (10, 4), (0, 0)], 0)
            .expect("valid user");
        assert_eq!(choice.best, Some(1));
        assert!(!choice.capped);
        assert_eq!(choice.scores[2], 0.1, "no sends: the prior mean");

        // A never-tried channel at the prior mean beats a known poor one...
        let tried_poorly = [(20, 0), (0, 0), (0, 0)];
        assert_eq!(
            model(3, true).choose(&tried_poorly, 0).expect("valid").best,
            Some(1)
        );
        // ...unless untried channels are not eligible.
        assert_eq!(
            model(3, false)
                .choose(&tried_poorly, 0)
                .expect("valid")
                .best,
            Some(0)
        );

        let unreachable = model(3, true)
            .choose_reachable(&[(10, 0), (10, 4), (0, 0)], &[true, false, true], 0)
            .expect("valid user");
        assert_eq!(unreachable.best, Some(2), "prior 0.1 beats 2/30");

        let ties = model(3, true).choose(&[(0, 0); 3], 0).expect("valid user");
        assert_eq!(ties.best, Some(0), "ties go to the lower index");
    }

    #[test]
    fn frequency_cap_withholds_every_channel() {
        let counts = [(10, 1), (10, 4), (0, 0)];
        assert_eq!(
            model(3, true).choose(&counts, 2).expect("valid").best,
            Some(1)
        );
        let capped = model(3, true).choose(&counts, 3).expect("valid");
        assert_eq!(capped.best, None);
        assert!(capped.capped);
        assert_eq!(capped.scores.len(), 3, "scores still reported");
    }

    #[test]
    fn refuses_impossible_counts() {
        let error = model(3, true)
            .choose(&[(1, 2), (0, 0), (0, 0)], 0)
            .expect_err("more responses than sends");
        assert_eq!(error.to_string(), "counts[0]: 2 responses to 1 sends");
        assert!(model(3, true).choose(&[(0, 0)], 0).is_err());
        assert!(ChannelPrior::fit(&[(0, 0)]).is_err());
    }

    #[test]
    fn ranks_every_channel_or_falls_back_to_the_population_order() {
        let priors = vec![
            ChannelPrior {
                alpha: 1.0,
                beta: 99.0,
            },
            ChannelPrior {
                alpha: 5.0,
                beta: 95.0,
            },
            ChannelPrior {
                alpha: 3.0,
                beta: 97.0,
            },
        ];
        let model = ChannelModel::new(priors, ChannelConfig::default()).expect("valid");
        // Three sends or more on two channels: ranked by the user's own rates.
        let known = model
            .choose(&[(30, 30), (30, 0), (0, 0)], 0)
            .expect("valid user");
        assert!(known.enough_data);
        assert_eq!(known.order, vec![0, 1, 2]);
        assert_eq!(known.best, Some(0));
        // Three sends on one channel only: the population's order, flagged.
        let thin = model
            .choose(&[(30, 30), (2, 0), (0, 0)], 0)
            .expect("valid user");
        assert!(!thin.enough_data);
        assert_eq!(thin.order, vec![1, 2, 0]);
        assert_eq!(thin.best, Some(1));
        assert!(
            thin.scores[0] > thin.scores[1],
            "scores stay the user's own"
        );
        // The cap still withholds every channel, ranked or not.
        let capped = model
            .choose(&[(30, 30), (30, 0), (0, 0)], 3)
            .expect("valid");
        assert_eq!(capped.best, None);
        assert_eq!(capped.order, vec![0, 1, 2]);
    }

    #[test]
    fn a_channel_nobody_answers_gets_a_tiny_rate() {
        let prior = ChannelPrior::fit(&[(5, 0), (3, 0), (9, 0)]).expect("boundary fit");
        assert!(prior.mean() < 1e-3, "{prior:?}");
    }
}
