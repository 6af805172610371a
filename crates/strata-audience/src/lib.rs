//! strata's audiences and campaigns: who to target (by rule over layers,
//! tiers, quadrants, tags and scores, or by model propensity), which arm of
//! a campaign each member is in (a salted-hash random holdout), and what the
//! campaign earned (lift with confidence intervals).
//!
//! Architecture invariant: pure functions over members, outcomes and text.
//! No IO, no tonic, tokio or RocksDB; callers read stores and files and hand
//! in [`Member`]s, [`ArmOutcomes`] and definition text.
//!
//! # The audience language
//! One audience per TOML file:
//! ```toml
//! [audience]
//! name = "lapsed-high-value"
//! description = "high-value buyers who stopped buying"   # optional
//!
//! [audience.rule]                  # optional: who is eligible
//! layer = ["growth", "mature", "declining"]
//! churned = true
//! tier = "high"
//! not = { tag = { region = ["north"] } }
//!
//! [audience.model]                 # optional: pick the likeliest buyers
//! top = 5000                       # or top_share = 0.1
//! ```
//! A file needs a `rule`, a `model` or both; with both, the model ranks
//! the members the rule admits.
//!
//! A **rule** is a table, and holds when *every* key in it holds (so a
//! table is an intersection). The keys:
//!
//! | key | holds when | example |
//! |---|---|---|
//! | `all = [rule, ...]` | every rule holds (intersect) | `all = [{ tier = "high" }, { churned = false }]` |
//! | `any = [rule, ...]` | at least one holds (union) | `any = [{ layer = "new" }, { quadrant = "hostage" }]` |
//! | `not = rule` | the rule does not hold (exclude) | `not = { best_channel = "sms" }` |
//! | `layer` | the lifecycle layer is one of these | `layer = ["growth", "mature"]` |
//! | `churned` | the churned flag is this | `churned = true` |
//! | `tier` | the value tier is one of `high`, `medium`, `low` | `tier = ["high", "medium"]` |
//! | `rfm_segment` | the RFM segment is one of these | `rfm_segment = ["At Risk", "Cannot Lose Them"]` |
//! | `quadrant` | loyalty x satisfaction is one of `angel`, `freeloader`, `hostage`, `danger` | `quadrant = "danger"` |
//! | `best_channel` | the best channel is one of `sms`, `app_push`, `wechat`, `email` | `best_channel = "app_push"` |
//! | `tag` | for every key given, the member has at least one of its values | `tag = { region = ["north", "east"], gender = "f" }` |
//! | `propensity` | `at_least` <= score <= `at_most` (either may be left out) | `propensity = { at_least = 0.3 }` |
//! | `predicted_value` | the same, on the predicted lifetime value | `predicted_value = { at_least = 100.0 }` |
//! | `days_since_last_purchase` | the same, on whole days | `days_since_last_purchase = { at_most = 90 }` |
//!
//! A single value may stand for a list of one (`tier = "high"`). Names of
//! tiers, quadrants, channels and RFM segments match in any case; layer
//! names come from the lifecycle model in use and tag keys and values from
//! the attribute data (a [`Vocabulary`]), and match exactly.
//!
//! **Unknown values.** A member whose value is unknown (no tier because they
//! never bought, no quadrant without a satisfaction signal, no tag of that
//! key) is *not in* the group a leaf describes, so `not` includes them:
//! `not = { tier = "low" }` admits members with no tier. Write the positive
//! form (`tier = ["high", "medium"]`) to require a known value.
//!
//! **Model pick.** `top = N` keeps the N admitted members with the highest
//! propensity; `top_share = s` keeps `s` x (admitted members with a
//! propensity), rounded to the nearest whole member. Members without a
//! propensity are never picked by a model. Ties are broken by user id, so
//! the pick does not depend on input order. `by = "propensity"` may be
//! written and is the only score so far.
//!
//! **Errors** name the line and column, the key or value at fault and what
//! is allowed; for the example above with `tier = "gold"`:
//! ```text
//! line 8, column 8: unknown tier `gold`; allowed: HIGH, MEDIUM, LOW
//! ```
//!
//! # Campaigns
//! ```toml
//! [[campaign]]
//! id = "spring-winback"            # salts the holdout hash: never reuse
//! audience = "lapsed-high-value"
//! holdout_share = 0.1              # in (0, 1)
//! benefit_id = "coupon-10"
//! channel = "sms"                  # sms, app_push, wechat or email
//! start = 2024-03-01               # inclusive; a date is midnight UTC
//! end = 2024-04-01T00:00:00Z       # exclusive
//! ```
//! A member is in control when `XXH3-64(len(id) as u64 LE ‖ id ‖ user id)`,
//! scaled to [0, 1), is below `holdout_share` ([`assign`]).
//!
//! # The global control group
//! [`GlobalControl`]: a share of all users held out of every campaign and
//! offer; a user is a member when `XXH3-64("strata.global_control\0" ‖
//! len(salt) as u64 LE ‖ salt ‖ user id)`, scaled to [0, 1), is below the
//! share.
//!
//! # Lift
//! [`measure_lift`] compares the arms' [`ArmOutcomes`]; the methods are
//! described in the `lift` module and in `docs/audiences.md`.

mod campaign;
mod compare;
mod definition;
pub mod distribution;
mod document;
mod error;
mod global_control;
mod lift;
mod member;
mod select;

pub use campaign::{Arm, Campaign, KnownNames, assign, holdout_draw};
pub use compare::Comparison;
pub use definition::{Audience, Bounds, ModelPick, NumericField, Rule};
pub use error::{Error, Location};
pub use global_control::{DEFAULT_GLOBAL_CONTROL_SALT, GlobalControl, global_control_draw};
pub use lift::{
    ArmOutcomes, ArmSummary, Interval, Lift, LiftOptions, LiftTable, WelchTest, measure_lift,
    newcombe_difference, pooled_z_test, relative_difference, welch_test, wilson_interval,
};
pub use member::{Member, QUADRANTS, RFM_SEGMENTS, TIERS, Vocabulary};
pub use select::{Mix, NO_LAYER, Selection};
