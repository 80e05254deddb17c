//! The ports the server implements so server functions can read its data.
//!
//! `app` never depends on `server`: it declares these small traits, the
//! server implements them over PostgreSQL and hands them in as context when
//! it registers the Leptos routes.

use async_trait::async_trait;

use crate::api::status::StatusReport;
use crate::live::LiveSnapshot;
use crate::stats::{
    HourlySales, Overview, Period, ProductPerformance, RangeQuery, SessionRow, StatsError,
    UserActivity,
};

/// Answers the Status page: database reachability, schema, version, uptime.
#[async_trait]
pub trait StatusSource: Send + Sync + 'static {
    async fn status(&self) -> StatusReport;
}

/// Answers the dashboard's pages and the stats API from the rollup tables.
/// Charts are left empty: the pages render them, the API does not need them.
#[async_trait]
pub trait StatsSource: Send + Sync + 'static {
    async fn overview(&self, query: &RangeQuery) -> Result<Overview, StatsError>;
    async fn hourly_sales(&self, query: &RangeQuery) -> Result<HourlySales, StatsError>;
    async fn products(&self, query: &RangeQuery) -> Result<ProductPerformance, StatsError>;
    async fn users(&self, query: &RangeQuery) -> Result<UserActivity, StatsError>;
    /// The newest sessions that started in the range, at most `limit`.
    async fn sessions(
        &self,
        query: &RangeQuery,
        limit: i64,
    ) -> Result<(Period, Vec<SessionRow>), StatsError>;
    /// The Real-Time page's first snapshot (the socket pushes the next).
    async fn live(&self, query: &RangeQuery) -> Result<LiveSnapshot, StatsError>;
}
