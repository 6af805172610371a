//! The Gamma-Gamma spend model (Fader, Hardie and Lee 2005b, "RFM and CLV:
//! using iso-value curves"; the derivations are in Fader and Hardie 2013,
//! "The Gamma-Gamma model of monetary value"): its maximum-likelihood fit on
//! repeat buyers' mean spend, and each customer's expected spend per purchase.

use serde::{Deserialize, Serialize};

use super::special::ln_gamma;
use super::{CustomerSummary, minimize};
use crate::error::Error;
use crate::robust::winsorise;

const MODEL: &str = "Gamma-Gamma";

/// The three Gamma-Gamma parameters, named as in the paper: a purchase's
/// spend is gamma(p, ν) and the customer's ν is gamma(q, γ).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParameters {
    /// Shape of the spend per purchase, given the customer.
    pub p: f64,
    /// Shape of the gamma distribution of ν across customers.
    pub q: f64,
    /// Rate of the gamma distribution of ν across customers.
    pub gamma: f64,
}

/// A maximum-likelihood fit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    pub parameters: GammaGammaParameters,
    /// Total log-likelihood of the customers used.
    pub log_likelihood: f64,
    /// Nelder-Mead iterations, summed over restarts.
    pub iterations: u64,
    /// Customers the fit used: those with a repeat purchase and a positive
    /// mean repeat spend.
    pub customers: usize,
    /// Of those, customers whose mean spend was an outlier, capped for the
    /// fit (`robust::winsorise`); their own predictions still use their
    /// real spend.
    #[serde(default)]
    pub capped: usize,
}

/// Fits Gamma-Gamma by maximum likelihood on the customers with at least
/// one repeat purchase, using their mean repeat spend (the conventions of
/// the paper and of `lifetimes`).
///
/// Customers whose repeat purchases were all free are left out: a gamma
/// spend has zero density at 0, so they would make the likelihood -infinity
/// whatever the parameters; [`GammaGammaFit::customers`] says how many were
/// used. Refuses input with fewer than two usable customers or with one
/// mean spend shared by all (the spread across customers, which q and γ
/// describe, is then not identified).
pub fn fit_gamma_gamma(customers: &[CustomerSummary]) -> Result<GammaGammaFit, Error> {
    let mut usable: Vec<CustomerSummary> = customers
        .iter()
        .filter(|customer| customer.frequency() > 0 && customer.mean_repeat_spend() > 0.0)
        .copied()
        .collect();
    // One absurd spend would otherwise set the population's spread (q, γ)
    // for everyone, or stop the fit from converging at all.
    let mut spends: Vec<f64> = usable
        .iter()
        .map(|customer| customer.mean_repeat_spend)
        .collect();
    let capped = winsorise(&mut spends).capped;
    for (customer, spend) in usable.iter_mut().zip(spends) {
        customer.mean_repeat_spend = spend;
    }
    let Some(first) = usable.first() else {
        return Err(Error::NoCustomers {
            model: MODEL,
            detail: format!(
                ", none of the {} customers has a repeat purchase with a positive mean spend",
                customers.len()
            ),
        });
    };
    let first_spend = first.mean_repeat_spend();
    if usable.len() < 2
        || usable
            .iter()
            .all(|customer| customer.mean_repeat_spend() == first_spend)
    {
        return Err(Error::DegenerateInput {
            model: MODEL,
            reason: format!(
                "{} usable customers, all with mean spend {first_spend}: the spread of spend across customers is not identified",
                usable.len()
            ),
        });
    }
    // Customers with the same (x, m_x) contribute the same term: each
    // distinct pair is evaluated once, times its count, in a fixed order
    // (so the fit does not depend on the input order).
    let groups = group(&usable);
    // ln m_x does not depend on the parameters: taken once per group.
    let ln_means: Vec<f64> = groups
        .iter()
        .map(|(customer, _)| customer.mean_repeat_spend().ln())
        .collect();
    let count = usable.len() as f64;
    let objective =
        |point: &[f64]| -from_logarithms(point).log_likelihood_grouped(&groups, &ln_means) / count;
    let minimum = minimize(MODEL, objective, starting_point(&groups))?.identified(MODEL, "")?;
    Ok(GammaGammaFit {
        parameters: from_logarithms(&minimum.point),
        log_likelihood: -minimum.value * count,
        iterations: minimum.iterations,
        customers: usable.len(),
        capped,
    })
}

/// `p = 1`, `q = 2` and `γ` equal to the sample's mean spend, which makes the
/// model's population mean spend `pγ / (q - 1)` match the sample at the start.
fn starting_point(groups: &[(CustomerSummary, f64)]) -> Vec<f64> {
    let (spend, customers) =
        groups
            .iter()
            .fold((0.0, 0.0), |(spend, customers), (customer, count)| {
                (
                    spend + count * customer.mean_repeat_spend(),
                    customers + count,
                )
            });
    vec![0.0, 2.0_f64.ln(), (spend / customers).ln()]
}

/// The distinct `(x, m_x)` of `customers` with how many customers have each,
/// sorted by them.
fn group(customers: &[CustomerSummary]) -> Vec<(CustomerSummary, f64)> {
    let key =
        |customer: &CustomerSummary| (customer.frequency(), customer.mean_repeat_spend().to_bits());
    super::count_distinct(customers, key)
}

fn from_logarithms(point: &[f64]) -> GammaGammaParameters {
    GammaGammaParameters {
        p: point[0].exp(),
        q: point[1].exp(),
        gamma: point[2].exp(),
    }
}

impl GammaGammaParameters {
    /// Total log-likelihood of the mean repeat spends of `customers`, all of
    /// whom must have a repeat purchase and a positive mean spend. For one
    /// customer with x purchases of mean m (the mean of x gamma(p, ν) spends
    /// is gamma(px, νx), then ν is integrated out):
    /// `ln Γ(px + q) - ln Γ(px) - ln Γ(q) + q ln γ + (px - 1) ln m + px ln x
    ///  - (px + q) ln(γ + mx)`.
    pub fn log_likelihood(&self, customers: &[CustomerSummary]) -> f64 {
        customers.iter().map(|customer| self.term(customer)).sum()
    }

    /// [`Self::log_likelihood`] over grouped customers (see [`group`]),
    /// `ln_means` holding each group's `ln m_x`. Each term is [`Self::term`]'s
    /// arithmetic in the same order, with the parts that depend on x alone
    /// (three log-gamma values and `ln x`) taken once per run of equal x, so
    /// the sum has the bits of the terms summed in group order.
    fn log_likelihood_grouped(&self, groups: &[(CustomerSummary, f64)], ln_means: &[f64]) -> f64 {
        let Self { p, q, gamma } = *self;
        let ln_gamma_q = ln_gamma(q);
        let q_ln_gamma = q * gamma.ln();
        // (x, the terms in x alone up to q ln γ, ln x) for the current run.
        let mut cached: Option<(u32, f64, f64)> = None;
        let mut total = 0.0;
        for ((customer, count), ln_mean) in groups.iter().zip(ln_means) {
            let frequency = customer.frequency();
            let x = f64::from(frequency);
            let (head, ln_x) = match cached {
                Some((cached_frequency, head, ln_x)) if cached_frequency == frequency => {
                    (head, ln_x)
                }
                _ => {
                    let head = ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma_q + q_ln_gamma;
                    cached = Some((frequency, head, x.ln()));
                    (head, x.ln())
                }
            };
            let mean = customer.mean_repeat_spend();
            let term = head + (p * x - 1.0) * ln_mean + p * x * ln_x
                - (p * x + q) * (gamma + mean * x).ln();
            total += count * term;
        }
        total
    }

    /// One customer's term of the log-likelihood.
    fn term(&self, customer: &CustomerSummary) -> f64 {
        let Self { p, q, gamma } = *self;
        let x = f64::from(customer.frequency());
        let mean = customer.mean_repeat_spend();
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * gamma.ln()
            + (p * x - 1.0) * mean.ln()
            + p * x * x.ln()
            - (p * x + q) * (gamma + mean * x).ln()
    }

    /// E[M | p, q, γ, m_x, x]: the customer's expected spend per purchase,
    /// `p (γ + m_x x) / (px + q - 1)`, a weighted mean of the population mean
    /// `pγ / (q - 1)` and the customer's own mean `m_x` (Fader, Hardie and
    /// Lee 2005b). For a customer with no repeat purchase it is the
    /// population mean.
    ///
    /// Errors when the parameters are not positive and finite, or when the
    /// posterior mean does not exist (`px + q <= 1`: for x = 0 that is
    /// `q <= 1`, a population whose mean spend is infinite).
    pub fn expected_average_spend(&self, customer: &CustomerSummary) -> Result<f64, Error> {
        let Self { p, q, gamma } = *self;
        if ![p, q, gamma]
            .iter()
            .all(|value| value.is_finite() && *value > 0.0)
        {
            return Err(Error::InvalidArgument {
                name: "GammaGammaParameters",
                reason: format!("p, q, gamma must be positive and finite, got {self:?}"),
            });
        }
        let x = f64::from(customer.frequency());
        let denominator = p * x + q - 1.0;
        if denominator <= 0.0 {
            return Err(Error::InvalidArgument {
                name: "GammaGammaParameters",
                reason: format!(
                    "expected spend is infinite for x = {x}: px + q = {} is not above 1",
                    p * x + q
                ),
            });
        }
        Ok(p * (gamma + customer.mean_repeat_spend() * x) / denominator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full-period CDNOW fit reported in Fader, Hardie and Lee 2005b.
    const CDNOW: GammaGammaParameters = GammaGammaParameters {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    fn customer(frequency: u32, mean_repeat_spend: f64) -> CustomerSummary {
        let recency = f64::from(frequency);
        CustomerSummary::new(frequency, recency, recency + 1.0, mean_repeat_spend)
            .expect("valid summary")
    }

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let population = CDNOW.p * CDNOW.gamma / (CDNOW.q - 1.0);
        let new = CDNOW
            .expected_average_spend(&customer(0, 0.0))
            .expect("defined");
        assert!((new - population).abs() < 1e-12);
        let big_spender = CDNOW
            .expected_average_spend(&customer(2, 100.0))
            .expect("defined");
        assert!(big_spender > population && big_spender < 100.0);
        // More purchases at the same mean earn more trust in that mean.
        let loyal = CDNOW
            .expected_average_spend(&customer(20, 100.0))
            .expect("defined");
        assert!(loyal > big_spender && loyal < 100.0);
    }

    #[test]
    fn expected_spend_refuses_an_infinite_mean() {
        let heavy_tailed = GammaGammaParameters { q: 0.8, ..CDNOW };
        assert!(
            heavy_tailed
                .expected_average_spend(&customer(0, 0.0))
                .is_err()
        );
        assert!(
            heavy_tailed
                .expected_average_spend(&customer(1, 10.0))
                .is_ok()
        );
    }

    #[test]
    fn fits_refuse_degenerate_input() {
        assert!(matches!(
            fit_gamma_gamma(&[]),
            Err(Error::NoCustomers { .. })
        ));
        let one_offs = [customer(0, 0.0), customer(0, 0.0)];
        assert!(matches!(
            fit_gamma_gamma(&one_offs),
            Err(Error::NoCustomers { .. })
        ));
        let identical = [customer(1, 10.0), customer(3, 10.0), customer(0, 0.0)];
        assert!(matches!(
            fit_gamma_gamma(&identical),
            Err(Error::DegenerateInput { .. })
        ));
    }

    #[test]
    fn free_repeat_purchases_are_left_out_of_the_fit() {
        let mut customers: Vec<CustomerSummary> = (1..=40)
            .map(|index| customer(1 + index % 4, 10.0 + f64::from(index % 7) * 3.0))
            .collect();
        customers.push(customer(2, 0.0));
        let fit = fit_gamma_gamma(&customers).expect("fits");
        assert_eq!(fit.customers, 40);
        assert!(fit.log_likelihood.is_finite());
    }

    #[test]
    fn grouped_log_likelihood_equals_plain() {
        let customers: Vec<CustomerSummary> = (0..300u32)
            .map(|i| customer(1 + i % 4, 10.0 + f64::from(i % 9) * 7.5))
            .collect();
        let groups = group(&customers);
        assert_eq!(groups.len(), 36);
        let ln_means: Vec<f64> = groups
            .iter()
            .map(|(customer, _)| customer.mean_repeat_spend().ln())
            .collect();
        let plain = CDNOW.log_likelihood(&customers);
        let grouped = CDNOW.log_likelihood_grouped(&groups, &ln_means);
        // The same terms as `term`'s, bit for bit, summed in group order.
        let direct = groups.iter().fold(0.0, |total, (customer, count)| {
            total + count * CDNOW.term(customer)
        });
        assert_eq!(grouped.to_bits(), direct.to_bits(), "{grouped} {direct}");
        assert!(
            (plain - grouped).abs() < 1e-9 * plain.abs(),
            "{plain} {grouped}"
        );
    }
}
