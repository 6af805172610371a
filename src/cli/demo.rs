//! `strata demo`: serve, generate demo events, recompute them and push the
//! profiles in, in one process; then print a tour of the API.
//!
//! The demo's clock is today: its events end at 00:00 UTC today and the
//! profiles are computed as of then, so the recommended benefits (valid for
//! `[economics] valid_days` from the as-of) are valid when the printed
//! GetOffers commands ask at the current time. The events are the
//! generator's fixed window moved to end today, so every day's demo has the
//! same users and the same fitted models. The tour names a user the server
//! really answers with offers, found by asking it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata_core::LifecycleModel;
use strata_events::generate;
use strata_events::input::ErrorBudget;
use strata_job::{Delivery, ModelsConfig, PushTarget, RecomputeOptions};
use strata_proto::v1;
use strata_server::Bound;
use tokio::sync::Notify;

use super::generate::{PopulationArgs, write_events};
use super::output::{out, outln};
use super::parse::{parse_time, today};
use super::serve::{ServeArgs, announce};

/// The demo's population is larger than `gen`'s default: at 10,000 users
/// the offer policy's held-out estimates (about +-0.1 per issue) cannot tell
/// the benefits' small true gain from nothing and the policy rightly serves
/// no offer; at 30,000 (about +-0.07) it serves benefits (seeds 1, 2 and 3;
/// 10 s on 2 cores).
#[derive(Debug, Args)]
#[command(mut_arg("users", |users| users.default_value("30000")))]
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
    /// The demo's clock: the events end here and the profiles are computed
    /// as of it (RFC 3339, epoch or `today`) [default: today, 00:00 UTC].
    /// Another day makes the printed GetOffers commands ask at that time.
    #[arg(long, value_parser = parse_time)]
    pub as_of: Option<i64>,
}

/// The cart the tour's checkout requests carry, in minor units.
const TOUR_CART_VALUE: i64 = 5_000;
/// How many of the first users the tour looks through for one with offers.
const TOUR_CANDIDATES: u64 = 1_000;

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
    let as_of = args.as_of.unwrap_or_else(today);
    let loaded = load_demo(&args, as_of, bound).await;
    if args.exit_after_load || loaded.is_err() {
        stop.notify_one();
    } else {
        // Without --as-of the commands ask at the current time (the
        // default), which is inside the benefits' validity.
        let request_time = args.as_of.map(format_time);
        let example = find_offer_example(&args, bound, request_time.as_deref()).await;
        print_tour(bound, &example, request_time.as_deref());
    }
    let served = server.await?;
    loaded?;
    served?;
    Ok(())
}

/// The README's path, in one process: gen -> recompute -> push.
async fn load_demo(args: &DemoArgs, as_of: i64, bound: Bound) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let events = args.work_dir.join("events.parquet");
    // The population drawn for the generator's fixed window, moved to end
    // at the demo's as-of: the same users and fits whatever the day.
    let gen_config = args.population.gen_config()?;
    let written = write_events(&gen_config, as_of, &events, None)?;
    // The demo is a server: a closed stdout does not stop it (see `announce`).
    let _ = outln!(
        "generated {written} events for {} users in {}, up to {}",
        args.population.users,
        events.display(),
        format_time(as_of)
    );

    let model = LifecycleModel::preset(&args.population.preset)?;
    let summary = strata_job::run(RecomputeOptions {
        events: vec![events],
        summaries: None,
        model_version: format!("{}-1", model.name()),
        model,
        as_of,
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

/// A user the server answers with offers, and the currency they are in.
struct OfferExample {
    user_id: String,
    currency: String,
    offers: usize,
}

/// Asks the server, as the printed commands will, for the first user among
/// the first [`TOUR_CANDIDATES`] who gets offers at checkout (`None`: nobody
/// does).
async fn find_offer_example(
    args: &DemoArgs,
    bound: Bound,
    request_time: Option<&str>,
) -> anyhow::Result<Option<OfferExample>> {
    let connection = strata_client::Connection::new(format!("http://{}", bound.grpc));
    let mut client = strata_client::ProfileClient::new(connection.connect().await?);
    let ids: Vec<String> = (0..args.population.users.min(TOUR_CANDIDATES))
        .map(generate::user_id)
        .collect();
    let answer = client.batch_get(ids, &["user_id", "benefits"]).await?;
    let at = request_time.and_then(|time| parse_time(time).ok());
    for profile in answer
        .results
        .into_iter()
        .filter_map(|result| result.profile)
    {
        let Some(first) = profile.benefits.first() else {
            continue;
        };
        let currency = first.currency.clone();
        let context = v1::OfferContext {
            surface: v1::Surface::Checkout.into(),
            cart_value: Some(TOUR_CART_VALUE),
            currency: currency.clone(),
            request_time: at.map(strata_proto::millis_to_timestamp),
        };
        let offers = client
            .get_offers(profile.user_id.clone(), context, 0)
            .await?
            .offers
            .len();
        if offers > 0 {
            return Ok(Some(OfferExample {
                user_id: profile.user_id,
                currency,
                offers,
            }));
        }
    }
    Ok(None)
}

/// The Python client of the checkout this binary was built from, when it is
/// still there (the demo may run in any folder), else the path inside a
/// checkout.
fn python_client_dir() -> String {
    let built_from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python");
    if built_from.join("example.py").is_file() {
        built_from.display().to_string()
    } else {
        "clients/python".to_owned()
    }
}

fn format_time(millis: i64) -> String {
    strata_events::input::timestamp::format_rfc3339(millis).unwrap_or_else(|| millis.to_string())
}

fn print_tour(
    bound: Bound,
    example: &anyhow::Result<Option<OfferExample>>,
    request_time: Option<&str>,
) {
    let grpc = bound.grpc;
    let first = generate::user_id(0);
    let second = generate::user_id(1);
    let _ = outln!(
        r#"
Try it (grpcurl uses server reflection):
  grpcurl -plaintext -d '{{"user_ids":["{first}","{second}","nobody"]}}' {grpc} strata.v1.ProfileService/BatchGetProfiles
  grpcurl -plaintext -d '{{"user_ids":["{first}"],"field_mask":"valueTier"}}' {grpc} strata.v1.ProfileService/BatchGetProfiles"#
    );
    match example {
        Ok(Some(OfferExample {
            user_id,
            currency,
            offers,
        })) => {
            let time = request_time
                .map(|time| format!(r#","request_time":"{time}""#))
                .unwrap_or_default();
            let _ = outln!(
                r#"Offers: {user_id} gets {offers} at checkout (the catalogue is in {currency}):
  grpcurl -plaintext -d '{{"user_id":"{user_id}","context":{{"surface":"SURFACE_CHECKOUT","cart_value":{TOUR_CART_VALUE},"currency":"{currency}"{time}}}}}' {grpc} strata.v1.ProfileService/GetOffers
  grpcurl -plaintext -d '{{"user_id":"{user_id}","context":{{"surface":"SURFACE_APP_HOME"{time}}}}}' {grpc} strata.v1.ProfileService/GetOffers"#
            );
            if request_time.is_none() {
                let python = python_client_dir();
                let _ = outln!(
                    r#"The same from Python (pip install -r {python}/requirements.txt; {python}/generate.sh /tmp/strata-gen):
  PYTHONPATH=/tmp/strata-gen python3 {python}/example.py --target {grpc} offers {user_id} --checkout {TOUR_CART_VALUE} --currency {currency}
  PYTHONPATH=/tmp/strata-gen python3 {python}/example.py --target {grpc} offers {user_id}"#
                );
            }
        }
        Ok(None) => {
            let _ = outln!(
                "Offers: none of the first {TOUR_CANDIDATES} users gets offers (see the benefits line of the summary above)."
            );
        }
        Err(error) => {
            let _ = outln!("Offers: asking the server for an example failed: {error:#}");
        }
    }
    let _ = outln!(
        r#"Operations:
  grpcurl -plaintext {grpc} grpc.health.v1.Health/Check
  curl -s http://{metrics}/metrics
Stop with Ctrl-C."#,
        metrics = bound.metrics
    );
}
