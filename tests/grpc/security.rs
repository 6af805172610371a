//! Security through the real binary: bearer tokens and their scopes, TLS
//! with and without client certificates (made here at run time, never
//! committed), secrets kept out of the server log, and `strata recompute
//! --push` over TLS with a token.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use strata_client::{
    AuthChannel, ClientError, Connection, IngestClient, ProfileClient, TlsOptions,
};
use strata_proto::v1::ingest_service_client::IngestServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{Server, batch, profile, succeeded};

const READ_SECRET: &str = "read-secret-7f3a9c1e5b2d4086";
const INGEST_SECRET: &str = "ingest-secret-2c8e4a6f1d9b3057";

/// A test CA with a server certificate for 127.0.0.1/localhost and a client
/// certificate, as PEM files in a folder.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    fn create(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "strata test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, name: &str| {
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "strata test server",
        );
        let (client_cert, client_key) = leaf(
            vec!["checkout.example".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
            "checkout",
        );
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Pki {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
        }
    }

    /// The `[tls]` section; with `client_ca`, client certificates are required.
    fn server_config(&self, client_ca: bool) -> String {
        let mut config = format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            self.server_cert, self.server_key
        );
        if client_ca {
            config.push_str(&format!("client_ca_file = {:?}\n", self.ca));
        }
        config
    }

    fn trust(&self) -> TlsOptions {
        TlsOptions::from_files(&self.ca, None).unwrap()
    }

    fn trust_with_certificate(&self) -> TlsOptions {
        TlsOptions::from_files(&self.ca, Some((&self.client_cert, &self.client_key))).unwrap()
    }
}

/// An `[auth]` section naming a tokens file (written next to `dir`) with a
/// read token and an ingest token.
fn auth_config(dir: &Path) -> String {
    let tokens = dir.join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"checkout\"\nsecret = \"{READ_SECRET}\"\nscopes = [\"read\"]\n\n\
             [[token]]\nname = \"recompute\"\nsecret = \"{INGEST_SECRET}\"\nscopes = [\"ingest\"]\n"
        ),
    )
    .unwrap();
    format!("[auth]\ntokens_file = {tokens:?}\n")
}

fn https(server: &Server) -> String {
    format!("https://{}", server.grpc)
}

async fn read(connection: &Connection) -> Result<Option<String>, ClientError> {
    let mut profiles = ProfileClient::new(connection.connect().await?);
    let answer = profiles.batch_get(["u1"], &[]).await?;
    Ok(answer.results[0]
        .profile
        .as_ref()
        .map(|profile| profile.model_version.clone()))
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> (Code, String) {
    match result {
        Err(ClientError::Rpc(status)) => (status.code(), status.message().to_owned()),
        other => panic!("expected a refused call, got {other:?}"),
    }
}

async fn apply(channel: AuthChannel, sequence: u64) -> Result<u64, tonic::Status> {
    let mut client = IngestServiceClient::new(channel);
    let request = batch("auth-test", sequence, vec![profile("u1", 7)], &[]);
    let response = client
        .apply_updates(tokio_stream::iter(vec![request]))
        .await?;
    Ok(response.into_inner().last_applied_sequence)
}

async fn health(channel: tonic::transport::Channel) -> ServingStatus {
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    answer.status()
}

#[tokio::test]
async fn tokens_are_checked_per_scope_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), Some(&auth_config(dir.path())));
    let reader = Connection::new(server.endpoint()).with_token(READ_SECRET);
    let writer = Connection::new(server.endpoint()).with_token(INGEST_SECRET);

    // The ingest token writes; the read token reads what it wrote.
    assert_eq!(apply(writer.connect().await.unwrap(), 1).await.unwrap(), 1);
    assert_eq!(read(&reader).await.unwrap().as_deref(), Some("v7"));

    // The read token cannot write, and the refusal names the scope needed.
    let denied = apply(reader.connect().await.unwrap(), 2).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(
        denied.message(),
        "token 'checkout' has scopes [read]; strata.v1.IngestService/ApplyUpdates needs ingest"
    );
    // Nor can the ingest token read.
    let (code_of, message) = code(read(&writer).await);
    assert_eq!(code_of, Code::PermissionDenied, "{message}");

    let (no_token, message) = code(read(&Connection::new(server.endpoint())).await);
    assert_eq!(no_token, Code::Unauthenticated);
    assert!(message.contains("authorization: Bearer"), "{message}");
    let wrong = Connection::new(server.endpoint()).with_token("read-secret-7f3a9c1e5b2d4087");
    assert_eq!(code(read(&wrong).await).0, Code::Unauthenticated);
    let unknown_ingest = IngestClient::connect(&wrong, "auth-test").await;
    assert_eq!(code(unknown_ingest.map(|_| ())).0, Code::Unauthenticated);

    // Kubernetes probes carry no token.
    assert_eq!(health(server.channel().await).await, ServingStatus::Serving);

    let metrics = server.scrape_metrics();
    for code in ["PERMISSION_DENIED", "UNAUTHENTICATED"] {
        assert!(
            metrics.contains(&format!("method=\"BatchGetProfiles\",code=\"{code}\"")),
            "{code} not counted:\n{metrics}"
        );
    }

    let log = server.log();
    assert!(log.contains("security"), "{log}");
    for secret in [READ_SECRET, INGEST_SECRET] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

#[tokio::test]
async fn a_bad_tokens_file_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"checkout\"\nsecret = \"{READ_SECRET}\"\nscopes = [\"raed\"]\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, format!("[auth]\ntokens_file = {tokens:?}\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("db"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("token[0].scopes[0]"), "{stderr}");
    assert!(stderr.contains("\"raed\""), "{stderr}");
    assert!(!stderr.contains(READ_SECRET), "{stderr}");
}

#[tokio::test]
async fn tls_serves_clients_that_trust_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(&dir.path().join("pki"));
    let other = Pki::create(&dir.path().join("other-pki"));
    let server = Server::start(&dir.path().join("db"), Some(&pki.server_config(false)));

    let trusted = Connection::new(https(&server)).with_tls(pki.trust());
    assert_eq!(read(&trusted).await.unwrap(), None);
    // By name as well as by address.
    let by_name =
        Connection::new(format!("https://localhost:{}", server.grpc.port())).with_tls(pki.trust());
    assert_eq!(read(&by_name).await.unwrap(), None);

    let plaintext = Connection::new(server.endpoint());
    assert!(read(&plaintext).await.is_err());
    let untrusted = Connection::new(https(&server)).with_tls(other.trust());
    assert!(read(&untrusted).await.is_err());
    let wrong_name =
        Connection::new(https(&server)).with_tls(pki.trust().domain_name("strata.example"));
    assert!(read(&wrong_name).await.is_err());
}

#[tokio::test]
async fn a_client_ca_makes_client_certificates_mandatory() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(&dir.path().join("pki"));
    let other = Pki::create(&dir.path().join("other-pki"));
    let server = Server::start(&dir.path().join("db"), Some(&pki.server_config(true)));

    let without = Connection::new(https(&server)).with_tls(pki.trust());
    assert!(read(&without).await.is_err());
    // A certificate from another CA is no better than none.
    let foreign =
        TlsOptions::from_files(&pki.ca, Some((&other.client_cert, &other.client_key))).unwrap();
    assert!(
        read(&Connection::new(https(&server)).with_tls(foreign))
            .await
            .is_err()
    );

    let with = Connection::new(https(&server)).with_tls(pki.trust_with_certificate());
    assert_eq!(read(&with).await.unwrap(), None);
}

#[tokio::test]
async fn recompute_pushes_over_tls_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(&dir.path().join("pki"));
    let config = format!("{}{}", pki.server_config(false), auth_config(dir.path()));
    let server = Server::start(&dir.path().join("db"), Some(&config));

    let events = dir.path().join("events.csv");
    succeeded(crate::support::strata(&[
        "gen",
        "--users",
        "50",
        "--out",
        events.to_str().unwrap(),
    ]));
    let recompute = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["recompute", "--events"])
            .arg(&events)
            .args(["--as-of", "2025-01-01T00:00:00Z", "--push", &https(&server)])
            .arg("--tls-ca")
            .arg(&pki.ca)
            .arg("--state")
            .arg(dir.path().join("recompute.state.jsonl"))
            .env("STRATA_TOKEN", token)
            .output()
            .unwrap()
    };

    // A read token cannot push; the job says why and names no secret.
    let refused = recompute(READ_SECRET);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("needs ingest"), "{stderr}");
    assert!(!stderr.contains(READ_SECRET), "{stderr}");

    succeeded(recompute(INGEST_SECRET));
    let reader = Connection::new(https(&server))
        .with_tls(pki.trust())
        .with_token(READ_SECRET);
    let mut profiles = ProfileClient::new(reader.connect().await.unwrap());
    let ids: Vec<String> = (0..50).map(|user| format!("u{user:08}")).collect();
    let answer = profiles.batch_get(ids, &["lifecycle"]).await.unwrap();
    let found = answer
        .results
        .iter()
        .filter(|result| result.profile.is_some())
        .count();
    assert!(found > 0, "no pushed profile found: {answer:?}");
    let log = server.log();
    for secret in [READ_SECRET, INGEST_SECRET] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

#[tokio::test]
async fn loadtest_reads_over_tls_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(&dir.path().join("pki"));
    let config = format!("{}{}", pki.server_config(true), auth_config(dir.path()));
    let server = Server::start(&dir.path().join("db"), Some(&config));

    let loadtest = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["loadtest", "--json", "--no-progress", "--target"])
            .arg(format!("localhost:{}", server.grpc.port()))
            .args(["--requests", "50", "--warmup", "0s", "--tls-ca"])
            .arg(&pki.ca)
            .arg("--tls-cert")
            .arg(&pki.client_cert)
            .arg("--tls-key")
            .arg(&pki.client_key)
            .env("STRATA_TOKEN", token)
            .output()
            .unwrap()
    };
    let report: serde_json::Value =
        serde_json::from_str(&succeeded(loadtest(READ_SECRET))).unwrap();
    assert_eq!(report["requests"], 50, "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");

    // The ingest token may not read: every call is refused, by code.
    let report: serde_json::Value =
        serde_json::from_str(&succeeded(loadtest(INGEST_SECRET))).unwrap();
    assert_eq!(report["errors"], 50, "{report:#}");
    assert_eq!(
        report["errors_by_code"]["PERMISSION_DENIED"], 50,
        "{report:#}"
    );
}

#[tokio::test]
async fn admin_commands_need_the_admin_scope_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(&dir.path().join("pki"));
    let admin_secret = "admin-secret-9d1b7e3f5a2c4068";
    let tokens = dir.path().join("admin-tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"checkout\"\nsecret = \"{READ_SECRET}\"\nscopes = [\"read\"]\n\n\
             [[token]]\nname = \"operations\"\nsecret = \"{admin_secret}\"\nscopes = [\"admin\"]\n"
        ),
    )
    .unwrap();
    let config = format!(
        "{}[auth]\ntokens_file = {tokens:?}\n",
        pki.server_config(false)
    );
    let server = Server::start(&dir.path().join("db"), Some(&config));
    let versions = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["admin", "versions", "--target", &https(&server), "--tls-ca"])
            .arg(&pki.ca)
            .env("STRATA_TOKEN", token)
            .output()
            .unwrap()
    };

    // A read token is refused, naming the scope and no secret.
    let refused = versions(READ_SECRET);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("needs admin"), "{stderr}");
    assert!(!stderr.contains(READ_SECRET), "{stderr}");

    // The admin token lists the serving version over TLS.
    let listed = succeeded(versions(admin_secret));
    assert!(listed.contains("initial"), "{listed}");
}

/// `recompute --push` checks its target before it reads a single event: an
/// unreachable server or a token without the ingest scope fails the run with
/// the server's answer, not with what the (here missing) event file would
/// have said after the whole compute.
#[tokio::test]
async fn a_push_target_is_checked_before_any_event_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing_events = dir.path().join("never-read.csv");
    let recompute = |endpoint: &str, token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command.args([
            "recompute",
            "--events",
            missing_events.to_str().unwrap(),
            "--as-of",
            "2025-01-01T00:00:00Z",
            "--state",
            dir.path().join("state.jsonl").to_str().unwrap(),
            "--push",
            endpoint,
        ]);
        command.env_remove("STRATA_TOKEN");
        if let Some(token) = token {
            command.env("STRATA_TOKEN", token);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    // Nobody listens on a port just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stderr = recompute(&closed.to_string(), Some(INGEST_SECRET));
    assert!(!stderr.contains("never-read.csv"), "{stderr}");
    assert!(stderr.contains(&closed.port().to_string()), "{stderr}");

    let server = Server::start(&dir.path().join("db"), Some(&auth_config(dir.path())));
    let stderr = recompute(&server.endpoint(), Some(READ_SECRET));
    assert!(!stderr.contains("never-read.csv"), "{stderr}");
    assert!(stderr.contains("needs ingest"), "{stderr}");
    let stderr = recompute(&server.endpoint(), None);
    assert!(!stderr.contains("never-read.csv"), "{stderr}");
    assert!(stderr.contains("authorization: Bearer"), "{stderr}");
    // With the ingest token the target passes, and only then is the event
    // file read (and found missing).
    let stderr = recompute(&server.endpoint(), Some(INGEST_SECRET));
    assert!(stderr.contains("never-read.csv"), "{stderr}");
}
