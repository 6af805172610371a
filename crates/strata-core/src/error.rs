//! The domain's one error type: request values that break a domain rule.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
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
}
