//! Accounts: who may see which site. Sign-in with argon2id passwords,
//! server-side sessions behind an `HttpOnly` cookie, API tokens for the
//! stats API and the import, and the first-start setup.
//!
//! Secrets never reach the database: a session row holds the HMAC of the
//! cookie's random id under the configured session secret (so neither a
//! copied nor an inserted row yields a working cookie), a token row the
//! SHA-256 of the token. `http` puts this behind the routes; the dashboard's
//! server functions reach it through `app::ports::Accounts`.

pub mod http;
pub mod limits;
pub mod password;
pub mod secret;
pub mod sites;

use std::{net::IpAddr, sync::Arc, time::Duration};

use app::accounts::Viewer;
use axum::http::{header, HeaderMap};
use chrono::Utc;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use self::{
    limits::AttemptLimits,
    password::{Hasher, PasswordError},
    secret::SessionKey,
};
use crate::{
    config::{AccountsConfig, Mode},
    ingest::limit::TrustedProxies,
    store::{self, accounts as sql},
};

/// Prefix of every API token, so scanners (and people) recognise one.
pub const TOKEN_PREFIX: &str = "spt_";

/// Why a sign-in, setup or account change failed. The message is the one
/// the user sees; it never says whether an email address has an account.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("wrong email or password")]
    WrongCredentials,
    #[error("too many attempts; try again in {} seconds", .0.as_secs().max(1))]
    Limited(Duration),
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("the server is busy; try again")]
    Busy,
    #[error("the database is unavailable")]
    Database(#[from] sqlx::Error),
}

impl From<PasswordError> for AccountError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::TooShort | PasswordError::TooLong => Self::Invalid(error.to_string()),
            PasswordError::Busy => Self::Busy,
            PasswordError::Hash(message) => {
                tracing::error!(%message, "password hashing failed");
                Self::Busy
            }
        }
    }
}

impl AccountError {
    pub fn status(&self) -> u16 {
        match self {
            Self::WrongCredentials => 401,
            Self::Limited(_) => 429,
            Self::Invalid(_) => 400,
            Self::NotFound => 404,
            Self::Busy | Self::Database(_) => 503,
        }
    }
}

/// Sign-in, sessions and tokens over PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
    key: SessionKey,
    hasher: Hasher,
    /// Checked when the email has no account, so both answers take as long.
    decoy: Arc<String>,
    limits: Arc<AttemptLimits>,
    secure_cookies: bool,
    idle: Duration,
    lifetime: Duration,
    /// Who the client is behind trusted proxies (sign-in limits).
    pub proxies: TrustedProxies,
    /// HMAC of the one-time setup token while no user exists.
    setup: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
}

/// A new session: the `Set-Cookie` value for the browser.
pub struct SignedIn {
    pub set_cookie: String,
    pub viewer: Viewer,
}

impl Accounts {
    /// Checks the session secret (refusing weak ones in production) and
    /// prepares the hasher.
    pub async fn new(
        pool: PgPool,
        config: &AccountsConfig,
        mode: Mode,
        proxies: TrustedProxies,
    ) -> anyhow::Result<Self> {
        let key = SessionKey::from_config(config.session_secret.as_ref(), mode)?;
        let hasher = Hasher::new(config.hashing_slots);
        let mut decoy_password = [0_u8; 16];
        getrandom::fill(&mut decoy_password)?;
        let decoy = hasher
            .hash(&hex::encode(decoy_password))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            pool,
            key,
            hasher,
            decoy: Arc::new(decoy),
            limits: Arc::new(AttemptLimits::new(
                config.login_attempts_per_account,
                config.login_attempts_per_ip,
            )),
            secure_cookies: mode == Mode::Production,
            idle: Duration::from_secs(config.session_idle_minutes.max(1) * 60),
            lifetime: Duration::from_secs(config.session_lifetime_hours.max(1) * 3600),
            proxies,
            setup: Arc::default(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `__Host-` when cookies are `Secure` (the browser then insists on
    /// HTTPS, `Path=/` and no `Domain`), a plain name on plain-HTTP
    /// development servers.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-storepulse_session"
        } else {
            "storepulse_session"
        }
    }

    /// Checks an email and password and opens a session. Unknown email and
    /// wrong password give the same error after the same work; attempts
    /// are limited per account and per client address.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<SignedIn, AccountError> {
        let email = normalize_email(email).unwrap_or_default();
        self.limits
            .check(&email, client)
            .map_err(AccountError::Limited)?;
        let user = sql::find_user(&self.pool, &email).await?;
        let stored = user
            .as_ref()
            .map_or(self.decoy.as_str(), |u| &u.password_hash);
        let matches = self.hasher.verify(password, stored).await?;
        match user {
            Some(user) if matches => self.open_session(user.user_id, user.email).await,
            _ => Err(AccountError::WrongCredentials),
        }
    }

    async fn open_session(&self, user_id: i64, email: String) -> Result<SignedIn, AccountError> {
        let (id, hash) = self.new_session_id()?;
        sql::insert_session(
            &self.pool,
            &sql::NewSession {
                session_hash: &hash,
                user_id,
                expires_at: Utc::now() + self.lifetime,
            },
        )
        .await?;
        Ok(SignedIn {
            set_cookie: self.session_cookie(&id),
            viewer: Viewer { user_id, email },
        })
    }

    fn new_session_id(&self) -> Result<(String, Vec<u8>), AccountError> {
        let id = random_token().map_err(|_| AccountError::Busy)?;
        let hash = self.key.sign(id.as_bytes());
        Ok((id, hash))
    }

    fn session_cookie(&self, id: &str) -> String {
        cookie::Cookie::build((self.cookie_name(), id.to_owned()))
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(cookie::SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(
                self.lifetime.as_secs() as i64
            ))
            .build()
            .to_string()
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clearing_cookie(&self) -> String {
        cookie::Cookie::build((self.cookie_name(), ""))
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(cookie::SameSite::Lax)
            .max_age(cookie::time::Duration::ZERO)
            .build()
            .to_string()
    }

    /// The session id in the request's cookie, if any.
    fn session_id<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        http::cookie(headers, self.cookie_name())
            .filter(|value| !value.is_empty() && value.len() <= 100)
    }

    /// The signed-in user of the request's session cookie.
    pub async fn viewer(&self, headers: &HeaderMap) -> Result<Option<Viewer>, sqlx::Error> {
        let Some(id) = self.session_id(headers) else {
            return Ok(None);
        };
        let hash = self.key.sign(id.as_bytes());
        let found = sql::touch_session(&self.pool, &hash, self.idle.as_secs() as i64).await?;
        Ok(found.map(|(user_id, email)| Viewer { user_id, email }))
    }

    /// The user of the request's `Authorization: Bearer` token.
    pub async fn bearer(&self, headers: &HeaderMap) -> Result<Option<Viewer>, sqlx::Error> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| token.starts_with(TOKEN_PREFIX) && token.len() <= 100);
        let Some(token) = token else {
            return Ok(None);
        };
        let found = sql::use_token(&self.pool, &Sha256::digest(token.as_bytes())).await?;
        Ok(found.map(|(user_id, email)| Viewer { user_id, email }))
    }

    /// Whether the credentials of these (kept) request headers still sign
    /// someone in: the token, or else the session cookie. Reads only: an
    /// open live socket asks this now and then, and must not keep an idle
    /// session alive.
    pub async fn still_signed_in(&self, headers: &HeaderMap) -> Result<bool, sqlx::Error> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        if let Some(token) = token {
            return sql::token_live(&self.pool, &Sha256::digest(token.as_bytes())).await;
        }
        let Some(id) = self.session_id(headers) else {
            return Ok(false);
        };
        let hash = self.key.sign(id.as_bytes());
        sql::session_live(&self.pool, &hash, self.idle.as_secs() as i64).await
    }

    /// Ends the request's session (if any) in the database.
    pub async fn sign_out(&self, headers: &HeaderMap) -> Result<(), sqlx::Error> {
        if let Some(id) = self.session_id(headers) {
            sql::delete_session(&self.pool, &self.key.sign(id.as_bytes())).await?;
        }
        Ok(())
    }

    /// Replaces the viewer's password after checking the current one. Every
    /// session of the user ends; the browser that asked gets a new one.
    pub async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
    ) -> Result<SignedIn, AccountError> {
        password::check_new(new)?;
        let user = sql::user_by_id(&self.pool, viewer.user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        if !self.hasher.verify(current, &user.password_hash).await? {
            return Err(AccountError::Invalid(
                "the current password is wrong".to_owned(),
            ));
        }
        let hash = self.hasher.hash(new).await?;
        let (id, session_hash) = self.new_session_id()?;
        let session = sql::NewSession {
            session_hash: &session_hash,
            user_id: user.user_id,
            expires_at: Utc::now() + self.lifetime,
        };
        sql::change_password(&self.pool, user.user_id, &hash, &session).await?;
        Ok(SignedIn {
            set_cookie: self.session_cookie(&id),
            viewer: viewer.clone(),
        })
    }

    /// Creates an API token for the viewer; the token is shown only now.
    pub async fn create_token(&self, viewer: &Viewer, name: &str) -> Result<String, AccountError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AccountError::Invalid(
                "a token needs a name of 1 to 100 characters".to_owned(),
            ));
        }
        let token = format!(
            "{TOKEN_PREFIX}{}",
            random_token().map_err(|_| AccountError::Busy)?
        );
        let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let hash = Sha256::digest(token.as_bytes());
        sql::insert_token(&self.pool, viewer.user_id, name, &hash, &prefix).await?;
        Ok(token)
    }

    /// Creates (or resets the password of) a user and makes them a member
    /// of `sites` (command line and the development admin).
    pub async fn add_user(
        &self,
        email: &str,
        password: &str,
        sites: &[i32],
    ) -> Result<i64, AccountError> {
        let email = normalize_email(email)
            .ok_or_else(|| AccountError::Invalid(format!("{email:?} is not an email address")))?;
        password::check_new(password)?;
        let hash = self.hasher.hash(password).await?;
        let user_id = sql::upsert_user(&self.pool, &email, &hash).await?;
        for site_id in sites {
            sql::grant(&self.pool, user_id, *site_id).await?;
        }
        Ok(user_id)
    }

    /// With no user yet: creates the admin from `admin` (email, password)
    /// or returns a one-time setup path (`/setup?token=…`) to print.
    pub async fn bootstrap(
        &self,
        admin: Option<(&str, &secrecy::SecretString)>,
    ) -> anyhow::Result<Option<String>> {
        if sql::user_count(&self.pool).await? > 0 {
            return Ok(None);
        }
        if let Some((email, password)) = admin {
            let email = normalize_email(email).ok_or_else(|| {
                anyhow::anyhow!("STOREPULSE_ADMIN_EMAIL {email:?} is not an email address")
            })?;
            password::check_new(password.expose_secret())
                .map_err(|e| anyhow::anyhow!("STOREPULSE_ADMIN_PASSWORD: {e}"))?;
            let hash = self.hasher.hash(password.expose_secret()).await?;
            if sql::insert_first_user(&self.pool, &email, &hash)
                .await?
                .is_some()
            {
                tracing::info!(%email, "admin created from STOREPULSE_ADMIN_EMAIL");
            }
            return Ok(None);
        }
        let token = random_token()?;
        *self.setup.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(self.key.sign(token.as_bytes()));
        Ok(Some(format!("/setup?token={token}")))
    }

    /// Completes the first start: with the printed token, creates the first
    /// user (a member of every site) and signs them in. Works once.
    pub async fn set_up(
        &self,
        token: &str,
        email: &str,
        password: &str,
    ) -> Result<SignedIn, AccountError> {
        let expected = self.setup.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let valid = expected.is_some_and(|tag| self.key.verify(token.as_bytes(), &tag));
        if !valid {
            return Err(AccountError::NotFound);
        }
        let email = normalize_email(email)
            .ok_or_else(|| AccountError::Invalid("that is not an email address".to_owned()))?;
        password::check_new(password)?;
        let hash = self.hasher.hash(password).await?;
        let user_id = sql::insert_first_user(&self.pool, &email, &hash)
            .await?
            .ok_or(AccountError::NotFound)?;
        *self.setup.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.open_session(user_id, email).await
    }

    /// Removes sessions past their end; called now and then.
    pub async fn sweep(&self) {
        if let Err(error) = sql::delete_expired_sessions(&self.pool).await {
            tracing::warn!(error = %store::describe(&error), "removing expired sessions failed");
        }
    }
}

/// Trimmed and lower-cased; `None` unless it looks like an address.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && (3..=254).contains(&email.len())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(email)
}

/// 256 random bits, hex.
fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalize_email("  Ada@Example.COM "),
            Some("ada@example.com".to_owned())
        );
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("a b@example.com"), None);
        assert_eq!(normalize_email("@example.com"), None);
    }
}
