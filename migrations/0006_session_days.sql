-- Sessions summed per site, local day (in the site's time zone) and
-- dimension, so the Overview and User Activity pages read a few rows a day
-- instead of every session of the range. Kept exact by statement triggers
-- on `sessions`: each insert, update or delete adds the new rows' values
-- and subtracts the old ones', in the same transaction. A time-zone change
-- refolds the site (`store::sites::update`).
CREATE TABLE session_days (
    site_id    INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    day        DATE NOT NULL,
    -- 't' total (name ''), 's' source, 'd' device, 'b' browser, 'c' UTM campaign.
    dim        "char" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    sessions      BIGINT NOT NULL,
    product_views BIGINT NOT NULL,
    carts         BIGINT NOT NULL,
    checkouts     BIGINT NOT NULL,
    purchases     BIGINT NOT NULL,
    pages         BIGINT NOT NULL,
    -- Sum of (last_seen - started_at) in microseconds: exact, unlike floats.
    micros        BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, dim, name)
);

-- One row per session and dimension it counts under, signed.
CREATE FUNCTION session_day_rows(changed sessions, sign INTEGER, timezone TEXT)
RETURNS SETOF session_days
LANGUAGE sql STABLE AS $$
    SELECT changed.site_id, (changed.started_at AT TIME ZONE timezone)::date, d.dim, d.name,
           sign, sign * (changed.product_views > 0)::int, sign * (changed.add_to_carts > 0)::int,
           sign * (changed.checkouts > 0)::int, sign * (changed.purchases > 0)::int,
           sign * changed.pages,
           sign * (extract(epoch FROM changed.last_seen - changed.started_at) * 1000000)::int8
      FROM (VALUES ('t'::"char", ''),
                   ('s', coalesce(changed.utm_source, changed.referrer_host, 'Direct')),
                   ('d', changed.device), ('b', changed.browser),
                   ('c', changed.utm_campaign)) AS d(dim, name)
     WHERE d.name IS NOT NULL
$$;

-- Adds the signed rows of the statement's old and new sessions. (Each
-- branch names only the transition tables its event has.)
CREATE FUNCTION session_days_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed session_days[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(x) INTO changed
          FROM changed_new n JOIN sites st ON st.site_id = n.site_id,
               LATERAL session_day_rows(n, 1, st.timezone) x;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(u.x) INTO changed FROM (
            SELECT x FROM changed_new n JOIN sites st ON st.site_id = n.site_id,
                   LATERAL session_day_rows(n, 1, st.timezone) x
            UNION ALL
            SELECT x FROM changed_old o JOIN sites st ON st.site_id = o.site_id,
                   LATERAL session_day_rows(o, -1, st.timezone) x) AS u(x);
    ELSE
        SELECT array_agg(x) INTO changed
          FROM changed_old o JOIN sites st ON st.site_id = o.site_id,
               LATERAL session_day_rows(o, -1, st.timezone) x;
    END IF;
    INSERT INTO session_days AS t
    SELECT site_id, day, dim, name, sum(sessions), sum(product_views), sum(carts),
           sum(checkouts), sum(purchases), sum(pages), sum(micros)
      FROM unnest(changed)
     GROUP BY site_id, day, dim, name
    HAVING sum(sessions) <> 0 OR sum(product_views) <> 0 OR sum(carts) <> 0
        OR sum(checkouts) <> 0 OR sum(purchases) <> 0 OR sum(pages) <> 0
        OR sum(micros) <> 0
    ON CONFLICT (site_id, day, dim, name) DO UPDATE SET
        sessions = t.sessions + EXCLUDED.sessions,
        product_views = t.product_views + EXCLUDED.product_views,
        carts = t.carts + EXCLUDED.carts,
        checkouts = t.checkouts + EXCLUDED.checkouts,
        purchases = t.purchases + EXCLUDED.purchases,
        pages = t.pages + EXCLUDED.pages,
        micros = t.micros + EXCLUDED.micros;
    RETURN NULL;
END;
$$;

CREATE TRIGGER session_days_insert AFTER INSERT ON sessions
    REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION session_days_apply();
CREATE TRIGGER session_days_update AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION session_days_apply();
CREATE TRIGGER session_days_delete AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION session_days_apply();

-- The sessions stored so far.
INSERT INTO session_days
SELECT x.site_id, x.day, x.dim, x.name, sum(x.sessions), sum(x.product_views), sum(x.carts),
       sum(x.checkouts), sum(x.purchases), sum(x.pages), sum(x.micros)
  FROM sessions s JOIN sites st ON st.site_id = s.site_id,
       LATERAL session_day_rows(s, 1, st.timezone) x
 GROUP BY 1, 2, 3, 4;
