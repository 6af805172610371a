//! AdminService.Stats, the pyramid kept up to date by ingest: against a
//! model of what was pushed, across replays and restarts, after a reload
//! (against the recompute's own printed summary and a count of the
//! snapshot file) and after rollbacks; and `strata admin stats`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use strata_proto::v1::admin_service_client::AdminServiceClient;
use strata_proto::v1::{
    self, ContactChannel, Lifecycle, LoadSnapshotRequest, Profile, Quadrant, RollbackRequest,
    StatsRequest, StatsResponse, ValueTier,
};
use tonic::transport::Channel;

use crate::support::{Server, batch, push, strata, succeeded};

/// The pyramid as plain maps, from Stats or counted by the test itself.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    users: u64,
    /// (layer index, label, churned) -> users.
    layers: BTreeMap<(u32, String, bool), u64>,
    tiers: BTreeMap<String, u64>,
    quadrants: BTreeMap<String, u64>,
    channels: BTreeMap<String, u64>,
}

impl Counts {
    fn from_stats(stats: &StatsResponse) -> Counts {
        let facet = |counts: &[v1::FacetUsers]| {
            counts
                .iter()
                .map(|count| (count.name.clone(), count.users))
                .collect()
        };
        Counts {
            users: stats.users,
            layers: stats
                .layers
                .iter()
                .map(|layer| {
                    (
                        (layer.layer_index, layer.layer.clone(), layer.churned),
                        layer.users,
                    )
                })
                .collect(),
            tiers: facet(&stats.tiers),
            quadrants: facet(&stats.quadrants),
            channels: facet(&stats.channels),
        }
    }

    /// Counted the way the issue defines the pyramid, independently of the
    /// server's classifier.
    fn of<'a>(profiles: impl IntoIterator<Item = &'a Profile>) -> Counts {
        let mut counts = Counts::default();
        for profile in profiles {
            counts.users += 1;
            let layer = match &profile.lifecycle {
                Some(lifecycle) if lifecycle.churned => (
                    lifecycle.layer_index,
                    format!("{} ({})", lifecycle.layer, lifecycle.churn_label),
                    true,
                ),
                Some(lifecycle) => (lifecycle.layer_index, lifecycle.layer.clone(), false),
                None => (u32::MAX, String::new(), false),
            };
            *counts.layers.entry(layer).or_default() += 1;
            let tier = match profile.value_tier.as_ref().map(ValueTier::tier) {
                None | Some(v1::Tier::Unspecified) => "none (no purchase)".to_owned(),
                Some(tier) => tier.as_str_name().trim_start_matches("TIER_").to_owned(),
            };
            *counts.tiers.entry(tier).or_default() += 1;
            let quadrant = match profile.quadrant.as_ref().map(Quadrant::kind) {
                None | Some(v1::QuadrantKind::Unspecified) => {
                    "none (no satisfaction signal)".to_owned()
                }
                Some(kind) => kind
                    .as_str_name()
                    .trim_start_matches("QUADRANT_KIND_")
                    .to_owned(),
            };
            *counts.quadrants.entry(quadrant).or_default() += 1;
            let channel = match profile.contact_channel.as_ref().map(ContactChannel::best) {
                None | Some(v1::Channel::Unspecified) => "none".to_owned(),
                Some(channel) => channel
                    .as_str_name()
                    .trim_start_matches("CHANNEL_")
                    .to_owned(),
            };
            *counts.channels.entry(channel).or_default() += 1;
        }
        counts
    }
}

fn user(
    id: &str,
    layer: Option<(&str, u32, bool)>,
    tier: v1::Tier,
    quadrant: v1::QuadrantKind,
    channel: v1::Channel,
) -> Profile {
    Profile {
        user_id: id.into(),
        lifecycle: layer.map(|(layer, layer_index, churned)| Lifecycle {
            preset: "retail".into(),
            layer: layer.into(),
            layer_index,
            churned,
            churn_label: if churned {
                "lapsed buyer".into()
            } else {
                String::new()
            },
        }),
        value_tier: (tier != v1::Tier::Unspecified).then(|| ValueTier {
            tier: tier.into(),
            ..ValueTier::default()
        }),
        quadrant: Some(Quadrant {
            kind: quadrant.into(),
            loyalty_score: 0.5,
            satisfaction_score: None,
        }),
        contact_channel: Some(ContactChannel {
            best: channel.into(),
            scores: Vec::new(),
            frequency_capped: false,
            not_enough_data: false,
        }),
        benefits: vec![crate::support::benefit("b1", 1.0)],
        ..Profile::default()
    }
}

async fn admin(server: &Server) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(server.channel().await)
}

async fn stats(server: &Server) -> StatsResponse {
    admin(server)
        .await
        .stats(StatsRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_follow_upserts_deletes_replays_and_restarts() {
    use v1::Channel::*;
    use v1::QuadrantKind::*;
    use v1::Tier::*;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, None);
    let empty = stats(&server).await;
    assert_eq!((empty.model_version.as_str(), empty.users), ("initial", 0));
    assert!(empty.layers.is_empty());

    let mut model: HashMap<String, Profile> = HashMap::new();
    let first = vec![
        user("u1", Some(("new", 0, false)), High, Angel, Email),
        user("u2", Some(("new", 0, false)), Low, Danger, Sms),
        user(
            "u3",
            Some(("growth", 1, true)),
            Medium,
            v1::QuadrantKind::Unspecified,
            v1::Channel::Unspecified,
        ),
        user("u4", Some(("growth", 1, false)), High, Angel, Email),
        user("u5", None, v1::Tier::Unspecified, Hostage, AppPush),
    ];
    // u1 moves up, u3 comes back from churn, u2 and u5 are erased, u6
    // arrives, and a delete of a user never stored changes nothing.
    let second = vec![
        user("u1", Some(("growth", 1, false)), High, Angel, Wechat),
        user("u3", Some(("growth", 1, false)), Medium, Freeloader, Email),
        user("u6", Some(("mature", 2, false)), Low, Angel, Email),
    ];
    let mut ingest = server.ingest().await;
    for (sequence, upserts, deletes) in
        [(1, first, vec![]), (2, second, vec!["u2", "u5", "nobody"])]
    {
        for profile in &upserts {
            model.insert(profile.user_id.clone(), profile.clone());
        }
        for user_id in &deletes {
            model.remove(*user_id);
        }
        push(&mut ingest, vec![batch("p", sequence, upserts, &deletes)])
            .await
            .unwrap();
        let served = stats(&server).await;
        assert_eq!(
            Counts::from_stats(&served),
            Counts::of(model.values()),
            "after batch {sequence}"
        );
    }
    let expected = Counts::of(model.values());
    assert_eq!(expected.users, 4);
    assert_eq!(expected.layers[&(1, "growth".into(), false)], 3);

    // A replay (sequence 2 again, different content) is acknowledged
    // without effect: the counts do not move.
    let replay = vec![user("u1", Some(("new", 0, false)), Low, Danger, Sms)];
    let replayed = push(&mut ingest, vec![batch("p", 2, replay, &["u4"])])
        .await
        .unwrap();
    assert_eq!(replayed.batches_replayed, 1);
    assert_eq!(Counts::from_stats(&stats(&server).await), expected);

    // The counters are stored with the batches: a restart keeps them.
    assert!(server.terminate().success());
    let server = Server::start(&data, None);
    assert_eq!(Counts::from_stats(&stats(&server).await), expected);

    let table = succeeded(strata(&["admin", "stats", "--target", &server.endpoint()]));
    assert!(table.contains("users         4"), "{table}");
    let growth = table
        .lines()
        .find(|line| line.trim_start().starts_with("1 growth "))
        .unwrap_or_else(|| panic!("no growth row in\n{table}"));
    assert!(growth.contains(" 3 "), "{growth}");
    assert!(table.contains("best channels"), "{table}");
}

/// The recompute's printed summary: (layers by (index, label), tiers,
/// quadrants), parsed from its sections.
type Summary = (
    BTreeMap<(u32, String), u64>,
    BTreeMap<String, u64>,
    BTreeMap<String, u64>,
);

fn parse_summary(text: &str) -> Summary {
    let mut layers = BTreeMap::new();
    let mut tiers = BTreeMap::new();
    let mut quadrants = BTreeMap::new();
    let mut section = "";
    for line in text.lines() {
        let trimmed = line.trim();
        if !line.starts_with("    ") {
            section = trimmed;
            continue;
        }
        // "<name words> <count> <share>%" with the layer index in front.
        let tokens: Vec<&str> = trimmed.split_whitespace().collect();
        let Some(share) = tokens.iter().position(|token| token.ends_with('%')) else {
            continue;
        };
        let count = || -> u64 { tokens[share - 1].parse().unwrap() };
        match section {
            "layers (the pyramid)" => {
                let index: u32 = tokens[0].parse().unwrap();
                layers.insert((index, tokens[1..share - 1].join(" ")), count());
            }
            "value tiers" => {
                tiers.insert(tokens[..share - 1].join(" "), count());
            }
            "quadrants" => {
                quadrants.insert(tokens[..share - 1].join(" "), count());
            }
            _ => {}
        }
    }
    (layers, tiers, quadrants)
}

fn summary_of(counts: &Counts) -> Summary {
    (
        counts
            .layers
            .iter()
            .map(|((index, label, _), users)| ((*index, label.clone()), *users))
            .collect(),
        counts.tiers.clone(),
        counts.quadrants.clone(),
    )
}

/// `strata gen` + `strata recompute --snapshot`: the snapshot and the
/// recompute's printed summary.
fn recompute_snapshot(dir: &Path, users: u32, version: &str) -> (std::path::PathBuf, String) {
    let events = dir.join("events.csv");
    succeeded(strata(&[
        "gen",
        "--users",
        &users.to_string(),
        "--seed",
        "11",
        "--out",
        events.to_str().unwrap(),
    ]));
    let snapshot = dir.join(format!("{version}.snapshot"));
    let state = dir.join(format!("{version}.state.jsonl"));
    let printed = succeeded(strata(&[
        "recompute",
        "--events",
        events.to_str().unwrap(),
        "--as-of",
        "2025-01-01T00:00:00Z",
        "--model-version",
        version,
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]));
    (snapshot, printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_brings_the_recomputes_pyramid_and_rollback_the_old_one() {
    use v1::Channel::*;
    use v1::QuadrantKind::*;
    use v1::Tier::*;
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, printed) = recompute_snapshot(dir.path(), 400, "m1");
    let mut profiles = Vec::new();
    strata_snapshot::read_snapshot(&snapshot, |profile| profiles.push(profile)).unwrap();
    let from_file = Counts::of(&profiles);
    assert_eq!(from_file.users, 400);
    let summary = parse_summary(&printed);
    assert!(summary.0.len() > 3, "{printed}");
    // The recompute's pyramid and the one counted from its snapshot agree.
    assert_eq!(summary_of(&from_file), summary);

    let server = Server::start(&dir.path().join("data"), None);
    let initial = vec![
        user("x1", Some(("new", 1, false)), High, Angel, Email),
        user("x2", Some(("potential", 0, false)), Low, Danger, Sms),
    ];
    let mut ingest = server.ingest().await;
    push(&mut ingest, vec![batch("p", 1, initial.clone(), &[])])
        .await
        .unwrap();
    let before = Counts::from_stats(&stats(&server).await);
    assert_eq!(before, Counts::of(&initial));

    admin(&server)
        .await
        .load_snapshot(LoadSnapshotRequest {
            path: snapshot.to_str().unwrap().into(),
        })
        .await
        .unwrap();
    let loaded = stats(&server).await;
    assert_eq!(loaded.model_version, "m1");
    // Both list the tiers best first, the untiered last (one vocabulary).
    let in_order = ["HIGH", "MEDIUM", "LOW", strata_core::labels::NO_TIER];
    let served: Vec<&str> = loaded.tiers.iter().map(|tier| tier.name.as_str()).collect();
    assert_eq!(served, in_order, "{loaded:?}");
    let printed_tiers: Vec<&str> = in_order
        .iter()
        .map(|tier| {
            let at = printed
                .find(&format!("    {tier} "))
                .unwrap_or_else(|| panic!("no {tier} in\n{printed}"));
            (at, *tier)
        })
        .collect::<BTreeMap<usize, &str>>()
        .into_values()
        .collect();
    assert_eq!(printed_tiers, in_order, "{printed}");
    assert_eq!(Counts::from_stats(&loaded), from_file);
    assert_eq!(summary_of(&Counts::from_stats(&loaded)), summary);

    // Ingest after the switch adjusts the new version's counts.
    let erased = profiles[0].user_id.clone();
    push(&mut ingest, vec![batch("p", 2, vec![], &[erased.as_str()])])
        .await
        .unwrap();
    let after_delete = Counts::of(&profiles[1..]);
    assert_eq!(Counts::from_stats(&stats(&server).await), after_delete);

    // Rollback serves the old version and its counts; rolling back again
    // returns to m1 as it was left.
    admin(&server)
        .await
        .rollback(RollbackRequest {})
        .await
        .unwrap();
    let rolled = stats(&server).await;
    assert_eq!(rolled.model_version, "initial");
    assert_eq!(Counts::from_stats(&rolled), before);
    admin(&server)
        .await
        .rollback(RollbackRequest {})
        .await
        .unwrap();
    assert_eq!(Counts::from_stats(&stats(&server).await), after_delete);
}
