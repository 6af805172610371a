//! End-to-end checks of the offer policy on synthetic worlds with a known
//! truth ([`super::world`]): the learned policy earns more than the simple
//! ones when effects really differ, the selector serves the simple one when
//! they do not, the DR intervals cover the truth, and negative estimates
//! never lead.
//!
//! ## Measured (the ignored `measure_*` tests)
//! True value per user as a share of the oracle's, mean over 5 seeds:
//!
//! | | 20k issues | 50k issues |
//! |---|---:|---:|
//! | served (by the selection rule) | 54% | 70% |
//! | learned (DR on ridge), always | 68% | 74% |
//! | best benefit per cell | 51% | 58% |
//! | best single benefit | 24% | 24% |
//!
//! The learned policy was truly better than per cell in all 10 runs but was
//! served in 4: its paired gain (-0.14 to +0.48 per issue, standard error
//! 0.10 to 0.21) cleared the 95% lower bound only there. The gate trades
//! that value for never serving a model that has not shown it earns; with
//! 200k issues its interval is about half as wide. (Measured with the
//! DR-learner's arm models fitted on the evaluation's folds, once per pair
//! of folds; with a separate inner split the figures were the same but for
//! one 50k run, served per cell at 59% instead of learned at 73%.) The whole
//! selection took 3.5 s for 200k issues and 29 s for 1M on one core before
//! the arm models were shared, which takes about 40% of its time off. DR
//! intervals covered a fixed policy's true value in 95.0% of 200 replicates
//! (IPS 97.0%, a paired difference 95.5%).

use super::world::{BENEFITS, User, World, oracle, true_value};
use super::*;

fn ridge() -> Ridge {
    Ridge::default()
}

/// True values of the served, best-single and per-cell policies fitted on
/// `issues`, on a fresh population.
struct Truths {
    oracle: f64,
    served: f64,
    best_single: f64,
    per_cell: f64,
}

fn truths(
    world: &World,
    issues: &[OfferIssue],
    served: &ServedPolicy<RidgeModel>,
    config: &PolicyConfig,
    seed: u64,
) -> Truths {
    let population = world.population(30_000, seed);
    let value_of = |policy: &ServedPolicy<RidgeModel>| {
        true_value(&population, |user: &User| {
            policy.action(&user.features, user.cell)
        })
    };
    let fit = |kind| fit_policy(kind, issues, BENEFITS, &ridge(), config).unwrap();
    Truths {
        oracle: true_value(&population, oracle),
        served: value_of(served),
        best_single: value_of(&fit(PolicyKind::BestSingle)),
        per_cell: value_of(&fit(PolicyKind::PerCell)),
    }
}

fn print(report: &SelectionReport, truths: &Truths) {
    eprintln!("{}", report.reason);
    for candidate in &report.candidates {
        let value = candidate.value;
        eprintln!(
            "  {:>22}: DR {:+.3} [{:+.3}, {:+.3}]  IPS {:+.3} [{:+.3}, {:+.3}]  offered {:.2}",
            candidate.policy.name(),
            value.dr.mean,
            value.dr.lower,
            value.dr.upper,
            value.ips.mean,
            value.ips.lower,
            value.ips.upper,
            value.offered,
        );
    }
    eprintln!(
        "  truth: oracle {:+.3}, served {:+.3} ({:.0}%), best single {:+.3} ({:.0}%), per cell {:+.3} ({:.0}%)",
        truths.oracle,
        truths.served,
        100.0 * truths.served / truths.oracle,
        truths.best_single,
        100.0 * truths.best_single / truths.oracle,
        truths.per_cell,
        100.0 * truths.per_cell / truths.oracle,
    );
}

#[test]
fn learned_policy_beats_the_simple_ones_when_effects_differ() {
    let world = World::heterogeneous();
    let (issues, _) = world.issues(40_000, 11);
    let config = PolicyConfig::default();
    let selection = select_policy(&issues, BENEFITS, &ridge(), &config).unwrap();
    let truths = truths(&world, &issues, &selection.policy, &config, 12);
    print(&selection.report, &truths);
    assert_eq!(
        selection.report.chosen,
        PolicyKind::Learned,
        "{}",
        selection.report.reason
    );
    assert!(selection.report.reason.starts_with("learned policy served"));
    assert!(
        truths.served > truths.per_cell + 0.05,
        "served {:.3} per cell {:.3}",
        truths.served,
        truths.per_cell
    );
    assert!(truths.served > truths.best_single + 0.05);
    assert!(truths.served > 0.5 * truths.oracle);
    // The estimate of the learned policy's value is honest: its interval
    // covers the truth of the refitted policy (up to the refit's gain).
    let learned = selection.report.candidate(PolicyKind::Learned).value.dr;
    assert!(
        learned.lower < truths.served && truths.served < learned.upper + 0.1,
        "{learned:?}"
    );
}

#[test]
fn folds_side_by_side_select_the_same_bits() {
    let world = World::heterogeneous();
    let (issues, _) = world.issues(12_000, 31);
    let one = select_policy(&issues, BENEFITS, &ridge(), &PolicyConfig::default()).unwrap();
    let config = PolicyConfig {
        threads: 3,
        ..PolicyConfig::default()
    };
    let three = select_policy(&issues, BENEFITS, &ridge(), &config).unwrap();
    assert_eq!(one.report, three.report);
    // Debug prints every float in its shortest exact form.
    assert_eq!(format!("{:?}", one.policy), format!("{:?}", three.policy));
}

#[test]
fn without_heterogeneity_a_simple_policy_is_served() {
    let world = World::constant([-0.5, 1.0, 0.4, -0.3]);
    let (issues, _) = world.issues(30_000, 21);
    let config = PolicyConfig::default();
    let selection = select_policy(&issues, BENEFITS, &ridge(), &config).unwrap();
    let truths = truths(&world, &issues, &selection.policy, &config, 22);
    print(&selection.report, &truths);
    let report = &selection.report;
    assert!(
        report.chosen.is_simple() && report.chosen != PolicyKind::NoOffer,
        "{}",
        report.reason
    );
    assert!(
        report.reason.contains("the learned policy was not served"),
        "{}",
        report.reason
    );
    // Whatever simple policy it is, it sends the truly best benefit.
    assert!(truths.served > 0.99, "served {:.3}", truths.served);
}

#[test]
fn when_every_benefit_loses_nothing_is_offered() {
    let world = World::constant([-0.9, -0.7, -1.0, -0.8]);
    let (issues, _) = world.issues(20_000, 31);
    let selection = select_policy(&issues, BENEFITS, &ridge(), &PolicyConfig::default()).unwrap();
    let report = &selection.report;
    assert_eq!(report.chosen, PolicyKind::NoOffer, "{}", report.reason);
    assert!(
        report
            .reason
            .starts_with("no offer served: no simple policy has a positive estimate"),
        "{}",
        report.reason
    );
    let user = &world.population(1, 32)[0];
    assert!(
        selection
            .policy
            .rank(&user.features, user.cell, false)
            .is_empty()
    );
}

#[test]
fn negative_estimates_never_come_first() {
    let world = World::heterogeneous();
    let (issues, _) = world.issues(10_000, 41);
    let population = world.population(2_000, 42);
    let config = PolicyConfig::default();
    for kind in PolicyKind::ALL {
        let policy = fit_policy(kind, &issues, BENEFITS, &ridge(), &config).unwrap();
        let mut negatives = 0;
        for user in &population {
            let served = policy.rank(&user.features, user.cell, false);
            assert!(served.iter().all(|offer| offer.estimate > 0.0));
            assert!(
                served
                    .windows(2)
                    .all(|pair| pair[0].estimate >= pair[1].estimate)
            );
            assert_eq!(
                served.first().map(|offer| offer.benefit),
                policy.action(&user.features, user.cell)
            );
            let forced = policy.rank(&user.features, user.cell, true);
            assert_eq!(&forced[..served.len()], &served[..], "positives lead");
            assert!(
                forced[served.len()..]
                    .iter()
                    .all(|offer| offer.estimate <= 0.0)
            );
            negatives += forced.len() - served.len();
        }
        if kind == PolicyKind::Learned {
            assert!(
                negatives > 0,
                "the learned policy does estimate losing offers"
            );
        }
    }
}

/// A fixed policy (no learning), whose true value is known from a large
/// population: coupon-10 to lapsed users, shipping to low-value ones.
fn fixed_policy(features: &[f64]) -> Option<usize> {
    if features[0] > 0.6 {
        Some(1)
    } else if features[2] < 35.0_f64.ln() {
        Some(3)
    } else {
        None
    }
}

#[test]
fn doubly_robust_intervals_cover_the_truth() {
    let world = World::heterogeneous();
    let population = world.population(300_000, 51);
    let truth = true_value(&population, |user| fixed_policy(&user.features));
    let truth_always_points = true_value(&population, |_| Some(2));
    let linear = Ridge::new(RidgeConfig {
        knots: 0,
        interactions: false,
        ..RidgeConfig::default()
    })
    .unwrap();
    let replicates = 200;
    let (mut covered, mut covered_ips, mut covered_difference) = (0, 0, 0);
    let mut widths = (0.0, 0.0);
    for seed in 0..replicates {
        let (issues, _) = world.issues(3_000, 1_000 + seed);
        let predictions = cross_fit_outcomes(&linear, &issues, BENEFITS, 5).unwrap();
        let actions: Vec<Option<usize>> = issues
            .iter()
            .map(|issue| fixed_policy(&issue.features))
            .collect();
        let value = evaluate_policy(&issues, &predictions, &actions, 0.95);
        covered += usize::from(value.dr.lower <= truth && truth <= value.dr.upper);
        covered_ips += usize::from(value.ips.lower <= truth && truth <= value.ips.upper);
        widths.0 += value.dr.upper - value.dr.lower;
        widths.1 += value.ips.upper - value.ips.lower;
        let points = vec![Some(2); issues.len()];
        let difference = compare_policies(&issues, &predictions, &actions, &points, 0.95);
        let true_difference = truth - truth_always_points;
        covered_difference +=
            usize::from(difference.lower <= true_difference && true_difference <= difference.upper);
    }
    let rate = |count: usize| count as f64 / replicates as f64;
    eprintln!(
        "coverage over {replicates}: DR {:.3} (mean width {:.3}), IPS {:.3} (width {:.3}), paired difference {:.3}; truth {truth:.3}",
        rate(covered),
        widths.0 / replicates as f64,
        rate(covered_ips),
        widths.1 / replicates as f64,
        rate(covered_difference),
    );
    // 95% nominal; 200 replicates give a binomial sd of 0.015.
    for (name, count) in [
        ("DR", covered),
        ("IPS", covered_ips),
        ("difference", covered_difference),
    ] {
        assert!(
            (0.9..=0.99).contains(&rate(count)),
            "{name} coverage {}",
            rate(count)
        );
    }
    assert!(widths.0 < widths.1, "DR is tighter than IPS");
}

#[test]
fn refuses_unusable_issues() {
    let world = World::heterogeneous();
    let (mut issues, _) = world.issues(1_000, 61);
    let config = PolicyConfig::default();
    issues[3].propensity = 0.0;
    let err = select_policy(&issues, BENEFITS, &ridge(), &config).unwrap_err();
    assert!(err.to_string().starts_with("issues[3].propensity"), "{err}");
    issues[3].propensity = 0.2;
    issues[5].arm = Some(BENEFITS);
    let err = select_policy(&issues, BENEFITS, &ridge(), &config).unwrap_err();
    assert!(err.to_string().starts_with("issues[5].arm"), "{err}");
    issues[5].arm = None;
    issues[7].features.pop();
    assert!(select_policy(&issues, BENEFITS, &ridge(), &config).is_err());
    issues[7].features.push(f64::NAN);
    let err = select_policy(&issues, BENEFITS, &ridge(), &config).unwrap_err();
    assert!(
        err.to_string().starts_with("issues[7].features[5]"),
        "{err}"
    );
    issues[7].features[5] = 0.0;
    // Too few held-back issues to learn anything.
    let treated: Vec<OfferIssue> = issues
        .iter()
        .filter(|issue| issue.arm.is_some())
        .cloned()
        .collect();
    assert!(select_policy(&treated, BENEFITS, &ridge(), &config).is_err());
    // A benefit with too few issues is never offered.
    let thin: Vec<OfferIssue> = issues
        .iter()
        .filter(|issue| issue.arm != Some(2))
        .cloned()
        .collect();
    let selection = select_policy(&thin, BENEFITS, &ridge(), &config).unwrap();
    assert_eq!(selection.report.inactive_benefits, vec![2]);
    let user = &world.population(1, 62)[0];
    assert!(
        selection.policy.estimates(&user.features, user.cell)[2].is_none()
            || selection.report.chosen == PolicyKind::NoOffer
    );
}

/// Measurement, not a check: learners and baselines over several seeds and
/// sizes, as true value per user and share of the oracle's. Run with
/// `cargo test --release -p strata-models measure_policies -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_policies() {
    let world = World::heterogeneous();
    let linear = Ridge::new(RidgeConfig {
        knots: 0,
        interactions: false,
        ..RidgeConfig::default()
    })
    .unwrap();
    let no_interactions = Ridge::new(RidgeConfig {
        interactions: false,
        ..RidgeConfig::default()
    })
    .unwrap();
    let one_se = Ridge::new(RidgeConfig {
        one_standard_error: true,
        ..RidgeConfig::default()
    })
    .unwrap();
    let learners: [(&str, &Ridge, MetaLearner); 5] = [
        ("DR ridge", &ridge_default(), MetaLearner::Dr),
        ("T ridge", &ridge_default(), MetaLearner::T),
        ("DR ridge 1-SE", &one_se, MetaLearner::Dr),
        ("DR additive", &no_interactions, MetaLearner::Dr),
        ("DR linear", &linear, MetaLearner::Dr),
    ];
    for size in [20_000, 50_000] {
        for seed in 0..5 {
            let (issues, _) = world.issues(size, 100 + seed);
            let population = world.population(30_000, 200 + seed);
            let oracle_value = true_value(&population, oracle);
            let share =
                |value: f64| format!("{value:+.3} ({:>3.0}%)", 100.0 * value / oracle_value);
            let value_of = |policy: &ServedPolicy<RidgeModel>| {
                true_value(&population, |user: &User| {
                    policy.action(&user.features, user.cell)
                })
            };
            let config = PolicyConfig::default();
            let started = std::time::Instant::now();
            let selection = select_policy(&issues, BENEFITS, &ridge(), &config).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            let gain = selection
                .report
                .gain(PolicyKind::Learned, PolicyKind::PerCell);
            let fit = |kind, config: &PolicyConfig| {
                fit_policy(kind, &issues, BENEFITS, &ridge(), config).unwrap()
            };
            let raw = PolicyConfig {
                shrink_cells: false,
                ..PolicyConfig::default()
            };
            let mut line = format!(
                "n {size} seed {seed}: served {:?} {} in {seconds:.1}s (learned over per cell {:+.3} se {:.3}) | best single {} | per cell {} | raw cells {}",
                selection.report.chosen,
                share(value_of(&selection.policy)),
                gain.mean,
                gain.std_error,
                share(value_of(&fit(PolicyKind::BestSingle, &config))),
                share(value_of(&fit(PolicyKind::PerCell, &config))),
                share(value_of(&fit(PolicyKind::PerCell, &raw))),
            );
            for (name, learner, meta) in learners {
                let config = PolicyConfig {
                    meta_learner: meta,
                    ..PolicyConfig::default()
                };
                let learned =
                    fit_policy(PolicyKind::Learned, &issues, BENEFITS, learner, &config).unwrap();
                line += &format!(" | {name} {}", share(value_of(&learned)));
            }
            eprintln!("{line}");
        }
    }
}

fn ridge_default() -> Ridge {
    Ridge::default()
}

/// Measurement: time of the whole selection (cross-fitting, evaluation and
/// refit) at scale. Run with
/// `STRATA_OFFER_ISSUES=1000000 cargo test --release -p strata-models measure_scale -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_scale() {
    let count = std::env::var("STRATA_OFFER_ISSUES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200_000);
    let world = World::heterogeneous();
    let (issues, users) = world.issues(count, 300);
    drop(users);
    let started = std::time::Instant::now();
    let selection = select_policy(&issues, BENEFITS, &ridge(), &PolicyConfig::default()).unwrap();
    let selected = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let served: usize = issues
        .iter()
        .map(|issue| {
            selection
                .policy
                .rank(&issue.features, issue.cell, false)
                .len()
        })
        .sum();
    eprintln!(
        "{count} issues: selection {selected:.1}s, ranking every user {:.2}s ({served} offers); {}",
        started.elapsed().as_secs_f64(),
        selection.report.reason
    );
}
