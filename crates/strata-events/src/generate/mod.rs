//! Synthetic event logs with a known ground truth, for demos, benchmarks and model tests.
//!
//! Each user is simulated on its own from random streams seeded by (seed, user index,
//! stream), so a user's events never depend on how many users came before or how a
//! caller chunks the run, and `truth(i)` replays exactly what `generate` emitted for
//! user `i`. Memory is one user's events at a time.
//!
//! Retail offers are a randomised experiment with a known, per-user effect of every
//! benefit (see `retail` and `effects`); the truth of a retail user carries the exact
//! expected 14-day incremental profit of each benefit at the end of the window and the
//! best of them, the oracle any offer policy can be scored against.
//!
//! Determinism: the same configuration gives a byte-identical event sequence with the
//! same `rand`/`rand_distr` versions on the same platform; a version bump of either may
//! change the draws (their algorithms are not a stability promise).

pub mod campaigns;
mod catalogue;
mod clock;
mod effects;
mod funnel;
mod funnel_offers;
#[cfg(test)]
mod offer_tests;
mod reach;
mod retail;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rand_distr::{Beta, Distribution, Gamma};
use serde::{Deserialize, Serialize};
use strata_core::{Event, UnixMillis};

use clock::{Clock, DAY_MILLIS};

pub use catalogue::{
    Appeal, BENEFITS, Benefit, FunnelBenefit, OFFER_HORIZON_WEEKS, SAAS_BENEFITS, WEALTH_BENEFITS,
    funnel_benefits,
};
pub use effects::{
    Effect, MARGIN_RATE, OfferState, Response, Traits, expected_cost, price_sensitivity,
};
pub use funnel::{FunnelTruth, stage_names};
pub use reach::{CHANNELS, ChannelParameters, ChannelTruth, SendTimeTruth};
pub use retail::{
    BgNbdParameters, GammaGammaParameters, OfferTruth, RetailParameters, RetailTruth,
    SATISFIED_FROM, Segment, TRUE_PARAMETERS, ValueTier,
};

/// 2025-01-01T00:00:00Z: a fixed default so a run without `end` is reproducible.
pub const DEFAULT_END: UnixMillis = 1_735_689_600_000;
pub const DEFAULT_CONTROL_SHARE: f64 = 0.2;

/// 00:00 UTC of the day holding `at`. `strata demo` ends its events there and
/// recomputes as of it, so the demo's benefits (valid for some days from the
/// as-of) are valid when a user asks for offers today; the same day gives
/// the same events.
pub fn start_of_day(at: UnixMillis) -> UnixMillis {
    at - at.rem_euclid(DAY_MILLIS)
}
/// Every amount the generator writes is in this currency.
pub const CURRENCY: &str = "EUR";
/// Survey answer "what share of your spend in this category goes to us", amount in 0..=1.
/// Not in [`strata_core::event::kinds`]: readers keep it as an unknown type.
pub const WALLET_SHARE: &str = "wallet_share";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    #[default]
    Retail,
    Sns,
    Saas,
    Wealth,
}

impl Preset {
    pub const ALL: [Preset; 4] = [Preset::Retail, Preset::Sns, Preset::Saas, Preset::Wealth];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Retail => "retail",
            Preset::Sns => "sns",
            Preset::Saas => "saas",
            Preset::Wealth => "wealth",
        }
    }

    /// The preset called `name` (as in `--preset`), if there is one.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|preset| preset.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    pub users: u64,
    pub days: u32,
    pub seed: u64,
    pub preset: Preset,
    /// The last day ends here (exclusive); events span `[end - days, end)`.
    pub end: UnixMillis,
    /// Probability that one offer issue goes to the control group (`offer_control`).
    pub control_share: f64,
    /// Population of the retail preset; the other presets ignore it.
    pub retail: RetailParameters,
}

impl GenConfig {
    pub fn new(users: u64, days: u32, seed: u64, preset: Preset) -> GenConfig {
        GenConfig {
            users,
            days,
            seed,
            preset,
            end: DEFAULT_END,
            control_share: DEFAULT_CONTROL_SHARE,
            retail: TRUE_PARAMETERS,
        }
    }

    pub fn start(&self) -> UnixMillis {
        self.end - i64::from(self.days) * DAY_MILLIS
    }

    /// Parameters outside their domain are programming errors (the CLI cannot set them).
    fn assert_valid(&self) {
        assert!(
            (0.0..=1.0).contains(&self.control_share),
            "control_share must be in 0..=1, got {}",
            self.control_share
        );
        self.retail.assert_valid();
    }
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig::new(1_000, 365, 0, Preset::Retail)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GenSummary {
    pub users: u64,
    pub events: u64,
    pub events_per_kind: BTreeMap<String, u64>,
    /// Users with at least one `purchase` (retail), `contract` (saas) or `invest` (wealth).
    pub purchasers: u64,
    /// Retail offer issues by segment name, with their true uplift and value.
    pub offers: BTreeMap<String, OfferTally>,
    /// Retail offer issues by benefit id, with their true uplift and value.
    pub offers_by_benefit: BTreeMap<String, OfferTally>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OfferTally {
    pub treated: u64,
    pub control: u64,
    /// Sum over issues of the true uplift (treated minus control probability of a
    /// purchase within 14 days), so the mean is `true_uplift_sum / issues`.
    pub true_uplift_sum: f64,
    /// Sum over issues of the true expected 14-day incremental profit (EUR) of the
    /// issued benefit, so the mean is `true_value_sum / issues`.
    pub true_value_sum: f64,
}

impl OfferTally {
    fn add(&mut self, offer: &OfferTruth) {
        if offer.control {
            self.control += 1;
        } else {
            self.treated += 1;
        }
        self.true_uplift_sum += offer.uplift;
        self.true_value_sum += offer.value;
    }

    pub fn mean_true_value(&self) -> f64 {
        let issues = self.treated + self.control;
        if issues == 0 {
            return 0.0;
        }
        self.true_value_sum / issues as f64
    }

    pub fn mean_true_uplift(&self) -> f64 {
        let issues = self.treated + self.control;
        if issues == 0 {
            return 0.0;
        }
        self.true_uplift_sum / issues as f64
    }
}

/// What the generator knew about one user: latent parameters and realised landmarks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserTruth {
    pub user_id: String,
    pub index: u64,
    pub events: u64,
    pub first_event_at: Option<UnixMillis>,
    pub last_event_at: Option<UnixMillis>,
    /// One entry per channel of [`CHANNELS`], in that order.
    pub channels: Vec<ChannelTruth>,
    /// When the user answers: the response lift by hour of the week.
    pub send_time: SendTimeTruth,
    pub journey: Journey,
    /// Retail only (empty otherwise): per benefit id of [`BENEFITS`], the true expected
    /// 14-day incremental profit (EUR) of issuing it at the end of the window, against
    /// issuing nothing (see `effects`).
    pub offer_value: BTreeMap<&'static str, f64>,
    /// Retail only (empty otherwise): per benefit id, the true uplift of issuing it at the
    /// end of the window (treated minus control probability of any order in 14 days).
    pub offer_uplift: BTreeMap<&'static str, f64>,
    /// The benefit with the largest positive `offer_value` (the first in catalogue order
    /// on a tie), or `None` when no benefit earns more than sending nothing.
    pub best_offer: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "preset", rename_all = "lowercase")]
pub enum Journey {
    Retail(RetailTruth),
    /// sns, saas and wealth: a latent funnel.
    Funnel(FunnelTruth),
}

/// Fixed width so ids sort like indices (up to 100 million users).
pub fn user_id(index: u64) -> String {
    format!("u{index:08}")
}

/// Streams events to `sink`: users in index order, each user's events together and in
/// time order, all inside `[config.start(), config.end)`.
///
/// # Panics
/// If `config.control_share` or `config.retail` is outside its domain.
/// `config`'s population as if its window ended at `end`: the events of the
/// window ending at `config.end`, each moved by `end - config.end`. Setting
/// `config.end` instead draws another population; moving keeps every day's
/// demo the same users with the same fitted models, only dated differently
/// (a move by whole days keeps each event's time of day; the weekday of the
/// weekly seasonality moves with it).
pub fn generate_moved(
    config: &GenConfig,
    end: UnixMillis,
    mut sink: impl FnMut(&Event),
) -> GenSummary {
    let shift = end - config.end;
    if shift == 0 {
        return generate(config, sink);
    }
    generate(config, |event| {
        let mut moved = event.clone();
        moved.at += shift;
        sink(&moved);
    })
}

pub fn generate(config: &GenConfig, mut sink: impl FnMut(&Event)) -> GenSummary {
    config.assert_valid();
    let clock = clock_for(config);
    let mut summary = GenSummary::default();
    let mut events = Vec::new();
    for index in 0..config.users {
        events.clear();
        let truth = simulate(config, &clock, index, &mut events);
        tally(&mut summary, &truth, &events);
        events.iter().for_each(&mut sink);
    }
    summary
}

/// The ground truth of user `index`, by the same random path `generate` takes.
///
/// # Panics
/// As [`generate`].
pub fn truth(config: &GenConfig, index: u64) -> UserTruth {
    config.assert_valid();
    simulate(config, &clock_for(config), index, &mut Vec::new())
}

fn clock_for(config: &GenConfig) -> Clock {
    let profile = match config.preset {
        Preset::Saas => &clock::OFFICE_WEEK,
        Preset::Retail | Preset::Sns | Preset::Wealth => &clock::CONSUMER_WEEK,
    };
    Clock::new(profile, config.start(), config.end)
}

fn simulate(config: &GenConfig, clock: &Clock, index: u64, events: &mut Vec<Event>) -> UserTruth {
    let user_id = user_id(index);
    let streams = Streams {
        seed: config.seed,
        index,
    };
    let mut timeline = Timeline {
        clock,
        user_id: &user_id,
        events,
    };
    let (journey, first_seen) = match config.preset {
        Preset::Retail => {
            let truth = retail::simulate(config, &streams, &mut timeline);
            let first_seen = truth.first_seen_weeks;
            (Journey::Retail(truth), first_seen)
        }
        preset => {
            let truth = funnel::simulate(preset, &streams, &mut timeline, config.control_share);
            let first_seen = truth.first_seen_weeks;
            (Journey::Funnel(truth), first_seen)
        }
    };
    let (channels, send_time) = reach::simulate(&streams, &mut timeline, first_seen);
    // Stable: events at the same millisecond keep their causal push order.
    events.sort_by_key(|event| event.at);
    let mut offer_value = BTreeMap::new();
    let mut offer_uplift = BTreeMap::new();
    let mut best_offer = None;
    if let Journey::Retail(retail) = &journey {
        let effects = effects::effects(&retail.traits(&config.retail), retail.offer_state);
        let mut best = 0.0;
        for (benefit, effect) in BENEFITS.iter().zip(effects) {
            offer_value.insert(benefit.id, effect.value);
            offer_uplift.insert(benefit.id, effect.uplift);
            if effect.value > best {
                best = effect.value;
                best_offer = Some(benefit.id);
            }
        }
    }
    UserTruth {
        user_id,
        index,
        events: events.len() as u64,
        first_event_at: events.first().map(|event| event.at),
        last_event_at: events.last().map(|event| event.at),
        channels,
        send_time,
        journey,
        offer_value,
        offer_uplift,
        best_offer,
    }
}

fn tally(summary: &mut GenSummary, truth: &UserTruth, events: &[Event]) {
    summary.users += 1;
    summary.events += events.len() as u64;
    let mut purchased = false;
    for event in events {
        purchased |= matches!(
            event.kind.as_str(),
            strata_core::event::kinds::PURCHASE
                | strata_core::event::kinds::CONTRACT
                | strata_core::event::kinds::INVEST
        );
        match summary.events_per_kind.get_mut(event.kind.as_str()) {
            Some(count) => *count += 1,
            None => {
                summary.events_per_kind.insert(event.kind.clone(), 1);
            }
        }
    }
    summary.purchasers += u64::from(purchased);
    if let Journey::Retail(retail) = &truth.journey {
        for offer in &retail.offers {
            let by_segment = summary.offers.entry(offer.segment.name()).or_default();
            by_segment.add(offer);
            match summary.offers_by_benefit.get_mut(offer.benefit_id) {
                Some(by_benefit) => by_benefit.add(offer),
                None => {
                    let mut by_benefit = OfferTally::default();
                    by_benefit.add(offer);
                    summary
                        .offers_by_benefit
                        .insert(offer.benefit_id.to_owned(), by_benefit);
                }
            }
        }
    }
}

/// Independent random streams per user and per concern, so that e.g. changing the
/// offer rate does not move anyone's purchases.
struct Streams {
    seed: u64,
    index: u64,
}

#[derive(Clone, Copy)]
enum Stream {
    Latent = 1,
    Purchases,
    Offers,
    Browsing,
    Feedback,
    Reach,
    Funnel,
    FunnelOffers,
    /// The preferred response hours: its own stream, so adding it moved no
    /// other draw.
    Timing,
}

impl Streams {
    pub fn rng(&self, stream: Stream) -> StdRng {
        let mut state = split_mix(split_mix(split_mix(self.seed) ^ self.index) ^ stream as u64);
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_exact_mut(8) {
            state = split_mix(state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        StdRng::from_seed(seed)
    }
}

/// SplitMix64's finaliser: a bijective, well-mixing hash of a 64-bit word.
fn split_mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One user's event buffer; drops anything outside the window, so no simulation has to.
struct Timeline<'a> {
    pub clock: &'a Clock,
    user_id: &'a str,
    events: &'a mut Vec<Event>,
}

impl Timeline<'_> {
    /// Appends an event at operational instant `weeks`, or returns `None` if it falls
    /// outside the window.
    pub fn emit(&mut self, weeks: f64, kind: &str) -> Option<&mut Event> {
        if !self.clock.contains(weeks) {
            return None;
        }
        let at = self.clock.to_calendar(weeks);
        if at < self.clock.start || at >= self.clock.end {
            return None;
        }
        self.events.push(Event::new(self.user_id, at, kind));
        self.events.last_mut()
    }

    pub fn emit_money(&mut self, weeks: f64, kind: &str, amount: f64) -> Option<&mut Event> {
        let event = self.emit(weeks, kind)?;
        event.amount = Some(cents(amount));
        event.currency = Some(CURRENCY.to_owned());
        Some(event)
    }
}

/// Amounts are written in whole cents, as a till would.
fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

const HOUR_WEEKS: f64 = 1.0 / 168.0;
const DAY_WEEKS: f64 = 1.0 / 7.0;

/// The next arrival after `after` of a Poisson process with `rate` per week.
fn next_arrival<R: Rng + ?Sized>(rng: &mut R, after: f64, rate: f64) -> f64 {
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    after + standard_exponential(rng) / rate
}

/// A delay with mean `mean` (any unit).
fn exponential<R: Rng + ?Sized>(rng: &mut R, mean: f64) -> f64 {
    standard_exponential(rng) * mean
}

fn standard_exponential<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - [0, 1) is (0, 1], so the logarithm is finite.
    -(1.0 - rng.random::<f64>()).ln()
}

/// Gamma with `shape` and `scale`, both validated positive by the caller.
fn gamma<R: Rng + ?Sized>(rng: &mut R, shape: f64, scale: f64) -> f64 {
    Gamma::new(shape, scale)
        .expect("gamma parameters are positive and finite")
        .sample(rng)
}

/// Beta with both shapes validated positive by the caller.
fn beta<R: Rng + ?Sized>(rng: &mut R, alpha: f64, beta: f64) -> f64 {
    Beta::new(alpha, beta)
        .expect("beta parameters are positive and finite")
        .sample(rng)
}

/// Uniform in `[from, to)`.
fn uniform<R: Rng + ?Sized>(rng: &mut R, from: f64, to: f64) -> f64 {
    from + (to - from) * rng.random::<f64>()
}

/// SplitMix64 as a random source: one offer issue's own stream, seeded by one draw of
/// the offer stream. It costs a few nanoseconds to seed (a ChaCha `StdRng` costs a block),
/// and it keeps the issue schedule and arm assignments independent of how many draws
/// an issue's response takes.
struct SplitMix(u64);

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        // split_mix adds the increment itself, so this is the SplitMix64 generator.
        let output = split_mix(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        output
    }

    fn fill_bytes(&mut self, destination: &mut [u8]) {
        for chunk in destination.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
