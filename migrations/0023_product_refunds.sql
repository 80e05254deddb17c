-- Refunds per product: each refund's line of an item counts once, in its
-- order's bucket (as its units and revenue come off there). The fold writes
-- them (`ProductDelta::refunds`); `rollups check` recounts them from the
-- raw events. Filled here once for the refunds already stored.
ALTER TABLE product_performance ADD COLUMN IF NOT EXISTS refunds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE product_days ADD COLUMN IF NOT EXISTS refunds BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION product_days_recomputed(p_site INTEGER) RETURNS SETOF product_days
LANGUAGE sql STABLE AS $$
    SELECT p.site_id, (p.hour AT TIME ZONE st.timezone)::date, p.item_id, p.currency,
           max(p.item_name), max(p.item_category),
           sum(p.views)::int8, sum(p.add_to_carts)::int8, sum(p.removals)::int8,
           sum(p.checkouts)::int8, sum(p.purchases)::int8, sum(p.units)::int8, sum(p.revenue)::int8,
           sum(p.impressions)::int8, sum(p.refunds)::int8
      FROM product_performance p JOIN sites st ON st.site_id = p.site_id
     WHERE p.site_id = p_site
     GROUP BY 1, 2, 3, 4
$$;

-- (From scratch: the upgrade test's older database already has the
-- columns, which today's fold filled.)
UPDATE product_performance SET refunds = 0 WHERE refunds <> 0;
UPDATE product_performance p SET refunds = r.n
  FROM (SELECT e.site_id, COALESCE(o.hour, date_bin('15 minutes', e.occurred_at, TIMESTAMPTZ 'epoch')) AS hour,
               e.currency, i->>'item_id' AS item_id, count(*) AS n
          FROM events e LEFT JOIN orders o ON o.site_id = e.site_id AND o.transaction_id = e.transaction_id,
               jsonb_array_elements(e.items) i
         WHERE e.event_type = 'refund' AND e.value_minor IS NOT NULL
         GROUP BY 1, 2, 3, 4) r
 WHERE p.site_id = r.site_id AND p.hour = r.hour AND p.item_id = r.item_id AND p.currency = r.currency;
UPDATE product_days t SET refunds = r.refunds
  FROM (SELECT x.* FROM sites s, LATERAL product_days_recomputed(s.site_id) x) r
 WHERE t.site_id = r.site_id AND t.day = r.day AND t.item_id = r.item_id AND t.currency = r.currency
   AND t.refunds <> r.refunds;
