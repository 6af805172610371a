//! The audience language: a TOML file parsed into a checked [`Audience`]
//! (a rule tree and an optional pick by model), and the rule's meaning on
//! one [`Member`]. The language itself is described in the crate docs.

use strata_core::{QuadrantKind, Tier};
use toml::Spanned;
use toml::de::DeValue;

use crate::document::{Document, Value, allowed_list};
use crate::error::Error;
use crate::member::{Member, QUADRANTS, RFM_SEGMENTS, TIERS, Vocabulary};

/// A rule over one member. Leaves test one field; a leaf on a field the
/// member does not know does not match.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Every rule holds (intersect).
    All(Vec<Rule>),
    /// At least one rule holds (union).
    Any(Vec<Rule>),
    /// The rule does not hold (exclude). Unknown values do not match a
    /// leaf, so `not` of a leaf includes members whose value is unknown.
    Not(Box<Rule>),
    /// The layer name is one of these.
    Layer(Vec<String>),
    Churned(bool),
    Tier(Vec<Tier>),
    RfmSegment(Vec<String>),
    Quadrant(Vec<QuadrantKind>),
    BestChannel(Vec<String>),
    /// The member has at least one of `values` under `key`.
    Tag {
        key: String,
        values: Vec<String>,
    },
    /// The number is inside the bounds.
    Number {
        field: NumericField,
        bounds: Bounds,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericField {
    Propensity,
    PredictedValue,
    DaysSinceLastPurchase,
}

impl NumericField {
    pub fn key(self) -> &'static str {
        match self {
            NumericField::Propensity => "propensity",
            NumericField::PredictedValue => "predicted_value",
            NumericField::DaysSinceLastPurchase => "days_since_last_purchase",
        }
    }

    fn of(self, member: &Member) -> Option<f64> {
        match self {
            NumericField::Propensity => member.propensity,
            NumericField::PredictedValue => member.predicted_value,
            NumericField::DaysSinceLastPurchase => member.days_since_last_purchase.map(f64::from),
        }
    }

    /// The range a bound may take: a bound outside it is a typo.
    fn domain(self) -> (f64, f64) {
        match self {
            NumericField::Propensity => (0.0, 1.0),
            NumericField::PredictedValue => (f64::NEG_INFINITY, f64::INFINITY),
            NumericField::DaysSinceLastPurchase => (0.0, f64::INFINITY),
        }
    }
}

/// Inclusive bounds; at least one is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub at_least: Option<f64>,
    pub at_most: Option<f64>,
}

impl Bounds {
    pub fn contains(&self, value: f64) -> bool {
        self.at_least.is_none_or(|low| value >= low)
            && self.at_most.is_none_or(|high| value <= high)
    }
}

/// How many of the rule's members a model picks, by descending propensity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelPick {
    Top(u64),
    /// A share in (0, 1] of the members that can be ranked.
    TopShare(f64),
}

/// A checked audience definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Audience {
    pub name: String,
    pub description: Option<String>,
    /// `None`: every member is eligible.
    pub rule: Option<Rule>,
    /// `None`: every member the rule matches is in the audience.
    pub model: Option<ModelPick>,
    /// The lifecycle model's layer order, for reports.
    pub(crate) layer_order: Vec<String>,
}

impl Audience {
    /// Parses and checks a definition file (see the crate docs).
    pub fn from_toml(text: &str, vocabulary: &Vocabulary) -> Result<Self, Error> {
        let (document, root) = Document::parse(text)?;
        let root = Spanned::new(root.span(), DeValue::Table(root.into_inner()));
        let top = document.table(&root, "the file", &["audience"])?;
        let audience = top.required("audience", "the file")?;
        let parser = Parser {
            document: &document,
            vocabulary,
        };
        parser.audience(audience)
    }

    /// Whether the rule admits `member` (always, without a rule); the model
    /// pick is applied over a whole population by [`Audience::select`].
    pub fn admits(&self, member: &Member) -> bool {
        self.rule.as_ref().is_none_or(|rule| rule.matches(member))
    }
}

impl Rule {
    pub fn matches(&self, member: &Member) -> bool {
        let among = |names: &[String], value: &Option<String>| {
            value.as_ref().is_some_and(|value| names.contains(value))
        };
        match self {
            Rule::All(rules) => rules.iter().all(|rule| rule.matches(member)),
            Rule::Any(rules) => rules.iter().any(|rule| rule.matches(member)),
            Rule::Not(rule) => !rule.matches(member),
            Rule::Layer(names) => among(names, &member.layer),
            Rule::Churned(churned) => member.churned == Some(*churned),
            Rule::Tier(tiers) => member.tier.is_some_and(|tier| tiers.contains(&tier)),
            Rule::RfmSegment(names) => among(names, &member.rfm_segment),
            Rule::Quadrant(kinds) => member.quadrant.is_some_and(|kind| kinds.contains(&kind)),
            Rule::BestChannel(names) => among(names, &member.best_channel),
            Rule::Tag { key, values } => member
                .tags
                .get(key)
                .is_some_and(|held| held.iter().any(|value| values.contains(value))),
            Rule::Number { field, bounds } => field
                .of(member)
                .is_some_and(|value| value.is_finite() && bounds.contains(value)),
        }
    }
}

const AUDIENCE_KEYS: [&str; 4] = ["name", "description", "rule", "model"];
const RULE_KEYS: [&str; 13] = [
    "all",
    "any",
    "not",
    "layer",
    "churned",
    "tier",
    "rfm_segment",
    "quadrant",
    "best_channel",
    "tag",
    "propensity",
    "predicted_value",
    "days_since_last_purchase",
];
const BOUND_KEYS: [&str; 2] = ["at_least", "at_most"];
const MODEL_KEYS: [&str; 3] = ["top", "top_share", "by"];

struct Parser<'d, 'a> {
    document: &'d Document<'a>,
    vocabulary: &'d Vocabulary,
}

impl<'d, 'a> Parser<'d, 'a> {
    fn audience(&self, value: &'d Value<'a>) -> Result<Audience, Error> {
        let table = self.document.table(value, "[audience]", &AUDIENCE_KEYS)?;
        let name = self
            .document
            .string(table.required("name", "[audience]")?, "name")?;
        if name.trim().is_empty() {
            return Err(self.document.error(
                table.required("name", "[audience]")?.span(),
                "`name` is empty",
            ));
        }
        let description = table
            .get("description")
            .map(|value| self.document.string(value, "description"))
            .transpose()?;
        let rule = table
            .get("rule")
            .map(|value| self.rule(value, "[audience.rule]"))
            .transpose()?;
        let model = table
            .get("model")
            .map(|value| self.model(value))
            .transpose()?;
        if rule.is_none() && model.is_none() {
            return Err(self.document.error(
                table.span(),
                "[audience] needs a `rule`, a `model`, or both",
            ));
        }
        Ok(Audience {
            name,
            description,
            rule,
            model,
            layer_order: self.vocabulary.layers().to_vec(),
        })
    }

    /// A rule table: the conjunction of its keys.
    fn rule(&self, value: &'d Value<'a>, context: &str) -> Result<Rule, Error> {
        let table = self.document.table(value, context, &RULE_KEYS)?;
        if table.is_empty() {
            return Err(self.document.error(
                table.span(),
                format!(
                    "{context} is empty; it needs at least one of: {}",
                    RULE_KEYS.join(", ")
                ),
            ));
        }
        let mut rules = Vec::new();
        for (key, value) in table.entries() {
            rules.extend(self.condition(key.get_ref(), value, context)?);
        }
        Ok(match rules.len() {
            1 => rules.remove(0),
            _ => Rule::All(rules),
        })
    }

    /// One key of a rule table; `tag` with several keys gives one rule each.
    fn condition(
        &self,
        key: &str,
        value: &'d Value<'a>,
        context: &str,
    ) -> Result<Vec<Rule>, Error> {
        let rule = match key {
            "all" => Rule::All(self.rule_list(value, key)?),
            "any" => Rule::Any(self.rule_list(value, key)?),
            "not" => Rule::Not(Box::new(self.rule(value, "`not`")?)),
            "layer" => Rule::Layer(self.layers(value)?),
            "churned" => Rule::Churned(self.document.boolean(value, key)?),
            "tier" => Rule::Tier(self.named(value, key, &TIERS, |tier| tier.name())?),
            "quadrant" => Rule::Quadrant(self.named(value, key, &QUADRANTS, |kind| kind.name())?),
            "rfm_segment" => Rule::RfmSegment(
                self.named(value, key, &RFM_SEGMENTS, |name| name)?
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
            "best_channel" => Rule::BestChannel(
                self.named(value, key, Vocabulary::channels(), |name| name)?
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
            "tag" => return self.tags(value),
            "propensity" => self.number(value, NumericField::Propensity)?,
            "predicted_value" => self.number(value, NumericField::PredictedValue)?,
            "days_since_last_purchase" => {
                self.number(value, NumericField::DaysSinceLastPurchase)?
            }
            _ => unreachable!("{context}: keys were checked against RULE_KEYS"),
        };
        Ok(vec![rule])
    }

    fn rule_list(&self, value: &'d Value<'a>, key: &str) -> Result<Vec<Rule>, Error> {
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.document.error(
                value.span(),
                format!(
                    "`{key}` must be a list of rule tables, found {}",
                    value.get_ref().type_str()
                ),
            ));
        };
        if items.is_empty() {
            return Err(self.document.error(
                value.span(),
                format!("`{key}` is an empty list; give at least one rule"),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(index, item)| self.rule(item, &format!("`{key}[{index}]`")))
            .collect()
    }

    fn layers(&self, value: &'d Value<'a>) -> Result<Vec<String>, Error> {
        let known = self.vocabulary.layers();
        self.document
            .strings(value, "layer")?
            .into_iter()
            .map(|name| {
                if known.contains(name.get_ref()) {
                    return Ok(name.into_inner());
                }
                let hint = if self.vocabulary.is_churn_label(name.get_ref()) {
                    " (that is a churn label: write `churned = true` beside the layer)"
                } else {
                    ""
                };
                Err(self.document.error(
                    name.span(),
                    format!(
                        "unknown layer `{}`{hint}; the lifecycle model has: {}",
                        name.get_ref(),
                        allowed_list(known.iter().map(String::as_str))
                    ),
                ))
            })
            .collect()
    }

    /// Values from a fixed set, matched without regard to case.
    fn named<T: Copy>(
        &self,
        value: &'d Value<'a>,
        key: &str,
        choices: &[T],
        name: impl Fn(T) -> &'static str,
    ) -> Result<Vec<T>, Error> {
        self.document
            .strings(value, key)?
            .into_iter()
            .map(|given| {
                choices
                    .iter()
                    .copied()
                    .find(|choice| name(*choice).eq_ignore_ascii_case(given.get_ref()))
                    .ok_or_else(|| {
                        self.document.error(
                            given.span(),
                            format!(
                                "unknown {key} `{}`; allowed: {}",
                                given.get_ref(),
                                allowed_list(choices.iter().map(|choice| name(*choice)))
                            ),
                        )
                    })
            })
            .collect()
    }

    fn tags(&self, value: &'d Value<'a>) -> Result<Vec<Rule>, Error> {
        let known = self.vocabulary.tags();
        let key_names: Vec<&str> = known.keys().map(String::as_str).collect();
        let table = self.document.table(value, "`tag`", &key_names)?;
        if table.is_empty() {
            return Err(self.document.error(
                table.span(),
                format!("`tag` is empty; give a key: {}", allowed_list(key_names)),
            ));
        }
        let mut rules = Vec::new();
        for (key, values) in table.entries() {
            let key = key.get_ref().to_string();
            let allowed = &known[&key];
            let values = self
                .document
                .strings(values, &key)?
                .into_iter()
                .map(|given| {
                    if allowed.contains(given.get_ref()) {
                        return Ok(given.into_inner());
                    }
                    Err(self.document.error(
                        given.span(),
                        format!(
                            "unknown value `{}` for tag `{key}`; known values: {}",
                            given.get_ref(),
                            allowed_list(allowed.iter().map(String::as_str))
                        ),
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(Rule::Tag { key, values });
        }
        Ok(rules)
    }

    fn number(&self, value: &'d Value<'a>, field: NumericField) -> Result<Rule, Error> {
        let key = field.key();
        let context = format!("`{key}`");
        let table = self.document.table(value, &context, &BOUND_KEYS)?;
        let (low, high) = field.domain();
        let bound = |name: &str| -> Result<Option<f64>, Error> {
            let Some(value) = table.get(name) else {
                return Ok(None);
            };
            let number = self.document.number(value, name)?;
            if !(low..=high).contains(&number) {
                return Err(self.document.error(
                    value.span(),
                    format!("`{key}.{name}` is {number}, outside {low}..={high}"),
                ));
            }
            Ok(Some(number))
        };
        let bounds = Bounds {
            at_least: bound("at_least")?,
            at_most: bound("at_most")?,
        };
        match (bounds.at_least, bounds.at_most) {
            (None, None) => Err(self.document.error(
                table.span(),
                format!("{context} needs `at_least`, `at_most` or both"),
            )),
            (Some(at_least), Some(at_most)) if at_least > at_most => Err(self.document.error(
                table.span(),
                format!("{context}: at_least ({at_least}) is above at_most ({at_most})"),
            )),
            _ => Ok(Rule::Number { field, bounds }),
        }
    }

    fn model(&self, value: &'d Value<'a>) -> Result<ModelPick, Error> {
        let context = "[audience.model]";
        let table = self.document.table(value, context, &MODEL_KEYS)?;
        if let Some(by) = table.get("by") {
            let by_name = self.document.string(by, "by")?;
            if by_name != "propensity" {
                return Err(self.document.error(
                    by.span(),
                    format!("unknown model score `{by_name}`; allowed: propensity"),
                ));
            }
        }
        match (table.get("top"), table.get("top_share")) {
            (Some(top), None) => match self.document.unsigned(top, "top")? {
                0 => Err(self.document.error(top.span(), "`top` must be at least 1")),
                count => Ok(ModelPick::Top(count)),
            },
            (None, Some(share)) => {
                let fraction = self.document.number(share, "top_share")?;
                if fraction > 0.0 && fraction <= 1.0 {
                    Ok(ModelPick::TopShare(fraction))
                } else {
                    Err(self.document.error(
                        share.span(),
                        format!("`top_share` is {fraction}; it must be in (0, 1]"),
                    ))
                }
            }
            (Some(_), Some(share)) => Err(self
                .document
                .error(share.span(), "give `top` or `top_share`, not both")),
            (None, None) => Err(self.document.error(
                table.span(),
                format!("{context} needs `top` (a count) or `top_share` (a fraction)"),
            )),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use strata_core::LifecycleModel;

    /// The retail layers and a few attribute tags.
    pub(crate) fn vocabulary() -> Vocabulary {
        let mut vocabulary = Vocabulary::new(&LifecycleModel::preset("retail").unwrap());
        vocabulary.add_tag("region", ["north", "south", "east", "west"]);
        vocabulary.add_tag("gender", ["f", "m"]);
        vocabulary.add_tag("interest", ["jewellery", "sports", "books"]);
        vocabulary
    }

    fn parse(text: &str) -> Result<Audience, Error> {
        Audience::from_toml(text, &vocabulary())
    }

    /// A definition with `rule` as the body of `[audience.rule]`.
    fn with_rule(rule: &str) -> String {
        format!("[audience]\nname = \"test\"\n\n[audience.rule]\n{rule}\n")
    }

    fn check(rule: &str, expected: Rule) {
        let audience = parse(&with_rule(rule)).unwrap_or_else(|error| panic!("{rule}: {error}"));
        assert_eq!(audience.rule, Some(expected), "{rule}");
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn rules_parse_into_the_tree() {
        check("layer = \"growth\"", Rule::Layer(strings(&["growth"])));
        check(
            "tier = [\"high\", \"Medium\"]\nchurned = true",
            Rule::All(vec![
                Rule::Tier(vec![Tier::High, Tier::Medium]),
                Rule::Churned(true),
            ]),
        );
        check(
            "any = [{ quadrant = \"danger\" }, { rfm_segment = \"at risk\" }]",
            Rule::Any(vec![
                Rule::Quadrant(vec![QuadrantKind::Danger]),
                Rule::RfmSegment(strings(&["At Risk"])),
            ]),
        );
        check(
            "not = { tag = { region = [\"north\", \"east\"], gender = \"f\" } }",
            Rule::Not(Box::new(Rule::All(vec![
                Rule::Tag {
                    key: "region".into(),
                    values: strings(&["north", "east"]),
                },
                Rule::Tag {
                    key: "gender".into(),
                    values: strings(&["f"]),
                },
            ]))),
        );
        check(
            "propensity = { at_least = 0.3, at_most = 1 }",
            Rule::Number {
                field: NumericField::Propensity,
                bounds: Bounds {
                    at_least: Some(0.3),
                    at_most: Some(1.0),
                },
            },
        );
        check(
            "days_since_last_purchase = { at_most = 90 }\nbest_channel = \"APP_PUSH\"",
            Rule::All(vec![
                Rule::Number {
                    field: NumericField::DaysSinceLastPurchase,
                    bounds: Bounds {
                        at_least: None,
                        at_most: Some(90.0),
                    },
                },
                Rule::BestChannel(strings(&["app_push"])),
            ]),
        );
        // Sub-tables and arrays of tables are the same language.
        check(
            "[[audience.rule.all]]\nlayer = \"new\"\n[[audience.rule.all]]\npredicted_value = { at_least = 100.0 }",
            Rule::All(vec![
                Rule::Layer(strings(&["new"])),
                Rule::Number {
                    field: NumericField::PredictedValue,
                    bounds: Bounds {
                        at_least: Some(100.0),
                        at_most: None,
                    },
                },
            ]),
        );
    }

    #[test]
    fn model_picks_parse() {
        let model_only =
            "[audience]\nname = \"m\"\n[audience.model]\ntop = 5000\nby = \"propensity\"\n";
        let audience = parse(model_only).unwrap();
        assert_eq!(
            (audience.rule, audience.model),
            (None, Some(ModelPick::Top(5000)))
        );
        let both = with_rule("tier = \"high\"\n[audience.model]\ntop_share = 0.25");
        assert_eq!(parse(&both).unwrap().model, Some(ModelPick::TopShare(0.25)));
    }

    /// The error is on `line` and its message holds every fragment.
    fn check_error(text: &str, line: usize, fragments: &[&str]) {
        let error = match parse(text) {
            Ok(audience) => panic!("parsed: {audience:?}\n{text}"),
            Err(error) => error,
        };
        assert_eq!(error.line(), Some(line), "{error}\n{text}");
        let message = error.to_string();
        for fragment in fragments {
            assert!(message.contains(fragment), "`{fragment}` not in: {message}");
        }
    }

    #[test]
    fn errors_name_the_line_and_what_is_allowed() {
        // The rule body starts on line 5.
        check_error(
            &with_rule("layer = \"growth\"\ntiers = \"high\""),
            6,
            &[
                "unknown key `tiers`",
                "allowed: all, any, not, layer",
                "tier",
            ],
        );
        check_error(
            &with_rule("tier = [\"high\", \"gold\"]"),
            5,
            &["unknown tier `gold`", "HIGH, MEDIUM, LOW"],
        );
        check_error(
            &with_rule("layer = \"churned\""),
            5,
            &[
                "unknown layer `churned`",
                "churned = true",
                "potential, new, growth, mature, declining",
            ],
        );
        check_error(
            &with_rule("all = [\n  { layer = \"new\" },\n  { tag = { age = \"30\" } },\n]"),
            7,
            &["unknown key `age` in `tag`", "gender, interest, region"],
        );
        check_error(
            &with_rule("tag = { region = [\"north\", \"mars\"] }"),
            5,
            &[
                "unknown value `mars` for tag `region`",
                "east, north, south, west",
            ],
        );
        check_error(
            &with_rule("quadrant = \"saint\""),
            5,
            &["ANGEL, FREELOADER, HOSTAGE, DANGER"],
        );
        check_error(
            &with_rule("best_channel = \"fax\""),
            5,
            &["sms, app_push, wechat, email"],
        );
        check_error(
            &with_rule("rfm_segment = \"Whales\""),
            5,
            &["unknown rfm_segment `Whales`", "Champions"],
        );
        check_error(
            &with_rule("propensity = { at_least = 1.5 }"),
            5,
            &["`propensity.at_least` is 1.5, outside 0..=1"],
        );
        check_error(
            &with_rule("predicted_value = { at_least = 9, at_most = 3 }"),
            5,
            &["at_least (9) is above at_most (3)"],
        );
        check_error(
            &with_rule("propensity = { above = 0.5 }"),
            5,
            &["unknown key `above`", "at_least, at_most"],
        );
        check_error(&with_rule("any = []"), 5, &["`any` is an empty list"]);
        check_error(&with_rule("layer = []"), 5, &["`layer` is an empty list"]);
        check_error(&with_rule("not = {}"), 5, &["`not` is empty"]);
        check_error(
            &with_rule("churned = \"yes\""),
            5,
            &["`churned` must be true or false"],
        );
        check_error(
            &with_rule("tier = 3"),
            5,
            &["`tier` must be a string, found integer"],
        );
        check_error(
            &with_rule("tier = \"high\"\n[audience.model]\ntop = 10\ntop_share = 0.5"),
            8,
            &["not both"],
        );
        check_error(
            &with_rule("tier = \"high\"\n[audience.model]\ntop = 0"),
            7,
            &["`top` must be at least 1"],
        );
        check_error(
            &with_rule("tier = \"high\"\n[audience.model]\nby = \"clv\"\ntop = 1"),
            7,
            &["unknown model score `clv`"],
        );
        check_error(
            "[audience]\nname = \"x\"\n",
            1,
            &["needs a `rule`, a `model`, or both"],
        );
        check_error(
            "[audience]\nrule = { tier = \"high\" }\n",
            1,
            &["[audience] needs `name`"],
        );
        check_error(
            "[audiences]\nname = \"x\"\n",
            1,
            &["unknown key `audiences`"],
        );
        check_error(
            "[audience]\nname = \"x\"\nrule = { tier = \"high\"\n",
            3,
            &["TOML syntax"],
        );
    }

    /// The ```toml blocks of a Markdown text, or of `//!` docs.
    fn toml_blocks(text: &str) -> Vec<String> {
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let line = line
                .strip_prefix("//!")
                .map_or(line, |rest| rest.strip_prefix(' ').unwrap_or(rest));
            match (&mut current, line.trim_end()) {
                (None, "```toml") => current = Some(String::new()),
                (Some(_), "```") => blocks.extend(current.take()),
                (Some(block), _) => {
                    block.push_str(line);
                    block.push('\n');
                }
                (None, _) => {}
            }
        }
        blocks
    }

    #[test]
    fn documented_examples_parse() {
        let known = crate::campaign::KnownNames::default();
        for (source, text) in [
            ("lib.rs", include_str!("lib.rs")),
            (
                "docs/audiences.md",
                include_str!("../../../docs/audiences.md"),
            ),
        ] {
            let blocks = toml_blocks(text);
            assert_eq!(blocks.len(), 2, "{source}");
            for block in blocks {
                let parsed = if block.contains("[[campaign]]") {
                    crate::campaign::Campaign::parse_all(&block, &known).map(drop)
                } else {
                    parse(&block).map(drop)
                };
                if let Err(error) = parsed {
                    panic!("{source}: {error}\n{block}");
                }
            }
            let audience = &toml_blocks(text)[0];
            let typos: &[(&str, &str)] = match source {
                "lib.rs" => &[("tier = \"high\"", "tier = \"gold\"")],
                _ => &[
                    ("tier = \"high\"", "tier = \"gold\""),
                    ("\"mature\"", "\"churned\""),
                    ("region = [\"north\"]", "age = \"30\""),
                    ("[\"north\"]", "[\"mars\"]"),
                    ("tier = \"high\"", "tiers = \"high\""),
                ],
            };
            for (right, wrong) in typos {
                let error = parse(&audience.replace(right, wrong)).unwrap_err();
                assert!(
                    text.contains(&error.to_string()),
                    "{source} should show: {error}"
                );
            }
        }
    }
}
