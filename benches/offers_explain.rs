//! What GetOffers' `explain` flag costs: the real server (`strata_server::serve`)
//! in process over a store of demo profiles (0 to 3 benefits each), driven by
//! a closed loop of GetOffers calls at checkout ([`support::CONNECTIONS`] x
//! [`support::IN_FLIGHT`] in flight), in alternating rounds:
//!
//! - `off`: `explain: false`, the request every caller sent before the flag
//!   existed (a false proto3 bool is not encoded: the same bytes on the
//!   wire), through the same path (the handler's only additions when off
//!   are testing the bool and an `Option` that stays `None`);
//! - `on`: `explain: true`, every candidate explained.
//!
//! Rounds alternate (off, on, off, on, ...) so a neighbour's load on this
//! shared machine falls on both; the table gives each mode's throughput and
//! p50/p99 over all its rounds, and the ratios on/off. A second `off` row
//! (the off rounds split in halves) shows the noise between identical runs.
//!
//! Over gRPC the decision is a sliver of a call, so a second table measures
//! it alone, in process: the decode of a stored profile and
//! `profile_service::decide_offers` (what GetOffers runs after the look-up)
//! with `explain: false`, against the same decision compiled without the
//! explanation hook at all (`decide_offers_without_explanation`: the flag
//! is never read, the copy never made), and with `explain: true`; per call
//! p50/p99 (means over runs of 64 calls) and the ratios to the hookless
//! baseline, rounds alternating as above.
//!
//! Run with `cargo bench --bench offers_explain`; `STRATA_BENCH_USERS`
//! (default 100,000), `STRATA_BENCH_SECONDS` (per round, default 2, after
//! 0.5 s of warm-up), `STRATA_BENCH_ROUNDS` (per mode, default 4) and
//! `STRATA_BENCH_DECIDE_SECONDS` (per in-process round, default 1).

#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prost::Message;
use strata_core::OfferContext;
use strata_loadtest::fixtures::{demo_profile, demo_user_id};
use strata_proto::v1::profile_service_client::ProfileServiceClient;
use strata_proto::v1::{GetOffersRequest, OfferContext as WireContext, Profile, Surface};
use strata_server::config::Config;
use strata_server::profile_service::{
    OfferRequest, decide_offers, decide_offers_without_explanation,
};
use strata_store::{Batch, Store, StoreOptions};
use support::{CONNECTIONS, IN_FLIGHT, PinnedRuntime, Pinning, StrataServer, environment};

const SEED: u64 = 1;
const COMPUTED_AT: i64 = 1_800_000_000;
const LOAD_CHUNK: u64 = 10_000;
const WARMUP: Duration = Duration::from_millis(500);

/// One round's calls: latencies (ns) and how long it was measured.
struct Round {
    latency: hdrhistogram::Histogram<u64>,
    calls: u64,
    errors: u64,
    seconds: f64,
}

fn histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn main() -> anyhow::Result<()> {
    support::tune_pages();
    let users: u64 = environment("STRATA_BENCH_USERS", 100_000)?;
    let seconds: f64 = environment("STRATA_BENCH_SECONDS", 2.0)?;
    let rounds: usize = environment("STRATA_BENCH_ROUNDS", 4)?;
    let decide_seconds: f64 = environment("STRATA_BENCH_DECIDE_SECONDS", 1.0)?;
    let pinning = Pinning::choose();
    let client = PinnedRuntime::new("bench-client", pinning.client())?;
    let server = PinnedRuntime::new("bench-server", pinning.server())?;

    let dir = tempfile::tempdir()?;
    let store_path = dir.path().join("db");
    load(&store_path, users)?;
    let mut config = Config::default();
    config.store.data_dir = store_path;
    let running = StrataServer::start(&server.runtime, config)?;
    let address = running.address;

    let mut off = Vec::new();
    let mut on = Vec::new();
    for round in 0..rounds * 2 {
        let explain = round % 2 == 1;
        let result = client.block_on(|| drive(address, users, explain, seconds))?;
        eprintln!(
            "round {round}: explain {explain}, {:.0} calls/s",
            result.calls as f64 / result.seconds
        );
        if explain {
            on.push(result);
        } else {
            off.push(result);
        }
    }
    running.stop(&server.runtime)?;

    let (first, second) = off.split_at(off.len() / 2);
    let off_first = summary(first);
    let off_second = summary(second);
    let off_all = summary(&off);
    let on_all = summary(&on);
    println!(
        "GetOffers at checkout, {users} users, {} in flight, {rounds} rounds of {seconds} s per mode ({})",
        CONNECTIONS * IN_FLIGHT,
        pinning_note(&pinning)
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "mode", "calls/s", "p50 us", "p99 us", "x calls", "x p50", "x p99"
    );
    let row = |name: &str, mode: &Summary| {
        println!(
            "{:<28} {:>10.0} {:>10.1} {:>10.1} {:>8.3} {:>8.3} {:>8.3}",
            name,
            mode.rate,
            mode.p50,
            mode.p99,
            mode.rate / off_all.rate,
            mode.p50 / off_all.p50,
            mode.p99 / off_all.p99
        );
    };
    row("off (baseline, all rounds)", &off_all);
    row("off, first half of rounds", &off_first);
    row("off, second half of rounds", &off_second);
    row("on (explain: true)", &on_all);
    let errors: u64 = off.iter().chain(&on).map(|round| round.errors).sum();
    if errors > 0 {
        anyhow::bail!("{errors} calls failed");
    }
    decision_table(users, rounds, decide_seconds)
}

/// The decision alone, in process, on this thread: which path decides.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// Compiled without the explanation hook.
    NoHook,
    /// The serving path, `explain` as given.
    Serving { explain: bool },
}

fn decision_table(users: u64, rounds: usize, seconds: f64) -> anyhow::Result<()> {
    const RUN: usize = 64;
    let stored: Vec<Vec<u8>> = (0..users.min(20_000))
        .map(|index| demo_profile(SEED, index, COMPUTED_AT).encode_to_vec())
        .collect();
    let at = strata_core::UnixNanos::from(COMPUTED_AT + 86_400) * 1_000_000_000;
    let context = OfferContext::new(strata_core::Surface::Checkout, Some(5_000), Some("EUR"), at)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let paths = [
        Path::NoHook,
        Path::Serving { explain: false },
        Path::Serving { explain: true },
    ];
    let mut measured: Vec<Vec<Round>> = paths.iter().map(|_| Vec::new()).collect();
    let mut next = 0usize;
    for _ in 0..rounds {
        for (path, rounds) in paths.iter().zip(&mut measured) {
            let request = OfferRequest {
                context: &context,
                cart_value: Some(5_000),
                currency: "EUR",
                at,
                limit: 2,
                explain: matches!(path, Path::Serving { explain: true }),
            };
            let mut round = Round {
                latency: histogram(),
                calls: 0,
                errors: 0,
                seconds: 0.0,
            };
            let started = Instant::now();
            let deadline = started + Duration::from_secs_f64(seconds);
            while Instant::now() < deadline {
                let run_started = Instant::now();
                for _ in 0..RUN {
                    let profile = Profile::decode(stored[next].as_slice())?;
                    next = (next + 1) % stored.len();
                    let answer = match path {
                        Path::NoHook => {
                            decide_offers_without_explanation(Some(profile), &[], &request)
                        }
                        Path::Serving { .. } => decide_offers(Some(profile), &[], &request),
                    };
                    if answer.explanation.is_some() != request.explain {
                        round.errors += 1;
                    }
                    std::hint::black_box(answer);
                }
                let per_call = run_started.elapsed().as_nanos() as u64 / RUN as u64;
                round.latency.saturating_record(per_call.max(1));
                round.calls += RUN as u64;
            }
            round.seconds = started.elapsed().as_secs_f64();
            rounds.push(round);
        }
    }
    let baseline = summary(&measured[0]);
    println!();
    println!(
        "the decision alone, in process (decode + decide_offers), {} stored profiles, {rounds} rounds of {seconds} s per path",
        stored.len()
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "path", "calls/s", "p50 ns", "p99 ns", "x calls", "x p50", "x p99"
    );
    let names = [
        "no explain hook (baseline)",
        "serving path, explain off",
        "serving path, explain on",
    ];
    // Latencies in ns here (the summary's are in us), ratios to `base`.
    let row = |name: &str, mode: &Summary, base: &Summary| {
        println!(
            "{:<28} {:>10.0} {:>10.0} {:>10.0} {:>8.3} {:>8.3} {:>8.3}",
            name,
            mode.rate,
            mode.p50 * 1_000.0,
            mode.p99 * 1_000.0,
            mode.rate / base.rate,
            mode.p50 / base.p50,
            mode.p99 / base.p99
        );
    };
    for (name, rounds) in names.iter().zip(&measured) {
        row(name, &summary(rounds), &baseline);
    }
    // The noise between identical runs: the baseline's halves, one to the other.
    let (first, second) = measured[0].split_at(measured[0].len() / 2);
    row("no hook, 2nd half / 1st", &summary(second), &summary(first));
    let errors: u64 = measured.iter().flatten().map(|round| round.errors).sum();
    if errors > 0 {
        anyhow::bail!("{errors} decisions had the wrong explanation");
    }
    Ok(())
}

struct Summary {
    rate: f64,
    p50: f64,
    p99: f64,
}

fn summary(rounds: &[Round]) -> Summary {
    let mut latency = histogram();
    let (mut calls, mut seconds) = (0u64, 0.0);
    for round in rounds {
        latency.add(&round.latency).expect("same bounds");
        calls += round.calls;
        seconds += round.seconds;
    }
    Summary {
        rate: calls as f64 / seconds.max(f64::MIN_POSITIVE),
        p50: latency.value_at_quantile(0.5) as f64 / 1_000.0,
        p99: latency.value_at_quantile(0.99) as f64 / 1_000.0,
    }
}

fn pinning_note(pinning: &Pinning) -> String {
    match (pinning.client(), pinning.server()) {
        (Some(client), Some(server)) => format!("client core {client}, server core {server}"),
        _ => "not pinned".to_owned(),
    }
}

/// One round: CONNECTIONS x IN_FLIGHT callers in a closed loop over random
/// users, warm-up then `seconds` measured.
async fn drive(
    address: std::net::SocketAddr,
    users: u64,
    explain: bool,
    seconds: f64,
) -> anyhow::Result<Round> {
    let started = Instant::now();
    let measure_from = started + WARMUP;
    let deadline = measure_from + Duration::from_secs_f64(seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for connection in 0..CONNECTIONS {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
            .connect()
            .await?;
        for slot in 0..IN_FLIGHT {
            let mut client = ProfileServiceClient::new(channel.clone());
            let errors = errors.clone();
            let mut state = (connection * IN_FLIGHT + slot) as u64 * 0x9E37_79B9 + 1;
            tasks.push(tokio::spawn(async move {
                let mut latency = histogram();
                let mut calls = 0u64;
                loop {
                    let sent = Instant::now();
                    if sent >= deadline {
                        break;
                    }
                    // xorshift: a cheap, fixed sequence of users per slot.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let request = GetOffersRequest {
                        user_id: demo_user_id(state % users),
                        context: Some(WireContext {
                            surface: Surface::Checkout.into(),
                            cart_value: Some(5_000),
                            currency: "EUR".into(),
                            request_time: Some(prost_types::Timestamp {
                                seconds: COMPUTED_AT + 86_400,
                                nanos: 0,
                            }),
                        }),
                        max_offers: 2,
                        explain,
                    };
                    let answer = client.get_offers(request).await;
                    if sent >= measure_from {
                        latency.saturating_record(sent.elapsed().as_nanos() as u64);
                        calls += 1;
                        match answer {
                            Ok(answer) if answer.get_ref().explanation.is_some() == explain => {}
                            _ => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                (latency, calls)
            }));
        }
    }
    let mut round = Round {
        latency: histogram(),
        calls: 0,
        errors: 0,
        seconds,
    };
    for task in tasks {
        let (latency, calls) = task.await?;
        round.latency.add(&latency).expect("same bounds");
        round.calls += calls;
    }
    round.errors = errors.load(Ordering::Relaxed);
    Ok(round)
}

/// Writes `users` demo profiles to a new store at `path`.
fn load(path: &std::path::Path, users: u64) -> anyhow::Result<()> {
    let options = StoreOptions {
        sync_writes: false,
        ..StoreOptions::default()
    };
    let store = Store::open(path, &options)?;
    for (sequence, start) in (0..users).step_by(LOAD_CHUNK as usize).enumerate() {
        let upserts: Vec<(String, Vec<u8>)> = (start..(start + LOAD_CHUNK).min(users))
            .map(|index| {
                let record = demo_profile(SEED, index, COMPUTED_AT).encode_to_vec();
                (demo_user_id(index), record)
            })
            .collect();
        store.apply(Batch {
            producer_id: "offers-explain",
            sequence: sequence as u64 + 1,
            upserts: &upserts,
            deletes: &[] as &[&str],
        })?;
    }
    store.flush()?;
    Ok(())
}
