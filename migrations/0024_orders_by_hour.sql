-- The Pages report's revenue per landing page reads a range's orders by
-- their hour (`store::stats::landing_revenue`): without this index, every
-- order the site ever had.
CREATE INDEX IF NOT EXISTS orders_site_hour ON orders (site_id, hour);
