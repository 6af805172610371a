//! The decision models against simulated populations with a known truth:
//! propensity, channel priors, uplift with shrinkage, and the metrics that
//! judge them. Every population is generated here from a fixed seed, so the
//! thresholds are honest margins around numbers printed by `--nocapture`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Normal};
use strata_models::channel::ChannelPrior;
use strata_models::evaluation::{qini, roc_auc, uplift_at_top};
use strata_models::propensity::{LogisticConfig, LogisticModel};
use strata_models::uplift::{
    BenefitEconomics, OfferOutcome, TwoModelBaseline, UpliftConfig, UpliftModel, compare_on_holdout,
};

fn sigmoid(linear: f64) -> f64 {
    1.0 / (1.0 + (-linear).exp())
}

/// Rows of three features on different scales, labels from a known logistic
/// model using all three.
fn logistic_population(rows: usize, seed: u64) -> (Vec<[f64; 3]>, Vec<bool>) {
    const INTERCEPT: f64 = -1.0;
    const WEIGHTS: [f64; 3] = [1.0, -0.5, 0.05];
    let mut random = StdRng::seed_from_u64(seed);
    let standard = Normal::new(0.0, 1.0).expect("valid normal");
    let mut features = Vec::with_capacity(rows);
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row = [
            standard.sample(&mut random),
            5.0 + 2.0 * standard.sample(&mut random),
            30.0 * random.random::<f64>(),
        ];
        let linear = INTERCEPT
            + 5.0 * 0.5 // centre the second feature's contribution
            + row.iter().zip(WEIGHTS).map(|(value, weight)| value * weight).sum::<f64>();
        labels.push(random.random_bool(sigmoid(linear)));
        features.push(row);
    }
    (features, labels)
}

#[test]
fn logistic_regression_recovers_coefficients_and_beats_one_feature() {
    let (features, labels) = logistic_population(20_000, 7);
    let model = LogisticModel::fit(&features, &labels, &LogisticConfig::default()).expect("fit");
    let coefficients = model.coefficients();
    println!(
        "intercept {:.3} (true 1.5), coefficients {coefficients:.3?} (true [1.0, -0.5, 0.05]), {} Newton steps",
        model.intercept(),
        model.iterations()
    );
    // Standard errors here are about 0.02 on the first two and 0.0025 on
    // the third; the tolerances are about 3 of them.
    assert!((model.intercept() - 1.5).abs() < 0.2);
    assert!((coefficients[0] - 1.0).abs() < 0.06);
    assert!((coefficients[1] + 0.5).abs() < 0.04);
    assert!((coefficients[2] - 0.05).abs() < 0.008);

    let (holdout, holdout_labels) = logistic_population(10_000, 8);
    let predictions: Vec<f64> = holdout.iter().map(|row| model.predict(row)).collect();
    assert!(predictions.iter().all(|p| (0.0..=1.0).contains(p)));
    let model_auc = roc_auc(&predictions, &holdout_labels).expect("auc");
    let first_feature: Vec<f64> = holdout.iter().map(|row| row[0]).collect();
    let baseline_auc = roc_auc(&first_feature, &holdout_labels).expect("auc");
    println!("holdout AUC: model {model_auc:.4}, first feature alone {baseline_auc:.4}");
    assert!(
        model_auc > baseline_auc + 0.05,
        "{model_auc} vs {baseline_auc}"
    );
}

/// People with a true individual uplift, half treated.
struct UpliftPopulation {
    true_uplift: Vec<f64>,
    treated: Vec<bool>,
    converted: Vec<bool>,
}

fn uplift_population(people: usize, seed: u64) -> UpliftPopulation {
    let mut random = StdRng::seed_from_u64(seed);
    let mut population = UpliftPopulation {
        true_uplift: Vec::with_capacity(people),
        treated: Vec::with_capacity(people),
        converted: Vec::with_capacity(people),
    };
    for _ in 0..people {
        let base: f64 = random.random_range(0.05..0.25);
        let uplift: f64 = random.random_range(-0.05..0.25);
        let treated = random.random_bool(0.5);
        let rate = if treated { base + uplift } else { base };
        population.true_uplift.push(uplift);
        population.treated.push(treated);
        population
            .converted
            .push(random.random_bool(rate.clamp(0.0, 1.0)));
    }
    population
}

#[test]
fn qini_of_true_uplift_beats_random_which_averages_zero() {
    let mut random_coefficients = Vec::new();
    let mut oracle_coefficients = Vec::new();
    for seed in 0..20 {
        let population = uplift_population(4_000, seed);
        let (treated, converted) = (&population.treated, &population.converted);
        let oracle = qini(&population.true_uplift, treated, converted).expect("qini");
        let mut random = StdRng::seed_from_u64(1_000 + seed);
        let scores: Vec<f64> = (0..treated.len()).map(|_| random.random()).collect();
        let chance = qini(&scores, treated, converted).expect("qini");
        oracle_coefficients.push(oracle.coefficient);
        random_coefficients.push(chance.coefficient);

        let optimum_scores: Vec<f64> = treated
            .iter()
            .zip(converted)
            .map(|(t, c)| f64::from(u8::from(*t && *c)) - f64::from(u8::from(!*t && *c)))
            .collect();
        let optimum = qini(&optimum_scores, treated, converted).expect("qini");
        assert!((optimum.coefficient - 1.0).abs() < 1e-12);
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let (oracle, chance) = (mean(&oracle_coefficients), mean(&random_coefficients));
    println!("Qini over 20 seeds: true-uplift ranking {oracle:.4}, random ranking {chance:.4}");
    assert!(
        chance.abs() < 0.03,
        "random ranking averages about 0: {chance}"
    );
    assert!(
        oracle > 0.1 && oracle > chance + 0.1,
        "{oracle} vs {chance}"
    );

    let population = uplift_population(20_000, 99);
    let top = uplift_at_top(
        &population.true_uplift,
        &population.treated,
        &population.converted,
        0.2,
    )
    .expect("both arms in the top fifth");
    // True uplift in the top fifth is uniform on 0.19..0.25: mean 0.22.
    println!("uplift at top 20% by true uplift: {top:.4} (true 0.22)");
    assert!((top - 0.22).abs() < 0.03);
}

#[test]
fn beta_prior_fit_recovers_a_simulated_beta() {
    let (alpha, beta) = (2.0, 18.0);
    let mut random = StdRng::seed_from_u64(11);
    let rates = Beta::new(alpha, beta).expect("valid beta");
    let users: Vec<(u32, u32)> = (0..20_000)
        .map(|_| {
            let rate: f64 = rates.sample(&mut random);
            let sends: u32 = random.random_range(0..=30);
            let responses = (0..sends).filter(|_| random.random_bool(rate)).count() as u32;
            (sends, responses)
        })
        .collect();
    let prior = ChannelPrior::fit(&users).expect("fit");
    println!("Beta prior: fitted {prior:?}, true alpha {alpha}, beta {beta}");
    assert!((prior.alpha / alpha - 1.0).abs() < 0.15, "{prior:?}");
    assert!((prior.beta / beta - 1.0).abs() < 0.15, "{prior:?}");
    assert!((prior.mean() - 0.1).abs() < 0.005, "{}", prior.mean());
}

/// A segment x benefit world with known uplift, margins and costs.
struct World {
    control_rate: Vec<f64>,
    margin: Vec<f64>,
    /// `uplift[segment][benefit]`
    uplift: Vec<Vec<f64>>,
    economics: Vec<BenefitEconomics>,
    redemption: f64,
}

impl World {
    fn true_profit(&self, segment: usize, benefit: usize) -> f64 {
        let uplift = self.uplift[segment][benefit];
        let treated = self.control_rate[segment] + uplift;
        uplift * self.margin[segment]
            - treated * self.redemption * self.economics[benefit].cost_if_redeemed
    }

    /// `per_cell` issues per (segment, benefit), half held back as control.
    fn issue(&self, per_cell: usize, random: &mut StdRng) -> Vec<OfferOutcome> {
        let mut outcomes = Vec::new();
        for (segment, uplifts) in self.uplift.iter().enumerate() {
            for (benefit, uplift) in uplifts.iter().enumerate() {
                for index in 0..per_cell {
                    let treated = index % 2 == 0;
                    let rate = self.control_rate[segment] + if treated { *uplift } else { 0.0 };
                    let converted = random.random_bool(rate.clamp(0.0, 1.0));
                    outcomes.push(OfferOutcome {
                        segment: segment as u32,
                        benefit,
                        treated,
                        converted,
                        margin: self.margin[segment] * random.random_range(0.5..1.5),
                        redeemed: treated && converted && random.random_bool(self.redemption),
                    });
                }
            }
        }
        outcomes
    }
}

fn economics(costs: &[f64]) -> Vec<BenefitEconomics> {
    costs
        .iter()
        .map(|cost| BenefitEconomics {
            cost_if_redeemed: *cost,
            redemption_rate: None,
        })
        .collect()
}

#[test]
fn uplift_model_recovers_effects_and_recommends_profitable_benefits() {
    // Benefit 0 works in even segments, benefit 1 in every third, benefit 2
    // (costly, say free shipping) nowhere.
    let segments = 12;
    let world = World {
        control_rate: (0..segments)
            .map(|s| 0.05 + 0.02 * (s % 6) as f64)
            .collect(),
        margin: (0..segments)
            .map(|s| 60.0 + 10.0 * (s % 4) as f64)
            .collect(),
        uplift: (0..segments)
            .map(|s| {
                vec![
                    if s % 2 == 0 { 0.06 } else { 0.0 },
                    if s % 3 == 0 { 0.04 } else { 0.0 },
                    0.0,
                ]
            })
            .collect(),
        economics: economics(&[5.0, 15.0, 10.0]),
        redemption: 0.8,
    };
    let (mut errors, mut recommended, mut right, mut profitable) = (Vec::new(), 0, 0, 0);
    for seed in 0..3 {
        let mut random = StdRng::seed_from_u64(seed);
        let outcomes = world.issue(20_000, &mut random);
        let model =
            UpliftModel::fit(&outcomes, &world.economics, UpliftConfig::default()).expect("fit");
        for segment in 0..segments {
            for benefit in 0..3 {
                let estimate = model.estimate(segment as u32, benefit);
                errors.push((estimate.uplift - world.uplift[segment][benefit]).abs());
                profitable += usize::from(world.true_profit(segment, benefit) > 0.0);
            }
            for recommendation in model.recommend(segment as u32) {
                recommended += 1;
                let truly = world.true_profit(segment, recommendation.benefit) > 0.0;
                right += usize::from(truly);
            }
        }
        let redemption = model.redemption_rates();
        assert!((redemption[0] - 0.8).abs() < 0.05, "{redemption:?}");
    }
    let mean_error = errors.iter().sum::<f64>() / errors.len() as f64;
    let max_error = errors.iter().copied().fold(0.0, f64::max);
    let precision = right as f64 / recommended as f64;
    let recall = right as f64 / profitable as f64;
    println!(
        "uplift error: mean {mean_error:.4}, max {max_error:.4}; recommendations: {recommended}, \
         precision {precision:.3}, recall {recall:.3} over 3 seeds"
    );
    // Standard error of a cell's uplift is about 0.004 here.
    assert!(mean_error < 0.008, "{mean_error}");
    assert!(max_error < 0.02, "{max_error}");
    assert!(precision >= 0.85, "{precision}");
    assert!(recall >= 0.9, "{recall}");
}

#[test]
fn pooling_beats_random_and_the_two_model_baseline_on_small_cells() {
    // Many segments, tiny cells: benefit 0 works everywhere (about +0.08),
    // benefit 1 nowhere, with a little true variation between segments.
    let mut summary = Vec::new();
    for seed in 0..3 {
        let mut random = StdRng::seed_from_u64(100 + seed);
        let segments = 300;
        let world = World {
            control_rate: (0..segments)
                .map(|_| random.random_range(0.05..0.25))
                .collect(),
            margin: vec![80.0; segments],
            uplift: (0..segments)
                .map(|_| {
                    vec![
                        0.08 + random.random_range(-0.02..0.02),
                        random.random_range(-0.02..0.02),
                    ]
                })
                .collect(),
            economics: economics(&[5.0, 5.0]),
            redemption: 0.8,
        };
        let training = world.issue(40, &mut random);
        let holdout = world.issue(100, &mut random);
        let pooled =
            UpliftModel::fit(&training, &world.economics, UpliftConfig::default()).expect("fit");
        let baseline = TwoModelBaseline::fit(&training).expect("fit");
        let pooled_result = compare_on_holdout(&pooled, &holdout, 20, seed).expect("qini");
        let baseline_result = compare_on_holdout(&baseline, &holdout, 20, seed).expect("qini");
        println!(
            "seed {seed}: Qini pooled {:.4}, two-model {:.4}, random {:.4} +- {:.4}",
            pooled_result.qini,
            baseline_result.qini,
            pooled_result.random_qini_mean,
            pooled_result.random_qini_deviation
        );
        assert!(
            pooled_result.qini
                > pooled_result.random_qini_mean + 3.0 * pooled_result.random_qini_deviation,
            "{pooled_result:?}"
        );
        assert!(
            pooled_result.qini >= baseline_result.qini,
            "{pooled_result:?} vs {baseline_result:?}"
        );
        summary.push((pooled_result.qini, baseline_result.qini));
    }
    assert_eq!(summary.len(), 3);
}
