//! The store's names and keys: the column family of each model version and
//! the meta key of each version's pyramid counters. One place, so the
//! version catalog and the pyramid never need each other to spell a key.

pub(crate) const PROFILES_CF: &str = "profiles";

pub(crate) fn cf_name(generation: u64) -> String {
    if generation == 0 {
        PROFILES_CF.to_owned()
    } else {
        format!("{PROFILES_CF}@{generation}")
    }
}

/// The meta key of a generation's counters.
pub(crate) fn pyramid_key(generation: u64) -> Vec<u8> {
    format!("pyramid@{generation}").into_bytes()
}

/// The generation a meta key holds counters of.
pub(crate) fn pyramid_generation(key: &[u8]) -> Option<u64> {
    std::str::from_utf8(key)
        .ok()?
        .strip_prefix("pyramid@")?
        .parse()
        .ok()
}
