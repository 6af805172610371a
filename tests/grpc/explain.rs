//! Why this offer: `strata offers USER --explain` and GetOffers' `explain`
//! flag, on a generated population the recompute job served (a catalogue
//! with a minimum spend, so every rule has something to refuse).

use serde_json::Value;
use strata_proto::v1::{DropRule, GetOffersRequest, OfferContext, OfferVerdict, Profile, Surface};

use crate::support::{self, Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const AS_OF_SECONDS: i64 = 1_735_689_600;
const DAY: i64 = 86_400;
/// The day after as-of: every served benefit is valid (30 days from as-of).
const NEXT_DAY: &str = "2025-01-02T00:00:00Z";
/// Past every served benefit's valid_until.
const LATE: &str = "2025-02-10T00:00:00Z";
/// Enough for the job to serve a policy (at 20,000 it serves no offer).
const USERS: u32 = 100_000;
/// 30.00 EUR on every benefit of the catalogue below.
const MINIMUM_SPEND: i64 = 3_000;

/// The generator's catalogue, each with a minimum spend.
fn catalogue() -> String {
    let benefits = [
        ("coupon-5", "coupon", 500, 5.0, 0.0),
        ("coupon-10", "coupon", 1000, 10.0, 0.0),
        ("discount-15", "discount", 1500, 0.0, 15.0),
        ("free-shipping", "free_shipping", 490, 4.9, 0.0),
        ("points-200", "points", 200, 2.0, 0.0),
    ];
    benefits
        .iter()
        .map(|(id, kind, face, fixed, percent)| {
            format!(
                "[[benefits]]\nbenefit_id = \"{id}\"\nkind = \"{kind}\"\nface_value = {face}\n\
                 currency = \"EUR\"\nminimum_spend = {MINIMUM_SPEND}\ncost_fixed = {fixed}\n\
                 cost_percent = {percent}\n\n"
            )
        })
        .collect()
}

/// `strata offers USER --explain --json` with `extra` flags.
fn explain_json(server: &Server, user: &str, extra: &[&str]) -> Value {
    let endpoint = server.endpoint();
    let mut args = vec!["offers", user, "--explain", "--json", "--target", &endpoint];
    args.extend_from_slice(extra);
    let stdout = succeeded(strata(&args));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

/// `(benefitId, verdict)` of every explained benefit.
fn verdicts(answer: &Value) -> Vec<(String, String)> {
    answer["explanation"]["benefits"]
        .as_array()
        .unwrap_or_else(|| panic!("no explanation in {answer}"))
        .iter()
        .map(|entry| {
            (
                entry["benefit"]["benefitId"].as_str().unwrap().to_owned(),
                entry["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn profiles(server: &Server, ids: &[String]) -> Vec<Profile> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for chunk in ids.chunks(1_000) {
        found.extend(server.lookup(chunk).await.into_iter().flatten());
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_name_the_rule_that_kept_or_dropped_each_benefit() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--seed",
        "1",
        "--out",
        events.to_str().unwrap(),
    ]));
    let config = dir.path().join("recompute.toml");
    std::fs::write(&config, catalogue()).unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let summary = succeeded(strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--config",
        config.to_str().unwrap(),
        "--push",
        &server.endpoint(),
        "--state",
        dir.path().join("state.jsonl").to_str().unwrap(),
    ]));
    let policy = summary
        .lines()
        .find_map(|line| line.trim().strip_prefix("served: "))
        .and_then(|line| line.split(" served:").next())
        .unwrap_or_else(|| panic!("no served policy in the summary:\n{summary}"))
        .to_owned();

    let ids: Vec<String> = (0..u64::from(USERS))
        .map(strata_events::generate::user_id)
        .collect();
    let stored = profiles(&server, &ids).await;
    let with_offers = stored
        .iter()
        .find(|profile| profile.benefits.len() >= 2)
        .expect("a user served two benefits or more");
    let user = with_offers.user_id.as_str();

    // Served: each benefit with its estimate and the policy it came from.
    let served = explain_json(
        &server,
        user,
        &["--cart", "100", "--currency", "EUR", "--at", NEXT_DAY],
    );
    let entries = served["explanation"]["benefits"].as_array().unwrap();
    assert_eq!(entries.len(), with_offers.benefits.len());
    for (entry, stored) in entries.iter().zip(&with_offers.benefits) {
        assert_eq!(entry["benefit"]["benefitId"], stored.benefit_id.as_str());
        assert_eq!(entry["benefit"]["policy"], policy.as_str(), "{entry}");
        assert_eq!(
            entry["benefit"]["expectedIncrementalProfit"].as_f64(),
            Some(stored.expected_incremental_profit)
        );
        // Where the estimate was learned, and how sure it is.
        let cell = entry["benefit"]["cell"].as_str().unwrap_or_default();
        assert!(!cell.is_empty(), "no cell: {entry}");
        assert_eq!(cell, stored.cell);
        assert!(
            cell == "all users"
                || cell.starts_with("never bought, seen ")
                || cell.starts_with("buyer, margin "),
            "{cell}"
        );
        if policy == "best single benefit" {
            assert_eq!(cell, "all users");
        }
        let low = entry["benefit"]["estimateLow"].as_f64();
        let high = entry["benefit"]["estimateHigh"].as_f64();
        assert_eq!(low, stored.estimate_low);
        assert_eq!(high, stored.estimate_high);
        if policy == "learned" {
            assert!(low.is_none() && high.is_none(), "{entry}");
        } else {
            let (low, high) = (low.expect("a low end"), high.expect("a high end"));
            let estimate = stored.expected_incremental_profit;
            assert!(low <= estimate && estimate <= high && low < high, "{entry}");
        }
    }
    // What the job dropped: at most four per user, the fairness rule's
    // first, each kept off the list, as the summary counted them.
    let changed: u64 = summary
        .lines()
        .find_map(|line| {
            line.split_once(" users changed")?
                .0
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no fairness line in the summary:\n{summary}"));
    let mut by_fairness = Vec::new();
    for profile in &stored {
        let dropped = &profile.dropped_benefits;
        assert!(dropped.len() <= 4, "{dropped:?}");
        let fairness = dropped
            .iter()
            .take_while(|d| d.rule() == DropRule::Fairness)
            .count();
        for (position, dropped) in dropped.iter().enumerate() {
            assert!(
                !profile
                    .benefits
                    .iter()
                    .any(|b| b.benefit_id == dropped.benefit_id),
                "{profile:?}"
            );
            match dropped.rule() {
                DropRule::Fairness => {
                    assert!(position < fairness, "{profile:?}");
                    if !dropped.replaced_by.is_empty() {
                        let listed = profile
                            .benefits
                            .iter()
                            .find(|b| b.benefit_id == dropped.replaced_by)
                            .unwrap_or_else(|| panic!("replacement not listed: {profile:?}"));
                        // Same kind: the catalogue's ids begin with it.
                        assert_eq!(
                            listed.benefit_id.split('-').next(),
                            dropped.benefit_id.split('-').next()
                        );
                    }
                }
                DropRule::NotProfitable => {
                    assert!(dropped.expected_incremental_profit <= 0.0, "{dropped:?}")
                }
                DropRule::Unspecified => panic!("{dropped:?}"),
            }
        }
        if fairness > 0 {
            by_fairness.push(profile);
        }
    }
    assert!(by_fairness.len() as u64 <= changed, "{changed}");
    // The rule also changes users by adding a required offer, dropping
    // nothing; on this seed it replaces some users' benefits too.
    assert!(
        !by_fairness.is_empty(),
        "no fairness drop; {changed} changed\n{summary}"
    );
    assert!(
        stored.iter().any(|p| p
            .dropped_benefits
            .iter()
            .any(|d| d.rule() == DropRule::NotProfitable)),
        "no benefit dropped as not profitable"
    );
    eprintln!(
        "fairness changed {changed} users; {} show a fairness drop",
        by_fairness.len()
    );
    if let Some(replaced) = by_fairness.first() {
        let answer = explain_json(&server, &replaced.user_id, &["--at", NEXT_DAY]);
        let listed = answer["explanation"]["droppedByJob"].as_array().unwrap();
        assert_eq!(listed.len(), replaced.dropped_benefits.len(), "{answer}");
        assert_eq!(listed[0]["rule"], "DROP_RULE_FAIRNESS", "{answer}");
        assert_eq!(
            listed[0]["benefitId"],
            replaced.dropped_benefits[0].benefit_id.as_str()
        );
        let endpoint = server.endpoint();
        let table = succeeded(strata(&[
            "offers",
            &replaced.user_id,
            "--explain",
            "--at",
            NEXT_DAY,
            "--target",
            &endpoint,
        ]));
        let row = table
            .lines()
            .find(|line| {
                line.trim_start()
                    .starts_with(&replaced.dropped_benefits[0].benefit_id)
            })
            .unwrap_or_else(|| panic!("no dropped row:\n{table}"));
        assert!(row.contains("dropped by the job: fairness rule"), "{row}");
    }

    // Users of one cell share their estimates' intervals: a benefit's
    // interval is the cell's, not the user's.
    let mut by_cell = std::collections::BTreeMap::new();
    for profile in &stored {
        for benefit in &profile.benefits {
            let key = (benefit.cell.clone(), benefit.benefit_id.clone());
            let interval = (
                benefit.expected_incremental_profit.to_bits(),
                benefit.estimate_low.map(f64::to_bits),
                benefit.estimate_high.map(f64::to_bits),
            );
            if !benefit.fairness_required && policy != "learned" {
                assert_eq!(
                    *by_cell.entry(key.clone()).or_insert(interval),
                    interval,
                    "{key:?}"
                );
            }
        }
    }
    if policy != "learned" {
        assert!(by_cell.len() >= 2, "{by_cell:?}");
    }
    let served_ids: Vec<&str> = served["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|offer| offer["benefitId"].as_str().unwrap())
        .collect();
    for (rank, id) in served_ids.iter().enumerate() {
        let entry = entries
            .iter()
            .find(|entry| entry["benefit"]["benefitId"] == *id)
            .unwrap();
        assert_eq!(entry["verdict"], "OFFER_VERDICT_SERVED", "{entry}");
        assert_eq!(entry["rank"].as_u64(), Some(rank as u64 + 1));
    }
    assert!(!served_ids.is_empty());

    // Expired: asked after valid_until.
    let expired = explain_json(&server, user, &["--at", LATE]);
    assert!(expired.get("offers").is_none(), "{expired}");
    for (id, verdict) in verdicts(&expired) {
        assert_eq!(verdict, "OFFER_VERDICT_EXPIRED", "{id}");
    }

    // A cart below the minimum spend.
    let small = explain_json(
        &server,
        user,
        &["--cart", "10", "--currency", "EUR", "--at", NEXT_DAY],
    );
    for (id, verdict) in verdicts(&small) {
        assert_eq!(verdict, "OFFER_VERDICT_BELOW_MINIMUM_SPEND", "{id}");
    }
    let detail = small["explanation"]["benefits"][0]["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.contains("1000") && detail.contains(&MINIMUM_SPEND.to_string()),
        "{detail}"
    );

    // A cart in another currency.
    let dollars = explain_json(
        &server,
        user,
        &["--cart", "100", "--currency", "USD", "--at", NEXT_DAY],
    );
    for (id, verdict) in verdicts(&dollars) {
        assert_eq!(verdict, "OFFER_VERDICT_CURRENCY_MISMATCH", "{id}");
    }

    // The readable table: one row per benefit, with its origin and verdict.
    let endpoint = server.endpoint();
    let table = succeeded(strata(&[
        "offers",
        user,
        "--explain",
        "--at",
        NEXT_DAY,
        "--target",
        &endpoint,
    ]));
    assert!(
        table.contains("BENEFIT") && table.contains("VERDICT"),
        "{table}"
    );
    for id in &served_ids {
        let row = table
            .lines()
            .find(|line| line.trim_start().starts_with(id) && line.contains("served"))
            .unwrap_or_else(|| panic!("no served row for {id}:\n{table}"));
        assert!(row.contains(&policy), "{row}");
        assert!(row.contains("cell: "), "{row}");
        if policy != "learned" {
            assert!(row.contains("(95% "), "{row}");
        }
    }

    // The fairness rule's benefit is marked, in JSON and in the table. On
    // this seed the least-cost repair forces no offer, so one user's
    // profile is written as the rule writes it.
    let mut fair = support::profile("fair-user", 1);
    let mut required = support::benefit("free-shipping", -0.4);
    required.fairness_required = true;
    fair.benefits = vec![support::benefit("coupon-5", 1.2), required];
    let mut ingest = server.ingest().await;
    support::push(
        &mut ingest,
        vec![support::batch("explain-test", 1, vec![fair], &[])],
    )
    .await
    .unwrap();
    let fairness = explain_json(&server, "fair-user", &[]);
    let marked: Vec<&Value> = fairness["explanation"]["benefits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["benefit"]["fairnessRequired"] == true)
        .collect();
    assert_eq!(marked.len(), 1, "{fairness}");
    assert_eq!(marked[0]["benefit"]["benefitId"], "free-shipping");
    assert_eq!(marked[0]["verdict"], "OFFER_VERDICT_SERVED");
    assert!(
        marked[0]["detail"]
            .as_str()
            .unwrap()
            .contains("required by the fairness rule"),
        "{fairness}"
    );
    let table = succeeded(strata(&[
        "offers",
        "fair-user",
        "--explain",
        "--target",
        &endpoint,
    ]));
    let row = table
        .lines()
        .find(|line| line.trim_start().starts_with("free-shipping"))
        .unwrap_or_else(|| panic!("no row for free-shipping:\n{table}"));
    assert!(row.contains("fairness required"), "{row}");

    // The gRPC flag off: no explanation, and the same offers as with it on.
    let mut client = server.profiles().await;
    for profile in stored.iter().take(200) {
        for (cart, currency) in [(Some(10_000), "EUR"), (Some(1_000), "EUR"), (None, "")] {
            let request = |explain| GetOffersRequest {
                user_id: profile.user_id.clone(),
                context: Some(OfferContext {
                    surface: if cart.is_some() {
                        Surface::Checkout
                    } else {
                        Surface::AppHome
                    }
                    .into(),
                    cart_value: cart,
                    currency: currency.into(),
                    request_time: Some(prost_types::Timestamp {
                        seconds: AS_OF_SECONDS + DAY,
                        nanos: 0,
                    }),
                }),
                max_offers: 2,
                explain,
            };
            let off = client
                .get_offers(request(false))
                .await
                .unwrap()
                .into_inner();
            let on = client.get_offers(request(true)).await.unwrap().into_inner();
            assert!(off.explanation.is_none());
            assert_eq!(off.offers, on.offers);
            let explanation = on.explanation.expect("asked for");
            assert_eq!(explanation.benefits.len(), profile.benefits.len());
            let served = explanation
                .benefits
                .iter()
                .filter(|entry| entry.verdict() == OfferVerdict::Served)
                .count();
            assert_eq!(served, on.offers.len());
        }
    }
}
