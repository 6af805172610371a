//! The read side's answers in proto3's canonical JSON mapping, for scripts
//! (`strata get --json`, `strata offers --json`): lowerCamelCase names,
//! fields at their default value left out (a proto3 `optional` field that is
//! set is always written), 64-bit integers as strings, enums by name,
//! timestamps in RFC 3339 UTC. The same text any protobuf library's JSON
//! printer gives (the gRPC tests compare it with Python's `json_format`).
//!
//! Written by hand for the handful of read-side messages instead of a
//! reflection or serde code generator: no dependency, no build step.

use prost_types::Timestamp;
use serde_json::{Map, Value};
use strata_proto::v1::{
    Arm, Benefit, BenefitKind, CampaignArm, Channel, ChannelScore, Churn, ContactChannel, DropRule,
    DroppedBenefit, GetOffersResponse, Lifecycle, LifetimeValue, NextOrder, OfferExplanation,
    OfferVerdict, OffersExplanation, Profile, ProfileResult, Quadrant, QuadrantKind, SendTime, Tag,
    Tier, ValueTier,
};

/// `{"userId": ..., "profile": {...}}`; an unknown user has no `profile`.
pub fn profile_result(result: &ProfileResult) -> Value {
    let mut object = Object::default();
    object.string("userId", &result.user_id);
    object.message("profile", result.profile.as_ref().map(profile));
    object.finish()
}

/// `{"offers": [...], "coldStart": true}`, as GetOffers answered.
pub fn offers(response: &GetOffersResponse) -> Value {
    let mut object = Object::default();
    object.list("offers", response.offers.iter().map(benefit));
    object.boolean("coldStart", response.cold_start);
    object.message(
        "explanation",
        response.explanation.as_ref().map(offers_explanation),
    );
    object.boolean("globalControlGroup", response.global_control_group);
    object.finish()
}

/// GetOffers' `explanation` (asked for with `explain`).
pub fn offers_explanation(explanation: &OffersExplanation) -> Value {
    let mut object = Object::default();
    object.list(
        "benefits",
        explanation.benefits.iter().map(offer_explanation),
    );
    object.string("modelVersion", &explanation.model_version);
    object.boolean("frequencyCapped", explanation.frequency_capped);
    object.list(
        "droppedByJob",
        explanation.dropped_by_job.iter().map(dropped_benefit),
    );
    object.finish()
}

fn offer_explanation(entry: &OfferExplanation) -> Value {
    let mut object = Object::default();
    object.message("benefit", entry.benefit.as_ref().map(benefit));
    object.enumeration(
        "verdict",
        entry.verdict,
        OfferVerdict::try_from(entry.verdict).map(|verdict| verdict.as_str_name()),
    );
    object.string("detail", &entry.detail);
    object.uint32("rank", entry.rank);
    object.string("campaignId", &entry.campaign_id);
    object.finish()
}

pub fn profile(profile: &Profile) -> Value {
    let mut object = Object::default();
    object.string("userId", &profile.user_id);
    object.message("lifecycle", profile.lifecycle.as_ref().map(lifecycle));
    object.message("valueTier", profile.value_tier.as_ref().map(value_tier));
    object.message(
        "lifetimeValue",
        profile.lifetime_value.as_ref().map(lifetime_value),
    );
    object.message("quadrant", profile.quadrant.as_ref().map(quadrant));
    object.present_double("propensity", profile.propensity);
    object.message(
        "contactChannel",
        profile.contact_channel.as_ref().map(contact_channel),
    );
    object.list("benefits", profile.benefits.iter().map(benefit));
    object.message("computedAt", profile.computed_at.as_ref().map(timestamp));
    object.string("modelVersion", &profile.model_version);
    object.list("tags", profile.tags.iter().map(tag));
    object.list("campaigns", profile.campaigns.iter().map(campaign_arm));
    object.message(
        "lastPurchaseAt",
        profile.last_purchase_at.as_ref().map(timestamp),
    );
    object.boolean("globalControl", profile.global_control);
    object.message("churn", profile.churn.as_ref().map(churn));
    object.message("nextOrder", profile.next_order.as_ref().map(next_order));
    object.message("sendTime", profile.send_time.as_ref().map(send_time));
    object.list(
        "droppedBenefits",
        profile.dropped_benefits.iter().map(dropped_benefit),
    );
    object.finish()
}

fn churn(churn: &Churn) -> Value {
    let mut object = Object::default();
    object.double("probability", churn.probability);
    object.uint32("horizonDays", churn.horizon_days);
    object.string("method", &churn.method);
    object.finish()
}

fn next_order(next: &NextOrder) -> Value {
    let mut object = Object::default();
    object.message("expectedAt", next.expected_at.as_ref().map(timestamp));
    object.double("typicalGapDays", next.typical_gap_days);
    object.string("method", &next.method);
    object.finish()
}

pub fn benefit(benefit: &Benefit) -> Value {
    let mut object = Object::default();
    object.string("benefitId", &benefit.benefit_id);
    object.enumeration(
        "kind",
        benefit.kind,
        BenefitKind::try_from(benefit.kind).map(|kind| kind.as_str_name()),
    );
    object.int64("faceValue", benefit.face_value);
    object.string("currency", &benefit.currency);
    object.int64("minimumSpend", benefit.minimum_spend);
    object.double(
        "expectedIncrementalProfit",
        benefit.expected_incremental_profit,
    );
    object.message("validFrom", benefit.valid_from.as_ref().map(timestamp));
    object.message("validUntil", benefit.valid_until.as_ref().map(timestamp));
    object.boolean("fairnessRequired", benefit.fairness_required);
    object.string("policy", &benefit.policy);
    object.string("cell", &benefit.cell);
    object.present_double("estimateLow", benefit.estimate_low);
    object.present_double("estimateHigh", benefit.estimate_high);
    object.finish()
}

fn dropped_benefit(dropped: &DroppedBenefit) -> Value {
    let mut object = Object::default();
    object.string("benefitId", &dropped.benefit_id);
    object.enumeration(
        "rule",
        dropped.rule,
        DropRule::try_from(dropped.rule).map(|rule| rule.as_str_name()),
    );
    object.double(
        "expectedIncrementalProfit",
        dropped.expected_incremental_profit,
    );
    object.string("replacedBy", &dropped.replaced_by);
    object.finish()
}

fn lifecycle(lifecycle: &Lifecycle) -> Value {
    let mut object = Object::default();
    object.string("preset", &lifecycle.preset);
    object.string("layer", &lifecycle.layer);
    object.uint32("layerIndex", lifecycle.layer_index);
    object.boolean("churned", lifecycle.churned);
    object.string("churnLabel", &lifecycle.churn_label);
    object.finish()
}

fn value_tier(tier: &ValueTier) -> Value {
    let mut object = Object::default();
    object.enumeration(
        "tier",
        tier.tier,
        Tier::try_from(tier.tier).map(|tier| tier.as_str_name()),
    );
    object.uint32("recencyScore", tier.recency_score);
    object.uint32("frequencyScore", tier.frequency_score);
    object.uint32("monetaryScore", tier.monetary_score);
    object.string("rfmSegment", &tier.rfm_segment);
    object.finish()
}

fn lifetime_value(value: &LifetimeValue) -> Value {
    let mut object = Object::default();
    object.double("predictedValue", value.predicted_value);
    object.double("probabilityAlive", value.probability_alive);
    object.double("expectedPurchases", value.expected_purchases);
    object.uint32("horizonDays", value.horizon_days);
    object.string("currency", &value.currency);
    object.finish()
}

fn quadrant(quadrant: &Quadrant) -> Value {
    let mut object = Object::default();
    object.enumeration(
        "kind",
        quadrant.kind,
        QuadrantKind::try_from(quadrant.kind).map(|kind| kind.as_str_name()),
    );
    object.double("loyaltyScore", quadrant.loyalty_score);
    object.present_double("satisfactionScore", quadrant.satisfaction_score);
    object.finish()
}

fn contact_channel(channel: &ContactChannel) -> Value {
    let mut object = Object::default();
    object.enumeration("best", channel.best, channel_name(channel.best));
    object.list("scores", channel.scores.iter().map(channel_score));
    object.boolean("frequencyCapped", channel.frequency_capped);
    object.boolean("notEnoughData", channel.not_enough_data);
    object.finish()
}

fn channel_score(score: &ChannelScore) -> Value {
    let mut object = Object::default();
    object.enumeration("channel", score.channel, channel_name(score.channel));
    object.double("score", score.score);
    object.uint32("sends", score.sends);
    object.uint32("responses", score.responses);
    object.finish()
}

fn send_time(send_time: &SendTime) -> Value {
    let mut object = Object::default();
    object.uint32("hourOfWeek", send_time.hour_of_week);
    object.boolean("fallback", send_time.fallback);
    object.uint32("sends", send_time.sends);
    object.uint32("responses", send_time.responses);
    object.double("rate", send_time.rate);
    object.finish()
}

fn tag(tag: &Tag) -> Value {
    let mut object = Object::default();
    object.string("key", &tag.key);
    object.list(
        "values",
        tag.values.iter().map(|value| Value::from(value.as_str())),
    );
    object.finish()
}

fn campaign_arm(arm: &CampaignArm) -> Value {
    let mut object = Object::default();
    object.string("campaignId", &arm.campaign_id);
    object.enumeration(
        "arm",
        arm.arm,
        Arm::try_from(arm.arm).map(|arm| arm.as_str_name()),
    );
    object.string("benefitId", &arm.benefit_id);
    object.enumeration("channel", arm.channel, channel_name(arm.channel));
    object.message("start", arm.start.as_ref().map(timestamp));
    object.message("end", arm.end.as_ref().map(timestamp));
    object.finish()
}

fn channel_name(channel: i32) -> Result<&'static str, prost::UnknownEnumValue> {
    Channel::try_from(channel).map(|channel| channel.as_str_name())
}

/// RFC 3339 in UTC, `Z`-terminated, with 0, 3, 6 or 9 fractional digits
/// (as few as the nanoseconds need), as proto3 JSON writes a Timestamp.
pub fn timestamp(at: &Timestamp) -> Value {
    Value::from(rfc3339(at))
}

pub fn rfc3339(at: &Timestamp) -> String {
    let nanos = at.nanos.clamp(0, 999_999_999) as u32;
    // Outside chrono's years (about +-262,000) only the seconds can be said.
    chrono::DateTime::from_timestamp(at.seconds, nanos).map_or_else(
        || format!("{}s", at.seconds),
        |moment| moment.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// A JSON object under construction that skips proto3 default values.
#[derive(Default)]
struct Object(Map<String, Value>);

impl Object {
    fn finish(self) -> Value {
        Value::Object(self.0)
    }

    fn put(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_owned(), value);
    }

    fn string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.put(name, Value::from(value));
        }
    }

    fn boolean(&mut self, name: &str, value: bool) {
        if value {
            self.put(name, Value::Bool(true));
        }
    }

    fn uint32(&mut self, name: &str, value: u32) {
        if value != 0 {
            self.put(name, Value::from(value));
        }
    }

    /// 64-bit integers are strings: JSON numbers lose precision past 2^53.
    fn int64(&mut self, name: &str, value: i64) {
        if value != 0 {
            self.put(name, Value::from(value.to_string()));
        }
    }

    fn double(&mut self, name: &str, value: f64) {
        if value != 0.0 {
            self.put(name, double(value));
        }
    }

    /// A proto3 `optional` double: written whenever it is set, zero included.
    fn present_double(&mut self, name: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.put(name, double(value));
        }
    }

    /// By name; a number the contract does not know (a newer server) as is.
    fn enumeration(
        &mut self,
        name: &str,
        number: i32,
        known: Result<&'static str, prost::UnknownEnumValue>,
    ) {
        if number != 0 {
            let value = known.map_or_else(|_| Value::from(number), Value::from);
            self.put(name, value);
        }
    }

    fn message(&mut self, name: &str, value: Option<Value>) {
        if let Some(value) = value {
            self.put(name, value);
        }
    }

    fn list(&mut self, name: &str, values: impl Iterator<Item = Value>) {
        let values: Vec<Value> = values.collect();
        if !values.is_empty() {
            self.put(name, Value::Array(values));
        }
    }
}

/// NaN and the infinities have no JSON number: proto3 writes them as strings.
fn double(value: f64) -> Value {
    if value.is_nan() {
        Value::from("NaN")
    } else if value.is_infinite() {
        Value::from(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Value::from(value)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_the_digits_the_nanos_need() {
        let cases = [
            (at(0, 0), "1970-01-01T00:00:00Z"),
            (at(1_735_689_600, 0), "2025-01-01T00:00:00Z"),
            (at(951_782_400, 0), "2000-02-29T00:00:00Z"),
            (at(1_709_251_199, 0), "2024-02-29T23:59:59Z"),
            (at(-1, 0), "1969-12-31T23:59:59Z"),
            (at(1, 500_000_000), "1970-01-01T00:00:01.500Z"),
            (at(1, 1_000), "1970-01-01T00:00:01.000001Z"),
            (at(1, 1), "1970-01-01T00:00:01.000000001Z"),
        ];
        for (timestamp, expected) in cases {
            assert_eq!(rfc3339(&timestamp), expected, "{timestamp:?}");
        }
    }

    #[test]
    fn defaults_are_left_out_and_set_optionals_kept() {
        let profile = Profile {
            user_id: "u1".into(),
            propensity: Some(0.0),
            quadrant: Some(Quadrant::default()),
            ..Profile::default()
        };
        assert_eq!(
            super::profile(&profile),
            json!({"userId": "u1", "propensity": 0.0, "quadrant": {}})
        );
    }

    #[test]
    fn benefits_use_json_names_string_int64_and_enum_names() {
        let benefit = Benefit {
            benefit_id: "coupon-5".into(),
            kind: BenefitKind::Coupon as i32,
            face_value: 500,
            currency: "EUR".into(),
            minimum_spend: 0,
            expected_incremental_profit: 2.5,
            valid_from: None,
            valid_until: Some(at(1_735_689_600, 0)),
            fairness_required: true,
            policy: String::new(),
            cell: String::new(),
            estimate_low: None,
            estimate_high: None,
        };
        assert_eq!(
            super::benefit(&benefit),
            json!({
                "benefitId": "coupon-5",
                "kind": "BENEFIT_KIND_COUPON",
                "faceValue": "500",
                "currency": "EUR",
                "expectedIncrementalProfit": 2.5,
                "validUntil": "2025-01-01T00:00:00Z",
                "fairnessRequired": true,
            })
        );
        let unknown_kind = Benefit {
            kind: 99,
            expected_incremental_profit: f64::NAN,
            ..Benefit::default()
        };
        assert_eq!(
            super::benefit(&unknown_kind),
            json!({"kind": 99, "expectedIncrementalProfit": "NaN"})
        );
    }

    #[test]
    fn an_unknown_user_has_no_profile_key() {
        let result = ProfileResult {
            user_id: "nobody".into(),
            profile: None,
        };
        assert_eq!(profile_result(&result), json!({"userId": "nobody"}));
    }
}
