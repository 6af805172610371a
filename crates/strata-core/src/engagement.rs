//! Reach and offer history of one user: channel sends and responses, recent
//! contact times for the frequency cap, sends and responses by hour of the
//! week (for the best send time), and offer issues with their arm.
//!
//! Kept apart from the purchase and lifecycle fold in `history.rs` because the
//! channel, send-time and uplift models read it, not the layer rules. Memory
//! per user is bounded: counters per channel, the last [`RECENT_CONTACTS`]
//! contact times, at most [`HOUR_SLOTS`] hour counters, and one entry per
//! offer issue (a handful a year); the lists packed once a fold is done
//! (`packed.rs`).

mod packed;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use crate::event::{Event, UnixMillis, kinds};
use packed::{Issue, Lists, OpenLists};

/// The contact channels, in the order of every per-channel array.
pub const CHANNELS: [&str; 4] = ["sms", "app_push", "wechat", "email"];

/// Contact times kept for the frequency cap; a cap above this is not exact.
pub const RECENT_CONTACTS: usize = 32;

/// Hours in a week; hour 0 is Monday 00:00-00:59 UTC.
pub const HOURS_PER_WEEK: usize = 168;

/// Hour counters a user can have: every hour of the week, once for the even
/// and once for the odd weeks since the epoch's first Monday (the send-time
/// backtest fits on one parity and scores the other).
pub const HOUR_SLOTS: usize = 2 * HOURS_PER_WEEK;

const HOUR_MILLIS: i64 = 3_600_000;
const WEEK_MILLIS: i64 = HOURS_PER_WEEK as i64 * HOUR_MILLIS;
/// 1970-01-05T00:00:00Z, the first Monday after the epoch.
const FIRST_MONDAY: UnixMillis = 4 * 24 * HOUR_MILLIS;

/// The UTC hour of the week of `at`, 0 (Monday 00h) to 167 (Sunday 23h).
pub fn hour_of_week(at: UnixMillis) -> usize {
    ((at - FIRST_MONDAY).rem_euclid(WEEK_MILLIS) / HOUR_MILLIS) as usize
}

/// 0 or 1: the parity of the week holding `at`, counted from the epoch's
/// first Monday (weeks run Monday to Sunday, UTC).
pub fn week_parity(at: UnixMillis) -> usize {
    (at - FIRST_MONDAY).div_euclid(WEEK_MILLIS).rem_euclid(2) as usize
}

/// Sends and responses in one hour of the week of one week parity: `slot`
/// is `parity * HOURS_PER_WEEK + hour_of_week`. A response counts in the
/// hour it came, not the hour of its send (a log does not link the two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourCounts {
    pub slot: u16,
    pub sends: u32,
    pub responses: u32,
}

pub fn channel_index(name: &str) -> Option<usize> {
    CHANNELS.iter().position(|channel| *channel == name)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCounts {
    pub sends: u32,
    pub responses: u32,
}

/// One offer issue: delivered (treated) or held back (control).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OfferIssue {
    pub at: UnixMillis,
    /// Shared: see [`benefit_id`].
    pub benefit_id: Arc<str>,
    pub treated: bool,
}

/// The process's one copy of a benefit id. A run holds a few offer issues
/// for each of millions of users, all naming a handful of benefits: each
/// issue points at the shared id instead of owning a `String` (24 bytes and
/// a heap block), and a history keeps only the id's index in the table.
pub fn benefit_id(id: &str) -> Arc<str> {
    let index = benefit_index(id);
    Arc::clone(&benefits().ids[index as usize])
}

/// Every distinct benefit id the process has seen (a catalogue's worth),
/// each with its index, in the order first seen.
#[derive(Default)]
struct Benefits {
    index: HashMap<Arc<str>, u32>,
    ids: Vec<Arc<str>>,
}

fn benefit_table() -> &'static RwLock<Benefits> {
    static BENEFITS: OnceLock<RwLock<Benefits>> = OnceLock::new();
    BENEFITS.get_or_init(RwLock::default)
}

fn benefits() -> RwLockReadGuard<'static, Benefits> {
    benefit_table()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The index of `id` in the process's table, added if new.
fn benefit_index(id: &str) -> u32 {
    if let Some(index) = benefits().index.get(id) {
        return *index;
    }
    let mut table = benefit_table()
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(index) = table.index.get(id) {
        return *index;
    }
    // Four billion distinct ids would take over 100 GB of table first.
    let index = u32::try_from(table.ids.len()).expect("fewer than 2^32 benefit ids");
    let id: Arc<str> = Arc::from(id);
    table.ids.push(Arc::clone(&id));
    table.index.insert(id, index);
    index
}

type Redemption = (UnixMillis, String, Option<f64>);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Engagement {
    channels: [ChannelCounts; 4],
    /// The most recent contact times (sorted, at most [`RECENT_CONTACTS`]),
    /// the offer issues (in fold order) and the hour counters (sends and
    /// responses on a known channel by hour slot, sorted by slot, only slots
    /// with a count: most users have a dozen). Packed between folds.
    lists: Lists,
    /// Redemption times with the benefit redeemed and the logged amount (what
    /// the redemption cost, if the log says). Boxed, and `None` rather than
    /// empty: few users redeem, and an empty `Vec` still takes 24 bytes.
    // The box is the point: 8 bytes in every history, not a `Vec`'s 24.
    #[allow(clippy::box_collection)]
    redemptions: Option<Box<Vec<Redemption>>>,
}

/// An [`Engagement`]'s content as plain fields, to write it to a summary
/// file and read it back (`UserHistory::to_parts`). Lists are in the order
/// the fold left them, so a round trip is exact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngagementParts {
    pub channels: [ChannelCounts; 4],
    /// Sorted, at most [`RECENT_CONTACTS`].
    pub recent_contacts: Vec<UnixMillis>,
    pub offers: Vec<OfferIssue>,
    pub redemptions: Vec<(UnixMillis, String, Option<f64>)>,
    /// Strictly sorted by slot, every slot below [`HOUR_SLOTS`].
    pub hours: Vec<HourCounts>,
}

impl Engagement {
    pub fn observe(&mut self, event: &Event) {
        match event.kind.as_str() {
            kinds::SEND => {
                let lists = self.lists.open();
                if let Some(index) = event.channel.as_deref().and_then(channel_index) {
                    self.channels[index].sends += 1;
                    lists.hour_counts(event.at).sends += 1;
                }
                lists.record_contact(event.at);
            }
            kinds::RESPONSE => {
                if let Some(index) = event.channel.as_deref().and_then(channel_index) {
                    self.channels[index].responses += 1;
                    self.lists.open().hour_counts(event.at).responses += 1;
                }
            }
            kinds::OFFER_ISSUED | kinds::OFFER_CONTROL => {
                if let Some(benefit_id) = &event.benefit_id {
                    self.lists.open().offers.push(Issue {
                        at: event.at,
                        benefit: benefit_index(benefit_id),
                        treated: event.kind == kinds::OFFER_ISSUED,
                    });
                }
            }
            kinds::OFFER_REDEEMED => {
                if let Some(benefit_id) = &event.benefit_id {
                    let amount = event.amount.filter(|amount| amount.is_finite());
                    self.redemptions.get_or_insert_default().push((
                        event.at,
                        benefit_id.clone(),
                        amount,
                    ));
                }
            }
            _ => {}
        }
    }

    pub fn merge(&mut self, other: Engagement) {
        for (mine, theirs) in self.channels.iter_mut().zip(other.channels) {
            mine.sends += theirs.sends;
            mine.responses += theirs.responses;
        }
        if !other.lists.is_empty() {
            let lists = self.lists.open();
            for at in other.lists.contacts() {
                lists.record_contact(at);
            }
            lists.offers.extend(other.lists.offers());
            for theirs in other.lists.hours() {
                let mine = lists.slot_counts(theirs.slot);
                mine.sends += theirs.sends;
                mine.responses += theirs.responses;
            }
        }
        if let Some(theirs) = other.redemptions {
            match &mut self.redemptions {
                Some(mine) => mine.extend(*theirs),
                None => self.redemptions = Some(theirs),
            }
        }
    }

    /// Packs the lists into one block of their exact size, and moves the
    /// redemptions into an allocation of their exact length (see
    /// `UserHistory::compact`).
    pub fn compact(&mut self) {
        self.lists.pack();
        if let Some(redemptions) = &mut self.redemptions {
            crate::history::exact_size(redemptions);
        }
    }

    #[cfg(test)]
    pub(crate) fn slack(&self) -> usize {
        self.lists.slack()
            + self
                .redemptions
                .as_ref()
                .map_or(0, |list| list.capacity() - list.len())
    }

    pub fn to_parts(&self) -> EngagementParts {
        EngagementParts {
            channels: self.channels,
            recent_contacts: self.lists.contacts().collect(),
            offers: self.offer_issues(),
            redemptions: self.redemption_list().to_vec(),
            hours: self.lists.hours().collect(),
        }
    }

    /// Back from [`Engagement::to_parts`], compacted; `None` when the
    /// contacts or hours are not what a fold keeps (contacts sorted, at most
    /// [`RECENT_CONTACTS`]; hours strictly sorted by slot, each below
    /// [`HOUR_SLOTS`]).
    pub fn from_parts(parts: EngagementParts) -> Option<Engagement> {
        let EngagementParts {
            channels,
            recent_contacts,
            offers,
            redemptions,
            hours,
        } = parts;
        let sorted = recent_contacts.is_sorted();
        let hours_valid = hours.windows(2).all(|pair| pair[0].slot < pair[1].slot)
            && hours
                .last()
                .is_none_or(|last| usize::from(last.slot) < HOUR_SLOTS);
        if !(sorted && recent_contacts.len() <= RECENT_CONTACTS && hours_valid) {
            return None;
        }
        let offers = offers
            .iter()
            .map(|issue| Issue {
                at: issue.at,
                benefit: benefit_index(&issue.benefit_id),
                treated: issue.treated,
            })
            .collect();
        let mut lists = Lists::Open(Box::new(OpenLists {
            recent_contacts,
            offers,
            hours,
        }));
        lists.pack();
        Some(Engagement {
            channels,
            lists,
            redemptions: (!redemptions.is_empty()).then(|| Box::new(redemptions)),
        })
    }

    fn redemption_list(&self) -> &[Redemption] {
        self.redemptions.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The offer issues in fold order, each with its shared benefit id.
    fn offer_issues(&self) -> Vec<OfferIssue> {
        if self.lists.is_empty() {
            return Vec::new();
        }
        let benefits = benefits();
        self.lists
            .offers()
            .map(|issue| OfferIssue {
                at: issue.at,
                benefit_id: Arc::clone(&benefits.ids[issue.benefit as usize]),
                treated: issue.treated,
            })
            .collect()
    }

    /// Sends and responses on known channels by hour slot, sorted by slot.
    pub fn hours(&self) -> impl Iterator<Item = HourCounts> + '_ {
        self.lists.hours()
    }

    /// Sends and responses per channel, in [`CHANNELS`] order.
    pub fn channels(&self) -> &[ChannelCounts; 4] {
        &self.channels
    }

    /// Contacts in the `window_days` days up to and including `as_of`.
    pub fn contacts_within(&self, as_of: UnixMillis, window_days: u32) -> usize {
        let since = as_of - i64::from(window_days) * 86_400_000;
        self.lists
            .contacts()
            .filter(|at| *at > since && *at <= as_of)
            .count()
    }

    /// Offer issues sorted by time (then benefit), whatever the arrival order.
    pub fn offers(&self) -> Vec<OfferIssue> {
        let mut offers = self.offer_issues();
        offers.sort();
        offers
    }

    /// Whether `benefit_id` was redeemed in `[from, until]`.
    pub fn redeemed_between(&self, benefit_id: &str, from: UnixMillis, until: UnixMillis) -> bool {
        self.redemption_list()
            .iter()
            .any(|(at, id, _)| id == benefit_id && (from..=until).contains(at))
    }

    /// Redemptions of `benefit_id` in `[from, until]`, each with its logged
    /// amount (the redemption's cost; `None` where the log gave none), in
    /// time order (then amount), whatever the arrival order.
    pub fn redemptions_between(
        &self,
        benefit_id: &str,
        from: UnixMillis,
        until: UnixMillis,
    ) -> Vec<(UnixMillis, Option<f64>)> {
        let mut found: Vec<(UnixMillis, Option<f64>)> = self
            .redemption_list()
            .iter()
            .filter(|(at, id, _)| id == benefit_id && (from..=until).contains(at))
            .map(|(at, _, amount)| (*at, *amount))
            .collect();
        found.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.unwrap_or(0.0).total_cmp(&b.1.unwrap_or(0.0)))
        });
        found
    }

    /// Redemptions of any benefit before `until` (exclusive).
    pub fn redemptions_before(&self, until: UnixMillis) -> usize {
        self.redemption_list()
            .iter()
            .filter(|(at, _, _)| *at < until)
            .count()
    }
}

impl OpenLists {
    fn hour_counts(&mut self, at: UnixMillis) -> &mut HourCounts {
        let slot = (week_parity(at) * HOURS_PER_WEEK + hour_of_week(at)) as u16;
        self.slot_counts(slot)
    }

    fn slot_counts(&mut self, slot: u16) -> &mut HourCounts {
        let position = match self.hours.binary_search_by_key(&slot, |counts| counts.slot) {
            Ok(position) => position,
            Err(position) => {
                self.hours.insert(
                    position,
                    HourCounts {
                        slot,
                        ..HourCounts::default()
                    },
                );
                position
            }
        };
        &mut self.hours[position]
    }

    fn record_contact(&mut self, at: UnixMillis) {
        // Sorted insert keeps the result independent of arrival order.
        let position = self.recent_contacts.partition_point(|known| *known <= at);
        self.recent_contacts.insert(position, at);
        if self.recent_contacts.len() > RECENT_CONTACTS {
            self.recent_contacts.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, at: UnixMillis, channel: Option<&str>, benefit: Option<&str>) -> Event {
        Event {
            channel: channel.map(str::to_owned),
            benefit_id: benefit.map(str::to_owned),
            ..Event::new("u", at, kind)
        }
    }

    #[test]
    fn counts_channels_offers_and_recent_contacts_in_any_order() {
        let day = 86_400_000;
        let events = [
            event("send", 10 * day, Some("sms"), None),
            event("response", 10 * day, Some("sms"), None),
            event("send", 9 * day, Some("wechat"), None),
            event("send", 2 * day, Some("email"), None),
            event("offer_issued", 5 * day, None, Some("coupon-5")),
            event("offer_control", 3 * day, None, Some("coupon-10")),
            event("send", 4 * day, Some("pigeon"), None),
        ];
        let mut forward = Engagement::default();
        events.iter().for_each(|e| forward.observe(e));
        let mut backward = Engagement::default();
        events.iter().rev().for_each(|e| backward.observe(e));
        assert_eq!(forward.offers(), backward.offers());
        assert_eq!(forward.channels(), backward.channels());
        assert_eq!(
            forward.channels()[0],
            ChannelCounts {
                sends: 1,
                responses: 1
            }
        );
        assert_eq!(forward.contacts_within(10 * day, 7), 3, "days 4, 9 and 10");
        assert_eq!(&*forward.offers()[0].benefit_id, "coupon-10");
        assert!(!forward.offers()[0].treated);

        let mut halves = Engagement::default();
        events[..3].iter().for_each(|e| halves.observe(e));
        let mut rest = Engagement::default();
        events[3..].iter().for_each(|e| rest.observe(e));
        halves.merge(rest);
        assert_eq!(halves.offers(), forward.offers());
        assert_eq!(halves.contacts_within(10 * day, 7), 3);
        assert!(halves.hours().eq(forward.hours()));
        assert!(backward.hours().eq(forward.hours()));
        assert_eq!(halves, forward);
        let mut compacted = forward.clone();
        compacted.compact();
        assert_eq!(compacted, forward, "packing keeps the content");
        assert_eq!(compacted.contacts_within(10 * day, 7), 3);
        assert_eq!(compacted.offers(), forward.offers());
        // A later event opens packed lists again.
        let later = event("send", 10 * day + 1, Some("sms"), None);
        compacted.observe(&later);
        forward.observe(&later);
        assert_eq!(compacted, forward);
    }

    #[test]
    fn offer_issues_share_one_copy_of_each_benefit_id() {
        let day = 86_400_000;
        let mut engagement = Engagement::default();
        engagement.observe(&event("offer_issued", day, None, Some("share-test-1")));
        engagement.observe(&event("offer_control", 2 * day, None, Some("share-test-1")));
        engagement.observe(&event("offer_issued", 3 * day, None, Some("share-test-2")));
        let offers = engagement.offers();
        assert_eq!(&*offers[0].benefit_id, "share-test-1");
        assert!(Arc::ptr_eq(&offers[0].benefit_id, &offers[1].benefit_id));
        assert!(Arc::ptr_eq(
            &offers[0].benefit_id,
            &benefit_id("share-test-1")
        ));
        assert_eq!(&*offers[2].benefit_id, "share-test-2");
        assert!(!Arc::ptr_eq(&offers[0].benefit_id, &offers[2].benefit_id));
    }

    #[test]
    fn hours_of_the_week_start_monday_utc() {
        let hour = 3_600_000;
        // 2025-01-06 was a Monday, 2025-01-05 a Sunday.
        let monday = 1_736_121_600_000;
        assert_eq!(hour_of_week(monday), 0);
        assert_eq!(hour_of_week(monday + 20 * hour + 59 * 60_000), 20);
        assert_eq!(hour_of_week(monday - 1), 167);
        assert_ne!(week_parity(monday), week_parity(monday - 1));
        assert_eq!(week_parity(monday), week_parity(monday + 7 * 24 * hour - 1));
        assert_eq!(hour_of_week(0), 3 * 24, "the epoch was a Thursday");
    }

    #[test]
    fn counts_sends_and_responses_by_hour_slot() {
        let hour = 3_600_000;
        let monday = 1_736_121_600_000;
        let events = [
            event("send", monday + 20 * hour, Some("sms"), None),
            event("response", monday + 20 * hour + 600_000, Some("sms"), None),
            event("send", monday + (7 * 24 + 20) * hour, Some("email"), None),
            event("send", monday + 20 * hour + 5, Some("pigeon"), None),
        ];
        let mut engagement = Engagement::default();
        events.iter().for_each(|e| engagement.observe(e));
        let parity = week_parity(monday);
        let slot = |parity: usize| (parity * HOURS_PER_WEEK + 20) as u16;
        let mut expected = vec![
            HourCounts {
                slot: slot(parity),
                sends: 1,
                responses: 1,
            },
            HourCounts {
                slot: slot(1 - parity),
                sends: 1,
                responses: 0,
            },
        ];
        expected.sort_by_key(|counts| counts.slot);
        assert_eq!(
            engagement.hours().collect::<Vec<_>>(),
            expected,
            "unknown channel left out"
        );
        let round_trip = Engagement::from_parts(engagement.to_parts()).expect("a fold's parts");
        assert_eq!(round_trip, engagement);
        let mut unsorted = engagement.to_parts();
        unsorted.hours.reverse();
        assert!(Engagement::from_parts(unsorted).is_none());
        let mut out_of_range = engagement.to_parts();
        out_of_range.hours = vec![HourCounts {
            slot: HOUR_SLOTS as u16,
            ..HourCounts::default()
        }];
        assert!(Engagement::from_parts(out_of_range).is_none());
    }

    #[test]
    fn redemptions_keep_their_logged_cost_in_any_order() {
        let day = 86_400_000;
        let redeemed = |at: i64, benefit: &str, cost: Option<f64>| Event {
            amount: cost,
            ..event("offer_redeemed", at, None, Some(benefit))
        };
        let events = [
            redeemed(5 * day, "coupon-5", Some(5.0)),
            redeemed(2 * day, "coupon-5", None),
            redeemed(3 * day, "points-200", Some(2.0)),
            redeemed(9 * day, "coupon-5", Some(f64::NAN)),
        ];
        let mut forward = Engagement::default();
        events.iter().for_each(|e| forward.observe(e));
        let mut backward = Engagement::default();
        events.iter().rev().for_each(|e| backward.observe(e));
        for engagement in [&forward, &backward] {
            assert_eq!(
                engagement.redemptions_between("coupon-5", 2 * day, 9 * day),
                // A cost that is not a number is as if none were logged.
                vec![(2 * day, None), (5 * day, Some(5.0)), (9 * day, None)]
            );
            assert_eq!(
                engagement
                    .redemptions_between("coupon-5", 3 * day, 8 * day)
                    .len(),
                1
            );
            assert_eq!(engagement.redemptions_before(5 * day), 2);
            assert!(engagement.redeemed_between("points-200", 3 * day, 3 * day));
        }
    }
}
