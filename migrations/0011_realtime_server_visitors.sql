-- Real-Time's "visitors in the last 5 minutes" counts every visitor with an
-- event then: those with a session (from `sessions`) and those whose events
-- carry none (signed backend events), read from this index, which holds
-- only session-less events, so browser traffic pays nothing for it.
CREATE INDEX events_sessionless_time ON events (site_id, occurred_at) WHERE session_id IS NULL;
