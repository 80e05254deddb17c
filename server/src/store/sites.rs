//! Sites: create, edit, rotate the signing secret, list, and look up by the
//! public key trackers send.

use secrecy::SecretString;
use sqlx::PgPool;

use super::rebuild;
use crate::ingest::money::Currency;

/// A site as ingestion needs it.
#[derive(Clone, Debug)]
pub struct Site {
    pub site_id: i32,
    pub site_key: String,
    pub name: String,
    pub domains: Vec<String>,
    pub timezone: String,
    pub currency: String,
    pub price_tier_medium_from: i64,
    pub price_tier_high_from: i64,
    pub signing_secret: SecretString,
}

/// What `server site add` supplies.
pub struct NewSite<'a> {
    pub site_key: &'a str,
    pub name: &'a str,
    pub timezone: &'a str,
    pub currency: &'a str,
    pub domains: &'a [String],
    pub signing_secret: &'a str,
}

#[derive(sqlx::FromRow)]
struct SiteRow {
    site_id: i32,
    site_key: String,
    name: String,
    domains: Vec<String>,
    timezone: String,
    currency: String,
    price_tier_medium_from: i64,
    price_tier_high_from: i64,
    signing_secret: String,
}

impl From<SiteRow> for Site {
    fn from(row: SiteRow) -> Self {
        Self {
            site_id: row.site_id,
            site_key: row.site_key,
            name: row.name,
            domains: row.domains,
            timezone: row.timezone,
            currency: row.currency,
            price_tier_medium_from: row.price_tier_medium_from,
            price_tier_high_from: row.price_tier_high_from,
            signing_secret: SecretString::from(row.signing_secret),
        }
    }
}

/// The columns every query returns, as a literal so statements stay static.
macro_rules! columns {
    () => {
        "site_id, site_key, name, domains, timezone, currency::text AS currency, \
         price_tier_medium_from, price_tier_high_from, signing_secret"
    };
}

pub async fn insert(pool: &PgPool, site: &NewSite<'_>) -> Result<Site, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO sites (site_key, name, timezone, currency, domains, signing_secret) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        columns!()
    );
    sqlx::query_as::<_, SiteRow>(sql)
        .bind(site.site_key)
        .bind(site.name)
        .bind(site.timezone)
        .bind(site.currency)
        .bind(site.domains)
        .bind(site.signing_secret)
        .fetch_one(pool)
        .await
        .map(Site::from)
}

pub async fn list(pool: &PgPool) -> Result<Vec<Site>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM sites ORDER BY site_key");
    let rows = sqlx::query_as::<_, SiteRow>(sql).fetch_all(pool).await?;
    Ok(rows.into_iter().map(Site::from).collect())
}

/// The sites `user_id` is a member of.
pub async fn list_for_user(pool: &PgPool, user_id: i64) -> Result<Vec<Site>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM sites JOIN memberships USING (site_id) WHERE user_id = $1 ORDER BY site_key"
    );
    let rows = sqlx::query_as::<_, SiteRow>(sql)
        .bind(user_id)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Site::from).collect())
}

/// Site `site_key` if `user_id` is a member of it.
pub async fn find_for_user(
    pool: &PgPool,
    user_id: i64,
    site_key: &str,
) -> Result<Option<Site>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM sites JOIN memberships USING (site_id) WHERE user_id = $1 AND site_key = $2"
    );
    let row = sqlx::query_as::<_, SiteRow>(sql)
        .bind(user_id)
        .bind(site_key)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Site::from))
}

pub async fn find(pool: &PgPool, site_key: &str) -> Result<Option<Site>, sqlx::Error> {
    let sql = concat!("SELECT ", columns!(), " FROM sites WHERE site_key = $1");
    let row = sqlx::query_as::<_, SiteRow>(sql)
        .bind(site_key)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Site::from))
}

/// What `server site edit` changes; `None` keeps the stored value.
#[derive(Default)]
pub struct SiteChanges<'a> {
    pub name: Option<&'a str>,
    pub timezone: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub domains: Option<&'a [String]>,
    /// (medium from, high from) in minor units of the site currency.
    pub price_tiers: Option<(i64, i64)>,
}

/// Applies `changes` to the site; `None` when no site has that key. A new
/// time zone moves every local day and hour: the site's rollups are
/// rebuilt from its raw events in the same transaction, by the fold
/// ([`rebuild::rebuild_in`]), so no page ever mixes two zones. That takes
/// as long as `server rollups rebuild` for the site; the site's events
/// wait in the queue meanwhile (the rebuild lock), other sites go on.
pub async fn update(
    pool: &PgPool,
    site_key: &str,
    changes: &SiteChanges<'_>,
) -> Result<Option<Site>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let before: Option<(i32, String)> =
        sqlx::query_as("SELECT site_id, timezone FROM sites WHERE site_key = $1")
            .bind(site_key)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((site_id, before)) = before else {
        return Ok(None);
    };
    let rezoned = changes.timezone.is_some_and(|zone| zone != before);
    if rezoned {
        // Before the row lock: a fold holds this lock shared, then reads
        // the row.
        rebuild::lock(&mut tx, site_id).await?;
    }
    let sql = concat!(
        "UPDATE sites SET name = COALESCE($2, name), timezone = COALESCE($3, timezone), \
            currency = COALESCE($4, currency::text), domains = COALESCE($5, domains), \
            price_tier_medium_from = COALESCE($6, price_tier_medium_from), \
            price_tier_high_from = COALESCE($7, price_tier_high_from) \
         WHERE site_key = $1 RETURNING ",
        columns!()
    );
    let row = sqlx::query_as::<_, SiteRow>(sql)
        .bind(site_key)
        .bind(changes.name)
        .bind(changes.timezone)
        .bind(changes.currency)
        .bind(changes.domains)
        .bind(changes.price_tiers.map(|t| t.0))
        .bind(changes.price_tiers.map(|t| t.1))
        .fetch_optional(&mut *tx)
        .await?;
    if let (Some(row), true) = (&row, rezoned) {
        let target = rebuild::Target {
            site_id: row.site_id,
            currency: Currency::parse(&row.currency).ok_or_else(|| {
                sqlx::Error::Protocol(format!("site currency {:?}", row.currency))
            })?,
        };
        rebuild::rebuild_in(&mut tx, &target, None, &mut |_| {}).await?;
    }
    tx.commit().await?;
    Ok(row.map(Site::from))
}

/// The site's revenue (minor units) and orders in `currency`, all time,
/// from the hourly rollup: what a change of its currency hides.
pub async fn sales_in(
    pool: &PgPool,
    site_id: i32,
    currency: &str,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT coalesce(sum(revenue_verified + revenue_unverified), 0)::int8, \
                coalesce(sum(orders_verified + orders_unverified), 0)::int8 \
           FROM hourly_sales WHERE site_id = $1 AND currency = $2",
    )
    .bind(site_id)
    .bind(currency)
    .fetch_one(pool)
    .await
}

/// Replaces the site's signing secret; `None` when no site has that key.
pub async fn rotate_secret(
    pool: &PgPool,
    site_key: &str,
    signing_secret: &str,
) -> Result<Option<Site>, sqlx::Error> {
    let sql = concat!(
        "UPDATE sites SET signing_secret = $2 WHERE site_key = $1 RETURNING ",
        columns!()
    );
    let row = sqlx::query_as::<_, SiteRow>(sql)
        .bind(site_key)
        .bind(signing_secret)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Site::from))
}
