-- A time-zone change and `server rollups rebuild` now make every day
-- table with the fold's own code (`store::rebuild`): a whole-site rebuild
-- clears them with the rest and its upserts write them again; a range
-- rebuild takes its sessions', members' and days' share out first. The
-- SQL refolds that did it go. The recomputations `rollups check` compares
-- against (`session_days_recomputed`, `product_days_recomputed`,
-- `member_days_recomputed`, `member_steps_of`, `customer_days_of`,
-- `customer_activity_recomputed`) stay: the check is meant to be a second,
-- independent reading of the raw events.
DROP FUNCTION refold_session_days(INTEGER);
DROP FUNCTION refold_product_days(INTEGER);
DROP FUNCTION refold_member_days(INTEGER);
DROP FUNCTION refold_customer_days(INTEGER);
DROP FUNCTION refold_hour_customers(INTEGER);
