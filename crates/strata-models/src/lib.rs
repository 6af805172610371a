//! strata's statistical models, as pure functions on numbers: lifetime value
//! (BG/NBD and Gamma-Gamma), propensity to buy, channel response, best send
//! time and benefit uplift, with the metrics that check them.
//!
//! Architecture invariant: no IO, no async, no strata-core types: callers
//! turn their data into plain numbers first.

mod error;
pub use error::Error;

pub mod calibration;
pub mod channel;
pub mod churn;
pub mod evaluation;
pub mod fairness;
pub mod gbt;
pub mod lifetime;
pub mod offer_policy;
pub mod propensity;
pub mod propensity_choice;
pub mod robust;
pub mod send_time;
pub mod uplift;

pub use lifetime::{
    BgNbdFit, BgNbdParameters, CustomerSummary, ExpectedPurchases, GammaGammaFit,
    GammaGammaParameters, PurchaseDay, fit_bg_nbd, fit_gamma_gamma, predicted_value,
    summarize_purchases,
};
