//! Churn probability and next order (issue 21), end to end: `strata gen`
//! events, `strata recompute --push` into a real server, the predictions
//! read back through BatchGetProfiles with the `churn` and `next_order`
//! field masks; switched off below the minimum data; and a hidden-truth
//! check: events generated past the recompute's as-of are the future the
//! served predictions are judged against, each against its naive baseline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata_proto::v1::{BatchGetProfilesRequest, Profile};

use crate::support::{Server, strata, succeeded};

const DAY_MS: i64 = 86_400_000;

/// `strata gen` of `users` over `days` ending 2025-01-01 into `dir/events.csv`.
fn generate(dir: &Path, users: u64, days: u32) -> PathBuf {
    let events = dir.join("events.csv");
    succeeded(strata(&[
        "gen",
        "--users",
        &users.to_string(),
        "--days",
        &days.to_string(),
        "--out",
        events.to_str().unwrap(),
    ]));
    events
}

/// `strata recompute` as of `as_of`, pushed to `server` or a dry run; its
/// summary and the report data (JSON).
fn recompute(
    dir: &Path,
    events: &Path,
    as_of: &str,
    config: Option<&Path>,
    server: Option<&Server>,
) -> (String, serde_json::Value) {
    let name = if server.is_some() { "push" } else { "dry" };
    let state = dir.join(format!("state-{name}.jsonl"));
    let report = dir.join(format!("report-{name}.json"));
    let mut args: Vec<String> = [
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        as_of,
        "--state",
        state.to_str().unwrap(),
        "--report-data",
        report.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(config) = config {
        args.extend(["--config".to_owned(), config.to_str().unwrap().to_owned()]);
    }
    if let Some(server) = server {
        args.extend(["--push".to_owned(), server.grpc.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let summary = succeeded(strata(&args));
    let data = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (summary, data)
}

/// Each user's purchase days (days since the epoch, distinct, ascending),
/// read straight from the generated CSV.
fn purchase_days(events: &Path) -> BTreeMap<String, Vec<i64>> {
    let text = std::fs::read_to_string(events).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|field| *field == name).unwrap();
    let (user, time, kind) = (column("user_id"), column("timestamp"), column("event_type"));
    let mut days: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields[kind] != "purchase" {
            continue;
        }
        let at = strata_events::input::timestamp::parse_text(fields[time]).unwrap();
        days.entry(fields[user].to_owned())
            .or_default()
            .push(at.div_euclid(DAY_MS));
    }
    for list in days.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    days
}

async fn masked(server: &Server, ids: &[&str], paths: &[&str]) -> Vec<Option<Profile>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let response = server
            .profiles()
            .await
            .batch_get_profiles(BatchGetProfilesRequest {
                user_ids: chunk.iter().map(|id| (*id).to_owned()).collect(),
                field_mask: Some(prost_types::FieldMask {
                    paths: paths.iter().map(|path| (*path).to_owned()).collect(),
                }),
            })
            .await
            .unwrap()
            .into_inner();
        found.extend(response.results.into_iter().map(|result| result.profile));
    }
    found
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The naive rule the job serves and is judged against: last order +
/// median gap, at least the day after `today`.
fn naive_next(days: &[i64], today: i64) -> i64 {
    let mut gaps: Vec<f64> = days
        .windows(2)
        .map(|pair| (pair[1] - pair[0]) as f64)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let gap = median(gaps);
    let last = *days.last().unwrap();
    let wait = ((last - today) as f64 + gap).round() as i64;
    today + wait.max(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_and_next_order_are_served_behind_their_field_masks() {
    let dir = tempfile::tempdir().unwrap();
    let events = generate(dir.path(), 3_000, 365);
    let server = Server::start(&dir.path().join("data"), None);
    let target = format!("http://{}", server.grpc);
    let cards =
        |target: &str| succeeded(strata(&["admin", "versions", "--target", target, "--card"]));
    // A store nothing was pushed to has no card (nor does an old store).
    let listing = cards(&target);
    assert!(listing.contains("model card of initial: none"), "{listing}");
    let (summary, data) = recompute(
        dir.path(),
        &events,
        "2025-01-01T00:00:00Z",
        None,
        Some(&server),
    );
    let predictions = &data["models"]["predictions"];
    let churn_served = predictions["churn"]["served"].as_str().unwrap().to_owned();
    let order_served = predictions["next_order"]["served"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.contains(&format!(
            "churn        no purchase in 90 days: {churn_served} served"
        )),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("next order   {order_served} served")),
        "{summary}"
    );

    let purchases = purchase_days(&events);
    let today = 1_735_689_600_000 / DAY_MS;
    let ids: Vec<&str> = purchases.keys().map(String::as_str).collect();
    let (mut churned, mut ordered) = (0, 0);
    for (paths, camel) in [
        (["churn", "next_order"], false),
        (["churn", "nextOrder"], true),
    ] {
        let profiles = masked(&server, &ids, &paths).await;
        for (id, profile) in ids.iter().zip(profiles) {
            let profile = profile.unwrap_or_else(|| panic!("{id} was not pushed"));
            // Only the masked fields come back.
            assert!(
                profile.lifecycle.is_none() && profile.user_id.is_empty(),
                "{id}: {profile:?}"
            );
            let churn = profile
                .churn
                .unwrap_or_else(|| panic!("{id} bought but has no churn"));
            assert!((0.0..=1.0).contains(&churn.probability), "{id}: {churn:?}");
            assert_eq!(churn.horizon_days, 90);
            assert_eq!(churn.method, churn_served);
            churned += 1;
            let days = &purchases[*id];
            match (&profile.next_order, days.len()) {
                (None, 1) => {}
                (Some(next), count) if count >= 2 => {
                    let expected = next.expected_at.as_ref().unwrap().seconds * 1000 / DAY_MS;
                    assert!(expected > today, "{id}: {next:?}");
                    assert!(next.typical_gap_days > 0.0, "{id}: {next:?}");
                    assert_eq!(next.method, order_served);
                    if next.method == "last_order_plus_median_gap" {
                        assert_eq!(expected, naive_next(days, today), "{id}");
                    }
                    ordered += 1;
                }
                (next, count) => panic!("{id}: {count} purchase days, next order {next:?}"),
            }
        }
        assert!(camel || churned > 500, "{churned} buyers");
    }
    assert!(ordered > 0);

    // A user who never bought has neither, even unmasked.
    let never = (0..3_000)
        .map(|index| format!("u{index:08}"))
        .find(|id| !purchases.contains_key(id));
    if let Some(never) = never {
        let profile = server.lookup(&[never.as_str()]).await.remove(0);
        let profile = profile.unwrap();
        assert!(
            profile.churn.is_none() && profile.next_order.is_none(),
            "{profile:?}"
        );
    }

    // The push named the new store's version after the run (issue 20) and
    // left the run's model card with it.
    let listing = cards(&target);
    for needle in [
        "model card of retail-1 (fitted as retail-1, ".to_owned(),
        "  data       as of 2025-01-01T00:00:00Z; events ".to_owned(),
        format!("served {churn_served}"),
        format!("served {order_served}"),
        "last_order_plus_median_gap       median_error_days".to_owned(),
        "recency_buckets                  brier".to_owned(),
        "  propensity ".to_owned(),
    ] {
        assert!(listing.contains(&needle), "{needle:?} not in\n{listing}");
    }

    // Below the minimum data both are switched off, and the run says why:
    // in its summary, and in the card of the snapshot it writes, which a
    // load keeps with the new version.
    let config = dir.path().join("strict.toml");
    std::fs::write(&config, "[predictions]\nmin_buyers = 1000000\n").unwrap();
    let snapshot = dir.path().join("strict.snapshot");
    let summary = succeeded(strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        "2025-01-01T00:00:00Z",
        "--config",
        config.to_str().unwrap(),
        "--model-version",
        "strict",
        "--snapshot",
        snapshot.to_str().unwrap(),
    ]));
    assert!(
        summary.contains("churn        switched off: ")
            && summary.contains("next_order   switched off: ")
            && summary.contains("fewer than the 1000000 [predictions] min_buyers needs"),
        "{summary}"
    );
    succeeded(strata(&[
        "admin",
        "load-snapshot",
        "--target",
        &target,
        snapshot.to_str().unwrap(),
    ]));
    let strict = masked(&server, &ids[..50], &["churn", "next_order"]).await;
    assert!(strict.iter().all(|profile| {
        let profile = profile.as_ref().unwrap();
        profile.churn.is_none() && profile.next_order.is_none()
    }));
    let listing = cards(&target);
    assert!(
        listing.contains("model card of strict (fitted as strict"),
        "{listing}"
    );
    assert!(
        listing.contains("  churn        switched off: ")
            && listing.contains("  next_order   switched off: "),
        "{listing}"
    );
    // The pushed version's card is still there, for the rollback.
    assert!(
        listing.contains("model card of retail-1 (fitted as retail-1, "),
        "{listing}"
    );
}

/// The hidden truth: events run 90 days past the as-of, so each served
/// prediction meets the future it predicts. Churn must beat the constant
/// that knows the future's base rate (Brier); the next order must beat the
/// naive "last order + median gap" (median absolute error in days), or the
/// job must have said so and served exactly that rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_predictions_beat_their_baselines_on_the_days_after_as_of() {
    let dir = tempfile::tempdir().unwrap();
    let events = generate(dir.path(), 4_000, 455);
    let server = Server::start(&dir.path().join("data"), None);
    // 2025-01-01 minus 90 days.
    let as_of = "2024-10-03T00:00:00Z";
    let today = strata_events::input::timestamp::parse_text(as_of).unwrap() / DAY_MS;
    let (summary, data) = recompute(dir.path(), &events, as_of, None, Some(&server));
    let predictions = &data["models"]["predictions"];

    let purchases = purchase_days(&events);
    let buyers: Vec<&str> = purchases
        .iter()
        .filter(|(_, days)| days[0] < today)
        .map(|(id, _)| id.as_str())
        .collect();
    let profiles = masked(&server, &buyers, &["churn", "next_order"]).await;

    // Churn: the probability of no purchase in the 90 days from the as-of
    // (midnight, so the as-of day is the first of them).
    let mut outcomes = Vec::new();
    let mut served = Vec::new();
    let mut order_errors = Vec::new();
    let mut naive_errors = Vec::new();
    for (id, profile) in buyers.iter().zip(&profiles) {
        let profile = profile.as_ref().unwrap();
        let days = &purchases[*id];
        let later = days.iter().find(|day| **day >= today && **day < today + 90);
        served.push(profile.churn.as_ref().unwrap().probability);
        outcomes.push(if later.is_none() { 1.0 } else { 0.0 });
        let before: Vec<i64> = days.iter().copied().filter(|day| *day < today).collect();
        if let (Some(next), Some(actual)) = (&profile.next_order, later) {
            assert!(before.len() >= 2);
            let expected = next.expected_at.as_ref().unwrap().seconds * 1000 / DAY_MS;
            order_errors.push((expected - actual).abs() as f64);
            naive_errors.push((naive_next(&before, today) - actual).abs() as f64);
        }
    }
    let base_rate = outcomes.iter().sum::<f64>() / outcomes.len() as f64;
    let brier = |predicted: &dyn Fn(usize) -> f64| {
        outcomes
            .iter()
            .enumerate()
            .map(|(index, outcome)| (predicted(index) - outcome).powi(2))
            .sum::<f64>()
            / outcomes.len() as f64
    };
    let served_brier = brier(&|index| served[index]);
    let constant_brier = brier(&|_| base_rate);
    assert!(
        served_brier < constant_brier,
        "served churn ({}) Brier {served_brier:.4} does not beat the future base rate \
         {base_rate:.3} (Brier {constant_brier:.4})\n{summary}",
        predictions["churn"]["served"]
    );
    // The backtest's own figures: the served candidate has the lowest Brier.
    let candidates = predictions["churn"]["candidates"].as_array().unwrap();
    let lowest = candidates
        .iter()
        .min_by(|a, b| {
            a["brier"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["brier"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(lowest["name"], predictions["churn"]["served"]);

    // Next order, on the repeat buyers who did order again.
    assert!(
        order_errors.len() >= 100,
        "{} repeat buyers",
        order_errors.len()
    );
    let order = &predictions["next_order"];
    let (served_error, naive_error) = (median(order_errors), median(naive_errors));
    match order["served"].as_str().unwrap() {
        "bg_nbd" => {
            assert!(
                order["model_error_days"].as_f64() < order["baseline_error_days"].as_f64(),
                "{order}"
            );
            assert!(
                served_error < naive_error,
                "strata's next order (median error {served_error} days) does not beat the naive \
                 rule ({naive_error}) on the future\n{summary}"
            );
        }
        "last_order_plus_median_gap" => {
            assert!(
                order["model_error_days"].as_f64() >= order["baseline_error_days"].as_f64(),
                "{order}"
            );
            assert!(summary.contains("the naive rule is served"), "{summary}");
            assert_eq!(served_error, naive_error);
        }
        other => panic!("unknown next-order method {other}"),
    }
}
