//! The Rust client crate (`strata-client`) against a real server: the
//! producer's sequence survives a new connection, reads come back typed, and
//! a refused call names its status.

use strata_client::{Changes, ClientError, Connection, IngestClient, ProfileClient};
use strata_proto::v1::{OfferContext, Surface};

use crate::support::{Server, profile};

fn changes(upserts: &[(&str, u32)], deletes: &[&str]) -> Changes {
    Changes {
        upserts: upserts
            .iter()
            .map(|(user, version)| profile(user, *version))
            .collect(),
        deletes: deletes.iter().map(|user| user.to_string()).collect(),
        model_card: None,
    }
}

#[tokio::test]
async fn a_producer_resumes_its_sequence_on_a_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let connection = Connection::new(server.endpoint());

    let mut first = IngestClient::connect(&connection, "nightly").await.unwrap();
    assert_eq!(first.next_sequence(), 1);
    let applied = first
        .push(vec![
            changes(&[("a", 1), ("b", 1)], &[]),
            changes(&[("c", 1)], &[]),
            changes(&[("a", 2)], &["b"]),
        ])
        .await
        .unwrap();
    assert_eq!(
        (applied.batches_applied, applied.last_applied_sequence),
        (3, 3)
    );

    // A new process for the same producer learns where it left off.
    let mut second = IngestClient::connect(&connection, "nightly").await.unwrap();
    assert_eq!(second.next_sequence(), 4);
    second.push(vec![changes(&[("d", 1)], &[])]).await.unwrap();
    assert_eq!(server.applied("nightly").await, 4);

    let mut profiles = ProfileClient::new(connection.connect().await.unwrap());
    let answer = profiles
        .batch_get(["a", "b", "d", "a"], &["lifecycle"])
        .await
        .unwrap();
    let layers: Vec<Option<String>> = answer
        .results
        .iter()
        .map(|result| {
            result
                .profile
                .as_ref()
                .and_then(|profile| profile.lifecycle.as_ref())
                .map(|lifecycle| lifecycle.layer.clone())
        })
        .collect();
    assert_eq!(
        layers,
        [
            Some("layer-2".to_owned()),
            None,
            Some("layer-1".to_owned()),
            Some("layer-2".to_owned())
        ]
    );
    assert_eq!(answer.missing_indices, [1]);
    // The mask kept only `lifecycle`: the value tier was dropped.
    let first_profile = answer.results[0].profile.as_ref().unwrap();
    assert!(first_profile.value_tier.is_none());
}

#[tokio::test]
async fn refused_calls_name_their_status_and_input() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut profiles =
        ProfileClient::new(Connection::new(server.endpoint()).connect().await.unwrap());

    let error = profiles
        .batch_get(["ok", ""], &[])
        .await
        .expect_err("an empty id is invalid");
    let ClientError::Rpc(status) = &error else {
        panic!("expected an RPC error, got {error}");
    };
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let message = error.to_string();
    assert!(
        message.starts_with("INVALID_ARGUMENT: ") && message.contains("user_ids[1]"),
        "{message}"
    );

    // An unknown user at checkout is told it is a cold start, not an error.
    let offers = profiles
        .get_offers(
            "nobody",
            OfferContext {
                surface: Surface::AppHome.into(),
                ..OfferContext::default()
            },
            3,
        )
        .await
        .unwrap();
    assert!(offers.cold_start);
}
