//! Users, memberships, signed-in sessions and API tokens. Only hashes of
//! secrets reach these statements; `accounts` makes and checks them.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

/// A user as sign-in needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub user_id: i64,
    pub email: String,
    pub password_hash: String,
}

/// An API token as its owner's list shows it (never the token itself).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    pub token_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn user_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await
}

pub async fn find_user(pool: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, email, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

pub async fn user_by_id(pool: &PgPool, user_id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, email, password_hash FROM users WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// Creates a user, or replaces the password of an existing one.
pub async fn upsert_user(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (email, password_hash) VALUES ($1, $2) \
         ON CONFLICT (email) DO UPDATE \
            SET password_hash = EXCLUDED.password_hash, password_changed_at = now() \
         RETURNING user_id",
    )
    .bind(email)
    .bind(password_hash)
    .fetch_one(pool)
    .await
}

/// Creates the first user, only while there is none: two setup requests
/// racing each other cannot both succeed. `None` when a user exists.
pub async fn insert_first_user(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // One setup at a time, across processes.
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let user_id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO users (email, password_hash) \
         SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING user_id",
    )
    .bind(email)
    .bind(password_hash)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(user_id) = user_id {
        grant_all_sites(&mut tx, user_id).await?;
    }
    tx.commit().await?;
    Ok(user_id)
}

/// Makes `user_id` a member of every existing site (the first admin).
async fn grant_all_sites(
    tx: &mut Transaction<'_, Postgres>,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (user_id, site_id) SELECT $1, site_id FROM sites \
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes the user a member of the site (idempotent).
pub async fn grant(pool: &PgPool, user_id: i64, site_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (user_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(site_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Makes every user a member of the site (the demo site of a development
/// server, created after its admin).
pub async fn grant_everyone(pool: &PgPool, site_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (user_id, site_id) SELECT user_id, $1 FROM users \
         ON CONFLICT DO NOTHING",
    )
    .bind(site_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The ids of the sites the user belongs to.
pub async fn site_ids(pool: &PgPool, user_id: i64) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT site_id FROM memberships WHERE user_id = $1 ORDER BY site_id")
        .bind(user_id)
        .fetch_all(pool)
        .await
}

/// Replaces the password and ends every session of the user, in one
/// transaction; then opens `session` (the browser that changed it).
pub async fn change_password(
    pool: &PgPool,
    user_id: i64,
    password_hash: &str,
    session: &NewSession<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(password_hash)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM login_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    insert_session(&mut *tx, session).await?;
    tx.commit().await
}

pub struct NewSession<'a> {
    pub session_hash: &'a [u8],
    pub user_id: i64,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    session: &NewSession<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_sessions (session_hash, user_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(session.session_hash)
    .bind(session.user_id)
    .bind(session.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// The user of a live session; `None` when the session is unknown, past
/// its absolute end, or idle longer than `idle_seconds`. Marks it seen at
/// most once a minute: a page and its server functions would otherwise
/// each write a row version.
pub async fn touch_session(
    pool: &PgPool,
    session_hash: &[u8],
    idle_seconds: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "WITH live AS ( \
            SELECT s.session_hash, s.last_seen_at, u.user_id, u.email \
              FROM login_sessions s JOIN users u USING (user_id) \
             WHERE s.session_hash = $1 AND s.expires_at > now() \
               AND s.last_seen_at > now() - make_interval(secs => $2)), \
         seen AS ( \
            UPDATE login_sessions t SET last_seen_at = now() FROM live \
             WHERE t.session_hash = live.session_hash \
               AND live.last_seen_at < now() - interval '1 minute') \
         SELECT user_id, email FROM live",
    )
    .bind(session_hash)
    .bind(idle_seconds as f64)
    .fetch_optional(pool)
    .await
}

/// Whether the session is still signed in, without touching it (an open
/// live socket must not keep an idle session alive).
pub async fn session_live(
    pool: &PgPool,
    session_hash: &[u8],
    idle_seconds: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM login_sessions \
          WHERE session_hash = $1 AND expires_at > now() \
            AND last_seen_at > now() - make_interval(secs => $2))",
    )
    .bind(session_hash)
    .bind(idle_seconds as f64)
    .fetch_one(pool)
    .await
}

/// Whether the token is still valid (not revoked), without touching it.
pub async fn token_live(pool: &PgPool, token_hash: &[u8]) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL)",
    )
    .bind(token_hash)
    .fetch_one(pool)
    .await
}

pub async fn delete_session(pool: &PgPool, session_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_sessions WHERE session_hash = $1")
        .bind(session_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// Drops sessions past their absolute end (the table stays small).
pub async fn delete_expired_sessions(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM login_sessions WHERE expires_at <= now()")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

pub async fn insert_token(
    pool: &PgPool,
    user_id: i64,
    name: &str,
    token_hash: &[u8],
    prefix: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4) \
         RETURNING token_id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(prefix)
    .fetch_one(pool)
    .await
}

/// The user of an unrevoked token, marking it used at most once a minute.
pub async fn use_token(
    pool: &PgPool,
    token_hash: &[u8],
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "WITH live AS ( \
            SELECT t.token_id, t.last_used_at, u.user_id, u.email \
              FROM api_tokens t JOIN users u USING (user_id) \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL), \
         used AS ( \
            UPDATE api_tokens t SET last_used_at = now() FROM live \
             WHERE t.token_id = live.token_id \
               AND (live.last_used_at IS NULL OR live.last_used_at < now() - interval '1 minute')) \
         SELECT user_id, email FROM live",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

pub async fn list_tokens(pool: &PgPool, user_id: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT token_id, name, prefix, created_at, last_used_at FROM api_tokens \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY token_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Revokes one of the user's tokens; false when the user has no such token.
pub async fn revoke_token(pool: &PgPool, user_id: i64, token_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() \
         WHERE token_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(token_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
