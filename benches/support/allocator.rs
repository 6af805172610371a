//! The benchmarks' global allocator: the same as the `strata` binary's
//! (mimalloc, chosen by measurement; `Cargo.toml` has the figures), so a
//! bench measures what the binary runs. `--no-default-features` compares
//! against the system allocator.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
