//! Overload through the real binary: calls over the in-flight limit are shed
//! with RESOURCE_EXHAUSTED and every call completes, deadlines end calls
//! with DEADLINE_EXCEEDED, over-size messages are refused, and the server
//! serves normally afterwards.
//!
//! Calls are held open deterministically with a raw HTTP/2 client that sends
//! a call's headers but not yet its body: the server admits the call (it
//! takes an in-flight slot) and waits for the body. No assertion depends on
//! timing; waits poll the `strata_rpc_in_flight` gauge.

use strata_client::{ClientError, Connection, ProfileClient};
use strata_proto::v1::{BatchGetProfilesRequest, GetIngestStateRequest};
use tokio::task::JoinSet;
use tonic::Code;

use crate::raw::{
    USERS, answer, grpc_frame, raw_connection, sample, seeded, start_call, user, wait_for_gauge,
};
use crate::support::{Server, batch, profile, push};

const BATCH_GET: &str = "/strata.v1.ProfileService/BatchGetProfiles";
const APPLY_UPDATES: &str = "/strata.v1.IngestService/ApplyUpdates";

fn full_batch() -> Vec<String> {
    (0..USERS).map(user).collect()
}

fn batch_request() -> BatchGetProfilesRequest {
    BatchGetProfilesRequest {
        user_ids: full_batch(),
        field_mask: None,
    }
}

/// The call's grpc-status and grpc-message.
async fn grpc_status(response: h2::client::ResponseFuture) -> (Code, String) {
    let (_, code, message) = answer(response).await;
    (code, message)
}

const READS_IN_FLIGHT: &str = "strata_rpc_in_flight{limit=\"read\"}";
const INGEST_IN_FLIGHT: &str = "strata_rpc_in_flight{limit=\"ingest\"}";

/// `calls` concurrent full batches over `connections` connections; the
/// status code (and message) of each.
async fn flood(server: &Server, connections: usize, calls: usize) -> Vec<(Code, String)> {
    let mut clients = Vec::new();
    for _ in 0..connections {
        let channel = Connection::new(server.endpoint()).connect().await.unwrap();
        clients.push(ProfileClient::new(channel));
    }
    let mut running = JoinSet::new();
    for call in 0..calls {
        let mut client = clients[call % connections].clone();
        running.spawn(async move {
            match client.batch_get(full_batch(), &[]).await {
                Ok(answer) => {
                    assert_eq!(answer.results.len(), USERS);
                    (Code::Ok, String::new())
                }
                Err(ClientError::Rpc(status)) => (status.code(), status.message().to_owned()),
                Err(other) => panic!("not a gRPC status: {other}"),
            }
        });
    }
    running.join_all().await
}

#[tokio::test]
async fn excess_calls_are_shed_and_the_server_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(
        dir.path(),
        "[server]\nmax_concurrent_requests = 2\nmax_message_bytes = 1048576\n",
    )
    .await;

    // Two admitted calls hold both slots while their bodies are pending.
    let raw = raw_connection(server.grpc, None).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(start_call(&raw, server.grpc, BATCH_GET, Some("application/grpc"), None).await);
    }
    wait_for_gauge(&server, READS_IN_FLIGHT, 2.0).await;

    let shed = flood(&server, 4, 32).await;
    assert_eq!(shed.len(), 32, "every call completed");
    for (code, message) in &shed {
        assert_eq!(*code, Code::ResourceExhausted, "{message}");
        assert_eq!(
            message,
            "server overloaded: 2 requests in flight (server.max_concurrent_requests), retry with backoff"
        );
    }

    // The held calls were admitted: once their bodies arrive they are served.
    for (response, mut body) in held {
        body.send_data(grpc_frame(&batch_request()), true).unwrap();
        let (code, message) = grpc_status(response).await;
        assert_eq!(code, Code::Ok, "{message}");
    }
    wait_for_gauge(&server, READS_IN_FLIGHT, 0.0).await;

    // Unheld, a flood is partly served: a call is shed only while two
    // others hold the slots, and those two succeed.
    let mixed = flood(&server, 4, 32).await;
    assert_eq!(mixed.len(), 32, "every call completed");
    let served = mixed.iter().filter(|(code, _)| *code == Code::Ok).count();
    assert!(served >= 1, "{mixed:?}");
    for (code, message) in &mixed {
        assert!(
            matches!(code, Code::Ok | Code::ResourceExhausted),
            "{code:?}: {message}"
        );
    }

    // Healthy afterwards: normal calls are served and the shed ones counted.
    wait_for_gauge(&server, READS_IN_FLIGHT, 0.0).await;
    let found = server.lookup(&["user-00001", "nobody"]).await;
    assert!(found[0].is_some() && found[1].is_none());
    let metrics = server.scrape_metrics();
    let shed_total = sample(
        &metrics,
        "strata_rpc_shed_total{method=\"BatchGetProfiles\",reason=\"overloaded\"}",
    );
    assert!(shed_total >= 32.0, "{metrics}");
    let exhausted = sample(
        &metrics,
        "strata_rpc_requests_total{method=\"BatchGetProfiles\",code=\"RESOURCE_EXHAUSTED\"}",
    );
    assert_eq!(exhausted, shed_total, "{metrics}");
}

#[tokio::test]
async fn deadlines_end_calls_with_deadline_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(
        dir.path(),
        "[server]\nmax_concurrent_requests = 4\nrequest_timeout_seconds = 2\n",
    )
    .await;
    let raw = raw_connection(server.grpc, None).await;

    // A full batch whose 1 ms deadline is spent on arrival is not run.
    let (response, mut body) = start_call(
        &raw,
        server.grpc,
        BATCH_GET,
        Some("application/grpc"),
        Some("1m"),
    )
    .await;
    body.send_data(grpc_frame(&batch_request()), true).unwrap();
    let (code, message) = grpc_status(response).await;
    assert_eq!(code, Code::DeadlineExceeded, "{message}");

    // A call still waiting for its body when its deadline passes is ended
    // and gives its slot back, though the client never finishes it.
    let (response, _body) = start_call(
        &raw,
        server.grpc,
        BATCH_GET,
        Some("application/grpc"),
        Some("300m"),
    )
    .await;
    let (code, message) = grpc_status(response).await;
    assert_eq!(code, Code::DeadlineExceeded, "{message}");
    assert!(message.contains("deadline"), "{message}");

    // Without a client deadline, server.request_timeout_seconds ends a read.
    let (response, _body) =
        start_call(&raw, server.grpc, BATCH_GET, Some("application/grpc"), None).await;
    let (code, message) = grpc_status(response).await;
    assert_eq!(code, Code::DeadlineExceeded, "{message}");
    wait_for_gauge(&server, READS_IN_FLIGHT, 0.0).await;

    // A generous deadline changes nothing.
    let (response, mut body) = start_call(
        &raw,
        server.grpc,
        BATCH_GET,
        Some("application/grpc"),
        Some("30S"),
    )
    .await;
    body.send_data(grpc_frame(&batch_request()), true).unwrap();
    let (code, message) = grpc_status(response).await;
    assert_eq!(code, Code::Ok, "{message}");
    let metrics = server.scrape_metrics();
    let expired = sample(
        &metrics,
        "strata_rpc_shed_total{method=\"BatchGetProfiles\",reason=\"deadline\"}",
    );
    assert_eq!(expired, 3.0, "{metrics}");
}

#[tokio::test]
async fn ingest_streams_have_their_own_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(
        dir.path(),
        "[server]\nmax_concurrent_requests = 1\n[ingest]\nmax_concurrent_streams = 1\n",
    )
    .await;
    // The seeding stream's slot is free once its answer is sent.
    wait_for_gauge(&server, INGEST_IN_FLIGHT, 0.0).await;
    let raw = raw_connection(server.grpc, None).await;
    let (response, mut stream) = start_call(
        &raw,
        server.grpc,
        APPLY_UPDATES,
        Some("application/grpc"),
        None,
    )
    .await;
    wait_for_gauge(&server, INGEST_IN_FLIGHT, 1.0).await;

    let refused = push(
        &mut server.ingest().await,
        vec![batch("other", 1, vec![profile("x", 1)], &[])],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("ingest.max_concurrent_streams"),
        "{refused:?}"
    );
    // Reads have their own slots and are not affected by an open stream.
    assert!(server.lookup(&["user-00002"]).await[0].is_some());

    stream
        .send_data(
            grpc_frame(&batch("held", 1, vec![profile("y", 1)], &[])),
            true,
        )
        .unwrap();
    let (code, message) = grpc_status(response).await;
    assert_eq!(code, Code::Ok, "{message}");
    assert_eq!(server.applied("held").await, 1);
}

#[tokio::test]
async fn oversize_messages_are_refused_on_every_service() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(
        dir.path(),
        "[server]\nmax_message_bytes = 262144\nmax_batch_size = 100\n",
    )
    .await;
    let huge = "x".repeat(300_000);
    let expected = "larger than the limit of 262144 bytes (server.max_message_bytes)";
    // Reads are capped lower, at the largest valid batch: 100 ids of up to
    // 256 bytes (+3 bytes framing each) and 64 KiB for a field mask.
    let expected_read =
        "larger than the limit of 91436 bytes (the largest valid batch: server.max_batch_size";

    // A flood of over-size reads: each is refused, none takes the server down.
    let mut running = JoinSet::new();
    for _ in 0..16 {
        let channel = server.channel().await;
        let huge = huge.clone();
        running.spawn(async move {
            let mut client =
                strata_proto::v1::profile_service_client::ProfileServiceClient::new(channel);
            client
                .batch_get_profiles(BatchGetProfilesRequest {
                    user_ids: vec![huge],
                    field_mask: None,
                })
                .await
                .unwrap_err()
        });
    }
    for status in running.join_all().await {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains(expected_read), "{status:?}");
    }
    // Many tiny ids: small on the wire for the message limit, but far more
    // ids than a valid batch, and many times their wire size once decoded.
    let tiny = server
        .profiles()
        .await
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: vec!["a".to_owned(); 40_000],
            field_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(tiny.code(), Code::ResourceExhausted, "{tiny:?}");
    assert!(tiny.message().contains(expected_read), "{tiny:?}");

    let mut big = profile("big", 1);
    big.model_version = huge.clone();
    let refused = push(
        &mut server.ingest().await,
        vec![batch("big", 1, vec![big], &[])],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains(expected), "{refused:?}");

    let refused = server
        .ingest()
        .await
        .get_ingest_state(GetIngestStateRequest {
            producer_id: huge.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");

    // Still serving, and nothing of the refused batch was applied.
    let found = server.lookup(&["user-00003", "big"]).await;
    assert!(found[0].is_some() && found[1].is_none());
    assert_eq!(server.applied("big").await, 0);
}
