//! `strata admin`: operate a running server (load-snapshot, versions,
//! rollback, stats, watch); a thin shell over `strata_client::AdminClient`.

use anyhow::Context;
use clap::{Args, Subcommand};
use strata_client::AdminClient;
use strata_proto::v1::{FacetUsers, ModelVersion, StatsResponse, VersionState};

use super::output::{out, outln};

/// Where the server is and how to authenticate.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The server: host:port or an http(s):// URL (host:port is https://
    /// with --tls-ca).
    #[arg(long, env = "STRATA_TARGET", default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// Bearer token with the admin scope, for a server that requires one.
    /// Prefer the environment variable: flags show up in process lists.
    #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// For a server with TLS (https://... targets).
    #[command(flatten)]
    pub tls: super::client_args::ClientTlsArgs,
}

impl TargetArgs {
    pub async fn admin(&self) -> anyhow::Result<AdminClient> {
        let connection = self
            .tls
            .connection(self.target.as_str(), self.token.as_deref())?;
        Ok(AdminClient::new(connection.connect().await?))
    }
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Load a snapshot file (a path on the server's disk) as a new model
    /// version and switch to it once verified; waits until it serves.
    LoadSnapshot {
        #[command(flatten)]
        target: TargetArgs,
        /// The snapshot file, as the server sees it.
        path: String,
    },
    /// List model versions: serving, previous, building, recently failed.
    Versions {
        #[command(flatten)]
        target: TargetArgs,
        /// Also print each version's model card: the data window, the users
        /// behind each model, its holdout figures against its baselines, and
        /// the predictions switched off and why.
        #[arg(long)]
        card: bool,
    },
    /// Serve the previous model version again.
    Rollback {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The serving version's pyramid: users per layer, value tier, quadrant
    /// and best channel.
    Stats {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Print layer transitions as ingest applies them: a header line, then
    /// one tab-separated line each (cursor, user, from, to, model version,
    /// RFC 3339 time), until interrupted.
    Watch {
        #[command(flatten)]
        target: TargetArgs,
        /// Start after this cursor (the last one you processed); 0 = from now.
        #[arg(long, default_value_t = 0)]
        from_cursor: u64,
        /// Only transitions into or out of this layer label (repeatable).
        #[arg(long = "layer")]
        layers: Vec<String>,
    },
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    match args.command {
        AdminCommand::LoadSnapshot { target, path } => {
            let loaded = target.admin().await?.load_snapshot(path).await?;
            let version = loaded.version.unwrap_or_default();
            outln!(
                "loaded {}: {} records, {} sampled reads verified; previous {}",
                version.model_version,
                version.record_count,
                loaded.sampled_reads,
                loaded.previous_model_version
            )?;
        }
        AdminCommand::Versions { target, card } => {
            let listing = target.admin().await?.version_listing().await?;
            let versions = listing.versions;
            outln!(
                "{:<24} {:<9} {:>12} {:>12}  role",
                "model_version",
                "state",
                "users",
                "loaded"
            )?;
            for version in &versions {
                print_version(version)?;
            }
            if card {
                for version in &versions {
                    match listing
                        .cards
                        .iter()
                        .find(|card| card.model_version == version.model_version)
                    {
                        Some(card) => out!("{}", card_text(card))?,
                        None => outln!(
                            "\nmodel card of {}: none (loaded or pushed without one)",
                            version.model_version
                        )?,
                    }
                }
            }
        }
        AdminCommand::Rollback { target } => {
            let rolled = target.admin().await?.rollback().await?;
            outln!(
                "rolled back from {} to {}",
                rolled.from_model_version,
                rolled.to_model_version
            )?;
        }
        AdminCommand::Stats { target } => {
            let stats = target.admin().await?.stats().await?;
            out!("{}", stats_table(&stats))?;
        }
        AdminCommand::Watch {
            target,
            from_cursor,
            layers,
        } => {
            let mut stream = target
                .admin()
                .await?
                .watch_transitions(from_cursor, layers)
                .await?;
            // Ends with stdout too: `watch | head -1` must not wait for the
            // next transition to find out that nobody reads any more.
            let closed = super::output::closed();
            tokio::pin!(closed);
            outln!("cursor\tuser\tfrom\tto\tmodel_version\tat")?;
            loop {
                let message = tokio::select! {
                    message = stream.message() => message,
                    () = &mut closed => return Ok(()),
                };
                let Some(message) = message.context("the transition stream ended")? else {
                    break;
                };
                for transition in message.transitions {
                    let at = transition
                        .at
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), strata_client::json::rfc3339);
                    outln!(
                        "{}\t{}\t{}\t{}\t{}\t{at}",
                        transition.cursor,
                        transition.user_id,
                        or_none(&transition.from_layer, "new user"),
                        or_none(&transition.to_layer, "deleted"),
                        transition.model_version
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// A layer label, or `none (why)` where there is none: the one spelling
/// of "not computed" (as `strata_core::labels` spells tiers and quadrants).
fn or_none(layer: &str, why: &str) -> String {
    if layer.is_empty() {
        format!("none ({why})")
    } else {
        layer.to_owned()
    }
}

/// `strata admin stats` output: one section per facet, users and share.
pub fn stats_table(stats: &StatsResponse) -> String {
    use std::fmt::Write as _;
    let share = |users: u64| {
        if stats.users == 0 {
            0.0
        } else {
            100.0 * users as f64 / stats.users as f64
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "model version {}", stats.model_version);
    let _ = writeln!(out, "users         {}", stats.users);
    let _ = writeln!(out, "layers (the pyramid)");
    for layer in stats.layers.iter().rev() {
        let index = if layer.layer_index == u32::MAX {
            "-".to_owned()
        } else {
            layer.layer_index.to_string()
        };
        let _ = writeln!(
            out,
            "  {index:>2} {:<30} {:>10} {:>5.1}%",
            or_none(&layer.layer, "no layer"),
            layer.users,
            share(layer.users)
        );
    }
    let sections: [(&str, &[FacetUsers]); 3] = [
        ("value tiers", &stats.tiers),
        ("quadrants", &stats.quadrants),
        ("best channels", &stats.channels),
    ];
    for (title, counts) in sections {
        let _ = writeln!(out, "{title}");
        for count in counts {
            let _ = writeln!(
                out,
                "     {:<30} {:>10} {:>5.1}%",
                count.name,
                count.users,
                share(count.users)
            );
        }
    }
    out
}

fn print_version(version: &ModelVersion) -> std::io::Result<()> {
    let state = match version.state() {
        VersionState::Building => "building",
        VersionState::Ready => "ready",
        VersionState::Failed => "failed",
        VersionState::Unspecified => "none",
    };
    let role = if version.current {
        "current"
    } else if version.previous {
        "previous"
    } else {
        ""
    };
    // Exact when the server keeps counters (the count `admin stats` shows);
    // otherwise RocksDB's estimate, marked as one.
    let users = version.users.map_or_else(
        || match version.state() {
            VersionState::Ready => format!("~{}", version.estimated_records),
            _ => "none".to_owned(),
        },
        |users| users.to_string(),
    );
    // Records a snapshot load brought; a version filled by ingest had none.
    let loaded = if version.record_count == 0 {
        "none".to_owned()
    } else {
        version.record_count.to_string()
    };
    outln!(
        "{:<24} {:<9} {users:>12} {loaded:>12}  {role}{}",
        version.model_version,
        state,
        if version.failure.is_empty() {
            String::new()
        } else {
            format!(" ({})", version.failure)
        }
    )
}

/// A model card as `admin versions --card` prints it.
pub fn card_text(card: &strata_proto::v1::ModelCard) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let as_of = card
        .as_of
        .as_ref()
        .map_or_else(|| "none".to_owned(), strata_client::json::rfc3339);
    let _ = writeln!(
        out,
        "\nmodel card of {} (fitted as {}, preset {}, strata {})",
        card.model_version, card.fitted_model_version, card.preset, card.strata_version
    );
    let _ = writeln!(
        out,
        "  data       as of {as_of}; events {} to {}; {} users, {} buyers",
        or_none(&card.first_event_day, "no events"),
        or_none(&card.last_event_day, "no events"),
        card.users,
        card.buyers
    );
    for model in &card.models {
        let _ = writeln!(
            out,
            "  {:<12} {} users; served {}",
            model.model, model.users, model.served
        );
        for figure in &model.figures {
            let _ = writeln!(
                out,
                "               {:<32} {:<28} {:.4}{}",
                figure.candidate,
                figure.metric,
                figure.value,
                if figure.baseline { "  (baseline)" } else { "" }
            );
        }
    }
    for off in &card.switched_off {
        let _ = writeln!(out, "  {:<12} switched off: {}", off.prediction, off.reason);
    }
    out
}
