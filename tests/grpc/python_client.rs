//! The Python client (clients/python, the `strata-client` package on
//! grpcio) against a real server, installed as a user installs it: a fresh
//! venv, `pip install ./clients/python` (no code generation: the generated
//! code is checked in), then the package and example.py run from it. Also:
//! the checked-in code is what proto/ generates today. `./dev test` installs
//! clients/python/requirements.txt (grpcio-tools, for that comparison); the
//! venv gets the package's dependencies from PyPI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use strata_proto::v1::{
    Arm, CampaignArm, Channel, ChannelScore, ContactChannel, LifetimeValue, Profile, Quadrant,
    QuadrantKind, SendTime, Tag,
};

use crate::support::{Server, batch, benefit, profile, strata, succeeded, timestamp};

const TOKEN: &str = "python-secret-5e2b8d0c4a7f1936";

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python")
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every file under `dir`, as (path relative to `dir`, bytes), sorted.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "__pycache__" {
                    pending.push(path);
                }
            } else {
                let relative = path.strip_prefix(dir).unwrap().to_path_buf();
                found.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

/// generate.sh into a temporary folder gives exactly the checked-in
/// strata/ package: after a change to proto/, this fails until the code is
/// regenerated (clients/python/generate.sh).
#[test]
fn the_checked_in_python_code_is_what_proto_generates() {
    let dir = tempfile::tempdir().unwrap();
    run(
        Command::new("bash")
            .arg(package_dir().join("generate.sh"))
            .arg(dir.path()),
        "generate.sh (pip install -r clients/python/requirements.txt)",
    );
    let fresh = files(&dir.path().join("strata"));
    let checked_in = files(&package_dir().join("strata"));
    let names = |files: &[(PathBuf, Vec<u8>)]| -> Vec<PathBuf> {
        files.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(
        names(&checked_in),
        names(&fresh),
        "run clients/python/generate.sh"
    );
    for ((name, ours), (_, theirs)) in checked_in.iter().zip(&fresh) {
        assert!(
            ours == theirs,
            "clients/python/strata/{} is stale: run clients/python/generate.sh",
            name.display()
        );
    }
}

/// A fresh venv with the package installed from a copy of clients/python
/// (pip builds in the source folder; the copy keeps the tree clean and
/// tests apart). Returns the venv's python.
fn install_in_fresh_venv(dir: &Path) -> PathBuf {
    let source = dir.join("clients-python");
    std::fs::create_dir_all(&source).unwrap();
    for (name, bytes) in files(&package_dir()) {
        let top = name.components().next().unwrap().as_os_str().to_owned();
        if top == "build" || top.to_string_lossy().ends_with(".egg-info") {
            continue;
        }
        let target = source.join(&name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
    let venv = dir.join("venv");
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    let python = venv.join("bin/python");
    // Bounded: a stuck index must not hang the suite.
    run(
        Command::new("timeout")
            .arg("600")
            .arg(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(&source),
        "pip install ./clients/python into a fresh venv",
    );
    python
}

/// What the Python script below saw, as JSON.
const SCRIPT: &str = r#"
import json, sys
import grpc
from google.protobuf import json_format
from strata_client import StrataClient, field_path, profile_pb2, profile_service_pb2

target, token, backup_dir = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {}
with StrataClient(target, token=token) as strata:
    seen["repr_has_token"] = token in repr(strata)
    seen["health"] = strata.health()
    seen["health_profiles"] = strata.health("strata.v1.ProfileService")
    seen["state_before"] = strata.ingest_state("py")
    alice = profile_pb2.Profile(user_id="alice", model_version="py-1")
    alice.lifecycle.layer = "growth"
    alice.value_tier.tier = profile_pb2.TIER_HIGH
    for benefit_id, profit in (("shipping", 2.0), ("coupon", 5.0)):
        alice.benefits.add(benefit_id=benefit_id, kind=profile_pb2.BENEFIT_KIND_COUPON,
                           face_value=500, currency="EUR", expected_incremental_profit=profit)
    bob = profile_pb2.Profile(user_id="bob", model_version="py-1")
    bob.lifecycle.layer = "new"
    applied = strata.upsert("py", 1, [alice, bob])
    seen["applied"] = [applied.last_applied_sequence, applied.upserts]
    replay = strata.upsert("py", 1, [alice, bob])
    seen["replayed"] = replay.batches_replayed
    seen["state_after"] = strata.ingest_state("py")

    for name, fields in (("camel", ["lifecycle", "valueTier"]), ("snake", ["lifecycle", "value_tier"])):
        answer = strata.batch_get(["bob", "nobody", "alice"], fields)
        seen[name] = json_format.MessageToDict(answer)
    try:
        strata.batch_get(["alice"], ["ValueTier"])
    except grpc.RpcError as error:
        seen["bad_field"] = [error.code().name, error.details()]

    offers = strata.get_offers("alice", surface="checkout", cart_value=4990, currency="EUR")
    seen["offers"] = [offer.benefit_id for offer in offers.offers]
    seen["unexplained"] = offers.HasField("explanation")
    explained = strata.get_offers("alice", surface="checkout", cart_value=4990, currency="USD",
                                  explain=True)
    seen["explained"] = [[entry.benefit.benefit_id, profile_service_pb2.OfferVerdict.Name(entry.verdict)]
                         for entry in explained.explanation.benefits]
    seen["cold_start"] = strata.get_offers("nobody").cold_start
    try:
        strata.get_offers("alice", surface="checkout", cart_value=4990)
    except grpc.RpcError as error:
        seen["refused"] = [error.code().name, error.details()]

    # The canonical proto3 JSON of a profile with every field set.
    carol = strata.batch_get(["carol"]).results[0]
    seen["carol"] = json_format.MessageToDict(carol)

    seen["versions"] = [version.model_version for version in strata.versions() if version.current]
    seen["stats_users"] = strata.stats().users
    seen["backup_producers"] = {p.producer_id: p.last_applied_sequence
                                for p in strata.create_backup(backup_dir).producers}
seen["field_paths"] = [field_path(name) for name in ("valueTier", "value_tier", "lastPurchaseAt")]
with StrataClient(f"http://{target}", token=token) as by_url:
    seen["health_by_url"] = by_url.health()
try:
    StrataClient(f"http://{target}", root_certificates=b"unused")
except ValueError:
    seen["http_with_certificates"] = "refused"
print(json.dumps(seen))
"#;

/// Carol has every Profile field set, timestamps with and without nanos.
fn carol() -> Profile {
    let mut shipping = benefit("shipping", 1.25);
    shipping.kind = 4;
    shipping.minimum_spend = 2_000;
    shipping.valid_from = timestamp(1_735_689_600);
    shipping.valid_until = Some(prost_types::Timestamp {
        seconds: 1_738_368_000,
        nanos: 500_000_000,
    });
    shipping.fairness_required = true;
    Profile {
        lifetime_value: Some(LifetimeValue {
            predicted_value: 123.5,
            probability_alive: 0.875,
            expected_purchases: 2.25,
            horizon_days: 90,
            currency: "EUR".into(),
        }),
        quadrant: Some(Quadrant {
            kind: QuadrantKind::Angel as i32,
            loyalty_score: 0.75,
            satisfaction_score: Some(0.0),
        }),
        contact_channel: Some(ContactChannel {
            best: Channel::Email as i32,
            scores: vec![
                ChannelScore {
                    channel: Channel::Email as i32,
                    score: 0.5,
                    sends: 6,
                    responses: 3,
                },
                ChannelScore {
                    channel: Channel::AppPush as i32,
                    score: 0.125,
                    sends: 0,
                    responses: 0,
                },
            ],
            frequency_capped: false,
            not_enough_data: true,
        }),
        benefits: vec![benefit("coupon", 3.0), shipping],
        computed_at: Some(prost_types::Timestamp {
            seconds: 1_735_689_600,
            nanos: 123_456_789,
        }),
        tags: vec![Tag {
            key: "region".into(),
            values: vec!["eu".into(), "north".into()],
        }],
        campaigns: vec![CampaignArm {
            campaign_id: "spring".into(),
            arm: Arm::Treatment as i32,
            benefit_id: "coupon".into(),
            channel: Channel::Sms as i32,
            start: timestamp(1_740_787_200),
            end: timestamp(1_743_465_600),
        }],
        last_purchase_at: timestamp(1_735_603_200),
        send_time: Some(SendTime {
            hour_of_week: 140,
            fallback: true,
            sends: 12,
            responses: 0,
            rate: 0.0625,
        }),
        ..profile("carol", 7)
    }
}

#[tokio::test]
async fn the_package_from_a_fresh_venv_covers_every_service() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"python\"\nsecret = \"{TOKEN}\"\nscopes = [\"read\", \"ingest\", \"admin\"]\n"
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("db"),
        Some(&format!("[auth]\ntokens_file = {tokens:?}\n")),
    );
    let python = install_in_fresh_venv(dir.path());
    // Carol goes in through the Rust client: Python reads her back.
    let channel = strata_client::Connection::new(server.endpoint())
        .with_token(TOKEN)
        .connect()
        .await
        .unwrap();
    strata_proto::v1::ingest_service_client::IngestServiceClient::new(channel)
        .apply_updates(tokio_stream::iter(vec![batch(
            "rust",
            1,
            vec![carol()],
            &[],
        )]))
        .await
        .unwrap();

    let script = dir.path().join("script.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let output = run(
        Command::new(&python)
            .arg(&script)
            .arg(server.grpc.to_string())
            .arg(TOKEN)
            .arg(dir.path().join("backup"))
            // From elsewhere than the checkout: the installed package is imported.
            .current_dir(dir.path()),
        "the Python script",
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(seen["repr_has_token"], false);
    assert_eq!(seen["health"], "SERVING");
    assert_eq!(seen["health_profiles"], "SERVING");
    assert_eq!(seen["health_by_url"], "SERVING");
    assert_eq!(seen["http_with_certificates"], "refused");
    assert_eq!(
        seen["field_paths"],
        serde_json::json!(["value_tier", "value_tier", "last_purchase_at"])
    );
    assert_eq!(seen["state_before"], 0);
    assert_eq!(seen["applied"], serde_json::json!([1, 2]));
    assert_eq!(seen["replayed"], 1);
    assert_eq!(seen["state_after"], 1);
    // The README's lowerCamelCase names and snake_case give the same answer.
    assert_eq!(seen["camel"], seen["snake"]);
    let results = seen["camel"]["results"].as_array().unwrap();
    let layers: Vec<Option<&str>> = results
        .iter()
        .map(|result| result["profile"]["lifecycle"]["layer"].as_str())
        .collect();
    assert_eq!(layers, [Some("new"), None, Some("growth")]);
    assert_eq!(results[2]["profile"]["valueTier"]["tier"], "TIER_HIGH");
    assert!(results[2]["profile"].get("benefits").is_none(), "masked");
    assert_eq!(seen["camel"]["missingIndices"], serde_json::json!([1]));
    assert_eq!(seen["bad_field"][0], "INVALID_ARGUMENT");
    assert_eq!(seen["offers"], serde_json::json!(["coupon", "shipping"]));
    assert_eq!(seen["unexplained"], false);
    assert_eq!(
        seen["explained"],
        serde_json::json!([
            ["shipping", "OFFER_VERDICT_CURRENCY_MISMATCH"],
            ["coupon", "OFFER_VERDICT_CURRENCY_MISMATCH"]
        ])
    );
    assert_eq!(seen["cold_start"], true);
    assert_eq!(seen["refused"][0], "INVALID_ARGUMENT");
    assert!(
        seen["refused"][1].as_str().unwrap().contains("currency"),
        "{seen}"
    );
    // The first batch (carol, model version v7) named the new store's version.
    assert_eq!(seen["versions"], serde_json::json!(["v7"]));
    assert_eq!(seen["stats_users"], 3);
    assert_eq!(
        seen["backup_producers"],
        serde_json::json!({"py": 1, "rust": 1})
    );

    // `strata get --json` prints what protobuf's own JSON printer prints.
    let line = succeeded(strata(&[
        "get",
        "carol",
        "--json",
        "--target",
        &server.grpc.to_string(),
        "--token",
        TOKEN,
    ]));
    let ours: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ours, seen["carol"]);

    // example.py, run with the venv's python, README field names included.
    let example = |args: &[&str]| {
        Command::new(&python)
            .arg(package_dir().join("example.py"))
            .args(["--target", &server.grpc.to_string(), "--token", TOKEN])
            .args(args)
            .output()
            .unwrap()
    };
    let answer = example(&[
        "batch-get",
        "bob",
        "nobody",
        "alice",
        "--fields",
        "lifecycle,valueTier",
    ]);
    assert!(
        answer.status.success(),
        "{}",
        String::from_utf8_lossy(&answer.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(answer["missing_indices"], serde_json::json!([1]));
    assert_eq!(
        answer["results"][2]["profile"]["value_tier"]["tier"],
        "TIER_HIGH"
    );
    let refused = example(&["offers", "alice", "--checkout", "5000"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("INVALID_ARGUMENT: ") && stderr.contains("currency"),
        "{stderr}"
    );
}
