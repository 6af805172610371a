//! strata's statistical models, as pure functions on numbers: lifetime value
//! (BG/NBD and Gamma-Gamma), propensity to buy, channel response and benefit
//! uplift, with the metrics that check them.
//!
//! Architecture invariant: no IO, no async, no strata-core types: callers
//! turn their data into plain numbers first.
