//! `strata lift`: a campaign's measured lift from the arms recorded on the
//! profiles of a snapshot and the purchases in the event logs.
//!
//! Per assigned user (treatment or control; capped users are in neither):
//! converted = at least one `purchase` in [start, end); revenue = the sum of
//! those purchases' amounts (zero for a non-buyer), in the run's one
//! currency as the recompute finds it: amounts are converted at `[currency]
//! rates` as they are read, and the caller settles the returned
//! `CurrencyTally` (several currencies without rates are refused, with the
//! recompute's message). The benefit cost is, over the treatment arm's
//! purchases in the window that carry the campaign's benefit id (the
//! redemptions), the catalogue's `cost_fixed + cost_percent% x amount`,
//! capped at the amount. `strata_audience::measure_lift` does the rest.
//!
//! Programme lift ([`measure_programme`], `strata lift --programme`): the
//! same statistics with everyone else as the treatment arm and the global
//! control group (`Profile.global_control` on the snapshot's profiles) as
//! the control arm, over the purchases in [start, end); the cost is that of
//! every catalogue benefit redeemed by everyone else in the window.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use strata_audience::{ArmOutcomes, Campaign, Lift, LiftOptions, measure_lift};
use strata_core::event::kinds;
use strata_core::{CurrencyConfig, CurrencyTally, Event};
use strata_events::input::{ErrorBudget, EventSource, InputReport};

use crate::config::BenefitSpec;
use strata_proto::v1;
use strata_snapshot::{SnapshotError, read_snapshot};

#[derive(Debug, thiserror::Error)]
pub enum LiftError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Input(#[from] strata_events::Error),
    #[error("campaign `{id}` is not in the campaign file; it has: {known}")]
    UnknownCampaign { id: String, known: String },
    #[error(
        "no profile in {} has an arm of campaign `{id}`: write the snapshot with \
         `strata recompute --campaigns` while the campaign had not ended",
        snapshot.display()
    )]
    NotAssigned { id: String, snapshot: PathBuf },
    #[error(
        "no profile in {} is in the global control group: set [global_control] share in the \
         recompute's --config, and write the snapshot with `strata recompute --snapshot` \
         before the programme's start",
        snapshot.display()
    )]
    NoGlobalControl { snapshot: PathBuf },
    #[error("programme lift: {0}")]
    Programme(#[source] strata_audience::Error),
    #[error("campaign `{id}`: {source}")]
    Statistics {
        id: String,
        #[source]
        source: strata_audience::Error,
    },
}

/// What `strata lift` needs.
#[derive(Debug, Clone)]
pub struct LiftRequest<'a> {
    /// The campaigns to measure, by id, in the order to report them.
    pub ids: &'a [String],
    pub campaigns: &'a [Campaign],
    pub snapshot: &'a Path,
    pub events: &'a [PathBuf],
    pub margin_rate: f64,
    pub confidence: f64,
    pub catalogue: &'a [BenefitSpec],
    /// `[currency]` of the recompute's config: the base and the rates.
    pub currency: &'a CurrencyConfig,
    pub budget: ErrorBudget,
}

/// What [`measure`] found.
#[derive(Debug)]
pub struct LiftReport {
    pub results: Vec<CampaignLift>,
    /// What the event read saw.
    pub input: InputReport,
    /// The amounts' currencies, converted as read: settle before trusting
    /// any money figure (`ModelsConfig::settle_currency`).
    pub currencies: CurrencyTally,
}

/// One campaign's result.
#[derive(Debug, Clone)]
pub struct CampaignLift {
    pub campaign: Campaign,
    pub lift: Lift,
    /// Users in the audience but over the cap: in neither arm.
    pub capped: u64,
    pub redemptions: u64,
    pub benefit_cost: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    treated: bool,
    converted: bool,
    revenue: f64,
}

/// Measures each campaign of `request.ids`.
pub fn measure(request: &LiftRequest<'_>) -> Result<LiftReport, LiftError> {
    let mut chosen: Vec<&Campaign> = Vec::with_capacity(request.ids.len());
    for id in request.ids {
        let campaign = request
            .campaigns
            .iter()
            .find(|campaign| &campaign.id == id)
            .ok_or_else(|| LiftError::UnknownCampaign {
                id: id.clone(),
                known: request
                    .campaigns
                    .iter()
                    .map(|campaign| campaign.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        chosen.push(campaign);
    }
    // Per chosen campaign: the assigned users' outcomes.
    let mut outcomes: Vec<HashMap<String, Outcome>> = vec![HashMap::new(); chosen.len()];
    let mut capped = vec![0u64; chosen.len()];
    read_snapshot(request.snapshot, |profile| {
        for arm in &profile.campaigns {
            let Some(index) = chosen
                .iter()
                .position(|campaign| campaign.id == arm.campaign_id)
            else {
                continue;
            };
            let treated = match v1::Arm::try_from(arm.arm) {
                Ok(v1::Arm::Treatment) => true,
                Ok(v1::Arm::Control) => false,
                _ => {
                    capped[index] += 1;
                    continue;
                }
            };
            outcomes[index].insert(
                profile.user_id.clone(),
                Outcome {
                    treated,
                    ..Outcome::default()
                },
            );
        }
    })?;
    for (campaign, assigned) in chosen.iter().zip(&outcomes) {
        if assigned.is_empty() {
            return Err(LiftError::NotAssigned {
                id: campaign.id.clone(),
                snapshot: request.snapshot.to_owned(),
            });
        }
    }

    let costs: Vec<Option<&BenefitSpec>> = chosen
        .iter()
        .map(|campaign| {
            request
                .catalogue
                .iter()
                .find(|spec| spec.benefit_id == campaign.benefit_id)
        })
        .collect();
    let mut redemptions = vec![0u64; chosen.len()];
    let mut benefit_cost = vec![0f64; chosen.len()];
    let source = EventSource::open(request.events)?;
    let mut currencies = CurrencyTally::new(request.currency);
    let report = source.read(request.budget, |mut event: Event| {
        currencies.observe(&mut event);
        if event.kind != kinds::PURCHASE {
            return;
        }
        let amount = event
            .amount
            .filter(|amount| amount.is_finite())
            .unwrap_or(0.0);
        for (index, campaign) in chosen.iter().enumerate() {
            if !(campaign.start..campaign.end).contains(&event.at) {
                continue;
            }
            let Some(outcome) = outcomes[index].get_mut(&event.user_id) else {
                continue;
            };
            outcome.converted = true;
            outcome.revenue += amount;
            if outcome.treated && event.benefit_id.as_deref() == Some(campaign.benefit_id.as_str())
            {
                redemptions[index] += 1;
                if let Some(spec) = costs[index] {
                    benefit_cost[index] +=
                        (spec.cost_fixed + spec.cost_percent / 100.0 * amount).min(amount.max(0.0));
                }
            }
        }
    })?;

    let mut results = Vec::with_capacity(chosen.len());
    for (index, campaign) in chosen.iter().enumerate() {
        let (mut treatment, mut control) = (ArmOutcomes::default(), ArmOutcomes::default());
        // Sorted, so the sums are the same bits on every run.
        let mut users: Vec<(&String, &Outcome)> = outcomes[index].iter().collect();
        users.sort_unstable_by(|left, right| left.0.cmp(right.0));
        for (_, outcome) in users {
            let arm = if outcome.treated {
                &mut treatment
            } else {
                &mut control
            };
            arm.record(outcome.converted, outcome.revenue);
        }
        let options = LiftOptions {
            confidence: request.confidence,
            ..LiftOptions::new(request.margin_rate, benefit_cost[index])
        };
        let lift = measure_lift(&treatment, &control, &options).map_err(|source| {
            LiftError::Statistics {
                id: campaign.id.clone(),
                source,
            }
        })?;
        results.push(CampaignLift {
            campaign: (*campaign).clone(),
            lift,
            capped: capped[index],
            redemptions: redemptions[index],
            benefit_cost: benefit_cost[index],
        });
    }
    Ok(LiftReport {
        results,
        input: report,
        currencies,
    })
}

/// What `strata lift --programme` needs.
#[derive(Debug, Clone)]
pub struct ProgrammeRequest<'a> {
    pub snapshot: &'a Path,
    pub events: &'a [PathBuf],
    /// Inclusive: outcomes are the purchases from here.
    pub start: i64,
    /// Exclusive; `None`: every purchase from `start` on.
    pub end: Option<i64>,
    pub margin_rate: f64,
    pub confidence: f64,
    pub catalogue: &'a [BenefitSpec],
    pub currency: &'a CurrencyConfig,
    pub budget: ErrorBudget,
}

/// What [`measure_programme`] found.
#[derive(Debug)]
pub struct ProgrammeReport {
    /// Everyone else ("treatment") against the global control group
    /// ("control").
    pub lift: Lift,
    /// Purchases per user, everyone else minus the group (Welch).
    pub purchases_per_user: strata_audience::WelchTest,
    pub purchases_per_user_treated: f64,
    pub purchases_per_user_control: f64,
    pub redemptions: u64,
    pub benefit_cost: f64,
    pub input: InputReport,
    pub currencies: CurrencyTally,
}

#[derive(Debug, Clone, Copy, Default)]
struct ProgrammeOutcome {
    held_out: bool,
    purchases: u64,
    revenue: f64,
}

/// Measures the whole programme: everyone else against the global control
/// group recorded on the snapshot's profiles.
pub fn measure_programme(request: &ProgrammeRequest<'_>) -> Result<ProgrammeReport, LiftError> {
    let mut outcomes: HashMap<String, ProgrammeOutcome> = HashMap::new();
    let mut members = 0u64;
    read_snapshot(request.snapshot, |profile| {
        members += u64::from(profile.global_control);
        outcomes.insert(
            profile.user_id.clone(),
            ProgrammeOutcome {
                held_out: profile.global_control,
                ..ProgrammeOutcome::default()
            },
        );
    })?;
    if members == 0 {
        return Err(LiftError::NoGlobalControl {
            snapshot: request.snapshot.to_owned(),
        });
    }
    let window = request.start..request.end.unwrap_or(i64::MAX);
    let (mut redemptions, mut benefit_cost) = (0u64, 0f64);
    let source = EventSource::open(request.events)?;
    let mut currencies = CurrencyTally::new(request.currency);
    let report = source.read(request.budget, |mut event: Event| {
        currencies.observe(&mut event);
        if event.kind != kinds::PURCHASE || !window.contains(&event.at) {
            return;
        }
        let Some(outcome) = outcomes.get_mut(&event.user_id) else {
            return;
        };
        let amount = event
            .amount
            .filter(|amount| amount.is_finite())
            .unwrap_or(0.0);
        outcome.purchases += 1;
        outcome.revenue += amount;
        if outcome.held_out {
            return;
        }
        let spec = event.benefit_id.as_deref().and_then(|benefit_id| {
            request
                .catalogue
                .iter()
                .find(|spec| spec.benefit_id == benefit_id)
        });
        if let Some(spec) = spec {
            redemptions += 1;
            benefit_cost +=
                (spec.cost_fixed + spec.cost_percent / 100.0 * amount).min(amount.max(0.0));
        }
    })?;

    let (mut treatment, mut control) = (ArmOutcomes::default(), ArmOutcomes::default());
    let (mut treatment_purchases, mut control_purchases) =
        (ArmOutcomes::default(), ArmOutcomes::default());
    // Sorted, so the sums are the same bits on every run.
    let mut users: Vec<(&String, &ProgrammeOutcome)> = outcomes.iter().collect();
    users.sort_unstable_by(|left, right| left.0.cmp(right.0));
    for (_, outcome) in users {
        let (arm, purchases) = if outcome.held_out {
            (&mut control, &mut control_purchases)
        } else {
            (&mut treatment, &mut treatment_purchases)
        };
        arm.record(outcome.purchases > 0, outcome.revenue);
        purchases.record(outcome.purchases > 0, outcome.purchases as f64);
    }
    let options = LiftOptions {
        confidence: request.confidence,
        ..LiftOptions::new(request.margin_rate, benefit_cost)
    };
    let lift = measure_lift(&treatment, &control, &options).map_err(LiftError::Programme)?;
    Ok(ProgrammeReport {
        lift,
        purchases_per_user: strata_audience::welch_test(
            &treatment_purchases,
            &control_purchases,
            request.confidence,
        ),
        purchases_per_user_treated: treatment_purchases.revenue_per_user(),
        purchases_per_user_control: control_purchases.revenue_per_user(),
        redemptions,
        benefit_cost,
        input: report,
        currencies,
    })
}
