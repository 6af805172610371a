//! `strata loadtest` as a user runs it: the real binary against the real
//! server, closed and open loop, checked through its `--json` report.

use std::process::Command;

use serde_json::Value;

use crate::support::{Server, batch, profile, push, succeeded};

const USERS: usize = 1_000;

/// A server holding users u00000000 to u00000999.
async fn loaded_server(dir: &tempfile::TempDir) -> Server {
    let server = Server::start(&dir.path().join("db"), None);
    let profiles = (0..USERS)
        .map(|index| profile(&format!("u{index:08}"), 1))
        .collect();
    push(
        &mut server.ingest().await,
        vec![batch("loader", 1, profiles, &[])],
    )
    .await
    .unwrap();
    server
}

/// Runs `strata loadtest --json` against `server` with `flags`.
fn loadtest(server: &Server, flags: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["loadtest", "--json", "--target"])
        .arg(server.grpc.to_string())
        .args(["--key-space", &USERS.to_string(), "--warmup", "200ms"])
        .args(flags)
        .output()
        .unwrap();
    let stdout = succeeded(output);
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

fn number(report: &Value, field: &str) -> f64 {
    report[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing: {report:#}"))
}

/// What every successful run must satisfy.
fn check_consistent(report: &Value) {
    assert!(number(report, "requests") > 0.0, "{report:#}");
    assert_eq!(number(report, "errors"), 0.0, "{report:#}");
    assert_eq!(report["errors_by_code"], serde_json::json!({}));
    let expected_users = number(report, "requests_per_second") * number(report, "batch_size");
    let users = number(report, "users_per_second");
    assert!(
        (users - expected_users).abs() <= 1e-6 * expected_users,
        "{users} users/s vs {expected_users}"
    );
    for percentiles in ["latency_us", "service_time_us"] {
        let at = |name: &str| report[percentiles][name].as_f64().unwrap();
        assert!(at("p50") > 0.0, "{report:#}");
        assert!(
            at("p50") <= at("p90") && at("p90") <= at("p99") && at("p99") <= at("p999"),
            "{percentiles} unordered: {report:#}"
        );
        assert!(at("p999") <= at("max"), "{report:#}");
    }
}

#[tokio::test]
async fn closed_loop_reports_throughput_hits_and_ordered_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let server = loaded_server(&dir).await;

    let report = loadtest(
        &server,
        &[
            "--batch",
            "10",
            "--unknown-share",
            "0.2",
            "--duration",
            "1s",
            "--connections",
            "2",
            "--in-flight",
            "4",
        ],
    );
    check_consistent(&report);
    assert_eq!(report["mode"], "closed");
    assert_eq!(report["method"], "batch_get_profiles");
    let hit_rate = number(&report, "hit_rate");
    assert!((hit_rate - 0.8).abs() < 0.05, "{report:#}");
    assert_eq!(
        number(&report, "users_found") + number(&report, "users_missing"),
        number(&report, "ok") * 10.0
    );

    // GetOffers: one user per request; unknown users get cold-start offers.
    let offers = loadtest(
        &server,
        &[
            "--method",
            "get-offers",
            "--requests",
            "200",
            "--distribution",
            "zipf",
            "--zipf-exponent",
            "1.1",
        ],
    );
    check_consistent(&offers);
    assert_eq!(number(&offers, "requests"), 200.0, "{offers:#}");
    assert_eq!(number(&offers, "hit_rate"), 1.0, "{offers:#}");
}

#[tokio::test]
async fn open_loop_keeps_the_asked_rate() {
    let dir = tempfile::tempdir().unwrap();
    let server = loaded_server(&dir).await;

    let report = loadtest(
        &server,
        &["--batch", "20", "--rate", "200", "--duration", "1s"],
    );
    check_consistent(&report);
    assert_eq!(report["mode"], "open");
    assert_eq!(number(&report, "target_rate"), 200.0);
    assert_eq!(number(&report, "requests"), 200.0, "{report:#}");
    // The schedule fixes the count; the rate also holds the time to the last
    // answer, which a busy CI machine can stretch, hence the loose floor.
    let rate = number(&report, "requests_per_second");
    assert!((150.0..=210.0).contains(&rate), "{report:#}");
    assert_eq!(number(&report, "hit_rate"), 1.0);
}

#[test]
fn refuses_a_remote_target_without_allow_remote() {
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "loadtest",
            "--target",
            "192.0.2.1:50051",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}
