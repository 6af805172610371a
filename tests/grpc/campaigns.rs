//! Audiences and campaigns as a user runs them (README, "Audiences and
//! campaigns"): `strata gen` with attributes and campaign responses ->
//! `strata recompute --attributes` -> `strata audience` -> `strata
//! recompute --campaigns --push` to a real server -> GetOffers and
//! BatchGetProfiles -> `strata lift` comparing a model-picked with a
//! rule-picked audience of equal size.

use std::path::Path;

use strata_proto::v1::{
    Arm, BatchGetProfilesRequest, CampaignArm, GetOffersRequest, OfferContext, Profile, Surface,
};

use crate::support::{Server, strata, succeeded, timestamp};

/// 2024-12-01, 2024-12-15 and 2025-01-02, in seconds.
const START: i64 = 1_733_011_200;
const DURING: i64 = 1_734_220_800;
const AFTER: i64 = 1_735_776_000;
const BENEFIT: &str = "free-shipping";

const CAMPAIGNS: &str = r#"
[[campaign]]
id = "model-picked"
audience = "model-top"
holdout_share = 0.5
benefit_id = "free-shipping"
channel = "app_push"
start = 2024-12-01
end = 2025-01-01

[[campaign]]
id = "rule-picked"
audience = "women-jewellery"
holdout_share = 0.5
benefit_id = "free-shipping"
channel = "sms"
start = 2024-12-01
end = 2025-01-01
"#;

const RULE: &str = r#"[audience]
name = "women-jewellery"

[audience.rule]
tag = { gender = "f", preferred_category = "jewellery" }
"#;

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// `users` from the first line of `strata audience`'s output.
fn audience_size(stdout: &str) -> usize {
    let first = stdout.lines().next().unwrap_or_default();
    first
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no size in: {stdout}"))
}

/// The absolute lift's point estimate (points) of a comparison row.
fn lift_points(stdout: &str, campaign: &str) -> f64 {
    let row = stdout
        .lines()
        .find(|line| line.starts_with(campaign) && line.contains('['))
        .unwrap_or_else(|| panic!("no row {campaign} in: {stdout}"));
    // audience, treated, control, conv treated, conv control, lift [..
    row.split_whitespace().nth(5).unwrap().parse().unwrap()
}

fn arm_of(profile: &Profile, campaign: &str) -> Option<i32> {
    profile
        .campaigns
        .iter()
        .find(|arm| arm.campaign_id == campaign)
        .map(|arm| arm.arm)
}

async fn offers(server: &Server, user_id: &str, at: i64) -> Vec<String> {
    server
        .profiles()
        .await
        .get_offers(GetOffersRequest {
            user_id: user_id.into(),
            context: Some(OfferContext {
                surface: Surface::AppHome.into(),
                cart_value: None,
                currency: String::new(),
                request_time: timestamp(at),
            }),
            max_offers: 10,
            explain: false,
        })
        .await
        .unwrap()
        .into_inner()
        .offers
        .into_iter()
        .map(|offer| offer.benefit_id)
        .collect()
}

#[tokio::test]
async fn gen_recompute_audience_push_offers_and_lift() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("campaigns.toml"), CAMPAIGNS).unwrap();
    std::fs::write(dir.join("rule.toml"), RULE).unwrap();
    let (events, attributes, campaigns) = (
        path(dir, "events.parquet"),
        path(dir, "attributes.csv"),
        path(dir, "campaigns.toml"),
    );

    let generated = succeeded(strata(&[
        "gen",
        "--users",
        "60000",
        "--seed",
        "4",
        "--attributes",
        &attributes,
        "--campaigns",
        &campaigns,
        "--out",
        &events,
    ]));
    assert!(generated.contains("hidden buyers"), "{generated}");

    // Groups only: attributes become tags; users without events are
    // counted, not invented.
    let recompute = |extra: &[&str]| {
        let mut args = vec![
            "recompute",
            "--events",
            &events,
            "--as-of",
            "2024-12-01T00:00:00Z",
            "--attributes",
            &attributes,
        ];
        args.extend_from_slice(extra);
        succeeded(strata(&args))
    };
    let base = recompute(&[
        "--snapshot",
        &path(dir, "base.snap"),
        "--state",
        &path(dir, "base.state"),
    ]);
    assert!(base.contains("attribute rows for unknown users"), "{base}");

    // The rule-picked audience, then a model-picked one of the same size.
    let rule = succeeded(strata(&[
        "audience",
        "--def",
        &path(dir, "rule.toml"),
        "--snapshot",
        &path(dir, "base.snap"),
        "--out",
        &path(dir, "rule.csv"),
    ]));
    let size = audience_size(&rule);
    assert!(size > 1000, "{rule}");
    let listed = std::fs::read_to_string(dir.join("rule.csv")).unwrap();
    assert_eq!(
        listed.lines().count(),
        size + 1,
        "header and one row per user"
    );
    assert!(listed.starts_with("user_id,layer,tier,quadrant,propensity\n"));
    std::fs::write(
        dir.join("model.toml"),
        format!("[audience]\nname = \"model-top\"\nmodel = {{ top = {size} }}\n"),
    )
    .unwrap();
    let model = succeeded(strata(&[
        "audience",
        "--def",
        &path(dir, "model.toml"),
        "--snapshot",
        &path(dir, "base.snap"),
        "--out",
        &path(dir, "model.parquet"),
    ]));
    assert_eq!(audience_size(&model), size, "{model}");

    // A bad definition fails with the line and the value at fault.
    std::fs::write(
        dir.join("bad.toml"),
        "[audience]\nname = \"bad\"\nrule = { tag = { gender = \"x\" } }\n",
    )
    .unwrap();
    let bad = strata(&[
        "audience",
        "--def",
        &path(dir, "bad.toml"),
        "--snapshot",
        &path(dir, "base.snap"),
    ]);
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        message.contains("bad.toml: line 3") && message.contains("unknown value `x`"),
        "{message}"
    );

    // Campaigns: the assignment as a snapshot (for lift), then pushed.
    let with_campaigns = [
        "--campaigns",
        &campaigns,
        "--audiences",
        &path(dir, "model.toml"),
        &path(dir, "rule.toml"),
    ];
    let assigned = recompute(
        &[
            &with_campaigns[..],
            &[
                "--snapshot",
                &path(dir, "campaign.snap"),
                "--state",
                &path(dir, "campaign.state"),
            ],
        ]
        .concat(),
    );
    assert!(
        assigned.contains(&format!(
            "model-picked (running, audience model-top): {size} selected"
        )),
        "{assigned}"
    );
    let server = Server::start(&dir.join("db"), None);
    let endpoint = server.endpoint();
    let pushed = recompute(
        &[
            &with_campaigns[..],
            &["--push", &endpoint, "--state", &path(dir, "push.state")],
        ]
        .concat(),
    );
    assert!(pushed.contains("campaign    rule-picked"), "{pushed}");
    // Arms are a pure function of the inputs: a rerun changes nothing.
    let again = recompute(
        &[
            &with_campaigns[..],
            &["--push", &endpoint, "--state", &path(dir, "push.state")],
        ]
        .concat(),
    );
    assert!(again.contains("delivery   0 changed"), "{again}");

    let mut snapshot: Vec<Profile> = Vec::new();
    strata_snapshot::read_snapshot(&dir.join("campaign.snap"), |profile| snapshot.push(profile))
        .unwrap();
    let has_organic = |profile: &Profile| {
        profile.benefits.iter().any(|benefit| {
            benefit.benefit_id == BENEFIT && benefit.valid_until != timestamp(START + 31 * 86_400)
        })
    };
    let treated = snapshot
        .iter()
        .find(|profile| {
            arm_of(profile, "model-picked") == Some(Arm::Treatment.into())
                && profile.campaigns.len() == 1
                && !has_organic(profile)
        })
        .expect("a treated user without the benefit recommended anyway");
    let held_back = snapshot
        .iter()
        .find(|profile| {
            arm_of(profile, "model-picked") == Some(Arm::Control.into())
                && profile.campaigns.len() == 1
                && has_organic(profile)
        })
        .expect("a control user whose own recommendations hold the benefit");
    let outsider = snapshot
        .iter()
        .find(|profile| profile.campaigns.is_empty() && !profile.tags.is_empty())
        .expect("a user in no campaign");

    // BatchGetProfiles serves the arms and the tags, under a field mask.
    let ids = [&treated.user_id, &held_back.user_id, &outsider.user_id];
    let served = server
        .profiles()
        .await
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: ids.iter().map(|id| (*id).clone()).collect(),
            field_mask: Some(prost_types::FieldMask {
                paths: vec!["tags".into(), "campaigns".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    for (result, expected) in served.results.iter().zip([treated, held_back, outsider]) {
        let profile = result.profile.as_ref().expect("known user");
        assert_eq!(
            profile.campaigns, expected.campaigns,
            "{}",
            expected.user_id
        );
        assert_eq!(profile.tags, expected.tags, "{}", expected.user_id);
        assert!(profile.tags.iter().any(|tag| tag.key == "gender"));
        assert_eq!(profile.lifecycle, None, "masked out");
    }
    let arm: &CampaignArm = &served.results[0].profile.as_ref().unwrap().campaigns[0];
    assert_eq!(
        (arm.arm, arm.benefit_id.as_str(), arm.start, arm.end),
        (
            Arm::Treatment.into(),
            BENEFIT,
            timestamp(START),
            timestamp(START + 31 * 86_400)
        )
    );

    // GetOffers: treatment gets the campaign's benefit first while it
    // runs; control never gets it then, though it is on their profile.
    let during = offers(&server, &treated.user_id, DURING).await;
    assert_eq!(
        during.first().map(String::as_str),
        Some(BENEFIT),
        "{during:?}"
    );
    let after = offers(&server, &treated.user_id, AFTER).await;
    assert!(!after.iter().any(|id| id == BENEFIT), "{after:?}");
    let control = offers(&server, &held_back.user_id, DURING).await;
    assert!(!control.iter().any(|id| id == BENEFIT), "{control:?}");
    assert!(
        held_back
            .benefits
            .iter()
            .any(|benefit| benefit.benefit_id == BENEFIT),
        "the stored profile holds it"
    );

    // Lift after the window: the model-picked audience earns more than the
    // rule-picked one of the same size.
    let lift = succeeded(strata(&[
        "lift",
        "--campaign",
        "model-picked",
        "--campaign",
        "rule-picked",
        "--campaigns",
        &campaigns,
        "--snapshot",
        &path(dir, "campaign.snap"),
        "--events",
        &events,
    ]));
    assert!(lift.contains("absolute lift"), "{lift}");
    assert!(lift.contains("incremental profit"), "{lift}");
    let (model_points, rule_points) = (
        lift_points(&lift, "model-picked"),
        lift_points(&lift, "rule-picked"),
    );
    assert!(model_points > rule_points, "{lift}");
    assert!(rule_points > 0.0, "{lift}");
    assert!(
        lift.contains("treated conversion, model-picked / rule-picked"),
        "{lift}"
    );
    server.terminate();
}
