//! The simple policies' estimates: the difference in mean profit between a
//! benefit's issues and the held-back ones, over everybody (best single
//! benefit) and per cell (best benefit per cell).
//!
//! ## Means
//! Arm means are weighted by `1/p` (Hajek): with a random assignment whose
//! probabilities depend on the features, the plain mean of an arm
//! over-represents whoever was likelier to get it. The variance of a mean
//! is `s^2 / n_eff` with Kish's effective size `(sum w)^2 / sum w^2`.
//!
//! ## Shrinking cells
//! A cell's difference `d_cb` has standard error `se_cb`; cells differ in
//! truth around the pooled difference `d_b` with variance `t_b^2`, estimated
//! by the method of moments: `t_b^2 = max(0, mean_c[(d_cb - d_b)^2 - se_cb^2])`.
//! The served cell estimate is the posterior mean
//! `d_b + t_b^2 / (t_b^2 + se_cb^2) (d_cb - d_b)`: a small or noisy cell
//! leans on the pool, and when cells do not really differ (`t_b = 0`) the
//! per-cell policy is the best single one. A cell without both arms, or not
//! seen in training, gets the pooled difference.

use super::{OfferIssue, arm_index};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Weighted sums of one arm's outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ArmSums {
    count: usize,
    weight: f64,
    weight_squared: f64,
    weighted: f64,
    weighted_squares: f64,
}

impl ArmSums {
    fn add(&mut self, issue: &OfferIssue) {
        let weight = 1.0 / issue.propensity;
        self.count += 1;
        self.weight += weight;
        self.weight_squared += weight * weight;
        self.weighted += weight * issue.outcome;
        self.weighted_squares += weight * issue.outcome * issue.outcome;
    }

    /// Mean and its variance; `None` under two issues.
    fn mean(&self) -> Option<(f64, f64)> {
        if self.count < 2 {
            return None;
        }
        let mean = self.weighted / self.weight;
        let variance = (self.weighted_squares / self.weight - mean * mean).max(0.0);
        let effective = self.weight * self.weight / self.weight_squared;
        Some((mean, variance / effective))
    }
}

/// Difference of benefit `b`'s mean profit to the held-back mean, with its
/// variance, from per-arm sums (index 0 = no offer).
fn differences(arms: &[ArmSums]) -> Vec<Option<(f64, f64)>> {
    let control = arms[0].mean();
    arms[1..]
        .iter()
        .map(|arm| {
            let (control, control_variance) = control?;
            let (treated, treated_variance) = arm.mean()?;
            Some((treated - control, treated_variance + control_variance))
        })
        .collect()
}

/// Estimated incremental profit per benefit, pooled and per cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellEffects {
    pooled: Vec<Option<f64>>,
    cells: BTreeMap<u32, Vec<Option<f64>>>,
    /// The variance of each pooled difference (`None` where no estimate):
    /// the sum of the two arms' `s^2 / n_eff`. Empty in a model file written
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pooled_variances: Vec<Option<f64>>,
    /// Per cell, the variance of each benefit's estimate when the cell has
    /// its own (both arms seen): the raw difference's, or the posterior
    /// variance `w se^2` of a shrunk one (the pool's own uncertainty
    /// ignored); `None` where the cell fell back to the pooled difference.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    cell_variances: BTreeMap<u32, Vec<Option<f64>>>,
}

/// Where one benefit's estimate for a cell was learned, and how sure it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimateSource {
    /// The cell whose issues gave it; `None`: the pooled difference (every
    /// cell's issues).
    pub cell: Option<u32>,
    /// Its variance; `None` when not kept (an older model file).
    pub variance: Option<f64>,
}

impl CellEffects {
    /// Fits on the issues `subset`; benefits not `active` get `None`.
    /// `shrink` turns the cell shrinkage on (else raw cell differences).
    pub(crate) fn fit(
        issues: &[OfferIssue],
        subset: &[usize],
        active: &[bool],
        shrink: bool,
    ) -> CellEffects {
        let benefits = active.len();
        let mut pooled_sums = vec![ArmSums::default(); benefits + 1];
        let mut cell_sums: BTreeMap<u32, Vec<ArmSums>> = BTreeMap::new();
        for &index in subset {
            let issue = &issues[index];
            let arm = arm_index(issue.arm);
            pooled_sums[arm].add(issue);
            cell_sums
                .entry(issue.cell)
                .or_insert_with(|| vec![ArmSums::default(); benefits + 1])[arm]
                .add(issue);
        }
        let mask = |estimates: Vec<Option<(f64, f64)>>| -> Vec<Option<(f64, f64)>> {
            estimates
                .into_iter()
                .zip(active)
                .map(|(estimate, active)| estimate.filter(|_| *active))
                .collect()
        };
        let pooled = mask(differences(&pooled_sums));
        let raw: BTreeMap<u32, Vec<Option<(f64, f64)>>> = cell_sums
            .iter()
            .map(|(cell, sums)| (*cell, mask(differences(sums))))
            .collect();

        // Between-cell variance of the true difference, per benefit.
        let spread: Vec<f64> = (0..benefits)
            .map(|benefit| {
                let Some((pool, _)) = pooled[benefit] else {
                    return 0.0;
                };
                let excess: Vec<f64> = raw
                    .values()
                    .filter_map(|cell| cell[benefit])
                    .map(|(difference, variance)| (difference - pool).powi(2) - variance)
                    .collect();
                if excess.is_empty() {
                    0.0
                } else {
                    (excess.iter().sum::<f64>() / excess.len() as f64).max(0.0)
                }
            })
            .collect();

        let mut cell_variances = BTreeMap::new();
        let cells = raw
            .into_iter()
            .map(|(cell, estimates)| {
                let (shrunk, variances): (Vec<Option<f64>>, Vec<Option<f64>>) = (0..benefits)
                    .map(|benefit| {
                        let Some((pool, _)) = pooled[benefit] else {
                            return (None, None);
                        };
                        let Some((difference, variance)) = estimates[benefit] else {
                            return (Some(pool), None);
                        };
                        if !shrink {
                            return (Some(difference), Some(variance));
                        }
                        let spread = spread[benefit];
                        let weight = if spread + variance > 0.0 {
                            spread / (spread + variance)
                        } else {
                            0.0
                        };
                        (
                            Some(pool + weight * (difference - pool)),
                            Some(weight * variance),
                        )
                    })
                    .unzip();
                cell_variances.insert(cell, variances);
                (cell, shrunk)
            })
            .collect();
        CellEffects {
            pooled_variances: pooled.iter().map(|e| e.map(|(_, v)| v)).collect(),
            pooled: pooled.into_iter().map(|e| e.map(|(d, _)| d)).collect(),
            cells,
            cell_variances,
        }
    }

    /// The pooled difference per benefit (the best-single policy's estimates).
    pub fn pooled(&self) -> &[Option<f64>] {
        &self.pooled
    }

    /// The cell's estimates; an unseen cell gets the pooled ones.
    pub fn cell(&self, cell: u32) -> &[Option<f64>] {
        self.cells.get(&cell).unwrap_or(&self.pooled)
    }

    /// Where the pooled estimate of `benefit` came from.
    pub fn pooled_source(&self, benefit: usize) -> EstimateSource {
        EstimateSource {
            cell: None,
            variance: self.pooled_variances.get(benefit).copied().flatten(),
        }
    }

    /// Where the estimate of `benefit` served to `cell` came from: the
    /// cell's own issues, or the pool when the cell had too few (or was not
    /// seen in training).
    pub fn source(&self, cell: u32, benefit: usize) -> EstimateSource {
        match self
            .cell_variances
            .get(&cell)
            .and_then(|variances| variances.get(benefit).copied().flatten())
        {
            Some(variance) => EstimateSource {
                cell: Some(cell),
                variance: Some(variance),
            },
            None => self.pooled_source(benefit),
        }
    }

    /// The cells seen in training.
    pub fn cells(&self) -> impl Iterator<Item = u32> + '_ {
        self.cells.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(cell: u32, arm: Option<usize>, propensity: f64, outcome: f64) -> OfferIssue {
        OfferIssue {
            unit: 0,
            features: vec![],
            cell,
            arm,
            propensity,
            outcome,
        }
    }

    #[test]
    fn weighted_differences_by_hand() {
        // Cell 0: control outcomes 0 and 2 (p = 0.5), benefit 0 outcomes
        // 4 (p = 0.25) and 6 (p = 0.5): weighted mean (16 + 12) / 6.
        let issues = vec![
            issue(0, None, 0.5, 0.0),
            issue(0, None, 0.5, 2.0),
            issue(0, Some(0), 0.25, 4.0),
            issue(0, Some(0), 0.5, 6.0),
        ];
        let all: Vec<usize> = (0..issues.len()).collect();
        let effects = CellEffects::fit(&issues, &all, &[true], false);
        let expected = 28.0 / 6.0 - 1.0;
        assert!((effects.pooled()[0].unwrap() - expected).abs() < 1e-12);
        assert!((effects.cell(0)[0].unwrap() - expected).abs() < 1e-12);
        // Unseen cell: pooled. Inactive benefit: nothing.
        assert_eq!(effects.cell(9), effects.pooled());
        let inactive = CellEffects::fit(&issues, &all, &[false], false);
        assert_eq!(inactive.pooled(), &[None]);
    }

    #[test]
    fn cells_that_do_not_differ_are_shrunk_to_the_pool() {
        // Two cells with identical outcome lists: no between-cell spread.
        let mut issues = Vec::new();
        for cell in 0..2 {
            for outcome in [0.0, 1.0, 5.0, 2.0] {
                issues.push(issue(cell, None, 0.5, outcome));
                issues.push(issue(
                    cell,
                    Some(0),
                    0.5,
                    outcome + 1.0 + f64::from(cell) * 0.01,
                ));
            }
        }
        let all: Vec<usize> = (0..issues.len()).collect();
        let effects = CellEffects::fit(&issues, &all, &[true], true);
        let pool = effects.pooled()[0].unwrap();
        assert!((effects.cell(0)[0].unwrap() - pool).abs() < 1e-12);
        assert!((effects.cell(1)[0].unwrap() - pool).abs() < 1e-12);
    }
}
