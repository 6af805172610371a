//! The recompute job as a user runs it: `strata gen` and `strata recompute`
//! against a real server, with the job's state file on disk.

use std::path::Path;

use strata_proto::v1::Profile;

use crate::support::{Server, gen_events, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const AS_OF_MILLIS: i64 = 1_735_689_600_000;
const DAY: i64 = 86_400_000;

/// (user, days before as-of, event type, amount)
const EVENTS: &[(&str, i64, &str, &str)] = &[
    ("a-potential", 5, "browse", ""),
    ("b-new", 10, "purchase", "20"),
    ("c-growth", 40, "purchase", "20"),
    ("c-growth", 20, "purchase", "25"),
    ("d-mature", 100, "purchase", "10"),
    ("d-mature", 80, "purchase", "10"),
    ("d-mature", 60, "purchase", "10"),
    ("d-mature", 40, "purchase", "10"),
    ("d-mature", 20, "purchase", "10"),
    ("e-declining", 100, "purchase", "30"),
    ("e-declining", 95, "purchase", "30"),
    ("e-declining", 90, "purchase", "30"),
    ("e-declining", 85, "purchase", "30"),
    ("f-churned", 300, "purchase", "50"),
    ("f-churned", 250, "purchase", "50"),
    ("g-after", 3, "browse", ""),
    ("g-after", -1, "purchase", "99"),
    ("h-unknown", 7, "teleport", ""),
    ("h-unknown", 7, "teleport", ""),
];

fn write_events(path: &Path, extra: &[(&str, i64, &str, &str)]) {
    let mut text = String::from("user_id,timestamp,event_type,amount,currency\n");
    for (user, days_before, kind, amount) in EVENTS.iter().chain(extra) {
        let at = AS_OF_MILLIS - days_before * DAY;
        let currency = if amount.is_empty() { "" } else { "EUR" };
        text.push_str(&format!("{user},{at},{kind},{amount},{currency}\n"));
    }
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn pushes_expected_layers_then_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let events = dir.path().join("events.csv");
    write_events(&events, &[]);
    let state = dir.path().join("state.jsonl");
    let transitions = dir.path().join("transitions.csv");
    let endpoint = server.endpoint();
    let run = |transitions_file: &Path| {
        succeeded(strata(&[
            "recompute",
            "--events",
            events.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--push",
            &endpoint,
            "--state",
            state.to_str().unwrap(),
            "--transitions",
            transitions_file.to_str().unwrap(),
        ]))
    };

    let first = run(&transitions);
    assert!(first.contains("users      8"), "{first}");
    assert!(first.contains("1 after as-of (ignored)"), "{first}");
    assert!(first.contains("8 changed, 0 unchanged"), "{first}");

    let ids = [
        "a-potential",
        "b-new",
        "c-growth",
        "d-mature",
        "e-declining",
        "f-churned",
        "g-after",
        "h-unknown",
    ];
    let expected = [
        ("potential", false),
        ("new", false),
        ("growth", false),
        ("mature", false),
        ("declining", false),
        ("growth", true),
        ("potential", false),
        ("potential", false),
    ];
    let profiles = server.lookup(&ids).await;
    for ((id, profile), (layer, churned)) in ids.iter().zip(&profiles).zip(expected) {
        let lifecycle = profile.as_ref().unwrap().lifecycle.as_ref().unwrap();
        assert_eq!(
            (lifecycle.layer.as_str(), lifecycle.churned),
            (layer, churned),
            "{id}"
        );
        assert_eq!(lifecycle.preset, "retail");
    }
    let never_bought = profiles[0].as_ref().unwrap();
    assert!(
        never_bought.value_tier.is_none(),
        "no purchase, no value tier"
    );
    assert!(profiles[3].as_ref().unwrap().value_tier.is_some());
    assert_eq!(server.applied("recompute-retail").await, 1);

    // Unchanged input: nothing to push.
    let second = run(&transitions);
    assert!(second.contains("0 changed, 8 unchanged"), "{second}");
    assert!(!second.contains("pushed "), "{second}");
    assert_eq!(server.applied("recompute-retail").await, 1);

    // One user buys. Quintile cut points are population-wide, so other users'
    // RFM scores may move too: exactly the users whose record differs are
    // pushed, and the rest keep the record (and computed-at) served before.
    let before = server.lookup(&ids).await;
    write_events(&events, &[("a-potential", 1, "purchase", "15")]);
    let third = run(&transitions);
    let after = server.lookup(&ids).await;
    let without_time = |profile: &Option<Profile>| {
        let mut profile = profile.clone().unwrap();
        profile.computed_at = None;
        profile
    };
    let mut differing = 0;
    for (old, new) in before.iter().zip(&after) {
        if without_time(old) == without_time(new) {
            assert_eq!(
                old.as_ref().unwrap().computed_at,
                new.as_ref().unwrap().computed_at
            );
        } else {
            differing += 1;
        }
    }
    assert!(differing >= 1);
    assert!(
        third.contains(&format!("{differing} changed, {} unchanged", 8 - differing)),
        "{third}"
    );
    assert!(third.contains("potential -> new"), "{third}");
    let rows = std::fs::read_to_string(&transitions).unwrap();
    assert_eq!(
        rows,
        "user_id,from,to,at\na-potential,potential,new,2025-01-01T00:00:00.000Z\n"
    );
    assert_eq!(server.applied("recompute-retail").await, 2);
    assert_eq!(
        after[0].as_ref().unwrap().lifecycle.as_ref().unwrap().layer,
        "new"
    );
}

#[tokio::test]
async fn a_crash_between_batches_resumes_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let events = dir.path().join("events.parquet");
    gen_events(&events, 3000, 7, &[]);
    let state = dir.path().join("state.jsonl");
    let endpoint = server.endpoint();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "recompute",
            "--events",
            events.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--push",
            &endpoint,
            "--state",
            state.to_str().unwrap(),
            "--batch-size",
            "100",
        ];
        args.extend_from_slice(extra);
        strata(&args)
    };

    let crashed = run(&["--crash-after-batches", "5"]);
    assert!(!crashed.status.success());
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("push stopped after 5 batches"));
    assert_eq!(server.applied("recompute-retail").await, 5);
    assert!(
        !state.exists(),
        "the state is committed only after the whole push"
    );

    let resumed = succeeded(run(&[]));
    let users: u64 = resumed
        .lines()
        .find_map(|line| line.strip_prefix("  users      "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let batches = users.div_ceil(100);
    assert!(
        resumed.contains(&format!("resumed    {} batches sent", batches - 5)),
        "{resumed}"
    );
    assert!(resumed.contains("5 already applied"), "{resumed}");
    assert!(
        resumed.contains(&format!("0 changed, {users} unchanged")),
        "{resumed}"
    );
    assert_eq!(server.applied("recompute-retail").await, batches);

    let metrics = server.scrape_metrics();
    assert!(
        metrics.contains(&format!(
            r#"strata_ingest_batches_total{{outcome="applied"}} {batches}"#
        )),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"outcome="replayed""#),
        "no batch was sent twice"
    );

    let ids: Vec<String> = (0..3000).map(strata_events::generate::user_id).collect();
    let mut found = 0;
    for chunk in ids.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        found += server.lookup(&refs).await.iter().flatten().count() as u64;
    }
    assert_eq!(found, users, "every computed user is served");
}

#[tokio::test]
async fn csv_jsonl_and_parquet_give_identical_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let mut snapshots = Vec::new();
    for extension in ["csv", "jsonl", "parquet"] {
        let events = dir.path().join(format!("events.{extension}"));
        gen_events(&events, 400, 3, &[]);
        let snapshot = dir.path().join(format!("{extension}.snapshot"));
        let state = dir.path().join(format!("{extension}.state.jsonl"));
        succeeded(strata(&[
            "recompute",
            "--events",
            events.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ]));
        let mut profiles = Vec::new();
        let (_, trailer) = strata_snapshot::read_snapshot(&snapshot, |mut profile| {
            profile.computed_at = None;
            profiles.push(profile);
        })
        .unwrap();
        assert_eq!(trailer.profiles as usize, profiles.len());
        snapshots.push(profiles);
    }
    assert!(snapshots[0].len() > 300, "{}", snapshots[0].len());
    assert_eq!(snapshots[0], snapshots[1], "CSV vs JSON Lines");
    assert_eq!(snapshots[0], snapshots[2], "CSV vs Parquet");
}

#[test]
fn bad_rows_are_reported_with_file_and_line_and_the_budget_holds() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    let mut text = String::from("user_id,timestamp,event_type,amount\n");
    for user in 0..199 {
        text.push_str(&format!("u{user},{},browse,\n", AS_OF_MILLIS - DAY));
    }
    text.push_str("u-bad,yesterday,browse,\n");
    std::fs::write(&events, &text).unwrap();
    let state = dir.path().join("state.jsonl");
    let args = [
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--state",
        state.to_str().unwrap(),
    ];
    let within = succeeded(strata(&args));
    assert!(within.contains("1 bad rows"), "{within}");
    assert!(
        within.contains(&format!("bad row {}:201:", events.display())),
        "{within}"
    );

    text.push_str("u-bad2,,browse,\nu-bad3,1,browse,lots\n");
    std::fs::write(&events, &text).unwrap();
    let over = strata(&args);
    assert!(!over.status.success());
    let stderr = String::from_utf8_lossy(&over.stderr);
    assert!(
        stderr.contains(&format!("{}:202", events.display())),
        "{stderr}"
    );
}

/// The decision models through the real path: gen -> recompute -> push ->
/// BatchGetProfiles and GetOffers.
#[tokio::test]
async fn served_profiles_carry_the_model_fields_end_to_end() {
    use strata_proto::v1::{GetOffersRequest, OfferContext, Surface};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let events = dir.path().join("events.parquet");
    // Enough users for the offer policy's off-policy estimates to clear no
    // offer (at 4,000 they are all noise, and no offer is served).
    gen_events(&events, 20000, 11, &[]);
    let state = dir.path().join("state.jsonl");
    let output = succeeded(strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--push",
        &server.endpoint(),
        "--state",
        state.to_str().unwrap(),
    ]));
    assert!(output.contains("BG/NBD       r "), "{output}");
    assert!(output.contains("propensity   holdout AUC 0."), "{output}");

    let ids: Vec<String> = (0..400).map(strata_events::generate::user_id).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let profiles: Vec<Profile> = server.lookup(&refs).await.into_iter().flatten().collect();
    let buyer = profiles
        .iter()
        .find(|profile| profile.value_tier.is_some() && !profile.benefits.is_empty())
        .expect("a buyer with recommendations");
    let lifetime = buyer.lifetime_value.as_ref().expect("lifetime value");
    assert!((0.0..=1.0).contains(&lifetime.probability_alive));
    assert!(lifetime.expected_purchases >= 0.0 && lifetime.predicted_value >= 0.0);
    assert_eq!(lifetime.horizon_days, 90);
    assert!(buyer.propensity.is_some_and(|p| (0.0..=1.0).contains(&p)));
    let channel = buyer.contact_channel.as_ref().expect("contact channel");
    assert_eq!(channel.scores.len(), 4);
    assert!(channel.frequency_capped || channel.best != 0);
    let profits: Vec<f64> = buyer
        .benefits
        .iter()
        .map(|benefit| benefit.expected_incremental_profit)
        .collect();
    assert!(
        profits.windows(2).all(|pair| pair[0] >= pair[1]),
        "best first: {profits:?}"
    );
    assert!(profits.iter().all(|profit| *profit > 0.0));
    // Users who never bought get no lifetime value rather than a zero.
    let never_bought = profiles
        .iter()
        .find(|profile| profile.value_tier.is_none())
        .expect("a user who never bought");
    assert!(never_bought.lifetime_value.is_none());

    // GetOffers serves the same benefits, eligible at checkout in EUR.
    let offers = server
        .profiles()
        .await
        .get_offers(GetOffersRequest {
            user_id: buyer.user_id.clone(),
            context: Some(OfferContext {
                surface: Surface::Checkout.into(),
                cart_value: Some(100_000),
                currency: "EUR".into(),
                request_time: Some(strata_job::wire::millis_to_timestamp(AS_OF_MILLIS + DAY)),
            }),
            max_offers: 0,
            explain: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!offers.cold_start);
    assert_eq!(offers.offers, buyer.benefits);
}

/// The models' checks on generated data with a known effect, through the
/// library: propensity beats both baselines; the offer policy's candidates
/// are all estimated off-policy with intervals and the served one is never
/// below a simple one on them; the fairness rule holds, repairs exactly
/// when the unrepaired lists break it, and its cost is reported.
#[tokio::test]
async fn models_beat_their_baselines_and_fairness_holds() {
    use strata_job::{Delivery, ModelsConfig, RecomputeOptions, RunSummary};

    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    gen_events(&events, 20000, 5, &[]);
    let run = |fairness: bool, name: &str| {
        let mut models = ModelsConfig::default();
        models.fairness.enabled = fairness;
        let snapshot = dir.path().join(format!("{name}.snapshot"));
        let options = RecomputeOptions {
            events: vec![events.clone()],
            summaries: None,
            model: strata_core::LifecycleModel::preset("retail").unwrap(),
            model_version: "retail-1".into(),
            as_of: AS_OF_MILLIS,
            models,
            budget: strata_events::input::ErrorBudget::default(),
            state_file: dir.path().join(format!("{name}.state.jsonl")),
            delivery: Delivery::Snapshot {
                path: snapshot.clone(),
            },
            delete_missing: false,
            delete_guard: strata_job::DeleteGuard::default(),
            full_push: false,
            transitions_file: None,
            show_progress: false,
            targeting: None,
        };
        (options, snapshot)
    };
    let (fair_options, fair_snapshot) = run(true, "fair");
    let summary: RunSummary = strata_job::run(fair_options).await.unwrap();
    let models = &summary.models;
    let auc = models.propensity_auc.unwrap();
    assert!(auc > 0.75, "propensity AUC {auc}");
    assert!(auc > models.recency_auc.unwrap(), "{models:?}");
    assert!(auc > models.bg_nbd_auc.unwrap(), "{models:?}");
    let offers = models.offer_policy.as_ref().expect("an offer policy");
    let names: Vec<&str> = offers
        .candidates
        .iter()
        .map(|candidate| candidate.policy.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "no offer",
            "best single benefit",
            "best benefit per cell",
            "learned"
        ]
    );
    for candidate in &offers.candidates {
        for estimate in [&candidate.dr, &candidate.ips] {
            assert!(
                estimate.lower <= estimate.mean && estimate.mean <= estimate.upper,
                "{candidate:?}"
            );
        }
    }
    let served: Vec<_> = offers
        .candidates
        .iter()
        .filter(|candidate| candidate.served)
        .collect();
    assert_eq!(served.len(), 1, "{offers:?}");
    assert_eq!(served[0].policy, offers.served);
    for simple in offers
        .candidates
        .iter()
        .filter(|candidate| candidate.policy != "learned")
    {
        assert!(served[0].dr.mean >= simple.dr.mean, "{offers:?}");
    }
    assert!(
        offers.reason.starts_with(&offers.served),
        "{}",
        offers.reason
    );
    let fairness = offers.fairness.as_ref().expect("the fairness cost");
    assert!(fairness.enabled);
    assert!(
        fairness.value_with <= fairness.value_without + 1e-9,
        "{fairness:?}"
    );
    assert_eq!(violations(&fair_snapshot), 0);

    let (unfair_options, unfair_snapshot) = run(false, "unfair");
    let unfair = strata_job::run(unfair_options).await.unwrap();
    let unrepaired = unfair.models.offer_policy.unwrap().fairness.unwrap();
    assert!(!unrepaired.enabled);
    // The same lists before the rule, which repairs exactly where they break it.
    assert_eq!(unrepaired.value_without, fairness.value_without);
    assert_eq!(
        violations(&unfair_snapshot) > 0,
        fairness.users_changed > 0,
        "{fairness:?}"
    );
    assert_eq!(fairness.users_changed as usize, models.fairness_changes);
}

/// Later-layer users (growth and on) offered a lower face value than a new
/// user of the same tier and quadrant gets for the same benefit kind.
fn violations(snapshot: &Path) -> usize {
    use std::collections::HashMap;
    let mut new_best: HashMap<(i32, i32, i32), i64> = HashMap::new();
    let mut later: Vec<((i32, i32, i32), i64)> = Vec::new();
    strata_snapshot::read_snapshot(snapshot, |profile| {
        let lifecycle = profile.lifecycle.as_ref().unwrap();
        let tier = profile.value_tier.as_ref().map_or(0, |value| value.tier);
        let quadrant = profile
            .quadrant
            .as_ref()
            .map_or(0, |quadrant| quadrant.kind);
        for benefit in &profile.benefits {
            let key = (tier, quadrant, benefit.kind);
            if lifecycle.layer == "new" {
                let best = new_best.entry(key).or_insert(i64::MIN);
                *best = (*best).max(benefit.face_value);
            } else if lifecycle.layer_index > 1 {
                later.push((key, benefit.face_value));
            }
        }
    })
    .unwrap();
    later
        .iter()
        .filter(|(key, face_value)| new_best.get(key).is_some_and(|best| face_value < best))
        .count()
}

/// `[propensity] max_train_users` as a user sets it: beyond it the
/// candidates train on a sample of the training users, the run's notes say
/// so, the holdout they are judged on keeps every held-out user, and a cap
/// too small to learn from is refused by name.
#[test]
fn propensity_training_beyond_the_configured_cap_is_a_sample() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.parquet");
    gen_events(&events, 4000, 13, &[]);
    let run = |config: &str| {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).unwrap();
        let state = dir.path().join("state.jsonl");
        let _ = std::fs::remove_file(&state);
        strata(&[
            "recompute",
            "--events",
            events.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--state",
            state.to_str().unwrap(),
            "--config",
            path.to_str().unwrap(),
        ])
    };
    // "holdout AUC on H users (T trained)"
    let candidates = |summary: &str| -> (u64, u64) {
        let line = summary
            .lines()
            .find(|line| line.contains("holdout AUC on"))
            .unwrap_or_else(|| panic!("no candidates line in {summary}"));
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|part| part.parse().ok())
            .take(2)
            .collect();
        (numbers[0], numbers[1])
    };

    let whole = succeeded(run("[propensity]\nmax_train_users = 1000000\n"));
    let (holdout, trained) = candidates(&whole);
    assert!(trained > 2_000, "{whole}");
    assert!(!whole.contains("sampled by a hash of the id"), "{whole}");

    let capped = succeeded(run("[propensity]\nmax_train_users = 1000\n"));
    let (capped_holdout, capped_trained) = candidates(&capped);
    assert_eq!(capped_holdout, holdout, "{capped}");
    assert!((700..=1_300).contains(&capped_trained), "{capped}");
    assert!(
        capped.contains(&format!(
            "propensity trained on {capped_trained} of {trained} training users, sampled by a hash of the id"
        )),
        "{capped}"
    );

    let refused = run("[propensity]\nmax_train_users = 10\n");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("propensity.max_train_users 10 is below 1000"),
        "{stderr}"
    );
}
