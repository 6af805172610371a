//! `strata backup` while a producer ingests, `strata restore` into a fresh
//! folder, and a server on the restored store: data and producer sequences
//! are those of the backup point.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_proto::v1::Profile;

use crate::support::{Server, batch, profile, push, strata, succeeded};

const USERS: u64 = 50;

/// Batch `sequence` rewrites ten of the fifty users with its own number.
fn changes(sequence: u64) -> Vec<Profile> {
    (0..10)
        .map(|j| {
            let user = format!("b-{}", (sequence * 7 + j) % USERS);
            profile(&user, sequence as u32)
        })
        .collect()
}

/// What the store holds after batches 1..=last: each user's latest write.
fn expected_after(last: u64) -> Vec<Option<Profile>> {
    let mut latest: Vec<Option<Profile>> = vec![None; USERS as usize];
    for sequence in 1..=last {
        for record in changes(sequence) {
            let index: usize = record.user_id[2..].parse().unwrap();
            latest[index] = Some(record);
        }
    }
    latest
}

fn user_ids() -> Vec<String> {
    (0..USERS).map(|user| format!("b-{user}")).collect()
}

#[tokio::test]
async fn backup_during_ingest_restores_data_and_sequences_of_the_backup_point() {
    let dir = tempfile::tempdir().unwrap();
    // Test clients may keep a connection open: stop without waiting long.
    let config = "[server]\nshutdown_grace_seconds = 1\n";
    let server = Server::start(&dir.path().join("db"), Some(config));

    // A producer pushes one batch per call until told to stop.
    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut ingest = server.ingest().await;
    let producer = {
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut sequence = 0;
            while !stop.load(Ordering::Relaxed) {
                sequence += 1;
                push(
                    &mut ingest,
                    vec![batch("p", sequence, changes(sequence), &[])],
                )
                .await
                .unwrap();
                acknowledged.store(sequence, Ordering::Relaxed);
            }
        })
    };
    while acknowledged.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let backup_dir = dir.path().join("backup");
    let endpoint = server.endpoint();
    let out = backup_dir.to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        strata(&["backup", "--target", &endpoint, "--out", &out])
    })
    .await
    .unwrap();
    let printed = succeeded(output);
    let backed_up: u64 = printed
        .lines()
        .find_map(|line| line.strip_prefix("producer p at sequence "))
        .unwrap_or_else(|| panic!("{printed}"))
        .parse()
        .unwrap();
    // Keep ingesting past the backup point.
    while acknowledged.load(Ordering::Relaxed) < backed_up + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let last = acknowledged.load(Ordering::Relaxed);
    assert!(backed_up >= 20 && last > backed_up, "{backed_up} {last}");
    let ids = user_ids();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(server.lookup(&id_refs).await, expected_after(last));

    // A second backup into the same folder is refused.
    let again = strata(&[
        "backup",
        "--target",
        &server.endpoint(),
        "--out",
        backup_dir.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("ALREADY_EXISTS"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(server.terminate().success());

    // Restore refuses a non-empty folder unless forced.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::write(restored.join("stray"), b"x").unwrap();
    let args = |force: bool| {
        let mut args = vec![
            "restore".to_owned(),
            "--from".to_owned(),
            backup_dir.to_str().unwrap().to_owned(),
            "--data-dir".to_owned(),
            restored.to_str().unwrap().to_owned(),
        ];
        if force {
            args.push("--force".to_owned());
        }
        args
    };
    let refuse_args = args(false);
    let refused = strata(&refuse_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let force_args = args(true);
    let printed = succeeded(strata(
        &force_args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(
        printed.contains(&format!("producer p at sequence {backed_up}")),
        "{printed}"
    );

    let server = Server::start(&restored, None);
    assert_eq!(server.applied("p").await, backed_up);
    assert_eq!(server.lookup(&id_refs).await, expected_after(backed_up));
    // The producer resends what came after the backup point.
    let mut ingest = server.ingest().await;
    let resent: Vec<_> = (backed_up + 1..=last)
        .map(|sequence| batch("p", sequence, changes(sequence), &[]))
        .collect();
    push(&mut ingest, resent).await.unwrap();
    assert_eq!(server.lookup(&id_refs).await, expected_after(last));
    println!(
        "backup at sequence {backed_up} of {last}: {USERS} users and the sequence restored exactly; {} batches resent",
        last - backed_up
    );
}
