//! Versioned full reloads as an operator runs them: `strata gen`, `strata
//! recompute --snapshot`, `strata admin load-snapshot|versions|rollback`
//! against a real server, with readers and producers running meanwhile, and
//! kill -9 at many points of a reload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use strata_proto::v1::admin_service_client::AdminServiceClient;
use strata_proto::v1::{BatchGetProfilesRequest, LoadSnapshotRequest, Profile, RollbackRequest};
use tonic::transport::Channel;

use crate::support::{Server, batch, profile, push, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";

/// Events of `users` generated users, and one snapshot of them per model
/// version in `versions`, all in `dir`.
pub fn snapshots(dir: &Path, users: u32, versions: &[&str]) -> Vec<PathBuf> {
    let events = dir.join("events.csv");
    succeeded(strata(&[
        "gen",
        "--users",
        &users.to_string(),
        "--seed",
        "7",
        "--out",
        events.to_str().unwrap(),
    ]));
    versions
        .iter()
        .map(|version| {
            let snapshot = dir.join(format!("{version}.snapshot"));
            let state = dir.join(format!("{version}.state.jsonl"));
            succeeded(strata(&[
                "recompute",
                "--events",
                events.to_str().unwrap(),
                "--as-of",
                AS_OF,
                "--model-version",
                version,
                "--snapshot",
                snapshot.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
            ]));
            snapshot
        })
        .collect()
}

/// The user ids a snapshot holds, in file order.
pub fn snapshot_users(snapshot: &Path) -> Vec<String> {
    let mut users = Vec::new();
    strata_snapshot::read_snapshot(snapshot, |profile| users.push(profile.user_id)).unwrap();
    users
}

/// `strata admin <command> --target <server> [args]`, as a user types it.
fn admin(server: &Server, command: &str, args: &[&str]) -> std::process::Output {
    let endpoint = server.endpoint();
    let mut all = vec!["admin", command, "--target", endpoint.as_str()];
    all.extend_from_slice(args);
    strata(&all)
}

async fn admin_client(server: &Server) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(server.channel().await)
}

/// The model versions of `users`' profiles as served, one BatchGetProfiles
/// per 500 users: (model version -> users), and users missing.
async fn served_versions(server: &Server, users: &[String]) -> (BTreeMap<String, usize>, usize) {
    let mut client = server.profiles().await;
    let mut versions = BTreeMap::new();
    let mut missing = 0;
    for chunk in users.chunks(500) {
        let answer = client
            .batch_get_profiles(BatchGetProfilesRequest {
                user_ids: chunk.to_vec(),
                field_mask: None,
            })
            .await
            .unwrap()
            .into_inner();
        for result in answer.results {
            match result.profile {
                Some(profile) => *versions.entry(profile.model_version).or_insert(0) += 1,
                None => missing += 1,
            }
        }
    }
    (versions, missing)
}

/// The one model version every user is served from, after checking that
/// none is missing and none is mixed.
async fn served_version(server: &Server, users: &[String]) -> String {
    let (versions, missing) = served_versions(server, users).await;
    assert_eq!(missing, 0, "{versions:?}");
    assert_eq!(versions.len(), 1, "mixed versions: {versions:?}");
    versions.into_keys().next().unwrap()
}

/// A profile addressed to `model_version`.
fn addressed(
    producer: &str,
    sequence: u64,
    upserts: Vec<Profile>,
    model_version: &str,
) -> strata_proto::v1::ApplyUpdatesRequest {
    let mut request = batch(producer, sequence, upserts, &[]);
    request.model_version = model_version.to_owned();
    request
}

#[tokio::test]
async fn reload_switches_readers_atomically_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let paths = snapshots(dir.path(), 3000, &["retail-1", "retail-2"]);
    let users = snapshot_users(&paths[0]);
    assert!(users.len() > 2000, "{}", users.len());
    let server = Server::start(&dir.path().join("db"), None);

    // A store filled by ingest before any reload: its version takes the
    // name of the first batch's records (v1).
    let mut ingest = server.ingest().await;
    push(
        &mut ingest,
        vec![batch("early", 1, vec![profile("early-user", 1)], &[])],
    )
    .await
    .unwrap();
    let versions = succeeded(admin(&server, "versions", &[]));
    assert!(versions.contains("v1 "), "{versions}");
    assert!(!versions.contains("initial"), "{versions}");
    let none = admin_client(&server)
        .await
        .rollback(RollbackRequest {})
        .await
        .unwrap_err();
    assert_eq!(none.code(), tonic::Code::NotFound, "{none:?}");

    let loaded = succeeded(admin(
        &server,
        "load-snapshot",
        &[paths[0].to_str().unwrap()],
    ));
    assert!(loaded.contains("loaded retail-1"), "{loaded}");
    assert!(loaded.contains("previous v1"), "{loaded}");
    assert_eq!(served_version(&server, &users).await, "retail-1");
    assert_eq!(server.lookup(&["early-user"]).await, vec![None]);

    // Readers loop over random batches while retail-2 loads and switches.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for reader in 0..4u64 {
        let mut client = server.profiles().await;
        let users = users.clone();
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(reader);
            let (mut calls, mut failed, mut mixed, mut incomplete) = (0u64, 0u64, 0u64, 0u64);
            let mut seen = Vec::<String>::new();
            while !stop.load(Ordering::Relaxed) {
                let ids: Vec<String> = (0..200)
                    .map(|_| users[rng.random_range(0..users.len())].clone())
                    .collect();
                calls += 1;
                let Ok(answer) = client
                    .batch_get_profiles(BatchGetProfilesRequest {
                        user_ids: ids,
                        field_mask: None,
                    })
                    .await
                else {
                    failed += 1;
                    continue;
                };
                let answer = answer.into_inner();
                let mut versions: Vec<&str> = answer
                    .results
                    .iter()
                    .filter_map(|result| result.profile.as_ref())
                    .map(|profile| profile.model_version.as_str())
                    .collect();
                if versions.len() != 200 {
                    incomplete += 1;
                }
                versions.dedup();
                if versions.len() != 1 {
                    mixed += 1;
                } else if seen.last().map(String::as_str) != Some(versions[0]) {
                    seen.push(versions[0].to_owned());
                }
            }
            (calls, failed, mixed, incomplete, seen)
        }));
    }
    let endpoint = server.endpoint();
    let path = paths[1].to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        strata(&["admin", "load-snapshot", "--target", &endpoint, &path])
    })
    .await
    .unwrap();
    let loaded = succeeded(output);
    assert!(loaded.contains("loaded retail-2"), "{loaded}");
    // Let the readers run on the new version a little before stopping them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total_calls = 0;
    for reader in readers {
        let (calls, failed, mixed, incomplete, seen) = reader.await.unwrap();
        assert_eq!((failed, mixed, incomplete), (0, 0, 0), "calls {calls}");
        assert_eq!(
            seen.last().map(String::as_str),
            Some("retail-2"),
            "{seen:?}"
        );
        assert!(seen.len() <= 2, "versions go forward only: {seen:?}");
        total_calls += calls;
    }
    println!(
        "{total_calls} BatchGetProfiles calls of 200 users during the switch: none failed, none mixed"
    );
    assert_eq!(served_version(&server, &users).await, "retail-2");

    // Updates for the old version are refused; for the new one, applied.
    let mut ingest = server.ingest().await;
    let refused = push(
        &mut ingest,
        vec![addressed("job", 1, vec![profile(&users[0], 9)], "retail-1")],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("retail-1") && refused.message().contains("retail-2"),
        "{}",
        refused.message()
    );
    assert_eq!(server.applied("job").await, 0);
    let mut update = profile(&users[0], 9);
    update.model_version = "retail-2".into();
    push(
        &mut ingest,
        vec![addressed("job", 1, vec![update.clone()], "retail-2")],
    )
    .await
    .unwrap();
    assert_eq!(
        server.lookup(&[&users[0]]).await,
        vec![Some(update.clone())]
    );

    // Versions: retail-2 serves, retail-1 kept, v1 (the first) dropped.
    let versions = succeeded(admin(&server, "versions", &[]));
    let line = |name: &str| {
        versions
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("retail-2").contains("current"), "{versions}");
    assert!(line("retail-1").contains("previous"), "{versions}");
    assert!(line("v1 ").is_empty(), "{versions}");

    // Rollback, and rollback again to undo it.
    let rolled = succeeded(admin(&server, "rollback", &[]));
    assert!(rolled.contains("from retail-2 to retail-1"), "{rolled}");
    assert_eq!(served_version(&server, &users).await, "retail-1");
    succeeded(admin(&server, "rollback", &[]));
    assert_eq!(server.lookup(&[&users[0]]).await, vec![Some(update)]);

    // Loading the serving version again is refused.
    let again = admin(&server, "load-snapshot", &[paths[1].to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("ALREADY_EXISTS"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// The snapshot's framing: the 8-byte magic, then varint-length-delimited
/// records (header, profiles..., trailer).
fn split_records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let start = at;
        let mut length = 0usize;
        let mut shift = 0;
        loop {
            let byte = bytes[at];
            at += 1;
            length |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        at += length;
        records.push(bytes[start..at].to_vec());
    }
    records
}

#[tokio::test]
async fn corrupt_snapshots_are_refused_and_the_serving_version_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot_dir = dir.path().join("snapshots");
    std::fs::create_dir(&snapshot_dir).unwrap();
    let paths = snapshots(&snapshot_dir, 1500, &["retail-1", "retail-2"]);
    let users = snapshot_users(&paths[0]);
    let config = format!(
        "[store]\nsnapshot_dir = {:?}\n",
        snapshot_dir.to_str().unwrap()
    );
    let server = Server::start(&dir.path().join("db"), Some(&config));
    // Relative to store.snapshot_dir.
    succeeded(admin(&server, "load-snapshot", &["retail-1.snapshot"]));
    assert_eq!(served_version(&server, &users).await, "retail-1");

    let good = std::fs::read(&paths[1]).unwrap();
    let records = split_records(&good);
    let mut without_one = b"STRATAS1".to_vec();
    for (index, record) in records.iter().enumerate() {
        if index != records.len() / 2 {
            without_one.extend_from_slice(record);
        }
    }
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    // A flipped bit is caught by the checksum, unless it first breaks the
    // record's protobuf framing or the id order: which one depends on the
    // byte it lands on, so any of the three refusals is right.
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "flipped",
            flipped,
            &["checksum mismatch", "failed to decode", "out of order"],
        ),
        (
            "truncated",
            good[..good.len() * 2 / 3].to_vec(),
            &["truncated"],
        ),
        ("missing-record", without_one, &["trailer counts"]),
        ("not-a-snapshot", b"hello, world".to_vec(), &["bad magic"]),
    ];
    let mut client = admin_client(&server).await;
    for (name, bytes, expected) in &cases {
        let path = snapshot_dir.join(format!("{name}.snapshot"));
        std::fs::write(&path, bytes).unwrap();
        let refused = client
            .load_snapshot(LoadSnapshotRequest {
                path: path.to_str().unwrap().into(),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused.code(),
                tonic::Code::InvalidArgument | tonic::Code::DataLoss
            ),
            "{name}: {refused:?}"
        );
        assert!(
            expected
                .iter()
                .any(|reason| refused.message().contains(reason)),
            "{name}: {}",
            refused.message()
        );
        assert_eq!(served_version(&server, &users).await, "retail-1", "{name}");
    }
    println!(
        "{} corrupt snapshots refused; retail-1 served throughout",
        cases.len()
    );

    // A well-formed file of no profiles would erase everything served.
    let empty = snapshot_dir.join("empty.snapshot");
    let header = strata_proto::v1::SnapshotHeader {
        model_version: "retail-empty".into(),
        ..strata_proto::v1::SnapshotHeader::default()
    };
    strata_snapshot::SnapshotWriter::create(&empty, &header)
        .unwrap()
        .finish()
        .unwrap();
    let refused = client
        .load_snapshot(LoadSnapshotRequest {
            path: empty.to_str().unwrap().into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("holds no profiles")
            && refused.message().contains("\"retail-1\""),
        "{}",
        refused.message()
    );
    assert_eq!(served_version(&server, &users).await, "retail-1", "empty");

    // Outside store.snapshot_dir: refused before the file is read.
    let outside = dir.path().join("outside.snapshot");
    std::fs::copy(&paths[1], &outside).unwrap();
    let denied = client
        .load_snapshot(LoadSnapshotRequest {
            path: outside.to_str().unwrap().into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");

    let versions = succeeded(admin(&server, "versions", &[]));
    assert!(!versions.contains("retail-2"), "{versions}");
    assert!(!versions.contains("building"), "{versions}");
    // The good file still loads after all that.
    succeeded(admin(&server, "load-snapshot", &["retail-2.snapshot"]));
    assert_eq!(served_version(&server, &users).await, "retail-2");
}

/// `strata serve` with the reload test hook pausing at every step.
fn start_paused(data_dir: &Path, pause_ms: u64) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .env(strata_server::reload::PAUSE_ENV, pause_ms.to_string());
    Server::spawn(command, data_dir)
}

/// Pause of the reload test hook at every step, in milliseconds.
const PAUSE_MS: u64 = 60;
/// Where kill points fall: before the first step, then after each.
const STEPS: [&str; 8] = [
    "start",
    "checked",
    "created",
    "writing",
    "written",
    "ingested",
    "verified",
    "published",
];

/// The `reload step`s the server logged, in order.
fn logged_steps(log: &str) -> Vec<String> {
    // The log is coloured: drop the escape sequences first.
    let mut plain = String::with_capacity(log.len());
    let mut in_escape = false;
    for c in log.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (false, c) => plain.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    plain
        .lines()
        .filter(|line| line.contains("reload step"))
        .filter_map(|line| line.split("step=").nth(1))
        .map(|rest| {
            rest.split([' ', '"'])
                .find(|part| !part.is_empty())
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// Servers here are stopped often; test clients may hold connections open.
const QUICK_STOP: &str = "[server]\nshutdown_grace_seconds = 1\n";

#[tokio::test]
async fn kill_9_during_reloads_leaves_a_whole_version_and_every_acknowledged_batch() {
    const POINTS: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let paths = snapshots(dir.path(), 3000, &["retail-1", "retail-2"]);
    let users = snapshot_users(&paths[0]);
    let data_dir = dir.path().join("db");
    {
        let server = Server::start(&data_dir, Some(QUICK_STOP));
        succeeded(admin(
            &server,
            "load-snapshot",
            &[paths[0].to_str().unwrap()],
        ));
        server.terminate();
    }
    let seed = 20_251_123;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut kept_old, mut switched) = (0u64, 0u64);
    let mut steps: BTreeMap<String, u64> = BTreeMap::new();
    let (mut records_checked, mut batches_checked) = (0u64, 0u64);

    for point in 0..POINTS {
        let server = start_paused(&data_dir, PAUSE_MS);
        let old = served_version(&server, &users).await;
        let (new, new_path) = if old == "retail-1" {
            ("retail-2", &paths[1])
        } else {
            ("retail-1", &paths[0])
        };

        // A producer writes to the serving version throughout.
        let producer = format!("crash-{point}");
        let mut ingest = server.ingest().await;
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let producer = producer.clone();
            let old = old.clone();
            tokio::spawn(async move {
                let mut acknowledged = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let sequence = acknowledged + 1;
                    let user = format!("{producer}-{sequence}");
                    let request = addressed(
                        &producer,
                        sequence,
                        vec![profile(&user, sequence as u32)],
                        &old,
                    );
                    match push(&mut ingest, vec![request]).await {
                        Ok(_) => acknowledged = sequence,
                        // Killed, or refused once the new version serves.
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        };

        let mut loader = admin_client(&server).await;
        let path = new_path.to_str().unwrap().to_owned();
        let load =
            tokio::spawn(async move { loader.load_snapshot(LoadSnapshotRequest { path }).await });
        // Points cycle through the steps: wait until the target step is
        // logged, then kill somewhere inside its pause.
        let target = STEPS[point as usize % STEPS.len()];
        if target != "start" {
            while !logged_steps(&server.log())
                .iter()
                .any(|step| step == target)
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let delay = rng.random_range(0..PAUSE_MS);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let step = logged_steps(&server.log())
            .pop()
            .unwrap_or_else(|| "start".into());
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let acknowledged = writer.await.unwrap();
        let _ = load.await;

        let server = Server::start(&data_dir, Some(QUICK_STOP));
        let current = served_version(&server, &users).await;
        assert!(current == old || current == new, "{current}");
        records_checked += users.len() as u64;
        let versions = succeeded(admin(&server, "versions", &[]));
        assert!(!versions.contains("building"), "{versions}");
        assert!(
            server.applied(&producer).await >= acknowledged,
            "point {point}"
        );

        // Acknowledged batches went to the old version: serving, or kept
        // for rollback.
        let written: Vec<String> = (1..=acknowledged)
            .map(|sequence| format!("{producer}-{sequence}"))
            .collect();
        let written_refs: Vec<&str> = written.iter().map(String::as_str).collect();
        if current == new {
            succeeded(admin(&server, "rollback", &[]));
        }
        for chunk in written_refs.chunks(500) {
            let found = server.lookup(chunk).await;
            for (user, profile) in chunk.iter().zip(found) {
                let sequence: u32 = user.rsplit('-').next().unwrap().parse().unwrap();
                assert_eq!(
                    profile,
                    Some(crate::support::profile(user, sequence)),
                    "point {point}"
                );
            }
        }
        batches_checked += acknowledged;
        if current == new {
            succeeded(admin(&server, "rollback", &[]));
            switched += 1;
        } else {
            kept_old += 1;
        }
        *steps.entry(step.clone()).or_insert(0) += 1;
        server.terminate();
        println!(
            "point {point}: killed {delay} ms after step {step}; serving {current}; {acknowledged} acknowledged batches present"
        );
    }
    println!(
        "kill -9 during reload: {POINTS} points (seed {seed}), {kept_old} kept the old version, {switched} the new; \
         last step logged before each kill: {steps:?}; {records_checked} served records checked whole and unmixed, \
         {batches_checked} acknowledged batches checked present, 0 lost"
    );
    assert!(
        kept_old > 0 && switched > 0,
        "points should fall on both sides of the switch"
    );
}
