-- Bounces (sessions of exactly one page view) and engaged sessions (GA4's
-- rule: 10 seconds or longer, two or more page views, or a purchase) per
-- day and dimension, and two dimensions more: the session's landing page
-- ('l') and exit page ('x'), the paths of its first and last page view.
-- The fold writes them (`SessionDelta::day_rows`); the functions below are
-- the drift check's second reading of the same rules, and fill the new
-- columns and rows of an existing database once.
ALTER TABLE session_days ADD COLUMN IF NOT EXISTS bounces BIGINT NOT NULL DEFAULT 0,
                         ADD COLUMN IF NOT EXISTS engaged BIGINT NOT NULL DEFAULT 0;

-- A URL's path: no scheme, host, query or fragment; '/' when that leaves
-- nothing; NULL for NULL (`aggregate::fold::url_path` in Rust).
CREATE FUNCTION url_path(url TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN url IS NULL THEN NULL ELSE coalesce(nullif(
        split_part(split_part(regexp_replace(url, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', ''),
                              '?', 1), '#', 1), ''), '/') END
$$;

CREATE OR REPLACE FUNCTION session_day_rows(changed sessions, sign INTEGER, timezone TEXT)
RETURNS SETOF session_days
LANGUAGE sql STABLE AS $$
    SELECT changed.site_id, (changed.started_at AT TIME ZONE timezone)::date, d.dim, d.name,
           sign, sign * (changed.product_views > 0)::int, sign * (changed.add_to_carts > 0)::int,
           sign * (changed.checkouts > 0)::int, sign * (changed.purchases > 0)::int,
           sign * changed.pages,
           sign * (extract(epoch FROM changed.last_seen - changed.started_at) * 1000000)::int8,
           sign * (changed.pages = 1)::int,
           sign * (changed.last_seen - changed.started_at >= interval '10 seconds'
                   OR changed.pages >= 2 OR changed.purchases > 0)::int
      FROM (VALUES ('t'::"char", ''),
                   ('s', coalesce(changed.utm_source, changed.referrer_host, 'Direct')),
                   ('d', changed.device), ('b', changed.browser),
                   ('c', changed.utm_campaign),
                   ('l', url_path(changed.entry_url)), ('x', url_path(changed.exit_url))) AS d(dim, name)
     WHERE d.name IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION session_days_recomputed(p_site INTEGER) RETURNS SETOF session_days
LANGUAGE sql STABLE AS $$
    SELECT x.site_id, x.day, x.dim, x.name, sum(x.sessions)::int8, sum(x.product_views)::int8,
           sum(x.carts)::int8, sum(x.checkouts)::int8, sum(x.purchases)::int8,
           sum(x.pages)::int8, sum(x.micros)::int8, sum(x.bounces)::int8, sum(x.engaged)::int8
      FROM sessions s JOIN sites st ON st.site_id = s.site_id,
           LATERAL session_day_rows(s, 1, st.timezone) x
     WHERE s.site_id = p_site
     GROUP BY 1, 2, 3, 4
$$;

-- The new columns and dimensions for the sessions stored so far.
DELETE FROM session_days;
INSERT INTO session_days SELECT r.* FROM sites s, LATERAL session_days_recomputed(s.site_id) r;
