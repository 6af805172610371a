//! The sns, saas and wealth presets: a latent funnel per user.
//!
//! A user arrives uniformly in the window, is destined for a deepest stage (each stage
//! continues to the next with a fixed probability), reaches the stages one after another
//! with exponential gaps, and goes quiet after an exponential lifetime whose mean grows
//! with the destined stage. A stage counts as reached only if its whole qualifying
//! pattern (e.g. three interactive sessions for "returning", a third periodic investment
//! for "loyal investor") completes before the user goes quiet and before the window ends;
//! the truth records the stage actually reached, not the destiny.

use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use strata_core::UnixMillis;
use strata_core::event::kinds;

use super::{
    DAY_WEEKS, HOUR_WEEKS, Preset, Stream, Streams, Timeline, exponential, gamma, next_arrival,
    uniform,
};

/// The event type carrying a funnel preset's value (`None` for sns).
pub(super) fn value_kind(preset: Preset) -> Option<&'static str> {
    match preset {
        Preset::Saas => Some(kinds::CONTRACT),
        Preset::Wealth => Some(kinds::INVEST),
        Preset::Retail | Preset::Sns => None,
    }
}

/// Stage names of `preset`'s funnel, shallowest first (empty for retail, whose layers
/// are derived from purchases, not a funnel).
pub fn stage_names(preset: Preset) -> &'static [&'static str] {
    match preset {
        Preset::Retail => &[],
        Preset::Sns => &["visitor", "active", "interactive", "returning"],
        Preset::Saas => &["visitor", "evaluator", "trial", "paying"],
        Preset::Wealth => &[
            "visitor",
            "evaluator",
            "verified",
            "investor",
            "loyal_investor",
        ],
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelTruth {
    /// The stage the user was destined for, had time allowed.
    pub destined_stage: &'static str,
    /// The deepest stage whose qualifying behaviour is in the log.
    pub deepest_stage: &'static str,
    pub deepest_stage_index: usize,
    /// When each reached stage was reached (its qualifying pattern completed), in order.
    pub stage_reached_at: Vec<UnixMillis>,
    /// When activity stopped for good, if inside the window.
    pub quiet_at: Option<UnixMillis>,
    /// Sessions per week while active.
    pub session_rate: f64,
    #[serde(skip)]
    pub(super) first_seen_weeks: f64,
}

/// Per preset: P(continue to stage j+1 | destined past j), mean weeks from stage j-1 to
/// stage j, and mean active lifetime in weeks when destined for stage j.
struct Shape {
    continue_probability: &'static [f64],
    mean_gap: &'static [f64],
    mean_lifetime: &'static [f64],
    mean_session_rate: f64,
}

fn shape(preset: Preset) -> Shape {
    match preset {
        Preset::Sns => Shape {
            continue_probability: &[0.75, 0.5, 0.45],
            mean_gap: &[0.0, 0.3, 1.0, 2.0],
            mean_lifetime: &[2.0, 6.0, 16.0, 40.0],
            mean_session_rate: 3.0,
        },
        Preset::Saas => Shape {
            continue_probability: &[0.35, 0.3, 0.25],
            mean_gap: &[0.0, 1.0, 2.0, 3.0],
            mean_lifetime: &[2.0, 6.0, 10.0, 80.0],
            mean_session_rate: 1.0,
        },
        // Retail never gets here (its stages come from purchases); it shares wealth's arm
        // only to keep the match total.
        Preset::Retail | Preset::Wealth => Shape {
            continue_probability: &[0.6, 0.35, 0.5, 0.4],
            mean_gap: &[0.0, 0.5, 1.5, 2.0, 0.0],
            mean_lifetime: &[2.0, 5.0, 8.0, 20.0, 80.0],
            mean_session_rate: 1.5,
        },
    }
}

/// An event decided before it is known whether its pattern completes in time.
struct Planned {
    weeks: f64,
    kind: &'static str,
    amount: Option<f64>,
}

fn plan(weeks: f64, kind: &'static str) -> Planned {
    Planned {
        weeks,
        kind,
        amount: None,
    }
}

fn minutes(count: f64) -> f64 {
    count * HOUR_WEEKS / 60.0
}

pub(super) fn simulate(
    preset: Preset,
    streams: &Streams,
    timeline: &mut Timeline<'_>,
    control_share: f64,
) -> FunnelTruth {
    let names = stage_names(preset);
    let shape = shape(preset);
    let clock = timeline.clock;
    let (start, end) = (clock.operational_start, clock.operational_end);
    let mut rng = streams.rng(Stream::Funnel);

    let first_seen = uniform(&mut rng, start, end);
    let mut destined = 0;
    while destined + 1 < names.len() && rng.random_bool(shape.continue_probability[destined]) {
        destined += 1;
    }
    let quiet = first_seen + exponential(&mut rng, shape.mean_lifetime[destined]);
    let limit = quiet.min(end);
    let session_rate =
        gamma(&mut rng, 2.0, shape.mean_session_rate / 2.0) * (1.0 + 0.5 * destined as f64);
    // Amount of a first contract or investment; later ones grow from it.
    let first_amount = match preset {
        Preset::Saas => log_normal(&mut rng, 2_400.0, 0.8),
        _ => log_normal(&mut rng, 1_000.0, 0.7),
    };
    let growth = uniform(&mut rng, 0.02, 0.1);

    // Stage starts, then the qualifying patterns; a stage is reached when its pattern
    // completes before `limit`, and only if the previous one was.
    let mut stage_starts = vec![first_seen];
    for stage in 1..=destined {
        let previous = stage_starts[stage - 1];
        stage_starts.push(previous + exponential(&mut rng, shape.mean_gap[stage]));
    }
    let mut reached_weeks: Vec<f64> = Vec::new();
    let mut recurring = Vec::new();
    // Value events (contracts, investments) as (weeks, amount), for offers.
    let mut values: Vec<(f64, f64)> = Vec::new();
    for (stage, &stage_start) in stage_starts.iter().enumerate() {
        let pattern =
            qualifying_pattern(preset, stage, stage_start, first_amount, growth, &mut rng);
        let completed = pattern.last().map_or(stage_start, |planned| planned.weeks);
        if completed >= limit {
            break;
        }
        for planned in &pattern {
            emit(timeline, planned);
            if let Some(amount) = planned.amount {
                values.push((planned.weeks, amount));
            }
        }
        reached_weeks.push(completed);
        recurring = pattern;
    }
    let deepest = reached_weeks.len().saturating_sub(1);
    values.extend(continue_recurring(
        preset,
        deepest,
        names.len(),
        &recurring,
        growth,
        limit,
        &mut rng,
        timeline,
    ));
    sessions(
        preset,
        &reached_weeks,
        first_seen,
        limit,
        session_rate,
        &mut rng,
        timeline,
    );
    // Offers draw from a stream of their own: the funnel above is the same
    // with or without them.
    super::funnel_offers::simulate(
        preset,
        &mut streams.rng(Stream::FunnelOffers),
        timeline,
        &super::funnel_offers::Customer {
            values,
            growing: preset == Preset::Wealth && deepest + 1 == names.len(),
            until: limit,
        },
        control_share,
    );

    let calendar = |weeks: f64| clock.contains(weeks).then(|| clock.to_calendar(weeks));
    FunnelTruth {
        destined_stage: names[destined],
        deepest_stage: names[deepest],
        deepest_stage_index: deepest,
        stage_reached_at: reached_weeks
            .iter()
            .filter_map(|&weeks| calendar(weeks))
            .collect(),
        quiet_at: calendar(quiet),
        session_rate,
        first_seen_weeks: first_seen,
    }
}

/// The events that qualify `stage`, starting at `at`; the last one completes it.
fn qualifying_pattern(
    preset: Preset,
    stage: usize,
    at: f64,
    first_amount: f64,
    growth: f64,
    rng: &mut StdRng,
) -> Vec<Planned> {
    let base = base_kind(preset);
    let pick = rng.random::<f64>();
    match (preset, stage) {
        (_, 0) => vec![plan(at, base)],
        (Preset::Sns, 1) => vec![plan(at, base), plan(at + minutes(1.0), kinds::BROWSE)],
        (Preset::Sns, 2) => {
            let interaction = if pick < 0.3 {
                kinds::COMMENT
            } else {
                kinds::LIKE
            };
            vec![
                plan(at, base),
                plan(at + minutes(1.0), kinds::BROWSE),
                plan(at + minutes(3.0), interaction),
            ]
        }
        // Several opens with interactions within days: three sessions.
        (Preset::Sns, _) => {
            let mut pattern = Vec::new();
            let mut session = at;
            for repeat in 0..3 {
                if repeat > 0 {
                    session += exponential(rng, DAY_WEEKS);
                }
                pattern.push(plan(session, base));
                pattern.push(plan(session + minutes(2.0), kinds::LIKE));
                pattern.push(plan(session + minutes(4.0), kinds::COMMENT));
            }
            pattern
        }
        (Preset::Saas, 1) => {
            let look = if pick < 0.4 {
                kinds::DEMO_VIEW
            } else {
                kinds::DEEP_BROWSE
            };
            vec![plan(at, base), plan(at + minutes(2.0), look)]
        }
        (Preset::Saas, 2) => vec![plan(at, base), plan(at + minutes(5.0), kinds::SIGNUP)],
        (Preset::Saas, _) => vec![
            plan(at, base),
            Planned {
                weeks: at + minutes(20.0),
                kind: kinds::CONTRACT,
                amount: Some(first_amount),
            },
        ],
        (_, 1) => vec![plan(at, base), plan(at + minutes(1.0), kinds::VIEW_PRODUCT)],
        (_, 2) => vec![
            plan(at, base),
            plan(at + minutes(3.0), kinds::BIND_CARD),
            plan(at + minutes(6.0), kinds::VERIFY_IDENTITY),
        ],
        (_, 3) => vec![
            plan(at, base),
            plan(at + minutes(1.0), kinds::VIEW_PRODUCT),
            Planned {
                weeks: at + minutes(4.0),
                kind: kinds::INVEST,
                amount: Some(first_amount),
            },
        ],
        // Loyal: the second and third monthly investments, each larger.
        (_, _) => {
            let mut pattern = Vec::new();
            let mut invest = at;
            let mut amount = first_amount;
            for _ in 0..2 {
                invest += monthly_gap(rng);
                amount *= 1.0 + growth;
                pattern.push(plan(invest, base));
                pattern.push(Planned {
                    weeks: invest + minutes(2.0),
                    kind: kinds::INVEST,
                    amount: Some(amount),
                });
            }
            pattern
        }
    }
}

/// What repeats after the deepest stage: yearly contract renewals for paying SaaS
/// customers, monthly growing investments for loyal investors. Returns the value
/// events planned, as (weeks, amount).
#[allow(clippy::too_many_arguments)]
fn continue_recurring(
    preset: Preset,
    deepest: usize,
    stages: usize,
    last_pattern: &[Planned],
    growth: f64,
    limit: f64,
    rng: &mut StdRng,
    timeline: &mut Timeline<'_>,
) -> Vec<(f64, f64)> {
    let mut values = Vec::new();
    if deepest + 1 != stages || !matches!(preset, Preset::Saas | Preset::Wealth) {
        return values;
    }
    let Some(last) = last_pattern
        .iter()
        .rev()
        .find(|planned| planned.amount.is_some())
    else {
        return values;
    };
    let (mut at, mut amount) = (last.weeks, last.amount.unwrap_or_default());
    loop {
        let gap = if preset == Preset::Saas {
            52.0
        } else {
            monthly_gap(rng)
        };
        at += gap;
        amount *= 1.0 + growth;
        if at >= limit {
            return values;
        }
        let kind = if preset == Preset::Saas {
            kinds::CONTRACT
        } else {
            kinds::INVEST
        };
        emit(timeline, &plan(at - minutes(2.0), base_kind(preset)));
        emit(
            timeline,
            &Planned {
                weeks: at,
                kind,
                amount: Some(amount),
            },
        );
        values.push((at, amount));
    }
}

/// Background sessions from arrival until quiet; what a session holds depends on the
/// stage reached by then.
fn sessions(
    preset: Preset,
    reached: &[f64],
    from: f64,
    until: f64,
    rate: f64,
    rng: &mut StdRng,
    timeline: &mut Timeline<'_>,
) {
    let base = base_kind(preset);
    let mut at = next_arrival(rng, from, rate);
    while at < until {
        let stage = reached
            .iter()
            .filter(|&&reached_at| reached_at <= at)
            .count()
            .saturating_sub(1);
        let draws: [f64; 2] = [rng.random(), rng.random()];
        timeline.emit(at, base);
        let extras: [(&'static str, f64); 2] = match (preset, stage) {
            (_, 0) => [("", 0.0), ("", 0.0)],
            (Preset::Sns, 1) => [(kinds::BROWSE, 0.8), ("", 0.0)],
            (Preset::Sns, _) => [(kinds::BROWSE, 0.8), (kinds::LIKE, 0.45)],
            (Preset::Saas, 1) => [(kinds::DEEP_BROWSE, 0.4), (kinds::DEMO_VIEW, 0.1)],
            (Preset::Saas, _) => [(kinds::DEEP_BROWSE, 0.6), ("", 0.0)],
            (_, 1 | 2) => [(kinds::VIEW_PRODUCT, 0.6), ("", 0.0)],
            (_, _) => [(kinds::VIEW_PRODUCT, 0.8), ("", 0.0)],
        };
        for (offset, ((kind, probability), draw)) in extras.iter().zip(draws).enumerate() {
            if draw < *probability {
                timeline.emit(at + minutes(2.0 * (offset + 1) as f64), kind);
            }
        }
        at = next_arrival(rng, at, rate);
    }
}

pub(super) fn base_kind(preset: Preset) -> &'static str {
    match preset {
        Preset::Sns => kinds::OPEN,
        Preset::Saas => kinds::VISIT,
        Preset::Retail | Preset::Wealth => kinds::APP_START,
    }
}

fn emit(timeline: &mut Timeline<'_>, planned: &Planned) {
    match planned.amount {
        Some(amount) => timeline.emit_money(planned.weeks, planned.kind, amount),
        None => timeline.emit(planned.weeks, planned.kind),
    };
}

/// About four weeks, rarely less than three or more than five.
fn monthly_gap(rng: &mut StdRng) -> f64 {
    gamma(rng, 25.0, 4.0 / 25.0)
}

fn log_normal(rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
    let normal: f64 = StandardNormal.sample(rng);
    median * (sigma * normal).exp()
}
