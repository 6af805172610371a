//! The recompute job against what the server really holds (issue 18):
//! `--delete-missing` refuses to erase on empty or damaged input and leaves
//! the server exactly as it was; and a server that was emptied, restored
//! from an older backup or rolled back gets every record again on the next
//! run, instead of trusting the job's state file. All through the `strata`
//! binary as an operator runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use strata_events::generate;
use strata_proto::v1::Profile;
use strata_proto::v1::admin_service_client::AdminServiceClient;
use strata_proto::v1::{RollbackRequest, StatsRequest};

use crate::support::{Server, gen_events, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const PRODUCER: &str = "recompute-retail";
/// Test clients may keep a connection open: stop without waiting long.
const CONFIG: &str = "[server]\nshutdown_grace_seconds = 1\n";

/// `strata recompute` pushing `events` to `server` with `state`, plus `extra`.
fn recompute(events: &Path, server: &Server, state: &Path, extra: &[&str]) -> Output {
    recompute_at(AS_OF, events, server, state, extra)
}

fn recompute_at(
    as_of: &str,
    events: &Path,
    server: &Server,
    state: &Path,
    extra: &[&str],
) -> Output {
    let endpoint = server.endpoint();
    let mut args = vec![
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        as_of,
        "--push",
        &endpoint,
        "--state",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    strata(&args)
}

/// Every generated user's served profile, None when the server has none.
async fn served(server: &Server, users: u64) -> BTreeMap<String, Option<Profile>> {
    let ids: Vec<String> = (0..users).map(generate::user_id).collect();
    let mut profiles = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (id, profile) in chunk.iter().zip(server.lookup(&refs).await) {
            profiles.insert(id.clone(), profile);
        }
    }
    profiles
}

/// The same, without the computed-at time a full push renews.
async fn served_records(server: &Server, users: u64) -> BTreeMap<String, Option<Profile>> {
    let mut profiles = served(server, users).await;
    for profile in profiles.values_mut().flatten() {
        profile.computed_at = None;
    }
    profiles
}

fn present(profiles: &BTreeMap<String, Option<Profile>>) -> usize {
    profiles
        .values()
        .filter(|profile| profile.is_some())
        .count()
}

async fn admin(server: &Server) -> AdminServiceClient<tonic::transport::Channel> {
    AdminServiceClient::new(server.channel().await)
}

/// Users in the serving version, by the server's own counters.
async fn stored_users(server: &Server) -> u64 {
    admin(server)
        .await
        .stats(StatsRequest {})
        .await
        .unwrap()
        .into_inner()
        .users
}

/// Everything an operator can observe of the server and the job's files.
#[derive(Debug, PartialEq)]
struct Observed {
    profiles: BTreeMap<String, Option<Profile>>,
    stored_users: u64,
    applied: u64,
    state_file: Vec<u8>,
    plan_left: bool,
}

async fn observe(server: &Server, users: u64, state: &Path) -> Observed {
    Observed {
        profiles: served(server, users).await,
        stored_users: stored_users(server).await,
        applied: server.applied(PRODUCER).await,
        state_file: std::fs::read(state).unwrap(),
        plan_left: state.with_extension("push.json").exists()
            || state.with_extension("push.snapshot").exists(),
    }
}

/// The generated CSV's header and each user's rows, in file order.
fn rows_by_user(events: &Path) -> (String, Vec<(String, Vec<String>)>) {
    let text = std::fs::read_to_string(events).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_owned();
    let mut users: Vec<(String, Vec<String>)> = Vec::new();
    for line in lines {
        let user = line.split(',').next().unwrap().to_owned();
        match users.last_mut() {
            Some((last, rows)) if *last == user => rows.push(line.to_owned()),
            _ => users.push((user, vec![line.to_owned()])),
        }
    }
    (header, users)
}

fn write_csv(path: &Path, header: &str, users: &[(String, Vec<String>)], tail: &str) {
    let mut text = format!("{header}\n");
    for (_, rows) in users {
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
    }
    text.push_str(tail);
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn delete_missing_refuses_empty_or_damaged_input_and_the_server_keeps_everything() {
    const USERS: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), Some(CONFIG));
    let events = dir.path().join("events.csv");
    gen_events(&events, USERS, 7, &[]);
    let state = dir.path().join("state.jsonl");
    succeeded(recompute(&events, &server, &state, &[]));
    let before = observe(&server, USERS, &state).await;
    assert_eq!(present(&before.profiles), USERS as usize);
    assert_eq!(before.stored_users, USERS);

    // The damaged inputs of the issue.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    let (header, users) = rows_by_user(&events);
    assert_eq!(users.len(), USERS as usize);
    let header_only = dir.path().join("header-only.csv");
    write_csv(&header_only, &header, &[], "");
    // The first 97 users whole, then a garbled row and one cut off mid-line,
    // as a copy that stopped early would leave it.
    let damaged = dir.path().join("damaged.csv");
    let cut = &users[97].1[0];
    write_csv(
        &damaged,
        &header,
        &users[..97],
        &format!(
            "u-garbled,not a time,purchase,x,EUR\n{}",
            &cut[..cut.len() / 3]
        ),
    );
    let cases: [(&str, &Path, &str, u64); 4] = [
        ("a 0-byte JSON Lines file", &empty, AS_OF, USERS),
        ("a header-only CSV", &header_only, AS_OF, USERS),
        ("--as-of 1970", &events, "1970-01-01T00:00:00Z", USERS),
        ("a damaged CSV", &damaged, AS_OF, USERS - 97),
    ];
    for (what, input, as_of, erase) in cases {
        let output = recompute_at(as_of, input, &server, &state, &["--delete-missing"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: not refused\n{stderr}");
        // An input with no rows at all fails at reading, before any guard
        // (`no event rows in ...`: --force cannot override it); the others
        // reach the guard, which names the numbers and the override.
        let unreadable = stderr.contains("no event rows in");
        assert_eq!(
            unreadable,
            input == empty.as_path() || input == header_only.as_path(),
            "{what}: {stderr}"
        );
        if !unreadable {
            let named = format!("would erase {erase} of the {USERS} users");
            assert!(
                stderr.contains(&named)
                    || (what.starts_with("--as-of") && stderr.contains("as-of")),
                "{what}: the refusal names the numbers ({named}): {stderr}"
            );
            assert!(stderr.contains("--force"), "{what}: {stderr}");
        }
        assert_eq!(
            observe(&server, USERS, &state).await,
            before,
            "{what}: the server and the state changed"
        );
    }
    // Bad rows alone are enough, even when the share is small: one user
    // fewer, plus a garbled row.
    let one_fewer_damaged = dir.path().join("one-fewer-damaged.csv");
    write_csv(
        &one_fewer_damaged,
        &header,
        &users[1..],
        "u-garbled,not a time,purchase,x,EUR\n",
    );
    let output = recompute(&one_fewer_damaged, &server, &state, &["--delete-missing"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("would erase 1 of the 200 users"),
        "{stderr}"
    );
    assert!(stderr.contains("1 bad rows"), "{stderr}");
    assert_eq!(observe(&server, USERS, &state).await, before);

    // --force proceeds: the damaged CSV's missing users are erased.
    let forced = succeeded(recompute(
        &damaged,
        &server,
        &state,
        &["--delete-missing", "--force"],
    ));
    assert!(
        forced.contains(&format!("{} erased", USERS - 97)),
        "{forced}"
    );
    let after = served(&server, USERS).await;
    assert_eq!(present(&after), 97);
    assert!(after[&generate::user_id(96)].is_some());
    assert!(after[&generate::user_id(97)].is_none());
    assert_eq!(stored_users(&server).await, 97);

    // Under the guard's share, --delete-missing needs no --force: the whole
    // input again (everyone back), then one user gone (0.5% of 200).
    succeeded(recompute(&events, &server, &state, &[]));
    assert_eq!(stored_users(&server).await, USERS);
    let one_fewer = dir.path().join("one-fewer.csv");
    write_csv(&one_fewer, &header, &users[1..], "");
    let output = succeeded(recompute(
        &one_fewer,
        &server,
        &state,
        &["--delete-missing"],
    ));
    assert!(output.contains("1 erased"), "{output}");
    assert_eq!(stored_users(&server).await, USERS - 1);
    assert!(server.lookup(&[&generate::user_id(0)]).await[0].is_none());
}

/// Stops `server`, runs `change` on its data folder, and starts it again.
fn restart(server: Server, data: &Path, change: impl FnOnce()) -> Server {
    assert!(server.terminate().success());
    change();
    Server::start(data, Some(CONFIG))
}

fn full_push(output: &str, reason: &str) {
    assert!(
        output.contains("full push:") && output.contains(reason),
        "the summary says why everything is sent ({reason}):\n{output}"
    );
}

#[tokio::test]
async fn an_emptied_restored_or_rolled_back_server_gets_every_record_again() {
    const USERS: u64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let state = dir.path().join("state.jsonl");
    let events_a = dir.path().join("a.csv");
    let events_b = dir.path().join("b.csv");
    let events_c = dir.path().join("c.csv");
    gen_events(&events_a, USERS, 21, &[]);
    gen_events(&events_b, USERS, 22, &[]);
    gen_events(&events_c, USERS, 23, &[]);

    let server = Server::start(&data, Some(CONFIG));
    succeeded(recompute(&events_a, &server, &state, &[]));
    let pushed_a = served_records(&server, USERS).await;
    assert_eq!(present(&pushed_a), USERS as usize);
    let again = succeeded(recompute(&events_a, &server, &state, &[]));
    assert!(
        again.contains(&format!("0 changed, {USERS} unchanged")),
        "{again}"
    );
    assert!(!again.contains("full push"), "{again}");

    // The data folder emptied (stop, delete, start): the same run sends all.
    let server = restart(server, &data, || std::fs::remove_dir_all(&data).unwrap());
    assert_eq!(present(&served(&server, USERS).await), 0);
    let rerun = succeeded(recompute(&events_a, &server, &state, &[]));
    full_push(&rerun, "store is");
    assert!(
        rerun.contains(&format!("{USERS} changed, 0 unchanged")),
        "{rerun}"
    );
    assert_eq!(served_records(&server, USERS).await, pushed_a);
    let settled = succeeded(recompute(&events_a, &server, &state, &[]));
    assert!(
        settled.contains(&format!("0 changed, {USERS} unchanged")),
        "{settled}"
    );

    // A backup now (holding A), then B pushed; the backup restored: the
    // store is A's again, and the rerun of B sends everything.
    let backup = dir.path().join("backup");
    succeeded(strata(&[
        "backup",
        "--target",
        &server.endpoint(),
        "--out",
        backup.to_str().unwrap(),
    ]));
    succeeded(recompute(&events_b, &server, &state, &[]));
    let pushed_b = served_records(&server, USERS).await;
    assert_ne!(pushed_b, pushed_a);
    let server = restart(server, &data, || {
        succeeded(strata(&[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--force",
        ]));
    });
    assert_eq!(served_records(&server, USERS).await, pushed_a);
    let rerun = succeeded(recompute(&events_b, &server, &state, &[]));
    full_push(&rerun, "store is");
    assert_eq!(served_records(&server, USERS).await, pushed_b);

    // A reload (a snapshot of A as retail-2), then C pushed into it, then
    // a rollback to the version that holds B: the rerun of C sends all.
    let snapshot: PathBuf = dir.path().join("a.snapshot");
    succeeded(strata(&[
        "recompute",
        "--events",
        events_a.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--state",
        dir.path().join("snapshot-state.jsonl").to_str().unwrap(),
        "--model-version",
        "retail-2",
    ]));
    succeeded(strata(&[
        "admin",
        "load-snapshot",
        "--target",
        &server.endpoint(),
        snapshot.to_str().unwrap(),
    ]));
    let after_reload = succeeded(recompute(&events_b, &server, &state, &[]));
    full_push(&after_reload, "reload or rollback");
    succeeded(recompute(&events_c, &server, &state, &[]));
    let pushed_c = served_records(&server, USERS).await;
    assert_ne!(pushed_c, pushed_b);
    admin(&server)
        .await
        .rollback(RollbackRequest {})
        .await
        .unwrap();
    assert_eq!(served_records(&server, USERS).await, pushed_b);
    let rerun = succeeded(recompute(&events_c, &server, &state, &[]));
    full_push(&rerun, "reload or rollback");
    assert_eq!(served_records(&server, USERS).await, pushed_c);
    let settled = succeeded(recompute(&events_c, &server, &state, &[]));
    assert!(
        settled.contains(&format!("0 changed, {USERS} unchanged")),
        "{settled}"
    );
}

#[tokio::test]
async fn an_interrupted_push_to_a_store_that_was_emptied_is_dropped_for_a_full_push() {
    const USERS: u64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    let state = dir.path().join("state.jsonl");
    let events_a = dir.path().join("a.csv");
    let events_b = dir.path().join("b.csv");
    gen_events(&events_a, USERS, 31, &[]);
    gen_events(&events_b, USERS, 32, &[]);
    let server = Server::start(&data, Some(CONFIG));
    succeeded(recompute(&events_a, &server, &state, &[]));

    // B's push dies after 2 of its batches: the plan stays on disk.
    let crashed = recompute(
        &events_b,
        &server,
        &state,
        &["--batch-size", "20", "--crash-after-batches", "2"],
    );
    assert!(!crashed.status.success());
    assert!(state.with_extension("push.json").exists());

    // The store is emptied before the rerun: finishing the plan would leave
    // out everyone in its first batches and everyone B did not change.
    let server = restart(server, &data, || std::fs::remove_dir_all(&data).unwrap());
    let rerun = succeeded(recompute(
        &events_b,
        &server,
        &state,
        &["--batch-size", "20"],
    ));
    assert!(
        rerun.contains("interrupted push dropped: the plan was made for store"),
        "{rerun}"
    );
    full_push(&rerun, "store is");
    assert!(!state.with_extension("push.json").exists());
    let served_b = served_records(&server, USERS).await;
    assert_eq!(present(&served_b), USERS as usize);

    // The same records as a clean push of B to a fresh server.
    let fresh = Server::start(&dir.path().join("fresh"), Some(CONFIG));
    succeeded(recompute(
        &events_b,
        &fresh,
        &dir.path().join("fresh-state.jsonl"),
        &[],
    ));
    assert_eq!(served_records(&fresh, USERS).await, served_b);
}
