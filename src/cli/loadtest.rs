//! `strata loadtest`: the flags, their bounds, and the printed result. The
//! loopback rule is the library's (`strata_loadtest::resolve_target`).

use std::time::Duration;

use strata_loadtest::{
    Distribution, IdConfig, IdFormat, LoadConfig, LoadError, Method, Pace, Plan, resolve_target,
    target_host,
};

use super::output::{out, outln};

/// Load-test a running strata server with BatchGetProfiles or GetOffers.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadtestArgs {
    /// Server address, host:port (an http:// or https:// prefix is accepted).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub target: String,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// The RPC to call.
    #[arg(long, value_enum, default_value_t = Method::BatchGetProfiles)]
    pub method: Method,
    /// Ids per BatchGetProfiles request [default: 100; GetOffers: 1].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Users 0..N of --id-format are the known ids.
    #[arg(long, default_value_t = 10_000)]
    pub key_space: u64,
    /// User id template with one placeholder, {} or {:0N}. `strata demo` and
    /// `strata gen` write u{:08}; the benchmarks' demo profiles are user-{:08}.
    #[arg(long, default_value = "u{:08}")]
    pub id_format: String,
    /// How known ids are drawn.
    #[arg(long, value_enum, default_value_t = DistributionKind::Uniform)]
    pub distribution: DistributionKind,
    /// Exponent s of the zipf distribution (rank r drawn with weight 1/r^s).
    #[arg(long, default_value_t = 1.0)]
    pub zipf_exponent: f64,
    /// Share of ids, 0 to 1, that name no stored user.
    #[arg(long, default_value_t = 0.0)]
    pub unknown_share: f64,
    /// HTTP/2 connections (one tonic Channel each).
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 8)]
    pub in_flight: usize,
    /// Bearer token for a server that requires one (read scope is enough).
    /// Prefer the environment variable: flags show up in process lists.
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: super::client_args::ClientTlsArgs,
    /// Measured time after the warm-up, e.g. 30s, 500ms, 2m (at most 10m)
    /// [default: 10s unless --requests is given].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many measured requests (at most 100,000,000).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Unmeasured time before measuring (at most 60s).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Open loop at this many requests per second in total; without it, closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// A request slower than this counts as DEADLINE_EXCEEDED.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Seed of the id streams.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the result as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar (it is drawn on stderr, and only on a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DistributionKind {
    Uniform,
    Zipf,
}

/// Default measured time when neither --duration nor --requests is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
const DEFAULT_BATCH: usize = 100;
/// Beyond any server's batch limit; larger batches are a typo.
const MAX_BATCH: usize = 100_000;
const MAX_CONNECTIONS: usize = 256;
const MAX_IN_FLIGHT: usize = 1_024;

/// Runs `strata loadtest` and prints the table, or the JSON with `--json`.
pub async fn run(args: LoadtestArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let report = strata_loadtest::run(&config).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", report.table())?;
    }
    Ok(())
}

impl LoadtestArgs {
    /// Checks every flag and builds the run's settings.
    pub fn config(&self) -> Result<LoadConfig, LoadError> {
        let target = resolve_target(&self.target, self.allow_remote)?;
        let batch_size = match (self.method, self.batch) {
            (Method::BatchGetProfiles, None) => DEFAULT_BATCH,
            (Method::GetOffers, None | Some(1)) => 1,
            (Method::GetOffers, Some(batch)) => {
                return Err(invalid(
                    "--batch",
                    format!("{batch}: GetOffers asks for one user per request"),
                ));
            }
            (Method::BatchGetProfiles, Some(batch)) => batch,
        };
        if !(1..=MAX_BATCH).contains(&batch_size) {
            return Err(invalid(
                "--batch",
                format!("{batch_size} is not between 1 and {MAX_BATCH}"),
            ));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return Err(invalid(
                "--connections",
                format!(
                    "{} is not between 1 and {MAX_CONNECTIONS}",
                    self.connections
                ),
            ));
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.in_flight) {
            return Err(invalid(
                "--in-flight",
                format!("{} is not between 1 and {MAX_IN_FLIGHT}", self.in_flight),
            ));
        }
        let distribution = match self.distribution {
            DistributionKind::Uniform => Distribution::Uniform,
            DistributionKind::Zipf => Distribution::Zipf {
                exponent: self.zipf_exponent,
            },
        };
        let ids = IdConfig {
            format: IdFormat::parse(&self.id_format)?,
            key_space: self.key_space,
            distribution,
            unknown_share: self.unknown_share,
        };
        ids.validate()?;
        let duration = match (self.duration, self.requests) {
            (None, None) => Some(DEFAULT_DURATION),
            (duration, _) => duration,
        };
        let plan = Plan {
            pace: match self.rate {
                Some(rate) => Pace::Open { rate },
                None => Pace::Closed,
            },
            batch_size,
            warmup: self.warmup,
            duration,
            max_requests: self.requests,
            timeout: self.timeout,
            seed: self.seed,
        };
        plan.validate()?;
        let mut tls = self.tls.options()?;
        // The target is dialled by address; verify the certificate for the
        // host name that was typed, unless --tls-domain says otherwise.
        if let Some(options) = tls.take() {
            tls = Some(match &self.tls.tls_domain {
                Some(_) => options,
                None => options.domain_name(target_host(&self.target)),
            });
        }
        Ok(LoadConfig {
            target,
            method: self.method,
            connections: self.connections,
            in_flight: self.in_flight,
            token: self.token.clone(),
            tls,
            ids,
            plan,
            progress: !self.no_progress && !self.json,
        })
    }
}

fn invalid(flag: &'static str, reason: String) -> LoadError {
    LoadError::InvalidArgument { flag, reason }
}

/// Parses `500ms`, `1.5s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 10s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text:?}: {error}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        args: LoadtestArgs,
    }

    fn parse(flags: &[&str]) -> Result<LoadConfig, String> {
        let command =
            Command::try_parse_from(std::iter::once("loadtest").chain(flags.iter().copied()))
                .map_err(|error| error.to_string())?;
        command.args.config().map_err(|error| error.to_string())
    }

    #[test]
    fn durations() {
        for (text, millis) in [
            ("500ms", 500),
            ("1s", 1_000),
            ("1.5s", 1_500),
            ("2m", 120_000),
            ("3", 3_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
        for text in ["", "s", "1h", "-1s", "1 s"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn defaults_are_a_bounded_closed_loop_on_loopback() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.target, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(config.plan.pace, Pace::Closed);
        assert_eq!(config.plan.duration, Some(DEFAULT_DURATION));
        assert_eq!(config.plan.batch_size, DEFAULT_BATCH);
        assert_eq!(config.ids.format.format(7), "u00000007");
        let offers =
            parse(&["--method", "get-offers", "--rate", "50", "--requests", "10"]).unwrap();
        assert_eq!(offers.plan.batch_size, 1);
        assert_eq!(offers.plan.pace, Pace::Open { rate: 50.0 });
        assert_eq!(offers.plan.duration, None);
    }

    #[test]
    fn remote_targets_need_allow_remote() {
        let error = parse(&["--target", "192.0.2.1:50051"]).unwrap_err();
        assert!(error.contains("--allow-remote"), "{error}");
        let config = parse(&["--target", "http://192.0.2.1:50051", "--allow-remote"]).unwrap();
        assert_eq!(config.target, "192.0.2.1:50051".parse().unwrap());
        assert!(parse(&["--target", "localhost:1"]).is_ok());
    }

    #[test]
    fn bad_flags_name_themselves() {
        for (flags, flag) in [
            (&["--duration", "11m"][..], "--duration"),
            (&["--requests", "100000001"], "--requests"),
            (&["--method", "get-offers", "--batch", "10"], "--batch"),
            (&["--batch", "0"], "--batch"),
            (&["--connections", "0"], "--connections"),
            (&["--unknown-share", "1.5"], "--unknown-share"),
            (
                &["--distribution", "zipf", "--zipf-exponent", "0"],
                "--zipf-exponent",
            ),
            (&["--id-format", "user"], "--id-format"),
            (&["--rate", "0"], "--rate"),
        ] {
            let error = parse(flags).unwrap_err();
            assert!(error.contains(flag), "{flags:?}: {error}");
        }
    }
}
