//! Floats a JSON model file cannot hold as numbers: JSON has no infinity.

/// Cut points that are `+inf` when the population was empty (every value
/// scores at the bottom): written `null`, read back as `+inf`.
pub(crate) mod cuts {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(cuts: &[f64; 4], out: S) -> Result<S::Ok, S::Error> {
        cuts.map(|cut| (cut != f64::INFINITY).then_some(cut))
            .serialize(out)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<[f64; 4], D::Error> {
        let cuts = <[Option<f64>; 4]>::deserialize(input)?;
        Ok(cuts.map(|cut| cut.unwrap_or(f64::INFINITY)))
    }
}
