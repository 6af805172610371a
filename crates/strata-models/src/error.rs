//! The crate's one error type: every model refuses bad or degenerate input
//! with one of these, naming the input at fault, instead of panicking or
//! returning NaN.

/// Why a model could not be fitted or evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A fit was handed no usable customers.
    #[error("{model}: no customers to fit{detail}")]
    NoCustomers {
        model: &'static str,
        /// Which filter emptied the input, if any (starts with ", ").
        detail: String,
    },

    /// The input does not identify the model's parameters.
    #[error("{model}: degenerate input: {reason}")]
    DegenerateInput { model: &'static str, reason: String },

    /// The optimiser stopped without converging, or at a boundary.
    #[error("{model}: fit did not converge after {iterations} iterations: {reason}")]
    NotConverged {
        model: &'static str,
        iterations: u64,
        reason: String,
    },

    /// A per-customer summary broke one of its invariants.
    #[error("invalid customer summary: {reason}")]
    InvalidSummary { reason: String },

    /// One purchase in a customer's history is unusable.
    #[error("purchases[{index}]: {reason}")]
    InvalidPurchase { index: usize, reason: String },

    /// A customer has no purchase on or before the end of calibration.
    #[error("no purchase on or before the end of the calibration period (day {calibration_end})")]
    NoPurchaseInCalibration { calibration_end: i32 },

    /// A function argument (horizon, parameter) is out of its domain.
    #[error("{name}: {reason}")]
    InvalidArgument { name: &'static str, reason: String },

    /// A hypergeometric series needed more terms than allowed.
    #[error("2F1({a}, {b}; {c}; {z}) did not converge within {terms} terms")]
    SeriesDidNotConverge {
        a: f64,
        b: f64,
        c: f64,
        z: f64,
        terms: u32,
    },

    /// One value of a decision model's input is unusable; `input` names it
    /// with its position (`labels`, `features[17][2]`, `outcomes[3].benefit`).
    #[error("{input}: {reason}")]
    InvalidInput { input: String, reason: String },
}
