//! `strata serve`: the server on one data folder. Settings in precedence
//! order: flag, then environment, then --config file, then default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use strata_server::Bound;
use strata_server::config::Config;

use super::output::outln;

/// Settings in precedence order: flag, then environment, then --config file, then default.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "STRATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// RocksDB folder [default: ./data].
    #[arg(long, env = "STRATA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// gRPC address; port 0 picks a free one [default: 127.0.0.1:50051].
    #[arg(long, env = "STRATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Prometheus metrics address [default: 127.0.0.1:9464].
    #[arg(long, env = "STRATA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Most user ids per BatchGetProfiles call [default: 1000].
    #[arg(long, env = "STRATA_MAX_BATCH_SIZE")]
    pub max_batch_size: Option<usize>,
    /// Block cache size in MiB [default: 256].
    #[arg(long, env = "STRATA_BLOCK_CACHE_MB")]
    pub block_cache_mb: Option<usize>,
}

impl ServeArgs {
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(data_dir) = &self.data_dir {
            config.store.data_dir = data_dir.clone();
        }
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(metrics_listen) = self.metrics_listen {
            config.server.metrics_listen = metrics_listen;
        }
        if let Some(max_batch_size) = self.max_batch_size {
            config.server.max_batch_size = max_batch_size;
        }
        if let Some(block_cache_mb) = self.block_cache_mb {
            config.store.block_cache_mb = block_cache_mb;
        }
        config.validate()?;
        Ok(config)
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    strata_server::serve(config, strata_server::termination_signal(), announce).await?;
    Ok(())
}

/// Prints the bound addresses on stdout, where scripts and tests read them.
/// A server outlives its stdout: a closed one (`strata serve | head -1`)
/// is no reason to stop serving, so write errors are dropped here.
pub fn announce(bound: Bound) {
    let _ = outln!("grpc listening on {}", bound.grpc);
    let _ = outln!("metrics listening on {}", bound.metrics);
}
