//! One name for each version (issue 20): a new store's version takes the
//! model version of the first push that lands in it, so `admin versions`,
//! `admin stats` and every profile say the same, across a restart and a
//! second run that finds nothing to send.

use std::path::Path;

use strata_proto::v1::admin_service_client::AdminServiceClient;
use strata_proto::v1::{ListVersionsRequest, StatsRequest};

use crate::support::{Server, strata, succeeded};

/// The user ids the job's state file records as pushed.
fn pushed_users(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            entry["u"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The serving version's name as ListVersions, Stats and the CLI's
/// `admin versions` / `admin stats` give it.
async fn serving_names(server: &Server) -> [String; 4] {
    let mut admin = AdminServiceClient::new(server.channel().await);
    let versions = admin
        .list_versions(ListVersionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .versions;
    let current: Vec<_> = versions.iter().filter(|version| version.current).collect();
    assert_eq!(current.len(), 1, "{versions:?}");
    let stats = admin.stats(StatsRequest {}).await.unwrap().into_inner();
    let endpoint = server.endpoint();
    let listed = succeeded(strata(&["admin", "versions", "--target", &endpoint]));
    let listed_current = listed
        .lines()
        .find(|line| line.contains("current"))
        .unwrap_or_else(|| panic!("no current version in\n{listed}"));
    let printed = succeeded(strata(&["admin", "stats", "--target", &endpoint]));
    let printed_version = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("model version"))
        .unwrap_or_else(|| panic!("no model version in\n{printed}"));
    [
        current[0].model_version.clone(),
        stats.model_version,
        listed_current
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        printed_version.trim().to_owned(),
    ]
}

#[tokio::test]
async fn a_first_push_names_the_new_stores_version_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let events = dir.path().join("events.csv");
    succeeded(strata(&[
        "gen",
        "--users",
        "300",
        "--seed",
        "11",
        "--out",
        events.to_str().unwrap(),
    ]));
    let state = dir.path().join("state.jsonl");
    let recompute = |endpoint: &str| {
        succeeded(strata(&[
            "recompute",
            "--events",
            events.to_str().unwrap(),
            "--as-of",
            "2025-01-01T00:00:00Z",
            "--push",
            endpoint,
            "--state",
            state.to_str().unwrap(),
        ]))
    };

    let server = Server::start(&data, None);
    let first = recompute(&server.endpoint());
    assert!(first.contains("pushed "), "{first}");

    let users = pushed_users(&state);
    assert!(users.len() > 100, "{}", users.len());
    let ids: Vec<&str> = users.iter().map(String::as_str).collect();
    let profiles = server.lookup(&ids).await;
    let mut names: Vec<String> = profiles
        .iter()
        .map(|profile| profile.as_ref().expect("pushed").model_version.clone())
        .collect();
    names.dedup();
    assert_eq!(names.len(), 1, "profiles disagree: {names:?}");
    let name = names.remove(0);
    assert_ne!(name, "initial");
    assert_eq!(serving_names(&server).await, [(); 4].map(|()| name.clone()));

    // The name is stored: a restart serves it, and the job sees the same
    // version (same store and generation), so a rerun sends nothing.
    server.terminate();
    let server = Server::start(&data, None);
    assert_eq!(serving_names(&server).await, [(); 4].map(|()| name.clone()));
    let second = recompute(&server.endpoint());
    assert!(!second.contains("pushed "), "{second}");
    assert!(!second.contains("full push"), "{second}");
    assert!(
        second.contains(&format!("0 changed, {} unchanged", users.len())),
        "{second}"
    );
}
