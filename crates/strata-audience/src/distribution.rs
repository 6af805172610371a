//! The normal and Student t distributions: CDFs and quantiles, all the
//! lift statistics need.
//!
//! Written here rather than taken from statrs, whose default build pulls in
//! nalgebra for matrix distributions we do not use: four functions, checked
//! below against published tables to 1e-9.

/// Standard normal CDF, through erfc so the far tails (small p-values) keep
/// their relative precision.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile for `p` in (0, 1).
///
/// Acklam's rational approximation (relative error 1.15e-9), then one
/// Halley step on the erfc-based CDF, which brings it to about machine
/// precision.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.38357751867269e+02,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let error = normal_cdf(x) - p;
    let step = error * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - step / (1.0 + x * step / 2.0)
}

/// Student t CDF with `df` > 0 degrees of freedom (not necessarily whole,
/// as Welch's are), through the regularised incomplete beta function.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df.is_infinite() {
        return normal_cdf(t);
    }
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t > 0.0 { 1.0 - tail } else { tail }
}

/// Student t quantile for `p` in (0, 1), by bisection on the CDF: it is
/// called a handful of times per report, so robustness beats speed.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if p.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df.is_infinite() {
        return normal_quantile(p);
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    let mut high = 1.0;
    while student_t_cdf(high, df) < p {
        high *= 2.0;
        if !high.is_finite() {
            return f64::INFINITY;
        }
    }
    let mut low = 0.0;
    for _ in 0..200 {
        let middle = 0.5 * (low + high);
        if middle <= low || middle >= high {
            break;
        }
        if student_t_cdf(middle, df) < p {
            low = middle;
        } else {
            high = middle;
        }
    }
    0.5 * (low + high)
}

/// The regularised incomplete beta function I_x(a, b), by the continued
/// fraction of Numerical Recipes (2nd ed., 6.4) with modified Lentz's
/// method, on whichever side of the mean converges fast.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let log_front =
        libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = log_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPSILON: f64 = 1e-15;
    let guard = |value: f64| if value.abs() < TINY { TINY } else { value };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut fraction = d;
    for m in 1..=10_000 {
        let m = f64::from(m);
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        fraction *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let delta = d * c;
        fraction *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{what}: {actual} vs {expected}"
        );
    }

    #[test]
    fn normal_matches_tables() {
        // Values from R's pnorm / qnorm (double precision).
        for (x, cdf) in [
            (0.0, 0.5),
            (1.96, 0.9750021048517795),
            (-1.0, 0.15865525393145707),
            (-5.0, 2.866515718791939e-07),
            (3.0, 0.9986501019683699),
        ] {
            check(normal_cdf(x), cdf, &format!("pnorm({x})"));
        }
        for (p, quantile) in [
            (0.5, 0.0),
            (0.975, 1.959963984540054),
            (0.995, 2.5758293035489004),
            (0.9, 1.2815515655446004),
            (0.001, -3.090232306167813),
            (1e-10, -6.361340902404056),
            (0.99999, 4.264890793922602),
        ] {
            check(normal_quantile(p), quantile, &format!("qnorm({p})"));
        }
    }

    #[test]
    fn student_t_matches_tables() {
        // Values from R's qt / pt.
        for (p, df, quantile) in [
            (0.975, 1.0, 12.706204736174698),
            (0.975, 2.0, 4.302652729749464),
            (0.975, 10.0, 2.2281388519862744),
            (0.975, 30.0, 2.0422724563012373),
            (0.995, 5.0, 4.032142983557536),
            (0.9, 3.0, 1.6377443536962102),
            (0.025, 10.0, -2.2281388519862744),
            // Asymptotic expansion (Abramowitz and Stegun 26.7.5), exact to 1e-13 here.
            (0.975, 1e7, 1.9599642217672049),
        ] {
            check(
                student_t_quantile(p, df),
                quantile,
                &format!("qt({p}, {df})"),
            );
            check(
                student_t_cdf(quantile, df),
                p,
                &format!("pt(qt({p}), {df})"),
            );
        }
        // Cauchy (df = 1) has a closed form.
        check(student_t_cdf(1.0, 1.0), 0.75, "pt(1, 1)");
        check(student_t_cdf(0.0, 4.5), 0.5, "pt(0, 4.5)");
        check(
            student_t_quantile(0.975, f64::INFINITY),
            1.959963984540054,
            "qt(.975, Inf)",
        );
    }
}
