-- Products summed per site, local day (in the site's time zone, by the day
-- of each UTC hour, as the hourly pages count), item and currency, so the
-- product pages read a row per product and day instead of one per hour.
-- Kept exact by statement triggers on `product_performance`, like
-- `session_days` on `sessions`: each insert, update or delete adds the new
-- rows' counts and subtracts the old ones'. Names and categories are the
-- latest written for that day. A time-zone change refolds the site
-- (`store::sites::update`).
CREATE TABLE product_days (
    site_id       INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    day           DATE NOT NULL,
    item_id       TEXT COLLATE "C" NOT NULL,
    currency      CHAR(3) NOT NULL,
    item_name     TEXT NOT NULL,
    item_category TEXT NOT NULL,
    views         BIGINT NOT NULL,
    add_to_carts  BIGINT NOT NULL,
    removals      BIGINT NOT NULL,
    checkouts     BIGINT NOT NULL,
    purchases     BIGINT NOT NULL,
    units         BIGINT NOT NULL,
    revenue       BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, item_id, currency)
);

CREATE FUNCTION product_days_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed product_days[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ROW(n.site_id, (n.hour AT TIME ZONE st.timezone)::date, n.item_id,
                             n.currency, n.item_name, n.item_category, n.views, n.add_to_carts,
                             n.removals, n.checkouts, n.purchases, n.units, n.revenue)::product_days)
          INTO changed
          FROM changed_new n JOIN sites st ON st.site_id = n.site_id;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(u.x) INTO changed FROM (
            SELECT ROW(n.site_id, (n.hour AT TIME ZONE st.timezone)::date, n.item_id, n.currency,
                       n.item_name, n.item_category, n.views, n.add_to_carts, n.removals,
                       n.checkouts, n.purchases, n.units, n.revenue)::product_days
              FROM changed_new n JOIN sites st ON st.site_id = n.site_id
            UNION ALL
            -- No name: the new row's wins.
            SELECT ROW(o.site_id, (o.hour AT TIME ZONE st.timezone)::date, o.item_id, o.currency,
                       NULL, NULL, -o.views, -o.add_to_carts, -o.removals,
                       -o.checkouts, -o.purchases, -o.units, -o.revenue)::product_days
              FROM changed_old o JOIN sites st ON st.site_id = o.site_id) AS u(x);
    ELSE
        SELECT array_agg(ROW(o.site_id, (o.hour AT TIME ZONE st.timezone)::date, o.item_id,
                             o.currency, NULL, NULL, -o.views, -o.add_to_carts, -o.removals,
                             -o.checkouts, -o.purchases, -o.units, -o.revenue)::product_days)
          INTO changed
          FROM changed_old o JOIN sites st ON st.site_id = o.site_id;
    END IF;
    INSERT INTO product_days AS t
    SELECT site_id, day, item_id, currency,
           coalesce(max(item_name), ''), coalesce(max(item_category), ''),
           sum(views), sum(add_to_carts), sum(removals), sum(checkouts),
           sum(purchases), sum(units), sum(revenue)
      FROM unnest(changed)
     GROUP BY site_id, day, item_id, currency
     ORDER BY site_id, day, item_id, currency
    ON CONFLICT (site_id, day, item_id, currency) DO UPDATE SET
        item_name = CASE WHEN EXCLUDED.item_name <> '' THEN EXCLUDED.item_name ELSE t.item_name END,
        item_category = CASE WHEN EXCLUDED.item_name <> '' THEN EXCLUDED.item_category
                             ELSE t.item_category END,
        views = t.views + EXCLUDED.views,
        add_to_carts = t.add_to_carts + EXCLUDED.add_to_carts,
        removals = t.removals + EXCLUDED.removals,
        checkouts = t.checkouts + EXCLUDED.checkouts,
        purchases = t.purchases + EXCLUDED.purchases,
        units = t.units + EXCLUDED.units,
        revenue = t.revenue + EXCLUDED.revenue;
    RETURN NULL;
END;
$$;

CREATE TRIGGER product_days_insert AFTER INSERT ON product_performance
    REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION product_days_apply();
CREATE TRIGGER product_days_update AFTER UPDATE ON product_performance
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION product_days_apply();
CREATE TRIGGER product_days_delete AFTER DELETE ON product_performance
    REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION product_days_apply();

-- A site's product days recomputed from its hourly rows (names: the
-- greatest of the day's, where the triggers keep the latest written).
CREATE FUNCTION product_days_recomputed(p_site INTEGER) RETURNS SETOF product_days
LANGUAGE sql STABLE AS $$
    SELECT p.site_id, (p.hour AT TIME ZONE st.timezone)::date, p.item_id, p.currency,
           max(p.item_name), max(p.item_category),
           sum(p.views)::int8, sum(p.add_to_carts)::int8, sum(p.removals)::int8,
           sum(p.checkouts)::int8, sum(p.purchases)::int8, sum(p.units)::int8, sum(p.revenue)::int8
      FROM product_performance p JOIN sites st ON st.site_id = p.site_id
     WHERE p.site_id = p_site
     GROUP BY 1, 2, 3, 4
$$;

CREATE FUNCTION refold_product_days(p_site INTEGER) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM product_days WHERE site_id = p_site;
    INSERT INTO product_days SELECT * FROM product_days_recomputed(p_site);
$$;

SELECT refold_product_days(site_id) FROM sites;

-- Top customers: the biggest spenders first, ties by customer, read in
-- index order until enough were seen in the range (the index of 0003
-- lacked the tie-break, so every customer of the top spend was sorted).
DROP INDEX user_activity_site_spend;
CREATE INDEX user_activity_site_spend ON user_activity
    (site_id, spend DESC, (coalesce(user_id, visitor_id))) WHERE orders > 0;
