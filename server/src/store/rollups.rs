//! The flush's statements: bulk `UNNEST` inserts and upserts, one statement
//! per table however large the batch.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};

use super::flush::DeadLetter;
use crate::{
    aggregate::fold::{Deltas, SalesKey},
    ingest::{event::Event, money::Currency},
};

type Tx<'a, 'c> = &'a mut Transaction<'c, Postgres>;

/// Inserts raw events; returns the (site, event id) pairs that were new.
pub async fn insert_events<'e>(
    tx: Tx<'_, '_>,
    events: impl Iterator<Item = &'e Event>,
) -> Result<HashSet<(i32, String)>, sqlx::Error> {
    let mut c = EventColumns::default();
    for event in events {
        c.push(event);
    }
    if c.site_id.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = sqlx::query(
        "INSERT INTO events (site_id, event_id, event_type, occurred_at, received_at, visitor_id, \
            session_id, user_id, source, url, referrer, referrer_host, title, utm_source, utm_medium, \
            utm_campaign, currency, value_minor, transaction_id, search_term, items, props, device, \
            browser, os, price_tier, verified, tax_minor, shipping_minor, coupon) \
         SELECT site_id, event_id, event_type, occurred_at, received_at, visitor_id, session_id, \
            user_id, source, url, referrer, referrer_host, title, utm_source, utm_medium, utm_campaign, \
            currency, value_minor, transaction_id, search_term, items::jsonb, props::jsonb, device, \
            browser, os, price_tier, verified, tax_minor, shipping_minor, coupon \
         FROM UNNEST($1::int[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], \
            $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
            $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::int8[], $19::text[], \
            $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], \
            $27::bool[], $28::int8[], $29::int8[], $30::text[]) \
            AS t(site_id, event_id, event_type, occurred_at, received_at, visitor_id, session_id, \
            user_id, source, url, referrer, referrer_host, title, utm_source, utm_medium, utm_campaign, \
            currency, value_minor, transaction_id, search_term, items, props, device, browser, os, \
            price_tier, verified, tax_minor, shipping_minor, coupon) \
         ON CONFLICT (site_id, event_id) DO NOTHING \
         RETURNING site_id, event_id",
    )
    .bind(c.site_id)
    .bind(c.event_id)
    .bind(c.event_type)
    .bind(c.occurred_at)
    .bind(c.received_at)
    .bind(c.visitor_id)
    .bind(c.session_id)
    .bind(c.user_id)
    .bind(c.source)
    .bind(c.url)
    .bind(c.referrer)
    .bind(c.referrer_host)
    .bind(c.title)
    .bind(c.utm_source)
    .bind(c.utm_medium)
    .bind(c.utm_campaign)
    .bind(c.currency)
    .bind(c.value_minor)
    .bind(c.transaction_id)
    .bind(c.search_term)
    .bind(c.items)
    .bind(c.props)
    .bind(c.device)
    .bind(c.browser)
    .bind(c.os)
    .bind(c.price_tier)
    .bind(c.verified)
    .bind(c.tax_minor)
    .bind(c.shipping_minor)
    .bind(c.coupon)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("site_id")?, row.try_get("event_id")?)))
        .collect()
}

#[derive(Default)]
struct EventColumns {
    site_id: Vec<i32>,
    event_id: Vec<String>,
    event_type: Vec<String>,
    occurred_at: Vec<DateTime<Utc>>,
    received_at: Vec<DateTime<Utc>>,
    visitor_id: Vec<String>,
    session_id: Vec<Option<String>>,
    user_id: Vec<Option<String>>,
    source: Vec<&'static str>,
    url: Vec<Option<String>>,
    referrer: Vec<Option<String>>,
    referrer_host: Vec<Option<String>>,
    title: Vec<Option<String>>,
    utm_source: Vec<Option<String>>,
    utm_medium: Vec<Option<String>>,
    utm_campaign: Vec<Option<String>>,
    currency: Vec<Option<String>>,
    value_minor: Vec<Option<i64>>,
    transaction_id: Vec<Option<String>>,
    search_term: Vec<Option<String>>,
    items: Vec<String>,
    props: Vec<String>,
    device: Vec<&'static str>,
    browser: Vec<String>,
    os: Vec<String>,
    price_tier: Vec<Option<&'static str>>,
    verified: Vec<bool>,
    tax_minor: Vec<Option<i64>>,
    shipping_minor: Vec<Option<i64>>,
    coupon: Vec<Option<String>>,
}

impl EventColumns {
    fn push(&mut self, e: &Event) {
        self.site_id.push(e.site_id);
        self.event_id.push(e.id.clone());
        self.event_type.push(e.kind.as_str().to_owned());
        self.occurred_at.push(e.occurred_at);
        self.received_at.push(e.received_at);
        self.visitor_id.push(e.visitor_id.clone());
        self.session_id.push(e.session_id.clone());
        self.user_id.push(e.user_id.clone());
        self.source.push(e.source.as_str());
        self.url.push(e.url.clone());
        self.referrer.push(e.referrer.clone());
        self.referrer_host.push(e.referrer_host.clone());
        self.title.push(e.title.clone());
        self.utm_source.push(e.utm.source.clone());
        self.utm_medium.push(e.utm.medium.clone());
        self.utm_campaign.push(e.utm.campaign.clone());
        // The currency of the event's amounts, when it has one.
        let priced = e.money.is_some() || e.tax.is_some() || e.shipping.is_some();
        self.currency
            .push(priced.then(|| e.currency.code().to_owned()));
        self.value_minor.push(e.money.map(|m| m.minor));
        self.transaction_id.push(e.transaction_id.clone());
        self.search_term.push(e.search_term.clone());
        self.items
            .push(serde_json::to_string(&e.items).unwrap_or_else(|_| "[]".to_owned()));
        self.props
            .push(serde_json::Value::Object(e.props.clone()).to_string());
        self.device.push(e.client.device);
        self.browser.push(e.client.browser.clone());
        self.os.push(e.client.os.clone());
        self.price_tier.push(e.price_tier);
        self.verified.push(e.verified);
        self.tax_minor.push(e.tax);
        self.shipping_minor.push(e.shipping);
        self.coupon.push(e.coupon.clone());
    }
}

/// Inserts first reports of orders; returns the (site, event id) of those
/// that were the first for their transaction.
pub async fn insert_orders<'e>(
    tx: Tx<'_, '_>,
    purchases: impl Iterator<Item = &'e Event>,
) -> Result<HashSet<(i32, String)>, sqlx::Error> {
    let mut rows: Vec<&Event> = purchases
        .filter(|e| e.money.is_some() && e.transaction_id.is_some())
        .collect();
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    rows.sort_by(|a, b| (a.site_id, &a.transaction_id).cmp(&(b.site_id, &b.transaction_id)));
    let returned = sqlx::query(
        "INSERT INTO orders (site_id, transaction_id, event_id, hour, currency, value_minor, verified, \
            visitor_id, tax_minor, shipping_minor) \
         SELECT * FROM UNNEST($1::int[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], \
            $6::int8[], $7::bool[], $8::text[], $9::int8[], $10::int8[]) \
         ON CONFLICT (site_id, transaction_id) DO NOTHING \
         RETURNING site_id, event_id",
    )
    .bind(rows.iter().map(|e| e.site_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.transaction_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| crate::aggregate::fold::bucket_of(e.occurred_at)).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.money.map(|m| m.currency.code().to_owned())).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.money.map(|m| m.minor)).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.verified).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.visitor_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.tax.unwrap_or(0)).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.shipping.unwrap_or(0)).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    returned
        .iter()
        .map(|row| Ok((row.try_get("site_id")?, row.try_get("event_id")?)))
        .collect()
}

/// An order row as the flush needs it.
pub struct Order {
    pub hour: DateTime<Utc>,
    pub currency: Currency,
    pub value_minor: i64,
    pub verified: bool,
    /// The visitor and `user_id` of the order's first report.
    pub visitor_id: String,
    pub tax_minor: i64,
    pub shipping_minor: i64,
    pub user_id: Option<String>,
}

/// Locks and reads the orders the given events refer to.
pub async fn lock_orders<'e>(
    tx: Tx<'_, '_>,
    events: impl Iterator<Item = &'e Event>,
) -> Result<HashMap<(i32, String), Order>, sqlx::Error> {
    let mut keys: Vec<(i32, String)> = events
        .filter_map(|e| e.transaction_id.clone().map(|t| (e.site_id, t)))
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT o.site_id, o.transaction_id, o.hour, o.currency::text AS currency, o.value_minor, o.verified, \
                o.visitor_id, o.tax_minor, o.shipping_minor, e.user_id \
         FROM orders o JOIN UNNEST($1::int[], $2::text[]) AS k(site_id, transaction_id) \
           ON o.site_id = k.site_id AND o.transaction_id = k.transaction_id \
         LEFT JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id \
         ORDER BY o.site_id, o.transaction_id FOR UPDATE OF o",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut orders = HashMap::new();
    for row in rows {
        let code: String = row.try_get("currency")?;
        let Some(currency) = Currency::parse(&code) else {
            continue;
        };
        orders.insert(
            (row.try_get("site_id")?, row.try_get("transaction_id")?),
            Order {
                hour: row.try_get("hour")?,
                currency,
                value_minor: row.try_get("value_minor")?,
                verified: row.try_get("verified")?,
                visitor_id: row.try_get("visitor_id")?,
                tax_minor: row.try_get("tax_minor")?,
                shipping_minor: row.try_get("shipping_minor")?,
                user_id: row.try_get("user_id")?,
            },
        );
    }
    Ok(orders)
}

/// Marks orders verified by the signed events that reported them: the
/// order and its one purchase row (the first report's) take the signed
/// amount and `verified`; the signed copy itself is then deleted by the
/// flush, so every recomputation from `events` sees one row per order.
pub async fn verify_orders(tx: Tx<'_, '_>, events: &[&Event]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH confirmed AS ( \
           UPDATE orders o SET verified = true, currency = u.currency, value_minor = u.value_minor, \
             tax_minor = coalesce(u.tax_minor, 0), shipping_minor = coalesce(u.shipping_minor, 0) \
           FROM UNNEST($1::int[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[]) \
             AS u(site_id, transaction_id, currency, value_minor, tax_minor, shipping_minor) \
           WHERE o.site_id = u.site_id AND o.transaction_id = u.transaction_id \
           RETURNING o.site_id, o.event_id, o.currency, o.value_minor, u.tax_minor, u.shipping_minor) \
         UPDATE events e SET verified = true, currency = c.currency, value_minor = c.value_minor, \
           tax_minor = c.tax_minor, shipping_minor = c.shipping_minor \
           FROM confirmed c WHERE e.site_id = c.site_id AND e.event_id = c.event_id",
    )
    .bind(events.iter().map(|e| e.site_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.transaction_id.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.money.map(|m| m.currency.code().to_owned())).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.money.map(|m| m.minor)).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.tax).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.shipping).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes events the flush decided not to keep (repeated order reports).
pub async fn delete_events(tx: Tx<'_, '_>, events: &[&Event]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM events e USING UNNEST($1::int[], $2::text[]) AS d(site_id, event_id) \
         WHERE e.site_id = d.site_id AND e.event_id = d.event_id",
    )
    .bind(events.iter().map(|e| e.site_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.id.clone()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn insert_dead_letters(tx: Tx<'_, '_>, dead: &[&DeadLetter]) -> Result<(), sqlx::Error> {
    if dead.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO dead_letters (site_id, received_at, reason, payload) \
         SELECT * FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::text[])",
    )
    .bind(dead.iter().map(|d| d.site_id).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.received_at).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.reason.clone()).collect::<Vec<_>>())
    .bind(
        dead.iter()
            .map(|d| d.payload.replace('\0', "\u{FFFD}"))
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Applies every rollup delta of a flush.
pub async fn apply(tx: Tx<'_, '_>, deltas: &Deltas) -> Result<(), sqlx::Error> {
    let new_sessions = super::upserts::sessions(tx, deltas).await?;
    let new_customers = super::upserts::customers(tx, deltas).await?;
    super::upserts::hourly_sales(tx, deltas, &new_customers).await?;
    super::upserts::products(tx, deltas).await?;
    super::upserts::users(tx, deltas, &new_sessions).await?;
    super::upserts::customer_activity(tx, deltas).await?;
    super::upserts::spend(tx, deltas).await?;
    super::upserts::realtime(tx, deltas).await?;
    super::upserts::pages(tx, deltas).await?;
    super::upserts::members(tx, deltas).await?;
    super::upserts::customer_days(tx, deltas).await?;
    Ok(())
}

/// New sessions per (site, visitor), from the sessions upsert.
pub type NewSessions = HashMap<(i32, String), i64>;
/// New distinct customers per hourly sales row.
pub type NewCustomers = HashMap<SalesKey, i64>;
