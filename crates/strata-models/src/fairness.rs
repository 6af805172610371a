//! The fairness rule on recommendations: no user in a layer later than `new`
//! is offered a lower face value than a new user in the same value tier and
//! quadrant gets for the same benefit kind. The articles call the opposite
//! "big-data price discrimination"; here it is a rule, applied after the
//! uplift model, not a hope.
//!
//! ## The repair
//! For every (tier, quadrant, kind), the *floor* is the new users' best offer
//! of that kind: highest face value, ties to the lowest benefit index. A
//! later-layer user's offer of that kind below the floor's face value is
//! **replaced by the floor's benefit** (the benefit itself, not a made-up
//! face value, so the result is always a real catalogue item). If that leaves
//! the user with the same benefit twice, the later copy is dropped. The rule
//! adds no offers: a user with no offer of a kind is not compared on it.
//! Order of the list is kept, so a repaired offer sits where the one it
//! replaced did. Deterministic: the result depends only on the input values,
//! not on the order users are given in.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FairnessConfig {
    /// Off only for experiments that need the unconstrained model.
    pub enabled: bool,
    /// Index of the `new` layer in the lifecycle model; layers with a higher
    /// index are "later".
    pub new_layer: usize,
}

impl Default for FairnessConfig {
    fn default() -> Self {
        FairnessConfig {
            enabled: true,
            // The retail preset: potential, new, growth, mature, declining.
            new_layer: 1,
        }
    }
}

/// One recommended benefit, as far as fairness is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub benefit: usize,
    /// Coupon, discount, points, free shipping: the caller's kind index.
    pub kind: u32,
    /// In the kind's own unit (minor currency units, percent, points).
    pub face_value: f64,
}

/// One user's recommendations and the keys the rule groups by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserOffers {
    pub layer: usize,
    pub tier: u32,
    pub quadrant: u32,
    pub offers: Vec<Offer>,
}

/// What the rule changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FairnessReport {
    /// Offers replaced by the floor's benefit, plus duplicates dropped.
    pub offers_changed: usize,
    pub users_changed: usize,
}

/// Applies the rule to every user in place; see the module documentation.
pub fn enforce(users: &mut [UserOffers], config: &FairnessConfig) -> FairnessReport {
    if !config.enabled {
        return FairnessReport::default();
    }
    let floors = Floors::from_users(users.iter(), config);
    let mut report = FairnessReport::default();
    for user in users {
        let changed = floors.repair(user);
        report.offers_changed += changed;
        report.users_changed += usize::from(changed > 0);
    }
    report
}

/// The new users' best offer per (tier, quadrant, kind). Built in one pass
/// and applied in another, so a caller streaming users can keep only this.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Floors {
    new_layer: usize,
    best: BTreeMap<(u32, u32, u32), Offer>,
}

impl Floors {
    pub fn new(config: &FairnessConfig) -> Floors {
        Floors {
            new_layer: config.new_layer,
            best: BTreeMap::new(),
        }
    }

    pub fn from_users<'a>(
        users: impl IntoIterator<Item = &'a UserOffers>,
        config: &FairnessConfig,
    ) -> Floors {
        let mut floors = Floors::new(config);
        for user in users {
            floors.observe(user);
        }
        floors
    }

    /// Takes a new user's offers into the floors; other layers are ignored.
    pub fn observe(&mut self, user: &UserOffers) {
        if user.layer != self.new_layer {
            return;
        }
        for offer in &user.offers {
            let key = (user.tier, user.quadrant, offer.kind);
            let better = |known: &Offer| {
                offer.face_value > known.face_value
                    || (offer.face_value == known.face_value && offer.benefit < known.benefit)
            };
            if self.best.get(&key).is_none_or(better) {
                self.best.insert(key, *offer);
            }
        }
    }

    /// Raises a later-layer user's offers to the floors; returns how many
    /// offers changed.
    pub fn repair(&self, user: &mut UserOffers) -> usize {
        if user.layer <= self.new_layer {
            return 0;
        }
        let mut changed = 0;
        for offer in &mut user.offers {
            let key = (user.tier, user.quadrant, offer.kind);
            if let Some(floor) = self.best.get(&key)
                && offer.face_value < floor.face_value
            {
                *offer = *floor;
                changed += 1;
            }
        }
        if changed > 0 {
            let before = user.offers.len();
            let mut seen = Vec::with_capacity(before);
            user.offers.retain(|offer| {
                let first = !seen.contains(&offer.benefit);
                seen.push(offer.benefit);
                first
            });
            changed += before - user.offers.len();
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUPON: u32 = 0;
    const SHIPPING: u32 = 1;

    fn offer(benefit: usize, kind: u32, face_value: f64) -> Offer {
        Offer {
            benefit,
            kind,
            face_value,
        }
    }

    fn user(layer: usize, tier: u32, offers: Vec<Offer>) -> UserOffers {
        UserOffers {
            layer,
            tier,
            quadrant: 2,
            offers,
        }
    }

    fn violations(users: &[UserOffers], new_layer: usize) -> usize {
        let mut count = 0;
        for later in users.iter().filter(|user| user.layer > new_layer) {
            for new in users.iter().filter(|user| user.layer == new_layer) {
                if (new.tier, new.quadrant) != (later.tier, later.quadrant) {
                    continue;
                }
                for mine in &later.offers {
                    let theirs = new.offers.iter().filter(|offer| offer.kind == mine.kind);
                    count += theirs
                        .filter(|offer| offer.face_value > mine.face_value)
                        .count();
                }
            }
        }
        count
    }

    fn unfair_population() -> Vec<UserOffers> {
        vec![
            // New users, tier 0: coupons of 10 and 20, shipping worth 5.
            user(
                1,
                0,
                vec![offer(10, COUPON, 10.0), offer(30, SHIPPING, 5.0)],
            ),
            user(1, 0, vec![offer(20, COUPON, 20.0)]),
            // A mature user in tier 0 gets a 5 coupon and a 20 coupon: the 5
            // is below the new users' 20.
            user(
                3,
                0,
                vec![
                    offer(5, COUPON, 5.0),
                    offer(20, COUPON, 20.0),
                    offer(30, SHIPPING, 5.0),
                ],
            ),
            // A growth user in tier 1 is compared with nobody (no new user there).
            user(2, 1, vec![offer(5, COUPON, 5.0)]),
            // A potential user (before new) is not protected by the rule.
            user(0, 0, vec![offer(5, COUPON, 5.0)]),
        ]
    }

    #[test]
    fn raises_a_later_user_to_the_new_users_floor() {
        let mut users = unfair_population();
        assert_eq!(
            violations(&users, 1),
            2,
            "the 5 coupon is below both the 10 and the 20"
        );
        let report = enforce(&mut users, &FairnessConfig::default());
        assert_eq!(violations(&users, 1), 0);
        // The 5 became the 20, which duplicated the 20 already there: one
        // replacement plus one dropped duplicate.
        assert_eq!(
            users[2].offers,
            vec![offer(20, COUPON, 20.0), offer(30, SHIPPING, 5.0)]
        );
        assert_eq!(
            report,
            FairnessReport {
                offers_changed: 2,
                users_changed: 1
            }
        );
        assert_eq!(users[3].offers, vec![offer(5, COUPON, 5.0)]);
        assert_eq!(users[4].offers, vec![offer(5, COUPON, 5.0)]);
    }

    #[test]
    fn changes_nothing_when_already_fair_or_switched_off() {
        let mut fair = vec![
            user(1, 0, vec![offer(10, COUPON, 10.0)]),
            user(
                2,
                0,
                vec![offer(10, COUPON, 10.0), offer(30, SHIPPING, 5.0)],
            ),
            user(4, 0, vec![offer(20, COUPON, 20.0)]),
        ];
        let before = fair.clone();
        assert_eq!(
            enforce(&mut fair, &FairnessConfig::default()),
            FairnessReport::default()
        );
        assert_eq!(fair, before);

        let mut unfair = unfair_population();
        let off = FairnessConfig {
            enabled: false,
            ..FairnessConfig::default()
        };
        assert_eq!(enforce(&mut unfair, &off), FairnessReport::default());
        assert_eq!(unfair, unfair_population());
    }

    #[test]
    fn result_does_not_depend_on_user_order() {
        let mut forward = unfair_population();
        let mut backward: Vec<UserOffers> = unfair_population().into_iter().rev().collect();
        enforce(&mut forward, &FairnessConfig::default());
        enforce(&mut backward, &FairnessConfig::default());
        backward.reverse();
        assert_eq!(forward, backward);
    }

    #[test]
    fn equal_face_values_pick_the_lowest_benefit_index() {
        let mut users = vec![
            user(1, 0, vec![offer(8, COUPON, 20.0)]),
            user(1, 0, vec![offer(7, COUPON, 20.0)]),
            user(2, 0, vec![offer(1, COUPON, 1.0)]),
        ];
        enforce(&mut users, &FairnessConfig::default());
        assert_eq!(users[2].offers, vec![offer(7, COUPON, 20.0)]);
    }
}
