//! `strata lift`: measure a campaign's lift (or compare campaigns) after its
//! window, from a snapshot's arms and the event logs' outcomes; or, with
//! `--programme`, everyone else against the global control group.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_audience::{Campaign, Comparison, KnownNames};
use strata_events::input::ErrorBudget;
use strata_job::ModelsConfig;
use strata_job::lift::{LiftReport, LiftRequest, ProgrammeRequest, measure, measure_programme};

use super::output::{out, outln};

#[derive(Debug, Args)]
pub struct LiftArgs {
    /// The campaign to measure; give it twice or more to compare audiences
    /// in one table (the first is the one the others are compared with).
    #[arg(
        long = "campaign",
        num_args = 1,
        required_unless_present = "programme",
        conflicts_with = "programme"
    )]
    campaign: Vec<String>,
    /// The campaign file the campaigns come from.
    #[arg(long, required_unless_present = "programme")]
    campaigns: Option<PathBuf>,
    /// Measure the whole programme instead: everyone else against the
    /// global control group the snapshot's profiles record, over the
    /// purchases from --start (to --end).
    #[arg(long, requires = "start")]
    programme: bool,
    /// With --programme: the first moment of the outcome window (RFC 3339
    /// or epoch), e.g. the as-of of the recompute that drew the group.
    #[arg(long, value_parser = super::parse::parse_time, requires = "programme")]
    start: Option<i64>,
    /// With --programme: the end of the outcome window, exclusive
    /// [default: every purchase from --start on].
    #[arg(long, value_parser = super::parse::parse_time, requires = "programme")]
    end: Option<i64>,
    /// A snapshot written by `strata recompute --campaigns` while the
    /// campaigns had not ended: the arms on its profiles are the assignment
    /// (with --programme: a snapshot written with the global control group
    /// on, before --start).
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
    if args.programme {
        return programme(args);
    }
    let mut models = ModelsConfig::load(args.config.as_deref())?;
    let path = args
        .campaigns
        .as_deref()
        .context("--campaigns is required with --campaign")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let campaigns = Campaign::parse_all(&text, &KnownNames::default())
        .with_context(|| format!("{}", path.display()))?;
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
    print_input(&input, &models)?;
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

/// `strata lift --programme`: the campaign table, with everyone else as
/// the treatment arm and the global control group as the control arm.
fn programme(args: LiftArgs) -> anyhow::Result<()> {
    let mut models = ModelsConfig::load(args.config.as_deref())?;
    let start = args.start.context("--programme needs --start")?;
    let request = ProgrammeRequest {
        snapshot: &args.snapshot,
        events: &args.events,
        start,
        end: args.end,
        margin_rate: args.margin_rate.unwrap_or(models.economics.margin_rate),
        confidence: args.confidence,
        catalogue: &models.benefits,
        currency: &models.currency,
        budget: ErrorBudget {
            max_bad_fraction: args.max_bad_fraction,
            ..ErrorBudget::DEFAULT
        },
    };
    let report = measure_programme(&request)?;
    models.settle_currency(report.currencies)?;
    let currency = models.currency_code().to_owned();
    let input = &report.input;
    print_input(input, &models)?;
    let window_end = args
        .end
        .map_or_else(|| "the last event".to_owned(), rfc3339);
    outln!(
        "\nprogramme (everyone else as treatment, the global control group as control, \
         {} to {window_end}): {} redemptions costing {:.2} {currency}",
        rfc3339(start),
        report.redemptions,
        report.benefit_cost
    )?;
    out!("{}", report.lift.in_currency(&currency))?;
    let purchases = &report.purchases_per_user;
    outln!(
        "purchases/user     {:.4} treatment, {:.4} control; lift {:+.4} [{:+.4}, {:+.4}] \
         ({}% CI, Welch, df {:.1}), p {}",
        report.purchases_per_user_treated,
        report.purchases_per_user_control,
        purchases.difference.estimate,
        purchases.difference.low,
        purchases.difference.high,
        report.lift.confidence * 100.0,
        purchases.degrees_of_freedom,
        if purchases.p_value < 1e-4 {
            "< 0.0001".to_owned()
        } else {
            format!("= {:.4}", purchases.p_value)
        }
    )?;
    Ok(())
}

/// The lines both lifts open with: what was read, and the currency the
/// amounts were settled in.
fn print_input(
    input: &strata_events::input::InputReport,
    models: &ModelsConfig,
) -> anyhow::Result<()> {
    outln!(
        "events      {} read ({} bad rows) from {} files",
        input.events,
        input.bad_rows,
        input.files
    )?;
    if let Some(settled) = &models.settled_currency {
        outln!("currency    {settled}")?;
    }
    Ok(())
}

fn rfc3339(at: i64) -> String {
    strata_events::input::timestamp::format_rfc3339(at).unwrap_or_else(|| at.to_string())
}
