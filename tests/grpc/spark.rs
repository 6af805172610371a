//! The summarize stage on Apache Spark (`deploy/spark/summarize.py`, local
//! mode): its summaries equal `strata summarize`'s on every column of every
//! user (floats to the bit), its manifest counts the same rows, bad rows and
//! users per part; `strata fit` and three `strata recompute --model-file
//! --partition i/3` workers read them unchanged and serve, byte for byte
//! (apart from `computed_at`), what one in-process `strata recompute` of the
//! same events serves. An incremental day merged by Spark into the in-process
//! engine's summaries equals one summarize over every day.
//!
//! Needs `pyspark` and `xxhash` in `python3` (`./dev test` installs them and
//! sets STRATA_REQUIRE_SPARK, so CI fails rather than skips without them).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use strata_core::{Event, HistoryParts, LifecycleModel};
use strata_events::generate::{self, GenConfig, Preset};
use strata_events::input::{EventWriter, Format};
use strata_events::summary::{self, Manifest};

use crate::support::{Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const PREVIOUS_AS_OF: &str = "2024-12-31T00:00:00Z";
const PREVIOUS_AS_OF_MS: i64 = generate::DEFAULT_END - 86_400_000;
const USERS: u64 = 3_000;

/// Rows each engine must refuse, one per rule, appended to a generated log
/// (CSV columns: user_id,timestamp,event_type,amount,currency,channel,
/// benefit_id,rating).
const MALFORMED: [&str; 9] = [
    "u00000001,not-a-time,purchase,10,EUR,,,",
    ",2024-06-01T00:00:00Z,purchase,10,EUR,,,",
    "u00000002,2024-06-01T00:00:00Z,,10,EUR,,,",
    "u00000003,2024-06-01T00:00:00Z,purchase,ten,EUR,,,",
    "u00000004,2024-06-01T00:00:00Z,rating,,,,,9",
    "u00000005,2030-06-01T00:00:00Z,browse,,,,,",
    "u00000006,2024-06-01T00:00:00Z,purchase,99999999999,EUR,,,",
    "u00000007,1969-12-31T00:00:00Z,browse,,,,,",
    "u00000008,2024-06-01T00:00:00Z,browse",
];

/// Well-formed rows in the other spellings the readers accept: epoch
/// seconds and milliseconds, a space and an offset with microseconds, mixed
/// case and padding; and one after the as-of time (left out, not bad).
const UNUSUAL: [&str; 5] = [
    "u00000010,1717243200,Purchase,12.25,eur,,,",
    "u00000011,1717243200123,REVIEW,,,,,4.0",
    "u00000012,2024-07-01 10:00:00.123456+02:00,send,,,EMAIL,,",
    " u00000013 ,2024-07-02T00:00:00Z,offer_redeemed,3.5,EUR,,discount-15,",
    "u00000014,2025-01-01T12:00:00Z,purchase,20,EUR,,,",
];

/// `python3` when it has pyspark and xxhash; `None` (the test skips, saying
/// why) when it has not and STRATA_REQUIRE_SPARK is unset.
fn spark_python() -> Option<&'static str> {
    let found = Command::new("python3")
        .args(["-c", "import pyspark, xxhash"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Some("python3");
    }
    assert!(
        std::env::var_os("STRATA_REQUIRE_SPARK").is_none(),
        "STRATA_REQUIRE_SPARK is set but python3 cannot import pyspark and xxhash \
         (./dev deps test installs them)"
    );
    eprintln!("skipped: python3 has no pyspark/xxhash (./dev test installs them)");
    None
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The Spark job in local mode on two cores.
fn spark_summarize(python: &str, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/spark/summarize.py");
    Command::new(python)
        .arg(script)
        .args(args)
        .args(["--master", "local[2]", "--shuffle-partitions", "4"])
        .output()
        .unwrap()
}

fn histories(dir: &Path, model: &LifecycleModel) -> BTreeMap<String, HistoryParts> {
    let manifest = summary::read_manifest(dir).unwrap();
    let mut users = BTreeMap::new();
    for index in 0..manifest.parts {
        for (id, history) in summary::read_part(dir, &manifest, index, model).unwrap() {
            users.insert(id, history.to_parts());
        }
    }
    users
}

/// Two engines' summaries: the same users, each equal on every column, and
/// manifests that agree on everything but the files' bytes.
fn assert_same_summaries(spark: &Path, rust: &Path, model: &LifecycleModel) -> Manifest {
    let spark_users = histories(spark, model);
    let rust_users = histories(rust, model);
    assert_eq!(spark_users.len(), rust_users.len(), "users");
    let differ: Vec<&String> = rust_users
        .keys()
        .filter(|id| spark_users.get(*id) != rust_users.get(*id))
        .collect();
    if let Some(first) = differ.first() {
        panic!(
            "{} of {} users differ; {first}:\nspark {:?}\nrust  {:?}",
            differ.len(),
            rust_users.len(),
            spark_users.get(*first),
            rust_users.get(*first)
        );
    }
    let spark_manifest = summary::read_manifest(spark).unwrap();
    let rust_manifest = summary::read_manifest(rust).unwrap();
    let without_files = |manifest: &Manifest| Manifest {
        part_files: Vec::new(),
        ..manifest.clone()
    };
    assert_eq!(
        without_files(&spark_manifest),
        without_files(&rust_manifest)
    );
    let users_per_part = |manifest: &Manifest| -> Vec<u64> {
        manifest.part_files.iter().map(|file| file.users).collect()
    };
    assert_eq!(
        users_per_part(&spark_manifest),
        users_per_part(&rust_manifest)
    );
    spark_manifest
}

/// A generated retail log as CSV, with [`MALFORMED`] and [`UNUSUAL`] rows
/// spread through it.
fn events_csv(dir: &Path) -> PathBuf {
    let generated = dir.join("generated.csv");
    succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--seed",
        "3",
        "--out",
        text(&generated),
    ]));
    let log = std::fs::read_to_string(&generated).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let extra: Vec<&str> = MALFORMED.iter().chain(UNUSUAL.iter()).copied().collect();
    let every = lines.len() / (extra.len() + 1);
    let path = dir.join("events.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    for (index, line) in lines.iter().enumerate() {
        writeln!(file, "{line}").unwrap();
        if index > 0
            && index % every == 0
            && let Some(row) = extra.get(index / every - 1)
        {
            writeln!(file, "{row}").unwrap();
        }
    }
    path
}

fn write_parquet(path: &Path, events: impl Iterator<Item = Event>) -> PathBuf {
    let mut writer = EventWriter::create(path, Format::Parquet).unwrap();
    for event in events {
        writer.write(&event).unwrap();
    }
    writer.finish().unwrap();
    path.to_owned()
}

#[tokio::test]
async fn spark_summaries_fit_and_apply_to_what_one_recompute_serves() {
    let Some(python) = spark_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let events = events_csv(dir.path());
    let model = LifecycleModel::preset("retail").unwrap();

    // One Spark session over the log; the in-process engine over the same.
    let spark = dir.path().join("spark");
    let output = spark_summarize(
        python,
        &[
            "--events",
            text(&events),
            "--out",
            text(&spark),
            "--parts",
            "3",
            "--as-of",
            AS_OF,
        ],
    );
    let printed = succeeded(output);
    let report: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(report["bad_rows"], MALFORMED.len(), "{printed}");
    assert_eq!(report["ignored_after_as_of"], 1, "{printed}");
    let rust = dir.path().join("rust");
    succeeded(strata(&[
        "summarize",
        "--events",
        text(&events),
        "--out",
        text(&rust),
        "--parts",
        "3",
        "--as-of",
        AS_OF,
    ]));
    let manifest = assert_same_summaries(&spark, &rust, &model);
    assert_eq!(manifest.input.bad_rows, MALFORMED.len() as u64);
    assert!(manifest.users > USERS / 2, "{} users", manifest.users);

    // Over a smaller budget, both refuse the same count and write nothing.
    let refused = format!(
        "{} of {} rows are bad",
        MALFORMED.len(),
        manifest.input.rows
    );
    let budget = ["--max-bad-fraction", "0.00001", "--as-of", AS_OF];
    let over = |out: &Path| {
        let mut args = vec!["--events", text(&events), "--out", text(out)];
        args.extend_from_slice(&budget);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let spark_over = dir.path().join("spark-over");
    let args = over(&spark_over);
    let output = spark_summarize(python, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let rust_over = dir.path().join("rust-over");
    let mut args = vec!["summarize".to_owned()];
    args.extend(over(&rust_over));
    let rust_output = strata(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for (engine, output, out) in [
        ("spark", output, &spark_over),
        ("strata", rust_output, &rust_over),
    ] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{engine} accepted the rows");
        assert!(stderr.contains(&refused), "{engine}: {stderr}");
        assert!(!out.exists(), "{engine} wrote {}", out.display());
    }

    // fit once from Spark's summaries, apply on three workers.
    let model_file = dir.path().join("model.json");
    succeeded(strata(&[
        "fit",
        "--summaries",
        text(&spark),
        "--as-of",
        AS_OF,
        "--model-out",
        text(&model_file),
    ]));
    let applied = Server::start(&dir.path().join("applied-db"), None);
    let state = dir.path().join("applied.state.jsonl");
    let workers: Vec<_> = (0..3)
        .map(|index| {
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(["recompute", "--summaries", text(&spark)])
                .args(["--model-file", text(&model_file)])
                .args(["--partition", &format!("{index}/3")])
                .args(["--push", &applied.endpoint(), "--state", text(&state)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for worker in workers {
        succeeded(worker.wait_with_output().unwrap());
    }

    // One in-process recompute of the same events, to another server.
    let plain = Server::start(&dir.path().join("plain-db"), None);
    let output = succeeded(strata(&[
        "recompute",
        "--events",
        text(&events),
        "--as-of",
        AS_OF,
        "--push",
        &plain.endpoint(),
        "--state",
        text(&dir.path().join("plain.state.jsonl")),
    ]));
    assert!(
        output.contains(&format!("{} bad rows", MALFORMED.len())),
        "{output}"
    );

    let from_spark = applied.served_bytes(USERS).await;
    let from_plain = plain.served_bytes(USERS).await;
    let known = from_plain
        .values()
        .filter(|profile| profile.is_some())
        .count();
    assert!(known as u64 > USERS / 2, "{known} users served");
    let differ: Vec<&String> = from_plain
        .keys()
        .filter(|id| from_plain.get(*id) != from_spark.get(*id))
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} profiles differ, first {:?}",
        differ.len(),
        from_plain.len(),
        differ.first()
    );
}

#[test]
fn a_day_merged_by_spark_equals_one_summarize_over_every_day() {
    let Some(python) = spark_python() else {
        return;
    };
    // sns tracks windowed series, pruned against the newest day: Spark's
    // copy of the model's series and its merge must prune exactly alike.
    let model = LifecycleModel::preset("sns").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    generate::generate(&GenConfig::new(1_200, 200, 5, Preset::Sns), |event| {
        events.push(event.clone());
    });
    let (before, last_day): (Vec<Event>, Vec<Event>) = events
        .into_iter()
        .partition(|event| event.at <= PREVIOUS_AS_OF_MS);
    assert!(!last_day.is_empty() && !before.is_empty());
    let old_days = write_parquet(&dir.path().join("days.parquet"), before.into_iter());
    let new_day = write_parquet(&dir.path().join("last-day.parquet"), last_day.into_iter());

    let previous = dir.path().join("previous");
    succeeded(strata(&[
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
    ]));
    let merged = dir.path().join("merged");
    succeeded(spark_summarize(
        python,
        &[
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
        ],
    ));
    let full = dir.path().join("full");
    succeeded(strata(&[
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
    ]));
    let merged_manifest = summary::read_manifest(&merged).unwrap();
    assert_eq!(merged_manifest.runs.len(), 2);
    let full_manifest = summary::read_manifest(&full).unwrap();
    assert_eq!(merged_manifest.input.events, full_manifest.input.events);
    let merged_users = histories(&merged, &model);
    let full_users = histories(&full, &model);
    assert_eq!(merged_users.len(), full_users.len());
    let differ: Vec<&String> = full_users
        .keys()
        .filter(|id| merged_users.get(*id) != full_users.get(*id))
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} users differ, first {:?}",
        differ.len(),
        full_users.len(),
        differ.first()
    );
}
