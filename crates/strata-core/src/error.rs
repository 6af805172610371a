//! The domain's one error type: request values that break a domain rule.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A history's parts (`UserHistory::with_parts`) that no fold could
    /// have made for this model: read from a damaged or foreign summary.
    #[error("history parts: {0}")]
    HistoryParts(String),
    #[error("user id is empty")]
    EmptyUserId,
    #[error("user id is {len} bytes, the limit is {max}")]
    UserIdTooLong { len: usize, max: usize },
    #[error("a {surface} request needs the cart value")]
    MissingCartValue { surface: &'static str },
    #[error("a {surface} request needs the cart currency")]
    MissingCurrency { surface: &'static str },
    #[error("cart value {0} is negative")]
    NegativeCartValue(i64),
    #[error("unknown lifecycle preset `{0}`, expected one of: retail, sns, saas, wealth")]
    UnknownPreset(String),
    #[error("lifecycle model: {0}")]
    LifecycleToml(String),
    #[error("lifecycle model key `{key}`: {reason}")]
    LifecycleModelKey { key: &'static str, reason: String },
    #[error("lifecycle layer `{layer}` (layers[{index}]): {message}")]
    LifecycleLayer {
        layer: String,
        index: usize,
        message: String,
    },
    #[error("lifecycle layer `{layer}` (layers[{index}]) key `{key}`: {reason}")]
    LifecycleKey {
        layer: String,
        index: usize,
        key: String,
        reason: String,
    },
    #[error("value config key `{key}`: {reason}")]
    ValueConfig { key: &'static str, reason: String },
    #[error("quadrant config key `{key}`: {reason}")]
    QuadrantConfig { key: &'static str, reason: String },
}
