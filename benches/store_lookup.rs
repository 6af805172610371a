//! The store's batched lookup: one RocksDB MultiGet per batch, against the
//! baseline of one point read per user, at batch sizes 1, 10, 100 and 1000.
//!
//! Run with `cargo bench --bench store_lookup` (`STRATA_BENCH_ROW_CACHE_MB=0`
//! to measure without the row cache). Criterion measures each case;
//! at the end a table compares MultiGet with the per-user loop measured in
//! the same run, since absolute numbers on a shared machine drift.

#[path = "support/allocator.rs"]
mod allocator;

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_loadtest::fixtures::{demo_profile, demo_user_id};
use strata_store::{Batch, Store, StoreOptions};

const USERS: u64 = 200_000;
const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1000];

fn load(path: &Path) -> Store {
    let options = StoreOptions {
        // Loading is not what is measured; a synced WAL only slows set-up.
        sync_writes: false,
        row_cache_bytes: std::env::var("STRATA_BENCH_ROW_CACHE_MB")
            .ok()
            .and_then(|mb| mb.parse::<usize>().ok())
            .unwrap_or(256)
            << 20,
        ..StoreOptions::default()
    };
    let store = Store::open(path, &options).expect("open store");
    let chunk = 10_000;
    for (sequence, start) in (0..USERS).step_by(chunk).enumerate() {
        let upserts: Vec<(String, Vec<u8>)> = (start..(start + chunk as u64).min(USERS))
            .map(|index| {
                (
                    demo_user_id(index),
                    demo_profile(1, index, 1_800_000_000).encode_to_vec(),
                )
            })
            .collect();
        store
            .apply(Batch {
                producer_id: "bench",
                sequence: sequence as u64 + 1,
                upserts: &upserts,
                deletes: &[] as &[&str],
            })
            .expect("load batch");
    }
    store.flush().expect("flush");
    store
}

fn random_batches(size: usize) -> Vec<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(size as u64);
    (0..64)
        .map(|_| {
            (0..size)
                .map(|_| demo_user_id(rng.random_range(0..USERS)))
                .collect()
        })
        .collect()
}

fn bench_lookups(criterion: &mut Criterion, store: &Store) {
    let mut group = criterion.benchmark_group("store_lookup");
    for size in BATCH_SIZES {
        let batches = random_batches(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(
            BenchmarkId::new("multi_get", size),
            &batches,
            |bench, batches| {
                let mut next = 0;
                bench.iter(|| {
                    let ids = &batches[next % batches.len()];
                    next += 1;
                    let mut bytes = 0usize;
                    store
                        .multi_get(ids, |_, value| bytes += value.map_or(0, <[u8]>::len))
                        .unwrap();
                    black_box(bytes)
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("get_loop", size),
            &batches,
            |bench, batches| {
                let mut next = 0;
                bench.iter(|| {
                    let ids = &batches[next % batches.len()];
                    next += 1;
                    let mut bytes = 0usize;
                    for id in ids {
                        bytes += store
                            .get(id.as_bytes(), |value| value.map_or(0, <[u8]>::len))
                            .unwrap();
                    }
                    black_box(bytes)
                });
            },
        );
    }
    group.finish();
}

/// Mean time per iteration in nanoseconds, from criterion's saved estimates.
fn mean_nanos(target: &Path, function: &str, size: usize) -> Option<f64> {
    let path = target
        .join("criterion/store_lookup")
        .join(function)
        .join(size.to_string())
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn print_table() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    println!("\nstore lookup, {USERS} users, random ids (mean per batch)");
    println!(
        "{:>6} | {:>14} | {:>14} | {:>14} | {:>16}",
        "batch", "multi_get", "users/s", "get loop", "multi_get speedup"
    );
    for size in BATCH_SIZES {
        let (Some(multi), Some(single)) = (
            mean_nanos(&target, "multi_get", size),
            mean_nanos(&target, "get_loop", size),
        ) else {
            println!("{size:>6} | (no estimate saved; run without --test)");
            continue;
        };
        println!(
            "{size:>6} | {:>11.1} us | {:>14.0} | {:>11.1} us | {:>15.2}x",
            multi / 1e3,
            size as f64 / (multi / 1e9),
            single / 1e3,
            single / multi
        );
    }
}

fn main() {
    allocator::tune_pages();
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = load(dir.path());
    let mut criterion = Criterion::default().configure_from_args();
    bench_lookups(&mut criterion, &store);
    criterion.final_summary();
    print_table();
}
