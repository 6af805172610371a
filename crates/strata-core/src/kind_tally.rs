//! Events counted per type while a log is read, and what the lifecycle model
//! makes of them: when most rows are of types the model never reads (the
//! retail preset run on an investing platform's events), the run says so and
//! names those types with the presets that know them, instead of putting
//! every user in the first layer without a word.
//!
//! Separate from the fold so any read loop can call it: one map lookup per
//! event, no allocation after a type's first event.

use std::collections::HashMap;

use crate::lifecycle::{LifecycleModel, PRESET_NAMES};

/// Above this share of unread rows the run warns.
pub const UNKNOWN_WARN_SHARE: f64 = 0.5;

/// Unknown types named in the warning, largest first.
pub const UNKNOWN_TOP: usize = 5;

/// Events per type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindTally {
    counts: HashMap<String, u64>,
    events: u64,
}

impl KindTally {
    pub fn new() -> Self {
        KindTally::default()
    }

    /// Counts one event of type `kind`.
    pub fn observe(&mut self, kind: &str) {
        self.add(kind, 1);
    }

    /// Counts `count` events of type `kind` (a reader that counted a column
    /// of types itself).
    pub fn add(&mut self, kind: &str, count: u64) {
        self.events += count;
        match self.counts.get_mut(kind) {
            Some(total) => *total += count,
            None => {
                self.counts.insert(kind.to_owned(), count);
            }
        }
    }

    /// Adds a tally over other events.
    pub fn merge(&mut self, other: KindTally) {
        for (kind, count) in other.counts {
            self.add(&kind, count);
        }
    }

    /// Events counted.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn count(&self, kind: &str) -> u64 {
        self.counts.get(kind).copied().unwrap_or(0)
    }

    /// The events whose type `model` neither reads nor expects
    /// ([`LifecycleModel::knows`]), the largest types first (ties by name),
    /// each with the built-in presets that read it.
    pub fn unknown_to(&self, model: &LifecycleModel) -> UnknownKinds {
        let mut unknown: Vec<(&String, u64)> = self
            .counts
            .iter()
            .filter(|(kind, _)| !model.knows(kind))
            .map(|(kind, count)| (kind, *count))
            .collect();
        unknown.sort_unstable_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(right.0)));
        let presets: Vec<LifecycleModel> = PRESET_NAMES
            .iter()
            .filter_map(|name| LifecycleModel::preset(name).ok())
            .collect();
        UnknownKinds {
            events: self.events,
            unknown: unknown.iter().map(|(_, count)| count).sum(),
            top: unknown
                .iter()
                .take(UNKNOWN_TOP)
                .map(|(kind, count)| UnknownKind {
                    kind: (*kind).clone(),
                    count: *count,
                    known_by: presets
                        .iter()
                        .filter(|preset| preset.uses(kind))
                        .map(|preset| preset.name().to_owned())
                        .collect(),
                })
                .collect(),
        }
    }
}

/// What [`KindTally::unknown_to`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnknownKinds {
    /// All events counted.
    pub events: u64,
    /// Events of types the model does not read.
    pub unknown: u64,
    /// The largest unknown types, at most [`UNKNOWN_TOP`].
    pub top: Vec<UnknownKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnknownKind {
    pub kind: String,
    pub count: u64,
    /// The built-in presets whose model reads this type.
    pub known_by: Vec<String>,
}

impl UnknownKinds {
    /// Share of events of unknown types, 0..=1 (0 for no events).
    pub fn share(&self) -> f64 {
        if self.events == 0 {
            0.0
        } else {
            self.unknown as f64 / self.events as f64
        }
    }

    /// True when more than `threshold` of the events are of unknown types.
    pub fn is_most(&self, threshold: f64) -> bool {
        self.events > 0 && self.share() > threshold
    }

    /// One line naming the share and the top types, e.g. `72.0% of events
    /// are of types the model does not read: invest 900 (wealth), ...`.
    pub fn describe(&self, model: &str) -> String {
        let types: Vec<String> = self
            .top
            .iter()
            .map(|kind| {
                let known = if kind.known_by.is_empty() {
                    "no preset".to_owned()
                } else {
                    format!("preset {}", kind.known_by.join(", "))
                };
                format!("{} {} ({known})", kind.kind, kind.count)
            })
            .collect();
        format!(
            "{:.1}% of events ({} of {}) are of types the model `{model}` does not read: {}",
            100.0 * self.share(),
            self.unknown,
            self.events,
            types.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::kinds;

    fn tally(rows: &[(&str, u64)]) -> KindTally {
        let mut tally = KindTally::new();
        for (kind, count) in rows {
            for _ in 0..*count {
                tally.observe(kind);
            }
        }
        tally
    }

    #[test]
    fn wealth_events_are_unknown_to_retail() {
        let rows = [
            (kinds::APP_START, 50),
            (kinds::VIEW_PRODUCT, 30),
            (kinds::INVEST, 10),
            ("mystery", 3),
            (kinds::PURCHASE, 7),
        ];
        let retail = LifecycleModel::preset("retail").unwrap();
        let unknown = tally(&rows).unknown_to(&retail);
        assert_eq!((unknown.events, unknown.unknown), (100, 93));
        assert!(unknown.is_most(UNKNOWN_WARN_SHARE));
        let top: Vec<(&str, u64, Vec<String>)> = unknown
            .top
            .iter()
            .map(|kind| (kind.kind.as_str(), kind.count, kind.known_by.clone()))
            .collect();
        assert_eq!(
            top,
            [
                (kinds::APP_START, 50, vec!["wealth".to_owned()]),
                (kinds::VIEW_PRODUCT, 30, vec!["wealth".to_owned()]),
                (kinds::INVEST, 10, vec!["wealth".to_owned()]),
                ("mystery", 3, vec![]),
            ]
        );
        let line = unknown.describe("retail");
        assert!(
            line.starts_with("93.0% of events (93 of 100)")
                && line.contains("app_start 50 (preset wealth)")
                && line.contains("mystery 3 (no preset)"),
            "{line}"
        );
        // Retail expects browsing it does not read.
        let browsing = tally(&[(kinds::BROWSE, 60), (kinds::PURCHASE, 40)]);
        assert_eq!(browsing.unknown_to(&retail).unknown, 0);
        let wealth = LifecycleModel::preset("wealth").unwrap();
        let known = tally(&rows).unknown_to(&wealth);
        assert_eq!(known.unknown, 10);
        assert!(!known.is_most(UNKNOWN_WARN_SHARE));
    }

    #[test]
    fn merged_tallies_add_up() {
        let mut left = tally(&[("a", 2), ("b", 1)]);
        let mut right = tally(&[("b", 4)]);
        right.add("c", 3);
        left.merge(right);
        assert_eq!(
            (left.events(), left.count("b"), left.count("c")),
            (10, 5, 3)
        );
        assert!(
            !KindTally::new()
                .unknown_to(&LifecycleModel::preset("sns").unwrap())
                .is_most(0.0)
        );
    }
}
