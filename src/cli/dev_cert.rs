//! `strata dev-cert`: a development CA and a server certificate it signed,
//! for TLS on a laptop or a test cluster. A self-signed server certificate
//! given to clients as their CA fails rustls' check (`CaUsedAsEndEntity`):
//! the client trusts the CA (`--tls-ca ca.pem`), the server presents the
//! leaf it signed.
//!
//! Made with rcgen on ring (already built for the tests' certificates; no
//! aws-lc, no `openssl` on the PATH needed).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use super::output::outln;

#[derive(Debug, Args)]
pub struct DevCertArgs {
    /// Folder to write ca.pem, ca.key, server.pem and server.key into
    /// (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Another name (DNS name or IP address) the server certificate is for,
    /// besides localhost and 127.0.0.1; repeatable.
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Replace the files if they exist.
    #[arg(long)]
    pub force: bool,
}

const FILES: [&str; 4] = ["ca.pem", "ca.key", "server.pem", "server.key"];

pub fn run(args: DevCertArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create --out {}", args.out.display()))?;
    if !args.force
        && let Some(existing) = FILES
            .iter()
            .map(|name| args.out.join(name))
            .find(|path| path.exists())
    {
        anyhow::bail!(
            "{} exists; pass --force to replace the development certificates in {}",
            existing.display(),
            args.out.display()
        );
    }

    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    for host in &args.hosts {
        if !names.contains(host) {
            names.push(host.clone());
        }
    }

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "strata development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().context("cannot generate the CA key")?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut server_params = CertificateParams::new(names.clone())
        .with_context(|| format!("--host: not a DNS name or IP address in {names:?}"))?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "strata development server");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let server_key = KeyPair::generate().context("cannot generate the server key")?;
    let server = server_params.signed_by(&server_key, &ca)?;

    write(&args.out.join("ca.pem"), &ca.pem(), 0o644)?;
    write(&args.out.join("ca.key"), &ca_key_pem, 0o600)?;
    write(&args.out.join("server.pem"), &server.pem(), 0o644)?;
    write(
        &args.out.join("server.key"),
        &server_key.serialize_pem(),
        0o600,
    )?;

    let dir = args.out.display();
    outln!("wrote {dir}/ca.pem, ca.key (0600), server.pem, server.key (0600)")?;
    outln!("server certificate for: {}", names.join(", "))?;
    outln!("serve with:")?;
    outln!("  [tls]")?;
    outln!("  cert_file = \"{dir}/server.pem\"")?;
    outln!("  key_file = \"{dir}/server.key\"")?;
    outln!("connect with: --tls-ca {dir}/ca.pem (e.g. strata get USER --tls-ca {dir}/ca.pem)")?;
    outln!("for development only: keep ca.key private, or delete it once done")?;
    Ok(())
}

/// Writes `text` to `path` with `mode` (set at creation, so a key is never
/// readable by others, even for a moment).
fn write(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // A file that existed (--force) keeps its old mode: set it.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
