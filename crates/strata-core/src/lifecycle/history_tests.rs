//! Tests of a history folded for a model: what the fixed counters and the
//! tracked series hold, and that order and merging never change the fold.
//! They sit beside the model because a history is built for one.

use crate::event::{Event, UnixMillis, kinds};
use crate::history::{MILLIS_PER_DAY, UserHistory, WALLET_SHARE};
use crate::lifecycle::LifecycleModel;

pub(crate) fn event(kind: &str, at: UnixMillis, amount: Option<f64>) -> Event {
    Event {
        amount,
        ..Event::new("user", at, kind)
    }
}

pub(crate) fn fold(model: &LifecycleModel, events: &[Event]) -> UserHistory {
    let mut history = UserHistory::new(model);
    for event in events {
        history.observe(model, event);
    }
    history
}

const DAY: i64 = MILLIS_PER_DAY;

fn sample_events() -> Vec<Event> {
    let mut rated = event(kinds::REVIEW, 4 * DAY, None);
    rated.rating = Some(4);
    let mut out_of_range = event(kinds::RATING, 4 * DAY, None);
    out_of_range.rating = Some(9);
    vec![
        event(kinds::PURCHASE, 10 * DAY + 5, Some(10.0)),
        event(kinds::PURCHASE, 10 * DAY + 9, Some(5.0)),
        event(kinds::PURCHASE, 2 * DAY, Some(0.0)),
        event(kinds::PURCHASE, 7 * DAY, None),
        event(kinds::BROWSE, DAY, None),
        event("mystery", 30 * DAY, None),
        event(kinds::ADD_TO_CART, 3 * DAY, None),
        event(WALLET_SHARE, 5 * DAY, Some(0.4)),
        event(WALLET_SHARE, 6 * DAY, Some(0.2)),
        event(WALLET_SHARE, 6 * DAY, Some(0.3)),
        event(WALLET_SHARE, 8 * DAY, Some(1.5)),
        rated,
        out_of_range,
    ]
}

#[test]
fn purchases_fold_into_days() {
    let model = LifecycleModel::preset("retail").unwrap();
    let history = fold(&model, &sample_events());
    let days: Vec<(i32, u32, f64)> = history
        .purchase_days()
        .iter()
        .map(|total| (total.day, total.events, total.amount))
        .collect();
    assert_eq!(days, [(2, 1, 0.0), (7, 1, 0.0), (10, 2, 15.0)]);
    assert_eq!(history.purchase_day_count(), 3);
    assert_eq!(history.first_purchase_day(), Some(2));
    assert_eq!(history.last_purchase_day(), Some(10));
    assert_eq!(history.purchase_event_count(), 4);
    assert_eq!(history.total_spend(), 15.0);
    assert_eq!(history.mean_spend(), Some(5.0));
    assert_eq!(history.first_seen(), Some(DAY));
    assert_eq!(history.last_seen(), Some(30 * DAY));
    assert_eq!(history.event_count(), 13);
    assert_eq!(history.mean_rating(), Some(4.0));
    assert_eq!(history.review_count(), 1);
    assert_eq!(history.intent_count(), 1);
    assert_eq!(history.wallet_share(), Some(0.3));
}

#[test]
fn empty_history_is_unknown() {
    let model = LifecycleModel::preset("retail").unwrap();
    let history = UserHistory::new(&model);
    assert!(!history.is_known());
    assert_eq!(history.mean_spend(), None);
    assert_eq!(history.mean_rating(), None);
    assert_eq!(history.first_purchase_day(), None);
}

/// A deterministic shuffle, so the test needs no random number crate.
fn shuffled(events: &[Event], seed: usize) -> Vec<Event> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|index| (index * 7919 + seed * 104_729) % 1_000_003);
    order.iter().map(|index| events[*index].clone()).collect()
}

#[test]
fn merge_and_order_do_not_change_the_fold() {
    for preset in crate::lifecycle::PRESET_NAMES {
        let model = LifecycleModel::preset(preset).unwrap();
        let mut events = sample_events();
        for (index, kind) in [kinds::OPEN, kinds::LIKE, kinds::INVEST, kinds::VISIT]
            .iter()
            .enumerate()
        {
            let index = index as i64;
            events.push(event(kind, index * 40 * DAY, Some(index as f64)));
            events.push(event(kind, index * 3 * DAY, Some(1.0)));
        }
        let whole = fold(&model, &events);
        for seed in 0..5 {
            let reordered = shuffled(&events, seed);
            assert_eq!(fold(&model, &reordered), whole, "{preset} seed {seed}");
            let (left, right) = reordered.split_at(seed * 2 % events.len());
            let mut merged = fold(&model, left);
            merged.merge(fold(&model, right));
            assert_eq!(merged, whole, "{preset} split {seed}");
        }
    }
}

#[test]
fn value_and_satisfaction_events_follow_the_model() {
    let mut review = event(kinds::REVIEW, 4 * DAY, None);
    review.rating = Some(2);
    let mut bare_rating = event(kinds::RATING, 4 * DAY, None);
    bare_rating.rating = Some(4);
    let events = [
        event(kinds::INVEST, 2 * DAY, Some(100.0)),
        event(kinds::INVEST, 2 * DAY + 1, Some(50.0)),
        event(kinds::INVEST, 9 * DAY, Some(70.0)),
        event(kinds::PURCHASE, 3 * DAY, Some(9.0)),
        event(kinds::VIEW_PRODUCT, 5 * DAY, None),
        event(kinds::LIKE, 5 * DAY, None),
        review,
        bare_rating,
    ];
    type Days = Vec<(i32, u32, f64)>;
    let days = |history: &UserHistory| -> Days {
        history
            .purchase_days()
            .iter()
            .map(|total| (total.day, total.events, total.amount))
            .collect()
    };
    // (preset, value days, satisfaction signals besides bare ratings)
    let cases: [(&str, Days, u64); 3] = [
        ("wealth", vec![(2, 2, 150.0), (9, 1, 70.0)], 2),
        ("retail", vec![(3, 1, 9.0)], 1),
        ("sns", vec![], 2),
    ];
    for (preset, expected_days, signals) in cases {
        let model = LifecycleModel::preset(preset).unwrap();
        assert_eq!(model.has_value_events(), !expected_days.is_empty());
        let history = fold(&model, &events);
        assert_eq!(days(&history), expected_days, "{preset}");
        assert_eq!(history.review_count(), signals, "{preset}");
        assert_eq!(history.mean_rating(), Some(3.0), "{preset}");
    }
}

fn engagement_events() -> Vec<Event> {
    let with = |kind: &str, at: UnixMillis, channel: Option<&str>, benefit: Option<&str>| Event {
        channel: channel.map(str::to_owned),
        benefit_id: benefit.map(str::to_owned),
        amount: (kind == kinds::OFFER_REDEEMED).then_some(3.5),
        ..Event::new("user", at, kind)
    };
    let mut events = vec![
        with(kinds::SEND, 3 * DAY, Some("sms"), None),
        with(kinds::RESPONSE, 3 * DAY, Some("sms"), None),
        with(kinds::OFFER_ISSUED, 4 * DAY, None, Some("coupon-5")),
        with(kinds::OFFER_CONTROL, 2 * DAY, None, Some("coupon-10")),
        with(kinds::OFFER_REDEEMED, 5 * DAY, None, Some("coupon-5")),
    ];
    for day in 0..40 {
        events.push(event("open", day * DAY, None));
        events.push(with(kinds::SEND, day * DAY + 1, Some("email"), None));
    }
    events
}

#[test]
fn parts_round_trip_exactly_for_every_preset() {
    for preset in crate::lifecycle::PRESET_NAMES {
        let model = LifecycleModel::preset(preset).unwrap();
        let mut events = sample_events();
        events.extend(engagement_events());
        let history = fold(&model, &events);
        let parts = history.to_parts();
        assert_eq!(parts.series.len(), model.tracked_series().len(), "{preset}");
        let back = UserHistory::new(&model).with_parts(parts.clone()).unwrap();
        assert_eq!(back, history, "{preset}");
        // Read back, the engagement's lists are packed: they give the same
        // plain fields, as a history packed by `compact` does.
        assert_eq!(back.to_parts(), parts, "{preset}");
        let mut compacted = history.clone();
        compacted.compact();
        assert_eq!(compacted.to_parts(), parts, "{preset}");
    }
}

#[test]
fn compacting_keeps_the_fold_and_drops_the_slack() {
    for preset in crate::lifecycle::PRESET_NAMES {
        let model = LifecycleModel::preset(preset).unwrap();
        let mut events = sample_events();
        events.extend(engagement_events());
        let (late, early) = events.split_last().unwrap();
        let mut history = fold(&model, early);
        let before = history.to_parts();
        assert!(
            history.slack() > 0,
            "{preset}: a fold grows lists by doubling"
        );
        history.compact();
        assert_eq!(history.slack(), 0, "{preset}");
        assert_eq!(history.to_parts(), before, "{preset}");
        // A compacted history folds on as if it never was.
        history.observe(&model, late);
        assert_eq!(history, fold(&model, &events), "{preset}");
    }
}

#[test]
fn parts_no_fold_could_make_are_refused() {
    let model = LifecycleModel::preset("sns").unwrap();
    let history = fold(&model, &engagement_events());
    let windowed = history
        .to_parts()
        .series
        .iter()
        .position(|series| series.days.len() > 1)
        .expect("sns tracks a windowed series with days");

    let mut unsorted = history.to_parts();
    unsorted.series[windowed].days.swap(0, 1);
    let mut beyond_window = history.to_parts();
    let newest = beyond_window.series[windowed].days.last().unwrap().day;
    beyond_window.series[windowed].days[0].day = newest - 1000;
    let mut missing_series = history.to_parts();
    missing_series.series.pop();
    let mut wallet = history.to_parts();
    wallet.wallet_share = Some((DAY, 1.5));
    let mut last_seen_alone = history.to_parts();
    last_seen_alone.first_seen = None;
    let mut first_time_alone = history.to_parts();
    first_time_alone.series[windowed].last_at = None;
    for (case, parts) in [
        ("unsorted", unsorted),
        ("beyond the window", beyond_window),
        ("a series short", missing_series),
        ("wallet share", wallet),
        ("last seen without first seen", last_seen_alone),
        ("a series' first time without its last", first_time_alone),
    ] {
        let refused = UserHistory::new(&model).with_parts(parts);
        assert!(
            matches!(refused, Err(crate::Error::HistoryParts(_))),
            "{case}: {refused:?}"
        );
    }
}
