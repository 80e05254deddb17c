-- GA4's e-commerce fields (issue 14): an order's tax, shipping and coupon
-- with its event.
--
-- Tax and shipping are columns of `events`, not a JSONB field: they are
-- amounts, integer minor units of the event's currency like `value_minor`,
-- which the fold adds up, rebuilds read back and the drift check sums in
-- plain SQL; a column keeps them typed and out of the shop's own props.
-- The coupon sits beside them. GA4's item fields go into `items` (JSONB)
-- with the first six, since they are per line and no report sums them.

ALTER TABLE events
    ADD COLUMN tax_minor BIGINT,
    ADD COLUMN shipping_minor BIGINT,
    ADD COLUMN coupon TEXT;
