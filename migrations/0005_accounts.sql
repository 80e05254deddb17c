-- Accounts: who may read which site's numbers, their signed-in browsers and
-- their API tokens. Secrets are never stored: passwords as argon2id PHC
-- strings, session ids and API tokens as hashes.
CREATE TABLE users (
    user_id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored lower-cased, so sign-in is case-insensitive and unique.
    email               TEXT NOT NULL UNIQUE
                        CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash       TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    password_changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A user sees a site's numbers and settings only through a membership.
CREATE TABLE memberships (
    user_id    BIGINT  NOT NULL REFERENCES users ON DELETE CASCADE,
    site_id    INTEGER NOT NULL REFERENCES sites ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, site_id)
);
CREATE INDEX memberships_site ON memberships (site_id);

-- Signed-in browsers. The cookie holds a random id; the row holds its
-- HMAC under the server's session secret, so neither a copy of this table
-- nor an inserted row can be turned into a working cookie.
CREATE TABLE login_sessions (
    session_hash BYTEA PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The absolute end; idleness ends a session earlier (configured).
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX login_sessions_expiry ON login_sessions (expires_at);

-- Bearer tokens for the stats API and the import, acting as their user.
CREATE TABLE api_tokens (
    token_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- SHA-256 of the token (256 random bits: no salt or stretching needed).
    token_hash   BYTEA NOT NULL UNIQUE,
    -- The token's first characters, to recognise it in a list.
    prefix       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
