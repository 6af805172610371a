//! End-to-end tests: the real `strata` binary on loopback, RocksDB on disk.

mod batch_get;
mod cli;
mod client;
mod consistency;
mod ingest;
mod loadtest;
mod offers;
mod operations;
mod recompute;
mod support;
