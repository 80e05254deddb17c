//! The dashboard's reads: rollup tables (`hourly_sales`, `product_days`,
//! `session_days`, `member_days`, `sessions`, `customer_days`,
//! `customer_activity`, `user_activity`), and raw events only for a day a
//! comparison cuts short ([`Days::cut`]: its visitors and page views),
//! each query on an index that starts with the site and the key it ranges
//! over.

use std::collections::BTreeMap;

use app::stats::{Bucket, CustomerRow, FunnelStep, HourRow, ProductRow, SessionRow, Share};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use crate::aggregate::fold::{SessionDay, SessionDelta};

/// One site and half-open UTC span `[start, end)`; money in `currency`.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    pub site_id: i32,
    pub currency: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The local days a day-keyed read covers: `first..=last`, the last one
/// only from its midnight until an instant when `cut` is set (a comparison
/// up to the time of day its current period has reached, `until=HH:MM`).
/// The days before a cut are read from the day tables; the cut day from
/// rows keyed finer (quarter hours, sessions, events).
#[derive(Clone, Copy, Debug)]
pub struct Days {
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// The last day's midnight and the cut.
    pub cut: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Days {
    /// Whole days, each read whole.
    pub fn whole_days(first: NaiveDate, last: NaiveDate) -> Self {
        Self {
            first,
            last,
            cut: None,
        }
    }

    /// The days the day tables are read for (first after last: none).
    fn whole(&self) -> (NaiveDate, NaiveDate) {
        match self.cut {
            Some(_) => (self.first, self.last.pred_opt().unwrap_or(self.last)),
            None => (self.first, self.last),
        }
    }
}

/// Gross revenue and orders in the window.
pub async fn sales(pool: &PgPool, w: Window<'_>) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT coalesce(sum(revenue_verified + revenue_unverified), 0)::int8,",
        "       coalesce(sum(orders_verified + orders_unverified), 0)::int8",
        "  FROM hourly_sales",
        " WHERE site_id = $1 AND hour >= $2 AND hour < $3 AND currency = $4",
    ))
    .bind(w.site_id)
    .bind(w.start)
    .bind(w.end)
    .bind(w.currency)
    .fetch_one(pool)
    .await
}

/// Sessions that started in the window: how many, by how many visitors, and
/// how many reached each step of the funnel.
pub struct SessionCounts {
    pub sessions: i64,
    pub visitors: i64,
    pub product_views: i64,
    pub carts: i64,
    pub checkouts: i64,
    pub purchases: i64,
}

impl SessionCounts {
    pub fn funnel(&self) -> Vec<FunnelStep> {
        [
            ("Sessions", self.sessions),
            ("Viewed a product", self.product_views),
            ("Added to cart", self.carts),
            ("Began checkout", self.checkouts),
            ("Purchased", self.purchases),
        ]
        .into_iter()
        .map(|(step, sessions)| FunnelStep {
            step: step.to_owned(),
            sessions,
        })
        .collect()
    }
}

/// Everything the pages show about the window's sessions, from the daily
/// session rollup:
/// counts and funnel steps (`visitors` is left 0: see [`new_and_returning`]),
/// page views and summed length, and the sessions by source (UTM source,
/// else referrer host, else direct), device, browser and UTM campaign, each
/// largest first and at most `limit` long (devices: all). The sessions of
/// the sources past `limit` are `other_sources`.
pub struct SessionSummary {
    pub counts: SessionCounts,
    pub pages: i64,
    pub seconds: i64,
    /// Sessions of one page view, and engaged sessions (GA4's rule).
    pub bounces: i64,
    pub engaged: i64,
    pub sources: Vec<Share>,
    pub other_sources: i64,
    pub devices: Vec<Share>,
    pub browsers: Vec<Share>,
    pub campaigns: Vec<Share>,
}

pub async fn session_summary(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    limit: usize,
) -> Result<SessionSummary, sqlx::Error> {
    let cut = cut_sessions(pool, w, days).await?;
    session_summary_of(pool, w, days, limit, &cut).await
}

/// [`session_summary`] with the cut day's sessions already read.
pub async fn session_summary_of(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    limit: usize,
    cut: &[SessionDelta],
) -> Result<SessionSummary, sqlx::Error> {
    let rows = session_rows(pool, w, days, &['t', 's', 'd', 'b', 'c'], cut).await?;
    let mut summary = SessionSummary {
        counts: SessionCounts {
            sessions: 0,
            visitors: 0,
            product_views: 0,
            carts: 0,
            checkouts: 0,
            purchases: 0,
        },
        pages: 0,
        seconds: 0,
        bounces: 0,
        engaged: 0,
        sources: Vec::new(),
        other_sources: 0,
        devices: Vec::new(),
        browsers: Vec::new(),
        campaigns: Vec::new(),
    };
    for ((dim, name), v) in rows {
        let list = match dim {
            't' => {
                summary.counts = SessionCounts {
                    sessions: v.sessions,
                    visitors: 0,
                    product_views: v.product_views,
                    carts: v.carts,
                    checkouts: v.checkouts,
                    purchases: v.purchases,
                };
                summary.pages = v.pages;
                summary.seconds = (v.micros + 500_000).div_euclid(1_000_000);
                summary.bounces = v.bounces;
                summary.engaged = v.engaged;
                continue;
            }
            'd' => &mut summary.devices,
            'b' => &mut summary.browsers,
            'c' => &mut summary.campaigns,
            's' => &mut summary.sources,
            _ => continue,
        };
        list.push(Share {
            name,
            sessions: v.sessions,
        });
    }
    for list in [
        &mut summary.sources,
        &mut summary.devices,
        &mut summary.browsers,
        &mut summary.campaigns,
    ] {
        list.sort_by(|a, b| {
            b.sessions
                .cmp(&a.sessions)
                .then_with(|| a.name.cmp(&b.name))
        });
    }
    summary.other_sources = summary
        .sources
        .drain(limit.min(summary.sources.len())..)
        .map(|s| s.sessions)
        .sum();
    summary.browsers.truncate(limit);
    summary.campaigns.truncate(limit);
    Ok(summary)
}

/// The sessions that started on the day `days` cuts short, before the
/// cut (none without a cut): what every session figure of that day is
/// read from, by the fold's own rules. Read once per report.
pub async fn cut_sessions(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
) -> Result<Vec<SessionDelta>, sqlx::Error> {
    match days.cut {
        Some((from, until)) => super::upserts::sessions_started(pool, w.site_id, from, until).await,
        None => Ok(Vec::new()),
    }
}

/// The `session_days` sums of `days` per (dimension, name) for the
/// dimensions `dims`, rows of no session left out. The whole days come
/// from `session_days`; a day cut short, from `cut` (its sessions,
/// [`cut_sessions`]), through the fold's own
/// [`SessionDelta::day_rows`](crate::aggregate::fold::SessionDelta::day_rows).
async fn session_rows(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    dims: &[char],
    cut: &[SessionDelta],
) -> Result<BTreeMap<(char, String), SessionDay>, sqlx::Error> {
    type Row = (String, String, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let (first, last) = days.whole();
    let dim_list: Vec<String> = dims.iter().map(char::to_string).collect();
    let stored: Vec<Row> = sqlx::query_as(concat!(
        "SELECT dim::text, name, sum(sessions)::int8, sum(product_views)::int8,",
        "       sum(carts)::int8, sum(checkouts)::int8, sum(purchases)::int8,",
        "       sum(pages)::int8, sum(micros)::int8, sum(bounces)::int8, sum(engaged)::int8",
        "  FROM session_days WHERE site_id = $1 AND day >= $2 AND day <= $3",
        "   AND dim = ANY($4::\"char\"[])",
        " GROUP BY dim, name",
    ))
    .bind(w.site_id)
    .bind(first)
    .bind(last)
    .bind(&dim_list)
    .fetch_all(pool)
    .await?;
    let mut rows = BTreeMap::new();
    for (
        dim,
        name,
        sessions,
        product_views,
        carts,
        checkouts,
        purchases,
        pages,
        micros,
        bounces,
        engaged,
    ) in stored
    {
        let dim = dim.chars().next().unwrap_or(' ');
        let values = SessionDay {
            sessions,
            product_views,
            carts,
            checkouts,
            purchases,
            pages,
            micros,
            bounces,
            engaged,
        };
        rows.insert((dim, name), values);
    }
    if days.cut.is_some() {
        for session in cut {
            for (key, values) in session.day_rows() {
                if dims.contains(&key.0) {
                    rows.entry(key)
                        .or_insert_with(SessionDay::default)
                        .add(&values, 1);
                }
            }
        }
    }
    rows.retain(|_, v| v.sessions != 0);
    Ok(rows)
}

/// Landing (`dim` 'l') or exit ('x') pages of the sessions that started on
/// the local days `days`, most sessions first (ties by path), at most
/// `limit`: sessions, bounces, engaged sessions and sessions that bought.
/// A cut day comes from `cut` ([`cut_sessions`]).
pub async fn pages(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    dim: char,
    limit: i64,
    cut: &[SessionDelta],
) -> Result<Vec<app::stats::PageRow>, sqlx::Error> {
    if days.cut.is_some() {
        let mut rows: Vec<app::stats::PageRow> = session_rows(pool, w, days, &[dim], cut)
            .await?
            .into_iter()
            .map(|((_, path), v)| app::stats::PageRow {
                path,
                sessions: v.sessions,
                bounces: v.bounces,
                engaged: v.engaged,
                converted: v.purchases,
                revenue: 0,
                visitors: 0,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.sessions
                .cmp(&a.sessions)
                .then_with(|| a.path.cmp(&b.path))
        });
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        return Ok(rows);
    }
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT name, sum(sessions)::int8, sum(bounces)::int8, sum(engaged)::int8, \
                sum(purchases)::int8 \
           FROM session_days WHERE site_id = $1 AND day >= $2 AND day <= $3 AND dim = $4::\"char\" \
          GROUP BY name HAVING sum(sessions) <> 0 \
          ORDER BY 2 DESC, 1 LIMIT $5",
    )
    .bind(w.site_id)
    .bind(days.first)
    .bind(days.last)
    .bind(dim.to_string())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(path, sessions, bounces, engaged, converted)| app::stats::PageRow {
                path,
                sessions,
                bounces,
                engaged,
                converted,
                revenue: 0,
                visitors: 0,
            },
        )
        .collect())
}

/// Gross revenue in the window's currency per landing page (path) of the
/// local days `days`: the orders of the sessions that started on those
/// days, each at its amount now (the signed one once verified), under the
/// path of the session's first page view. Whole days from
/// `landing_revenue_days`, which the fold keeps from each session's
/// revenue ([`SessionDelta::revenue_rows`](crate::aggregate::fold::SessionDelta::revenue_rows));
/// a day cut short from its sessions (`cut`, [`cut_sessions`]) by the same
/// rule. Orders reach their session through their first report; a
/// purchase without a session id belongs to no landing page.
pub async fn landing_revenue(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    cut: &[SessionDelta],
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let (first, last) = days.whole();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT path, sum(revenue)::int8 FROM landing_revenue_days \
          WHERE site_id = $1 AND day >= $2 AND day <= $3 AND currency = $4 \
          GROUP BY path HAVING sum(revenue) <> 0",
    )
    .bind(w.site_id)
    .bind(first)
    .bind(last)
    .bind(w.currency)
    .fetch_all(pool)
    .await?;
    let mut revenue: BTreeMap<String, i64> = rows.into_iter().collect();
    if days.cut.is_some() {
        for session in cut {
            for ((path, currency), minor) in session.revenue_rows() {
                if currency.code() == w.currency {
                    *revenue.entry(path).or_default() += minor;
                }
            }
        }
    }
    revenue.retain(|_, n| *n != 0);
    Ok(revenue)
}

/// Distinct visitors per landing (`dim` 'l') or exit ('x') page of
/// `paths` over the local days `days`: the visitors with a session that
/// started on one of the days and landed on (left from) the path. Whole
/// days are read from each path's member set ('landing <path>', 'exit
/// <path>') by the same step arithmetic as the site's visitors
/// ([`whole_day_members`], migration 0026); a day cut short adds its
/// sessions' (`cut`, [`cut_sessions`]) visitors that no whole day of the
/// range already has (`page_visitor_days`). Paths without visitors are
/// left out.
pub async fn page_visitors(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    dim: char,
    paths: &[String],
    cut: &[SessionDelta],
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    use super::upserts::page_member_set;
    if paths.is_empty() {
        return Ok(BTreeMap::new());
    }
    let (first, last) = days.whole();
    let sets: Vec<String> = paths.iter().map(|p| page_member_set(dim, p)).collect();
    let whole: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.member_set, (t.members - coalesce(s.members, 0))::int8 \
           FROM (SELECT member_set, sum(members) AS members FROM member_day_totals \
                  WHERE site_id = $1 AND member_set = ANY($2) AND day >= $3 AND day <= $4 \
                  GROUP BY 1) t \
           LEFT JOIN (SELECT member_set, sum(members) AS members FROM member_steps \
                       WHERE site_id = $1 AND member_set = ANY($2) \
                         AND prev_day >= $3 AND prev_day <= $4 AND day <= $4 \
                       GROUP BY 1) s USING (member_set)",
    )
    .bind(w.site_id)
    .bind(&sets)
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await?;
    let by_set: BTreeMap<String, i64> = whole.into_iter().collect();
    let mut visitors: BTreeMap<String, i64> = paths
        .iter()
        .zip(&sets)
        .filter_map(|(path, set)| by_set.get(set).map(|n| (path.clone(), *n)))
        .collect();
    if days.cut.is_some() {
        // The cut day's (path, visitor) pairs, by the fold's own rule.
        let mut pairs = std::collections::BTreeSet::new();
        for session in cut {
            for ((d, path), _) in session.day_rows() {
                if d == dim && paths.contains(&path) {
                    pairs.insert((path, session.visitor_id.clone()));
                }
            }
        }
        // One index probe per pair (site, visitor, dim, path, days).
        let counted: Vec<(String, String)> = sqlx::query_as(
            "SELECT k.path, k.visitor FROM UNNEST($2::text[], $3::text[]) AS k(path, visitor) \
              WHERE EXISTS (SELECT 1 FROM page_visitor_days d \
                             WHERE d.site_id = $1 AND d.visitor = k.visitor \
                               AND d.dim = $6::\"char\" AND d.path = k.path \
                               AND d.day >= $4 AND d.day <= $5 AND d.sessions > 0)",
        )
        .bind(w.site_id)
        .bind(pairs.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>())
        .bind(pairs.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>())
        .bind(first)
        .bind(last)
        .bind(dim.to_string())
        .fetch_all(pool)
        .await?;
        for pair in counted {
            pairs.remove(&pair);
        }
        for (path, _) in pairs {
            *visitors.entry(path).or_default() += 1;
        }
    }
    visitors.retain(|_, n| *n != 0);
    Ok(visitors)
}

/// The most viewed pages (path, page views) of the local days `days`, at
/// most `limit`, ties by path.
pub async fn top_pages(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let (first, last) = days.whole();
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT path, sum(views)::int8 FROM page_days \
          WHERE site_id = $1 AND day >= $2 AND day <= $3 \
          GROUP BY path HAVING sum(views) <> 0 ORDER BY 2 DESC, 1 LIMIT $4",
    )
    .bind(w.site_id)
    .bind(first)
    .bind(last)
    .bind(if days.cut.is_some() { i64::MAX } else { limit })
    .fetch_all(pool)
    .await?;
    let Some((from, until)) = days.cut else {
        return Ok(stored);
    };
    // The cut day from its page views, by the fold's own path rule.
    let viewed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT url, count(*) FROM events \
          WHERE site_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
            AND event_type = 'page_view' AND url IS NOT NULL \
          GROUP BY url",
    )
    .bind(w.site_id)
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let mut views: BTreeMap<String, i64> = stored.into_iter().collect();
    for (url, n) in viewed {
        *views
            .entry(crate::aggregate::fold::url_path(&url).to_owned())
            .or_default() += n;
    }
    let mut top: Vec<(String, i64)> = views.into_iter().filter(|(_, n)| *n != 0).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(top)
}

/// Gross revenue per local hour (`HH:00` labels) or local day
/// (`YYYY-MM-DD`), only the buckets that had sales.
pub async fn revenue_by(
    pool: &PgPool,
    w: Window<'_>,
    tz: &str,
    hourly: bool,
) -> Result<Vec<Bucket>, sqlx::Error> {
    let format = if hourly {
        "YYYY-MM-DD HH24:00"
    } else {
        "YYYY-MM-DD"
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(concat!(
        "SELECT to_char(hour AT TIME ZONE $5, $6) AS bucket,",
        "       sum(revenue_verified + revenue_unverified)::int8",
        "  FROM hourly_sales",
        " WHERE site_id = $1 AND hour >= $2 AND hour < $3 AND currency = $4",
        " GROUP BY 1 ORDER BY 1",
    ))
    .bind(w.site_id)
    .bind(w.start)
    .bind(w.end)
    .bind(w.currency)
    .bind(tz)
    .bind(format)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(label, value)| Bucket { label, value })
        .collect())
}

/// One row per local hour with sales, labelled in the site's zone. The
/// rows are quarter hours (see `aggregate::fold::bucket_of`), summed into
/// the site's hours; a quarter's `customers` are those it credits, so the
/// sum is the hour's distinct customers (see `upserts::customers`).
pub async fn hours(pool: &PgPool, w: Window<'_>, tz: &str) -> Result<Vec<HourRow>, sqlx::Error> {
    type Row = (String, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT to_char(hour AT TIME ZONE $5, 'YYYY-MM-DD HH24:00') AS label,",
        "       sum(revenue_verified)::int8, sum(revenue_unverified)::int8, sum(refunds)::int8,",
        "       sum(orders_verified + orders_unverified)::int8, sum(units)::int8,",
        "       sum(customers)::int8, sum(tax)::int8, sum(shipping)::int8,",
        "       sum(refund_count)::int8",
        "  FROM hourly_sales",
        " WHERE site_id = $1 AND hour >= $2 AND hour < $3 AND currency = $4",
        " GROUP BY 1 ORDER BY 1",
    ))
    .bind(w.site_id)
    .bind(w.start)
    .bind(w.end)
    .bind(w.currency)
    .bind(tz)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HourRow {
            hour: r.0,
            revenue_verified: r.1,
            revenue_unverified: r.2,
            refunds: r.3,
            orders: r.4,
            units: r.5,
            customers: r.6,
            tax: r.7,
            shipping: r.8,
            refund_count: r.9,
        })
        .collect())
}

/// Products (or, with `by_category`, categories) by revenue, then views,
/// over the local days `days` (first and last), from `product_days`.
pub async fn products(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    by_category: bool,
    limit: i64,
) -> Result<Vec<ProductRow>, sqlx::Error> {
    // The whole days from `product_days`; a cut day from the quarter hours
    // of `product_performance` before the cut, which `product_days` sums.
    macro_rules! both {
        ($head:literal, $tail:literal) => {
            concat!(
                $head,
                "       sum(views)::int8, sum(add_to_carts)::int8, sum(removals)::int8,",
                "       sum(checkouts)::int8, sum(purchases)::int8, sum(units)::int8, sum(revenue)::int8,",
                "       sum(impressions)::int8, sum(refunds)::int8",
                "  FROM (SELECT item_id, item_name, item_category, views, add_to_carts, removals,",
                "               checkouts, purchases, units, revenue, impressions, refunds",
                "          FROM product_days",
                "         WHERE site_id = $1 AND day >= $2 AND day <= $3 AND currency = $4",
                "        UNION ALL",
                "        SELECT item_id, item_name, item_category, views, add_to_carts, removals,",
                "               checkouts, purchases, units, revenue, impressions, refunds",
                "          FROM product_performance",
                "         WHERE site_id = $1 AND hour >= $6 AND hour < $7 AND currency = $4) p",
                $tail,
            )
        };
    }
    let query = if by_category {
        both!(
            "SELECT '' AS item_id, item_category AS name, item_category,",
            " GROUP BY item_category ORDER BY 10 DESC, 4 DESC, 2 LIMIT $5"
        )
    } else {
        both!(
            "SELECT item_id, max(item_name), max(item_category),",
            " GROUP BY item_id ORDER BY 10 DESC, 4 DESC, 1 LIMIT $5"
        )
    };
    let (first, last) = days.whole();
    let (from, until) = days.cut.unwrap_or((w.start, w.start));
    type Row = (
        String,
        String,
        String,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(query)
        .bind(w.site_id)
        .bind(first)
        .bind(last)
        .bind(w.currency)
        .bind(limit)
        .bind(from)
        .bind(until)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProductRow {
            item_id: r.0,
            name: r.1,
            category: r.2,
            views: r.3,
            add_to_carts: r.4,
            removals: r.5,
            checkouts: r.6,
            purchases: r.7,
            units: r.8,
            revenue: r.9,
            impressions: r.10,
            refunds: r.11,
        })
        .collect())
}

/// The members of set `$4` active in `[$2, $3)` of site `$1`, as the fold
/// makes them: visitors by their stored events, customers (`customers
/// XXX`) by the quarter hours of their counted purchases in XXX
/// (`hourly_customers`).
macro_rules! cut_day_members {
    () => {
        "SELECT DISTINCT visitor_id AS member FROM events \
          WHERE $4 = 'visitors' AND site_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
         UNION ALL \
         SELECT DISTINCT customer FROM hourly_customers \
          WHERE $4 LIKE 'customers %' AND site_id = $1 AND hour >= $2 AND hour < $3 \
            AND currency = substr($4, 11)"
    };
}

/// Distinct members of a set (`member_days`) active on the local days
/// `days` (first and last, inclusive), and how many of them had their first
/// active day there. Exact, from at most a few rows per day of the range:
/// every member counts once, at its first active day in the range (see
/// migration 0008).
async fn members(
    pool: &PgPool,
    site_id: i32,
    set: &str,
    days: Days,
) -> Result<(i64, i64), sqlx::Error> {
    let (first, last) = days.whole();
    let (whole, firsts) = whole_day_members(pool, site_id, set, (first, last)).await?;
    let Some(cut) = days.cut else {
        return Ok((whole, firsts));
    };
    // A cut day adds its members active before the cut that the whole days
    // did not have, and those whose first day ever it is.
    let (more, new): (i64, i64) = sqlx::query_as(concat!(
        "WITH active AS (",
        cut_day_members!(),
        ") SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM unnest(m.days) d \
                                                    WHERE d >= $5 AND d < $6)), \
                count(*) FILTER (WHERE m.days[1] = $6) \
           FROM active a JOIN member_days m \
             ON m.site_id = $1 AND m.member_set = $4 AND m.member = a.member",
    ))
    .bind(site_id)
    .bind(cut.0)
    .bind(cut.1)
    .bind(set)
    .bind(days.first)
    .bind(days.last)
    .fetch_one(pool)
    .await?;
    Ok((whole + more, firsts + new))
}

/// Distinct members of a set on whole local days, and how many had their
/// first active day there.
async fn whole_day_members(
    pool: &PgPool,
    site_id: i32,
    set: &str,
    days: (NaiveDate, NaiveDate),
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT (coalesce(sum(members), 0) - coalesce((SELECT sum(members) FROM member_steps",
        "          WHERE site_id = $1 AND member_set = $2",
        "            AND prev_day >= $3 AND prev_day <= $4 AND day <= $4), 0))::int8,",
        "       coalesce(sum(firsts), 0)::int8",
        "  FROM member_day_totals",
        " WHERE site_id = $1 AND member_set = $2 AND day >= $3 AND day <= $4",
    ))
    .bind(site_id)
    .bind(set)
    .bind(days.0)
    .bind(days.1)
    .fetch_one(pool)
    .await
}

/// Visitors with a stored event on the local days `days` whose first event
/// ever was among them (new), and the others (returning); together, the
/// range's distinct visitors.
pub async fn new_and_returning(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
) -> Result<(i64, i64), sqlx::Error> {
    let (visitors, new) = members(pool, w.site_id, "visitors", days).await?;
    Ok((new, visitors - new))
}

/// Distinct customers who bought in the window's currency on the local days
/// `days` (the hourly counts cannot be summed: one customer may buy in
/// several hours).
pub async fn customers(pool: &PgPool, w: Window<'_>, days: Days) -> Result<i64, sqlx::Error> {
    let set = format!("customers {}", w.currency);
    Ok(members(pool, w.site_id, &set, days).await?.0)
}

/// Customers whose first order ever was on the local days `days` (the
/// first day of their member days in the site currency's customer set).
pub async fn first_time_customers(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
) -> Result<i64, sqlx::Error> {
    let set = format!("customers {}", w.currency);
    Ok(members(pool, w.site_id, &set, days).await?.1)
}

/// Distinct customers of each local day of `days` that had any (a day's
/// customers are its member-day total).
pub async fn customers_per_day(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
) -> Result<Vec<(NaiveDate, i64)>, sqlx::Error> {
    let set = format!("customers {}", w.currency);
    let (first, last) = days.whole();
    let mut per_day: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT day, members FROM member_day_totals \
          WHERE site_id = $1 AND member_set = $2 AND day >= $3 AND day <= $4 AND members <> 0 \
          ORDER BY day",
    )
    .bind(w.site_id)
    .bind(&set)
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await?;
    if let Some(cut) = days.cut {
        let n: i64 =
            sqlx::query_scalar(concat!("SELECT count(*) FROM (", cut_day_members!(), ") a"))
                .bind(w.site_id)
                .bind(cut.0)
                .bind(cut.1)
                .bind(&set)
                .fetch_one(pool)
                .await?;
        if n != 0 {
            per_day.push((days.last, n));
        }
    }
    Ok(per_day)
}

/// The customers with the highest lifetime spend (ties by id) among those
/// seen on the local days `days` (first and last): an event of one of
/// those days carried the customer's id, as `user_id` or as visitor id.
/// Each of the `limit` biggest is among its active days' `limit` biggest,
/// so the read takes `limit` rows per day from `customer_days` and the
/// biggest of those, however many customers the site has. Last seen is the
/// latest event carrying the id either way.
pub async fn top_customers(
    pool: &PgPool,
    w: Window<'_>,
    days: Days,
    tz: &str,
    limit: i64,
) -> Result<Vec<CustomerRow>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(concat!(
        "WITH top AS (",
        "  SELECT DISTINCT t.customer, t.spend",
        "    FROM generate_series($2::date, $3::date, interval '1 day') AS g(day),",
        "         LATERAL (SELECT customer, spend FROM customer_days",
        "                   WHERE site_id = $1 AND day = g.day::date",
        "                   ORDER BY spend DESC, customer LIMIT $5) t",
        "   ORDER BY t.spend DESC, t.customer LIMIT $5)",
        "SELECT c.customer, c.orders, c.spend,",
        "       to_char(greatest(c.last_seen, u.last_seen) AT TIME ZONE $4, 'YYYY-MM-DD HH24:MI')",
        "  FROM top JOIN customer_activity c ON c.site_id = $1 AND c.customer = top.customer",
        "  LEFT JOIN user_activity u ON u.site_id = c.site_id AND u.visitor_id = c.customer",
        " ORDER BY c.spend DESC, c.customer",
    ))
    .bind(w.site_id)
    .bind(days.first)
    .bind(days.last)
    .bind(tz)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(customer, orders, spend, last_seen)| CustomerRow {
            customer,
            orders,
            spend,
            last_seen,
        })
        .collect())
}

/// The newest sessions started in the window.
pub async fn session_list(
    pool: &PgPool,
    w: Window<'_>,
    tz: &str,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    type Row = (
        String,
        String,
        String,
        i64,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        String,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT session_id, visitor_id, to_char(started_at AT TIME ZONE $4, 'YYYY-MM-DD HH24:MI:SS'),",
        "       extract(epoch FROM last_seen - started_at)::int8, pages, events, entry_url, exit_url,",
        "       referrer_host, utm_source, utm_campaign, device, browser, purchases",
        "  FROM sessions WHERE site_id = $1 AND started_at >= $2 AND started_at < $3",
        " ORDER BY started_at DESC, session_id LIMIT $5",
    ))
    .bind(w.site_id)
    .bind(w.start)
    .bind(w.end)
    .bind(tz)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SessionRow {
            session_id: r.0,
            visitor_id: r.1,
            started_at: r.2,
            seconds: r.3,
            pages: r.4,
            events: r.5,
            entry_url: r.6,
            exit_url: r.7,
            referrer_host: r.8,
            utm_source: r.9,
            utm_campaign: r.10,
            device: r.11,
            browser: r.12,
            purchases: r.13,
        })
        .collect())
}
