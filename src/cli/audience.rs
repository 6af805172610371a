//! `strata audience`: select an audience from a snapshot's profiles and
//! print its size and mix, optionally writing the user list (see
//! docs/audiences.md).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_audience::Vocabulary;
use strata_core::LifecycleModel;
use strata_events::attributes::{AudienceRow, write_audience};
use strata_job::members::member_from_profile;
use strata_job::targeting::parse_audience;
use strata_proto::v1;

use super::output::{out, outln};

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

pub fn run(args: AudienceArgs) -> anyhow::Result<()> {
    let mut profiles = Vec::new();
    let (header, _) = strata_snapshot::read_snapshot(&args.snapshot, |profile| {
        profiles.push(profile);
    })?;
    let model = match &args.model {
        Some(path) => super::parse::read_model(path)?,
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
    out!("{selection}")?;
    if let Some((rows, out)) = written {
        outln!("wrote {rows} users to {}", out.display())?;
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
