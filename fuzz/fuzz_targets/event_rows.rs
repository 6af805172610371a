//! Event logs are outside input: any file, in any of the three formats, must
//! be read into events and counted bad rows, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strata_events::input::{ErrorBudget, EventSource};

/// One folder per fuzzing process; each input overwrites the same files.
fn folder() -> &'static PathBuf {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let folder = std::env::temp_dir().join(format!("strata-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("temporary folder");
        folder
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let extension = ["csv", "jsonl", "parquet"][usize::from(selector % 3)];
    let path = folder().join(format!("events.{extension}"));
    std::fs::write(&path, body).expect("write the input");
    let Ok(source) = EventSource::open(&[path]) else {
        return;
    };
    // Every bad row is tolerated: the point is that none of them panics.
    let budget = ErrorBudget {
        max_bad_fraction: 1.0,
        ..ErrorBudget::DEFAULT
    };
    let mut events = 0u64;
    if let Ok(report) = source.read(budget, |_| events += 1) {
        assert_eq!(report.events, events);
    }
});
