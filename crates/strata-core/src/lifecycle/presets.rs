//! The built-in lifecycle models, one TOML file each, compiled into the
//! binary so a deployment needs no model file unless it customises one.
//!
//! The retail preset (the default), in plain words: every user seen at least
//! once is **potential**. A user who has bought is **new** while they have a
//! single purchase day or their first purchase was at most 30 days ago;
//! **growth** from 2 purchase days; **mature** from 5 purchase days; and
//! **declining** from 3 purchase days when the days since their last purchase
//! exceed twice the median gap between their purchase days. The deepest layer
//! whose rule holds wins, so declining overrides growth and mature. A buyer
//! whose last purchase is more than 180 days before the as-of day is
//! **churned** in the layer they reached; potential users never churn. Days
//! are UTC calendar days, purchases on one day are one purchase day, and
//! zero-amount purchases count.

/// The model used when none is configured.
pub const DEFAULT_PRESET: &str = "retail";

pub const PRESET_NAMES: [&str; 4] = ["retail", "sns", "saas", "wealth"];

pub(crate) fn source(name: &str) -> Option<&'static str> {
    match name {
        "retail" => Some(include_str!("presets/retail.toml")),
        "sns" => Some(include_str!("presets/sns.toml")),
        "saas" => Some(include_str!("presets/saas.toml")),
        "wealth" => Some(include_str!("presets/wealth.toml")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, kinds};
    use crate::history::MILLIS_PER_DAY as DAY;
    use crate::lifecycle::LifecycleModel;
    use crate::lifecycle::history_tests::{event, fold};

    const AS_OF_DAY: i64 = 1_000;

    /// `(kind, days before as-of, amount)`; as-of is noon of `AS_OF_DAY`, so
    /// "days before" is exact in calendar days.
    type Row = (&'static str, i64, f64);

    fn events(rows: &[Row]) -> Vec<Event> {
        rows.iter()
            .map(|(kind, days_ago, amount)| {
                event(kind, (AS_OF_DAY - days_ago) * DAY + DAY / 2, Some(*amount))
            })
            .collect()
    }

    /// `expected` is the layer name, followed by `: <churn label>` if churned.
    fn check(preset: &str, events: &[Event], as_of: i64, expected: &str) {
        let model = LifecycleModel::preset(preset).unwrap();
        let stage = model.assign(&fold(&model, events), as_of);
        let actual = if stage.churned {
            format!("{}: {}", stage.layer, stage.label())
        } else {
            stage.layer.to_owned()
        };
        assert_eq!(actual, expected, "{preset} {events:?}");
        let layer = &model.layers()[stage.layer_index as usize];
        assert_eq!(layer.name(), stage.layer);
        assert_eq!(layer.churn_label(), stage.churn_label);
    }

    fn check_rows(preset: &str, rows: &[Row], expected: &str) {
        check(preset, &events(rows), AS_OF_DAY * DAY + DAY / 2, expected);
    }

    #[test]
    fn every_preset_loads() {
        for name in PRESET_NAMES {
            let model = LifecycleModel::preset(name).unwrap();
            assert_eq!(model.name(), name);
        }
        assert!(PRESET_NAMES.contains(&DEFAULT_PRESET));
        assert!(LifecycleModel::preset("bank").is_err());
    }

    #[test]
    fn retail_layers() {
        let cases: &[(&[Row], &str)] = &[
            (&[], "potential"),
            (&[(kinds::BROWSE, 3, 0.0)], "potential"),
            (&[("mystery", 3, 0.0), ("other", 400, 0.0)], "potential"),
            (
                &[(kinds::ADD_TO_CART, 1, 9.0), (kinds::RATING, 1, 0.0)],
                "potential",
            ),
            (&[(kinds::PURCHASE, 0, 10.0)], "new"),
            (&[(kinds::PURCHASE, 0, 0.0)], "new"),
            (&[(kinds::PURCHASE, 60, 10.0)], "new"),
            (
                &[(kinds::PURCHASE, 2, 10.0), (kinds::PURCHASE, 2, 5.0)],
                "new",
            ),
            (
                &[(kinds::PURCHASE, 20, 1.0), (kinds::PURCHASE, 2, 1.0)],
                "growth",
            ),
            (
                &[(kinds::PURCHASE, 90, 1.0), (kinds::PURCHASE, 80, 1.0)],
                "growth",
            ),
            (&[(kinds::PURCHASE, 180, 1.0)], "new"),
            (&[(kinds::PURCHASE, 181, 1.0)], "new: churned"),
            (
                &[(kinds::PURCHASE, 181, 1.0), (kinds::BROWSE, 0, 0.0)],
                "new: churned",
            ),
            (
                &[(kinds::PURCHASE, 300, 1.0), (kinds::PURCHASE, 200, 1.0)],
                "growth: churned",
            ),
        ];
        for (rows, expected) in cases {
            check_rows("retail", rows, expected);
        }
    }

    fn purchase_days(days_ago: &[i64]) -> Vec<Row> {
        days_ago
            .iter()
            .map(|days_ago| (kinds::PURCHASE, *days_ago, 10.0))
            .collect()
    }

    #[test]
    fn retail_declining_against_mature_and_growth() {
        // Gaps of 10 days: declining once the current gap exceeds 20.
        check_rows("retail", &purchase_days(&[60, 50, 40, 30, 20]), "mature");
        check_rows("retail", &purchase_days(&[61, 51, 41, 31, 21]), "declining");
        check_rows("retail", &purchase_days(&[40, 30, 20]), "growth");
        check_rows("retail", &purchase_days(&[41, 31, 21]), "declining");
        // Two purchase days have one gap: too few for a rhythm.
        check_rows("retail", &purchase_days(&[100, 90]), "growth");
        // Irregular gaps (1, 1, 30): median 1, so 3 quiet days is declining.
        check_rows("retail", &purchase_days(&[35, 34, 33, 3]), "declining");
        check_rows("retail", &purchase_days(&[36, 35, 34, 4, 3, 0]), "mature");
        check_rows(
            "retail",
            &purchase_days(&[400, 390, 380, 370, 360]),
            "declining: churned",
        );
    }

    #[test]
    fn events_at_the_same_instant_and_at_as_of() {
        let as_of = AS_OF_DAY * DAY;
        let same = vec![
            event(kinds::PURCHASE, as_of, Some(1.0)),
            event(kinds::PURCHASE, as_of, Some(1.0)),
        ];
        check("retail", &same, as_of, "new");
        let opens: Vec<Event> = (0..5).map(|_| event(kinds::OPEN, as_of, None)).collect();
        let likes: Vec<Event> = (0..3).map(|_| event(kinds::LIKE, as_of, None)).collect();
        check("sns", &[opens.clone(), likes].concat(), as_of, "returning");
        check("sns", &opens, as_of, "visitor");
    }

    #[test]
    fn sns_layers() {
        let returning: Vec<Row> = [(kinds::OPEN, 30, 0.0); 5]
            .into_iter()
            .chain([
                (kinds::LIKE, 30, 0.0),
                (kinds::COMMENT, 0, 0.0),
                (kinds::LIKE, 1, 0.0),
            ])
            .collect();
        let cases: &[(&[Row], &str)] = &[
            (&[(kinds::OPEN, 1, 0.0)], "visitor"),
            (&[(kinds::PURCHASE, 1, 5.0)], "visitor"),
            (&[(kinds::OPEN, 1, 0.0), (kinds::BROWSE, 1, 0.0)], "active"),
            (&[(kinds::COMMENT, 1, 0.0)], "interactive"),
            (&returning, "returning"),
            (&returning[1..], "interactive"),
            (&[(kinds::OPEN, 30, 0.0)], "visitor"),
            (&[(kinds::OPEN, 31, 0.0)], "visitor: churned visitor"),
            (&[(kinds::BROWSE, 50, 0.0)], "active: churned participant"),
            (&[(kinds::LIKE, 40, 0.0)], "interactive: churned user"),
        ];
        for (rows, expected) in cases {
            check_rows("sns", rows, expected);
        }
        // The 30-day window: opens 31 days ago do not count.
        let mut stale = returning.clone();
        stale[0].1 = 31;
        check_rows("sns", &stale, "interactive");
        let mut quiet = returning;
        for row in &mut quiet {
            row.1 += 31;
        }
        check_rows("sns", &quiet, "interactive: churned user");
    }

    #[test]
    fn saas_layers() {
        let cases: &[(&[Row], &str)] = &[
            (&[(kinds::VISIT, 1, 0.0)], "visitor"),
            (&[(kinds::DEMO_VIEW, 1, 0.0)], "evaluator"),
            (
                &[(kinds::DEEP_BROWSE, 61, 0.0)],
                "evaluator: churned evaluator",
            ),
            (&[(kinds::VISIT, 3, 0.0), (kinds::SIGNUP, 2, 0.0)], "trial"),
            (&[(kinds::SIGNUP, 31, 0.0)], "trial: churned trialist"),
            (&[(kinds::CONTRACT, 395, 100.0)], "paying"),
            (&[(kinds::CONTRACT, 396, 100.0)], "paying: churned customer"),
            (&[(kinds::VISIT, 31, 0.0)], "visitor: churned visitor"),
        ];
        for (rows, expected) in cases {
            check_rows("saas", rows, expected);
        }
    }

    #[test]
    fn wealth_layers() {
        let cases: &[(&[Row], &str)] = &[
            (&[(kinds::APP_START, 1, 0.0)], "visitor"),
            (&[(kinds::VIEW_PRODUCT, 1, 0.0)], "evaluator"),
            (&[(kinds::BIND_CARD, 1, 0.0)], "visitor"),
            (
                &[(kinds::BIND_CARD, 1, 0.0), (kinds::VERIFY_IDENTITY, 1, 0.0)],
                "verified",
            ),
            (&[(kinds::INVEST, 1, 100.0)], "investor"),
            (
                &[
                    (kinds::INVEST, 60, 100.0),
                    (kinds::INVEST, 30, 100.0),
                    (kinds::INVEST, 1, 200.0),
                ],
                "loyal investor",
            ),
            (
                &[
                    (kinds::INVEST, 60, 200.0),
                    (kinds::INVEST, 30, 100.0),
                    (kinds::INVEST, 1, 100.0),
                ],
                "investor",
            ),
            (
                &[(kinds::INVEST, 30, 100.0), (kinds::INVEST, 1, 200.0)],
                "investor",
            ),
            (
                &[
                    (kinds::INVEST, 200, 100.0),
                    (kinds::INVEST, 150, 100.0),
                    (kinds::INVEST, 100, 200.0),
                ],
                "loyal investor: churned after investing",
            ),
            (
                &[(kinds::INVEST, 100, 100.0), (kinds::APP_START, 3, 0.0)],
                "investor",
            ),
            (
                &[(kinds::VIEW_PRODUCT, 61, 0.0)],
                "evaluator: churned after browsing",
            ),
        ];
        for (rows, expected) in cases {
            check_rows("wealth", rows, expected);
        }
    }
}
