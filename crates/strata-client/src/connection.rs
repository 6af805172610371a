//! Where a server is and how to talk to it: endpoint, timeouts and the bearer
//! token every call carries.

use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::ClientError;

/// A channel whose calls carry the connection's bearer token, if any.
pub type AuthChannel = InterceptedService<Channel, BearerToken>;

/// How to reach one strata server.
#[derive(Clone)]
pub struct Connection {
    endpoint: String,
    token: Option<String>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    // Tokens are secrets: never printed, not even in debug output.
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
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

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Opens one HTTP/2 connection now, so a wrong address fails here rather
    /// than on the first call.
    pub async fn connect(&self) -> Result<AuthChannel, ClientError> {
        let token = self.bearer()?;
        let channel = self
            .endpoint_builder()?
            .connect()
            .await
            .map_err(|source| self.connect_error(source))?;
        Ok(InterceptedService::new(channel, token))
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
        Ok(Endpoint::from_shared(self.endpoint.clone())
            .map_err(|source| self.connect_error(source))?
            // Small request/response pairs: Nagle's delay would dominate latency.
            .tcp_nodelay(true)
            .connect_timeout(self.connect_timeout))
    }

    fn connect_error(&self, source: tonic::transport::Error) -> ClientError {
        ClientError::Connect {
            endpoint: self.endpoint.clone(),
            source,
        }
    }
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
