//! The lifecycle model as written in TOML: plain serde types, checked and
//! compiled into a [`LifecycleModel`](super::LifecycleModel) elsewhere so the
//! file format stays separate from the evaluation structures.

use serde::Deserialize;

/// A whole model: its name, the events that carry value and those that
/// express satisfaction, and its layers, shallowest first.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    /// Event types whose amounts are the user's value (a purchase, an
    /// investment, a contract): the series every value model reads (tier,
    /// lifetime value, loyalty, propensity, offer outcomes). Empty: the
    /// model decides layers only. Default `["purchase"]`.
    #[serde(default = "default_value_events")]
    pub value_events: Vec<String>,
    /// Event types that express satisfaction: a rating (1..=5) on one is a
    /// rating, and each one not of type `rating` counts as an engagement
    /// signal (as reviews do). Default `["rating", "review"]`.
    #[serde(default = "default_satisfaction_events")]
    pub satisfaction_events: Vec<String>,
    /// Event types the model expects in its logs without reading them
    /// (retail's `browse`): they never count towards the run's warning
    /// about types the model does not read. Default none.
    #[serde(default)]
    pub ignored_events: Vec<String>,
    pub layers: Vec<LayerConfig>,
}

pub fn default_value_events() -> Vec<String> {
    vec!["purchase".to_owned()]
}

pub fn default_satisfaction_events() -> Vec<String> {
    vec!["rating".to_owned(), "review".to_owned()]
}

/// One layer: reached when every `all` predicate holds and, if `any` is not
/// empty, at least one `any` predicate holds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    pub name: String,
    #[serde(default)]
    pub all: Vec<PredicateConfig>,
    #[serde(default)]
    pub any: Vec<PredicateConfig>,
    #[serde(default)]
    pub churn: Option<ChurnConfig>,
}

/// A test over the user's events of the types in `events`. Every set key
/// must hold; at least one matching event is always required.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredicateConfig {
    /// Event types that count, e.g. `["like", "comment"]`.
    pub events: Vec<String>,
    /// Only events carrying an amount of at least this count.
    #[serde(default)]
    pub min_amount: Option<f64>,
    /// Only events at most this many days before the as-of day count, for
    /// every other key of this predicate.
    #[serde(default)]
    pub within_days: Option<u32>,
    /// At least this many matching events (default 1).
    #[serde(default)]
    pub min_count: Option<u64>,
    /// At least this many distinct days with a matching event.
    #[serde(default)]
    pub min_days: Option<u32>,
    /// At most this many distinct days with a matching event.
    #[serde(default)]
    pub max_days: Option<u32>,
    /// The matching events' amounts sum to at least this.
    #[serde(default)]
    pub min_total: Option<f64>,
    /// The first matching event is at most this many days before as-of.
    #[serde(default)]
    pub first_within_days: Option<u32>,
    /// The days since the last matching day exceed `factor` times the
    /// median gap between matching days.
    #[serde(default)]
    pub gap_over_median: Option<GapConfig>,
    /// The last matching day's summed amount is above the first one's.
    #[serde(default)]
    pub amount_growing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapConfig {
    pub factor: f64,
    /// Matching days needed before the median means anything (at least 2).
    pub min_days: u32,
}

/// A layer's churned state: no `activity` event for more than `after_days`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnConfig {
    pub after_days: u32,
    pub activity: Vec<String>,
    pub label: String,
}
