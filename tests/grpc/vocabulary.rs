//! One vocabulary across the commands (issue 20): the same exact user count
//! from `admin versions` and `admin stats`, headers and RFC 3339 times on
//! `admin watch`, and one spelling of "not computed" (`none`, with the
//! reason in parentheses where one is known) in every output.

use std::path::Path;
use std::process::{Command, Stdio};

use strata_proto::v1::{Lifecycle, Profile};

use crate::support::{Server, batch, profile, push, strata, succeeded};

/// Spellings of "not computed" that the one vocabulary replaced.
const RETIRED: &[&str] = &["(unknown)", "n/a", "\tnever", " never\n", "\t-\t"];

fn admin(server: &Server, command: &str, args: &[&str]) -> String {
    let endpoint = server.endpoint();
    let mut all = vec!["admin", command, "--target", endpoint.as_str()];
    all.extend_from_slice(args);
    succeeded(strata(&all))
}

fn assert_one_vocabulary(what: &str, output: &str) {
    for retired in RETIRED {
        assert!(
            !output.contains(retired),
            "{what} says {retired:?}:\n{output}"
        );
    }
}

/// The `users` column of the version whose role is `role` in `admin
/// versions`.
fn version_users(versions: &str, role: &str) -> String {
    let line = versions
        .lines()
        .find(|line| line.trim_end().ends_with(role))
        .unwrap_or_else(|| panic!("no {role} version:\n{versions}"));
    line.split_whitespace().nth(2).unwrap().to_owned()
}

/// `users         N` of `admin stats`.
fn stats_users(stats: &str) -> String {
    stats
        .lines()
        .find_map(|line| line.strip_prefix("users"))
        .unwrap_or_else(|| panic!("no users line:\n{stats}"))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_stats_count_the_same_users_after_upserts_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut ingest = server.ingest().await;
    // 57 users in two batches, one of them without a layer; then 4 erased
    // and 2 rewritten: 53 stay.
    let mut first: Vec<Profile> = (0..40).map(|i| profile(&format!("u{i}"), 1)).collect();
    first.push(Profile {
        lifecycle: None::<Lifecycle>,
        ..profile("no-layer", 1)
    });
    let second: Vec<Profile> = (40..56).map(|i| profile(&format!("u{i}"), 2)).collect();
    push(
        &mut ingest,
        vec![
            batch("p", 1, first, &[]),
            batch("p", 2, second, &[]),
            batch(
                "p",
                3,
                vec![profile("u0", 3), profile("u1", 3)],
                &["u2", "u3", "u4", "u5"],
            ),
        ],
    )
    .await
    .unwrap();
    let expected = 57 - 4;

    let versions = admin(&server, "versions", &[]);
    let header: Vec<&str> = versions
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["model_version", "state", "users", "loaded", "role"]
    );
    assert_eq!(
        version_users(&versions, "current"),
        expected.to_string(),
        "{versions}"
    );
    let stats = admin(&server, "stats", &[]);
    assert_eq!(stats_users(&stats), expected.to_string(), "{stats}");
    // A user without a layer reads `none (...)` like a missing tier does.
    assert!(stats.contains("none (no layer)"), "{stats}");
    assert_one_vocabulary("admin versions", &versions);
    assert_one_vocabulary("admin stats", &stats);
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    bytes.len() >= 20
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && text.ends_with('Z')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_a_header_then_transitions_with_rfc3339_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut ingest = server.ingest().await;
    push(
        &mut ingest,
        vec![
            batch("p", 1, vec![profile("a", 1), profile("b", 1)], &[]),
            batch("p", 2, Vec::new(), &["a"]),
        ],
    )
    .await
    .unwrap();
    // From cursor 1 (a's arrival): the header and the two transitions after
    // it; head ends the command.
    let output = Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; "$0" "$@" | head -3"#)
        .arg(env!("CARGO_BIN_EXE_strata"))
        .args(["admin", "watch", "--from-cursor", "1", "--target"])
        .arg(server.endpoint())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0],
        ["cursor", "user", "from", "to", "model_version", "at"]
    );
    // b's arrival and a's erasure.
    let rows: Vec<(&str, &str, &str)> = lines[1..]
        .iter()
        .map(|fields| (fields[1], fields[2], fields[3]))
        .collect();
    assert_eq!(
        rows,
        [
            ("b", "none (new user)", "layer-1"),
            ("a", "layer-1", "none (deleted)")
        ],
        "{stdout}"
    );
    for fields in &lines[1..] {
        assert_eq!(fields.len(), 6, "{stdout}");
        assert!(is_rfc3339_utc(fields[5]), "{stdout}");
    }
    assert_one_vocabulary("admin watch", &stdout);
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn recompute_audience_report_and_get_say_none_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    let snapshot = dir.path().join("run.snap");
    let data = dir.path().join("run.json");
    let page = dir.path().join("report.html");
    succeeded(strata(&[
        "gen",
        "--users",
        "800",
        "--seed",
        "3",
        "--out",
        path(&events),
    ]));
    let summary = succeeded(strata(&[
        "recompute",
        "--events",
        path(&events),
        "--as-of",
        "2025-01-01T00:00:00Z",
        "--state",
        path(&dir.path().join("state.jsonl")),
        "--snapshot",
        path(&snapshot),
        "--report-data",
        path(&data),
        "--report",
        path(&page),
    ]));
    // Users who never bought: the tier `none (no purchase)` everywhere.
    assert!(summary.contains("none (no purchase)"), "{summary}");
    assert_one_vocabulary("recompute", &summary);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<td>none (no purchase)</td>"));
    assert_one_vocabulary("report", &html);

    let definition = dir.path().join("everyone.toml");
    std::fs::write(
        &definition,
        "[audience]\nname = \"active\"\nrule = { churned = false }\n",
    )
    .unwrap();
    let audience = succeeded(strata(&[
        "audience",
        "--def",
        path(&definition),
        "--snapshot",
        path(&snapshot),
        "--out",
        path(&dir.path().join("everyone.csv")),
    ]));
    assert!(audience.contains("none (no purchase)"), "{audience}");
    assert_one_vocabulary("audience", &audience);

    // The same snapshot served: `get` of a user who never bought.
    let server = Server::start(&dir.path().join("db"), None);
    let endpoint = server.endpoint();
    let loaded = succeeded(strata(&[
        "admin",
        "load-snapshot",
        "--target",
        &endpoint,
        path(&snapshot),
    ]));
    assert!(loaded.contains("loaded"), "{loaded}");
    let stats = succeeded(strata(&["admin", "stats", "--target", &endpoint]));
    let versions = succeeded(strata(&["admin", "versions", "--target", &endpoint]));
    // The bulk-loaded version: its exact count is the snapshot's users.
    assert_eq!(stats_users(&stats), "800", "{stats}");
    assert_eq!(version_users(&versions, "current"), "800", "{versions}");
    assert!(stats.contains("none (no purchase)"), "{stats}");
    // The list is data (CSV): a missing tier is an empty field there.
    let never_bought = std::fs::read_to_string(dir.path().join("everyone.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|fields| fields[2].is_empty())
        .map(|fields| fields[0].to_owned())
        .expect("a user who never bought");
    let get = succeeded(strata(&["get", &never_bought, "--target", &endpoint]));
    assert!(get.contains("none (never bought)"), "{get}");
    assert_one_vocabulary("get", &get);
}
