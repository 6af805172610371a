//! Readers see whole records and whole batches while a writer streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strata_proto::v1::{BatchGetProfilesRequest, Profile};

use crate::support::{Server, batch, profile, push};

const USERS: usize = 50;

/// Every field of a record written by `support::profile` names one version.
fn version_of(profile: &Profile) -> u32 {
    let version = profile.lifecycle.as_ref().unwrap().layer_index;
    assert_eq!(profile.model_version, format!("v{version}"), "torn record");
    assert_eq!(
        profile.value_tier.as_ref().unwrap().rfm_segment,
        format!("segment-{version}")
    );
    assert_eq!(profile.propensity, Some(f64::from(version) / 1e6));
    version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_consistent_records_while_a_writer_streams() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let ids: Vec<String> = (0..USERS).map(|i| format!("u{i}")).collect();
    let mut ingest = server.ingest().await;
    let version = |v: u32| ids.iter().map(|id| profile(id, v)).collect::<Vec<_>>();
    push(&mut ingest, vec![batch("w", 1, version(1), &[])])
        .await
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut client = server.profiles().await;
        let ids = ids.clone();
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let mut last_seen = 0;
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let response = client
                    .batch_get_profiles(BatchGetProfilesRequest {
                        user_ids: ids.clone(),
                        field_mask: None,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let versions: Vec<u32> = response
                    .results
                    .iter()
                    .map(|result| version_of(result.profile.as_ref().unwrap()))
                    .collect();
                // One batch rewrites every user: a lookup sees all of it or none.
                assert!(
                    versions.iter().all(|v| *v == versions[0]),
                    "mixed batch: {versions:?}"
                );
                assert!(
                    versions[0] >= last_seen,
                    "went back from {last_seen} to {}",
                    versions[0]
                );
                last_seen = versions[0];
                reads += 1;
            }
            (reads, last_seen)
        }));
    }

    for sequence in 2..=150u32 {
        push(
            &mut ingest,
            vec![batch("w", u64::from(sequence), version(sequence), &[])],
        )
        .await
        .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        let (reads, last_seen) = reader.await.unwrap();
        assert!(reads > 0 && last_seen >= 1);
    }
}
