//! Rollup upserts: each adds a flush's deltas to its table in one statement.
//! Rows go in key order (the deltas are `BTreeMap`s), so concurrent flushes
//! from several server processes lock rows in the same order.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Row, Transaction};

use super::rollups::{NewCustomers, NewSessions};
use crate::{
    aggregate::fold::{bucket_of, Deltas, FirstTouch, SessionDay, SessionDelta},
    ingest::money::Currency,
};

type Tx<'a, 'c> = &'a mut Transaction<'c, Postgres>;

fn code(currency: &Currency) -> String {
    currency.code().to_owned()
}

/// Sessions: the stored rows of the window's sessions are read `FOR
/// UPDATE` (in key order), merged with the window's parts by the fold's
/// rule ([`SessionDelta::absorb`]) and written back whole; each changed
/// session's `session_days` rows move from its old values to its new ones
/// ([`SessionDelta::day_rows`]). Returns how many sessions each visitor
/// started. How a session row and its day rows are made is the fold's
/// code alone; the SQL only stores and sums (the local day of a start
/// comes from the site's zone in SQL, like every local day).
pub async fn sessions(tx: Tx<'_, '_>, d: &Deltas) -> Result<NewSessions, sqlx::Error> {
    let mut new = NewSessions::new();
    if d.sessions.is_empty() && d.order_revenue.is_empty() {
        return Ok(new);
    }
    let session_revenue = sessions_of_orders(tx, &d.order_revenue).await?;
    // The window's sessions, and those whose revenue alone changes.
    let keys: std::collections::BTreeSet<&(i32, String)> =
        d.sessions.keys().chain(session_revenue.keys()).collect();
    let mut stored = stored_sessions(
        tx,
        keys.iter().map(|(site, _)| *site).collect(),
        keys.iter().map(|(_, id)| id.as_str()).collect(),
    )
    .await?;
    let mut days = SessionDays::new();
    let mut pages = PageMoves::default();
    let mut day_rows = |site: i32, session: &SessionDelta, sign: i64| {
        let bucket = bucket_of(session.started_at);
        let rows = session.day_rows();
        pages.add(site, session, &rows, sign);
        for ((dim, name), values) in rows {
            days.entry((site, bucket, dim, name))
                .or_default()
                .add(&values, sign);
        }
    };
    let mut merged: Vec<((i32, &str), SessionDelta)> = Vec::with_capacity(keys.len());
    for key @ (site, id) in keys {
        let part = d.sessions.get(key);
        let mut session = match (stored.remove(key), part) {
            (Some(mut session), part) => {
                day_rows(*site, &session, -1);
                if let Some(part) = part {
                    session.absorb(part);
                }
                session
            }
            (None, Some(part)) => {
                *new.entry((*site, part.visitor_id.clone())).or_default() += 1;
                part.clone()
            }
            // A verified order of a session that is not stored (its first
            // report had a session id no row holds): nowhere to add it.
            (None, None) => continue,
        };
        if let Some(more) = session_revenue.get(key) {
            session.add_revenue(more);
        }
        day_rows(*site, &session, 1);
        merged.push(((*site, id.as_str()), session));
    }
    let s = &merged;
    sqlx::query(
        "INSERT INTO sessions AS s (site_id, session_id, visitor_id, started_at, last_seen, events, pages, \
            first_page_at, last_page_at, entry_url, exit_url, referrer_host, utm_source, utm_medium, \
            utm_campaign, source, device, browser, os, product_views, add_to_carts, checkouts, purchases, \
            revenue) \
         SELECT * FROM UNNEST($1::int[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], \
            $6::int8[], $7::int8[], $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[], \
            $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], \
            $19::text[], $20::int8[], $21::int8[], $22::int8[], $23::int8[], $24::text[]::jsonb[]) \
         ON CONFLICT (site_id, session_id) DO UPDATE SET \
            started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen, events = EXCLUDED.events, \
            pages = EXCLUDED.pages, first_page_at = EXCLUDED.first_page_at, \
            last_page_at = EXCLUDED.last_page_at, entry_url = EXCLUDED.entry_url, \
            exit_url = EXCLUDED.exit_url, referrer_host = EXCLUDED.referrer_host, \
            utm_source = EXCLUDED.utm_source, utm_medium = EXCLUDED.utm_medium, \
            utm_campaign = EXCLUDED.utm_campaign, source = EXCLUDED.source, device = EXCLUDED.device, \
            browser = EXCLUDED.browser, os = EXCLUDED.os, product_views = EXCLUDED.product_views, \
            add_to_carts = EXCLUDED.add_to_carts, checkouts = EXCLUDED.checkouts, \
            purchases = EXCLUDED.purchases, revenue = EXCLUDED.revenue",
    )
    .bind(s.iter().map(|((site, _), _)| *site).collect::<Vec<_>>())
    .bind(s.iter().map(|((_, id), _)| *id).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.visitor_id.as_str()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.started_at).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.last_seen).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.events).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.pages).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first_page.as_ref().map(|p| p.0)).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.last_page.as_ref().map(|p| p.0)).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first_page.as_ref().map(|p| p.1.as_str())).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.last_page.as_ref().map(|p| p.1.as_str())).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.referrer_host.as_deref()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.utm_source.as_deref()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.utm_medium.as_deref()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.utm_campaign.as_deref()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.source).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.device).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.browser.as_str()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.first.os.as_str()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.product_views).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.add_to_carts).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.checkouts).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.purchases).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| revenue_json(&v.revenue)).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    write_session_days(tx, days).await?;
    pages.write(tx).await?;
    Ok(new)
}

/// Verified orders' revenue changes by the session of each order's first
/// report (orders whose first report had no session id belong to none).
/// Looked up here, not carried by the event: a signed report names its
/// own session, or none.
async fn sessions_of_orders(
    tx: Tx<'_, '_>,
    orders: &BTreeMap<(i32, String), BTreeMap<Currency, i64>>,
) -> Result<BTreeMap<(i32, String), BTreeMap<Currency, i64>>, sqlx::Error> {
    let mut by_session: BTreeMap<(i32, String), BTreeMap<Currency, i64>> = BTreeMap::new();
    if orders.is_empty() {
        return Ok(by_session);
    }
    let rows: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT o.site_id, o.transaction_id, e.session_id \
           FROM UNNEST($1::int[], $2::text[]) AS k(site_id, transaction_id) \
           JOIN orders o ON o.site_id = k.site_id AND o.transaction_id = k.transaction_id \
           JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id \
          WHERE e.session_id IS NOT NULL",
    )
    .bind(orders.keys().map(|(site, _)| *site).collect::<Vec<_>>())
    .bind(orders.keys().map(|(_, t)| t.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    for (site, transaction, session) in rows {
        if let Some(change) = orders.get(&(site, transaction)) {
            let revenue = by_session.entry((site, session)).or_default();
            for (currency, minor) in change {
                let total = revenue.entry(*currency).or_default();
                *total = total.saturating_add(*minor);
            }
        }
    }
    Ok(by_session)
}

/// A session's revenue as stored: `{"EUR": 2598}`, amounts in minor units.
fn revenue_json(revenue: &BTreeMap<Currency, i64>) -> String {
    let map: BTreeMap<&str, i64> = revenue.iter().map(|(c, n)| (c.code(), *n)).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

/// (site, quarter hour of the start, landing path, currency) → signed
/// gross revenue of the sessions that landed there.
type LandingRevenue = BTreeMap<(i32, DateTime<Utc>, String, Currency), i64>;

/// Adds signed landing revenue to `landing_revenue_days` (migration 0027)
/// by the local day of each session's start in the site's zone.
async fn write_landing_revenue(
    tx: Tx<'_, '_>,
    mut revenue: LandingRevenue,
) -> Result<(), sqlx::Error> {
    revenue.retain(|_, n| *n != 0);
    if revenue.is_empty() {
        return Ok(());
    }
    let k: Vec<_> = revenue.iter().collect();
    sqlx::query(
        "INSERT INTO landing_revenue_days AS t (site_id, day, currency, path, revenue) \
         SELECT u.site_id, (u.at AT TIME ZONE st.timezone)::date, u.currency, u.path, sum(u.n)::int8 \
           FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::text[], $5::int8[]) \
                AS u(site_id, at, path, currency, n) \
           JOIN sites st ON st.site_id = u.site_id \
          GROUP BY 1, 2, 3, 4 HAVING sum(u.n) <> 0 ORDER BY 1, 2, 3, 4 \
         ON CONFLICT (site_id, day, currency, path) DO UPDATE SET revenue = t.revenue + EXCLUDED.revenue",
    )
    .bind(k.iter().map(|((site, _, _, _), _)| *site).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, at, _, _), _)| *at).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, path, _), _)| path.as_str()).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, _, c), _)| code(c)).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, n)| **n).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// (site, visitor, dim ('l' landing, 'x' exit), path, quarter hour of the
/// start) → signed sessions: how a window moves `page_visitor_days`
/// (migration 0026).
type PageVisitors = BTreeMap<(i32, String, char, String, DateTime<Utc>), i64>;

/// The dimensions of `session_days` whose pages count their visitors.
pub const PAGE_VISITOR_DIMS: [char; 2] = ['l', 'x'];

/// The member set of a landing ('l') or exit ('x') page (SQL's
/// `page_member_set`, migration 0026).
pub fn page_member_set(dim: char, path: &str) -> String {
    match dim {
        'l' => format!("landing {path}"),
        _ => format!("exit {path}"),
    }
}

/// What sessions move besides `session_days`: their landing and exit
/// pages' visitor counts and their landing pages' revenue.
#[derive(Default)]
struct PageMoves {
    visitors: PageVisitors,
    revenue: LandingRevenue,
}

impl PageMoves {
    /// Adds `session`'s landing and exit rows (`rows`, its
    /// [`SessionDelta::day_rows`]) and its [`SessionDelta::revenue_rows`],
    /// times `sign`.
    fn add(
        &mut self,
        site: i32,
        session: &SessionDelta,
        rows: &[((char, String), SessionDay)],
        sign: i64,
    ) {
        let bucket = bucket_of(session.started_at);
        for ((dim, path), _) in rows {
            if PAGE_VISITOR_DIMS.contains(dim) {
                *self
                    .visitors
                    .entry((site, session.visitor_id.clone(), *dim, path.clone(), bucket))
                    .or_default() += sign;
            }
        }
        for ((path, currency), minor) in session.revenue_rows() {
            let total = self
                .revenue
                .entry((site, bucket, path, currency))
                .or_default();
            *total = total.saturating_add(sign.saturating_mul(minor));
        }
    }

    async fn write(self, tx: Tx<'_, '_>) -> Result<(), sqlx::Error> {
        write_page_visitors(tx, self.visitors).await?;
        write_landing_revenue(tx, self.revenue).await
    }
}

/// Adds signed landing and exit sessions to `page_visitor_days`, each on
/// the local day of its start in the site's zone, and moves the page sets'
/// steps by the member days that appeared (a count from 0 to above) or
/// went (back to 0). One statement adds the counts and returns the keys
/// whose membership changed, each with its member's days before (the
/// statement's snapshot does not see its own insert); [`step_change`]
/// turns those into steps. Rows left at 0 are deleted. One writer per site
/// (the fold lock, or a rebuild's) keeps two windows off the same member.
async fn write_page_visitors(tx: Tx<'_, '_>, mut pages: PageVisitors) -> Result<(), sqlx::Error> {
    pages.retain(|_, n| *n != 0);
    if pages.is_empty() {
        return Ok(());
    }
    let k: Vec<_> = pages.iter().collect();
    let rows = sqlx::query(
        "WITH u AS ( \
           SELECT u.site_id, u.visitor, u.dim::\"char\" AS dim, u.path, \
                  (u.at AT TIME ZONE st.timezone)::date AS day, sum(u.n)::int8 AS n \
             FROM UNNEST($1::int[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int8[]) \
                  AS u(site_id, visitor, dim, path, at, n) \
             JOIN sites st ON st.site_id = u.site_id \
            GROUP BY 1, 2, 3, 4, 5 HAVING sum(u.n) <> 0), \
         up AS ( \
           INSERT INTO page_visitor_days AS t (site_id, visitor, dim, path, day, sessions) \
           SELECT * FROM u ORDER BY 1, 2, 3, 4, 5 \
           ON CONFLICT (site_id, visitor, dim, path, day) DO UPDATE \
              SET sessions = t.sessions + EXCLUDED.sessions \
           RETURNING t.site_id, t.visitor, t.dim, t.path, t.day, t.sessions) \
         SELECT up.site_id, up.visitor, up.dim::text AS dim, up.path, up.day, \
                up.sessions > 0 AS member, \
                ARRAY(SELECT o.day FROM page_visitor_days o \
                       WHERE o.site_id = up.site_id AND o.visitor = up.visitor AND o.dim = up.dim \
                         AND o.path = up.path AND o.sessions > 0 ORDER BY o.day) AS before \
           FROM up JOIN u USING (site_id, visitor, dim, path, day) \
          WHERE (up.sessions > 0) <> (up.sessions - u.n > 0) \
          ORDER BY 1, 2, 3, 4, 5",
    )
    .bind(k.iter().map(|((site, ..), _)| *site).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, visitor, ..), _)| visitor.as_str()).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, dim, ..), _)| dim.to_string()).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, _, path, _), _)| path.as_str()).collect::<Vec<_>>())
    .bind(k.iter().map(|((.., at), _)| *at).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, n)| **n).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    // Per (site, visitor, dim, path): the days before, and those gained and lost.
    type Change = (Vec<NaiveDate>, Vec<NaiveDate>, Vec<NaiveDate>);
    let mut changes: BTreeMap<(i32, String, char, String), Change> = BTreeMap::new();
    let mut emptied: Vec<(i32, String, String, String, NaiveDate)> = Vec::new();
    for row in &rows {
        let site: i32 = row.try_get("site_id")?;
        let visitor: String = row.try_get("visitor")?;
        let dim: String = row.try_get("dim")?;
        let path: String = row.try_get("path")?;
        let day: NaiveDate = row.try_get("day")?;
        let change = changes
            .entry((
                site,
                visitor.clone(),
                dim.chars().next().unwrap_or('l'),
                path.clone(),
            ))
            .or_insert_with(|| (Vec::new(), Vec::new(), Vec::new()));
        change.0 = row.try_get("before")?;
        if row.try_get("member")? {
            change.1.push(day);
        } else {
            change.2.push(day);
            emptied.push((site, visitor, dim, path, day));
        }
    }
    let mut steps = Steps::new();
    for ((site, _, dim, path), (before, gained, lost)) in &changes {
        let mut after: Vec<NaiveDate> = before
            .iter()
            .filter(|day| !lost.contains(day))
            .chain(gained)
            .copied()
            .collect();
        after.sort_unstable();
        after.dedup();
        let set = page_member_set(*dim, path);
        step_change(before, &after, |prev, day, n| {
            *steps.entry((*site, set.clone(), prev, day)).or_default() += n;
        });
    }
    if !emptied.is_empty() {
        sqlx::query(
            "DELETE FROM page_visitor_days t \
              USING UNNEST($1::int[], $2::text[], $3::text[], $4::text[], $5::date[]) \
                    AS u(site_id, visitor, dim, path, day) \
              WHERE t.site_id = u.site_id AND t.visitor = u.visitor AND t.dim = u.dim::\"char\" \
                AND t.path = u.path AND t.day = u.day AND t.sessions = 0",
        )
        .bind(emptied.iter().map(|e| e.0).collect::<Vec<_>>())
        .bind(emptied.iter().map(|e| e.1.as_str()).collect::<Vec<_>>())
        .bind(emptied.iter().map(|e| e.2.as_str()).collect::<Vec<_>>())
        .bind(emptied.iter().map(|e| e.3.as_str()).collect::<Vec<_>>())
        .bind(emptied.iter().map(|e| e.4).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    write_steps(tx, steps).await
}

/// Takes the stored sessions `ids` of `site` out of `page_visitor_days`
/// and the page sets' steps (their landing and exit rows, negated, by the
/// same [`SessionDelta::day_rows`]) and out of `landing_revenue_days` (by
/// [`SessionDelta::revenue_rows`]): a range rebuild, before it deletes and
/// folds them again.
pub async fn forget_session_pages(
    tx: Tx<'_, '_>,
    site: i32,
    ids: &[String],
) -> Result<(), sqlx::Error> {
    let stored = stored_sessions(
        tx,
        vec![site; ids.len()],
        ids.iter().map(String::as_str).collect(),
    )
    .await?;
    let mut pages = PageMoves::default();
    for ((site, _), session) in &stored {
        pages.add(*site, session, &session.day_rows(), -1);
    }
    pages.write(tx).await
}

/// (site, quarter hour of the start, dim, name) → signed sum of sessions'
/// day rows. By quarter hour, not instant: every zone's days start on one,
/// so the local day is the same, and the sessions of a window that started
/// in the same quarter merge here into one row per dimension (the upsert
/// then sends hundreds of rows, not one per session and dimension).
type SessionDays = BTreeMap<(i32, DateTime<Utc>, char, String), SessionDay>;

/// Adds signed day rows to `session_days`, each on the local day of its
/// session's start in the site's zone.
async fn write_session_days(tx: Tx<'_, '_>, mut days: SessionDays) -> Result<(), sqlx::Error> {
    days.retain(|_, values| !values.is_zero());
    if days.is_empty() {
        return Ok(());
    }
    let k: Vec<_> = days.iter().collect();
    sqlx::query(
        "INSERT INTO session_days AS t \
         SELECT u.site_id, (u.started_at AT TIME ZONE st.timezone)::date, u.dim::\"char\", u.name, \
                sum(u.sessions), sum(u.product_views), sum(u.carts), sum(u.checkouts), \
                sum(u.purchases), sum(u.pages), sum(u.micros), sum(u.bounces), sum(u.engaged) \
           FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::text[], $5::int8[], $6::int8[], \
                $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], \
                $13::int8[]) \
                AS u(site_id, started_at, dim, name, sessions, product_views, carts, checkouts, \
                     purchases, pages, micros, bounces, engaged) \
           JOIN sites st ON st.site_id = u.site_id \
          GROUP BY 1, 2, 3, 4 \
         HAVING sum(u.sessions) <> 0 OR sum(u.product_views) <> 0 OR sum(u.carts) <> 0 \
             OR sum(u.checkouts) <> 0 OR sum(u.purchases) <> 0 OR sum(u.pages) <> 0 \
             OR sum(u.micros) <> 0 OR sum(u.bounces) <> 0 OR sum(u.engaged) <> 0 \
          ORDER BY 1, 2, 3, 4 \
         ON CONFLICT (site_id, day, dim, name) DO UPDATE SET \
            sessions = t.sessions + EXCLUDED.sessions, \
            product_views = t.product_views + EXCLUDED.product_views, \
            carts = t.carts + EXCLUDED.carts, checkouts = t.checkouts + EXCLUDED.checkouts, \
            purchases = t.purchases + EXCLUDED.purchases, pages = t.pages + EXCLUDED.pages, \
            micros = t.micros + EXCLUDED.micros, bounces = t.bounces + EXCLUDED.bounces, \
            engaged = t.engaged + EXCLUDED.engaged",
    )
    .bind(k.iter().map(|((site, _, _, _), _)| *site).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, at, _, _), _)| *at).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, dim, _), _)| dim.to_string()).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, _, name), _)| name.as_str()).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.sessions).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.product_views).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.carts).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.checkouts).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.purchases).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.pages).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.micros).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.bounces).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, v)| v.engaged).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The `sessions` columns the fold's [`SessionDelta`] is read from.
macro_rules! session_columns {
    () => {
        "s.site_id, s.session_id, s.visitor_id, s.started_at, s.last_seen, \
         s.events, s.pages, s.first_page_at, s.last_page_at, s.entry_url, s.exit_url, \
         s.referrer_host, s.utm_source, s.utm_medium, s.utm_campaign, s.source, s.device, \
         s.browser, s.os, s.product_views, s.add_to_carts, s.checkouts, s.purchases, \
         s.revenue::text AS revenue"
    };
}

/// The stored rows of these sessions, locked, as the fold's type.
async fn stored_sessions(
    tx: Tx<'_, '_>,
    sites: Vec<i32>,
    ids: Vec<&str>,
) -> Result<HashMap<(i32, String), SessionDelta>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions s JOIN UNNEST($1::int[], $2::text[]) AS k(site_id, session_id) \
            ON s.site_id = k.site_id AND s.session_id = k.session_id \
         ORDER BY s.site_id, s.session_id FOR UPDATE OF s"
    ))
    .bind(sites)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                (row.try_get("site_id")?, row.try_get("session_id")?),
                session_of(row)?,
            ))
        })
        .collect()
}

/// The sessions of `site` that started in `[from, until)`, as the fold's
/// type: what a comparison cut inside a day counts that day's
/// `session_days` rows from, by the same [`SessionDelta::day_rows`].
pub async fn sessions_started(
    pool: &sqlx::PgPool,
    site: i32,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<SessionDelta>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions s WHERE s.site_id = $1 AND s.started_at >= $2 AND s.started_at < $3"
    ))
    .bind(site)
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    rows.iter().map(session_of).collect()
}

fn session_of(row: &sqlx::postgres::PgRow) -> Result<SessionDelta, sqlx::Error> {
    let page = |at: Option<DateTime<Utc>>, url: Option<String>| at.zip(url);
    let source: String = row.try_get("source")?;
    let device: String = row.try_get("device")?;
    Ok(SessionDelta {
        visitor_id: row.try_get("visitor_id")?,
        started_at: row.try_get("started_at")?,
        last_seen: row.try_get("last_seen")?,
        events: row.try_get("events")?,
        pages: row.try_get("pages")?,
        first_page: page(row.try_get("first_page_at")?, row.try_get("entry_url")?),
        last_page: page(row.try_get("last_page_at")?, row.try_get("exit_url")?),
        first: FirstTouch {
            referrer_host: row.try_get("referrer_host")?,
            utm_source: row.try_get("utm_source")?,
            utm_medium: row.try_get("utm_medium")?,
            utm_campaign: row.try_get("utm_campaign")?,
            source: crate::ingest::event::Source::from_stored(&source).as_str(),
            device: crate::ingest::event::device_from_stored(&device),
            browser: row.try_get("browser")?,
            os: row.try_get("os")?,
        },
        product_views: row.try_get("product_views")?,
        add_to_carts: row.try_get("add_to_carts")?,
        checkouts: row.try_get("checkouts")?,
        purchases: row.try_get("purchases")?,
        revenue: revenue_of(row.try_get("revenue")?)?,
    })
}

/// A stored session's revenue (`revenue_json`'s text).
fn revenue_of(text: String) -> Result<BTreeMap<Currency, i64>, sqlx::Error> {
    let map: BTreeMap<String, i64> =
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    map.into_iter()
        .map(|(code, minor)| {
            Currency::parse(&code)
                .map(|c| (c, minor))
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown currency {code:?}").into()))
        })
        .collect()
}

/// Takes the stored sessions `ids` of `site` out of `session_days` (their
/// day rows, negated, by the same [`SessionDelta::day_rows`]) and deletes
/// them: a range rebuild, before it folds them again.
pub async fn forget_sessions(tx: Tx<'_, '_>, site: i32, ids: &[String]) -> Result<(), sqlx::Error> {
    let stored = stored_sessions(
        tx,
        vec![site; ids.len()],
        ids.iter().map(String::as_str).collect(),
    )
    .await?;
    let mut days = SessionDays::new();
    for ((site, _), session) in &stored {
        for ((dim, name), values) in session.day_rows() {
            days.entry((*site, bucket_of(session.started_at), dim, name))
                .or_default()
                .add(&values, -1);
        }
    }
    write_session_days(tx, days).await?;
    sqlx::query("DELETE FROM sessions WHERE site_id = $1 AND session_id = ANY($2)")
        .bind(site)
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records who bought in which quarter; returns how many customers each
/// quarter credits: a customer new to the quarter whose local hour (in the
/// site's zone) has no other quarter of theirs yet, stored or in this
/// flush, once (migration 0014). The quarters of a local hour then sum to
/// its distinct customers. The credit reads the customer's other quarters:
/// it needs one writer per site (the fold lock, or a rebuild's lock), as
/// every writer of the rollups has.
pub async fn customers(tx: Tx<'_, '_>, d: &Deltas) -> Result<NewCustomers, sqlx::Error> {
    let mut new = NewCustomers::new();
    if d.customers.is_empty() {
        return Ok(new);
    }
    let keys: Vec<_> = d.customers.keys().collect();
    let rows = sqlx::query(
        "WITH inserted AS ( \
           INSERT INTO hourly_customers (site_id, hour, currency, customer) \
           SELECT * FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::text[]) \
           ON CONFLICT DO NOTHING RETURNING site_id, hour, currency, customer), \
         placed AS ( \
           SELECT n.*, s.timezone, date_trunc('hour', n.hour AT TIME ZONE s.timezone) AS local_hour, \
                  row_number() OVER (PARTITION BY n.site_id, n.customer, n.currency, \
                                     date_trunc('hour', n.hour AT TIME ZONE s.timezone) \
                                     ORDER BY n.hour) AS nth \
             FROM inserted n JOIN sites s ON s.site_id = n.site_id) \
         SELECT p.site_id, p.hour, p.currency::text AS currency FROM placed p \
          WHERE p.nth = 1 AND NOT EXISTS ( \
            SELECT 1 FROM hourly_customers o \
             WHERE o.site_id = p.site_id AND o.customer = p.customer AND o.currency = p.currency \
               AND o.hour > p.hour - interval '2 hours' AND o.hour < p.hour + interval '2 hours' \
               AND o.hour <> p.hour \
               AND date_trunc('hour', o.hour AT TIME ZONE p.timezone) = p.local_hour)",
    )
    .bind(
        keys.iter()
            .map(|((site, _, _), _)| *site)
            .collect::<Vec<_>>(),
    )
    .bind(
        keys.iter()
            .map(|((_, hour, _), _)| *hour)
            .collect::<Vec<_>>(),
    )
    .bind(
        keys.iter()
            .map(|((_, _, currency), _)| code(currency))
            .collect::<Vec<_>>(),
    )
    .bind(
        keys.iter()
            .map(|(_, customer)| customer.clone())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let currency: String = row.try_get("currency")?;
        if let Some(currency) = Currency::parse(&currency) {
            *new.entry((row.try_get("site_id")?, row.try_get("hour")?, currency))
                .or_default() += 1;
        }
    }
    Ok(new)
}

pub async fn hourly_sales(
    tx: Tx<'_, '_>,
    d: &Deltas,
    customers: &NewCustomers,
) -> Result<(), sqlx::Error> {
    if d.sales.is_empty() {
        return Ok(());
    }
    let s: Vec<_> = d.sales.iter().collect();
    sqlx::query(
        "INSERT INTO hourly_sales AS h (site_id, hour, currency, revenue_verified, revenue_unverified, \
            refunds, orders_verified, orders_unverified, refund_count, units, customers, tax, shipping) \
         SELECT * FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::int8[], $5::int8[], \
            $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], \
            $13::int8[]) \
         ON CONFLICT (site_id, hour, currency) DO UPDATE SET \
            revenue_verified = h.revenue_verified + EXCLUDED.revenue_verified, \
            revenue_unverified = h.revenue_unverified + EXCLUDED.revenue_unverified, \
            refunds = h.refunds + EXCLUDED.refunds, \
            orders_verified = h.orders_verified + EXCLUDED.orders_verified, \
            orders_unverified = h.orders_unverified + EXCLUDED.orders_unverified, \
            refund_count = h.refund_count + EXCLUDED.refund_count, \
            units = h.units + EXCLUDED.units, \
            customers = h.customers + EXCLUDED.customers, \
            tax = h.tax + EXCLUDED.tax, shipping = h.shipping + EXCLUDED.shipping",
    )
    .bind(s.iter().map(|((site, _, _), _)| *site).collect::<Vec<_>>())
    .bind(s.iter().map(|((_, hour, _), _)| *hour).collect::<Vec<_>>())
    .bind(s.iter().map(|((_, _, c), _)| code(c)).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.revenue_verified).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.revenue_unverified).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.refunds).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.orders_verified).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.orders_unverified).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.refund_count).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.units).collect::<Vec<_>>())
    .bind(s.iter().map(|(k, _)| customers.get(*k).copied().unwrap_or(0)).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.tax).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, v)| v.shipping).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Products per hour, and the same deltas by local day of each hour (the
/// site's zone, in SQL) in `product_days`, in one statement: counts add;
/// the hour row takes the window's name, category and brand; the day row
/// the window's latest name and category for that day (the largest of
/// the window's, like the recomputation's `max`), kept when it has none.
pub async fn products(tx: Tx<'_, '_>, d: &Deltas) -> Result<(), sqlx::Error> {
    if d.products.is_empty() {
        return Ok(());
    }
    let p: Vec<_> = d.products.iter().collect();
    sqlx::query(
        "WITH u AS ( \
           SELECT * FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
              $6::text[], $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], \
              $13::int8[], $14::int8[], $15::int8[], $16::int8[]) \
              AS u(site_id, hour, item_id, currency, item_name, item_category, item_brand, views, \
                   add_to_carts, removals, checkouts, purchases, units, revenue, impressions, \
                   refunds)), \
         hours AS ( \
           INSERT INTO product_performance AS p (site_id, hour, item_id, currency, item_name, \
              item_category, item_brand, views, add_to_carts, removals, checkouts, purchases, units, \
              revenue, impressions, refunds) \
           SELECT * FROM u \
           ON CONFLICT (site_id, hour, item_id, currency) DO UPDATE SET \
              item_name = EXCLUDED.item_name, item_category = EXCLUDED.item_category, \
              item_brand = EXCLUDED.item_brand, views = p.views + EXCLUDED.views, \
              add_to_carts = p.add_to_carts + EXCLUDED.add_to_carts, removals = p.removals + EXCLUDED.removals, \
              checkouts = p.checkouts + EXCLUDED.checkouts, purchases = p.purchases + EXCLUDED.purchases, \
              units = p.units + EXCLUDED.units, revenue = p.revenue + EXCLUDED.revenue, \
              impressions = p.impressions + EXCLUDED.impressions, \
              refunds = p.refunds + EXCLUDED.refunds) \
         INSERT INTO product_days AS t (site_id, day, item_id, currency, item_name, item_category, \
            views, add_to_carts, removals, checkouts, purchases, units, revenue, impressions, \
            refunds) \
         SELECT u.site_id, (u.hour AT TIME ZONE st.timezone)::date, u.item_id, u.currency, \
                max(u.item_name), max(u.item_category), sum(u.views), sum(u.add_to_carts), \
                sum(u.removals), sum(u.checkouts), sum(u.purchases), sum(u.units), sum(u.revenue), \
                sum(u.impressions), sum(u.refunds) \
           FROM u JOIN sites st ON st.site_id = u.site_id \
          GROUP BY 1, 2, 3, 4 \
          ORDER BY 1, 2, 3, 4 \
         ON CONFLICT (site_id, day, item_id, currency) DO UPDATE SET \
            item_name = CASE WHEN EXCLUDED.item_name <> '' THEN EXCLUDED.item_name ELSE t.item_name END, \
            item_category = CASE WHEN EXCLUDED.item_name <> '' THEN EXCLUDED.item_category \
                                 ELSE t.item_category END, \
            views = t.views + EXCLUDED.views, add_to_carts = t.add_to_carts + EXCLUDED.add_to_carts, \
            removals = t.removals + EXCLUDED.removals, checkouts = t.checkouts + EXCLUDED.checkouts, \
            purchases = t.purchases + EXCLUDED.purchases, units = t.units + EXCLUDED.units, \
            revenue = t.revenue + EXCLUDED.revenue, impressions = t.impressions + EXCLUDED.impressions, \
            refunds = t.refunds + EXCLUDED.refunds",
    )
    .bind(p.iter().map(|((site, _, _, _), _)| *site).collect::<Vec<_>>())
    .bind(p.iter().map(|((_, hour, _, _), _)| *hour).collect::<Vec<_>>())
    .bind(p.iter().map(|((_, _, item, _), _)| item.as_str()).collect::<Vec<_>>())
    .bind(p.iter().map(|((_, _, _, c), _)| code(c)).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.item_name.as_str()).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.item_category.as_str()).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.item_brand.as_str()).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.views).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.add_to_carts).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.removals).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.checkouts).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.purchases).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.units).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.revenue).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.impressions).collect::<Vec<_>>())
    .bind(p.iter().map(|(_, v)| v.refunds).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn users(tx: Tx<'_, '_>, d: &Deltas, sessions: &NewSessions) -> Result<(), sqlx::Error> {
    if d.users.is_empty() {
        return Ok(());
    }
    let u: Vec<_> = d.users.iter().collect();
    sqlx::query(
        "INSERT INTO user_activity AS u (site_id, visitor_id, user_id, first_seen, last_seen, sessions, \
            events, orders, spend) \
         SELECT * FROM UNNEST($1::int[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], \
            $6::int8[], $7::int8[], $8::int8[], $9::int8[]) \
         ON CONFLICT (site_id, visitor_id) DO UPDATE SET \
            user_id = COALESCE(EXCLUDED.user_id, u.user_id), \
            first_seen = LEAST(u.first_seen, EXCLUDED.first_seen), \
            last_seen = GREATEST(u.last_seen, EXCLUDED.last_seen), \
            sessions = u.sessions + EXCLUDED.sessions, events = u.events + EXCLUDED.events, \
            orders = u.orders + EXCLUDED.orders, spend = u.spend + EXCLUDED.spend",
    )
    .bind(u.iter().map(|((site, _), _)| *site).collect::<Vec<_>>())
    .bind(u.iter().map(|((_, visitor), _)| visitor.clone()).collect::<Vec<_>>())
    .bind(u.iter().map(|(_, v)| v.user_id.clone()).collect::<Vec<_>>())
    .bind(u.iter().map(|(_, v)| v.first_seen).collect::<Vec<_>>())
    .bind(u.iter().map(|(_, v)| v.last_seen).collect::<Vec<_>>())
    .bind(u.iter().map(|(k, _)| sessions.get(*k).copied().unwrap_or(0)).collect::<Vec<_>>())
    .bind(u.iter().map(|(_, v)| v.events).collect::<Vec<_>>())
    .bind(u.iter().map(|(_, v)| v.orders).collect::<Vec<_>>())
    .bind(u.iter().map(|(_, v)| v.spend).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Customers across their visitors: seen times widen, orders and spend add
/// (NULL seen times, of a customer no event named as `user_id`, stay NULL).
pub async fn customer_activity(tx: Tx<'_, '_>, d: &Deltas) -> Result<(), sqlx::Error> {
    if d.customer_activity.is_empty() {
        return Ok(());
    }
    let c: Vec<_> = d.customer_activity.iter().collect();
    sqlx::query(
        "INSERT INTO customer_activity AS c (site_id, customer, first_seen, last_seen, orders, spend) \
         SELECT * FROM UNNEST($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[], \
            $5::int8[], $6::int8[]) \
         ON CONFLICT (site_id, customer) DO UPDATE SET \
            first_seen = LEAST(c.first_seen, EXCLUDED.first_seen), \
            last_seen = GREATEST(c.last_seen, EXCLUDED.last_seen), \
            orders = c.orders + EXCLUDED.orders, spend = c.spend + EXCLUDED.spend",
    )
    .bind(c.iter().map(|((site, _), _)| *site).collect::<Vec<_>>())
    .bind(c.iter().map(|((_, customer), _)| customer.clone()).collect::<Vec<_>>())
    .bind(c.iter().map(|(_, v)| v.first_seen).collect::<Vec<_>>())
    .bind(c.iter().map(|(_, v)| v.last_seen).collect::<Vec<_>>())
    .bind(c.iter().map(|(_, v)| v.orders).collect::<Vec<_>>())
    .bind(c.iter().map(|(_, v)| v.spend).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Keeps `customer_days` (each customer's seen days, with its spend) in
/// step; after `customer_activity` and `members`. The days this flush's
/// events bring go in for customers whose spend it left alone (member keys
/// this process folded before are not among them: their day went in then,
/// or goes in with the customer's first order); customers whose orders or
/// spend it changed get all their days rewritten, from `member_days` rows
/// read `FOR SHARE`: a concurrent flush that adds one of their days either
/// commits first (and is read) or waits, then reads this flush's orders in
/// its own day statement.
pub async fn customer_days(tx: Tx<'_, '_>, d: &Deltas) -> Result<(), sqlx::Error> {
    let changed: Vec<(i32, &str)> = d
        .customer_activity
        .iter()
        .filter(|(_, c)| c.orders != 0 || c.spend != 0)
        .map(|((site, customer), _)| (*site, customer.as_str()))
        .collect();
    let rewritten: HashSet<(i32, &str)> = changed.iter().copied().collect();
    let days: Vec<_> = d
        .members
        .iter()
        .filter(|(_, set, _, _)| set == "users" || set == "visitors")
        .filter(|(site, _, member, _)| !rewritten.contains(&(*site, member.as_str())))
        .collect();
    if !days.is_empty() {
        sqlx::query(
            "INSERT INTO customer_days (site_id, customer, day, spend) \
             SELECT DISTINCT c.site_id, c.customer, (u.at AT TIME ZONE st.timezone)::date, c.spend \
               FROM UNNEST($1::int[], $2::text[], $3::timestamptz[]) AS u(site_id, member, at) \
               JOIN sites st ON st.site_id = u.site_id \
               JOIN customer_activity c ON c.site_id = u.site_id AND c.customer = u.member \
              WHERE c.orders > 0 \
              ORDER BY 1, 2, 3 \
             ON CONFLICT (site_id, customer, day) DO NOTHING",
        )
        .bind(days.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(days.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
        .bind(days.iter().map(|k| k.3).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !changed.is_empty() {
        sqlx::query(
            "WITH changed AS ( \
               SELECT c.site_id, c.customer, c.spend \
                 FROM UNNEST($1::int[], $2::text[]) AS k(site_id, customer) \
                 JOIN customer_activity c ON c.site_id = k.site_id AND c.customer = k.customer \
                WHERE c.orders > 0), \
             seen AS ( \
               SELECT m.site_id, m.member, m.days FROM member_days m \
                 JOIN changed ch ON m.site_id = ch.site_id AND m.member = ch.customer \
                WHERE m.member_set IN ('users', 'visitors') \
                ORDER BY m.site_id, m.member_set, m.member \
                  FOR SHARE OF m) \
             INSERT INTO customer_days AS t (site_id, customer, day, spend) \
             SELECT DISTINCT ch.site_id, ch.customer, d.day, ch.spend \
               FROM changed ch JOIN seen s ON s.site_id = ch.site_id AND s.member = ch.customer, \
                    unnest(s.days) AS d(day) \
              ORDER BY 1, 2, 3 \
             ON CONFLICT (site_id, customer, day) DO UPDATE SET spend = EXCLUDED.spend \
              WHERE t.spend <> EXCLUDED.spend",
        )
        .bind(changed.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(changed.iter().map(|k| k.1).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Spend corrections of confirmed orders, in key order (after `users`).
pub async fn spend(tx: Tx<'_, '_>, d: &Deltas) -> Result<(), sqlx::Error> {
    if d.spend.is_empty() {
        return Ok(());
    }
    let s: Vec<_> = d.spend.iter().collect();
    sqlx::query(
        "UPDATE user_activity u SET spend = u.spend + c.delta          FROM UNNEST($1::int[], $2::text[], $3::int8[]) AS c(site_id, visitor_id, delta)          WHERE u.site_id = c.site_id AND u.visitor_id = c.visitor_id",
    )
    .bind(s.iter().map(|((site, _), _)| *site).collect::<Vec<_>>())
    .bind(s.iter().map(|((_, visitor), _)| visitor.clone()).collect::<Vec<_>>())
    .bind(s.iter().map(|(_, delta)| **delta).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn realtime(tx: Tx<'_, '_>, d: &Deltas) -> Result<(), sqlx::Error> {
    if d.realtime.is_empty() {
        return Ok(());
    }
    let r: Vec<_> = d.realtime.iter().collect();
    sqlx::query(
        "INSERT INTO real_time_metrics AS r (site_id, minute, event_type, source, events) \
         SELECT * FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::text[], $5::int8[]) \
         ON CONFLICT (site_id, minute, event_type, source) DO UPDATE SET events = r.events + EXCLUDED.events",
    )
    .bind(r.iter().map(|((site, _, _, _), _)| *site).collect::<Vec<_>>())
    .bind(r.iter().map(|((_, minute, _, _), _)| *minute).collect::<Vec<_>>())
    .bind(r.iter().map(|((_, _, kind, _), _)| kind.clone()).collect::<Vec<_>>())
    .bind(r.iter().map(|((_, _, _, source), _)| *source).collect::<Vec<_>>())
    .bind(r.iter().map(|(_, n)| *n).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Page views into `page_days`, by the local day of each bucket.
pub async fn pages(tx: Tx<'_, '_>, d: &Deltas) -> Result<(), sqlx::Error> {
    if d.pages.is_empty() {
        return Ok(());
    }
    let p: Vec<_> = d.pages.iter().collect();
    sqlx::query(
        "INSERT INTO page_days AS t (site_id, day, path, views) \
         SELECT u.site_id, (u.bucket AT TIME ZONE st.timezone)::date, u.path, sum(u.views) \
           FROM UNNEST($1::int[], $2::timestamptz[], $3::text[], $4::int8[]) \
                AS u(site_id, bucket, path, views) \
           JOIN sites st ON st.site_id = u.site_id \
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 \
         ON CONFLICT (site_id, day, path) DO UPDATE SET views = t.views + EXCLUDED.views",
    )
    .bind(p.iter().map(|((site, _, _), _)| *site).collect::<Vec<_>>())
    .bind(
        p.iter()
            .map(|((_, bucket, _), _)| *bucket)
            .collect::<Vec<_>>(),
    )
    .bind(
        p.iter()
            .map(|((_, _, path), _)| path.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(p.iter().map(|(_, n)| **n).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds the window's visitors and customers to their active local days
/// (`member_days`) and keeps the steps and day totals the distinct counts
/// are read from (migration 0008 explains them). The local day of each
/// key comes from the site's zone in SQL, with each member's stored days;
/// the rest is [`member_steps`]: only days a member did not have yet
/// change anything, and the steps and totals get the difference between
/// its old and its new steps. One writer per site (the fold stage's lock)
/// keeps two windows from reading the same member's days at once.
pub async fn members(tx: Tx<'_, '_>, d: &Deltas) -> Result<(), sqlx::Error> {
    if d.members.is_empty() {
        return Ok(());
    }
    let m = &d.members;
    let rows = sqlx::query(
        "WITH k AS ( \
           SELECT DISTINCT u.site_id, u.member_set, u.member, \
                  (u.at AT TIME ZONE st.timezone)::date AS day \
             FROM UNNEST($1::int[], $2::text[], $3::text[], $4::timestamptz[]) \
                  AS u(site_id, member_set, member, at) \
             JOIN sites st ON st.site_id = u.site_id), \
         g AS (SELECT site_id, member_set, member, array_agg(day ORDER BY day) AS added \
                 FROM k GROUP BY 1, 2, 3) \
         SELECT g.site_id, g.member_set, g.member, g.added, coalesce(m.days, '{}') AS days \
           FROM g LEFT JOIN member_days m ON m.site_id = g.site_id \
                AND m.member_set = g.member_set AND m.member = g.member \
          ORDER BY 1, 2, 3",
    )
    .bind(m.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(m.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
    .bind(m.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
    .bind(m.iter().map(|k| k.3).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut changed = Vec::new();
    let mut steps = Steps::new();
    for row in &rows {
        let site: i32 = row.try_get("site_id")?;
        let set: String = row.try_get("member_set")?;
        let old: Vec<NaiveDate> = row.try_get("days")?;
        let added: Vec<NaiveDate> = row.try_get("added")?;
        let Some((days, fresh)) = member_steps(&old, &added, |prev, day, n| {
            *steps.entry((site, set.clone(), prev, day)).or_default() += n;
        }) else {
            continue;
        };
        let member: String = row.try_get("member")?;
        changed.push((site, set, member, days, fresh));
    }
    if changed.is_empty() {
        return Ok(());
    }
    let literal = |days: &[NaiveDate]| {
        let days: Vec<String> = days.iter().map(ToString::to_string).collect();
        format!("{{{}}}", days.join(","))
    };
    sqlx::query(
        "INSERT INTO member_days AS m (site_id, member_set, member, days, fresh) \
         SELECT u.site_id, u.member_set, u.member, u.days::date[], u.fresh::date[] \
           FROM UNNEST($1::int[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                AS u(site_id, member_set, member, days, fresh) \
         ON CONFLICT (site_id, member_set, member) DO UPDATE \
            SET days = EXCLUDED.days, fresh = EXCLUDED.fresh",
    )
    .bind(changed.iter().map(|c| c.0).collect::<Vec<_>>())
    .bind(changed.iter().map(|c| c.1.as_str()).collect::<Vec<_>>())
    .bind(changed.iter().map(|c| c.2.as_str()).collect::<Vec<_>>())
    .bind(changed.iter().map(|c| literal(&c.3)).collect::<Vec<_>>())
    .bind(changed.iter().map(|c| literal(&c.4)).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    write_steps(tx, steps).await
}

/// (site, member set, previous day or `None`, day) → members.
type Steps = BTreeMap<(i32, String, Option<NaiveDate>, NaiveDate), i64>;

/// Adds signed step counts to `member_steps` and their days' totals.
async fn write_steps(tx: Tx<'_, '_>, mut steps: Steps) -> Result<(), sqlx::Error> {
    steps.retain(|_, n| *n != 0);
    if steps.is_empty() {
        return Ok(());
    }
    let k: Vec<_> = steps.iter().collect();
    sqlx::query(
        "WITH delta AS ( \
           SELECT u.site_id, u.member_set, coalesce(u.prev_day, '-infinity') AS prev_day, u.day, u.n \
             FROM UNNEST($1::int[], $2::text[], $3::date[], $4::date[], $5::int8[]) \
                  AS u(site_id, member_set, prev_day, day, n)), \
         stepped AS ( \
           INSERT INTO member_steps AS t (site_id, member_set, prev_day, day, members) \
           SELECT * FROM delta ORDER BY 1, 2, 3, 4 \
           ON CONFLICT (site_id, member_set, prev_day, day) DO UPDATE \
              SET members = t.members + EXCLUDED.members) \
         INSERT INTO member_day_totals AS t (site_id, member_set, day, members, firsts) \
         SELECT site_id, member_set, day, sum(n), \
                coalesce(sum(n) FILTER (WHERE prev_day = '-infinity'), 0) \
           FROM delta GROUP BY 1, 2, 3 \
          ORDER BY 1, 2, 3 \
         ON CONFLICT (site_id, member_set, day) DO UPDATE \
            SET members = t.members + EXCLUDED.members, firsts = t.firsts + EXCLUDED.firsts",
    )
    .bind(k.iter().map(|((site, _, _, _), _)| *site).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, set, _, _), _)| set.as_str()).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, prev, _), _)| *prev).collect::<Vec<_>>())
    .bind(k.iter().map(|((_, _, _, day), _)| *day).collect::<Vec<_>>())
    .bind(k.iter().map(|(_, n)| **n).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the member days of `members` of `site` (in every set: visitors,
/// users and customers per currency) and takes their steps out of the
/// steps and day totals, by [`member_steps`]: a range rebuild, before it
/// folds every event of those members again.
pub async fn forget_members(
    tx: Tx<'_, '_>,
    site: i32,
    members: &[String],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(String, Vec<NaiveDate>)> = sqlx::query_as(
        "DELETE FROM member_days WHERE site_id = $1 AND member = ANY($2) \
         RETURNING member_set, days",
    )
    .bind(site)
    .bind(members)
    .fetch_all(&mut **tx)
    .await?;
    let mut steps = Steps::new();
    for (set, days) in &rows {
        // The steps of no days, against the stored ones: each stored step -1.
        let mut prev = None;
        for &day in days {
            *steps.entry((site, set.clone(), prev, day)).or_default() -= 1;
            prev = Some(day);
        }
    }
    write_steps(tx, steps).await
}

/// A member's days once `added` (sorted) meet its stored `old` ones
/// (sorted), and the days that were new; `None` when none was. `step`
/// hears the change of the steps: each (previous day, day) pair of the new
/// days +1, of the old ones -1 (`None`: the member's first day).
pub fn member_steps(
    old: &[NaiveDate],
    added: &[NaiveDate],
    step: impl FnMut(Option<NaiveDate>, NaiveDate, i64),
) -> Option<(Vec<NaiveDate>, Vec<NaiveDate>)> {
    let fresh: Vec<NaiveDate> = added
        .iter()
        .copied()
        .filter(|day| old.binary_search(day).is_err())
        .collect();
    if fresh.is_empty() {
        return None;
    }
    let mut days: Vec<NaiveDate> = old.iter().chain(&fresh).copied().collect();
    days.sort_unstable();
    days.dedup();
    step_change(old, &days, step);
    Some((days, fresh))
}

/// The change of a member's steps when its days (sorted) go from `old` to
/// `new`: each (previous day, day) pair of `new` +1, of `old` -1 (`None`:
/// the member's first day). Pairs both have cancel out when summed.
pub fn step_change(
    old: &[NaiveDate],
    new: &[NaiveDate],
    mut step: impl FnMut(Option<NaiveDate>, NaiveDate, i64),
) {
    for (list, sign) in [(new, 1), (old, -1)] {
        let mut prev = None;
        for &day in list {
            step(prev, day, sign);
            prev = Some(day);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn a_new_day_between_two_moves_one_step_into_two() {
        let mut steps = BTreeMap::new();
        let (days, fresh) = member_steps(&[day(1), day(5)], &[day(3), day(5)], |p, d, n| {
            *steps.entry((p, d)).or_insert(0) += n;
        })
        .unwrap();
        assert_eq!(days, [day(1), day(3), day(5)]);
        assert_eq!(fresh, [day(3)]);
        steps.retain(|_, n| *n != 0);
        let want: BTreeMap<_, _> = [
            ((Some(day(1)), day(3)), 1),
            ((Some(day(3)), day(5)), 1),
            ((Some(day(1)), day(5)), -1),
        ]
        .into();
        assert_eq!(steps, want);
        assert!(member_steps(&[day(1)], &[day(1)], |_, _, _| panic!("no change")).is_none());
        let mut first = Vec::new();
        member_steps(&[], &[day(2)], |p, d, n| first.push((p, d, n)));
        assert_eq!(first, [(None, day(2), 1)]);
    }
}
