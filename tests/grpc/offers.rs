//! GetOffers: eligibility by window, minimum spend and currency; cold start.

use strata_proto::v1::{GetOffersRequest, GetOffersResponse, OfferContext, Profile, Surface};
use tonic::Code;

use crate::support::{Server, batch, benefit, push, timestamp};

const NOW: i64 = 1_800_000_000;

const CONFIG: &str = r#"
[[offers.cold_start]]
benefit_id = "welcome-shipping"
kind = "free_shipping"
face_value = 499
currency = "EUR"
expected_incremental_profit = 1.5

[[offers.cold_start]]
benefit_id = "welcome-coupon"
kind = "coupon"
face_value = 1000
currency = "EUR"
minimum_spend = 4000
expected_incremental_profit = 3.0

[[offers.cold_start]]
benefit_id = "welcome-usd"
kind = "coupon"
face_value = 1000
currency = "USD"
expected_incremental_profit = 9.0
"#;

fn context(surface: Surface, cart_value: Option<i64>, currency: &str) -> OfferContext {
    OfferContext {
        surface: surface.into(),
        cart_value,
        currency: currency.into(),
        request_time: timestamp(NOW),
    }
}

async fn offers(
    server: &Server,
    user_id: &str,
    context: OfferContext,
) -> Result<GetOffersResponse, tonic::Status> {
    server
        .profiles()
        .await
        .get_offers(GetOffersRequest {
            user_id: user_id.into(),
            context: Some(context),
            max_offers: 0,
            explain: false,
        })
        .await
        .map(tonic::Response::into_inner)
}

fn ids(response: &GetOffersResponse) -> Vec<&str> {
    response
        .offers
        .iter()
        .map(|offer| offer.benefit_id.as_str())
        .collect()
}

#[tokio::test]
async fn eligibility_by_window_minimum_spend_and_currency_best_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), Some(CONFIG));
    let mut benefits = vec![
        benefit("plain", 1.0),
        benefit("best", 7.0),
        benefit("not-yet", 50.0),
        benefit("expired", 50.0),
        benefit("big-spend", 5.0),
        benefit("dollars", 50.0),
        benefit("ends-later", 2.0),
    ];
    benefits[2].valid_from = timestamp(NOW + 1);
    benefits[3].valid_until = timestamp(NOW);
    benefits[4].minimum_spend = 6_000;
    benefits[5].currency = "USD".into();
    benefits[6].valid_from = timestamp(NOW - 10);
    benefits[6].valid_until = timestamp(NOW + 10);
    let user = Profile {
        user_id: "shopper".into(),
        benefits,
        ..Profile::default()
    };
    push(
        &mut server.ingest().await,
        vec![batch("p", 1, vec![user], &[])],
    )
    .await
    .unwrap();

    let checkout = offers(
        &server,
        "shopper",
        context(Surface::Checkout, Some(5_000), "EUR"),
    )
    .await
    .unwrap();
    assert!(!checkout.cold_start);
    assert_eq!(ids(&checkout), ["best", "ends-later", "plain"]);

    let bigger_cart = offers(
        &server,
        "shopper",
        context(Surface::Checkout, Some(6_000), "eur"),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&bigger_cart),
        ["best", "big-spend", "ends-later", "plain"]
    );

    // No cart on the home screen: minimum spend and currency are not filters.
    let home = offers(&server, "shopper", context(Surface::AppHome, None, ""))
        .await
        .unwrap();
    assert_eq!(
        ids(&home),
        ["dollars", "best", "big-spend", "ends-later", "plain"]
    );

    let limited = server
        .profiles()
        .await
        .get_offers(GetOffersRequest {
            user_id: "shopper".into(),
            context: Some(context(Surface::AppHome, None, "")),
            max_offers: 2,
            explain: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&limited), ["dollars", "best"]);
}

#[tokio::test]
async fn unknown_user_gets_eligible_cold_start_offers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), Some(CONFIG));
    let small_cart = offers(
        &server,
        "stranger",
        context(Surface::Checkout, Some(1_000), "EUR"),
    )
    .await
    .unwrap();
    assert!(small_cart.cold_start);
    assert_eq!(ids(&small_cart), ["welcome-shipping"]);

    let big_cart = offers(
        &server,
        "stranger",
        context(Surface::Checkout, Some(4_000), "EUR"),
    )
    .await
    .unwrap();
    assert_eq!(ids(&big_cart), ["welcome-coupon", "welcome-shipping"]);
}

#[tokio::test]
async fn bad_context_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"), None);
    let cases = [
        (
            context(Surface::Checkout, None, "EUR"),
            "context: a CHECKOUT request needs the cart value",
        ),
        (
            context(Surface::Checkout, Some(1), ""),
            "context: a CHECKOUT request needs the cart currency",
        ),
        (
            context(Surface::Unspecified, None, ""),
            "context.surface 0 is not one of",
        ),
        (
            context(Surface::Push, Some(-5), ""),
            "context: cart value -5 is negative",
        ),
    ];
    for (context, expected) in cases {
        let status = offers(&server, "u", context).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with(expected),
            "{}",
            status.message()
        );
    }
    let status = offers(&server, "", context(Surface::Push, None, ""))
        .await
        .unwrap_err();
    assert_eq!(status.message(), "user_id: user id is empty");

    // Unknown user and no cold-start offers configured: empty, not an error.
    let empty = offers(&server, "stranger", context(Surface::Push, None, ""))
        .await
        .unwrap();
    assert!(empty.cold_start && empty.offers.is_empty());
}
