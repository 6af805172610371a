//! Every preset decides: `strata gen --preset P`, `strata recompute --preset
//! P --push` into a real server, and the profiles read back over gRPC. The
//! saas and wealth presets name value events (contracts, investments), so
//! their customers get tiers, lifetime values, quadrants, propensities and
//! offers; sns names none and says so; the retail preset run on wealth
//! events warns, naming the types it does not read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use strata_proto::v1::Profile;

use crate::support::{Server, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";

/// `strata gen` into `dir/<preset>.csv`.
fn generate(dir: &Path, preset: &str, users: u64) -> PathBuf {
    let events = dir.join(format!("{preset}.csv"));
    succeeded(strata(&[
        "gen",
        "--preset",
        preset,
        "--users",
        &users.to_string(),
        "--out",
        events.to_str().unwrap(),
    ]));
    events
}

/// `strata recompute` of `events` with `preset`, pushed to `server` if
/// given (else a dry run); its printed summary and its log.
fn recompute(dir: &Path, preset: &str, events: &Path, server: Option<&Server>) -> (String, String) {
    let state = dir.join(format!("state-{preset}.jsonl"));
    let mut args = vec![
        "recompute".to_owned(),
        "--preset".to_owned(),
        preset.to_owned(),
        "--events".to_owned(),
        events.to_str().unwrap().to_owned(),
        "--as-of".to_owned(),
        AS_OF.to_owned(),
        "--state".to_owned(),
        state.to_str().unwrap().to_owned(),
    ];
    if let Some(server) = server {
        args.extend(["--push".to_owned(), server.grpc.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = strata(&args);
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    (succeeded(output), log)
}

/// Every user id in a generated CSV, and those with an event of `kind`.
fn users_of(events: &Path, kind: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(events).unwrap();
    let (mut all, mut with_kind) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines().skip(1) {
        let mut columns = line.split(',');
        let user = columns.next().unwrap().to_owned();
        if columns.nth(1) == Some(kind) {
            with_kind.insert(user.clone());
        }
        all.insert(user);
    }
    (all, with_kind)
}

async fn profiles(server: &Server, users: &BTreeSet<String>) -> Vec<Profile> {
    let ids: Vec<&str> = users.iter().map(String::as_str).collect();
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for (id, profile) in chunk.iter().zip(server.lookup(chunk).await) {
            found.push(profile.unwrap_or_else(|| panic!("{id} was not pushed")));
        }
    }
    found
}

fn share(profiles: &[Profile], holds: impl Fn(&Profile) -> bool) -> f64 {
    profiles.iter().filter(|profile| holds(profile)).count() as f64 / profiles.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saas_and_wealth_customers_get_tiers_lifetime_values_and_offers() {
    let dir = tempfile::tempdir().unwrap();
    // SaaS converts few visitors into paying customers: more users, so the
    // offer policy has enough finished issues to learn from.
    for (preset, value_kind, users) in [("wealth", "invest", 3_000), ("saas", "contract", 20_000)] {
        let server = Server::start(&dir.path().join(format!("data-{preset}")), None);
        let events = generate(dir.path(), preset, users);
        let (summary, _) = recompute(dir.path(), preset, &events, Some(&server));
        assert!(summary.contains("  value tiers"), "{summary}");
        assert!(!summary.contains("no value events"), "{summary}");
        assert!(!summary.contains("  warning"), "{summary}");

        let (all, customer_ids) = users_of(&events, value_kind);
        assert!(
            customer_ids.len() >= 60,
            "{preset}: {} customers",
            customer_ids.len()
        );
        let customers = profiles(&server, &customer_ids).await;
        for profile in &customers {
            let who = &profile.user_id;
            assert!(profile.value_tier.is_some(), "{preset} {who}: no tier");
            let lifetime = profile
                .lifetime_value
                .as_ref()
                .unwrap_or_else(|| panic!("{preset} {who}: no lifetime value"));
            assert!(
                lifetime.predicted_value.is_finite() && lifetime.predicted_value >= 0.0,
                "{preset} {who}: {lifetime:?}"
            );
            assert!(
                profile.propensity.is_some(),
                "{preset} {who}: no propensity"
            );
        }
        let with_quadrant = share(&customers, |profile| profile.quadrant.is_some());
        let with_offers = share(&customers, |profile| !profile.benefits.is_empty());
        assert!(
            with_quadrant > 0.5,
            "{preset}: {with_quadrant} with a quadrant"
        );
        assert!(with_offers > 0.5, "{preset}: {with_offers} with offers");
        // The offers come from the preset's own catalogue.
        let catalogue: BTreeSet<&str> = customers
            .iter()
            .flat_map(|profile| &profile.benefits)
            .map(|benefit| benefit.benefit_id.as_str())
            .collect();
        let expected: &[&str] = match preset {
            "saas" => &["first-year-20", "onboarding-credit"],
            _ => &["bonus-yield", "fee-waiver"],
        };
        assert!(
            catalogue.iter().all(|id| expected.contains(id)),
            "{preset}: {catalogue:?}"
        );
        // Users who never paid have a layer but no value tier.
        let others: BTreeSet<String> = all.difference(&customer_ids).take(300).cloned().collect();
        for profile in profiles(&server, &others).await {
            assert_eq!(profile.lifecycle.as_ref().unwrap().preset, preset);
            assert!(profile.value_tier.is_none(), "{preset} {}", profile.user_id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_without_value_events_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None);
    let events = generate(dir.path(), "sns", 800);
    let (summary, _) = recompute(dir.path(), "sns", &events, Some(&server));
    assert!(
        summary.contains(
            "no value events in this preset: tiers, lifetime value and offers are not computed"
        ),
        "{summary}"
    );
    assert!(!summary.contains("n/a"), "{summary}");
    assert!(!summary.contains("  value tiers"), "{summary}");
    let (all, _) = users_of(&events, "");
    let profiles = profiles(&server, &all).await;
    assert_eq!(profiles.len(), all.len());
    for profile in &profiles {
        assert_eq!(profile.lifecycle.as_ref().unwrap().preset, "sns");
        assert!(profile.value_tier.is_none() && profile.lifetime_value.is_none());
        assert!(profile.benefits.is_empty());
    }
}

#[test]
fn the_retail_preset_on_wealth_events_warns_naming_what_it_does_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let events = generate(dir.path(), "wealth", 500);
    let (summary, log) = recompute(dir.path(), "retail", &events, None);
    let warning = summary
        .lines()
        .find(|line| line.starts_with("  warning"))
        .unwrap_or_else(|| panic!("no warning in {summary}"));
    assert!(
        warning.contains("are of types the model `retail` does not read"),
        "{warning}"
    );
    for kind in ["app_start", "view_product", "invest"] {
        assert!(
            warning.contains(&format!("{kind} ")) && warning.contains("(preset wealth)"),
            "{kind} missing from {warning}"
        );
    }
    assert!(
        log.contains("WARN") && log.contains("does not read"),
        "{log}"
    );
    // The preset that reads them does not warn.
    let (summary, _) = recompute(dir.path(), "wealth", &events, None);
    assert!(!summary.contains("  warning"), "{summary}");
}

/// 2024-12-01T00:00:00Z, in milliseconds: the campaign starts (and arms are
/// drawn) here.
const CAMPAIGN_START: i64 = 1_733_011_200_000;
const DAY: i64 = 86_400_000;

const CAMPAIGN: &str = r#"
[[campaign]]
id = "winback"
audience = "buyers"
holdout_share = 0.5
benefit_id = "coupon-5"
channel = "email"
start = 2024-12-01
end = 2025-01-01
"#;

/// 200 buyers in USD before the campaign; during it, every third buys again
/// (a treated one with the campaign's coupon), plus `extra` rows.
fn campaign_events(extra: &str) -> String {
    let mut text = String::from("user_id,timestamp,event_type,amount,currency,benefit_id\n");
    for user in 0..200 {
        let before = CAMPAIGN_START - 60 * DAY + user * 1_000;
        text.push_str(&format!("b{user:03},{before},purchase,20.00,USD,\n"));
        if user % 3 == 0 {
            let during = CAMPAIGN_START + 5 * DAY + user * 1_000;
            text.push_str(&format!(
                "b{user:03},{during},purchase,30.00,USD,coupon-5\n"
            ));
        }
    }
    text.push_str(extra);
    text
}

/// `strata lift` of the campaign over `events`, with `config` if given.
fn lift(dir: &Path, events: &Path, config: Option<&Path>) -> std::process::Output {
    let (campaigns, snapshot) = (dir.join("campaigns.toml"), dir.join("campaign.snap"));
    let mut args = vec![
        "lift",
        "--campaign",
        "winback",
        "--campaigns",
        campaigns.to_str().unwrap(),
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ];
    if let Some(config) = config {
        args.extend(["--config", config.to_str().unwrap()]);
    }
    strata(&args)
}

#[test]
fn lift_reads_the_events_currency_like_the_recompute() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("campaigns.toml"), CAMPAIGN).unwrap();
    std::fs::write(
        dir.join("buyers.toml"),
        "[audience]\nname = \"buyers\"\n\n[audience.rule]\nlayer = [\"new\"]\n",
    )
    .unwrap();
    let events = dir.join("events.csv");
    std::fs::write(&events, campaign_events("")).unwrap();
    // The arms, drawn as the campaign starts.
    let assigned = succeeded(strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        "2024-12-01T00:00:00Z",
        "--campaigns",
        dir.join("campaigns.toml").to_str().unwrap(),
        "--audiences",
        dir.join("buyers.toml").to_str().unwrap(),
        "--snapshot",
        dir.join("campaign.snap").to_str().unwrap(),
        "--state",
        dir.join("state.jsonl").to_str().unwrap(),
    ]));
    assert!(assigned.contains("200 selected"), "{assigned}");

    // One currency: every money figure says which.
    let measured = succeeded(lift(dir, &events, None));
    assert!(
        measured.contains("currency    amounts in USD, as the events give them"),
        "{measured}"
    );
    let money_lines: Vec<&str> = measured
        .lines()
        .filter(|line| {
            line.starts_with("treatment")
                || line.starts_with("control")
                || line.starts_with("revenue/user lift")
                || line.starts_with("incremental profit")
                || line.contains("redemptions costing")
        })
        .collect();
    assert_eq!(money_lines.len(), 5, "{measured}");
    for line in money_lines {
        assert!(line.contains(" USD"), "{line}");
    }

    // A second currency without rates: refused with the recompute's message.
    let mixed = dir.join("mixed.csv");
    let pound = format!("b001,{},purchase,10.00,GBP,\n", CAMPAIGN_START + DAY);
    std::fs::write(&mixed, campaign_events(&pound)).unwrap();
    let refused = lift(dir, &mixed, None);
    assert!(!refused.status.success());
    let lift_error = String::from_utf8_lossy(&refused.stderr).into_owned();
    let recompute = strata(&[
        "recompute",
        "--events",
        mixed.to_str().unwrap(),
        "--as-of",
        "2025-01-01T00:00:00Z",
        "--state",
        dir.join("mixed-state.jsonl").to_str().unwrap(),
    ]);
    assert!(!recompute.status.success());
    let recompute_error = String::from_utf8_lossy(&recompute.stderr).into_owned();
    let message = "the events' amounts are in 2 currencies (GBP: 1 amounts, USD: 267 amounts)";
    assert!(lift_error.contains(message), "{lift_error}");
    assert!(recompute_error.contains(message), "{recompute_error}");

    // With rates, converted to the base and said so.
    let config = dir.join("rates.toml");
    std::fs::write(
        &config,
        "[currency]\nbase = \"USD\"\nrates = { GBP = 1.25 }\n",
    )
    .unwrap();
    let converted = succeeded(lift(dir, &mixed, Some(&config)));
    assert!(
        converted.contains("amounts in USD ([currency] base); converted: 1 in GBP at 1.25 USD/GBP"),
        "{converted}"
    );
}
