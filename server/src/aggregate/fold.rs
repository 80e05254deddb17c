//! Folding newly stored events into rollup deltas: pure, no I/O, no clock.
//!
//! Only events the flush transaction really stored (new event ids, first
//! report of an order) reach this fold, so replays never add twice. The
//! maps are `BTreeMap`s: each upsert touches its table's rows in key order,
//! the same order in every server process. The fold stage
//! (`super::stage`) applies the deltas with one writer per site, so the
//! `session_days` and `product_days` statement triggers, whose rows follow
//! another order, no longer run in concurrent transactions of one site. In
//! `inline` mode (ingestion v1) they still can deadlock two flushes; the
//! loser is retried (`settle`) with nothing lost.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::ingest::{
    event::{Event, EventType},
    money::Currency,
};

/// What the flush decided about an event before folding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// An ordinary event (or a refund without a known order).
    Plain,
    /// The first report of an order.
    NewOrder,
    /// A signed report of an order a browser reported before: its revenue
    /// moves from unverified to verified, and the buyer's spend follows the
    /// signed amount; nothing else changes (the flush keeps one purchase
    /// row per order: the first report, marked verified, with the signed
    /// amount; the signed copy itself is not kept). The event folded with
    /// this fate carries the first report's visitor and `user_id`.
    Verifies {
        hour: DateTime<Utc>,
        currency: Currency,
        old_minor: i64,
        /// The first report's tax and shipping, replaced by the signed one's.
        old_tax: i64,
        old_shipping: i64,
    },
    /// A refund of a known order, booked to the order's bucket.
    RefundOf { hour: DateTime<Utc> },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SalesDelta {
    pub revenue_verified: i64,
    pub revenue_unverified: i64,
    pub refunds: i64,
    pub orders_verified: i64,
    pub orders_unverified: i64,
    pub refund_count: i64,
    pub units: i64,
    /// The orders' tax and shipping less the refunds' (net revenue leaves
    /// both out).
    pub tax: i64,
    pub shipping: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductDelta {
    pub item_name: String,
    pub item_category: String,
    pub item_brand: String,
    pub views: i64,
    /// The item shown in a list (`view_item_list`).
    pub impressions: i64,
    pub add_to_carts: i64,
    pub removals: i64,
    pub checkouts: i64,
    pub purchases: i64,
    pub units: i64,
    pub revenue: i64,
    /// Refunds naming the item (each refund's line counts once).
    pub refunds: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDelta {
    pub user_id: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub events: i64,
    pub orders: i64,
    pub spend: i64,
}

/// A customer's row (`customer_activity`): the orders whose customer it is
/// (see [`customer_of`]) and, when events carried it as `user_id`, the
/// first and last of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerDelta {
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub orders: i64,
    pub spend: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDelta {
    pub visitor_id: String,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub events: i64,
    pub pages: i64,
    pub first_page: Option<(DateTime<Utc>, String)>,
    pub last_page: Option<(DateTime<Utc>, String)>,
    /// Attribution, device and source of the session's earliest event.
    pub first: FirstTouch,
    pub product_views: i64,
    pub add_to_carts: i64,
    pub checkouts: i64,
    pub purchases: i64,
    /// The gross amount of the orders the session placed (those whose
    /// first report it holds), per currency, each at its amount now: the
    /// signed one once a signed report verified it. No zero entries.
    pub revenue: BTreeMap<Currency, i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstTouch {
    pub referrer_host: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub source: &'static str,
    pub device: &'static str,
    pub browser: String,
    pub os: String,
}

impl FirstTouch {
    /// No referrer and no UTM: nothing to attribute the visit to.
    pub fn is_blank(&self) -> bool {
        self.referrer_host.is_none()
            && self.utm_source.is_none()
            && self.utm_medium.is_none()
            && self.utm_campaign.is_none()
    }
}

impl SessionDelta {
    /// Merges more of the same session into this one: what a session row
    /// becomes when a window's part of it meets the stored row, and what a
    /// window's part becomes when one more event meets it (one rule for
    /// both). The first touch is the earliest event's; at the same instant
    /// one that says where the visit came from wins over one that does not
    /// (which of them a window saw first is not theirs to decide). The
    /// entry page is the earliest page view with a URL, the exit page the
    /// latest (a later one at the same instant wins). The visitor stays.
    pub fn absorb(&mut self, more: &SessionDelta) {
        if (more.started_at, more.first.is_blank()) < (self.started_at, self.first.is_blank()) {
            self.first = more.first.clone();
        }
        self.started_at = self.started_at.min(more.started_at);
        self.last_seen = self.last_seen.max(more.last_seen);
        self.events += more.events;
        self.pages += more.pages;
        if let Some((at, url)) = &more.first_page {
            if self.first_page.as_ref().is_none_or(|(t, _)| at < t) {
                self.first_page = Some((*at, url.clone()));
            }
        }
        if let Some((at, url)) = &more.last_page {
            if self.last_page.as_ref().is_none_or(|(t, _)| at >= t) {
                self.last_page = Some((*at, url.clone()));
            }
        }
        self.product_views += more.product_views;
        self.add_to_carts += more.add_to_carts;
        self.checkouts += more.checkouts;
        self.purchases += more.purchases;
        self.add_revenue(&more.revenue);
    }

    /// Adds signed amounts per currency to the session's revenue (a sum
    /// past 64 bits stays at the bound: amounts are bounded per order, so
    /// no store gets there).
    pub fn add_revenue(&mut self, more: &BTreeMap<Currency, i64>) {
        for (currency, minor) in more {
            let total = self.revenue.entry(*currency).or_default();
            *total = total.saturating_add(*minor);
            if *total == 0 {
                self.revenue.remove(currency);
            }
        }
    }

    /// The session's revenue under its landing page: ((path, currency),
    /// amount), what `landing_revenue_days` sums by the local day of the
    /// start, as [`day_rows`](Self::day_rows) are summed. None without a
    /// landing page.
    pub fn revenue_rows(&self) -> Vec<((String, Currency), i64)> {
        let Some((_, url)) = &self.first_page else {
            return Vec::new();
        };
        let path = url_path(url);
        self.revenue
            .iter()
            .map(|(currency, minor)| ((path.to_owned(), *currency), *minor))
            .collect()
    }

    /// The `session_days` rows this session counts under, keyed by the
    /// instant it started (the store takes its local day in the site's
    /// zone) and dimension: the total, its source (UTM source, else
    /// referrer host, else `Direct`), device, browser and UTM campaign.
    pub fn day_rows(&self) -> Vec<((char, String), SessionDay)> {
        let micros = (self.last_seen - self.started_at)
            .num_microseconds()
            .unwrap_or(i64::MAX);
        let values = SessionDay {
            sessions: 1,
            product_views: i64::from(self.product_views > 0),
            carts: i64::from(self.add_to_carts > 0),
            checkouts: i64::from(self.checkouts > 0),
            purchases: i64::from(self.purchases > 0),
            pages: self.pages,
            micros,
            // One page view and nothing more of it: a bounce.
            bounces: i64::from(self.pages == 1),
            // GA4's engaged session: 10 s or longer, two page views or
            // more, or a purchase.
            engaged: i64::from(micros >= 10_000_000 || self.pages >= 2 || self.purchases > 0),
        };
        let source = self
            .first
            .utm_source
            .clone()
            .or_else(|| self.first.referrer_host.clone())
            .unwrap_or_else(|| "Direct".to_owned());
        let mut rows = vec![
            (('t', String::new()), values),
            (('s', source), values),
            (('d', self.first.device.to_owned()), values),
            (('b', self.first.browser.clone()), values),
        ];
        if let Some(campaign) = &self.first.utm_campaign {
            rows.push((('c', campaign.clone()), values));
        }
        // The landing and the exit page, by path.
        if let Some((_, url)) = &self.first_page {
            rows.push((('l', url_path(url).to_owned()), values));
        }
        if let Some((_, url)) = &self.last_page {
            rows.push((('x', url_path(url).to_owned()), values));
        }
        rows
    }
}

/// A URL's path, as the Pages report groups it: no scheme, host, query or
/// fragment, `/` when that leaves nothing (SQL's `url_path`, migration
/// 0021, is the drift check's copy of this rule).
pub fn url_path(url: &str) -> &str {
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')) =>
        {
            rest.find(['/', '?', '#']).map_or("", |at| &rest[at..])
        }
        _ => url,
    };
    let rest = rest.split('?').next().unwrap_or_default();
    let path = rest.split('#').next().unwrap_or_default();
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// One session's share of a `session_days` row (signed when summed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionDay {
    pub sessions: i64,
    pub product_views: i64,
    pub carts: i64,
    pub checkouts: i64,
    pub purchases: i64,
    pub pages: i64,
    pub micros: i64,
    pub bounces: i64,
    pub engaged: i64,
}

impl SessionDay {
    /// Adds `other` times `sign`.
    pub fn add(&mut self, other: &SessionDay, sign: i64) {
        self.sessions += sign * other.sessions;
        self.product_views += sign * other.product_views;
        self.carts += sign * other.carts;
        self.checkouts += sign * other.checkouts;
        self.purchases += sign * other.purchases;
        self.pages += sign * other.pages;
        self.micros += sign * other.micros;
        self.bounces += sign * other.bounces;
        self.engaged += sign * other.engaged;
    }

    pub fn is_zero(&self) -> bool {
        *self == SessionDay::default()
    }
}

pub type SalesKey = (i32, DateTime<Utc>, Currency);

/// Every rollup's deltas from one flush.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deltas {
    pub sales: BTreeMap<SalesKey, SalesDelta>,
    /// (site, bucket, currency, customer) of each counted purchase; the store
    /// adds 1 to `customers` for each one that is new.
    pub customers: BTreeMap<(SalesKey, String), ()>,
    pub products: BTreeMap<(i32, DateTime<Utc>, String, Currency), ProductDelta>,
    pub users: BTreeMap<(i32, String), UserDelta>,
    /// (site, customer): one row per customer however many visitors it
    /// bought from.
    pub customer_activity: BTreeMap<(i32, String), CustomerDelta>,
    pub realtime: BTreeMap<(i32, DateTime<Utc>, String, &'static str), i64>,
    pub sessions: BTreeMap<(i32, String), SessionDelta>,
    /// Changes to an order's revenue alone (site, transaction id): a
    /// signed report that verifies it at its amount (the first report's
    /// amount comes off, the signed one goes on). The store adds it to the
    /// session of the order's first report, which it looks up.
    pub order_revenue: BTreeMap<(i32, String), BTreeMap<Currency, i64>>,
    /// Changes to a visitor's spend alone (site, visitor): a signed report
    /// that confirms an order at another amount than the browser said.
    pub spend: BTreeMap<(i32, String), i64>,
    /// Who was active when, for `member_days`: (site, set, member, time),
    /// the store takes the local day of `time` in the site's zone. Visitors
    /// (set `visitors`) by the quarter hour of each counted event: quarter
    /// hours keep the day exact in every time zone (all offsets are
    /// multiples of 15 minutes) with far fewer keys than instants. Customers
    /// (set `customers XXX`) by the bucket of each new order, like
    /// `hourly_customers`. Signed-in shoppers (set `users`, member the
    /// `user_id`) by the quarter hour of each counted event carrying one.
    pub members: BTreeSet<MemberKey>,
    /// Page views per (site, bucket, path): the store sums them into
    /// `page_days` by the bucket's local day.
    pub pages: BTreeMap<(i32, DateTime<Utc>, String), i64>,
}

/// (site, member set, member, time): see [`Deltas::members`].
pub type MemberKey = (i32, String, String, DateTime<Utc>);

/// A sum in one fold's deltas would not fit in 64 bits. Amounts are
/// bounded per event (`money::MAX_MINOR`), so only a fold of millions of
/// the largest amounts gets here; the flush then sets the event aside as a
/// dead letter rather than wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an amount would overflow a report's total")]
pub struct Overflow;

/// `total += amount`, or [`Overflow`] instead of wrapping.
fn add(total: &mut i64, amount: i64) -> Result<(), Overflow> {
    *total = total.checked_add(amount).ok_or(Overflow)?;
    Ok(())
}

/// The report bucket an instant falls in: its UTC quarter hour. Every time
/// zone's hours start on a quarter hour (India +5:30, Nepal +5:45,
/// Newfoundland −3:30, Chatham +12:45), so the rows keyed by it
/// (`hourly_sales`, `hourly_customers`, `product_performance`, `orders`'
/// `hour` column, which keeps its name) sum into any zone's local hours and
/// days exactly; the reads group them by the site's local hour.
pub fn bucket_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::minutes(15)).unwrap_or(time)
}

fn minute_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::minutes(1)).unwrap_or(time)
}

/// Folds counted events into deltas; [`Overflow`] when a money or unit sum
/// would wrap.
pub fn fold<'a>(counted: impl IntoIterator<Item = (&'a Event, Fate)>) -> Result<Deltas, Overflow> {
    let mut deltas = Deltas::default();
    for (event, fate) in counted {
        fold_one(&mut deltas, event, fate)?;
    }
    Ok(deltas)
}

/// Folds one counted event into `deltas` ([`fold`], an event at a time,
/// for callers that decode events as they go).
pub fn fold_one(deltas: &mut Deltas, event: &Event, fate: Fate) -> Result<(), Overflow> {
    if let Fate::Verifies {
        hour,
        currency,
        old_minor,
        old_tax,
        old_shipping,
    } = fate
    {
        let sales = deltas
            .sales
            .entry((event.site_id, hour, currency))
            .or_default();
        add(&mut sales.revenue_unverified, -old_minor)?;
        sales.orders_unverified -= 1;
        add(&mut sales.tax, -old_tax)?;
        add(&mut sales.shipping, -old_shipping)?;
        if let Some(money) = event.money {
            let sales = deltas
                .sales
                .entry((event.site_id, hour, money.currency))
                .or_default();
            add(&mut sales.revenue_verified, money.minor)?;
            sales.orders_verified += 1;
            add(&mut sales.tax, event.tax.unwrap_or(0))?;
            add(&mut sales.shipping, event.shipping.unwrap_or(0))?;
            // Spend is kept in the site's currency only, as in fold_user.
            let site = event.site_currency;
            let was = if currency == site { old_minor } else { 0 };
            let now = if money.currency == site {
                money.minor
            } else {
                0
            };
            if was != now {
                let key = (event.site_id, event.visitor_id.clone());
                add(deltas.spend.entry(key).or_default(), now - was)?;
                let key = (event.site_id, customer_of(event).to_owned());
                let customer = deltas.customer_activity.entry(key).or_default();
                add(&mut customer.spend, now - was)?;
            }
            // The order's session (its first report's) now holds the
            // signed amount.
            if let Some(transaction) = &event.transaction_id {
                let revenue = deltas
                    .order_revenue
                    .entry((event.site_id, transaction.clone()))
                    .or_default();
                add(revenue.entry(currency).or_default(), -old_minor)?;
                add(revenue.entry(money.currency).or_default(), money.minor)?;
            }
        }
        return Ok(());
    }
    fold_sales(deltas, event, fate)?;
    fold_products(deltas, event, fate)?;
    fold_user(deltas, event, fate)?;
    fold_customer(deltas, event, fate)?;
    fold_session(deltas, event, fate);
    deltas.members.insert((
        event.site_id,
        "visitors".to_owned(),
        event.visitor_id.clone(),
        bucket_of(event.occurred_at),
    ));
    *deltas
        .realtime
        .entry((
            event.site_id,
            minute_of(event.occurred_at),
            event.kind.as_str().to_owned(),
            event.source.as_str(),
        ))
        .or_default() += 1;
    if event.kind == EventType::PageView {
        if let Some(url) = &event.url {
            *deltas
                .pages
                .entry((
                    event.site_id,
                    bucket_of(event.occurred_at),
                    url_path(url).to_owned(),
                ))
                .or_default() += 1;
        }
    }
    Ok(())
}

fn fold_sales(deltas: &mut Deltas, event: &Event, fate: Fate) -> Result<(), Overflow> {
    let Some(money) = event.money else {
        return Ok(());
    };
    match (&event.kind, fate) {
        (EventType::Purchase, Fate::NewOrder) => {
            let key = (event.site_id, bucket_of(event.occurred_at), money.currency);
            let sales = deltas.sales.entry(key).or_default();
            if event.verified {
                add(&mut sales.revenue_verified, money.minor)?;
                sales.orders_verified += 1;
            } else {
                add(&mut sales.revenue_unverified, money.minor)?;
                sales.orders_unverified += 1;
            }
            for item in &event.items {
                add(&mut sales.units, item.quantity)?;
            }
            add(&mut sales.tax, event.tax.unwrap_or(0))?;
            add(&mut sales.shipping, event.shipping.unwrap_or(0))?;
            let customer = customer_of(event).to_owned();
            deltas.members.insert((
                event.site_id,
                format!("customers {}", money.currency.code()),
                customer.clone(),
                key.1,
            ));
            deltas.customers.insert((key, customer), ());
        }
        (EventType::Refund, _) => {
            let hour = match fate {
                Fate::RefundOf { hour } => hour,
                _ => bucket_of(event.occurred_at),
            };
            let sales = deltas
                .sales
                .entry((event.site_id, hour, money.currency))
                .or_default();
            add(&mut sales.refunds, money.minor)?;
            sales.refund_count += 1;
            add(&mut sales.tax, -event.tax.unwrap_or(0))?;
            add(&mut sales.shipping, -event.shipping.unwrap_or(0))?;
        }
        _ => {}
    }
    Ok(())
}

/// Product rows are keyed by the event's currency, or the site's when the
/// event carries no amount (views, carts). Only the events a product row
/// counts touch one. A refund's lines come off the units and revenue of the
/// hour its order is booked to, like the refund itself.
fn fold_products(deltas: &mut Deltas, event: &Event, fate: Fate) -> Result<(), Overflow> {
    let counts = match (&event.kind, fate) {
        (EventType::Purchase, fate) => fate == Fate::NewOrder,
        (kind, _) => matches!(
            kind,
            EventType::ViewItem
                | EventType::ViewItemList
                | EventType::AddToCart
                | EventType::RemoveFromCart
                | EventType::BeginCheckout
                | EventType::Refund
        ),
    };
    if !counts {
        return Ok(());
    }
    let currency = event.money.map_or(event.site_currency, |m| m.currency);
    let hour = match fate {
        Fate::RefundOf { hour } => hour,
        _ => bucket_of(event.occurred_at),
    };
    for item in &event.items {
        let key = (event.site_id, hour, item.item_id.clone(), currency);
        let product = deltas.products.entry(key).or_default();
        product.item_name.clone_from(&item.item_name);
        product.item_category.clone_from(&item.item_category);
        product.item_brand.clone_from(&item.item_brand);
        match (&event.kind, fate) {
            (EventType::ViewItem, _) => product.views += 1,
            (EventType::ViewItemList, _) => product.impressions += 1,
            (EventType::AddToCart, _) => product.add_to_carts += 1,
            (EventType::RemoveFromCart, _) => product.removals += 1,
            (EventType::BeginCheckout, _) => product.checkouts += 1,
            (EventType::Purchase, Fate::NewOrder) => {
                product.purchases += 1;
                add(&mut product.units, item.quantity)?;
                // The parser bounds price × quantity, so the product fits.
                add(
                    &mut product.revenue,
                    item.price.unwrap_or(0) * item.quantity,
                )?;
            }
            (EventType::Refund, _) => {
                product.refunds += 1;
                add(&mut product.units, -item.quantity)?;
                add(
                    &mut product.revenue,
                    -(item.price.unwrap_or(0) * item.quantity),
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn fold_user(deltas: &mut Deltas, event: &Event, fate: Fate) -> Result<(), Overflow> {
    let user = deltas
        .users
        .entry((event.site_id, event.visitor_id.clone()))
        .or_insert_with(|| UserDelta {
            user_id: None,
            first_seen: event.occurred_at,
            last_seen: event.occurred_at,
            events: 0,
            orders: 0,
            spend: 0,
        });
    user.first_seen = user.first_seen.min(event.occurred_at);
    if event.occurred_at >= user.last_seen {
        user.last_seen = event.occurred_at;
    }
    if event.user_id.is_some() {
        user.user_id.clone_from(&event.user_id);
    }
    user.events += 1;
    if let (EventType::Purchase, Fate::NewOrder, Some(money)) = (&event.kind, fate, event.money) {
        user.orders += 1;
        if money.currency == event.site_currency {
            add(&mut user.spend, money.minor)?;
        }
    }
    Ok(())
}

/// Whose order a purchase is: the shop's `user_id`, else the visitor. Each
/// event on its own: an order sent without `user_id` is its visitor's, even
/// from a visitor that was signed in before.
fn customer_of(event: &Event) -> &str {
    event.user_id.as_deref().unwrap_or(&event.visitor_id)
}

/// An event carrying a `user_id` shows that customer active then (its
/// first and last seen, and its quarter hour in the member set `users`);
/// a new order adds to its customer's orders and, in the site's currency,
/// spend.
fn fold_customer(deltas: &mut Deltas, event: &Event, fate: Fate) -> Result<(), Overflow> {
    let at = event.occurred_at;
    if let Some(user) = &event.user_id {
        let customer = deltas
            .customer_activity
            .entry((event.site_id, user.clone()))
            .or_default();
        customer.first_seen = Some(customer.first_seen.map_or(at, |t| t.min(at)));
        customer.last_seen = customer.last_seen.max(Some(at));
        deltas.members.insert((
            event.site_id,
            "users".to_owned(),
            user.clone(),
            bucket_of(at),
        ));
    }
    if let (EventType::Purchase, Fate::NewOrder, Some(money)) = (&event.kind, fate, event.money) {
        let customer = deltas
            .customer_activity
            .entry((event.site_id, customer_of(event).to_owned()))
            .or_default();
        customer.orders += 1;
        if money.currency == event.site_currency {
            add(&mut customer.spend, money.minor)?;
        }
    }
    Ok(())
}

fn fold_session(deltas: &mut Deltas, event: &Event, fate: Fate) {
    let Some(session_id) = &event.session_id else {
        return;
    };
    let first = FirstTouch {
        referrer_host: event.referrer_host.clone(),
        utm_source: event.utm.source.clone(),
        utm_medium: event.utm.medium.clone(),
        utm_campaign: event.utm.campaign.clone(),
        source: event.source.as_str(),
        device: event.client.device,
        browser: event.client.browser.clone(),
        os: event.client.os.clone(),
    };
    let at = event.occurred_at;
    let page = match (&event.kind, &event.url) {
        (EventType::PageView, Some(url)) => Some((at, url.clone())),
        _ => None,
    };
    let mut one = SessionDelta {
        visitor_id: event.visitor_id.clone(),
        started_at: at,
        last_seen: at,
        events: 1,
        pages: i64::from(event.kind == EventType::PageView),
        first_page: page.clone(),
        last_page: page,
        first,
        product_views: 0,
        add_to_carts: 0,
        checkouts: 0,
        purchases: 0,
        revenue: BTreeMap::new(),
    };
    match (&event.kind, fate) {
        (EventType::ViewItem, _) => one.product_views += 1,
        (EventType::AddToCart, _) => one.add_to_carts += 1,
        (EventType::BeginCheckout, _) => one.checkouts += 1,
        (EventType::Purchase, Fate::NewOrder) => {
            one.purchases += 1;
            if let Some(money) = event.money {
                one.add_revenue(&BTreeMap::from([(money.currency, money.minor)]));
            }
        }
        _ => {}
    }
    match deltas.sessions.entry((event.site_id, session_id.clone())) {
        std::collections::btree_map::Entry::Occupied(mut session) => session.get_mut().absorb(&one),
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(one);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::event::{Client, Source, Utm};

    fn event(
        id: &str,
        kind: EventType,
        at: &str,
        url: Option<&str>,
        referrer: Option<&str>,
    ) -> Event {
        let usd = Currency::parse("USD").unwrap();
        Event {
            site_id: 1,
            site_currency: usd,
            id: id.into(),
            kind,
            occurred_at: at.parse().unwrap(),
            received_at: at.parse().unwrap(),
            visitor_id: "v".into(),
            session_id: Some("s".into()),
            user_id: None,
            source: Source::Web,
            url: url.map(Into::into),
            referrer: None,
            referrer_host: referrer.map(Into::into),
            title: None,
            utm: Utm::default(),
            currency: usd,
            money: None,
            tax: None,
            shipping: None,
            coupon: None,
            transaction_id: None,
            search_term: None,
            items: Vec::new(),
            props: serde_json::Map::new(),
            client: Client {
                device: "desktop",
                browser: "Firefox".into(),
                os: "Linux".into(),
            },
            price_tier: None,
            verified: false,
        }
    }

    /// A session folded in one window equals the same events folded in
    /// two windows whose rows are merged (the stored row meeting the next
    /// window), in either order: the rule of `SessionDelta::absorb` is
    /// the one the upsert applies.
    #[test]
    fn a_session_split_over_windows_merges_to_the_same_row() {
        let events = [
            event(
                "a",
                EventType::PageView,
                "2026-11-30T10:00:05Z",
                Some("https://s/2"),
                None,
            ),
            event(
                "b",
                EventType::PageView,
                "2026-11-30T10:00:00Z",
                Some("https://s/1"),
                None,
            ),
            // Same instant as b, but it says where the visit came from.
            event(
                "c",
                EventType::ViewItem,
                "2026-11-30T10:00:00Z",
                None,
                Some("news.example"),
            ),
            event(
                "d",
                EventType::PageView,
                "2026-11-30T10:09:00Z",
                Some("https://s/3"),
                None,
            ),
            event(
                "e",
                EventType::AddToCart,
                "2026-11-30T10:09:00Z",
                None,
                None,
            ),
        ];
        let whole = fold(events.iter().map(|e| (e, Fate::Plain))).unwrap();
        let key = (1, "s".to_owned());
        let want = &whole.sessions[&key];
        assert_eq!(want.first.referrer_host.as_deref(), Some("news.example"));
        assert_eq!(want.first_page.as_ref().unwrap().1, "https://s/1");
        assert_eq!(want.last_page.as_ref().unwrap().1, "https://s/3");
        for split in 1..events.len() {
            let (early, late) = events.split_at(split);
            let one = fold(early.iter().map(|e| (e, Fate::Plain))).unwrap();
            let two = fold(late.iter().map(|e| (e, Fate::Plain))).unwrap();
            for (stored, window) in [(&one, &two), (&two, &one)] {
                let mut merged = stored.sessions[&key].clone();
                merged.absorb(&window.sessions[&key]);
                assert_eq!(&merged, want, "split at {split}");
            }
        }
        let rows = want.day_rows();
        assert_eq!(
            rows.len(),
            6,
            "total, source, device, browser, landing and exit page"
        );
        let micros = rows[0].1.micros;
        assert_eq!(micros, 9 * 60 * 1_000_000);
        assert_eq!(
            (rows[0].1.pages, rows[0].1.carts, rows[0].1.product_views),
            (3, 1, 1)
        );
        // Three page views over nine minutes: engaged, not a bounce.
        assert_eq!((rows[0].1.bounces, rows[0].1.engaged), (0, 1));
        assert_eq!(rows[1].0, ('s', "news.example".to_owned()));
        assert_eq!(rows[4].0, ('l', "/1".to_owned()));
        assert_eq!(rows[5].0, ('x', "/3".to_owned()));
    }

    #[test]
    fn a_page_is_its_path_without_host_query_or_fragment() {
        assert_eq!(
            url_path("https://shop.example/p/mug?utm_source=x#top"),
            "/p/mug"
        );
        assert_eq!(url_path("https://shop.example"), "/");
        assert_eq!(url_path("https://shop.example?x=1"), "/");
        assert_eq!(url_path("http://shop.example:8080/a/b/"), "/a/b/");
        assert_eq!(url_path("/relative?x=http://y"), "/relative");
        assert_eq!(url_path("app://screen/Home"), "/Home");
    }
}
