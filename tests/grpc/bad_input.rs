//! Bad event input through `strata recompute` as a user runs it: bad rows of
//! every kind named by file and line in every format and counted against the
//! budget, an open CSV quote failing the run, freak amounts that leave the
//! fits standing, empty inputs failing alike, memory with a purchase dated in
//! year 1, and the bounded `--as-of`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use strata_core::Event;
use strata_events::input::{EventWriter, Format};

use crate::support::{Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const AS_OF_MILLIS: i64 = 1_735_689_600_000;
const DAY: i64 = 86_400_000;
/// 0001-01-01T00:00:00Z.
const YEAR_ONE: i64 = -62_135_596_800_000;
/// 2099-01-01T00:00:00Z.
const FAR_FUTURE: i64 = 4_070_908_800_000;

/// `strata gen` of 200 retail users (events in 2024) into `out`; the format
/// follows the extension.
fn gen_events(out: &Path) {
    succeeded(strata(&[
        "gen",
        "--users",
        "200",
        "--seed",
        "18",
        "--out",
        out.to_str().unwrap(),
    ]));
}

/// `strata recompute` of `events` as of [`AS_OF`] with `extra` flags.
fn recompute(events: &[&Path], state: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["recompute".to_owned(), "--events".to_owned()];
    args.extend(events.iter().map(|path| path.to_str().unwrap().to_owned()));
    args.extend(["--as-of", AS_OF, "--state", state.to_str().unwrap()].map(String::from));
    args.extend(extra.iter().map(|flag| flag.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    strata(&args)
}

/// Its stderr, after checking it failed (else both streams are shown).
fn failed(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

fn purchase(user_id: &str, at: i64, amount: f64) -> Event {
    Event {
        amount: Some(amount),
        currency: Some("EUR".into()),
        ..Event::new(user_id, at, "purchase")
    }
}

fn write_events(path: &Path, format: Format, events: &[Event]) {
    let mut writer = EventWriter::create(path, format).unwrap();
    for event in events {
        writer.write(event).unwrap();
    }
    writer.finish().unwrap();
}

#[tokio::test]
async fn an_open_quote_fails_the_run_with_its_line_and_pushes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let events = dir.path().join("events.csv");
    gen_events(&events);
    // Line 4,002 opens a quote it never closes: a parser that let it run on
    // would read the rest of the file as one field, one bad row.
    let text = std::fs::read_to_string(&events).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    assert!(lines.len() > 7000, "{} lines", lines.len());
    let broken = &mut lines[4001];
    let comma = broken.find(',').unwrap();
    broken.insert(comma + 1, '"');
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();

    let stderr = failed(recompute(
        &[&events],
        &dir.path().join("state.jsonl"),
        &["--push", &server.endpoint()],
    ));
    let expected = format!(
        "{}:4002: a quoted field is still open at the end of the line",
        events.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(server.applied("recompute-retail").await, 0);
    assert_eq!(server.lookup(&["u00000000"]).await, vec![None]);
}

/// One good user and one row of each kind of bad row, in `format`; the bad
/// rows' lines (1-based rows for Parquet, the CSV header is line 1).
fn bad_rows_file(path: &Path, format: Format) -> Vec<(u64, &'static str)> {
    let long_id = "x".repeat(300);
    let rows = [
        purchase("good-user", AS_OF_MILLIS - 10 * DAY, 25.0),
        purchase(&long_id, AS_OF_MILLIS - 10 * DAY, 25.0),
        purchase("nul\0user", AS_OF_MILLIS - 10 * DAY, 25.0),
        purchase("year-one", YEAR_ONE, 25.0),
        // Events after the as-of time are only ignored while they may have
        // happened (a run as of a past day over today's logs); 2099 has not.
        purchase("too-late", FAR_FUTURE, 25.0),
        purchase("too-rich", AS_OF_MILLIS - 10 * DAY, 1e308),
    ];
    write_events(path, format, &rows);
    let first = if format == Format::Csv { 3 } else { 2 };
    [
        "user id is 300 bytes, the limit is 256",
        "control character U+0000",
        "timestamp 0001-01-01T00:00:00.000Z is before 1970-01-01",
        "timestamp 2099-01-01T00:00:00.000Z is more than a day after now, 20",
        "amount 1e308 is above the amount ceiling 10000000",
    ]
    .into_iter()
    .enumerate()
    .map(|(index, reason)| (first + index as u64, reason))
    .collect()
}

#[tokio::test]
async fn bad_rows_in_every_format_are_named_and_the_rest_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    for (format, extension) in [
        (Format::Csv, "csv"),
        (Format::Jsonl, "jsonl"),
        (Format::Parquet, "parquet"),
    ] {
        let generated = dir.path().join(format!("generated.{extension}"));
        gen_events(&generated);
        let bad = dir.path().join(format!("bad.{extension}"));
        let expected = bad_rows_file(&bad, format);
        let state = dir.path().join(format!("state-{extension}.jsonl"));
        let stdout = succeeded(recompute(
            &[&generated, &bad],
            &state,
            &["--push", &server.endpoint()],
        ));
        assert!(stdout.contains(", 5 bad rows,"), "{format:?}: {stdout}");
        for (line, reason) in expected {
            let named = format!("bad row {}:{line}: ", bad.display());
            let shown = stdout
                .lines()
                .find(|shown| shown.contains(&named))
                .unwrap_or_else(|| panic!("{format:?}: no `{named}` in {stdout}"));
            assert!(
                shown.contains(reason),
                "{format:?}: `{shown}` lacks `{reason}`"
            );
        }
        // The push went through: the long id no longer fails it at the
        // server, and only good rows made users.
        let profiles = server
            .lookup(&["good-user", "nul\0user", "year-one", "too-late", "too-rich"])
            .await;
        assert!(profiles[0].is_some(), "{format:?}");
        assert!(profiles[1..].iter().all(Option::is_none), "{format:?}");
    }
}

#[test]
fn bad_rows_over_the_budget_fail_the_run_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    let expected = bad_rows_file(&bad, Format::Csv);
    // 5 bad rows of 6: far over the default 1%.
    let stderr = failed(recompute(&[&bad], &dir.path().join("state.jsonl"), &[]));
    assert!(stderr.contains("5 of 6 rows are bad"), "{stderr}");
    for (line, reason) in expected {
        let named = format!("{}:{line}: ", bad.display());
        assert!(stderr.contains(&named), "no `{named}` in {stderr}");
        assert!(stderr.contains(reason), "no `{reason}` in {stderr}");
    }
}

#[test]
fn the_amount_ceiling_is_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    gen_events(&events);
    let extra = dir.path().join("extra.csv");
    write_events(
        &extra,
        Format::Csv,
        &[purchase("big-spender", AS_OF_MILLIS - DAY, 5_000.0)],
    );
    let state = dir.path().join("state.jsonl");
    let stdout = succeeded(recompute(&[&events, &extra], &state, &[]));
    assert!(stdout.contains(", 0 bad rows,"), "{stdout}");
    let stdout = succeeded(recompute(
        &[&events, &extra],
        &state,
        &["--max-amount", "1000"],
    ));
    let named = format!(
        "bad row {}:2: amount 5000 is above the amount ceiling 1000",
        extra.display()
    );
    assert!(stdout.contains(&named), "{stdout}");
    let stderr = failed(recompute(&[&events], &state, &["--max-amount", "0"]));
    assert!(
        stderr.contains("amount ceiling must be a positive number"),
        "{stderr}"
    );
}

/// The number on the summary line that starts with `prefix`.
fn summary_number(stdout: &str, prefix: &str) -> u64 {
    let line = stdout
        .lines()
        .map(str::trim_start)
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in {stdout}"));
    line[prefix.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn freak_amounts_leave_every_users_fits_standing() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    gen_events(&events);
    let clean = succeeded(recompute(&[&events], &dir.path().join("clean.jsonl"), &[]));
    assert_eq!(summary_number(&clean, "outliers"), 0, "{clean}");

    // Two buyers at the amount ceiling, one of them after an offer, the
    // other held back: each alone would set the spend model and the offer
    // policy for everyone.
    let at = |days_before: i64| AS_OF_MILLIS - days_before * DAY;
    let offer = |user: &str, kind: &str, benefit: &str, days_before| Event {
        benefit_id: Some(benefit.into()),
        ..Event::new(user, at(days_before), kind)
    };
    let whales = dir.path().join("whales.csv");
    write_events(
        &whales,
        Format::Csv,
        &[
            offer("whale-1", "offer_issued", "discount-15", 200),
            purchase("whale-1", at(198), 1e7),
            purchase("whale-1", at(190), 1e7),
            offer("whale-2", "offer_control", "coupon-10", 200),
            purchase("whale-2", at(198), 9e6),
            purchase("whale-2", at(190), 9e6),
        ],
    );
    let stdout = succeeded(recompute(
        &[&events, &whales],
        &dir.path().join("whales.jsonl"),
        &[],
    ));
    assert!(stdout.contains(", 0 bad rows,"), "{stdout}");
    assert!(!stdout.contains("not fitted"), "{stdout}");
    let outliers = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("outliers"))
        .unwrap();
    assert!(
        outliers.contains("2 mean spends capped") && !outliers.contains(" 0 offer outcomes"),
        "{outliers}"
    );
    assert_eq!(
        summary_number(&stdout, "benefits"),
        summary_number(&clean, "benefits"),
        "users with recommendations\n{clean}\n{stdout}"
    );
}

#[test]
fn empty_inputs_fail_alike() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("zero.csv", ""),
        ("header.csv", "user_id,timestamp,event_type\n"),
        ("zero.jsonl", ""),
        ("blank.jsonl", "\n\n"),
        ("zero.parquet", ""),
    ];
    for (name, text) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let stderr = failed(recompute(&[&path], &dir.path().join("state.jsonl"), &[]));
        let expected = format!("no event rows in {}", path.display());
        assert!(stderr.contains(&expected), "{name}: {stderr}");
    }
}

/// Runs `command` to its end; returns its output and its peak resident set
/// in bytes, from `wait4` (this child's own, not any other test's).
fn run_measured(mut command: Command, out: &Path) -> (i32, String, String, u64) {
    let stdout_path = out.with_extension("stdout");
    let stderr_path = out.with_extension("stderr");
    command
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()));
    // A regression must not take the machine with it: 4 GiB of address
    // space at most, so it fails here instead.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "{}", std::io::Error::last_os_error());
    // `child` is reaped: dropping it neither waits nor kills.
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    (
        code,
        std::fs::read_to_string(stdout_path).unwrap(),
        std::fs::read_to_string(stderr_path).unwrap(),
        // ru_maxrss is in KiB on Linux.
        usage.ru_maxrss as u64 * 1024,
    )
}

#[test]
fn memory_stays_flat_with_a_purchase_in_year_one() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    gen_events(&events);
    let extra = dir.path().join("span.csv");
    // Year 1 (a bad row) and the widest span a run accepts: 1970 to 2100.
    write_events(
        &extra,
        Format::Csv,
        &[
            purchase("year-one", YEAR_ONE, 10.0),
            purchase("epoch", 0, 10.0),
            purchase("epoch", DAY, 10.0),
        ],
    );
    for as_of in [AS_OF, "2100-01-01T00:00:00Z"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command.args([
            "recompute",
            "--events",
            events.to_str().unwrap(),
            extra.to_str().unwrap(),
            "--as-of",
            as_of,
            "--state",
            dir.path().join("state.jsonl").to_str().unwrap(),
            "--report-data",
            dir.path().join("report.json").to_str().unwrap(),
        ]);
        let (code, stdout, stderr, peak) = run_measured(command, &dir.path().join("run"));
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let named = format!(
            "bad row {}:2: timestamp 0001-01-01T00:00:00.000Z is before 1970",
            extra.display()
        );
        assert!(stdout.contains(&named), "{stdout}");
        assert!(
            peak > 0 && peak < 1 << 30,
            "peak RSS {peak} bytes as of {as_of}"
        );
        eprintln!("as of {as_of}: peak RSS {} MiB", peak >> 20);
    }
}

#[test]
fn as_of_outside_1970_to_2100_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    write_events(
        &events,
        Format::Csv,
        &[purchase("u1", AS_OF_MILLIS - DAY, 10.0)],
    );
    let state = dir.path().join("state.jsonl");
    for as_of in ["9999-12-31T00:00:00Z", "1969-12-31T00:00:00Z"] {
        let output = strata(&[
            "recompute",
            "--events",
            events.to_str().unwrap(),
            "--as-of",
            as_of,
            "--state",
            state.to_str().unwrap(),
        ]);
        let stderr = failed(output);
        assert!(stderr.contains("--as-of"), "{stderr}");
        assert!(
            stderr.contains(&as_of[..10])
                && stderr.contains("1970-01-01T00:00:00.000Z ..= 2100-01-01T00:00:00.000Z"),
            "{stderr}"
        );
        assert!(!state.exists());
    }
}

/// A bulk load replaces everything served, so a snapshot of nobody (every
/// event after `--as-of`, as a mistyped as-of or a damaged date column
/// gives) is refused and no file is written; the same input as of a day that
/// holds its events writes one.
#[test]
fn a_snapshot_of_nobody_is_refused_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    gen_events(&events);
    let snapshot = dir.path().join("v2.snapshot");
    let state = dir.path().join("state.jsonl");
    let output = strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        "1970-01-02T00:00:00Z",
        "--state",
        state.to_str().unwrap(),
        "--snapshot",
        snapshot.to_str().unwrap(),
    ]);
    let stderr = failed(output);
    assert!(
        stderr.contains("no user has an event up to the as-of time"),
        "{stderr}"
    );
    assert!(stderr.contains("after it"), "{stderr}");
    assert!(!snapshot.exists(), "an empty snapshot was written");
    assert!(!state.exists());

    succeeded(recompute(
        &[&events],
        &state,
        &["--snapshot", snapshot.to_str().unwrap()],
    ));
    assert!(snapshot.exists());
}
