//! The model file: every population-wide quantity of a run, fitted once
//! (`strata fit`, or the fit stage of a plain `strata recompute`) and then
//! applied per user by any number of workers (`strata recompute --model`,
//! with or without `--partition i/N`), so a user's profile does not depend on
//! how many workers ran.
//!
//! It is JSON (human-readable, diffable), with a format number and the
//! preset, model version, as-of and a fingerprint of the `[models]` config it
//! was fitted with. Loading checks the format and every field (an unknown or
//! missing field, or a number JSON cannot hold, is an error naming its line);
//! applying it checks that the run's preset, model version, as-of and config
//! are the ones it was fitted with. JSON numbers are written shortest
//! round-trip and read back exactly (serde_json's `float_roundtrip`), so a
//! model read back is bit for bit the model fitted: a plain recompute applies
//! its own fit through the same write and read.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_core::{QuadrantScorer, ValueScorer};
use twox_hash::XxHash3_64;

use crate::config::GlobalControlConfig;
use crate::decisions::{DecisionModels, ModelReport};
use crate::offers::OfferModel;
use crate::options::RecomputeOptions;

/// The model file's format; bumped on any change a reader must know of.
pub const MODEL_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("model file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model file {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "model file {} is format {found:?}, this strata reads format {MODEL_FORMAT}: \
         refit it with this release's `strata fit`",
        path.display()
    )]
    Format { path: PathBuf, found: Option<u64> },
    #[error(
        "model file {} was fitted with {what} {fitted}, this run has {run}: {hint}",
        path.display()
    )]
    Mismatch {
        path: PathBuf,
        what: &'static str,
        fitted: String,
        run: String,
        hint: String,
    },
    #[error("model file {}: {reason}; refit it with `strata fit`", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("the fitted models cannot be written as a model file: {0}")]
    Encode(#[source] serde_json::Error),
}

/// The data the models were fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataWindow {
    /// Unix milliseconds: events after it were ignored.
    pub as_of_ms: i64,
    /// The same, RFC 3339, for people.
    pub as_of: String,
    /// First and last day with an event of any user (UTC dates).
    pub first_event_day: Option<String>,
    pub last_event_day: Option<String>,
    pub users: u64,
    /// Users with at least one purchase.
    pub buyers: u64,
}

/// Every population-wide quantity of a run. Nothing in it is per user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedModels {
    /// [`MODEL_FORMAT`].
    pub format: u32,
    /// The strata release that fitted it (informative).
    pub strata_version: String,
    /// The run's `--model` preset (or custom model name) and `--model-version`.
    pub preset: String,
    pub model_version: String,
    /// XXH3-64 of the `[models]` config as the run used it (hex).
    pub config_fingerprint: String,
    pub window: DataWindow,
    /// RFM quintile cut points and the tier thresholds.
    pub(crate) value: ValueScorer,
    /// Loyalty and satisfaction thresholds of the quadrants.
    pub(crate) quadrant: QuadrantScorer,
    /// BG/NBD and Gamma-Gamma parameters, the served propensity model with
    /// its calibration, the channel priors and cap.
    pub(crate) decisions: DecisionModels,
    /// The offer policy (cut points, uplift cells or learned surfaces, the
    /// policy served) and the fairness repairs per group and kind; `None`
    /// when no policy could be learned.
    pub(crate) offers: Option<OfferModel>,
    /// The quality figures: log-likelihood, AUCs against the baselines,
    /// calibration, the offer policies' off-policy values, fairness cost.
    pub report: ModelReport,
    /// The global control group's salt and share, so every worker applying
    /// the file holds out the same users; absent in files from before it
    /// (read as no group).
    #[serde(default)]
    pub global_control: GlobalControlConfig,
}

/// The fingerprint of the run's `[models]` config: what a model file must
/// have been fitted with to be applied. The run's settled currency is left
/// out (it is read from the data, and recorded in the report's notes).
pub(crate) fn config_fingerprint(options: &RecomputeOptions) -> String {
    let mut config = options.models.clone();
    config.settled_currency = None;
    let mut hasher = XxHash3_64::with_seed(0);
    hasher.write(format!("{config:?}").as_bytes());
    format!("{:016x}", hasher.finish())
}

impl FittedModels {
    /// The run's identity fields around fitted models.
    pub(crate) fn identify(
        options: &RecomputeOptions,
        window: DataWindow,
        value: ValueScorer,
        quadrant: QuadrantScorer,
        decisions: DecisionModels,
        offers: Option<OfferModel>,
        report: ModelReport,
    ) -> FittedModels {
        FittedModels {
            format: MODEL_FORMAT,
            strata_version: env!("CARGO_PKG_VERSION").to_owned(),
            preset: options.model.name().to_owned(),
            model_version: options.model_version.clone(),
            config_fingerprint: config_fingerprint(options),
            window,
            value,
            quadrant,
            decisions,
            offers,
            report,
            global_control: options.models.global_control.clone(),
        }
    }

    pub fn to_json(&self) -> Result<String, ModelFileError> {
        let mut text = serde_json::to_string_pretty(self).map_err(ModelFileError::Encode)?;
        text.push('\n');
        Ok(text)
    }

    /// Parses and checks a model file's text; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<FittedModels, ModelFileError> {
        #[derive(Deserialize)]
        struct Header {
            format: Option<serde_json::Value>,
        }
        let parse = |source| ModelFileError::Parse {
            path: path.to_path_buf(),
            source,
        };
        // The format first: a file from another release fails on that, not
        // on whichever field changed.
        let header: Header = serde_json::from_str(text).map_err(parse)?;
        let found = header.format.as_ref().and_then(serde_json::Value::as_u64);
        if found != Some(u64::from(MODEL_FORMAT)) {
            return Err(ModelFileError::Format {
                path: path.to_path_buf(),
                found,
            });
        }
        let models: FittedModels = serde_json::from_str(text).map_err(parse)?;
        models
            .decisions
            .predictions
            .validate()
            .map_err(|reason| ModelFileError::Invalid {
                path: path.to_path_buf(),
                reason,
            })?;
        models
            .global_control
            .group()
            .map_err(|error| ModelFileError::Invalid {
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
        Ok(models)
    }

    /// Writes the file atomically (a temporary beside it, synced, renamed):
    /// a reader never sees half a model.
    pub fn save(&self, path: &Path) -> Result<(), ModelFileError> {
        let text = self.to_json()?;
        // A model that would not load is not written.
        Self::from_json(&text, path)?;
        crate::state::write_atomically(path, |out| out.write_all(text.as_bytes())).map_err(
            |source| ModelFileError::Io {
                path: path.to_path_buf(),
                source,
            },
        )
    }

    pub fn load(path: &Path) -> Result<FittedModels, ModelFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// The models as a model file gives them back: what every worker
    /// applies, so a plain run applies exactly that too.
    pub(crate) fn through_file(self) -> Result<FittedModels, ModelFileError> {
        let text = self.to_json()?;
        Self::from_json(&text, Path::new("(in memory)"))
    }

    /// Refuses to apply a model fitted for another run: another preset,
    /// model version or as-of (checkable before reading any event).
    pub fn check_identity(
        &self,
        options: &RecomputeOptions,
        path: &Path,
    ) -> Result<(), ModelFileError> {
        let mismatch = |what, fitted: String, run: String, hint: String| {
            Err(ModelFileError::Mismatch {
                path: path.to_path_buf(),
                what,
                fitted,
                run,
                hint,
            })
        };
        if self.preset != options.model.name() {
            return mismatch(
                "preset",
                self.preset.clone(),
                options.model.name().to_owned(),
                format!(
                    "run with --preset {} (or the same --model file), or refit with `strata fit`",
                    self.preset
                ),
            );
        }
        if self.model_version != options.model_version {
            return mismatch(
                "model version",
                self.model_version.clone(),
                options.model_version.clone(),
                format!(
                    "run with --model-version {} or refit with `strata fit`",
                    self.model_version
                ),
            );
        }
        if self.window.as_of_ms != options.as_of {
            let run = strata_events::input::timestamp::format_rfc3339(options.as_of)
                .unwrap_or_else(|| options.as_of.to_string());
            return mismatch(
                "as-of",
                self.window.as_of.clone(),
                run,
                format!(
                    "run with --as-of {} or refit as of this run's time",
                    self.window.as_of
                ),
            );
        }
        Ok(())
    }

    /// Everything [`Self::check_identity`] checks, plus the `[models]`
    /// config (known once the run's currency is settled).
    pub fn check_run(&self, options: &RecomputeOptions, path: &Path) -> Result<(), ModelFileError> {
        self.check_identity(options, path)?;
        let run = config_fingerprint(options);
        if self.config_fingerprint != run {
            return Err(ModelFileError::Mismatch {
                path: path.to_path_buf(),
                what: "a [models] config of fingerprint",
                fitted: self.config_fingerprint.clone(),
                run,
                hint: "pass the --config (thresholds, catalogue, currency) the model was fitted \
                       with, or refit with `strata fit`"
                    .into(),
            });
        }
        Ok(())
    }
}

/// A model file as a run applies it: the models and where they came from
/// (for the errors).
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub path: PathBuf,
    pub models: FittedModels,
}

impl ModelFile {
    pub fn load(path: &Path) -> Result<ModelFile, ModelFileError> {
        Ok(ModelFile {
            path: path.to_path_buf(),
            models: FittedModels::load(path)?,
        })
    }
}
