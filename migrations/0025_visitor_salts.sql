-- Cookieless visitor ids (`ingest::enrich::derived_visitor`) hash the IP
-- and User-Agent under a salt of the UTC day. It lives here, not in one
-- process's memory, so every server process and every restart in a day
-- derives the same id for the same client; salts older than yesterday are
-- deleted (`ingest::salts`), so an old id cannot be traced back to an IP.
CREATE TABLE IF NOT EXISTS visitor_salts (
    day  DATE PRIMARY KEY,
    salt BYTEA NOT NULL
);
