//! The server's edge against bad clients, through the real binary: a
//! connection that never reads, or never finishes its bodies, holds at most
//! its own share of the read slots while other connections are served;
//! connections that never speak are closed and the connection limit holds;
//! requests that are not one gRPC protobuf message, or carry impossible
//! timestamps, are refused.
//!
//! Raw HTTP/2 (the `h2` crate) plays the bad clients. No assertion depends
//! on timing: waits poll the server's metrics or wait for the server to act.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use strata_client::{Connection, ProfileClient};
use strata_proto::v1::admin_service_client::AdminServiceClient;
use strata_proto::v1::profile_service_client::ProfileServiceClient;
use strata_proto::v1::{
    BatchGetProfilesRequest, GetOffersRequest, LoadSnapshotRequest, OfferContext, Profile,
    SnapshotHeader, Surface,
};
use tokio::task::JoinSet;
use tonic::Code;

use crate::raw::{
    USERS, answer, grpc_frame, raw_connection, sample, seeded, start_call, user, wait_for_gauge,
};
use crate::support::{batch, benefit, profile, push};

const BATCH_GET: &str = "/strata.v1.ProfileService/BatchGetProfiles";
const READS_IN_FLIGHT: &str = "strata_rpc_in_flight{limit=\"read\"}";

fn full_batch() -> BatchGetProfilesRequest {
    BatchGetProfilesRequest {
        user_ids: (0..USERS).map(user).collect(),
        field_mask: None,
    }
}

#[tokio::test]
async fn clients_that_never_read_or_never_finish_hold_only_their_share() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(
        dir.path(),
        "[server]\nmax_concurrent_requests = 8\nmax_concurrent_streams = 3\nrequest_timeout_seconds = 5\n",
    )
    .await;
    let address = server.grpc;

    // A connection that never reads: a window of zero, ten full batches
    // (more than the server's eight slots), never a WINDOW_UPDATE. Each
    // call that opens gets its answer's headers; the data never comes.
    let never_reads = raw_connection(address, Some(0)).await;
    assert_eq!(
        never_reads.current_max_send_streams(),
        3,
        "SETTINGS_MAX_CONCURRENT_STREAMS"
    );
    let (opened_sender, mut opened) = tokio::sync::mpsc::unbounded_channel();
    let mut unread = JoinSet::new();
    for _ in 0..10 {
        let send = never_reads.clone();
        let opened_sender = opened_sender.clone();
        unread.spawn(async move {
            let (response, mut body) =
                start_call(&send, address, BATCH_GET, Some("application/grpc"), None).await;
            body.send_data(grpc_frame(&full_batch()), true).unwrap();
            let response = response.await.unwrap();
            opened_sender.send(response.status()).unwrap();
            // Hold the stream: never read it, never reset it.
            std::future::pending::<()>().await;
            drop(response);
        });
    }
    for _ in 0..3 {
        assert_eq!(opened.recv().await, Some(http::StatusCode::OK));
    }

    // A connection whose bodies never finish: six calls, headers only.
    let never_finishes = raw_connection(address, None).await;
    let mut unfinished = JoinSet::new();
    for _ in 0..6 {
        let send = never_finishes.clone();
        unfinished.spawn(async move {
            let (response, _body) =
                start_call(&send, address, BATCH_GET, Some("application/grpc"), None).await;
            answer(response).await
        });
    }

    // Each bad connection holds its three slots, no more: six of eight.
    wait_for_gauge(&server, READS_IN_FLIGHT, 6.0).await;

    // Another connection's calls are served throughout.
    let channel = Connection::new(server.endpoint()).connect().await.unwrap();
    let mut good = ProfileClient::new(channel);
    for _ in 0..20 {
        let served = good.batch_get(full_batch().user_ids, &[]).await.unwrap();
        assert_eq!(served.results.len(), USERS);
    }
    let mut pair = JoinSet::new();
    for _ in 0..2 {
        let mut client = good.clone();
        pair.spawn(async move {
            client
                .batch_get(full_batch().user_ids, &[])
                .await
                .map(|served| served.results.len())
        });
    }
    for served in pair.join_all().await {
        assert_eq!(served.unwrap(), USERS);
    }

    // The unfinished calls end at their deadline, the next ones after them.
    for (http_status, code, message) in unfinished.join_all().await {
        assert_eq!(
            (http_status, code),
            (200, Code::DeadlineExceeded),
            "{message}"
        );
    }
    // The unread answers give their slots back at their deadline, though
    // their client still holds them unread on an open connection.
    wait_for_gauge(&server, READS_IN_FLIGHT, 0.0).await;
    let metrics = server.scrape_metrics();
    let unsent = sample(
        &metrics,
        "strata_rpc_unsent_at_deadline_total{method=\"BatchGetProfiles\"}",
    );
    assert_eq!(unsent, 3.0, "{metrics}");
    assert!(
        server.log().contains("responses unsent at their deadline"),
        "{}",
        server.log()
    );
    assert!(
        opened.try_recv().is_err(),
        "no fourth stream opened on the unread connection"
    );
    let served = good.batch_get(full_batch().user_ids, &[]).await.unwrap();
    assert_eq!(served.results.len(), USERS);
    unread.abort_all();
}

#[tokio::test]
async fn silent_connections_are_closed_and_new_clients_are_served() {
    const SILENT: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(
        dir.path(),
        "[server]\nmax_connections = 100\npreface_timeout_seconds = 5\n",
    )
    .await;
    let address = server.grpc;

    // 2,000 connections that never send a byte, opened at once (far more
    // than 100 within 5 s, however loaded the machine). The server closes
    // each: at once past the limit, else when its preface timeout passes. A read
    // ends (EOF, or a reset) only when the server closes the connection;
    // the read timeout only keeps a failing test from hanging.
    tokio::task::spawn_blocking(move || {
        let silent: Vec<TcpStream> = (0..SILENT)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        let mut buffer = [0u8; 1024];
        for (index, mut stream) in silent.into_iter().enumerate() {
            stream
                .set_read_timeout(Some(Duration::from_secs(300)))
                .unwrap();
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) => break,
                    // The server's own SETTINGS frame, sent before it gave up.
                    Ok(_) => continue,
                    Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(error) => panic!("silent connection {index} was not closed: {error}"),
                }
            }
        }
    })
    .await
    .unwrap();

    wait_for_gauge(&server, "strata_connections_open", 0.0).await;
    let metrics = server.scrape_metrics();
    let refused = sample(
        &metrics,
        "strata_connections_refused_total{reason=\"limit\"}",
    );
    let timed_out = sample(
        &metrics,
        "strata_connections_closed_total{reason=\"preface_timeout\"}",
    );
    assert_eq!(refused + timed_out, SILENT as f64, "{metrics}");
    assert!(refused >= 1.0 && timed_out >= 1.0, "{metrics}");
    let log = server.log();
    assert!(log.contains("connection limit reached"), "{log}");
    assert!(log.contains("sent no HTTP/2 preface in time"), "{log}");

    // A new client is served.
    let found = server.lookup(&["user-00007", "nobody"]).await;
    assert!(found[0].is_some() && found[1].is_none());
}

#[tokio::test]
async fn requests_that_are_not_one_grpc_protobuf_message_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(dir.path(), "").await;
    let address = server.grpc;
    let raw = raw_connection(address, None).await;
    let small = BatchGetProfilesRequest {
        user_ids: vec![user(1)],
        field_mask: None,
    };

    // Not gRPC: HTTP 415. Another gRPC encoding: UNIMPLEMENTED.
    for (content_type, expected_http) in [
        (None, 415),
        (Some("application/json"), 415),
        (Some("text/plain"), 415),
        (Some("application/grpc+json"), 200),
    ] {
        let (response, mut body) = start_call(&raw, address, BATCH_GET, content_type, None).await;
        body.send_data(grpc_frame(&small), true).unwrap();
        let (http_status, code, message) = answer(response).await;
        assert_eq!(
            (http_status, code),
            (expected_http, Code::Unimplemented),
            "{content_type:?}: {message}"
        );
        assert!(message.contains("application/grpc"), "{message}");
    }
    for content_type in ["application/grpc", "application/grpc+proto"] {
        let (response, mut body) =
            start_call(&raw, address, BATCH_GET, Some(content_type), None).await;
        body.send_data(grpc_frame(&small), true).unwrap();
        let (http_status, code, message) = answer(response).await;
        assert_eq!(
            (http_status, code),
            (200, Code::Ok),
            "{content_type}: {message}"
        );
    }

    // Two messages in a unary call, in one DATA frame or in two: refused.
    let mut two = grpc_frame(&small).to_vec();
    two.extend_from_slice(&grpc_frame(&small));
    let (response, mut body) =
        start_call(&raw, address, BATCH_GET, Some("application/grpc"), None).await;
    body.send_data(Bytes::from(two), true).unwrap();
    let (_, code, message) = answer(response).await;
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert!(message.contains("more than one message"), "{message}");

    let (response, mut body) =
        start_call(&raw, address, BATCH_GET, Some("application/grpc"), None).await;
    body.send_data(grpc_frame(&small), false).unwrap();
    body.send_data(grpc_frame(&small), true).unwrap();
    let (_, code, message) = answer(response).await;
    assert_eq!(code, Code::InvalidArgument, "{message}");

    // A client-streaming call still takes many messages.
    let applied = push(
        &mut server.ingest().await,
        vec![
            batch("edge", 1, vec![profile("a", 1)], &[]),
            batch("edge", 2, vec![profile("b", 1)], &[]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(applied.batches_applied, 2);

    let metrics = server.scrape_metrics();
    let unimplemented = sample(
        &metrics,
        "strata_rpc_requests_total{method=\"BatchGetProfiles\",code=\"UNIMPLEMENTED\"}",
    );
    assert_eq!(unimplemented, 4.0, "{metrics}");
}

#[tokio::test]
async fn timestamps_out_of_range_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(dir.path(), "").await;
    let mut client = ProfileServiceClient::new(server.channel().await);
    let offers = |seconds: i64, nanos: i32| GetOffersRequest {
        user_id: user(3),
        context: Some(OfferContext {
            surface: Surface::AppHome.into(),
            cart_value: None,
            currency: String::new(),
            request_time: Some(prost_types::Timestamp { seconds, nanos }),
        }),
        max_offers: 0,
        explain: false,
    };

    for (seconds, nanos, field) in [
        (
            1 << 62,
            0,
            "context.request_time.seconds 4611686018427387904",
        ),
        (
            -62_135_596_801,
            0,
            "context.request_time.seconds -62135596801",
        ),
        (i64::MIN, 0, "context.request_time.seconds"),
        (0, -1, "context.request_time.nanos -1"),
        (0, 1_000_000_000, "context.request_time.nanos 1000000000"),
    ] {
        let refused = client.get_offers(offers(seconds, nanos)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().starts_with(field), "{refused:?}");
        assert!(refused.message().contains("is outside"), "{refused:?}");
    }
    // The ends of the range are served.
    for (seconds, nanos) in [(-62_135_596_800, 0), (253_402_300_799, 999_999_999)] {
        client.get_offers(offers(seconds, nanos)).await.unwrap();
    }

    // A snapshot whose profile carries an impossible timestamp is refused
    // whole, naming the record and the field; the serving version stays.
    let snapshot = dir.path().join("bad-times.snapshot");
    let header = SnapshotHeader {
        model_version: "bad-times".into(),
        ..SnapshotHeader::default()
    };
    let mut writer = strata_snapshot::SnapshotWriter::create(&snapshot, &header).unwrap();
    for (id, valid_until) in [("a", 1_700_000_000), ("b", 1 << 62)] {
        let mut record: Profile = profile(id, 2);
        record.model_version = "bad-times".into();
        let mut offer = benefit("late", 1.0);
        offer.valid_until = Some(prost_types::Timestamp {
            seconds: valid_until,
            nanos: 0,
        });
        record.benefits.push(offer);
        writer.write(&record).unwrap();
    }
    writer.finish().unwrap();
    let refused = AdminServiceClient::new(server.channel().await)
        .load_snapshot(LoadSnapshotRequest {
            path: snapshot.to_str().unwrap().into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("user \"b\": benefits[0].valid_until.seconds 4611686018427387904 is outside"),
        "{refused:?}"
    );
    assert_eq!(
        server.lookup(&["user-00001"]).await[0]
            .as_ref()
            .unwrap()
            .model_version,
        "v1"
    );

    // So is an ingested batch carrying one: nothing of it is written.
    let mut late = profile("late-ingest", 2);
    late.last_purchase_at = Some(prost_types::Timestamp {
        seconds: 1 << 62,
        nanos: 0,
    });
    let mut ingest = server.ingest().await;
    let refused = push(
        &mut ingest,
        vec![batch("edge-times", 1, vec![profile("fine", 2), late], &[])],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("upserts[1]: last_purchase_at.seconds 4611686018427387904 is outside"),
        "{refused:?}"
    );
    assert_eq!(server.lookup(&["fine", "late-ingest"]).await, [None, None]);
}

#[tokio::test]
async fn idle_connections_are_closed_and_clients_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = seeded(
        dir.path(),
        "[server]\nidle_timeout_seconds = 1\nrequest_timeout_seconds = 1\n",
    )
    .await;
    let address = server.grpc;

    // A tonic client makes a call, then leaves its connection idle.
    let mut client = ProfileServiceClient::new(server.channel().await);
    let small = || BatchGetProfilesRequest {
        user_ids: vec![user(5)],
        field_mask: None,
    };
    client.batch_get_profiles(small()).await.unwrap();

    // A client that never reads: its one call is stuck unsent. Once the
    // call's deadline has released it, the connection counts as idle too,
    // and closing it frees the answer the server was holding for it.
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    let never_reads = tokio::spawn(connection);
    let (response, mut body) =
        start_call(&send, address, BATCH_GET, Some("application/grpc"), None).await;
    body.send_data(grpc_frame(&full_batch()), true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    // The client still holds the connection and its stream: its task ends
    // only when the server closes the connection.
    let _closed = never_reads.await.unwrap();

    wait_for_gauge(
        &server,
        "strata_connections_closed_total{reason=\"idle_timeout\"}",
        2.0,
    )
    .await;
    let metrics = server.scrape_metrics();
    assert_eq!(
        sample(&metrics, "strata_connections_open"),
        0.0,
        "{metrics}"
    );
    assert_eq!(sample(&metrics, READS_IN_FLIGHT), 0.0, "{metrics}");

    // The idle client's next call reconnects and is served. The call can
    // race the close (the client's connection task has not read it yet)
    // and fail once with a transport error, as any client on a dropped
    // connection may: tonic reports it as `Unknown` ("transport error")
    // when the request was not sent, or as `Cancelled` when hyper saw the
    // connection close under it. The retry must then find a new connection.
    let found = match client.batch_get_profiles(small()).await {
        Ok(found) => found,
        Err(status) => {
            let dropped = match status.code() {
                tonic::Code::Unknown => status.message().contains("transport"),
                tonic::Code::Cancelled => format!("{status:?}").contains("connection closed"),
                _ => false,
            };
            assert!(dropped, "not a dropped connection: {status:?}");
            client.batch_get_profiles(small()).await.unwrap()
        }
    }
    .into_inner();
    assert!(found.results[0].profile.is_some());
    drop((send, response));
}
