-- The fold stage now works out each member's new days and the steps and
-- day totals they change itself (`store::upserts::members`); the SQL
-- function that did it goes. The recomputations `rollups check`, a
-- rebuild and a time-zone refold use (`member_days_recomputed`,
-- `refold_member_days`) stay.
DROP FUNCTION fold_member_days(member_day[]);
