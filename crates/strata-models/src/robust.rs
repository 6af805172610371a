//! Outlier caps for the fits: one customer with an absurd spend must not move
//! a model every other customer is scored by.
//!
//! Kept apart because the spend model and the offer policy share the rule.
//! Positive and negative values are taken apart (an offer's outcome is a
//! cost or a margin, two different populations), and in each, magnitudes
//! are compared on the log scale `ln(1 + |y|)`, where money is roughly
//! symmetric: one too far above the median, more than `FENCE_SPREADS`
//! spreads (the MAD scaled to a normal standard deviation, at least
//! [`MIN_SPREAD`]), is winsorised (set to the fence, not dropped). Zeros (no
//! purchase, the common outcome) are never capped, and small magnitudes are
//! never raised. With the defaults a value must be about `e^3 = 20` times the
//! median even when every other value is alike, and far more in real,
//! spread-out data: the caps catch corrupt or freak values, not big
//! customers.

/// Fence width in spreads.
pub const FENCE_SPREADS: f64 = 6.0;

/// Smallest spread used (log scale), so near-identical values do not make a
/// fence that caps ordinary ones.
pub const MIN_SPREAD: f64 = 0.5;

/// Below this many values of a sign nothing of that sign is capped: too few
/// to tell an outlier from a spread.
pub const MIN_VALUES: usize = 10;

/// What [`winsorise`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Winsorised {
    /// Values moved to a fence.
    pub capped: usize,
    /// The largest magnitude kept for positive and for negative values;
    /// `None` for a sign with too few values.
    pub positive_cap: Option<f64>,
    pub negative_cap: Option<f64>,
}

/// Caps the outliers of `values` (see the module comment); non-finite values
/// are left alone (callers refuse them earlier).
pub fn winsorise(values: &mut [f64]) -> Winsorised {
    let positive_cap = magnitude_cap(values.iter().copied().filter(|value| *value > 0.0));
    let negative_cap = magnitude_cap(
        values
            .iter()
            .map(|value| -value)
            .filter(|value| *value > 0.0),
    );
    let mut capped = 0;
    for value in values.iter_mut().filter(|value| value.is_finite()) {
        let cap = if *value > 0.0 {
            positive_cap
        } else {
            negative_cap
        };
        if let Some(cap) = cap
            && value.abs() > cap
        {
            *value = cap.copysign(*value);
            capped += 1;
        }
    }
    Winsorised {
        capped,
        positive_cap,
        negative_cap,
    }
}

/// The fence for positive `magnitudes`, if there are enough of them.
fn magnitude_cap(magnitudes: impl Iterator<Item = f64>) -> Option<f64> {
    let mut logs: Vec<f64> = magnitudes
        .filter(|value| value.is_finite())
        .map(f64::ln_1p)
        .collect();
    if logs.len() < MIN_VALUES {
        return None;
    }
    let median = median(&mut logs);
    for value in &mut logs {
        *value = (*value - median).abs();
    }
    // 1.4826 x MAD estimates a normal standard deviation.
    let spread = (1.4826 * self::median(&mut logs)).max(MIN_SPREAD);
    Some((median + FENCE_SPREADS * spread).exp_m1())
}

/// The median of `values` (reordered), which are finite and not empty.
fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spends between 10 and 100, spread evenly on the log scale.
    fn ordinary(count: usize) -> Vec<f64> {
        (0..count)
            .map(|index| 10.0 * 10f64.powf(index as f64 / (count - 1) as f64))
            .collect()
    }

    #[test]
    fn ordinary_spread_data_is_left_alone() {
        let mut values = ordinary(200);
        let before = values.clone();
        let result = winsorise(&mut values);
        assert_eq!(result.capped, 0);
        assert_eq!(values, before);
        let cap = result.positive_cap.expect("enough values");
        assert!(cap > 1_000.0, "{cap}");
        assert_eq!(result.negative_cap, None);
    }

    #[test]
    fn freak_values_go_to_the_fence_and_zeros_stay() {
        let mut values = ordinary(100);
        // Costs: a population of their own, with one freak.
        values.extend(ordinary(30).iter().map(|value| -value / 10.0));
        values.extend([1e7, 2e7, 0.0, 0.0, -1e7]);
        let result = winsorise(&mut values);
        let upper = result.positive_cap.expect("enough values");
        let lower = -result.negative_cap.expect("enough values");
        assert_eq!(result.capped, 3);
        assert_eq!(&values[130..], &[upper, upper, 0.0, 0.0, lower]);
        assert!(upper < 1e5 && lower > -1e4, "{lower} {upper}");
        assert!(values[..130].iter().all(|value| value.abs() <= 100.0));
        // Winsorised, the mean is that of ordinary data again.
        let mean = values[..100].iter().chain(&values[130..132]).sum::<f64>() / 102.0;
        assert!(mean < 1_000.0, "{mean}");
    }

    #[test]
    fn too_few_values_are_never_capped() {
        // MIN_VALUES - 1 positive values, however many zeros.
        let mut values = vec![10.0; MIN_VALUES - 2];
        values.push(1e9);
        values.extend([0.0; 50]);
        assert_eq!(winsorise(&mut values), Winsorised::default());
        assert_eq!(values[MIN_VALUES - 2], 1e9);
    }

    #[test]
    fn identical_values_keep_a_minimum_width() {
        let mut values = vec![50.0; 40];
        values.push(500.0);
        values.push(5_000.0);
        let result = winsorise(&mut values);
        // e^(6 x 0.5) = 20 times: 500 passes, 5,000 is capped.
        assert_eq!(result.capped, 1);
        assert_eq!(values[40], 500.0);
    }
}
