//! Flags every CLI client shares (recompute --push, replicate, loadtest,
//! admin, backup): the client TLS files and the connection they build.
//! Like Quickwit's `ClientArgs`: the CLI owns its flags, so no library crate
//! depends on clap for them.

use std::path::PathBuf;

/// Client TLS flags, shared by every command that connects to a server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientTlsArgs {
    /// CA certificate (PEM) that signed the server's certificate; turns TLS
    /// on (the endpoint is then https://).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a server that requires one.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name to verify in the server's certificate [default: the endpoint's host].
    #[arg(long, requires = "tls_ca")]
    pub tls_domain: Option<String>,
}

impl ClientTlsArgs {
    /// The client's TLS settings, or None without --tls-ca.
    pub fn options(&self) -> Result<Option<strata_client::TlsOptions>, strata_client::ClientError> {
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let identity = self.tls_cert.as_deref().zip(self.tls_key.as_deref());
        let mut options = strata_client::TlsOptions::from_files(ca, identity)?;
        if let Some(name) = &self.tls_domain {
            options = options.domain_name(name.clone());
        }
        Ok(Some(options))
    }

    /// A connection to `endpoint` with these TLS flags and `token`: what
    /// every CLI client (push, replicate, admin, backup) builds.
    pub fn connection(
        &self,
        endpoint: impl Into<String>,
        token: Option<&str>,
    ) -> Result<strata_client::Connection, strata_client::ClientError> {
        let mut connection = strata_client::Connection::new(endpoint);
        if let Some(token) = token {
            connection = connection.with_token(token);
        }
        if let Some(tls) = self.options()? {
            connection = connection.with_tls(tls);
        }
        Ok(connection)
    }
}
