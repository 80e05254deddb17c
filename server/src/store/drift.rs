//! Recomputes rollups from the raw events and reports where the stored
//! rollups differ: the check behind the crash tests and `server verify`.
//!
//! Every query is `(rollup EXCEPT recomputation) UNION ALL (recomputation
//! EXCEPT rollup)`, so any missing, extra or different row counts.

use sqlx::PgPool;

/// (table, statement counting rows that differ from the recomputation).
/// `session_days` is checked against `sessions`, the rollup it sums;
/// `member_days` against events and `hourly_customers`, and its steps and
/// day totals against `member_days`; `product_days` against
/// `product_performance`; `customer_activity` against orders' purchase
/// rows and events (`customer_activity_recomputed`, migration 0012), and
/// `customer_days` against `customer_activity` and `member_days`.
const CHECKS: [(&str, &str); 12] = [
    (
        "product_days",
        "WITH stored AS (SELECT site_id, day, item_id, currency, views, add_to_carts, removals, checkouts, \
                                purchases, units, revenue FROM product_days \
                         WHERE views <> 0 OR add_to_carts <> 0 OR removals <> 0 OR checkouts <> 0 \
                            OR purchases <> 0 OR units <> 0 OR revenue <> 0), \
         fresh AS (SELECT r.site_id, r.day, r.item_id, r.currency, r.views, r.add_to_carts, r.removals, \
                          r.checkouts, r.purchases, r.units, r.revenue \
                   FROM sites s, LATERAL product_days_recomputed(s.site_id) r \
                   WHERE r.views <> 0 OR r.add_to_carts <> 0 OR r.removals <> 0 OR r.checkouts <> 0 \
                      OR r.purchases <> 0 OR r.units <> 0 OR r.revenue <> 0) \
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
        "session_days",
        "WITH stored AS (SELECT site_id, day, dim, name, sessions, product_views, carts, checkouts, \
                                purchases, pages, micros FROM session_days WHERE sessions <> 0), \
         fresh AS (SELECT r.* FROM sites s, LATERAL session_days_recomputed(s.site_id) r) \
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
        "WITH stored AS (SELECT site_id, hour, currency, revenue_verified + revenue_unverified AS revenue, \
                         orders_verified + orders_unverified AS orders, customers FROM hourly_sales \
                         WHERE orders_verified + orders_unverified <> 0), \
         fresh AS (SELECT o.site_id, o.hour, o.currency, sum(o.value_minor)::int8 AS revenue, count(*) AS orders, \
                          count(DISTINCT COALESCE(e.user_id, e.visitor_id)) AS customers \
                   FROM orders o JOIN events e ON e.site_id = o.site_id AND e.transaction_id = o.transaction_id \
                        AND e.event_type = 'purchase' AND e.event_id = o.event_id \
                   GROUP BY 1, 2, 3) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
    (
        "product_performance",
        "WITH stored AS (SELECT site_id, hour, item_id, currency, views, add_to_carts, purchases, units \
                         FROM product_performance), \
         fresh AS (SELECT e.site_id, date_bin('15 minutes', e.occurred_at, TIMESTAMPTZ 'epoch') AS hour, \
                          i->>'item_id' AS item_id, coalesce(e.currency, st.currency) AS currency, \
                          count(*) FILTER (WHERE e.event_type = 'view_item') AS views, \
                          count(*) FILTER (WHERE e.event_type = 'add_to_cart') AS add_to_carts, \
                          count(*) FILTER (WHERE e.event_type = 'purchase') AS purchases, \
                          COALESCE(sum((i->>'quantity')::int8) FILTER (WHERE e.event_type = 'purchase'), 0)::int8 AS units \
                   FROM events e JOIN sites st ON st.site_id = e.site_id, jsonb_array_elements(e.items) i \
                   WHERE e.event_type IN ('view_item', 'add_to_cart', 'remove_from_cart', 'begin_checkout', 'purchase', 'view_item_list', 'refund') \
                   GROUP BY 1, 2, 3, 4) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
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
        "WITH stored AS (SELECT site_id, session_id, events, pages, started_at, last_seen FROM sessions), \
         fresh AS (SELECT site_id, session_id, count(*) AS events, \
                          count(*) FILTER (WHERE event_type = 'page_view') AS pages, \
                          min(occurred_at) AS started_at, max(occurred_at) AS last_seen \
                   FROM events WHERE session_id IS NOT NULL GROUP BY 1, 2) \
         SELECT count(*) FROM ((SELECT * FROM stored EXCEPT SELECT * FROM fresh) \
                               UNION ALL (SELECT * FROM fresh EXCEPT SELECT * FROM stored)) d",
    ),
];

/// Tables whose rollups differ from a recomputation, with the number of
/// differing rows. Empty means the rollups are exact.
pub async fn rollup_drift(pool: &PgPool) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
    let mut drift = Vec::new();
    for (table, sql) in CHECKS {
        let rows: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
        if rows != 0 {
            drift.push((table, rows));
        }
    }
    Ok(drift)
}
