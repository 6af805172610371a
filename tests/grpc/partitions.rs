//! One fit, any number of workers: `strata fit` writes the model file once,
//! then `strata recompute --model-file` applies it with 1, 3 and 8
//! partitions, each set of workers pushing to its own server (real
//! `strata serve`, RocksDB on disk). Every profile read back through
//! BatchGetProfiles is byte-identical (encoded, `computed_at` cleared)
//! whatever the number of partitions, and identical to a plain
//! `strata recompute` that fits and applies in one process. Also: a model
//! file for another run, or a damaged one, is refused with the reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use prost::Message;

use crate::support::{Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
/// Enough users that every model is fitted, and a seed on which the offer
/// policy serves benefits and the fairness rule repairs some groups (the
/// test checks both, so it cannot pass vacuously).
const USERS: u64 = 25_000;
const SEED: &str = "4";

fn fit(events: &Path, model: &Path) -> String {
    succeeded(strata(&[
        "fit",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--model-out",
        model.to_str().unwrap(),
    ]))
}

fn recompute_args(events: &Path, endpoint: &str, state: &Path) -> Vec<String> {
    [
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--push",
        endpoint,
        "--state",
        state.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// `count` workers applying `model` at once, pushing to `server`.
fn apply_partitioned(events: &Path, model: &Path, server: &Server, state: &Path, count: u32) {
    let workers: Vec<_> = (0..count)
        .map(|index| {
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(recompute_args(events, &server.endpoint(), state))
                .args(["--model-file", model.to_str().unwrap()])
                .args(["--partition", &format!("{index}/{count}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for worker in workers {
        succeeded(worker.wait_with_output().unwrap());
    }
}

/// Users whose bytes differ between two servers' profiles, and who is on
/// one side only.
fn differences(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .filter(|id| a.get(*id) != b.get(*id))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn partitions_applying_one_model_file_serve_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--seed",
        SEED,
        "--out",
        events.to_str().unwrap(),
    ]));
    let model = dir.path().join("model.json");
    let printed = fit(&events, &model);
    assert!(
        printed.contains(&format!("users      {USERS} (")),
        "{printed}"
    );
    assert!(printed.contains("BG/NBD       r "), "{printed}");
    assert!(printed.contains("propensity   holdout AUC 0."), "{printed}");

    // The model file is readable JSON holding the population-wide models,
    // and on this data the served policy offers benefits and the fairness
    // rule repaired groups: the per-user repair is exercised.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(file["format"], 1);
    assert_eq!(file["window"]["users"], USERS);
    for section in ["value", "quadrant", "decisions", "offers", "report"] {
        assert!(!file[section].is_null(), "model file has no {section}");
    }
    assert!(!file["decisions"]["bg_nbd"].is_null());
    assert!(!file["decisions"]["propensity"].is_null());
    assert!(!file["decisions"]["channel"].is_null());
    assert!(file["offers"]["policy"].get("no_offer").is_none());
    let repairs = file["offers"]["repairs"].as_array().unwrap().len();
    assert!(repairs > 0, "the fairness rule repaired no group");

    let mut reference: Option<BTreeMap<String, Vec<u8>>> = None;
    for count in [1u32, 3, 8] {
        let server = Server::start(&dir.path().join(format!("db-{count}")), None);
        let state = dir.path().join(format!("state-{count}.jsonl"));
        apply_partitioned(&events, &model, &server, &state, count);
        let profiles = server.known_bytes(USERS).await;
        assert_eq!(profiles.len() as u64, USERS, "{count} partitions");
        match &reference {
            None => reference = Some(profiles),
            Some(reference) => {
                let differ = differences(reference, &profiles);
                assert!(
                    differ.is_empty(),
                    "{count} partitions: {} users differ from one, e.g. {:?}",
                    differ.len(),
                    &differ[..differ.len().min(5)]
                );
            }
        }
    }
    let reference = reference.unwrap();
    let forced = reference
        .values()
        .map(|bytes| strata_proto::v1::Profile::decode(bytes.as_slice()).unwrap())
        .filter(|profile| profile.benefits.iter().any(|b| b.fairness_required))
        .count();
    assert!(
        forced > 0,
        "no served benefit is one the fairness rule forced"
    );

    // A plain recompute (fit and apply in one process) serves the same.
    let server = Server::start(&dir.path().join("db-plain"), None);
    succeeded(strata(
        &recompute_args(&events, &server.endpoint(), &dir.path().join("plain.jsonl"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    let plain = server.known_bytes(USERS).await;
    let differ = differences(&reference, &plain);
    assert!(
        differ.is_empty(),
        "plain recompute: {} users differ, e.g. {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );

    // Refusals: each names what differs and what to do.
    let refused = |extra: &[&str], model: &Path| {
        let mut args = vec![
            "recompute".to_owned(),
            "--events".into(),
            events.to_str().unwrap().into(),
            "--model-file".into(),
            model.to_str().unwrap().into(),
        ];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let output = strata(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!output.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(&["--as-of", "2024-12-01T00:00:00Z"], &model);
    assert!(
        stderr.contains("fitted with as-of 2025-01-01T00:00:00.000Z")
            && stderr.contains("run with --as-of 2025-01-01T00:00:00.000Z"),
        "{stderr}"
    );
    let stderr = refused(&["--as-of", AS_OF, "--preset", "saas"], &model);
    assert!(
        stderr.contains("fitted with preset retail") && stderr.contains("--preset retail"),
        "{stderr}"
    );
    let config = dir.path().join("models.toml");
    std::fs::write(&config, "[economics]\nmargin_rate = 0.5\n").unwrap();
    let stderr = refused(
        &["--as-of", AS_OF, "--config", config.to_str().unwrap()],
        &model,
    );
    assert!(
        stderr.contains("[models] config") && stderr.contains("--config"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&model).unwrap();
    let other_format = dir.path().join("other-format.json");
    std::fs::write(
        &other_format,
        text.replacen("\"format\": 1,", "\"format\": 99,", 1),
    )
    .unwrap();
    let stderr = refused(&["--as-of", AS_OF], &other_format);
    assert!(
        stderr.contains("is format Some(99)") && stderr.contains("strata fit"),
        "{stderr}"
    );
    let mut damaged: serde_json::Value = serde_json::from_str(&text).unwrap();
    damaged["decisions"]["bg_nbd"]
        .as_object_mut()
        .unwrap()
        .remove("a");
    let missing = dir.path().join("missing.json");
    std::fs::write(&missing, serde_json::to_string_pretty(&damaged).unwrap()).unwrap();
    let stderr = refused(&["--as-of", AS_OF], &missing);
    assert!(stderr.contains("missing field `a`"), "{stderr}");
    let not_a_number = dir.path().join("nan.json");
    std::fs::write(
        &not_a_number,
        text.replacen("\"r\": ", "\"r\": NaN, \"was\": ", 1),
    )
    .unwrap();
    let stderr = refused(&["--as-of", AS_OF], &not_a_number);
    assert!(stderr.contains("nan.json"), "{stderr}");
    let stderr = refused(&["--as-of", AS_OF], &dir.path().join("absent.json"));
    assert!(stderr.contains("absent.json"), "{stderr}");
    // `strata apply` is recompute with a model file, required.
    let output = strata(&[
        "apply",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--model-file"));
}

#[test]
fn a_fit_uses_its_presets_catalogue_and_refuses_a_population_of_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("wealth.csv");
    succeeded(strata(&[
        "gen",
        "--preset",
        "wealth",
        "--users",
        "3000",
        "--seed",
        "1",
        "--out",
        events.to_str().unwrap(),
    ]));
    // The fit learns over the wealth catalogue, as the applying recompute
    // does, so the model file applies and serves wealth benefits.
    let model = dir.path().join("wealth.json");
    let events_arg = events.to_str().unwrap();
    let model_arg = model.to_str().unwrap();
    succeeded(strata(&[
        "fit",
        "--preset",
        "wealth",
        "--events",
        events_arg,
        "--as-of",
        AS_OF,
        "--model-out",
        model_arg,
    ]));
    let snapshot = dir.path().join("wealth.snapshot");
    succeeded(strata(&[
        "recompute",
        "--preset",
        "wealth",
        "--events",
        events_arg,
        "--as-of",
        AS_OF,
        "--model-file",
        model_arg,
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--state",
        dir.path().join("wealth.state.jsonl").to_str().unwrap(),
    ]));
    let mut benefits = std::collections::BTreeSet::new();
    strata_snapshot::read_snapshot(&snapshot, |profile| {
        benefits.extend(profile.benefits.into_iter().map(|b| b.benefit_id));
    })
    .unwrap();
    assert!(!benefits.is_empty(), "the applied model served no benefit");
    assert!(
        benefits
            .iter()
            .all(|id| id == "fee-waiver" || id == "bonus-yield"),
        "not the wealth catalogue: {benefits:?}"
    );

    // Every event after --as-of: no user, so no model file to apply to everyone.
    let nobody = dir.path().join("nobody.json");
    let output = strata(&[
        "fit",
        "--preset",
        "wealth",
        "--events",
        events_arg,
        "--as-of",
        "1971-01-01T00:00:00Z",
        "--model-out",
        nobody.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("no model file was written"), "{stderr}");
    assert!(!nobody.exists());
}
