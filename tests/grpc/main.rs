//! End-to-end tests: the real `strata` binary on loopback, RocksDB on disk.

mod batch_get;
mod cli;
mod client;
mod consistency;
mod deploy;
mod faults;
mod ingest;
mod loadtest;
mod offers;
mod operations;
mod partition;
mod python_client;
mod recompute;
mod report;
mod support;
