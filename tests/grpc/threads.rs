//! Any number of threads, the same answers: `strata recompute` run with
//! `STRATA_READ_THREADS` and `STRATA_SCORE_THREADS` at 1 and at 4 (the read,
//! the fit's Gram matrices, the per-user apply and the fingerprints on
//! several threads), the second also applying and diffing in steps of
//! 1,000 users (`STRATA_APPLY_STEP`) instead of one, each run pushing to
//! its own server (real
//! `strata serve`, RocksDB on disk). Every profile read back through
//! BatchGetProfiles is byte-identical (encoded, `computed_at` cleared),
//! and the runs print the same summary and models.

use std::path::Path;
use std::process::Command;

use prost::Message;

use crate::support::{Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
/// Enough users that every model is fitted and the learners' fits are
/// large enough to be split over threads; the seed on which the offer
/// policy serves benefits and the fairness rule repairs groups.
const USERS: u64 = 25_000;
const SEED: &str = "4";

/// `strata recompute` on `threads` threads, pushing to `server`; its
/// summary without the timing lines.
fn recompute(events: &Path, server: &Server, state: &Path, threads: &str, step: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["recompute", "--events", events.to_str().unwrap()])
        .args(["--as-of", AS_OF, "--push", &server.endpoint()])
        .args(["--state", state.to_str().unwrap()])
        .env("STRATA_READ_THREADS", threads)
        .env("STRATA_SCORE_THREADS", threads)
        .env("STRATA_APPLY_STEP", step)
        .output()
        .unwrap();
    succeeded(output)
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("time ") || line.starts_with("throughput "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn one_and_four_threads_serve_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--seed",
        SEED,
        "--out",
        events.to_str().unwrap(),
    ]));

    let mut runs = Vec::new();
    for (threads, step) in [("1", "100000"), ("4", "1000")] {
        let server = Server::start(&dir.path().join(format!("db-{threads}")), None);
        let state = dir.path().join(format!("state-{threads}.jsonl"));
        let summary = recompute(&events, &server, &state, threads, step);
        let profiles = server.known_bytes(USERS).await;
        runs.push((threads, summary, profiles));
    }
    let (_, one_summary, one) = &runs[0];
    let (_, four_summary, four) = &runs[1];
    assert_eq!(one.len() as u64, USERS);
    // Not vacuous: the models ran and served offers.
    assert!(one_summary.contains("BG/NBD       r "), "{one_summary}");
    let with_benefits = one
        .values()
        .map(|bytes| strata_proto::v1::Profile::decode(bytes.as_slice()).unwrap())
        .filter(|profile| !profile.benefits.is_empty())
        .count();
    assert!(with_benefits > 0, "no profile has a benefit");

    assert_eq!(one_summary, four_summary, "the summaries differ");
    let differ: Vec<&String> = one
        .keys()
        .chain(four.keys())
        .filter(|id| one.get(*id) != four.get(*id))
        .collect();
    assert!(
        differ.is_empty(),
        "4 threads: {} users differ from 1 thread, e.g. {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
}
