//! What an audience rule can see of one user, and the vocabulary a
//! definition is checked against (layers of the lifecycle model, tag keys
//! and values, and the fixed names from strata-core).
//!
//! Callers turn stored profiles into [`Member`]s; the crate never reads a
//! store, so it stays testable with members written by hand.

use std::collections::{BTreeMap, BTreeSet};

use strata_core::{CHANNELS, LifecycleModel, QuadrantKind, Tier};

/// The RFM segment names of `strata_core::ValueScorer` (Putler's R x F
/// grid); a test checks this list against the scorer.
pub const RFM_SEGMENTS: [&str; 11] = [
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New Customers",
    "Promising",
    "Need Attention",
    "About To Sleep",
    "At Risk",
    "Cannot Lose Them",
    "Hibernating",
    "Lost",
];

pub const TIERS: [Tier; 3] = [Tier::High, Tier::Medium, Tier::Low];

pub const QUADRANTS: [QuadrantKind; 4] = [
    QuadrantKind::Angel,
    QuadrantKind::Freeloader,
    QuadrantKind::Hostage,
    QuadrantKind::Danger,
];

/// One user as audience rules see them. `None` means unknown (not
/// computed, no purchase yet, no satisfaction signal): a rule on an unknown
/// value does not match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Member {
    pub user_id: String,
    /// The lifecycle layer's name (not its churn label).
    pub layer: Option<String>,
    pub churned: Option<bool>,
    pub tier: Option<Tier>,
    pub rfm_segment: Option<String>,
    pub quadrant: Option<QuadrantKind>,
    /// One of [`strata_core::CHANNELS`].
    pub best_channel: Option<String>,
    /// Group attributes: key -> one or more values.
    pub tags: BTreeMap<String, Vec<String>>,
    /// 0..=1.
    pub propensity: Option<f64>,
    pub predicted_value: Option<f64>,
    pub days_since_last_purchase: Option<u32>,
}

impl Member {
    pub fn new(user_id: impl Into<String>) -> Self {
        Member {
            user_id: user_id.into(),
            ..Member::default()
        }
    }
}

/// The names a definition may use: layers come from the lifecycle model in
/// use, tags from the attribute data, the rest from strata-core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    layers: Vec<String>,
    churn_labels: BTreeSet<String>,
    tags: BTreeMap<String, BTreeSet<String>>,
}

impl Vocabulary {
    pub fn new(model: &LifecycleModel) -> Self {
        let layers = model.layers();
        Vocabulary {
            layers: layers.iter().map(|layer| layer.name().to_owned()).collect(),
            churn_labels: layers
                .iter()
                .filter_map(|layer| layer.churn_label())
                .map(str::to_owned)
                .collect(),
            tags: BTreeMap::new(),
        }
    }

    /// Adds known values of a tag key (the key alone, if `values` is empty).
    pub fn add_tag<S: Into<String>>(&mut self, key: &str, values: impl IntoIterator<Item = S>) {
        self.tags
            .entry(key.to_owned())
            .or_default()
            .extend(values.into_iter().map(Into::into));
    }

    /// Adds the tags a member carries, for callers that learn the vocabulary
    /// from the data itself.
    pub fn observe(&mut self, member: &Member) {
        for (key, values) in &member.tags {
            self.add_tag(key, values.iter().cloned());
        }
    }

    /// Layer names, shallowest first.
    pub fn layers(&self) -> &[String] {
        &self.layers
    }

    pub(crate) fn is_churn_label(&self, name: &str) -> bool {
        self.churn_labels.contains(name)
    }

    pub fn tags(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.tags
    }

    pub(crate) fn channels() -> &'static [&'static str] {
        &CHANNELS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{RfmInput, ValueConfig, ValueScorer};

    #[test]
    fn rfm_segments_are_the_scorers() {
        // Ten buyers with distinct values put one R and one F cut point
        // between each pair of scores, so the probes below reach every
        // (R, F) cell of the grid.
        let population = (1..=10u32).map(|rank| RfmInput {
            days_since_last_purchase: 100 - i64::from(rank) * 10,
            purchase_days: rank,
            total_spend: f64::from(rank),
        });
        let scorer = ValueScorer::fit(ValueConfig::default(), population).unwrap();
        let mut seen = BTreeSet::new();
        for days in [90, 70, 50, 30, 10] {
            for purchase_days in [1, 3, 5, 7, 9] {
                let input = RfmInput {
                    days_since_last_purchase: days,
                    purchase_days,
                    total_spend: 1.0,
                };
                seen.insert(scorer.score(&input).segment);
            }
        }
        assert_eq!(seen, RFM_SEGMENTS.into_iter().collect::<BTreeSet<_>>());
    }

    #[test]
    fn vocabulary_comes_from_the_model_and_the_tags() {
        let model = LifecycleModel::preset("retail").unwrap();
        let mut vocabulary = Vocabulary::new(&model);
        assert_eq!(
            vocabulary.layers(),
            ["potential", "new", "growth", "mature", "declining"]
        );
        assert!(vocabulary.is_churn_label("churned"));
        let mut member = Member::new("u1");
        member
            .tags
            .insert("region".into(), vec!["north".into(), "east".into()]);
        vocabulary.observe(&member);
        vocabulary.add_tag("region", ["south"]);
        assert_eq!(
            vocabulary.tags()["region"],
            ["east", "north", "south"].map(String::from).into()
        );
    }
}
