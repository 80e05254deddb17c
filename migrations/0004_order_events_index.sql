-- Events of an order by its transaction id: the rollup rebuild decides each
-- report's fate from them (server/src/store/rebuild.rs). Partial, so the
-- page and product views that make up most events cost it nothing.
CREATE INDEX events_site_transaction ON events (site_id, transaction_id)
    WHERE transaction_id IS NOT NULL;
