//! The lifecycle model: ordered layers, each reached by predicates over a
//! user's events, each with an optional churned state. Industries differ, so
//! the model is configuration; this module checks it and evaluates it.
//!
//! # Evaluation
//! Layers are ordered shallowest first. A user is in the *deepest* layer whose
//! predicates hold; the first layer has no predicates and so catches every
//! known user (including users whose events are all of unknown types). If
//! that layer has a churn rule and the user's last `activity` event is more
//! than `after_days` days before the as-of day, the user is in the layer's
//! churned state. A user with no `activity` event at all is measured from the
//! first time they were seen.
//!
//! All time rules count whole UTC calendar days between an event's day and
//! the as-of day ("days ago"). "Within N days" means at most N days ago, and
//! churn means *more* than `after_days` days ago, so a user exactly at the
//! churn window is still active.
//!
//! # TOML format
//! ```toml
//! name = "shop"                   # the model's name, reported with each stage
//! value_events = ["purchase"]     # amounts that are value (default ["purchase"]; [] for none)
//! satisfaction_events = ["rating", "review"]  # ratings and reviews (this is the default)
//! ignored_events = ["browse"]     # expected in the logs, not read: no warning (default [])
//!
//! [[layers]]                      # first layer: no predicates, catches everyone
//! name = "prospect"
//!
//! [[layers]]
//! name = "buyer"
//! # every `all` predicate must hold; if `any` is set, at least one of it too
//! all = [{ events = ["purchase"], min_amount = 5.0 }]
//! churn = { after_days = 90, activity = ["purchase"], label = "lapsed buyer" }
//!
//! [[layers]]
//! name = "regular"
//! all = [{ events = ["purchase"], within_days = 60, min_days = 3 }]
//! any = [
//!     { events = ["review"] },
//!     { events = ["purchase"], min_total = 500.0 },
//! ]
//! churn = { after_days = 60, activity = ["purchase", "browse"], label = "lapsed regular" }
//! ```
//! A predicate looks at the user's events whose type is in `events` (and,
//! with `min_amount`, whose amount is at least that). It always needs at
//! least one such event, and every key it sets must hold:
//!
//! | key | holds when |
//! |---|---|
//! | `within_days = N` | (a filter) only events at most N days ago count, for every key below |
//! | `min_count = N` | at least N events |
//! | `min_days = N` / `max_days = N` | at least / at most N distinct days with an event |
//! | `min_total = X` | their amounts sum to at least X |
//! | `first_within_days = N` | the first of them is at most N days ago |
//! | `gap_over_median = { factor = K, min_days = M }` | there are at least M event days and the days since the last one exceed K times the median gap between consecutive event days |
//! | `amount_growing = true` | at least two event days, and the last day's summed amount is above the first day's |
//!
//! Unknown keys are errors, and every error names the layer and the key.
//!
//! # Value and satisfaction events
//! `value_events` name the events whose amounts are the user's value: their
//! days are the history's purchase series, which the value tier, lifetime
//! value, loyalty, propensity and offer outcomes read. A model without value
//! events assigns layers only. `satisfaction_events` name the events whose
//! ratings (1..=5) are read, and which (unless of type `rating`) count as
//! engagement signals for the quadrant's satisfaction score. Both are
//! classified here, once per event type ([`LifecycleModel::classify`]), so
//! every fold of a history reads the same rule.

pub mod config;
pub mod presets;

#[cfg(test)]
pub(crate) mod history_tests;

use std::collections::HashMap;

use crate::Error;
use crate::event::{Event, UnixMillis, kinds};
use crate::history::{
    DayTotal, EventRole, Retention, Series, SeriesRef, TrackedSeries, UserHistory, day_of,
};
pub use config::{ChurnConfig, GapConfig, LayerConfig, ModelConfig, PredicateConfig};
use config::{default_satisfaction_events, default_value_events};

/// Event types every model reads whatever its layers say: intent, share of
/// wallet, channel contacts and offers (the history's fixed counters).
const ALWAYS_READ: [&str; 8] = [
    kinds::ADD_TO_CART,
    kinds::FAVORITE,
    crate::history::WALLET_SHARE,
    kinds::SEND,
    kinds::RESPONSE,
    kinds::OFFER_ISSUED,
    kinds::OFFER_CONTROL,
    kinds::OFFER_REDEEMED,
];
pub use presets::{DEFAULT_PRESET, PRESET_NAMES};

/// Where one user stands: a layer and whether they churned out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage<'a> {
    /// Zero-based position of the layer in the model's order.
    pub layer_index: u32,
    pub layer: &'a str,
    pub churned: bool,
    /// The layer's label for its churned state; `None` when the layer has no
    /// churn rule (and then `churned` is always false).
    pub churn_label: Option<&'a str>,
}

impl<'a> Stage<'a> {
    /// The churn label for a churned user, the layer name otherwise.
    pub fn label(&self) -> &'a str {
        match (self.churned, self.churn_label) {
            (true, Some(label)) => label,
            _ => self.layer,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct SeriesSpec {
    events: Vec<String>,
    min_amount: Option<f64>,
    retention: Retention,
}

impl SeriesSpec {
    fn accepts(&self, amount: Option<f64>) -> bool {
        self.min_amount
            .is_none_or(|minimum| amount.is_some_and(|amount| amount >= minimum))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Predicate {
    series: SeriesRef,
    within_days: Option<u32>,
    min_count: u64,
    min_days: Option<u32>,
    max_days: Option<u32>,
    min_total: Option<f64>,
    first_within_days: Option<u32>,
    gap_over_median: Option<GapConfig>,
    amount_growing: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Churn {
    after_days: u32,
    activity: SeriesRef,
    label: String,
}

/// One layer of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    name: String,
    all: Vec<Predicate>,
    any: Vec<Predicate>,
    churn: Option<Churn>,
}

impl Layer {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The label of this layer's churned state, if it has one.
    pub fn churn_label(&self) -> Option<&str> {
        self.churn.as_ref().map(|churn| churn.label.as_str())
    }

    /// Days without activity after which a user of this layer is churned.
    pub fn churn_after_days(&self) -> Option<u32> {
        self.churn.as_ref().map(|churn| churn.after_days)
    }

    fn qualifies(&self, history: &UserHistory, as_of_day: i32) -> bool {
        let holds = |predicate: &Predicate| predicate.holds(history, as_of_day);
        self.all.iter().all(holds) && (self.any.is_empty() || self.any.iter().any(holds))
    }
}

/// What a model does with one event type it names.
#[derive(Debug, Clone, Default, PartialEq)]
struct KindUse {
    role: EventRole,
    /// Indexes into the model's `series`.
    series: Vec<usize>,
}

/// What a model makes of one event type: a handle from
/// [`LifecycleModel::classify`], looked up once per type and valid only for
/// that model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindClass(Option<u32>);

/// A checked lifecycle model, ready to assign stages.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleModel {
    name: String,
    layers: Vec<Layer>,
    series: Vec<SeriesSpec>,
    /// Sorted, deduplicated.
    value_events: Vec<String>,
    satisfaction_events: Vec<String>,
    /// Sorted: expected in the logs, not read.
    ignored_events: Vec<String>,
    kinds: Vec<KindUse>,
    /// Event type -> index into `kinds`, so folding an event costs one
    /// lookup however many series the model tracks.
    kind_index: HashMap<String, u32>,
}

impl LifecycleModel {
    /// A built-in model by name: one of [`PRESET_NAMES`].
    pub fn preset(name: &str) -> Result<Self, Error> {
        let source = presets::source(name).ok_or_else(|| Error::UnknownPreset(name.to_owned()))?;
        Self::from_toml(source)
    }

    /// A custom model in the format described in the module docs.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        // Layers are read one by one so a serde error (an unknown or
        // mistyped key) can name the layer it is in.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ModelFile {
            name: String,
            #[serde(default = "default_value_events")]
            value_events: Vec<String>,
            #[serde(default = "default_satisfaction_events")]
            satisfaction_events: Vec<String>,
            #[serde(default)]
            ignored_events: Vec<String>,
            layers: Vec<toml::Table>,
        }
        let file: ModelFile =
            toml::from_str(text).map_err(|error| Error::LifecycleToml(error.to_string()))?;
        let mut layers = Vec::with_capacity(file.layers.len());
        for (index, table) in file.layers.into_iter().enumerate() {
            let layer = table
                .get("name")
                .and_then(|name| name.as_str())
                .unwrap_or("?")
                .to_owned();
            let config: LayerConfig =
                table
                    .try_into()
                    .map_err(|error: toml::de::Error| Error::LifecycleLayer {
                        layer,
                        index,
                        message: error.message().trim().to_owned(),
                    })?;
            layers.push(config);
        }
        Self::from_config(ModelConfig {
            name: file.name,
            value_events: file.value_events,
            satisfaction_events: file.satisfaction_events,
            ignored_events: file.ignored_events,
            layers,
        })
    }

    /// Checks a model and prepares it for evaluation.
    pub fn from_config(config: ModelConfig) -> Result<Self, Error> {
        Compiler::default().compile(config)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layers, shallowest first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The event types whose amounts are value, sorted; empty when the
    /// model decides layers only.
    pub fn value_events(&self) -> &[String] {
        &self.value_events
    }

    /// The event types whose ratings and reviews are satisfaction, sorted.
    pub fn satisfaction_events(&self) -> &[String] {
        &self.satisfaction_events
    }

    /// True when the model names at least one value event, so value tiers,
    /// lifetime values and offers can be computed.
    pub fn has_value_events(&self) -> bool {
        !self.value_events.is_empty()
    }

    /// What this model makes of events of type `kind`.
    pub fn classify(&self, kind: &str) -> KindClass {
        KindClass(self.kind_index.get(kind).copied())
    }

    /// True when some rule of the model reads events of type `kind`: a
    /// layer or churn rule, a value or satisfaction event, or one of the
    /// types every history counts (intent, share of wallet, channel
    /// contacts, offers).
    pub fn uses(&self, kind: &str) -> bool {
        self.kind_index.contains_key(kind) || ALWAYS_READ.contains(&kind)
    }

    /// True when the model reads `kind` ([`LifecycleModel::uses`]) or names
    /// it among the types it expects without reading (`ignored_events`).
    pub fn knows(&self, kind: &str) -> bool {
        self.uses(kind)
            || self
                .ignored_events
                .binary_search_by(|known| known.as_str().cmp(kind))
                .is_ok()
    }

    /// Every event type the model reads, sorted (the fixed ones included).
    pub fn used_kinds(&self) -> Vec<&str> {
        let mut used: Vec<&str> = self
            .kind_index
            .keys()
            .map(String::as_str)
            .chain(ALWAYS_READ)
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// The user's stage at `as_of`. The history must hold no event after
    /// `as_of`, and must have been made for this model.
    pub fn assign(&self, history: &UserHistory, as_of: UnixMillis) -> Stage<'_> {
        let as_of_day = day_of(as_of);
        let index = self
            .layers
            .iter()
            .rposition(|layer| layer.qualifies(history, as_of_day))
            .unwrap_or(0);
        let Some(layer) = self.layers.get(index) else {
            unreachable!("a model is checked to have at least one layer");
        };
        let churned = layer
            .churn
            .as_ref()
            .is_some_and(|churn| churn.holds(history, as_of_day));
        Stage {
            layer_index: u32::try_from(index).unwrap_or(u32::MAX),
            layer: &layer.name,
            churned,
            churn_label: layer.churn_label(),
        }
    }

    /// The series a history for this model tracks, one line each (event
    /// types, minimum amount, days kept): summaries are read back only under
    /// a model whose histories fold the same way.
    pub fn tracked_series(&self) -> Vec<String> {
        self.series
            .iter()
            .map(|spec| {
                let minimum = spec
                    .min_amount
                    .map_or(String::new(), |minimum| format!(" amount >= {minimum}"));
                format!("{}{minimum}: {:?}", spec.events.join(","), spec.retention)
            })
            .collect()
    }

    pub(crate) fn new_series(&self) -> Vec<TrackedSeries> {
        self.series
            .iter()
            .map(|spec| TrackedSeries::new(spec.retention))
            .collect()
    }

    fn kind_use(&self, class: KindClass) -> Option<&KindUse> {
        class.0.and_then(|index| self.kinds.get(index as usize))
    }

    /// The event's role and the indexes of the tracked series an event of
    /// `class` with `amount` feeds.
    pub(crate) fn roles_for<'a>(
        &'a self,
        class: KindClass,
        amount: Option<f64>,
    ) -> (EventRole, impl Iterator<Item = usize> + 'a) {
        let kind_use = self.kind_use(class);
        let role = kind_use.map(|kind_use| kind_use.role).unwrap_or_default();
        let tracked = kind_use
            .into_iter()
            .flat_map(|kind_use| kind_use.series.iter())
            .copied()
            .filter(move |index| {
                self.series
                    .get(*index)
                    .is_some_and(|spec| spec.accepts(amount))
            });
        (role, tracked)
    }
}

impl UserHistory {
    /// An empty history shaped for `model`: it tracks what the model's
    /// predicates and churn rules read. (Here, not in `history.rs`, so a
    /// history never names the model: lifecycle -> history, one way.)
    pub fn new(model: &LifecycleModel) -> Self {
        UserHistory::with_series(model.new_series())
    }

    /// Folds one event in. `model` must be the one the history was made for.
    pub fn observe(&mut self, model: &LifecycleModel, event: &Event) {
        self.observe_classified(model, model.classify(&event.kind), event);
    }

    /// Folds one event in whose type `model` classified already (a reader
    /// with a column of few distinct types classifies each once).
    pub fn observe_classified(&mut self, model: &LifecycleModel, class: KindClass, event: &Event) {
        let (role, tracked) = model.roles_for(class, event.amount);
        self.observe_event(event, role, tracked);
    }
}

impl Predicate {
    fn holds(&self, history: &UserHistory, as_of_day: i32) -> bool {
        let Some(series) = history.series(self.series) else {
            return false;
        };
        let view = match self.within_days {
            Some(window) => {
                let start = i64::from(as_of_day) - i64::from(window);
                let first = series
                    .days
                    .partition_point(|total| i64::from(total.day) < start);
                let days = &series.days[first..];
                View {
                    count: days.iter().map(|total| u64::from(total.events)).sum(),
                    total: days.iter().map(|total| total.amount).sum(),
                    first_day: days.first().map(|total| total.day),
                    days,
                }
            }
            None => View {
                count: series.count,
                total: series.total,
                first_day: series.first_at().map(day_of),
                days: &series.days,
            },
        };
        self.holds_on(&view, as_of_day)
    }

    fn holds_on(&self, view: &View<'_>, as_of_day: i32) -> bool {
        let distinct_days = view.days.len();
        view.count >= self.min_count
            && self
                .min_days
                .is_none_or(|minimum| distinct_days >= minimum as usize)
            && self
                .max_days
                .is_none_or(|maximum| distinct_days <= maximum as usize)
            && self.min_total.is_none_or(|minimum| view.total >= minimum)
            && self.first_within_days.is_none_or(|window| {
                view.first_day
                    .is_some_and(|first| days_between(first, as_of_day) <= i64::from(window))
            })
            && self
                .gap_over_median
                .is_none_or(|gap| gap_exceeds_median(view.days, gap, as_of_day))
            && (!self.amount_growing || amount_grows(view.days))
    }
}

/// The part of a series one predicate looks at.
struct View<'a> {
    count: u64,
    total: f64,
    first_day: Option<i32>,
    days: &'a [DayTotal],
}

fn days_between(earlier: i32, later: i32) -> i64 {
    i64::from(later) - i64::from(earlier)
}

fn gap_exceeds_median(days: &[DayTotal], gap: GapConfig, as_of_day: i32) -> bool {
    if days.len() < (gap.min_days as usize).max(2) {
        return false;
    }
    let Some(last) = days.last() else {
        return false;
    };
    let mut gaps: Vec<i64> = days
        .windows(2)
        .map(|pair| days_between(pair[0].day, pair[1].day))
        .collect();
    gaps.sort_unstable();
    let middle = gaps.len() / 2;
    let median = if gaps.len().is_multiple_of(2) {
        (gaps[middle - 1] + gaps[middle]) as f64 / 2.0
    } else {
        gaps[middle] as f64
    };
    days_between(last.day, as_of_day) as f64 > gap.factor * median
}

fn amount_grows(days: &[DayTotal]) -> bool {
    match (days.first(), days.last()) {
        (Some(first), Some(last)) => days.len() >= 2 && last.amount > first.amount,
        _ => false,
    }
}

impl Churn {
    fn holds(&self, history: &UserHistory, as_of_day: i32) -> bool {
        let last_activity = history
            .series(self.activity)
            .and_then(Series::last_at)
            .or(history.first_seen());
        last_activity
            .is_some_and(|at| days_between(day_of(at), as_of_day) > i64::from(self.after_days))
    }
}

/// Checks a [`ModelConfig`] and lays out the series its rules read.
#[derive(Default)]
struct Compiler {
    series: Vec<SeriesSpec>,
    /// Sorted: a rule over exactly these reads the history's value series.
    value_events: Vec<String>,
}

/// Where a check failed, for the error message.
struct Place<'a> {
    layer: &'a str,
    index: usize,
}

impl Place<'_> {
    fn error(&self, key: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::LifecycleKey {
            layer: self.layer.to_owned(),
            index: self.index,
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl Compiler {
    fn compile(mut self, config: ModelConfig) -> Result<LifecycleModel, Error> {
        if config.name.trim().is_empty() {
            return Err(Error::LifecycleModelKey {
                key: "name",
                reason: "is empty".to_owned(),
            });
        }
        if config.layers.is_empty() {
            return Err(Error::LifecycleModelKey {
                key: "layers",
                reason: "needs at least one layer".to_owned(),
            });
        }
        self.value_events = event_list("value_events", &config.value_events)?;
        let satisfaction_events = event_list("satisfaction_events", &config.satisfaction_events)?;
        let ignored_events = event_list("ignored_events", &config.ignored_events)?;
        let mut layers: Vec<Layer> = Vec::with_capacity(config.layers.len());
        for (index, layer) in config.layers.into_iter().enumerate() {
            let place = Place {
                layer: &layer.name,
                index,
            };
            if layer.name.trim().is_empty() {
                return Err(place.error("name", "is empty"));
            }
            if layers.iter().any(|earlier| earlier.name == layer.name) {
                return Err(place.error("name", "is used by an earlier layer"));
            }
            let has_predicates = !layer.all.is_empty() || !layer.any.is_empty();
            if index == 0 && has_predicates {
                return Err(place.error(
                    if layer.all.is_empty() { "any" } else { "all" },
                    "the first layer catches every known user, so it takes no predicates",
                ));
            }
            if index > 0 && !has_predicates {
                return Err(place.error(
                    "all",
                    "only the first layer may catch every user; add a predicate",
                ));
            }
            let all = self.predicates(&place, "all", &layer.all)?;
            let any = self.predicates(&place, "any", &layer.any)?;
            let churn = layer
                .churn
                .as_ref()
                .map(|churn| self.churn(&place, churn))
                .transpose()?;
            layers.push(Layer {
                name: layer.name,
                all,
                any,
                churn,
            });
        }
        // Sorted, so two compiles of one model are equal.
        let mut uses: std::collections::BTreeMap<String, KindUse> = Default::default();
        for (index, spec) in self.series.iter().enumerate() {
            for kind in &spec.events {
                uses.entry(kind.clone()).or_default().series.push(index);
            }
        }
        for kind in &self.value_events {
            uses.entry(kind.clone()).or_default().role.value = true;
        }
        for kind in &satisfaction_events {
            uses.entry(kind.clone()).or_default().role.satisfaction = true;
        }
        let mut kind_uses = Vec::with_capacity(uses.len());
        let mut kind_index = HashMap::with_capacity(uses.len());
        for (kind, kind_use) in uses {
            kind_index.insert(kind, u32::try_from(kind_uses.len()).unwrap_or(u32::MAX));
            kind_uses.push(kind_use);
        }
        Ok(LifecycleModel {
            name: config.name,
            layers,
            series: self.series,
            value_events: self.value_events,
            satisfaction_events,
            ignored_events,
            kinds: kind_uses,
            kind_index,
        })
    }

    fn predicates(
        &mut self,
        place: &Place<'_>,
        list: &str,
        configs: &[PredicateConfig],
    ) -> Result<Vec<Predicate>, Error> {
        configs
            .iter()
            .enumerate()
            .map(|(position, config)| self.predicate(place, &format!("{list}[{position}]"), config))
            .collect()
    }

    fn predicate(
        &mut self,
        place: &Place<'_>,
        key: &str,
        config: &PredicateConfig,
    ) -> Result<Predicate, Error> {
        let error = |field: &str, reason: &str| place.error(format!("{key}.{field}"), reason);
        if let Some(amount) = config.min_amount.filter(|amount| !amount.is_finite()) {
            return Err(error(
                "min_amount",
                &format!("{amount} is not a finite number"),
            ));
        }
        if let Some(total) = config.min_total.filter(|total| !total.is_finite()) {
            return Err(error(
                "min_total",
                &format!("{total} is not a finite number"),
            ));
        }
        if config.min_count == Some(0) {
            return Err(error("min_count", "must be at least 1"));
        }
        if let (Some(minimum), Some(maximum)) = (config.min_days, config.max_days)
            && minimum > maximum
        {
            return Err(error("max_days", "is below min_days"));
        }
        if let Some(gap) = config.gap_over_median {
            if !(gap.factor.is_finite() && gap.factor > 0.0) {
                return Err(error("gap_over_median.factor", "must be a positive number"));
            }
            if gap.min_days < 2 {
                return Err(error(
                    "gap_over_median.min_days",
                    "must be at least 2: a median gap needs two days",
                ));
            }
        }
        let needs_days = config.min_days.is_some()
            || config.max_days.is_some()
            || config.gap_over_median.is_some()
            || config.amount_growing;
        let retention = match config.within_days {
            // Windowed counts and sums are read from the days in the window.
            Some(window) => Retention::LastDays(window),
            None if needs_days => Retention::AllDays,
            None => Retention::Counters,
        };
        let series = self.series(
            place,
            &format!("{key}.events"),
            &config.events,
            config.min_amount,
            retention,
        )?;
        Ok(Predicate {
            series,
            within_days: config.within_days,
            min_count: config.min_count.unwrap_or(1),
            min_days: config.min_days,
            max_days: config.max_days,
            min_total: config.min_total,
            first_within_days: config.first_within_days,
            gap_over_median: config.gap_over_median,
            amount_growing: config.amount_growing,
        })
    }

    fn churn(&mut self, place: &Place<'_>, config: &ChurnConfig) -> Result<Churn, Error> {
        if config.label.trim().is_empty() {
            return Err(place.error("churn.label", "is empty"));
        }
        let activity = self.series(
            place,
            "churn.activity",
            &config.activity,
            None,
            Retention::Counters,
        )?;
        Ok(Churn {
            after_days: config.after_days,
            activity,
            label: config.label.clone(),
        })
    }

    /// The series for these events, shared with earlier rules that read the
    /// same events so each is folded once per user.
    fn series(
        &mut self,
        place: &Place<'_>,
        key: &str,
        events: &[String],
        min_amount: Option<f64>,
        retention: Retention,
    ) -> Result<SeriesRef, Error> {
        if let Some(empty) = events.iter().position(|kind| kind.trim().is_empty()) {
            return Err(place.error(format!("{key}[{empty}]"), "is empty"));
        }
        let mut events = events.to_vec();
        events.sort();
        events.dedup();
        if events.is_empty() {
            return Err(place.error(key, "needs at least one event type"));
        }
        if min_amount.is_none() && events == self.value_events {
            return Ok(SeriesRef::Purchases);
        }
        let same = |spec: &SeriesSpec| {
            spec.events == events
                && spec.min_amount.map(f64::to_bits) == min_amount.map(f64::to_bits)
        };
        if let Some(index) = self.series.iter().position(same) {
            let spec = &mut self.series[index];
            spec.retention = spec.retention.max(retention);
            return Ok(SeriesRef::Tracked(index));
        }
        self.series.push(SeriesSpec {
            events,
            min_amount,
            retention,
        });
        Ok(SeriesRef::Tracked(self.series.len() - 1))
    }
}

/// A model-level list of event types, sorted and deduplicated; blank
/// entries are errors naming the key.
fn event_list(key: &'static str, events: &[String]) -> Result<Vec<String>, Error> {
    if let Some(position) = events.iter().position(|kind| kind.trim().is_empty()) {
        return Err(Error::LifecycleModelKey {
            key,
            reason: format!("entry {position} is empty"),
        });
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOM: &str = r#"
        name = "shop"

        [[layers]]
        name = "prospect"

        [[layers]]
        name = "buyer"
        all = [{ events = ["purchase"], min_amount = 5.0 }]
        churn = { after_days = 90, activity = ["purchase"], label = "lapsed buyer" }

        [[layers]]
        name = "regular"
        all = [{ events = ["purchase"], within_days = 60, min_days = 3 }]
        any = [
            { events = ["review"] },
            { events = ["purchase"], min_total = 500.0 },
        ]
    "#;

    fn error_of(text: &str) -> String {
        LifecycleModel::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn custom_model_parses_and_assigns() {
        use super::history_tests::{event, fold};
        use crate::event::kinds;
        use crate::history::MILLIS_PER_DAY as DAY;

        let model = LifecycleModel::from_toml(CUSTOM).unwrap();
        assert_eq!(model.name(), "shop");
        let names: Vec<&str> = model.layers().iter().map(Layer::name).collect();
        assert_eq!(names, ["prospect", "buyer", "regular"]);
        assert_eq!(model.layers()[1].churn_label(), Some("lapsed buyer"));
        assert_eq!(model.layers()[2].churn_after_days(), None);

        let as_of = 100 * DAY;
        let check = |events: &[crate::Event], expected: &str| {
            let stage = model.assign(&fold(&model, events), as_of);
            assert_eq!(stage.label(), expected, "{events:?}");
        };
        let small = event(kinds::PURCHASE, 99 * DAY, Some(4.0));
        let big = |day: i64| event(kinds::PURCHASE, day * DAY, Some(200.0));
        check(std::slice::from_ref(&small), "prospect");
        check(&[big(99)], "buyer");
        check(&[big(9)], "lapsed buyer");
        check(&[big(98), big(97), big(96)], "regular");
        check(&[big(40), big(39), small.clone()], "buyer");
        let modest = |day: i64| event(kinds::PURCHASE, day * DAY, Some(10.0));
        let review = event(kinds::REVIEW, 10 * DAY, None);
        check(&[modest(90), modest(89), modest(88)], "buyer");
        check(&[modest(90), modest(89), modest(88), review], "regular");
    }

    #[test]
    fn errors_name_the_layer_and_key() {
        let cases = [
            (
                CUSTOM.replace("min_days = 3", "min_dayz = 3"),
                "layer `regular` (layers[2]): unknown field `min_dayz`",
            ),
            (
                CUSTOM.replace("label = ", "labels = "),
                "layer `buyer` (layers[1]): unknown field `labels`",
            ),
            (
                CUSTOM.replace("min_amount = 5.0", "min_amount = \"five\""),
                "layer `buyer` (layers[1]): invalid type",
            ),
            (
                CUSTOM.replace("events = [\"review\"]", "events = []"),
                "layer `regular` (layers[2]) key `any[0].events`: needs at least one event type",
            ),
            (
                CUSTOM.replace("min_days = 3", "min_days = 3, max_days = 2"),
                "layer `regular` (layers[2]) key `all[0].max_days`",
            ),
            (
                CUSTOM.replace("name = \"buyer\"", "name = \"prospect\""),
                "layer `prospect` (layers[1]) key `name`: is used by an earlier layer",
            ),
            (
                CUSTOM.replace(
                    "name = \"prospect\"",
                    "name = \"prospect\"\nall = [{ events = [\"open\"] }]",
                ),
                "layer `prospect` (layers[0]) key `all`: the first layer",
            ),
            (
                CUSTOM.replace("all = [{ events = [\"purchase\"], min_amount = 5.0 }]", ""),
                "layer `buyer` (layers[1]) key `all`: only the first layer",
            ),
            (
                CUSTOM.replace("after_days = 90, ", ""),
                "layer `buyer` (layers[1]): missing field `after_days`",
            ),
            (
                CUSTOM.replace("name = \"shop\"", "nam = \"shop\""),
                "unknown field `nam`",
            ),
            ("name = \"empty\"\nlayers = []".to_owned(), "key `layers`"),
        ];
        for (text, expected) in cases {
            let message = error_of(&text);
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        assert_eq!(
            LifecycleModel::preset("bank").unwrap_err(),
            Error::UnknownPreset("bank".to_owned())
        );
    }

    #[test]
    fn value_events_name_the_value_series() {
        let text = CUSTOM
            .replace(
                "name = \"shop\"",
                "name = \"shop\"\nvalue_events = [\"order\", \"order\"]",
            )
            .replace("\"purchase\"", "\"order\"");
        let model = LifecycleModel::from_toml(&text).unwrap();
        assert_eq!(model.value_events(), ["order"]);
        assert_eq!(model.satisfaction_events(), ["rating", "review"]);
        // Rules over exactly the value events read the history's own series.
        let tracked: Vec<&[String]> = model
            .series
            .iter()
            .map(|spec| spec.events.as_slice())
            .collect();
        assert_eq!(tracked.len(), 2, "{tracked:?}");
        assert!(model.uses("order") && model.uses("review") && model.uses("offer_issued"));
        assert!(!model.uses("purchase") && !model.uses("mystery"));
        assert_eq!(model.classify("mystery"), model.classify("other"));
        for (key, line) in [
            ("value_events", "value_events = [\"order\", \" \"]"),
            ("satisfaction_events", "satisfaction_events = [\"\"]"),
        ] {
            let text = CUSTOM.replace("name = \"shop\"", &format!("name = \"shop\"\n{line}"));
            let message = error_of(&text);
            assert!(message.contains(&format!("key `{key}`")), "{message}");
        }
        let sns = LifecycleModel::preset("sns").unwrap();
        assert!(!sns.has_value_events());
        let wealth = LifecycleModel::preset("wealth").unwrap();
        assert_eq!(wealth.value_events(), ["invest"]);
        assert!(wealth.series.iter().all(|spec| spec.events != ["invest"]));
    }

    #[test]
    fn rules_reading_the_same_events_share_one_series() {
        let model = LifecycleModel::preset("sns").unwrap();
        let tracked: Vec<&[String]> = model
            .series
            .iter()
            .map(|spec| spec.events.as_slice())
            .collect();
        assert_eq!(tracked.len(), 5, "{tracked:?}");
        let retail = LifecycleModel::preset("retail").unwrap();
        assert!(retail.series.is_empty(), "retail reads only purchases");
    }
}
