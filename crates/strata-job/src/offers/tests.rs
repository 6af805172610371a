//! The offer policy in the job: issue-time features see nothing after the
//! issue day, outcomes and logging probabilities come from the log, and
//! (ignored, a measurement to run by hand) every candidate policy's true
//! value on generated populations.

use strata_core::event::kinds;
use strata_core::{
    Event, LifecycleModel, LoyaltySatisfaction, QuadrantScorer, RfmInput, UserHistory, ValueScorer,
};
use strata_events::generate::{self, GenConfig, Preset};
use strata_models::offer_policy::{PolicyConfig, PolicyKind, Ridge, fit_policy, select_policy};

use super::*;
use crate::config::ModelsConfig;

const DAY: i64 = MILLIS_PER_DAY;
const AS_OF: i64 = 1_000 * DAY;

fn event(kind: &str, day: f64, amount: Option<f64>, benefit: Option<&str>) -> Event {
    let mut event = Event::new("u", (day * DAY as f64) as i64, kind);
    event.amount = amount;
    event.benefit_id = benefit.map(str::to_owned);
    event
}

fn history(model: &LifecycleModel, events: &[Event]) -> UserHistory {
    let mut history = UserHistory::new(model);
    for event in events {
        history.observe(model, event);
    }
    history
}

fn learning<'a>(config: &'a ModelsConfig, model: &'a LifecycleModel) -> Learning<'a> {
    Learning {
        config,
        as_of: AS_OF,
        space: Space::new(config, model, None, AS_OF, &[]),
    }
}

/// Issue at day 900.5; purchases before, on and after the issue day.
fn issue_log() -> Vec<Event> {
    vec![
        event(kinds::BROWSE, 800.0, None, None),
        event(kinds::PURCHASE, 850.2, Some(40.0), None),
        event(kinds::PURCHASE, 880.7, Some(20.0), None),
        event(kinds::OFFER_ISSUED, 900.5, None, Some("coupon-5")),
        // The issue day and the window: the offer's doing, maybe.
        event(kinds::PURCHASE, 900.9, Some(30.0), None),
        event(kinds::OFFER_REDEEMED, 900.9, Some(5.0), Some("coupon-5")),
        event(kinds::PURCHASE, 910.0, Some(50.0), None),
        // After the window.
        event(kinds::PURCHASE, 930.0, Some(70.0), None),
    ]
}

#[test]
fn kept_expectations_are_the_direct_calls_bits_across_parameters() {
    let first = BgNbdParameters {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    let second = BgNbdParameters { a: 1.2, ..first };
    let customers: Vec<CustomerSummary> = [(0, 0.0, 30.0), (3, 12.5, 40.0), (26, 30.86, 31.0)]
        .into_iter()
        .map(|(x, t_x, age)| CustomerSummary::new(x, t_x, age, 0.0).unwrap())
        .collect();
    // Twice each, the parameters and horizons alternating: what one thread
    // keeps for one model is never read for another.
    for _ in 0..2 {
        for (parameters, horizon) in [(&first, 2.0), (&second, 2.0), (&first, 4.0)] {
            for customer in &customers {
                let direct = parameters.expected_purchases(horizon, customer).unwrap();
                let kept = expected_purchases(parameters, horizon, customer).unwrap();
                assert_eq!(kept.to_bits(), direct.to_bits());
            }
        }
    }
}

#[test]
fn strata_are_cut_once_per_pool_and_a_thin_stratum_borrows_everyones_model() {
    // Every other row a buyer, with an expected margin that grows with the
    // row; four cells of about 1,000 rows each.
    let rows: Vec<Vec<f64>> = (0..4_000)
        .map(|index| {
            let mut row = vec![0.0; EXPECTED_MARGIN + 1];
            row[BOUGHT] = f64::from(u8::from(index % 2 == 1));
            row[EXPECTED_MARGIN] = f64::from(index) * row[BOUGHT];
            row
        })
        .collect();
    let outcome: Vec<f64> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| 0.01 * row[EXPECTED_MARGIN] + f64::from(index as u32 % 7))
        .collect();
    let slices: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    let data = PoolData {
        rows: slices.clone(),
        outcome,
        groups: (0..4_000).collect(),
        cell: (0..4_000).map(|index| (index / 7) % 4).collect(),
        cells: 4,
    };
    let learner = Stratified {
        inner: Ridge::default(),
    };
    let pool = learner.pool(data).unwrap();
    let (cuts, _) = strata_of(&slices);
    let all = pool.fit(&[0, 1, 2, 3]).unwrap();
    let one = pool.fit(&[0]).unwrap();
    // The same strata for every union of cells: those of every row.
    assert_eq!(all.cuts, cuts);
    assert_eq!(one.cuts, cuts);
    assert_eq!(all.models.len(), cuts.len() + 2);
    // On every row each stratum fits alone; on one cell (about 250 rows per
    // buyer stratum) the buyer strata are too thin and share one model.
    assert_ne!(all.models[1], all.models[2]);
    assert_eq!(one.models[1], one.models[2]);
    let err = learner
        .pool(PoolData {
            rows: slices.clone(),
            outcome: vec![0.0; 4_000],
            groups: vec![0; 4_000],
            cell: vec![4; 4_000],
            cells: 4,
        })
        .err()
        .expect("a cell past the count is refused");
    assert!(err.to_string().contains("cell[0]"), "{err}");
}

#[test]
fn issue_features_see_nothing_from_the_issue_day_on() {
    let model = LifecycleModel::preset("retail").unwrap();
    let config = ModelsConfig::default();
    let learning = learning(&config, &model);
    let full = history(&model, &issue_log());
    let cut = history(&model, &issue_log()[..4]);
    let logged = full.engagement().offers();
    let describe = |history: &UserHistory| {
        let mut known = Known::new(&model, history);
        known.advance(&model, day_of(logged[0].at));
        learning.space.describe(history, &known, logged[0].at, 0)
    };
    let (features, cell) = describe(&full);
    assert_eq!((features.clone(), cell), describe(&cut));
    // Two purchase days before, the last 20 days before the issue day;
    // the layer then was growth (index 2), not the later mature/declining.
    assert_eq!(features[0], 1.0);
    assert_eq!(features[1], 2f64.ln_1p());
    assert_eq!(features[2], 20f64.ln_1p());
    assert_eq!(features[3], 30f64.ln_1p());
    let layers = &features[BASE_FEATURES..];
    assert_eq!(layers, [0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(features.len(), learning.space.width());

    // The outcome: margin on the window's orders (days 900 to 914) minus the
    // logged cost of the redemption.
    let outcome = learning.outcome(&full, &logged[0], 0);
    assert!((outcome - (0.3 * 80.0 - 5.0)).abs() < 1e-9, "{outcome}");
}

#[test]
fn held_back_issues_cost_nothing_and_a_missing_cost_comes_from_the_catalogue() {
    let model = LifecycleModel::preset("retail").unwrap();
    let config = ModelsConfig::default();
    let learning = learning(&config, &model);
    let held_back = history(
        &model,
        &[
            event(kinds::OFFER_CONTROL, 900.5, None, Some("coupon-5")),
            event(kinds::PURCHASE, 901.0, Some(30.0), None),
        ],
    );
    let issue = &held_back.engagement().offers()[0];
    assert!((learning.outcome(&held_back, issue, 0) - 9.0).abs() < 1e-9);
    // discount-15 redeemed without a logged cost: 15% of that day's order.
    let no_cost = history(
        &model,
        &[
            event(kinds::OFFER_ISSUED, 900.5, None, Some("discount-15")),
            event(kinds::PURCHASE, 901.0, Some(40.0), None),
            event(kinds::OFFER_REDEEMED, 901.0, None, Some("discount-15")),
        ],
    );
    let issue = &no_cost.engagement().offers()[0];
    let outcome = learning.outcome(&no_cost, issue, 2);
    assert!((outcome - (12.0 - 6.0)).abs() < 1e-9, "{outcome}");
}

#[test]
fn logging_probabilities_come_from_the_logged_mix_or_the_configured_share() {
    let issue = |arm: Option<usize>| OfferIssue {
        unit: 0,
        features: vec![],
        cell: 0,
        arm,
        propensity: 1.0,
        outcome: 0.0,
    };
    let mut logged = Logged {
        issues: vec![issue(None), issue(Some(0)), issue(Some(1))],
        // 20 held back, 60 and 20 treated.
        per_arm: vec![20, 60, 20, 0, 0, 0],
    };
    let mut config = ModelsConfig::default();
    assert_eq!(set_propensities(&config, &mut logged), (0.2, true));
    let probabilities: Vec<f64> = logged.issues.iter().map(|issue| issue.propensity).collect();
    assert_eq!(probabilities, [0.2, 0.6, 0.2]);
    config.offers.control_share = Some(0.5);
    assert_eq!(set_propensities(&config, &mut logged), (0.5, false));
    let probabilities: Vec<f64> = logged.issues.iter().map(|issue| issue.propensity).collect();
    assert_eq!(probabilities, [0.5, 0.375, 0.125]);
}

/// A generated retail population: histories in user id order, each user's
/// true value per catalogue benefit, and their as-of segments.
struct World {
    ids: Vec<String>,
    histories: Vec<UserHistory>,
    truths: Vec<Vec<f64>>,
    segments: Vec<UserSegment>,
}

fn world(users: u64, seed: u64, model: &LifecycleModel, config: &ModelsConfig) -> World {
    let generator = GenConfig::new(users, 365, seed, Preset::Retail);
    let mut histories: Vec<UserHistory> = (0..users).map(|_| UserHistory::new(model)).collect();
    generate::generate(&generator, |event| {
        let index: usize = event.user_id[1..].parse().unwrap();
        histories[index].observe(model, event);
    });
    let truths = (0..users)
        .map(|index| {
            let truth = generate::truth(&generator, index);
            config
                .benefits
                .iter()
                .map(|spec| truth.offer_value[spec.benefit_id.as_str()])
                .collect()
        })
        .collect();
    let as_of = generator.end;
    let value = ValueScorer::fit(
        config.value,
        histories
            .iter()
            .filter_map(|history| RfmInput::from_history(history, as_of)),
    )
    .unwrap();
    let quadrant = QuadrantScorer::fit(
        config.quadrant,
        histories
            .iter()
            .map(|history| LoyaltySatisfaction::from_history(history, as_of)),
    )
    .unwrap();
    let segments = histories
        .iter()
        .map(|history| UserSegment {
            layer_index: model.assign(history, as_of).layer_index,
            tier: RfmInput::from_history(history, as_of).map(|input| value.score(&input).tier),
            quadrant: quadrant.classify(&LoyaltySatisfaction::from_history(history, as_of)),
        })
        .collect();
    World {
        ids: (0..users).map(generate::user_id).collect(),
        histories,
        truths,
        segments,
    }
}

/// Every candidate's true value per user on generated populations, next to
/// its off-policy estimate, the oracle's and the served lists' (after
/// fairness). A measurement, not a check (the table in the module
/// documentation comes from it):
/// `STRATA_DEV_USERS=30000 cargo test --release -p strata-job
/// candidates_in_truth -- --ignored --nocapture`; `STRATA_DEV_SEEDS=1,2,3`,
/// and `STRATA_DEV_KNOTS`, `STRATA_DEV_PRODUCTS=1`, `STRATA_DEV_ONE_SURFACE=1`,
/// `STRATA_DEV_T=1` vary the learner the candidates are fitted with.
#[test]
#[ignore]
fn candidates_in_truth() {
    let env = |name: &str| std::env::var(name).ok();
    let users: u64 = env("STRATA_DEV_USERS")
        .and_then(|users| users.parse().ok())
        .unwrap_or(30_000);
    let seeds: Vec<u64> = env("STRATA_DEV_SEEDS").map_or(vec![1, 2, 3], |seeds| {
        seeds.split(',').map(|seed| seed.parse().unwrap()).collect()
    });
    let ridge = Ridge {
        config: RidgeConfig {
            knots: env("STRATA_DEV_KNOTS").map_or(3, |knots| knots.parse().unwrap()),
            interactions: env("STRATA_DEV_PRODUCTS").is_some(),
            ..RidgeConfig::default()
        },
        threads: 1,
    };
    let policy_config = PolicyConfig {
        meta_learner: if env("STRATA_DEV_T").is_some() {
            strata_models::offer_policy::MetaLearner::T
        } else {
            strata_models::offer_policy::MetaLearner::Dr
        },
        shrink_cells: env("STRATA_DEV_NO_SHRINK").is_none(),
        ..PolicyConfig::default()
    };
    if env("STRATA_DEV_ONE_SURFACE").is_some() {
        measure(users, &seeds, &ridge, &policy_config);
    } else {
        measure(users, &seeds, &Stratified { inner: ridge }, &policy_config);
    }
}

fn measure<L>(users: u64, seeds: &[u64], learner: &L, policy_config: &PolicyConfig)
where
    L: BaseLearner + Sync,
    L::Model: Send + Sync,
{
    let model = LifecycleModel::preset("retail").unwrap();
    let config = ModelsConfig::default();
    let as_of = generate::DEFAULT_END;
    for &seed in seeds {
        let world = world(users, seed, &model, &config);
        let pairs: Vec<(&str, &UserHistory)> = world
            .ids
            .iter()
            .map(String::as_str)
            .zip(&world.histories)
            .collect();
        let today = day_of(as_of);
        let summaries: Vec<strata_models::CustomerSummary> = world
            .histories
            .iter()
            .filter_map(|history| {
                let days: Vec<PurchaseDay> = history
                    .purchase_days()
                    .iter()
                    .map(|day| PurchaseDay {
                        day: day.day,
                        amount: day.amount.max(0.0),
                    })
                    .collect();
                summarize_purchases(&days, today).ok()
            })
            .collect();
        let bg_nbd = strata_models::fit_bg_nbd(&summaries)
            .ok()
            .map(|fit| fit.parameters);
        let learning = Learning {
            config: &config,
            as_of,
            space: Space::new(&config, &model, bg_nbd, as_of, &pairs),
        };
        let mut logged = learning.collect(&pairs);
        set_propensities(&config, &mut logged);
        let benefits = config.benefits.len();
        let described: Vec<(Vec<f64>, u32)> = world
            .histories
            .iter()
            .map(|history| learning.at_as_of(history))
            .collect();
        let per_user = |total: f64| total / users as f64;
        let oracle = per_user(
            world
                .truths
                .iter()
                .map(|truth| truth.iter().copied().fold(0.0, f64::max))
                .sum(),
        );
        let selection = select_policy(&logged.issues, benefits, learner, policy_config).unwrap();
        println!(
            "seed {seed}: {} issues, oracle {oracle:.4} EUR per user",
            logged.issues.len()
        );
        for kind in PolicyKind::ALL {
            let policy =
                fit_policy(kind, &logged.issues, benefits, learner, policy_config).unwrap();
            let value = per_user(
                described
                    .iter()
                    .zip(&world.truths)
                    .map(|((features, cell), truth)| {
                        policy.action(features, *cell).map_or(0.0, |b| truth[b])
                    })
                    .sum(),
            );
            if kind == PolicyKind::PerCell && std::env::var("STRATA_DEV_CELLS").is_ok() {
                let mut cells: std::collections::BTreeMap<
                    u32,
                    (usize, Option<usize>, Vec<f64>, f64),
                > = Default::default();
                for ((features, cell), truth) in described.iter().zip(&world.truths) {
                    let action = policy.action(features, *cell);
                    let entry = cells
                        .entry(*cell)
                        .or_insert((0, action, vec![0.0; benefits], 0.0));
                    entry.0 += 1;
                    for (b, v) in truth.iter().enumerate() {
                        entry.2[b] += v;
                    }
                    entry.3 += action.map_or(0.0, |b| truth[b]);
                }
                for (cell, (n, action, sums, got)) in cells {
                    let means: Vec<String> = sums
                        .iter()
                        .map(|v| format!("{:+.3}", v / n as f64))
                        .collect();
                    println!(
                        "      cell {cell:>2}: {n:>6} users, action {action:?}, got {:+.4}, truth per benefit {}, est {:?}",
                        got / n as f64,
                        means.join(" "),
                        policy
                            .estimates(&[0.0; 0], cell)
                            .iter()
                            .map(|e| e.map(|v| (v * 1000.0).round() / 1000.0))
                            .collect::<Vec<_>>()
                    );
                }
            }
            let estimate = selection.report.candidate(kind).value.dr;
            println!(
                "  {:<24} true {value:+.4} ({:>5.1}% of oracle); DR {:+.4} [{:+.4}, {:+.4}]",
                kind.name(),
                100.0 * value / oracle,
                estimate.mean,
                estimate.lower,
                estimate.upper
            );
        }
        for (policy, over) in [
            (PolicyKind::PerCell, PolicyKind::BestSingle),
            (PolicyKind::Learned, PolicyKind::PerCell),
        ] {
            let gain = selection.report.gain(policy, over);
            println!(
                "  {} over {} (paired DR) {:+.4} [{:+.4}, {:+.4}]",
                policy.name(),
                over.name(),
                gain.mean,
                gain.lower,
                gain.upper
            );
        }
        let mut report = ModelReport {
            bg_nbd: bg_nbd.map(|parameters| (parameters, 0.0)),
            ..ModelReport::default()
        };
        let started = std::time::Instant::now();
        let lists = decide(
            &config,
            &model,
            as_of,
            &pairs,
            &world.segments,
            1,
            &mut report,
        );
        let served = per_user(
            lists
                .iter()
                .zip(&world.truths)
                .map(|(list, truth)| {
                    list.first()
                        .map_or(0.0, |offer| truth[offer.benefit as usize])
                })
                .sum(),
        );
        println!(
            "  served by the job ({}) true {served:+.4} ({:.1}% of oracle); decided in {:.1}s",
            report
                .offer_policy
                .as_ref()
                .map_or("none", |check| check.served.as_str()),
            100.0 * served / oracle,
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn cell_names_made_once_are_the_names_made_anew() {
    for cell in std::iter::once(None).chain((0..40).map(Some)) {
        assert_eq!(cell_name(cell), format_cell_name(cell), "{cell:?}");
    }
    assert_eq!(cell_name(Some(u32::MAX)), format_cell_name(Some(u32::MAX)));
}
