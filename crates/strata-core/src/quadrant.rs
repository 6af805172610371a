//! The loyalty x satisfaction grouping: a behavioural loyalty score and an
//! attitudinal satisfaction score per user, split at thresholds into angel,
//! freeloader, hostage and danger.
//!
//! Both scores are on 0..=1 so fixed thresholds read the same for every
//! business; by default the thresholds are population medians instead, which
//! need a fit like the value scorer. A user with no satisfaction signal at all
//! gets no satisfaction score and no quadrant, rather than a guessed one.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::event::UnixMillis;
use crate::history::{UserHistory, day_of};

/// Days in the "month" the purchase rate is measured per.
const RATE_PERIOD_DAYS: f64 = 30.0;

/// Review and intent events at which engagement scores one half: a handful
/// of carts, favourites or reviews is a clear signal, and more only adds a
/// little.
const ENGAGEMENT_HALF_POINT: f64 = 4.0;

/// The two scores of one user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoyaltySatisfaction {
    /// 0..=1: the mean of the repeat share, the purchase rate and, when
    /// known, the share of wallet.
    pub loyalty: f64,
    /// 0..=1, or `None` without any rating, review or intent event.
    pub satisfaction: Option<f64>,
}

impl LoyaltySatisfaction {
    pub fn from_history(history: &UserHistory, as_of: UnixMillis) -> Self {
        LoyaltySatisfaction {
            loyalty: loyalty(history, as_of),
            satisfaction: satisfaction(history),
        }
    }
}

/// Repeat purchase, frequency and share of wallet, each on 0..=1.
fn loyalty(history: &UserHistory, as_of: UnixMillis) -> f64 {
    let days = history.purchase_day_count() as f64;
    // The share of purchase days that are repeats: 0 for a one-time buyer,
    // approaching 1 for a habitual one.
    let repeat = if days > 0.0 { (days - 1.0) / days } else { 0.0 };
    // Purchase days per month since the first purchase, capped at one a
    // month: a monthly buyer is as frequent as loyalty needs.
    let frequency = history.first_purchase_day().map_or(0.0, |first| {
        let tenure_days = (i64::from(day_of(as_of)) - i64::from(first) + 1).max(1) as f64;
        let months = (tenure_days / RATE_PERIOD_DAYS).max(1.0);
        (days / months).min(1.0)
    });
    match history.wallet_share() {
        Some(share) => (repeat + frequency + share) / 3.0,
        None => (repeat + frequency) / 2.0,
    }
}

/// Ratings (mean, rescaled from 1..=5) and engagement (reviews and intent).
fn satisfaction(history: &UserHistory) -> Option<f64> {
    let rating = history.mean_rating().map(|mean| (mean - 1.0) / 4.0);
    let events = (history.review_count() + history.intent_count()) as f64;
    let engagement = (events > 0.0).then(|| events / (events + ENGAGEMENT_HALF_POINT));
    match (rating, engagement) {
        (Some(rating), Some(engagement)) => Some((rating + engagement) / 2.0),
        (rating, engagement) => rating.or(engagement),
    }
}

/// Fixed thresholds; an unset one is the population median.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuadrantConfig {
    pub loyalty_threshold: Option<f64>,
    pub satisfaction_threshold: Option<f64>,
}

impl QuadrantConfig {
    pub fn validate(&self) -> Result<(), Error> {
        let check = |key: &'static str, value: Option<f64>| match value {
            Some(value) if !(0.0..=1.0).contains(&value) => Err(Error::QuadrantConfig {
                key,
                reason: format!("{value} is outside 0..=1"),
            }),
            _ => Ok(()),
        };
        check("loyalty_threshold", self.loyalty_threshold)?;
        check("satisfaction_threshold", self.satisfaction_threshold)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuadrantKind {
    /// High loyalty, high satisfaction: nudge towards higher spend.
    Angel,
    /// High loyalty, low satisfaction: buys for the price.
    Freeloader,
    /// Low loyalty, high satisfaction: likes it but is not committed.
    Hostage,
    /// Low loyalty, low satisfaction: likely to leave.
    Danger,
}

impl QuadrantKind {
    /// The name reports and the wire use.
    pub fn name(self) -> &'static str {
        match self {
            QuadrantKind::Angel => "ANGEL",
            QuadrantKind::Freeloader => "FREELOADER",
            QuadrantKind::Hostage => "HOSTAGE",
            QuadrantKind::Danger => "DANGER",
        }
    }
}

/// Thresholds fitted over a population (the model file's `quadrant` section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuadrantScorer {
    loyalty_threshold: f64,
    satisfaction_threshold: f64,
}

/// The threshold when there is neither a configured value nor a population.
const MIDPOINT: f64 = 0.5;

impl QuadrantScorer {
    /// Medians are taken over the users who can have a quadrant: those with
    /// a satisfaction score.
    pub fn fit(
        config: QuadrantConfig,
        scores: impl IntoIterator<Item = LoyaltySatisfaction>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let (mut loyalty, mut satisfaction) = (Vec::new(), Vec::new());
        if config.loyalty_threshold.is_none() || config.satisfaction_threshold.is_none() {
            for score in scores {
                if let Some(value) = score.satisfaction {
                    loyalty.push(score.loyalty);
                    satisfaction.push(value);
                }
            }
        }
        Ok(QuadrantScorer {
            loyalty_threshold: config
                .loyalty_threshold
                .unwrap_or_else(|| median(loyalty).unwrap_or(MIDPOINT)),
            satisfaction_threshold: config
                .satisfaction_threshold
                .unwrap_or_else(|| median(satisfaction).unwrap_or(MIDPOINT)),
        })
    }

    pub fn loyalty_threshold(&self) -> f64 {
        self.loyalty_threshold
    }

    pub fn satisfaction_threshold(&self) -> f64 {
        self.satisfaction_threshold
    }

    /// `None` for a user without a satisfaction score.
    pub fn classify(&self, score: &LoyaltySatisfaction) -> Option<QuadrantKind> {
        let satisfied = is_high(score.satisfaction?, self.satisfaction_threshold);
        let loyal = is_high(score.loyalty, self.loyalty_threshold);
        Some(match (loyal, satisfied) {
            (true, true) => QuadrantKind::Angel,
            (true, false) => QuadrantKind::Freeloader,
            (false, true) => QuadrantKind::Hostage,
            (false, false) => QuadrantKind::Danger,
        })
    }
}

/// At or above the threshold is high, so a population that ties at the top
/// (everyone rated 5) is high; but zero is never high, so a population tied
/// at zero (nobody bought twice) is low.
fn is_high(score: f64, threshold: f64) -> bool {
    score > 0.0 && score >= threshold
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        length if !length.is_multiple_of(2) => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, kinds};
    use crate::history::MILLIS_PER_DAY as DAY;
    use crate::history::WALLET_SHARE;
    use crate::lifecycle::LifecycleModel;
    use crate::lifecycle::history_tests::{event, fold};

    fn rated(rating: u8, at: i64) -> Event {
        let mut event = event(kinds::RATING, at, None);
        event.rating = Some(rating);
        event
    }

    fn scores(events: &[Event], as_of: i64) -> LoyaltySatisfaction {
        let model = LifecycleModel::preset("retail").unwrap();
        LoyaltySatisfaction::from_history(&fold(&model, events), as_of)
    }

    #[test]
    fn scores_come_from_purchases_ratings_and_intent() {
        let as_of = 60 * DAY;
        let cases: Vec<(Vec<Event>, f64, Option<f64>)> = vec![
            (vec![], 0.0, None),
            (vec![event(kinds::BROWSE, DAY, None)], 0.0, None),
            // One purchase day in a 60-day tenure: rate 1/2 a month.
            (vec![event(kinds::PURCHASE, DAY, Some(5.0))], 0.25, None),
            // Two days in two months: repeat 1/2, rate 1.
            (
                vec![
                    event(kinds::PURCHASE, DAY, Some(5.0)),
                    event(kinds::PURCHASE, 2 * DAY, Some(5.0)),
                ],
                0.75,
                None,
            ),
            (
                vec![
                    event(kinds::PURCHASE, DAY, Some(5.0)),
                    event(WALLET_SHARE, DAY, Some(1.0)),
                ],
                0.5,
                None,
            ),
            (vec![rated(5, DAY), rated(3, DAY)], 0.0, Some(0.75)),
            (vec![event(kinds::FAVORITE, DAY, None); 4], 0.0, Some(0.5)),
            (
                vec![rated(1, DAY), event(kinds::ADD_TO_CART, DAY, None)],
                0.0,
                Some(0.1),
            ),
        ];
        for (events, loyalty, satisfaction) in cases {
            let actual = scores(&events, as_of);
            assert!(
                (actual.loyalty - loyalty).abs() < 1e-9,
                "{actual:?} for {events:?}"
            );
            match (actual.satisfaction, satisfaction) {
                (Some(actual), Some(expected)) => assert!((actual - expected).abs() < 1e-9),
                (actual, expected) => assert_eq!(actual, expected, "{events:?}"),
            }
        }
    }

    fn pair(loyalty: f64, satisfaction: Option<f64>) -> LoyaltySatisfaction {
        LoyaltySatisfaction {
            loyalty,
            satisfaction,
        }
    }

    fn check(
        config: QuadrantConfig,
        population: &[LoyaltySatisfaction],
        expected: &[Option<QuadrantKind>],
    ) {
        let scorer = QuadrantScorer::fit(config, population.iter().copied()).unwrap();
        let actual: Vec<Option<QuadrantKind>> = population
            .iter()
            .map(|score| scorer.classify(score))
            .collect();
        assert_eq!(actual, expected, "{scorer:?}");
    }

    #[test]
    fn medians_split_the_population() {
        use QuadrantKind::*;
        let population = [
            pair(0.9, Some(0.9)),
            pair(0.8, Some(0.1)),
            pair(0.1, Some(0.8)),
            pair(0.2, Some(0.2)),
            // No satisfaction signal: no quadrant, and not in the medians.
            pair(1.0, None),
        ];
        check(
            QuadrantConfig::default(),
            &population,
            &[
                Some(Angel),
                Some(Freeloader),
                Some(Hostage),
                Some(Danger),
                None,
            ],
        );
        let scorer = QuadrantScorer::fit(QuadrantConfig::default(), population).unwrap();
        assert!((scorer.loyalty_threshold() - 0.5).abs() < 1e-9);
        assert!((scorer.satisfaction_threshold() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn ties_at_the_top_are_high_and_at_zero_are_low() {
        use QuadrantKind::*;
        check(
            QuadrantConfig::default(),
            &[
                pair(0.0, Some(1.0)),
                pair(0.0, Some(1.0)),
                pair(0.0, Some(1.0)),
            ],
            &[Some(Hostage); 3],
        );
    }

    #[test]
    fn fixed_thresholds_override_medians() {
        use QuadrantKind::*;
        let config: QuadrantConfig = toml::from_str("loyalty_threshold = 0.95").unwrap();
        assert_eq!(config.satisfaction_threshold, None);
        check(
            config,
            &[
                pair(0.9, Some(0.9)),
                pair(0.96, Some(0.1)),
                pair(0.5, Some(0.5)),
            ],
            &[Some(Hostage), Some(Freeloader), Some(Hostage)],
        );
        let bad = QuadrantConfig {
            satisfaction_threshold: Some(2.0),
            ..QuadrantConfig::default()
        };
        let error = QuadrantScorer::fit(bad, []).unwrap_err();
        assert!(
            error.to_string().contains("satisfaction_threshold"),
            "{error}"
        );
        assert!(toml::from_str::<QuadrantConfig>("loyalty = 0.5").is_err());
    }

    #[test]
    fn an_empty_population_uses_the_midpoint() {
        let scorer = QuadrantScorer::fit(QuadrantConfig::default(), []).unwrap();
        assert_eq!(scorer.loyalty_threshold(), MIDPOINT);
        assert_eq!(
            scorer.classify(&pair(0.6, Some(0.4))),
            Some(QuadrantKind::Freeloader)
        );
    }
}
