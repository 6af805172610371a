//! strata's offline side: reading event logs and generating demo events.
//!
//! Architecture invariant: no gRPC, no RocksDB. Readers stream: memory grows
//! with the number of users a caller aggregates, never with the number of
//! events.

pub mod attributes;
mod error;
pub mod generate;
pub mod input;
pub mod summary;

pub use error::Error;
