//! Ridge regression on standardised features with a small fixed basis, the
//! penalty chosen by cross-validated held-out error: the base regressor of
//! the offer learners.
//!
//! ## Basis
//! Per feature `x_j`: the feature itself and `knots` hinges
//! `max(0, x_j - k)` at evenly spaced quantiles of the pool's rows (an
//! additive piecewise-linear spline: thresholds such as "order value under
//! 30" are within reach without trees); optionally every pairwise product
//! `x_j x_l` (effects that depend on two features at once, such as a new
//! user with a low order value). Knots that coincide with each other or with
//! the feature's extremes are dropped, so a 0/1 feature stays one term.
//!
//! ## Fit
//! Terms are standardised with the fit's means and standard deviations
//! (a constant term gets weight 0), then `beta` minimises
//! `sum_i (y_i - beta_0 - w . z_i)^2 + lambda |w|^2`, intercept unpenalised,
//! `lambda = alpha * n`. Standardising makes one `alpha` grid fit every
//! feature scale, and the unpenalised intercept means a strong penalty
//! shrinks towards the mean, not towards 0.
//!
//! ## Choosing `alpha` from sufficient statistics
//! Rows are split into folds by a hash of their user. Per fold `f` the Gram
//! matrix `G_f = sum u u'` (`u = [1, z]`), `h_f = sum u y` and `sum y^2` are
//! accumulated in one pass; the fit without fold `f` solves
//! `(G - G_f + lambda P) beta = h - h_f`, and its squared error on fold `f`
//! is `sum_f y^2 - 2 beta . h_f + beta' G_f beta`, so every `alpha` and fold
//! costs one small Cholesky solve and no pass over the rows. The grid ends in
//! "intercept only" (`alpha = infinity`): with heavy-tailed profit and small
//! effects the right amount of heterogeneity is often none.
//!
//! ## One pass for many fits ([`Pool`])
//! The offer selection fits hundreds of models on unions of the same
//! cells of issues (folds x arms). A pool chooses the basis once, from every
//! row's features (never a target), and sums `G`, `h` and `sum y^2` once
//! per cell and fold, of the terms less their mean over every row (so a
//! union's moments, taken from sums of values near 0, keep their
//! precision). A fit on a union of cells adds its cells' sums, standardises
//! them from the sums alone (means, deviations and the standardised Gram
//! matrix per fold follow from `sum t`, `sum t t'` and the row counts) and
//! solves as above: no pass over the rows. Only a fit of new targets (the
//! DR-learner's pseudo-outcomes) passes over its rows, for `h` and
//! `sum y^2`. [`BaseLearner::fit_many`] is a pool of one cell.
//!
//! The penalty with the lowest held-out error wins. The
//! **one-standard-error rule** (the largest penalty within one standard
//! error of the best, the standard error being that of the per-fold
//! *difference* to the best, so the noise shared by every `alpha` cancels)
//! is available but off: it looks like the safer choice for small effects,
//! but it over-shrinks. On the synthetic world of the tests the DR-learner's
//! policy reached 52% of the oracle's value with it against 68% without at
//! 20k issues (69% against 74% at 50k, 5 seeds each).

use super::learner::{BaseLearner, Pool, PoolData, Regressor};
use super::mix;
use crate::Error;
use serde::{Deserialize, Serialize};

/// How [`Ridge`] builds its basis and tunes its penalty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RidgeConfig {
    /// Hinge knots per feature (0 = linear).
    pub knots: usize,
    /// Add every pairwise product of the raw features.
    pub interactions: bool,
    /// The `alpha` grid (`lambda = alpha * rows`); "intercept only" is
    /// always tried as well.
    pub penalties: Vec<f64>,
    /// Cross-validation folds for choosing `alpha`.
    pub folds: usize,
    /// Take the largest penalty within one standard error of the best
    /// (off: it over-shrinks, see the module documentation).
    pub one_standard_error: bool,
}

impl Default for RidgeConfig {
    fn default() -> Self {
        RidgeConfig {
            knots: 3,
            interactions: true,
            penalties: vec![
                1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0,
            ],
            folds: 5,
            one_standard_error: false,
        }
    }
}

/// The ridge learner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ridge {
    pub config: RidgeConfig,
    /// Threads that accumulate the Gram matrices (0 or 1: the caller's
    /// thread). The fit is the same to the bit for any count: threads split
    /// the matrix, never the rows, so every sum runs over the rows in order.
    pub threads: usize,
}

impl Ridge {
    pub fn new(config: RidgeConfig) -> Result<Ridge, Error> {
        let invalid = |name: &'static str, reason: String| Error::InvalidArgument { name, reason };
        if config.folds < 2 {
            return Err(invalid(
                "ridge.folds",
                format!("is {}, expected at least 2", config.folds),
            ));
        }
        if let Some(bad) = config
            .penalties
            .iter()
            .find(|alpha| !(alpha.is_finite() && **alpha > 0.0))
        {
            return Err(invalid(
                "ridge.penalties",
                format!("contains {bad}, expected positive finite numbers"),
            ));
        }
        Ok(Ridge { config, threads: 1 })
    }

    /// The same learner, accumulating on `threads` threads.
    pub fn with_threads(self, threads: usize) -> Ridge {
        Ridge { threads, ..self }
    }
}

/// A fitted ridge regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RidgeModel {
    basis: Basis,
    intercept: f64,
    /// Per basis term, on the raw (unstandardised) term.
    coefficients: Vec<f64>,
    /// The chosen `alpha`; `None` = intercept only.
    penalty: Option<f64>,
}

impl RidgeModel {
    /// The chosen `alpha` (`lambda / rows`); `None` when the intercept alone
    /// predicted best.
    pub fn penalty(&self) -> Option<f64> {
        self.penalty
    }

    /// Number of basis terms (without the intercept).
    pub fn terms(&self) -> usize {
        self.coefficients.len()
    }
}

impl Regressor for RidgeModel {
    fn predict(&self, features: &[f64]) -> f64 {
        assert_eq!(
            features.len(),
            self.basis.width,
            "one value per fitted feature"
        );
        let mut sum = self.intercept;
        self.basis.for_each(features, |term, value| {
            sum += self.coefficients[term] * value;
        });
        sum
    }
}

impl BaseLearner for Ridge {
    type Model = RidgeModel;

    fn pool<'a>(&'a self, data: PoolData<'a>) -> Result<Box<dyn Pool<RidgeModel> + 'a>, Error> {
        Ok(Box::new(RidgePool::new(self, data)?))
    }
}

/// [`Ridge`]'s statistics of a [`PoolData`]: the basis (knots at the
/// quantiles of every row) and, per cell and cross-validation fold, the
/// sums of the basis terms' products. A fit on a union of cells sums its
/// cells, standardises the sums and solves; only a fit of new targets
/// passes over its rows again, for their cross products.
struct RidgePool<'a> {
    ridge: &'a Ridge,
    rows: Vec<&'a [f64]>,
    cell: Vec<u32>,
    /// Each row's cross-validation fold (by user).
    fold: Vec<u32>,
    basis: Basis,
    /// Per term, its mean over every row, subtracted before anything is
    /// summed: a union's moments then come from sums of values near 0, and
    /// keep their precision whatever the features' offsets.
    shift: Vec<f64>,
    /// Per cell, then per fold (`cell * folds + fold`): rows, Gram matrix
    /// and the outcome's sums, of the shifted terms.
    stats: FoldStats,
}

impl<'a> RidgePool<'a> {
    fn new(ridge: &'a Ridge, data: PoolData<'a>) -> Result<RidgePool<'a>, Error> {
        let PoolData {
            rows,
            outcome,
            groups,
            cell,
            cells,
        } = data;
        check_input(&rows, &[&outcome], &groups)?;
        check_cells(&cell, cells, rows.len())?;
        let config = &ridge.config;
        let basis = Basis::fit(&rows, config.knots, config.interactions);
        let shift = term_means(&basis, &rows);
        let folds = config.folds;
        let fold: Vec<u32> = groups
            .iter()
            .map(|group| (mix(*group, CV_SALT) % folds as u64) as u32)
            .collect();
        let block: Vec<usize> = cell
            .iter()
            .zip(&fold)
            .map(|(cell, fold)| cell * folds + *fold as usize)
            .collect();
        let design = Design {
            basis: &basis,
            shift: &shift,
            rows: &rows,
            targets: &[&outcome],
            block: &block,
            blocks: cells * folds,
        };
        let stats = FoldStats::accumulate(&design, ridge.threads);
        drop(block);
        Ok(RidgePool {
            ridge,
            rows,
            // Below `cells`, which a u32 holds (checked).
            cell: cell.into_iter().map(|cell| cell as u32).collect(),
            fold,
            basis,
            shift,
            stats,
        })
    }

    fn folds(&self) -> usize {
        self.ridge.config.folds
    }

    /// The sums of the cells `cells` per fold (rows, Gram matrix and, when
    /// `outcome`, the outcome's sums; else no target).
    fn summed(&self, cells: &[usize], outcome: bool) -> Result<FoldStats, Error> {
        let mut cells = cells.to_vec();
        cells.sort_unstable();
        cells.dedup();
        let blocks = self.stats.rows.len() / self.folds();
        if let Some(bad) = cells.iter().find(|cell| **cell >= blocks) {
            return Err(Error::InvalidArgument {
                name: "cells",
                reason: format!("contains {bad}, expected cells below {blocks}"),
            });
        }
        let size = self.stats.size;
        let folds = self.folds();
        let targets = usize::from(outcome);
        let mut sums = FoldStats {
            size,
            rows: vec![0.0; folds],
            gram: vec![vec![0.0; size * size]; folds],
            cross: vec![vec![vec![0.0; size]; targets]; folds],
            squares: vec![vec![0.0; targets]; folds],
        };
        for cell in cells {
            for fold in 0..folds {
                let block = cell * folds + fold;
                sums.rows[fold] += self.stats.rows[block];
                add(&mut sums.gram[fold], &self.stats.gram[block]);
                if outcome {
                    add(&mut sums.cross[fold][0], &self.stats.cross[block][0]);
                    sums.squares[fold][0] += self.stats.squares[block][0];
                }
            }
        }
        if sums.rows.iter().sum::<f64>() == 0.0 {
            return Err(Error::NoCustomers {
                model: "ridge",
                detail: " (no row in the cells fitted)".into(),
            });
        }
        Ok(sums)
    }

    /// The models of every target of `sums` (shifted terms).
    fn solve(&self, sums: &FoldStats) -> Vec<RidgeModel> {
        let config = &self.ridge.config;
        let (stats, means, scales) = sums.standardised(&self.shift);
        let terms = self.basis.len();
        (0..sums.cross.first().map_or(0, Vec::len))
            .map(|target| {
                let penalty = stats.choose_penalty(target, config);
                let beta = stats.solve_all(target, penalty);
                // Back to raw terms: w_j z_j = (w_j / s_j) t_j - w_j m_j / s_j,
                // with m_j the raw term's mean (the shift added back).
                let mut intercept = beta[0];
                let mut coefficients = vec![0.0; terms];
                for term in 0..terms {
                    if scales[term] > 0.0 {
                        coefficients[term] = beta[term + 1] / scales[term];
                        intercept -= coefficients[term] * (means[term] + self.shift[term]);
                    }
                }
                RidgeModel {
                    basis: self.basis.clone(),
                    intercept,
                    coefficients,
                    penalty,
                }
            })
            .collect()
    }
}

impl Pool<RidgeModel> for RidgePool<'_> {
    fn fit(&self, cells: &[usize]) -> Result<RidgeModel, Error> {
        let sums = self.summed(cells, true)?;
        Ok(self.solve(&sums).pop().expect("one target"))
    }

    fn fit_many(&self, cells: &[usize], targets: &[&[f64]]) -> Result<Vec<RidgeModel>, Error> {
        let mut sums = self.summed(cells, false)?;
        let rows = self.rows.len();
        for (number, target) in targets.iter().enumerate() {
            if target.len() != rows {
                return Err(Error::InvalidInput {
                    input: format!("targets[{number}]"),
                    reason: format!("has {} values, expected {rows}", target.len()),
                });
            }
        }
        let size = sums.size;
        let mut chosen = vec![false; self.stats.rows.len() / self.folds()];
        for &cell in cells {
            chosen[cell] = true;
        }
        sums.cross = vec![vec![vec![0.0; size]; targets.len()]; self.folds()];
        sums.squares = vec![vec![0.0; targets.len()]; self.folds()];
        let mut u = vec![0.0; size];
        u[0] = 1.0;
        for index in 0..rows {
            if !chosen[self.cell[index] as usize] {
                continue;
            }
            self.basis.for_each(self.rows[index], |term, value| {
                u[term + 1] = value - self.shift[term];
            });
            let fold = self.fold[index] as usize;
            for (number, target) in targets.iter().enumerate() {
                let y = target[index];
                if !y.is_finite() {
                    return Err(Error::InvalidInput {
                        input: format!("targets[{number}][{index}]"),
                        reason: format!("is {y}, expected a finite number"),
                    });
                }
                for (sum, ua) in sums.cross[fold][number].iter_mut().zip(&u) {
                    *sum += ua * y;
                }
                sums.squares[fold][number] += y * y;
            }
        }
        Ok(self.solve(&sums))
    }
}

fn add(sums: &mut [f64], values: &[f64]) {
    for (sum, value) in sums.iter_mut().zip(values) {
        *sum += value;
    }
}

/// Every row has a cell below `cells`.
fn check_cells(cell: &[usize], cells: usize, rows: usize) -> Result<(), Error> {
    if u32::try_from(cells).is_err() {
        return Err(Error::InvalidArgument {
            name: "cells",
            reason: format!("is {cells}, expected at most {}", u32::MAX),
        });
    }
    if cell.len() != rows {
        return Err(Error::InvalidInput {
            input: "cell".into(),
            reason: format!("has {} values, expected {rows}", cell.len()),
        });
    }
    if let Some(index) = cell.iter().position(|cell| *cell >= cells) {
        return Err(Error::InvalidInput {
            input: format!("cell[{index}]"),
            reason: format!("is {}, expected a cell below {cells}", cell[index]),
        });
    }
    Ok(())
}

/// Checks the input.
fn check_input(rows: &[&[f64]], targets: &[&[f64]], groups: &[u64]) -> Result<(), Error> {
    if rows.is_empty() {
        return Err(Error::NoCustomers {
            model: "ridge",
            detail: String::new(),
        });
    }
    let width = rows[0].len();
    for (index, row) in rows.iter().enumerate() {
        if row.len() != width {
            return Err(Error::InvalidInput {
                input: format!("rows[{index}]"),
                reason: format!("has {} values, expected {width}", row.len()),
            });
        }
        if let Some(column) = row.iter().position(|value| !value.is_finite()) {
            return Err(Error::InvalidInput {
                input: format!("rows[{index}][{column}]"),
                reason: format!("is {}, expected a finite number", row[column]),
            });
        }
    }
    for (number, target) in targets.iter().enumerate() {
        if target.len() != rows.len() {
            return Err(Error::InvalidInput {
                input: format!("targets[{number}]"),
                reason: format!("has {} values, expected {}", target.len(), rows.len()),
            });
        }
        if let Some(index) = target.iter().position(|value| !value.is_finite()) {
            return Err(Error::InvalidInput {
                input: format!("targets[{number}][{index}]"),
                reason: format!("is {}, expected a finite number", target[index]),
            });
        }
    }
    if groups.len() != rows.len() {
        return Err(Error::InvalidInput {
            input: "groups".into(),
            reason: format!("has {} values, expected {}", groups.len(), rows.len()),
        });
    }
    Ok(())
}

/// The fixed basis: features, hinges at training quantiles, products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Basis {
    width: usize,
    /// Knots per feature, increasing.
    knots: Vec<Vec<f64>>,
    interactions: bool,
}

impl Basis {
    fn fit(rows: &[&[f64]], knots: usize, interactions: bool) -> Basis {
        let width = rows[0].len();
        let mut all = Vec::with_capacity(width);
        let mut column = Vec::with_capacity(rows.len());
        for feature in 0..width {
            column.clear();
            column.extend(rows.iter().map(|row| row[feature]));
            let last = column.len() - 1;
            let by_order = |a: &&f64, b: &&f64| a.total_cmp(b);
            let low = *column.iter().min_by(by_order).expect("at least one row");
            let high = *column.iter().max_by(by_order).expect("at least one row");
            // The values a full sort would put at the knots' ranks, by
            // selection (the ranks increase, so each search starts past the
            // previous one): the same knots in linear time, which matters
            // as the learners fit thousands of times per run.
            let mut chosen: Vec<f64> = Vec::with_capacity(knots);
            let mut start = 0;
            for step in 1..=knots {
                let quantile = step as f64 / (knots + 1) as f64;
                let rank = (quantile * last as f64).round() as usize;
                let (_, knot, _) =
                    column[start..].select_nth_unstable_by(rank - start, f64::total_cmp);
                let knot = *knot;
                start = rank;
                if knot > low && knot < high && chosen.last().is_none_or(|last| knot > *last) {
                    chosen.push(knot);
                }
            }
            all.push(chosen);
        }
        Basis {
            width,
            knots: all,
            interactions,
        }
    }

    fn len(&self) -> usize {
        let hinges: usize = self.knots.iter().map(Vec::len).sum();
        let products = if self.interactions {
            self.width * self.width.saturating_sub(1) / 2
        } else {
            0
        };
        self.width + hinges + products
    }

    /// Calls `f(term, value)` for every term, in a fixed order.
    fn for_each(&self, x: &[f64], mut f: impl FnMut(usize, f64)) {
        let mut term = 0;
        for (feature, knots) in self.knots.iter().enumerate() {
            f(term, x[feature]);
            term += 1;
            for knot in knots {
                f(term, (x[feature] - knot).max(0.0));
                term += 1;
            }
        }
        if self.interactions {
            for first in 0..self.width {
                for second in first + 1..self.width {
                    f(term, x[first] * x[second]);
                    term += 1;
                }
            }
        }
    }
}

/// The basis terms' means over `rows`.
fn term_means(basis: &Basis, rows: &[&[f64]]) -> Vec<f64> {
    let mut means = vec![0.0; basis.len()];
    for row in rows {
        basis.for_each(row, |term, value| means[term] += value);
    }
    let count = rows.len() as f64;
    means.iter_mut().for_each(|mean| *mean /= count);
    means
}

/// Salt of the penalty's cross-validation split, so it is independent of
/// any split the caller made by the same user keys.
const CV_SALT: u64 = 0x419E_C0DE_CAFE;

/// Sufficient statistics per block of rows (a pool's cell and fold, or a
/// fit's fold) of a design with a leading 1.
struct FoldStats {
    /// Design size: terms + 1 (intercept first).
    size: usize,
    rows: Vec<f64>,
    /// Per block: the Gram matrix (full, symmetric), `size * size`.
    gram: Vec<Vec<f64>>,
    /// Per block, per target: `sum u y`.
    cross: Vec<Vec<Vec<f64>>>,
    /// Per block, per target: `sum y^2`.
    squares: Vec<Vec<f64>>,
}

/// The design [`FoldStats::accumulate`] sums over: the basis terms less
/// `shift`, each row in block `block[row]`.
struct Design<'a> {
    basis: &'a Basis,
    shift: &'a [f64],
    rows: &'a [&'a [f64]],
    targets: &'a [&'a [f64]],
    block: &'a [usize],
    blocks: usize,
}

impl Design<'_> {
    /// Calls `f(index, block, u)` for every row in order, `u` the row's
    /// shifted terms after a leading 1.
    fn for_each_row(&self, size: usize, mut f: impl FnMut(usize, usize, &[f64])) {
        let mut u = vec![0.0; size];
        u[0] = 1.0;
        for (index, row) in self.rows.iter().enumerate() {
            self.basis.for_each(row, |term, value| {
                u[term + 1] = value - self.shift[term];
            });
            f(index, self.block[index], &u);
        }
    }
}

/// Below this many multiply-adds a fit accumulates on the caller's thread:
/// a thread costs tens of microseconds to start.
const PARALLEL_WORK: usize = 4_000_000;

/// One thread's share of [`FoldStats`]: the Gram lines `lines` and the
/// same entries of the cross products, every fold.
struct LineBlock {
    lines: std::ops::Range<usize>,
    /// Per fold: `lines.len() * size`, only `b >= a` filled.
    gram: Vec<Vec<f64>>,
    /// Per fold, per target: `lines.len()` entries.
    cross: Vec<Vec<Vec<f64>>>,
}

/// Rows a fold's Gram lines take in one sweep (see [`LineBlock::accumulate`]).
const SWEEP: usize = 4;

/// A fold's rows waiting for their sweep: their `u`s back to back, and
/// their indices.
struct Pending {
    rows: Vec<f64>,
    indices: [usize; SWEEP],
    len: usize,
}

impl LineBlock {
    /// Sums the block's lines over the rows. Each fold's rows are taken
    /// [`SWEEP`] at a time, so a line is loaded and stored once per sweep
    /// instead of once per row, and every entry still adds the rows'
    /// products one after the other in row order: `((g + p0) + p1) + p2 ...`
    /// is exactly the row-by-row sum, to the bit (a row's zero products
    /// add exact zeros to a sum that is never -0).
    fn accumulate(design: &Design<'_>, size: usize, lines: std::ops::Range<usize>) -> LineBlock {
        let width = lines.len();
        let targets = design.targets.len();
        let mut block = LineBlock {
            gram: vec![vec![0.0; width * size]; design.blocks],
            cross: vec![vec![vec![0.0; width]; targets]; design.blocks],
            lines,
        };
        let mut pending: Vec<Pending> = (0..design.blocks)
            .map(|_| Pending {
                rows: vec![0.0; SWEEP * size],
                indices: [0; SWEEP],
                len: 0,
            })
            .collect();
        design.for_each_row(size, |index, fold, u| {
            let waiting = &mut pending[fold];
            waiting.rows[waiting.len * size..(waiting.len + 1) * size].copy_from_slice(u);
            waiting.indices[waiting.len] = index;
            waiting.len += 1;
            if waiting.len == SWEEP {
                block.sweep(design, size, fold, waiting);
            }
        });
        for (fold, waiting) in pending.iter_mut().enumerate() {
            block.sweep(design, size, fold, waiting);
        }
        block
    }

    /// Adds `waiting`'s rows (in order) to fold `fold`, and empties it.
    fn sweep(&mut self, design: &Design<'_>, size: usize, fold: usize, waiting: &mut Pending) {
        let first = self.lines.start;
        let gram = &mut self.gram[fold];
        let rows = &waiting.rows[..waiting.len * size];
        if waiting.len == SWEEP {
            let (u0, rest) = rows.split_at(size);
            let (u1, rest) = rest.split_at(size);
            let (u2, u3) = rest.split_at(size);
            for a in self.lines.clone() {
                let (c0, c1, c2, c3) = (u0[a], u1[a], u2[a], u3[a]);
                if c0 == 0.0 && c1 == 0.0 && c2 == 0.0 && c3 == 0.0 {
                    continue;
                }
                let line = &mut gram[(a - first) * size + a..(a - first + 1) * size];
                let terms = u0[a..].iter().zip(&u1[a..]).zip(&u2[a..]).zip(&u3[a..]);
                for (sum, (((x0, x1), x2), x3)) in line.iter_mut().zip(terms) {
                    *sum = *sum + c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3;
                }
            }
        } else {
            for u in rows.chunks_exact(size) {
                for a in self.lines.clone() {
                    let ua = u[a];
                    if ua == 0.0 {
                        continue;
                    }
                    let line = &mut gram[(a - first) * size + a..(a - first + 1) * size];
                    for (sum, x) in line.iter_mut().zip(&u[a..]) {
                        *sum += ua * x;
                    }
                }
            }
        }
        for (u, &index) in rows.chunks_exact(size).zip(&waiting.indices) {
            for (target, values) in design.targets.iter().enumerate() {
                let y = values[index];
                for (sum, ua) in self.cross[fold][target].iter_mut().zip(&u[first..]) {
                    *sum += ua * y;
                }
            }
        }
        waiting.len = 0;
    }
}

/// Splits the Gram matrix's upper triangle into `parts` runs of lines of
/// about equal work (line `a` holds `size - a` entries).
fn line_runs(size: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let total = size * (size + 1) / 2;
    let mut runs = Vec::with_capacity(parts);
    let mut start = 0;
    let mut done = 0;
    for part in 1..=parts {
        let goal = total * part / parts;
        let mut end = start;
        while end < size && (done < goal || end == start) {
            done += size - end;
            end += 1;
        }
        if part == parts {
            end = size;
        }
        if end > start {
            runs.push(start..end);
        }
        start = end;
    }
    runs
}

impl FoldStats {
    /// One pass over the rows per thread; each thread owns a run of the
    /// Gram matrix's lines (and the same entries of the cross products), so
    /// every entry is summed over the rows in their order whatever the
    /// number of threads.
    fn accumulate(design: &Design<'_>, threads: usize) -> FoldStats {
        let size = design.basis.len() + 1;
        let folds = design.blocks;
        let targets = design.targets.len();
        let work = design.rows.len() * size * (size + 1) / 2;
        let threads = if work < PARALLEL_WORK {
            1
        } else {
            threads.clamp(1, size)
        };
        let mut stats = FoldStats {
            size,
            rows: vec![0.0; folds],
            gram: vec![vec![0.0; size * size]; folds],
            cross: vec![vec![vec![0.0; size]; targets]; folds],
            squares: vec![vec![0.0; targets]; folds],
        };
        let runs = line_runs(size, threads);
        let blocks: Vec<LineBlock> = if runs.len() == 1 {
            vec![LineBlock::accumulate(design, size, 0..size)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = runs
                    .into_iter()
                    .map(|lines| scope.spawn(move || LineBlock::accumulate(design, size, lines)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().expect("a Gram block thread panicked"))
                    .collect()
            })
        };
        for block in blocks {
            let first = block.lines.start;
            for fold in 0..folds {
                for a in block.lines.clone() {
                    let from = (a - first) * size;
                    stats.gram[fold][a * size + a..(a + 1) * size]
                        .copy_from_slice(&block.gram[fold][from + a..from + size]);
                }
                for target in 0..targets {
                    stats.cross[fold][target][block.lines.clone()]
                        .copy_from_slice(&block.cross[fold][target]);
                }
            }
        }
        for index in 0..design.rows.len() {
            let fold = design.block[index];
            stats.rows[fold] += 1.0;
            for (square, values) in stats.squares[fold].iter_mut().zip(design.targets) {
                *square += values[index] * values[index];
            }
        }
        for gram in &mut stats.gram {
            for a in 0..size {
                for b in 0..a {
                    gram[a * size + b] = gram[b * size + a];
                }
            }
        }
        stats
    }

    /// These sums (per fold, of terms less `shift`) in the terms
    /// standardised with the means and standard deviations of all their
    /// rows, with those means (of the shifted terms) and deviations; a term
    /// constant on the rows gets deviation 0 and weight 0. From the sums
    /// alone: with `t` a shifted term, `m` its mean and `s` its deviation,
    /// `sum z_a z_b = (sum t_a t_b - m_a sum t_b - m_b sum t_a + n m_a m_b)
    /// / (s_a s_b)`, per fold.
    fn standardised(&self, shift: &[f64]) -> (FoldStats, Vec<f64>, Vec<f64>) {
        let size = self.size;
        let terms = size - 1;
        let rows: f64 = self.rows.iter().sum();
        let mut means = vec![0.0; terms];
        let mut seconds = vec![0.0; terms];
        for gram in &self.gram {
            for term in 0..terms {
                means[term] += gram[term + 1];
                seconds[term] += gram[(term + 1) * size + term + 1];
            }
        }
        let scales: Vec<f64> = (0..terms)
            .map(|term| {
                means[term] /= rows;
                let second = seconds[term] / rows;
                let variance = second - means[term] * means[term];
                let scale = variance.max(0.0).sqrt();
                // Constant up to rounding: a variance lost in the rounding
                // of the second moment, or tiny against the raw mean.
                let raw_mean = means[term] + shift[term];
                if variance > 1e-9 * second && scale > 1e-12 * (1.0 + raw_mean.abs()) {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        // Per design column: (mean, 1 / scale), the intercept (0, 1); a
        // constant term's column is all zeros.
        let column = |index: usize| -> Option<(f64, f64)> {
            match index {
                0 => Some((0.0, 1.0)),
                _ => (scales[index - 1] > 0.0).then(|| (means[index - 1], 1.0 / scales[index - 1])),
            }
        };
        let columns: Vec<Option<(f64, f64)>> = (0..size).map(column).collect();
        let mut out = FoldStats {
            size,
            rows: self.rows.clone(),
            gram: Vec::with_capacity(self.gram.len()),
            cross: Vec::with_capacity(self.cross.len()),
            squares: self.squares.clone(),
        };
        for (fold, gram) in self.gram.iter().enumerate() {
            let n = self.rows[fold];
            let mut z = vec![0.0; size * size];
            for a in 0..size {
                let Some((mean_a, inverse_a)) = columns[a] else {
                    continue;
                };
                for b in a..size {
                    let Some((mean_b, inverse_b)) = columns[b] else {
                        continue;
                    };
                    let value = (gram[a * size + b] - mean_a * gram[b] - mean_b * gram[a]
                        + n * mean_a * mean_b)
                        * inverse_a
                        * inverse_b;
                    z[a * size + b] = value;
                    z[b * size + a] = value;
                }
            }
            out.gram.push(z);
            out.cross.push(
                self.cross[fold]
                    .iter()
                    .map(|cross| {
                        (0..size)
                            .map(|a| match columns[a] {
                                Some((mean, inverse)) => (cross[a] - mean * cross[0]) * inverse,
                                None => 0.0,
                            })
                            .collect()
                    })
                    .collect(),
            );
        }
        (out, means, scales)
    }

    /// The sums of every fold except `skip` (`None` = all), for `target`.
    fn without(&self, target: usize, skip: Option<usize>) -> Without {
        let size = self.size;
        let mut sums = Without {
            size,
            rows: 0.0,
            gram: vec![0.0; size * size],
            cross: vec![0.0; size],
        };
        for fold in 0..self.rows.len() {
            if Some(fold) == skip {
                continue;
            }
            sums.rows += self.rows[fold];
            add(&mut sums.gram, &self.gram[fold]);
            add(&mut sums.cross, &self.cross[fold][target]);
        }
        sums
    }

    fn solve_all(&self, target: usize, alpha: Option<f64>) -> Vec<f64> {
        let sums = self.without(target, None);
        sums.solve(alpha)
            .or_else(|| sums.solve(None))
            .expect("at least one row")
    }

    /// Held-out squared error of `beta` on `fold`.
    fn held_out_error(&self, target: usize, fold: usize, beta: &[f64]) -> f64 {
        let size = self.size;
        let gram = &self.gram[fold];
        let cross = &self.cross[fold][target];
        let mut quadratic = 0.0;
        for a in 0..size {
            let mut line = 0.0;
            for b in 0..size {
                line += gram[a * size + b] * beta[b];
            }
            quadratic += beta[a] * line;
        }
        let linear: f64 = beta.iter().zip(cross).map(|(b, h)| b * h).sum();
        (self.squares[fold][target] - 2.0 * linear + quadratic).max(0.0)
    }

    /// The penalty by cross-validation: candidates from weakest to
    /// strongest, ending with intercept only.
    fn choose_penalty(&self, target: usize, config: &RidgeConfig) -> Option<f64> {
        let folds: Vec<usize> = (0..self.rows.len())
            .filter(|&fold| self.rows[fold] > 0.0)
            .collect();
        if folds.len() < 2 {
            return None; // nothing to validate on: the cautious model
        }
        let mut candidates: Vec<Option<f64>> = config.penalties.iter().copied().map(Some).collect();
        candidates.sort_by(|a, b| {
            a.unwrap_or(f64::INFINITY)
                .total_cmp(&b.unwrap_or(f64::INFINITY))
        });
        candidates.push(None);
        // Per candidate: per-fold mean squared error, or None if singular.
        // Each fold's complement is summed once for every candidate.
        let training: Vec<Without> = folds
            .iter()
            .map(|&fold| self.without(target, Some(fold)))
            .collect();
        let errors: Vec<Option<Vec<f64>>> = candidates
            .iter()
            .map(|alpha| {
                folds
                    .iter()
                    .zip(&training)
                    .map(|(&fold, training)| {
                        let beta = training.solve(*alpha)?;
                        Some(self.held_out_error(target, fold, &beta) / self.rows[fold])
                    })
                    .collect()
            })
            .collect();
        let total_rows: f64 = folds.iter().map(|&fold| self.rows[fold]).sum();
        // Pooled held-out error per row (folds weighted by size).
        let pooled = |per_fold: &[f64]| -> f64 {
            folds
                .iter()
                .zip(per_fold)
                .map(|(&fold, error)| error * self.rows[fold])
                .sum::<f64>()
                / total_rows
        };
        let (best, best_error) = errors
            .iter()
            .enumerate()
            .filter_map(|(index, per_fold)| per_fold.as_ref().map(|e| (index, pooled(e))))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("intercept only is never singular");
        if !config.one_standard_error {
            return candidates[best];
        }
        let best_folds = errors[best].as_ref().expect("best is solved");
        // Strongest penalty first: the first within one standard error wins.
        for index in (best + 1..candidates.len()).rev() {
            let Some(per_fold) = &errors[index] else {
                continue;
            };
            let differences: Vec<f64> = per_fold
                .iter()
                .zip(best_folds)
                .map(|(a, b)| a - b)
                .collect();
            let count = differences.len() as f64;
            let mean = differences.iter().sum::<f64>() / count;
            let variance =
                differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (count - 1.0);
            let standard_error = (variance / count).sqrt();
            if pooled(per_fold) - best_error <= standard_error {
                return candidates[index];
            }
        }
        candidates[best]
    }
}

/// A design's sums over some folds: see [`FoldStats::without`].
struct Without {
    size: usize,
    rows: f64,
    gram: Vec<f64>,
    cross: Vec<f64>,
}

impl Without {
    /// Solves the ridge system; `alpha = None` is intercept only. `None` if
    /// there is no row or the system is singular.
    fn solve(&self, alpha: Option<f64>) -> Option<Vec<f64>> {
        let size = self.size;
        if self.rows == 0.0 {
            return None;
        }
        let Some(alpha) = alpha else {
            let mut beta = vec![0.0; size];
            beta[0] = self.cross[0] / self.rows;
            return Some(beta);
        };
        let mut gram = self.gram.clone();
        for term in 1..size {
            gram[term * size + term] += alpha * self.rows;
        }
        let mut cross = self.cross.clone();
        cholesky_solve(&mut gram, size, &mut cross).then_some(cross)
    }
}

/// Solves `a x = b` for symmetric positive definite `a` (row-major,
/// `size * size`, overwritten by its Cholesky factor); `x` replaces `b`.
/// `false` if `a` is not numerically positive definite.
fn cholesky_solve(a: &mut [f64], size: usize, b: &mut [f64]) -> bool {
    for j in 0..size {
        let mut diagonal = a[j * size + j];
        for k in 0..j {
            diagonal -= a[j * size + k] * a[j * size + k];
        }
        // NaN fails this test too.
        if diagonal.is_nan() || diagonal <= 1e-12 * a[j * size + j].abs().max(1e-300) {
            return false;
        }
        let pivot = diagonal.sqrt();
        a[j * size + j] = pivot;
        for i in j + 1..size {
            let mut value = a[i * size + j];
            for k in 0..j {
                value -= a[i * size + k] * a[j * size + k];
            }
            a[i * size + j] = value / pivot;
        }
    }
    // L y = b, then L' x = y.
    for i in 0..size {
        let mut value = b[i];
        for k in 0..i {
            value -= a[i * size + k] * b[k];
        }
        b[i] = value / a[i * size + i];
    }
    for i in (0..size).rev() {
        let mut value = b[i];
        for k in i + 1..size {
            value -= a[k * size + i] * b[k];
        }
        b[i] = value / a[i * size + i];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn fit_one(config: RidgeConfig, rows: &[Vec<f64>], y: &[f64]) -> RidgeModel {
        let rows: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let groups: Vec<u64> = (0..rows.len() as u64).collect();
        Ridge::new(config).unwrap().fit(&rows, y, &groups).unwrap()
    }

    /// Rows, two targets and user groups large enough that the Gram
    /// matrices are accumulated on several threads.
    fn wide_problem(seed: u64) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<u64>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let rows: Vec<Vec<f64>> = (0..12_000)
            .map(|_| {
                vec![
                    rng.random_range(-1.0..1.0),
                    rng.random_range(0.0..100.0),
                    f64::from(rng.random_bool(0.3)),
                    rng.random_range(0.0..1.0f64).powi(3),
                    f64::from(rng.random_range(0..5u8)),
                ]
            })
            .collect();
        let targets = (0..2)
            .map(|target| {
                rows.iter()
                    .map(|x| {
                        x[0] * x[2] - 0.01 * x[1]
                            + f64::from(target) * x[3]
                            + rng.random_range(-1.0..1.0)
                    })
                    .collect()
            })
            .collect();
        let groups = (0..rows.len() as u64).map(|user| user / 3).collect();
        (rows, targets, groups)
    }

    /// The sums row by row, every product added in row order: what the
    /// sweeps of [`LineBlock::accumulate`] must equal to the bit.
    fn sums_row_by_row(design: &Design<'_>, size: usize) -> (Vec<Vec<f64>>, Vec<Vec<Vec<f64>>>) {
        let mut gram = vec![vec![0.0; size * size]; design.blocks];
        let mut cross = vec![vec![vec![0.0; size]; design.targets.len()]; design.blocks];
        design.for_each_row(size, |index, fold, u| {
            for a in 0..size {
                for b in a..size {
                    gram[fold][a * size + b] += u[a] * u[b];
                }
                for (target, values) in design.targets.iter().enumerate() {
                    cross[fold][target][a] += u[a] * values[index];
                }
            }
        });
        for gram in &mut gram {
            for a in 0..size {
                for b in 0..a {
                    gram[a * size + b] = gram[b * size + a];
                }
            }
        }
        (gram, cross)
    }

    #[test]
    fn sweeps_sum_to_the_bits_of_row_by_row() {
        let (rows, targets, groups) = wide_problem(13);
        // A row count that leaves every fold a partial sweep.
        let rows: Vec<&[f64]> = rows.iter().take(9_999).map(Vec::as_slice).collect();
        let targets: Vec<&[f64]> = targets.iter().map(|target| &target[..rows.len()]).collect();
        let groups = &groups[..rows.len()];
        let basis = Basis::fit(&rows, 3, true);
        let shift = term_means(&basis, &rows);
        let block: Vec<usize> = groups
            .iter()
            .map(|group| (mix(*group, CV_SALT) % 5) as usize)
            .collect();
        let design = Design {
            basis: &basis,
            shift: &shift,
            rows: &rows,
            targets: &targets,
            block: &block,
            blocks: 5,
        };
        let size = basis.len() + 1;
        let (gram, cross) = sums_row_by_row(&design, size);
        let bits = |values: &[f64]| {
            values
                .iter()
                .map(|value| value.to_bits())
                .collect::<Vec<_>>()
        };
        for threads in [1, 3] {
            let stats = FoldStats::accumulate(&design, threads);
            for fold in 0..5 {
                assert_eq!(bits(&stats.gram[fold]), bits(&gram[fold]), "fold {fold}");
                for (target, (sums, expected)) in
                    stats.cross[fold].iter().zip(&cross[fold]).enumerate()
                {
                    assert_eq!(bits(sums), bits(expected), "fold {fold}, target {target}");
                }
            }
        }
    }

    #[test]
    fn any_thread_count_fits_the_same_bits() {
        let (rows, targets, groups) = wide_problem(11);
        let rows: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let targets: Vec<&[f64]> = targets.iter().map(Vec::as_slice).collect();
        let fit = |threads: usize| {
            Ridge::new(RidgeConfig::default())
                .unwrap()
                .with_threads(threads)
                .fit_many(&rows, &targets, &groups)
                .unwrap()
        };
        let one = fit(1);
        assert_eq!(one.len(), 2);
        for threads in [2, 3, 7] {
            assert_eq!(fit(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn knots_by_selection_are_the_sorted_columns_quantiles() {
        let (rows, _, _) = wide_problem(12);
        let slices: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        for knots in [1, 3, 4, 9] {
            let basis = Basis::fit(&slices, knots, false);
            for (feature, chosen) in basis.knots.iter().enumerate() {
                let mut column: Vec<f64> = rows.iter().map(|row| row[feature]).collect();
                column.sort_by(f64::total_cmp);
                let (low, high) = (column[0], column[column.len() - 1]);
                let mut expected: Vec<f64> = Vec::new();
                for step in 1..=knots {
                    let rank = (step as f64 / (knots + 1) as f64 * (column.len() - 1) as f64)
                        .round() as usize;
                    let knot = column[rank];
                    if knot > low && knot < high && expected.last().is_none_or(|last| knot > *last)
                    {
                        expected.push(knot);
                    }
                }
                assert_eq!(chosen, &expected, "feature {feature}, {knots} knots");
            }
        }
    }

    #[test]
    fn line_runs_cover_the_matrix_once() {
        for size in [1, 2, 5, 18, 69] {
            for parts in 1..=8 {
                let runs = line_runs(size, parts);
                assert!(runs.len() <= parts);
                assert_eq!(runs.first().map(|run| run.start), Some(0));
                assert_eq!(runs.last().map(|run| run.end), Some(size));
                assert!(runs.windows(2).all(|pair| pair[0].end == pair[1].start));
                assert!(runs.iter().all(|run| !run.is_empty()));
            }
        }
    }

    #[test]
    fn recovers_a_linear_function_with_a_weak_penalty() {
        let mut rng = StdRng::seed_from_u64(1);
        let rows: Vec<Vec<f64>> = (0..2000)
            .map(|_| vec![rng.random_range(-1.0..1.0), rng.random_range(0.0..100.0)])
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|x| 3.0 + 2.0 * x[0] - 0.05 * x[1] + 0.01 * rng.random_range(-1.0..1.0))
            .collect();
        let config = RidgeConfig {
            knots: 0,
            interactions: false,
            ..RidgeConfig::default()
        };
        let model = fit_one(config, &rows, &y);
        for x in [[0.5, 10.0], [-0.9, 90.0]] {
            let truth = 3.0 + 2.0 * x[0] - 0.05 * x[1];
            assert!((model.predict(&x) - truth).abs() < 0.01, "{x:?}");
        }
        assert!(model.penalty().is_some_and(|alpha| alpha <= 1e-2));
    }

    #[test]
    fn hinges_fit_a_threshold_and_products_an_interaction() {
        let mut rng = StdRng::seed_from_u64(2);
        let rows: Vec<Vec<f64>> = (0..4000)
            .map(|_| vec![rng.random_range(0.0..1.0), f64::from(rng.random_bool(0.5))])
            .collect();
        let truth = |x: &[f64]| (x[0] - 0.5).max(0.0) * 4.0 + 2.0 * x[0] * x[1];
        let y: Vec<f64> = rows
            .iter()
            .map(|x| truth(x) + rng.random_range(-0.1..0.1))
            .collect();
        let model = fit_one(RidgeConfig::default(), &rows, &y);
        for x in [[0.2, 0.0], [0.9, 0.0], [0.2, 1.0], [0.9, 1.0]] {
            assert!(
                (model.predict(&x) - truth(&x)).abs() < 0.05,
                "{x:?}: {}",
                model.predict(&x)
            );
        }
        // The 0/1 feature gets no hinge: 2 + 3 knots + 0 + 1 product.
        assert_eq!(model.terms(), 2 + 3 + 1);
    }

    #[test]
    fn pure_noise_is_fitted_by_the_intercept_alone() {
        let mut rng = StdRng::seed_from_u64(3);
        let rows: Vec<Vec<f64>> = (0..3000)
            .map(|_| (0..5).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let y: Vec<f64> = (0..rows.len())
            .map(|_| 7.0 + rng.random_range(-10.0..10.0))
            .collect();
        let model = fit_one(RidgeConfig::default(), &rows, &y);
        let spread = rows
            .iter()
            .map(|x| (model.predict(x) - 7.0).abs())
            .fold(0.0, f64::max);
        assert!(spread < 0.6, "predictions stray {spread} from the mean");
    }

    #[test]
    fn shares_the_design_across_targets_and_handles_constant_features() {
        let rows: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i) / 200.0, 5.0]).collect();
        let first: Vec<f64> = rows.iter().map(|x| 1.0 + x[0]).collect();
        let second: Vec<f64> = rows.iter().map(|x| -2.0 * x[0]).collect();
        let slices: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let groups: Vec<u64> = (0..200).collect();
        let models = Ridge::default()
            .fit_many(&slices, &[&first, &second], &groups)
            .unwrap();
        assert_eq!(models.len(), 2);
        assert!((models[0].predict(&[0.5, 5.0]) - 1.5).abs() < 0.02);
        assert!((models[1].predict(&[0.5, 5.0]) + 1.0).abs() < 0.02);
    }

    /// `wide_problem`'s rows in 5 cells (by user), as a pool's data.
    fn cells_of<'a>(rows: &'a [Vec<f64>], target: &[f64], groups: &[u64]) -> PoolData<'a> {
        PoolData {
            cell: groups
                .iter()
                .map(|group| (mix(*group, 7) % 5) as usize)
                .collect(),
            rows: rows.iter().map(Vec::as_slice).collect(),
            outcome: target.to_vec(),
            groups: groups.to_vec(),
            cells: 5,
        }
    }

    #[test]
    fn a_pooled_fit_on_some_cells_is_the_fit_on_their_rows() {
        let (rows, targets, groups) = wide_problem(21);
        let data = cells_of(&rows, &targets[0], &groups);
        let chosen = [0, 2, 3];
        let subset: Vec<usize> = (0..rows.len())
            .filter(|&index| chosen.contains(&data.cell[index]))
            .collect();
        let pick = |values: &[f64]| -> Vec<f64> { subset.iter().map(|&i| values[i]).collect() };
        let subset_rows: Vec<&[f64]> = subset.iter().map(|&i| rows[i].as_slice()).collect();
        let subset_groups: Vec<u64> = subset.iter().map(|&i| groups[i]).collect();
        // No knots: the basis does not depend on the rows, so the pool's
        // fit and a fit on the cells' rows alone are the same model, up to
        // the order of the sums.
        let ridge = Ridge::new(RidgeConfig {
            knots: 0,
            ..RidgeConfig::default()
        })
        .unwrap();
        let pool = ridge.pool(data.clone()).unwrap();
        let alone = |target: &[f64]| {
            ridge
                .fit(&subset_rows, &pick(target), &subset_groups)
                .unwrap()
        };
        let pooled = [
            pool.fit(&chosen).unwrap(),
            pool.fit_many(&chosen, &[&targets[1]]).unwrap().remove(0),
        ];
        for (pooled, target) in pooled.iter().zip(&targets) {
            let alone = alone(target);
            assert_eq!(pooled.penalty(), alone.penalty());
            for row in rows.iter().take(200) {
                let (a, b) = (pooled.predict(row), alone.predict(row));
                assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} against {b}");
            }
        }
        // The cells' order does not matter; an unknown cell is refused.
        assert_eq!(pool.fit(&[3, 0, 2]).unwrap(), pooled[0]);
        let err = pool.fit(&[5]).unwrap_err();
        assert!(err.to_string().contains("cells"), "{err}");
    }

    #[test]
    fn features_far_from_zero_and_terms_constant_on_the_cells_fit_cleanly() {
        let mut rng = StdRng::seed_from_u64(4);
        // Feature 0 sits a million away from 0 with a spread of 1; feature
        // 1 is 1 in cell 0 and 0 elsewhere, so it is constant on cell 0.
        let rows: Vec<Vec<f64>> = (0..6_000)
            .map(|index| {
                vec![
                    1e6 + rng.random_range(0.0..1.0),
                    f64::from(u8::from(index % 3 == 0)),
                ]
            })
            .collect();
        let truth = |x: &[f64]| 2.0 * (x[0] - 1e6) + 0.5 * x[1];
        let y: Vec<f64> = rows
            .iter()
            .map(|x| truth(x) + 0.01 * rng.random_range(-1.0..1.0))
            .collect();
        let groups: Vec<u64> = (0..rows.len() as u64).collect();
        let mut data = cells_of(&rows, &y, &groups);
        data.cells = 2;
        data.cell = (0..rows.len())
            .map(|index| usize::from(index % 3 != 0))
            .collect();
        let ridge = Ridge::new(RidgeConfig {
            knots: 0,
            interactions: false,
            ..RidgeConfig::default()
        })
        .unwrap();
        let pool = ridge.pool(data).unwrap();
        for cells in [&[0][..], &[1], &[0, 1]] {
            let model = pool.fit(cells).unwrap();
            for (index, row) in rows.iter().enumerate().take(300) {
                if cells.contains(&usize::from(index % 3 != 0)) {
                    let error = (model.predict(row) - truth(row)).abs();
                    assert!(error < 0.01, "cells {cells:?}: off by {error}");
                }
            }
        }
    }

    #[test]
    fn refuses_bad_input() {
        let rows: Vec<&[f64]> = vec![&[1.0], &[f64::NAN]];
        let err = Ridge::default()
            .fit(&rows, &[1.0, 2.0], &[0, 1])
            .unwrap_err();
        assert!(err.to_string().contains("rows[1][0]"), "{err}");
        let rows: Vec<&[f64]> = vec![&[1.0], &[2.0]];
        let err = Ridge::default().fit(&rows, &[1.0], &[0, 1]).unwrap_err();
        assert!(err.to_string().contains("targets[0]"), "{err}");
        assert!(
            Ridge::new(RidgeConfig {
                folds: 1,
                ..RidgeConfig::default()
            })
            .is_err()
        );
    }
}
