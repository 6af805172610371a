//! Flag values several commands parse alike: times (RFC 3339 or epoch) and
//! custom lifecycle model files.

use std::path::Path;

use anyhow::Context;
use strata_core::LifecycleModel;
use strata_events::input::timestamp;

/// RFC 3339, epoch seconds or milliseconds, or `today`: 00:00 UTC of the
/// current day (what `strata demo` generates up to and recomputes as of).
pub fn parse_time(text: &str) -> Result<i64, String> {
    if text.eq_ignore_ascii_case("today") {
        return Ok(today());
    }
    timestamp::parse_text(text)
}

/// 00:00 UTC of the current day, in Unix milliseconds.
pub fn today() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64);
    strata_events::generate::start_of_day(now)
}

/// A custom lifecycle model from its TOML file (`--model FILE`).
pub fn read_model(path: &Path) -> anyhow::Result<LifecycleModel> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading model {}", path.display()))?;
    LifecycleModel::from_toml(&text).with_context(|| format!("model {}", path.display()))
}
