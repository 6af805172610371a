//! Metrics that judge the decision models on held-out data: ROC AUC for the
//! propensity score, and the Qini curve, Qini coefficient and uplift at the top
//! k% for uplift rankings. Kept apart from the models so a metric can never
//! peek at how a score was made.
//!
//! ## The Qini curve and coefficient (Radcliffe 2007)
//! Rank everyone (treated and control) by score, best first. After the top
//! fraction `phi` of the population, with `N_t`, `N_c` treated and control
//! people and `R_t`, `R_c` responders among them, the curve is the number of
//! incremental responses
//!
//! `Q(phi) = R_t(phi) - R_c(phi) * N_t(phi) / N_c(phi)`
//!
//! (control responders scaled to the treated count of the same prefix; taken
//! as `R_t` while the prefix holds no control yet). People with equal scores
//! form one block: the curve has a point only at the end of each block, and is
//! a straight line across it, which is the average over all orders of the tie.
//!
//! Random targeting is the diagonal from `(0, 0)` to `(1, Q(1))`. The
//! unnormalised `area` (Radcliffe's little q) is the area between the curve and
//! that diagonal, with `phi` on the x-axis in `0..=1` and incremental responses
//! on the y-axis. The Qini coefficient `Q = area / optimum_area` divides it by
//! the same area for the optimum ranking, the one that puts treated responders
//! first and control responders last (negative effects allowed, as in
//! scikit-uplift's default). So `Q` is 1 for the optimum ranking, about 0 for a
//! random one, and negative for a ranking worse than random.

use crate::Error;

/// The area under the ROC curve of `scores` for the binary `labels`: the
/// probability that a random positive scores above a random negative, ties
/// counted as one half (the Mann-Whitney U statistic over `n_pos * n_neg`).
/// O(n log n).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64, Error> {
    check_scores(scores)?;
    check_length("labels", labels.len(), scores.len())?;
    let positives = labels.iter().filter(|label| **label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(Error::DegenerateInput {
            model: "roc_auc",
            reason: format!(
                "needs both classes, got {positives} positive and {negatives} negative labels"
            ),
        });
    }

    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut positive_rank_sum = 0.0;
    for block in tie_blocks(&order, scores) {
        // Ranks are 1-based; a tie block shares the average of its ranks.
        let average_rank = (block.start + 1 + block.end) as f64 / 2.0;
        let block_positives = order[block].iter().filter(|index| labels[**index]).count();
        positive_rank_sum += average_rank * block_positives as f64;
    }
    let positives = positives as f64;
    let u_statistic = positive_rank_sum - positives * (positives + 1.0) / 2.0;
    Ok(u_statistic / (positives * negatives as f64))
}

/// One point of a Qini curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QiniPoint {
    /// Share of the whole population (treated and control) targeted, `0..=1`.
    pub population_fraction: f64,
    /// `R_t - R_c * N_t / N_c` over that top share.
    pub incremental_responses: f64,
}

/// A ranking's Qini curve and its areas; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Qini {
    /// Starts at `(0, 0)`, one point per block of tied scores.
    pub curve: Vec<QiniPoint>,
    /// Area between the curve and the random diagonal (Radcliffe's q).
    pub area: f64,
    /// The same area for the optimum ranking of these people.
    pub optimum_area: f64,
    /// `area / optimum_area` (Radcliffe's Q).
    pub coefficient: f64,
}

/// The Qini curve and coefficient of ranking people by `scores` (higher =
/// more uplift expected), given whether each was `treated` (else control) and
/// whether they `converted`.
pub fn qini(scores: &[f64], treated: &[bool], converted: &[bool]) -> Result<Qini, Error> {
    check_uplift_input("qini", scores, treated, converted)?;
    let curve = curve_of(scores, treated, converted);
    let area = area_above_diagonal(&curve);

    // The optimum puts treated responders first and control responders last.
    let optimum_scores: Vec<f64> = treated
        .iter()
        .zip(converted)
        .map(|(treated, converted)| match (treated, converted) {
            (true, true) => 1.0,
            (false, true) => -1.0,
            _ => 0.0,
        })
        .collect();
    let optimum_area = area_above_diagonal(&curve_of(&optimum_scores, treated, converted));
    if optimum_area <= 0.0 {
        return Err(Error::DegenerateInput {
            model: "qini",
            reason:
                "no ranking beats random targeting (no treated responders, or no response at all)"
                    .into(),
        });
    }
    Ok(Qini {
        curve,
        area,
        optimum_area,
        coefficient: area / optimum_area,
    })
}

/// Treated conversion rate minus control conversion rate among the top
/// `fraction` of people by score (`ceil(fraction * n)` people, ties broken by
/// input order so the answer is deterministic).
pub fn uplift_at_top(
    scores: &[f64],
    treated: &[bool],
    converted: &[bool],
    fraction: f64,
) -> Result<f64, Error> {
    check_uplift_input("uplift_at_top", scores, treated, converted)?;
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(Error::InvalidArgument {
            name: "fraction",
            reason: format!("must be in (0, 1], got {fraction}"),
        });
    }
    let order = descending_order(scores);
    let top = ((fraction * scores.len() as f64).ceil() as usize).clamp(1, scores.len());
    let mut arms = ArmCounts::default();
    for index in &order[..top] {
        arms.add(treated[*index], converted[*index]);
    }
    if arms.treated == 0 || arms.control == 0 {
        return Err(Error::DegenerateInput {
            model: "uplift_at_top",
            reason: format!(
                "the top {top} people hold {} treated and {} control; both are needed",
                arms.treated, arms.control
            ),
        });
    }
    Ok(arms.treated_rate() - arms.control_rate())
}

#[derive(Debug, Clone, Copy, Default)]
struct ArmCounts {
    treated: usize,
    treated_responders: usize,
    control: usize,
    control_responders: usize,
}

impl ArmCounts {
    fn add(&mut self, treated: bool, converted: bool) {
        if treated {
            self.treated += 1;
            self.treated_responders += usize::from(converted);
        } else {
            self.control += 1;
            self.control_responders += usize::from(converted);
        }
    }

    fn treated_rate(&self) -> f64 {
        self.treated_responders as f64 / self.treated as f64
    }

    fn control_rate(&self) -> f64 {
        self.control_responders as f64 / self.control as f64
    }

    fn incremental_responses(&self) -> f64 {
        if self.control == 0 {
            return self.treated_responders as f64;
        }
        self.treated_responders as f64
            - self.control_responders as f64 * self.treated as f64 / self.control as f64
    }
}

fn curve_of(scores: &[f64], treated: &[bool], converted: &[bool]) -> Vec<QiniPoint> {
    let order = descending_order(scores);
    let population = scores.len() as f64;
    let mut curve = Vec::with_capacity(order.len() + 1);
    curve.push(QiniPoint {
        population_fraction: 0.0,
        incremental_responses: 0.0,
    });
    let mut arms = ArmCounts::default();
    for block in tie_blocks(&order, scores) {
        for index in &order[block.clone()] {
            arms.add(treated[*index], converted[*index]);
        }
        curve.push(QiniPoint {
            population_fraction: block.end as f64 / population,
            incremental_responses: arms.incremental_responses(),
        });
    }
    curve
}

/// Trapezoid area of the curve minus the area under the random diagonal.
fn area_above_diagonal(curve: &[QiniPoint]) -> f64 {
    let under_curve: f64 = curve
        .windows(2)
        .map(|pair| {
            let width = pair[1].population_fraction - pair[0].population_fraction;
            width * (pair[0].incremental_responses + pair[1].incremental_responses) / 2.0
        })
        .sum();
    let final_gain = curve
        .last()
        .map_or(0.0, |point| point.incremental_responses);
    under_curve - final_gain / 2.0
}

/// Indices by descending score, ties in input order.
fn descending_order(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    order
}

/// Ranges of `order` whose scores are equal, in order.
fn tie_blocks<'a>(
    order: &'a [usize],
    scores: &'a [f64],
) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= order.len() {
            return None;
        }
        let score = scores[order[start]];
        let length = order[start..]
            .iter()
            .take_while(|index| scores[**index] == score)
            .count();
        let block = start..start + length;
        start += length;
        Some(block)
    })
}

fn check_uplift_input(
    model: &'static str,
    scores: &[f64],
    treated: &[bool],
    converted: &[bool],
) -> Result<(), Error> {
    check_scores(scores)?;
    check_length("treated", treated.len(), scores.len())?;
    check_length("converted", converted.len(), scores.len())?;
    let treated_count = treated.iter().filter(|treated| **treated).count();
    if treated_count == 0 || treated_count == treated.len() {
        return Err(Error::DegenerateInput {
            model,
            reason: format!(
                "needs both arms, got {treated_count} treated of {} people",
                treated.len()
            ),
        });
    }
    Ok(())
}

fn check_scores(scores: &[f64]) -> Result<(), Error> {
    if let Some(index) = scores.iter().position(|score| !score.is_finite()) {
        return Err(Error::InvalidInput {
            input: format!("scores[{index}]"),
            reason: format!("must be finite, got {}", scores[index]),
        });
    }
    Ok(())
}

pub(crate) fn check_length(name: &str, found: usize, expected: usize) -> Result<(), Error> {
    if found != expected {
        return Err(Error::InvalidInput {
            input: name.into(),
            reason: format!("has {found} entries, expected {expected} (one per score or row)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_auc(scores: &[f64], labels: &[bool], expected: f64) {
        let auc = roc_auc(scores, labels).expect("valid input");
        assert!(
            (auc - expected).abs() < 1e-12,
            "auc {auc}, expected {expected}"
        );
    }

    #[test]
    fn auc_of_hand_computed_cases() {
        // Three of four positive-negative pairs are ordered right.
        check_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true], 0.75);
        // Pairs: 3>1, 3>2, 2>1, 2=2 (one half) -> 3.5 / 4.
        check_auc(&[1.0, 2.0, 2.0, 3.0], &[false, false, true, true], 0.875);
        check_auc(&[0.5; 4], &[true, false, true, false], 0.5);
        check_auc(&[1.0, 2.0], &[false, true], 1.0);
        check_auc(&[1.0, 2.0], &[true, false], 0.0);
    }

    #[test]
    fn auc_refuses_one_class_and_bad_scores() {
        assert!(matches!(
            roc_auc(&[1.0, 2.0], &[true, true]),
            Err(Error::DegenerateInput { .. })
        ));
        let error = roc_auc(&[1.0, f64::NAN], &[true, false]).expect_err("NaN score");
        assert_eq!(error.to_string(), "scores[1]: must be finite, got NaN");
        assert!(roc_auc(&[1.0, 2.0], &[true]).is_err());
    }

    const TREATED: [bool; 4] = [true, false, true, false];
    const CONVERTED: [bool; 4] = [true, false, false, true];

    fn check_qini(scores: &[f64], expected_curve: &[(f64, f64)], expected_coefficient: f64) {
        let qini = qini(scores, &TREATED, &CONVERTED).expect("valid input");
        let curve: Vec<(f64, f64)> = qini
            .curve
            .iter()
            .map(|point| (point.population_fraction, point.incremental_responses))
            .collect();
        assert_eq!(curve, expected_curve);
        // Optimum: treated responder (x 0.25, Q 1), the two non-responders as
        // one tie block (x 0.75, Q 1), control responder (x 1, Q 0): 0.75.
        assert!(
            (qini.optimum_area - 0.75).abs() < 1e-12,
            "{}",
            qini.optimum_area
        );
        assert!(
            (qini.coefficient - expected_coefficient).abs() < 1e-12,
            "coefficient {}, expected {expected_coefficient}",
            qini.coefficient
        );
    }

    #[test]
    fn qini_of_hand_computed_rankings() {
        // Best first: treated responder, control non-responder, treated
        // non-responder, control responder. Area 0.125 + 0.25 + 0.25 + 0.125.
        check_qini(
            &[4.0, 3.0, 2.0, 1.0],
            &[(0.0, 0.0), (0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (1.0, 0.0)],
            1.0,
        );
        // Reversed: control responder (0 - 1 * 0/1), treated non-responder
        // (0 - 1 * 1/1), control non-responder (0 - 1 * 1/2), treated
        // responder (1 - 1 * 2/2). Area -0.125 - 0.1875 - 0.0625 = -0.375.
        check_qini(
            &[1.0, 2.0, 3.0, 4.0],
            &[
                (0.0, 0.0),
                (0.25, 0.0),
                (0.5, -1.0),
                (0.75, -0.5),
                (1.0, 0.0),
            ],
            -0.5,
        );
        // One tie block: the diagonal itself.
        check_qini(&[7.0; 4], &[(0.0, 0.0), (1.0, 0.0)], 0.0);
    }

    #[test]
    fn uplift_at_top_of_hand_computed_cases() {
        let scores = [4.0, 3.0, 2.0, 1.0];
        let at = |fraction| uplift_at_top(&scores, &TREATED, &CONVERTED, fraction);
        assert_eq!(
            at(0.5).expect("both arms"),
            1.0,
            "1/1 treated - 0/1 control"
        );
        assert_eq!(at(1.0).expect("both arms"), 0.0, "1/2 - 1/2");
        assert!(at(0.25).is_err(), "the top one holds no control");
        assert!(at(0.0).is_err());
    }
}
