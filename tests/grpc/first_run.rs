//! A new user's first contact (issue 19): the demo's printed GetOffers
//! requests, sent as printed, return offers in the catalogue's currency; a
//! log in USD is served in USD; a log in two currencies is refused without
//! rates and converted with them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use strata_proto::v1::profile_service_client::ProfileServiceClient;
use strata_proto::v1::{
    BatchGetProfilesRequest, GetIngestStateRequest, GetOffersRequest, OfferContext, Profile,
    Surface,
};
use tonic::transport::Channel;

use crate::support::{Server, strata, succeeded};

/// Kills the demo (by its own pid) however the test ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `strata demo` as a user would and returns it with everything it
/// printed up to "Stop with Ctrl-C.".
fn start_demo(dir: &Path, users: u32) -> (Demo, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["demo", "--users", &users.to_string()])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("db"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strata demo");
    let stdout = child.stdout.take().unwrap();
    let demo = Demo(child);
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // Keep draining after the test stops listening.
            let _ = lines.send(line);
        }
    });
    let mut printed = Vec::new();
    loop {
        let line = received
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("the demo stopped printing:\n{}", printed.join("\n")));
        let done = line == "Stop with Ctrl-C.";
        printed.push(line);
        if done {
            return (demo, printed);
        }
    }
}

/// The JSON body of a printed `grpcurl -d '...'` command.
fn grpcurl_body(line: &str) -> serde_json::Value {
    let body = line
        .split_once("-d '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(body, _)| body)
        .unwrap_or_else(|| panic!("no -d '...' in {line}"));
    serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

/// The GetOffers request a printed grpcurl body stands for (the JSON
/// mapping of the fields the demo prints).
fn offers_request(body: &serde_json::Value) -> GetOffersRequest {
    let context = &body["context"];
    let surface = context["surface"].as_str().expect("a surface");
    assert!(
        context.get("request_time").is_none(),
        "the default demo asks at the current time: {body}"
    );
    GetOffersRequest {
        user_id: body["user_id"].as_str().expect("a user id").to_owned(),
        context: Some(OfferContext {
            surface: Surface::from_str_name(surface).expect("a surface name") as i32,
            cart_value: context["cart_value"].as_i64(),
            currency: context["currency"].as_str().unwrap_or_default().to_owned(),
            request_time: None,
        }),
        max_offers: 0,
        explain: false,
    }
}

async fn client(grpc: &str) -> ProfileServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the demo");
    ProfileServiceClient::new(channel).max_decoding_message_size(64 << 20)
}

/// Every profile of `ids`, in order (all must exist).
async fn profiles(client: &mut ProfileServiceClient<Channel>, ids: &[String]) -> Vec<Profile> {
    let mut all = Vec::new();
    for chunk in ids.chunks(1000) {
        let answer = client
            .batch_get_profiles(BatchGetProfilesRequest {
                user_ids: chunk.to_vec(),
                field_mask: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            answer.missing_indices.is_empty(),
            "{:?}",
            answer.missing_indices
        );
        all.extend(
            answer
                .results
                .into_iter()
                .map(|result| result.profile.unwrap()),
        );
    }
    all
}

fn user_ids(users: u32) -> Vec<String> {
    (0..users).map(|index| format!("u{index:08}")).collect()
}

#[tokio::test]
async fn the_demos_printed_requests_return_offers_in_the_catalogues_currency() {
    const USERS: u32 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let (_demo, printed) = start_demo(dir.path(), USERS);
    let text = printed.join("\n");
    let grpc = printed
        .iter()
        .find_map(|line| line.strip_prefix("grpc listening on "))
        .expect("the demo announces its port")
        .to_owned();
    let example = printed
        .iter()
        .find(|line| line.starts_with("Offers: "))
        .expect("an Offers line");
    assert!(
        example.ends_with("(the catalogue is in EUR):"),
        "{example}\n{text}"
    );

    // The grpcurl commands, sent as printed.
    let mut client = client(&grpc).await;
    let requests: Vec<GetOffersRequest> = printed
        .iter()
        .filter(|line| line.contains("strata.v1.ProfileService/GetOffers"))
        .map(|line| offers_request(&grpcurl_body(line)))
        .collect();
    let surfaces: Vec<i32> = requests
        .iter()
        .map(|request| request.context.as_ref().unwrap().surface)
        .collect();
    assert_eq!(
        surfaces,
        [Surface::Checkout as i32, Surface::AppHome as i32],
        "{text}"
    );
    for request in requests {
        let answer = client
            .get_offers(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(!answer.cold_start, "{request:?}");
        assert!(
            !answer.offers.is_empty(),
            "no offers for {request:?}\n{text}"
        );
        for offer in &answer.offers {
            assert_eq!(offer.currency, "EUR", "{offer:?}");
        }
    }

    // Everyone with recommendations gets them, at checkout and at home.
    let everyone = profiles(&mut client, &user_ids(USERS)).await;
    let with_benefits: Vec<&Profile> = everyone
        .iter()
        .filter(|profile| !profile.benefits.is_empty())
        .collect();
    assert!(
        with_benefits.len() > USERS as usize / 2,
        "{} users with recommendations",
        with_benefits.len()
    );
    for profile in &with_benefits {
        for (surface, cart_value, currency) in [
            (Surface::Checkout, Some(5_000), "EUR"),
            (Surface::AppHome, None, ""),
        ] {
            let answer = client
                .get_offers(GetOffersRequest {
                    user_id: profile.user_id.clone(),
                    context: Some(OfferContext {
                        surface: surface as i32,
                        cart_value,
                        currency: currency.into(),
                        request_time: None,
                    }),
                    max_offers: 0,
                    explain: false,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                answer.offers.len(),
                profile.benefits.len(),
                "{} at {surface:?}",
                profile.user_id
            );
        }
    }

    // The Python example's lines, run as printed with the stubs generated.
    let stubs = dir.path().join("stubs");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = Command::new("bash")
        .arg(repo.join("clients/python/generate.sh"))
        .arg(&stubs)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "clients/python/generate.sh (pip install -r clients/python/requirements.txt):\n{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let python: Vec<&String> = printed
        .iter()
        .filter(|line| line.contains("clients/python/example.py"))
        .collect();
    assert_eq!(python.len(), 2, "{text}");
    for line in python {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words[..2],
            ["PYTHONPATH=/tmp/strata-gen", "python3"],
            "{line}"
        );
        let output = Command::new("python3")
            .args(&words[2..])
            .current_dir(repo)
            .env("PYTHONPATH", &stubs)
            .env_remove("STRATA_TOKEN")
            .output()
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{line}: {}", String::from_utf8_lossy(&output.stderr)));
        let offers = answer["offers"].as_array().expect("offers");
        assert!(!offers.is_empty(), "{line}: {answer}");
        assert!(
            offers.iter().all(|offer| offer["currency"] == "EUR"),
            "{answer}"
        );
    }
}

const AS_OF: &str = "2025-01-01T00:00:00Z";
const USERS: u32 = 2_000;

/// `strata gen` CSV with every `,EUR,` amount relabelled by `relabel(user,
/// amount)` into (amount, currency).
fn relabelled_events(
    from: &str,
    to: &Path,
    relabel: impl Fn(&str, &str) -> (String, &'static str),
) {
    let mut out = String::new();
    for line in from.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        if fields[4] == "EUR" {
            let (amount, currency) = relabel(fields[0], fields[3]);
            let mut fields: Vec<String> = fields.iter().map(|field| (*field).to_owned()).collect();
            fields[3] = amount;
            fields[4] = currency.to_owned();
            out.push_str(&fields.join(","));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    std::fs::write(to, out).unwrap();
}

fn recompute(
    events: &Path,
    state: &Path,
    server: &Server,
    config: Option<&Path>,
) -> std::process::Output {
    let mut args = vec![
        "recompute".to_owned(),
        "--events".to_owned(),
        events.display().to_string(),
        "--as-of".to_owned(),
        AS_OF.to_owned(),
        "--state".to_owned(),
        state.display().to_string(),
        "--push".to_owned(),
        server.endpoint(),
    ];
    if let Some(config) = config {
        args.extend(["--config".to_owned(), config.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    strata(&args)
}

/// The recompute's last batch the server applied.
async fn applied(server: &Server) -> u64 {
    server
        .ingest()
        .await
        .get_ingest_state(GetIngestStateRequest {
            producer_id: "recompute-retail".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .last_applied_sequence
}

#[tokio::test]
async fn amounts_are_served_in_their_own_currency_and_mixed_ones_need_rates() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated.csv");
    succeeded(strata(&[
        "gen",
        "--users",
        &USERS.to_string(),
        "--out",
        generated.to_str().unwrap(),
    ]));
    let original = std::fs::read_to_string(&generated).unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let mut client = server.profiles().await;
    let ids = user_ids(USERS);

    // A log in dollars is served in dollars.
    let usd = dir.path().join("usd.csv");
    relabelled_events(&original, &usd, |_, amount| (amount.to_owned(), "USD"));
    let stdout = succeeded(recompute(
        &usd,
        &dir.path().join("usd.state"),
        &server,
        None,
    ));
    assert!(
        stdout.contains("note: amounts in USD, as the events give them"),
        "{stdout}"
    );
    assert!(stdout.contains("USD per issue vs no offer"), "{stdout}");
    let in_usd = profiles(&mut client, &ids).await;
    let valued = in_usd
        .iter()
        .filter(|profile| profile.lifetime_value.is_some())
        .count();
    assert!(valued > 100, "{valued} users with a lifetime value");
    for profile in &in_usd {
        if let Some(value) = &profile.lifetime_value {
            assert_eq!(value.currency, "USD", "{}", profile.user_id);
        }
        for benefit in &profile.benefits {
            assert_eq!(benefit.currency, "USD", "{benefit:?}");
        }
    }
    let with_benefits = in_usd
        .iter()
        .find(|profile| !profile.benefits.is_empty())
        .expect("a user with recommendations");
    let at_checkout = |currency: &str| GetOffersRequest {
        user_id: with_benefits.user_id.clone(),
        context: Some(OfferContext {
            surface: Surface::Checkout as i32,
            cart_value: Some(5_000),
            currency: currency.into(),
            request_time: with_benefits.benefits[0].valid_from,
        }),
        max_offers: 0,
        explain: false,
    };
    let offers = client
        .get_offers(at_checkout("USD"))
        .await
        .unwrap()
        .into_inner()
        .offers;
    assert!(!offers.is_empty());
    assert!(
        offers.iter().all(|offer| offer.currency == "USD"),
        "{offers:?}"
    );
    let offers = client
        .get_offers(at_checkout("EUR"))
        .await
        .unwrap()
        .into_inner()
        .offers;
    assert!(
        offers.is_empty(),
        "a EUR cart gets no USD benefit: {offers:?}"
    );

    // Half the users pay in pounds, at half the amount: without rates the
    // run stops before delivering anything, naming both currencies.
    let mixed = dir.path().join("mixed.csv");
    relabelled_events(&original, &mixed, |user, amount| {
        if user.ends_with(['0', '2', '4', '6', '8']) {
            // Halving is exact in binary, so GBP 2.0 brings back the same bits.
            let halved: f64 = amount.parse::<f64>().unwrap() / 2.0;
            (halved.to_string(), "GBP")
        } else {
            (amount.to_owned(), "USD")
        }
    });
    let pushed_in_usd = applied(&server).await;
    let mixed_state = dir.path().join("mixed.state");
    let refused = recompute(&mixed, &mixed_state, &server, None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for part in ["GBP: ", "USD: ", "[currency] base", "rates = {"] {
        assert!(stderr.contains(part), "{part} missing: {stderr}");
    }
    assert_eq!(applied(&server).await, pushed_in_usd, "nothing was pushed");

    // A catalogue in another currency than the events' is refused too.
    let euro_catalogue = dir.path().join("euro-catalogue.toml");
    std::fs::write(
        &euro_catalogue,
        "[[benefits]]\nbenefit_id = \"coupon-5\"\nkind = \"coupon\"\nface_value = 500\ncurrency = \"EUR\"\ncost_fixed = 5.0\n",
    )
    .unwrap();
    let refused = recompute(
        &usd,
        &dir.path().join("euro.state"),
        &server,
        Some(&euro_catalogue),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("benefits[0] (coupon-5) is in EUR but the run's amounts are in USD"),
        "{stderr}"
    );

    // With a rate the pounds are converted: the same profiles as in dollars.
    let rates = dir.path().join("rates.toml");
    std::fs::write(
        &rates,
        "[currency]\nbase = \"USD\"\nrates = { GBP = 2.0 }\n",
    )
    .unwrap();
    let stdout = succeeded(recompute(&mixed, &mixed_state, &server, Some(&rates)));
    assert!(stdout.contains("in GBP at 2 USD/GBP"), "{stdout}");
    assert!(
        applied(&server).await > pushed_in_usd,
        "the converted run pushed its profiles"
    );
    // Everything but the time of computation is the same.
    let untimed = |profiles: Vec<Profile>| -> Vec<Profile> {
        profiles
            .into_iter()
            .map(|profile| Profile {
                computed_at: None,
                ..profile
            })
            .collect()
    };
    let in_usd = untimed(in_usd);
    let converted = untimed(profiles(&mut client, &ids).await);
    let differing: BTreeMap<&str, (&Profile, &Profile)> = in_usd
        .iter()
        .zip(&converted)
        .filter(|(usd, converted)| usd != converted)
        .map(|(usd, converted)| (usd.user_id.as_str(), (usd, converted)))
        .collect();
    assert!(
        differing.is_empty(),
        "{} users differ, e.g. {:?}",
        differing.len(),
        differing.iter().next()
    );
}
