//! A small cache of sites by key, so ingestion does not ask PostgreSQL for
//! every request. Bounded; entries (including "no such site") expire after a
//! few seconds so new sites and rotated secrets take effect quickly. While
//! the database cannot be asked, a known site is served from its expired
//! entry (and asked again a TTL later, not on every request), so ingestion
//! answers with the queue's own verdict instead of failing at the lookup.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sqlx::PgPool;

use crate::store::sites::{self, Site};

const TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

/// Site key → (when looked up, the site if it exists).
type Entries = HashMap<String, (Instant, Option<Arc<Site>>)>;

#[derive(Clone)]
pub struct SiteCache {
    pool: PgPool,
    entries: Arc<Mutex<Entries>>,
}

impl SiteCache {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            entries: Arc::default(),
        }
    }

    /// The site with this key, `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Arc<Site>>, sqlx::Error> {
        let now = Instant::now();
        if let Some((at, site)) = self.lock().get(key) {
            if now.duration_since(*at) < TTL {
                return Ok(site.clone());
            }
        }
        let site = match sites::find(&self.pool, key).await {
            Ok(site) => site.map(Arc::new),
            Err(error) => {
                let mut entries = self.lock();
                // Only a site known to exist: "no such site" from before
                // the outage would turn it into a 404 nobody retries.
                let Some(entry) = entries.get_mut(key).filter(|e| e.1.is_some()) else {
                    return Err(error);
                };
                tracing::warn!(%error, site = key, "site lookup failed; serving the cached entry");
                entry.0 = now;
                return Ok(entry.1.clone());
            }
        };
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            // Past the bound, start over rather than grow: a flood of made-up
            // site keys costs a query each, never memory.
            entries.clear();
        }
        entries.insert(key.to_owned(), (now, site.clone()));
        Ok(site)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves a usable map behind.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            site_id: 7,
            site_key: "shop".to_owned(),
            name: "Shop".to_owned(),
            domains: Vec::new(),
            timezone: "UTC".to_owned(),
            currency: "USD".to_owned(),
            price_tier_medium_from: 0,
            price_tier_high_from: 0,
            signing_secret: "s".to_owned().into(),
        }
    }

    #[tokio::test]
    async fn a_known_site_is_served_from_its_expired_entry_while_the_database_is_away() {
        // Nothing listens on port 1: every lookup fails at once.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(200))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let cache = SiteCache::new(pool);
        let expired = Instant::now().checked_sub(TTL * 2).unwrap();
        cache
            .lock()
            .insert("shop".to_owned(), (expired, Some(Arc::new(site()))));
        let served = cache.get("shop").await.expect("served from the cache");
        assert_eq!(served.map(|s| s.site_id), Some(7));
        // Asked again only a TTL later: the entry counts as fresh now.
        assert!(cache.lock()["shop"].0.elapsed() < TTL);
        // A site never seen still needs the database.
        assert!(cache.get("unknown").await.is_err());
    }
}
