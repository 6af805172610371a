//! The `strata` command: logging, the allocator, the async runtime, and
//! dispatch to one file per command under `cli/`.

// Commands print through `cli::output` (writes that return errors), so a
// closed stdout ends them quietly instead of panicking in `println!`.
#![deny(clippy::print_stdout)]

mod allocator;
mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::LogFormat;

fn main() -> ExitCode {
    allocator::tune_pages();
    let cli = cli::Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our stdout has gone (`| head -1`): it has what it
        // wanted, so this is a success, and nothing is said about it.
        Err(error) if cli::output::is_closed(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // What `fn main() -> anyhow::Result` printed, minus its panic
            // should stderr be closed too.
            let _ = writeln!(std::io::stderr(), "Error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(cli.run())?;
    cli::output::flush()?;
    Ok(())
}

/// Log lines go to stderr, filtered by `RUST_LOG` (default `info`). Text is
/// coloured only when stderr is a terminal and `NO_COLOR` is unset or empty
/// (no escape codes in files, pipes or `kubectl logs`); JSON is one object
/// per line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour_logs()).init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

fn colour_logs() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    std::io::stderr().is_terminal() && !no_color
}
