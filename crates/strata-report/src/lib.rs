//! strata-report: a recompute run's analytics as one self-contained HTML
//! page (inline SVG charts drawn by plotters, each with its numbers as a
//! table), from the run's numbers ([`RunReport`], JSON on disk).
//!
//! Architecture invariant: no tonic, tokio or rocksdb here, and no C build:
//! the page is rendered from plain numbers, so it can be rebuilt from a saved
//! `report.json` anywhere.

pub mod data;
mod render;

pub use data::{
    BenefitMix, BgNbdFit, BgNbdHoldout, ChurnCandidate, ChurnCheck, CohortCounter, CohortMatrix,
    CohortRow, Count, FORMAT, FairnessCost, FrequencyBucket, FunnelStep, GammaGammaFit, Interval,
    LayerCount, LayerValue, ModelChecks, NextOrderCheck, OfferPolicyCheck, PolicyEstimate,
    PredictionsCheck, PropensityCalibration, PropensityCandidate, PropensityCheck, ReliabilityBin,
    RunReport, SwitchedOff, Transition, ValueReport, funnel,
};
pub use render::{CHART_IDS, render_html, render_page};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("drawing a chart: {0}")]
    Draw(String),
    #[error("run report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("run report format {found} is not the supported format {FORMAT}")]
    Format { found: u32 },
}

impl RunReport {
    /// Parses a run report written by [`RunReport::to_json`].
    pub fn from_json(text: &str) -> Result<RunReport, Error> {
        let report: RunReport = serde_json::from_str(text)?;
        if report.format != FORMAT {
            return Err(Error::Format {
                found: report.format,
            });
        }
        Ok(report)
    }

    pub fn to_json(&self) -> Result<String, Error> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}
