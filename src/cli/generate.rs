//! `strata gen`: synthetic events with a known ground truth, optionally with
//! user attributes and responses to campaigns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use strata_audience::{Arm, Campaign, GlobalControl, KnownNames, assign};
use strata_events::attributes::AttributeWriter;
use strata_events::generate::campaigns::{
    ATTRIBUTE_COLUMNS, CampaignWindow, MULTI_VALUED, generate_with_campaigns,
};
use strata_events::generate::{self, GenConfig, Preset};
use strata_events::input::{EventWriter, Format};

use super::output::outln;
use super::parse::parse_time;

/// The generated population, shared by `gen` and `demo`.
#[derive(Debug, Args)]
pub struct PopulationArgs {
    /// Users to generate.
    #[arg(long, default_value_t = 10_000)]
    pub users: u64,
    /// Days of history.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Seed of the generated events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Lifecycle preset: retail, sns, saas or wealth.
    #[arg(long, default_value = "retail")]
    pub preset: String,
}

impl PopulationArgs {
    pub fn gen_config(&self) -> anyhow::Result<GenConfig> {
        Ok(GenConfig::new(
            self.users,
            self.days,
            self.seed,
            preset(&self.preset)?,
        ))
    }
}

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub population: PopulationArgs,
    /// End of the generated window (RFC 3339, epoch, or `today` for 00:00 UTC
    /// today) [default: 2025-01-01T00:00:00Z].
    #[arg(long, value_parser = parse_time)]
    pub end: Option<i64>,
    /// Share of offer issues that go to the random control group.
    #[arg(long, default_value_t = generate::DEFAULT_CONTROL_SHARE)]
    pub control_share: f64,
    /// Output file; the format follows the extension (.csv, .jsonl, .parquet).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write each user's latent ground truth as JSON Lines here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    #[command(flatten)]
    pub targeting: GenTargetingArgs,
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
    /// Simulate a programme from this time to the end (retail only): every
    /// user outside the global control group (--global-control-share,
    /// --global-control-salt: the recompute's [global_control]) responds as
    /// to a campaign of --programme-benefit, members never do, so `strata
    /// lift --programme` has a known true effect.
    #[arg(long, value_parser = parse_time, requires = "global_control_share")]
    programme_start: Option<i64>,
    /// The share the recompute's [global_control] share holds out.
    #[arg(long, requires = "programme_start")]
    global_control_share: Option<f64>,
    /// The recompute's [global_control] salt.
    #[arg(long, default_value = strata_audience::DEFAULT_GLOBAL_CONTROL_SALT)]
    global_control_salt: String,
    /// The benefit the programme's responses redeem.
    #[arg(long, default_value = "coupon-10")]
    programme_benefit: String,
}

/// The programme's window among the campaigns: its id cannot be a campaign
/// file's (ids there are checked to be trimmed text, and this one is
/// bracketed to stand apart in the summary).
const PROGRAMME: &str = "(programme)";

impl GenTargetingArgs {
    pub fn requested(&self) -> bool {
        self.attributes.is_some() || self.campaigns.is_some() || self.programme_start.is_some()
    }
}

pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let mut config = args.population.gen_config()?;
    if let Some(end) = args.end {
        config.end = end;
    }
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.control_share),
        "--control-share {} is outside 0..=1",
        args.control_share
    );
    config.control_share = args.control_share;
    let started = std::time::Instant::now();
    let written = if args.targeting.requested() {
        gen_targeted(&config, &args.out, args.truth.as_deref(), &args.targeting)?
    } else {
        write_events(&config, config.end, &args.out, args.truth.as_deref())?
    };
    outln!(
        "wrote {written} events for {} users to {} in {:.1}s",
        args.population.users,
        args.out.display(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

fn preset(name: &str) -> anyhow::Result<Preset> {
    Preset::from_name(name)
        .with_context(|| format!("unknown preset {name:?}; use one of retail, sns, saas, wealth"))
}

/// Writes `config`'s events, moved to end at `end` (`config.end`: as
/// drawn; see `generate::generate_moved`).
pub fn write_events(
    config: &GenConfig,
    end: i64,
    out: &Path,
    truth: Option<&Path>,
) -> anyhow::Result<u64> {
    let mut writer = EventWriter::create(out, Format::from_path(out)?)?;
    let mut failure = None;
    generate::generate_moved(config, end, |event| {
        if failure.is_none()
            && let Err(error) = writer.write(event)
        {
            failure = Some(error);
        }
    });
    if let Some(error) = failure {
        return Err(error.into());
    }
    let written = writer.finish()?;
    if let Some(path) = truth {
        write_truth(config, path)?;
    }
    Ok(written)
}

/// Each generated user's latent ground truth, one JSON object per line.
fn write_truth(config: &GenConfig, path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for index in 0..config.users {
        serde_json::to_writer(&mut out, &generate::truth(config, index))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes events (and attributes) with campaign responses; returns the
/// number of events written.
fn gen_targeted(
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
    let mut windows: Vec<CampaignWindow> = campaigns
        .iter()
        .map(|campaign| CampaignWindow {
            id: campaign.id.clone(),
            benefit_id: campaign.benefit_id.clone(),
            start: campaign.start,
            end: campaign.end,
        })
        .collect();
    let global_control = match (args.programme_start, args.global_control_share) {
        (Some(start), Some(share)) => {
            anyhow::ensure!(
                config.preset == generate::Preset::Retail,
                "--programme-start responses are generated for the retail preset only"
            );
            anyhow::ensure!(
                start < config.end,
                "--programme-start is not before the generated window's end"
            );
            windows.push(CampaignWindow {
                id: PROGRAMME.to_owned(),
                benefit_id: args.programme_benefit.clone(),
                start,
                end: config.end,
            });
            GlobalControl::new(&args.global_control_salt, share)
                .context("--global-control-share")?
        }
        _ => GlobalControl::off(),
    };
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
        |campaign, user| {
            if campaign.id == PROGRAMME {
                !global_control.contains(user)
            } else {
                assign(&campaign.id, user, shares[campaign.id.as_str()]) == Arm::Treatment
            }
        },
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
        outln!(
            "wrote attributes of {} users to {} ({} intend to buy, {} of them hidden buyers)",
            config.users,
            path.display(),
            summary.intent_users,
            summary.hidden_buyers
        )?;
    }
    for (id, treated, responses) in &summary.responses {
        outln!(
            "campaign {id}: {treated} users drawn into treatment, {responses} campaign purchases"
        )?;
    }
    if let Some(path) = truth {
        write_truth(config, path)?;
    }
    Ok(written)
}
