//! Starts the real `strata` binary on loopback ports it picks itself, with
//! RocksDB in a temporary folder, and hands out gRPC clients to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use strata_proto::v1::ingest_service_client::IngestServiceClient;
use strata_proto::v1::profile_service_client::ProfileServiceClient;
use strata_proto::v1::{
    ApplyUpdatesRequest, BatchGetProfilesRequest, Benefit, GetIngestStateRequest, Lifecycle,
    Profile, ValueTier,
};
use tonic::transport::Channel;

pub struct Server {
    child: Option<Child>,
    pub grpc: SocketAddr,
    pub metrics: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `strata serve` on `data_dir`, with `config` (TOML) if given.
    pub fn start(data_dir: &Path, config: Option<&str>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command.arg("serve").arg("--data-dir").arg(data_dir).args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ]);
        if let Some(config) = config {
            let path = data_dir.with_extension("toml");
            std::fs::write(&path, config).unwrap();
            command.arg("--config").arg(path);
        }
        Self::spawn(command, data_dir)
    }

    pub fn spawn(mut command: Command, data_dir: &Path) -> Server {
        let log = data_dir.with_extension("log");
        let log_file = std::fs::File::create(&log).unwrap();
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start strata");
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    // Keep draining so the server never blocks on a full pipe.
                    continue;
                }
            }
        });
        let mut grpc = None;
        let mut metrics = None;
        while grpc.is_none() || metrics.is_none() {
            let line = received
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!(
                        "strata did not announce its ports; log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                });
            if let Some(address) = line.strip_prefix("grpc listening on ") {
                grpc = Some(address.parse().unwrap());
            } else if let Some(address) = line.strip_prefix("metrics listening on ") {
                metrics = Some(address.parse().unwrap());
            }
        }
        Server {
            child: Some(child),
            grpc: grpc.unwrap(),
            metrics: metrics.unwrap(),
            log,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint())
            .unwrap()
            .connect()
            .await
            .expect("connect to strata")
    }

    pub async fn profiles(&self) -> ProfileServiceClient<Channel> {
        ProfileServiceClient::new(self.channel().await)
    }

    pub async fn ingest(&self) -> IngestServiceClient<Channel> {
        IngestServiceClient::new(self.channel().await)
    }

    /// SIGKILL: no shutdown code runs, as in a crash or `kill -9`.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        child.wait().unwrap()
    }

    /// BatchGetProfiles for `ids`: each user's profile, None when unknown.
    pub async fn lookup(&self, ids: &[&str]) -> Vec<Option<Profile>> {
        self.profiles()
            .await
            .batch_get_profiles(BatchGetProfilesRequest {
                user_ids: ids.iter().map(|id| id.to_string()).collect(),
                field_mask: None,
            })
            .await
            .unwrap()
            .into_inner()
            .results
            .into_iter()
            .map(|result| result.profile)
            .collect()
    }

    /// The served profile of each of the first `users` generated users
    /// (`strata gen` ids), encoded with `computed_at` cleared (the only
    /// field that differs from run to run by design); None when unknown.
    pub async fn served_bytes(
        &self,
        users: u64,
    ) -> std::collections::BTreeMap<String, Option<Vec<u8>>> {
        use prost::Message;
        let ids: Vec<String> = (0..users).map(strata_events::generate::user_id).collect();
        let mut profiles = std::collections::BTreeMap::new();
        for chunk in ids.chunks(1000) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for (id, profile) in chunk.iter().zip(self.lookup(&refs).await) {
                let encoded = profile.map(|mut profile| {
                    profile.computed_at = None;
                    profile.encode_to_vec()
                });
                profiles.insert(id.clone(), encoded);
            }
        }
        profiles
    }

    /// [`Server::served_bytes`] of the users the server knows only.
    pub async fn known_bytes(&self, users: u64) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.served_bytes(users)
            .await
            .into_iter()
            .filter_map(|(id, bytes)| Some((id, bytes?)))
            .collect()
    }

    /// The producer's last applied sequence (GetIngestState).
    pub async fn applied(&self, producer: &str) -> u64 {
        self.ingest()
            .await
            .get_ingest_state(GetIngestStateRequest {
                producer_id: producer.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .last_applied_sequence
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET /metrics over plain HTTP/1.0.
    pub fn scrape_metrics(&self) -> String {
        let mut stream = TcpStream::connect(self.metrics).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
            "{response}"
        );
        response
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the `strata` binary as a user would.
pub fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap()
}

/// Its stdout, after checking it exited 0 (else both streams are shown).
pub fn succeeded(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A generated population pushed to its own server: what [`generate_and_push`]
/// leaves in its folder.
pub struct Pushed {
    pub server: Server,
    /// The generated events (Parquet).
    pub events: PathBuf,
    /// The generator's truth file (`strata gen --truth`).
    pub truth: PathBuf,
    /// What `strata recompute` printed.
    pub summary: String,
}

/// `strata gen` of `users` users with `seed` (and its truth file) into
/// `dir`, then `strata recompute --push` as of `as_of` to a server of its
/// own on `dir/db`.
pub fn generate_and_push(dir: &Path, users: u64, seed: u64, as_of: &str) -> Pushed {
    let events = dir.join("events.parquet");
    let truth = dir.join("truth.jsonl");
    gen_events(&events, users, seed, &["--truth", truth.to_str().unwrap()]);
    let server = Server::start(&dir.join("db"), None);
    let summary = succeeded(strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        as_of,
        "--push",
        &server.endpoint(),
        "--state",
        dir.join("state.jsonl").to_str().unwrap(),
    ]));
    Pushed {
        server,
        events,
        truth,
        summary,
    }
}

/// `strata gen` of `users` users with `seed` into `out`, plus `extra` flags.
pub fn gen_events(out: &Path, users: u64, seed: u64, extra: &[&str]) {
    let (users, seed) = (users.to_string(), seed.to_string());
    let mut args = vec![
        "gen",
        "--users",
        &users,
        "--seed",
        &seed,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    succeeded(strata(&args));
}

/// A small profile whose fields all carry `version`, so a reader can tell a
/// torn record from a whole one.
pub fn profile(user_id: &str, version: u32) -> Profile {
    Profile {
        user_id: user_id.to_owned(),
        lifecycle: Some(Lifecycle {
            preset: "retail".into(),
            layer: format!("layer-{version}"),
            layer_index: version,
            churned: false,
            churn_label: String::new(),
        }),
        value_tier: Some(ValueTier {
            tier: 1,
            recency_score: 5,
            frequency_score: 4,
            monetary_score: 3,
            rfm_segment: format!("segment-{version}"),
        }),
        propensity: Some(f64::from(version) / 1e6),
        model_version: format!("v{version}"),
        ..Profile::default()
    }
}

pub fn batch(
    producer: &str,
    sequence: u64,
    upserts: Vec<Profile>,
    deletes: &[&str],
) -> ApplyUpdatesRequest {
    ApplyUpdatesRequest {
        producer_id: producer.to_owned(),
        sequence,
        upserts,
        deletes: deletes.iter().map(|id| id.to_string()).collect(),
        model_version: String::new(),
        model_card: None,
    }
}

/// Pushes `batches` in one ApplyUpdates stream.
pub async fn push(
    client: &mut IngestServiceClient<Channel>,
    batches: Vec<ApplyUpdatesRequest>,
) -> Result<strata_proto::v1::ApplyUpdatesResponse, tonic::Status> {
    client
        .apply_updates(tokio_stream::iter(batches))
        .await
        .map(tonic::Response::into_inner)
}

pub fn timestamp(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

pub fn benefit(id: &str, profit: f64) -> Benefit {
    Benefit {
        benefit_id: id.to_owned(),
        kind: 1,
        face_value: 500,
        currency: "EUR".into(),
        minimum_spend: 0,
        expected_incremental_profit: profit,
        valid_from: None,
        valid_until: None,
        fairness_required: false,
        policy: String::new(),
        cell: String::new(),
        estimate_low: None,
        estimate_high: None,
    }
}

/// Starts `command` (a `nats-server` with its flags) with stderr piped,
/// waits for it to log that it is ready, and returns it with the
/// `host:port` it listens on. Its stderr keeps being drained, so the server
/// never blocks on a full pipe.
pub fn spawn_nats(command: &mut Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nats-server (apt-get install nats-server; ./dev test installs it)");
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = lines.send(line);
        }
    });
    let mut address = None;
    loop {
        let line = received
            .recv_timeout(Duration::from_secs(60))
            .expect("nats-server did not report ready");
        if let Some((_, listening)) = line.split_once("Listening for client connections on ") {
            address = Some(listening.trim().to_owned());
        }
        if line.contains("Server is ready") {
            break;
        }
    }
    (child, address.expect("nats-server logged its port"))
}
