-- Real-Time's "visitors in the last 5 minutes" counts every visitor with an
-- event then: those with a session (from `sessions`) and those whose events
-- carry none (signed backend events), read from this index, which holds
-- only session-less events, so browser traffic pays nothing for it.
CREATE INDEX events_sessionless_time ON events (site_id, occurred_at) WHERE session_id IS NULL;

-- One purchase row per order. A signed report that confirmed an order a
-- browser had reported was kept as a second `purchase` row, which every
-- recomputation from `events` counted again; now the first report's row
-- takes the signed amount and `verified`, the signed copy goes, and the
-- order points at the row that stays (what ingestion does from now on).
WITH pairs AS (
    SELECT o.site_id, o.transaction_id, o.event_id AS signed_id, f.event_id AS first_id
      FROM orders o
      JOIN LATERAL (SELECT e.event_id FROM events e
                     WHERE e.site_id = o.site_id AND e.transaction_id = o.transaction_id
                       AND e.event_type = 'purchase' AND e.event_id <> o.event_id
                     ORDER BY e.received_at, e.event_id LIMIT 1) f ON true
     WHERE o.verified
), moved AS (
    UPDATE events e SET verified = true, currency = o.currency, value_minor = o.value_minor
      FROM pairs p JOIN orders o USING (site_id, transaction_id)
     WHERE e.site_id = p.site_id AND e.event_id = p.first_id
), dropped AS (
    DELETE FROM events e USING pairs p WHERE e.site_id = p.site_id AND e.event_id = p.signed_id
)
UPDATE orders o SET event_id = p.first_id
  FROM pairs p WHERE o.site_id = p.site_id AND o.transaction_id = p.transaction_id;
