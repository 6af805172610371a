//! Replicas fed over NATS JetStream: a real `nats-server` on loopback,
//! `strata recompute --publish` as the producer, and `strata serve` replicas
//! each followed by a `strata replicate` sidecar. Replicas converge to the
//! same data; a replica killed with SIGKILL (server and sidecar) catches up
//! after a restart; a publish that crashes midway resumes without putting any
//! batch in the stream twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_events::generate;
use strata_proto::v1::{GetIngestStateRequest, Profile};

use crate::support::{Server, spawn_nats, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const AS_OF_MILLIS: i64 = 1_735_689_600_000;
const PRODUCER: &str = "recompute-retail";
const STREAM: &str = "STRATA_UPDATES";

/// `nats-server` with JetStream, on a port it picks, stopped by pid on drop.
struct Nats {
    child: Child,
    url: String,
}

impl Nats {
    fn start(store_dir: &Path) -> Nats {
        let (child, address) = spawn_nats(
            // -p -1: the server picks a free port and logs it.
            Command::new("nats-server")
                .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
                .arg(store_dir),
        );
        Nats {
            child,
            url: format!("nats://{address}"),
        }
    }

    async fn stream(&self) -> async_nats::jetstream::stream::Stream {
        let client = async_nats::connect(&self.url).await.unwrap();
        async_nats::jetstream::new(client)
            .get_stream(STREAM)
            .await
            .unwrap()
    }

    /// (Strata-Sequence, producer) of every message in the stream, in order.
    async fn batches(&self) -> Vec<(u64, String)> {
        let mut stream = self.stream().await;
        let state = stream.info().await.unwrap().state.clone();
        let mut batches = Vec::new();
        for sequence in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(sequence).await.unwrap();
            let header = message.headers.get("Strata-Sequence").unwrap();
            let id = message.headers.get("Nats-Msg-Id").unwrap().as_str();
            let (producer, numbered) = id.rsplit_once('/').unwrap();
            assert_eq!(numbered, header.as_str(), "Nats-Msg-Id {id}");
            batches.push((header.as_str().parse().unwrap(), producer.to_owned()));
        }
        batches
    }

    /// The producer's last published sequence.
    async fn last_sequence(&self) -> u64 {
        self.batches()
            .await
            .iter()
            .filter(|(_, producer)| producer == PRODUCER)
            .map(|(sequence, _)| *sequence)
            .max()
            .unwrap_or(0)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `strata replicate` following the stream into one server, stopped by pid
/// on drop.
struct Sidecar {
    child: Option<Child>,
    log: PathBuf,
}

impl Sidecar {
    fn start(nats: &Nats, consumer: &str, server: &Server, log: PathBuf) -> Sidecar {
        let child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["replicate", "--nats", &nats.url, "--consumer", consumer])
            .args(["--target", &server.endpoint()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Sidecar {
            child: Some(child),
            log,
        }
    }

    fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until every replica has applied the producer's batches up to
/// `sequence`. The deadline only turns a hang into a failure with the logs.
async fn wait_applied(replicas: &[(&Server, &Sidecar)], sequence: u64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    for (server, sidecar) in replicas {
        while server.applied(PRODUCER).await < sequence {
            assert!(
                Instant::now() < deadline,
                "replica at {} did not reach sequence {sequence}\nsidecar log:\n{}\nserver log:\n{}",
                server.endpoint(),
                sidecar.log(),
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every generated user's served profile, and the producer's ingest state.
async fn served(server: &Server, users: u64) -> (BTreeMap<String, Option<Profile>>, u64) {
    let ids: Vec<String> = (0..users).map(generate::user_id).collect();
    let mut profiles = BTreeMap::new();
    for chunk in ids.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (id, profile) in chunk.iter().zip(server.lookup(&refs).await) {
            profiles.insert(id.clone(), profile);
        }
    }
    let state = server
        .ingest()
        .await
        .get_ingest_state(GetIngestStateRequest {
            producer_id: PRODUCER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    (profiles, state.last_applied_sequence)
}

/// Purchases for `users` one day before as-of: their profiles change.
fn write_purchases(path: &Path, users: std::ops::Range<u64>, amount: u32) {
    let mut text = String::from("user_id,timestamp,event_type,amount,currency\n");
    for index in users {
        let at = AS_OF_MILLIS - 86_400_000;
        text.push_str(&format!(
            "{},{at},purchase,{amount},EUR\n",
            generate::user_id(index)
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn publish_args<'a>(events: &'a [&'a Path], nats: &'a str, state: &'a Path) -> Vec<&'a str> {
    let mut args = vec!["recompute", "--events"];
    args.extend(events.iter().map(|path| path.to_str().unwrap()));
    args.extend([
        "--as-of",
        AS_OF,
        "--publish",
        nats,
        "--state",
        state.to_str().unwrap(),
        "--batch-size",
        "50",
    ]);
    args
}

#[tokio::test]
async fn replicas_converge_and_a_killed_replica_catches_up() {
    const USERS: u64 = 1_500;
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(&dir.path().join("nats"));
    let a = Server::start(&dir.path().join("a"), None);
    let mut b = Server::start(&dir.path().join("b"), None);
    let sidecar_a = Sidecar::start(&nats, "replica-a", &a, dir.path().join("sidecar-a.log"));
    let mut sidecar_b = Sidecar::start(&nats, "replica-b", &b, dir.path().join("sidecar-b.log"));

    let events = dir.path().join("events.parquet");
    succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--seed",
        "5",
        "--out",
        events.to_str().unwrap(),
    ]));
    let state = dir.path().join("state.jsonl");
    let publish = |extra: &[&Path]| {
        let mut files = vec![events.as_path()];
        files.extend_from_slice(extra);
        succeeded(strata(&publish_args(&files, &nats.url, &state)))
    };

    // Run 1: everyone.
    let first = publish(&[]);
    assert!(first.contains("pushed"), "{first}");
    let published = nats.last_sequence().await;
    assert!(published >= USERS.div_ceil(50) / 2, "{published} batches");
    wait_applied(&[(&a, &sidecar_a), (&b, &sidecar_b)], published).await;
    let (on_a, state_a) = served(&a, USERS).await;
    assert_eq!(state_a, published);
    assert!(on_a.values().flatten().count() as u64 > USERS / 2);
    assert_eq!(served(&b, USERS).await, (on_a.clone(), state_a));

    // Run 2: some users buy; only what changed is published.
    let extra = dir.path().join("extra-1.csv");
    write_purchases(&extra, 0..100, 40);
    publish(&[extra.as_path()]);
    let published = nats.last_sequence().await;
    assert!(published > state_a, "run 2 published batches");
    wait_applied(&[(&a, &sidecar_a), (&b, &sidecar_b)], published).await;
    let (on_a2, state_a2) = served(&a, USERS).await;
    assert_ne!(on_a2, on_a, "run 2 changed served profiles");
    assert_eq!(served(&b, USERS).await, (on_a2, state_a2));

    // Run 3 in the background; replica b dies (server and sidecar, SIGKILL)
    // once it has started on the run's batches.
    let extra_2 = dir.path().join("extra-2.csv");
    write_purchases(&extra_2, 100..600, 55);
    let files = [events.as_path(), extra.as_path(), extra_2.as_path()];
    let mut run_3 = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(publish_args(&files, &nats.url, &state))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_applied(&[(&b, &sidecar_b)], published + 1).await;
    sidecar_b.kill9();
    b.kill9();
    assert!(run_3.wait().unwrap().success());

    // More while b is down.
    let extra_3 = dir.path().join("extra-3.csv");
    write_purchases(&extra_3, 600..700, 70);
    publish(&[extra.as_path(), extra_2.as_path(), extra_3.as_path()]);
    let published = nats.last_sequence().await;
    wait_applied(&[(&a, &sidecar_a)], published).await;
    let (on_a4, state_a4) = served(&a, USERS).await;
    assert_eq!(state_a4, published);

    // b restarts on its own data and consumer, and catches up.
    b = Server::start(&dir.path().join("b"), None);
    sidecar_b = Sidecar::start(&nats, "replica-b", &b, dir.path().join("sidecar-b2.log"));
    wait_applied(&[(&b, &sidecar_b)], published).await;
    assert_eq!(served(&b, USERS).await, (on_a4, state_a4));
    // It resumed from its durable consumer rather than replaying the log:
    // at most the batches in hand at the kill come again.
    let metrics = b.scrape_metrics();
    let replayed: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix(r#"strata_ingest_batches_total{outcome="replayed"} "#))
        .map_or(0, |value| value.trim().parse().unwrap());
    assert!(replayed <= 64, "{replayed} batches replayed\n{metrics}");
    drop(sidecar_a);
    drop(sidecar_b);
}

#[tokio::test]
async fn a_crash_mid_publish_resumes_and_publishes_each_batch_once() {
    const USERS: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(&dir.path().join("nats"));
    let events = dir.path().join("events.parquet");
    succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--seed",
        "9",
        "--out",
        events.to_str().unwrap(),
    ]));
    let state = dir.path().join("state.jsonl");
    let files = [events.as_path()];
    let args = publish_args(&files, &nats.url, &state);

    let mut crashing = args.clone();
    crashing.extend(["--crash-after-batches", "5"]);
    let crashed = strata(&crashing);
    assert!(!crashed.status.success());
    assert!(
        String::from_utf8_lossy(&crashed.stderr).contains("push stopped after 5 batches"),
        "{}",
        String::from_utf8_lossy(&crashed.stderr)
    );
    assert_eq!(nats.last_sequence().await, 5);

    let resumed = succeeded(strata(&args));
    let users: u64 = resumed
        .lines()
        .find_map(|line| line.strip_prefix("  users      "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let planned = users.div_ceil(50);
    assert!(resumed.contains("5 already applied"), "{resumed}");
    let batches = nats.batches().await;
    let expected: Vec<(u64, String)> = (1..=planned)
        .map(|sequence| (sequence, PRODUCER.to_owned()))
        .collect();
    assert_eq!(batches, expected, "each planned batch once, in order");

    // A new replica with an empty store bootstraps from the start of the log.
    let server = Server::start(&dir.path().join("db"), None);
    let output = succeeded(strata(&[
        "replicate",
        "--nats",
        &nats.url,
        "--consumer",
        "bootstrap",
        "--target",
        &server.endpoint(),
        "--until-caught-up",
    ]));
    assert!(
        output.contains(&format!(
            "replicated {planned} messages: {planned} batches applied, 0 replayed"
        )),
        "{output}"
    );
    assert!(output.contains("lag 0"), "{output}");
    let (profiles, applied) = served(&server, USERS).await;
    assert_eq!(applied, planned);
    assert_eq!(profiles.values().flatten().count() as u64, users);
}

/// The sidecar container deploy/README.md tells operators to add: spliced
/// into the real StatefulSet it passes the Kubernetes schemas, and the
/// environment variables it sets are the ones `strata replicate` reads.
#[test]
fn the_documented_sidecar_validates_and_matches_the_cli() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let readme = std::fs::read_to_string(deploy.join("README.md")).unwrap();
    let section = readme
        .split_once("## Replicas over NATS JetStream")
        .expect("deploy/README.md has the replicas section")
        .1;
    let snippet = section
        .split_once("   ```yaml\n")
        .and_then(|(_, rest)| rest.split_once("   ```"))
        .expect("a yaml block in the section")
        .0;
    // The block is indented for its numbered list item.
    let container: String = snippet
        .lines()
        .map(|line| format!("{}\n", line.get(3..).unwrap_or("")))
        .collect();
    let statefulset = std::fs::read_to_string(deploy.join("kubernetes/statefulset.yaml")).unwrap();
    let spliced = statefulset.replacen(
        "      volumes:\n",
        &format!("{container}      volumes:\n"),
        1,
    );
    assert_ne!(spliced, statefulset);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statefulset-with-sidecar.yaml");
    std::fs::write(&path, &spliced).unwrap();
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "--kubernetes-version", "1.30.0"])
        .arg(&path)
        .output()
        .expect("run kubernetes-validate (pip install kubernetes-validate, as ./dev test does)");
    assert!(
        output.status.success(),
        "{}\n{}\n{spliced}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let help = succeeded(strata(&["replicate", "--help"]));
    for line in container.lines() {
        if let Some(name) = line.trim().strip_prefix("- name: STRATA_") {
            assert!(
                help.contains(&format!("[env: STRATA_{name}")),
                "STRATA_{name} not in\n{help}"
            );
        }
    }
    assert!(container.contains("STRATA_REPLICA_CONSUMER"));
}
