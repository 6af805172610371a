//! `strata dev-cert`: a development CA and a server certificate that
//! `strata serve` presents and `strata get --tls-ca ca.pem` verifies.

use std::os::unix::fs::PermissionsExt;

use strata_client::{Changes, Connection, IngestClient, TlsOptions};

use crate::support::{Server, profile, strata, succeeded};

#[tokio::test]
async fn dev_cert_makes_a_ca_and_a_server_certificate_strata_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let stdout = succeeded(strata(&[
        "dev-cert",
        "--out",
        certs.to_str().unwrap(),
        "--host",
        "strata.internal",
    ]));
    assert!(stdout.contains("--tls-ca"), "{stdout}");
    assert!(stdout.contains("strata.internal"), "{stdout}");
    for (name, mode) in [
        ("ca.pem", 0o644),
        ("ca.key", 0o600),
        ("server.pem", 0o644),
        ("server.key", 0o600),
    ] {
        let metadata = std::fs::metadata(certs.join(name)).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, mode, "{name}");
    }
    // Existing files are kept unless --force.
    let again = strata(&["dev-cert", "--out", certs.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let config = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        certs.join("server.pem"),
        certs.join("server.key")
    );
    let server = Server::start(&dir.path().join("db"), Some(&config));
    let ca = certs.join("ca.pem");
    let https = format!("https://{}", server.grpc);
    let trusted =
        Connection::new(https.clone()).with_tls(TlsOptions::from_files(&ca, None).unwrap());
    let mut ingest = IngestClient::connect(&trusted, "dev-cert-test")
        .await
        .unwrap();
    ingest
        .push(vec![Changes {
            upserts: vec![profile("u1", 3)],
            deletes: Vec::new(),
            model_card: None,
        }])
        .await
        .unwrap();

    // host:port with --tls-ca: verified against the development CA.
    let target = server.grpc.to_string();
    let found = succeeded(strata(&[
        "get",
        "u1",
        "--target",
        &target,
        "--tls-ca",
        ca.to_str().unwrap(),
    ]));
    assert!(found.contains("u1"), "{found}");
    // Also by the name given with --host.
    let named = succeeded(strata(&[
        "get",
        "u1",
        "--target",
        &target,
        "--tls-ca",
        ca.to_str().unwrap(),
        "--tls-domain",
        "strata.internal",
    ]));
    assert!(named.contains("u1"), "{named}");

    // Without --tls-ca: refused, saying what to change.
    let plain = strata(&["get", "u1", "--target", &target]);
    assert!(!plain.status.success());
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        stderr.contains("the server speaks TLS") && stderr.contains("--tls-ca"),
        "{stderr}"
    );
}
