//! The report printed at the end of a recompute run.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use strata_recompute::input::InputReport;

use super::push::PushOutcome;

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub input: InputReport,
    /// Events dated after the as-of time, left out.
    pub ignored_after_as_of: u64,
    pub users: u64,
    /// (layer index, label) -> users; a churned state reads `growth (churned)`.
    pub layers: BTreeMap<(u32, String), u64>,
    pub tiers: BTreeMap<String, u64>,
    pub quadrants: BTreeMap<String, u64>,
    /// (from, to) -> users; "(none)" for users new to the job.
    pub transitions: BTreeMap<(String, String), u64>,
    /// Users whose profile differs from the last delivered one.
    pub changed: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub pushed: Option<PushOutcome>,
    /// A push interrupted by an earlier crash, finished at the start.
    pub resumed: Option<PushOutcome>,
    pub phases: Vec<(&'static str, Duration)>,
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * count as f64 / total as f64
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.input;
        writeln!(out, "recompute summary")?;
        writeln!(
            out,
            "  input      {} files, {} rows, {} events, {} bad rows, {} after as-of (ignored)",
            input.files, input.rows, input.events, input.bad_rows, self.ignored_after_as_of
        )?;
        for bad in input.bad_row_samples.iter().take(5) {
            writeln!(out, "             bad row {bad}")?;
        }
        writeln!(out, "  users      {}", self.users)?;
        writeln!(out, "  layers (the pyramid)")?;
        let widest = self.layers.values().copied().max().unwrap_or(0);
        for ((index, label), count) in self.layers.iter().rev() {
            let width = if widest == 0 {
                0
            } else {
                (40 * count).div_ceil(widest) as usize
            };
            writeln!(
                out,
                "    {index} {label:<26} {count:>9} {:>5.1}% {}",
                share(*count, self.users),
                "#".repeat(width)
            )?;
        }
        for (title, counts) in [("value tiers", &self.tiers), ("quadrants", &self.quadrants)] {
            writeln!(out, "  {title}")?;
            for (name, count) in counts {
                writeln!(
                    out,
                    "    {name:<30} {count:>9} {:>5.1}%",
                    share(*count, self.users)
                )?;
            }
        }
        writeln!(out, "  transitions")?;
        if self.transitions.is_empty() {
            writeln!(out, "    none")?;
        }
        for ((from, to), count) in &self.transitions {
            writeln!(out, "    {from:>22} -> {to:<26} {count:>9}")?;
        }
        writeln!(
            out,
            "  delivery   {} changed, {} unchanged, {} erased",
            self.changed, self.unchanged, self.deleted
        )?;
        for (what, outcome) in [("resumed", &self.resumed), ("pushed", &self.pushed)] {
            if let Some(outcome) = outcome {
                writeln!(
                    out,
                    "  {what:<10} {} batches sent ({} upserts, {} deletes), {} already applied",
                    outcome.batches_sent, outcome.upserts, outcome.deletes, outcome.batches_skipped
                )?;
            }
        }
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(phase, took)| format!("{phase} {:.2}s", took.as_secs_f64()))
            .collect();
        writeln!(out, "  time       {}", phases.join(", "))?;
        let read = self
            .phases
            .iter()
            .find(|(phase, _)| *phase == "read")
            .map(|(_, took)| took.as_secs_f64());
        if let Some(seconds) = read.filter(|seconds| *seconds > 0.0) {
            writeln!(
                out,
                "  throughput {:.0} events/s read",
                input.events as f64 / seconds
            )?;
        }
        Ok(())
    }
}
