//! The validated event: what the rest of the server works with.
//!
//! An [`Event`] is made by [`super::parse`] (or read back from storage by
//! `store::rebuild`, after it passed that parse), so code past ingestion
//! never re-checks lengths, schemes, currencies or amounts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::money::Currency;

/// Now, to the microsecond: what `timestamptz` keeps (sqlx truncates),
/// so an event's times in memory, and everything the fold derives from
/// them (a session's length, its start's day), equal what a recomputation
/// from the stored row gets.
pub fn now_as_stored() -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    Utc::now().trunc_subsecs(6)
}

/// GA4's recommended e-commerce event names, plus custom ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    PageView,
    ViewItem,
    ViewItemList,
    AddToCart,
    RemoveFromCart,
    BeginCheckout,
    Purchase,
    Refund,
    Search,
    /// Any other `[a-z][a-z0-9_]{0,39}`: counted, not interpreted.
    Custom(String),
}

impl EventType {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "page_view" => Self::PageView,
            "view_item" => Self::ViewItem,
            "view_item_list" => Self::ViewItemList,
            "add_to_cart" => Self::AddToCart,
            "remove_from_cart" => Self::RemoveFromCart,
            "begin_checkout" => Self::BeginCheckout,
            "purchase" => Self::Purchase,
            "refund" => Self::Refund,
            "search" => Self::Search,
            custom if is_custom_name(custom) => Self::Custom(custom.to_owned()),
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::PageView => "page_view",
            Self::ViewItem => "view_item",
            Self::ViewItemList => "view_item_list",
            Self::AddToCart => "add_to_cart",
            Self::RemoveFromCart => "remove_from_cart",
            Self::BeginCheckout => "begin_checkout",
            Self::Purchase => "purchase",
            Self::Refund => "refund",
            Self::Search => "search",
            Self::Custom(name) => name,
        }
    }

    /// Purchases and refunds carry an order: transaction id, currency, value.
    pub fn is_order(&self) -> bool {
        matches!(self, Self::Purchase | Self::Refund)
    }
}

fn is_custom_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 40
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// Where the event was produced: the web/app split reports break down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Web,
    App,
    Server,
}

impl Source {
    /// The stored name back (anything else is `web`, the default).
    pub fn from_stored(name: &str) -> Self {
        match name {
            "app" => Self::App,
            "server" => Self::Server,
            _ => Self::Web,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::App => "app",
            Self::Server => "server",
        }
    }
}

/// An amount in integer minor units of its currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money {
    pub currency: Currency,
    pub minor: i64,
}

/// One line of an e-commerce event (GA4 `items[]`), stored as the event's
/// `items` JSONB. The fields GA4 defines beyond the first six are kept as
/// they came (absent ones are left out of the JSON, so rows stored before
/// them read back unchanged); the reports read the first six.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub item_id: String,
    pub item_name: String,
    pub item_category: String,
    pub item_brand: String,
    /// Unit price in minor units of the event's currency.
    pub price: Option<i64>,
    pub quantity: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_category2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_category3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_category4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_category5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    /// Discount per unit, minor units of the event's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<i64>,
    /// The item's position in its list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_list_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_list_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative_slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_name: Option<String>,
}

/// What the User-Agent says about the visitor's device.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Client {
    /// `mobile`, `tablet`, `desktop` or `other`.
    pub device: &'static str,
    pub browser: String,
    pub os: String,
}

/// A stored device name as the `'static` string [`Client::device`] holds.
pub fn device_from_stored(name: &str) -> &'static str {
    match name {
        "mobile" => "mobile",
        "tablet" => "tablet",
        "desktop" => "desktop",
        _ => "other",
    }
}

/// A stored price tier as the `'static` string [`Event::price_tier`] holds.
pub fn tier_from_stored(name: Option<&str>) -> Option<&'static str> {
    match name {
        Some("low") => Some("low"),
        Some("medium") => Some("medium"),
        Some("high") => Some("high"),
        _ => None,
    }
}

/// UTM campaign parameters from the page URL.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
}

/// A validated, enriched event ready to be stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub site_id: i32,
    /// The site's reporting currency (user spend is kept in it).
    pub site_currency: Currency,
    pub id: String,
    pub kind: EventType,
    /// The client's time corrected for clock skew.
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub visitor_id: String,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub source: Source,
    pub url: Option<String>,
    pub referrer: Option<String>,
    pub referrer_host: Option<String>,
    pub title: Option<String>,
    pub utm: Utm,
    /// The currency the event names, else the site's: every amount of the
    /// event (`money`, `tax`, `shipping`, item prices) is in it.
    pub currency: Currency,
    pub money: Option<Money>,
    /// An order's tax and shipping (GA4 `tax`, `shipping`), minor units.
    pub tax: Option<i64>,
    pub shipping: Option<i64>,
    pub coupon: Option<String>,
    pub transaction_id: Option<String>,
    pub search_term: Option<String>,
    pub items: Vec<Item>,
    pub props: serde_json::Map<String, serde_json::Value>,
    pub client: Client,
    /// `low`, `medium` or `high` by the event's value and the site's thresholds.
    pub price_tier: Option<&'static str>,
    pub verified: bool,
}
