//! The numbers the dashboard shows, as shared types: the server fills them
//! from the rollup tables, the pages and the stats API (`/api/v1`) show them.
//! Money stays in integer minor units with its currency until it is
//! formatted for a person, here, in one place.

use serde::{Deserialize, Serialize};

/// A range and filters as they appear in a page's URL
/// (`?site=&range=&from=&to=&compare=previous`), before the server resolves
/// them against the site's time zone. Every field is optional: a bare URL
/// is the first site, last 7 days.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeQuery {
    pub site: Option<String>,
    /// `today`, `yesterday`, `7d`, `30d` or `custom` (with `from`/`to`).
    pub range: Option<String>,
    /// First and last day, `YYYY-MM-DD`, in the site's time zone.
    pub from: Option<String>,
    pub to: Option<String>,
    /// `previous`: show changes against the period just before; `week`:
    /// against the same weekdays, whole weeks back (Plausible's "match day
    /// of week").
    pub compare: Option<String>,
    /// `HH:MM`: the range's last day only until this local time. A
    /// comparison of a range that runs until now gets it, so today until
    /// now is set against yesterday until the same time.
    pub until: Option<String>,
}

impl RangeQuery {
    /// The query string for this range with `changes` applied (for links).
    pub fn to_query(&self) -> String {
        let pairs = [
            ("site", &self.site),
            ("range", &self.range),
            ("from", &self.from),
            ("to", &self.to),
            ("compare", &self.compare),
            ("until", &self.until),
        ];
        let parts: Vec<String> = pairs
            .iter()
            .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v))))
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    pub fn compares(&self) -> bool {
        self.comparison().is_some()
    }

    /// The comparison asked for: `previous` or `week`; anything else is
    /// none.
    pub fn comparison(&self) -> Option<&'static str> {
        match self.compare.as_deref() {
            Some("previous") => Some("previous"),
            Some("week") => Some("week"),
            _ => None,
        }
    }

    /// The query for `period`'s previous period, when it has one: its days
    /// (the last one until the time the current period has reached, when
    /// it runs until now) as a custom range of the same site, not compared
    /// again.
    pub fn previous_of(period: &Period) -> Option<Self> {
        let (from, to) = period.previous.clone()?;
        Some(Self {
            site: Some(period.site.clone()),
            range: Some("custom".to_owned()),
            from: Some(from),
            to: Some(to),
            compare: None,
            until: period.previous_until.clone(),
        })
    }
}

/// Percent-encodes what may not stand in a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The presets offered next to a custom range, with their labels.
pub const PRESETS: &[(&str, &str)] = &[
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
];

/// A range the server resolved: what it covers, in the site's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub site: String,
    pub site_name: String,
    pub timezone: String,
    pub currency: String,
    /// The preset, or `custom`.
    pub range: String,
    /// First and last day (inclusive), `YYYY-MM-DD` in the site's zone.
    pub from: String,
    pub to: String,
    /// The last day only until this local time (`HH:MM`), when the query
    /// said so.
    pub until: Option<String>,
    /// The same length just before, when comparing…
    pub previous: Option<(String, String)>,
    /// …its last day only until this local time, when this period runs
    /// until now: like against like (the quarter hour now ends at, on the
    /// day as far into the previous period as today is into this one).
    pub previous_until: Option<String>,
    /// Other sites, for the site switcher: (key, name).
    pub sites: Vec<(String, String)>,
}

/// A figure now and, when comparing, in the previous period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    pub current: i64,
    pub previous: Option<i64>,
}

impl Figure {
    /// The change in percent against the previous period, when there is
    /// one and it was not zero.
    pub fn change_percent(&self) -> Option<f64> {
        let previous = self.previous?;
        (previous != 0).then(|| (self.current - previous) as f64 * 100.0 / previous as f64)
    }
}

/// Overview: the headline figures, the funnel, and what drove them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub period: Period,
    /// Gross revenue, minor units of the site currency (verified and not).
    pub revenue: Figure,
    pub orders: Figure,
    pub visitors: Figure,
    pub sessions: Figure,
    /// Sessions that purchased, for the conversion rate.
    pub converted: Figure,
    /// Customers whose first order ever was in the range.
    #[serde(default)]
    pub first_time_buyers: Figure,
    /// Sessions of one page view, and engaged sessions (GA4's rule).
    #[serde(default)]
    pub bounces: Figure,
    #[serde(default)]
    pub engaged: Figure,
    /// When comparing: the previous period, in full (not compared again);
    /// the figures' `previous` are its `current`.
    #[serde(default)]
    pub previous: Option<Box<Overview>>,
    pub funnel: Vec<FunnelStep>,
    pub top_products: Vec<ProductRow>,
    /// The top sources by sessions; `other_sources` are the sessions of
    /// all the others, so together they are every session of the range.
    pub sources: Vec<Share>,
    pub other_sources: i64,
    pub devices: Vec<Share>,
    /// Revenue per bucket (hour for one day, else day) for the chart.
    pub revenue_series: Vec<Bucket>,
    /// The chart of `revenue_series`, SVG rendered on the server.
    pub revenue_chart: String,
}

/// Sessions that reached a step of the funnel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelStep {
    pub step: String,
    pub sessions: i64,
}

/// A share of sessions: a source or a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub name: String,
    pub sessions: i64,
}

/// One bucket of a time series: its label in the site's zone and a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub label: String,
    pub value: i64,
}

/// The longest range Hourly Sales shows hour by hour (chart and table);
/// longer ones go by day, each day a link to its hours.
pub const HOURLY_DAYS: u64 = 3;

/// Hourly Sales: one row per hour with sales, and for ranges of more than
/// [`HOURLY_DAYS`] days one row per day as well.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HourlySales {
    pub period: Period,
    pub rows: Vec<HourRow>,
    /// Every day of a long range (`hour` is `YYYY-MM-DD`; customers are
    /// the day's distinct customers); empty for short ranges.
    #[serde(default)]
    pub days: Vec<HourRow>,
    pub totals: HourRow,
    /// Net revenue of every hour (short ranges) or day (long ones) up to
    /// now, zeros included: the chart's continuous axis.
    #[serde(default)]
    pub series: Vec<Bucket>,
    pub chart: String,
    /// When comparing: the previous period, in full (not compared again).
    #[serde(default)]
    pub previous: Option<Box<HourlySales>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourRow {
    /// `YYYY-MM-DD HH:00` in the site's zone (empty for totals).
    pub hour: String,
    pub revenue_verified: i64,
    pub revenue_unverified: i64,
    pub refunds: i64,
    pub orders: i64,
    pub units: i64,
    pub customers: i64,
    /// The orders' tax and shipping less what refunds gave back of them.
    pub tax: i64,
    pub shipping: i64,
    /// Refunds (each a refund event with an amount), booked to their
    /// order's hour.
    #[serde(default)]
    pub refund_count: i64,
}

impl HourRow {
    pub fn revenue(&self) -> i64 {
        self.revenue_verified + self.revenue_unverified
    }

    /// Revenue less refunds, tax and shipping: an order's value is what the
    /// shop charged, tax and shipping included (Shopify's net sales).
    pub fn net(&self) -> i64 {
        self.revenue() - self.refunds - self.tax - self.shipping
    }

    /// Average order value, minor units (rounded half up), if any orders.
    pub fn aov(&self) -> Option<i64> {
        average(self.revenue(), self.orders)
    }

    /// Adds `other`'s sums (not its label, not its customers: distinct
    /// counts do not add).
    pub fn add(&mut self, other: &HourRow) {
        self.revenue_verified += other.revenue_verified;
        self.revenue_unverified += other.revenue_unverified;
        self.refunds += other.refunds;
        self.orders += other.orders;
        self.units += other.units;
        self.tax += other.tax;
        self.shipping += other.shipping;
        self.refund_count += other.refund_count;
    }

    /// Refunds per order, as `12.5%` (`–` without orders). A refund is
    /// booked to its order's hour, so the rate is of this period's orders.
    pub fn refund_rate(&self) -> String {
        percent(self.refund_count, self.orders)
    }
}

/// Pages: where the range's sessions landed and where they left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PagesReport {
    pub period: Period,
    pub sessions: i64,
    pub bounces: i64,
    pub engaged: i64,
    pub landing: Vec<PageRow>,
    pub exit: Vec<PageRow>,
    /// The most viewed pages: (path, page views).
    #[serde(default)]
    pub top: Vec<(String, i64)>,
    /// When comparing: the previous period, in full (not compared again).
    #[serde(default)]
    pub previous: Option<Box<PagesReport>>,
}

/// A page (its path, no host or query) and the sessions that landed on it
/// (or left from it): how many, how many bounced (one page view), were
/// engaged (10 s or more, two page views or more, or a purchase), bought.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRow {
    pub path: String,
    pub sessions: i64,
    pub bounces: i64,
    pub engaged: i64,
    pub converted: i64,
    /// Landing pages: gross revenue (minor units, site currency) of the
    /// orders those sessions placed in the range; 0 on exit pages.
    #[serde(default)]
    pub revenue: i64,
    /// Distinct visitors with a session that landed there (left from
    /// there, on exit pages).
    #[serde(default)]
    pub visitors: i64,
}

/// Product Performance: one row per product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductPerformance {
    pub period: Period,
    pub rows: Vec<ProductRow>,
    pub categories: Vec<ProductRow>,
    /// When comparing: the previous period, in full (not compared again).
    #[serde(default)]
    pub previous: Option<Box<ProductPerformance>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRow {
    /// Empty for category rows.
    pub item_id: String,
    pub name: String,
    pub category: String,
    pub views: i64,
    /// Times shown in a product list (`view_item_list`).
    pub impressions: i64,
    pub add_to_carts: i64,
    pub removals: i64,
    pub checkouts: i64,
    pub purchases: i64,
    /// Units bought less units refunded, and likewise revenue.
    pub units: i64,
    pub revenue: i64,
    /// Refunds naming the product, booked to their order's hour.
    #[serde(default)]
    pub refunds: i64,
}

/// User Activity: visits, new and returning visitors, and who buys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserActivity {
    pub period: Period,
    pub sessions: i64,
    /// Page views in those sessions, for pages per session.
    pub pages: i64,
    /// Summed session length in seconds, for the average.
    pub seconds: i64,
    /// Visitors whose first visit ever was in the range, and the others.
    pub new_visitors: i64,
    pub returning_visitors: i64,
    pub customers: Vec<CustomerRow>,
    pub devices: Vec<Share>,
    pub browsers: Vec<Share>,
    pub campaigns: Vec<Share>,
    /// When comparing: the previous period, in full (not compared again).
    #[serde(default)]
    pub previous: Option<Box<UserActivity>>,
}

/// A customer (the shop's `user_id`, else the visitor) by lifetime spend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub customer: String,
    pub orders: i64,
    /// Minor units of the site currency.
    pub spend: i64,
    /// `YYYY-MM-DD HH:MM` in the site's zone.
    pub last_seen: String,
}

/// One visit, as the sessions list shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    pub session_id: String,
    pub visitor_id: String,
    /// `YYYY-MM-DD HH:MM:SS` in the site's zone.
    pub started_at: String,
    pub seconds: i64,
    pub pages: i64,
    pub events: i64,
    pub entry_url: Option<String>,
    pub exit_url: Option<String>,
    pub referrer_host: Option<String>,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
    pub device: String,
    pub browser: String,
    pub purchases: i64,
}

/// `m:ss` or `h:mm:ss` for a duration in seconds.
pub fn duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Why the numbers for a page could not be had. Safe to show: no internal
/// detail in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatsError {
    /// No site exists yet.
    NoSites,
    /// No site with this key (or not one this user may see).
    UnknownSite(String),
    /// The range in the URL is not one we understand.
    BadRange(String),
    /// The database did not answer.
    Unavailable,
}

impl std::fmt::Display for StatsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSites => write!(f, "no site yet: add one on the Sites page"),
            Self::UnknownSite(key) => write!(f, "no site {key:?}"),
            Self::BadRange(why) => write!(f, "bad range: {why}"),
            Self::Unavailable => write!(f, "the database is unavailable, try again shortly"),
        }
    }
}

impl std::error::Error for StatsError {}

impl StatsError {
    /// The HTTP status that stands for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoSites | Self::UnknownSite(_) => 404,
            Self::BadRange(_) => 400,
            Self::Unavailable => 503,
        }
    }
}

/// `part / whole` rounded half up, `None` when `whole` is zero.
pub fn average(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| (2 * part + whole) / (2 * whole))
}

/// A rate as `12.3%`, or `–` without a base.
pub fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "–".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// The change of a rate (`part / whole`, now and before) in percentage
/// points, as the rates are shown (one decimal): `+0.4 pp`, `−1.2 pp`;
/// `None` without a previous period. A rate without a base counts as 0.
pub fn change_pp(current: (i64, i64), previous: Option<(i64, i64)>) -> Option<String> {
    let rate = |(part, whole): (i64, i64)| {
        if whole == 0 {
            0.0
        } else {
            part as f64 * 100.0 / whole as f64
        }
    };
    let diff = (rate(current) * 10.0).round() - (rate(previous?) * 10.0).round();
    Some(match diff {
        d if d > 0.0 => format!("+{:.1} pp", d / 10.0),
        d if d < 0.0 => format!("−{:.1} pp", -d / 10.0),
        _ => "±0.0 pp".to_owned(),
    })
}

/// A change as `+12.3%` / `−4.0%`, or `new` when there was nothing before.
pub fn change(figure: &Figure) -> Option<String> {
    let previous = figure.previous?;
    Some(match figure.change_percent() {
        Some(p) if p >= 0.0 => format!("+{p:.1}%"),
        Some(p) => format!("−{:.1}%", -p),
        None if figure.current == 0 && previous == 0 => "±0%".to_owned(),
        None => "new".to_owned(),
    })
}

/// Minor units as money in `currency`: `€1,234.56`, `$0.99`, `1,234 JPY`.
/// Exact: digits come from the integer, never from a float.
pub fn money(minor: i64, currency: &str) -> String {
    let symbol = match currency {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        _ => "",
    };
    let decimals = decimals(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = 10_u64.pow(decimals);
    let whole = group(abs / scale);
    let fraction = if decimals > 0 {
        format!(".{:0width$}", abs % scale, width = decimals as usize)
    } else {
        String::new()
    };
    if symbol.is_empty() {
        format!("{sign}{whole}{fraction} {currency}")
    } else {
        format!("{sign}{symbol}{whole}{fraction}")
    }
}

/// Digits after the decimal point of `currency`'s major unit.
pub fn decimals(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" => 0,
        _ => 2,
    }
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A count with thousands separators.
pub fn count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group(n.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_formatted_exactly_from_minor_units() {
        assert_eq!(money(123_456, "EUR"), "€1,234.56");
        assert_eq!(money(5, "USD"), "$0.05");
        assert_eq!(money(-1_999, "GBP"), "-£19.99");
        assert_eq!(money(1_234, "JPY"), "1,234 JPY");
        assert_eq!(money(100, "CHF"), "1.00 CHF");
    }

    #[test]
    fn changes_and_rates_say_what_they_compare() {
        let up = Figure {
            current: 150,
            previous: Some(100),
        };
        assert_eq!(change(&up).as_deref(), Some("+50.0%"));
        let down = Figure {
            current: 96,
            previous: Some(100),
        };
        assert_eq!(change(&down).as_deref(), Some("−4.0%"));
        let new = Figure {
            current: 5,
            previous: Some(0),
        };
        assert_eq!(change(&new).as_deref(), Some("new"));
        assert_eq!(
            change(&Figure {
                current: 5,
                previous: None
            }),
            None
        );
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "–");
        // Rates change in points, as they are shown: 33.3% → 66.7%.
        assert_eq!(change_pp((2, 3), Some((1, 3))).as_deref(), Some("+33.4 pp"));
        assert_eq!(
            change_pp((21, 1000), Some((25, 1000))).as_deref(),
            Some("−0.4 pp")
        );
        assert_eq!(change_pp((1, 2), Some((2, 4))).as_deref(), Some("±0.0 pp"));
        assert_eq!(change_pp((1, 2), None), None);
    }

    #[test]
    fn averages_round_half_up() {
        assert_eq!(average(10, 4), Some(3));
        assert_eq!(average(9, 4), Some(2));
        assert_eq!(average(1, 0), None);
    }

    #[test]
    fn query_strings_keep_only_what_is_set_and_encode_it() {
        let query = RangeQuery {
            site: Some("my shop".into()),
            range: Some("7d".into()),
            ..RangeQuery::default()
        };
        assert_eq!(query.to_query(), "?site=my%20shop&range=7d");
        assert_eq!(RangeQuery::default().to_query(), "");
    }
}
