//! BatchGetProfiles: order, duplicates, misses, field masks and limits.

use strata_proto::v1::{BatchGetProfilesRequest, Profile, ValueTier};
use tonic::Code;

use crate::support::{Server, batch, profile, push};

fn request(ids: &[&str], mask: &[&str]) -> BatchGetProfilesRequest {
    BatchGetProfilesRequest {
        user_ids: ids.iter().map(|id| id.to_string()).collect(),
        field_mask: (!mask.is_empty()).then(|| prost_types::FieldMask {
            paths: mask.iter().map(|path| path.to_string()).collect(),
        }),
    }
}

async fn loaded_server(dir: &tempfile::TempDir) -> Server {
    let server = Server::start(
        &dir.path().join("db"),
        Some("[server]\nmax_batch_size = 5\n"),
    );
    let mut ingest = server.ingest().await;
    push(
        &mut ingest,
        vec![batch(
            "loader",
            1,
            vec![profile("a", 1), profile("b", 2), profile("c", 3)],
            &[],
        )],
    )
    .await
    .unwrap();
    server
}

#[tokio::test]
async fn answers_in_request_order_with_duplicates_and_misses() {
    let dir = tempfile::tempdir().unwrap();
    let server = loaded_server(&dir).await;
    let mut client = server.profiles().await;

    let response = client
        .batch_get_profiles(request(&["c", "nobody", "a", "c", "ghost"], &[]))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = response
        .results
        .iter()
        .map(|r| r.user_id.as_str())
        .collect();
    assert_eq!(ids, ["c", "nobody", "a", "c", "ghost"]);
    let versions: Vec<Option<&str>> = response
        .results
        .iter()
        .map(|r| r.profile.as_ref().map(|p| p.model_version.as_str()))
        .collect();
    assert_eq!(versions, [Some("v3"), None, Some("v1"), Some("v3"), None]);
    assert_eq!(response.missing_indices, [1, 4]);
    assert_eq!(response.results[0].profile, Some(profile("c", 3)));
}

#[tokio::test]
async fn field_mask_returns_only_named_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = loaded_server(&dir).await;
    let mut client = server.profiles().await;

    let response = client
        .batch_get_profiles(request(&["b", "x"], &["value_tier"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.results[0].profile,
        Some(Profile {
            value_tier: Some(ValueTier {
                tier: 1,
                recency_score: 5,
                frequency_score: 4,
                monetary_score: 3,
                rfm_segment: "segment-2".into(),
            }),
            ..Profile::default()
        })
    );
    assert_eq!(response.missing_indices, [1]);

    let unknown = client
        .batch_get_profiles(request(&["b"], &["value_tier", "valueTier.tier"]))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown
            .message()
            .starts_with("field_mask.paths[1] \"valueTier.tier\""),
        "{}",
        unknown.message()
    );
}

#[tokio::test]
async fn limits_and_bad_ids_are_invalid_argument_naming_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let server = loaded_server(&dir).await;
    let mut client = server.profiles().await;

    let cases: [(Vec<String>, &str); 4] = [
        (vec![], "user_ids is empty"),
        (
            (0..6).map(|i| format!("u{i}")).collect(),
            "user_ids has 6 ids, the limit is 5 per call",
        ),
        (vec!["a".into(), "".into()], "user_ids[1]: user id is empty"),
        (
            vec!["a".into(), "b".into(), "x".repeat(257)],
            "user_ids[2]: user id is 257 bytes, the limit is 256",
        ),
    ];
    for (user_ids, expected) in cases {
        let status = client
            .batch_get_profiles(BatchGetProfilesRequest {
                user_ids,
                field_mask: None,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{expected}");
        assert!(
            status.message().starts_with(expected),
            "{} vs {expected}",
            status.message()
        );
    }

    // Exactly at the limits is fine.
    let at_limit = client
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: vec!["x".repeat(256); 5],
            field_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at_limit.missing_indices, [0, 1, 2, 3, 4]);
}
