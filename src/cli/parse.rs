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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_this_days_utc_midnight_and_other_times_parse_as_before() {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        let before = now();
        let today = parse_time("today").unwrap();
        let after = now();
        // Either side of a midnight the clock might cross meanwhile.
        let midnights = [before, after].map(|at| at - at.rem_euclid(86_400_000));
        assert!(midnights.contains(&today), "{today} not in {midnights:?}");
        assert!(parse_time("TODAY").is_ok_and(|at| at.rem_euclid(86_400_000) == 0));
        assert_eq!(
            parse_time("2025-01-01T00:00:00Z"),
            Ok(1_735_689_600_000),
            "RFC 3339 as before"
        );
        assert!(parse_time("tomorrow").is_err());
    }
}
