//! What the served offers are worth in truth. `strata gen` makes retail
//! populations whose response to each benefit differs from user to user and
//! writes every user's exact expected 14-day incremental profit per benefit
//! to the truth file; `strata recompute --push` learns from the log's
//! randomised offers and serves. The first offer each user is served, read
//! through BatchGetProfiles, must earn (in truth) at least what an analyst's
//! two simple policies earn, computed here from the same event log, and
//! more than sending nothing, on 3 seeds:
//! - best single benefit: the benefit with the highest mean profit of its
//!   issues minus the held-back issues' mean, for everyone (nothing if no
//!   difference is positive);
//! - per cell: users grouped by simple RFM bins as of each issue (purchases,
//!   days since the last, order value), per cell the benefit with the best
//!   difference in mean profit, or nothing; served by the as-of cell.
//!
//! Profit of an issue: 30% margin on every order in the 14 days from the
//! issue, minus the logged cost of redeeming the issued benefit.
//!
//! The same run checks the one-order rule: every profile's benefits are best
//! first by the stored expected profit, never a negative one first, never a
//! negative one at all unless marked as required by the fairness rule, and
//! GetOffers leads with the profile's first benefit.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;

use strata_events::generate::BENEFITS;
use strata_events::input::{ErrorBudget, EventSource};
use strata_proto::v1::{GetOffersRequest, OfferContext, Profile, Surface};

use crate::support::{Pushed, generate_and_push};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const AS_OF_MILLIS: i64 = 1_735_689_600_000;
const DAY: i64 = 86_400_000;
const WINDOW: i64 = 14 * DAY;
const MARGIN: f64 = 0.3;
const USERS: u32 = 100_000;
const SEEDS: [u32; 3] = [1, 2, 3];
/// Fewer issues than this in a cell's arm and the analyst does not trust
/// the cell's difference.
const MIN_CELL_ARM: usize = 30;

/// One user as the analyst reads the log.
#[derive(Default)]
struct Log {
    /// (at, amount), any order.
    purchases: Vec<(i64, f64)>,
    /// (at, benefit index, treated).
    issues: Vec<(i64, usize, bool)>,
    /// (at, benefit index, cost).
    redemptions: Vec<(i64, usize, f64)>,
}

impl Log {
    /// The analyst's cell as of `at`: purchases before it in 4 bins
    /// (0, 1, 2-4, 5+), days since the last in 3 (up to 30, 90, more), mean
    /// order below or above `median_order`.
    fn cell(&self, at: i64, median_order: f64) -> u32 {
        let before: Vec<&(i64, f64)> = self.purchases.iter().filter(|(t, _)| *t < at).collect();
        if before.is_empty() {
            return 0;
        }
        let frequency = match before.len() {
            1 => 0,
            2..=4 => 1,
            _ => 2,
        };
        let last = before.iter().map(|(t, _)| *t).max().unwrap();
        let recency = match (at - last) / DAY {
            0..=30 => 0,
            31..=90 => 1,
            _ => 2,
        };
        let mean = before.iter().map(|(_, amount)| amount).sum::<f64>() / before.len() as f64;
        let order = u32::from(mean >= median_order);
        1 + frequency * 6 + recency * 2 + order
    }

    fn mean_order(&self, at: i64) -> Option<f64> {
        let before: Vec<f64> = self
            .purchases
            .iter()
            .filter(|(t, _)| *t < at)
            .map(|(_, amount)| *amount)
            .collect();
        (!before.is_empty()).then(|| before.iter().sum::<f64>() / before.len() as f64)
    }

    /// Margin on the window's orders minus the issued benefit's redemptions.
    fn profit(&self, at: i64, benefit: usize, treated: bool) -> f64 {
        let revenue: f64 = self
            .purchases
            .iter()
            .filter(|(t, _)| *t >= at && *t <= at + WINDOW)
            .map(|(_, amount)| amount)
            .sum();
        let cost: f64 = if treated {
            self.redemptions
                .iter()
                .filter(|(t, b, _)| *b == benefit && *t >= at && *t <= at + WINDOW)
                .map(|(_, _, cost)| cost)
                .sum()
        } else {
            0.0
        };
        MARGIN * revenue - cost
    }
}

fn benefit_index(id: &str) -> Option<usize> {
    BENEFITS.iter().position(|benefit| benefit.id == id)
}

fn read_log(events: &Path) -> HashMap<String, Log> {
    let mut users: HashMap<String, Log> = HashMap::new();
    EventSource::open(&[events.to_owned()])
        .unwrap()
        .read(ErrorBudget::default(), |event| {
            let log = users.entry(event.user_id.clone()).or_default();
            let benefit = event.benefit_id.as_deref().and_then(benefit_index);
            match (event.kind.as_str(), benefit) {
                ("purchase", _) => log.purchases.push((event.at, event.amount.unwrap_or(0.0))),
                ("offer_issued", Some(b)) => log.issues.push((event.at, b, true)),
                ("offer_control", Some(b)) => log.issues.push((event.at, b, false)),
                ("offer_redeemed", Some(b)) => {
                    log.redemptions
                        .push((event.at, b, event.amount.unwrap_or(0.0)))
                }
                _ => {}
            }
        })
        .unwrap();
    users
}

/// Mean profit per (cell, arm): arm 0 held back, `b + 1` benefit `b`.
type Sums = BTreeMap<(u32, usize), (usize, f64)>;

/// The benefit with the best positive difference to the held-back mean.
fn best_difference(sums: &Sums, cell: u32, min_arm: usize) -> Option<usize> {
    let mean = |arm: usize| {
        sums.get(&(cell, arm))
            .filter(|(count, _)| *count >= min_arm)
            .map(|(count, total)| total / *count as f64)
    };
    let control = mean(0)?;
    (0..BENEFITS.len())
        .filter_map(|b| mean(b + 1).map(|treated| (b, treated - control)))
        .filter(|(_, difference)| *difference > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(b, _)| b)
}

/// user id -> true value per benefit (catalogue order).
fn read_truth(path: &Path) -> HashMap<String, Vec<f64>> {
    let file = std::fs::File::open(path).unwrap();
    std::io::BufReader::new(file)
        .lines()
        .map(|line| {
            let truth: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let values = BENEFITS
                .iter()
                .map(|benefit| truth["offer_value"][benefit.id].as_f64().unwrap())
                .collect();
            (truth["user_id"].as_str().unwrap().to_owned(), values)
        })
        .collect()
}

struct Values {
    served: f64,
    per_cell: f64,
    best_single: f64,
    oracle: f64,
    policy: String,
}

async fn one_seed(seed: u32) -> Values {
    let dir = tempfile::tempdir().unwrap();
    let Pushed {
        server,
        events,
        truth: truth_file,
        summary,
    } = generate_and_push(dir.path(), u64::from(USERS), u64::from(seed), AS_OF);
    let policy = summary
        .lines()
        .find_map(|line| line.trim().strip_prefix("served: "))
        .unwrap_or_else(|| panic!("no served policy in the summary:\n{summary}"))
        .to_owned();
    eprintln!("seed {seed} summary:\n{summary}");

    let truth = read_truth(&truth_file);
    let logs = read_log(&events);
    let ids: Vec<String> = (0..u64::from(USERS))
        .map(strata_events::generate::user_id)
        .collect();

    // The analyst's baselines, from the log.
    let mut orders: Vec<f64> = logs
        .values()
        .filter_map(|log| log.mean_order(AS_OF_MILLIS))
        .collect();
    orders.sort_by(f64::total_cmp);
    let median_order = orders[orders.len() / 2];
    let mut sums = Sums::new();
    for log in logs.values() {
        for &(at, benefit, treated) in &log.issues {
            if at + WINDOW > AS_OF_MILLIS {
                continue;
            }
            let profit = log.profit(at, benefit, treated);
            let arm = if treated { benefit + 1 } else { 0 };
            for cell in [u32::MAX, log.cell(at, median_order)] {
                let entry = sums.entry((cell, arm)).or_default();
                entry.0 += 1;
                entry.1 += profit;
            }
        }
    }
    let single = best_difference(&sums, u32::MAX, 1);
    let value_of = |user: &str, benefit: Option<usize>| {
        benefit.map_or(0.0, |b| truth.get(user).map_or(0.0, |values| values[b]))
    };

    // Served first offers, read back as a checkout would.
    let (mut served, mut per_cell, mut best_single, mut oracle) = (0.0, 0.0, 0.0, 0.0);
    let mut listed = Vec::new();
    for chunk in ids.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (id, profile) in chunk.iter().zip(server.lookup(&refs).await) {
            let first = profile.as_ref().and_then(check_order);
            served += value_of(id, first);
            if first.is_some() && listed.len() < 300 {
                listed.push(profile.unwrap());
            }
            let cell = logs
                .get(id)
                .map_or(0, |log| log.cell(AS_OF_MILLIS, median_order));
            per_cell += value_of(id, best_difference(&sums, cell, MIN_CELL_ARM));
            best_single += value_of(id, single);
            oracle += truth
                .get(id)
                .map_or(0.0, |values| values.iter().copied().fold(0.0, f64::max));
        }
    }
    assert!(!listed.is_empty(), "nobody is served an offer");
    // GetOffers agrees with the profile about the first offer.
    let mut client = server.profiles().await;
    for profile in &listed {
        let offers = client
            .get_offers(GetOffersRequest {
                user_id: profile.user_id.clone(),
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
        assert_eq!(
            offers.offers.first().map(|offer| &offer.benefit_id),
            profile.benefits.first().map(|benefit| &benefit.benefit_id),
            "{}",
            profile.user_id
        );
        assert_eq!(offers.offers, profile.benefits, "{}", profile.user_id);
    }
    let users = f64::from(USERS);
    Values {
        served: served / users,
        per_cell: per_cell / users,
        best_single: best_single / users,
        oracle: oracle / users,
        policy,
    }
}

/// Checks the one-order rule on a profile; returns its first benefit.
fn check_order(profile: &Profile) -> Option<usize> {
    let benefits = &profile.benefits;
    let profits: Vec<f64> = benefits
        .iter()
        .map(|benefit| benefit.expected_incremental_profit)
        .collect();
    assert!(
        profits.windows(2).all(|pair| pair[0] >= pair[1]),
        "{}: not best first: {profits:?}",
        profile.user_id
    );
    for benefit in benefits {
        assert!(
            benefit.expected_incremental_profit >= 0.0 || benefit.fairness_required,
            "{}: {} has a negative estimate without the fairness mark",
            profile.user_id,
            benefit.benefit_id
        );
    }
    let first = benefits.first()?;
    assert!(
        first.expected_incremental_profit >= 0.0,
        "{}: a negative estimate first",
        profile.user_id
    );
    benefit_index(&first.benefit_id)
}

#[tokio::test]
async fn served_first_offers_beat_the_simple_policies_in_truth() {
    let mut rows = Vec::new();
    for seed in SEEDS {
        let values = one_seed(seed).await;
        eprintln!(
            "seed {seed}: served {:.4}, per cell {:.4}, best single {:.4}, oracle {:.4} \
             (EUR per user); {}",
            values.served, values.per_cell, values.best_single, values.oracle, values.policy
        );
        rows.push((seed, values));
    }
    for (seed, values) in &rows {
        assert!(values.served > 0.0, "seed {seed}: served {}", values.served);
        assert!(
            values.served >= values.per_cell,
            "seed {seed}: served {} < per cell {}",
            values.served,
            values.per_cell
        );
        assert!(
            values.served >= values.best_single,
            "seed {seed}: served {} < best single {}",
            values.served,
            values.best_single
        );
    }
}
