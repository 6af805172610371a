//! The global control group: a stable share of all users held out of every
//! campaign and every offer, so the whole programme's effect can be measured
//! (everyone else against them, with the statistics of campaign lift).
//!
//! Membership is a pure function of (salt, user id, share), like a
//! campaign's arm, but hashed in its own domain (a fixed prefix before the
//! salt), so the group is independent of every campaign's arms even when a
//! salt happens to equal a campaign id. Raising the share only adds members:
//! a user's draw does not depend on the share.

use twox_hash::XxHash3_64;

use crate::error::Error;

/// The salt used when the configuration names none.
pub const DEFAULT_GLOBAL_CONTROL_SALT: &str = "global-control";

/// Puts the group's draws in their own domain: a campaign's draw hashes
/// (length, id, user), which never begins with these bytes for an id the
/// campaign file accepts, so no campaign id can reproduce the group.
const DOMAIN: &[u8] = b"strata.global_control\0";

/// Who is in the global control group.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalControl {
    salt: String,
    share: f64,
}

impl GlobalControl {
    /// A group of `share` of all users (0 = no group), drawn with `salt`.
    pub fn new(salt: &str, share: f64) -> Result<GlobalControl, Error> {
        if !(0.0..=0.5).contains(&share) {
            return Err(Error::InvalidInput {
                name: "global_control.share",
                value: share,
                reason: "must be in [0, 0.5] (0 turns the group off; 0.01 to 0.15 is usual)",
            });
        }
        Ok(GlobalControl {
            salt: salt.to_owned(),
            share,
        })
    }

    /// No group: nobody is held out.
    pub fn off() -> GlobalControl {
        GlobalControl {
            salt: DEFAULT_GLOBAL_CONTROL_SALT.to_owned(),
            share: 0.0,
        }
    }

    pub fn is_on(&self) -> bool {
        self.share > 0.0
    }

    pub fn salt(&self) -> &str {
        &self.salt
    }

    pub fn share(&self) -> f64 {
        self.share
    }

    /// True when the user is in the group.
    pub fn contains(&self, user_id: &str) -> bool {
        self.is_on() && global_control_draw(&self.salt, user_id) < self.share
    }
}

/// The user's uniform draw in [0, 1) for the group salted with `salt`:
/// XXH3-64 over (domain, length of the salt as 8 little-endian bytes, salt,
/// user id), top 53 bits as the fraction.
pub fn global_control_draw(salt: &str, user_id: &str) -> f64 {
    let mut bytes = Vec::with_capacity(DOMAIN.len() + 8 + salt.len() + user_id.len());
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(&(salt.len() as u64).to_le_bytes());
    bytes.extend_from_slice(salt.as_bytes());
    bytes.extend_from_slice(user_id.as_bytes());
    let hash = XxHash3_64::oneshot(&bytes);
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::assign;

    fn ids(count: usize) -> impl Iterator<Item = String> {
        (0..count).map(|index| format!("u{index:07}"))
    }

    #[test]
    fn share_is_within_binomial_tolerance() {
        let users = 20_000;
        for share in [0.01, 0.05, 0.15] {
            let group = GlobalControl::new("spring", share).unwrap();
            let members = ids(users).filter(|id| group.contains(id)).count() as f64;
            let expected = share * users as f64;
            let sigma = (users as f64 * share * (1.0 - share)).sqrt();
            assert!(
                (members - expected).abs() < 4.0 * sigma,
                "share {share}: {members} members, expected {expected} +- {}",
                4.0 * sigma
            );
        }
    }

    #[test]
    fn membership_depends_on_salt_and_user_only_and_grows_with_share() {
        let small = GlobalControl::new("a", 0.05).unwrap();
        let large = GlobalControl::new("a", 0.10).unwrap();
        let other = GlobalControl::new("b", 0.05).unwrap();
        let mut differs = 0;
        for id in ids(5_000) {
            assert_eq!(small.contains(&id), small.clone().contains(&id));
            assert!(!small.contains(&id) || large.contains(&id), "{id}");
            differs += usize::from(small.contains(&id) != other.contains(&id));
        }
        assert!(differs > 100, "another salt draws another group: {differs}");
        assert!(!GlobalControl::off().contains("u0000001"));
    }

    #[test]
    fn independent_of_a_campaign_salted_the_same() {
        // Campaign "a" at a 50% holdout: the group's members fall in both
        // arms about evenly.
        let group = GlobalControl::new("a", 0.2).unwrap();
        let (mut in_control, mut members) = (0usize, 0usize);
        for id in ids(20_000).filter(|id| group.contains(id)) {
            members += 1;
            in_control += usize::from(assign("a", &id, 0.5) == crate::Arm::Control);
        }
        let expected = members as f64 / 2.0;
        let sigma = (members as f64 / 4.0).sqrt();
        assert!((in_control as f64 - expected).abs() < 4.0 * sigma);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(GlobalControl::new("a", -0.1).is_err());
        assert!(GlobalControl::new("a", 0.6).is_err());
        assert!(GlobalControl::new("a", f64::NAN).is_err());
    }
}
