//! The tools a person reaches for first, as they run them: `strata get` and
//! `strata offers` (readable and `--json`) against a server that `strata
//! recompute --push host:port` filled, the README's field names
//! (lowerCamelCase) over plain gRPC and the CLI, and TLS mismatches
//! answered with what to change.

use std::path::Path;
use std::process::Output;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use strata_proto::v1::{BatchGetProfilesRequest, Profile};
use tonic::Code;

use crate::support::{Server, batch, benefit, profile, push, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const AS_OF_MILLIS: i64 = 1_735_689_600_000;
const DAY: i64 = 86_400_000;

/// Users with purchase histories that land in different layers and tiers.
const EVENTS: &[(&str, i64, &str)] = &[
    ("a-browser", 5, ""),
    ("b-new", 10, "20"),
    ("c-regular", 100, "10"),
    ("c-regular", 70, "10"),
    ("c-regular", 40, "15"),
    ("c-regular", 10, "10"),
];

/// Writes the events, runs `strata recompute --push HOST:PORT` (no scheme)
/// and returns its report.
fn recompute_into(server: &Server, dir: &Path) -> String {
    let mut text = String::from("user_id,timestamp,event_type,amount,currency\n");
    for (user, days_before, amount) in EVENTS {
        let at = AS_OF_MILLIS - days_before * DAY;
        let (kind, currency) = if amount.is_empty() {
            ("browse", "")
        } else {
            ("purchase", "EUR")
        };
        text.push_str(&format!("{user},{at},{kind},{amount},{currency}\n"));
    }
    let events = dir.join("events.csv");
    std::fs::write(&events, text).unwrap();
    succeeded(strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--push",
        &server.grpc.to_string(),
        "--state",
        dir.join("state.jsonl").to_str().unwrap(),
    ]))
}

/// `alice` with two benefits (coupon ahead of shipping by profit), pushed
/// by a producer of its own.
async fn push_alice(server: &Server) -> Profile {
    let alice = Profile {
        benefits: vec![benefit("shipping", 2.0), benefit("coupon", 5.0)],
        ..profile("alice", 3)
    };
    push(
        &mut server.ingest().await,
        vec![batch("lookup-test", 1, vec![alice.clone()], &[])],
    )
    .await
    .unwrap();
    alice
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn recompute_pushes_to_a_bare_host_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let report = recompute_into(&server, dir.path());
    assert!(report.contains("3 changed"), "{report}");
    let found = server.lookup(&["a-browser", "b-new", "c-regular"]).await;
    assert!(found.iter().all(Option::is_some), "{found:?}");
}

#[tokio::test]
async fn get_prints_a_block_per_user_and_json_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    recompute_into(&server, dir.path());
    let target = server.grpc.to_string();
    let ids = ["c-regular", "nobody", "b-new"];
    let expected = server.lookup(&ids).await;

    // Readable: a block per user in request order, the unknown one said so;
    // exit 3 because one user is unknown.
    let readable = strata(&["get", "c-regular", "nobody", "b-new", "--target", &target]);
    assert_eq!(readable.status.code(), Some(3), "{}", stderr(&readable));
    assert!(stderr(&readable).contains("not found: nobody"));
    let text = stdout(&readable);
    let blocks: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{text}");
    for ((id, block), profile) in ids.iter().zip(&blocks).zip(&expected) {
        let Some(profile) = profile else {
            assert_eq!(block.trim(), format!("{id}: not found"));
            continue;
        };
        assert!(block.starts_with(&format!("{id}\n")), "{block}");
        let layer = &profile.lifecycle.as_ref().unwrap().layer;
        assert!(
            block.contains(&format!("\n  layer           {layer} (retail preset")),
            "{block}"
        );
        assert!(
            block.contains(&format!("\n  model version   {}", profile.model_version)),
            "{block}"
        );
    }
    // The regular buyer has a value tier; its segment is on the tier line.
    let tier = expected[0].as_ref().unwrap().value_tier.as_ref().unwrap();
    assert!(
        blocks[0].contains(&format!(
            "R{} F{} M{}, {})",
            tier.recency_score, tier.frequency_score, tier.monetary_score, tier.rfm_segment
        )),
        "{}",
        blocks[0]
    );

    // --json: one proto3 JSON object per user and line.
    let json = strata(&[
        "get",
        "c-regular",
        "nobody",
        "b-new",
        "--json",
        "--target",
        &target,
    ]);
    assert_eq!(json.status.code(), Some(3));
    let lines: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for ((id, line), profile) in ids.iter().zip(&lines).zip(&expected) {
        assert_eq!(line["userId"], *id);
        match profile {
            None => assert!(line.get("profile").is_none(), "{line}"),
            Some(profile) => {
                let wire = &line["profile"];
                assert_eq!(wire["userId"], *id);
                assert_eq!(wire["modelVersion"], profile.model_version.as_str());
                assert_eq!(
                    wire["lifecycle"]["layer"],
                    profile.lifecycle.as_ref().unwrap().layer.as_str()
                );
                assert!(wire.get("user_id").is_none(), "proto3 JSON names: {wire}");
            }
        }
    }

    // Everyone found: exit 0.
    succeeded(strata(&["get", "b-new", "--target", &target]));
}

#[tokio::test]
async fn offers_prints_the_benefits_best_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    push_alice(&server).await;
    let target = server.grpc.to_string();

    let readable = succeeded(strata(&[
        "offers",
        "alice",
        "--cart",
        "49.90",
        "--currency",
        "EUR",
        "--target",
        &target,
    ]));
    let lines: Vec<&str> = readable.lines().collect();
    assert_eq!(
        lines[0], "alice: 2 offers at checkout, cart 49.90 EUR, best first",
        "{readable}"
    );
    assert!(lines[1].starts_with("  1. coupon: "), "{readable}");
    assert!(lines[2].starts_with("  2. shipping: "), "{readable}");
    assert!(
        lines[1].ends_with("; expected profit 5.00 EUR"),
        "{readable}"
    );

    let json: serde_json::Value = serde_json::from_str(&succeeded(strata(&[
        "offers",
        "alice",
        "--surface",
        "push",
        "--at",
        AS_OF,
        "--json",
        "--target",
        &format!("http://{target}"),
    ])))
    .unwrap();
    let ids: Vec<&str> = json["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|offer| offer["benefitId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["coupon", "shipping"], "{json}");
    assert_eq!(json["offers"][0]["faceValue"], "500", "int64 as a string");
    assert!(json.get("coldStart").is_none(), "{json}");

    // An unknown user: said, exit 3, the cold-start offers still printed.
    let unknown = strata(&["offers", "nobody", "--target", &target]);
    assert_eq!(unknown.status.code(), Some(3), "{}", stderr(&unknown));
    assert!(
        stdout(&unknown).starts_with("nobody: not found; the cold-start offers"),
        "{}",
        stdout(&unknown)
    );
    let unknown_json = strata(&["offers", "nobody", "--json", "--target", &target]);
    assert_eq!(unknown_json.status.code(), Some(3));
    let answer: serde_json::Value = serde_json::from_slice(&unknown_json.stdout).unwrap();
    assert_eq!(answer["coldStart"], true, "{answer}");

    // Checkout without a cart: the server's refusal, by code and field.
    let refused = strata(&[
        "offers",
        "alice",
        "--surface",
        "checkout",
        "--target",
        &target,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(
        message.contains("INVALID_ARGUMENT") && message.contains("cart"),
        "{message}"
    );
}

/// The README's mask `lifecycle,valueTier` (lowerCamelCase, as proto3 JSON
/// and grpcurl write it) and the proto's snake_case both work, over raw
/// gRPC and through `strata get --fields`.
#[tokio::test]
async fn readme_field_names_work_over_grpc_and_in_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    push_alice(&server).await;
    let mut client = server.profiles().await;
    let masked = |paths: &[&str]| BatchGetProfilesRequest {
        user_ids: vec!["alice".into()],
        field_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|path| path.to_string()).collect(),
        }),
    };

    let camel = client
        .batch_get_profiles(masked(&["lifecycle", "valueTier"]))
        .await
        .unwrap()
        .into_inner();
    let snake = client
        .batch_get_profiles(masked(&["lifecycle", "value_tier"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(camel, snake);
    let kept = camel.results[0].profile.as_ref().unwrap();
    assert!(kept.lifecycle.is_some() && kept.value_tier.is_some());
    assert!(kept.benefits.is_empty() && kept.model_version.is_empty());
    // Any other spelling is still refused, naming the path and the choices.
    let refused = client
        .batch_get_profiles(masked(&["ValueTier"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("\"ValueTier\""), "{refused:?}");
    assert!(refused.message().contains("lowerCamelCase"), "{refused:?}");

    let target = server.grpc.to_string();
    for fields in ["lifecycle,valueTier", "lifecycle,value_tier"] {
        let line = succeeded(strata(&[
            "get", "alice", "--fields", fields, "--json", "--target", &target,
        ]));
        let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&String> = answer["profile"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["lifecycle", "valueTier"], "{fields}: {answer}");
        let readable = succeeded(strata(&[
            "get", "alice", "--fields", fields, "--target", &target,
        ]));
        let labels: Vec<&str> = readable
            .lines()
            .skip(1)
            .map(|line| line[2..18].trim_end())
            .collect();
        assert_eq!(labels, ["layer", "value tier"], "{readable}");
    }
}

/// A CA and a server certificate for 127.0.0.1, as PEM files; returns the
/// server's `[tls]` section and the CA file.
fn tls_files(dir: &Path) -> (String, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "strata lookup test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".into()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let certificate = params.signed_by(&key, &ca).unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_file = write("ca.pem", ca.pem());
    let config = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        write("server.pem", certificate.pem()),
        write("server.key", key.serialize_pem())
    );
    (config, ca_file)
}

#[tokio::test]
async fn a_tls_mismatch_says_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let (config, ca) = tls_files(&dir.path().join("pki"));
    let tls = Server::start(&dir.path().join("tls-db"), Some(&config));
    let plain = Server::start(&dir.path().join("plain-db"), None);
    let ca = ca.to_str().unwrap();

    // Plaintext to the TLS port: not "h2 protocol error", but the fix.
    let tls_target = tls.grpc.to_string();
    let refused = strata(&["get", "alice", "--target", &tls_target]);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(
        message.contains("the server speaks TLS")
            && message.contains(&format!("https://{tls_target}"))
            && message.contains("--tls-ca"),
        "{message}"
    );
    // host:port with --tls-ca is https://: the same call then works.
    let found = strata(&["get", "alice", "--target", &tls_target, "--tls-ca", ca]);
    assert_eq!(found.status.code(), Some(3), "{}", stderr(&found));
    assert_eq!(stdout(&found), "alice: not found\n");

    // The recompute job's push, plaintext to the TLS port, says it too.
    let events = dir.path().join("events.csv");
    std::fs::write(
        &events,
        format!("user_id,timestamp,event_type,amount,currency\nu1,{AS_OF_MILLIS},browse,,\n"),
    )
    .unwrap();
    let push = strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--push",
        &tls_target,
        "--state",
        dir.path().join("state.jsonl").to_str().unwrap(),
    ]);
    assert!(!push.status.success());
    let message = stderr(&push);
    assert!(
        message.contains("the server speaks TLS") && message.contains("--tls-ca"),
        "{message}"
    );

    // TLS to the plaintext port.
    let refused = strata(&[
        "offers",
        "alice",
        "--target",
        &format!("https://{}", plain.grpc),
        "--tls-ca",
        ca,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(
        message.contains("the server does not speak TLS")
            && message.contains(&format!("http://{}", plain.grpc))
            && message.contains("without --tls-ca"),
        "{message}"
    );
}
