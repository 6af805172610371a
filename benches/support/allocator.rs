//! The benchmarks' global allocator and page use: the `strata` binary's own
//! (`src/allocator.rs`, included), so a bench measures what the binary
//! runs. `--no-default-features` compares against the system allocator.

include!("../../src/allocator.rs");
