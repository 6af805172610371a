//! The CLI side of audiences and campaigns: `strata audience`, `strata
//! lift`, the recompute's `--attributes`/`--campaigns`/`--audiences` and
//! `strata gen`'s `--attributes`/`--campaigns` (see docs/audiences.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata::api::v1;
use strata::campaigns::lift::{LiftRequest, measure};
use strata::campaigns::{Targeting, member_from_profile, parse_audience};
use strata::recompute::{ModelsConfig, Partition};
use strata_audience::{Arm, Campaign, Comparison, KnownNames, ModelPick, Vocabulary, assign};
use strata_core::LifecycleModel;
use strata_recompute::attributes::{AttributeWriter, AudienceRow, write_audience};
use strata_recompute::generate::campaigns::{
    ATTRIBUTE_COLUMNS, CampaignWindow, MULTI_VALUED, generate_with_campaigns,
};
use strata_recompute::generate::{self, GenConfig};
use strata_recompute::input::{ErrorBudget, EventWriter, Format};

/// The recompute's groups and campaigns.
#[derive(Debug, Args)]
pub struct TargetingArgs {
    /// User attributes joined onto profiles as tags: CSV, JSON Lines or
    /// Parquet, one row per user (`user_id` plus any columns; several
    /// values `;`-separated in CSV, an array in JSON, a list in Parquet).
    #[arg(long)]
    attributes: Option<PathBuf>,
    /// Campaigns (`[[campaign]]` TOML) whose audiences get holdout arms on
    /// their profiles; needs --audiences.
    #[arg(long, requires = "audiences")]
    campaigns: Option<PathBuf>,
    /// Audience definition files the campaigns name (by `[audience] name`).
    #[arg(long, num_args = 1.., requires = "campaigns")]
    audiences: Vec<PathBuf>,
}

impl TargetingArgs {
    /// `None` when neither attributes nor campaigns were given.
    pub fn load(
        &self,
        model: &LifecycleModel,
        models: &ModelsConfig,
        partition: Option<Partition>,
    ) -> anyhow::Result<Option<Arc<Targeting>>> {
        if self.attributes.is_none() && self.campaigns.is_none() {
            return Ok(None);
        }
        let mut targeting = Targeting::load(
            self.attributes.as_deref(),
            self.campaigns.as_deref(),
            &self.audiences,
            model,
            models,
        )?;
        if let Some(partition) = partition.filter(|partition| !partition.is_whole()) {
            // Other partitions' users are not unknown: they are elsewhere.
            if let Some(attributes) = targeting.attributes.as_mut() {
                attributes
                    .users
                    .retain(|user_id, _| partition.owns(user_id));
                attributes.rows = attributes.users.len() as u64;
            }
            for campaign in &targeting.campaigns {
                if let Some(audience) = targeting.audiences.get(&campaign.audience)
                    && matches!(audience.model, Some(ModelPick::Top(_)))
                {
                    anyhow::bail!(
                        "campaign `{}`: audience `{}` picks `top = N` users, which a partitioned \
                         run ({partition}) would pick once per partition; use `top_share` or run \
                         campaigns unpartitioned",
                        campaign.id,
                        audience.name
                    );
                }
            }
        }
        Ok(Some(Arc::new(targeting)))
    }
}

/// Prints what the run's groups and campaigns did, after the summary.
pub fn print_report(targeting: Option<&Arc<Targeting>>) {
    if let Some(targeting) = targeting {
        print!("{}", targeting.report());
    }
}

#[derive(Debug, Args)]
pub struct AudienceArgs {
    /// The audience definition (TOML; see docs/audiences.md).
    #[arg(long = "def")]
    definition: PathBuf,
    /// Profiles to select from: a snapshot (`strata recompute --snapshot`).
    #[arg(long)]
    snapshot: PathBuf,
    /// Write the selected users here (.csv or .parquet): user_id, layer,
    /// tier, quadrant, propensity.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A custom lifecycle model (TOML), when the snapshot's preset is not
    /// built in.
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn audience(args: AudienceArgs) -> anyhow::Result<()> {
    let mut profiles = Vec::new();
    let (header, _) = strata::snapshot::read_snapshot(&args.snapshot, |profile| {
        profiles.push(profile);
    })?;
    let model = match &args.model {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading model {}", path.display()))?;
            LifecycleModel::from_toml(&text).with_context(|| format!("model {}", path.display()))?
        }
        None => LifecycleModel::preset(&header.preset).with_context(|| {
            format!(
                "the snapshot's lifecycle model `{}` is not a preset: pass --model FILE",
                header.preset
            )
        })?,
    };
    let as_of = header
        .as_of
        .as_ref()
        .map_or(0, |at| at.seconds * 1000 + i64::from(at.nanos) / 1_000_000);
    let members: Vec<strata_audience::Member> = profiles
        .iter()
        .map(|profile| member_from_profile(profile, as_of))
        .collect();
    let mut vocabulary = Vocabulary::new(&model);
    for member in &members {
        vocabulary.observe(member);
    }
    let audience = parse_audience(&args.definition, &vocabulary)?;
    let selection = audience.select(&members);
    let mut written = None;
    if let Some(out) = &args.out {
        let by_id: HashMap<&str, &v1::Profile> = profiles
            .iter()
            .map(|profile| (profile.user_id.as_str(), profile))
            .collect();
        let rows: Vec<AudienceRow> = selection
            .user_ids
            .iter()
            .filter_map(|user_id| by_id.get(user_id.as_str()))
            .map(|profile| audience_row(profile))
            .collect();
        write_audience(out, &rows)?;
        written = Some((rows.len(), out));
    }
    print!("{selection}");
    if let Some((rows, out)) = written {
        println!("wrote {rows} users to {}", out.display());
    }
    Ok(())
}

fn audience_row(profile: &v1::Profile) -> AudienceRow {
    let member = member_from_profile(profile, 0);
    AudienceRow {
        user_id: profile.user_id.clone(),
        layer: member.layer.unwrap_or_default(),
        tier: member
            .tier
            .map(|tier| tier.name().to_owned())
            .unwrap_or_default(),
        quadrant: member
            .quadrant
            .map(|kind| kind.name().to_owned())
            .unwrap_or_default(),
        propensity: member.propensity,
    }
}

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

pub fn lift(args: LiftArgs) -> anyhow::Result<()> {
    let models = models_config(args.config.as_deref())?;
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
        budget: ErrorBudget {
            max_bad_fraction: args.max_bad_fraction,
        },
    };
    let (results, input) = measure(&request)?;
    println!(
        "events      {} read ({} bad rows) from {} files",
        input.events, input.bad_rows, input.files
    );
    let mut comparison = Comparison::new();
    for result in &results {
        let campaign = &result.campaign;
        println!(
            "\ncampaign {} (audience {}, benefit {}, {} to {}): {} capped users in neither arm, \
             {} redemptions costing {:.2}",
            campaign.id,
            campaign.audience,
            campaign.benefit_id,
            rfc3339(campaign.start),
            rfc3339(campaign.end),
            result.capped,
            result.redemptions,
            result.benefit_cost
        );
        print!("{}", result.lift);
        comparison.push(campaign.id.clone(), result.lift);
    }
    if results.len() > 1 {
        println!();
        print!("{comparison}");
    }
    Ok(())
}

fn rfc3339(at: i64) -> String {
    strata_recompute::input::timestamp::format_rfc3339(at).unwrap_or_else(|| at.to_string())
}

pub fn models_config(path: Option<&Path>) -> anyhow::Result<ModelsConfig> {
    let models: ModelsConfig = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("config {}", path.display()))?
        }
        None => ModelsConfig::default(),
    };
    models
        .validate()
        .map_err(|reason| anyhow::anyhow!("config: {reason}"))?;
    Ok(models)
}

/// `strata gen`'s demo data for audiences and campaigns.
#[derive(Debug, Args)]
pub struct GenTargetingArgs {
    /// Also write user attributes (region, gender, preferred_category,
    /// tags) here (.csv, .jsonl or .parquet), with hidden buyers.
    #[arg(long)]
    attributes: Option<PathBuf>,
    /// Generate responses to these campaigns (`[[campaign]]` TOML) with a
    /// known true effect per segment (retail only).
    #[arg(long)]
    campaigns: Option<PathBuf>,
}

impl GenTargetingArgs {
    pub fn requested(&self) -> bool {
        self.attributes.is_some() || self.campaigns.is_some()
    }
}

/// Writes events (and attributes) with campaign responses; returns the
/// number of events written.
pub fn gen_targeted(
    config: &GenConfig,
    out: &Path,
    truth: Option<&Path>,
    args: &GenTargetingArgs,
) -> anyhow::Result<u64> {
    let campaigns = match &args.campaigns {
        Some(path) => {
            anyhow::ensure!(
                config.preset == generate::Preset::Retail,
                "--campaigns responses are generated for the retail preset only"
            );
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Campaign::parse_all(&text, &KnownNames::default())
                .with_context(|| format!("{}", path.display()))?
        }
        None => Vec::new(),
    };
    let windows: Vec<CampaignWindow> = campaigns
        .iter()
        .map(|campaign| CampaignWindow {
            id: campaign.id.clone(),
            benefit_id: campaign.benefit_id.clone(),
            start: campaign.start,
            end: campaign.end,
        })
        .collect();
    let shares: HashMap<&str, f64> = campaigns
        .iter()
        .map(|campaign| (campaign.id.as_str(), campaign.holdout_share))
        .collect();
    let mut writer = EventWriter::create(out, Format::from_path(out)?)?;
    let mut attribute_writer = args
        .attributes
        .as_deref()
        .map(|path| AttributeWriter::create(path, &ATTRIBUTE_COLUMNS, &MULTI_VALUED))
        .transpose()?;
    let mut failure: Option<anyhow::Error> = None;
    let mut attribute_failure: Option<anyhow::Error> = None;
    let (_, summary) = generate_with_campaigns(
        config,
        &windows,
        |campaign, user| assign(&campaign.id, user, shares[campaign.id.as_str()]) == Arm::Treatment,
        |event| {
            if failure.is_none()
                && let Err(error) = writer.write(event)
            {
                failure = Some(error.into());
            }
        },
        |user| {
            if let Some(attributes) = attribute_writer.as_mut()
                && attribute_failure.is_none()
                && let Err(error) = attributes.write(&user.user_id, &user.values)
            {
                attribute_failure = Some(error.into());
            }
        },
    );
    if let Some(error) = failure.or(attribute_failure) {
        return Err(error);
    }
    let written = writer.finish()?;
    if let (Some(attributes), Some(path)) = (attribute_writer, &args.attributes) {
        attributes.finish()?;
        println!(
            "wrote attributes of {} users to {} ({} intend to buy, {} of them hidden buyers)",
            config.users,
            path.display(),
            summary.intent_users,
            summary.hidden_buyers
        );
    }
    for (id, treated, responses) in &summary.responses {
        println!(
            "campaign {id}: {treated} users drawn into treatment, {responses} campaign purchases"
        );
    }
    if let Some(path) = truth {
        super::write_truth(config, path)?;
    }
    Ok(written)
}
