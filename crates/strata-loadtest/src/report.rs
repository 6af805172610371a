//! A finished run as numbers: the JSON document `--json` prints (field names
//! are a contract with scripts) and the table people read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::driver::{Measurement, Pace, Plan};
use crate::grpc::Method;
use crate::ids::{Distribution, IdConfig};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        let micros = |nanos: u64| nanos as f64 / 1e3;
        if histogram.is_empty() {
            return Percentiles {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        Percentiles {
            p50: micros(histogram.value_at_quantile(0.5)),
            p90: micros(histogram.value_at_quantile(0.9)),
            p99: micros(histogram.value_at_quantile(0.99)),
            p999: micros(histogram.value_at_quantile(0.999)),
            max: micros(histogram.max()),
            mean: histogram.mean() / 1e3,
        }
    }
}

/// Everything a run measured, with the settings that produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub target: String,
    pub method: Method,
    /// "closed" or "open".
    pub mode: &'static str,
    /// Open loop: requests per second asked for.
    pub target_rate: Option<f64>,
    pub batch_size: usize,
    pub connections: usize,
    pub in_flight: usize,
    pub key_space: u64,
    pub id_format: String,
    /// "uniform" or "zipf".
    pub distribution: &'static str,
    pub zipf_exponent: Option<f64>,
    pub unknown_share: f64,
    pub warmup_seconds: f64,
    /// Measured wall time, from the end of the warm-up to the last answer.
    pub seconds: f64,
    /// Measured requests, answered or failed.
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    /// gRPC status name -> count, e.g. {"UNAVAILABLE": 3}.
    pub errors_by_code: BTreeMap<String, u64>,
    pub requests_per_second: f64,
    /// Users asked for in answered requests, per second.
    pub users_per_second: f64,
    pub users_found: u64,
    pub users_missing: u64,
    /// users_found / (users_found + users_missing); 0 when nothing answered.
    pub hit_rate: f64,
    /// Open loop: measured requests sent more than 1 ms after their time
    /// because every slot was busy.
    pub late_requests: u64,
    /// From the intended send time (open loop: the schedule) to the answer.
    pub latency_us: Percentiles,
    /// From the actual send to the answer.
    pub service_time_us: Percentiles,
}

/// The settings a report repeats next to its numbers.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    pub target: String,
    pub method: Method,
    pub connections: usize,
    pub in_flight: usize,
    pub ids: &'a IdConfig,
    pub plan: &'a Plan,
}

impl Report {
    pub fn new(settings: &Settings<'_>, measurement: &Measurement) -> Report {
        let seconds = measurement.elapsed.as_secs_f64();
        let per_second = |count: u64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        let batch_size = settings.plan.batch_size;
        let users_asked = measurement.ok * batch_size as u64;
        let answered_users = measurement.found + measurement.missing;
        let (mode, target_rate) = match settings.plan.pace {
            Pace::Closed => ("closed", None),
            Pace::Open { rate } => ("open", Some(rate)),
        };
        let (distribution, zipf_exponent) = match settings.ids.distribution {
            Distribution::Uniform => ("uniform", None),
            Distribution::Zipf { exponent } => ("zipf", Some(exponent)),
        };
        Report {
            target: settings.target.clone(),
            method: settings.method,
            mode,
            target_rate,
            batch_size,
            connections: settings.connections,
            in_flight: settings.in_flight,
            key_space: settings.ids.key_space,
            id_format: settings.ids.format.to_string(),
            distribution,
            zipf_exponent,
            unknown_share: settings.ids.unknown_share,
            warmup_seconds: settings.plan.warmup.as_secs_f64(),
            seconds,
            requests: measurement.requests,
            ok: measurement.ok,
            errors: measurement.errors(),
            errors_by_code: measurement.errors_by_code.clone(),
            requests_per_second: per_second(measurement.requests),
            users_per_second: per_second(users_asked),
            users_found: measurement.found,
            users_missing: measurement.missing,
            hit_rate: if answered_users > 0 {
                measurement.found as f64 / answered_users as f64
            } else {
                0.0
            },
            late_requests: measurement.late,
            latency_us: Percentiles::of(&measurement.latency),
            service_time_us: Percentiles::of(&measurement.service_time),
        }
    }

    /// The human-readable summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let pace = match self.target_rate {
            Some(rate) => format!("open loop at {rate} req/s"),
            None => "closed loop".to_owned(),
        };
        let distribution = match self.zipf_exponent {
            Some(exponent) => format!("zipf s={exponent}"),
            None => self.distribution.to_owned(),
        };
        let _ = writeln!(
            out,
            "{:?} on {}: {pace}, batch {}, {} connections x {} in flight",
            self.method, self.target, self.batch_size, self.connections, self.in_flight
        );
        let _ = writeln!(
            out,
            "ids: {} of {} ({distribution}), {:.1}% unknown; {:.1} s measured after {:.1} s warm-up",
            self.id_format,
            self.key_space,
            self.unknown_share * 100.0,
            self.seconds,
            self.warmup_seconds
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  requests   {:>12}  ({} ok, {} errors)",
            self.requests, self.ok, self.errors
        );
        let _ = writeln!(out, "  requests/s {:>12.0}", self.requests_per_second);
        let _ = writeln!(out, "  users/s    {:>12.0}", self.users_per_second);
        let _ = writeln!(out, "  hit rate   {:>11.1}%", self.hit_rate * 100.0);
        if self.target_rate.is_some() {
            let _ = writeln!(out, "  late sends {:>12}", self.late_requests);
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "microseconds", "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        for (name, percentiles) in [
            ("latency", &self.latency_us),
            ("service time", &self.service_time_us),
        ] {
            let _ = writeln!(
                out,
                "  {name:<14} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0}",
                percentiles.p50,
                percentiles.p90,
                percentiles.p99,
                percentiles.p999,
                percentiles.max,
                percentiles.mean
            );
        }
        if !self.errors_by_code.is_empty() {
            let _ = writeln!(out);
            for (code, count) in &self.errors_by_code {
                let _ = writeln!(out, "  {code:<20} {count:>10}");
            }
        }
        out
    }
}
