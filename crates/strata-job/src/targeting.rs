//! Groups and campaigns in the recompute job: user attributes joined onto
//! profiles as tags, each campaign's audience picked from the run's
//! profiles, every member given a holdout arm that travels on the profile
//! (so it reaches the service through the normal ingest path), and the
//! campaign's benefit put on treatment users' profiles.
//!
//! The frequency cap across campaigns: a user is a member of at most
//! `max_active` campaigns running at once. Campaigns are taken in (start,
//! id) order; a user whose quota is full when a campaign's turn comes is
//! recorded as `ARM_UNSPECIFIED` ("capped") in it: neither offered the
//! benefit nor counted by `strata lift`. The cap is decided *before* the
//! arm draw, on membership, so it removes users from both arms alike and
//! the lift stays unbiased; it therefore also caps treatments at
//! `max_active`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use strata_audience::{Arm, Audience, Campaign, KnownNames, Vocabulary};
use strata_core::{LifecycleModel, UnixMillis};
use strata_events::attributes::{Attributes, read_attributes};

use crate::config::ModelsConfig;
use crate::members::{channel_to_wire, member_from_profile};
use crate::wire::millis_to_timestamp;
use strata_proto::v1;

#[derive(Debug, thiserror::Error)]
pub enum TargetingError {
    #[error(transparent)]
    Attributes(#[from] strata_events::Error),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Definition {
        path: PathBuf,
        #[source]
        source: strata_audience::Error,
    },
    #[error("audience `{name}` is defined in both {} and {}", first.display(), second.display())]
    DuplicateAudience {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("[campaigns] max_active_treatments must be at least 1")]
    ZeroCap,
}

/// One campaign's assignment in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignTally {
    pub id: String,
    pub audience: String,
    /// Running or upcoming at as-of; ended campaigns are dropped.
    pub status: &'static str,
    pub selected: u64,
    pub treatment: u64,
    pub control: u64,
    pub capped: u64,
    /// Selected users in the global control group: in neither arm.
    pub global_control: u64,
}

/// What joining attributes and assigning campaigns did in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetingReport {
    pub attribute_rows: u64,
    /// Profiles that got at least one tag.
    pub tagged_users: u64,
    /// Attribute rows whose user has no events: counted, not invented.
    pub unknown_attribute_users: u64,
    pub campaigns: Vec<CampaignTally>,
    pub ended_campaigns: Vec<String>,
}

impl std::fmt::Display for TargetingReport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.attribute_rows > 0 {
            writeln!(
                formatter,
                "attributes  {} rows, {} users tagged; {} attribute rows for unknown users (not invented)",
                self.attribute_rows, self.tagged_users, self.unknown_attribute_users
            )?;
        }
        for tally in &self.campaigns {
            write!(
                formatter,
                "campaign    {} ({}, audience {}): {} selected, {} treatment, {} control, {} capped",
                tally.id,
                tally.status,
                tally.audience,
                tally.selected,
                tally.treatment,
                tally.control,
                tally.capped
            )?;
            if tally.global_control > 0 {
                write!(
                    formatter,
                    ", {} in the global control group",
                    tally.global_control
                )?;
            }
            writeln!(formatter)?;
        }
        for id in &self.ended_campaigns {
            writeln!(
                formatter,
                "campaign    {id} ended before as-of: not assigned"
            )?;
        }
        Ok(())
    }
}

/// The inputs of groups and campaigns for one recompute run.
#[derive(Debug, Default)]
pub struct Targeting {
    pub attributes: Option<Attributes>,
    pub campaigns: Vec<Campaign>,
    pub audiences: BTreeMap<String, Audience>,
    pub max_active: u32,
    /// Catalogue entries by benefit id, without validity or profit.
    benefits: BTreeMap<String, v1::Benefit>,
    report: Mutex<TargetingReport>,
}

impl Targeting {
    /// Reads the attribute file, the audience definitions and the campaign
    /// file, checking names against the lifecycle model, the attribute
    /// data and the benefit catalogue.
    pub fn load(
        attributes: Option<&Path>,
        campaigns: Option<&Path>,
        audiences: &[PathBuf],
        model: &LifecycleModel,
        models: &ModelsConfig,
    ) -> Result<Targeting, TargetingError> {
        let attributes = attributes.map(read_attributes).transpose()?;
        let mut vocabulary = Vocabulary::new(model);
        if let Some(attributes) = &attributes {
            for (key, values) in attributes.vocabulary() {
                vocabulary.add_tag(&key, values);
            }
        }
        let mut parsed: BTreeMap<String, (Audience, PathBuf)> = BTreeMap::new();
        for path in audiences {
            let audience = parse_audience(path, &vocabulary)?;
            if let Some((_, first)) = parsed.get(&audience.name) {
                return Err(TargetingError::DuplicateAudience {
                    name: audience.name.clone(),
                    first: first.clone(),
                    second: path.clone(),
                });
            }
            parsed.insert(audience.name.clone(), (audience, path.clone()));
        }
        let benefits: BTreeMap<String, v1::Benefit> = models
            .benefits
            .iter()
            .map(|spec| {
                (
                    spec.benefit_id.clone(),
                    v1::Benefit {
                        benefit_id: spec.benefit_id.clone(),
                        kind: v1::BenefitKind::from(spec.kind).into(),
                        face_value: spec.face_value,
                        currency: spec.currency.clone(),
                        minimum_spend: spec.minimum_spend,
                        ..v1::Benefit::default()
                    },
                )
            })
            .collect();
        let mut campaigns = match campaigns {
            Some(path) => {
                let known = KnownNames {
                    audiences: Some(parsed.keys().cloned().collect()),
                    benefits: Some(benefits.keys().cloned().collect()),
                };
                let text = read(path)?;
                Campaign::parse_all(&text, &known).map_err(|source| TargetingError::Definition {
                    path: path.to_owned(),
                    source,
                })?
            }
            None => Vec::new(),
        };
        campaigns.sort_by(|left, right| (left.start, &left.id).cmp(&(right.start, &right.id)));
        let max_active = models
            .campaigns
            .max_active_treatments
            .unwrap_or(models.channel.max_contacts);
        if max_active == 0 {
            return Err(TargetingError::ZeroCap);
        }
        Ok(Targeting {
            attributes,
            campaigns,
            audiences: parsed
                .into_iter()
                .map(|(name, (audience, _))| (name, audience))
                .collect(),
            max_active,
            benefits,
            report: Mutex::new(TargetingReport::default()),
        })
    }

    /// The last run's report.
    pub fn report(&self) -> TargetingReport {
        self.report
            .lock()
            .map(|report| report.clone())
            .unwrap_or_default()
    }

    /// Joins tags and assigns campaign arms on `profiles` (sorted by user
    /// id, as the recompute builds them). A campaign's benefit is served in
    /// `currency`, the run's (the catalogue's, settled once the events were
    /// read, after this was built).
    pub fn apply(
        &self,
        profiles: &mut [v1::Profile],
        as_of: UnixMillis,
        currency: &str,
    ) -> TargetingReport {
        let mut report = TargetingReport::default();
        if let Some(attributes) = &self.attributes {
            report.attribute_rows = attributes.rows;
            for (user_id, tags) in &attributes.users {
                match position(profiles, user_id) {
                    Some(index) => {
                        let profile = &mut profiles[index];
                        profile.tags = tags
                            .iter()
                            .map(|(key, values)| v1::Tag {
                                key: key.clone(),
                                values: values.clone(),
                            })
                            .collect();
                        report.tagged_users += u64::from(!profile.tags.is_empty());
                    }
                    None => report.unknown_attribute_users += 1,
                }
            }
        }
        if !self.campaigns.is_empty() {
            self.assign(profiles, as_of, currency, &mut report);
        }
        if let Ok(mut stored) = self.report.lock() {
            *stored = report.clone();
        }
        report
    }

    fn assign(
        &self,
        profiles: &mut [v1::Profile],
        as_of: UnixMillis,
        currency: &str,
        report: &mut TargetingReport,
    ) {
        let members: Vec<strata_audience::Member> = profiles
            .iter()
            .map(|profile| member_from_profile(profile, as_of))
            .collect();
        // Per user: the ends of the campaigns they are a member of.
        let mut memberships: Vec<Vec<UnixMillis>> = vec![Vec::new(); profiles.len()];
        for campaign in &self.campaigns {
            if campaign.end <= as_of {
                report.ended_campaigns.push(campaign.id.clone());
                continue;
            }
            let Some(audience) = self.audiences.get(&campaign.audience) else {
                continue;
            };
            let selection = audience.select(&members);
            let mut tally = CampaignTally {
                id: campaign.id.clone(),
                audience: campaign.audience.clone(),
                status: if campaign.is_running(as_of) {
                    "running"
                } else {
                    "upcoming"
                },
                selected: selection.size() as u64,
                ..CampaignTally::default()
            };
            for user_id in &selection.user_ids {
                let Some(index) = position(profiles, user_id) else {
                    continue;
                };
                // Held out of every campaign: no arm, no membership taken.
                if profiles[index].global_control {
                    tally.global_control += 1;
                    continue;
                }
                // Every membership already taken started no later than this
                // campaign (start order), so those still running at its
                // start are the ones it would overlap.
                let overlapping = memberships[index]
                    .iter()
                    .filter(|end| **end > campaign.start)
                    .count();
                let arm = if overlapping >= self.max_active as usize {
                    tally.capped += 1;
                    v1::Arm::Unspecified
                } else {
                    memberships[index].push(campaign.end);
                    match campaign.arm(user_id) {
                        Arm::Treatment => {
                            tally.treatment += 1;
                            v1::Arm::Treatment
                        }
                        Arm::Control => {
                            tally.control += 1;
                            v1::Arm::Control
                        }
                    }
                };
                let profile = &mut profiles[index];
                if arm == v1::Arm::Treatment {
                    self.offer_benefit(profile, campaign, currency);
                }
                profile.campaigns.push(v1::CampaignArm {
                    campaign_id: campaign.id.clone(),
                    arm: arm.into(),
                    benefit_id: campaign.benefit_id.clone(),
                    channel: channel_to_wire(&campaign.channel).into(),
                    start: Some(millis_to_timestamp(campaign.start)),
                    end: Some(millis_to_timestamp(campaign.end)),
                });
            }
            report.campaigns.push(tally);
        }
    }

    /// Adds the campaign's benefit, valid over the campaign window, to a
    /// treatment user's benefits; its expected profit is the user's own
    /// recommendation of that benefit, if they had one, else 0.
    fn offer_benefit(&self, profile: &mut v1::Profile, campaign: &Campaign, currency: &str) {
        let Some(template) = self.benefits.get(&campaign.benefit_id) else {
            return;
        };
        let profit = profile
            .benefits
            .iter()
            .find(|benefit| benefit.benefit_id == campaign.benefit_id)
            .map_or(0.0, |benefit| benefit.expected_incremental_profit);
        profile.benefits.push(v1::Benefit {
            currency: currency.to_owned(),
            expected_incremental_profit: profit,
            valid_from: Some(millis_to_timestamp(campaign.start)),
            valid_until: Some(millis_to_timestamp(campaign.end)),
            ..template.clone()
        });
    }
}

fn position(profiles: &[v1::Profile], user_id: &str) -> Option<usize> {
    profiles
        .binary_search_by(|profile| profile.user_id.as_str().cmp(user_id))
        .ok()
}

fn read(path: &Path) -> Result<String, TargetingError> {
    std::fs::read_to_string(path).map_err(|source| TargetingError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads and checks one audience definition file.
pub fn parse_audience(path: &Path, vocabulary: &Vocabulary) -> Result<Audience, TargetingError> {
    let text = read(path)?;
    Audience::from_toml(&text, vocabulary).map_err(|source| TargetingError::Definition {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(user_id: &str, propensity: f64) -> v1::Profile {
        v1::Profile {
            user_id: user_id.into(),
            propensity: Some(propensity),
            ..v1::Profile::default()
        }
    }

    fn write(folder: &Path, name: &str, text: &str) -> PathBuf {
        let path = folder.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const DAY: i64 = 86_400_000;

    fn campaign(id: &str, start_day: u32, end_day: u32) -> String {
        format!(
            "[[campaign]]\nid = \"{id}\"\naudience = \"everyone\"\nholdout_share = 0.5\n\
             benefit_id = \"coupon-10\"\nchannel = \"sms\"\nstart = 2024-12-{start_day:02}\n\
             end = 2024-12-{end_day:02}\n\n"
        )
    }

    #[test]
    fn cap_counts_memberships_at_once_and_spares_later_campaigns() {
        let folder = tempfile::tempdir().unwrap();
        let audience = write(
            folder.path(),
            "everyone.toml",
            "[audience]\nname = \"everyone\"\nmodel = { top_share = 1.0 }\n",
        );
        let text = [
            campaign("a", 1, 20),
            campaign("b", 2, 10),
            campaign("c", 5, 15),
            campaign("d", 25, 30),
        ]
        .concat();
        let campaigns = write(folder.path(), "campaigns.toml", &text);
        let mut models = ModelsConfig::default();
        models.campaigns.max_active_treatments = Some(2);
        let targeting = Targeting::load(
            None,
            Some(&campaigns),
            &[audience],
            &LifecycleModel::preset("retail").unwrap(),
            &models,
        )
        .unwrap();
        let mut profiles: Vec<v1::Profile> = (0..200)
            .map(|index| profile(&format!("u{index:03}"), 0.5))
            .collect();
        // 2024-12-01: a runs, the others are upcoming.
        let as_of = 1_733_011_200_000;
        // The run's currency, whatever the catalogue said when this was built.
        let report = targeting.apply(&mut profiles, as_of, "USD");
        let capped: Vec<u64> = report.campaigns.iter().map(|tally| tally.capped).collect();
        // a and b fill the quota; c overlaps both; d starts after they end.
        assert_eq!(capped, [0, 0, 200, 0], "{report}");
        for profile in &profiles {
            let arms: Vec<(&str, i32)> = profile
                .campaigns
                .iter()
                .map(|arm| (arm.campaign_id.as_str(), arm.arm))
                .collect();
            assert_eq!(arms.len(), 4);
            assert_eq!(arms[2], ("c", v1::Arm::Unspecified.into()));
            let treated = profile
                .campaigns
                .iter()
                .filter(|arm| arm.arm == i32::from(v1::Arm::Treatment))
                .count();
            let campaign_benefits = profile
                .benefits
                .iter()
                .filter(|benefit| benefit.benefit_id == "coupon-10")
                .inspect(|benefit| assert_eq!(benefit.currency, "USD"))
                .count();
            assert_eq!(treated, campaign_benefits, "{}", profile.user_id);
        }
        let a = &report.campaigns[0];
        assert_eq!(a.treatment + a.control, 200);
        assert!(a.treatment > 60 && a.control > 60, "{report}");

        // Ended campaigns are not assigned.
        let mut later: Vec<v1::Profile> = vec![profile("u1", 0.5)];
        let report = targeting.apply(&mut later, as_of + 21 * DAY, "EUR");
        assert_eq!(report.ended_campaigns, ["a", "b", "c"]);
        assert_eq!(later[0].campaigns.len(), 1);
    }

    #[test]
    fn global_control_members_are_in_no_campaign() {
        let folder = tempfile::tempdir().unwrap();
        let audience = write(
            folder.path(),
            "everyone.toml",
            "[audience]\nname = \"everyone\"\nmodel = { top_share = 1.0 }\n",
        );
        let campaigns = write(folder.path(), "campaigns.toml", &campaign("a", 1, 20));
        let targeting = Targeting::load(
            None,
            Some(&campaigns),
            &[audience],
            &LifecycleModel::preset("retail").unwrap(),
            &ModelsConfig::default(),
        )
        .unwrap();
        let mut profiles: Vec<v1::Profile> = (0..100)
            .map(|index| v1::Profile {
                global_control: index % 10 == 0,
                ..profile(&format!("u{index:03}"), 0.5)
            })
            .collect();
        let report = targeting.apply(&mut profiles, 1_733_011_200_000, "USD");
        let tally = &report.campaigns[0];
        assert_eq!(
            (tally.selected, tally.global_control),
            (100, 10),
            "{report}"
        );
        assert_eq!(tally.treatment + tally.control, 90);
        assert!(
            report
                .to_string()
                .contains("10 in the global control group")
        );
        for profile in &profiles {
            let in_campaign = !profile.campaigns.is_empty() || !profile.benefits.is_empty();
            assert_eq!(in_campaign, !profile.global_control, "{}", profile.user_id);
        }
    }

    #[test]
    fn unknown_attribute_users_are_counted_not_invented() {
        let folder = tempfile::tempdir().unwrap();
        let attributes = write(
            folder.path(),
            "attributes.csv",
            "user_id,region,tags\nu1,north,vip;app\nghost,south,\nu2,,\n",
        );
        let targeting = Targeting::load(
            Some(&attributes),
            None,
            &[],
            &LifecycleModel::preset("retail").unwrap(),
            &ModelsConfig::default(),
        )
        .unwrap();
        let mut profiles = vec![profile("u1", 0.1), profile("u2", 0.2)];
        let report = targeting.apply(&mut profiles, 0, "EUR");
        assert_eq!(
            (
                report.attribute_rows,
                report.tagged_users,
                report.unknown_attribute_users
            ),
            (3, 1, 1)
        );
        assert_eq!(profiles.len(), 2);
        assert_eq!(
            profiles[0].tags,
            [
                v1::Tag {
                    key: "region".into(),
                    values: vec!["north".into()]
                },
                v1::Tag {
                    key: "tags".into(),
                    values: vec!["app".into(), "vip".into()]
                }
            ]
        );
        assert!(profiles[1].tags.is_empty());
        assert!(
            report
                .to_string()
                .contains("1 attribute rows for unknown users")
        );
    }

    #[test]
    fn a_bad_audience_names_the_file_and_line() {
        let folder = tempfile::tempdir().unwrap();
        let audience = write(
            folder.path(),
            "bad.toml",
            "[audience]\nname = \"x\"\nrule = { tier = \"gold\" }\n",
        );
        let error = Targeting::load(
            None,
            None,
            &[audience],
            &LifecycleModel::preset("retail").unwrap(),
            &ModelsConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("bad.toml: line 3"), "{error}");
        assert!(error.contains("unknown tier `gold`"), "{error}");
    }
}
