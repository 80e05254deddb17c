-- Visitors per landing page and per exit page, exact over any range of
-- whole local days.
--
-- A distinct count cannot be summed from day rows, so each landing page
-- gets a member set, 'landing <path>', and each exit page one, 'exit
-- <path>', read like 'visitors' (migration 0008: `member_steps` and
-- `member_day_totals`). Member sets of events only grow; these can
-- shrink: a late page view can move a session's first page, and every
-- page view moves its last one. So membership is a count:
-- `page_visitor_days` holds, per site, visitor, dimension ('l' landing,
-- 'x' exit, as in `session_days`), path and local day (of the session's
-- start, in the site's zone), how many of the visitor's sessions landed
-- on (or left from) the path that day. The fold adds each session's 'l'
-- and 'x' rows (+1) and takes the old ones back (-1) when a session
-- changes, from the same `SessionDelta::day_rows` that moves its
-- `session_days` rows (`upserts::sessions`). Only a count that goes from 0
-- to 1 or back adds or removes a member day, and only those move the steps.
CREATE TABLE IF NOT EXISTS page_visitor_days (
    site_id  INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    visitor  TEXT COLLATE "C" NOT NULL,
    dim      "char" NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    day      DATE NOT NULL,
    sessions BIGINT NOT NULL,
    PRIMARY KEY (site_id, visitor, dim, path, day)
);

-- What the table holds, recomputed from `sessions` (the drift check's and
-- the dashboard benchmark's reading): the paths of the entry and exit URLs
-- by SQL's `url_path` (migration 0021), the day of the start in the
-- site's zone.
CREATE OR REPLACE FUNCTION page_visitor_days_recomputed(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, visitor TEXT, dim "char", path TEXT, day DATE, sessions BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT s.site_id, s.visitor_id, d.dim, d.path,
           (s.started_at AT TIME ZONE st.timezone)::date, count(*)
      FROM sessions s JOIN sites st ON st.site_id = s.site_id,
           LATERAL (VALUES ('l'::"char", url_path(s.entry_url)),
                           ('x'::"char", url_path(s.exit_url))) AS d(dim, path)
     WHERE s.site_id = p_site AND d.path IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5
$$;

-- The member set of a page: 'landing <path>' or 'exit <path>'.
CREATE OR REPLACE FUNCTION page_member_set(p_dim "char", p_path TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_dim WHEN 'l' THEN 'landing ' ELSE 'exit ' END || p_path
$$;

-- The steps of a site's page sets: per (visitor, dim, path), each day with
-- sessions after the previous one ('-infinity' first).
CREATE OR REPLACE FUNCTION page_steps_of(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, member_set TEXT, prev_day DATE, day DATE, members BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT l.site_id, page_member_set(l.dim, l.path), l.prev_day, l.day, count(*)
      FROM (SELECT d.site_id, d.dim, d.path, d.day,
                   coalesce(lag(d.day) OVER (PARTITION BY d.visitor, d.dim, d.path ORDER BY d.day),
                            '-infinity') AS prev_day
              FROM page_visitor_days d
             WHERE d.site_id = p_site AND d.sessions > 0) l
     GROUP BY 1, 2, 3, 4
$$;

-- The steps of every member set of a site: those of `member_days`
-- (migration 0008) and the page sets.
CREATE OR REPLACE FUNCTION member_steps_of(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, member_set TEXT, prev_day DATE, day DATE, members BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT m.site_id, m.member_set, coalesce(m.days[i - 1], '-infinity'), m.days[i], count(*)
      FROM member_days m, generate_subscripts(m.days, 1) i
     WHERE m.site_id = p_site
     GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT * FROM page_steps_of(p_site)
$$;

-- Filled once for the sessions already stored. (Replacing whatever is
-- there: the upgrade test's v1 database already has the table and its
-- steps, which today's fold wrote.)
DELETE FROM page_visitor_days;
DELETE FROM member_steps WHERE member_set LIKE 'landing %' OR member_set LIKE 'exit %';
DELETE FROM member_day_totals WHERE member_set LIKE 'landing %' OR member_set LIKE 'exit %';
INSERT INTO page_visitor_days
SELECT r.* FROM sites s, LATERAL page_visitor_days_recomputed(s.site_id) r;
INSERT INTO member_steps SELECT r.* FROM sites s, LATERAL page_steps_of(s.site_id) r;
INSERT INTO member_day_totals (site_id, member_set, day, members, firsts)
SELECT site_id, member_set, day, sum(members),
       coalesce(sum(members) FILTER (WHERE prev_day = '-infinity'), 0)
  FROM member_steps WHERE member_set LIKE 'landing %' OR member_set LIKE 'exit %'
 GROUP BY 1, 2, 3;
-- Statistics now, not at the next autovacuum: the cut-day reads probe this
-- table per (visitor, path), and a plan made without them scans it.
ANALYZE page_visitor_days;
