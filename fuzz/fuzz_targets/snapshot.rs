//! Snapshot files come from outside the server (a bulk load): any bytes must
//! give a profile stream or a clean error, never a panic or an unbounded
//! allocation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut seen = 0u64;
    let result = strata_snapshot::read_snapshot_from(data, Path::new("fuzz.snapshot"), |_| {
        seen += 1
    });
    if let Ok((_, trailer)) = result {
        // A snapshot that verifies holds exactly the records its trailer counts.
        assert_eq!(trailer.profiles, seen);
    }
});
