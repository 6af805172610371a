//! Fairness at the least cost: the rule of [`crate::fairness`] (no
//! later-layer user gets a lower face value of a benefit kind than a new user
//! of the same tier and quadrant), satisfied by whichever repair loses the
//! least estimated profit.
//!
//! ## The rule, per group and kind
//! In a group (tier, quadrant), for kind `k`: let `N` be the highest face
//! value of a kind-`k` offer in a new user's list and `L` the lowest in a
//! later user's list. The group is fair for `k` iff `N <= L` (a user with no
//! offer of kind `k` is not compared on it, as in the existing rule). A
//! repair picks a threshold `t` and makes every new user's kind-`k` offers
//! `<= t` and every later user's `>= t`:
//! - **lower the new users' offer** (`t = L`): each new user's kind-`k` offer
//!   above `t` is replaced by that user's best-estimated kind-`k` benefit with
//!   face `<= t` if its estimate is positive, else removed;
//! - **raise the later users' offers** (`t = N`): each later user's kind-`k`
//!   offer below `t` is replaced by that user's best-estimated kind-`k`
//!   benefit with face `>= t`, whatever its estimate, and marked **forced**:
//!   it is served only because the rule demands it;
//! - **meet in between** (`L < t < N`, any catalogue face of kind `k`): both,
//!   sometimes cheaper than either end;
//! - **drop the kind for both**: remove every kind-`k` offer of the group's
//!   new and later users.
//!
//! ## Cost
//! A user's value is the estimated incremental profit of the first offer of
//! their list (0 for an empty list): the one served, and the quantity the
//! policy values of [`super::select`] measure. A repair's cost is the sum over
//! the group's users of value before minus value after. The cheapest repair
//! wins; ties go to fewer changed offers, then to the higher threshold (the
//! more generous one), and dropping the kind comes last. Unless the caller
//! allows it, a repair that would put a forced offer with a non-positive
//! estimate first is not considered (so with raising impossible the rule is
//! met by lowering or dropping instead), which keeps "never a negative
//! estimate first".
//!
//! Kinds are repaired one after another (ascending kind) on the lists as
//! repaired so far: a repair of kind `k` changes only kind-`k` offers, so it
//! cannot break the rule for another kind, but it can change which offer is
//! first and so the cost of the next. This greedy order is not guaranteed to
//! be the joint optimum when one user's first offer moves twice; it is exact
//! for one kind. Lists are kept best first throughout.
//!
//! ## Deciding over everyone, applying per user
//! Which repair a (group, kind) gets compares users; what a chosen repair
//! does to one user does not: a new user's kind-`k` offers are lowered to the
//! threshold, a later user's raised to it, or the kind dropped, each from
//! that user's own list and estimates. So [`enforce_least_cost`] runs once
//! over the whole population (the job's fit) and its `repairs` travel in the
//! model file; [`apply_repairs`] then gives any one user the list the whole
//! run gave them, on whichever worker serves that user.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A catalogue benefit as far as the rule is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenefitTerms {
    /// Coupon, discount, points, free shipping: the caller's kind index.
    pub kind: u32,
    /// In the kind's own unit.
    pub face_value: f64,
}

/// Where a user stands for the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// In the `new` layer: sets the floor.
    New,
    /// In a layer after `new`: protected by the floor.
    Later,
    /// Before `new` (e.g. potential): not compared.
    Exempt,
}

/// One user's served list and what the rule needs to repair it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserOffers {
    pub tier: u32,
    pub quadrant: u32,
    pub stage: Stage,
    /// Estimated incremental profit of every catalogue benefit for this
    /// user (`None`: not estimated, never inserted).
    pub estimates: Vec<Option<f64>>,
    /// The served list: benefit indices (put best first by the repair).
    pub offers: Vec<usize>,
}

/// An offer of a repaired list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FairOffer {
    pub benefit: usize,
    pub estimate: f64,
    /// Listed only because the rule demanded it (a raised offer).
    pub forced: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeastCostConfig {
    /// Allow a forced offer with a non-positive estimate to be first.
    pub allow_negative_first: bool,
}

/// The repair chosen for one (group, kind).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repair {
    /// New users' offers lowered to at most this face value.
    LowerNew { to: f64 },
    /// Later users' offers raised to at least this face value.
    RaiseLater { to: f64 },
    /// New users lowered to at most, later raised to at least, this value.
    Meet { at: f64 },
    /// The kind removed from the group's new and later users.
    DropKind,
}

/// What one unfair (group, kind) cost, with the alternatives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupRepair {
    pub tier: u32,
    pub quadrant: u32,
    pub kind: u32,
    pub repair: Repair,
    /// Estimated profit lost by the chosen repair (summed over users).
    pub cost: f64,
    pub offers_changed: usize,
    /// The pure alternatives' costs (`None`: not allowed, see the module
    /// documentation).
    pub lower_new_cost: Option<f64>,
    pub raise_later_cost: Option<f64>,
    pub drop_cost: f64,
}

/// The repaired lists and what the rule cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessOutcome {
    /// Per user, in input order, best first.
    pub offers: Vec<Vec<FairOffer>>,
    pub repairs: Vec<GroupRepair>,
    /// Mean first-offer estimate per user before and after the rule.
    pub value_without: f64,
    pub value_with: f64,
    pub users_changed: usize,
    pub forced_offers: usize,
}

impl FairnessOutcome {
    /// Estimated profit per user the rule costs.
    pub fn cost_per_user(&self) -> f64 {
        self.value_without - self.value_with
    }
}

type List = Vec<FairOffer>;

fn value(list: &[FairOffer]) -> f64 {
    list.first().map_or(0.0, |offer| offer.estimate)
}

fn sort_best_first(list: &mut List) {
    list.sort_by(|a, b| {
        b.estimate
            .total_cmp(&a.estimate)
            .then(a.benefit.cmp(&b.benefit))
    });
}

/// Repairs every group and kind at the least estimated cost; see the module
/// documentation.
pub fn enforce_least_cost(
    users: &[UserOffers],
    catalogue: &[BenefitTerms],
    config: &LeastCostConfig,
) -> Result<FairnessOutcome, Error> {
    check(users, catalogue)?;
    let mut lists: Vec<List> = users
        .iter()
        .map(|user| {
            let mut list: List = user
                .offers
                .iter()
                .map(|&benefit| FairOffer {
                    benefit,
                    estimate: user.estimates[benefit].expect("checked"),
                    forced: false,
                })
                .collect();
            sort_best_first(&mut list);
            list
        })
        .collect();
    let before = lists.clone();

    let mut groups: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
    for (index, user) in users.iter().enumerate() {
        if user.stage != Stage::Exempt {
            groups
                .entry((user.tier, user.quadrant))
                .or_default()
                .push(index);
        }
    }
    let repairer = Repairer {
        users,
        catalogue,
        config,
    };
    let mut repairs = Vec::new();
    for ((tier, quadrant), members) in &groups {
        let mut kinds: Vec<u32> = members
            .iter()
            .filter(|&&index| users[index].stage == Stage::New)
            .flat_map(|&index| {
                lists[index]
                    .iter()
                    .map(|offer| catalogue[offer.benefit].kind)
            })
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            if let Some(mut repair) = repairer.repair(&mut lists, members, kind) {
                repair.tier = *tier;
                repair.quadrant = *quadrant;
                repairs.push(repair);
            }
        }
    }

    let count = users.len().max(1) as f64;
    Ok(FairnessOutcome {
        value_without: before.iter().map(|list| value(list)).sum::<f64>() / count,
        value_with: lists.iter().map(|list| value(list)).sum::<f64>() / count,
        users_changed: before.iter().zip(&lists).filter(|(a, b)| a != b).count(),
        forced_offers: lists.iter().flatten().filter(|offer| offer.forced).count(),
        offers: lists,
        repairs,
    })
}

/// One user's repaired list under `repairs`, the repairs
/// [`enforce_least_cost`] chose over a whole population this user was part
/// of: the same list that call gave this user, computed from this user
/// alone. Repairs of other groups are skipped; the group's are applied in
/// the order chosen (ascending kind), as the population-wide call did.
pub fn apply_repairs(
    user: &UserOffers,
    catalogue: &[BenefitTerms],
    repairs: &[GroupRepair],
    config: &LeastCostConfig,
) -> Result<Vec<FairOffer>, Error> {
    let users = std::slice::from_ref(user);
    check(users, catalogue)?;
    let mut list: List = user
        .offers
        .iter()
        .map(|&benefit| FairOffer {
            benefit,
            estimate: user.estimates[benefit].expect("checked"),
            forced: false,
        })
        .collect();
    sort_best_first(&mut list);
    if user.stage == Stage::Exempt {
        return Ok(list);
    }
    let repairer = Repairer {
        users,
        catalogue,
        config,
    };
    for repair in repairs
        .iter()
        .filter(|repair| (repair.tier, repair.quadrant) == (user.tier, user.quadrant))
    {
        let kind = repair.kind;
        let (new, changed) = match repair.repair {
            Repair::DropKind => {
                let kept: List = list
                    .iter()
                    .filter(|offer| catalogue[offer.benefit].kind != kind)
                    .copied()
                    .collect();
                let changed = list.len() - kept.len();
                (kept, changed)
            }
            Repair::LowerNew { to: t } | Repair::RaiseLater { to: t } | Repair::Meet { at: t } => {
                match user.stage {
                    Stage::New => repairer.lower(0, &list, kind, t),
                    _ => repairer.raise(0, &list, kind, t),
                }
            }
        };
        if changed > 0 {
            list = new;
        }
    }
    Ok(list)
}

fn check(users: &[UserOffers], catalogue: &[BenefitTerms]) -> Result<(), Error> {
    if let Some(index) = catalogue
        .iter()
        .position(|terms| !terms.face_value.is_finite())
    {
        return Err(Error::InvalidInput {
            input: format!("catalogue[{index}].face_value"),
            reason: "is not a finite number".into(),
        });
    }
    for (index, user) in users.iter().enumerate() {
        if user.estimates.len() != catalogue.len() {
            return Err(Error::InvalidInput {
                input: format!("users[{index}].estimates"),
                reason: format!(
                    "has {} entries, expected one per catalogue benefit ({})",
                    user.estimates.len(),
                    catalogue.len()
                ),
            });
        }
        if let Some(benefit) = user
            .estimates
            .iter()
            .position(|estimate| estimate.is_some_and(|value| !value.is_finite()))
        {
            return Err(Error::InvalidInput {
                input: format!("users[{index}].estimates[{benefit}]"),
                reason: "is not a finite number".into(),
            });
        }
        for (position, &benefit) in user.offers.iter().enumerate() {
            let invalid = |reason: String| Error::InvalidInput {
                input: format!("users[{index}].offers[{position}]"),
                reason,
            };
            if benefit >= catalogue.len() {
                return Err(invalid(format!(
                    "is benefit {benefit}, but the catalogue has {}",
                    catalogue.len()
                )));
            }
            if user.estimates[benefit].is_none() {
                return Err(invalid(format!("benefit {benefit} has no estimate")));
            }
            if user.offers[..position].contains(&benefit) {
                return Err(invalid(format!("benefit {benefit} is listed twice")));
            }
        }
    }
    Ok(())
}

struct Repairer<'a> {
    users: &'a [UserOffers],
    catalogue: &'a [BenefitTerms],
    config: &'a LeastCostConfig,
}

/// A candidate repair's effect on the group.
struct Trial {
    lists: Vec<(usize, List)>,
    cost: f64,
    changed: usize,
}

impl Repairer<'_> {
    /// Face values of the kind-`kind` offers of a list.
    fn kind_faces(&self, list: &[FairOffer], kind: u32) -> Vec<f64> {
        list.iter()
            .filter(|offer| self.catalogue[offer.benefit].kind == kind)
            .map(|offer| self.catalogue[offer.benefit].face_value)
            .collect()
    }

    /// Repairs kind `kind` among `members` in place if it is unfair.
    fn repair(&self, lists: &mut [List], members: &[usize], kind: u32) -> Option<GroupRepair> {
        let stage = |index: usize| self.users[index].stage;
        let highest_new = members
            .iter()
            .filter(|&&index| stage(index) == Stage::New)
            .flat_map(|&index| self.kind_faces(&lists[index], kind))
            .fold(f64::NEG_INFINITY, f64::max);
        let lowest_later = members
            .iter()
            .filter(|&&index| stage(index) == Stage::Later)
            .flat_map(|&index| self.kind_faces(&lists[index], kind))
            .fold(f64::INFINITY, f64::min);
        if highest_new <= lowest_later {
            return None;
        }
        // Thresholds worth trying: catalogue faces of the kind in
        // [lowest_later, highest_new]; outside that range a threshold only
        // changes more than needed.
        let mut thresholds: Vec<f64> = self
            .catalogue
            .iter()
            .filter(|terms| terms.kind == kind)
            .map(|terms| terms.face_value)
            .filter(|face| *face >= lowest_later && *face <= highest_new)
            .collect();
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();

        let trials: Vec<(Option<f64>, Option<Trial>)> = thresholds
            .iter()
            .map(|&threshold| {
                (
                    Some(threshold),
                    self.trial(lists, members, kind, Some(threshold)),
                )
            })
            .chain(std::iter::once((
                None,
                self.trial(lists, members, kind, None),
            )))
            .collect();
        let cost_at = |threshold: f64| {
            trials
                .iter()
                .find(|(t, _)| *t == Some(threshold))
                .and_then(|(_, trial)| trial.as_ref().map(|trial| trial.cost))
        };
        let lower_new_cost = cost_at(lowest_later);
        let raise_later_cost = cost_at(highest_new);
        // Cheapest; then fewest changes; then the highest threshold; the
        // drop (None) is last in the list, so it wins only when strictly better.
        let mut best: Option<usize> = None;
        for (index, (_, trial)) in trials.iter().enumerate() {
            let Some(trial) = trial else { continue };
            let better = match best {
                None => true,
                Some(current) => {
                    let incumbent = trials[current].1.as_ref().expect("feasible");
                    let tolerance = 1e-9 * (1.0 + incumbent.cost.abs());
                    trial.cost < incumbent.cost - tolerance
                        || (trial.cost <= incumbent.cost + tolerance
                            && (trial.changed < incumbent.changed
                                || (trial.changed == incumbent.changed
                                    && trials[index].0.is_some())))
                }
            };
            if better {
                best = Some(index);
            }
        }
        let drop_cost = trials
            .last()
            .and_then(|(_, trial)| trial.as_ref())
            .expect("dropping is always allowed")
            .cost;
        let best = best.expect("dropping is always allowed");
        let (threshold, trial) = (trials[best].0, trials[best].1.as_ref().expect("feasible"));
        let repair = match threshold {
            None => Repair::DropKind,
            Some(t) if t >= highest_new => Repair::RaiseLater { to: t },
            Some(t) if t <= lowest_later => Repair::LowerNew { to: t },
            Some(t) => Repair::Meet { at: t },
        };
        let outcome = GroupRepair {
            tier: 0,
            quadrant: 0,
            kind,
            repair,
            cost: trial.cost,
            offers_changed: trial.changed,
            lower_new_cost,
            raise_later_cost,
            drop_cost,
        };
        for (index, list) in &trial.lists {
            lists[*index] = list.clone();
        }
        Some(outcome)
    }

    /// The group's lists under threshold `t` (`None` = drop the kind), or
    /// `None` if the repair is not allowed.
    fn trial(
        &self,
        lists: &[List],
        members: &[usize],
        kind: u32,
        threshold: Option<f64>,
    ) -> Option<Trial> {
        let mut trial = Trial {
            lists: Vec::new(),
            cost: 0.0,
            changed: 0,
        };
        for &index in members {
            let stage = self.users[index].stage;
            let old = &lists[index];
            let (new, changed) = match threshold {
                None => {
                    let kept: List = old
                        .iter()
                        .filter(|offer| self.catalogue[offer.benefit].kind != kind)
                        .copied()
                        .collect();
                    let changed = old.len() - kept.len();
                    (kept, changed)
                }
                Some(t) => match stage {
                    Stage::New => self.lower(index, old, kind, t),
                    Stage::Later => self.raise(index, old, kind, t),
                    Stage::Exempt => continue,
                },
            };
            if changed == 0 {
                continue;
            }
            if !self.config.allow_negative_first
                && new
                    .first()
                    .is_some_and(|first| first.forced && first.estimate <= 0.0)
            {
                return None;
            }
            trial.cost += value(old) - value(&new);
            trial.changed += changed;
            trial.lists.push((index, new));
        }
        Some(trial)
    }

    /// The best-estimated benefit of `kind` whose face passes `keep`,
    /// not already in `list`.
    fn best_of_kind(
        &self,
        user: usize,
        list: &[FairOffer],
        kind: u32,
        keep: impl Fn(f64) -> bool,
    ) -> Option<(usize, f64)> {
        let estimates = &self.users[user].estimates;
        self.catalogue
            .iter()
            .enumerate()
            .filter(|(benefit, terms)| {
                terms.kind == kind
                    && keep(terms.face_value)
                    && !list.iter().any(|offer| offer.benefit == *benefit)
            })
            .filter_map(|(benefit, _)| estimates[benefit].map(|estimate| (benefit, estimate)))
            .min_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)))
    }

    /// A new user's list with every kind-`kind` offer above `t` lowered.
    fn lower(&self, user: usize, old: &[FairOffer], kind: u32, t: f64) -> (List, usize) {
        let mut list = old.to_vec();
        let mut changed = 0;
        let mut position = 0;
        while position < list.len() {
            let terms = self.catalogue[list[position].benefit];
            if terms.kind != kind || terms.face_value <= t {
                position += 1;
                continue;
            }
            changed += 1;
            let replacement = self
                .best_of_kind(user, &list, kind, |face| face <= t)
                .filter(|(_, estimate)| *estimate > 0.0);
            match replacement {
                Some((benefit, estimate)) => {
                    list[position] = FairOffer {
                        benefit,
                        estimate,
                        forced: false,
                    };
                    position += 1;
                }
                None => {
                    list.remove(position);
                }
            }
        }
        sort_best_first(&mut list);
        (list, changed)
    }

    /// A later user's list with every kind-`kind` offer below `t` raised.
    fn raise(&self, user: usize, old: &[FairOffer], kind: u32, t: f64) -> (List, usize) {
        let mut list = old.to_vec();
        let mut changed = 0;
        let mut position = 0;
        while position < list.len() {
            let terms = self.catalogue[list[position].benefit];
            if terms.kind != kind || terms.face_value >= t {
                position += 1;
                continue;
            }
            changed += 1;
            let already = list.iter().any(|offer| {
                let terms = self.catalogue[offer.benefit];
                terms.kind == kind && terms.face_value >= t
            });
            match self.best_of_kind(user, &list, kind, |face| face >= t) {
                Some((benefit, estimate)) if !already => {
                    list[position] = FairOffer {
                        benefit,
                        estimate,
                        forced: true,
                    };
                    position += 1;
                }
                // The user already holds a kind-`kind` offer at or above the
                // floor (or no benefit reaches it): the low one just goes.
                _ => {
                    list.remove(position);
                }
            }
        }
        sort_best_first(&mut list);
        (list, changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const COUPON: u32 = 0;
    const SHIPPING: u32 = 1;
    const POINTS: u32 = 2;
    // Benefit indices.
    const C5: usize = 0;
    const C10: usize = 1;
    const C20: usize = 2;
    const SHIP: usize = 3;
    const PTS: usize = 4;

    fn catalogue() -> Vec<BenefitTerms> {
        let terms = |kind, face_value| BenefitTerms { kind, face_value };
        vec![
            terms(COUPON, 5.0),
            terms(COUPON, 10.0),
            terms(COUPON, 20.0),
            terms(SHIPPING, 1.0),
            terms(POINTS, 200.0),
        ]
    }

    /// A user in group (0, 0) with estimates given as (benefit, value).
    fn user(stage: Stage, estimates: &[(usize, f64)], offers: &[usize]) -> UserOffers {
        let mut all = vec![None; catalogue().len()];
        for (benefit, value) in estimates {
            all[*benefit] = Some(*value);
        }
        UserOffers {
            tier: 0,
            quadrant: 0,
            stage,
            estimates: all,
            offers: offers.to_vec(),
        }
    }

    /// Pairs (new user, later user, kind) breaking the rule after repair.
    fn violations(
        users: &[UserOffers],
        lists: &[Vec<FairOffer>],
        catalogue: &[BenefitTerms],
    ) -> usize {
        let mut count = 0;
        for (n, new) in users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.stage == Stage::New)
        {
            for (l, later) in users
                .iter()
                .enumerate()
                .filter(|(_, u)| u.stage == Stage::Later)
            {
                if (new.tier, new.quadrant) != (later.tier, later.quadrant) {
                    continue;
                }
                for theirs in &lists[n] {
                    for mine in &lists[l] {
                        let (a, b) = (catalogue[theirs.benefit], catalogue[mine.benefit]);
                        count += usize::from(a.kind == b.kind && a.face_value > b.face_value);
                    }
                }
            }
        }
        count
    }

    fn benefits(list: &[FairOffer]) -> Vec<usize> {
        list.iter().map(|offer| offer.benefit).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn raising_is_chosen_when_the_later_user_has_a_better_first_offer() {
        let users = vec![
            user(Stage::New, &[(C5, 0.2), (C10, 0.5), (C20, -0.1)], &[C10]),
            user(
                Stage::Later,
                &[(C5, 0.1), (C10, -0.2), (C20, -0.5), (PTS, 0.8)],
                &[C5, PTS],
            ),
        ];
        let outcome =
            enforce_least_cost(&users, &catalogue(), &LeastCostConfig::default()).unwrap();
        assert_eq!(violations(&users, &outcome.offers, &catalogue()), 0);
        let repair = outcome.repairs[0];
        assert_eq!(repair.repair, Repair::RaiseLater { to: 10.0 });
        assert!(close(repair.cost, 0.0));
        assert!(close(repair.lower_new_cost.unwrap(), 0.3));
        assert!(close(repair.drop_cost, 0.5));
        // Best first; the coupon-10 is listed only because the rule demands it.
        assert_eq!(
            outcome.offers[1],
            vec![
                FairOffer {
                    benefit: PTS,
                    estimate: 0.8,
                    forced: false
                },
                FairOffer {
                    benefit: C10,
                    estimate: -0.2,
                    forced: true
                },
            ]
        );
        assert_eq!(outcome.forced_offers, 1);
        assert!(close(outcome.value_without, outcome.value_with));
    }

    #[test]
    fn meeting_in_between_can_beat_both_ends() {
        let users = vec![
            user(Stage::New, &[(C5, 0.1), (C10, 0.55), (C20, 0.6)], &[C20]),
            user(Stage::Later, &[(C10, 0.3), (C20, -0.4)], &[C10]),
            user(Stage::Later, &[(C5, 0.2), (C10, 0.1), (C20, -0.3)], &[C5]),
        ];
        let outcome =
            enforce_least_cost(&users, &catalogue(), &LeastCostConfig::default()).unwrap();
        assert_eq!(violations(&users, &outcome.offers, &catalogue()), 0);
        let repair = outcome.repairs[0];
        assert_eq!(repair.repair, Repair::Meet { at: 10.0 });
        // New: 0.6 -> 0.55; second later user: 0.2 -> 0.1 (forced, positive).
        assert!(close(repair.cost, 0.15), "{repair:?}");
        assert!(close(repair.lower_new_cost.unwrap(), 0.5));
        // Raising to 20 would put the first later user's -0.4 first.
        assert_eq!(repair.raise_later_cost, None);
        assert!(close(repair.drop_cost, 1.1));
        assert_eq!(benefits(&outcome.offers[0]), vec![C10]);
        assert_eq!(
            outcome.offers[2],
            vec![FairOffer {
                benefit: C10,
                estimate: 0.1,
                forced: true
            }]
        );
        assert!(close(outcome.cost_per_user(), 0.15 / 3.0));
    }

    #[test]
    fn lowering_the_new_users_is_chosen_when_raising_would_lose_more() {
        let users = vec![
            user(Stage::New, &[(C5, 0.1), (C10, 0.2), (C20, 0.6)], &[C20]),
            user(
                Stage::Later,
                &[(C10, 0.3), (C20, -0.4), (PTS, 0.1)],
                &[C10, PTS],
            ),
            user(
                Stage::Later,
                &[(C5, 0.9), (C10, -0.5), (C20, -0.3), (PTS, 0.5)],
                &[C5, PTS],
            ),
            user(
                Stage::Later,
                &[(C5, 0.7), (C10, -0.5), (C20, -0.3), (PTS, 0.3)],
                &[C5, PTS],
            ),
        ];
        let outcome =
            enforce_least_cost(&users, &catalogue(), &LeastCostConfig::default()).unwrap();
        assert_eq!(violations(&users, &outcome.offers, &catalogue()), 0);
        let repair = outcome.repairs[0];
        assert_eq!(repair.repair, Repair::LowerNew { to: 5.0 });
        assert!(close(repair.cost, 0.5));
        // Raising to 20 puts points first for every later user: 0.2 + 0.4 + 0.4.
        assert!(close(repair.raise_later_cost.unwrap(), 1.0));
        assert!(close(repair.drop_cost, 1.6));
        assert_eq!(
            outcome.offers[0],
            vec![FairOffer {
                benefit: C5,
                estimate: 0.1,
                forced: false
            }]
        );
        assert_eq!(outcome.forced_offers, 0);
        assert_eq!(outcome.users_changed, 1);
    }

    #[test]
    fn dropping_the_kind_wins_when_the_later_offer_already_loses() {
        let users = vec![
            // Lowering would leave a losing coupon-5: it is removed instead.
            user(Stage::New, &[(C5, -0.05), (C10, 0.1)], &[C10]),
            // A caller that listed negatives: the later user's only offer loses.
            user(Stage::Later, &[(C5, -0.3), (C10, -0.6)], &[C5]),
        ];
        let outcome =
            enforce_least_cost(&users, &catalogue(), &LeastCostConfig::default()).unwrap();
        assert_eq!(violations(&users, &outcome.offers, &catalogue()), 0);
        let repair = outcome.repairs[0];
        assert_eq!(repair.repair, Repair::DropKind);
        assert!(close(repair.cost, -0.2));
        assert!(close(repair.lower_new_cost.unwrap(), 0.1));
        assert_eq!(repair.raise_later_cost, None);
        assert!(outcome.offers.iter().all(Vec::is_empty));
        // With negatives first allowed, raising costs 0.3 and dropping still wins.
        let allowed = LeastCostConfig {
            allow_negative_first: true,
        };
        let outcome = enforce_least_cost(&users, &catalogue(), &allowed).unwrap();
        assert!(close(outcome.repairs[0].raise_later_cost.unwrap(), 0.3));
        assert_eq!(outcome.repairs[0].repair, Repair::DropKind);
    }

    #[test]
    fn fair_groups_exempt_users_and_other_groups_are_left_alone() {
        let mut other_tier = user(Stage::Later, &[(C5, 0.4)], &[C5]);
        other_tier.tier = 1;
        let users = vec![
            user(Stage::New, &[(C10, 0.5), (SHIP, 0.7)], &[SHIP, C10]),
            user(Stage::Later, &[(C10, 0.2), (C20, 0.1)], &[C20, C10]),
            user(Stage::Exempt, &[(C5, 0.3)], &[C5]),
            other_tier,
        ];
        let outcome =
            enforce_least_cost(&users, &catalogue(), &LeastCostConfig::default()).unwrap();
        assert!(outcome.repairs.is_empty());
        assert_eq!(outcome.users_changed, 0);
        // Lists come back best first.
        assert_eq!(benefits(&outcome.offers[1]), vec![C10, C20]);
        assert!(close(outcome.value_without, (0.7 + 0.2 + 0.3 + 0.4) / 4.0));
    }

    #[test]
    fn random_populations_end_fair_and_never_lead_with_a_forced_loser() {
        let catalogue = catalogue();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let users: Vec<UserOffers> = (0..rng.random_range(2..12))
                .map(|_| {
                    let estimates: Vec<Option<f64>> = (0..catalogue.len())
                        .map(|_| rng.random_bool(0.9).then(|| rng.random_range(-1.0..1.0)))
                        .collect();
                    let offers: Vec<usize> = (0..catalogue.len())
                        .filter(|&b| estimates[b].is_some_and(|e| e > 0.0) && rng.random_bool(0.7))
                        .collect();
                    UserOffers {
                        tier: rng.random_range(0..2),
                        quadrant: 0,
                        stage: [Stage::New, Stage::Later, Stage::Exempt][rng.random_range(0..3)],
                        estimates,
                        offers,
                    }
                })
                .collect();
            let outcome =
                enforce_least_cost(&users, &catalogue, &LeastCostConfig::default()).unwrap();
            assert_eq!(violations(&users, &outcome.offers, &catalogue), 0);
            for list in &outcome.offers {
                assert!(
                    list.windows(2)
                        .all(|pair| pair[0].estimate >= pair[1].estimate)
                );
                assert!(list.first().is_none_or(|first| first.estimate > 0.0));
                assert!(
                    list.iter()
                        .all(|offer| offer.forced || offer.estimate > 0.0)
                );
            }
            for repair in &outcome.repairs {
                let tolerance = 1e-9;
                for alternative in [
                    repair.lower_new_cost,
                    repair.raise_later_cost,
                    Some(repair.drop_cost),
                ]
                .into_iter()
                .flatten()
                {
                    assert!(repair.cost <= alternative + tolerance, "{repair:?}");
                }
            }
            let total: f64 = outcome.repairs.iter().map(|repair| repair.cost).sum();
            assert!((outcome.cost_per_user() * users.len() as f64 - total).abs() < 1e-9);
            // A second pass finds nothing to repair.
            let again: Vec<UserOffers> = users
                .iter()
                .zip(&outcome.offers)
                .map(|(user, list)| UserOffers {
                    offers: benefits(list),
                    ..user.clone()
                })
                .collect();
            let second =
                enforce_least_cost(&again, &catalogue, &LeastCostConfig::default()).unwrap();
            assert!(second.repairs.is_empty());
        }
    }

    /// The population-wide decision, applied to each user alone, gives each
    /// user exactly the list the population-wide repair gave them.
    #[test]
    fn repairs_applied_per_user_match_the_population_wide_repair() {
        let catalogue = catalogue();
        let mut rng = StdRng::seed_from_u64(11);
        let mut repaired = 0;
        for _ in 0..300 {
            let users: Vec<UserOffers> = (0..rng.random_range(2..16))
                .map(|_| {
                    let estimates: Vec<Option<f64>> = (0..catalogue.len())
                        .map(|_| rng.random_bool(0.9).then(|| rng.random_range(-1.0..1.0)))
                        .collect();
                    let offers: Vec<usize> = (0..catalogue.len())
                        .filter(|&b| estimates[b].is_some_and(|e| e > 0.0) && rng.random_bool(0.7))
                        .collect();
                    UserOffers {
                        tier: rng.random_range(0..2),
                        quadrant: rng.random_range(0..2),
                        stage: [Stage::New, Stage::Later, Stage::Exempt][rng.random_range(0..3)],
                        estimates,
                        offers,
                    }
                })
                .collect();
            let config = LeastCostConfig::default();
            let outcome = enforce_least_cost(&users, &catalogue, &config).unwrap();
            repaired += outcome.repairs.len();
            for (user, whole) in users.iter().zip(&outcome.offers) {
                let alone = apply_repairs(user, &catalogue, &outcome.repairs, &config).unwrap();
                assert_eq!(&alone, whole, "{user:?} under {:?}", outcome.repairs);
            }
        }
        assert!(repaired > 100, "the populations exercise the repairs");
    }

    #[test]
    fn refuses_inconsistent_input() {
        let config = LeastCostConfig::default();
        let mut bad = user(Stage::New, &[(C5, 0.1)], &[C5, C5]);
        let err = enforce_least_cost(&[bad.clone()], &catalogue(), &config).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        bad.offers = vec![C10];
        let err = enforce_least_cost(&[bad.clone()], &catalogue(), &config).unwrap_err();
        assert!(err.to_string().contains("no estimate"), "{err}");
        bad.offers = vec![9];
        assert!(enforce_least_cost(&[bad.clone()], &catalogue(), &config).is_err());
        bad.estimates.pop();
        bad.offers.clear();
        assert!(enforce_least_cost(&[bad], &catalogue(), &config).is_err());
    }
}
