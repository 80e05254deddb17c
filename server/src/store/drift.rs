//! Recomputes rollups from the raw events and reports where the stored
//! rollups differ: the check behind the crash tests and `server verify`.
//!
//! Every query is `(rollup EXCEPT recomputation) UNION ALL (recomputation
//! EXCEPT rollup)`, so any missing, extra or different row counts.

use sqlx::PgPool;

/// (table, statement counting rows that differ from the recomputation).
/// `session_days` is checked against `sessions`, the rollup it sums;
/// `member_days` against events and `hourly_customers`, and its steps and
/// day totals against `member_days` and `page_visitor_days` (the landing
/// and exit pages' sets), that against `sessions`; `product_days` against
/// `product_performance`; `customer_activity` against orders' purchase
/// rows and events (`customer_activity_recomputed`, migration 0012), and
/// `customer_days` against `customer_activity` and `member_days`.
const CHECKS: [(&str, &str); 16] = [
    (
        // A quarter's customers are those it credits (`upserts::customers`):
        // per local hour of the site's zone they sum to the distinct buyers.
        "hourly_sales customers",
        "WITH stored AS (SELECT h.site_id, date_trunc('hour', h.hour AT TIME ZONE s.timezone) AS hour, h.currency, \
                                sum(h.customers)::int8 AS customers \
                         FROM hourly_sales h JOIN sites s ON s.site_id = h.site_id GROUP BY 1, 2, 3 \
                         HAVING sum(h.customers) <> 0), \
         fresh AS (SELECT o.site_id, date_trunc('hour', o.hour AT TIME ZONE s.timezone) AS hour, o.currency, \
                          count(DISTINCT COALESCE(e.user_id, e.visitor_id))::int8 AS customers \
                   FROM orders o JOIN sites s ON s.site_id = o.site_id \
                        JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id \
                   GROUP BY 1, 2, 3) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "product_days",
        "WITH stored AS (SELECT site_id, day, item_id, currency, views, add_to_carts, removals, checkouts, \
                                purchases, units, revenue, impressions, refunds FROM product_days \
                         WHERE views <> 0 OR add_to_carts <> 0 OR removals <> 0 OR checkouts <> 0 \
                            OR purchases <> 0 OR units <> 0 OR revenue <> 0 OR impressions <> 0 \
                            OR refunds <> 0), \
         fresh AS (SELECT r.site_id, r.day, r.item_id, r.currency, r.views, r.add_to_carts, r.removals, \
                          r.checkouts, r.purchases, r.units, r.revenue, r.impressions, r.refunds \
                   FROM sites s, LATERAL product_days_recomputed(s.site_id) r \
                   WHERE r.views <> 0 OR r.add_to_carts <> 0 OR r.removals <> 0 OR r.checkouts <> 0 \
                      OR r.purchases <> 0 OR r.units <> 0 OR r.revenue <> 0 OR r.impressions <> 0 \
                      OR r.refunds <> 0) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "member_days",
        "WITH stored AS (SELECT site_id, member_set, member, days FROM member_days), \
         fresh AS (SELECT r.* FROM sites s, LATERAL member_days_recomputed(s.site_id) r) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "member_steps",
        "WITH stored AS (SELECT site_id, member_set, prev_day, day, members FROM member_steps WHERE members <> 0), \
         fresh AS (SELECT r.* FROM sites s, LATERAL member_steps_of(s.site_id) r) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "member_day_totals",
        "WITH stored AS (SELECT site_id, member_set, day, members, firsts FROM member_day_totals \
                         WHERE members <> 0 OR firsts <> 0), \
         fresh AS (SELECT r.site_id, r.member_set, r.day, sum(r.members)::int8, \
                          coalesce(sum(r.members) FILTER (WHERE r.prev_day = '-infinity'), 0)::int8 \
                   FROM sites s, LATERAL member_steps_of(s.site_id) r GROUP BY 1, 2, 3) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        // Sessions per visitor, landing path and local day (migration
        // 0026), recounted from `sessions`, which is checked below.
        "page_visitor_days",
        "WITH stored AS (SELECT site_id, visitor, dim, path, day, sessions FROM page_visitor_days \
                         WHERE sessions <> 0), \
         fresh AS (SELECT r.* FROM sites s, LATERAL page_visitor_days_recomputed(s.site_id) r) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        // Revenue per landing page and day (migration 0027), from the
        // orders and their first reports' sessions.
        "landing_revenue_days",
        "WITH stored AS (SELECT site_id, day, currency, path, revenue FROM landing_revenue_days \
                         WHERE revenue <> 0), \
         fresh AS (SELECT r.* FROM sites s, LATERAL landing_revenue_days_recomputed(s.site_id) r) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "session_days",
        "WITH stored AS (SELECT site_id, day, dim, name, sessions, product_views, carts, checkouts, \
                                purchases, pages, micros, bounces, engaged FROM session_days \
                         WHERE sessions <> 0), \
         fresh AS (SELECT r.* FROM sites s, LATERAL session_days_recomputed(s.site_id) r) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "page_days",
        "WITH stored AS (SELECT site_id, day, path, views FROM page_days WHERE views <> 0), \
         fresh AS (SELECT e.site_id, (e.occurred_at AT TIME ZONE s.timezone)::date, url_path(e.url), \
                          count(*) FROM events e JOIN sites s ON s.site_id = e.site_id \
                   WHERE e.event_type = 'page_view' AND e.url IS NOT NULL GROUP BY 1, 2, 3) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "real_time_metrics",
        "WITH stored AS (SELECT site_id, minute, event_type, source, events FROM real_time_metrics WHERE events <> 0), \
         fresh AS (SELECT site_id, date_trunc('minute', occurred_at) AS minute, event_type, source, count(*) AS events \
                   FROM events GROUP BY 1, 2, 3, 4) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "hourly_sales",
        // Orders from their counted report; refunds (with their tax and
        // shipping, which come off the orders') in their order's hour, or
        // their own when the order is unknown.
        "WITH stored AS (SELECT site_id, hour, currency, revenue_verified + revenue_unverified AS revenue, \
                         orders_verified + orders_unverified AS orders, 0 AS customers, refunds, refund_count, \
                         tax, shipping FROM hourly_sales \
                         WHERE orders_verified + orders_unverified <> 0 OR refund_count <> 0), \
         sold AS (SELECT o.site_id, o.hour, o.currency, sum(o.value_minor)::int8 AS revenue, count(*) AS orders, \
                          0 AS customers, \
                          COALESCE(sum(e.tax_minor), 0) AS tax, COALESCE(sum(e.shipping_minor), 0) AS shipping \
                   FROM orders o JOIN events e ON e.site_id = o.site_id AND e.transaction_id = o.transaction_id \
                        AND e.event_type = 'purchase' AND e.event_id = o.event_id \
                   GROUP BY 1, 2, 3), \
         refunded AS (SELECT e.site_id, COALESCE(o.hour, date_bin('15 minutes', e.occurred_at, TIMESTAMPTZ 'epoch')) AS hour, \
                             e.currency, sum(e.value_minor) AS refunds, count(*) AS refund_count, \
                             COALESCE(sum(e.tax_minor), 0) AS tax, COALESCE(sum(e.shipping_minor), 0) AS shipping \
                      FROM events e LEFT JOIN orders o \
                        ON o.site_id = e.site_id AND o.transaction_id = e.transaction_id \
                      WHERE e.event_type = 'refund' AND e.value_minor IS NOT NULL \
                      GROUP BY 1, 2, 3), \
         fresh AS (SELECT site_id, hour, currency, sum(revenue)::int8, sum(orders)::int8, sum(customers)::int8, \
                          sum(refunds)::int8, sum(refund_count)::int8, sum(tax)::int8, sum(shipping)::int8 \
                   FROM (SELECT site_id, hour, currency, revenue, orders, customers, 0 AS refunds, \
                                0 AS refund_count, tax, shipping FROM sold \
                         UNION ALL SELECT site_id, hour, currency, 0, 0, 0, refunds, refund_count, -tax, -shipping \
                         FROM refunded) x \
                   GROUP BY 1, 2, 3) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "product_performance",
        // Summed over currencies: an event without an amount is keyed by
        // the site's currency of the time. A purchase counts once, from its
        // order's first report (the browser's, when a signed one verified
        // it later); a refund's lines come off its order's hour. Rows of
        // zeros count as no row.
        "WITH stored AS (SELECT site_id, hour, item_id, sum(views)::int8 AS views, \
                                sum(impressions)::int8 AS impressions, sum(add_to_carts)::int8 AS carts, \
                                sum(removals)::int8 AS removals, sum(checkouts)::int8 AS checkouts, \
                                sum(purchases)::int8 AS purchases, sum(units)::int8 AS units, \
                                sum(revenue)::int8 AS revenue, sum(refunds)::int8 AS refunds \
                         FROM product_performance GROUP BY 1, 2, 3), \
         counted AS (SELECT DISTINCT ON (site_id, transaction_id) site_id, event_id FROM events \
                     WHERE event_type = 'purchase' ORDER BY site_id, transaction_id, verified, occurred_at, event_id), \
         lines AS (SELECT e.site_id, CASE WHEN e.event_type = 'refund' \
                          THEN COALESCE(o.hour, date_bin('15 minutes', e.occurred_at, TIMESTAMPTZ 'epoch')) \
                          ELSE date_bin('15 minutes', e.occurred_at, TIMESTAMPTZ 'epoch') END AS hour, \
                          e.event_type, i->>'item_id' AS item_id, (i->>'quantity')::int8 AS quantity, \
                          COALESCE((i->>'price')::int8, 0) * (i->>'quantity')::int8 AS line \
                   FROM events e LEFT JOIN orders o ON e.event_type = 'refund' \
                        AND o.site_id = e.site_id AND o.transaction_id = e.transaction_id, \
                        jsonb_array_elements(e.items) i \
                   WHERE e.event_type IN ('view_item', 'view_item_list', 'add_to_cart', 'remove_from_cart', \
                                          'begin_checkout') \
                      OR (e.event_type = 'refund' AND e.value_minor IS NOT NULL) \
                      OR (e.site_id, e.event_id) IN (SELECT site_id, event_id FROM counted)), \
         fresh AS (SELECT site_id, hour, item_id, \
                          count(*) FILTER (WHERE event_type = 'view_item') AS views, \
                          count(*) FILTER (WHERE event_type = 'view_item_list') AS impressions, \
                          count(*) FILTER (WHERE event_type = 'add_to_cart') AS carts, \
                          count(*) FILTER (WHERE event_type = 'remove_from_cart') AS removals, \
                          count(*) FILTER (WHERE event_type = 'begin_checkout') AS checkouts, \
                          count(*) FILTER (WHERE event_type = 'purchase') AS purchases, \
                          COALESCE(sum(CASE event_type WHEN 'purchase' THEN quantity \
                                                      WHEN 'refund' THEN -quantity END), 0)::int8 AS units, \
                          COALESCE(sum(CASE event_type WHEN 'purchase' THEN line \
                                                      WHEN 'refund' THEN -line END), 0)::int8 AS revenue, \
                          count(*) FILTER (WHERE event_type = 'refund') AS refunds \
                   FROM lines GROUP BY 1, 2, 3), \
         kept_stored AS (SELECT * FROM stored WHERE (views, impressions, carts, removals, checkouts, \
                                purchases, units, revenue, refunds) <> (0, 0, 0, 0, 0, 0, 0, 0, 0)), \
         kept_fresh AS (SELECT * FROM fresh WHERE (views, impressions, carts, removals, checkouts, \
                               purchases, units, revenue, refunds) <> (0, 0, 0, 0, 0, 0, 0, 0, 0)) \
         SELECT count(*) FROM ((SELECT * FROM kept_stored EXCEPT SELECT * FROM kept_fresh) \
                               UNION ALL (SELECT * FROM kept_fresh EXCEPT SELECT * FROM kept_stored)) d",
    ),
    (
        "user_activity",
        "WITH stored AS (SELECT site_id, visitor_id, events, sessions, first_seen, last_seen FROM user_activity), \
         fresh AS (SELECT site_id, visitor_id, count(*) AS events, count(DISTINCT session_id) AS sessions, \
                          min(occurred_at) AS first_seen, max(occurred_at) AS last_seen \
                   FROM events GROUP BY 1, 2) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "customer_days",
        "WITH stored AS (SELECT site_id, customer, day, spend FROM customer_days), \
         fresh AS (SELECT r.* FROM sites s, LATERAL customer_days_of(s.site_id) r) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "customer_activity",
        "WITH stored AS (SELECT site_id, customer, first_seen, last_seen, orders, spend FROM customer_activity), \
         fresh AS (SELECT r.* FROM sites s, LATERAL customer_activity_recomputed(s.site_id) r) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "sessions",
        "WITH stored AS (SELECT site_id, session_id, events, pages, started_at, last_seen, revenue \
                         FROM sessions), \
         counted AS (SELECT site_id, session_id, count(*) AS events, \
                          count(*) FILTER (WHERE event_type = 'page_view') AS pages, \
                          min(occurred_at) AS started_at, max(occurred_at) AS last_seen \
                   FROM events WHERE session_id IS NOT NULL GROUP BY 1, 2), \
         fresh AS (SELECT c.*, coalesce(r.revenue, '{}') FROM counted c LEFT JOIN \
                          (SELECT r.* FROM sites s, LATERAL session_revenue_recomputed(s.site_id) r) r \
                          USING (site_id, session_id)) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
];

/// Tables whose rollups differ from a recomputation, with the number of
/// differing rows. Empty means the rollups are exact.
pub async fn rollup_drift(pool: &PgPool) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
    // Stored events the fold stage has not reached yet are not drift: fold
    // them first (safe beside running servers: one writer per site).
    crate::aggregate::stage::drain_all(pool).await?;
    let mut drift = Vec::new();
    for (table, sql) in CHECKS {
        let rows: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
        if rows != 0 {
            drift.push((table, rows));
        }
    }
    Ok(drift)
}
