//! The README's first command, as a user runs it: the demo generates events,
//! recomputes them and pushes the profiles through the ingest API; a plain
//! `serve` then serves them.

use std::process::Command;

use strata_proto::v1::{BatchGetProfilesRequest, GetIngestStateRequest};

use crate::support::{Server, succeeded};

#[tokio::test]
async fn demo_loads_through_the_recompute_job_and_serve_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("db");
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["demo", "--users", "1500", "--exit-after-load"])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    let stdout = succeeded(output);
    assert!(stdout.contains("users      1500"), "{stdout}");
    assert!(
        stdout.contains("pushed     2 batches sent (1500 upserts"),
        "{stdout}"
    );

    let server = Server::start(&data_dir, None);
    let state = server
        .ingest()
        .await
        .get_ingest_state(GetIngestStateRequest {
            producer_id: "demo-retail".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        state.last_applied_sequence, 2,
        "1500 users in batches of 1000"
    );

    let ids = vec![
        "u00000000".to_owned(),
        "u00001499".to_owned(),
        "u00001500".to_owned(),
    ];
    let response = server
        .profiles()
        .await
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: ids,
            field_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.missing_indices, [2]);
    let first = response.results[0].profile.as_ref().unwrap();
    assert_eq!(first.user_id, "u00000000");
    assert_eq!(first.lifecycle.as_ref().unwrap().preset, "retail");
    assert_eq!(first.model_version, "retail-1");
    assert!(first.computed_at.is_some());
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[server]\nmax_batch_size = 0\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("db"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config key server.max_batch_size: must be at least 1"),
        "{stderr}"
    );
}
