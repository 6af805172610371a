//! `strata report`: a recompute's run report (--report-data) rendered as
//! one HTML page with charts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::output::outln;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run report (JSON) a recompute wrote with --report-data.
    #[arg(long)]
    pub run: PathBuf,
    /// The HTML page to write.
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.run)
        .with_context(|| format!("reading {}", args.run.display()))?;
    let data = strata_report::RunReport::from_json(&text)
        .with_context(|| format!("run report {}", args.run.display()))?;
    write_report_page(&data, &args.out, Some(&args.run))?;
    outln!("report written to {}", args.out.display())?;
    Ok(())
}

/// Writes the page; `source` is the run report file it names (by file
/// name), when the numbers were read from (or also written to) one.
pub fn write_report_page(
    data: &strata_report::RunReport,
    path: &Path,
    source: Option<&Path>,
) -> anyhow::Result<()> {
    let name = source
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned());
    let page = strata_report::render_page(data, name.as_deref())?;
    std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
