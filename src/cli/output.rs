//! Standard output for command results, as writes that return errors.
//!
//! `println!` panics when stdout is a pipe whose reader has gone
//! (`strata admin watch | head -1`), and the process exits 101. Every command
//! prints through `outln!` / `out!` instead: a closed stdout becomes
//! [`StdoutClosed`] inside the returned `io::Error`, which `main` turns into a
//! quiet exit 0 (what `head`, `grep -q` and `less` expect of a producer). Only
//! stdout's own errors are marked, so a broken pipe on a network socket stays
//! an error. `clippy::print_stdout` (denied in `main.rs`) keeps `println!` out.

use std::io::{self, Write};

/// Marks an `io::Error` as "our stdout's reader went away".
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes `args` to stdout; a broken pipe comes back marked [`StdoutClosed`].
pub fn write_fmt(args: std::fmt::Arguments<'_>) -> io::Result<()> {
    io::stdout().lock().write_fmt(args).map_err(mark)
}

/// Flushes stdout (its line buffer may hold a last line without a newline).
pub fn flush() -> io::Result<()> {
    io::stdout().lock().flush().map_err(mark)
}

fn mark(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        error
    }
}

/// Whether `error` (anywhere in its chain) is a write to a closed stdout.
pub fn is_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<StdoutClosed>()
            || cause
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// Resolves once stdout's reader has gone (a pipe reports an error to
/// epoll), so a command that waits for input between lines (`admin watch`)
/// ends with the pipe rather than at its next line. Never resolves when
/// stdout cannot be watched (a file, `/dev/null`): those never close.
pub async fn closed() {
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    // SAFETY: fd 1 is open for the whole process and always names the same
    // open file: nothing in strata closes or replaces it (std's `Stdout`
    // never closes it), and the `AsyncFd` only lives inside this future.
    let registered = unsafe { AsyncFd::register_with_interest(io::stdout(), Interest::ERROR) };
    match registered {
        Ok(stdout) => {
            // Only an error readiness resolves this, never a readable tty.
            let _ready = stdout.ready(Interest::ERROR).await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

/// `print!` as a fallible write: `out!(...)?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` as a fallible write: `outln!(...)?`.
macro_rules! outln {
    () => {
        $crate::cli::output::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
