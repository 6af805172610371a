//! What the tests that play raw HTTP/2 clients against the server share
//! (`edge`, `overload`): a seeded server, gRPC framing, the
//! `grpc-message` decoding, and reading the server's metrics.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tonic::Code;

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

fn percent_decode(text: &str) -> String {
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

/// A raw HTTP/2 client connection, driven by a task of its own, once the
/// server's SETTINGS have arrived (so the client obeys its stream limit).
/// `initial_window` 0 means the client never lets the server send it data.
pub async fn raw_connection(
    address: SocketAddr,
    initial_window: Option<u32>,
) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut builder = h2::client::Builder::new();
    if let Some(window) = initial_window {
        builder.initial_window_size(window);
    }
    let (send, mut connection) = builder.handshake(tcp).await.unwrap();
    let mut ping = connection.ping_pong().unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // The server's SETTINGS precede its answer to the ping.
    ping.ping(h2::Ping::opaque()).await.unwrap();
    send
}

/// Starts a call: headers only (`content-type` and `grpc-timeout` unless
/// None); the returned stream sends the body.
pub async fn start_call(
    send: &h2::client::SendRequest<Bytes>,
    address: SocketAddr,
    path: &str,
    content_type: Option<&str>,
    grpc_timeout: Option<&str>,
) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{address}{path}"))
        .header("te", "trailers");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(timeout) = grpc_timeout {
        request = request.header("grpc-timeout", timeout);
    }
    let mut send = send.clone().ready().await.unwrap();
    send.send_request(request.body(()).unwrap(), false).unwrap()
}

/// The HTTP status, grpc-status and grpc-message of an answer, from its
/// headers (a trailers-only answer) or its trailers.
pub async fn answer(response: h2::client::ResponseFuture) -> (u16, Code, String) {
    let response = response.await.unwrap();
    let http_status = response.status().as_u16();
    let status = |headers: &http::HeaderMap| {
        let code: i32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
        let message = headers
            .get("grpc-message")
            .map(|value| percent_decode(value.to_str().unwrap()))
            .unwrap_or_default();
        Some((Code::from(code), message))
    };
    if let Some((code, message)) = status(response.headers()) {
        return (http_status, code, message);
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    let (code, message) = status(&trailers).expect("grpc-status in the trailers");
    (http_status, code, message)
}
