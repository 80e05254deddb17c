-- A site's `session_days` recomputed from its sessions, and the refold
-- that replaces them with it, as functions like those of `member_days`
-- and `product_days`: the time-zone change and the drift check call these
-- instead of each spelling out the recomputation.
CREATE FUNCTION session_days_recomputed(p_site INTEGER) RETURNS SETOF session_days
LANGUAGE sql STABLE AS $$
    SELECT x.site_id, x.day, x.dim, x.name, sum(x.sessions)::int8, sum(x.product_views)::int8,
           sum(x.carts)::int8, sum(x.checkouts)::int8, sum(x.purchases)::int8,
           sum(x.pages)::int8, sum(x.micros)::int8
      FROM sessions s JOIN sites st ON st.site_id = s.site_id,
           LATERAL session_day_rows(s, 1, st.timezone) x
     WHERE s.site_id = p_site
     GROUP BY 1, 2, 3, 4
$$;

CREATE FUNCTION refold_session_days(p_site INTEGER) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM session_days WHERE site_id = p_site;
    INSERT INTO session_days SELECT * FROM session_days_recomputed(p_site);
$$;
