//! Where a server is and how to talk to it: endpoint, timeouts, TLS and the
//! bearer token every call carries.

use std::path::Path;
use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::ClientError;

/// A channel whose calls carry the connection's bearer token, if any.
pub type AuthChannel = InterceptedService<Channel, BearerToken>;

/// How to reach one strata server.
#[derive(Clone)]
pub struct Connection {
    endpoint: String,
    token: Option<String>,
    connect_timeout: Duration,
    tls: Option<TlsOptions>,
}

impl std::fmt::Debug for Connection {
    // Tokens are secrets: never printed, not even in debug output.
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Connection {
    /// `endpoint` is a URI such as `http://127.0.0.1:50051`.
    pub fn new(endpoint: impl Into<String>) -> Connection {
        Connection {
            endpoint: endpoint.into(),
            token: None,
            connect_timeout: Duration::from_secs(5),
            tls: None,
        }
    }

    /// Every call sends `authorization: Bearer <token>`.
    pub fn with_token(mut self, token: impl Into<String>) -> Connection {
        self.token = Some(token.into());
        self
    }

    pub fn with_connect_timeout(mut self, timeout: Duration) -> Connection {
        self.connect_timeout = timeout;
        self
    }

    /// Talk TLS to an `https://` endpoint, trusting the given CA.
    pub fn with_tls(mut self, tls: TlsOptions) -> Connection {
        self.tls = Some(tls);
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Opens one HTTP/2 connection now, so a wrong address fails here rather
    /// than on the first call.
    pub async fn connect(&self) -> Result<AuthChannel, ClientError> {
        let token = self.bearer()?;
        match self.endpoint_builder()?.connect().await {
            Ok(channel) => Ok(InterceptedService::new(channel, token)),
            Err(source) => Err(self.explain(self.connect_error(source)).await),
        }
    }

    /// A failed connection or call, explained when the cause is a TLS
    /// mismatch: a plaintext client on a TLS port sees only "h2 protocol
    /// error" or a closed connection, a TLS client on a plaintext port a
    /// handshake failure. Only for errors that can come from one (connect,
    /// UNAVAILABLE, UNKNOWN, INTERNAL, CANCELLED), the server is probed once
    /// (see [`probe`]); if it speaks the other protocol, the error says what
    /// to change, else `error` is returned as it was.
    pub async fn explain(&self, error: ClientError) -> ClientError {
        let transport = match &error {
            ClientError::Connect { .. } => true,
            ClientError::Rpc(status) => matches!(
                status.code(),
                tonic::Code::Unavailable
                    | tonic::Code::Unknown
                    | tonic::Code::Internal
                    | tonic::Code::Cancelled
            ),
            _ => false,
        };
        if !transport {
            return error;
        }
        self.tls_mismatch().await.unwrap_or(error)
    }

    /// Probes the server once (see [`probe`]): an error that says what to
    /// change if it speaks TLS to this http:// endpoint or plaintext to this
    /// https:// one, else None. For callers whose failure came from deeper
    /// down (the recompute job's push) and so is no [`ClientError`].
    pub async fn tls_mismatch(&self) -> Option<ClientError> {
        let (https, authority) = self.scheme_and_authority()?;
        match (probe(&authority).await, https) {
            (Speaks::Tls, false) => Some(ClientError::Tls(format!(
                "{}: the server speaks TLS: use https://{authority} (or {authority} with \
                 --tls-ca) and give --tls-ca the CA that signed its certificate",
                self.endpoint
            ))),
            (Speaks::PlainHttp2, true) => Some(ClientError::Tls(format!(
                "{}: the server does not speak TLS: use http://{authority} (or {authority}) \
                 without --tls-ca",
                self.endpoint
            ))),
            _ => None,
        }
    }

    fn scheme_and_authority(&self) -> Option<(bool, String)> {
        let uri: tonic::codegen::http::Uri = self.endpoint.parse().ok()?;
        let https = uri.scheme_str() == Some("https");
        let authority = uri.authority()?;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some((https, format!("{}:{port}", authority.host())))
    }

    /// A channel that connects on first use (and reconnects after a failure).
    pub fn connect_lazy(&self) -> Result<AuthChannel, ClientError> {
        let token = self.bearer()?;
        Ok(InterceptedService::new(
            self.endpoint_builder()?.connect_lazy(),
            token,
        ))
    }

    fn bearer(&self) -> Result<BearerToken, ClientError> {
        let header = match &self.token {
            None => None,
            Some(token) => Some(
                AsciiMetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| ClientError::Token)?,
            ),
        };
        Ok(BearerToken { header })
    }

    fn endpoint_builder(&self) -> Result<Endpoint, ClientError> {
        let endpoint = Endpoint::from_shared(self.endpoint.clone())
            .map_err(|source| self.connect_error(source))?
            // Small request/response pairs: Nagle's delay would dominate latency.
            .tcp_nodelay(true)
            .connect_timeout(self.connect_timeout);
        // tonic would quietly send plaintext to an http:// endpoint even with
        // TLS configured; the scheme and the options must agree.
        let https = endpoint.uri().scheme_str() == Some("https");
        match (&self.tls, https) {
            (Some(tls), true) => endpoint
                .tls_config(tls.client_config())
                .map_err(|source| self.connect_error(source)),
            (None, false) => Ok(endpoint),
            (Some(_), false) => Err(ClientError::Tls(format!(
                "TLS options were given but {} is not an https:// endpoint",
                self.endpoint
            ))),
            (None, true) => Err(ClientError::Tls(format!(
                "{} is an https:// endpoint: give the CA certificate to trust (--tls-ca)",
                self.endpoint
            ))),
        }
    }

    fn connect_error(&self, source: tonic::transport::Error) -> ClientError {
        ClientError::Connect {
            endpoint: self.endpoint.clone(),
            source,
        }
    }
}

/// What a server answered the probe with.
#[derive(Debug, PartialEq, Eq)]
enum Speaks {
    Tls,
    PlainHttp2,
    Unknown,
}

/// The HTTP/2 client preface and an empty SETTINGS frame: a plaintext
/// HTTP/2 server answers with its own SETTINGS frame, a TLS server with an
/// alert record (the bytes are no ClientHello).
const PROBE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens one TCP connection to `authority`, sends [`PROBE`] and reads the
/// first bytes of the answer; bounded by [`PROBE_TIMEOUT`] per step.
async fn probe(authority: &str) -> Speaks {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::timeout;
    let Ok(Ok(mut stream)) =
        timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(authority)).await
    else {
        return Speaks::Unknown;
    };
    if !matches!(
        timeout(PROBE_TIMEOUT, stream.write_all(PROBE)).await,
        Ok(Ok(()))
    ) {
        return Speaks::Unknown;
    }
    let mut answer = [0u8; 9];
    let mut filled = 0;
    while filled < answer.len() {
        match timeout(PROBE_TIMEOUT, stream.read(&mut answer[filled..])).await {
            Ok(Ok(read)) if read > 0 => filled += read,
            _ => break,
        }
    }
    classify(&answer[..filled])
}

fn classify(answer: &[u8]) -> Speaks {
    match answer {
        // A TLS record of version 3.x: alert (21) or handshake (22).
        [21 | 22, 3, ..] => Speaks::Tls,
        // An HTTP/2 frame header: 3 bytes of length, then type 4, SETTINGS.
        [_, _, _, 4, ..] => Speaks::PlainHttp2,
        _ => Speaks::Unknown,
    }
}

/// TLS settings: the CA that signed the server's certificate, optionally a
/// client certificate (for servers that require one) and the name to verify.
#[derive(Clone)]
pub struct TlsOptions {
    ca_certificate: Vec<u8>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    domain_name: Option<String>,
}

impl std::fmt::Debug for TlsOptions {
    // The client key is a secret.
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.debug_struct("TlsOptions")
            .field("client_certificate", &self.identity.is_some())
            .field("domain_name", &self.domain_name)
            .finish_non_exhaustive()
    }
}

impl TlsOptions {
    /// Trust the server certificates this CA (PEM) signed.
    pub fn new(ca_certificate_pem: impl Into<Vec<u8>>) -> TlsOptions {
        TlsOptions {
            ca_certificate: ca_certificate_pem.into(),
            identity: None,
            domain_name: None,
        }
    }

    /// Reads the CA and, if given, the client certificate and key (PEM files).
    pub fn from_files(
        ca_certificate: &Path,
        client_identity: Option<(&Path, &Path)>,
    ) -> Result<TlsOptions, ClientError> {
        let mut options = TlsOptions::new(read("CA certificate", ca_certificate)?);
        if let Some((certificate, key)) = client_identity {
            options = options.client_identity(
                read("client certificate", certificate)?,
                read("client key", key)?,
            );
        }
        Ok(options)
    }

    /// Present this certificate and key (PEM) to servers that require one.
    pub fn client_identity(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> TlsOptions {
        self.identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// Verify the server certificate for this name instead of the endpoint's host.
    pub fn domain_name(mut self, name: impl Into<String>) -> TlsOptions {
        self.domain_name = Some(name.into());
        self
    }

    fn client_config(&self) -> ClientTlsConfig {
        let mut config =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_certificate));
        if let Some((certificate, key)) = &self.identity {
            config = config.identity(Identity::from_pem(certificate, key));
        }
        if let Some(name) = &self.domain_name {
            config = config.domain_name(name.clone());
        }
        config
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Adds the `authorization` header to every request.
#[derive(Clone)]
pub struct BearerToken {
    header: Option<AsciiMetadataValue>,
}

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_token() {
        let connection = Connection::new("http://127.0.0.1:1").with_token("s3cret-token");
        let printed = format!("{connection:?}");
        assert!(!printed.contains("s3cret-token"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    #[test]
    fn a_token_with_a_newline_is_refused() {
        let connection = Connection::new("http://127.0.0.1:1").with_token("bad\ntoken");
        assert!(matches!(connection.bearer(), Err(ClientError::Token)));
    }

    #[test]
    fn scheme_and_tls_options_must_agree() {
        let tls = TlsOptions::new("not used").client_identity("cert", "s3cret-key");
        let plain = Connection::new("http://127.0.0.1:1").with_tls(tls.clone());
        assert!(matches!(plain.connect_lazy(), Err(ClientError::Tls(_))));
        let https = Connection::new("https://127.0.0.1:1");
        assert!(matches!(https.connect_lazy(), Err(ClientError::Tls(_))));
        let printed = format!("{:?}", https.with_tls(tls));
        assert!(!printed.contains("s3cret-key"), "{printed}");
    }

    #[test]
    fn a_probe_answer_tells_tls_from_plaintext_http2() {
        // rustls's decode_error alert, and a server hello.
        assert_eq!(classify(&[21, 3, 3, 0, 2, 2, 50]), Speaks::Tls);
        assert_eq!(classify(&[22, 3, 3, 0, 90]), Speaks::Tls);
        // hyper's first SETTINGS frame (length 18, type 4, no flags, stream 0).
        assert_eq!(classify(&[0, 0, 18, 4, 0, 0, 0, 0, 0]), Speaks::PlainHttp2);
        // A GOAWAY (type 7), nothing, or an HTTP/1.1 answer: unknown.
        assert_eq!(classify(&[0, 0, 8, 7, 0, 0, 0, 0, 0]), Speaks::Unknown);
        assert_eq!(classify(&[]), Speaks::Unknown);
        assert_eq!(classify(b"HTTP/1.1 400"), Speaks::Unknown);
    }

    #[tokio::test]
    async fn an_unreachable_server_names_the_endpoint() {
        // Port 1 on loopback: nothing listens there, the connect is refused.
        let error = Connection::new("http://127.0.0.1:1")
            .connect()
            .await
            .expect_err("nothing listens on port 1");
        assert!(error.to_string().contains("http://127.0.0.1:1"), "{error}");
    }
}
