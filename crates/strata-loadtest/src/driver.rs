//! The load loop, independent of what is called: closed loop (each slot
//! sends its next request when the previous one completes) or open loop (a
//! fixed schedule, latency measured from each request's intended send time so
//! that queueing behind a slow server is counted, not hidden).
//!
//! Kept apart from gRPC so that the side-by-side benchmark drives Redis with
//! the very same loop, and so the schedule can be tested with a fake server.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tonic::Code;

use strata_proto::code_name;

use crate::error::LoadError;
use crate::ids::IdSpace;

/// Hard ceilings, whatever the flags say: a forgotten run must end.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 60);
pub const MAX_REQUESTS: u64 = 100_000_000;
pub const MAX_WARMUP: Duration = Duration::from_secs(60);
pub const MAX_RATE: f64 = 1_000_000.0;

/// Open loop: how early a slot wakes before a request's intended time.
/// tokio's timer fires on the first millisecond tick at or after a
/// deadline, so sleeping until the intended time itself would add up to a
/// millisecond of the generator's own delay to every latency; waking one
/// tick early and sending at most that much ahead keeps the rate exact on
/// average and the latencies free of timer slop.
const TIMER_LEAD: Duration = Duration::from_millis(1);

/// Latencies above this are recorded as this (an hour, in nanoseconds).
const HIGHEST_LATENCY_NANOS: u64 = 3_600_000_000_000;

/// What one successful call found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answer {
    /// Users the server had a record for.
    pub found: u32,
    /// Users the server reported unknown (or, for GetOffers, cold start).
    pub missing: u32,
}

/// One in-flight slot's way of sending a batch of ids and awaiting the answer.
/// Each slot owns its caller, so a caller may keep buffers between calls.
pub trait Caller: Send + 'static {
    fn call(&mut self, ids: &[&[u8]]) -> impl Future<Output = Result<Answer, Code>> + Send;
}

/// When requests are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each slot sends as soon as its previous request completes.
    Closed,
    /// `rate` requests per second in total, on a fixed schedule.
    Open { rate: f64 },
}

/// How long and how hard to load.
#[derive(Debug, Clone)]
pub struct Plan {
    pub pace: Pace,
    /// Ids per request.
    pub batch_size: usize,
    /// Requests sent before this has passed are not measured.
    pub warmup: Duration,
    /// Measured time after the warm-up; at most [`MAX_DURATION`].
    pub duration: Option<Duration>,
    /// Measured requests; at most [`MAX_REQUESTS`].
    pub max_requests: Option<u64>,
    /// A call taking longer counts as DEADLINE_EXCEEDED.
    pub timeout: Duration,
    /// Seeds each slot's id stream (slot `n` uses `seed + n`).
    pub seed: u64,
}

impl Plan {
    pub fn validate(&self) -> Result<(), LoadError> {
        let invalid =
            |flag: &'static str, reason: String| Err(LoadError::InvalidArgument { flag, reason });
        if let Some(duration) = self.duration
            && (duration.is_zero() || duration > MAX_DURATION)
        {
            return invalid(
                "--duration",
                format!("{duration:?} is not between 0 and {MAX_DURATION:?}"),
            );
        }
        if let Some(requests) = self.max_requests
            && !(1..=MAX_REQUESTS).contains(&requests)
        {
            return invalid(
                "--requests",
                format!("{requests} is not between 1 and {MAX_REQUESTS}"),
            );
        }
        if self.warmup > MAX_WARMUP {
            return invalid(
                "--warmup",
                format!("{:?} is over {MAX_WARMUP:?}", self.warmup),
            );
        }
        if self.timeout.is_zero() {
            return invalid("--timeout", "must be above zero".to_owned());
        }
        if let Pace::Open { rate } = self.pace
            && !(rate > 0.0 && rate <= MAX_RATE)
        {
            return invalid(
                "--rate",
                format!("{rate} is not in (0, {MAX_RATE}] requests/s"),
            );
        }
        Ok(())
    }

    /// Measured time: the duration asked for, or the ceiling when only a
    /// request count bounds the run.
    fn measured_time(&self) -> Duration {
        self.duration.unwrap_or(MAX_DURATION).min(MAX_DURATION)
    }
}

/// What the measured part of a run saw, merged over all slots.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// From the end of the warm-up to the last measured completion.
    pub elapsed: Duration,
    /// Nanoseconds from the intended send time to the answer: the schedule in
    /// open loop (or the actual send, if up to `TIMER_LEAD` earlier); the
    /// actual send in closed loop.
    pub latency: Histogram<u64>,
    /// Nanoseconds from the actual send to the answer.
    pub service_time: Histogram<u64>,
    pub requests: u64,
    pub ok: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub found: u64,
    pub missing: u64,
    /// Measured requests that were sent later than scheduled (open loop):
    /// every slot was busy at their intended time.
    pub late: u64,
}

impl Measurement {
    fn new() -> Measurement {
        Measurement {
            elapsed: Duration::ZERO,
            latency: new_histogram(),
            service_time: new_histogram(),
            requests: 0,
            ok: 0,
            errors_by_code: BTreeMap::new(),
            found: 0,
            missing: 0,
            late: 0,
        }
    }

    pub fn errors(&self) -> u64 {
        self.errors_by_code.values().sum()
    }

    fn merge(&mut self, other: Measurement) {
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
        self.service_time
            .add(&other.service_time)
            .expect("histograms share their bounds");
        self.requests += other.requests;
        self.ok += other.ok;
        for (code, count) in other.errors_by_code {
            *self.errors_by_code.entry(code).or_default() += count;
        }
        self.found += other.found;
        self.missing += other.missing;
        self.late += other.late;
    }

    fn record(
        &mut self,
        intended: Instant,
        sent: Instant,
        done: Instant,
        outcome: &Result<Answer, Code>,
    ) {
        // A request sent ahead of its time (see TIMER_LEAD) waited for
        // nothing: its latency starts when it was sent.
        self.latency
            .saturating_record(nanos(done - intended.min(sent)));
        self.service_time.saturating_record(nanos(done - sent));
        self.requests += 1;
        // Open loop: a slot that picks up a ticket after its time has come
        // means the generator (or the server) could not keep the schedule.
        if sent > intended + Duration::from_millis(1) {
            self.late += 1;
        }
        match outcome {
            Ok(answer) => {
                self.ok += 1;
                self.found += u64::from(answer.found);
                self.missing += u64::from(answer.missing);
            }
            Err(code) => {
                *self
                    .errors_by_code
                    .entry(code_name(*code).to_owned())
                    .or_default() += 1;
            }
        }
    }
}

/// State shared by every slot of a run.
struct Shared {
    started: Instant,
    warmup_end: Instant,
    deadline: Instant,
    /// Open loop: the next schedule position to send.
    next_ticket: AtomicU64,
    /// Measured requests handed out, against `max_requests`.
    measured_issued: AtomicU64,
    /// For the progress bar only.
    completed: AtomicU64,
    failed: AtomicU64,
    finished: AtomicBool,
}

/// Runs `plan` with one slot per caller, all sharing `space`'s ids.
pub async fn drive<C: Caller>(
    callers: Vec<C>,
    space: Arc<IdSpace>,
    plan: &Plan,
    progress: bool,
) -> Result<Measurement, LoadError> {
    plan.validate()?;
    if callers.is_empty() {
        return Err(LoadError::InvalidArgument {
            flag: "--connections",
            reason: "no connection to send on".to_owned(),
        });
    }
    let started = Instant::now();
    let warmup_end = started + plan.warmup;
    let shared = Arc::new(Shared {
        started,
        warmup_end,
        deadline: warmup_end + plan.measured_time(),
        next_ticket: AtomicU64::new(0),
        measured_issued: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        finished: AtomicBool::new(false),
    });
    let bar = progress_bar(progress, plan);
    let ticker = tokio::spawn(tick(bar.clone(), shared.clone(), plan.clone()));

    let mut slots = tokio::task::JoinSet::new();
    for (slot, caller) in callers.into_iter().enumerate() {
        let shared = shared.clone();
        let space = space.clone();
        let plan = plan.clone();
        slots.spawn(run_slot(caller, shared, space, plan, slot as u64));
    }
    let mut total = Measurement::new();
    let mut last_done = warmup_end;
    while let Some(slot) = slots.join_next().await {
        let (measurement, slot_last_done) = slot?;
        total.merge(measurement);
        last_done = last_done.max(slot_last_done);
    }
    shared.finished.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    bar.finish_and_clear();
    total.elapsed = last_done.saturating_duration_since(warmup_end);
    Ok(total)
}

/// One in-flight slot: draw ids, wait for the schedule if open loop, call,
/// record. Returns its measurement and its last measured completion.
async fn run_slot<C: Caller>(
    mut caller: C,
    shared: Arc<Shared>,
    space: Arc<IdSpace>,
    plan: Plan,
    slot: u64,
) -> (Measurement, Instant) {
    let mut rng = SmallRng::seed_from_u64(plan.seed.wrapping_add(slot));
    let mut ids: Vec<&[u8]> = Vec::with_capacity(plan.batch_size);
    let mut measurement = Measurement::new();
    let mut last_done = shared.warmup_end;
    loop {
        let intended = match plan.pace {
            Pace::Closed => Instant::now(),
            Pace::Open { rate } => {
                let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
                shared.started + Duration::from_secs_f64(ticket as f64 / rate)
            }
        };
        if intended >= shared.deadline {
            break;
        }
        let measured = intended >= shared.warmup_end;
        if measured
            && let Some(limit) = plan.max_requests
            && shared.measured_issued.fetch_add(1, Ordering::Relaxed) >= limit
        {
            break;
        }
        space.fill(&mut rng, plan.batch_size, &mut ids);
        if let Some(wake) = intended.checked_sub(TIMER_LEAD)
            && wake > Instant::now()
        {
            tokio::time::sleep_until(wake.into()).await;
        }
        let sent = Instant::now();
        // A closed loop has no schedule: its latency is the service time.
        let intended = match plan.pace {
            Pace::Closed => sent,
            Pace::Open { .. } => intended,
        };
        let outcome = match tokio::time::timeout(plan.timeout, caller.call(&ids)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Code::DeadlineExceeded),
        };
        let done = Instant::now();
        shared.completed.fetch_add(1, Ordering::Relaxed);
        if outcome.is_err() {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        if measured {
            measurement.record(intended, sent, done, &outcome);
            last_done = done;
        }
    }
    (measurement, last_done)
}

fn progress_bar(progress: bool, plan: &Plan) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let total = plan.warmup + plan.measured_time();
    let bar = ProgressBar::new(total.as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
            .expect("a valid template"),
    );
    bar
}

/// Refreshes the progress bar a few times a second until the run ends.
async fn tick(bar: ProgressBar, shared: Arc<Shared>, plan: Plan) {
    if bar.is_hidden() {
        return;
    }
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    let mut previous = (shared.started, 0u64);
    while !shared.finished.load(Ordering::Relaxed) {
        interval.tick().await;
        let now = Instant::now();
        let completed = shared.completed.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        let window = now.duration_since(previous.0).as_secs_f64().max(1e-3);
        let rate = (completed - previous.1) as f64 / window;
        previous = (now, completed);
        let phase = if now < shared.warmup_end {
            "warm-up"
        } else {
            "measuring"
        };
        let measured = match plan.max_requests {
            Some(limit) => format!(
                " {}/{limit}",
                shared.measured_issued.load(Ordering::Relaxed).min(limit)
            ),
            None => String::new(),
        };
        bar.set_position(now.duration_since(shared.started).as_millis() as u64);
        bar.set_message(format!(
            "{phase}{measured} {completed} requests, {failed} errors, {rate:.0} req/s"
        ));
    }
}

pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_LATENCY_NANOS, 3).expect("valid histogram bounds")
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Distribution, IdConfig, IdFormat};

    /// A server that answers every call after a fixed service time, one call
    /// at a time per slot.
    struct SlowServer {
        service_time: Duration,
    }

    impl Caller for SlowServer {
        async fn call(&mut self, ids: &[&[u8]]) -> Result<Answer, Code> {
            tokio::time::sleep(self.service_time).await;
            Ok(Answer {
                found: ids.len() as u32,
                missing: 0,
            })
        }
    }

    fn space() -> Arc<IdSpace> {
        Arc::new(
            IdSpace::build(&IdConfig {
                format: IdFormat::parse("u{:08}").unwrap(),
                key_space: 100,
                distribution: Distribution::Uniform,
                unknown_share: 0.0,
            })
            .unwrap(),
        )
    }

    fn plan(pace: Pace, duration_millis: u64) -> Plan {
        Plan {
            pace,
            batch_size: 4,
            warmup: Duration::ZERO,
            duration: Some(Duration::from_millis(duration_millis)),
            max_requests: None,
            timeout: Duration::from_secs(5),
            seed: 1,
        }
    }

    fn millis(nanos: u64) -> f64 {
        nanos as f64 / 1e6
    }

    #[tokio::test]
    async fn open_loop_latency_includes_queueing_behind_a_slow_server() {
        // The schedule asks for one request every 5 ms; the only slot needs
        // 10 ms per call, so each request waits longer than the one before.
        let slow = SlowServer {
            service_time: Duration::from_millis(10),
        };
        let measured = drive(
            vec![slow],
            space(),
            &plan(Pace::Open { rate: 200.0 }, 300),
            false,
        )
        .await
        .unwrap();

        let service_p99 = millis(measured.service_time.value_at_quantile(0.99));
        let latency_p50 = millis(measured.latency.value_at_quantile(0.5));
        let latency_max = millis(measured.latency.max());
        assert!(
            (9.0..30.0).contains(&service_p99),
            "service time stays flat: {service_p99} ms"
        );
        // 60 scheduled requests served 10 ms apart: the last one is answered
        // about 300 ms after its turn.
        assert_eq!(measured.requests, 60);
        assert!(
            latency_max > 200.0,
            "queueing is counted: max {latency_max} ms"
        );
        assert!(latency_p50 > 5.0 * service_p99, "p50 {latency_p50} ms");
        assert!(measured.late > 50, "{} late", measured.late);
    }

    #[tokio::test]
    async fn open_loop_keeps_its_rate_when_the_server_keeps_up() {
        let slots = (0..4)
            .map(|_| SlowServer {
                service_time: Duration::from_millis(2),
            })
            .collect();
        let measured = drive(
            slots,
            space(),
            &plan(Pace::Open { rate: 200.0 }, 400),
            false,
        )
        .await
        .unwrap();
        assert!(
            (78..=82).contains(&measured.requests),
            "{}",
            measured.requests
        );
        // Loose: a shared CI machine may stall a few ticks; queueing without
        // bound would show up as hundreds of milliseconds here.
        let latency_p99 = millis(measured.latency.value_at_quantile(0.99));
        assert!(latency_p99 < 100.0, "{latency_p99} ms");
    }

    #[tokio::test]
    async fn closed_loop_latency_is_service_time_and_counts_are_bounded() {
        let slots = (0..2)
            .map(|_| SlowServer {
                service_time: Duration::from_millis(5),
            })
            .collect();
        let mut bounded = plan(Pace::Closed, 10_000);
        bounded.max_requests = Some(30);
        let measured = drive(slots, space(), &bounded, false).await.unwrap();
        assert_eq!(measured.requests, 30);
        assert_eq!(measured.found, 30 * 4);
        assert!(
            measured.elapsed < Duration::from_secs(1),
            "{:?}",
            measured.elapsed
        );
        assert_eq!(measured.latency.max(), measured.service_time.max());
    }

    #[tokio::test]
    async fn warm_up_requests_are_not_measured() {
        let slow = SlowServer {
            service_time: Duration::from_millis(10),
        };
        let mut warm = plan(Pace::Open { rate: 100.0 }, 200);
        warm.warmup = Duration::from_millis(200);
        let measured = drive(vec![slow], space(), &warm, false).await.unwrap();
        assert_eq!(measured.requests, 20);
    }

    #[test]
    fn plans_over_the_ceilings_are_refused() {
        let mut long = plan(Pace::Closed, 0);
        long.duration = Some(MAX_DURATION + Duration::from_secs(1));
        assert!(
            long.validate()
                .unwrap_err()
                .to_string()
                .contains("--duration")
        );
        let mut many = plan(Pace::Closed, 1_000);
        many.max_requests = Some(MAX_REQUESTS + 1);
        assert!(
            many.validate()
                .unwrap_err()
                .to_string()
                .contains("--requests")
        );
        let fast = plan(Pace::Open { rate: 0.0 }, 1_000);
        assert!(fast.validate().unwrap_err().to_string().contains("--rate"));
    }
}
