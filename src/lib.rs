//! strata: per-user lifecycle decisions served over batched gRPC from RocksDB.
//!
//! This package is the wire edge: the generated gRPC contract and its
//! conversions ([`api`]), the tonic services ([`server`]), configuration
//! ([`config`]), the recompute
//! job's orchestration ([`recompute`]), replicas fed over NATS JetStream
//! ([`replication`]), snapshot files ([`snapshot`]), the load
//! tester ([`loadtest`]) and the benchmarks' synthetic profiles ([`demo`]).
//! Domain rules live in `strata-core`, storage in `strata-store`, the
//! contract in `strata-proto` and the client in `strata-client`.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod campaigns;
pub mod config;
pub mod demo;
pub mod facets;
pub mod loadtest;
pub mod recompute;
pub mod reload;
pub mod replication;
pub mod server;
pub mod snapshot;
