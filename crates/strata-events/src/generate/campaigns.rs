//! Demo data for audiences and campaigns: user attributes with "hidden
//! buyers", and campaign responses with a known true effect per segment.
//!
//! **Intent.** A retail user *intends to buy* when they are a buyer whose
//! latent purchase rate is at least [`INTENT_MIN_RATE`] per week and who has
//! not dropped out before the first campaign starts. Intent shows in
//! behaviour (recent, frequent purchases), which the propensity model sees.
//!
//! **Attributes** (columns of [`ATTRIBUTE_COLUMNS`]): half of the intent
//! users look like the obvious group (`gender = f`, `preferred_category =
//! jewellery`); the other half are **hidden buyers** (`gender = m`,
//! `preferred_category = sports`), whom a rule on attributes misses. Users
//! without intent are f or m at even odds with categories jewellery 40%,
//! sports 30%, books 15% and home 15%, so the obvious rule also admits many
//! users without intent. `region` is uniform over four values and `tags`
//! holds any of `newsletter`, `app_user`, `loyalty_club` (multi-valued).
//!
//! **Responses.** For each campaign, a user whose holdout draw puts them in
//! the treatment arm (the caller's `treated`, the same salted hash the
//! recompute uses) makes an extra purchase inside the campaign window, with
//! the benefit's id, with probability [`INTENT_RESPONSE`] if they intend to
//! buy and [`OTHER_RESPONSE`] otherwise; control users make none. The
//! response depends on the draw, not on audience membership, so the true
//! effect of any audience is the mean of its members' effects: an extra
//! purchase probability of 0.6 for intent users and 0.01 for others (the
//! conversion lift is a little lower, since some would have bought anyway).
//! Streams are seeded per (seed, user, campaign), so everything is
//! deterministic for a seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use strata_core::event::kinds;
use strata_core::{Event, UnixMillis};

use super::{
    CURRENCY, GenConfig, GenSummary, Journey, UserTruth, cents, clock_for, simulate, split_mix,
    tally, user_id,
};

/// Purchases per week from which a buyer intends to buy.
pub const INTENT_MIN_RATE: f64 = 0.05;
/// Chance that a treated intent user makes the campaign purchase.
pub const INTENT_RESPONSE: f64 = 0.6;
/// Chance that a treated user without intent makes it.
pub const OTHER_RESPONSE: f64 = 0.01;

/// The attribute file's columns, after `user_id`.
pub const ATTRIBUTE_COLUMNS: [&str; 4] = ["region", "gender", "preferred_category", "tags"];
/// The columns that hold several values.
pub const MULTI_VALUED: [&str; 1] = ["tags"];

const REGIONS: [&str; 4] = ["north", "east", "south", "west"];
const TAGS: [&str; 3] = ["newsletter", "app_user", "loyalty_club"];
/// Distinct from the per-user streams of `Streams` (1..=7).
const ATTRIBUTE_STREAM: u64 = 0x41;
const RESPONSE_STREAM: u64 = 0x42;

/// A campaign as the generator needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignWindow {
    pub id: String,
    pub benefit_id: String,
    /// Inclusive.
    pub start: UnixMillis,
    /// Exclusive.
    pub end: UnixMillis,
}

/// One user's attributes, in [`ATTRIBUTE_COLUMNS`] order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserAttributes {
    pub user_id: String,
    pub intent: bool,
    /// True for an intent user whose attributes miss the obvious rule.
    pub hidden_buyer: bool,
    pub values: Vec<Vec<String>>,
}

/// What the campaign simulation did, for the summary and tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CampaignSummary {
    pub intent_users: u64,
    pub hidden_buyers: u64,
    /// Per campaign, in the given order: (treated users, campaign purchases).
    pub responses: Vec<(String, u64, u64)>,
}

/// Whether a user intends to buy as of `from` (see the module docs).
pub fn intends(truth: &UserTruth, from: UnixMillis) -> bool {
    let Journey::Retail(retail) = &truth.journey else {
        return false;
    };
    retail.buyer
        && retail.purchase_rate >= INTENT_MIN_RATE
        && retail.dropped_out_at.is_none_or(|at| at >= from)
}

fn rng(config: &GenConfig, index: u64, stream: u64) -> StdRng {
    StdRng::seed_from_u64(split_mix(
        split_mix(split_mix(config.seed) ^ index) ^ stream,
    ))
}

fn attributes_of(config: &GenConfig, index: u64, intent: bool) -> UserAttributes {
    let mut rng = rng(config, index, ATTRIBUTE_STREAM);
    let hidden_buyer = intent && rng.random_bool(0.5);
    let (gender, category) = if intent {
        if hidden_buyer {
            ("m", "sports")
        } else {
            ("f", "jewellery")
        }
    } else {
        let gender = if rng.random_bool(0.5) { "f" } else { "m" };
        let draw: f64 = rng.random();
        let category = match draw {
            d if d < 0.4 => "jewellery",
            d if d < 0.7 => "sports",
            d if d < 0.85 => "books",
            _ => "home",
        };
        (gender, category)
    };
    let region = REGIONS[rng.random_range(0..REGIONS.len())];
    let tags: Vec<String> = TAGS
        .iter()
        .filter(|_| rng.random_bool(0.3))
        .map(|tag| (*tag).to_owned())
        .collect();
    UserAttributes {
        user_id: user_id(index),
        intent,
        hidden_buyer,
        values: vec![
            vec![region.to_owned()],
            vec![gender.to_owned()],
            vec![category.to_owned()],
            tags,
        ],
    }
}

/// Like [`super::generate`], plus each user's attributes to `attributes`
/// and the campaign responses among the events. `treated(campaign, user)`
/// says whether the user's holdout draw puts them in the treatment arm.
///
/// # Panics
/// As [`super::generate`].
pub fn generate_with_campaigns(
    config: &GenConfig,
    campaigns: &[CampaignWindow],
    treated: impl Fn(&CampaignWindow, &str) -> bool,
    mut sink: impl FnMut(&Event),
    mut attributes: impl FnMut(&UserAttributes),
) -> (GenSummary, CampaignSummary) {
    config.assert_valid();
    let clock = clock_for(config);
    let first_start = campaigns
        .iter()
        .map(|campaign| campaign.start)
        .min()
        .unwrap_or(config.end);
    let mut summary = GenSummary::default();
    let mut campaign_summary = CampaignSummary {
        responses: campaigns
            .iter()
            .map(|campaign| (campaign.id.clone(), 0, 0))
            .collect(),
        ..CampaignSummary::default()
    };
    let mut events = Vec::new();
    for index in 0..config.users {
        events.clear();
        let truth = simulate(config, &clock, index, &mut events);
        let intent = intends(&truth, first_start);
        let user = attributes_of(config, index, intent);
        campaign_summary.intent_users += u64::from(intent);
        campaign_summary.hidden_buyers += u64::from(user.hidden_buyer);
        let mean_spend = match &truth.journey {
            Journey::Retail(retail) if retail.mean_spend.is_finite() => retail.mean_spend,
            _ => 40.0,
        };
        for (position, campaign) in campaigns.iter().enumerate() {
            if !treated(campaign, &user.user_id) {
                continue;
            }
            campaign_summary.responses[position].1 += 1;
            let mut rng = rng(config, index, RESPONSE_STREAM ^ (position as u64) << 8);
            let chance = if intent {
                INTENT_RESPONSE
            } else {
                OTHER_RESPONSE
            };
            if !rng.random_bool(chance) {
                continue;
            }
            let at = rng.random_range(campaign.start..campaign.end);
            if at < config.start() || at >= config.end {
                continue;
            }
            campaign_summary.responses[position].2 += 1;
            let mut event = Event::new(user.user_id.clone(), at, kinds::PURCHASE);
            event.amount = Some(cents(mean_spend * (0.5 + rng.random::<f64>())));
            event.currency = Some(CURRENCY.to_owned());
            event.benefit_id = Some(campaign.benefit_id.clone());
            events.push(event);
        }
        events.sort_by_key(|event| event.at);
        tally(&mut summary, &truth, &events);
        events.iter().for_each(&mut sink);
        attributes(&user);
    }
    (summary, campaign_summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Preset, generate};

    const DAY: i64 = 86_400_000;

    fn window(config: &GenConfig) -> CampaignWindow {
        CampaignWindow {
            id: "test".into(),
            benefit_id: "test-benefit".into(),
            start: config.end - 30 * DAY,
            end: config.end,
        }
    }

    #[test]
    fn no_campaign_means_the_plain_events() {
        let config = GenConfig::new(300, 200, 7, Preset::Retail);
        let mut plain = Vec::new();
        generate(&config, |event| plain.push(event.clone()));
        let mut with = Vec::new();
        let mut users = 0;
        generate_with_campaigns(
            &config,
            &[],
            |_, _| true,
            |event| with.push(event.clone()),
            |_| users += 1,
        );
        assert_eq!(plain, with);
        assert_eq!(users, 300);
    }

    #[test]
    fn responses_only_in_the_treated_arm_and_window_and_repeatable() {
        let config = GenConfig::new(2_000, 200, 3, Preset::Retail);
        let campaign = window(&config);
        let run = || {
            let mut responses = Vec::new();
            let mut attributes = Vec::new();
            let (_, summary) = generate_with_campaigns(
                &config,
                std::slice::from_ref(&campaign),
                |_, user| user.ends_with('0') || user.ends_with('2'),
                |event| {
                    if event.benefit_id.as_deref() == Some("test-benefit")
                        && event.at >= campaign.start
                    {
                        responses.push(event.clone());
                    }
                },
                |user| attributes.push(user.clone()),
            );
            (responses, attributes, summary)
        };
        let (responses, attributes, summary) = run();
        assert_eq!(run().0, responses, "deterministic for a seed");
        assert!(!responses.is_empty());
        for event in &responses {
            assert!(event.user_id.ends_with('0') || event.user_id.ends_with('2'));
            assert!((campaign.start..campaign.end).contains(&event.at));
        }
        assert_eq!(summary.responses[0].1, 400);
        assert_eq!(summary.responses[0].2, responses.len() as u64);
        // Hidden buyers: intent users the obvious rule (f, jewellery) misses.
        let intent: Vec<&UserAttributes> = attributes.iter().filter(|user| user.intent).collect();
        assert!(intent.len() > 50, "{} intent users", intent.len());
        let hidden = intent.iter().filter(|user| user.hidden_buyer).count();
        assert!(hidden * 3 > intent.len() && hidden * 3 < 2 * intent.len());
        for user in intent {
            let obvious = user.values[1] == ["f"] && user.values[2] == ["jewellery"];
            assert_eq!(obvious, !user.hidden_buyer);
        }
    }
}
