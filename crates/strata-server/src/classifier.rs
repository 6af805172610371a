//! The store's classifier: a stored profile's pyramid labels (layer, value
//! tier, quadrant, best channel), read by a partial decode that skips every
//! other field.
//!
//! Labels are `strata_core::labels`, which `strata recompute`'s summary also
//! uses, so the served pyramid and the job's printed one compare line by line.

use prost::Message;
use strata_core::labels::{NO_CHANNEL, NO_QUADRANT, NO_TIER, UNREADABLE};
use strata_store::facets::NO_LAYER_INDEX;
use strata_store::{Classifier, Facets, LayerKey};

use strata_proto::v1;

/// The fields of `Profile` the pyramid needs; prost skips the others
/// (benefits, tags, campaigns) without allocating.
#[derive(Clone, PartialEq, Message)]
struct ProfileFacets {
    #[prost(message, optional, tag = "2")]
    lifecycle: Option<v1::Lifecycle>,
    #[prost(message, optional, tag = "3")]
    value_tier: Option<TierOnly>,
    #[prost(message, optional, tag = "5")]
    quadrant: Option<QuadrantOnly>,
    #[prost(message, optional, tag = "7")]
    contact_channel: Option<ChannelOnly>,
}

#[derive(Clone, PartialEq, Message)]
struct TierOnly {
    #[prost(int32, tag = "1")]
    tier: i32,
}

#[derive(Clone, PartialEq, Message)]
struct QuadrantOnly {
    #[prost(int32, tag = "1")]
    kind: i32,
}

#[derive(Clone, PartialEq, Message)]
struct ChannelOnly {
    #[prost(int32, tag = "1")]
    best: i32,
}

/// Classifies stored `Profile` encodings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileClassifier;

impl Classifier for ProfileClassifier {
    fn id(&self) -> &str {
        "strata-profile-facets 1"
    }

    fn facets(&self, record: &[u8]) -> Facets {
        match ProfileFacets::decode(record) {
            Ok(profile) => facets(profile),
            Err(_) => Facets {
                layer: LayerKey {
                    index: NO_LAYER_INDEX,
                    churned: false,
                    label: UNREADABLE.into(),
                },
                tier: UNREADABLE.into(),
                quadrant: UNREADABLE.into(),
                channel: UNREADABLE.into(),
            },
        }
    }
}

/// The layer label of a profile's lifecycle: `growth`, or `growth (lapsed
/// buyer)` for its churned state; empty without a lifecycle.
pub fn layer_label(lifecycle: &v1::Lifecycle) -> String {
    strata_core::labels::layer_label(&lifecycle.layer, lifecycle.churned, &lifecycle.churn_label)
}

/// Takes the decoded fields by value: an active layer's name becomes its
/// label without a copy (this runs twice per ingested upsert).
fn facets(profile: ProfileFacets) -> Facets {
    let layer = profile
        .lifecycle
        .map_or_else(no_layer, |lifecycle| LayerKey {
            index: lifecycle.layer_index,
            churned: lifecycle.churned,
            label: if lifecycle.churned {
                layer_label(&lifecycle)
            } else {
                lifecycle.layer
            },
        });
    let tier = match profile.value_tier.as_ref().map(|value| value.tier) {
        None | Some(0) => NO_TIER.to_owned(),
        Some(number) => enum_label(
            v1::Tier::try_from(number).map(|t| t.as_str_name()),
            number,
            "TIER_",
        ),
    };
    let quadrant = match profile.quadrant.as_ref().map(|quadrant| quadrant.kind) {
        None | Some(0) => NO_QUADRANT.to_owned(),
        Some(number) => enum_label(
            v1::QuadrantKind::try_from(number).map(|kind| kind.as_str_name()),
            number,
            "QUADRANT_KIND_",
        ),
    };
    let channel = match profile.contact_channel.as_ref().map(|channel| channel.best) {
        None | Some(0) => NO_CHANNEL.to_owned(),
        Some(number) => enum_label(
            v1::Channel::try_from(number).map(|channel| channel.as_str_name()),
            number,
            "CHANNEL_",
        ),
    };
    Facets {
        layer,
        tier,
        quadrant,
        channel,
    }
}

/// `TIER_HIGH` -> `HIGH`, as the domain names it; an enum number this build
/// does not know stays visible as such.
fn enum_label<E>(name: Result<&'static str, E>, number: i32, prefix: &str) -> String {
    match name {
        Ok(name) => name.strip_prefix(prefix).unwrap_or(name).to_owned(),
        Err(_) => format!("unknown ({number})"),
    }
}

fn no_layer() -> LayerKey {
    LayerKey {
        index: NO_LAYER_INDEX,
        churned: false,
        label: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_the_recompute_summary() {
        let profile = v1::Profile {
            user_id: "u".into(),
            lifecycle: Some(v1::Lifecycle {
                preset: "retail".into(),
                layer: "buyer".into(),
                layer_index: 1,
                churned: true,
                churn_label: "lapsed buyer".into(),
            }),
            value_tier: Some(v1::ValueTier {
                tier: v1::Tier::High.into(),
                ..Default::default()
            }),
            contact_channel: Some(v1::ContactChannel {
                best: v1::Channel::AppPush.into(),
                ..Default::default()
            }),
            benefits: vec![v1::Benefit::default(); 3],
            ..Default::default()
        };
        let facets = ProfileClassifier.facets(&profile.encode_to_vec());
        assert_eq!(facets.layer.label, "buyer (lapsed buyer)");
        assert_eq!((facets.layer.index, facets.layer.churned), (1, true));
        assert_eq!(facets.tier, "HIGH");
        assert_eq!(facets.quadrant, NO_QUADRANT);
        assert_eq!(facets.channel, "APP_PUSH");

        let empty = ProfileClassifier.facets(&v1::Profile::default().encode_to_vec());
        assert_eq!(empty.layer.label, "");
        assert_eq!(empty.tier, NO_TIER);
        assert_eq!(ProfileClassifier.facets(b"\xff\xff").tier, UNREADABLE);
    }
}
