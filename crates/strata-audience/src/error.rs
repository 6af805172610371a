//! The crate's one error type: a definition file that breaks the language
//! (with the line and column at fault), or numbers the statistics refuse.

/// A one-based position in a definition file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An audience or campaign file that does not parse or does not check.
    /// `message` names the key or value at fault and, for an unknown one,
    /// what is allowed.
    #[error("line {}, column {}: {message}", location.line, location.column)]
    Definition { location: Location, message: String },

    /// An arm too small for a variance: lift needs two users per arm.
    #[error("the {arm} arm has {users} users; lift needs at least 2 in each arm")]
    TooFewUsers { arm: &'static str, users: u64 },

    /// A number outside the range a statistic accepts.
    #[error("`{name}` is {value}: {reason}")]
    InvalidInput {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
}

impl Error {
    /// The line of a definition error, for callers that point at the file.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::Definition { location, .. } => Some(location.line),
            _ => None,
        }
    }
}
