//! Per-user summaries (`strata summarize`, `strata recompute --summaries`):
//! a recompute from summaries serves byte for byte what a recompute from the
//! events serves; an incremental day merged into earlier summaries equals
//! one summarize over every day (histories and served profiles); and
//! summaries that do not fit the run, or are damaged, fail before anything
//! is sent or saved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata_core::{Event, LifecycleModel, UserHistory};
use strata_events::generate::{self, GenConfig, Preset};
use strata_events::input::{EventWriter, Format};
use strata_events::summary;
use strata_job::partition::partition_of;

use crate::support::{Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
/// The end of the previous run's days: the incremental day is the last one.
const PREVIOUS_AS_OF: &str = "2024-12-31T00:00:00Z";
const PREVIOUS_AS_OF_MS: i64 = generate::DEFAULT_END - 86_400_000;

/// Events of a generated population, in generation order.
fn population(preset: Preset, users: u64, days: u32) -> Vec<Event> {
    let mut events = Vec::new();
    generate::generate(&GenConfig::new(users, days, 5, preset), |event| {
        events.push(event.clone());
    });
    events
}

fn write_events(path: &Path, events: impl Iterator<Item = Event>) -> PathBuf {
    let mut writer = EventWriter::create(path, Format::Parquet).unwrap();
    for event in events {
        writer.write(&event).unwrap();
    }
    writer.finish().unwrap();
    path.to_owned()
}

fn run(args: &[&str]) -> String {
    succeeded(strata(args))
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Pushes a recompute (extra args: its input) to a new server, and returns
/// what it serves.
async fn push_and_read(
    dir: &Path,
    name: &str,
    preset: &str,
    input: &[&str],
    users: u64,
) -> BTreeMap<String, Option<Vec<u8>>> {
    let server = Server::start(&dir.join(format!("{name}-db")), None);
    let state = dir.join(format!("{name}.state.jsonl"));
    let endpoint = server.endpoint();
    let mut args = vec![
        "recompute",
        "--preset",
        preset,
        "--push",
        &endpoint,
        "--state",
        text(&state),
    ];
    args.extend_from_slice(input);
    run(&args);
    server.served_bytes(users).await
}

fn read_summaries(dir: &Path, model: &LifecycleModel) -> BTreeMap<String, UserHistory> {
    let manifest = summary::read_manifest(dir).unwrap();
    let mut histories = BTreeMap::new();
    for index in 0..manifest.parts {
        histories.extend(summary::read_part(dir, &manifest, index, model).unwrap());
    }
    histories
}

fn assert_same_profiles(
    left: &BTreeMap<String, Option<Vec<u8>>>,
    right: &BTreeMap<String, Option<Vec<u8>>>,
    what: &str,
) {
    let known = left.values().filter(|profile| profile.is_some()).count();
    assert!(known > left.len() / 2, "{what}: {known} users served");
    let differ: Vec<&String> = left
        .keys()
        .filter(|id| left.get(*id) != right.get(*id))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: {} of {} profiles differ, first {:?}",
        differ.len(),
        left.len(),
        differ.first()
    );
}

#[tokio::test]
async fn a_recompute_from_summaries_serves_what_one_from_events_serves() {
    const USERS: u64 = 1_500;
    let dir = tempfile::tempdir().unwrap();
    let events = write_events(
        &dir.path().join("events.parquet"),
        population(Preset::Retail, USERS, 365).into_iter(),
    );
    let summaries = dir.path().join("summaries");
    let output = run(&[
        "summarize",
        "--events",
        text(&events),
        "--as-of",
        AS_OF,
        "--parts",
        "3",
        "--out",
        text(&summaries),
    ]);
    assert!(output.contains("in 3 parts"), "{output}");

    let from_events = push_and_read(
        dir.path(),
        "events",
        "retail",
        &["--events", text(&events), "--as-of", AS_OF],
        USERS,
    )
    .await;
    // --as-of left out: the summaries' own.
    let from_summaries = push_and_read(
        dir.path(),
        "summaries",
        "retail",
        &["--summaries", text(&summaries)],
        USERS,
    )
    .await;
    assert_same_profiles(&from_events, &from_summaries, "events vs summaries");

    // A worker reads only its own part: its state holds exactly the users
    // whose id hashes to it.
    let state = dir.path().join("part.state.jsonl");
    let output = run(&[
        "recompute",
        "--summaries",
        text(&summaries),
        "--partition",
        "1/3",
        "--snapshot",
        text(&dir.path().join("part.snapshot")),
        "--state",
        text(&state),
    ]);
    assert!(output.contains("partition  1/3"), "{output}");
    let worker_state = std::fs::read_to_string(dir.path().join("part.state.p1of3.jsonl")).unwrap();
    let users: Vec<String> = worker_state
        .lines()
        .skip(1)
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["u"].as_str().unwrap().to_owned()
        })
        .collect();
    let owned = (0..USERS)
        .map(generate::user_id)
        .filter(|id| from_events[id].is_some() && partition_of(id, 3) == 1)
        .count();
    assert_eq!(users.len(), owned);
    assert!(users.iter().all(|id| partition_of(id, 3) == 1));
}

#[tokio::test]
async fn an_incremental_day_equals_one_summarize_over_every_day() {
    // sns tracks windowed series (`within_days = 30`), whose old days are
    // pruned against the newest one: the merge must prune exactly alike.
    const USERS: u64 = 1_200;
    let model = LifecycleModel::preset("sns").unwrap();
    assert!(
        model
            .tracked_series()
            .iter()
            .any(|series| series.contains("LastDays")),
        "{:?}",
        model.tracked_series()
    );
    let dir = tempfile::tempdir().unwrap();
    let events = population(Preset::Sns, USERS, 200);
    let (before, last_day): (Vec<Event>, Vec<Event>) = events
        .into_iter()
        .partition(|event| event.at <= PREVIOUS_AS_OF_MS);
    assert!(!last_day.is_empty() && !before.is_empty());
    let old_days = write_events(&dir.path().join("days.parquet"), before.into_iter());
    let new_day = write_events(&dir.path().join("last-day.parquet"), last_day.into_iter());

    let previous = dir.path().join("previous");
    run(&[
        "summarize",
        "--preset",
        "sns",
        "--events",
        text(&old_days),
        "--as-of",
        PREVIOUS_AS_OF,
        "--parts",
        "2",
        "--out",
        text(&previous),
    ]);
    let merged = dir.path().join("merged");
    let output = run(&[
        "summarize",
        "--preset",
        "sns",
        "--previous",
        text(&previous),
        "--events",
        text(&new_day),
        "--as-of",
        AS_OF,
        "--out",
        text(&merged),
    ]);
    assert!(output.contains("merged     into"), "{output}");
    let full = dir.path().join("full");
    run(&[
        "summarize",
        "--preset",
        "sns",
        "--events",
        text(&old_days),
        text(&new_day),
        "--as-of",
        AS_OF,
        "--parts",
        "2",
        "--out",
        text(&full),
    ]);

    let merged_histories = read_summaries(&merged, &model);
    let full_histories = read_summaries(&full, &model);
    assert_eq!(merged_histories.len(), full_histories.len());
    assert!(merged_histories == full_histories, "histories differ");
    // The merged run remembers both: the full input and its two runs.
    let manifest = summary::read_manifest(&merged).unwrap();
    let full_manifest = summary::read_manifest(&full).unwrap();
    assert_eq!(manifest.runs.len(), 2);
    assert_eq!(manifest.input.events, full_manifest.input.events);
    assert_eq!(manifest.part_files, full_manifest.part_files);

    let from_merged = push_and_read(
        dir.path(),
        "merged",
        "sns",
        &["--summaries", text(&merged), "--as-of", AS_OF],
        USERS,
    )
    .await;
    let from_full = push_and_read(
        dir.path(),
        "full",
        "sns",
        &["--summaries", text(&full)],
        USERS,
    )
    .await;
    assert_same_profiles(&from_full, &from_merged, "one summarize vs merged day");

    // The same day again overlaps the merged summaries' as-of: refused, and
    // nothing written.
    let again = dir.path().join("again");
    let refused = strata(&[
        "summarize",
        "--preset",
        "sns",
        "--previous",
        text(&previous),
        "--events",
        text(&old_days),
        "--as-of",
        AS_OF,
        "--out",
        text(&again),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("at or before these summaries' as-of"),
        "{stderr}"
    );
    assert!(!again.exists());
}

#[tokio::test]
async fn summaries_that_do_not_fit_or_are_damaged_change_nothing() {
    const USERS: u64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let events = write_events(
        &dir.path().join("events.parquet"),
        population(Preset::Retail, USERS, 120).into_iter(),
    );
    let summaries = dir.path().join("summaries");
    run(&[
        "summarize",
        "--events",
        text(&events),
        "--as-of",
        AS_OF,
        "--parts",
        "3",
        "--out",
        text(&summaries),
    ]);
    let server = Server::start(&dir.path().join("db"), None);
    let state = dir.path().join("state.jsonl");
    let endpoint = server.endpoint();
    let recompute = |extra: &[&str]| {
        let mut args = vec![
            "recompute",
            "--summaries",
            text(&summaries),
            "--push",
            &endpoint,
            "--state",
            text(&state),
            "--producer",
            "summaries-test",
        ];
        args.extend_from_slice(extra);
        strata(&args)
    };
    succeeded(recompute(&[]));
    let applied = server.applied("summaries-test").await;
    assert!(applied > 0);
    let state_before = std::fs::read(&state).unwrap();

    let failures = [
        (vec!["--partition", "0/2"], "has 3 parts"),
        (
            vec!["--preset", "sns"],
            "was folded for lifecycle model `retail`",
        ),
        (vec!["--as-of", "2024-12-01T00:00:00Z"], "leave --as-of out"),
    ];
    for (extra, expected) in failures {
        let output = recompute(&extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{extra:?}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }

    let part = summaries.join(summary::part_name(2, 3));
    let mut bytes = std::fs::read(&part).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0xff;
    std::fs::write(&part, &bytes).unwrap();
    let output = recompute(&["--full-push"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("damaged"), "{stderr}");

    std::fs::remove_file(&part).unwrap();
    let output = recompute(&["--full-push"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("is missing"), "{stderr}");

    // Nothing was pushed and the state is as the good run left it.
    assert_eq!(server.applied("summaries-test").await, applied);
    assert_eq!(std::fs::read(&state).unwrap(), state_before);
}
