//! A read cut into chunks (a Parquet row group, a whole CSV or JSON Lines file) and spread
//! over threads: each thread reads a contiguous run of chunks in order, so concatenating the
//! threads' counts in thread order gives the counts, bad-row samples and first error of a
//! read in one thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::Event;

use super::{Counts, EventSink, Format, LogFile, Progress, RowLimits, Tally, csv, jsonl, parquet};
use crate::Error;

/// A piece of a read one thread does at once.
pub(super) struct Chunk {
    path: PathBuf,
    work: Work,
    /// Bytes of input the chunk stands for (a row group's share of its file).
    bytes: u64,
}

enum Work {
    Csv,
    Jsonl,
    Parquet(parquet::Group),
    /// A 0-byte Parquet file: an empty log.
    Empty,
    /// A file that cannot be read: its error, raised when the read reaches it, so an
    /// earlier file's error still wins as in a read in one thread.
    Failed(Error),
}

/// The chunks of `files`, in reading order.
pub(super) fn plan(files: &[LogFile]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for file in files {
        let chunk = |work, bytes| Chunk {
            path: file.path.clone(),
            work,
            bytes,
        };
        match file.format {
            Format::Csv => chunks.push(chunk(Work::Csv, file.bytes)),
            Format::Jsonl => chunks.push(chunk(Work::Jsonl, file.bytes)),
            Format::Parquet if file.bytes == 0 => chunks.push(chunk(Work::Empty, 0)),
            Format::Parquet => match parquet::plan(&file.path, file.bytes) {
                Ok(groups) => {
                    for (group, bytes) in groups {
                        chunks.push(chunk(Work::Parquet(group), bytes));
                    }
                }
                Err(error) => chunks.push(chunk(Work::Failed(error), file.bytes)),
            },
        }
    }
    chunks
}

/// Reads `chunks` in order on this thread; the counts so far and the error, if one
/// stopped the read.
pub(super) fn read_range(
    chunks: Vec<Chunk>,
    limits: RowLimits,
    sink: &mut dyn FnMut(&mut Event, bool),
    progress: &mut dyn FnMut(u64, u64),
) -> (Counts, Result<(), Error>) {
    let mut tally = Tally::new(limits, sink, progress);
    for chunk in chunks {
        let _span = tracing::debug_span!("read_events", file = %chunk.path.display()).entered();
        tally.start_chunk();
        let outcome = match chunk.work {
            Work::Csv => csv::read(&chunk.path, &mut tally),
            Work::Jsonl => jsonl::read(&chunk.path, &mut tally),
            Work::Parquet(group) => {
                parquet::read_group(&chunk.path, &group, chunk.bytes, &mut tally)
            }
            Work::Empty => Ok(()),
            Work::Failed(error) => Err(error),
        };
        if let Err(error) = outcome {
            return (tally.counts, Err(error));
        }
        tally.finish_chunk(chunk.bytes);
    }
    (tally.counts, Ok(()))
}

/// Reads `chunks` on one thread per sink (at least one), each a contiguous run of about the
/// same number of bytes.
pub(super) fn read_all<S: EventSink>(
    chunks: Vec<Chunk>,
    limits: RowLimits,
    bytes_total: u64,
    progress: &(dyn Fn(Progress) + Sync),
    sinks: Vec<S>,
) -> Result<(Vec<S>, Counts), Error> {
    assert!(!sinks.is_empty(), "a parallel read needs at least one sink");
    let ranges = split(chunks, sinks.len());
    let bytes_read = &AtomicU64::new(0);
    let rows_read = &AtomicU64::new(0);
    let results: Vec<(S, Counts, Result<(), Error>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .into_iter()
            .zip(sinks)
            .map(|(range, mut sink)| {
                scope.spawn(move || {
                    let (counts, outcome) = {
                        let mut on_event =
                            |event: &mut Event, same_user: bool| sink.event(event, same_user);
                        let mut on_progress = |bytes: u64, rows: u64| {
                            progress(Progress {
                                bytes_read: bytes_read.fetch_add(bytes, Ordering::Relaxed) + bytes,
                                bytes_total,
                                rows: rows_read.fetch_add(rows, Ordering::Relaxed) + rows,
                            });
                        };
                        read_range(range, limits, &mut on_event, &mut on_progress)
                    };
                    (sink, counts, outcome)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut total = Counts::default();
    let mut sinks = Vec::with_capacity(results.len());
    for (sink, counts, outcome) in results {
        // The earliest thread's error is the error of the earliest chunk that failed.
        outcome?;
        total.append(counts);
        sinks.push(sink);
    }
    Ok((sinks, total))
}

/// Cuts `chunks` into `parts` contiguous runs of about equal bytes (some may be empty).
fn split(chunks: Vec<Chunk>, parts: usize) -> Vec<Vec<Chunk>> {
    let weight = |chunk: &Chunk| u128::from(chunk.bytes.max(1));
    let total: u128 = chunks.iter().map(weight).sum::<u128>().max(1);
    let mut ranges: Vec<Vec<Chunk>> = (0..parts).map(|_| Vec::new()).collect();
    let mut before = 0_u128;
    for chunk in chunks {
        let chunk_weight = weight(&chunk);
        // The run holding the chunk's middle byte: never decreasing, so runs are contiguous.
        let middle = before + chunk_weight / 2;
        let index = usize::try_from(middle * parts as u128 / total).unwrap_or(parts - 1);
        ranges[index.min(parts - 1)].push(chunk);
        before += chunk_weight;
    }
    ranges
}
