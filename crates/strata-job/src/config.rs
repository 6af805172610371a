//! The recompute job's model settings (`--config FILE`): value and quadrant
//! thresholds, the lifetime-value horizon, the channel frequency cap, the
//! benefit catalogue with its economics, the fairness switch and the
//! currency. Defaults in one place; the default catalogue is the one `strata
//! gen` issues offers from.
//!
//! The run's currency comes from the events (`strata_core::currency`), once
//! they are read: [`ModelsConfig::settle_currency`]. Predicted values and
//! offer estimates are served in it, so the catalogue must be in it too: the
//! default catalogue takes it on (same face values), a catalogue given in
//! `--config` in another currency stops the run.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use strata_core::{
    CurrencyConfig, CurrencyError, CurrencyTally, QuadrantConfig, RunCurrency, ValueConfig,
};

use strata_proto::v1::BenefitKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    pub value: ValueConfig,
    pub quadrant: QuadrantConfig,
    pub lifetime: LifetimeConfig,
    pub propensity: PropensityConfig,
    /// `[predictions]`: churn and next-order horizon and minimum data.
    pub predictions: PredictionsConfig,
    pub channel: ChannelConfig,
    /// `[send_time]`: the best send time's prior and minimum data.
    pub send_time: strata_models::send_time::SendTimeConfig,
    pub economics: EconomicsConfig,
    pub fairness: FairnessConfig,
    pub benefits: Vec<BenefitSpec>,
    /// `[campaigns]`: the cap on campaigns running at once per user.
    pub campaigns: CampaignsConfig,
    /// `[offers]`: how the offer policy learns from past issues.
    pub offers: OffersConfig,
    /// `[currency]`: the currency values are served in, and rates to it.
    pub currency: CurrencyConfig,
    /// `[global_control]`: the share of all users held out of every
    /// campaign and offer.
    pub global_control: GlobalControlConfig,
    /// True while `benefits` is the built-in catalogue (no `[[benefits]]`
    /// given): it then takes on the run's currency.
    #[serde(skip)]
    pub default_catalogue: bool,
    /// The run's currency, once [`ModelsConfig::settle_currency`] found it.
    #[serde(skip)]
    pub settled_currency: Option<RunCurrency>,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            value: ValueConfig::default(),
            quadrant: QuadrantConfig::default(),
            lifetime: LifetimeConfig::default(),
            propensity: PropensityConfig::default(),
            predictions: PredictionsConfig::default(),
            channel: ChannelConfig::default(),
            send_time: strata_models::send_time::SendTimeConfig::default(),
            economics: EconomicsConfig::default(),
            fairness: FairnessConfig::default(),
            benefits: default_benefits(),
            campaigns: CampaignsConfig::default(),
            offers: OffersConfig::default(),
            currency: CurrencyConfig::default(),
            global_control: GlobalControlConfig::default(),
            default_catalogue: true,
            settled_currency: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifetimeConfig {
    /// Horizon of expected purchases and predicted value (in the run's
    /// currency, [`ModelsConfig::currency_code`]).
    pub horizon_days: u32,
}

impl Default for LifetimeConfig {
    fn default() -> Self {
        LifetimeConfig { horizon_days: 90 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PropensityConfig {
    /// Purchase window predicted, in days (features as of T - window).
    pub window_days: u32,
    /// Share of users held out to measure AUC.
    pub holdout_share: f64,
    /// Most users the candidates train on: beyond it, training users are
    /// sampled by a hash of their id (the holdout keeps every held-out
    /// user). Bounds the fit's time and memory; every user is still scored.
    pub max_train_users: usize,
}

impl Default for PropensityConfig {
    fn default() -> Self {
        PropensityConfig {
            window_days: 30,
            holdout_share: 0.2,
            max_train_users: 200_000,
        }
    }
}

/// Churn probability and next order (`churn.rs`): the churn horizon, and
/// the data below which both are switched off (Klaviyo's thresholds by
/// default).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictionsConfig {
    /// Churn is "no purchase in the next `churn_horizon_days`"; the
    /// backtests hold out as many days before the as-of.
    pub churn_horizon_days: u32,
    /// Users with at least one purchase.
    pub min_buyers: u64,
    /// Days from the first event of any user to the as-of day.
    pub min_history_days: u32,
}

impl Default for PredictionsConfig {
    fn default() -> Self {
        PredictionsConfig {
            churn_horizon_days: 90,
            min_buyers: 500,
            min_history_days: 180,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelConfig {
    /// Contacts allowed across channels in the rolling window.
    pub max_contacts: u32,
    pub window_days: u32,
    /// A user's channels are ranked by their own responses only with at
    /// least `min_sends` sends on each of at least `min_channels` channels;
    /// below that, in the population's order, flagged `not_enough_data`.
    pub min_sends: u32,
    pub min_channels: u32,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            max_contacts: 4,
            window_days: 7,
            min_sends: 3,
            min_channels: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EconomicsConfig {
    /// Gross margin on revenue, 0..1.
    pub margin_rate: f64,
    /// Days after an issue in which a purchase counts as its outcome.
    pub outcome_days: u32,
    /// Days a recommended benefit stays valid from the as-of time.
    pub valid_days: u32,
}

impl Default for EconomicsConfig {
    fn default() -> Self {
        EconomicsConfig {
            margin_rate: 0.3,
            outcome_days: 14,
            valid_days: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FairnessConfig {
    /// No later-layer user gets a lower face value than a new user of the
    /// same tier and quadrant for the same benefit kind.
    pub enabled: bool,
}

impl Default for FairnessConfig {
    fn default() -> Self {
        FairnessConfig { enabled: true }
    }
}

/// A benefit the job may recommend, with what it costs when redeemed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenefitSpec {
    pub benefit_id: String,
    pub kind: BenefitKindName,
    /// Wire units: minor currency units, basis points or points.
    pub face_value: i64,
    pub currency: String,
    #[serde(default)]
    pub minimum_spend: i64,
    /// Cost of one redemption: fixed amount plus a percentage of the order
    /// (major units of `currency`).
    #[serde(default)]
    pub cost_fixed: f64,
    #[serde(default)]
    pub cost_percent: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenefitKindName {
    Coupon,
    Discount,
    Points,
    FreeShipping,
}

impl From<BenefitKindName> for BenefitKind {
    fn from(kind: BenefitKindName) -> Self {
        match kind {
            BenefitKindName::Coupon => BenefitKind::Coupon,
            BenefitKindName::Discount => BenefitKind::Discount,
            BenefitKindName::Points => BenefitKind::Points,
            BenefitKindName::FreeShipping => BenefitKind::FreeShipping,
        }
    }
}

/// The built-in catalogue's currency before a run settles its own, and the
/// fallback of a run whose events name no currency and no catalogue.
const DEFAULT_CURRENCY: &str = "EUR";

fn default_benefits() -> Vec<BenefitSpec> {
    preset_benefits("retail")
}

/// The built-in catalogue for the lifecycle model `model` (a preset's
/// name): the benefits `strata gen` issues offers from for that preset, so
/// the offer policy learns from its past issues. Retail's for any other name.
pub fn preset_benefits(model: &str) -> Vec<BenefitSpec> {
    let spec = |id: &str, kind, face_value, cost_fixed, cost_percent| BenefitSpec {
        benefit_id: id.to_owned(),
        kind,
        face_value,
        currency: DEFAULT_CURRENCY.to_owned(),
        minimum_spend: 0,
        cost_fixed,
        cost_percent,
    };
    match model {
        // 20% off an add-on contract's first year; a 150 onboarding credit.
        "saas" => vec![
            spec("first-year-20", BenefitKindName::Discount, 2000, 0.0, 20.0),
            spec(
                "onboarding-credit",
                BenefitKindName::Coupon,
                15_000,
                150.0,
                0.0,
            ),
        ],
        // A waived 10 custody fee; a one-off 0.5% bonus on a top-up.
        "wealth" => vec![
            spec("fee-waiver", BenefitKindName::Coupon, 1000, 10.0, 0.0),
            spec("bonus-yield", BenefitKindName::Discount, 50, 0.0, 0.5),
        ],
        _ => retail_benefits(spec),
    }
}

/// The catalogue `strata gen` issues retail offers from (its `BENEFITS`).
fn retail_benefits(
    spec: impl Fn(&str, BenefitKindName, i64, f64, f64) -> BenefitSpec,
) -> Vec<BenefitSpec> {
    vec![
        spec("coupon-5", BenefitKindName::Coupon, 500, 5.0, 0.0),
        spec("coupon-10", BenefitKindName::Coupon, 1000, 10.0, 0.0),
        spec("discount-15", BenefitKindName::Discount, 1500, 0.0, 15.0),
        spec(
            "free-shipping",
            BenefitKindName::FreeShipping,
            490,
            4.9,
            0.0,
        ),
        spec("points-200", BenefitKindName::Points, 200, 2.0, 0.0),
    ]
}

/// `[campaigns]` in the recompute's `--config`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignsConfig {
    /// Most campaigns running at once a user is a member of; default: the
    /// channel model's `[channel] max_contacts`.
    pub max_active_treatments: Option<u32>,
}

/// `[offers]` in the recompute's `--config`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OffersConfig {
    /// Probability that an issue was held back (the logging policy's
    /// control share). Unset: estimated from the logs as the held-back share
    /// of the finished issues; the benefit mix is always estimated.
    pub control_share: Option<f64>,
    /// Most issues the policies learn from: beyond it, whole users are
    /// sampled by a hash of their id. Bounds the learner's time and memory
    /// (cross-fitting passes over every issue some forty times).
    pub max_issues: usize,
}

impl Default for OffersConfig {
    fn default() -> Self {
        OffersConfig {
            control_share: None,
            max_issues: 400_000,
        }
    }
}

/// `[global_control]` in the recompute's `--config`, recorded in the model
/// file so every worker applying it draws the same group.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalControlConfig {
    /// Share of all users held out, in [0, 0.5]; 0 (the default) turns the
    /// group off, so a config without the table serves as before.
    pub share: f64,
    /// Salts the membership hash: a new salt draws a new group.
    pub salt: String,
}

impl Default for GlobalControlConfig {
    fn default() -> Self {
        GlobalControlConfig {
            share: 0.0,
            salt: strata_audience::DEFAULT_GLOBAL_CONTROL_SALT.to_owned(),
        }
    }
}

impl GlobalControlConfig {
    /// The group these settings draw.
    pub fn group(&self) -> Result<strata_audience::GlobalControl, strata_audience::Error> {
        strata_audience::GlobalControl::new(&self.salt, self.share)
    }
}

/// A models config file that cannot be used; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelsConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("config: {0}")]
    Invalid(String),
    #[error(transparent)]
    Currency(#[from] CurrencyError),
    #[error(
        "benefits[{index}] ({benefit_id}) is in {benefit_currency} but the run's amounts are in \
         {run_currency}: give the catalogue in {run_currency}, or set [currency] base = \
         \"{benefit_currency}\" with rates to convert the events"
    )]
    CatalogueCurrency {
        index: usize,
        benefit_id: String,
        benefit_currency: String,
        run_currency: String,
    },
}

impl ModelsConfig {
    /// The settings in `path` (TOML), or the defaults without a file; checked
    /// with [`ModelsConfig::validate`] either way.
    pub fn load(path: Option<&Path>) -> Result<ModelsConfig, ModelsConfigError> {
        let models: ModelsConfig = match path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ModelsConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?;
                let parse_error = |source| ModelsConfigError::Parse {
                    path: path.to_owned(),
                    source,
                };
                let mut models: ModelsConfig = toml::from_str(&text).map_err(parse_error)?;
                let table: toml::Table = toml::from_str(&text).map_err(parse_error)?;
                models.default_catalogue = !table.contains_key("benefits");
                models
            }
            None => ModelsConfig::default(),
        };
        models.validate().map_err(ModelsConfigError::Invalid)?;
        Ok(models)
    }

    /// Checks every value, naming the key that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        self.value.validate().map_err(|error| error.to_string())?;
        self.currency
            .validate()
            .map_err(|error| error.to_string())?;
        self.quadrant
            .validate()
            .map_err(|error| error.to_string())?;
        let share = self.propensity.holdout_share;
        if !(0.05..=0.5).contains(&share) {
            return Err(format!(
                "propensity.holdout_share {share} is outside 0.05..=0.5"
            ));
        }
        if self.propensity.max_train_users < 1_000 {
            return Err(format!(
                "propensity.max_train_users {} is below 1000",
                self.propensity.max_train_users
            ));
        }
        if self.propensity.window_days == 0 || self.lifetime.horizon_days == 0 {
            return Err(
                "propensity.window_days and lifetime.horizon_days must be at least 1".into(),
            );
        }
        let predictions = &self.predictions;
        if predictions.churn_horizon_days == 0 || predictions.churn_horizon_days > 730 {
            return Err(format!(
                "predictions.churn_horizon_days {} is outside 1..=730",
                predictions.churn_horizon_days
            ));
        }
        if predictions.min_history_days < predictions.churn_horizon_days {
            return Err(format!(
                "predictions.min_history_days {} is below predictions.churn_horizon_days {}: \
                 the backtest holds out the horizon, so history must be at least that long",
                predictions.min_history_days, predictions.churn_horizon_days
            ));
        }
        let prior = self.send_time.prior_sends;
        if !(prior.is_finite() && prior > 0.0) {
            return Err(format!(
                "send_time.prior_sends {prior} must be a number above 0"
            ));
        }
        if !(0.0..=1.0).contains(&self.economics.margin_rate) {
            return Err(format!(
                "economics.margin_rate {} is outside 0..=1",
                self.economics.margin_rate
            ));
        }
        if let Some(share) = self.offers.control_share
            && !(share > 0.0 && share < 1.0)
        {
            return Err(format!("offers.control_share {share} is outside (0, 1)"));
        }
        if self.offers.max_issues < 1_000 {
            return Err(format!(
                "offers.max_issues {} is below 1000",
                self.offers.max_issues
            ));
        }
        self.global_control
            .group()
            .map_err(|error| error.to_string())?;
        if self.global_control.salt.trim().is_empty() {
            return Err("global_control.salt is empty; name the group (any text)".into());
        }
        for (index, benefit) in self.benefits.iter().enumerate() {
            if benefit.benefit_id.is_empty() {
                return Err(format!("benefits[{index}].benefit_id is empty"));
            }
            if !strata_core::currency::is_currency_code(&benefit.currency) {
                return Err(format!(
                    "benefits[{index}] ({}): currency {:?} is not an ISO 4217 code (three capital letters)",
                    benefit.benefit_id, benefit.currency
                ));
            }
            if benefit.cost_fixed < 0.0 || !(0.0..=100.0).contains(&benefit.cost_percent) {
                return Err(format!(
                    "benefits[{index}] ({}): cost_fixed must be >= 0 and cost_percent in 0..=100",
                    benefit.benefit_id
                ));
            }
        }
        Ok(())
    }

    /// Puts the built-in catalogue of the lifecycle model `model` in place
    /// of the retail one, unless the file gave `[[benefits]]`.
    pub fn use_model_catalogue(&mut self, model: &str) {
        if self.default_catalogue {
            self.benefits = preset_benefits(model);
        }
    }

    /// Settles the run's currency from what `tally` saw while the events
    /// were read, and puts the catalogue in it: the default catalogue takes
    /// it on; a given catalogue must already be in it.
    pub fn settle_currency(&mut self, tally: CurrencyTally) -> Result<(), ModelsConfigError> {
        let fallback = self
            .benefits
            .first()
            .map_or(DEFAULT_CURRENCY, |benefit| benefit.currency.as_str())
            .to_owned();
        let settled = tally.settle(&fallback)?;
        if self.default_catalogue {
            for benefit in &mut self.benefits {
                benefit.currency.clone_from(&settled.code);
            }
        } else if let Some((index, benefit)) = self
            .benefits
            .iter()
            .enumerate()
            .find(|(_, benefit)| benefit.currency != settled.code)
        {
            return Err(ModelsConfigError::CatalogueCurrency {
                index,
                benefit_id: benefit.benefit_id.clone(),
                benefit_currency: benefit.currency.clone(),
                run_currency: settled.code,
            });
        }
        self.settled_currency = Some(settled);
        Ok(())
    }

    /// The currency predicted values and offer estimates are served in: the
    /// run's once settled, else the catalogue's.
    pub fn currency_code(&self) -> &str {
        match &self.settled_currency {
            Some(settled) => &settled.code,
            None => self
                .benefits
                .first()
                .map_or(DEFAULT_CURRENCY, |benefit| benefit.currency.as_str()),
        }
    }
}
