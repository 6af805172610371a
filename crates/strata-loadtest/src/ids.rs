//! The user ids a load run asks for: a key space of formatted ids built once
//! before the run, and the distributions that pick from it, so that the
//! generator's hot loop only copies bytes it already has.

use rand::Rng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution as _, Zipf};

use crate::error::LoadError;

/// The largest key space a run may prebuild: at about 13 bytes per id plus a
/// 4-byte offset, 20 million ids take some 350 MB of the generator's memory.
pub const MAX_KEY_SPACE: u64 = 20_000_000;

/// Unknown ids are drawn from a pool of this many (or the key space's size,
/// if smaller): enough that the server cannot cache "absent" answers.
const UNKNOWN_POOL: u64 = 65_536;

/// Prefix of unknown ids: the format's ids behind it never exist in a store
/// loaded with that format, whatever its size.
const UNKNOWN_PREFIX: &str = "absent-";

/// A user id template with one decimal placeholder: `user-{:08}`, `u{:08}`
/// or `customer/{}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdFormat {
    prefix: String,
    /// Zero-padded to this many digits; 0 means no padding.
    width: usize,
    suffix: String,
}

impl IdFormat {
    /// Parses a template with exactly one `{}` or `{:0N}` placeholder.
    pub fn parse(template: &str) -> Result<IdFormat, LoadError> {
        let invalid = |reason: &str| LoadError::InvalidArgument {
            flag: "--id-format",
            reason: format!("{template:?}: {reason}"),
        };
        let open = template
            .find('{')
            .ok_or_else(|| invalid("needs one placeholder, {} or {:08}"))?;
        let close = template[open..]
            .find('}')
            .map(|offset| open + offset)
            .ok_or_else(|| invalid("the placeholder is not closed with }"))?;
        let (prefix, suffix) = (&template[..open], &template[close + 1..]);
        if prefix.contains('}') || suffix.contains(['{', '}']) {
            return Err(invalid("only one placeholder is allowed"));
        }
        let width = match &template[open + 1..close] {
            "" => 0,
            spec => spec
                .strip_prefix(":0")
                .and_then(|digits| digits.parse::<usize>().ok())
                .filter(|width| (1..=20).contains(width))
                .ok_or_else(|| {
                    invalid("the placeholder must be {} or {:0N} with N from 1 to 20")
                })?,
        };
        Ok(IdFormat {
            prefix: prefix.to_owned(),
            width,
            suffix: suffix.to_owned(),
        })
    }

    /// Appends the id of user `index` to `out`.
    pub fn write(&self, index: u64, out: &mut Vec<u8>) {
        use std::io::Write as _;
        out.extend_from_slice(self.prefix.as_bytes());
        write!(out, "{index:0width$}", width = self.width).expect("a Vec grows as needed");
        out.extend_from_slice(self.suffix.as_bytes());
    }

    /// The id of user `index`, as the server would store it.
    pub fn format(&self, index: u64) -> String {
        let mut bytes = Vec::new();
        self.write(index, &mut bytes);
        String::from_utf8(bytes).expect("built from UTF-8 parts and ASCII digits")
    }
}

impl std::fmt::Display for IdFormat {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.width {
            0 => write!(formatter, "{}{{}}{}", self.prefix, self.suffix),
            width => write!(formatter, "{}{{:0{width}}}{}", self.prefix, self.suffix),
        }
    }
}

/// How known ids are picked from the key space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Uniform,
    /// Rank `r` (1 = hottest) is drawn with probability proportional to
    /// `1 / r^exponent`.
    Zipf {
        exponent: f64,
    },
}

/// What a run asks for: the key space, how ids are drawn from it, and how
/// many go in one request.
#[derive(Debug, Clone)]
pub struct IdConfig {
    pub format: IdFormat,
    /// Users `0..key_space` of `format`.
    pub key_space: u64,
    pub distribution: Distribution,
    /// Share of ids, 0 to 1, that name no stored user.
    pub unknown_share: f64,
}

impl IdConfig {
    pub fn validate(&self) -> Result<(), LoadError> {
        if !(1..=MAX_KEY_SPACE).contains(&self.key_space) {
            return Err(LoadError::InvalidArgument {
                flag: "--key-space",
                reason: format!("{} is not between 1 and {MAX_KEY_SPACE}", self.key_space),
            });
        }
        if !(0.0..=1.0).contains(&self.unknown_share) {
            return Err(LoadError::InvalidArgument {
                flag: "--unknown-share",
                reason: format!("{} is not between 0 and 1", self.unknown_share),
            });
        }
        if let Distribution::Zipf { exponent } = self.distribution
            && !(exponent > 0.0 && exponent <= 10.0)
        {
            return Err(LoadError::InvalidArgument {
                flag: "--zipf-exponent",
                reason: format!("{exponent} is not in (0, 10]"),
            });
        }
        Ok(())
    }
}

/// Every id a run can send, formatted once, in one contiguous buffer: known
/// ids at positions `0..known`, then the pool of unknown ids.
pub struct IdSpace {
    bytes: Vec<u8>,
    /// End offset of each id in `bytes`.
    ends: Vec<u32>,
    known: u64,
    unknown: u64,
    distribution: Distribution,
    zipf: Option<Zipf<f64>>,
    /// Maps a Zipf rank to a user index: a bijection on the key space, so the
    /// hottest users are scattered over it rather than being the first ids
    /// (neighbours in RocksDB, which would flatter the block cache).
    scatter: u64,
    /// Added after `scatter`, so that the hottest user is not user 0.
    shift: u64,
    unknown_share: f64,
}

impl std::fmt::Debug for IdSpace {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IdSpace")
            .field("known", &self.known)
            .field("unknown", &self.unknown)
            .field("distribution", &self.distribution)
            .finish()
    }
}

impl IdSpace {
    pub fn build(config: &IdConfig) -> Result<IdSpace, LoadError> {
        config.validate()?;
        let known = config.key_space;
        let unknown = if config.unknown_share > 0.0 {
            known.min(UNKNOWN_POOL)
        } else {
            0
        };
        let count = (known + unknown) as usize;
        let sample = config.format.format(known.saturating_sub(1));
        let mut bytes = Vec::with_capacity(count * (sample.len() + 1));
        let mut ends = Vec::with_capacity(count);
        for index in 0..known {
            config.format.write(index, &mut bytes);
            ends.push(offset(&bytes)?);
        }
        for index in 0..unknown {
            bytes.extend_from_slice(UNKNOWN_PREFIX.as_bytes());
            config.format.write(index, &mut bytes);
            ends.push(offset(&bytes)?);
        }
        let zipf = match config.distribution {
            Distribution::Uniform => None,
            Distribution::Zipf { exponent } => {
                Some(Zipf::new(known as f64, exponent).map_err(|error| {
                    LoadError::InvalidArgument {
                        flag: "--zipf-exponent",
                        reason: error.to_string(),
                    }
                })?)
            }
        };
        Ok(IdSpace {
            bytes,
            ends,
            known,
            unknown,
            distribution: config.distribution,
            zipf,
            scatter: coprime_multiplier(known),
            shift: 0x2545_F491_4F6C_DD1D % known,
            unknown_share: config.unknown_share,
        })
    }

    /// The id at `position` (see [`IdSpace::pick`]).
    pub fn id(&self, position: usize) -> &[u8] {
        let start = match position {
            0 => 0,
            _ => self.ends[position - 1] as usize,
        };
        &self.bytes[start..self.ends[position] as usize]
    }

    /// Whether the id at `position` names a user of the key space.
    pub fn is_known(&self, position: usize) -> bool {
        (position as u64) < self.known
    }

    /// Draws the position of one id.
    pub fn pick(&self, rng: &mut SmallRng) -> usize {
        if self.unknown > 0 && rng.random_bool(self.unknown_share) {
            return (self.known + rng.random_range(0..self.unknown)) as usize;
        }
        let index = match &self.zipf {
            None => rng.random_range(0..self.known),
            Some(zipf) => {
                let rank = (zipf.sample(rng) as u64).clamp(1, self.known) - 1;
                let scattered =
                    u128::from(rank) * u128::from(self.scatter) + u128::from(self.shift);
                (scattered % u128::from(self.known)) as u64
            }
        };
        index as usize
    }

    /// Replaces `batch` with `size` freshly drawn ids.
    pub fn fill<'space>(
        &'space self,
        rng: &mut SmallRng,
        size: usize,
        batch: &mut Vec<&'space [u8]>,
    ) {
        batch.clear();
        batch.extend((0..size).map(|_| self.id(self.pick(rng))));
    }
}

fn offset(bytes: &[u8]) -> Result<u32, LoadError> {
    u32::try_from(bytes.len()).map_err(|_| LoadError::InvalidArgument {
        flag: "--key-space",
        reason: "the formatted ids exceed 4 GiB; use a shorter --id-format or fewer users"
            .to_owned(),
    })
}

/// A multiplier coprime with `modulus`, far from 1 so consecutive ranks land
/// far apart.
fn coprime_multiplier(modulus: u64) -> u64 {
    if modulus <= 2 {
        return 1;
    }
    let mut candidate = 0x9E37_79B9_7F4A_7C15 % modulus;
    while greatest_common_divisor(candidate, modulus) != 1 {
        candidate = candidate % (modulus - 1) + 1;
    }
    candidate
}

fn greatest_common_divisor(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn check_format(template: &str, index: u64, expected: &str) {
        let format = IdFormat::parse(template).unwrap();
        assert_eq!(format.format(index), expected, "{template}");
        assert_eq!(format.to_string(), template);
    }

    #[test]
    fn formats_ids_like_the_demo() {
        check_format("user-{:08}", 42, "user-00000042");
        check_format("u{:08}", 7, "u00000007");
        check_format("customer/{}/eu", 12345, "customer/12345/eu");
        assert_eq!(
            IdFormat::parse("user-{:08}").unwrap().format(3),
            crate::fixtures::demo_user_id(3)
        );
    }

    #[test]
    fn refuses_templates_without_exactly_one_placeholder() {
        for template in ["user", "user-{", "{}-{}", "{:8}", "{:0}", "{:x}", "a}{}"] {
            let error = IdFormat::parse(template).unwrap_err().to_string();
            assert!(error.contains("--id-format"), "{template}: {error}");
        }
    }

    fn space(distribution: Distribution, unknown_share: f64, key_space: u64) -> IdSpace {
        IdSpace::build(&IdConfig {
            format: IdFormat::parse("u{:08}").unwrap(),
            key_space,
            distribution,
            unknown_share,
        })
        .unwrap()
    }

    #[test]
    fn uniform_ids_stay_in_the_key_space() {
        let space = space(Distribution::Uniform, 0.0, 100);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut seen = [false; 100];
        for _ in 0..10_000 {
            let position = space.pick(&mut rng);
            assert!(space.is_known(position));
            seen[position] = true;
        }
        assert!(seen.iter().all(|seen| *seen));
        assert_eq!(space.id(0), b"u00000000");
        assert_eq!(space.id(99), b"u00000099");
    }

    #[test]
    fn unknown_share_is_respected_and_unknown_ids_are_distinct() {
        let space = space(Distribution::Uniform, 0.25, 1_000);
        let mut rng = SmallRng::seed_from_u64(2);
        let draws = 40_000;
        let unknown = (0..draws)
            .map(|_| space.pick(&mut rng))
            .filter(|position| !space.is_known(*position))
            .count();
        let share = unknown as f64 / draws as f64;
        assert!((share - 0.25).abs() < 0.01, "{share}");
        assert_eq!(space.id(1_000), b"absent-u00000000");
    }

    #[test]
    fn zipf_concentrates_on_few_scattered_users() {
        let space = space(Distribution::Zipf { exponent: 1.2 }, 0.0, 100_000);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut counts = std::collections::HashMap::new();
        let draws = 100_000;
        for _ in 0..draws {
            *counts.entry(space.pick(&mut rng)).or_insert(0u64) += 1;
        }
        let mut sorted: Vec<(usize, u64)> = counts.into_iter().collect();
        sorted.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        let top_ten: u64 = sorted.iter().take(10).map(|(_, count)| count).sum();
        assert!(top_ten as f64 / draws as f64 > 0.3, "{top_ten}");
        assert_ne!(sorted[0].0, 0, "the hottest user is scattered");
    }

    #[test]
    fn scatter_is_a_bijection() {
        for modulus in [1, 2, 3, 10, 97, 1_000] {
            let multiplier = coprime_multiplier(modulus);
            let mut seen: Vec<u64> = (0..modulus)
                .map(|rank| rank * multiplier % modulus)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len() as u64, modulus);
        }
    }
}
