//! Which benefit to offer a segment: uplift (treated minus control conversion)
//! per segment and benefit, learned from past issues with a random control
//! group, shrunk towards the benefit's uplift over all segments, and turned
//! into expected incremental profit. Also the unpooled two-model baseline and
//! the holdout comparison that checks the shrinkage earns its keep.
//!
//! ## Estimates for a (segment, benefit) cell
//! With `n_t`, `n_c` treated and control issues and raw rates `r_t`, `r_c`:
//! - raw uplift `u = r_t - r_c`, with effective size `m = n_t n_c / (n_t + n_c)`
//!   (the variance of `u` is about `p (1 - p) / m`);
//! - the benefit's pooled uplift `U` is the `m`-weighted mean of its cells'
//!   raw uplifts: a within-segment comparison, so segments that got the
//!   benefit more often cannot bias it (no Simpson's paradox);
//! - **shrinkage is `m / (m + k)` weighting**: `uplift = w u + (1 - w) U`,
//!   `w = m / (m + k)`, `k = shrinkage_strength` (default 200). `k` is the cell
//!   size at which the cell and the pool count equally: about
//!   `p (1 - p) / tau^2` for a base rate `p ~ 0.1` and a spread of true
//!   uplifts between segments `tau ~ 0.02`. A cell never issued gets `U`.
//! - the control rate is shrunk towards the segment's control rate over all
//!   benefits with the same weight, `(conversions_c + k r_segment) / (n_c + k)`:
//!   a held-back user got nothing, so every benefit's control group in a
//!   segment estimates the same base rate;
//! - `treated = control + uplift`, clamped to `0..=1`.
//!
//! ## Expected incremental profit, per issued offer
//! `profit = uplift * margin - treated * redemption * cost`
//! - `margin`: mean margin of a conversion in the segment (over all benefits
//!   and both arms, so the benefit's own cost is not in it), shrunk towards the
//!   mean over all segments with weight `margin_prior_weight` conversions;
//! - `redemption`: the share of treated converters who redeem the benefit,
//!   as given in [`BenefitEconomics`] or else measured over all segments
//!   (1 when there is no treated converter yet: the cautious guess);
//! - `cost`: what one redemption costs.
//!
//! The cost term uses `treated`, not `uplift`: users who would have bought
//! anyway also redeem, and paying them is the price of the benefit.

use crate::Error;
use crate::evaluation::qini;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One past offer issue and what followed within the horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OfferOutcome {
    /// The caller's key for layer x tier x quadrant.
    pub segment: u32,
    /// Index into the [`BenefitEconomics`] list.
    pub benefit: usize,
    /// Delivered (true) or held back as control (false).
    pub treated: bool,
    /// Purchased within the horizon.
    pub converted: bool,
    /// Margin of that purchase before the benefit's cost; ignored when not
    /// converted.
    pub margin: f64,
    /// The benefit was redeemed (only read on treated converters).
    pub redeemed: bool,
}

/// What a benefit costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenefitEconomics {
    /// Cost of one redemption (coupon face value, shipping paid, points).
    pub cost_if_redeemed: f64,
    /// Share of treated converters who redeem; `None` = measure it.
    pub redemption_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpliftConfig {
    /// `k` in the `m / (m + k)` weight of a cell against its benefit's pool.
    pub shrinkage_strength: f64,
    /// Conversions' worth of weight the all-segment mean margin gets against
    /// a segment's own.
    pub margin_prior_weight: f64,
}

impl Default for UpliftConfig {
    fn default() -> Self {
        UpliftConfig {
            shrinkage_strength: 200.0,
            margin_prior_weight: 20.0,
        }
    }
}

/// A benefit for a segment, with the numbers behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    pub benefit: usize,
    pub expected_incremental_profit: f64,
    /// `treated - control`, shrunk.
    pub uplift: f64,
    pub treated: f64,
    pub control: f64,
}

/// Anything that scores a (segment, benefit) by expected uplift, so the
/// pooled model and the baseline are compared on the same holdout.
pub trait UpliftScorer {
    fn uplift(&self, segment: u32, benefit: usize) -> f64;
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ArmTally {
    treated: u64,
    treated_conversions: u64,
    control: u64,
    control_conversions: u64,
}

impl ArmTally {
    fn add(&mut self, outcome: &OfferOutcome) {
        if outcome.treated {
            self.treated += 1;
            self.treated_conversions += u64::from(outcome.converted);
        } else {
            self.control += 1;
            self.control_conversions += u64::from(outcome.converted);
        }
    }

    /// Raw uplift and its effective size; `None` without both arms.
    fn raw_uplift(&self) -> Option<(f64, f64)> {
        if self.treated == 0 || self.control == 0 {
            return None;
        }
        let (treated, control) = (self.treated as f64, self.control as f64);
        let uplift =
            self.treated_conversions as f64 / treated - self.control_conversions as f64 / control;
        Some((uplift, treated * control / (treated + control)))
    }
}

/// The pooled (shrunk) uplift model.
#[derive(Debug, Clone, PartialEq)]
pub struct UpliftModel {
    cells: BTreeMap<(u32, usize), ArmTally>,
    /// Control issues and their conversions per segment, over all benefits.
    segment_control: BTreeMap<u32, (u64, u64)>,
    global_control_rate: f64,
    pooled_uplift: Vec<f64>,
    segment_margin: BTreeMap<u32, f64>,
    global_margin: f64,
    redemption: Vec<f64>,
    economics: Vec<BenefitEconomics>,
    config: UpliftConfig,
}

impl UpliftModel {
    /// Fits the model; `economics[b]` describes benefit `b`. With no
    /// outcomes at all the model recommends nothing.
    pub fn fit(
        outcomes: &[OfferOutcome],
        economics: &[BenefitEconomics],
        config: UpliftConfig,
    ) -> Result<UpliftModel, Error> {
        check_config(&config)?;
        check_economics(economics)?;
        check_outcomes(outcomes, economics.len())?;

        let cells = tally_cells(outcomes);
        let mut segment_control: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        let (mut control, mut control_conversions) = (0_u64, 0_u64);
        for outcome in outcomes.iter().filter(|outcome| !outcome.treated) {
            let entry = segment_control.entry(outcome.segment).or_default();
            entry.0 += 1;
            entry.1 += u64::from(outcome.converted);
            control += 1;
            control_conversions += u64::from(outcome.converted);
        }
        let global_control_rate = ratio_or(control_conversions, control, 0.0);

        let mut weighted = vec![(0.0, 0.0); economics.len()];
        for ((_, benefit), tally) in &cells {
            if let Some((uplift, size)) = tally.raw_uplift() {
                weighted[*benefit].0 += uplift * size;
                weighted[*benefit].1 += size;
            }
        }
        // A benefit never compared with its control has no evidence: 0.
        let pooled_uplift = weighted
            .iter()
            .map(|(sum, size)| if *size > 0.0 { sum / size } else { 0.0 })
            .collect();

        let (segment_margin, global_margin) = margins(outcomes, config.margin_prior_weight);
        let redemption = redemption_rates(outcomes, economics);
        Ok(UpliftModel {
            cells,
            segment_control,
            global_control_rate,
            pooled_uplift,
            segment_margin,
            global_margin,
            redemption,
            economics: economics.to_vec(),
            config,
        })
    }

    /// The estimate for one (segment, benefit), whether or not it pays.
    ///
    /// # Panics
    /// If `benefit` is not an index into the fitted economics.
    pub fn estimate(&self, segment: u32, benefit: usize) -> Recommendation {
        let strength = self.config.shrinkage_strength;
        let tally = self
            .cells
            .get(&(segment, benefit))
            .copied()
            .unwrap_or_default();
        let pooled = self.pooled_uplift[benefit];
        let uplift = match tally.raw_uplift() {
            Some((raw, size)) => {
                let weight = size / (size + strength);
                weight * raw + (1.0 - weight) * pooled
            }
            None => pooled,
        };
        let segment_rate = self
            .segment_control
            .get(&segment)
            .map_or(self.global_control_rate, |(control, conversions)| {
                ratio_or(*conversions, *control, self.global_control_rate)
            });
        let control = (tally.control_conversions as f64 + strength * segment_rate)
            / (tally.control as f64 + strength);
        let treated = (control + uplift).clamp(0.0, 1.0);
        let uplift = treated - control;

        let margin = self
            .segment_margin
            .get(&segment)
            .copied()
            .unwrap_or(self.global_margin);
        let cost = self.economics[benefit].cost_if_redeemed;
        Recommendation {
            benefit,
            expected_incremental_profit: uplift * margin
                - treated * self.redemption[benefit] * cost,
            uplift,
            treated,
            control,
        }
    }

    /// Benefits worth offering to `segment`, best first (ties by benefit
    /// index): only those with positive expected incremental profit.
    pub fn recommend(&self, segment: u32) -> Vec<Recommendation> {
        let mut recommendations: Vec<Recommendation> = (0..self.economics.len())
            .map(|benefit| self.estimate(segment, benefit))
            .filter(|recommendation| recommendation.expected_incremental_profit > 0.0)
            .collect();
        recommendations.sort_by(|a, b| {
            b.expected_incremental_profit
                .total_cmp(&a.expected_incremental_profit)
                .then(a.benefit.cmp(&b.benefit))
        });
        recommendations
    }

    /// The redemption share used for each benefit (given or measured).
    pub fn redemption_rates(&self) -> &[f64] {
        &self.redemption
    }

    /// Each benefit's pooled uplift over all segments.
    pub fn pooled_uplift(&self) -> &[f64] {
        &self.pooled_uplift
    }
}

impl UpliftScorer for UpliftModel {
    fn uplift(&self, segment: u32, benefit: usize) -> f64 {
        if benefit >= self.economics.len() {
            return 0.0;
        }
        self.estimate(segment, benefit).uplift
    }
}

/// The two-model (T-learner) baseline on segment cells: treated and control
/// rates estimated separately per cell, no pooling; a cell missing an arm
/// scores 0 (no evidence either way).
#[derive(Debug, Clone, PartialEq)]
pub struct TwoModelBaseline {
    cells: BTreeMap<(u32, usize), ArmTally>,
}

impl TwoModelBaseline {
    pub fn fit(outcomes: &[OfferOutcome]) -> Result<TwoModelBaseline, Error> {
        check_outcomes(outcomes, usize::MAX)?;
        Ok(TwoModelBaseline {
            cells: tally_cells(outcomes),
        })
    }
}

impl UpliftScorer for TwoModelBaseline {
    fn uplift(&self, segment: u32, benefit: usize) -> f64 {
        self.cells
            .get(&(segment, benefit))
            .and_then(ArmTally::raw_uplift)
            .map_or(0.0, |(uplift, _)| uplift)
    }
}

/// Each holdout issue's predicted uplift for its own segment and benefit.
pub fn score_holdout(scorer: &impl UpliftScorer, holdout: &[OfferOutcome]) -> Vec<f64> {
    holdout
        .iter()
        .map(|outcome| scorer.uplift(outcome.segment, outcome.benefit))
        .collect()
}

/// A scorer's Qini coefficient on a holdout next to random rankings of the
/// same holdout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldoutComparison {
    pub qini: f64,
    /// Mean and standard deviation of the Qini coefficient over the random
    /// rankings: how far from 0 chance alone goes on this holdout.
    pub random_qini_mean: f64,
    pub random_qini_deviation: f64,
}

/// Scores `holdout` with `scorer` and compares its Qini coefficient with
/// `random_rankings` random rankings drawn from `seed` (deterministic).
pub fn compare_on_holdout(
    scorer: &impl UpliftScorer,
    holdout: &[OfferOutcome],
    random_rankings: u32,
    seed: u64,
) -> Result<HoldoutComparison, Error> {
    let treated: Vec<bool> = holdout.iter().map(|outcome| outcome.treated).collect();
    let converted: Vec<bool> = holdout.iter().map(|outcome| outcome.converted).collect();
    let model = qini(&score_holdout(scorer, holdout), &treated, &converted)?;

    let mut generator = SplitMix64(seed);
    let mut random = Vec::with_capacity(random_rankings as usize);
    for _ in 0..random_rankings {
        let scores: Vec<f64> = holdout.iter().map(|_| generator.next_unit()).collect();
        random.push(qini(&scores, &treated, &converted)?.coefficient);
    }
    let count = random.len().max(1) as f64;
    let mean = random.iter().sum::<f64>() / count;
    let variance = random.iter().map(|q| (q - mean) * (q - mean)).sum::<f64>() / count;
    Ok(HoldoutComparison {
        qini: model.coefficient,
        random_qini_mean: mean,
        random_qini_deviation: variance.sqrt(),
    })
}

/// A tiny deterministic generator for random rankings, so the crate needs
/// no `rand` outside its tests.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1_u64 << 53) as f64
    }
}

fn tally_cells(outcomes: &[OfferOutcome]) -> BTreeMap<(u32, usize), ArmTally> {
    let mut cells: BTreeMap<(u32, usize), ArmTally> = BTreeMap::new();
    for outcome in outcomes {
        cells
            .entry((outcome.segment, outcome.benefit))
            .or_default()
            .add(outcome);
    }
    cells
}

/// Shrunk mean conversion margin per segment, and the overall mean.
fn margins(outcomes: &[OfferOutcome], prior_weight: f64) -> (BTreeMap<u32, f64>, f64) {
    let mut per_segment: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
    let (mut total, mut count) = (0.0, 0.0);
    for outcome in outcomes.iter().filter(|outcome| outcome.converted) {
        let entry = per_segment.entry(outcome.segment).or_default();
        entry.0 += outcome.margin;
        entry.1 += 1.0;
        total += outcome.margin;
        count += 1.0;
    }
    let global = if count > 0.0 { total / count } else { 0.0 };
    let shrunk = per_segment
        .into_iter()
        .map(|(segment, (sum, count))| {
            (
                segment,
                (sum + prior_weight * global) / (count + prior_weight),
            )
        })
        .collect();
    (shrunk, global)
}

fn redemption_rates(outcomes: &[OfferOutcome], economics: &[BenefitEconomics]) -> Vec<f64> {
    let mut counts = vec![(0_u64, 0_u64); economics.len()];
    for outcome in outcomes
        .iter()
        .filter(|outcome| outcome.treated && outcome.converted)
    {
        counts[outcome.benefit].0 += u64::from(outcome.redeemed);
        counts[outcome.benefit].1 += 1;
    }
    economics
        .iter()
        .zip(counts)
        .map(|(economics, (redeemed, converters))| {
            economics
                .redemption_rate
                .unwrap_or_else(|| ratio_or(redeemed, converters, 1.0))
        })
        .collect()
}

fn ratio_or(numerator: u64, denominator: u64, otherwise: f64) -> f64 {
    if denominator == 0 {
        otherwise
    } else {
        numerator as f64 / denominator as f64
    }
}

fn check_config(config: &UpliftConfig) -> Result<(), Error> {
    let checks = [
        ("shrinkage_strength", config.shrinkage_strength),
        ("margin_prior_weight", config.margin_prior_weight),
    ];
    for (name, value) in checks {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::InvalidArgument {
                name,
                reason: format!("must be finite and >= 0, got {value}"),
            });
        }
    }
    Ok(())
}

fn check_economics(economics: &[BenefitEconomics]) -> Result<(), Error> {
    for (index, benefit) in economics.iter().enumerate() {
        if !(benefit.cost_if_redeemed.is_finite() && benefit.cost_if_redeemed >= 0.0) {
            return Err(Error::InvalidInput {
                input: format!("economics[{index}].cost_if_redeemed"),
                reason: format!("must be finite and >= 0, got {}", benefit.cost_if_redeemed),
            });
        }
        if let Some(rate) = benefit
            .redemption_rate
            .filter(|rate| !(0.0..=1.0).contains(rate))
        {
            return Err(Error::InvalidInput {
                input: format!("economics[{index}].redemption_rate"),
                reason: format!("must be in 0..=1, got {rate}"),
            });
        }
    }
    Ok(())
}

fn check_outcomes(outcomes: &[OfferOutcome], benefits: usize) -> Result<(), Error> {
    for (index, outcome) in outcomes.iter().enumerate() {
        if outcome.benefit >= benefits {
            return Err(Error::InvalidInput {
                input: format!("outcomes[{index}].benefit"),
                reason: format!("{} is not one of the {benefits} benefits", outcome.benefit),
            });
        }
        if outcome.converted && !outcome.margin.is_finite() {
            return Err(Error::InvalidInput {
                input: format!("outcomes[{index}].margin"),
                reason: format!("must be finite, got {}", outcome.margin),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(
        segment: u32,
        benefit: usize,
        treated: bool,
        issued: u32,
        converted: u32,
    ) -> Vec<OfferOutcome> {
        (0..issued)
            .map(|index| OfferOutcome {
                segment,
                benefit,
                treated,
                converted: index < converted,
                margin: 100.0,
                redeemed: treated,
            })
            .collect()
    }

    fn economics(cost: f64) -> BenefitEconomics {
        BenefitEconomics {
            cost_if_redeemed: cost,
            redemption_rate: None,
        }
    }

    #[test]
    fn hand_computed_cell_without_shrinkage() {
        let mut data = outcomes(1, 0, true, 100, 30);
        data.extend(outcomes(1, 0, false, 100, 10));
        let config = UpliftConfig {
            shrinkage_strength: 0.0,
            margin_prior_weight: 0.0,
        };
        let model = UpliftModel::fit(&data, &[economics(10.0)], config).expect("valid");
        let estimate = model.estimate(1, 0);
        assert!((estimate.treated - 0.3).abs() < 1e-12);
        assert!((estimate.control - 0.1).abs() < 1e-12);
        assert!((estimate.uplift - 0.2).abs() < 1e-12);
        // 0.2 * 100 margin - 0.3 treated * 1.0 redemption * 10 cost.
        assert!((estimate.expected_incremental_profit - 17.0).abs() < 1e-9);
        assert_eq!(model.recommend(1).len(), 1);
    }

    #[test]
    fn small_cell_leans_on_the_pool() {
        // Segment 1 is large with uplift 0.1; segment 2 has a 4-user cell
        // with a wild raw uplift of 0.5.
        let mut data = outcomes(1, 0, true, 1000, 200);
        data.extend(outcomes(1, 0, false, 1000, 100));
        data.extend(outcomes(2, 0, true, 2, 1));
        data.extend(outcomes(2, 0, false, 2, 0));
        let model =
            UpliftModel::fit(&data, &[economics(0.0)], UpliftConfig::default()).expect("valid");
        let small = model.estimate(2, 0).uplift;
        assert!((small - 0.1).abs() < 0.01, "pulled to the pool: {small}");
        assert!(
            (model.estimate(7, 0).uplift - model.pooled_uplift()[0]).abs() < 1e-12,
            "unseen segment"
        );
    }

    #[test]
    fn refuses_unknown_benefits_and_bad_economics() {
        let data = outcomes(1, 3, true, 1, 1);
        let error = UpliftModel::fit(&data, &[economics(1.0)], UpliftConfig::default())
            .expect_err("benefit 3");
        assert_eq!(
            error.to_string(),
            "outcomes[0].benefit: 3 is not one of the 1 benefits"
        );
        assert!(UpliftModel::fit(&[], &[economics(-1.0)], UpliftConfig::default()).is_err());
        let empty =
            UpliftModel::fit(&[], &[economics(1.0)], UpliftConfig::default()).expect("no data");
        assert!(empty.recommend(0).is_empty());
    }
}
