//! `strata demo`: serve, generate demo events, recompute them and push the
//! profiles in, in one process; then print a tour of the API.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata_core::LifecycleModel;
use strata_events::generate;
use strata_events::input::ErrorBudget;
use strata_job::{Delivery, ModelsConfig, PushTarget, RecomputeOptions};
use strata_server::Bound;
use tokio::sync::Notify;

use super::generate::{PopulationArgs, write_events};
use super::output::{out, outln};
use super::serve::{ServeArgs, announce};

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub population: PopulationArgs,
    /// Folder for the generated events and the recompute job's state.
    #[arg(long, default_value = "./demo")]
    pub work_dir: PathBuf,
    /// Stop after loading instead of serving on.
    #[arg(long)]
    pub exit_after_load: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let config = args.serve.config()?;
    let stop = Arc::new(Notify::new());
    let shutdown = {
        let stop = stop.clone();
        async move {
            tokio::select! {
                _ = strata_server::termination_signal() => {}
                _ = stop.notified() => {}
            }
        }
    };
    let (ready_sender, ready) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(strata_server::serve(config, shutdown, move |bound| {
        announce(bound);
        let _ = ready_sender.send(bound);
    }));
    let bound = match ready.await {
        Ok(bound) => bound,
        // The server failed before binding: report its error.
        Err(_) => {
            server.await??;
            anyhow::bail!("server stopped before it was ready");
        }
    };
    let loaded = load_demo(&args, bound).await;
    if args.exit_after_load || loaded.is_err() {
        stop.notify_one();
    } else {
        print_tour(bound);
    }
    let served = server.await?;
    loaded?;
    served?;
    Ok(())
}

/// The README's path, in one process: gen -> recompute -> push.
async fn load_demo(args: &DemoArgs, bound: Bound) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let events = args.work_dir.join("events.parquet");
    let gen_config = args.population.gen_config()?;
    let written = write_events(&gen_config, &events, None)?;
    // The demo is a server: a closed stdout does not stop it (see `announce`).
    let _ = outln!(
        "generated {written} events for {} users in {}",
        args.population.users,
        events.display()
    );

    let model = LifecycleModel::preset(&args.population.preset)?;
    let summary = strata_job::run(RecomputeOptions {
        events: vec![events],
        model_version: format!("{}-1", model.name()),
        model,
        as_of: gen_config.end,
        models: ModelsConfig::default(),
        budget: ErrorBudget::default(),
        state_file: args.work_dir.join("recompute.state.jsonl"),
        delivery: Delivery::Push {
            target: PushTarget::Server(strata_client::Connection::new(format!(
                "http://{}",
                bound.grpc
            ))),
            producer_id: format!("demo-{}", args.population.preset),
            batch_size: 1000,
            crash_after_batches: None,
        },
        delete_missing: false,
        delete_guard: strata_job::DeleteGuard::default(),
        full_push: false,
        transitions_file: None,
        show_progress: true,
        targeting: None,
    })
    .await?;
    let _ = out!("{summary}");
    Ok(())
}

fn print_tour(bound: Bound) {
    let grpc = bound.grpc;
    let first = generate::user_id(0);
    let second = generate::user_id(1);
    let _ = outln!(
        r#"
Try it (grpcurl uses server reflection):
  grpcurl -plaintext -d '{{"user_ids":["{first}","{second}","nobody"]}}' {grpc} strata.v1.ProfileService/BatchGetProfiles
  grpcurl -plaintext -d '{{"user_ids":["{first}"],"field_mask":"valueTier"}}' {grpc} strata.v1.ProfileService/BatchGetProfiles
  grpcurl -plaintext -d '{{"user_id":"{first}","context":{{"surface":"SURFACE_CHECKOUT","cart_value":5000,"currency":"EUR"}}}}' {grpc} strata.v1.ProfileService/GetOffers
  grpcurl -plaintext {grpc} grpc.health.v1.Health/Check
  curl -s http://{metrics}/metrics
Stop with Ctrl-C."#,
        metrics = bound.metrics
    );
}
