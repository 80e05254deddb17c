//! Rebuilding a site's rollups from its raw events (`server rollups
//! rebuild`): after a bug fix in the fold, a restore, or a hand edit.
//!
//! The rebuild reads stored events back and sends them through the very
//! [`fold`] and upserts live ingestion uses, so there is no second
//! implementation of the rollups to drift from the first. Everything runs in
//! one transaction: the dashboard sees the old rollups until the new ones
//! are complete. The transaction holds the site's rebuild lock; flushes take
//! it shared if they can (see [`busy_sites`]), so events of that site wait
//! for the rebuild instead of landing in rows it is replacing, and events of
//! every other site go on (the flush leaves the busy site's events out).
//!
//! Without a range everything of the site is replaced. With a range (UTC
//! instants, widened to whole report buckets, quarter hours):
//! - the time-keyed rollups (`hourly_sales`, `hourly_customers`,
//!   `product_performance`, `real_time_metrics`) are replaced for those
//!   buckets, from the events of those buckets plus the orders and refunds
//!   booked to them;
//! - the entity rollups (`sessions`, `user_activity`) are replaced for every
//!   visitor seen in the range, from all of that visitor's events, since a
//!   visitor's counters span all time; `customer_activity` likewise for
//!   every customer an event of the range carries (as `user_id` or visitor
//!   id), from every event carrying it, on whichever visitor.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{postgres::PgRow, PgPool, Postgres, Row, Transaction};

use super::rollups;
use crate::{
    aggregate::fold::{bucket_of, fold, Deltas, Fate},
    ingest::{
        event::{
            device_from_stored, tier_from_stored, Client, Event, EventType, Item, Money, Source,
            Utm,
        },
        money::Currency,
    },
};

/// First key of the advisory lock a rebuild holds per site (second: site id).
const REBUILD_LOCK: i32 = 0x5350_5242; // "SPRB"

/// Events read back and folded per round trip (`FETCH`'s count).
const CHUNK: usize = 2_000;
const FETCH: &str = "FETCH 2000 FROM rebuild_events";

/// Takes the rebuild lock of each site in a flush, shared, without waiting;
/// returns the sites a rebuild holds (their lock was not taken). Flushes
/// never wait for each other, and none waits for a rebuild.
pub async fn busy_sites(
    tx: &mut Transaction<'_, Postgres>,
    sites: &[i32],
) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s FROM UNNEST($2::int[]) AS s \
         WHERE NOT pg_try_advisory_xact_lock_shared($1, s) ORDER BY s",
    )
    .bind(REBUILD_LOCK)
    .bind(sites)
    .fetch_all(&mut **tx)
    .await
}

/// What a rebuild did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Events folded into the time-keyed rollups.
    pub hour_events: u64,
    /// Events folded into sessions and visitors.
    pub visitor_events: u64,
    /// Visitors whose rows were rebuilt.
    pub visitors: u64,
}

/// The site a rebuild is for.
pub struct Target {
    pub site_id: i32,
    pub currency: Currency,
}

/// Replaces the site's rollups (all of them, or those of `range`) with a
/// refold of its raw events. `progress` hears the events folded so far.
pub async fn rebuild(
    pool: &PgPool,
    site: &Target,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Rebuilt, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rebuilt = rebuild_in(&mut tx, site, range, progress).await?;
    tx.commit().await?;
    Ok(rebuilt)
}

/// Takes the site's rebuild lock in `tx`, waiting for the flushes and
/// folds that hold it shared: until `tx` ends no acknowledgement or fold
/// writes the site's rollups or its fold log.
pub async fn lock(tx: &mut Transaction<'_, Postgres>, site_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(REBUILD_LOCK)
        .bind(site_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// [`rebuild`] inside the caller's transaction (a time-zone change runs
/// it in the transaction that changes the zone).
pub async fn rebuild_in(
    tx: &mut Transaction<'_, Postgres>,
    site: &Target,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Rebuilt, sqlx::Error> {
    lock(tx, site.site_id).await?;
    // No acknowledgement or fold of the site runs now (both hold the lock
    // shared), so the fold log's rows of the site are all committed, and
    // their events are in what is refolded below. A whole-site rebuild
    // replaces everything: drop them. A range rebuild keeps the rows
    // outside its range: fold them first, then replace the range.
    if range.is_some() {
        crate::aggregate::stage::fold_all_in(tx, site.site_id).await?;
    } else {
        sqlx::query("DELETE FROM fold_pending WHERE site_id = $1")
            .bind(site.site_id)
            .execute(&mut **tx)
            .await?;
    }
    // A range grows to whole local days of the site's zone: the day tables
    // (products, customer credits per local hour) then hold only days the
    // rebuild replaces whole, or leaves alone.
    let (start, end) = match range {
        Some((start, end)) => {
            let (start, end): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
                "SELECT date_trunc('day', $2 AT TIME ZONE s.timezone) AT TIME ZONE s.timezone, \
                        (date_trunc('day', ($3 - interval '1 microsecond') AT TIME ZONE s.timezone) \
                         + interval '1 day') AT TIME ZONE s.timezone \
                   FROM sites s WHERE s.site_id = $1",
            )
            .bind(site.site_id)
            .bind(start)
            .bind(end.max(start + TimeDelta::microseconds(1)))
            .fetch_one(&mut **tx)
            .await?;
            (Some(bucket_of(start)), Some(ceil_bucket(end)))
        }
        None => (None, None),
    };
    // The scope as a one-row table: cursors cannot take parameters.
    sqlx::query(
        "CREATE TEMP TABLE rebuild_scope ON COMMIT DROP AS \
         SELECT $1::int AS site_id, COALESCE($2::timestamptz, '-infinity') AS start_at, \
                COALESCE($3::timestamptz, 'infinity') AS end_at",
    )
    .bind(site.site_id)
    .bind(start)
    .bind(end)
    .execute(&mut **tx)
    .await?;
    if range.is_some() {
        for &statement in &SCOPE {
            sqlx::query(statement).execute(&mut **tx).await?;
        }
        forget_days(tx, site.site_id).await?;
        for &statement in &CLEAR_RANGE {
            sqlx::query(statement).execute(&mut **tx).await?;
        }
    } else {
        // A whole site needs no visitor scope: everything of it is replaced.
        for &statement in &CLEAR_SITE {
            sqlx::query(statement).execute(&mut **tx).await?;
        }
    }
    let mut rebuilt = Rebuilt::default();
    if let (Some(start), Some(end)) = (start, end) {
        let mut done = 0;
        let keep = Keep::Hours { start, end };
        rebuilt.hour_events = refold(tx, site, HOUR_EVENTS, &keep, &mut |n| {
            done = n;
            progress(n);
        })
        .await?;
        let keep = Keep::Visitors(visitor_set(tx).await?);
        rebuilt.visitor_events = refold(tx, site, VISITOR_EVENTS, &keep, &mut |n| {
            progress(done + n);
        })
        .await?;
        rebuilt.visitors = count(tx, "SELECT count(*) FROM rebuild_visitors").await?;
    } else {
        // One pass feeds every rollup: the two event sets are the same.
        rebuilt.hour_events = refold(tx, site, HOUR_EVENTS, &Keep::All, progress).await?;
        rebuilt.visitor_events = rebuilt.hour_events;
        rebuilt.visitors = count(
            tx,
            "SELECT count(*) FROM user_activity u, rebuild_scope r WHERE u.site_id = r.site_id",
        )
        .await?;
    }
    // Every day table came along: the upserts that wrote the rebuilt rows
    // moved their days, from what `forget_days` or the clearing left.
    Ok(rebuilt)
}

/// Takes out of the day tables what the rebuilt rows held, before those
/// rows are deleted. The range's local days (whole, as the range is) lose
/// their session and product days outright: every session that started
/// in them and every product hour of them is rebuilt, so a damaged day
/// comes back right. Rebuilt sessions that started on other days take
/// their day rows back out (by their stored values), and every rebuilt
/// session its landing and exit counts (`page_visitor_days`). Every visitor and
/// customer whose events are folded again loses its member days (and
/// their steps) and its customer days.
async fn forget_days(tx: &mut Transaction<'_, Postgres>, site_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM session_days t USING rebuild_scope r, sites s \
         WHERE t.site_id = r.site_id AND s.site_id = r.site_id \
           AND t.day >= (r.start_at AT TIME ZONE s.timezone)::date \
           AND t.day < (r.end_at AT TIME ZONE s.timezone)::date",
    )
    .execute(&mut **tx)
    .await?;
    // Every rebuilt session's landing count, wherever it started: the
    // counts are per visitor and path, not per day of the range.
    let rebuilt: Vec<String> = sqlx::query_scalar("SELECT session_id FROM rebuild_sessions")
        .fetch_all(&mut **tx)
        .await?;
    super::upserts::forget_session_pages(tx, site_id, &rebuilt).await?;
    let elsewhere: Vec<String> = sqlx::query_scalar(
        "SELECT s.session_id FROM sessions s, rebuild_scope r \
         WHERE s.site_id = r.site_id AND s.session_id IN (SELECT session_id FROM rebuild_sessions) \
           AND (s.started_at < r.start_at OR s.started_at >= r.end_at)",
    )
    .fetch_all(&mut **tx)
    .await?;
    super::upserts::forget_sessions(tx, site_id, &elsewhere).await?;
    let customers: Vec<String> = sqlx::query_scalar("SELECT customer FROM rebuild_customers")
        .fetch_all(&mut **tx)
        .await?;
    super::upserts::forget_members(tx, site_id, &customers).await?;
    for statement in [
        "DELETE FROM customer_days t USING rebuild_scope r \
         WHERE t.site_id = r.site_id AND t.customer IN (SELECT customer FROM rebuild_customers)",
        "DELETE FROM product_days t USING rebuild_scope r, sites s \
         WHERE t.site_id = r.site_id AND s.site_id = r.site_id \
           AND t.day >= (r.start_at AT TIME ZONE s.timezone)::date \
           AND t.day < (r.end_at AT TIME ZONE s.timezone)::date",
        "DELETE FROM page_days t USING rebuild_scope r, sites s \
         WHERE t.site_id = r.site_id AND s.site_id = r.site_id \
           AND t.day >= (r.start_at AT TIME ZONE s.timezone)::date \
           AND t.day < (r.end_at AT TIME ZONE s.timezone)::date",
        // What the sessions left: days with nothing in them.
        "DELETE FROM session_days t USING rebuild_scope r \
         WHERE t.site_id = r.site_id AND t.sessions = 0 AND t.product_views = 0 AND t.carts = 0 \
           AND t.checkouts = 0 AND t.purchases = 0 AND t.pages = 0 AND t.micros = 0 \
           AND t.bounces = 0 AND t.engaged = 0",
    ] {
        sqlx::query(statement).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn count(tx: &mut Transaction<'_, Postgres>, sql: &'static str) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut **tx).await?;
    Ok(n as u64)
}

fn ceil_bucket(time: DateTime<Utc>) -> DateTime<Utc> {
    let bucket = bucket_of(time);
    if bucket == time {
        bucket
    } else {
        bucket + TimeDelta::minutes(15)
    }
}

/// Every rollup row of the site (a rebuild without a range), day tables
/// included: the refold's upserts write them again.
const CLEAR_SITE: [&str; 16] = [
    "DELETE FROM hourly_sales t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM hourly_customers t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM product_performance t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM real_time_metrics t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM sessions t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM user_activity t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM customer_activity t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM session_days t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM product_days t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM member_days t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM member_steps t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM member_day_totals t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM customer_days t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM page_days t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM page_visitor_days t USING rebuild_scope r WHERE t.site_id = r.site_id",
    "DELETE FROM landing_revenue_days t USING rebuild_scope r WHERE t.site_id = r.site_id",
];

/// Chooses the affected visitors, sessions and customers of a range.
const SCOPE: [&str; 4] = [
    "CREATE TEMP TABLE rebuild_visitors ON COMMIT DROP AS \
     SELECT DISTINCT e.visitor_id FROM events e, rebuild_scope r \
     WHERE e.site_id = r.site_id AND e.occurred_at >= r.start_at AND e.occurred_at < r.end_at",
    // Their sessions: those the events name, and those the rollup has.
    "CREATE TEMP TABLE rebuild_sessions ON COMMIT DROP AS \
     SELECT e.session_id FROM events e, rebuild_scope r \
     WHERE e.site_id = r.site_id AND e.session_id IS NOT NULL \
       AND e.visitor_id IN (SELECT visitor_id FROM rebuild_visitors) \
     UNION SELECT s.session_id FROM sessions s, rebuild_scope r \
     WHERE s.site_id = r.site_id AND s.visitor_id IN (SELECT visitor_id FROM rebuild_visitors)",
    // The customers the range's events carry: their user ids, and their
    // visitors (a customer is its visitor when it bought without user id).
    "CREATE TEMP TABLE rebuild_customers ON COMMIT DROP AS \
     SELECT e.user_id AS customer FROM events e, rebuild_scope r \
     WHERE e.site_id = r.site_id AND e.user_id IS NOT NULL \
       AND e.occurred_at >= r.start_at AND e.occurred_at < r.end_at \
     UNION SELECT visitor_id FROM rebuild_visitors",
    "ANALYZE rebuild_visitors, rebuild_sessions, rebuild_customers",
];

/// Clears the range's rows the rebuild replaces (after [`forget_days`]).
const CLEAR_RANGE: [&str; 7] = [
    "DELETE FROM hourly_sales t USING rebuild_scope r \
     WHERE t.site_id = r.site_id AND t.hour >= r.start_at AND t.hour < r.end_at",
    "DELETE FROM hourly_customers t USING rebuild_scope r \
     WHERE t.site_id = r.site_id AND t.hour >= r.start_at AND t.hour < r.end_at",
    "DELETE FROM product_performance t USING rebuild_scope r \
     WHERE t.site_id = r.site_id AND t.hour >= r.start_at AND t.hour < r.end_at",
    "DELETE FROM real_time_metrics t USING rebuild_scope r \
     WHERE t.site_id = r.site_id AND t.minute >= r.start_at AND t.minute < r.end_at",
    "DELETE FROM sessions t USING rebuild_scope r \
     WHERE t.site_id = r.site_id AND t.session_id IN (SELECT session_id FROM rebuild_sessions)",
    "DELETE FROM user_activity t USING rebuild_scope r \
     WHERE t.site_id = r.site_id AND t.visitor_id IN (SELECT visitor_id FROM rebuild_visitors)",
    "DELETE FROM customer_activity t USING rebuild_scope r \
     WHERE t.site_id = r.site_id AND t.customer IN (SELECT customer FROM rebuild_customers)",
];

/// The stored columns an [`Event`] is rebuilt from.
macro_rules! event_columns {
    () => {
        "e.event_id, e.event_type, e.occurred_at, e.received_at, e.visitor_id, e.session_id, \
         e.user_id, e.source, e.url, e.referrer, e.referrer_host, e.title, e.utm_source, \
         e.utm_medium, e.utm_campaign, e.currency::text AS currency, e.value_minor, \
         e.transaction_id, e.search_term, e.items::text AS items, e.props::text AS props, \
         e.device, e.browser, e.os, e.price_tier, e.verified, e.tax_minor, e.shipping_minor, \
         e.coupon"
    };
}

/// Events of the range's hours, and orders' events booked to those hours
/// (a late refund, the signed report of an order placed in the range).
const HOUR_EVENTS: &str = concat!(
    "DECLARE rebuild_events NO SCROLL CURSOR FOR SELECT ",
    event_columns!(),
    " FROM events e, rebuild_scope r \
     WHERE e.site_id = r.site_id AND e.occurred_at >= r.start_at AND e.occurred_at < r.end_at \
     UNION ALL SELECT ",
    event_columns!(),
    " FROM orders o JOIN events e ON e.site_id = o.site_id AND e.transaction_id = o.transaction_id, \
       rebuild_scope r \
     WHERE o.site_id = r.site_id AND o.hour >= r.start_at AND o.hour < r.end_at \
       AND NOT (e.occurred_at >= r.start_at AND e.occurred_at < r.end_at)"
);

/// Every event of the affected visitors and sessions, and every event that
/// carries an affected customer, whenever it happened.
const VISITOR_EVENTS: &str = concat!(
    "DECLARE rebuild_events NO SCROLL CURSOR FOR SELECT ",
    event_columns!(),
    " FROM events e, rebuild_scope r \
     WHERE e.site_id = r.site_id AND (e.visitor_id IN (SELECT visitor_id FROM rebuild_visitors) \
       OR e.session_id IN (SELECT session_id FROM rebuild_sessions) \
       OR e.user_id IN (SELECT customer FROM rebuild_customers) \
       OR e.visitor_id IN (SELECT customer FROM rebuild_customers))"
);

/// Which of a refold's deltas land: the others belong to rows the rebuild
/// did not clear.
enum Keep {
    All,
    Hours {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    Visitors(Visitors),
}

struct Visitors {
    visitors: std::collections::HashSet<String>,
    sessions: std::collections::HashSet<String>,
    customers: std::collections::HashSet<String>,
}

async fn visitor_set(tx: &mut Transaction<'_, Postgres>) -> Result<Visitors, sqlx::Error> {
    let visitors = sqlx::query_scalar("SELECT visitor_id FROM rebuild_visitors")
        .fetch_all(&mut **tx)
        .await?;
    let sessions = sqlx::query_scalar("SELECT session_id FROM rebuild_sessions")
        .fetch_all(&mut **tx)
        .await?;
    let customers = sqlx::query_scalar("SELECT customer FROM rebuild_customers")
        .fetch_all(&mut **tx)
        .await?;
    Ok(Visitors {
        visitors: visitors.into_iter().collect(),
        sessions: sessions.into_iter().collect(),
        customers: customers.into_iter().collect(),
    })
}

impl Keep {
    fn retain(&self, deltas: &mut Deltas) {
        match self {
            Self::All => {}
            Self::Hours { start, end } => {
                let within = |t: &DateTime<Utc>| t >= start && t < end;
                deltas.sales.retain(|(_, hour, _), _| within(hour));
                deltas
                    .customers
                    .retain(|((_, hour, _), _), ()| within(hour));
                deltas.products.retain(|(_, hour, _, _), _| within(hour));
                deltas
                    .realtime
                    .retain(|(_, minute, _, _), _| within(minute));
                deltas.pages.retain(|(_, bucket, _), _| within(bucket));
                deltas.users.clear();
                deltas.customer_activity.clear();
                deltas.sessions.clear();
                deltas.order_revenue.clear();
            }
            Self::Visitors(set) => {
                deltas.sales.clear();
                deltas.customers.clear();
                deltas.products.clear();
                deltas.realtime.clear();
                deltas.pages.clear();
                deltas.users.retain(|(_, v), _| set.visitors.contains(v));
                deltas
                    .customer_activity
                    .retain(|(_, c), _| set.customers.contains(c));
                deltas.sessions.retain(|(_, s), _| set.sessions.contains(s));
                // A refold meets no verification: since migration 0011 an
                // order keeps one purchase row, its first report's, which
                // holds the signed amount once verified (its `NewOrder`
                // brings it).
                deltas.order_revenue.clear();
            }
        }
    }
}

/// Reads the cursor `declare` opens chunk by chunk, folds and applies each
/// chunk; returns the number of events read.
async fn refold(
    tx: &mut Transaction<'_, Postgres>,
    site: &Target,
    declare: &'static str,
    keep: &Keep,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, sqlx::Error> {
    sqlx::query(declare).execute(&mut **tx).await?;
    let mut read = 0;
    loop {
        let rows = sqlx::query(FETCH).fetch_all(&mut **tx).await?;
        if rows.is_empty() {
            break;
        }
        let events = rows
            .iter()
            .map(|row| event_from_row(row, site))
            .collect::<Result<Vec<_>, _>>()?;
        let fates = fates(tx, site.site_id, &events).await?;
        let mut deltas = fold(
            events
                .iter()
                .zip(fates)
                .filter_map(|(event, fate)| fate.map(|f| (event, f))),
        )
        // Every one of these events fitted a live flush's fold, and chunks
        // are far smaller than the rows' bound: an overflow means the rows
        // could not hold the sum either, so the rebuild stops and says so.
        .map_err(|overflow| sqlx::Error::Decode(Box::new(overflow)))?;
        keep.retain(&mut deltas);
        // Only the lock-order guarantee of `apply` matters here, not its
        // speed: one chunk at a time, in key order.
        rollups::apply(tx, &deltas).await?;
        read += rows.len() as u64;
        progress(read);
        if rows.len() < CHUNK {
            break;
        }
    }
    sqlx::query("CLOSE rebuild_events")
        .execute(&mut **tx)
        .await?;
    Ok(read)
}

/// A stored purchase report, as the fate of its order's events needs it.
struct Report {
    event_id: String,
    verified: bool,
    occurred_at: DateTime<Utc>,
    currency: Option<Currency>,
    value_minor: i64,
    tax_minor: i64,
    shipping_minor: i64,
}

/// Each event's [`Fate`], as the flush that stored it decided: the first
/// report of an order is `NewOrder` (a browser's report wins over the
/// signed one that came after it, which `Verifies`), refunds are booked to
/// their order's hour. `None`: a repeated report, which live ingestion
/// would not have kept.
async fn fates(
    tx: &mut Transaction<'_, Postgres>,
    site_id: i32,
    events: &[Event],
) -> Result<Vec<Option<Fate>>, sqlx::Error> {
    let mut transactions: Vec<String> = events
        .iter()
        .filter(|e| e.kind.is_order())
        .filter_map(|e| e.transaction_id.clone())
        .collect();
    transactions.sort();
    transactions.dedup();
    let mut reports: HashMap<String, Vec<Report>> = HashMap::new();
    if !transactions.is_empty() {
        let rows = sqlx::query(
            "SELECT transaction_id, event_id, verified, occurred_at, currency::text AS currency, \
                    COALESCE(value_minor, 0) AS value_minor, COALESCE(tax_minor, 0) AS tax_minor, \
                    COALESCE(shipping_minor, 0) AS shipping_minor \
             FROM events WHERE site_id = $1 AND transaction_id = ANY($2) AND event_type = 'purchase'",
        )
        .bind(site_id)
        .bind(&transactions)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let currency: Option<String> = row.try_get("currency")?;
            reports
                .entry(row.try_get("transaction_id")?)
                .or_default()
                .push(Report {
                    event_id: row.try_get("event_id")?,
                    verified: row.try_get("verified")?,
                    occurred_at: row.try_get("occurred_at")?,
                    currency: currency.as_deref().and_then(Currency::parse),
                    value_minor: row.try_get("value_minor")?,
                    tax_minor: row.try_get("tax_minor")?,
                    shipping_minor: row.try_get("shipping_minor")?,
                });
        }
    }
    // The first report: the unverified one if the browser reported the
    // order (a signed report after it only verifies), else the only one.
    let first = |transaction: &str| {
        reports.get(transaction).and_then(|all| {
            all.iter()
                .filter(|r| !r.verified)
                .min_by_key(|r| (r.occurred_at, r.event_id.as_str()))
                .or_else(|| {
                    all.iter()
                        .min_by_key(|r| (r.occurred_at, r.event_id.as_str()))
                })
        })
    };
    Ok(events
        .iter()
        .map(|event| {
            let transaction = event.transaction_id.as_deref().unwrap_or_default();
            match event.kind {
                EventType::Purchase => match first(transaction) {
                    Some(first) if first.event_id == event.id => Some(Fate::NewOrder),
                    Some(first) if event.verified && !first.verified => {
                        first.currency.map(|currency| Fate::Verifies {
                            hour: bucket_of(first.occurred_at),
                            currency,
                            old_minor: first.value_minor,
                            old_tax: first.tax_minor,
                            old_shipping: first.shipping_minor,
                        })
                    }
                    _ => None,
                },
                EventType::Refund => Some(match first(transaction) {
                    Some(first) => Fate::RefundOf {
                        hour: bucket_of(first.occurred_at),
                    },
                    None => Fate::Plain,
                }),
                _ => Some(Fate::Plain),
            }
        })
        .collect())
}

/// An [`Event`] as it was when it was stored (it passed validation then).
fn event_from_row(row: &PgRow, site: &Target) -> Result<Event, sqlx::Error> {
    let decode = |column: &str, what: &str| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: what.into(),
    };
    let kind: String = row.try_get("event_type")?;
    let source: String = row.try_get("source")?;
    let currency: Option<String> = row.try_get("currency")?;
    let value: Option<i64> = row.try_get("value_minor")?;
    let items: String = row.try_get("items")?;
    let props: String = row.try_get("props")?;
    let device: String = row.try_get("device")?;
    let tier: Option<String> = row.try_get("price_tier")?;
    let currency = match currency.as_deref().map(str::trim) {
        Some(code) => Currency::parse(code).ok_or_else(|| decode("currency", "unknown code"))?,
        None => site.currency,
    };
    let money = value.map(|minor| Money { currency, minor });
    Ok(Event {
        site_id: site.site_id,
        site_currency: site.currency,
        id: row.try_get("event_id")?,
        kind: EventType::parse(&kind).ok_or_else(|| decode("event_type", "unknown type"))?,
        occurred_at: row.try_get("occurred_at")?,
        received_at: row.try_get("received_at")?,
        visitor_id: row.try_get("visitor_id")?,
        session_id: row.try_get("session_id")?,
        user_id: row.try_get("user_id")?,
        source: Source::from_stored(&source),
        url: row.try_get("url")?,
        referrer: row.try_get("referrer")?,
        referrer_host: row.try_get("referrer_host")?,
        title: row.try_get("title")?,
        utm: Utm {
            source: row.try_get("utm_source")?,
            medium: row.try_get("utm_medium")?,
            campaign: row.try_get("utm_campaign")?,
        },
        currency,
        money,
        tax: row.try_get("tax_minor")?,
        shipping: row.try_get("shipping_minor")?,
        coupon: row.try_get("coupon")?,
        transaction_id: row.try_get("transaction_id")?,
        search_term: row.try_get("search_term")?,
        items: serde_json::from_str::<Vec<Item>>(&items)
            .map_err(|e| decode("items", &e.to_string()))?,
        props: serde_json::from_str(&props).map_err(|e| decode("props", &e.to_string()))?,
        client: Client {
            device: device_from_stored(&device),
            browser: row.try_get("browser")?,
            os: row.try_get("os")?,
        },
        price_tier: tier_from_stored(tier.as_deref()),
        verified: row.try_get("verified")?,
    })
}
