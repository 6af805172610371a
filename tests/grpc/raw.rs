//! What the tests that play raw HTTP/2 clients against the server share
//! (`edge`, `overload`): a seeded server, gRPC framing, the
//! `grpc-message` decoding, and reading the server's metrics.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;

use crate::support::{Server, batch, profile, push};

/// Profiles in a [`seeded`] server.
pub const USERS: usize = 1000;

pub fn user(index: usize) -> String {
    format!("user-{index:05}")
}

/// A server with `config` and USERS profiles in it.
pub async fn seeded(dir: &std::path::Path, config: &str) -> Server {
    let server = Server::start(&dir.join("db"), Some(config));
    let profiles = (0..USERS).map(|index| profile(&user(index), 1)).collect();
    push(
        &mut server.ingest().await,
        vec![batch("seed", 1, profiles, &[])],
    )
    .await
    .unwrap();
    server
}

/// One length-prefixed gRPC message.
pub fn grpc_frame(message: &impl Message) -> Bytes {
    let encoded = message.encode_to_vec();
    let mut frame = vec![0];
    frame.extend((encoded.len() as u32).to_be_bytes());
    frame.extend(encoded);
    Bytes::from(frame)
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one sample line, e.g. `strata_rpc_in_flight{limit="read"}`.
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// Polls the metrics until `series` has `value` (no assertion on how long).
pub async fn wait_for_gauge(server: &Server, series: &str, value: f64) {
    for _ in 0..3000 {
        if sample(&server.scrape_metrics(), series) == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{series} never reached {value}:\n{}",
        server.scrape_metrics()
    );
}
