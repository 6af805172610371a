//! What the pyramid counters and the transition log cost ingest: the same
//! batches applied to a store without a classifier (profiles and sequence
//! only) and with strata's `ProfileClassifier` (plus one MultiGet of the
//! batch's old records, both sides classified, counters and transitions in
//! the same WriteBatch).
//!
//! Run with `cargo bench --bench ingest_apply`. Each case loads
//! [`USERS`] demo profiles, then times [`BATCHES`] batches of [`BATCH`]
//! upserts of existing users with a new seed (so many change layer), with
//! the WAL synced (as served) and unsynced (the CPU cost alone). Rounds
//! alternate the two stores, since absolute numbers on a shared machine
//! drift; the table prints each round.

#[path = "support/allocator.rs"]
mod allocator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_loadtest::fixtures::{demo_profile, demo_user_id};
use strata_server::classifier::ProfileClassifier;
use strata_store::{Batch, Store, StoreOptions};

const USERS: u64 = 100_000;
const BATCH: usize = 500;
const BATCHES: u64 = 200;
const ROUNDS: u64 = 3;

fn open(path: &std::path::Path, classified: bool, sync_writes: bool) -> Store {
    let options = StoreOptions {
        sync_writes,
        classifier: classified.then(|| Arc::new(ProfileClassifier) as _),
        ..StoreOptions::default()
    };
    Store::open(path, &options).expect("open store")
}

fn load(store: &Store) -> u64 {
    let mut sequence = 0;
    for start in (0..USERS).step_by(10_000) {
        let upserts: Vec<(String, Vec<u8>)> = (start..(start + 10_000).min(USERS))
            .map(|index| {
                (
                    demo_user_id(index),
                    demo_profile(1, index, 1_800_000_000).encode_to_vec(),
                )
            })
            .collect();
        sequence += 1;
        store
            .apply(Batch {
                producer_id: "bench",
                sequence,
                upserts: &upserts,
                deletes: &[] as &[&str],
            })
            .expect("load batch");
    }
    sequence
}

/// The batches of one round: random existing users, profiles of `seed`.
fn batches(seed: u64) -> Vec<Vec<(String, Vec<u8>)>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..BATCHES)
        .map(|_| {
            let mut users: Vec<u64> = (0..BATCH).map(|_| rng.random_range(0..USERS)).collect();
            users.sort_unstable();
            users.dedup();
            users
                .into_iter()
                .map(|index| {
                    (
                        demo_user_id(index),
                        demo_profile(seed, index, 1_800_000_000).encode_to_vec(),
                    )
                })
                .collect()
        })
        .collect()
}

fn apply_all(store: &Store, next: &mut u64, batches: &[Vec<(String, Vec<u8>)>]) -> Duration {
    let started = Instant::now();
    for upserts in batches {
        *next += 1;
        store
            .apply(Batch {
                producer_id: "bench",
                sequence: *next,
                upserts,
                deletes: &[] as &[&str],
            })
            .expect("apply");
    }
    started.elapsed()
}

/// The batches' keys read alone (one MultiGet each), for the share of the
/// cost that is the read of old records.
fn read_all(store: &Store, batches: &[Vec<(String, Vec<u8>)>]) -> Duration {
    let started = Instant::now();
    for upserts in batches {
        let keys: Vec<&str> = upserts.iter().map(|(key, _)| key.as_str()).collect();
        let mut bytes = 0usize;
        store
            .multi_get(&keys, |_, value| bytes += value.map_or(0, <[u8]>::len))
            .expect("read");
        std::hint::black_box(bytes);
    }
    started.elapsed()
}

fn main() {
    allocator::tune_pages();
    // `cargo test --benches` runs benches with --bench absent: keep it quick.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    println!(
        "{:<8} {:<6} {:>12} {:>12} {:>8} {:>14}",
        "wal", "round", "plain b/s", "counted b/s", "cost", "multi_get ms/b"
    );
    for sync_writes in [true, false] {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let stores = [
            open(dirs[0].path(), false, sync_writes),
            open(dirs[1].path(), true, sync_writes),
        ];
        let mut next: Vec<u64> = stores.iter().map(load).collect();
        for round in 1..=ROUNDS {
            let work = batches(round + 1);
            let reads = read_all(&stores[0], &work);
            let plain = apply_all(&stores[0], &mut next[0], &work);
            let counted = apply_all(&stores[1], &mut next[1], &work);
            let rate = |took: Duration| BATCHES as f64 / took.as_secs_f64();
            println!(
                "{:<8} {:<6} {:>12.0} {:>12.0} {:>7.1}% {:>14.3}",
                if sync_writes { "synced" } else { "unsynced" },
                round,
                rate(plain),
                rate(counted),
                100.0 * (counted.as_secs_f64() / plain.as_secs_f64() - 1.0),
                reads.as_secs_f64() * 1000.0 / BATCHES as f64
            );
        }
        let transitions = stores[1].newest_transition();
        println!("         ({transitions} transitions logged by the counted store)");
    }
}
