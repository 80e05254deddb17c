-- GA4's e-commerce fields (issue 14): an order's tax, shipping and coupon
-- with its event, and tax and shipping per hour.
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
