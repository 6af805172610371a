//! Partitioned recompute (`strata recompute --partition i/N`): N workers, run
//! at the same time against one real server, deliver every user exactly once
//! and agree with a single unpartitioned run; a partition deletes only users
//! it owns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use strata_events::generate;
use strata_job::partition::partition_of;
use strata_proto::v1::Profile;

use crate::support::{Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const USERS: u64 = 3_000;
const PARTITIONS: u32 = 3;

fn gen_events(out: &Path, users: u64) {
    succeeded(strata(&[
        "gen",
        "--users",
        &users.to_string(),
        "--seed",
        "11",
        "--out",
        out.to_str().unwrap(),
    ]));
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

/// Every generated user's served profile (None when the server has none).
async fn served(server: &Server, users: u64) -> BTreeMap<String, Option<Profile>> {
    let ids: Vec<String> = (0..users).map(generate::user_id).collect();
    let mut profiles = BTreeMap::new();
    for chunk in ids.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (id, profile) in chunk.iter().zip(server.lookup(&refs).await) {
            profiles.insert(id.clone(), profile);
        }
    }
    profiles
}

/// The user ids in a state file (JSON Lines: a header, then `{"u": id, ...}`).
fn state_users(path: &Path) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["u"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Share of users (among those present on both sides) on which `field` agrees.
fn agreement<T: PartialEq>(
    whole: &BTreeMap<String, Option<Profile>>,
    split: &BTreeMap<String, Option<Profile>>,
    field: impl Fn(&Profile) -> T,
) -> f64 {
    let mut same = 0usize;
    let mut total = 0usize;
    for (id, profile) in whole {
        if let (Some(a), Some(Some(b))) = (profile, split.get(id)) {
            total += 1;
            same += usize::from(field(a) == field(b));
        }
    }
    same as f64 / total as f64
}

#[tokio::test]
async fn partitions_deliver_every_user_once_and_agree_with_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    gen_events(&events, USERS);

    // The reference: one unpartitioned run into its own server.
    let whole_server = Server::start(&dir.path().join("whole-db"), None);
    succeeded(strata(
        &recompute_args(
            &events,
            &whole_server.endpoint(),
            &dir.path().join("whole.jsonl"),
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    ));

    // Three workers at once, one state path given to all of them (as an
    // Indexed Job's pods would share a template): each keeps its own files.
    let server = Server::start(&dir.path().join("split-db"), None);
    let state = dir.path().join("split.jsonl");
    let workers: Vec<_> = (0..PARTITIONS)
        .map(|index| {
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(recompute_args(&events, &server.endpoint(), &state))
                .args(["--partition", &format!("{index}/{PARTITIONS}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<String> = workers
        .into_iter()
        .map(|worker| succeeded(worker.wait_with_output().unwrap()))
        .collect();
    for (index, output) in outputs.iter().enumerate() {
        assert!(
            output.contains(&format!("partition  {index}/{PARTITIONS}")),
            "{output}"
        );
    }

    // Disjoint and covering: each worker's state holds exactly the users
    // that hash to it, and together they are everyone.
    let mut everyone = BTreeSet::new();
    for index in 0..PARTITIONS {
        let tag = format!("p{index}of{PARTITIONS}");
        let users = state_users(&dir.path().join(format!("split.{tag}.jsonl")));
        assert!(!users.is_empty(), "{tag} delivered nobody");
        for user in &users {
            assert_eq!(partition_of(user, PARTITIONS), index, "{user} in {tag}");
            assert!(everyone.insert(user.clone()), "{user} in two partitions");
        }
        assert_eq!(
            server.applied(&format!("recompute-retail-{tag}")).await,
            (users.len() as u64).div_ceil(1000),
            "{tag} pushed as its own producer, 1000 profiles per batch"
        );
    }
    assert_eq!(everyone, state_users(&dir.path().join("whole.jsonl")));
    assert!(!state.exists(), "no worker wrote the shared name");
    assert_eq!(server.applied("recompute-retail").await, 0);

    let whole = served(&whole_server, USERS).await;
    let split = served(&server, USERS).await;
    let present = |profiles: &BTreeMap<String, Option<Profile>>| -> BTreeSet<String> {
        profiles
            .iter()
            .filter(|(_, profile)| profile.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    };
    assert_eq!(present(&split), present(&whole));
    assert_eq!(present(&split), everyone);

    // Per-user rules see only the user's own events: identical.
    assert_eq!(
        agreement(&whole, &split, |profile| profile.lifecycle.clone()),
        1.0,
        "lifecycle layers differ"
    );
    assert_eq!(
        agreement(&whole, &split, |profile| profile.quadrant.as_ref().map(
            |quadrant| (quadrant.loyalty_score, quadrant.satisfaction_score)
        )),
        1.0,
        "loyalty and satisfaction scores differ"
    );
    // Population fits (RFM quintiles, medians, BG/NBD, propensity, uplift)
    // are fitted per partition on a 1/N hash sample of the users: the same
    // estimates up to sampling noise, so most users get the same answers.
    let tier = agreement(&whole, &split, |profile| {
        profile.value_tier.as_ref().map(|tier| tier.tier)
    });
    let quadrant = agreement(&whole, &split, |profile| {
        profile.quadrant.as_ref().map(|quadrant| quadrant.kind)
    });
    let channel = agreement(&whole, &split, |profile| {
        profile.contact_channel.as_ref().map(|channel| channel.best)
    });
    let first_benefit = agreement(&whole, &split, |profile| {
        profile
            .benefits
            .first()
            .map(|benefit| benefit.benefit_id.clone())
    });
    let value_close = agreement(&whole, &split, |profile| {
        profile
            .lifetime_value
            .as_ref()
            .map(|value| (value.predicted_value / 10.0).round())
    });
    println!(
        "agreement with one run: tier {tier:.3}, quadrant {quadrant:.3}, channel {channel:.3}, \
         first benefit {first_benefit:.3}, lifetime value within 10 {value_close:.3}"
    );
    assert!(tier > 0.9, "value tier agrees on {tier}");
    assert!(quadrant > 0.9, "quadrant agrees on {quadrant}");
    assert!(channel > 0.9, "best channel agrees on {channel}");
}

#[tokio::test]
async fn a_partition_deletes_only_users_it_owns() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    gen_events(&events, USERS);
    let server = Server::start(&dir.path().join("db"), None);
    let state = dir.path().join("state.jsonl");
    let endpoint = server.endpoint();
    let run = |events: &Path, index: u32, extra: &[&str]| {
        let mut args = recompute_args(events, &endpoint, &state);
        args.extend(["--partition".into(), format!("{index}/{PARTITIONS}")]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        succeeded(strata(&args.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    for index in 0..PARTITIONS {
        run(&events, index, &[]);
    }
    let unchanged = run(&events, 1, &[]);
    assert!(unchanged.contains("delivery   0 changed"), "{unchanged}");

    // Partition 1 reruns on a log where the last third of the users are
    // gone, with --delete-missing: it erases its own departed users only
    // (a third of them: above the guard's default share, so raised).
    let fewer = dir.path().join("fewer.parquet");
    gen_events(&fewer, 2_000);
    run(
        &fewer,
        1,
        &["--delete-missing", "--max-delete-fraction", "0.4"],
    );
    let profiles = served(&server, USERS).await;
    let mut erased = 0;
    for (id, profile) in &profiles {
        let index: u64 = id[1..].parse().unwrap();
        let owner = partition_of(id, PARTITIONS);
        if index >= 2_000 && owner == 1 {
            assert!(profile.is_none(), "{id} left partition 1's log");
            erased += 1;
        } else {
            assert!(profile.is_some(), "{id} (partition {owner}) was erased");
        }
    }
    assert!(erased > 200, "{erased} erased");
}

#[test]
fn a_bad_partition_is_refused_with_the_reason() {
    for (partition, reason) in [
        (
            "3/3",
            "partition index 3 is out of range for 3 partitions (0 to 2)",
        ),
        ("0/0", "partition count must be between 1 and"),
        ("two/3", "is not i/N"),
    ] {
        let output = strata(&[
            "recompute",
            "--events",
            "nowhere.csv",
            "--as-of",
            AS_OF,
            "--partition",
            partition,
        ]);
        assert!(!output.status.success(), "{partition}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(reason), "{partition}: {stderr}");
    }
}
