//! Where a load run may go: the target resolved, and refused unless every
//! address it names is loopback (or the caller allows remote targets), so a
//! load test cannot hit a shared server by accident.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

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
    if resolved.is_empty() {
        return Err(LoadError::Resolve {
            target: target.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        });
    }
    if !allow_remote
        && let Some(remote) = resolved.iter().find(|address| !address.ip().is_loopback())
    {
        return Err(LoadError::RemoteTarget {
            target: target.to_owned(),
            address: *remote,
        });
    }
    Ok(reachable(&resolved))
}

/// How long one address may take to accept the probe connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The first of `resolved` (not empty) that accepts a TCP connection, or the
/// first when none does (the run's own connection then reports why). A name
/// can stand for several addresses: Debian's `localhost` is `::1` and
/// `127.0.0.1`, and a server listening on one family only must still be
/// found whichever the resolver lists first.
fn reachable(resolved: &[SocketAddr]) -> SocketAddr {
    if resolved.len() == 1 {
        return resolved[0];
    }
    resolved
        .iter()
        .copied()
        .find(|address| TcpStream::connect_timeout(address, PROBE_TIMEOUT).is_ok())
        .unwrap_or(resolved[0])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_that_listens_is_chosen_whatever_its_place() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Nothing listens on the IPv6 loopback at this port (or the machine
        // has no IPv6): refused either way.
        let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert_eq!(reachable(&[v6, v4]), v4);
        assert_eq!(reachable(&[v4, v6]), v4);
        drop(listener);
        // None listens: the first, whose connection error the run reports.
        assert_eq!(reachable(&[v6, v4]), v6);
    }
}
