//! `strata backup` (a consistent checkpoint of a running server's store,
//! written on its disk) and `strata restore` (a backup copied into the data
//! folder of a stopped server).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::admin::TargetArgs;
use super::output::outln;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// A new folder on the server's disk for the checkpoint.
    #[arg(long)]
    out: String,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup folder written by `strata backup`.
    #[arg(long)]
    from: PathBuf,
    /// The stopped server's data folder.
    #[arg(long)]
    data_dir: PathBuf,
    /// Replace a data folder that is not empty.
    #[arg(long)]
    force: bool,
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let backup = args.target.admin().await?.create_backup(args.out).await?;
    outln!(
        "backup written to {} (model version {})",
        backup.dir,
        backup.model_version
    )?;
    for producer in &backup.producers {
        outln!(
            "producer {} at sequence {}",
            producer.producer_id,
            producer.last_applied_sequence
        )?;
    }
    Ok(())
}

/// Offline: the server must be stopped (RocksDB's lock on the data folder
/// makes opening fail otherwise).
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    strata_store::restore_backup(&args.from, &args.data_dir, args.force)?;
    // Opening checks the copy and shows what a server will serve from it.
    let store =
        strata_store::Store::open(&args.data_dir, &strata_store::StoreOptions::default())
            .with_context(|| format!("opening the restored store {}", args.data_dir.display()))?;
    outln!(
        "restored {} into {} (model version {})",
        args.from.display(),
        args.data_dir.display(),
        store.current_model_version()
    )?;
    for (producer, sequence) in store.producers()? {
        outln!("producer {producer} at sequence {sequence}")?;
    }
    Ok(())
}
