//! Summaries judge each day's input on its own: a bad row an earlier day's
//! `strata summarize` accepted within its budget does not count against a
//! later recompute from the merged summaries, so `--delete-missing` works
//! on a clean day.

use std::path::Path;

use crate::support::{Server, strata, succeeded};

const PREVIOUS_AS_OF: &str = "2024-12-31T00:00:00Z";
const AS_OF: &str = "2025-01-01T00:00:00Z";
const AS_OF_MILLIS: i64 = 1_735_689_600_000;
const DAY: i64 = 86_400_000;
const HEADER: &str = "user_id,timestamp,event_type,amount,currency\n";

/// One purchase per user, `days_before` AS_OF.
fn purchases(users: &[String], days_before: i64) -> String {
    users
        .iter()
        .map(|user| {
            format!(
                "{user},{},purchase,20,EUR\n",
                AS_OF_MILLIS - days_before * DAY
            )
        })
        .collect()
}

fn write(path: &Path, rows: &[&str]) -> String {
    std::fs::write(path, format!("{HEADER}{}", rows.concat())).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_bad_row_of_an_earlier_day_does_not_block_a_later_delete_missing() {
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..40).map(|index| format!("u{index:03}")).collect();
    let early = purchases(&users, 30);
    let late = purchases(&users[..10], 0);
    let gone = purchases(&["gone".to_owned()], 30);
    let bad_row = "u000,not-a-time,purchase,20,EUR\n";
    let day_one = write(&dir.path().join("day-1.csv"), &[&early, bad_row]);
    let day_two = write(&dir.path().join("day-2.csv"), &[&late]);
    let everything = write(&dir.path().join("all.csv"), &[&early, &gone, &late]);

    // The server holds everyone, and a user the summaries will not have.
    let server = Server::start(&dir.path().join("db"), None);
    let endpoint = server.endpoint();
    let state = dir.path().join("state.jsonl");
    let state = state.to_str().unwrap();
    succeeded(strata(&[
        "recompute",
        "--events",
        &everything,
        "--as-of",
        AS_OF,
        "--push",
        &endpoint,
        "--state",
        state,
    ]));
    assert!(server.lookup(&["gone"]).await[0].is_some());

    // Day one has a bad row, within its budget; day two is clean.
    let previous = dir.path().join("previous");
    let merged = dir.path().join("merged");
    let first = succeeded(strata(&[
        "summarize",
        "--events",
        &day_one,
        "--as-of",
        PREVIOUS_AS_OF,
        "--max-bad-fraction",
        "0.1",
        "--out",
        previous.to_str().unwrap(),
    ]));
    assert!(first.contains(", 1 bad rows"), "{first}");
    succeeded(strata(&[
        "summarize",
        "--previous",
        previous.to_str().unwrap(),
        "--events",
        &day_two,
        "--as-of",
        AS_OF,
        "--out",
        merged.to_str().unwrap(),
    ]));

    // The recompute from the merged summaries judges day two: no bad rows,
    // so it may erase the user the input no longer has.
    let run = succeeded(strata(&[
        "recompute",
        "--summaries",
        merged.to_str().unwrap(),
        "--push",
        &endpoint,
        "--state",
        state,
        "--delete-missing",
    ]));
    assert!(run.contains(", 0 bad rows"), "{run}");
    assert_eq!(server.lookup(&["gone", "u000"]).await[0], None);
    assert!(server.lookup(&["u000"]).await[0].is_some());
}
