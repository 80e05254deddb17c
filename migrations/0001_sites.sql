-- Sites: one row per store being tracked. Everything else is keyed by site_id
-- first, so the schema can later be distributed by site (e.g. Citus).
CREATE TABLE sites (
    site_id        INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The public key a tracker sends ("demo"); stable, URL-safe.
    site_key       TEXT NOT NULL UNIQUE
                   CHECK (site_key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Hosts allowed to send page events; empty means any.
    domains        TEXT[] NOT NULL DEFAULT '{}',
    timezone       TEXT NOT NULL DEFAULT 'UTC',
    currency       CHAR(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    -- Price tiers by order value, in minor units of `currency`:
    -- low below medium_from, high from high_from.
    price_tier_medium_from BIGINT NOT NULL DEFAULT 2000 CHECK (price_tier_medium_from >= 0),
    price_tier_high_from   BIGINT NOT NULL DEFAULT 10000
                           CHECK (price_tier_high_from >= price_tier_medium_from),
    -- HMAC-SHA256 key for signed server-side events.
    signing_secret TEXT NOT NULL CHECK (length(signing_secret) >= 32),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
