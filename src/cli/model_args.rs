//! The flags every stage that reads events or fits models shares (`summarize`,
//! `fit`, `recompute`): which lifecycle model and settings, and how strict the
//! row checks are. One definition, so the stages cannot drift apart.

use std::path::PathBuf;

use clap::Args;
use strata_core::LifecycleModel;
use strata_events::input::{ErrorBudget, RowLimits};
use strata_job::ModelsConfig;

/// The lifecycle model and the model settings of a run.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Built-in lifecycle preset: retail, sns, saas or wealth.
    #[arg(long, default_value = "retail", conflicts_with = "model")]
    pub preset: String,
    /// A custom lifecycle model (TOML) instead of a preset.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Model settings (TOML: [value], [quadrant], [lifetime], [propensity],
    /// [channel], [economics], [fairness], [currency], [[benefits]]).
    /// `summarize` reads only [currency]: amounts are converted as read.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl ModelArgs {
    /// The lifecycle model: the --model file, or the --preset.
    pub fn lifecycle(&self) -> anyhow::Result<LifecycleModel> {
        Ok(match &self.model {
            Some(path) => super::parse::read_model(path)?,
            None => LifecycleModel::preset(&self.preset)?,
        })
    }

    /// The model settings (defaults without --config), with the benefit
    /// catalogue of `model`'s preset when the settings name none, so that
    /// a fit and the runs applying it learn over the same catalogue.
    pub fn settings(&self, model: &LifecycleModel) -> anyhow::Result<ModelsConfig> {
        let mut models = ModelsConfig::load(self.config.as_deref())?;
        models.use_model_catalogue(model.name());
        Ok(models)
    }
}

/// How many bad rows a run tolerates, and what makes a row bad.
#[derive(Debug, Args)]
pub struct RowArgs {
    /// Fail when more than this share of rows is bad.
    #[arg(long, default_value_t = 0.01)]
    pub max_bad_fraction: f64,
    /// Rows whose amount is above this (in absolute value) are bad rows.
    #[arg(long, default_value_t = strata_events::input::DEFAULT_MAX_AMOUNT)]
    pub max_amount: f64,
}

impl RowArgs {
    /// The error budget of a run describing `as_of`, checked now.
    pub fn budget(&self, as_of: i64) -> ErrorBudget {
        ErrorBudget {
            max_bad_fraction: self.max_bad_fraction,
            limits: RowLimits::for_run(as_of, super::recompute::now_millis())
                .with_max_amount(self.max_amount),
        }
    }
}
