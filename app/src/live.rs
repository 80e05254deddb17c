//! The Real-Time page's numbers: one snapshot of the last minutes, pushed
//! over a WebSocket about once a second with a sequence number. Built from
//! the per-minute rollups, the sessions table and the newest raw events, so
//! every server process behind a load balancer pushes the same numbers.

use serde::{Deserialize, Serialize};

/// What the live page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSnapshot {
    /// Increases with every snapshot a server pushes on one socket; a client
    /// that reconnects sends its last one and gets a fresh snapshot.
    pub seq: u64,
    pub site: String,
    pub currency: String,
    /// When the snapshot was taken, `HH:MM:SS` in the site's zone.
    pub taken_at: String,
    /// Distinct visitors with an event in the last 5 minutes.
    pub visitors: i64,
    /// Sessions active in the last 10 minutes by how far they got
    /// (Shopify's live view): carts not checking out, checking out, bought.
    pub active_carts: i64,
    pub checking_out: i64,
    pub purchased: i64,
    /// Gross revenue (minor units) and orders since midnight, site time.
    pub revenue_today: i64,
    pub orders_today: i64,
    /// Events per minute for the last 60 minutes, oldest first.
    pub minutes: Vec<MinuteRow>,
    /// Events in the last 60 minutes by type.
    pub by_type: Vec<(String, i64)>,
    /// The newest events, newest first (at most [`FEED_LEN`]).
    pub feed: Vec<FeedItem>,
    /// Events per minute as an SVG chart (rendered once per tick on the
    /// server for every watcher of the site).
    pub chart: String,
}

/// Events in the live feed.
pub const FEED_LEN: usize = 50;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteRow {
    /// `HH:MM` in the site's zone.
    pub minute: String,
    pub web: i64,
    pub app: i64,
    pub server: i64,
}

impl MinuteRow {
    pub fn total(&self) -> i64 {
        self.web + self.app + self.server
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedItem {
    /// `HH:MM:SS` in the site's zone.
    pub at: String,
    pub kind: String,
    pub source: String,
    /// The page path, product or search term: what the event was about.
    pub subject: String,
    /// Minor units of the site currency, for orders and refunds.
    pub value: Option<i64>,
}
