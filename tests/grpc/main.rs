//! End-to-end tests: the real `strata` binary on loopback, RocksDB on disk.

mod backup;
mod batch_get;
mod campaigns;
mod cli;
mod client;
mod consistency;
mod deploy;
mod faults;
mod first_run;
mod ingest;
mod loadtest;
mod offer_value;
mod offers;
mod operations;
mod overload;
mod partition;
mod python_client;
mod recompute;
mod reload;
mod replication;
mod report;
mod security;
mod stats;
mod support;
mod watch;
