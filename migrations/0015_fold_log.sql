-- Ingestion v2: the acknowledgement appends its counted events to a fold
-- log instead of updating the rollups; the fold stage (`aggregate::stage`)
-- takes a site's rows in large windows, folds them into every rollup and
-- deletes them, all in one transaction, so each row is folded exactly
-- once. A row belongs to one flush and one site: no two requests ever
-- write the same row, and the acknowledgement waits on no rollup.
CREATE TABLE fold_pending (
    site_id   INTEGER NOT NULL,
    id        BIGINT GENERATED ALWAYS AS IDENTITY,
    -- Counted events in `body`, for the lag bound and `/metrics`.
    events    INTEGER NOT NULL CHECK (events > 0),
    -- When the acknowledging transaction wrote it: the fold lag is the age
    -- of the oldest row.
    logged_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- `aggregate::log::encode`: the counted events and their fates (JSON).
    body      BYTEA NOT NULL,
    PRIMARY KEY (site_id, id)
);

-- A queue table: rows live for a fraction of a second. Vacuum it often
-- so dead rows do not pile up in its index.
ALTER TABLE fold_pending SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);

-- LZ4 compresses the bodies several times faster than the default pglz;
-- Debian's and most builds have it. Where not, the default stays.
DO $$
BEGIN
    ALTER TABLE fold_pending ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END $$;
