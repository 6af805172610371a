//! The built-in load generator behind `strata loadtest` and the side-by-side
//! serving benchmark: BatchGetProfiles or GetOffers over a pool of gRPC
//! connections, closed or open loop, latencies in an HDR histogram.
//!
//! - `ids`: the key space, formatted once, and the id distributions;
//! - `driver`: the load loop, independent of the transport, and the
//!   coordinated-omission-safe open-loop schedule;
//! - `grpc`: connections, request encoding, response counting;
//! - `report`: the JSON document and the table;
//! - `target`: the loopback rule;
//! - `fixtures`: synthetic profiles, shared with the benchmarks.
//!
//! The `strata loadtest` flags live in the binary (`src/cli/loadtest.rs`).

mod driver;
mod error;
pub mod fixtures;
mod grpc;
mod ids;
mod report;
mod run;
mod target;

pub use driver::{
    Answer, Caller, MAX_DURATION, MAX_RATE, MAX_REQUESTS, Measurement, Pace, Plan, drive,
};
pub use error::LoadError;
pub use grpc::{GrpcCaller, Method, callers, connect};
pub use ids::{Distribution, IdConfig, IdFormat, IdSpace, MAX_KEY_SPACE};
pub use report::{Percentiles, Report, Settings};
pub use run::{LoadConfig, run, run_with_ids};
pub use target::{resolve_target, target_host};
