//! `strata get`: look users up (BatchGetProfiles) and print each as a
//! readable block, or as one proto3 JSON object per line (`--json`). Also
//! the human rendering of a benefit, which `strata offers` shares.

use std::fmt::Write as _;

use clap::Args;
use strata_client::ProfileClient;
use strata_client::json::rfc3339;
use strata_proto::field_mask::{PROFILE_FIELDS, profile_field_position};
use strata_proto::v1::{
    Arm, Benefit, BenefitKind, CampaignArm, Channel, ContactChannel, Lifecycle, LifetimeValue,
    ProfileResult, Quadrant, QuadrantKind, SendTime, Tier, ValueTier,
};

use super::client_args::ServerArgs;
use super::output::out;

/// The exit status when a user asked for is unknown (the others are printed
/// as usual); errors exit 1, usage errors 2.
pub const EXIT_NOT_FOUND: i32 = 3;

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The users to look up (at most the server's batch size, 1,000 by default).
    #[arg(required = true, value_name = "USER")]
    pub users: Vec<String>,
    /// Only these Profile fields, comma-separated, in snake_case or
    /// lowerCamelCase (e.g. lifecycle,valueTier) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub fields: Vec<String>,
    /// One proto3 JSON object per user and line ({"userId", "profile"};
    /// an unknown user has no "profile").
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn run(args: GetArgs) -> anyhow::Result<()> {
    let connection = args.server.connection()?;
    let fields: Vec<&str> = args
        .fields
        .iter()
        .map(|field| field.trim())
        .filter(|field| !field.is_empty())
        .collect();
    let answer = async {
        let mut client = ProfileClient::new(connection.connect().await?);
        client.batch_get(args.users.iter().cloned(), &fields).await
    }
    .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return Err(connection.explain(error).await.into()),
    };
    let shown = Shown::new(&fields);
    let mut out = String::new();
    for (index, result) in answer.results.iter().enumerate() {
        if args.json {
            out.push_str(&strata_client::json::profile_result(result).to_string());
            out.push('\n');
        } else {
            if index > 0 {
                out.push('\n');
            }
            out.push_str(&profile_block(result, shown));
        }
    }
    out!("{out}")?;
    if !answer.missing_indices.is_empty() {
        let missing: Vec<&str> = answer
            .missing_indices
            .iter()
            .filter_map(|&index| answer.results.get(index as usize))
            .map(|result| result.user_id.as_str())
            .collect();
        eprintln!("not found: {}", missing.join(", "));
        exit_not_found();
    }
    Ok(())
}

/// Exits with [`EXIT_NOT_FOUND`] after flushing what was printed.
pub fn exit_not_found() -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(EXIT_NOT_FOUND)
}

/// Which Profile fields were asked for: absent ones among them are shown as
/// "not computed", the others not at all.
#[derive(Debug, Clone, Copy)]
struct Shown(u16);

impl Shown {
    fn new(fields: &[&str]) -> Shown {
        if fields.is_empty() {
            return Shown(u16::MAX);
        }
        Shown(
            fields
                .iter()
                .filter_map(|field| profile_field_position(field))
                .fold(0, |bits, position| bits | 1 << position),
        )
    }

    fn has(self, field: &str) -> bool {
        PROFILE_FIELDS
            .iter()
            .position(|known| *known == field)
            .is_some_and(|position| self.0 & (1 << position) != 0)
    }
}

/// One user as a block: the id, then a line per field asked for.
fn profile_block(result: &ProfileResult, shown: Shown) -> String {
    let Some(profile) = &result.profile else {
        return format!("{}: not found\n", result.user_id);
    };
    let mut block = format!("{}\n", result.user_id);
    let mut line = |label: &str, text: Option<String>, field: &str| {
        if shown.has(field) {
            let text = text.unwrap_or_else(|| "not computed".to_owned());
            let _ = writeln!(block, "  {label:<16}{text}");
        }
    };
    line(
        "layer",
        profile.lifecycle.as_ref().map(lifecycle),
        "lifecycle",
    );
    line(
        "value tier",
        profile.value_tier.as_ref().map(value_tier),
        "value_tier",
    );
    line(
        "quadrant",
        profile.quadrant.as_ref().map(quadrant),
        "quadrant",
    );
    line(
        "lifetime value",
        profile.lifetime_value.as_ref().map(lifetime_value),
        "lifetime_value",
    );
    line(
        "propensity",
        profile.propensity.map(|p| format!("{p:.3}")),
        "propensity",
    );
    line(
        "channel",
        profile.contact_channel.as_ref().map(contact_channel),
        "contact_channel",
    );
    line(
        "send time",
        profile.send_time.as_ref().map(send_time),
        "send_time",
    );
    line("benefits", Some(benefits(&profile.benefits)), "benefits");
    line(
        "tags",
        Some(if profile.tags.is_empty() {
            "none".to_owned()
        } else {
            let tags: Vec<String> = profile
                .tags
                .iter()
                .map(|tag| format!("{}={}", tag.key, tag.values.join(",")))
                .collect();
            tags.join("; ")
        }),
        "tags",
    );
    line(
        "campaigns",
        Some(if profile.campaigns.is_empty() {
            "none".to_owned()
        } else {
            let arms: Vec<String> = profile.campaigns.iter().map(campaign).collect();
            arms.join(&format!("\n  {:<16}", ""))
        }),
        "campaigns",
    );
    line(
        "last purchase",
        Some(
            profile
                .last_purchase_at
                .as_ref()
                .map_or_else(|| "none (never bought)".to_owned(), rfc3339),
        ),
        "last_purchase_at",
    );
    line(
        "global control",
        Some(if profile.global_control {
            "yes (held out of every offer and campaign)".to_owned()
        } else {
            "no".to_owned()
        }),
        "global_control",
    );
    line(
        "churn",
        profile.churn.as_ref().map(|churn| {
            format!(
                "{:.4} no purchase in {} days ({})",
                churn.probability, churn.horizon_days, churn.method
            )
        }),
        "churn",
    );
    line(
        "next order",
        profile.next_order.as_ref().map(|next| {
            let at = next
                .expected_at
                .as_ref()
                .map_or_else(|| "none".to_owned(), rfc3339);
            format!(
                "{at}, typical gap {:.1} days ({})",
                next.typical_gap_days, next.method
            )
        }),
        "next_order",
    );
    line(
        "computed at",
        profile.computed_at.as_ref().map(rfc3339),
        "computed_at",
    );
    line(
        "model version",
        (!profile.model_version.is_empty()).then(|| profile.model_version.clone()),
        "model_version",
    );
    block
}

fn lifecycle(lifecycle: &Lifecycle) -> String {
    let mut text = format!(
        "{} ({} preset, layer {})",
        lifecycle.layer, lifecycle.preset, lifecycle.layer_index
    );
    if lifecycle.churned {
        let label = if lifecycle.churn_label.is_empty() {
            "churned"
        } else {
            &lifecycle.churn_label
        };
        let _ = write!(text, ", churned: {label}");
    }
    text
}

fn value_tier(tier: &ValueTier) -> String {
    let name = word(
        Tier::try_from(tier.tier)
            .ok()
            .map(|tier| tier.as_str_name()),
        tier.tier,
        "TIER_",
    );
    let mut text = format!(
        "{name} (R{} F{} M{}",
        tier.recency_score, tier.frequency_score, tier.monetary_score
    );
    if !tier.rfm_segment.is_empty() {
        let _ = write!(text, ", {}", tier.rfm_segment);
    }
    text.push(')');
    text
}

fn quadrant(quadrant: &Quadrant) -> String {
    let name = word(
        QuadrantKind::try_from(quadrant.kind)
            .ok()
            .map(|kind| kind.as_str_name()),
        quadrant.kind,
        "QUADRANT_KIND_",
    );
    let satisfaction = quadrant
        .satisfaction_score
        .map_or_else(|| "no signal".to_owned(), |score| format!("{score:.2}"));
    format!(
        "{name} (loyalty {:.2}, satisfaction {satisfaction})",
        quadrant.loyalty_score
    )
}

fn lifetime_value(value: &LifetimeValue) -> String {
    format!(
        "{:.2} {} over {} days (alive {:.2}, {:.2} purchases expected)",
        value.predicted_value,
        value.currency,
        value.horizon_days,
        value.probability_alive,
        value.expected_purchases
    )
}

fn send_time(send_time: &SendTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let hour = send_time.hour_of_week;
    let day = DAYS.get((hour / 24) as usize).copied().unwrap_or("?");
    let whose = if send_time.fallback {
        "the population's hour"
    } else {
        "the user's own"
    };
    format!(
        "{day} {:02}:00 UTC ({whose}; {} responses to {} sends, rate {:.3})",
        hour % 24,
        send_time.responses,
        send_time.sends,
        send_time.rate
    )
}

fn contact_channel(channel: &ContactChannel) -> String {
    let scores: Vec<String> = channel
        .scores
        .iter()
        .map(|score| format!("{} {:.2}", channel_word(score.channel), score.score))
        .collect();
    let best = if channel.frequency_capped {
        "none: frequency cap reached".to_owned()
    } else {
        channel_word(channel.best)
    };
    let best = if channel.not_enough_data {
        format!("{best}, in the population's order: not enough data")
    } else {
        best
    };
    if scores.is_empty() {
        best
    } else {
        format!("{best} ({})", scores.join(", "))
    }
}

fn campaign(arm: &CampaignArm) -> String {
    let side = word(
        Arm::try_from(arm.arm).ok().map(|arm| arm.as_str_name()),
        arm.arm,
        "ARM_",
    );
    let day = |at: Option<String>| at.map_or_else(|| "none".to_owned(), |at| at[..10].to_owned());
    format!(
        "{}: {side}, {} by {}, {} to {}",
        arm.campaign_id,
        arm.benefit_id,
        channel_word(arm.channel),
        day(arm.start.as_ref().map(rfc3339)),
        day(arm.end.as_ref().map(rfc3339))
    )
}

fn benefits(benefits: &[Benefit]) -> String {
    if benefits.is_empty() {
        return "none".to_owned();
    }
    let lines: Vec<String> = benefits
        .iter()
        .enumerate()
        .map(|(rank, benefit)| benefit_line(rank + 1, benefit))
        .collect();
    lines.join(&format!("\n  {:<16}", ""))
}

/// `1. coupon-5: 5.00 EUR off, minimum spend 20.00 EUR; expected profit 2.10 EUR`.
pub fn benefit_line(rank: usize, benefit: &Benefit) -> String {
    let currency = benefit.currency.as_str();
    let kind = BenefitKind::try_from(benefit.kind).unwrap_or(BenefitKind::Unspecified);
    let mut text = format!("{rank}. {}: ", benefit.benefit_id);
    match kind {
        BenefitKind::Coupon => {
            let _ = write!(text, "{} off", money(benefit.face_value, currency));
        }
        BenefitKind::Discount => {
            let percent = benefit.face_value as f64 / 100.0;
            let _ = write!(text, "{percent}% off");
        }
        BenefitKind::Points => {
            let _ = write!(text, "{} points", benefit.face_value);
        }
        BenefitKind::FreeShipping => {
            let _ = write!(
                text,
                "free shipping (worth {})",
                money(benefit.face_value, currency)
            );
        }
        BenefitKind::Unspecified => {
            let _ = write!(
                text,
                "kind {}, face value {}",
                benefit.kind, benefit.face_value
            );
        }
    }
    if benefit.minimum_spend > 0 {
        let _ = write!(
            text,
            ", minimum spend {}",
            money(benefit.minimum_spend, currency)
        );
    }
    if let Some(until) = &benefit.valid_until {
        let _ = write!(text, ", until {}", rfc3339(until));
    }
    if let Some(from) = &benefit.valid_from {
        let _ = write!(text, ", from {}", rfc3339(from));
    }
    let _ = write!(
        text,
        "; expected profit {:.2} {currency}",
        benefit.expected_incremental_profit
    );
    if benefit.fairness_required {
        text.push_str(" (listed for fairness)");
    }
    text
}

/// ISO 4217 currencies whose minor unit is not a hundredth: none (JPY) or a
/// thousandth (KWD). Every other code is shown with two decimals.
const ZERO_DECIMALS: [&str; 17] = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const THREE_DECIMALS: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// Digits after the decimal point in `currency`'s major unit.
pub fn currency_decimals(currency: &str) -> u32 {
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMALS.contains(&code.as_str()) {
        0
    } else if THREE_DECIMALS.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// An amount in minor units, shown in major units: `495, EUR` is `4.95 EUR`.
pub fn money(minor: i64, currency: &str) -> String {
    let decimals = currency_decimals(currency);
    let scale = 10i64.pow(decimals);
    let sign = if minor < 0 { "-" } else { "" };
    let (whole, part) = (
        minor.unsigned_abs() / scale as u64,
        minor.unsigned_abs() % scale as u64,
    );
    if decimals == 0 {
        format!("{sign}{whole} {currency}")
    } else {
        format!(
            "{sign}{whole}.{part:0width$} {currency}",
            width = decimals as usize
        )
    }
}

/// `TIER_HIGH` -> `high`; a number the contract does not know is shown as one.
fn word(name: Option<&'static str>, number: i32, prefix: &str) -> String {
    match name {
        Some(name) => {
            let word = name.strip_prefix(prefix).unwrap_or(name);
            word.to_ascii_lowercase().replace('_', " ")
        }
        None => format!("unknown ({number})"),
    }
}

fn channel_word(channel: i32) -> String {
    word(
        Channel::try_from(channel)
            .ok()
            .map(|channel| channel.as_str_name()),
        channel,
        "CHANNEL_",
    )
}

#[cfg(test)]
mod tests {
    use strata_proto::v1::{Profile, ValueTier};

    use super::*;

    #[test]
    fn money_uses_the_currency_minor_unit() {
        assert_eq!(money(495, "EUR"), "4.95 EUR");
        assert_eq!(money(5, "usd"), "0.05 usd");
        assert_eq!(money(-1250, "EUR"), "-12.50 EUR");
        assert_eq!(money(500, "JPY"), "500 JPY");
        assert_eq!(money(1500, "KWD"), "1.500 KWD");
    }

    #[test]
    fn a_block_shows_the_fields_asked_for_and_says_what_is_missing() {
        let result = ProfileResult {
            user_id: "u1".into(),
            profile: Some(Profile {
                value_tier: Some(ValueTier {
                    tier: Tier::High as i32,
                    recency_score: 5,
                    frequency_score: 4,
                    monetary_score: 3,
                    rfm_segment: "Champions".into(),
                }),
                ..Profile::default()
            }),
        };
        let block = profile_block(&result, Shown::new(&["lifecycle", "valueTier"]));
        assert_eq!(
            block,
            "u1\n  layer           not computed\n  value tier      high (R5 F4 M3, Champions)\n"
        );
        let missing = ProfileResult {
            user_id: "nobody".into(),
            profile: None,
        };
        assert_eq!(
            profile_block(&missing, Shown::new(&[])),
            "nobody: not found\n"
        );
    }

    #[test]
    fn benefits_read_as_offers() {
        let coupon = Benefit {
            benefit_id: "coupon-5".into(),
            kind: BenefitKind::Coupon as i32,
            face_value: 500,
            currency: "EUR".into(),
            minimum_spend: 2000,
            expected_incremental_profit: 2.1,
            ..Benefit::default()
        };
        assert_eq!(
            benefit_line(1, &coupon),
            "1. coupon-5: 5.00 EUR off, minimum spend 20.00 EUR; expected profit 2.10 EUR"
        );
        let discount = Benefit {
            benefit_id: "ten".into(),
            kind: BenefitKind::Discount as i32,
            face_value: 1000,
            currency: "EUR".into(),
            fairness_required: true,
            policy: String::new(),
            ..Benefit::default()
        };
        assert_eq!(
            benefit_line(2, &discount),
            "2. ten: 10% off; expected profit 0.00 EUR (listed for fairness)"
        );
    }
}
