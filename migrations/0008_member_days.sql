-- Exact distinct counts (visitors, customers) over any range of whole local
-- days, read from a few hundred rows instead of every session of the range.
--
-- `member_days` keeps, per member of a set, the ascending local days (in the
-- site's time zone) on which it was active. Each active day `day` together
-- with the member's previous active day `prev_day` ('-infinity' on its first
-- day) is one step. The distinct members active in [a, b] are
--
--     (steps with a <= day <= b)  -  (steps with a <= prev_day and day <= b)
--
-- because every member active in the range is counted once, at its first
-- active day there; its later days there follow a `prev_day` inside it.
-- `member_steps` counts members per (prev_day, day), `member_day_totals`
-- per day: all steps ending that day (members active that day) and those
-- from '-infinity' (members whose first day it is: "new").
--
-- Sets: 'visitors' (a stored event that day) and 'customers XXX' (a counted
-- purchase in currency XXX, by the local day of its hour, like the
-- `hourly_customers` rows it mirrors). The flush folds each transaction's
-- new members in with `fold_member_days`, so the counts are exact at every
-- commit; a time-zone change or a rollup rebuild refolds the site.
CREATE TABLE member_days (
    site_id    INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    member_set TEXT COLLATE "C" NOT NULL,
    member     TEXT COLLATE "C" NOT NULL,
    days       DATE[] NOT NULL,
    -- The days the latest fold added (read back by the fold itself).
    fresh      DATE[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (site_id, member_set, member)
);

CREATE TABLE member_steps (
    site_id    INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    member_set TEXT COLLATE "C" NOT NULL,
    prev_day   DATE NOT NULL,
    day        DATE NOT NULL,
    members    BIGINT NOT NULL,
    PRIMARY KEY (site_id, member_set, prev_day, day)
);

CREATE TABLE member_day_totals (
    site_id    INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    member_set TEXT COLLATE "C" NOT NULL,
    day        DATE NOT NULL,
    members    BIGINT NOT NULL,
    firsts     BIGINT NOT NULL,
    PRIMARY KEY (site_id, member_set, day)
);

CREATE TYPE member_day AS (site_id INTEGER, member_set TEXT, member TEXT, day DATE);

-- Adds active days. Only days a member did not have yet change anything:
-- its row is rewritten (locked, so concurrent folds of the same member
-- queue), and the steps and day totals get the difference between its old
-- and its new steps.
CREATE FUNCTION fold_member_days(added member_day[]) RETURNS void
LANGUAGE sql AS $$
    WITH grouped AS (
        SELECT a.site_id, a.member_set, a.member,
               array_agg(DISTINCT a.day ORDER BY a.day) AS days
          FROM unnest(added) a
         WHERE NOT EXISTS (SELECT 1 FROM member_days m
                            WHERE m.site_id = a.site_id AND m.member_set = a.member_set
                              AND m.member = a.member AND m.days @> ARRAY[a.day])
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
    ), up AS (
        INSERT INTO member_days AS m (site_id, member_set, member, days, fresh)
        SELECT site_id, member_set, member, days, days FROM grouped
        ON CONFLICT (site_id, member_set, member) DO UPDATE
           SET days = ARRAY(SELECT DISTINCT d FROM unnest(m.days || EXCLUDED.days) d ORDER BY d),
               fresh = ARRAY(SELECT d FROM unnest(EXCLUDED.days) d WHERE d <> ALL (m.days))
         WHERE NOT m.days @> EXCLUDED.days
        RETURNING m.site_id, m.member_set, m.days,
                  ARRAY(SELECT d FROM unnest(m.days) d WHERE d <> ALL (m.fresh) ORDER BY d) AS old
    ), steps AS (
        SELECT u.site_id, u.member_set, coalesce(u.days[i - 1], '-infinity') AS prev_day,
               u.days[i] AS day, 1 AS n
          FROM up u, generate_subscripts(u.days, 1) i
        UNION ALL
        SELECT u.site_id, u.member_set, coalesce(u.old[i - 1], '-infinity'), u.old[i], -1
          FROM up u, generate_subscripts(u.old, 1) i
    ), delta AS (
        SELECT site_id, member_set, prev_day, day, sum(n)::int8 AS n
          FROM steps GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
    ), stepped AS (
        INSERT INTO member_steps AS t (site_id, member_set, prev_day, day, members)
        SELECT * FROM delta ORDER BY 1, 2, 3, 4
        ON CONFLICT (site_id, member_set, prev_day, day) DO UPDATE
           SET members = t.members + EXCLUDED.members
    )
    INSERT INTO member_day_totals AS t (site_id, member_set, day, members, firsts)
    SELECT site_id, member_set, day, sum(n),
           coalesce(sum(n) FILTER (WHERE prev_day = '-infinity'), 0)
      FROM delta GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (site_id, member_set, day) DO UPDATE
       SET members = t.members + EXCLUDED.members, firsts = t.firsts + EXCLUDED.firsts
$$;

-- A site's member days recomputed from what they mirror: its events and
-- its `hourly_customers`, in its current time zone.
CREATE FUNCTION member_days_recomputed(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, member_set TEXT, member TEXT, days DATE[])
LANGUAGE sql STABLE AS $$
    SELECT e.site_id, 'visitors', e.visitor_id,
           array_agg(DISTINCT (e.occurred_at AT TIME ZONE st.timezone)::date
                     ORDER BY (e.occurred_at AT TIME ZONE st.timezone)::date)
      FROM events e JOIN sites st ON st.site_id = e.site_id
     WHERE e.site_id = p_site
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT c.site_id, 'customers ' || c.currency, c.customer,
           array_agg(DISTINCT (c.hour AT TIME ZONE st.timezone)::date
                     ORDER BY (c.hour AT TIME ZONE st.timezone)::date)
      FROM hourly_customers c JOIN sites st ON st.site_id = c.site_id
     WHERE c.site_id = p_site
     GROUP BY 1, 2, 3
$$;

-- The steps of a site's stored member days.
CREATE FUNCTION member_steps_of(p_site INTEGER)
RETURNS TABLE (site_id INTEGER, member_set TEXT, prev_day DATE, day DATE, members BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT m.site_id, m.member_set, coalesce(m.days[i - 1], '-infinity'), m.days[i], count(*)
      FROM member_days m, generate_subscripts(m.days, 1) i
     WHERE m.site_id = p_site
     GROUP BY 1, 2, 3, 4
$$;

-- Replaces a site's member days, steps and day totals with a recomputation.
CREATE FUNCTION refold_member_days(p_site INTEGER) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM member_days WHERE site_id = p_site;
    DELETE FROM member_steps WHERE site_id = p_site;
    DELETE FROM member_day_totals WHERE site_id = p_site;
    INSERT INTO member_days (site_id, member_set, member, days)
    SELECT * FROM member_days_recomputed(p_site);
    INSERT INTO member_steps SELECT * FROM member_steps_of(p_site);
    INSERT INTO member_day_totals
    SELECT site_id, member_set, day, sum(members),
           coalesce(sum(members) FILTER (WHERE prev_day = '-infinity'), 0)
      FROM member_steps WHERE site_id = p_site
     GROUP BY 1, 2, 3;
$$;

SELECT refold_member_days(site_id) FROM sites;

