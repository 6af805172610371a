//! Snapshot files, re-exported from `strata-snapshot` (the format's own
//! crate) under the name the rest of this package uses.

pub use strata_snapshot::*;
