//! Where a load run may go: the target resolved, and refused unless every
//! address it names is loopback (or the caller allows remote targets), so a
//! load test cannot hit a shared server by accident.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::error::LoadError;

/// Resolves `host:port`; every address it names must be loopback unless
/// `allow_remote`, so a load test cannot hit a shared server by accident.
pub fn resolve_target(target: &str, allow_remote: bool) -> Result<SocketAddr, LoadError> {
    let address = strip_scheme(target);
    let resolved: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|source| LoadError::Resolve {
            target: target.to_owned(),
            source,
        })?
        .collect();
    let first = *resolved.first().ok_or_else(|| LoadError::Resolve {
        target: target.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
    })?;
    if !allow_remote
        && let Some(remote) = resolved.iter().find(|address| !address.ip().is_loopback())
    {
        return Err(LoadError::RemoteTarget {
            target: target.to_owned(),
            address: *remote,
        });
    }
    Ok(first)
}

fn strip_scheme(target: &str) -> &str {
    target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .unwrap_or(target)
}

/// The host of `host:port` (IPv6 brackets removed).
pub fn target_host(target: &str) -> String {
    let address = strip_scheme(target);
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}
