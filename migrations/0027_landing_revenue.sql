-- Revenue per landing page from a day table instead of a join per request.
-- Joining the range's orders to their sessions (0024's index) took 1.6 s
-- for 30 days at 10 million events; this reads one row per day, path and
-- currency.
--
-- Each session keeps the gross amount of its orders (those whose first
-- report it holds) per currency, at their amount now: `sessions.revenue`,
-- `{"EUR": 2598}` in minor units. The fold adds a new order's amount to
-- its session and moves a verified order's to the signed amount. The
-- session's revenue counts under its landing page on the local day of its
-- start (`SessionDelta::revenue_rows`), in `landing_revenue_days`, and
-- moves like the session's `session_days` rows: the old row comes off and
-- the new one goes on whenever the session changes, so a late page view
-- that moves the landing page moves the revenue with it.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS revenue JSONB NOT NULL DEFAULT '{}';

CREATE TABLE IF NOT EXISTS landing_revenue_days (
    site_id  INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    day      DATE NOT NULL,
    currency TEXT COLLATE "C" NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    revenue  BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, currency, path)
);

-- Each session's revenue recomputed from its orders: an order belongs to
-- the session of its first report (`orders.event_id`), at the order's
-- amount now.
CREATE OR REPLACE FUNCTION session_revenue_recomputed(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, session_id TEXT, revenue JSONB)
LANGUAGE sql STABLE AS $$
    SELECT r.site_id, r.session_id, jsonb_object_agg(r.currency, r.minor ORDER BY r.currency)
      FROM (SELECT o.site_id, e.session_id, o.currency::text AS currency, sum(o.value_minor)::int8 AS minor
              FROM orders o JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id
             WHERE o.site_id = p_site AND e.session_id IS NOT NULL
             GROUP BY 1, 2, 3 HAVING sum(o.value_minor) <> 0) r
     GROUP BY 1, 2
$$;

-- Revenue per landing page and day recomputed from the orders and the
-- sessions' entry pages and starts (not from `sessions.revenue`).
CREATE OR REPLACE FUNCTION landing_revenue_days_recomputed(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, day DATE, currency TEXT, path TEXT, revenue BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT o.site_id, (s.started_at AT TIME ZONE st.timezone)::date, o.currency::text,
           url_path(s.entry_url), sum(o.value_minor)::int8
      FROM orders o
      JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id
      JOIN sessions s ON s.site_id = e.site_id AND s.session_id = e.session_id
      JOIN sites st ON st.site_id = o.site_id
     WHERE o.site_id = p_site AND s.entry_url IS NOT NULL
     GROUP BY 1, 2, 3, 4 HAVING sum(o.value_minor) <> 0
$$;

-- Filled once for what is stored (replacing what the upgrade test's v1
-- database has: today's fold wrote it).
UPDATE sessions SET revenue = '{}' WHERE revenue <> '{}';
UPDATE sessions s SET revenue = r.revenue
  FROM sites st, LATERAL session_revenue_recomputed(st.site_id) r
 WHERE s.site_id = r.site_id AND s.session_id = r.session_id;
DELETE FROM landing_revenue_days;
INSERT INTO landing_revenue_days
SELECT r.* FROM sites s, LATERAL landing_revenue_days_recomputed(s.site_id) r;
ANALYZE landing_revenue_days, sessions;
