//! The retail offer experiment against its known truth: what the log shows per arm
//! matches the per-user truth, the truth differs by benefit and user, and choosing per
//! user is worth much more than any one benefit for everyone.
//!
//! Cells are taken by latent traits (state, purchase rate, price sensitivity, basket
//! size), which strata never sees: the point is that the truth is right where it is
//! heterogeneous, not that the cells are learnable.

use std::collections::BTreeMap;

use strata_core::event::kinds;

use super::tests::{END, config, retail};
use super::*;

/// Running sums of one arm's realised profits.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    count: f64,
    nonzero: f64,
    sum: f64,
    squares: f64,
}

impl Moments {
    fn add(&mut self, value: f64) {
        self.count += 1.0;
        self.nonzero += f64::from(u8::from(value != 0.0));
        self.sum += value;
        self.squares += value * value;
    }

    fn mean(&self) -> f64 {
        self.sum / self.count
    }

    /// Squared standard error of the mean.
    fn variance_of_mean(&self) -> f64 {
        let mean = self.mean();
        (self.squares / self.count - mean * mean).max(0.0) / self.count
    }
}

/// One (trait bucket, benefit) cell.
#[derive(Debug, Default)]
struct Cell {
    treated: Moments,
    control: Moments,
    /// The as-of truth of every issue in the cell, both arms.
    truth: Moments,
}

/// A latent-trait bucket of a user in `state`.
fn bucket(truth: &RetailTruth, state: OfferState) -> &'static str {
    let hunter = truth.price_sensitivity >= 0.5;
    match state {
        OfferState::Lapsed => "lapsed",
        OfferState::Prospect | OfferState::Cold if hunter => "never bought, deal hunter",
        OfferState::Prospect | OfferState::Cold => "never bought",
        OfferState::Active if truth.purchase_rate < 0.2 && hunter => "occasional deal hunter",
        OfferState::Active if truth.purchase_rate < 0.2 => "occasional",
        OfferState::Active if truth.mean_spend < 30.0 => "frequent, small baskets",
        OfferState::Active => "frequent, big baskets",
    }
}

/// The experiment's cells: realised 14-day profit (margin on every order minus every
/// redemption's cost, as strata would count it from the log) by arm and the issues' true
/// value, for issues whose horizon ends inside the window. Where the state at the issue
/// is the state at the end, the truth must be the as-of `offer_value` exactly.
fn cells(config: &GenConfig, same_state: &mut u64) -> BTreeMap<(&'static str, &'static str), Cell> {
    let clock = clock_for(config);
    let horizon = (OFFER_HORIZON_WEEKS * 7.0) as i64 * clock::DAY_MILLIS;
    let mut cells: BTreeMap<(&'static str, &'static str), Cell> = BTreeMap::new();
    let mut events = Vec::new();
    for index in 0..config.users {
        events.clear();
        let truth = simulate(config, &clock, index, &mut events);
        let retail = retail(&truth);
        for offer in &retail.offers {
            if offer.state == retail.offer_state {
                // Same traits, same state: the truth is the as-of truth, exactly.
                let as_of = truth.offer_value[offer.benefit_id];
                assert_eq!(offer.value, as_of, "{index} {}", offer.benefit_id);
                *same_state += 1;
            }
            if offer.at + horizon > END {
                continue;
            }
            let mut profit = 0.0;
            for event in &events {
                if event.at < offer.at || event.at >= offer.at + horizon {
                    continue;
                }
                let amount = event.amount.unwrap_or(0.0);
                if event.kind == kinds::PURCHASE {
                    profit += MARGIN_RATE * amount;
                } else if event.kind == kinds::OFFER_REDEEMED {
                    assert_eq!(event.benefit_id.as_deref(), Some(offer.benefit_id));
                    assert!(!offer.control, "a control issue was redeemed");
                    profit -= amount;
                }
            }
            let cell = cells
                .entry((bucket(retail, offer.state), offer.benefit_id))
                .or_default();
            if offer.control {
                cell.control.add(profit);
            } else {
                cell.treated.add(profit);
            }
            cell.truth.add(offer.value);
        }
    }
    cells
}

/// Per trait bucket and benefit, treated minus control mean realised profit sits within
/// four standard errors of the issues' mean true value (which is the as-of `offer_value`
/// exactly wherever the state at the issue is the state at the end, checked issue by
/// issue); many cells resolve their sign, both ways, so the test has power and the
/// benefits really differ; and where the truth clearly ranks a bucket's best benefit,
/// the log ranks it first too.
#[test]
fn realised_profit_by_arm_matches_the_offer_value_truth() {
    // Balanced arms and frequent issues, for power; issues stay a horizon apart.
    let config = GenConfig {
        control_share: 0.5,
        retail: RetailParameters {
            offers_per_week: 2.0,
            ..TRUE_PARAMETERS
        },
        ..config(150_000, 365, 4242, Preset::Retail)
    };
    let mut same_state = 0;
    let cells = cells(&config, &mut same_state);
    assert!(
        same_state > 100_000,
        "{same_state} issues in the as-of state"
    );
    let mut resolved_positive = Vec::new();
    let mut resolved_negative = Vec::new();
    let mut failures = Vec::new();
    for ((bucket, benefit), cell) in &cells {
        let measured = cell.treated.mean() - cell.control.mean();
        let expected = cell.truth.mean();
        let error = (cell.treated.variance_of_mean()
            + cell.control.variance_of_mean()
            + cell.truth.variance_of_mean())
        .sqrt();
        eprintln!(
            "{bucket:>26} {benefit:>13}: measured {measured:+.4} true {expected:+.4} \
             se {error:.4} ({} treated, {} control, nonzero {} {})",
            cell.treated.count, cell.control.count, cell.treated.nonzero, cell.control.nonzero
        );
        // Not `>=`: lapsed buyers buy in neither arm, so their error is exactly zero.
        if (measured - expected).abs() > 4.0 * error {
            failures.push(format!(
                "{bucket} {benefit}: measured {measured}, true {expected}, standard error {error}"
            ));
        }
        // Power: the measurement alone settles the sign.
        let measurement_error =
            (cell.treated.variance_of_mean() + cell.control.variance_of_mean()).sqrt();
        if expected.abs() > 4.0 * measurement_error {
            assert_eq!(measured > 0.0, expected > 0.0, "{bucket} {benefit}");
            if expected > 0.0 {
                resolved_positive.push((*bucket, *benefit));
            } else {
                resolved_negative.push((*bucket, *benefit));
            }
        }
        if *bucket == "lapsed" {
            assert_eq!((measured, expected), (0.0, 0.0), "{benefit}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(cells.len(), 7 * BENEFITS.len());
    eprintln!("resolved positive {resolved_positive:?}\nresolved negative {resolved_negative:?}");
    assert!(
        resolved_positive.len() >= 8 && resolved_negative.len() >= 4,
        "resolved positive {resolved_positive:?}, negative {resolved_negative:?}"
    );
    // Every benefit but the big coupon earns somewhere, and the big coupon loses even on
    // frequent buyers.
    for benefit in ["coupon-5", "discount-15", "free-shipping", "points-200"] {
        assert!(
            resolved_positive.iter().any(|(_, id)| *id == benefit),
            "{benefit}: {resolved_positive:?}"
        );
    }
    assert!(
        resolved_negative.contains(&("frequent, small baskets", "coupon-10")),
        "{resolved_negative:?}"
    );
    // Where the truth's best benefit of a bucket leads its runner-up by more than four
    // standard errors of their measured difference, the log ranks it first too.
    let mut ranked = 0;
    let buckets: std::collections::BTreeSet<&str> =
        cells.keys().map(|(bucket, _)| *bucket).collect();
    for bucket in buckets {
        let mut row: Vec<(&str, &Cell)> = cells
            .iter()
            .filter(|((name, _), _)| *name == bucket)
            .map(|((_, benefit), cell)| (*benefit, cell))
            .collect();
        row.sort_by(|left, right| right.1.truth.mean().total_cmp(&left.1.truth.mean()));
        let measured = |cell: &Cell| cell.treated.mean() - cell.control.mean();
        let variance =
            |cell: &Cell| cell.treated.variance_of_mean() + cell.control.variance_of_mean();
        let (best, runner_up) = (row[0].1, row[1].1);
        let gap = best.truth.mean() - runner_up.truth.mean();
        if gap > 4.0 * (variance(best) + variance(runner_up)).sqrt() {
            let top = row
                .iter()
                .max_by(|left, right| measured(left.1).total_cmp(&measured(right.1)))
                .expect("a row");
            assert_eq!(top.0, row[0].0, "{bucket}");
            ranked += 1;
        }
    }
    assert!(ranked >= 2, "only {ranked} buckets rank their best benefit");
}

/// The population's truth, one row per user: state, traits and the values in catalogue
/// order.
struct Population {
    users: Vec<(RetailTruth, [f64; BENEFITS.len()], Option<&'static str>)>,
}

impl Population {
    fn new(users: u64, seed: u64) -> Population {
        let config = config(users, 365, seed, Preset::Retail);
        let users = (0..users)
            .map(|index| {
                let truth = truth(&config, index);
                let values = BENEFITS.map(|benefit| truth.offer_value[benefit.id]);
                let best = truth.best_offer;
                (retail(&truth).clone(), values, best)
            })
            .collect();
        Population { users }
    }

    /// Share of the users matching `filter` whose best is `best`.
    fn best_share(&self, best: Option<&str>, filter: impl Fn(&RetailTruth) -> bool) -> f64 {
        let (mut matching, mut hits) = (0.0, 0.0);
        for (truth, _, user_best) in &self.users {
            if filter(truth) {
                matching += 1.0;
                hits += f64::from(u8::from(*user_best == best));
            }
        }
        assert!(matching >= 100.0, "only {matching} users match");
        hits / matching
    }
}

/// `best_offer` is the argmax of `offer_value` when positive; every benefit is the best
/// for a real share of users, each for the users its story says, and some users are best
/// left alone, including active buyers.
#[test]
fn each_benefit_is_best_for_its_own_users_and_some_for_none() {
    let population = Population::new(50_000, 77);
    let users = population.users.len() as f64;
    let mut best_counts: BTreeMap<Option<&str>, f64> = BTreeMap::new();
    for (_, values, best) in &population.users {
        let (index, top) =
            values
                .iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (index, value)| {
                    if *value > best.1 {
                        (index, *value)
                    } else {
                        best
                    }
                });
        let expected = (top > 0.0).then_some(BENEFITS[index].id);
        assert_eq!(*best, expected, "{values:?}");
        *best_counts.entry(*best).or_default() += 1.0;
    }
    for benefit in &BENEFITS {
        // coupon-10 is rarely right, but it is right for some.
        let floor = if benefit.id == "coupon-10" {
            0.01
        } else {
            0.05
        };
        let share = best_counts.get(&Some(benefit.id)).copied().unwrap_or(0.0) / users;
        assert!(share >= floor, "{} is best for {share}", benefit.id);
    }
    assert!(best_counts[&None] / users >= 0.05, "{best_counts:?}");

    let active = |truth: &RetailTruth| truth.offer_state == OfferState::Active;
    let frequent = |truth: &RetailTruth| active(truth) && truth.purchase_rate >= 0.2;
    // Price-sensitive small spenders: a percentage off.
    let share = population.best_share(Some("discount-15"), |truth| {
        truth.price_sensitivity >= 0.6 && truth.mean_spend < 25.0
    });
    assert!(
        share > 0.7,
        "discount-15 for deal hunters with small orders: {share}"
    );
    // Price-sensitive big spenders who rarely buy: a fixed coupon.
    let share = population.best_share(Some("coupon-5"), |truth| {
        truth.price_sensitivity >= 0.6 && truth.mean_spend > 45.0 && truth.purchase_rate < 0.1
    });
    assert!(
        share > 0.65,
        "coupon-5 for deal hunters with big orders: {share}"
    );
    // Frequent small-basket buyers: free shipping.
    let share = population.best_share(Some("free-shipping"), |truth| {
        frequent(truth) && truth.mean_spend < 30.0
    });
    assert!(
        share > 0.65,
        "free-shipping for frequent small baskets: {share}"
    );
    // Frequent loyal big-basket buyers: points.
    let share = population.best_share(Some("points-200"), |truth| {
        frequent(truth)
            && truth.mean_spend > 35.0
            && truth.satisfaction * (1.0 - truth.dropout_probability) > 0.5
    });
    assert!(share > 0.6, "points-200 for frequent loyal buyers: {share}");
    // Dropped-out buyers: nothing; and some active buyers are best left alone too.
    let share = population.best_share(None, |truth| truth.offer_state == OfferState::Lapsed);
    assert_eq!(share, 1.0);
    let share = population.best_share(None, active);
    assert!(share > 0.03, "active buyers best left alone: {share}");
}

/// The bigger coupon loses money on average and for most users; the per-user oracle is
/// worth far more than the best single benefit for everyone (personalisation matters).
#[test]
fn the_oracle_is_worth_much_more_than_any_single_benefit() {
    let population = Population::new(30_000, 78);
    let users = population.users.len() as f64;
    let oracle = population
        .users
        .iter()
        .map(|(_, values, _)| values.iter().copied().fold(0.0, f64::max))
        .sum::<f64>()
        / users;
    let means: Vec<f64> = (0..BENEFITS.len())
        .map(|index| {
            population
                .users
                .iter()
                .map(|(_, values, _)| values[index])
                .sum::<f64>()
                / users
        })
        .collect();
    let best_single = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    eprintln!("oracle {oracle:.4} per user, single benefits {means:?}");
    assert!(oracle > 0.05, "{oracle}");
    assert!(best_single > 0.0, "{means:?}");
    assert!(
        best_single < 0.5 * oracle,
        "best single {best_single} against oracle {oracle}"
    );
    let coupon_10 = BENEFITS
        .iter()
        .position(|benefit| benefit.id == "coupon-10")
        .expect("coupon-10 in the catalogue");
    assert!(means[coupon_10] < 0.0, "{means:?}");
    let winning = population
        .users
        .iter()
        .filter(|(_, values, _)| values[coupon_10] > 0.0)
        .count() as f64;
    assert!(winning / users < 0.4, "coupon-10 earns for {winning} users");
}

/// Price sensitivity drives the effects but is never written: strata sees it only
/// through behaviour that correlates with it (smaller orders, more abandoned carts).
#[test]
fn price_sensitivity_shows_only_through_behaviour() {
    let config = config(20_000, 365, 79, Preset::Retail);
    let clock = clock_for(&config);
    let mut events = Vec::new();
    let (mut sensitivity, mut order_value, mut cart_share) = (Vec::new(), Vec::new(), Vec::new());
    for index in 0..config.users {
        events.clear();
        let truth = simulate(&config, &clock, index, &mut events);
        let retail = retail(&truth);
        let count = |kind: &str| events.iter().filter(|event| event.kind == kind).count() as f64;
        let amounts: Vec<f64> = events
            .iter()
            .filter(|event| event.kind == kinds::PURCHASE)
            .filter_map(|event| event.amount)
            .collect();
        let (browses, carts) = (count(kinds::BROWSE), count(kinds::ADD_TO_CART));
        if amounts.is_empty() || browses < 20.0 {
            continue;
        }
        sensitivity.push(retail.price_sensitivity);
        order_value.push(amounts.iter().sum::<f64>() / amounts.len() as f64);
        cart_share.push((carts - count(kinds::PURCHASE)).max(0.0) / browses);
    }
    assert!(sensitivity.len() > 2_000, "{}", sensitivity.len());
    let order_value = correlation(&sensitivity, &order_value);
    let cart_share = correlation(&sensitivity, &cart_share);
    assert!(
        order_value < -0.3,
        "with average order value: {order_value}"
    );
    assert!(cart_share > 0.15, "with carts per browse: {cart_share}");
}

fn correlation(left: &[f64], right: &[f64]) -> f64 {
    let count = left.len() as f64;
    let (left_mean, right_mean) = (
        left.iter().sum::<f64>() / count,
        right.iter().sum::<f64>() / count,
    );
    let (mut product, mut left_squares, mut right_squares) = (0.0, 0.0, 0.0);
    for (l, r) in left.iter().zip(right) {
        product += (l - left_mean) * (r - right_mean);
        left_squares += (l - left_mean) * (l - left_mean);
        right_squares += (r - right_mean) * (r - right_mean);
    }
    product / (left_squares * right_squares).sqrt()
}
