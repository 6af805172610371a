//! Flags every CLI client shares (get, offers, recompute --push, replicate,
//! admin, backup): the server address as typed, the bearer token, the client
//! TLS files, and the connection they build. Like Quickwit's `ClientArgs`:
//! the CLI owns its flags, so no library crate depends on clap for them.

use std::path::PathBuf;

use anyhow::Context;

/// Where a read client (get, offers) connects, and how it authenticates.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The server: host:port, or an http:// or https:// URL (host:port means
    /// https:// when --tls-ca is given).
    #[arg(long, env = "STRATA_TARGET", default_value = "127.0.0.1:50051")]
    pub target: String,
    /// Bearer token (read scope) for a server that requires one.
    /// Prefer the environment variable: flags show up in process lists.
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

impl ServerArgs {
    pub fn connection(&self) -> anyhow::Result<strata_client::Connection> {
        self.tls.connection(&self.target, self.token.as_deref())
    }
}

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

    /// A connection to `address` (host:port or a URL, see [`endpoint_uri`])
    /// with these TLS flags and `token`: what every CLI client builds.
    pub fn connection(
        &self,
        address: &str,
        token: Option<&str>,
    ) -> anyhow::Result<strata_client::Connection> {
        let endpoint = endpoint_uri(address, self.tls_ca.is_some())?;
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

/// The endpoint URI of a server address as a user types it: `host:port`
/// (also `[::1]:port`) becomes `http://host:port`, or `https://` when `tls`
/// (--tls-ca) is on; an `http://` or `https://` URL is kept as typed, so a
/// scheme that disagrees with the TLS flags is still refused by the client,
/// with a message that says which to change.
pub fn endpoint_uri(address: &str, tls: bool) -> anyhow::Result<String> {
    let address = address.trim();
    if let Some((scheme, rest)) = address.split_once("://") {
        anyhow::ensure!(
            matches!(scheme, "http" | "https"),
            "server address {address:?}: the scheme must be http:// or https:// (or give host:port)"
        );
        anyhow::ensure!(
            !rest.is_empty(),
            "server address {address:?} has no host:port"
        );
        return Ok(address.to_owned());
    }
    let (host, port) = address.rsplit_once(':').with_context(|| {
        format!("server address {address:?}: give host:port, e.g. 127.0.0.1:50051")
    })?;
    anyhow::ensure!(
        !host.is_empty() && !host.contains('/'),
        "server address {address:?}: give host:port, e.g. 127.0.0.1:50051"
    );
    port.parse::<u16>().with_context(|| {
        format!("server address {address:?}: the port {port:?} is not a number from 0 to 65535")
    })?;
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{address}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(address: &str, tls: bool, expected: Result<&str, &str>) {
        match (endpoint_uri(address, tls), expected) {
            (Ok(uri), Ok(expected)) => assert_eq!(uri, expected, "{address}"),
            (Err(error), Err(fragment)) => {
                let message = format!("{error:#}");
                assert!(message.contains(fragment), "{address}: {message}");
            }
            (got, expected) => panic!("{address}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn host_and_port_get_the_scheme_the_tls_flags_imply() {
        check("127.0.0.1:50051", false, Ok("http://127.0.0.1:50051"));
        check("127.0.0.1:50051", true, Ok("https://127.0.0.1:50051"));
        check("localhost:7", false, Ok("http://localhost:7"));
        check("[::1]:50051", false, Ok("http://[::1]:50051"));
        check(
            " strata.internal:443 ",
            true,
            Ok("https://strata.internal:443"),
        );
    }

    #[test]
    fn urls_are_kept_as_typed() {
        check(
            "http://127.0.0.1:50051",
            false,
            Ok("http://127.0.0.1:50051"),
        );
        check(
            "https://127.0.0.1:50051",
            true,
            Ok("https://127.0.0.1:50051"),
        );
        // The client refuses the disagreement later, naming --tls-ca.
        check("http://127.0.0.1:50051", true, Ok("http://127.0.0.1:50051"));
    }

    #[test]
    fn other_addresses_say_what_to_type() {
        check("127.0.0.1", false, Err("give host:port"));
        check(":50051", false, Err("give host:port"));
        check(
            "127.0.0.1:http",
            false,
            Err("port \"http\" is not a number"),
        );
        check(
            "127.0.0.1:70000",
            false,
            Err("is not a number from 0 to 65535"),
        );
        check(
            "grpc://127.0.0.1:1",
            false,
            Err("must be http:// or https://"),
        );
        check("http://", false, Err("has no host:port"));
    }
}
