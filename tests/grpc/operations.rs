//! Health, reflection, metrics and graceful shutdown.

use strata_proto::v1::BatchGetProfilesRequest;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::support::{Server, batch, profile, push};

#[tokio::test]
async fn health_reports_serving_for_both_services() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut health = HealthClient::new(server.channel().await);
    for service in ["strata.v1.ProfileService", "strata.v1.IngestService", ""] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "strata.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_both_services() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    for expected in [
        "strata.v1.ProfileService",
        "strata.v1.IngestService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} not in {names:?}"
        );
    }
}

#[tokio::test]
async fn metrics_expose_request_batch_ingest_and_store_series() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    push(
        &mut server.ingest().await,
        vec![batch("job", 1, vec![profile("a", 1), profile("b", 1)], &[])],
    )
    .await
    .unwrap();
    server
        .profiles()
        .await
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: vec!["a".into(), "b".into(), "zz".into()],
            field_mask: None,
        })
        .await
        .unwrap();

    let text = server.scrape_metrics();
    for expected in [
        r#"strata_rpc_requests_total{method="BatchGetProfiles",code="OK"} 1"#,
        r#"strata_rpc_requests_total{method="ApplyUpdates",code="OK"} 1"#,
        r#"strata_rpc_duration_seconds_count{method="BatchGetProfiles"} 1"#,
        r#"strata_batch_size_sum{method="BatchGetProfiles"} 3.0"#,
        r#"strata_profile_lookups_total{outcome="hit"} 2"#,
        r#"strata_profile_lookups_total{outcome="miss"} 1"#,
        r#"strata_ingest_batches_total{outcome="applied"} 1"#,
        r#"strata_ingest_records_total{outcome="upsert"} 2"#,
        r#"strata_ingest_last_sequence{producer="job"} 1"#,
        r#"strata_ingest_lag_seconds{producer="job"}"#,
        "strata_store_estimated_profiles ",
        "strata_store_block_cache_bytes ",
        "strata_store_live_sst_bytes ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[tokio::test]
async fn sigterm_finishes_and_flushes_even_with_a_client_still_connected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("db"),
        Some("[server]\nshutdown_grace_seconds = 2\n"),
    );
    let mut client = server.profiles().await;
    client
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: vec!["a".into()],
            field_mask: None,
        })
        .await
        .unwrap();
    // The runtime is blocked while we wait, so the client cannot react to the
    // server's GOAWAY: only the grace period lets the server go.
    let log_path = dir.path().join("db.log");
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(log.contains("store flushed; stopped"), "{log}");
    drop(client);
}
