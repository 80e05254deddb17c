//! The daily salts cookieless visitor ids are hashed under
//! (`enrich::derived_visitor`), shared by every server process through
//! `visitor_salts`: the first process to need a day's salt makes it, the
//! others read it, so one client is one visitor however many processes
//! or restarts it meets that day. Salts older than yesterday are deleted
//! when a new day's is made: without them, an old id cannot be traced back
//! to an IP address. Each process keeps the current day's salt in memory;
//! the database is asked once a day.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{Days, NaiveDate};
use sqlx::PgPool;

/// A day's salt.
pub type Salt = Arc<[u8; 32]>;

#[derive(Clone)]
pub struct Salts {
    pool: PgPool,
    current: Arc<Mutex<Option<(NaiveDate, Salt)>>>,
    /// One request of this process asks the database at a time: at
    /// midnight under load the others wait for its answer instead of
    /// each running the same statements.
    asking: Arc<tokio::sync::Mutex<()>>,
}

impl Salts {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            current: Arc::default(),
            asking: Arc::default(),
        }
    }

    fn known(&self, day: NaiveDate) -> Option<Salt> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|(known, _)| *known == day)
            .map(|(_, salt)| salt.clone())
    }

    /// The salt of UTC day `day`, made if no process has made it yet; a
    /// database that does not answer before `deadline` is a timeout
    /// (`sqlx::Error::PoolTimedOut`), like a pool with no connection.
    pub async fn for_day(
        &self,
        day: NaiveDate,
        deadline: std::time::Instant,
    ) -> Result<Salt, sqlx::Error> {
        if let Some(salt) = self.known(day) {
            return Ok(salt);
        }
        tokio::time::timeout_at(deadline.into(), self.ask(day))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn ask(&self, day: NaiveDate) -> Result<Salt, sqlx::Error> {
        let _asking = self.asking.lock().await;
        // Another request may have asked while this one waited.
        if let Some(salt) = self.known(day) {
            return Ok(salt);
        }
        let mut fresh = [0_u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|e| sqlx::Error::Protocol(format!("no OS randomness: {e}")))?;
        sqlx::query(
            "INSERT INTO visitor_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
        )
        .bind(day)
        .bind(&fresh[..])
        .execute(&self.pool)
        .await?;
        // Whichever process's insert won, this reads it.
        let stored: Vec<u8> = sqlx::query_scalar("SELECT salt FROM visitor_salts WHERE day = $1")
            .bind(day)
            .fetch_one(&self.pool)
            .await?;
        let salt: Salt = Arc::new(
            stored
                .try_into()
                .map_err(|_| sqlx::Error::Protocol("a visitor salt is not 32 bytes".to_owned()))?,
        );
        if let Some(yesterday) = day.checked_sub_days(Days::new(1)) {
            sqlx::query("DELETE FROM visitor_salts WHERE day < $1")
                .bind(yesterday)
                .execute(&self.pool)
                .await?;
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_none_or(|(known, _)| *known <= day) {
            *current = Some((day, salt.clone()));
        }
        Ok(salt)
    }
}
