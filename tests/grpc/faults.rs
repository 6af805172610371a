//! Fault tests: `kill -9` at many random points while a producer streams,
//! and a disk that fills up under ingest. Afterwards no acknowledged update is
//! lost, the store opens, and a batch is either wholly there or wholly absent.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use strata_proto::v1::Profile;
use tonic::Code;

use crate::support::{Server, batch, profile, push};

const PRODUCER: &str = "faults";
const USERS_PER_BATCH: u32 = 25;

/// Batch `sequence` writes users `s{sequence}-{i}`, each carrying the sequence.
fn users_of(sequence: u64) -> Vec<String> {
    (0..USERS_PER_BATCH)
        .map(|i| format!("s{sequence}-{i}"))
        .collect()
}

fn batch_of(sequence: u64) -> strata_proto::v1::ApplyUpdatesRequest {
    let upserts = users_of(sequence)
        .iter()
        .map(|user| profile(user, sequence as u32))
        .collect();
    batch(PRODUCER, sequence, upserts, &[])
}

/// How many of `sequence`'s users are stored with that sequence's content.
async fn stored(server: &Server, sequence: u64) -> usize {
    let users = users_of(sequence);
    let ids: Vec<&str> = users.iter().map(String::as_str).collect();
    server
        .lookup(&ids)
        .await
        .into_iter()
        .filter(|found| {
            found
                .as_ref()
                .is_some_and(|profile: &Profile| profile.model_version == format!("v{sequence}"))
        })
        .count()
}

/// Random kill points. Each costs one restart: the server started to check
/// a kill point is the one the next round writes to and kills.
const KILL_POINTS: usize = 200;

#[tokio::test]
async fn kill_9_at_random_points_loses_no_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    // Seeded: a failure can be replayed with the same kill points.
    let mut random = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut acknowledged_total = 0u64;
    let mut checked_users = 0usize;
    // Kill points where the batch in flight was applied but never
    // acknowledged: the case the producer's resync exists for.
    let mut applied_unacknowledged = 0usize;

    let mut server = Server::start(&data, None);
    for round in 0..KILL_POINTS {
        let first = server.applied(PRODUCER).await + 1;
        let acknowledged = Arc::new(Mutex::new(first - 1));
        let writer = {
            let acknowledged = acknowledged.clone();
            let mut ingest = server.ingest().await;
            tokio::spawn(async move {
                // One batch per stream, so each acknowledgement is one batch.
                for sequence in first.. {
                    match push(&mut ingest, vec![batch_of(sequence)]).await {
                        Ok(_) => *acknowledged.lock().unwrap() = sequence,
                        Err(_) => return,
                    }
                }
            })
        };
        // Anywhere in the first 40 ms of the stream: before the first batch,
        // mid-write, between an applied batch and its acknowledgement.
        let delay = Duration::from_micros(random.random_range(0..40_000));
        tokio::time::sleep(delay).await;
        server.kill9();
        let _ = writer.await;
        let acknowledged = *acknowledged.lock().unwrap();

        // Reopen: the store opens and holds every acknowledged batch whole.
        server = Server::start(&data, None);
        let applied = server.applied(PRODUCER).await;
        assert!(
            applied == acknowledged || applied == acknowledged + 1,
            "kill point {round}: acknowledged {acknowledged}, store says {applied}: \
             at most the one in-flight batch may be beyond the last acknowledgement"
        );
        if applied > acknowledged {
            applied_unacknowledged += 1;
        }
        for sequence in first..=applied {
            assert_eq!(
                stored(&server, sequence).await,
                USERS_PER_BATCH as usize,
                "kill point {round}: batch {sequence} is not whole"
            );
            checked_users += USERS_PER_BATCH as usize;
        }
        // Nothing of a batch past the applied sequence: never half a batch.
        assert_eq!(stored(&server, applied + 1).await, 0, "kill point {round}");
        acknowledged_total += acknowledged + 1 - first;
    }
    server.kill9();
    eprintln!(
        "kill -9 fault test: {KILL_POINTS} kill points, {acknowledged_total} acknowledged batches, \
         {checked_users} users checked after restart, {applied_unacknowledged} kill points with \
         an applied but unacknowledged batch, none lost"
    );
    assert!(acknowledged_total > 0, "the writer never got a batch in");
}

#[tokio::test]
async fn a_full_disk_fails_ingest_cleanly_while_reads_continue() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    // RLIMIT_FSIZE stands in for a full disk: a write past 4 MiB fails with
    // EFBIG, as ENOSPC would. SIGXFSZ is ignored so the write fails instead
    // of killing the process (an ignored signal survives exec).
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 4096; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_strata"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]);
    let server = Server::spawn(command, &data);
    let mut ingest = server.ingest().await;

    // Big batches (~120 KB each) until the disk is "full"; bounded at 200.
    let big = |sequence: u64| {
        let upserts = (0..400)
            .map(|i| {
                let mut big = profile(&format!("big{sequence}-{i}"), sequence as u32);
                if let Some(value) = big.value_tier.as_mut() {
                    value.rfm_segment = "padding ".repeat(36);
                }
                big
            })
            .collect();
        batch(PRODUCER, sequence, upserts, &[])
    };
    let mut acknowledged = 0;
    let mut failure = None;
    for sequence in 1..=200 {
        match push(&mut ingest, vec![big(sequence)]).await {
            Ok(_) => acknowledged = sequence,
            Err(status) => {
                failure = Some(status);
                break;
            }
        }
    }
    let failure = failure.expect("a 4 MiB file limit must stop ingest before 24 MB");
    assert!(acknowledged > 0, "the first batches fit");
    assert_eq!(failure.code(), Code::Unavailable, "{failure:?}");
    assert!(
        failure.message().contains("not applied"),
        "the producer is told the batch was not applied: {}",
        failure.message()
    );

    // Reads go on: an acknowledged user is still served by the same process.
    let read = server.lookup(&["big1-0", "big1-399"]).await;
    assert!(
        read.iter().all(Option::is_some),
        "reads fail after the disk filled"
    );

    // Space comes back (a restart without the limit): every acknowledged batch
    // is there and the refused one is wholly absent.
    server.kill9();
    let server = Server::start(&data, None);
    assert_eq!(server.applied(PRODUCER).await, acknowledged);
    let refused = acknowledged + 1;
    let refused_ids: Vec<String> = (0..400).map(|i| format!("big{refused}-{i}")).collect();
    let ids: Vec<&str> = refused_ids.iter().map(String::as_str).collect();
    assert!(server.lookup(&ids).await.iter().all(Option::is_none));
    let last_ids: Vec<String> = (0..400).map(|i| format!("big{acknowledged}-{i}")).collect();
    let ids: Vec<&str> = last_ids.iter().map(String::as_str).collect();
    assert!(server.lookup(&ids).await.iter().all(Option::is_some));
}
