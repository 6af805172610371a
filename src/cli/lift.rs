//! `strata lift`: measure a campaign's lift (or compare campaigns) after its
//! window, from a snapshot's arms and the event logs' outcomes.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_audience::{Campaign, Comparison, KnownNames};
use strata_events::input::ErrorBudget;
use strata_job::ModelsConfig;
use strata_job::lift::{LiftReport, LiftRequest, measure};

use super::output::{out, outln};

#[derive(Debug, Args)]
pub struct LiftArgs {
    /// The campaign to measure; give it twice or more to compare audiences
    /// in one table (the first is the one the others are compared with).
    #[arg(long = "campaign", required = true, num_args = 1)]
    campaign: Vec<String>,
    /// The campaign file the campaigns come from.
    #[arg(long)]
    campaigns: PathBuf,
    /// A snapshot written by `strata recompute --campaigns` while the
    /// campaigns had not ended: the arms on its profiles are the assignment.
    #[arg(long)]
    snapshot: PathBuf,
    /// Event logs (files or folders) covering the campaign windows.
    #[arg(long, required = true, num_args = 1..)]
    events: Vec<PathBuf>,
    /// Share of revenue that is margin [default: the --config's
    /// [economics] margin_rate, 0.3].
    #[arg(long)]
    margin_rate: Option<f64>,
    /// Confidence of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// The recompute's model settings, for the benefit catalogue's costs.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Fail when more than this share of event rows is bad.
    #[arg(long, default_value_t = 0.01)]
    max_bad_fraction: f64,
}

pub fn run(args: LiftArgs) -> anyhow::Result<()> {
    let mut models = ModelsConfig::load(args.config.as_deref())?;
    let text = std::fs::read_to_string(&args.campaigns)
        .with_context(|| format!("reading {}", args.campaigns.display()))?;
    let campaigns = Campaign::parse_all(&text, &KnownNames::default())
        .with_context(|| format!("{}", args.campaigns.display()))?;
    let request = LiftRequest {
        ids: &args.campaign,
        campaigns: &campaigns,
        snapshot: &args.snapshot,
        events: &args.events,
        margin_rate: args.margin_rate.unwrap_or(models.economics.margin_rate),
        confidence: args.confidence,
        catalogue: &models.benefits,
        currency: &models.currency,
        budget: ErrorBudget {
            max_bad_fraction: args.max_bad_fraction,
            ..ErrorBudget::DEFAULT
        },
    };
    let LiftReport {
        results,
        input,
        currencies,
    } = measure(&request)?;
    // As the recompute: one currency (converted at [currency] rates), or
    // the run stops naming each.
    models.settle_currency(currencies)?;
    let currency = models.currency_code().to_owned();
    outln!(
        "events      {} read ({} bad rows) from {} files",
        input.events,
        input.bad_rows,
        input.files
    )?;
    if let Some(settled) = &models.settled_currency {
        outln!("currency    {settled}")?;
    }
    let mut comparison = Comparison::new();
    for result in &results {
        let campaign = &result.campaign;
        outln!(
            "\ncampaign {} (audience {}, benefit {}, {} to {}): {} capped users in neither arm, \
             {} redemptions costing {:.2} {currency}",
            campaign.id,
            campaign.audience,
            campaign.benefit_id,
            rfc3339(campaign.start),
            rfc3339(campaign.end),
            result.capped,
            result.redemptions,
            result.benefit_cost
        )?;
        out!("{}", result.lift.in_currency(&currency))?;
        comparison.push(campaign.id.clone(), result.lift);
    }
    if results.len() > 1 {
        outln!()?;
        out!("{comparison}")?;
    }
    Ok(())
}

fn rfc3339(at: i64) -> String {
    strata_events::input::timestamp::format_rfc3339(at).unwrap_or_else(|| at.to_string())
}
