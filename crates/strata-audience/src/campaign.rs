//! Campaigns and their random holdouts: the TOML that declares campaigns,
//! and the salted hash that puts each member in the treatment or the
//! control arm.
//!
//! The arm is a pure function of (campaign id, user id, holdout share), so
//! it is the same on every rerun and machine, does not depend on the order
//! users are seen in, and two campaigns (different ids) split independently.

use std::collections::BTreeSet;

use strata_core::{CHANNELS, UnixMillis};
use twox_hash::XxHash3_64;

use crate::document::{Document, allowed_list};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arm {
    /// Receives the campaign's benefit.
    Treatment,
    /// Held back: not offered the benefit, measured as the baseline.
    Control,
}

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Arm::Treatment => "treatment",
            Arm::Control => "control",
        }
    }
}

/// The user's uniform draw in [0, 1) for a campaign.
///
/// XXH3-64 over (length of the campaign id as 8 little-endian bytes,
/// campaign id, user id): the length prefix keeps ("ab", "c") and ("a",
/// "bc") apart. The top 53 bits become the fraction, every one of which an
/// f64 holds exactly.
pub fn holdout_draw(campaign_id: &str, user_id: &str) -> f64 {
    let mut bytes = Vec::with_capacity(8 + campaign_id.len() + user_id.len());
    bytes.extend_from_slice(&(campaign_id.len() as u64).to_le_bytes());
    bytes.extend_from_slice(campaign_id.as_bytes());
    bytes.extend_from_slice(user_id.as_bytes());
    let hash = XxHash3_64::oneshot(&bytes);
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Control when the user's draw falls below `holdout_share`.
pub fn assign(campaign_id: &str, user_id: &str, holdout_share: f64) -> Arm {
    if holdout_draw(campaign_id, user_id) < holdout_share {
        Arm::Control
    } else {
        Arm::Treatment
    }
}

/// One campaign: who it targets, what it offers, where, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: String,
    /// The audience's name.
    pub audience: String,
    /// Share of the audience held back, in (0, 1).
    pub holdout_share: f64,
    pub benefit_id: String,
    /// One of [`strata_core::CHANNELS`].
    pub channel: String,
    /// Inclusive.
    pub start: UnixMillis,
    /// Exclusive.
    pub end: UnixMillis,
}

impl Campaign {
    pub fn arm(&self, user_id: &str) -> Arm {
        assign(&self.id, user_id, self.holdout_share)
    }

    pub fn is_running(&self, at: UnixMillis) -> bool {
        (self.start..self.end).contains(&at)
    }

    /// Parses a file of `[[campaign]]` tables (see the crate docs).
    pub fn parse_all(text: &str, known: &KnownNames) -> Result<Vec<Campaign>, Error> {
        let (document, root) = Document::parse(text)?;
        let root = toml::Spanned::new(root.span(), toml::de::DeValue::Table(root.into_inner()));
        let top = document.table(&root, "the file", &["campaign"])?;
        let list = top.required("campaign", "the file")?;
        let toml::de::DeValue::Array(items) = list.get_ref() else {
            return Err(document.error(
                list.span(),
                "campaigns are `[[campaign]]` tables, one per campaign",
            ));
        };
        let mut campaigns: Vec<Campaign> = Vec::with_capacity(items.len());
        let mut ids = BTreeSet::new();
        for item in items.iter() {
            let campaign = campaign(&document, item, known)?;
            if !ids.insert(campaign.id.clone()) {
                return Err(document.error(
                    item.span(),
                    format!("campaign id `{}` is used twice", campaign.id),
                ));
            }
            campaigns.push(campaign);
        }
        Ok(campaigns)
    }
}

/// Names a campaign file is checked against; `None` skips the check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownNames {
    pub audiences: Option<BTreeSet<String>>,
    pub benefits: Option<BTreeSet<String>>,
}

const CAMPAIGN_KEYS: [&str; 7] = [
    "id",
    "audience",
    "holdout_share",
    "benefit_id",
    "channel",
    "start",
    "end",
];

fn campaign(
    document: &Document<'_>,
    value: &crate::document::Value<'_>,
    known: &KnownNames,
) -> Result<Campaign, Error> {
    let context = "[[campaign]]";
    let table = document.table(value, context, &CAMPAIGN_KEYS)?;
    let text = |key: &str| -> Result<String, Error> {
        let value = table.required(key, context)?;
        let text = document.string(value, key)?;
        if text.trim().is_empty() || text.trim() != text {
            return Err(document.error(
                value.span(),
                format!("`{key}` is empty or has spaces around it"),
            ));
        }
        Ok(text)
    };
    let member_of = |key: &str, names: &Option<BTreeSet<String>>, what: &str| {
        let given = text(key)?;
        match names {
            Some(names) if !names.contains(&given) => Err(document.error(
                table.required(key, context)?.span(),
                format!(
                    "unknown {what} `{given}`; known: {}",
                    allowed_list(names.iter().map(String::as_str))
                ),
            )),
            _ => Ok(given),
        }
    };
    let id = text("id")?;
    let audience = member_of("audience", &known.audiences, "audience")?;
    let benefit_id = member_of("benefit_id", &known.benefits, "benefit")?;
    let channel = text("channel")?;
    if !CHANNELS.contains(&channel.as_str()) {
        return Err(document.error(
            table.required("channel", context)?.span(),
            format!(
                "unknown channel `{channel}`; allowed: {}",
                allowed_list(CHANNELS)
            ),
        ));
    }

    let share_value = table.required("holdout_share", context)?;
    let holdout_share = document.number(share_value, "holdout_share")?;
    if !(holdout_share > 0.0 && holdout_share < 1.0) {
        return Err(document.error(
            share_value.span(),
            format!(
                "`holdout_share` is {holdout_share}; it must be in (0, 1): \
                 a campaign without a control arm cannot be measured"
            ),
        ));
    }
    let start = document.instant(table.required("start", context)?, "start")?;
    let end_value = table.required("end", context)?;
    let end = document.instant(end_value, "end")?;
    if end <= start {
        return Err(document.error(end_value.span(), "`end` must be after `start`"));
    }
    Ok(Campaign {
        id,
        audience,
        holdout_share,
        benefit_id,
        channel,
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_fixed_numbers() {
        // Pinned so a change of hash, byte layout or mapping is noticed:
        // arms already served must not move.
        assert_eq!(holdout_draw("spring", "u1"), 0.818565499055147);
        assert_ne!(holdout_draw("ab", "c"), holdout_draw("a", "bc"));
        assert_eq!(assign("spring", "u1", 0.0), Arm::Treatment);
        assert_eq!(assign("spring", "u1", 1.0), Arm::Control);
    }

    fn arms(campaign: &str, users: &[String], share: f64) -> Vec<(String, Arm)> {
        let mut arms: Vec<(String, Arm)> = users
            .iter()
            .map(|user| (user.clone(), assign(campaign, user, share)))
            .collect();
        arms.sort();
        arms
    }

    #[test]
    fn arms_are_stable_and_independent_of_order() {
        let users: Vec<String> = (0..1000).map(|index| format!("user-{index}")).collect();
        let mut reversed = users.clone();
        reversed.reverse();
        let first = arms("winback", &users, 0.2);
        assert_eq!(first, arms("winback", &users, 0.2));
        assert_eq!(first, arms("winback", &reversed, 0.2));
    }

    #[test]
    fn holdout_share_is_within_binomial_tolerance() {
        let users = 100_000;
        for share in [0.05, 0.1, 0.5] {
            let control = (0..users)
                .filter(|index| assign("share-test", &format!("u{index}"), share) == Arm::Control)
                .count() as f64;
            let expected = share * users as f64;
            let sigma = (users as f64 * share * (1.0 - share)).sqrt();
            assert!(
                (control - expected).abs() < 4.0 * sigma,
                "share {share}: {control} in control, expected {expected} +- {}",
                4.0 * sigma
            );
        }
    }

    #[test]
    fn arms_of_two_campaigns_are_independent() {
        // A 2x2 table of the two campaigns' arms on 100k users, tested with
        // Pearson's chi-square (1 degree of freedom): 15.1 is its 99.99th
        // percentile, so a correct hash fails this about once in 10,000 ids.
        let (first_share, second_share) = (0.3, 0.5);
        let mut table = [[0f64; 2]; 2];
        let users = 100_000;
        for index in 0..users {
            let user = format!("u{index}");
            let first = assign("campaign-a", &user, first_share) == Arm::Control;
            let second = assign("campaign-b", &user, second_share) == Arm::Control;
            table[usize::from(first)][usize::from(second)] += 1.0;
        }
        let total = users as f64;
        let rows = [table[0][0] + table[0][1], table[1][0] + table[1][1]];
        let columns = [table[0][0] + table[1][0], table[0][1] + table[1][1]];
        let mut chi_square = 0.0;
        for row in 0..2 {
            for column in 0..2 {
                let expected = rows[row] * columns[column] / total;
                chi_square += (table[row][column] - expected).powi(2) / expected;
            }
        }
        assert!(
            chi_square < 15.1,
            "chi-square {chi_square}, table {table:?}"
        );
        // The same campaign id against itself is as dependent as can be.
        let same = (0..1000)
            .filter(|index| {
                let user = format!("u{index}");
                assign("campaign-a", &user, 0.3) == assign("campaign-a", &user, 0.3)
            })
            .count();
        assert_eq!(same, 1000);
    }

    const GOOD: &str = r#"
[[campaign]]
id = "spring-winback"
audience = "lapsed-high-value"
holdout_share = 0.1
benefit_id = "coupon-10"
channel = "sms"
start = 2024-03-01
end = 2024-04-01T00:00:00Z

[[campaign]]
id = "push-test"
audience = "model-top"
holdout_share = 0.5
benefit_id = "free-shipping"
channel = "app_push"
start = 2024-03-01T08:00:00+08:00
end = 2024-03-08
"#;

    #[test]
    fn campaigns_parse() {
        let campaigns = Campaign::parse_all(GOOD, &KnownNames::default()).unwrap();
        assert_eq!(campaigns.len(), 2);
        let first = &campaigns[0];
        assert_eq!(
            (
                first.id.as_str(),
                first.audience.as_str(),
                first.holdout_share
            ),
            ("spring-winback", "lapsed-high-value", 0.1)
        );
        assert_eq!(
            (first.start, first.end),
            (1_709_251_200_000, 1_711_929_600_000)
        );
        assert!(first.is_running(first.start));
        assert!(!first.is_running(first.end));
        assert_eq!(
            campaigns[1].start, 1_709_251_200_000,
            "08:00+08:00 is midnight UTC"
        );
        assert_eq!(first.arm("u1"), assign("spring-winback", "u1", 0.1));
    }

    fn check_error(text: &str, known: &KnownNames, line: usize, fragments: &[&str]) {
        let error = Campaign::parse_all(text, known).unwrap_err();
        assert_eq!(error.line(), Some(line), "{error}");
        let message = error.to_string();
        for fragment in fragments {
            assert!(message.contains(fragment), "`{fragment}` not in: {message}");
        }
    }

    #[test]
    fn bad_campaigns_name_the_line() {
        let none = KnownNames::default();
        check_error(
            &GOOD.replace("channel = \"sms\"", "channel = \"fax\""),
            &none,
            7,
            &["unknown channel `fax`", "sms, app_push, wechat, email"],
        );
        check_error(
            &GOOD.replace("holdout_share = 0.1", "holdout_share = 0"),
            &none,
            5,
            &["must be in (0, 1)"],
        );
        check_error(
            &GOOD.replace("benefit_id = \"coupon-10\"", "benefit = \"coupon-10\""),
            &none,
            6,
            &["unknown key `benefit`", "benefit_id"],
        );
        check_error(
            &GOOD.replace("end = 2024-04-01T00:00:00Z", "end = 2024-02-01"),
            &none,
            9,
            &["`end` must be after `start`"],
        );
        check_error(
            &GOOD.replace("push-test", "spring-winback"),
            &none,
            11,
            &["used twice"],
        );
        let known = KnownNames {
            audiences: Some(["lapsed-high-value".to_owned()].into()),
            benefits: None,
        };
        check_error(
            GOOD,
            &known,
            13,
            &["unknown audience `model-top`", "lapsed-high-value"],
        );
        check_error("[campaign]\nid = \"x\"\n", &none, 1, &["[[campaign]]"]);
    }
}
