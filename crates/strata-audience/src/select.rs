//! Evaluating an audience over a population: the rule filters, the model
//! ranks by propensity, and the result reports its size and its mix by
//! layer, tier and quadrant.
//!
//! The result does not depend on the order members arrive in: ranking ties
//! are broken by user id and the selected ids come out sorted.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

use crate::definition::{Audience, ModelPick};
use crate::member::{Member, QUADRANTS, TIERS};

use strata_core::labels::{NO_QUADRANT, NO_TIER};

/// The label a mix uses for a member without a layer; tiers and quadrants
/// use `strata_core::labels`' `none (...)` labels, as every output does.
pub const NO_LAYER: &str = "none (no layer)";

/// The members an audience picked.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub audience: String,
    /// Members looked at.
    pub scanned: u64,
    /// Members the rule admitted (all of them without a rule).
    pub admitted: u64,
    /// With a model pick: admitted members with a propensity to rank by.
    pub ranked: Option<u64>,
    /// Selected user ids, sorted.
    pub user_ids: Vec<String>,
    pub mix: Mix,
}

impl Selection {
    pub fn size(&self) -> usize {
        self.user_ids.len()
    }
}

/// Counts of the selected members, in report order; only non-zero rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mix {
    /// Layers in the lifecycle model's order, then layers the model does
    /// not know, then [`NO_LAYER`].
    pub by_layer: Vec<(String, u64)>,
    /// Churned members (of any layer).
    pub churned: u64,
    /// HIGH, MEDIUM, LOW, then `none (no purchase)`.
    pub by_tier: Vec<(String, u64)>,
    /// ANGEL, FREELOADER, HOSTAGE, DANGER, then `none (no satisfaction
    /// signal)`.
    pub by_quadrant: Vec<(String, u64)>,
}

/// What is kept of an admitted member until the pick is known.
struct Candidate {
    user_id: String,
    propensity: Option<f64>,
    layer: Option<String>,
    churned: bool,
    tier: &'static str,
    quadrant: &'static str,
}

impl Candidate {
    fn of(member: &Member) -> Self {
        Candidate {
            user_id: member.user_id.clone(),
            propensity: member.propensity.filter(|score| score.is_finite()),
            layer: member.layer.clone(),
            churned: member.churned == Some(true),
            tier: member.tier.map_or(NO_TIER, |tier| tier.name()),
            quadrant: member.quadrant.map_or(NO_QUADRANT, |kind| kind.name()),
        }
    }
}

impl Audience {
    /// Picks the audience from `members`.
    ///
    /// A model pick ranks the admitted members with a propensity, highest
    /// first and ties by user id, and keeps `top` of them, or `top_share`
    /// of them rounded to the nearest whole member.
    pub fn select<M: Borrow<Member>>(&self, members: impl IntoIterator<Item = M>) -> Selection {
        let mut scanned = 0;
        let mut candidates = Vec::new();
        for member in members {
            let member = member.borrow();
            scanned += 1;
            if self.admits(member) {
                candidates.push(Candidate::of(member));
            }
        }
        let admitted = candidates.len() as u64;
        let mut ranked = None;
        if let Some(pick) = self.model {
            candidates.retain(|candidate| candidate.propensity.is_some());
            ranked = Some(candidates.len() as u64);
            candidates.sort_by(|left, right| {
                let (left_score, right_score) = (
                    left.propensity.unwrap_or(0.0),
                    right.propensity.unwrap_or(0.0),
                );
                right_score
                    .total_cmp(&left_score)
                    .then_with(|| left.user_id.cmp(&right.user_id))
            });
            candidates.truncate(pick_count(pick, candidates.len()));
        }
        let mix = self.mix(&candidates);
        let mut user_ids: Vec<String> = candidates
            .into_iter()
            .map(|candidate| candidate.user_id)
            .collect();
        user_ids.sort_unstable();
        Selection {
            audience: self.name.clone(),
            scanned,
            admitted,
            ranked,
            user_ids,
            mix,
        }
    }

    fn mix(&self, selected: &[Candidate]) -> Mix {
        let mut layers: BTreeMap<&str, u64> = BTreeMap::new();
        let mut tiers: BTreeMap<&str, u64> = BTreeMap::new();
        let mut quadrants: BTreeMap<&str, u64> = BTreeMap::new();
        let mut churned = 0;
        for candidate in selected {
            *layers
                .entry(candidate.layer.as_deref().unwrap_or(NO_LAYER))
                .or_default() += 1;
            *tiers.entry(candidate.tier).or_default() += 1;
            *quadrants.entry(candidate.quadrant).or_default() += 1;
            churned += u64::from(candidate.churned);
        }
        let model_layers = self.layer_order.iter().map(String::as_str);
        let other_layers: Vec<&str> = layers
            .keys()
            .copied()
            .filter(|layer| {
                *layer != NO_LAYER && !self.layer_order.iter().any(|known| known == layer)
            })
            .collect();
        let layer_order = model_layers.chain(other_layers).chain([NO_LAYER]);
        let tier_order = TIERS.iter().map(|tier| tier.name()).chain([NO_TIER]);
        let quadrant_order = QUADRANTS
            .iter()
            .map(|kind| kind.name())
            .chain([NO_QUADRANT]);
        Mix {
            by_layer: ordered(&layers, layer_order),
            churned,
            by_tier: ordered(&tiers, tier_order),
            by_quadrant: ordered(&quadrants, quadrant_order),
        }
    }
}

fn pick_count(pick: ModelPick, rankable: usize) -> usize {
    match pick {
        ModelPick::Top(count) => usize::try_from(count).unwrap_or(usize::MAX).min(rankable),
        // Half away from zero, so a share of an odd count is not biased down.
        ModelPick::TopShare(share) => ((share * rankable as f64).round() as usize).min(rankable),
    }
}

fn ordered<'o>(
    counts: &BTreeMap<&str, u64>,
    order: impl Iterator<Item = &'o str>,
) -> Vec<(String, u64)> {
    order
        .filter_map(|name| counts.get(name).map(|count| (name.to_owned(), *count)))
        .collect()
}

impl fmt::Display for Selection {
    /// The size, then the mix as aligned tables with shares.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "audience `{}`: {} users (scanned {}, rule admitted {}",
            self.audience,
            self.size(),
            self.scanned,
            self.admitted
        )?;
        if let Some(ranked) = self.ranked {
            write!(formatter, ", ranked by propensity {ranked}")?;
        }
        writeln!(formatter, ")")?;
        let total = self.size() as u64;
        let churned = [("churned".to_owned(), self.mix.churned)];
        for (title, rows) in [
            ("layer", &self.mix.by_layer[..]),
            ("", &churned[..]),
            ("tier", &self.mix.by_tier[..]),
            ("quadrant", &self.mix.by_quadrant[..]),
        ] {
            for (index, (name, count)) in rows.iter().enumerate() {
                let heading = if index == 0 { title } else { "" };
                let share = if total == 0 {
                    0.0
                } else {
                    *count as f64 * 100.0 / total as f64
                };
                writeln!(
                    formatter,
                    "  {heading:<9} {name:<20} {count:>10} {share:>6.1}%"
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::tests::vocabulary;
    use strata_core::{QuadrantKind, Tier};

    /// `(id, layer, churned, tier, quadrant, region, propensity)`; days since
    /// the last purchase is the id's number, and only u1..u4 have an RFM
    /// segment, a best channel or a predicted value.
    type Row = (
        &'static str,
        &'static str,
        bool,
        Option<Tier>,
        Option<QuadrantKind>,
        &'static str,
        Option<f64>,
    );

    const ROWS: [Row; 8] = [
        (
            "u1",
            "growth",
            false,
            Some(Tier::High),
            Some(QuadrantKind::Angel),
            "north",
            Some(0.9),
        ),
        (
            "u2",
            "mature",
            false,
            Some(Tier::High),
            Some(QuadrantKind::Freeloader),
            "south",
            Some(0.4),
        ),
        (
            "u3",
            "declining",
            true,
            Some(Tier::Medium),
            Some(QuadrantKind::Danger),
            "north",
            Some(0.7),
        ),
        (
            "u4",
            "declining",
            false,
            Some(Tier::Low),
            None,
            "east",
            Some(0.4),
        ),
        (
            "u5",
            "new",
            true,
            Some(Tier::Low),
            Some(QuadrantKind::Hostage),
            "",
            Some(0.2),
        ),
        ("u6", "potential", false, None, None, "west", None),
        (
            "u7",
            "growth",
            true,
            Some(Tier::High),
            Some(QuadrantKind::Danger),
            "south",
            Some(0.4),
        ),
        ("u8", "potential", false, None, None, "", Some(0.05)),
    ];

    fn population() -> Vec<Member> {
        ROWS.iter()
            .map(|(id, layer, churned, tier, quadrant, region, propensity)| {
                let mut member = Member::new(*id);
                member.layer = Some((*layer).to_owned());
                member.churned = Some(*churned);
                member.tier = *tier;
                member.quadrant = *quadrant;
                if !region.is_empty() {
                    member
                        .tags
                        .insert("region".into(), vec![(*region).to_owned()]);
                }
                member.propensity = *propensity;
                let number: u32 = id[1..].parse().unwrap();
                member.days_since_last_purchase = tier.map(|_| number * 30);
                if number <= 4 {
                    member.rfm_segment = Some(
                        ["Champions", "Loyal", "At Risk", "Lost"][number as usize - 1].to_owned(),
                    );
                    member.best_channel = Some(
                        ["sms", "app_push", "wechat", "email"][number as usize - 1].to_owned(),
                    );
                    member.predicted_value = Some(f64::from(number) * 100.0);
                }
                member
            })
            .collect()
    }

    fn audience(body: &str) -> Audience {
        let text = format!("[audience]\nname = \"test\"\n{body}\n");
        Audience::from_toml(&text, &vocabulary()).unwrap_or_else(|error| panic!("{body}: {error}"))
    }

    /// The ids `body` (the rest of the `[audience]` table) selects.
    fn check(body: &str, expected: &[&str]) {
        let selection = audience(body).select(population());
        assert_eq!(selection.user_ids, expected, "{body}");
        // Input order never matters.
        let mut reversed = population();
        reversed.reverse();
        assert_eq!(
            audience(body).select(&reversed),
            selection,
            "{body} reversed"
        );
    }

    #[test]
    fn rule_algebra() {
        // Leaves.
        check("rule = { tier = \"high\" }", &["u1", "u2", "u7"]);
        check("rule = { churned = true }", &["u3", "u5", "u7"]);
        check(
            "rule = { layer = [\"declining\", \"new\"] }",
            &["u3", "u4", "u5"],
        );
        check("rule = { quadrant = \"danger\" }", &["u3", "u7"]);
        check(
            "rule = { rfm_segment = [\"lost\", \"at risk\"] }",
            &["u3", "u4"],
        );
        check("rule = { best_channel = \"app_push\" }", &["u2"]);
        check("rule = { tag = { region = \"north\" } }", &["u1", "u3"]);
        check(
            "rule = { propensity = { at_least = 0.4, at_most = 0.7 } }",
            &["u2", "u3", "u4", "u7"],
        );
        check(
            "rule = { predicted_value = { at_least = 300 } }",
            &["u3", "u4"],
        );
        check(
            "rule = { days_since_last_purchase = { at_most = 90 } }",
            &["u1", "u2", "u3"],
        );
        // Intersect: keys of one table, and `all`.
        check("rule = { tier = \"high\", churned = false }", &["u1", "u2"]);
        check(
            "rule = { all = [{ tier = \"high\" }, { tag = { region = \"south\" } }] }",
            &["u2", "u7"],
        );
        // Union.
        check(
            "rule = { any = [{ layer = \"new\" }, { quadrant = \"angel\" }] }",
            &["u1", "u5"],
        );
        // Exclude: members without the value are outside the group, so in
        // its complement.
        check(
            "rule = { not = { tier = \"low\" } }",
            &["u1", "u2", "u3", "u6", "u7", "u8"],
        );
        check(
            "rule = { not = { tag = { region = [\"north\", \"south\"] } } }",
            &["u4", "u5", "u6", "u8"],
        );
        check(
            "rule = { layer = [\"growth\", \"declining\"], not = { churned = true } }",
            &["u1", "u4"],
        );
        // Empty: a rule nobody meets.
        check("rule = { tier = \"high\", layer = \"potential\" }", &[]);
    }

    #[test]
    fn model_picks_the_top_by_propensity_with_ties_by_id() {
        // Propensities: u1 .9, u3 .7, u2 = u4 = u7 .4, u5 .2, u8 .05; u6 none.
        check("model = { top = 3 }", &["u1", "u2", "u3"]);
        check("model = { top = 4 }", &["u1", "u2", "u3", "u4"]);
        check(
            "model = { top = 100 }",
            &["u1", "u2", "u3", "u4", "u5", "u7", "u8"],
        );
        // 7 ranked x 0.3 = 2.1, rounds to 2.
        check("model = { top_share = 0.3 }", &["u1", "u3"]);
        // Inside a rule: the high tier is u1, u2, u7; the top 2 are u1 and
        // u2 (u2 ties u7 and wins on id).
        check(
            "rule = { tier = \"high\" }\nmodel = { top = 2 }",
            &["u1", "u2"],
        );
        let selection =
            audience("rule = { tier = \"high\" }\nmodel = { top = 2 }").select(population());
        assert_eq!(
            (selection.scanned, selection.admitted, selection.ranked),
            (8, 3, Some(3))
        );
    }

    #[test]
    fn mix_counts_layers_tiers_and_quadrants_in_report_order() {
        let mut population = population();
        population[0].layer = Some("vip".into());
        population[1].layer = None;
        let selection = audience("rule = { not = { layer = \"new\" } }").select(population);
        let rows = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
            pairs
                .iter()
                .map(|(name, count)| ((*name).to_owned(), *count))
                .collect()
        };
        // u1's layer is unknown to the model and u2's is unknown: both are
        // admitted by `not` (neither is "new").
        assert_eq!(
            selection.mix,
            Mix {
                by_layer: rows(&[
                    ("potential", 2),
                    ("growth", 1),
                    ("declining", 2),
                    ("vip", 1),
                    (NO_LAYER, 1)
                ]),
                churned: 2,
                by_tier: rows(&[("HIGH", 3), ("MEDIUM", 1), ("LOW", 1), (NO_TIER, 2)]),
                by_quadrant: rows(&[
                    ("ANGEL", 1),
                    ("FREELOADER", 1),
                    ("DANGER", 2),
                    (NO_QUADRANT, 3)
                ]),
            }
        );
        let text = selection.to_string();
        assert!(
            text.starts_with("audience `test`: 7 users (scanned 8, rule admitted 7)"),
            "{text}"
        );
        assert!(
            text.contains("  layer     potential                     2   28.6%"),
            "{text}"
        );
        assert!(
            text.contains("            churned                       2   28.6%"),
            "{text}"
        );
    }
}
