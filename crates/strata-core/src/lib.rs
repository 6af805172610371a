//! strata's domain: the rules that decide what a user is offered and what a
//! valid request looks like, independent of the wire format and of storage.
//!
//! Architecture invariant: this crate does no IO and knows nothing of tonic,
//! tokio or RocksDB; callers convert their types into the borrowed views here.

pub mod currency;
pub mod engagement;
mod error;
pub mod event;
pub mod history;
pub mod kind_tally;
pub mod labels;
pub mod lifecycle;
pub mod offers;
pub mod quadrant;
mod serde_float;
pub mod user_id;
pub mod value;

pub use currency::{CurrencyConfig, CurrencyError, CurrencySource, CurrencyTally, RunCurrency};
pub use engagement::{
    CHANNELS, ChannelCounts, Engagement, EngagementParts, HOUR_SLOTS, HOURS_PER_WEEK, HourCounts,
    OfferIssue,
};
pub use error::Error;
pub use event::{Event, UnixMillis};
pub use history::{DayTotal, EventRole, HistoryParts, SeriesParts, UserHistory};
pub use kind_tally::{KindTally, UnknownKinds};
pub use lifecycle::{KindClass, Layer, LifecycleModel, Stage};
pub use offers::{
    ArmRole, CampaignArmView, Ineligible, OfferContext, OfferTerms, Surface, UnixNanos,
    apply_campaign_arms, sort_best_first,
};
pub use quadrant::{LoyaltySatisfaction, QuadrantConfig, QuadrantKind, QuadrantScorer};
pub use user_id::{MAX_USER_ID_BYTES, validate_user_id};
pub use value::{RfmInput, Tier, ValueAssessment, ValueConfig, ValueScorer};
