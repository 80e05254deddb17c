-- Customers across devices, and who was seen when (issue 14, B2 and B3).
--
-- A customer is the shop's `user_id` of an order's purchase row, else its
-- visitor id, each event on its own: an order sent without `user_id` is its
-- visitor's, even from a visitor that signed in before. `user_activity` is
-- kept per visitor, so one shopper on a phone and a laptop made two
-- customers there; `customer_activity` keeps one row per customer:
--   orders, spend  the orders whose customer it is; spend only of those in
--                  the site's currency (signed confirmations' amounts)
--   first_seen,    the first and last event carrying the customer as
--   last_seen      `user_id`; NULL for a customer no event named so (its
--                  events as a visitor are its `user_activity` row's)
-- The fold adds to it like to every rollup (`aggregate::fold`,
-- `store::upserts::customer_activity`).
--
-- A customer is seen on a local day when an event of that day carries its
-- id, as `user_id` or as visitor id: `member_days` gets the set 'users',
-- the local days of the events carrying each `user_id`, beside 'visitors'.
-- `customer_days` holds, per customer and day it was seen, its current
-- spend: top customers of a range are the biggest spenders among each
-- day's ten biggest, ten rows per day of the range however many customers
-- the site has (`store::stats::top_customers`).
CREATE TABLE customer_activity (
    site_id    INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    customer   TEXT COLLATE "C" NOT NULL,
    first_seen TIMESTAMPTZ,
    last_seen  TIMESTAMPTZ,
    orders     BIGINT NOT NULL DEFAULT 0,
    -- In the site's currency; orders in other currencies count in `orders` only.
    spend      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, customer)
);

-- Top customers no longer read `user_activity` by spend.
DROP INDEX user_activity_site_spend;

-- A site's customers recomputed from its orders' purchase rows (one per
-- order, migration 0011) and its events: what the drift check compares
-- `customer_activity` with, and what fills it here.
CREATE FUNCTION customer_activity_recomputed(p_site INTEGER) RETURNS SETOF customer_activity
LANGUAGE sql STABLE AS $$
    WITH seen AS (
        SELECT e.user_id AS customer, min(e.occurred_at) AS first_seen,
               max(e.occurred_at) AS last_seen
          FROM events e
         WHERE e.site_id = p_site AND e.user_id IS NOT NULL
         GROUP BY 1
    ), bought AS (
        SELECT coalesce(e.user_id, e.visitor_id) AS customer, count(*) AS orders,
               sum(o.value_minor) FILTER (WHERE o.currency = st.currency) AS spend
          FROM orders o
          JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id
          JOIN sites st ON st.site_id = o.site_id
         WHERE o.site_id = p_site
         GROUP BY 1
    )
    SELECT p_site, customer, s.first_seen, s.last_seen,
           coalesce(b.orders, 0)::int8, coalesce(b.spend, 0)::int8
      FROM seen s FULL JOIN bought b USING (customer)
$$;

INSERT INTO customer_activity
SELECT r.* FROM sites s, LATERAL customer_activity_recomputed(s.site_id) r;

-- The member sets of 0008 plus 'users'.
CREATE OR REPLACE FUNCTION member_days_recomputed(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, member_set TEXT, member TEXT, days DATE[])
LANGUAGE sql STABLE AS $$
    SELECT e.site_id, 'visitors', e.visitor_id,
           array_agg(DISTINCT (e.occurred_at AT TIME ZONE st.timezone)::date
                     ORDER BY (e.occurred_at AT TIME ZONE st.timezone)::date)
      FROM events e JOIN sites st ON st.site_id = e.site_id
     WHERE e.site_id = p_site
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT e.site_id, 'users', e.user_id,
           array_agg(DISTINCT (e.occurred_at AT TIME ZONE st.timezone)::date
                     ORDER BY (e.occurred_at AT TIME ZONE st.timezone)::date)
      FROM events e JOIN sites st ON st.site_id = e.site_id
     WHERE e.site_id = p_site AND e.user_id IS NOT NULL
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT c.site_id, 'customers ' || c.currency, c.customer,
           array_agg(DISTINCT (c.hour AT TIME ZONE st.timezone)::date
                     ORDER BY (c.hour AT TIME ZONE st.timezone)::date)
      FROM hourly_customers c JOIN sites st ON st.site_id = c.site_id
     WHERE c.site_id = p_site
     GROUP BY 1, 2, 3
$$;

SELECT refold_member_days(site_id) FROM sites;

-- Each customer (with an order) on each local day it was seen, with its
-- spend as `customer_activity` has it now. The flush adds the days its
-- events bring and rewrites the rows of customers whose spend changed
-- (`store::upserts::customer_days`); time-zone changes and rebuilds
-- refold it after `member_days`.
CREATE TABLE customer_days (
    site_id  INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    customer TEXT COLLATE "C" NOT NULL,
    day      DATE NOT NULL,
    spend    BIGINT NOT NULL,
    PRIMARY KEY (site_id, customer, day)
);
CREATE INDEX customer_days_top ON customer_days (site_id, day, spend DESC, customer);

-- A site's customer days from its stored `customer_activity` and
-- `member_days` (both checked against events by the drift check).
CREATE FUNCTION customer_days_of(p_site INTEGER) RETURNS SETOF customer_days
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT c.site_id, c.customer, d.day, c.spend
      FROM customer_activity c
      JOIN member_days m ON m.site_id = c.site_id AND m.member_set IN ('users', 'visitors')
                        AND m.member = c.customer,
           unnest(m.days) AS d(day)
     WHERE c.site_id = p_site AND c.orders > 0
$$;

CREATE FUNCTION refold_customer_days(p_site INTEGER) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM customer_days WHERE site_id = p_site;
    INSERT INTO customer_days SELECT * FROM customer_days_of(p_site);
$$;

SELECT refold_customer_days(site_id) FROM sites;

-- The top-customers read wants each day's rows in index order: give the
-- planner the new tables' sizes now rather than at the next autovacuum.
ANALYZE customer_activity, customer_days, member_days;
