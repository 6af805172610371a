//! IngestService: atomic, ordered, idempotent and durable batches.

use strata_proto::v1::Profile;
use tonic::Code;

use crate::support::{Server, batch, profile, push};

/// The model version stored for each id, None when absent.
async fn versions(server: &Server, ids: &[&str]) -> Vec<Option<String>> {
    server
        .lookup(ids)
        .await
        .into_iter()
        .map(|profile| profile.map(|profile: Profile| profile.model_version))
        .collect()
}

fn some(values: &[&str]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|value| (!value.is_empty()).then(|| value.to_string()))
        .collect()
}

#[tokio::test]
async fn replay_is_a_no_op_and_a_gap_names_the_expected_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut ingest = server.ingest().await;
    assert_eq!(server.applied("job").await, 0);

    let first = push(
        &mut ingest,
        vec![
            batch("job", 1, vec![profile("a", 1)], &[]),
            batch("job", 2, vec![profile("b", 2)], &[]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        (
            first.batches_applied,
            first.last_applied_sequence,
            first.upserts
        ),
        (2, 2, 2)
    );

    // The producer crashed and resends batch 2 with different content, then 3.
    let replay = push(
        &mut ingest,
        vec![
            batch("job", 2, vec![profile("b", 99)], &[]),
            batch("job", 3, vec![profile("c", 3)], &[]),
        ],
    )
    .await
    .unwrap();
    assert_eq!((replay.batches_replayed, replay.batches_applied), (1, 1));
    assert_eq!(replay.last_applied_sequence, 3);
    assert_eq!(
        versions(&server, &["a", "b", "c"]).await,
        some(&["v1", "v2", "v3"])
    );

    let gap = push(
        &mut ingest,
        vec![batch("job", 5, vec![profile("e", 5)], &[])],
    )
    .await
    .unwrap_err();
    assert_eq!(gap.code(), Code::FailedPrecondition);
    assert!(
        gap.message().contains("expected sequence 4, got 5"),
        "{}",
        gap.message()
    );
    assert_eq!(
        gap.metadata()
            .get("strata-expected-sequence")
            .unwrap()
            .to_str()
            .unwrap(),
        "4"
    );
    assert_eq!(versions(&server, &["e"]).await, [None]);
    assert_eq!(server.applied("job").await, 3);
    // Another producer has its own numbering.
    assert_eq!(server.applied("other").await, 0);
}

#[tokio::test]
async fn a_refused_batch_applies_nothing_and_earlier_batches_stay() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut ingest = server.ingest().await;

    let refused = push(
        &mut ingest,
        vec![
            batch("job", 1, vec![profile("a", 1)], &[]),
            batch(
                "job",
                2,
                vec![profile("b", 2), profile("c", 2), profile("b", 3)],
                &[],
            ),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "batch 2: upserts[2].user_id names user \"b\" again, first named by upserts[0].user_id"
    );
    assert_eq!(
        versions(&server, &["a", "b", "c"]).await,
        some(&["v1", "", ""])
    );
    assert_eq!(server.applied("job").await, 1);

    let cases = [
        (
            batch("job", 2, vec![profile("", 1)], &[]),
            "batch 2: upserts[0].user_id: user id is empty",
        ),
        (
            batch("job", 2, vec![profile("a", 1)], &["a"]),
            "batch 2: deletes[0] names user \"a\" again",
        ),
        (batch("", 2, vec![], &[]), "producer_id is empty"),
        (
            batch("job", 0, vec![], &[]),
            "producer \"job\": sequence 0 is not valid",
        ),
    ];
    for (request, expected) in cases {
        let status = push(&mut ingest, vec![request]).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{expected}");
        assert!(
            status.message().starts_with(expected),
            "{}",
            status.message()
        );
    }
    let mixed = push(
        &mut ingest,
        vec![
            batch("job", 2, vec![], &[]),
            batch("intruder", 3, vec![], &[]),
        ],
    )
    .await
    .unwrap_err();
    assert!(
        mixed.message().contains("open one stream per producer"),
        "{}",
        mixed.message()
    );
    assert_eq!(server.applied("job").await, 2);
}

#[tokio::test]
async fn deletes_erase_and_data_survives_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("db");
    let server = Server::start(&data_dir, None);
    let mut ingest = server.ingest().await;
    push(
        &mut ingest,
        vec![
            batch(
                "job",
                1,
                vec![profile("a", 1), profile("b", 1), profile("c", 1)],
                &[],
            ),
            batch("job", 2, vec![profile("c", 2)], &["a"]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        versions(&server, &["a", "b", "c"]).await,
        some(&["", "v1", "v2"])
    );

    drop(ingest);
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exit: {status}");

    let server = Server::start(&data_dir, None);
    assert!(server.log().contains("store opened"));
    assert_eq!(
        versions(&server, &["a", "b", "c"]).await,
        some(&["", "v1", "v2"])
    );
    assert_eq!(server.applied("job").await, 2);
}

#[tokio::test]
async fn acknowledged_batches_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("db");
    let server = Server::start(&data_dir, None);
    let mut ingest = server.ingest().await;

    // A writer acknowledges batch after batch while the server is killed
    // under it: every acknowledged batch must be there after the restart.
    let writer = tokio::spawn(async move {
        let mut acknowledged = 0u64;
        for sequence in 1..=10_000u64 {
            let upserts = (0..20)
                .map(|i| profile(&format!("user-{sequence}-{i}"), sequence as u32))
                .collect();
            match push(&mut ingest, vec![batch("job", sequence, upserts, &[])]).await {
                Ok(response) => {
                    assert_eq!(response.last_applied_sequence, sequence);
                    acknowledged = sequence;
                }
                Err(_) => break,
            }
        }
        acknowledged
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.kill9();
    let acknowledged = writer.await.unwrap();
    assert!(
        acknowledged > 0,
        "the writer got no acknowledgement before the kill"
    );

    let server = Server::start(&data_dir, None);
    let applied = server.applied("job").await;
    // At most the one in-flight batch may have landed without its acknowledgement.
    assert!(
        applied == acknowledged || applied == acknowledged + 1,
        "acknowledged {acknowledged}, applied {applied}"
    );
    for sequence in [1, acknowledged / 2 + 1, acknowledged] {
        let ids: Vec<String> = (0..20).map(|i| format!("user-{sequence}-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let found = versions(&server, &refs).await;
        assert!(
            found
                .iter()
                .all(|version| version.as_deref() == Some(&format!("v{sequence}"))),
            "batch {sequence} lost or torn: {found:?}"
        );
    }
}
