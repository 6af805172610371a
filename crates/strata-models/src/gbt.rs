//! Gradient-boosted decision trees, histogram-based: a regressor (squared
//! error) and a binary classifier (logistic loss, predicting a probability),
//! with sample weights, row subsampling and early stopping on a validation
//! set the caller supplies.
//!
//! ## How a fit runs
//! 1. **Binning, once.** Each feature's values are cut into at most
//!    `max_bins` (<= 256) bins at quantiles of a systematic sample of up to
//!    200k rows; a feature with few distinct values gets one bin per value
//!    (cut at the midpoints). Every row's bins are stored as `u8`, **row-major**
//!    (`bins[row * width + feature]`). Row-major rather than column-major
//!    because a deep node's rows are a sparse subset of the data: one row's
//!    bins for all features then share one cache line, where column-major
//!    would touch one line per feature per row (1M x 12 rows, 100 trees of
//!    depth 6: 8.6 s row-major against 13.2 s column-major with ordered
//!    gradients, on one core). A tree can only split between bins, so the split
//!    search is over at most `max_bins - 1` thresholds per feature.
//! 2. **Newton boosting** (as in XGBoost and LightGBM): each tree fits the
//!    first and second derivatives (`g`, `h`) of the loss at the current
//!    prediction. A leaf's value is `-G / (H + l2_regularisation)` times the
//!    learning rate; a split's gain is
//!    `G_L^2 / (H_L + l) + G_R^2 / (H_R + l) - G^2 / (H + l)` (twice the
//!    loss decrease; `min_split_gain` is on this scale).
//! 3. **Trees grow depth-first to `max_depth`**, a node's histogram holding
//!    `(sum g, sum h, rows)` per (feature, bin). Only the smaller child's
//!    histogram is built from its rows; the larger one's is the parent's minus
//!    the smaller's (the subtraction trick), so each level reads at most half
//!    the rows. A child that cannot split (at maximum depth, or with fewer than
//!    `2 * min_samples_leaf` rows) gets no histogram at all: its leaf value
//!    comes from the totals the split search already has.
//! 4. Rows are partitioned in place, stably, so every node's rows stay in
//!    ascending order and the histogram pass reads memory forwards.
//!
//! A split sends `x <= threshold` left, where `threshold` is a bin's upper
//! cut, so prediction on raw floats agrees exactly with the binned training
//! rows. Training refuses non-finite values; at prediction a NaN goes right.
//!
//! Subsampling draws each row into a tree's sample with probability
//! `subsample`, from an in-file splitmix64 seeded by `seed` and the tree's
//! number, so a fit is a pure function of its inputs and config (the crate
//! takes no `rand` dependency).
//!
//! ## Early stopping
//! With a validation set, the validation loss (weighted mean squared error or
//! log loss) is measured after every tree. Training stops once
//! `early_stopping_rounds` trees in a row have not improved on the best, and
//! the model keeps only the trees up to the best one (possibly none: the
//! base score alone). The validation set must be separate from the rows the
//! model is later judged on, or the judgement is optimistic.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::ops::{AddAssign, Sub, SubAssign};

/// Which loss the trees minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// Regression: half the squared error; `predict` returns the mean.
    Squared,
    /// Binary classification on targets in `0..=1` (usually 0 or 1):
    /// cross-entropy on the log-odds; `predict` returns the probability.
    Logistic,
}

/// How the trees are grown. The defaults suit tens of thousands to millions of
/// rows and about a dozen features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbtConfig {
    /// Trees to grow (fewer with early stopping).
    pub trees: u32,
    /// Shrinkage applied to every leaf value, in `(0, 1]`.
    pub learning_rate: f64,
    /// Maximum depth of a tree (a depth-d tree has up to `2^d` leaves), 1..=16.
    pub max_depth: u32,
    /// Bins per feature, 2..=256.
    pub max_bins: u32,
    /// The ridge `l` on leaf values: `-G / (H + l)`. Pulls small leaves to 0.
    pub l2_regularisation: f64,
    /// Rows (not weight) a leaf needs at least.
    pub min_samples_leaf: u32,
    /// Hessian sum a leaf needs at least (for logistic loss, `p (1 - p)`
    /// summed: keeps leaves off rows the model is already sure of).
    pub min_hessian_leaf: f64,
    /// A split must gain more than this (on the gain scale of the module
    /// documentation).
    pub min_split_gain: f64,
    /// Share of rows drawn into each tree's sample, in `(0, 1]`.
    pub subsample: f64,
    /// Seed of the subsampling draws.
    pub seed: u64,
    /// With a validation set: stop after this many trees without improvement
    /// (0: grow all trees, then keep the best prefix).
    pub early_stopping_rounds: u32,
}

impl Default for GbtConfig {
    fn default() -> Self {
        GbtConfig {
            trees: 100,
            learning_rate: 0.1,
            max_depth: 6,
            max_bins: 64,
            l2_regularisation: 1.0,
            min_samples_leaf: 20,
            min_hessian_leaf: 1e-3,
            min_split_gain: 0.0,
            subsample: 1.0,
            seed: 0,
            early_stopping_rounds: 20,
        }
    }
}

/// Rows held out from training, for early stopping.
#[derive(Debug, Clone, Copy)]
pub struct ValidationSet<'a, R> {
    pub rows: &'a [R],
    pub y: &'a [f64],
    /// `None`: every row weighs 1.
    pub weights: Option<&'a [f64]>,
}

/// A fitted ensemble of trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbt {
    loss: Loss,
    /// The starting prediction on the margin scale: the weighted mean of `y`
    /// (squared) or its log-odds (logistic).
    base_score: f64,
    feature_count: usize,
    trees: Vec<Tree>,
    /// Validation loss after each grown tree (index 0: after the first tree),
    /// including trees dropped by early stopping; empty without validation.
    validation_losses: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TreeNodes", into = "TreeNodes")]
struct Tree {
    /// Node 0 is the root; children always come after their parent.
    nodes: Vec<Node>,
    /// The same tree laid out complete, for prediction; `None` when it is
    /// deeper than [`Complete::MAX_DEPTH`]. Built from `nodes`, never stored.
    complete: Option<Complete>,
}

/// How a tree is stored (the model file holds only its nodes).
#[derive(Serialize, Deserialize)]
struct TreeNodes {
    nodes: Vec<Node>,
}

/// A stored tree is checked before it is laid out: a model file is
/// human-readable, and a node list with a child before its parent (a
/// cycle) or past the end would hang or crash the layout and the walk.
impl TryFrom<TreeNodes> for Tree {
    type Error = String;

    fn try_from(stored: TreeNodes) -> Result<Tree, String> {
        let nodes = stored.nodes;
        if nodes.is_empty() {
            return Err("a tree has no nodes".to_owned());
        }
        for (id, node) in nodes.iter().enumerate() {
            if let Node::Split { left, right, .. } = node {
                for child in [*left, *right] {
                    let child = child as usize;
                    if child <= id || child >= nodes.len() {
                        return Err(format!(
                            "tree node {id} has child {child}, expected one after it and \
                             below {} (the tree's nodes)",
                            nodes.len()
                        ));
                    }
                }
            }
        }
        Ok(Tree::new(nodes))
    }
}

impl From<Tree> for TreeNodes {
    fn from(tree: Tree) -> TreeNodes {
        TreeNodes { nodes: tree.nodes }
    }
}

/// A tree as a complete binary tree of its greatest depth: the splits in
/// breadth-first order (the children of slot `i` at `2i + 1` and `2i + 2`),
/// then `2^depth` leaves. A leaf above that depth fills every leaf slot
/// beneath it, so the splits in between (feature 0, threshold 0) lead to
/// its value either way. Every row then takes `depth` steps with no branch
/// on the path: walking the nodes, each tree's unpredictable exit was most
/// of a prediction's time (the apply stage predicts once per user).
#[derive(Debug, Clone, PartialEq)]
struct Complete {
    depth: u32,
    features: Vec<u32>,
    thresholds: Vec<f64>,
    leaves: Vec<f64>,
}

impl Complete {
    /// Deeper trees keep the node walk (`2^depth` slots each).
    const MAX_DEPTH: u32 = 10;

    fn of(nodes: &[Node]) -> Option<Complete> {
        if nodes.is_empty() {
            return None;
        }
        let depth = Self::depth_below(nodes, 0);
        if depth > Self::MAX_DEPTH {
            return None;
        }
        let splits = (1usize << depth) - 1;
        let mut complete = Complete {
            depth,
            features: vec![0; splits],
            thresholds: vec![0.0; splits],
            leaves: vec![0.0; splits + 1],
        };
        complete.place(nodes, 0, 0, 0);
        Some(complete)
    }

    fn depth_below(nodes: &[Node], id: usize) -> u32 {
        match nodes[id] {
            Node::Leaf { .. } => 0,
            Node::Split { left, right, .. } => {
                1 + Self::depth_below(nodes, left as usize)
                    .max(Self::depth_below(nodes, right as usize))
            }
        }
    }

    /// Puts node `id` and its subtree at `slot`, on `level`.
    fn place(&mut self, nodes: &[Node], id: usize, slot: usize, level: u32) {
        match nodes[id] {
            Node::Split {
                feature,
                threshold,
                left,
                right,
                ..
            } => {
                self.features[slot] = feature;
                self.thresholds[slot] = threshold;
                self.place(nodes, left as usize, 2 * slot + 1, level + 1);
                self.place(nodes, right as usize, 2 * slot + 2, level + 1);
            }
            Node::Leaf { value } => {
                let below = self.depth - level;
                // The leftmost slot beneath `slot` at the last level, as a leaf index.
                let first = ((slot + 1) << below) - (1usize << self.depth);
                self.leaves[first..first + (1usize << below)].fill(value);
            }
        }
    }

    fn value(&self, x: &[f64]) -> f64 {
        let mut slot = 0;
        for _ in 0..self.depth {
            // As the node walk: `x <= threshold` goes left, anything else
            // (NaN too) right.
            let left = x[self.features[slot] as usize] <= self.thresholds[slot];
            slot = 2 * slot + 2 - usize::from(left);
        }
        self.leaves[slot + 1 - (1usize << self.depth)]
    }

    /// [`Complete::value`] of four trees of the same depth for one row,
    /// their steps interleaved: one tree's path is a chain of dependent
    /// loads, so four independent chains take little longer than one.
    fn values_of_four_trees(trees: [&Complete; 4], x: &[f64]) -> [f64; 4] {
        let depth = trees[0].depth;
        debug_assert!(trees.iter().all(|tree| tree.depth == depth));
        let mut slots = [0usize; 4];
        for _ in 0..depth {
            for (slot, tree) in slots.iter_mut().zip(trees) {
                let left = x[tree.features[*slot] as usize] <= tree.thresholds[*slot];
                *slot = 2 * *slot + 2 - usize::from(left);
            }
        }
        std::array::from_fn(|index| trees[index].leaves[slots[index] + 1 - (1usize << depth)])
    }

    /// [`Complete::value`] of four rows, their steps interleaved (as
    /// [`Complete::values_of_four_trees`]).
    fn values_of_four_rows(&self, rows: [&[f64]; 4]) -> [f64; 4] {
        let mut slots = [0usize; 4];
        for _ in 0..self.depth {
            for (slot, x) in slots.iter_mut().zip(rows) {
                let left = x[self.features[*slot] as usize] <= self.thresholds[*slot];
                *slot = 2 * *slot + 2 - usize::from(left);
            }
        }
        slots.map(|slot| self.leaves[slot + 1 - (1usize << self.depth)])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Node {
    Split {
        feature: u32,
        /// `x[feature] <= threshold` goes left.
        threshold: f64,
        /// The split's gain, for feature importance.
        gain: f64,
        left: u32,
        right: u32,
    },
    Leaf {
        /// Already multiplied by the learning rate.
        value: f64,
    },
}

impl Tree {
    fn new(nodes: Vec<Node>) -> Tree {
        let complete = Complete::of(&nodes);
        Tree { nodes, complete }
    }

    fn value(&self, x: &[f64]) -> f64 {
        match &self.complete {
            Some(complete) => complete.value(x),
            None => self.walk(x),
        }
    }

    /// [`Tree::value`] of four rows.
    fn values_of_four_rows(&self, rows: [&[f64]; 4]) -> [f64; 4] {
        match &self.complete {
            Some(complete) => complete.values_of_four_rows(rows),
            None => rows.map(|x| self.walk(x)),
        }
    }

    /// Adds the tree's value of `rows[index]` to `margins[index]` for every
    /// index in `indices`, four rows at a time.
    fn add_values(&self, rows: &[impl AsRef<[f64]>], indices: &[u32], margins: &mut [f64]) {
        let mut quads = indices.chunks_exact(4);
        for quad in &mut quads {
            let values = self
                .values_of_four_rows(std::array::from_fn(|at| rows[quad[at] as usize].as_ref()));
            for (&index, value) in quad.iter().zip(values) {
                margins[index as usize] += value;
            }
        }
        for &index in quads.remainder() {
            margins[index as usize] += self.value(rows[index as usize].as_ref());
        }
    }

    /// Adds the tree's value of each row to its margin, four rows at a time.
    fn add_values_in_order(&self, rows: &[impl AsRef<[f64]>], margins: &mut [f64]) {
        let mut quads = rows.chunks_exact(4).zip(margins.chunks_exact_mut(4));
        for (quad, quad_margins) in &mut quads {
            let values = self.values_of_four_rows(std::array::from_fn(|at| quad[at].as_ref()));
            for (margin, value) in quad_margins.iter_mut().zip(values) {
                *margin += value;
            }
        }
        let done = rows.len() / 4 * 4;
        for (margin, row) in margins[done..].iter_mut().zip(&rows[done..]) {
            *margin += self.value(row.as_ref());
        }
    }

    /// The prediction through the nodes.
    fn walk(&self, x: &[f64]) -> f64 {
        let mut index = 0;
        loop {
            match self.nodes[index] {
                Node::Leaf { value } => return value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    index = if x[feature as usize] <= threshold {
                        left as usize
                    } else {
                        right as usize
                    };
                }
            }
        }
    }
}

impl Gbt {
    /// Fits `config.trees` trees to `y` (one target per row), each row
    /// weighted by `weights` (`None`: all 1). For [`Loss::Logistic`] the
    /// targets must be in `0..=1`.
    pub fn fit<R: AsRef<[f64]>>(
        rows: &[R],
        y: &[f64],
        weights: Option<&[f64]>,
        loss: Loss,
        config: &GbtConfig,
    ) -> Result<Gbt, Error> {
        train::<R, R>(rows, y, weights, None, loss, config)
    }

    /// As [`Gbt::fit`], measuring the loss on `validation` after every tree,
    /// stopping early and keeping the best number of trees (see the module
    /// documentation).
    pub fn fit_with_validation<R: AsRef<[f64]>, V: AsRef<[f64]>>(
        rows: &[R],
        y: &[f64],
        weights: Option<&[f64]>,
        validation: ValidationSet<'_, V>,
        loss: Loss,
        config: &GbtConfig,
    ) -> Result<Gbt, Error> {
        train(rows, y, weights, Some(validation), loss, config)
    }

    /// The prediction for one row: the mean (squared loss) or the
    /// probability (logistic loss).
    ///
    /// # Panics
    /// If `x` does not have one value per fitted feature: that is a bug in
    /// the caller's feature builder, not bad data.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let margin = self.predict_margin(x);
        match self.loss {
            Loss::Squared => margin,
            Loss::Logistic => sigmoid(margin),
        }
    }

    /// The raw sum of the trees: equal to [`Gbt::predict`] for squared loss,
    /// the log-odds for logistic loss.
    ///
    /// # Panics
    /// As [`Gbt::predict`].
    pub fn predict_margin(&self, x: &[f64]) -> f64 {
        assert_eq!(x.len(), self.feature_count, "one value per fitted feature");
        self.base_score + self.sum_of_trees(x)
    }

    /// The trees' values summed in order, as `Iterator::sum` sums them
    /// (the same start, the same additions), four trees of the same
    /// complete depth at a time evaluated together.
    fn sum_of_trees(&self, x: &[f64]) -> f64 {
        let mut total = std::iter::empty::<f64>().sum::<f64>();
        let mut trees = self.trees.as_slice();
        while let [first, second, third, fourth, rest @ ..] = trees {
            let quad = [first, second, third, fourth];
            let values = match quad.map(|tree| tree.complete.as_ref()) {
                [Some(a), Some(b), Some(c), Some(d)]
                    if a.depth == b.depth && a.depth == c.depth && a.depth == d.depth =>
                {
                    Complete::values_of_four_trees([a, b, c, d], x)
                }
                _ => quad.map(|tree| tree.value(x)),
            };
            for value in values {
                total += value;
            }
            trees = rest;
        }
        for tree in trees {
            total += tree.value(x);
        }
        total
    }

    pub fn loss(&self) -> Loss {
        self.loss
    }

    pub fn feature_count(&self) -> usize {
        self.feature_count
    }

    /// Trees kept (after early stopping).
    pub fn tree_count(&self) -> usize {
        self.trees.len()
    }

    /// Validation loss after each grown tree, including any dropped by early
    /// stopping; empty when fitted without validation.
    pub fn validation_losses(&self) -> &[f64] {
        &self.validation_losses
    }

    /// Total split gain per feature over the kept trees, normalised to sum to
    /// 1 (all zeros when no tree split): what the model leans on.
    pub fn feature_importance(&self) -> Vec<f64> {
        let mut gains = vec![0.0; self.feature_count];
        for tree in &self.trees {
            for node in &tree.nodes {
                if let Node::Split { feature, gain, .. } = node {
                    gains[*feature as usize] += gain;
                }
            }
        }
        let total: f64 = gains.iter().sum();
        if total > 0.0 {
            for gain in &mut gains {
                *gain /= total;
            }
        }
        gains
    }
}

/// A tiny deterministic PRNG (Steele, Lea and Flood's splitmix64): enough for
/// sampling and shuffling, and keeps `rand` out of the crate's dependencies.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..bound` (`bound > 0`); the modulo bias is below
    /// `bound / 2^64`, far below anything a shuffle could show.
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

/// At most this many rows are sorted to find a feature's cuts: quantiles of
/// 200k rows are within a fraction of a bin of the full data's.
const BINNING_SAMPLE: usize = 200_000;

fn train<R: AsRef<[f64]>, V: AsRef<[f64]>>(
    rows: &[R],
    y: &[f64],
    weights: Option<&[f64]>,
    validation: Option<ValidationSet<'_, V>>,
    loss: Loss,
    config: &GbtConfig,
) -> Result<Gbt, Error> {
    check_config(config)?;
    let width = check_rows("rows", rows, None)?;
    check_targets("y", y, rows.len(), loss)?;
    if let Some(weights) = weights {
        check_weights("weights", weights, rows.len())?;
    }
    if rows.len() > u32::MAX as usize {
        return Err(Error::InvalidInput {
            input: "rows".into(),
            reason: format!("at most {} rows, got {}", u32::MAX, rows.len()),
        });
    }
    if let Some(validation) = &validation {
        check_rows("validation.rows", validation.rows, Some(width))?;
        check_targets("validation.y", validation.y, validation.rows.len(), loss)?;
        if let Some(weights) = validation.weights {
            check_weights("validation.weights", weights, validation.rows.len())?;
        }
    }

    let count = rows.len();
    let weight_of = |index: usize| weights.map_or(1.0, |weights| weights[index]);
    let total_weight: f64 = (0..count).map(weight_of).sum();
    let mean = (0..count).map(|i| weight_of(i) * y[i]).sum::<f64>() / total_weight;
    let base_score = match loss {
        Loss::Squared => mean,
        Loss::Logistic => {
            let mean = mean.clamp(1e-12, 1.0 - 1e-12);
            (mean / (1.0 - mean)).ln()
        }
    };

    let binned = Binned::new(rows, width, config.max_bins as usize);
    let mut raw = vec![base_score; count];
    let mut derivatives = vec![[0.0; 2]; count];
    let mut sample: Vec<u32> = Vec::with_capacity(count);
    let mut left_out: Vec<u32> = Vec::new();
    let mut spare_histograms = Vec::new();
    let mut trees = Vec::with_capacity(config.trees as usize);

    let mut validation_raw = validation
        .as_ref()
        .map(|validation| vec![base_score; validation.rows.len()]);
    let mut validation_losses = Vec::new();
    let mut best = validation.as_ref().map(|validation| {
        let raw = validation_raw.as_deref().unwrap_or_default();
        (
            mean_loss(loss, raw, validation.y, validation.weights),
            0usize,
        )
    });

    for tree_index in 0..config.trees as usize {
        for (index, slot) in derivatives.iter_mut().enumerate() {
            let weight = weight_of(index);
            *slot = match loss {
                Loss::Squared => [weight * (raw[index] - y[index]), weight],
                Loss::Logistic => {
                    let probability = sigmoid(raw[index]);
                    // A floor keeps a leaf of certain rows from dividing by
                    // ~0 when l2_regularisation is 0.
                    let hessian = (probability * (1.0 - probability)).max(1e-16);
                    [weight * (probability - y[index]), weight * hessian]
                }
            };
        }

        sample.clear();
        left_out.clear();
        if config.subsample < 1.0 {
            let mut random = SplitMix64::new(
                config.seed ^ (tree_index as u64).wrapping_mul(0xA24B_AED4_963E_E407),
            );
            for index in 0..count as u32 {
                if random.next_f64() < config.subsample {
                    sample.push(index);
                } else {
                    left_out.push(index);
                }
            }
            if sample.is_empty() {
                // A tiny data set can draw nobody; a tree on nothing is a
                // zero leaf, so skip the draw instead.
                sample.append(&mut left_out);
            }
        } else {
            sample.extend(0..count as u32);
        }

        let mut grower = Grower {
            bins: &binned.bins,
            width,
            stride: binned.stride,
            bin_counts: &binned.bin_counts,
            cuts: &binned.cuts,
            derivatives: &derivatives,
            raw: &mut raw,
            config,
            scratch: Vec::new(),
            spare: std::mem::take(&mut spare_histograms),
            nodes: Vec::new(),
        };
        let root_total = sample.iter().fold(Cell::default(), |mut total, &row| {
            let [gradient, hessian] = derivatives[row as usize];
            total += Cell {
                gradient,
                hessian,
                count: 1.0,
            };
            total
        });
        let root_histogram = if grower.may_split(root_total.count, 0) {
            let mut histogram = grower.take_histogram();
            grower.fill_histogram(&sample, &mut histogram);
            Some(histogram)
        } else {
            None
        };
        grower.grow(&mut sample, root_histogram, root_total, 0);
        spare_histograms = grower.spare;
        let tree = Tree::new(grower.nodes);
        // Rows outside the sample still need the new tree in their margin.
        tree.add_values(rows, &left_out, &mut raw);

        if let (Some(validation), Some(validation_raw), Some(best)) =
            (&validation, validation_raw.as_mut(), best.as_mut())
        {
            tree.add_values_in_order(validation.rows, validation_raw);
            let current = mean_loss(loss, validation_raw, validation.y, validation.weights);
            validation_losses.push(current);
            trees.push(tree);
            if current < best.0 {
                *best = (current, trees.len());
            } else if config.early_stopping_rounds > 0
                && trees.len() - best.1 >= config.early_stopping_rounds as usize
            {
                break;
            }
        } else {
            trees.push(tree);
        }
    }
    if let Some((_, kept)) = best {
        trees.truncate(kept);
    }

    Ok(Gbt {
        loss,
        base_score,
        feature_count: width,
        trees,
        validation_losses,
    })
}

fn mean_loss(loss: Loss, margins: &[f64], y: &[f64], weights: Option<&[f64]>) -> f64 {
    let mut total = 0.0;
    let mut total_weight = 0.0;
    for (index, (margin, target)) in margins.iter().zip(y).enumerate() {
        let weight = weights.map_or(1.0, |weights| weights[index]);
        let value = match loss {
            Loss::Squared => (margin - target) * (margin - target),
            Loss::Logistic => softplus(*margin) - target * margin,
        };
        total += weight * value;
        total_weight += weight;
    }
    total / total_weight
}

/// Every row's bin per feature, and the cuts that define the bins.
struct Binned {
    /// Row-major: `bins[row * width + feature]`.
    bins: Vec<u8>,
    /// Per feature, increasing; bin `b` holds `cuts[b - 1] < x <= cuts[b]`.
    cuts: Vec<Vec<f64>>,
    /// Bins per feature (`cuts.len() + 1`).
    bin_counts: Vec<usize>,
    /// Histogram slots per feature: the largest bin count.
    stride: usize,
}

impl Binned {
    fn new<R: AsRef<[f64]>>(rows: &[R], width: usize, max_bins: usize) -> Binned {
        let count = rows.len();
        let sample: Vec<usize> = if count <= BINNING_SAMPLE {
            (0..count).collect()
        } else {
            // Systematic sample: deterministic, and spread over the whole
            // input even when it is sorted.
            (0..BINNING_SAMPLE)
                .map(|i| i * count / BINNING_SAMPLE)
                .collect()
        };
        let mut values = Vec::with_capacity(sample.len());
        let cuts: Vec<Vec<f64>> = (0..width)
            .map(|feature| {
                values.clear();
                values.extend(sample.iter().map(|&row| rows[row].as_ref()[feature]));
                feature_cuts(&mut values, max_bins)
            })
            .collect();
        let bin_counts: Vec<usize> = cuts.iter().map(|cuts| cuts.len() + 1).collect();
        let stride = bin_counts.iter().copied().max().unwrap_or(1);
        let mut bins = vec![0u8; count * width];
        for (row, slots) in rows.iter().zip(bins.chunks_exact_mut(width.max(1))) {
            for ((slot, value), cuts) in slots.iter_mut().zip(row.as_ref()).zip(&cuts) {
                *slot = cuts.partition_point(|cut| cut < value) as u8;
            }
        }
        Binned {
            bins,
            cuts,
            bin_counts,
            stride,
        }
    }
}

/// Up to `max_bins - 1` increasing cuts for `values` (finite; sorted here).
///
/// Few distinct values: one bin each, cut at the midpoints. Otherwise walk the
/// distinct values, closing a bin once it holds its share of the rows not yet
/// binned: a value repeated on most rows (zero spend, say) fills one bin and
/// the rest are shared out among the other values, where fixed quantiles
/// would collapse into duplicates and waste bins.
fn feature_cuts(values: &mut [f64], max_bins: usize) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &value in values.iter() {
        match distinct.last_mut() {
            Some((last, count)) if *last == value => *count += 1,
            _ => distinct.push((value, 1)),
        }
    }
    let midpoint = |low: f64, high: f64| {
        let middle = low + (high - low) / 2.0;
        // Adjacent floats: the midpoint rounds onto one of them; `low` keeps
        // `low` left and `high` right.
        if middle >= low && middle < high {
            middle
        } else {
            low
        }
    };
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|pair| midpoint(pair[0].0, pair[1].0))
            .collect();
    }
    let mut cuts = Vec::with_capacity(max_bins - 1);
    let mut remaining = values.len() as f64;
    let mut bins_left = max_bins as f64;
    let mut filled = 0.0;
    for pair in distinct.windows(2) {
        filled += pair[0].1 as f64;
        if filled >= remaining / bins_left {
            cuts.push(midpoint(pair[0].0, pair[1].0));
            remaining -= filled;
            filled = 0.0;
            bins_left -= 1.0;
            if bins_left <= 1.0 {
                break;
            }
        }
    }
    cuts
}

/// One histogram slot: the sums over the rows in one (feature, bin).
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    gradient: f64,
    hessian: f64,
    /// Rows, as f64 so the slot is three plain adds and subtracts.
    count: f64,
}

impl AddAssign for Cell {
    fn add_assign(&mut self, other: Cell) {
        self.gradient += other.gradient;
        self.hessian += other.hessian;
        self.count += other.count;
    }
}

impl SubAssign for Cell {
    fn sub_assign(&mut self, other: Cell) {
        self.gradient -= other.gradient;
        self.hessian -= other.hessian;
        self.count -= other.count;
    }
}

impl Sub for Cell {
    type Output = Cell;
    fn sub(mut self, other: Cell) -> Cell {
        self -= other;
        self
    }
}

struct SplitChoice {
    feature: usize,
    /// Bins `0..=bin` go left.
    bin: usize,
    gain: f64,
    left: Cell,
    right: Cell,
}

/// Grows one tree over the sampled rows, adding each leaf's value to its
/// rows' margins as it goes.
struct Grower<'a> {
    bins: &'a [u8],
    width: usize,
    stride: usize,
    bin_counts: &'a [usize],
    cuts: &'a [Vec<f64>],
    derivatives: &'a [[f64; 2]],
    raw: &'a mut [f64],
    config: &'a GbtConfig,
    /// Right-hand rows during a stable partition.
    scratch: Vec<u32>,
    /// Histogram buffers to reuse (`width * stride` cells each).
    spare: Vec<Vec<Cell>>,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    fn may_split(&self, rows: f64, depth: u32) -> bool {
        depth < self.config.max_depth && rows >= 2.0 * f64::from(self.config.min_samples_leaf)
    }

    fn take_histogram(&mut self) -> Vec<Cell> {
        self.spare
            .pop()
            .unwrap_or_else(|| vec![Cell::default(); self.width * self.stride])
    }

    /// The hot loop of the whole fit: one pass over the node's rows, each row
    /// adding its derivatives to one slot per feature.
    fn fill_histogram(&self, rows: &[u32], histogram: &mut [Cell]) {
        histogram.fill(Cell::default());
        let width = self.width;
        let stride = self.stride;
        for &row in rows {
            let row = row as usize;
            let [gradient, hessian] = self.derivatives[row];
            let row_bins = &self.bins[row * width..(row + 1) * width];
            for (feature, &bin) in row_bins.iter().enumerate() {
                let cell = &mut histogram[feature * stride + usize::from(bin)];
                cell.gradient += gradient;
                cell.hessian += hessian;
                cell.count += 1.0;
            }
        }
    }

    /// Returns the node's index. `histogram` is `Some` exactly when the node
    /// may split (see [`Grower::may_split`]).
    fn grow(
        &mut self,
        rows: &mut [u32],
        histogram: Option<Vec<Cell>>,
        total: Cell,
        depth: u32,
    ) -> u32 {
        let id = self.nodes.len();
        self.nodes.push(Node::Leaf { value: 0.0 });
        let choice = histogram
            .as_deref()
            .and_then(|histogram| self.best_split(histogram, total));
        let Some(choice) = choice else {
            let lambda = self.config.l2_regularisation;
            let value = if total.hessian + lambda > 0.0 {
                -total.gradient / (total.hessian + lambda) * self.config.learning_rate
            } else {
                0.0
            };
            for &row in rows.iter() {
                self.raw[row as usize] += value;
            }
            self.nodes[id] = Node::Leaf { value };
            if let Some(histogram) = histogram {
                self.spare.push(histogram);
            }
            return id as u32;
        };

        let middle = self.partition(rows, choice.feature, choice.bin);
        let (left_rows, right_rows) = rows.split_at_mut(middle);
        let left_may = self.may_split(choice.left.count, depth + 1);
        let right_may = self.may_split(choice.right.count, depth + 1);
        let mut parent = histogram.expect("a node that splits has a histogram");
        let (left_histogram, right_histogram) = if left_may || right_may {
            let left_smaller = left_rows.len() <= right_rows.len();
            let mut smaller = self.take_histogram();
            self.fill_histogram(
                if left_smaller { left_rows } else { right_rows },
                &mut smaller,
            );
            // The parent's buffer becomes the larger child's.
            for (slot, small) in parent.iter_mut().zip(&smaller) {
                *slot -= *small;
            }
            let (left, right) = if left_smaller {
                (smaller, parent)
            } else {
                (parent, smaller)
            };
            let keep = |histogram: Vec<Cell>, may: bool, spare: &mut Vec<Vec<Cell>>| {
                if may {
                    Some(histogram)
                } else {
                    spare.push(histogram);
                    None
                }
            };
            (
                keep(left, left_may, &mut self.spare),
                keep(right, right_may, &mut self.spare),
            )
        } else {
            self.spare.push(parent);
            (None, None)
        };
        let left = self.grow(left_rows, left_histogram, choice.left, depth + 1);
        let right = self.grow(right_rows, right_histogram, choice.right, depth + 1);
        self.nodes[id] = Node::Split {
            feature: choice.feature as u32,
            threshold: self.cuts[choice.feature][choice.bin],
            gain: choice.gain,
            left,
            right,
        };
        id as u32
    }

    fn best_split(&self, histogram: &[Cell], total: Cell) -> Option<SplitChoice> {
        let config = self.config;
        let lambda = config.l2_regularisation;
        let min_rows = f64::from(config.min_samples_leaf);
        let score = |cell: &Cell| {
            let denominator = cell.hessian + lambda;
            if denominator > 0.0 {
                cell.gradient * cell.gradient / denominator
            } else {
                0.0
            }
        };
        let parent_score = score(&total);
        let mut best: Option<SplitChoice> = None;
        for feature in 0..self.width {
            let bins = self.bin_counts[feature];
            let cells = &histogram[feature * self.stride..feature * self.stride + bins];
            let mut left = Cell::default();
            for (bin, cell) in cells[..bins - 1].iter().enumerate() {
                left += *cell;
                if left.count < min_rows {
                    continue;
                }
                let right = total - left;
                if right.count < min_rows {
                    break;
                }
                if left.hessian < config.min_hessian_leaf
                    || right.hessian < config.min_hessian_leaf
                    || left.hessian + lambda <= 0.0
                    || right.hessian + lambda <= 0.0
                {
                    continue;
                }
                let gain = score(&left) + score(&right) - parent_score;
                if best.as_ref().is_none_or(|best| gain > best.gain) {
                    best = Some(SplitChoice {
                        feature,
                        bin,
                        gain,
                        left,
                        right,
                    });
                }
            }
        }
        // A floor above rounding noise: a node whose rows all have the same
        // gradient must stay a leaf.
        best.filter(|best| best.gain > config.min_split_gain.max(1e-12 * (1.0 + parent_score)))
    }

    /// Moves the rows with `bin <= split_bin` on `feature` to the front,
    /// keeping both sides in ascending order; returns how many went left.
    fn partition(&mut self, rows: &mut [u32], feature: usize, split_bin: usize) -> usize {
        self.scratch.clear();
        let mut left = 0;
        for index in 0..rows.len() {
            let row = rows[index];
            if usize::from(self.bins[row as usize * self.width + feature]) <= split_bin {
                rows[left] = row;
                left += 1;
            } else {
                self.scratch.push(row);
            }
        }
        rows[left..].copy_from_slice(&self.scratch);
        left
    }
}

fn check_config(config: &GbtConfig) -> Result<(), Error> {
    let invalid = |name: &'static str, reason: String| Err(Error::InvalidArgument { name, reason });
    if config.trees == 0 {
        return invalid("trees", "must be at least 1".into());
    }
    if !(config.learning_rate > 0.0 && config.learning_rate <= 1.0) {
        return invalid(
            "learning_rate",
            format!("must be in (0, 1], got {}", config.learning_rate),
        );
    }
    if !(1..=16).contains(&config.max_depth) {
        return invalid(
            "max_depth",
            format!("must be in 1..=16, got {}", config.max_depth),
        );
    }
    if !(2..=256).contains(&config.max_bins) {
        return invalid(
            "max_bins",
            format!("must be in 2..=256, got {}", config.max_bins),
        );
    }
    if !(config.l2_regularisation.is_finite() && config.l2_regularisation >= 0.0) {
        return invalid(
            "l2_regularisation",
            format!("must be finite and >= 0, got {}", config.l2_regularisation),
        );
    }
    if config.min_samples_leaf == 0 {
        return invalid("min_samples_leaf", "must be at least 1".into());
    }
    if !(config.min_hessian_leaf.is_finite() && config.min_hessian_leaf >= 0.0) {
        return invalid(
            "min_hessian_leaf",
            format!("must be finite and >= 0, got {}", config.min_hessian_leaf),
        );
    }
    if !(config.min_split_gain.is_finite() && config.min_split_gain >= 0.0) {
        return invalid(
            "min_split_gain",
            format!("must be finite and >= 0, got {}", config.min_split_gain),
        );
    }
    if !(config.subsample > 0.0 && config.subsample <= 1.0) {
        return invalid(
            "subsample",
            format!("must be in (0, 1], got {}", config.subsample),
        );
    }
    Ok(())
}

/// The common row width, after checking every value is finite.
fn check_rows<R: AsRef<[f64]>>(
    name: &str,
    rows: &[R],
    expected_width: Option<usize>,
) -> Result<usize, Error> {
    let Some(first) = rows.first() else {
        return Err(Error::DegenerateInput {
            model: "gbt",
            reason: format!("{name} is empty"),
        });
    };
    let width = expected_width.unwrap_or(first.as_ref().len());
    if width == 0 {
        return Err(Error::InvalidInput {
            input: format!("{name}[0]"),
            reason: "has no features".into(),
        });
    }
    for (row_index, row) in rows.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != width {
            return Err(Error::InvalidInput {
                input: format!("{name}[{row_index}]"),
                reason: format!("has {} values, expected {width}", row.len()),
            });
        }
        if let Some(column) = row.iter().position(|value| !value.is_finite()) {
            return Err(Error::InvalidInput {
                input: format!("{name}[{row_index}][{column}]"),
                reason: format!("must be finite, got {}", row[column]),
            });
        }
    }
    Ok(width)
}

fn check_targets(name: &str, y: &[f64], rows: usize, loss: Loss) -> Result<(), Error> {
    if y.len() != rows {
        return Err(Error::InvalidInput {
            input: name.into(),
            reason: format!("has {} entries, expected {rows} (one per row)", y.len()),
        });
    }
    for (index, target) in y.iter().enumerate() {
        let valid = match loss {
            Loss::Squared => target.is_finite(),
            Loss::Logistic => (0.0..=1.0).contains(target),
        };
        if !valid {
            let domain = match loss {
                Loss::Squared => "finite",
                Loss::Logistic => "in 0..=1 for logistic loss",
            };
            return Err(Error::InvalidInput {
                input: format!("{name}[{index}]"),
                reason: format!("must be {domain}, got {target}"),
            });
        }
    }
    Ok(())
}

fn check_weights(name: &str, weights: &[f64], rows: usize) -> Result<(), Error> {
    if weights.len() != rows {
        return Err(Error::InvalidInput {
            input: name.into(),
            reason: format!(
                "has {} entries, expected {rows} (one per row)",
                weights.len()
            ),
        });
    }
    if let Some(index) = weights
        .iter()
        .position(|weight| !(weight.is_finite() && *weight >= 0.0))
    {
        return Err(Error::InvalidInput {
            input: format!("{name}[{index}]"),
            reason: format!("must be finite and >= 0, got {}", weights[index]),
        });
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err(Error::DegenerateInput {
            model: "gbt",
            reason: format!("{name} are all zero"),
        });
    }
    Ok(())
}

fn sigmoid(linear: f64) -> f64 {
    if linear >= 0.0 {
        1.0 / (1.0 + (-linear).exp())
    } else {
        let exponential = linear.exp();
        exponential / (1.0 + exponential)
    }
}

/// `ln(1 + e^x)` without overflow for large `x`.
fn softplus(linear: f64) -> f64 {
    if linear > 0.0 {
        linear + (-linear).exp().ln_1p()
    } else {
        linear.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::roc_auc;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    fn mse(predictions: &[f64], y: &[f64]) -> f64 {
        predictions
            .iter()
            .zip(y)
            .map(|(p, t)| (p - t) * (p - t))
            .sum::<f64>()
            / y.len() as f64
    }

    /// Ordinary least squares with an intercept, by the normal equations
    /// (Gaussian elimination): the linear baseline the trees must beat.
    fn linear_fit(rows: &[[f64; 3]], y: &[f64]) -> [f64; 4] {
        let mut matrix = [[0.0; 5]; 4];
        for (row, target) in rows.iter().zip(y) {
            let design = [1.0, row[0], row[1], row[2]];
            for i in 0..4 {
                for j in 0..4 {
                    matrix[i][j] += design[i] * design[j];
                }
                matrix[i][4] += design[i] * target;
            }
        }
        for column in 0..4 {
            let pivot_row = matrix[column];
            for (row, values) in matrix.iter_mut().enumerate() {
                if row != column {
                    let factor = values[column] / pivot_row[column];
                    for (value, pivot_value) in values.iter_mut().zip(&pivot_row) {
                        *value -= factor * pivot_value;
                    }
                }
            }
        }
        std::array::from_fn(|i| matrix[i][4] / matrix[i][i])
    }

    /// y = 3 [x0 > 0.5][x1 > 0.3] + sin(3 x2) + noise(sd 0.3).
    fn threshold_data(count: usize, seed: u64) -> (Vec<[f64; 3]>, Vec<f64>) {
        let mut random = StdRng::seed_from_u64(seed);
        let noise = Normal::new(0.0, 0.3).unwrap();
        let rows: Vec<[f64; 3]> = (0..count)
            .map(|_| std::array::from_fn(|_| random.random::<f64>()))
            .collect();
        let y = rows
            .iter()
            .map(|x| {
                let step = if x[0] > 0.5 && x[1] > 0.3 { 3.0 } else { 0.0 };
                step + (3.0 * x[2]).sin() + noise.sample(&mut random)
            })
            .collect();
        (rows, y)
    }

    /// A model file whose tree points back at a node (a cycle) or past its
    /// end is refused when read, with the node named; the intact file reads.
    #[test]
    fn a_tree_with_a_child_before_its_parent_or_past_its_end_is_refused() {
        let (rows, y) = threshold_data(1_000, 3);
        let config = GbtConfig {
            trees: 3,
            max_depth: 3,
            ..GbtConfig::default()
        };
        let model = Gbt::fit(&rows, &y, None, Loss::Squared, &config).expect("fits");
        let json = serde_json::to_value(&model).unwrap();
        let read: Gbt = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(read, model);
        for child in [0, 1_000_000] {
            let mut damaged = json.clone();
            damaged["trees"][0]["nodes"][0]["Split"]["left"] = child.into();
            let error = serde_json::from_value::<Gbt>(damaged)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("tree node 0 has child {child}")),
                "{error}"
            );
        }
        let mut empty = json;
        empty["trees"][0]["nodes"] = serde_json::json!([]);
        let error = serde_json::from_value::<Gbt>(empty)
            .unwrap_err()
            .to_string();
        assert!(error.contains("a tree has no nodes"), "{error}");
    }

    /// Trees of every depth up to the layout's limit and past it (those keep
    /// the node walk), with leaves at mixed depths: the complete layout
    /// gives each tree's value bit for bit, NaN and infinite features
    /// included, and a model read back from its JSON predicts the same bits.
    #[test]
    fn the_complete_layout_predicts_the_bits_of_the_node_walk() {
        let (rows, y) = threshold_data(4_000, 7);
        let mut random = StdRng::seed_from_u64(8);
        let mut probes: Vec<[f64; 3]> = (0..2_000)
            .map(|_| std::array::from_fn(|_| random.random::<f64>() * 1.2 - 0.1))
            .collect();
        probes.extend(rows.iter().take(500).copied());
        for special in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.3, 0.5] {
            probes.push([special, 0.4, 0.6]);
            probes.push([0.7, special, special]);
        }
        let mut complete_trees = 0;
        for max_depth in [1, 2, 5, Complete::MAX_DEPTH, Complete::MAX_DEPTH + 2] {
            let config = GbtConfig {
                trees: 15,
                max_depth,
                min_samples_leaf: 5,
                ..GbtConfig::default()
            };
            let model = Gbt::fit(&rows, &y, None, Loss::Squared, &config).expect("fits");
            for tree in &model.trees {
                complete_trees += usize::from(tree.complete.is_some());
                for probe in &probes {
                    assert_eq!(
                        tree.value(probe).to_bits(),
                        tree.walk(probe).to_bits(),
                        "depth {max_depth}, {probe:?}"
                    );
                }
            }
            let read: Gbt = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
            assert_eq!(read, model);
            for probe in &probes {
                assert_eq!(
                    read.predict(probe).to_bits(),
                    model.predict(probe).to_bits()
                );
            }
        }
        // Every tree but the deepest model's used the layout.
        assert!(complete_trees >= 4 * 15, "{complete_trees}");
    }

    #[test]
    fn trees_and_rows_four_at_a_time_give_the_bits_of_one_at_a_time() {
        let (rows, y) = threshold_data(3_000, 11);
        let mut random = StdRng::seed_from_u64(12);
        let mut probes: Vec<[f64; 3]> = (0..600)
            .map(|_| std::array::from_fn(|_| random.random::<f64>() * 1.2 - 0.1))
            .collect();
        for special in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            probes.push([special, 0.4, special]);
        }
        // Small leaves and a subsample give trees of mixed depths; the
        // deepest model keeps the node walk; 15 trees leave a remainder.
        for (max_depth, min_samples_leaf) in
            [(1, 5), (3, 400), (6, 5), (Complete::MAX_DEPTH + 2, 2)]
        {
            let config = GbtConfig {
                trees: 15,
                max_depth,
                min_samples_leaf,
                subsample: 0.7,
                ..GbtConfig::default()
            };
            let model = Gbt::fit(&rows, &y, None, Loss::Squared, &config).expect("fits");
            for probe in &probes {
                let one_at_a_time: f64 = model.trees.iter().map(|tree| tree.walk(probe)).sum();
                assert_eq!(
                    model.predict_margin(probe).to_bits(),
                    (model.base_score + one_at_a_time).to_bits(),
                    "depth {max_depth}, {probe:?}"
                );
            }
            for tree in &model.trees {
                // 603 rows and every third index: both leave a remainder.
                let indices: Vec<u32> = (0..probes.len() as u32).step_by(3).collect();
                let mut by_index = vec![0.5; probes.len()];
                tree.add_values(&probes, &indices, &mut by_index);
                let mut in_order = vec![0.5; probes.len()];
                tree.add_values_in_order(&probes, &mut in_order);
                for (index, probe) in probes.iter().enumerate() {
                    let added = 0.5 + tree.walk(probe);
                    assert_eq!(in_order[index].to_bits(), added.to_bits());
                    let expected = if index % 3 == 0 { added } else { 0.5 };
                    assert_eq!(by_index[index].to_bits(), expected.to_bits());
                }
            }
        }
    }

    #[test]
    fn fits_an_interaction_far_better_than_a_linear_model() {
        let (train_rows, train_y) = threshold_data(20_000, 1);
        let (test_rows, test_y) = threshold_data(5_000, 2);
        let model = Gbt::fit(
            &train_rows,
            &train_y,
            None,
            Loss::Squared,
            &GbtConfig::default(),
        )
        .expect("fits");
        let predictions: Vec<f64> = test_rows.iter().map(|row| model.predict(row)).collect();
        let gbt_error = mse(&predictions, &test_y);

        let beta = linear_fit(&train_rows, &train_y);
        let linear: Vec<f64> = test_rows
            .iter()
            .map(|x| beta[0] + beta[1] * x[0] + beta[2] * x[1] + beta[3] * x[2])
            .collect();
        let linear_error = mse(&linear, &test_y);
        eprintln!("test MSE: gbt {gbt_error:.4}, linear {linear_error:.4}, noise 0.09");
        // The noise variance (0.09) is the floor. With 64 bins the nearest
        // cut to the step at x1 = 0.3 is about 0.005 away, which misplaces
        // ~0.5% of rows by up to 3: about 0.02-0.03 of extra error.
        assert!(gbt_error < 0.13, "gbt MSE {gbt_error}");
        assert!(linear_error > 4.0 * gbt_error, "linear MSE {linear_error}");
        // 256 bins put a cut within 0.002 of the step.
        let fine = GbtConfig {
            max_bins: 256,
            ..GbtConfig::default()
        };
        let model_256 = Gbt::fit(&train_rows, &train_y, None, Loss::Squared, &fine).expect("fits");
        let predictions: Vec<f64> = test_rows.iter().map(|row| model_256.predict(row)).collect();
        let fine_error = mse(&predictions, &test_y);
        eprintln!("test MSE with 256 bins: {fine_error:.4}");
        assert!(fine_error < 0.1, "gbt MSE with 256 bins {fine_error}");
        let importance = model.feature_importance();
        assert!((importance.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(importance[0] > importance[2] && importance[1] > importance[2] / 4.0);
    }

    /// P(y) = sigmoid(2 x0 x1 - 1 + 1.5 [x2 > 0] - x3^2), x ~ N(0, 1),
    /// plus two noise features.
    fn classification_data(count: usize, seed: u64) -> (Vec<[f64; 6]>, Vec<f64>, Vec<f64>) {
        let mut random = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let mut rows = Vec::with_capacity(count);
        let mut labels = Vec::with_capacity(count);
        let mut truth = Vec::with_capacity(count);
        for _ in 0..count {
            let x: [f64; 6] = std::array::from_fn(|_| normal.sample(&mut random));
            let step = if x[2] > 0.0 { 1.5 } else { 0.0 };
            let probability = sigmoid(2.0 * x[0] * x[1] - 1.0 + step - x[3] * x[3]);
            labels.push(f64::from(u8::from(random.random::<f64>() < probability)));
            truth.push(probability);
            rows.push(x);
        }
        (rows, labels, truth)
    }

    #[test]
    fn logistic_auc_is_near_the_bayes_auc() {
        let (train_rows, train_y, _) = classification_data(30_000, 3);
        let (valid_rows, valid_y, _) = classification_data(10_000, 4);
        let (test_rows, test_y, truth) = classification_data(20_000, 5);
        let config = GbtConfig {
            trees: 400,
            max_depth: 4,
            ..GbtConfig::default()
        };
        let validation = ValidationSet {
            rows: &valid_rows,
            y: &valid_y,
            weights: None,
        };
        let model = Gbt::fit_with_validation(
            &train_rows,
            &train_y,
            None,
            validation,
            Loss::Logistic,
            &config,
        )
        .expect("fits");
        let labels: Vec<bool> = test_y.iter().map(|y| *y > 0.5).collect();
        let scores: Vec<f64> = test_rows.iter().map(|row| model.predict(row)).collect();
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)));
        let auc = roc_auc(&scores, &labels).unwrap();
        let bayes = roc_auc(&truth, &labels).unwrap();
        eprintln!(
            "AUC: gbt {auc:.4}, Bayes {bayes:.4}, trees kept {}",
            model.tree_count()
        );
        assert!(auc > bayes - 0.015, "gbt {auc} vs Bayes {bayes}");
        // Mean prediction close to the base rate: the probabilities are
        // roughly calibrated out of the box.
        let mean_score = scores.iter().sum::<f64>() / scores.len() as f64;
        let rate = test_y.iter().sum::<f64>() / test_y.len() as f64;
        assert!((mean_score - rate).abs() < 0.02, "{mean_score} vs {rate}");
    }

    #[test]
    fn early_stopping_keeps_the_best_prefix() {
        // Pure noise labels: every tree overfits, so validation loss rises
        // almost at once and training stops long before 500 trees.
        let mut random = StdRng::seed_from_u64(6);
        let rows: Vec<[f64; 4]> = (0..4_000)
            .map(|_| std::array::from_fn(|_| random.random::<f64>()))
            .collect();
        let y: Vec<f64> = (0..4_000)
            .map(|_| f64::from(u8::from(random.random::<bool>())))
            .collect();
        let config = GbtConfig {
            trees: 500,
            learning_rate: 0.3,
            early_stopping_rounds: 10,
            min_samples_leaf: 5,
            ..GbtConfig::default()
        };
        let validation = ValidationSet {
            rows: &rows[3_000..],
            y: &y[3_000..],
            weights: None,
        };
        let model = Gbt::fit_with_validation(
            &rows[..3_000],
            &y[..3_000],
            None,
            validation,
            Loss::Logistic,
            &config,
        )
        .expect("fits");
        let losses = model.validation_losses();
        assert!(losses.len() < 60, "grew {} trees", losses.len());
        assert_eq!(losses.len(), model.tree_count() + 10);
        let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
        if model.tree_count() > 0 {
            assert_eq!(losses[model.tree_count() - 1], best);
        }
    }

    #[test]
    fn weights_act_like_repeated_rows() {
        // Few distinct values, so the cuts (midpoints) do not depend on the
        // duplication either.
        let mut random = StdRng::seed_from_u64(7);
        let rows: Vec<[f64; 2]> = (0..300)
            .map(|_| {
                [
                    f64::from(random.random_range(0..10u8)),
                    f64::from(random.random_range(0..5u8)),
                ]
            })
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|x| x[0] * x[1] / 10.0 + random.random::<f64>())
            .collect();
        let weights: Vec<f64> = (0..300).map(|i| f64::from(1 + (i % 3) as u8)).collect();
        let mut repeated_rows = Vec::new();
        let mut repeated_y = Vec::new();
        for ((row, target), weight) in rows.iter().zip(&y).zip(&weights) {
            for _ in 0..*weight as usize {
                repeated_rows.push(*row);
                repeated_y.push(*target);
            }
        }
        let config = GbtConfig {
            trees: 20,
            min_samples_leaf: 1,
            ..GbtConfig::default()
        };
        let weighted = Gbt::fit(&rows, &y, Some(&weights), Loss::Squared, &config).unwrap();
        let repeated = Gbt::fit(&repeated_rows, &repeated_y, None, Loss::Squared, &config).unwrap();
        for row in &rows {
            let (a, b) = (weighted.predict(row), repeated.predict(row));
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    #[test]
    fn subsampling_is_deterministic_per_seed() {
        let (rows, y) = threshold_data(3_000, 8);
        let config = GbtConfig {
            trees: 30,
            subsample: 0.5,
            seed: 42,
            ..GbtConfig::default()
        };
        let first = Gbt::fit(&rows, &y, None, Loss::Squared, &config).unwrap();
        let again = Gbt::fit(&rows, &y, None, Loss::Squared, &config).unwrap();
        assert_eq!(first, again);
        let other_seed = GbtConfig { seed: 43, ..config };
        let other = Gbt::fit(&rows, &y, None, Loss::Squared, &other_seed).unwrap();
        assert_ne!(first, other);
        // Still a good fit on half the rows per tree.
        let predictions: Vec<f64> = rows.iter().map(|row| first.predict(row)).collect();
        assert!(mse(&predictions, &y) < 0.2);
    }

    #[test]
    fn bins_agree_with_raw_thresholds() {
        // A heavy tie at zero plus a long tail: more distinct values than
        // bins. Training splits on bins, prediction on raw floats against the
        // cuts: `bin <= b` must hold exactly when `x <= cuts[b]`.
        let mut random = StdRng::seed_from_u64(9);
        let rows: Vec<[f64; 1]> = (0..5_000)
            .map(|_| {
                if random.random::<f64>() < 0.6 {
                    [0.0]
                } else {
                    [random.random::<f64>().powi(3) * 1000.0]
                }
            })
            .collect();
        let binned = Binned::new(&rows, 1, 16);
        let cuts = &binned.cuts[0];
        assert_eq!(
            cuts.len(),
            15,
            "zero takes one bin, the tail the rest: {cuts:?}"
        );
        assert!(cuts.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            cuts[0] > 0.0 && cuts[0] < 1e-3,
            "zero alone in bin 0: {cuts:?}"
        );
        for (row, bin) in rows.iter().zip(&binned.bins) {
            for (b, cut) in cuts.iter().enumerate() {
                assert_eq!(usize::from(*bin) <= b, row[0] <= *cut);
            }
        }
        // Bins hold similar row counts apart from the tie.
        let mut counts = [0usize; 16];
        for bin in &binned.bins {
            counts[usize::from(*bin)] += 1;
        }
        assert!(counts[0] > 2_800, "{counts:?}");
        assert!(
            counts[1..].iter().all(|count| *count > 60 && *count < 260),
            "{counts:?}"
        );
    }

    #[test]
    fn tiny_and_constant_inputs_fit() {
        let model = Gbt::fit(&[[1.0]], &[2.5], None, Loss::Squared, &GbtConfig::default()).unwrap();
        assert_eq!(model.predict(&[7.0]), 2.5);
        let rows = vec![[3.0, 1.0]; 50];
        let y: Vec<f64> = (0..50).map(|i| f64::from(u8::from(i % 5 == 0))).collect();
        let model = Gbt::fit(&rows, &y, None, Loss::Logistic, &GbtConfig::default()).unwrap();
        assert!((model.predict(&[3.0, 1.0]) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn refuses_bad_input_by_name() {
        let config = GbtConfig::default();
        let error = Gbt::fit(
            &[[1.0], [f64::NAN]],
            &[0.0, 1.0],
            None,
            Loss::Squared,
            &config,
        )
        .expect_err("NaN feature");
        assert_eq!(error.to_string(), "rows[1][0]: must be finite, got NaN");
        let ragged = vec![vec![1.0, 2.0], vec![1.0]];
        let error =
            Gbt::fit(&ragged, &[0.0, 1.0], None, Loss::Squared, &config).expect_err("ragged");
        assert_eq!(error.to_string(), "rows[1]: has 1 values, expected 2");
        let error = Gbt::fit(&[[1.0], [2.0]], &[0.0, 2.0], None, Loss::Logistic, &config)
            .expect_err("label outside 0..=1");
        assert_eq!(
            error.to_string(),
            "y[1]: must be in 0..=1 for logistic loss, got 2"
        );
        let error = Gbt::fit(
            &[[1.0], [2.0]],
            &[0.0, 1.0],
            Some(&[1.0, -1.0]),
            Loss::Squared,
            &config,
        )
        .expect_err("negative weight");
        assert_eq!(
            error.to_string(),
            "weights[1]: must be finite and >= 0, got -1"
        );
        assert!(Gbt::fit(&[[1.0], [2.0]], &[0.0], None, Loss::Squared, &config).is_err());
        let bad = GbtConfig {
            max_bins: 300,
            ..GbtConfig::default()
        };
        assert!(Gbt::fit(&[[1.0]], &[0.0], None, Loss::Squared, &bad).is_err());
        let validation = ValidationSet {
            rows: &[[1.0, 2.0]],
            y: &[0.0],
            weights: None,
        };
        let error =
            Gbt::fit_with_validation(&[[1.0]], &[0.0], None, validation, Loss::Squared, &config)
                .expect_err("validation width");
        assert_eq!(
            error.to_string(),
            "validation.rows[0]: has 2 values, expected 1"
        );
    }

    /// The timing note: `cargo test --release -p strata-models -- --ignored
    /// --nocapture fit_time`. Not a timed assertion: it prints the figure.
    #[test]
    #[ignore = "a timing run of about a minute, not a check"]
    fn fit_time_one_million_rows() {
        let count = 1_000_000;
        let mut random = SplitMix64::new(11);
        let rows: Vec<[f64; 12]> = (0..count)
            .map(|_| std::array::from_fn(|_| random.next_f64()))
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|x| {
                let p = sigmoid(3.0 * x[0] * x[1] - 2.0 + 2.0 * (x[2] - 0.5).abs() + x[3]);
                f64::from(u8::from(random.next_f64() < p))
            })
            .collect();
        for loss in [Loss::Logistic, Loss::Squared] {
            let config = GbtConfig {
                trees: 100,
                max_depth: 6,
                ..GbtConfig::default()
            };
            let start = std::time::Instant::now();
            let model = Gbt::fit(&rows, &y, None, loss, &config).unwrap();
            eprintln!(
                "{loss:?}: 1M x 12 x {} trees (depth 6, 64 bins) fitted in {:.2?}",
                model.tree_count(),
                start.elapsed()
            );
        }
    }
}
