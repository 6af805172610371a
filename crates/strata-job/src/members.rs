//! What an audience rule sees of a served profile: the conversion from a
//! stored `Profile` to a `strata_audience::Member`, used alike by the
//! recompute (over the run's profiles) and `strata audience` (over a
//! snapshot), so both pick the same users.

use strata_audience::Member;
use strata_core::{QuadrantKind, Tier, UnixMillis};

use strata_proto::v1;

const DAY_MILLIS: i64 = 86_400_000;

/// The member a profile describes as of `as_of` (the recompute's as-of, or
/// the snapshot header's): unset wire fields become unknown values.
///
/// Days since the last purchase count whole UTC days from the day of
/// `last_purchase_at` to the as-of day, as the RFM scores do; a profile
/// written before `last_purchase_at` existed has none, and a rule on it
/// does not match such a member.
pub fn member_from_profile(profile: &v1::Profile, as_of: UnixMillis) -> Member {
    let mut member = Member::new(profile.user_id.clone());
    if let Some(lifecycle) = &profile.lifecycle {
        member.layer = Some(lifecycle.layer.clone()).filter(|layer| !layer.is_empty());
        member.churned = Some(lifecycle.churned);
    }
    if let Some(value) = &profile.value_tier {
        member.tier = match v1::Tier::try_from(value.tier) {
            Ok(v1::Tier::High) => Some(Tier::High),
            Ok(v1::Tier::Medium) => Some(Tier::Medium),
            Ok(v1::Tier::Low) => Some(Tier::Low),
            _ => None,
        };
        member.rfm_segment = Some(value.rfm_segment.clone()).filter(|name| !name.is_empty());
    }
    member.quadrant =
        profile.quadrant.as_ref().and_then(|quadrant| {
            match v1::QuadrantKind::try_from(quadrant.kind) {
                Ok(v1::QuadrantKind::Angel) => Some(QuadrantKind::Angel),
                Ok(v1::QuadrantKind::Freeloader) => Some(QuadrantKind::Freeloader),
                Ok(v1::QuadrantKind::Hostage) => Some(QuadrantKind::Hostage),
                Ok(v1::QuadrantKind::Danger) => Some(QuadrantKind::Danger),
                _ => None,
            }
        });
    member.best_channel = profile
        .contact_channel
        .as_ref()
        .and_then(|channel| channel_name(channel.best))
        .map(str::to_owned);
    member.tags = profile
        .tags
        .iter()
        .filter(|tag| !tag.values.is_empty())
        .map(|tag| (tag.key.clone(), tag.values.clone()))
        .collect();
    member.propensity = profile.propensity;
    member.predicted_value = profile
        .lifetime_value
        .as_ref()
        .map(|value| value.predicted_value);
    member.days_since_last_purchase = profile.last_purchase_at.as_ref().and_then(|at| {
        let last_day = at.seconds.div_euclid(86_400);
        let days = as_of.div_euclid(DAY_MILLIS) - last_day;
        u32::try_from(days).ok()
    });
    member
}

/// The channel's name in `strata_core::CHANNELS`; `None` for UNSPECIFIED.
pub fn channel_name(channel: i32) -> Option<&'static str> {
    match v1::Channel::try_from(channel).ok()? {
        v1::Channel::Sms => Some("sms"),
        v1::Channel::AppPush => Some("app_push"),
        v1::Channel::Wechat => Some("wechat"),
        v1::Channel::Email => Some("email"),
        v1::Channel::Unspecified => None,
    }
}

/// The wire channel of a name in `strata_core::CHANNELS`.
pub fn channel_to_wire(name: &str) -> v1::Channel {
    match name {
        "sms" => v1::Channel::Sms,
        "app_push" => v1::Channel::AppPush,
        "wechat" => v1::Channel::Wechat,
        "email" => v1::Channel::Email,
        _ => v1::Channel::Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_are_unknown_and_set_ones_carry_over() {
        let empty = member_from_profile(
            &v1::Profile {
                user_id: "u".into(),
                ..v1::Profile::default()
            },
            0,
        );
        assert_eq!(empty, Member::new("u"));

        let profile = v1::Profile {
            user_id: "u".into(),
            lifecycle: Some(v1::Lifecycle {
                layer: "growth".into(),
                churned: true,
                ..v1::Lifecycle::default()
            }),
            value_tier: Some(v1::ValueTier {
                tier: v1::Tier::High.into(),
                rfm_segment: "At Risk".into(),
                ..v1::ValueTier::default()
            }),
            quadrant: Some(v1::Quadrant {
                kind: v1::QuadrantKind::Unspecified.into(),
                ..v1::Quadrant::default()
            }),
            contact_channel: Some(v1::ContactChannel {
                best: v1::Channel::AppPush.into(),
                ..v1::ContactChannel::default()
            }),
            tags: vec![v1::Tag {
                key: "region".into(),
                values: vec!["north".into()],
            }],
            propensity: Some(0.4),
            // 2024-12-30T00:00:00Z; as-of 2025-01-01T12:00:00Z is 2 days on.
            last_purchase_at: Some(prost_types::Timestamp {
                seconds: 1_735_516_800,
                nanos: 0,
            }),
            ..v1::Profile::default()
        };
        let member = member_from_profile(&profile, 1_735_732_800_000);
        assert_eq!(member.layer.as_deref(), Some("growth"));
        assert_eq!(member.churned, Some(true));
        assert_eq!(member.tier, Some(Tier::High));
        assert_eq!(member.rfm_segment.as_deref(), Some("At Risk"));
        assert_eq!(member.quadrant, None);
        assert_eq!(member.best_channel.as_deref(), Some("app_push"));
        assert_eq!(member.tags["region"], ["north"]);
        assert_eq!(member.days_since_last_purchase, Some(2));
    }
}
