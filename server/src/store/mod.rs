//! PostgreSQL: the pool, migrations, and the queries behind the dashboard's
//! ports.
//!
//! All SQL lives under this folder so a reader finds every statement the
//! server runs in one place.

use std::time::{Duration, Instant};

use app::api::status::{DatabaseState, StatusReport};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use sqlx::{postgres::PgPoolOptions, PgPool};

use crate::config::DatabaseConfig;

pub mod accounts;
pub mod drift;
pub mod flush;
pub mod live;
pub mod orders;
pub mod rebuild;
pub(crate) mod rollups;
pub mod sites;
pub mod stats;
mod upserts;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Creates the connection pool. Connections are made lazily, so the server
/// starts (and `/healthz` can say 503) even while the database is down.
pub fn connect(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .connect_lazy(config.url.expose_secret())
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Checks that the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// The version of the newest successfully applied migration.
pub async fn schema_version(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
}

/// The Status page's data source: the pool plus the process start time.
#[derive(Clone)]
pub struct PgStatus {
    pool: PgPool,
    started: Instant,
    fold: std::sync::Arc<crate::aggregate::stage::Lag>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl PgStatus {
    pub fn new(
        pool: PgPool,
        started: Instant,
        fold: std::sync::Arc<crate::aggregate::stage::Lag>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            pool,
            started,
            fold,
            metrics,
        }
    }
}

#[async_trait]
impl app::ports::StatusSource for PgStatus {
    async fn status(&self, zone: &str) -> StatusReport {
        let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
        let local = |at: chrono::DateTime<chrono::Utc>| {
            at.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        };
        let now = chrono::Utc::now();
        let database = match schema_version(&self.pool).await {
            Ok(schema_version) => DatabaseState::Reachable { schema_version },
            Err(error) => {
                tracing::warn!(%error, "status: database unreachable");
                DatabaseState::Unreachable {
                    reason: describe(&error),
                }
            }
        };
        StatusReport {
            database,
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_seconds: self.started.elapsed().as_secs(),
            checked_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            checked_at_local: local(now),
            zone: tz.name().to_owned(),
            ingestion: {
                let [received, accepted, duplicates, rejected, bots] = self.metrics.last_hour();
                app::api::status::IngestionHealth {
                    received,
                    accepted,
                    duplicates,
                    rejected,
                    bots,
                    queue_depth: self.metrics.queue_depth.get(),
                    last_error: self
                        .metrics
                        .last_flush_error()
                        .map(|(at, error)| format!("{}: {error}", local(at))),
                }
            },
            fold: {
                let reading = self.fold.reading();
                app::api::status::FoldHealth {
                    lag_ms: (reading.lag_seconds * 1000.0) as u64,
                    pending_events: reading.pending_events,
                    last_error: reading
                        .last_error
                        .map(|(at, error)| format!("{}: {error}", local(at))),
                }
            },
        }
    }
}

/// A short, credential-free description of a database error for operators.
pub fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        sqlx::Error::Io(_) => "connection refused or lost".to_owned(),
        sqlx::Error::Database(db) => format!("database error {}", db.code().unwrap_or_default()),
        _ => "database error".to_owned(),
    }
}
