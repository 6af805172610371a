//! Flag values several commands parse alike: times (RFC 3339 or epoch) and
//! custom lifecycle model files.

use std::path::Path;

use anyhow::Context;
use strata_core::LifecycleModel;
use strata_events::input::timestamp;

pub fn parse_time(text: &str) -> Result<i64, String> {
    timestamp::parse_text(text)
}

/// A custom lifecycle model from its TOML file (`--model FILE`).
pub fn read_model(path: &Path) -> anyhow::Result<LifecycleModel> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading model {}", path.display()))?;
    LifecycleModel::from_toml(&text).with_context(|| format!("model {}", path.display()))
}
