//! A user's history folded from events: the small, mergeable summary every
//! lifecycle, value and quadrant rule reads, so no rule ever needs raw events.
//!
//! Events arrive unsorted and from many files, so the fold is order
//! independent and two folds over disjoint events merge into the fold over
//! all of them. Memory per user is counters plus at most one entry per active
//! day of each series a rule needs (purchases, and the model's tracked
//! series); day entries are kept sorted on insert, because a user has few
//! active days and readers then never need a `finish` step.

use crate::engagement::{Engagement, EngagementParts};
use crate::error::Error;
use crate::event::{Event, UnixMillis, kinds};

pub const MILLIS_PER_DAY: i64 = 86_400_000;

/// Event type carrying a user's share of wallet (`amount` in 0..=1); the
/// latest one wins. Not in [`kinds`] because only loyalty reads it.
pub const WALLET_SHARE: &str = "wallet_share";

/// The UTC calendar day of a timestamp, counted from 1970-01-01.
///
/// Clamped to `i32`: only a corrupt timestamp (beyond ±5.8 million years)
/// reaches the clamp, and a clamped day still sorts on the right side.
pub fn day_of(at: UnixMillis) -> i32 {
    let day = at.div_euclid(MILLIS_PER_DAY);
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

/// One active day of a series: how many events fell on it and their summed
/// amount (events without an amount add 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayTotal {
    pub day: i32,
    pub events: u32,
    pub amount: f64,
}

/// How much of a series' per-day detail a history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Retention {
    /// Counters and first/last times only.
    Counters,
    /// Days up to this many days before the newest one.
    LastDays(u32),
    AllDays,
}

/// Which series of a history a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeriesRef {
    /// The history's own purchase days, shared instead of tracked twice.
    Purchases,
    Tracked(usize),
}

/// What a lifecycle model makes of one event type, beyond its tracked
/// series: decided once per type by the model
/// (`LifecycleModel::classify`), so every fold reads the same rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventRole {
    /// One of the model's value events: its amount feeds the value series
    /// (the purchase days every value model reads).
    pub value: bool,
    /// One of the model's satisfaction events: its rating is read, and it
    /// is an engagement signal unless it is a bare `rating`.
    pub satisfaction: bool,
}

/// Events of some types folded into counters and, if a rule needs them,
/// per-day totals. How much detail it keeps (its [`Retention`]) is the
/// model's, passed in rather than stored: a history is one of a million.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) count: u64,
    pub(crate) total: f64,
    /// The first and last event times, or [`NO_TIMES`] (first after last)
    /// before any event, so a fold is a plain `min` and `max`.
    times: Times,
    /// Sorted by day, one entry per day; empty under [`Retention::Counters`].
    pub(crate) days: Vec<DayTotal>,
}

/// A first and a last time; none yet while the first is after the last.
/// Two `i64` where two `Option<i64>` take twice the room.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Times {
    first: UnixMillis,
    last: UnixMillis,
}

const NO_TIMES: Times = Times {
    first: UnixMillis::MAX,
    last: UnixMillis::MIN,
};

impl Times {
    fn add(&mut self, at: UnixMillis) {
        self.first = self.first.min(at);
        self.last = self.last.max(at);
    }

    fn merge(&mut self, other: Times) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    fn first(self) -> Option<UnixMillis> {
        (self.first <= self.last).then_some(self.first)
    }

    fn last(self) -> Option<UnixMillis> {
        (self.first <= self.last).then_some(self.last)
    }

    /// From parts: both times or neither, the first not after the last.
    fn from_options(first: Option<UnixMillis>, last: Option<UnixMillis>) -> Option<Times> {
        match (first, last) {
            (None, None) => Some(NO_TIMES),
            (Some(first), Some(last)) if first <= last => Some(Times { first, last }),
            _ => None,
        }
    }
}

/// A tracked series with the detail the model keeps of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrackedSeries {
    pub(crate) series: Series,
    retention: Retention,
}

impl TrackedSeries {
    pub(crate) fn new(retention: Retention) -> Self {
        TrackedSeries {
            series: Series::new(),
            retention,
        }
    }
}

impl Series {
    fn new() -> Self {
        Series {
            count: 0,
            total: 0.0,
            times: NO_TIMES,
            days: Vec::new(),
        }
    }

    pub(crate) fn first_at(&self) -> Option<UnixMillis> {
        self.times.first()
    }

    pub(crate) fn last_at(&self) -> Option<UnixMillis> {
        self.times.last()
    }

    fn record(&mut self, at: UnixMillis, amount: f64, retention: Retention) {
        self.count += 1;
        self.total += amount;
        self.times.add(at);
        if retention == Retention::Counters {
            return;
        }
        let entry = DayTotal {
            day: day_of(at),
            events: 1,
            amount,
        };
        match self
            .days
            .binary_search_by_key(&entry.day, |total| total.day)
        {
            Ok(index) => add_day(&mut self.days[index], entry),
            Err(index) => self.days.insert(index, entry),
        }
        self.prune(retention);
    }

    fn merge(&mut self, other: Series, retention: Retention) {
        self.count += other.count;
        self.total += other.total;
        self.times.merge(other.times);
        if other.days.is_empty() {
            return;
        }
        let mine = std::mem::take(&mut self.days);
        self.days = merge_days(mine, other.days);
        self.prune(retention);
    }

    /// Drops days no window can reach any more. The as-of time is never
    /// before the newest event (later events are dropped by the caller), so a
    /// window of `n` days never reaches back past the newest day minus `n`.
    fn prune(&mut self, retention: Retention) {
        let Retention::LastDays(window) = retention else {
            return;
        };
        let Some(newest) = self.days.last().map(|total| total.day) else {
            return;
        };
        let oldest_kept = i64::from(newest) - i64::from(window);
        let stale = self
            .days
            .partition_point(|total| i64::from(total.day) < oldest_kept);
        self.days.drain(..stale);
    }
}

/// Moves `list` into an allocation of exactly its length. `shrink_to_fit`
/// is not enough: mimalloc keeps a block that is still at least half used,
/// so up to half of it would stay slack.
pub(crate) fn exact_size<T>(list: &mut Vec<T>) {
    if list.capacity() > list.len() {
        let mut exact = Vec::with_capacity(list.len());
        exact.append(list);
        *list = exact;
    }
}

fn add_day(into: &mut DayTotal, from: DayTotal) {
    into.events = into.events.saturating_add(from.events);
    into.amount += from.amount;
}

fn merge_days(left: Vec<DayTotal>, right: Vec<DayTotal>) -> Vec<DayTotal> {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let mut right = right.into_iter().peekable();
    for entry in left {
        while let Some(next) = right.next_if(|next| next.day < entry.day) {
            merged.push(next);
        }
        let mut entry = entry;
        if let Some(same) = right.next_if(|next| next.day == entry.day) {
            add_day(&mut entry, same);
        }
        merged.push(entry);
    }
    merged.extend(right);
    merged
}

/// A series' content as plain fields (see [`HistoryParts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesParts {
    pub count: u64,
    pub total: f64,
    pub first_at: Option<UnixMillis>,
    pub last_at: Option<UnixMillis>,
    /// Sorted by day, one entry per day.
    pub days: Vec<DayTotal>,
}

/// A [`UserHistory`]'s content as plain public fields, to write it to a
/// summary file and read it back exactly. Going back
/// ([`UserHistory::with_parts`]) checks what the fold guarantees (days
/// sorted, windows pruned, the model's series count), so a damaged or
/// foreign file is refused rather than scored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryParts {
    pub first_seen: Option<UnixMillis>,
    pub last_seen: Option<UnixMillis>,
    pub event_count: u64,
    pub purchases: SeriesParts,
    pub rating_count: u64,
    pub rating_sum: u64,
    pub review_count: u64,
    pub add_to_cart_count: u64,
    pub favorite_count: u64,
    /// The latest share of wallet and when it was reported.
    pub wallet_share: Option<(UnixMillis, f64)>,
    pub engagement: EngagementParts,
    /// The model's tracked series, indexed like the model's.
    pub series: Vec<SeriesParts>,
}

impl Series {
    fn to_parts(&self) -> SeriesParts {
        SeriesParts {
            count: self.count,
            total: self.total,
            first_at: self.first_at(),
            last_at: self.last_at(),
            days: self.days.clone(),
        }
    }

    /// Fills this (empty) series kept with `retention`; `name` for the error.
    fn fill(&mut self, parts: SeriesParts, name: &str, retention: Retention) -> Result<(), Error> {
        let broken = |reason: &str| Error::HistoryParts(format!("{name}: {reason}"));
        if !parts.days.windows(2).all(|pair| pair[0].day < pair[1].day) {
            return Err(broken("days are not sorted one entry per day"));
        }
        match retention {
            Retention::Counters if !parts.days.is_empty() => {
                return Err(broken(
                    "holds days, but the model keeps only counters for it",
                ));
            }
            Retention::LastDays(window) => {
                if let (Some(first), Some(last)) = (parts.days.first(), parts.days.last())
                    && i64::from(first.day) < i64::from(last.day) - i64::from(window)
                {
                    return Err(broken(&format!(
                        "holds days beyond the model's {window}-day window"
                    )));
                }
            }
            _ => {}
        }
        let Some(times) = Times::from_options(parts.first_at, parts.last_at) else {
            return Err(broken(
                "first time after last time, or only one of them set",
            ));
        };
        self.count = parts.count;
        self.total = parts.total;
        self.times = times;
        self.days = parts.days;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct WalletShare {
    at: UnixMillis,
    share: f64,
}

/// Everything the rules know about one user.
///
/// A million of these live through a run, so it is kept within 224 bytes
/// (one of mimalloc's size classes; 336 bytes took a 384-byte block): times
/// without `Option`s, the rare wallet share boxed, the tracked series'
/// retention beside each series only, the engagement's lists behind one
/// pointer (`engagement/packed.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserHistory {
    /// First and last seen.
    seen: Times,
    event_count: u64,
    /// The value series: the model's value events (`purchase` in retail,
    /// `invest` in wealth, ...), called purchases throughout.
    purchases: Series,
    rating_count: u64,
    rating_sum: u64,
    /// Satisfaction events other than bare ratings (reviews in retail).
    review_count: u64,
    add_to_cart_count: u64,
    favorite_count: u64,
    /// Boxed: few users report one.
    wallet_share: Option<Box<WalletShare>>,
    engagement: Engagement,
    /// The model's tracked series, indexed like the model's.
    series: Box<[TrackedSeries]>,
}

impl UserHistory {
    /// An empty history with `series` as its tracked series (the model's
    /// shape, see `LifecycleModel::new_series`).
    pub(crate) fn with_series(series: Vec<TrackedSeries>) -> Self {
        UserHistory {
            seen: NO_TIMES,
            event_count: 0,
            purchases: Series::new(),
            rating_count: 0,
            rating_sum: 0,
            review_count: 0,
            add_to_cart_count: 0,
            favorite_count: 0,
            wallet_share: None,
            engagement: Engagement::default(),
            series: series.into_boxed_slice(),
        }
    }

    /// Folds one event in; `role` is what the model makes of its type and
    /// `tracked` the indexes of the tracked series it feeds
    /// (`LifecycleModel::classify`).
    pub(crate) fn observe_event(
        &mut self,
        event: &Event,
        role: EventRole,
        tracked: impl Iterator<Item = usize>,
    ) {
        let at = event.at;
        self.seen.add(at);
        self.event_count += 1;
        let amount = event.amount.unwrap_or(0.0);
        if role.value {
            self.purchases.record(at, amount, Retention::AllDays);
        } else {
            match event.kind.as_str() {
                kinds::ADD_TO_CART => self.add_to_cart_count += 1,
                kinds::FAVORITE => self.favorite_count += 1,
                WALLET_SHARE => self.observe_wallet_share(at, event.amount),
                _ => self.engagement.observe(event),
            }
        }
        if role.satisfaction {
            if event.kind != kinds::RATING {
                self.review_count += 1;
            }
            if let Some(rating) = event.rating.filter(|rating| (1..=5).contains(rating)) {
                self.rating_count += 1;
                self.rating_sum += u64::from(rating);
            }
        }
        for index in tracked {
            if let Some(state) = self.series.get_mut(index) {
                state.series.record(at, amount, state.retention);
            } else {
                debug_assert!(false, "history made for another model");
            }
        }
    }

    fn observe_wallet_share(&mut self, at: UnixMillis, share: Option<f64>) {
        let Some(share) = share.filter(|share| (0.0..=1.0).contains(share)) else {
            return;
        };
        let candidate = WalletShare { at, share };
        // Ties at the same millisecond keep the larger share, so the result
        // does not depend on arrival order.
        match &mut self.wallet_share {
            Some(current) if (candidate.at, candidate.share) <= (current.at, current.share) => {}
            Some(current) => **current = candidate,
            None => self.wallet_share = Some(Box::new(candidate)),
        }
    }

    /// Adds a history over a disjoint set of events, built for the same model.
    pub fn merge(&mut self, other: UserHistory) {
        self.seen.merge(other.seen);
        self.event_count += other.event_count;
        self.purchases.merge(other.purchases, Retention::AllDays);
        self.rating_count += other.rating_count;
        self.rating_sum += other.rating_sum;
        self.review_count += other.review_count;
        self.add_to_cart_count += other.add_to_cart_count;
        self.favorite_count += other.favorite_count;
        if let Some(share) = other.wallet_share {
            self.observe_wallet_share(share.at, Some(share.share));
        }
        self.engagement.merge(other.engagement);
        debug_assert_eq!(self.series.len(), other.series.len());
        for (mine, theirs) in self.series.iter_mut().zip(other.series) {
            mine.series.merge(theirs.series, mine.retention);
        }
    }

    /// Moves every list of this history into an allocation of its exact
    /// length (a fold grows them by doubling). The content is unchanged; a
    /// later event grows a list again. The read calls it once a user's run
    /// of events is folded, so the read's slack never outlives the read.
    pub fn compact(&mut self) {
        exact_size(&mut self.purchases.days);
        for tracked in &mut self.series {
            exact_size(&mut tracked.series.days);
        }
        self.engagement.compact();
    }

    /// Entries its lists have room for beyond their length.
    #[cfg(test)]
    pub(crate) fn slack(&self) -> usize {
        let days = |series: &Series| series.days.capacity() - series.days.len();
        days(&self.purchases)
            + self
                .series
                .iter()
                .map(|tracked| days(&tracked.series))
                .sum::<usize>()
            + self.engagement.slack()
    }

    /// Everything this history holds, as plain fields.
    pub fn to_parts(&self) -> HistoryParts {
        HistoryParts {
            first_seen: self.seen.first(),
            last_seen: self.seen.last(),
            event_count: self.event_count,
            purchases: self.purchases.to_parts(),
            rating_count: self.rating_count,
            rating_sum: self.rating_sum,
            review_count: self.review_count,
            add_to_cart_count: self.add_to_cart_count,
            favorite_count: self.favorite_count,
            wallet_share: self
                .wallet_share
                .as_ref()
                .map(|wallet| (wallet.at, wallet.share)),
            engagement: self.engagement.to_parts(),
            series: self
                .series
                .iter()
                .map(|tracked| tracked.series.to_parts())
                .collect(),
        }
    }

    /// This empty history (`UserHistory::new(&model)`) filled with `parts`
    /// from [`UserHistory::to_parts`] of a history made for the same model:
    /// the result equals that history. Parts no fold for this model could
    /// have made are an error.
    pub fn with_parts(mut self, parts: HistoryParts) -> Result<UserHistory, Error> {
        if self.event_count != 0 {
            return Err(Error::HistoryParts(
                "parts go into an empty history only".to_owned(),
            ));
        }
        if parts.series.len() != self.series.len() {
            return Err(Error::HistoryParts(format!(
                "{} tracked series, the model tracks {}",
                parts.series.len(),
                self.series.len()
            )));
        }
        let Some(seen) = Times::from_options(parts.first_seen, parts.last_seen) else {
            return Err(Error::HistoryParts(
                "first seen after last seen, or only one of them set".to_owned(),
            ));
        };
        if let Some((_, share)) = parts.wallet_share
            && !(0.0..=1.0).contains(&share)
        {
            return Err(Error::HistoryParts(format!(
                "wallet share {share} is not between 0 and 1"
            )));
        }
        self.purchases
            .fill(parts.purchases, "purchases", Retention::AllDays)?;
        for (index, (tracked, theirs)) in self.series.iter_mut().zip(parts.series).enumerate() {
            tracked
                .series
                .fill(theirs, &format!("series[{index}]"), tracked.retention)?;
        }
        self.engagement = Engagement::from_parts(parts.engagement).ok_or_else(|| {
            Error::HistoryParts("recent contacts are unsorted or more than a fold keeps".to_owned())
        })?;
        self.seen = seen;
        self.event_count = parts.event_count;
        self.rating_count = parts.rating_count;
        self.rating_sum = parts.rating_sum;
        self.review_count = parts.review_count;
        self.add_to_cart_count = parts.add_to_cart_count;
        self.favorite_count = parts.favorite_count;
        self.wallet_share = parts
            .wallet_share
            .map(|(at, share)| Box::new(WalletShare { at, share }));
        Ok(self)
    }

    pub(crate) fn series(&self, reference: SeriesRef) -> Option<&Series> {
        match reference {
            SeriesRef::Purchases => Some(&self.purchases),
            SeriesRef::Tracked(index) => self.series.get(index).map(|tracked| &tracked.series),
        }
    }

    /// True once any event, of any type, was observed.
    pub fn is_known(&self) -> bool {
        self.seen.first().is_some()
    }

    pub fn first_seen(&self) -> Option<UnixMillis> {
        self.seen.first()
    }

    pub fn last_seen(&self) -> Option<UnixMillis> {
        self.seen.last()
    }

    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// Purchase days (the model's value events), oldest first, each with its
    /// summed amount.
    pub fn purchase_days(&self) -> &[DayTotal] {
        &self.purchases.days
    }

    pub fn purchase_day_count(&self) -> usize {
        self.purchases.days.len()
    }

    pub fn first_purchase_day(&self) -> Option<i32> {
        self.purchases.days.first().map(|total| total.day)
    }

    pub fn last_purchase_day(&self) -> Option<i32> {
        self.purchases.days.last().map(|total| total.day)
    }

    /// Purchase events, before same-day purchases are merged into one.
    pub fn purchase_event_count(&self) -> u64 {
        self.purchases.count
    }

    pub fn total_spend(&self) -> f64 {
        self.purchases.total
    }

    /// Mean spend per purchase day; `None` before the first purchase.
    pub fn mean_spend(&self) -> Option<f64> {
        let days = self.purchase_day_count();
        (days > 0).then(|| self.purchases.total / days as f64)
    }

    /// Ratings 1..=5 from the model's satisfaction events.
    pub fn rating_count(&self) -> u64 {
        self.rating_count
    }

    pub fn rating_sum(&self) -> u64 {
        self.rating_sum
    }

    pub fn mean_rating(&self) -> Option<f64> {
        (self.rating_count > 0).then(|| self.rating_sum as f64 / self.rating_count as f64)
    }

    /// Satisfaction events other than bare ratings (reviews, in retail).
    pub fn review_count(&self) -> u64 {
        self.review_count
    }

    pub fn add_to_cart_count(&self) -> u64 {
        self.add_to_cart_count
    }

    pub fn favorite_count(&self) -> u64 {
        self.favorite_count
    }

    /// Intent to buy: add-to-cart and favourite events.
    pub fn intent_count(&self) -> u64 {
        self.add_to_cart_count + self.favorite_count
    }

    /// The latest share of wallet reported for the user, 0..=1.
    pub fn wallet_share(&self) -> Option<f64> {
        self.wallet_share.as_ref().map(|wallet| wallet.share)
    }

    /// Channel sends and responses, recent contacts and offer issues.
    pub fn engagement(&self) -> &Engagement {
        &self.engagement
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MILLIS_PER_DAY;

    #[test]
    fn a_history_fits_a_224_byte_block() {
        // A run holds one per user: past 224 bytes, mimalloc gives each a
        // 256-byte block or larger.
        assert!(
            std::mem::size_of::<UserHistory>() <= 224,
            "{}",
            std::mem::size_of::<UserHistory>()
        );
    }

    #[test]
    fn days_before_the_epoch_round_down() {
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY - 1), 0);
        assert_eq!(day_of(i64::MAX), i32::MAX);
    }
}
