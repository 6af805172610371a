//! Field masks on `Profile`: which top-level fields a caller wants back.
//!
//! A mask is parsed once per request into a bit set, so applying it per
//! profile is a handful of branches. A path may be spelled in snake_case
//! (`value_tier`, the proto name) or lowerCamelCase (`valueTier`, the proto3
//! JSON name that grpcurl, the README and JSON-minded callers write).

use crate::v1::Profile;

/// Top-level `Profile` fields a mask may name, in proto field order.
pub const PROFILE_FIELDS: [&str; 18] = [
    "user_id",
    "lifecycle",
    "value_tier",
    "lifetime_value",
    "quadrant",
    "propensity",
    "contact_channel",
    "benefits",
    "computed_at",
    "model_version",
    "tags",
    "campaigns",
    "last_purchase_at",
    "global_control",
    "churn",
    "next_order",
    "send_time",
    "dropped_benefits",
];

/// The same fields' lowerCamelCase (proto3 JSON) names, in the same order.
pub const PROFILE_FIELDS_CAMEL_CASE: [&str; 18] = [
    "userId",
    "lifecycle",
    "valueTier",
    "lifetimeValue",
    "quadrant",
    "propensity",
    "contactChannel",
    "benefits",
    "computedAt",
    "modelVersion",
    "tags",
    "campaigns",
    "lastPurchaseAt",
    "globalControl",
    "churn",
    "nextOrder",
    "sendTime",
    "droppedBenefits",
];

/// The position in `PROFILE_FIELDS` of the field `path` names, in either spelling.
pub fn profile_field_position(path: &str) -> Option<usize> {
    PROFILE_FIELDS
        .iter()
        .zip(PROFILE_FIELDS_CAMEL_CASE)
        .position(|(snake, camel)| *snake == path || camel == path)
}

/// A parsed mask: bit i keeps `PROFILE_FIELDS[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileMask(u32);

// Every field has its bit: a shift past the width would wrap onto field 0
// in a release build and keep `user_id` for the last field instead.
const _: () = assert!(PROFILE_FIELDS.len() <= u32::BITS as usize);

/// A mask path that names no `Profile` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPath {
    pub index: usize,
    pub path: String,
}

impl std::fmt::Display for UnknownPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "field_mask.paths[{}] {:?} is not a Profile field; use one of: {} \
             (or the lowerCamelCase spelling, e.g. valueTier)",
            self.index,
            self.path,
            PROFILE_FIELDS.join(", ")
        )
    }
}

impl ProfileMask {
    /// `None` for an absent or empty mask: the caller wants whole profiles.
    pub fn parse(
        mask: Option<&prost_types::FieldMask>,
    ) -> Result<Option<ProfileMask>, UnknownPath> {
        let Some(mask) = mask.filter(|mask| !mask.paths.is_empty()) else {
            return Ok(None);
        };
        let mut bits = 0u32;
        for (index, path) in mask.paths.iter().enumerate() {
            let position = profile_field_position(path).ok_or_else(|| UnknownPath {
                index,
                path: path.clone(),
            })?;
            bits |= 1 << position;
        }
        Ok(Some(ProfileMask(bits)))
    }

    fn keeps(self, field: &str) -> bool {
        let position = PROFILE_FIELDS
            .iter()
            .position(|known| *known == field)
            .expect("field names below are PROFILE_FIELDS");
        self.0 & (1 << position) != 0
    }

    /// Clears every field the mask does not keep.
    pub fn apply(self, profile: &mut Profile) {
        if !self.keeps("user_id") {
            profile.user_id.clear();
        }
        if !self.keeps("lifecycle") {
            profile.lifecycle = None;
        }
        if !self.keeps("value_tier") {
            profile.value_tier = None;
        }
        if !self.keeps("lifetime_value") {
            profile.lifetime_value = None;
        }
        if !self.keeps("quadrant") {
            profile.quadrant = None;
        }
        if !self.keeps("propensity") {
            profile.propensity = None;
        }
        if !self.keeps("contact_channel") {
            profile.contact_channel = None;
        }
        if !self.keeps("benefits") {
            profile.benefits.clear();
        }
        if !self.keeps("computed_at") {
            profile.computed_at = None;
        }
        if !self.keeps("model_version") {
            profile.model_version.clear();
        }
        if !self.keeps("tags") {
            profile.tags.clear();
        }
        if !self.keeps("campaigns") {
            profile.campaigns.clear();
        }
        if !self.keeps("last_purchase_at") {
            profile.last_purchase_at = None;
        }
        if !self.keeps("global_control") {
            profile.global_control = false;
        }
        if !self.keeps("churn") {
            profile.churn = None;
        }
        if !self.keeps("next_order") {
            profile.next_order = None;
        }
        if !self.keeps("send_time") {
            profile.send_time = None;
        }
        if !self.keeps("dropped_benefits") {
            profile.dropped_benefits.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Lifecycle, ValueTier};

    fn mask(paths: &[&str]) -> prost_types::FieldMask {
        prost_types::FieldMask {
            paths: paths.iter().map(|path| path.to_string()).collect(),
        }
    }

    #[test]
    fn empty_mask_means_everything() {
        assert_eq!(ProfileMask::parse(None), Ok(None));
        assert_eq!(ProfileMask::parse(Some(&mask(&[]))), Ok(None));
    }

    #[test]
    fn unknown_path_names_its_index() {
        let error = ProfileMask::parse(Some(&mask(&["value_tier", "tier"]))).unwrap_err();
        assert_eq!(error.index, 1);
        assert!(
            error
                .to_string()
                .starts_with("field_mask.paths[1] \"tier\"")
        );
    }

    /// protoc's lowerCamelCase: drop each underscore, upper-case the letter after it.
    fn lower_camel_case(snake: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for character in snake.chars() {
            match character {
                '_' => upper = true,
                _ if upper => {
                    out.push(character.to_ascii_uppercase());
                    upper = false;
                }
                _ => out.push(character),
            }
        }
        out
    }

    #[test]
    fn camel_case_names_are_the_json_names_of_the_same_fields() {
        for (snake, camel) in PROFILE_FIELDS.iter().zip(PROFILE_FIELDS_CAMEL_CASE) {
            assert_eq!(lower_camel_case(snake), camel);
        }
    }

    #[test]
    fn both_spellings_name_the_same_field() {
        let snake = ProfileMask::parse(Some(&mask(&[
            "lifecycle",
            "value_tier",
            "last_purchase_at",
        ])));
        let camel = ProfileMask::parse(Some(&mask(&["lifecycle", "valueTier", "lastPurchaseAt"])));
        let mixed = ProfileMask::parse(Some(&mask(&["value_tier", "lastPurchaseAt", "lifecycle"])));
        assert!(snake.as_ref().unwrap().is_some());
        assert_eq!(snake, camel);
        assert_eq!(snake, mixed);
        // Neither spelling's near misses: other capitalisations are not names.
        for wrong in ["ValueTier", "valuetier", "value-tier", "VALUE_TIER"] {
            assert!(
                ProfileMask::parse(Some(&mask(&[wrong]))).is_err(),
                "{wrong}"
            );
        }
    }

    #[test]
    fn keeps_only_named_fields() {
        let mut profile = Profile {
            user_id: "u".into(),
            lifecycle: Some(Lifecycle::default()),
            value_tier: Some(ValueTier::default()),
            propensity: Some(0.5),
            model_version: "m1".into(),
            ..Profile::default()
        };
        ProfileMask::parse(Some(&mask(&["value_tier", "user_id"])))
            .unwrap()
            .unwrap()
            .apply(&mut profile);
        assert_eq!(
            profile,
            Profile {
                user_id: "u".into(),
                value_tier: Some(ValueTier::default()),
                ..Profile::default()
            }
        );
    }

    #[test]
    fn each_field_alone_keeps_itself_and_clears_user_id() {
        for (position, field) in PROFILE_FIELDS.iter().enumerate() {
            let parsed = ProfileMask::parse(Some(&mask(&[field]))).unwrap().unwrap();
            assert_eq!(parsed, ProfileMask(1 << position), "{field}");
            let mut profile = Profile {
                user_id: "u".into(),
                ..Profile::default()
            };
            parsed.apply(&mut profile);
            assert_eq!(profile.user_id.is_empty(), *field != "user_id", "{field}");
        }
    }
}
