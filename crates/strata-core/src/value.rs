//! Value tiers from RFM scores: quintiles fitted over the purchasing
//! population, summed into high, medium and low, plus the named RFM segment
//! that tells operations what to do next.
//!
//! Separate from the lifecycle because it is relative: a score compares a
//! user with everyone else who bought, so it needs a fitted population.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::event::UnixMillis;
use crate::history::{UserHistory, day_of};

/// Tier thresholds on the summed R + F + M score (3 to 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValueConfig {
    pub high_min_score: u8,
    pub medium_min_score: u8,
}

impl Default for ValueConfig {
    fn default() -> Self {
        ValueConfig {
            high_min_score: 12,
            medium_min_score: 8,
        }
    }
}

impl ValueConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if !(4..=15).contains(&self.medium_min_score) {
            return Err(Error::ValueConfig {
                key: "medium_min_score",
                reason: format!("{} is outside 4..=15", self.medium_min_score),
            });
        }
        if !(self.medium_min_score < self.high_min_score && self.high_min_score <= 15) {
            return Err(Error::ValueConfig {
                key: "high_min_score",
                reason: format!(
                    "{} must be above medium_min_score ({}) and at most 15",
                    self.high_min_score, self.medium_min_score
                ),
            });
        }
        Ok(())
    }
}

/// What RFM reads of one purchasing user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmInput {
    /// Whole UTC days from the last purchase day to the as-of day.
    pub days_since_last_purchase: i64,
    pub purchase_days: u32,
    pub total_spend: f64,
}

impl RfmInput {
    /// `None` for a user who never bought: RFM says nothing about them.
    pub fn from_history(history: &UserHistory, as_of: UnixMillis) -> Option<Self> {
        let last = history.last_purchase_day()?;
        Some(RfmInput {
            days_since_last_purchase: i64::from(day_of(as_of)) - i64::from(last),
            purchase_days: u32::try_from(history.purchase_day_count()).unwrap_or(u32::MAX),
            total_spend: history.total_spend(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    High,
    Medium,
    Low,
}

impl Tier {
    /// The name reports and the wire use.
    pub fn name(self) -> &'static str {
        match self {
            Tier::High => "HIGH",
            Tier::Medium => "MEDIUM",
            Tier::Low => "LOW",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueAssessment {
    pub tier: Tier,
    /// 1 (long ago) to 5 (recent).
    pub recency_score: u8,
    pub frequency_score: u8,
    pub monetary_score: u8,
    pub segment: &'static str,
}

/// Quintile cut points of one measure, oriented so higher is better.
///
/// A value scores 1 plus the number of cut points it is strictly above, so
/// equal values always score the same, and a tied block scores at the bottom
/// of the quintiles it spans: when most buyers bought once, one purchase day
/// is F = 1, as the RFM segment names expect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Quintiles {
    /// Infinite when nobody bought: written `null` in a model file.
    #[serde(with = "crate::serde_float::cuts")]
    cuts: [f64; 4],
}

impl Quintiles {
    /// An empty population leaves cut points at infinity: every score is 1.
    fn fit(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let count = values.len();
        let cut = |quintile: usize| {
            // The last value of the lower `quintile` fifths (nearest rank).
            let rank = (quintile * count).div_ceil(5);
            values
                .get(rank.saturating_sub(1))
                .copied()
                .unwrap_or(f64::INFINITY)
        };
        Quintiles {
            cuts: [cut(1), cut(2), cut(3), cut(4)],
        }
    }

    fn score(&self, value: f64) -> u8 {
        1 + self.cuts.iter().filter(|cut| value > **cut).count() as u8
    }
}

/// RFM scores fitted over a purchasing population (the cut points are the
/// model file's `value` section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueScorer {
    config: ValueConfig,
    recency: Quintiles,
    frequency: Quintiles,
    monetary: Quintiles,
}

impl ValueScorer {
    /// Fits quintiles over `inputs`, the users with at least one purchase.
    pub fn fit(
        config: ValueConfig,
        inputs: impl IntoIterator<Item = RfmInput>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let (mut recency, mut frequency, mut monetary) = (Vec::new(), Vec::new(), Vec::new());
        for input in inputs {
            recency.push(recency_value(&input));
            frequency.push(f64::from(input.purchase_days));
            monetary.push(input.total_spend);
        }
        Ok(ValueScorer {
            config,
            recency: Quintiles::fit(recency),
            frequency: Quintiles::fit(frequency),
            monetary: Quintiles::fit(monetary),
        })
    }

    pub fn score(&self, input: &RfmInput) -> ValueAssessment {
        let recency_score = self.recency.score(recency_value(input));
        let frequency_score = self.frequency.score(f64::from(input.purchase_days));
        let monetary_score = self.monetary.score(input.total_spend);
        let total = recency_score + frequency_score + monetary_score;
        let tier = if total >= self.config.high_min_score {
            Tier::High
        } else if total >= self.config.medium_min_score {
            Tier::Medium
        } else {
            Tier::Low
        };
        ValueAssessment {
            tier,
            recency_score,
            frequency_score,
            monetary_score,
            segment: segment(recency_score, frequency_score),
        }
    }
}

/// Fewer days since the last purchase is better, so negate to share the
/// higher-is-better quintiles (and their tie rule) with F and M.
fn recency_value(input: &RfmInput) -> f64 {
    -(input.days_since_last_purchase as f64)
}

/// The named segment of an R and F score pair.
///
/// This is the R x F grid widely published with the segment names of
/// Putler's RFM guide (the `seg_map` of the common "RFM analysis" tutorials:
/// `[1-2][1-2]` hibernating, `[1-2][3-4]` at risk, `[1-2]5` can't lose,
/// `3[1-2]` about to sleep, `33` need attention, `[3-4][4-5]` loyal, `41`
/// promising, `51` new customers, `[4-5][2-3]` potential loyalist, `5[4-5]`
/// champions). That grid has no "Lost"; Putler's table puts Lost at the
/// lowest recency and frequency, so R = F = 1 is carved out of Hibernating.
fn segment(recency: u8, frequency: u8) -> &'static str {
    match (recency, frequency) {
        (..=1, ..=1) => "Lost",
        (..=2, ..=2) => "Hibernating",
        (..=2, 3 | 4) => "At Risk",
        (..=2, _) => "Cannot Lose Them",
        (3, ..=2) => "About To Sleep",
        (3, 3) => "Need Attention",
        (..=4, 4..) => "Loyal",
        (4, ..=1) => "Promising",
        (_, ..=1) => "New Customers",
        (_, ..=3) => "Potential Loyalist",
        _ => "Champions",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(days_since_last_purchase: i64, purchase_days: u32, total_spend: f64) -> RfmInput {
        RfmInput {
            days_since_last_purchase,
            purchase_days,
            total_spend,
        }
    }

    fn check(population: &[RfmInput], expected: &[(u8, u8, u8, Tier)]) {
        let scorer = ValueScorer::fit(ValueConfig::default(), population.iter().copied()).unwrap();
        let actual: Vec<(u8, u8, u8, Tier)> = population
            .iter()
            .map(|input| {
                let assessment = scorer.score(input);
                (
                    assessment.recency_score,
                    assessment.frequency_score,
                    assessment.monetary_score,
                    assessment.tier,
                )
            })
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn distinct_values_fill_each_quintile() {
        let population: Vec<RfmInput> = (1..=10)
            .map(|rank| input(100 - i64::from(rank) * 10, rank, f64::from(rank) * 1.5))
            .collect();
        let expected: Vec<(u8, u8, u8, Tier)> = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
            .into_iter()
            .map(|score| {
                let tier = match score * 3 {
                    12.. => Tier::High,
                    8.. => Tier::Medium,
                    _ => Tier::Low,
                };
                (score, score, score, tier)
            })
            .collect();
        check(&population, &expected);
    }

    #[test]
    fn ties_score_equally_at_the_bottom_of_their_span() {
        // Six one-time buyers of ten, all bought ten days ago and spent 5.
        let mut population = vec![input(10, 1, 5.0); 6];
        population.extend([input(1, 2, 50.0), input(1, 2, 50.0), input(0, 3, 80.0)]);
        population.push(input(0, 9, 900.0));
        check(
            &population,
            &[
                (1, 1, 1, Tier::Low),
                (1, 1, 1, Tier::Low),
                (1, 1, 1, Tier::Low),
                (1, 1, 1, Tier::Low),
                (1, 1, 1, Tier::Low),
                (1, 1, 1, Tier::Low),
                (4, 4, 4, Tier::High),
                (4, 4, 4, Tier::High),
                (5, 5, 5, Tier::High),
                (5, 5, 5, Tier::High),
            ],
        );
        // A single user, or identical users, tie everywhere.
        check(&[input(3, 2, 10.0); 3], &[(1, 1, 1, Tier::Low); 3]);
    }

    #[test]
    fn segments_cover_the_grid() {
        let cases = [
            ((5, 5), "Champions"),
            ((5, 4), "Champions"),
            ((4, 5), "Loyal"),
            ((3, 4), "Loyal"),
            ((5, 2), "Potential Loyalist"),
            ((4, 3), "Potential Loyalist"),
            ((5, 1), "New Customers"),
            ((4, 1), "Promising"),
            ((3, 3), "Need Attention"),
            ((3, 1), "About To Sleep"),
            ((2, 3), "At Risk"),
            ((1, 4), "At Risk"),
            ((1, 5), "Cannot Lose Them"),
            ((2, 2), "Hibernating"),
            ((2, 1), "Hibernating"),
            ((1, 1), "Lost"),
        ];
        for ((recency, frequency), expected) in cases {
            assert_eq!(
                segment(recency, frequency),
                expected,
                "R{recency} F{frequency}"
            );
        }
    }

    #[test]
    fn input_comes_from_purchases_only() {
        use crate::event::kinds;
        use crate::history::MILLIS_PER_DAY as DAY;
        use crate::lifecycle::LifecycleModel;
        use crate::lifecycle::history_tests::{event, fold};

        let model = LifecycleModel::preset("retail").unwrap();
        let browsing = fold(&model, &[event(kinds::BROWSE, DAY, None)]);
        assert_eq!(RfmInput::from_history(&browsing, 9 * DAY), None);
        let buying = fold(
            &model,
            &[
                event(kinds::PURCHASE, DAY, Some(4.0)),
                event(kinds::PURCHASE, DAY + 1, Some(6.0)),
                event(kinds::PURCHASE, 3 * DAY, None),
            ],
        );
        assert_eq!(
            RfmInput::from_history(&buying, 9 * DAY),
            Some(input(6, 2, 10.0))
        );
    }

    #[test]
    fn config_is_checked() {
        let bad = ValueConfig {
            high_min_score: 8,
            medium_min_score: 8,
        };
        let error = ValueScorer::fit(bad, []).unwrap_err();
        assert!(error.to_string().contains("high_min_score"), "{error}");
        let parsed: ValueConfig = toml::from_str("high_min_score = 13").unwrap();
        assert_eq!(parsed.medium_min_score, 8);
        assert!(toml::from_str::<ValueConfig>("high = 13").is_err());
    }
}
