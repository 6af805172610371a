//! The best send time and the ranked channels, served through
//! BatchGetProfiles with a field mask, against the hidden truth of `strata
//! gen`: each generated user answers more around a preferred hour of the day
//! (and on weekdays or at weekends), and the truth file says by how much a
//! send at any hour lifts their response probability. The hours strata
//! serves must lift responses more, in truth, than the population's best
//! hour served to everyone, and land within an hour of the user's preferred
//! hour of day more often.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use strata_events::generate::SendTimeTruth;
use strata_proto::v1::{BatchGetProfilesRequest, Profile};

use crate::support::{Pushed, Server, generate_and_push, strata, succeeded};

const AS_OF: &str = "2025-01-01T00:00:00Z";
const USERS: u32 = 20_000;
const SEED: u32 = 7;

fn read_truth(path: &Path) -> HashMap<String, SendTimeTruth> {
    let file = std::fs::File::open(path).unwrap();
    std::io::BufReader::new(file)
        .lines()
        .map(|line| {
            let truth: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let send_time: SendTimeTruth =
                serde_json::from_value(truth["send_time"].clone()).unwrap();
            (truth["user_id"].as_str().unwrap().to_owned(), send_time)
        })
        .collect()
}

/// BatchGetProfiles for `ids` with a field mask of `paths`.
async fn masked(server: &Server, ids: &[String], paths: &[&str]) -> Vec<(String, Profile)> {
    let response = server
        .profiles()
        .await
        .batch_get_profiles(BatchGetProfilesRequest {
            user_ids: ids.to_vec(),
            field_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|path| path.to_string()).collect(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    response
        .results
        .into_iter()
        .filter_map(|result| Some((result.user_id, result.profile?)))
        .collect()
}

/// Hours of the day between two hours of the week, on the 24-hour circle.
fn hours_apart(hour_of_week: u32, hour_of_day: f64) -> f64 {
    let distance = (f64::from(hour_of_week % 24) + 0.5 - hour_of_day).abs();
    distance.min(24.0 - distance)
}

#[tokio::test(flavor = "multi_thread")]
async fn served_send_times_beat_the_population_hour_and_channels_are_ranked() {
    let dir = tempfile::tempdir().unwrap();
    let Pushed {
        server,
        truth: truth_file,
        summary,
        ..
    } = generate_and_push(dir.path(), u64::from(USERS), u64::from(SEED), AS_OF);
    eprintln!("{summary}");
    let line = summary
        .lines()
        .find(|line| line.trim_start().starts_with("send time"))
        .unwrap_or_else(|| panic!("no send time line in the summary:\n{summary}"));
    assert!(line.contains("personal hours served"), "{line}");

    // The CLI shows it too, by its field mask path, in both spellings.
    for fields in ["send_time,contact_channel", "sendTime,contactChannel"] {
        let shown = succeeded(strata(&[
            "get",
            "u00000001",
            "--fields",
            fields,
            "--target",
            &server.endpoint(),
        ]));
        assert!(
            shown.contains("send time") && shown.contains(" UTC ("),
            "{shown}"
        );
        assert!(shown.contains("channel"), "{shown}");
        assert!(!shown.contains("lifecycle"), "{shown}");
    }

    let truth = read_truth(&truth_file);
    let ids: Vec<String> = (0..u64::from(USERS))
        .map(strata_events::generate::user_id)
        .collect();
    let mut served = Vec::new();
    for chunk in ids.chunks(1000) {
        served.extend(masked(&server, chunk, &["send_time", "contact_channel"]).await);
    }
    assert!(
        served.len() > USERS as usize / 2,
        "{} profiles",
        served.len()
    );

    let (mut strata_lift, mut population_lift) = (0.0, 0.0);
    let (mut strata_hits, mut population_hits) = (0u32, 0u32);
    let mut population_hours = std::collections::BTreeSet::new();
    let (mut personal, mut thin_channels) = (0u32, 0u32);
    for (id, profile) in &served {
        // The mask keeps exactly the two fields asked for.
        assert!(profile.user_id.is_empty() && profile.lifecycle.is_none());
        assert!(profile.benefits.is_empty() && profile.computed_at.is_none());

        let send_time = profile.send_time.as_ref().expect("a send time");
        assert!(send_time.hour_of_week < 168);
        assert!((0.0..=1.0).contains(&send_time.rate));
        if send_time.responses == 0 {
            assert!(send_time.fallback, "{id}: no response, so no personal hour");
        }
        if send_time.fallback {
            population_hours.insert(send_time.hour_of_week);
        } else {
            personal += 1;
        }

        let channel = profile.contact_channel.as_ref().expect("a contact channel");
        assert_eq!(channel.scores.len(), 4, "{id}: every channel ranked");
        let tried = channel
            .scores
            .iter()
            .filter(|score| score.sends >= 3)
            .count();
        assert_eq!(channel.not_enough_data, tried < 2, "{id}: {channel:?}");
        if channel.not_enough_data {
            thin_channels += 1;
        } else {
            assert!(
                channel
                    .scores
                    .windows(2)
                    .all(|pair| pair[0].score >= pair[1].score),
                "{id}: best first: {channel:?}"
            );
        }
        if !channel.frequency_capped {
            assert_eq!(channel.best, channel.scores[0].channel, "{id}");
        }
        for score in &channel.scores {
            assert!(score.responses <= score.sends, "{id}: {score:?}");
        }
    }
    // Everyone without a personal hour gets the same one: the population's.
    assert_eq!(population_hours.len(), 1, "{population_hours:?}");
    let population_hour = *population_hours.first().unwrap();
    assert!(personal > USERS / 5, "{personal} personal hours");
    assert!(
        thin_channels > 0 && thin_channels < USERS,
        "{thin_channels}"
    );

    for (id, profile) in &served {
        let user = &truth[id];
        let hour = profile.send_time.as_ref().unwrap().hour_of_week;
        strata_lift += user.lift(f64::from(hour) + 0.5);
        population_lift += user.lift(f64::from(population_hour) + 0.5);
        strata_hits += u32::from(hours_apart(hour, user.preferred_hour) <= 1.5);
        population_hits += u32::from(hours_apart(population_hour, user.preferred_hour) <= 1.5);
    }
    let users = served.len() as f64;
    let (strata_lift, population_lift) = (strata_lift / users, population_lift / users);
    let (strata_hits, population_hits) = (
        f64::from(strata_hits) / users,
        f64::from(population_hits) / users,
    );
    eprintln!(
        "true lift at the served hour {strata_lift:.3} vs the population's hour {population_lift:.3}; \
         within 1h of the preferred hour {strata_hits:.3} vs {population_hits:.3}; \
         {personal} personal hours of {users}"
    );
    assert!(
        strata_lift > population_lift,
        "served hours lift {strata_lift:.3}, the population's hour {population_lift:.3}"
    );
    assert!(
        strata_hits > population_hits,
        "served hours hit {strata_hits:.3}, the population's hour {population_hits:.3}"
    );
}
