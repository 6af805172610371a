//! The Python client example (clients/python, grpcio) against a real server:
//! code generated from proto/ with grpcio-tools, then the example run as a
//! user runs it. `.ci/run` installs clients/python/requirements.txt.

use std::path::Path;
use std::process::{Command, Output};

use strata_proto::v1::Profile;

use crate::support::{Server, batch, benefit, profile, push};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs clients/python/generate.sh into `out`; panics with its output if
/// grpcio-tools is missing, so CI cannot pass without the Python client.
fn generate(out: &Path) {
    let output = Command::new("bash")
        .arg(repo().join("clients/python/generate.sh"))
        .arg(out)
        .output()
        .expect("run generate.sh");
    assert!(
        output.status.success(),
        "generating the Python stubs failed (pip install -r clients/python/requirements.txt):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn example(generated: &Path, args: &[&str]) -> Output {
    Command::new("python3")
        .arg(repo().join("clients/python/example.py"))
        .args(args)
        .env("PYTHONPATH", generated)
        .env_remove("STRATA_TOKEN")
        .output()
        .expect("run python3")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "example.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("example.py prints JSON")
}

#[tokio::test]
async fn python_reads_profiles_and_offers_and_sees_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    generate(&generated);
    let server = Server::start(&dir.path().join("db"), None);
    let with_offers = Profile {
        benefits: vec![benefit("shipping", 2.0), benefit("coupon", 5.0)],
        ..profile("alice", 3)
    };
    push(
        &mut server.ingest().await,
        vec![batch("py", 1, vec![with_offers, profile("bob", 4)], &[])],
    )
    .await
    .unwrap();
    let target = server.grpc.to_string();

    let answer = json(&example(
        &generated,
        &[
            "--target",
            &target,
            "batch-get",
            "bob",
            "nobody",
            "alice",
            "--fields",
            "lifecycle",
        ],
    ));
    let layers: Vec<Option<&str>> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["profile"]["lifecycle"]["layer"].as_str())
        .collect();
    assert_eq!(layers, [Some("layer-4"), None, Some("layer-3")]);
    assert_eq!(answer["missing_indices"], serde_json::json!([1]));
    // The field mask dropped everything but the lifecycle.
    assert!(answer["results"][2]["profile"].get("value_tier").is_none());

    let offers = json(&example(
        &generated,
        &["--target", &target, "offers", "alice"],
    ));
    let ids: Vec<&str> = offers["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|offer| offer["benefit_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["coupon", "shipping"], "best first");

    // Checkout without a currency is refused; Python sees the code and the message.
    let refused = example(
        &generated,
        &["--target", &target, "offers", "alice", "--checkout", "5000"],
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("INVALID_ARGUMENT: ") && stderr.contains("currency"),
        "{stderr}"
    );
}
