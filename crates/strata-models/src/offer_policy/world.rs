//! A synthetic retail world with a known truth, for the tests: users with
//! latent buying rates and order values, four benefits whose incremental
//! profit depends on the user, profit with a heavy tail, and a random
//! assignment whose probabilities depend on the features.
//!
//! ## Latent user
//! Baseline orders over the horizon `N ~ Poisson(r0 + d_b)` with
//! `r0 ~ Gamma(0.8, 0.4)`; each order earns margin `0.3 M e`, `M` the user's
//! order value (`LogNormal(ln 40, 0.5)`), `e ~ LogNormal(-0.32, 0.8)` (mean 1,
//! the heavy tail). Seen by the model only through noisy proxies: past
//! orders `Poisson(6 r0)` (as `ln(1 + count)`) and `ln M + N(0, 0.15)`;
//! directly: recency-like `u`, engagement `g`, a new-user flag, and a
//! feature of pure noise.
//!
//! ## Benefits (heterogeneous world)
//! | b | extra orders `d_b` | cost |
//! |---|---|---|
//! | 0 coupon-5 | `0.04 + 0.08 g` | 3 if the user buys |
//! | 1 coupon-10 | `0.30 u + 0.15 new` | 8 if the user buys |
//! | 2 points | `0.5 max(0, r0 - 0.3)` | 1.5 per order |
//! | 3 shipping | `0.15` if `M < 35`, else `0.02` | 3 if the user buys |
//!
//! so `tau_b = 0.3 M d_b - cost_b`, with `cost = c (1 - exp(-(r0 + d_b)))`
//! ("if the user buys"), minus what the held-back arm would pay (nothing).
//! In the homogeneous world every `tau_b` is a constant: `d_b = k_b / (0.3 M)`
//! and the cost (2) is paid with probability 0.5, independent of the
//! purchase.

use super::OfferIssue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma, LogNormal, Normal, Poisson};

pub(crate) const BENEFITS: usize = 4;
const MARGIN: f64 = 0.3;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Effects {
    Heterogeneous,
    /// Constant effects per benefit (their values).
    Constant([f64; BENEFITS]),
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub features: Vec<f64>,
    pub cell: u32,
    rate: f64,
    order_value: f64,
    recency: f64,
    engagement: f64,
    new: bool,
    /// True incremental profit per benefit.
    pub truth: [f64; BENEFITS],
}

pub(crate) struct World {
    pub effects: Effects,
}

impl World {
    pub fn heterogeneous() -> World {
        World {
            effects: Effects::Heterogeneous,
        }
    }

    pub fn constant(effects: [f64; BENEFITS]) -> World {
        World {
            effects: Effects::Constant(effects),
        }
    }

    /// Extra orders from benefit `b`.
    fn extra_orders(&self, user: &User, benefit: usize) -> f64 {
        match self.effects {
            Effects::Heterogeneous => match benefit {
                0 => 0.04 + 0.08 * user.engagement,
                1 => 0.30 * user.recency + 0.15 * f64::from(u8::from(user.new)),
                2 => 0.5 * (user.rate - 0.3).max(0.0),
                _ => {
                    if user.order_value < 35.0 {
                        0.15
                    } else {
                        0.02
                    }
                }
            },
            // Chosen so 0.3 M d - cost = k exactly: the cost is 2 at
            // redemption 0.5, so d = (k + 1) / (0.3 M) (k >= -1).
            Effects::Constant(values) => (values[benefit] + 1.0) / (MARGIN * user.order_value),
        }
    }

    fn truth(&self, user: &User) -> [f64; BENEFITS] {
        let mut truth = [0.0; BENEFITS];
        for (benefit, value) in truth.iter_mut().enumerate() {
            let extra = self.extra_orders(user, benefit);
            let gain = MARGIN * user.order_value * extra;
            let orders = user.rate + extra;
            let buys = 1.0 - (-orders).exp();
            let cost = match (self.effects, benefit) {
                (Effects::Constant(_), _) => 1.0,
                (_, 0) | (_, 3) => 3.0 * buys,
                (_, 1) => 8.0 * buys,
                _ => 1.5 * orders,
            };
            *value = gain - cost;
        }
        truth
    }

    pub fn user(&self, rng: &mut StdRng) -> User {
        let rate = Gamma::new(0.8, 0.4).unwrap().sample(rng);
        let order_value = LogNormal::new(40.0_f64.ln(), 0.5).unwrap().sample(rng);
        let recency: f64 = rng.random_range(0.0..1.0);
        let engagement: f64 = rng.random_range(0.0..1.0);
        let new = rng.random_bool(0.3);
        let past: f64 = Poisson::new(6.0 * rate + 1e-9).unwrap().sample(rng);
        let value_seen = order_value.ln() + Normal::new(0.0, 0.15).unwrap().sample(rng);
        let noise: f64 = rng.random_range(0.0..1.0);
        let frequency_bin = match past as u64 {
            0 => 0,
            1..=2 => 1,
            _ => 2,
        };
        let recency_bin = (recency * 3.0).floor().min(2.0) as u32;
        let cell = frequency_bin * 6 + recency_bin * 2 + u32::from(new);
        let mut user = User {
            features: vec![
                recency,
                (1.0 + past).ln(),
                value_seen,
                engagement,
                f64::from(u8::from(new)),
                noise,
            ],
            cell,
            rate,
            order_value,
            recency,
            engagement,
            new,
            truth: [0.0; BENEFITS],
        };
        user.truth = self.truth(&user);
        user
    }

    /// The logging policy: held back with 0.3 for new users, 0.2 otherwise;
    /// the rest spread evenly over the benefits.
    fn propensity(user: &User, arm: Option<usize>) -> f64 {
        let control = if user.new { 0.3 } else { 0.2 };
        match arm {
            None => control,
            Some(_) => (1.0 - control) / BENEFITS as f64,
        }
    }

    /// Realised profit of one issue.
    fn outcome(&self, user: &User, arm: Option<usize>, rng: &mut StdRng) -> f64 {
        let extra = arm.map_or(0.0, |benefit| self.extra_orders(user, benefit));
        let orders = Poisson::new(user.rate + extra + 1e-12).unwrap().sample(rng) as u64;
        let spread = LogNormal::new(-0.32, 0.8).unwrap();
        let mut profit = 0.0;
        for _ in 0..orders {
            profit += MARGIN * user.order_value * spread.sample(rng);
        }
        if let Some(benefit) = arm {
            profit -= match (self.effects, benefit) {
                (Effects::Constant(_), _) => 2.0 * f64::from(u8::from(rng.random_bool(0.5))),
                (_, 0) | (_, 3) if orders > 0 => 3.0,
                (_, 1) if orders > 0 => 8.0,
                (_, 2) => 1.5 * orders as f64,
                _ => 0.0,
            };
        }
        profit
    }

    /// `count` users, one randomised issue each.
    pub fn issues(&self, count: usize, seed: u64) -> (Vec<OfferIssue>, Vec<User>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut issues = Vec::with_capacity(count);
        let mut users = Vec::with_capacity(count);
        for unit in 0..count as u64 {
            let user = self.user(&mut rng);
            let control = World::propensity(&user, None);
            let arm = if rng.random_bool(control) {
                None
            } else {
                Some(rng.random_range(0..BENEFITS))
            };
            issues.push(OfferIssue {
                unit,
                features: user.features.clone(),
                cell: user.cell,
                arm,
                propensity: World::propensity(&user, arm),
                outcome: self.outcome(&user, arm, &mut rng),
            });
            users.push(user);
        }
        (issues, users)
    }

    /// Users only (no outcomes), to measure true policy values.
    pub fn population(&self, count: usize, seed: u64) -> Vec<User> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..count).map(|_| self.user(&mut rng)).collect()
    }
}

/// The mean true incremental profit of sending `policy(user)`.
pub(crate) fn true_value(users: &[User], policy: impl Fn(&User) -> Option<usize>) -> f64 {
    users
        .iter()
        .map(|user| policy(user).map_or(0.0, |benefit| user.truth[benefit]))
        .sum::<f64>()
        / users.len() as f64
}

/// The oracle: each user's truly best benefit, or nothing.
pub(crate) fn oracle(user: &User) -> Option<usize> {
    let (benefit, value) = user
        .truth
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("benefits");
    (*value > 0.0).then_some(benefit)
}
