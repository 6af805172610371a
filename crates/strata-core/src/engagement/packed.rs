//! An engagement's lists (recent contacts, hour counters, offer issues) in
//! one of two forms: open `Vec`s while a fold adds to them, then, once the
//! fold is done (`Engagement::compact`), the same content packed into one
//! byte string.
//!
//! Apart from `engagement.rs` because it is an encoding, not a rule. A run
//! holds a million engagements from the read to the apply, and most of their
//! room was these lists: 8 bytes a contact time, 12 an hour counter, 32 an
//! offer issue, in three heap blocks. Packed, each value is a varint of its
//! difference from the one before (times and slots) or a small count, so a
//! contact takes about 5 bytes, an hour counter 3, an offer issue 6, all in
//! one block. Readers walk the packed bytes; a later event opens the lists
//! again (rare: a user's events are folded in one run but at thread
//! boundaries).

use std::cell::RefCell;
use std::slice;

use super::HourCounts;
use crate::event::UnixMillis;

/// One offer issue as the lists keep it: the benefit by its index in the
/// process's table of benefit ids (`super::benefit_index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Issue {
    pub(super) at: UnixMillis,
    pub(super) benefit: u32,
    pub(super) treated: bool,
}

/// The lists a fold grows, kept as the fold leaves them.
#[derive(Debug, Clone, Default)]
pub(super) struct OpenLists {
    /// Sorted, at most `RECENT_CONTACTS`.
    pub(super) recent_contacts: Vec<UnixMillis>,
    /// In the order they were folded.
    pub(super) offers: Vec<Issue>,
    /// Strictly sorted by slot.
    pub(super) hours: Vec<HourCounts>,
}

/// Open while a fold adds to them, packed in between. Boxed either way, so
/// a history holds 24 bytes for them, not three `Vec`s' 72.
#[derive(Debug, Clone)]
pub(super) enum Lists {
    Open(Box<OpenLists>),
    /// Two varint section lengths (contacts, hours), then the contacts, the
    /// hour counters and the offer issues. Empty when all three are.
    Packed(Box<[u8]>),
}

impl Default for Lists {
    fn default() -> Self {
        Lists::Packed(Box::default())
    }
}

thread_local! {
    /// Where a pack is written before it is copied into a block of its
    /// exact size (a shrunk `Vec` would keep mimalloc's larger block).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Lists {
    /// The open lists, unpacked first if they were packed.
    pub(super) fn open(&mut self) -> &mut OpenLists {
        if let Lists::Packed(bytes) = self {
            let sections = Sections::of(bytes);
            let open = OpenLists {
                recent_contacts: Times::new(sections.contacts).collect(),
                offers: Issues::new(sections.offers).collect(),
                hours: Hours::new(sections.hours).collect(),
            };
            *self = Lists::Open(Box::new(open));
        }
        match self {
            Lists::Open(open) => open,
            Lists::Packed(_) => unreachable!("unpacked above"),
        }
    }

    /// Packs open lists into one block of their exact size.
    pub(super) fn pack(&mut self) {
        if let Lists::Open(open) = self {
            *self = Lists::Packed(pack(open));
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Lists::Open(open) => {
                open.recent_contacts.is_empty() && open.offers.is_empty() && open.hours.is_empty()
            }
            Lists::Packed(bytes) => bytes.is_empty(),
        }
    }

    /// Sorted, oldest first.
    pub(super) fn contacts(&self) -> Walk<'_, UnixMillis, Times<'_>> {
        match self {
            Lists::Open(open) => Walk::Open(open.recent_contacts.iter()),
            Lists::Packed(bytes) => Walk::Packed(Times::new(Sections::of(bytes).contacts)),
        }
    }

    /// Sorted by slot.
    pub(super) fn hours(&self) -> Walk<'_, HourCounts, Hours<'_>> {
        match self {
            Lists::Open(open) => Walk::Open(open.hours.iter()),
            Lists::Packed(bytes) => Walk::Packed(Hours::new(Sections::of(bytes).hours)),
        }
    }

    /// In the order they were folded.
    pub(super) fn offers(&self) -> Walk<'_, Issue, Issues<'_>> {
        match self {
            Lists::Open(open) => Walk::Open(open.offers.iter()),
            Lists::Packed(bytes) => Walk::Packed(Issues::new(Sections::of(bytes).offers)),
        }
    }

    /// Entries the open lists have room for beyond their length.
    #[cfg(test)]
    pub(super) fn slack(&self) -> usize {
        match self {
            Lists::Open(open) => {
                open.recent_contacts.capacity() - open.recent_contacts.len()
                    + (open.offers.capacity() - open.offers.len())
                    + (open.hours.capacity() - open.hours.len())
            }
            Lists::Packed(_) => 0,
        }
    }
}

/// Same content, whichever form either side is in.
impl PartialEq for Lists {
    fn eq(&self, other: &Self) -> bool {
        self.contacts().eq(other.contacts())
            && self.hours().eq(other.hours())
            && self.offers().eq(other.offers())
    }
}

fn pack(open: &OpenLists) -> Box<[u8]> {
    if open.recent_contacts.is_empty() && open.offers.is_empty() && open.hours.is_empty() {
        return Box::default();
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        let mut previous = 0;
        for at in &open.recent_contacts {
            push_varint(scratch, zigzag(at.wrapping_sub(previous)));
            previous = *at;
        }
        let contacts = scratch.len();
        let mut slot = 0u16;
        for counts in &open.hours {
            push_varint(scratch, u64::from(counts.slot.wrapping_sub(slot)));
            push_varint(scratch, u64::from(counts.sends));
            push_varint(scratch, u64::from(counts.responses));
            slot = counts.slot;
        }
        let hours = scratch.len() - contacts;
        let mut previous = 0;
        for issue in &open.offers {
            push_varint(scratch, zigzag(issue.at.wrapping_sub(previous)));
            push_varint(
                scratch,
                (u64::from(issue.benefit) << 1) | u64::from(issue.treated),
            );
            previous = issue.at;
        }
        let header = [contacts as u64, hours as u64];
        let header_len: usize = header.iter().map(|length| varint_len(*length)).sum();
        let mut packed = Vec::with_capacity(header_len + scratch.len());
        for length in header {
            push_varint(&mut packed, length);
        }
        packed.extend_from_slice(scratch);
        packed.into_boxed_slice()
    })
}

/// The three sections of packed lists.
struct Sections<'a> {
    contacts: &'a [u8],
    hours: &'a [u8],
    offers: &'a [u8],
}

impl<'a> Sections<'a> {
    fn of(bytes: &'a [u8]) -> Sections<'a> {
        let mut cursor = Cursor(bytes);
        let contacts = cursor.varint() as usize;
        let hours = cursor.varint() as usize;
        let (contacts, rest) = cursor.0.split_at(contacts.min(cursor.0.len()));
        let (hours, offers) = rest.split_at(hours.min(rest.len()));
        Sections {
            contacts,
            hours,
            offers,
        }
    }
}

/// Either form's list as one iterator of values.
pub(super) enum Walk<'a, T, P> {
    Open(slice::Iter<'a, T>),
    Packed(P),
}

impl<T: Copy, P: Iterator<Item = T>> Iterator for Walk<'_, T, P> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Walk::Open(values) => values.next().copied(),
            Walk::Packed(values) => values.next(),
        }
    }
}

/// Packed times: each the zigzagged difference from the one before.
pub(super) struct Times<'a> {
    cursor: Cursor<'a>,
    previous: UnixMillis,
}

impl<'a> Times<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Times {
            cursor: Cursor(bytes),
            previous: 0,
        }
    }
}

impl Iterator for Times<'_> {
    type Item = UnixMillis;

    fn next(&mut self) -> Option<UnixMillis> {
        if self.cursor.0.is_empty() {
            return None;
        }
        self.previous = self.previous.wrapping_add(unzigzag(self.cursor.varint()));
        Some(self.previous)
    }
}

/// Packed hour counters: the slot's difference from the one before, sends,
/// responses.
pub(super) struct Hours<'a> {
    cursor: Cursor<'a>,
    slot: u16,
}

impl<'a> Hours<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Hours {
            cursor: Cursor(bytes),
            slot: 0,
        }
    }
}

impl Iterator for Hours<'_> {
    type Item = HourCounts;

    fn next(&mut self) -> Option<HourCounts> {
        if self.cursor.0.is_empty() {
            return None;
        }
        // Written from a `u16`, a `u32` and a `u32`: the casts are exact.
        self.slot = self.slot.wrapping_add(self.cursor.varint() as u16);
        let sends = self.cursor.varint() as u32;
        let responses = self.cursor.varint() as u32;
        Some(HourCounts {
            slot: self.slot,
            sends,
            responses,
        })
    }
}

/// Packed offer issues: the time's zigzagged difference from the one
/// before, then the benefit's index and the treated flag in one varint.
pub(super) struct Issues<'a> {
    times: Times<'a>,
}

impl<'a> Issues<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Issues {
            times: Times::new(bytes),
        }
    }
}

impl Iterator for Issues<'_> {
    type Item = Issue;

    fn next(&mut self) -> Option<Issue> {
        let at = self.times.next()?;
        let code = self.times.cursor.varint();
        Some(Issue {
            at,
            // Written from a `u32` shifted left by one.
            benefit: (code >> 1) as u32,
            treated: code & 1 == 1,
        })
    }
}

/// Reads varints off the front of a byte string.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// The next LEB128 varint; 0 at the end. Only `pack` writes these
    /// bytes, so a varint is never longer than a `u64`'s ten bytes.
    fn varint(&mut self) -> u64 {
        let mut value = 0u64;
        let mut shift = 0u32;
        while let Some((&byte, rest)) = self.0.split_first() {
            self.0 = rest;
            if shift < u64::BITS {
                value |= u64::from(byte & 0x7f) << shift;
            }
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        value
    }
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    (u64::BITS - value.leading_zeros()).max(1).div_ceil(7) as usize
}

/// Small differences of either sign as small unsigned numbers.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(contacts: &[i64], hours: &[(u16, u32, u32)], offers: &[(i64, u32, bool)]) -> Lists {
        Lists::Open(Box::new(OpenLists {
            recent_contacts: contacts.to_vec(),
            offers: offers
                .iter()
                .map(|&(at, benefit, treated)| Issue {
                    at,
                    benefit,
                    treated,
                })
                .collect(),
            hours: hours
                .iter()
                .map(|&(slot, sends, responses)| HourCounts {
                    slot,
                    sends,
                    responses,
                })
                .collect(),
        }))
    }

    /// Packing keeps every value exactly, extremes included.
    fn check(lists: Lists) {
        let mut packed = lists.clone();
        packed.pack();
        assert!(matches!(packed, Lists::Packed(_)));
        assert!(packed.contacts().eq(lists.contacts()));
        assert!(packed.hours().eq(lists.hours()));
        assert!(packed.offers().eq(lists.offers()));
        assert_eq!(packed, lists);
        let mut reopened = packed.clone();
        reopened.open();
        assert!(matches!(reopened, Lists::Open(_)));
        assert_eq!(reopened, lists);
    }

    #[test]
    fn packing_keeps_every_value() {
        check(open(&[], &[], &[]));
        check(open(&[1_735_689_600_123], &[], &[]));
        check(open(
            &[i64::MIN, -5, 0, 0, 86_400_000, i64::MAX],
            &[(0, 0, 0), (1, u32::MAX, 0), (335, 1, u32::MAX)],
            &[
                (i64::MAX, u32::MAX, true),
                (i64::MIN, 0, false),
                (1_735_689_600_000, 7, true),
                (1_735_689_600_000, 7, false),
            ],
        ));
        check(open(&[], &[(167, 2, 1)], &[]));
        check(open(&[], &[], &[(-1, 3, false)]));
    }

    #[test]
    fn packed_lists_take_a_fraction_of_the_open_ones() {
        let day = 86_400_000;
        let start = 1_704_067_200_000;
        // A typical user: a dozen contacts, a dozen hour slots, 4 issues.
        let contacts: Vec<i64> = (0..12).map(|n| start + n * 29 * day + n * 7_919).collect();
        let hours: Vec<(u16, u32, u32)> = (0..12).map(|n| (n * 27, 1, n as u32 % 2)).collect();
        let offers: Vec<(i64, u32, bool)> = (0..4)
            .map(|n| (start + n * 90 * day, 3, n % 3 != 0))
            .collect();
        let mut lists = open(&contacts, &hours, &offers);
        lists.pack();
        let Lists::Packed(bytes) = &lists else {
            panic!("packed");
        };
        let open_bytes = 12 * 8 + 12 * 12 + 4 * 16;
        assert!(
            bytes.len() * 2 < open_bytes,
            "{} packed bytes against {open_bytes} open",
            bytes.len()
        );
        assert!(Lists::default().is_empty());
        let mut empty = open(&[], &[], &[]);
        empty.pack();
        assert!(matches!(&empty, Lists::Packed(bytes) if bytes.is_empty()));
    }
}
