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

-- Filled once for what is stored, as the fold would have left it. The
-- fold log may still hold events this process has not folded (a server
-- stops with its log for the next one): their purchases are in `orders`
-- already, so the fill must leave to the fold what the fold will add. An
-- order whose first report is still in the log counts nothing yet (the
-- fold adds it); one whose verification is still in the log counts at its
-- first report's amount (the fold moves it to the signed one). A log row
-- that does not decode is skipped here, as the fold leaves it.
CREATE FUNCTION pg_temp.pending_purchases()
RETURNS TABLE (id BIGINT, site_id INTEGER, transaction_id TEXT, fate TEXT, currency TEXT, old_minor BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    FOR r IN SELECT p.id, p.site_id, p.body FROM fold_pending p ORDER BY p.id LOOP
        BEGIN
            RETURN QUERY
            SELECT r.id::bigint, r.site_id, e->>'transaction', e->'fate'->>'is',
                   e->'fate'->>'currency', (e->'fate'->>'old_minor')::bigint
              FROM jsonb_array_elements(convert_from(r.body, 'UTF8')::jsonb) e
             WHERE e->>'kind' = 'purchase' AND e->>'transaction' IS NOT NULL
               AND e->'fate'->>'is' IN ('new_order', 'verifies');
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END LOOP;
END
$$;

CREATE TEMP TABLE pending_purchases ON COMMIT DROP AS SELECT * FROM pg_temp.pending_purchases();

CREATE TEMP TABLE folded_orders ON COMMIT DROP AS
SELECT o.site_id, e.session_id, coalesce(v.currency, o.currency::text) AS currency,
       coalesce(v.old_minor, o.value_minor) AS minor
  FROM orders o
  JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id
  LEFT JOIN LATERAL (SELECT p.currency, p.old_minor FROM pending_purchases p
                      WHERE p.site_id = o.site_id AND p.transaction_id = o.transaction_id
                        AND p.fate = 'verifies'
                      ORDER BY p.id LIMIT 1) v ON true
 WHERE e.session_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM pending_purchases p
                    WHERE p.site_id = o.site_id AND p.transaction_id = o.transaction_id
                      AND p.fate = 'new_order');

UPDATE sessions SET revenue = '{}' WHERE revenue <> '{}';
UPDATE sessions s SET revenue = r.revenue
  FROM (SELECT site_id, session_id, jsonb_object_agg(currency, minor ORDER BY currency) AS revenue
          FROM (SELECT site_id, session_id, currency, sum(minor)::int8 AS minor FROM folded_orders
                 GROUP BY 1, 2, 3 HAVING sum(minor) <> 0) x
         GROUP BY 1, 2) r
 WHERE s.site_id = r.site_id AND s.session_id = r.session_id;
DELETE FROM landing_revenue_days;
INSERT INTO landing_revenue_days (site_id, day, currency, path, revenue)
SELECT f.site_id, (s.started_at AT TIME ZONE st.timezone)::date, f.currency, url_path(s.entry_url),
       sum(f.minor)::int8
  FROM folded_orders f
  JOIN sessions s ON s.site_id = f.site_id AND s.session_id = f.session_id
  JOIN sites st ON st.site_id = f.site_id
 WHERE s.entry_url IS NOT NULL
 GROUP BY 1, 2, 3, 4 HAVING sum(f.minor) <> 0;
ANALYZE landing_revenue_days, sessions;
