//! deploy/: the Kubernetes manifests pass the API schemas (offline, strict),
//! hold every object an install needs, and agree with the binary: the
//! ConfigMap's TOML is a config `strata serve` accepts and serves with, and
//! its ports are the ones the probes, Services and image use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_proto::v1::BatchGetProfilesRequest;
use strata_proto::v1::profile_service_client::ProfileServiceClient;
use strata_server::config::Config;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::Server;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read(relative: &str) -> String {
    let path = deploy().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The top-level `kind` of every YAML document in `text`.
fn kinds(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("kind: "))
        .map(|kind| kind.trim().to_owned())
        .collect()
}

/// The block scalar under `key: |` (e.g. a ConfigMap entry), de-indented.
fn block(text: &str, key: &str) -> String {
    let header = format!("{key}: |");
    let mut lines = text.lines().skip_while(|line| line.trim() != header);
    let header_line = lines.next().unwrap_or_else(|| panic!("no {header:?}"));
    let indent = header_line.len() - header_line.trim_start().len() + 2;
    let mut out = String::new();
    for line in lines {
        if !line.trim().is_empty() && line.len() - line.trim_start().len() < indent {
            break;
        }
        out.push_str(line.get(indent..).unwrap_or(""));
        out.push('\n');
    }
    out
}

/// The files listed under `resources:` in the kustomization.
fn kustomization_resources() -> Vec<String> {
    read("kubernetes/kustomization.yaml")
        .lines()
        .skip_while(|line| !line.starts_with("resources:"))
        .skip(1)
        .map_while(|line| line.strip_prefix("  - "))
        .map(|file| file.trim().to_owned())
        .collect()
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let output = Command::new("bash")
        .arg(deploy().join("validate.sh"))
        .output()
        .expect("run deploy/validate.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "deploy/validate.sh failed (needs `pip install kubernetes-validate`, as ./dev test does)\n\
         {stdout}\n{stderr}"
    );
    assert!(stdout.contains("validated 12 manifest files"), "{stdout}");
}

#[test]
fn every_object_an_install_needs_is_there() {
    let resources = kustomization_resources();
    let mut on_disk: Vec<String> = std::fs::read_dir(deploy().join("kubernetes"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut listed = resources.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "the kustomization lists every manifest");

    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for file in &resources {
        for kind in kinds(&read(&format!("kubernetes/{file}"))) {
            *count.entry(kind).or_default() += 1;
        }
    }
    let expected: BTreeMap<String, usize> = [
        ("ConfigMap", 1),
        ("CronJob", 1),
        ("PersistentVolumeClaim", 2),
        ("PodDisruptionBudget", 1),
        ("Secret", 1),
        ("Service", 2),
        ("StatefulSet", 1),
    ]
    .into_iter()
    .map(|(kind, n)| (kind.to_owned(), n))
    .collect();
    assert_eq!(count, expected);

    let statefulset = read("kubernetes/statefulset.yaml");
    for needed in [
        "volumeClaimTemplates:",
        "startupProbe:",
        "readinessProbe:",
        "livenessProbe:",
        "service: strata.v1.ProfileService",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "mountPath: /etc/strata/secrets",
        "limits:",
        "requests:",
    ] {
        assert!(statefulset.contains(needed), "StatefulSet lacks {needed:?}");
    }
    assert_eq!(
        statefulset
            .matches("grpc:\n              port: 50051")
            .count(),
        3,
        "startup, readiness and liveness are native gRPC probes on 50051"
    );
    let services = read("kubernetes/services.yaml");
    assert!(services.contains("clusterIP: None"), "a headless Service");
    assert!(services.contains("prometheus.io/scrape: \"true\""));

    // The partitioned Job: Indexed, and its worker count is the N of
    // --partition i/N.
    let job = read("kubernetes/partitioned/recompute-job.yaml");
    assert_eq!(kinds(&job), ["Job"]);
    assert!(job.contains("completionMode: Indexed"));
    let field = |name: &str| -> u32 {
        job.lines()
            .find_map(|line| line.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    };
    let workers = field("completions");
    assert_eq!(field("parallelism"), workers);
    assert!(
        job.contains(&format!(
            "--partition \"${{JOB_COMPLETION_INDEX}}/{workers}\""
        )),
        "--partition i/{workers}"
    );
}

#[tokio::test]
async fn the_configmap_config_is_what_serve_accepts_and_probes_expect() {
    let configmap = read("kubernetes/configmap.yaml");
    let dir = tempfile::tempdir().unwrap();
    // The Secret's tokens file, where the pod mounts it, is here a temporary
    // file: the same [auth] section then runs for real.
    let tokens_file = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens_file,
        block(&read("kubernetes/secret.yaml"), "tokens.toml"),
    )
    .unwrap();
    let pod_tokens = "\"/etc/strata/secrets/tokens.toml\"";
    let toml = block(&configmap, "strata.toml");
    assert!(toml.contains(pod_tokens), "the ConfigMap turns tokens on");
    let toml = toml.replace(pod_tokens, &format!("{:?}", tokens_file.to_str().unwrap()));
    let path = dir.path().join("strata.toml");
    std::fs::write(&path, &toml).unwrap();
    let config = Config::from_file(&path).unwrap();
    config.validate().unwrap();
    assert!(
        config.server.listen.ip().is_unspecified(),
        "reachable in a pod"
    );
    assert_eq!(config.server.listen.port(), 50051);
    assert!(config.server.metrics_listen.ip().is_unspecified());
    assert_eq!(config.server.metrics_listen.port(), 9464);

    // RocksDB lives on the StatefulSet's volume, under the non-root user's
    // home in the image; the config is where the StatefulSet tells serve.
    let statefulset = read("kubernetes/statefulset.yaml");
    assert!(config.store.data_dir.starts_with("/var/lib/strata"));
    assert!(statefulset.contains("mountPath: /var/lib/strata\n"));
    assert!(statefulset.contains("\"--config\", \"/etc/strata/config/strata.toml\""));
    assert!(statefulset.contains("mountPath: /etc/strata/config\n"));

    let dockerfile = read("Dockerfile");
    for needed in [
        "EXPOSE 50051 9464",
        "USER 10001:10001",
        "cargo build --release --locked --bin strata",
        "FROM rust:1-bookworm AS builder",
        "ENTRYPOINT [\"/usr/local/bin/strata\"]",
    ] {
        assert!(dockerfile.contains(needed), "Dockerfile lacks {needed:?}");
    }
    let example = Config::from_file(&deploy().join("strata.example.toml")).unwrap();
    example.validate().unwrap();

    // The real binary serves with it (loopback and a temporary data folder
    // instead of the pod's), and answers both probes' health checks.
    let server = Server::start(&dir.path().join("db"), Some(&toml));
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "strata.v1.ProfileService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    // Probes need no token; reads do, and the checkout token is enough.
    let read_ids = || BatchGetProfilesRequest {
        user_ids: vec!["u1".into()],
        field_mask: None,
    };
    let mut anonymous = ProfileServiceClient::new(server.channel().await);
    let refused = anonymous.batch_get_profiles(read_ids()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let checkout = strata_client::Connection::new(server.endpoint())
        .with_token("PLACEHOLDER-checkout-not-a-real-secret")
        .connect()
        .await
        .unwrap();
    let answer = ProfileServiceClient::new(checkout)
        .batch_get_profiles(read_ids())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.missing_indices, [0]);
}

#[test]
fn the_token_secret_has_the_server_format_and_only_placeholders() {
    let secret = read("kubernetes/secret.yaml");
    let tokens: toml::Table = toml::from_str(&block(&secret, "tokens.toml")).unwrap();
    let tokens = tokens["token"].as_array().expect("[[token]] entries");
    assert!(!tokens.is_empty());
    for token in tokens {
        let name = token["name"].as_str().unwrap();
        let secret = token["secret"].as_str().unwrap();
        assert!(
            secret.starts_with("PLACEHOLDER-"),
            "{name}: not a placeholder"
        );
        for scope in token["scopes"].as_array().unwrap() {
            let scope = scope.as_str().unwrap();
            assert!(
                ["read", "ingest", "admin"].contains(&scope),
                "{name}: {scope}"
            );
        }
    }
    // The recompute jobs' STRATA_TOKEN is the "recompute" entry's secret.
    let recompute = tokens
        .iter()
        .find(|token| token["name"].as_str() == Some("recompute"))
        .expect("a recompute token");
    assert!(
        recompute["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|scope| scope.as_str() == Some("ingest"))
    );
    let job_token = secret
        .lines()
        .find_map(|line| line.trim().strip_prefix("recompute-token: "))
        .expect("a recompute-token key")
        .trim_matches('"');
    assert_eq!(job_token, recompute["secret"].as_str().unwrap());
    for job in [
        "kubernetes/recompute-cronjob.yaml",
        "kubernetes/partitioned/recompute-job.yaml",
    ] {
        let text = read(job);
        assert!(
            text.contains("name: STRATA_TOKEN") && text.contains("key: recompute-token"),
            "{job} pushes without the recompute token"
        );
    }
    // Mounted where the server's [auth] tokens_file points.
    assert!(read("kubernetes/configmap.yaml").contains("/etc/strata/secrets/tokens.toml"));
    let statefulset = read("kubernetes/statefulset.yaml");
    assert!(statefulset.contains("secretName: strata-tokens"));
}
