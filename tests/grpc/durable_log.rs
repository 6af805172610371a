//! The update log's durability settings (issue 18), against a real
//! `nats-server`: the stream strata creates keeps batches on disk in the
//! asked number of copies, a stream that would not (memory storage, fewer
//! replicas) is refused, acknowledged batches survive `kill -9` of
//! nats-server, and a log that was emptied (stream deleted and created again)
//! gets every record on the next run. Where the installed nats-server knows
//! it (2.10 and later), the server runs with `sync_interval: always`, as the
//! README asks for a single server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use async_nats::jetstream::{self, stream};

use crate::support::{spawn_nats, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const STREAM: &str = "STRATA_UPDATES";
const PRODUCER: &str = "recompute-retail";

/// `nats-server --version`, e.g. (2, 9, 10).
fn nats_version() -> (u32, u32, u32) {
    let output = Command::new("nats-server")
        .arg("--version")
        .output()
        .expect("nats-server (apt-get install nats-server; ./dev test installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let version = text
        .trim()
        .rsplit('v')
        .next()
        .unwrap_or_else(|| panic!("{text}"));
    let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap());
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap_or(0),
    )
}

/// The config file the README recommends for one server: JetStream on disk,
/// and every write synced before the acknowledgement where supported.
fn write_config(path: &Path, store_dir: &Path) {
    let sync = if nats_version() >= (2, 10, 0) {
        "  sync_interval: always\n"
    } else {
        // nats-server 2.9 has no such setting (it refuses the key): it
        // syncs on its own timer, see the README.
        ""
    };
    let config = format!(
        "host: 127.0.0.1\nport: -1\njetstream {{\n  store_dir: {:?}\n{sync}}}\n",
        store_dir.to_str().unwrap()
    );
    std::fs::write(path, config).unwrap();
}

/// nats-server on the config file, stopped by pid on drop.
struct Nats {
    child: Option<Child>,
    url: String,
}

impl Nats {
    fn start(config: &Path) -> Nats {
        let (child, address) = spawn_nats(Command::new("nats-server").arg("-c").arg(config));
        Nats {
            child: Some(child),
            url: format!("nats://{address}"),
        }
    }

    /// SIGKILL: nats-server gets no chance to flush anything.
    fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(&self.url).await.unwrap())
    }

    async fn info(&self) -> stream::Info {
        let mut stream = self.jetstream().await.get_stream(STREAM).await.unwrap();
        stream.info().await.unwrap().clone()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn publish(events: &Path, nats: &Nats, state: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--publish",
        &nats.url,
        "--state",
        state.to_str().unwrap(),
        "--batch-size",
        "10",
    ];
    args.extend_from_slice(extra);
    strata(&args)
}

/// Batches the summary says were acknowledged (`pushed  N batches sent`).
fn batches_sent(summary: &str) -> u64 {
    summary
        .lines()
        .find_map(|line| line.trim().strip_prefix("pushed"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no pushed line:\n{summary}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_update_log_keeps_acknowledged_batches_on_disk_and_refuses_a_stream_that_would_not() {
    let dir = tempfile::tempdir().unwrap();
    let config: PathBuf = dir.path().join("nats.conf");
    write_config(&config, &dir.path().join("jetstream"));
    let nats = Nats::start(&config);
    let events = dir.path().join("events.csv");
    succeeded(strata(&[
        "gen",
        "--users",
        "120",
        "--seed",
        "5",
        "--out",
        events.to_str().unwrap(),
    ]));
    let state = dir.path().join("state.jsonl");

    // The stream strata creates: on disk, the asked copies.
    let first = succeeded(publish(&events, &nats, &state, &[]));
    let sent = batches_sent(&first);
    assert_eq!(sent, 12, "120 users in batches of 10:\n{first}");
    let info = nats.info().await;
    assert_eq!(info.config.storage, stream::StorageType::File);
    assert_eq!(info.config.num_replicas, 1);
    assert_eq!(info.state.messages, sent);

    // kill -9 right after the acknowledgements: every batch is still there.
    nats.kill9();
    let nats = Nats::start(&config);
    let info = nats.info().await;
    assert_eq!(info.state.messages, sent, "acknowledged batches lost");
    // Same stream, same sequence: the rerun sends nothing.
    let again = succeeded(publish(&events, &nats, &state, &[]));
    assert!(again.contains("0 changed, 120 unchanged"), "{again}");
    assert!(!again.contains("full push"), "{again}");

    // More copies than the stream keeps: refused, nothing published.
    let refused = publish(
        &events,
        &nats,
        &state,
        &["--full-push", "--stream-replicas", "3"],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 replica(s), fewer than the 3 asked"),
        "{stderr}"
    );
    assert_eq!(nats.info().await.state.messages, sent);

    // A stream kept in memory: refused.
    let jetstream = nats.jetstream().await;
    jetstream.delete_stream(STREAM).await.unwrap();
    jetstream
        .create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec!["strata.updates.>".into()],
            storage: stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = publish(&events, &nats, &state, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("in memory only"), "{stderr}");
    assert_eq!(nats.info().await.state.messages, 0);

    // The log emptied (the stream deleted; strata creates it again): the
    // job sees another stream and publishes every record.
    jetstream.delete_stream(STREAM).await.unwrap();
    let rerun = succeeded(publish(&events, &nats, &state, &[]));
    assert!(rerun.contains("full push:"), "{rerun}");
    assert!(rerun.contains("120 changed, 0 unchanged"), "{rerun}");
    let info = nats.info().await;
    assert_eq!(info.state.messages, batches_sent(&rerun));
    let last = jetstream
        .get_stream(STREAM)
        .await
        .unwrap()
        .get_last_raw_message_by_subject(&format!("strata.updates.{PRODUCER}"))
        .await
        .unwrap();
    assert_eq!(
        last.headers.get("Strata-Sequence").unwrap().as_str(),
        batches_sent(&rerun).to_string(),
        "sequences start again at 1 in the new stream"
    );
}
