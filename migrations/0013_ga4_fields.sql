-- GA4's e-commerce fields (issue 14): an order's tax, shipping and coupon
-- with its event, tax and shipping per hour, list impressions per product,
-- and refunds of items off their products' units and revenue.
--
-- Tax and shipping are columns of `events`, not a JSONB field: they are
-- amounts, integer minor units of the event's currency like `value_minor`,
-- which the fold adds up, rebuilds read back and the drift check sums in
-- plain SQL; a column keeps them typed and out of the shop's own props.
-- The coupon sits beside them. GA4's item fields go into `items` (JSONB)
-- with the first six, since they are per line and no report sums them.
-- `orders` keeps its counted report's tax and shipping, so a signed report
-- that verifies an order replaces them as it replaces its value.

ALTER TABLE events
    ADD COLUMN tax_minor BIGINT,
    ADD COLUMN shipping_minor BIGINT,
    ADD COLUMN coupon TEXT;

ALTER TABLE orders
    ADD COLUMN tax_minor BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN shipping_minor BIGINT NOT NULL DEFAULT 0;

-- The orders' tax and shipping less the refunds' booked to the same hour.
ALTER TABLE hourly_sales
    ADD COLUMN tax BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN shipping BIGINT NOT NULL DEFAULT 0;

ALTER TABLE product_performance ADD COLUMN impressions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE product_days ADD COLUMN impressions BIGINT NOT NULL DEFAULT 0;

-- 0009's trigger and recomputation, with impressions (the last column).
CREATE OR REPLACE FUNCTION product_days_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed product_days[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ROW(n.site_id, (n.hour AT TIME ZONE st.timezone)::date, n.item_id,
                             n.currency, n.item_name, n.item_category, n.views, n.add_to_carts,
                             n.removals, n.checkouts, n.purchases, n.units, n.revenue,
                             n.impressions)::product_days)
          INTO changed
          FROM changed_new n JOIN sites st ON st.site_id = n.site_id;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(u.x) INTO changed FROM (
            SELECT ROW(n.site_id, (n.hour AT TIME ZONE st.timezone)::date, n.item_id, n.currency,
                       n.item_name, n.item_category, n.views, n.add_to_carts, n.removals,
                       n.checkouts, n.purchases, n.units, n.revenue, n.impressions)::product_days
              FROM changed_new n JOIN sites st ON st.site_id = n.site_id
            UNION ALL
            -- No name: the new row's wins.
            SELECT ROW(o.site_id, (o.hour AT TIME ZONE st.timezone)::date, o.item_id, o.currency,
                       NULL, NULL, -o.views, -o.add_to_carts, -o.removals,
                       -o.checkouts, -o.purchases, -o.units, -o.revenue, -o.impressions)::product_days
              FROM changed_old o JOIN sites st ON st.site_id = o.site_id) AS u(x);
    ELSE
        SELECT array_agg(ROW(o.site_id, (o.hour AT TIME ZONE st.timezone)::date, o.item_id,
                             o.currency, NULL, NULL, -o.views, -o.add_to_carts, -o.removals,
                             -o.checkouts, -o.purchases, -o.units, -o.revenue,
                             -o.impressions)::product_days)
          INTO changed
          FROM changed_old o JOIN sites st ON st.site_id = o.site_id;
    END IF;
    INSERT INTO product_days AS t
    SELECT site_id, day, item_id, currency,
           coalesce(max(item_name), ''), coalesce(max(item_category), ''),
           sum(views), sum(add_to_carts), sum(removals), sum(checkouts),
           sum(purchases), sum(units), sum(revenue), sum(impressions)
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
        revenue = t.revenue + EXCLUDED.revenue,
        impressions = t.impressions + EXCLUDED.impressions;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION product_days_recomputed(p_site INTEGER) RETURNS SETOF product_days
LANGUAGE sql STABLE AS $$
    SELECT p.site_id, (p.hour AT TIME ZONE st.timezone)::date, p.item_id, p.currency,
           max(p.item_name), max(p.item_category),
           sum(p.views)::int8, sum(p.add_to_carts)::int8, sum(p.removals)::int8,
           sum(p.checkouts)::int8, sum(p.purchases)::int8, sum(p.units)::int8, sum(p.revenue)::int8,
           sum(p.impressions)::int8
      FROM product_performance p JOIN sites st ON st.site_id = p.site_id
     WHERE p.site_id = p_site
     GROUP BY 1, 2, 3, 4
$$;

-- Existing events, folded as the fold now does (`aggregate::fold`), so the
-- rollups equal a recomputation from them right away.
-- Every item of a `view_item_list` is an impression, in the hour of the
-- event and its currency (the site's when it has no value).
INSERT INTO product_performance AS p (site_id, hour, item_id, currency, item_name, item_category,
                                      item_brand, impressions)
SELECT e.site_id, date_trunc('hour', e.occurred_at, 'UTC'), i->>'item_id',
       CASE WHEN e.value_minor IS NULL THEN s.currency ELSE e.currency END,
       max(i->>'item_name'), coalesce(max(i->>'item_category'), ''),
       coalesce(max(i->>'item_brand'), ''), count(*)
  FROM events e JOIN sites s ON s.site_id = e.site_id, jsonb_array_elements(e.items) i
 WHERE e.event_type = 'view_item_list'
 GROUP BY 1, 2, 3, 4
 ORDER BY 1, 2, 3, 4
ON CONFLICT (site_id, hour, item_id, currency) DO UPDATE SET
    impressions = p.impressions + EXCLUDED.impressions;

-- A refund's lines come off their products' units and revenue, in the hour
-- its order is booked to (its own hour when the order is unknown).
INSERT INTO product_performance AS p (site_id, hour, item_id, currency, item_name, item_category,
                                      item_brand, units, revenue)
SELECT e.site_id, coalesce(o.hour, date_trunc('hour', e.occurred_at, 'UTC')), i->>'item_id',
       e.currency, max(i->>'item_name'), coalesce(max(i->>'item_category'), ''),
       coalesce(max(i->>'item_brand'), ''), -sum((i->>'quantity')::int8),
       -sum(coalesce((i->>'price')::int8, 0) * (i->>'quantity')::int8)
  FROM events e
  LEFT JOIN orders o ON o.site_id = e.site_id AND o.transaction_id = e.transaction_id,
       jsonb_array_elements(e.items) i
 WHERE e.event_type = 'refund' AND e.value_minor IS NOT NULL
 GROUP BY 1, 2, 3, 4
 ORDER BY 1, 2, 3, 4
ON CONFLICT (site_id, hour, item_id, currency) DO UPDATE SET
    units = p.units + EXCLUDED.units,
    revenue = p.revenue + EXCLUDED.revenue;

-- Rows the fold no longer makes: items of events no product row counts
-- (custom events, a refund's own hour) left rows of zeros, which listed
-- products with nothing on the Products page.
DELETE FROM product_performance
 WHERE views = 0 AND impressions = 0 AND add_to_carts = 0 AND removals = 0 AND checkouts = 0
   AND purchases = 0 AND units = 0 AND revenue = 0;

SELECT refold_product_days(site_id) FROM sites;
