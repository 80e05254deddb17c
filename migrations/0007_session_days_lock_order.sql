-- Concurrent flushes deadlocked on `session_days` (PostgreSQL broke each
-- cycle after its 1 s deadlock_timeout, and the flush retried): the
-- trigger upserted its rows in hash-aggregate order, so two transactions
-- could lock the same day's rows in opposite orders. Rows are now upserted
-- in key order, like every other rollup.
CREATE OR REPLACE FUNCTION session_days_apply() RETURNS trigger LANGUAGE plpgsql AS $$
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
     ORDER BY site_id, day, dim, name
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

