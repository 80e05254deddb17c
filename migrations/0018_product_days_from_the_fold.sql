-- `product_days` was kept by statement triggers on `product_performance`;
-- the fold stage now adds the same deltas by local day itself
-- (`store::upserts::products`), so the triggers go, as `session_days`'
-- did in 0017. `rollups rebuild` refolds a rebuilt site's product days;
-- `rollups check` still recomputes them (`product_days_recomputed`).
DROP TRIGGER product_days_insert ON product_performance;
DROP TRIGGER product_days_update ON product_performance;
DROP TRIGGER product_days_delete ON product_performance;
DROP FUNCTION product_days_apply();
