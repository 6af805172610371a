//! The pyramid's labels: how a layer, a missing value tier, a missing
//! quadrant and a missing channel are spelled wherever users are counted.
//! The job's printed summary and the server's stored-profile classifier
//! both use these, so the two pyramids compare line by line.

/// Tier label of a user without value tier (a user who never bought).
pub const NO_TIER: &str = "none (no purchase)";
/// Quadrant label of a user without satisfaction signal.
pub const NO_QUADRANT: &str = "none (no satisfaction signal)";
/// Channel label when none is chosen (over the contact cap, or not scored).
pub const NO_CHANNEL: &str = "none";
/// Every label of a stored record that does not decode.
pub const UNREADABLE: &str = "(unreadable)";
/// The churn label of a churned user whose model names none.
pub const CHURNED: &str = "churned";

/// Where a value tier's label stands when tiers are listed: best first
/// (HIGH, MEDIUM, LOW), then any other label, then users without a tier.
/// Every listing of tiers (the run's summary and report, the server's stats,
/// audiences) uses this order rather than the alphabet's.
pub fn tier_rank(label: &str) -> u8 {
    match label {
        "HIGH" => 0,
        "MEDIUM" => 1,
        "LOW" => 2,
        NO_TIER => 4,
        _ => 3,
    }
}

/// The layer label: `growth`, or `growth (lapsed buyer)` for its churned
/// state (`growth (churned)` when the model gives the state no name).
pub fn layer_label(layer: &str, churned: bool, churn_label: &str) -> String {
    if churned {
        let churn = if churn_label.is_empty() {
            CHURNED
        } else {
            churn_label
        };
        format!("{layer} ({churn})")
    } else {
        layer.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_list_best_first_and_the_untiered_last() {
        let mut labels = [NO_TIER, "LOW", UNREADABLE, "HIGH", "MEDIUM"];
        labels.sort_by_key(|label| tier_rank(label));
        assert_eq!(labels, ["HIGH", "MEDIUM", "LOW", UNREADABLE, NO_TIER]);
    }

    #[test]
    fn churned_layers_carry_their_state() {
        assert_eq!(layer_label("growth", false, "lapsed buyer"), "growth");
        assert_eq!(
            layer_label("growth", true, "lapsed buyer"),
            "growth (lapsed buyer)"
        );
        assert_eq!(layer_label("growth", true, ""), "growth (churned)");
    }
}
