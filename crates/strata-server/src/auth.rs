//! Bearer-token authentication and per-service scopes: the `[auth]` config,
//! the tokens file it names, and the tower layer that checks every call.
//!
//! Secrets are kept only as SHA-256 digests and compared in constant time;
//! neither a secret nor a digest is ever logged or printed (token names are).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use serde::Deserialize;
use tonic::Status;
use tonic::body::Body;

use crate::metrics::{Metrics, method_label};

/// `[auth]`: where the tokens are. Without this section every caller is served.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A TOML file of `[[token]]` entries (in Kubernetes, a mounted Secret).
    pub tokens_file: Option<PathBuf>,
    /// Inline `[[auth.token]]` entries, for development and tests.
    #[serde(rename = "token")]
    pub tokens: Vec<TokenConfig>,
}

/// One `[[token]]`: a named client, its secret and what it may call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub secret: Secret,
    pub scopes: Vec<String>,
}

/// A bearer secret: deserialised like a string, never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("<redacted>")
    }
}

/// The tokens file: only `[[token]]` entries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<TokenConfig>,
}

/// What a call needs: read (ProfileService), ingest (IngestService) or admin
/// (AdminService).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Ingest,
    Admin,
}

impl Scope {
    const ALL: [Scope; 3] = [Scope::Read, Scope::Ingest, Scope::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Ingest => "ingest",
            Scope::Admin => "admin",
        }
    }

    fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.name() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Shortest secret accepted: shorter ones can be guessed.
pub const MIN_SECRET_CHARS: usize = 16;
const MAX_NAME_CHARS: usize = 64;

/// A token configuration that cannot be used, naming the key and why.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("cannot read auth.tokens_file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // Only the parser's message and line: its usual snippet of the line could
    // show a secret.
    #[error("auth.tokens_file {path}: line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// The accepted tokens, checked and hashed once at start-up.
pub struct Tokens {
    entries: Vec<Entry>,
}

struct Entry {
    name: Arc<str>,
    digest: [u8; 32],
    scopes: u8,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|entry| &*entry.name).collect();
        out.debug_struct("Tokens").field("names", &names).finish()
    }
}

impl Tokens {
    /// Reads the tokens file (if any) and the inline entries, and checks them all.
    pub fn load(config: &AuthConfig) -> Result<Tokens, AuthConfigError> {
        let mut sources: Vec<(String, TokenConfig)> = Vec::new();
        for (index, token) in config.tokens.iter().enumerate() {
            sources.push((format!("auth.token[{index}]"), token.clone()));
        }
        if let Some(path) = &config.tokens_file {
            for (index, token) in read_tokens_file(path)?.into_iter().enumerate() {
                sources.push((
                    format!("auth.tokens_file {}: token[{index}]", path.display()),
                    token,
                ));
            }
        }
        Tokens::from_entries(sources)
    }

    fn from_entries(sources: Vec<(String, TokenConfig)>) -> Result<Tokens, AuthConfigError> {
        let invalid = |key: String, reason: String| AuthConfigError::Invalid { key, reason };
        if sources.is_empty() {
            return Err(invalid(
                "auth".into(),
                "no tokens: add [[auth.token]] entries or point auth.tokens_file at a file of \
                 [[token]] entries (without an [auth] section the server needs no token)"
                    .into(),
            ));
        }
        let mut by_name: HashMap<String, String> = HashMap::new();
        let mut by_digest: HashMap<[u8; 32], String> = HashMap::new();
        let mut entries = Vec::with_capacity(sources.len());
        for (key, token) in sources {
            validate_name(&token.name).map_err(|reason| invalid(format!("{key}.name"), reason))?;
            if let Some(first) = by_name.insert(token.name.clone(), key.clone()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("{:?} is already the name of {first}", token.name),
                ));
            }
            let secret = token.secret.0.as_str();
            validate_secret(secret).map_err(|reason| invalid(format!("{key}.secret"), reason))?;
            let digest = sha256(secret.as_bytes());
            if let Some(first) = by_digest.insert(digest, key.clone()) {
                return Err(invalid(
                    format!("{key}.secret"),
                    format!("the same secret as {first}; give every client its own"),
                ));
            }
            if token.scopes.is_empty() {
                return Err(invalid(
                    format!("{key}.scopes"),
                    "is empty; name one or more of read, ingest, admin".into(),
                ));
            }
            let mut scopes = 0;
            for (index, name) in token.scopes.iter().enumerate() {
                let scope = Scope::parse(name).ok_or_else(|| {
                    invalid(
                        format!("{key}.scopes[{index}]"),
                        format!("{name:?} is not one of read, ingest, admin"),
                    )
                })?;
                scopes |= scope.bit();
            }
            entries.push(Entry {
                name: token.name.into(),
                digest,
                scopes,
            });
        }
        Ok(Tokens { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry whose secret is `presented`. Every entry is compared, in
    /// constant time, so the answer's timing says nothing about which
    /// entry (if any) matched or how close a guess came.
    fn find(&self, presented: &str) -> Option<&Entry> {
        let digest = sha256(presented.as_bytes());
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(&entry.digest, &digest) {
                found = Some(entry);
            }
        }
        found
    }

    /// Decides one call: Ok with the token's name, or the status to answer.
    fn check(&self, path: &str, authorization: Option<&[u8]>) -> Result<Arc<str>, Status> {
        let Some(presented) = authorization.and_then(bearer) else {
            return Err(Status::unauthenticated(
                "missing bearer token: send `authorization: Bearer <token>`",
            ));
        };
        let Some(entry) = self.find(presented) else {
            return Err(Status::unauthenticated(
                "unknown bearer token: the server has no token with this secret",
            ));
        };
        if let Some(needed) = required_scope(path).flatten()
            && entry.scopes & needed.bit() == 0
        {
            let held: Vec<&str> = Scope::ALL
                .into_iter()
                .filter(|scope| entry.scopes & scope.bit() != 0)
                .map(Scope::name)
                .collect();
            return Err(Status::permission_denied(format!(
                "token '{}' has scopes [{}]; {} needs {}",
                entry.name,
                held.join(", "),
                path.trim_start_matches('/'),
                needed.name()
            )));
        }
        Ok(entry.name.clone())
    }
}

fn read_tokens_file(path: &Path) -> Result<Vec<TokenConfig>, AuthConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: TokensFile = toml::from_str(&text).map_err(|error| AuthConfigError::Parse {
        path: path.to_path_buf(),
        line: error
            .span()
            .map_or(0, |span| text[..span.start].matches('\n').count() + 1),
        message: error.message().to_owned(),
    })?;
    Ok(file.token)
}

fn validate_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || !name.chars().all(allowed) {
        return Err(format!(
            "{name:?} must be 1 to {MAX_NAME_CHARS} of A-Z a-z 0-9 - _ . (it appears in logs)"
        ));
    }
    Ok(())
}

fn validate_secret(secret: &str) -> Result<(), String> {
    if secret.is_empty() {
        return Err("is empty".into());
    }
    // A header value: visible ASCII, and no spaces so `Bearer <secret>` splits cleanly.
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII without spaces (it travels in a header)".into());
    }
    if secret.len() < MIN_SECRET_CHARS {
        return Err(format!(
            "is shorter than {MIN_SECRET_CHARS} characters; make one with `openssl rand -hex 32`"
        ));
    }
    Ok(())
}

/// The token of an `authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(header: &[u8]) -> Option<&str> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// None: open to all (health, reflection). Some(None): any valid token.
/// Some(Some(scope)): a token holding that scope.
fn required_scope(path: &str) -> Option<Option<Scope>> {
    let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match service {
        // Kubernetes probes and grpcurl's discovery carry no token.
        "grpc.health.v1.Health"
        | "grpc.reflection.v1.ServerReflection"
        | "grpc.reflection.v1alpha.ServerReflection" => None,
        "strata.v1.ProfileService" => Some(Some(Scope::Read)),
        "strata.v1.IngestService" => Some(Some(Scope::Ingest)),
        "strata.v1.AdminService" => Some(Some(Scope::Admin)),
        // Unknown services answer UNIMPLEMENTED, but only to a known caller.
        _ => Some(None),
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Equal digests, in time that does not depend on where they differ.
fn constant_time_eq(left: &[u8; 32], right: &[u8; 32]) -> bool {
    let difference = left
        .iter()
        .zip(right)
        .fold(0u8, |acc, (l, r)| acc | (l ^ r));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(difference) == 0
}

/// The token that authenticated a call, in the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_name: Arc<str>,
}

/// Checks the bearer token of every call before it reaches a service.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    tokens: Option<Arc<Tokens>>,
    metrics: Arc<Metrics>,
}

impl AuthLayer {
    /// `None`: no `[auth]` section, every call passes.
    pub fn new(tokens: Option<Tokens>, metrics: Arc<Metrics>) -> AuthLayer {
        AuthLayer {
            tokens: tokens.map(Arc::new),
            metrics,
        }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            tokens: self.tokens.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    tokens: Option<Arc<Tokens>>,
    metrics: Arc<Metrics>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> tower_service::Service<http::Request<Body>> for Auth<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let Some(tokens) = &self.tokens else {
            return Box::pin(self.inner.call(request));
        };
        let path = request.uri().path();
        if required_scope(path).is_none() {
            return Box::pin(self.inner.call(request));
        }
        let started = Instant::now();
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        match tokens.check(path, authorization) {
            Ok(token_name) => {
                tracing::debug!(token = %token_name, "authenticated");
                request.extensions_mut().insert(Caller { token_name });
                Box::pin(self.inner.call(request))
            }
            Err(status) => {
                let method = method_label(path);
                tracing::debug!(method, code = ?status.code(), "call refused");
                self.metrics
                    .observe_rpc(method, status.code(), started.elapsed());
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef-read";

    fn token(name: &str, secret: &str, scopes: &[&str]) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            secret: Secret::new(secret),
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
        }
    }

    fn load(tokens: Vec<TokenConfig>) -> Result<Tokens, String> {
        Tokens::load(&AuthConfig {
            tokens_file: None,
            tokens,
        })
        .map_err(|error| error.to_string())
    }

    #[test]
    fn scopes_decide_by_service() {
        let tokens = load(vec![token("checkout", SECRET, &["read"])]).unwrap();
        let header = format!("Bearer {SECRET}");
        let header = Some(header.as_bytes());
        assert_eq!(
            &*tokens
                .check("/strata.v1.ProfileService/GetOffers", header)
                .unwrap(),
            "checkout"
        );
        let denied = tokens
            .check("/strata.v1.IngestService/ApplyUpdates", header)
            .unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            denied.message(),
            "token 'checkout' has scopes [read]; strata.v1.IngestService/ApplyUpdates needs ingest"
        );
        let missing = tokens
            .check("/strata.v1.ProfileService/GetOffers", None)
            .unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        let wrong = tokens
            .check(
                "/strata.v1.ProfileService/GetOffers",
                Some(b"bearer 0123456789abcdef-reaD"),
            )
            .unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        assert_eq!(required_scope("/grpc.health.v1.Health/Check"), None);
        assert_eq!(required_scope("/other.Service/Call"), Some(None));
    }

    #[test]
    fn validation_names_the_key_and_hides_the_secret() {
        let cases = [
            (
                vec![
                    token("a", SECRET, &["read"]),
                    token("a", "x".repeat(20).as_str(), &["read"]),
                ],
                "auth.token[1].name",
            ),
            (
                vec![token("a", "", &["read"])],
                "auth.token[0].secret: is empty",
            ),
            (vec![token("a", "short", &["read"])], "auth.token[0].secret"),
            (
                vec![token("a", SECRET, &["read", "write"])],
                "auth.token[0].scopes[1]",
            ),
            (vec![token("a", SECRET, &[])], "auth.token[0].scopes"),
            (
                vec![
                    token("a", SECRET, &["read"]),
                    token("b", SECRET, &["admin"]),
                ],
                "auth.token[1].secret",
            ),
            (vec![], "auth: no tokens"),
        ];
        for (tokens, expected) in cases {
            let error = load(tokens).unwrap_err();
            assert!(error.starts_with(expected), "{error}");
            assert!(!error.contains(SECRET), "{error}");
        }
        let config = AuthConfig {
            tokens_file: None,
            tokens: vec![token("a", SECRET, &["read"])],
        };
        let printed = format!("{config:?} {:?}", Tokens::load(&config).unwrap());
        assert!(!printed.contains(SECRET), "{printed}");
    }

    #[test]
    fn a_tokens_file_parse_error_shows_no_line_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(
            &path,
            "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef-unterminated\nscopes = [\"read\"]\n",
        )
        .unwrap();
        let error = Tokens::load(&AuthConfig {
            tokens_file: Some(path),
            tokens: Vec::new(),
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("line 3"), "{error}");
        assert!(!error.contains("0123456789abcdef"), "{error}");
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
    }
}
