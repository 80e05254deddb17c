-- `session_days` was kept by statement triggers on `sessions` (transition
-- tables, `array_agg`, `LATERAL session_day_rows`: 60 ms of every 1 s fold
-- window under load, and a second definition of the session's day rows
-- in PL/pgSQL). The fold stage now reads a window's sessions, merges them
-- by the fold's rule and moves each changed session's day rows itself
-- (`store::upserts::sessions`), so the triggers go. `rollups rebuild`
-- recomputes a rebuilt site's days with `refold_session_days`, and
-- `rollups check` still recomputes them independently
-- (`session_days_recomputed`).
DROP TRIGGER session_days_insert ON sessions;
DROP TRIGGER session_days_update ON sessions;
DROP TRIGGER session_days_delete ON sessions;
DROP FUNCTION session_days_apply();
