//! Fills the profile cache from the serving version in the background
//! (after start-up and after a version switch), so the first lookups need
//! not all go to RocksDB; stops at shutdown.

use std::sync::Arc;

use strata_store::Store;

/// Fills the profile cache from the serving version in the background
/// (after start-up and after a version switch), so the first lookups need
/// not all go to RocksDB; stops at shutdown.
pub(crate) fn spawn_cache_warmer(store: Arc<Store>, stop: tokio::sync::watch::Receiver<bool>) {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        match store.warm_profile_cache(|| *stop.borrow()) {
            Ok(users) => {
                tracing::info!(users, elapsed = ?started.elapsed(), "profile cache warmed")
            }
            Err(error) => tracing::warn!(%error, "profile cache warm-up stopped"),
        }
    });
}
