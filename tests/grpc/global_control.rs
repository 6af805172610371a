//! The global control group as a user runs it (README, "The global control
//! group"): `strata gen` simulating a programme that only users outside the
//! group respond to -> `strata recompute` with `[global_control]` in its
//! config, as a snapshot and pushed to a real server (twice: the group is
//! stable) -> BatchGetProfiles and GetOffers (members get nothing, and the
//! response says why) -> `strata offers` -> `strata lift --programme`, whose
//! interval must hold the simulated effect.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use strata_audience::GlobalControl;
use strata_core::event::kinds;
use strata_events::input::{ErrorBudget, EventSource};
use strata_proto::v1::{
    BatchGetProfilesRequest, GetOffersRequest, GetOffersResponse, OfferContext, Profile, Surface,
};

use crate::support::{Server, strata, succeeded, timestamp};

const USERS: u64 = 20_000;
const SHARE: f64 = 0.1;
const SALT: &str = "programme-2024";
/// 2024-12-01T00:00:00Z: the recompute's as-of and the programme's start.
const START: &str = "2024-12-01T00:00:00Z";
const START_MS: i64 = 1_733_011_200_000;
/// Not in the catalogue, so the programme's purchases are told apart from
/// the generator's own offer redemptions.
const PROGRAMME_BENEFIT: &str = "programme-gift";

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

fn snapshot_profiles(path: &Path) -> Vec<Profile> {
    let mut profiles = Vec::new();
    strata_snapshot::read_snapshot(path, |profile| profiles.push(profile)).unwrap();
    profiles
}

fn members(profiles: &[Profile]) -> BTreeSet<String> {
    profiles
        .iter()
        .filter(|profile| profile.global_control)
        .map(|profile| profile.user_id.clone())
        .collect()
}

async fn offers(server: &Server, user_id: &str, explain: bool) -> GetOffersResponse {
    server
        .profiles()
        .await
        .get_offers(GetOffersRequest {
            user_id: user_id.into(),
            context: Some(OfferContext {
                surface: Surface::AppHome.into(),
                cart_value: None,
                currency: String::new(),
                request_time: timestamp(START_MS / 1000 + 86_400),
            }),
            max_offers: 10,
            explain,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The numbers of a lift line: `label ... {estimate} [{low}, {high}] ...`.
fn interval(stdout: &str, label: &str) -> (f64, f64, f64) {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{stdout}"));
    let open = line.find('[').unwrap();
    let close = line.find(']').unwrap();
    let estimate: f64 = line[..open]
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let (low, high) = line[open + 1..close].split_once(", ").unwrap();
    (estimate, low.parse().unwrap(), high.parse().unwrap())
}

#[tokio::test]
async fn group_is_stable_held_out_of_offers_and_measures_the_programme() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let events = path(dir, "events.parquet");
    let config = path(dir, "models.toml");
    std::fs::write(
        &config,
        format!("[global_control]\nshare = {SHARE}\nsalt = \"{SALT}\"\n"),
    )
    .unwrap();

    let generated = succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--seed",
        "11",
        "--programme-start",
        START,
        "--global-control-share",
        &SHARE.to_string(),
        "--global-control-salt",
        SALT,
        "--programme-benefit",
        PROGRAMME_BENEFIT,
        "--out",
        &events,
    ]));
    assert!(generated.contains("campaign (programme):"), "{generated}");

    let recompute = |delivery: &[&str]| {
        let mut args = vec![
            "recompute",
            "--events",
            &events,
            "--as-of",
            START,
            "--config",
            &config,
        ];
        args.extend_from_slice(delivery);
        succeeded(strata(&args))
    };
    let first = recompute(&[
        "--snapshot",
        &path(dir, "first.snap"),
        "--state",
        &path(dir, "first.state"),
    ]);
    recompute(&[
        "--snapshot",
        &path(dir, "second.snap"),
        "--state",
        &path(dir, "second.state"),
    ]);
    let profiles = snapshot_profiles(&dir.join("first.snap"));
    let group = members(&profiles);

    // Stable: a rerun holds out the same users, and they are exactly the
    // salted hash's draw.
    assert_eq!(members(&snapshot_profiles(&dir.join("second.snap"))), group);
    let drawn = GlobalControl::new(SALT, SHARE).unwrap();
    for profile in &profiles {
        assert_eq!(
            profile.global_control,
            drawn.contains(&profile.user_id),
            "{}",
            profile.user_id
        );
    }

    assert!(
        first.contains(&format!(
            "note: global control group: {} of {} users held out",
            group.len(),
            profiles.len()
        )),
        "{first}"
    );

    // The model file records the group, and workers applying it to
    // their own partitions hold out the same users.
    let model = path(dir, "model.json");
    succeeded(strata(&[
        "fit",
        "--events",
        &events,
        "--as-of",
        START,
        "--config",
        &config,
        "--model-out",
        &model,
    ]));
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(
        recorded["global_control"],
        serde_json::json!({ "share": SHARE, "salt": SALT })
    );
    let mut partitioned = BTreeSet::new();
    for index in 0..2 {
        recompute(&[
            "--model-file",
            &model,
            "--partition",
            &format!("{index}/2"),
            "--snapshot",
            &path(dir, "part.snap"),
            "--state",
            &path(dir, "part.state"),
        ]);
        // Each worker's files carry its partition's tag.
        let snapshot = dir.join(format!("part.p{index}of2.snap"));
        partitioned.extend(members(&snapshot_profiles(&snapshot)));
    }
    assert_eq!(partitioned, group);
    // A model file whose group cannot be drawn is refused when read.
    let tampered = path(dir, "tampered.json");
    let mut edited = recorded.clone();
    edited["global_control"]["share"] = serde_json::json!(0.9);
    std::fs::write(&tampered, edited.to_string()).unwrap();
    let refused = strata(&[
        "recompute",
        "--events",
        &events,
        "--as-of",
        START,
        "--config",
        &config,
        "--model-file",
        &tampered,
        "--snapshot",
        &path(dir, "tampered.snap"),
    ]);
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && message.contains("global_control.share"),
        "{message}"
    );

    // The share within 4 binomial standard deviations.
    let users = profiles.len() as f64;
    assert!(users > 10_000.0, "{users} profiles");
    let sigma = (users * SHARE * (1.0 - SHARE)).sqrt();
    let held_out = group.len() as f64;
    assert!(
        (held_out - users * SHARE).abs() < 4.0 * sigma,
        "{held_out} of {users} users held out, expected {} +- {}",
        users * SHARE,
        4.0 * sigma
    );

    // Members carry no benefits and no campaigns; others still get offers.
    for profile in profiles.iter().filter(|profile| profile.global_control) {
        assert!(profile.benefits.is_empty(), "{}", profile.user_id);
        assert!(profile.campaigns.is_empty(), "{}", profile.user_id);
    }
    let offered = profiles
        .iter()
        .filter(|profile| !profile.global_control && !profile.benefits.is_empty())
        .count();
    assert!(
        offered > 100,
        "{offered} users outside the group have benefits"
    );

    // Pushed, and pushed again: the rerun changes nothing.
    let server = Server::start(&dir.join("db"), None);
    let endpoint = server.endpoint();
    let push = [
        "--push",
        endpoint.as_str(),
        "--state",
        &path(dir, "push.state"),
    ];
    recompute(&push);
    let again = recompute(&push);
    assert!(again.contains("delivery   0 changed"), "{again}");

    // BatchGetProfiles serves the flag, under its field mask path.
    let member = group.iter().next().unwrap().clone();
    let outsider = profiles
        .iter()
        .find(|profile| !profile.global_control && !profile.benefits.is_empty())
        .unwrap()
        .user_id
        .clone();
    let served = server
        .profiles()
        .await
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: vec![member.clone(), outsider.clone()],
            field_mask: Some(prost_types::FieldMask {
                paths: vec!["globalControl".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let flags: Vec<bool> = served
        .results
        .iter()
        .map(|result| result.profile.as_ref().unwrap().global_control)
        .collect();
    assert_eq!(flags, [true, false]);
    assert_eq!(served.results[0].profile.as_ref().unwrap().lifecycle, None);

    // GetOffers: nothing for members, and the response says why.
    for user_id in group.iter().take(50) {
        let answer = offers(&server, user_id, false).await;
        assert!(answer.offers.is_empty(), "{user_id}: {:?}", answer.offers);
        assert!(
            answer.global_control_group && !answer.cold_start,
            "{user_id}"
        );
    }
    let explained = offers(&server, &member, true).await;
    let explanation = explained.explanation.expect("asked for");
    assert!(explanation.benefits.is_empty());
    assert!(explained.global_control_group);
    let answer = offers(&server, &outsider, false).await;
    assert!(!answer.global_control_group);
    assert!(!answer.offers.is_empty(), "{outsider} keeps their offers");

    // `strata offers` says it in words, with and without --explain.
    for extra in [&[][..], &["--explain"][..]] {
        let mut args = vec!["offers", member.as_str(), "--target", endpoint.as_str()];
        args.extend_from_slice(extra);
        let shown = succeeded(strata(&args));
        assert!(shown.contains("global control group"), "{shown}");
    }

    // The simulated programme's true effect per user outside the group:
    // its purchases (only they make them) over their number.
    let (mut programme_purchases, mut programme_revenue) = (0u64, 0f64);
    let known: BTreeSet<&str> = profiles
        .iter()
        .filter(|profile| !profile.global_control)
        .map(|profile| profile.user_id.as_str())
        .collect();
    EventSource::open(&[PathBuf::from(&events)])
        .unwrap()
        .read(ErrorBudget::DEFAULT, |event| {
            if event.kind == kinds::PURCHASE
                && event.at >= START_MS
                && event.benefit_id.as_deref() == Some(PROGRAMME_BENEFIT)
            {
                assert!(!group.contains(&event.user_id), "{}", event.user_id);
                if known.contains(event.user_id.as_str()) {
                    programme_purchases += 1;
                    programme_revenue += event.amount.unwrap_or(0.0);
                }
            }
        })
        .unwrap();
    let outside = known.len() as f64;
    let true_purchases = programme_purchases as f64 / outside;
    let true_revenue = programme_revenue / outside;
    assert!(true_purchases > 0.02, "{true_purchases} purchases per user");

    let lift = succeeded(strata(&[
        "lift",
        "--programme",
        "--start",
        START,
        "--snapshot",
        &path(dir, "first.snap"),
        "--events",
        &events,
        "--config",
        &config,
        "--confidence",
        "0.99",
    ]));
    assert!(lift.contains("global control group as control"), "{lift}");
    let purchases = interval(&lift, "purchases/user");
    assert!(
        purchases.1 > 0.0 && purchases.1 <= true_purchases && true_purchases <= purchases.2,
        "purchases/user lift {purchases:?} against the true {true_purchases}:\n{lift}"
    );
    let revenue = interval(&lift, "revenue/user lift");
    assert!(
        revenue.1 > 0.0 && revenue.1 <= true_revenue && true_revenue <= revenue.2,
        "revenue/user lift {revenue:?} against the true {true_revenue}:\n{lift}"
    );
    let conversion = interval(&lift, "absolute lift");
    assert!(conversion.1 > 0.0, "{conversion:?}\n{lift}");

    // Without a group on the snapshot, programme lift says what to do.
    let plain = path(dir, "plain.snap");
    succeeded(strata(&[
        "recompute",
        "--events",
        &events,
        "--as-of",
        START,
        "--snapshot",
        &plain,
        "--state",
        &path(dir, "plain.state"),
    ]));
    let refused = strata(&[
        "lift",
        "--programme",
        "--start",
        START,
        "--snapshot",
        &plain,
        "--events",
        &events,
    ]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("[global_control] share"), "{message}");
}
