-- Raw events, dead letters, orders and the rollups the dashboard reads.
--
-- Every key starts with site_id (rule 6: sharding by site later). Money is
-- integer minor units of the row's currency (rule 4). Rollups are only ever
-- changed by adding deltas of newly stored events inside the flush
-- transaction that stored them (rules 1 and 2), so they always equal a
-- recomputation from `events`.
--
-- Identifiers are compared byte by byte (COLLATE "C"): they are opaque keys,
-- and the locale-aware comparison showed up in profiles of the flush.

CREATE TABLE events (
    site_id        INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    event_id       TEXT COLLATE "C" NOT NULL,
    event_type     TEXT COLLATE "C" NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL,
    visitor_id     TEXT COLLATE "C" NOT NULL,
    session_id     TEXT COLLATE "C",
    user_id        TEXT COLLATE "C",
    source         TEXT NOT NULL CHECK (source IN ('web', 'app', 'server')),
    url            TEXT,
    referrer       TEXT,
    referrer_host  TEXT,
    title          TEXT,
    utm_source     TEXT,
    utm_medium     TEXT,
    utm_campaign   TEXT,
    currency       CHAR(3),
    value_minor    BIGINT,
    transaction_id TEXT COLLATE "C",
    search_term    TEXT,
    items          JSONB NOT NULL DEFAULT '[]',
    props          JSONB NOT NULL DEFAULT '{}',
    device         TEXT NOT NULL,
    browser        TEXT NOT NULL,
    os             TEXT NOT NULL,
    price_tier     TEXT,
    verified       BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (site_id, event_id)
);
CREATE INDEX events_site_time ON events (site_id, occurred_at);

-- One row per order: the dedupe key for purchases (a second purchase with the
-- same transaction_id is a duplicate) and the hour refunds are booked to.
CREATE TABLE orders (
    site_id        INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    transaction_id TEXT COLLATE "C" NOT NULL,
    event_id       TEXT COLLATE "C" NOT NULL,
    hour           TIMESTAMPTZ NOT NULL,
    currency       CHAR(3) NOT NULL,
    value_minor    BIGINT NOT NULL,
    verified       BOOLEAN NOT NULL,
    visitor_id     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (site_id, transaction_id)
);

CREATE TABLE dead_letters (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     INTEGER REFERENCES sites ON DELETE CASCADE,
    received_at TIMESTAMPTZ NOT NULL,
    reason      TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX dead_letters_site_time ON dead_letters (site_id, received_at);

CREATE TABLE hourly_sales (
    site_id            INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    hour               TIMESTAMPTZ NOT NULL,
    currency           CHAR(3) NOT NULL,
    revenue_verified   BIGINT NOT NULL DEFAULT 0,
    revenue_unverified BIGINT NOT NULL DEFAULT 0,
    refunds            BIGINT NOT NULL DEFAULT 0,
    orders_verified    BIGINT NOT NULL DEFAULT 0,
    orders_unverified  BIGINT NOT NULL DEFAULT 0,
    refund_count       BIGINT NOT NULL DEFAULT 0,
    units              BIGINT NOT NULL DEFAULT 0,
    customers          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, hour, currency)
);

-- Who bought in which hour: makes hourly_sales.customers an exact distinct
-- count that still only ever grows by deltas.
CREATE TABLE hourly_customers (
    site_id     INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    hour        TIMESTAMPTZ NOT NULL,
    currency    CHAR(3) NOT NULL,
    customer    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (site_id, hour, currency, customer)
);

CREATE TABLE product_performance (
    site_id       INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    hour          TIMESTAMPTZ NOT NULL,
    item_id       TEXT COLLATE "C" NOT NULL,
    currency      CHAR(3) NOT NULL,
    item_name     TEXT NOT NULL DEFAULT '',
    item_category TEXT NOT NULL DEFAULT '',
    item_brand    TEXT NOT NULL DEFAULT '',
    views         BIGINT NOT NULL DEFAULT 0,
    add_to_carts  BIGINT NOT NULL DEFAULT 0,
    removals      BIGINT NOT NULL DEFAULT 0,
    checkouts     BIGINT NOT NULL DEFAULT 0,
    purchases     BIGINT NOT NULL DEFAULT 0,
    units         BIGINT NOT NULL DEFAULT 0,
    revenue       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, hour, item_id, currency)
);

CREATE TABLE user_activity (
    site_id     INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    visitor_id  TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C",
    first_seen  TIMESTAMPTZ NOT NULL,
    last_seen   TIMESTAMPTZ NOT NULL,
    sessions    BIGINT NOT NULL DEFAULT 0,
    events      BIGINT NOT NULL DEFAULT 0,
    orders      BIGINT NOT NULL DEFAULT 0,
    -- In the site's currency; orders in other currencies count in `orders` only.
    spend       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, visitor_id)
);

CREATE TABLE real_time_metrics (
    site_id    INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    minute     TIMESTAMPTZ NOT NULL,
    event_type TEXT COLLATE "C" NOT NULL,
    source     TEXT NOT NULL,
    events     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, minute, event_type, source)
);

CREATE TABLE sessions (
    site_id          INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    session_id       TEXT COLLATE "C" NOT NULL,
    visitor_id       TEXT COLLATE "C" NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    last_seen        TIMESTAMPTZ NOT NULL,
    events           BIGINT NOT NULL DEFAULT 0,
    pages            BIGINT NOT NULL DEFAULT 0,
    -- Times of the first and last page view: entry and exit pages follow them.
    first_page_at    TIMESTAMPTZ,
    last_page_at     TIMESTAMPTZ,
    entry_url        TEXT,
    exit_url         TEXT,
    referrer_host    TEXT,
    utm_source       TEXT,
    utm_medium       TEXT,
    utm_campaign     TEXT,
    source           TEXT NOT NULL,
    device           TEXT NOT NULL,
    browser          TEXT NOT NULL,
    os               TEXT NOT NULL,
    product_views    BIGINT NOT NULL DEFAULT 0,
    add_to_carts     BIGINT NOT NULL DEFAULT 0,
    checkouts        BIGINT NOT NULL DEFAULT 0,
    purchases        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, session_id)
);
CREATE INDEX sessions_site_last_seen ON sessions (site_id, last_seen);
CREATE INDEX sessions_site_started ON sessions (site_id, started_at);
