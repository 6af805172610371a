//! TLS for the gRPC port (rustls): the `[tls]` config and the files it names.
//! With
//! `client_ca_file`, clients must present a certificate that CA signed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]`: without this section the gRPC port speaks plaintext.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key of that certificate.
    pub key_file: PathBuf,
    /// PEM CA certificate(s): when set, every client must present a
    /// certificate signed by one of them.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read tls.{key} {path}: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tls.{key} {path}: {reason}")]
    Invalid {
        key: &'static str,
        path: PathBuf,
        reason: &'static str,
    },
}

impl TlsConfig {
    /// Reads the files; tonic checks the key against the certificate when
    /// the server is built.
    pub fn load(&self) -> Result<ServerTlsConfig, TlsError> {
        let cert = read_pem(
            "cert_file",
            &self.cert_file,
            "CERTIFICATE",
            "no PEM certificate in it",
        )?;
        let key = read_pem(
            "key_file",
            &self.key_file,
            "PRIVATE KEY",
            "no PEM private key in it",
        )?;
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(cert, key))
            // tonic sets none: a connection that never finishes its
            // handshake would hold its task for good.
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(path) = &self.client_ca_file {
            let ca = read_pem(
                "client_ca_file",
                path,
                "CERTIFICATE",
                "no PEM certificate in it",
            )?;
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        Ok(config)
    }

    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca_file.is_some()
    }
}

/// The file's bytes, after a cheap check that it holds the expected PEM
/// block, so a swapped cert/key path is reported by key rather than as a
/// handshake failure later. (`PRIVATE KEY` also matches `RSA PRIVATE KEY`
/// and `EC PRIVATE KEY`.)
fn read_pem(
    key: &'static str,
    path: &Path,
    label: &str,
    reason: &'static str,
) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text.lines().any(|line| {
        line.strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|found| found.ends_with(label))
    });
    if !found {
        return Err(TlsError::Invalid {
            key,
            path: path.to_path_buf(),
            reason,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_files_are_named_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let swapped = TlsConfig {
            cert_file: key.clone(),
            key_file: cert.clone(),
            client_ca_file: None,
        };
        let error = swapped.load().unwrap_err().to_string();
        assert!(error.starts_with("tls.cert_file"), "{error}");
        let missing = TlsConfig {
            cert_file: cert,
            key_file: key,
            client_ca_file: Some(dir.path().join("nope.pem")),
        };
        let error = missing.load().unwrap_err().to_string();
        assert!(
            error.starts_with("cannot read tls.client_ca_file"),
            "{error}"
        );
    }
}
