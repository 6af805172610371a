//! The event: one row of an event or transaction log, as every model sees it.
//!
//! Readers (CSV, JSON Lines, Parquet) and the demo generator produce these;
//! the lifecycle, value and quadrant rules consume them. Event types are
//! free-form lowercase words; the vocabulary the presets understand is listed
//! in [`kinds`]. Unknown types are kept (they still make a user "known") but
//! no rule counts them.

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMillis = i64;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub user_id: String,
    pub at: UnixMillis,
    /// Lowercase event type, e.g. `purchase`.
    pub kind: String,
    /// Money amount in major units of `currency` (purchases, redemptions).
    pub amount: Option<f64>,
    /// ISO 4217 code, uppercase.
    pub currency: Option<String>,
    /// Contact channel for sends and responses: `sms`, `app_push`, `wechat`, `email`.
    pub channel: Option<String>,
    /// Benefit (offer) the event concerns.
    pub benefit_id: Option<String>,
    /// Rating 1..=5 (ratings and reviews).
    pub rating: Option<u8>,
}

impl Event {
    /// An event with only the required fields; set the optional ones after.
    pub fn new(user_id: impl Into<String>, at: UnixMillis, kind: impl Into<String>) -> Event {
        Event {
            user_id: user_id.into(),
            at,
            kind: kind.into(),
            amount: None,
            currency: None,
            channel: None,
            benefit_id: None,
            rating: None,
        }
    }
}

/// Event types the built-in presets and models understand.
pub mod kinds {
    // Retail
    pub const PURCHASE: &str = "purchase";
    pub const BROWSE: &str = "browse";
    pub const ADD_TO_CART: &str = "add_to_cart";
    pub const FAVORITE: &str = "favorite";
    pub const RATING: &str = "rating";
    pub const REVIEW: &str = "review";
    // SNS
    pub const OPEN: &str = "open";
    pub const LIKE: &str = "like";
    pub const COMMENT: &str = "comment";
    // SaaS
    pub const VISIT: &str = "visit";
    pub const DEEP_BROWSE: &str = "deep_browse";
    pub const DEMO_VIEW: &str = "demo_view";
    pub const SIGNUP: &str = "signup";
    pub const CONTRACT: &str = "contract";
    // Online investing (wealth)
    pub const APP_START: &str = "app_start";
    pub const VIEW_PRODUCT: &str = "view_product";
    pub const BIND_CARD: &str = "bind_card";
    pub const VERIFY_IDENTITY: &str = "verify_identity";
    pub const INVEST: &str = "invest";
    // Reach and offers
    pub const SEND: &str = "send";
    pub const RESPONSE: &str = "response";
    pub const OFFER_ISSUED: &str = "offer_issued";
    pub const OFFER_CONTROL: &str = "offer_control";
    pub const OFFER_REDEEMED: &str = "offer_redeemed";
}
