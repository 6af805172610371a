//! The pyramid: users per layer, value tier, quadrant and best channel of
//! one version, kept as counters that every batch adjusts, so `Stats` never
//! scans.
//!
//! The store stays ignorant of the record format: the caller gives it a
//! [`Classifier`] that maps an encoded profile to its [`Facets`] (short
//! labels). Counters are one small text record per version in the `meta`
//! family (`pyramid@<generation>`), rewritten in the same `WriteBatch` as
//! the batch that changed them, so they always describe exactly the
//! profiles stored. A version without such a record (the migrated `initial`
//! version, a data folder from before counters, counters written by another
//! classifier) is counted by one full scan when the store opens.
//!
//! Labels come from stored records, which producers write: each is cut to
//! [`MAX_LABEL_BYTES`] and each dimension holds at most [`MAX_LABELS`]
//! labels; later new labels are counted under [`OTHER`]. Entries are kept
//! at zero so that a label folded into [`OTHER`] stays folded and its
//! decrement finds the same counter.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use crate::keys::{cf_name, pyramid_generation, pyramid_key};
use crate::{Store, StoreError};

/// Maps an encoded profile to its facets. Implemented by the caller, which
/// knows the record format.
pub trait Classifier: Send + Sync + std::fmt::Debug {
    /// Names the classification and its label spelling; counters stored
    /// under another id are recomputed at open.
    fn id(&self) -> &str;
    /// The facets of one stored record. Must not fail: an unreadable record
    /// gets labels that say so.
    fn facets(&self, record: &[u8]) -> Facets;
}

/// The labels one profile is counted under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    pub layer: LayerKey,
    pub tier: String,
    pub quadrant: String,
    pub channel: String,
}

/// A layer as the pyramid counts it and transitions name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerKey {
    /// Position in the model's order; [`NO_LAYER_INDEX`] when the record has
    /// no layer.
    pub index: u32,
    /// True for a layer's churned state.
    pub churned: bool,
    /// e.g. `growth`, or `growth (lapsed buyer)` for its churned state;
    /// empty when the record has no layer.
    pub label: String,
}

/// The index of "no layer" and of [`OTHER`] layers: they sort last.
pub const NO_LAYER_INDEX: u32 = u32::MAX;
/// Longest label kept, in bytes.
pub const MAX_LABEL_BYTES: usize = 96;
/// Most labels per dimension.
pub const MAX_LABELS: usize = 256;
/// Where labels beyond [`MAX_LABELS`] are counted.
pub const OTHER: &str = "(other)";

const PYRAMID_MAGIC: &str = "strata-pyramid 1";

impl Facets {
    /// Labels as stored: bounded, on one line.
    pub(crate) fn normalised(mut self) -> Facets {
        for label in [
            &mut self.layer.label,
            &mut self.tier,
            &mut self.quadrant,
            &mut self.channel,
        ] {
            normalise(label);
        }
        self
    }
}

fn normalise(label: &mut String) {
    // Labels are nearly always short printable ASCII: check bytes first.
    if label.len() <= MAX_LABEL_BYTES && label.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
        return;
    }
    if label.chars().any(char::is_control) {
        *label = label
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
    }
    if label.len() > MAX_LABEL_BYTES {
        let mut end = MAX_LABEL_BYTES;
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        label.truncate(end);
    }
}

/// Users of one version by layer, tier, quadrant and best channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pyramid {
    pub users: u64,
    /// In layer order, a layer's active state before its churned state.
    /// Labels seen once stay, possibly at 0.
    pub layers: BTreeMap<LayerKey, u64>,
    pub tiers: BTreeMap<String, u64>,
    pub quadrants: BTreeMap<String, u64>,
    pub channels: BTreeMap<String, u64>,
}

impl Pyramid {
    pub(crate) fn add(&mut self, facets: &Facets) {
        self.users += 1;
        self.adjust(facets, true);
    }

    pub(crate) fn remove(&mut self, facets: &Facets) {
        self.users = self.users.saturating_sub(1);
        self.adjust(facets, false);
    }

    fn adjust(&mut self, facets: &Facets, up: bool) {
        let other_layer = || LayerKey {
            index: NO_LAYER_INDEX,
            churned: false,
            label: OTHER.to_owned(),
        };
        let other = || OTHER.to_owned();
        bump(&mut self.layers, &facets.layer, other_layer, up);
        bump(&mut self.tiers, &facets.tier, other, up);
        bump(&mut self.quadrants, &facets.quadrant, other, up);
        bump(&mut self.channels, &facets.channel, other, up);
    }

    pub(crate) fn encode(&self, classifier_id: &str) -> Vec<u8> {
        let mut text = format!(
            "{PYRAMID_MAGIC}\nclassifier\t{}\nusers\t{}\n",
            one_line(classifier_id),
            self.users
        );
        for (key, count) in &self.layers {
            let _ = writeln!(
                text,
                "layer\t{}\t{}\t{count}\t{}",
                key.index,
                u8::from(key.churned),
                key.label
            );
        }
        for (kind, counts) in [
            ("tier", &self.tiers),
            ("quadrant", &self.quadrants),
            ("channel", &self.channels),
        ] {
            for (label, count) in counts {
                let _ = writeln!(text, "{kind}\t{count}\t{label}");
            }
        }
        text.into_bytes()
    }

    /// The counters and the id of the classifier that made them.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Pyramid, String), String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let mut lines = text.lines();
        if lines.next() != Some(PYRAMID_MAGIC) {
            return Err("unknown pyramid format".into());
        }
        let mut pyramid = Pyramid::default();
        let mut classifier = None;
        for line in lines {
            let number = |text: &str| {
                text.parse::<u64>()
                    .map_err(|_| format!("bad number {text:?} in {line:?}"))
            };
            let fields: Vec<&str> = line.splitn(5, '\t').collect();
            match fields.as_slice() {
                ["classifier", id] => classifier = Some((*id).to_owned()),
                ["users", users] => pyramid.users = number(users)?,
                ["layer", index, churned, count, label] => {
                    let key = LayerKey {
                        index: number(index)?
                            .try_into()
                            .map_err(|_| format!("bad layer index in {line:?}"))?,
                        churned: *churned == "1",
                        label: (*label).to_owned(),
                    };
                    pyramid.layers.insert(key, number(count)?);
                }
                [kind, count, label] => {
                    let counts = match *kind {
                        "tier" => &mut pyramid.tiers,
                        "quadrant" => &mut pyramid.quadrants,
                        "channel" => &mut pyramid.channels,
                        _ => return Err(format!("unreadable line {line:?}")),
                    };
                    counts.insert((*label).to_owned(), number(count)?);
                }
                _ => return Err(format!("unreadable line {line:?}")),
            }
        }
        let classifier = classifier.ok_or("no classifier line")?;
        Ok((pyramid, classifier))
    }
}

/// Counts `key`, or `other` once the dimension is full. `other` is made
/// only then: this runs twice per upsert.
fn bump<K: Ord + Clone>(
    counts: &mut BTreeMap<K, u64>,
    key: &K,
    other: impl FnOnce() -> K,
    up: bool,
) {
    let counter = if let Some(counter) = counts.get_mut(key) {
        counter
    } else if counts.len() < MAX_LABELS {
        counts.entry(key.clone()).or_default()
    } else {
        counts.entry(other()).or_default()
    };
    *counter = if up {
        counter.saturating_add(1)
    } else {
        counter.saturating_sub(1)
    };
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Store {
    /// The serving version's model version and counters; `None` when the
    /// store was opened without a classifier.
    pub fn pyramid(&self) -> Option<(String, Arc<Pyramid>)> {
        self.classifier.as_ref()?;
        // Both under the catalog's read lock: a rollback cannot come
        // between the name and the counters.
        let catalog = self.read_catalog();
        let record = catalog.current_record();
        let pyramid = self.lock_pyramids().get(&record.generation()).cloned()?;
        Some((record.model_version.clone(), pyramid))
    }

    /// A kept version's counters. Open counts every kept version and
    /// publish adds the new one, so the scan here is a safety net.
    pub(crate) fn pyramid_of(&self, generation: u64) -> Result<Arc<Pyramid>, StoreError> {
        if let Some(pyramid) = self.lock_pyramids().get(&generation) {
            return Ok(pyramid.clone());
        }
        let pyramid = Arc::new(self.count_version(generation)?);
        self.lock_pyramids().insert(generation, pyramid.clone());
        Ok(pyramid)
    }

    /// Counts a version by reading every record: once per version without
    /// stored counters, at open.
    fn count_version(&self, generation: u64) -> Result<Pyramid, StoreError> {
        let mut pyramid = Pyramid::default();
        let Some(classifier) = &self.classifier else {
            return Ok(pyramid);
        };
        let name = cf_name(generation);
        let family = self
            .db
            .cf_handle(&name)
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("the column family {name} of a kept version is missing"),
            })?;
        let started = Instant::now();
        for entry in self.db.iterator_cf(&family, rocksdb::IteratorMode::Start) {
            let (_, value) = entry.map_err(StoreError::Read)?;
            pyramid.add(&classifier.facets(&value).normalised());
        }
        tracing::info!(
            family = name,
            users = pyramid.users,
            elapsed = ?started.elapsed(),
            "counted a version by a full scan (no stored counters)"
        );
        Ok(pyramid)
    }

    /// At open: drops counters of versions no longer kept; loads the kept
    /// versions' counters, counting (and storing) those without any or
    /// with another classifier's.
    pub(crate) fn recover_pyramids(&self, kept: Vec<u64>) -> Result<(), StoreError> {
        let meta = self.meta();
        let prefix = b"pyramid@";
        for entry in self.db.iterator_cf(
            &meta,
            rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
        ) {
            let (key, _) = entry.map_err(StoreError::Read)?;
            if !key.starts_with(prefix) {
                break;
            }
            if pyramid_generation(&key).is_none_or(|generation| !kept.contains(&generation)) {
                self.db.delete_cf(&meta, &key).map_err(StoreError::Write)?;
            }
        }
        let Some(classifier) = &self.classifier else {
            return Ok(());
        };
        for generation in kept {
            let stored = self
                .db
                .get_pinned_cf(&meta, pyramid_key(generation))
                .map_err(StoreError::Read)?
                .map(|bytes| Pyramid::decode(&bytes));
            let pyramid = match stored {
                Some(Ok((pyramid, id))) if id == classifier.id() => pyramid,
                stored => {
                    if let Some(Err(reason)) = stored {
                        tracing::warn!(
                            generation,
                            reason,
                            "stored counters unreadable; recounting"
                        );
                    }
                    let pyramid = self.count_version(generation)?;
                    self.db
                        .put_cf(
                            &meta,
                            pyramid_key(generation),
                            pyramid.encode(classifier.id()),
                        )
                        .map_err(StoreError::Write)?;
                    pyramid
                }
            };
            self.lock_pyramids().insert(generation, Arc::new(pyramid));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facets(layer: &str, index: u32, tier: &str) -> Facets {
        Facets {
            layer: LayerKey {
                index,
                churned: layer.contains('('),
                label: layer.into(),
            },
            tier: tier.into(),
            quadrant: "ANGEL".into(),
            channel: "EMAIL".into(),
        }
    }

    #[test]
    fn counts_round_trip() {
        let mut pyramid = Pyramid::default();
        pyramid.add(&facets("growth", 2, "HIGH"));
        pyramid.add(&facets("growth (lapsed buyer)", 2, "LOW"));
        pyramid.add(&facets("new", 0, "LOW"));
        pyramid.remove(&facets("new", 0, "LOW"));
        let encoded = pyramid.encode("test 1");
        let (decoded, id) = Pyramid::decode(&encoded).unwrap();
        assert_eq!(id, "test 1");
        assert_eq!(decoded.users, 2);
        assert_eq!(decoded.tiers["LOW"], 1);
        assert_eq!(decoded, pyramid);
        // Emptied labels stay, at zero.
        assert_eq!(decoded.layers.len(), 3);
    }

    #[test]
    fn labels_beyond_the_limit_fold_into_other_and_back() {
        let mut pyramid = Pyramid::default();
        for index in 0..MAX_LABELS + 5 {
            pyramid.add(&facets(&format!("l{index}"), 0, "t"));
        }
        let other = LayerKey {
            index: NO_LAYER_INDEX,
            churned: false,
            label: OTHER.into(),
        };
        assert_eq!(pyramid.layers.len(), MAX_LABELS + 1);
        assert_eq!(pyramid.layers[&other], 5);
        pyramid.remove(&facets(&format!("l{}", MAX_LABELS + 2), 0, "t"));
        assert_eq!(pyramid.layers[&other], 4);
    }

    #[test]
    fn labels_are_bounded_and_on_one_line() {
        let long = "x".repeat(300) + "\n";
        let normalised = facets(&long, 0, "a\tb").normalised();
        assert_eq!(normalised.layer.label.len(), MAX_LABEL_BYTES);
        assert_eq!(normalised.tier, "a b");
    }

    #[test]
    fn keys() {
        assert_eq!(pyramid_generation(&pyramid_key(7)), Some(7));
        assert_eq!(pyramid_generation(b"catalog"), None);
    }
}
