//! The ports the server implements so server functions can read its data.
//!
//! `app` never depends on `server`: it declares these small traits, the
//! server implements them over PostgreSQL and hands them in as context when
//! it registers the Leptos routes.

use async_trait::async_trait;

use crate::accounts::{AccountInfo, AdminError, SiteForm, SiteSettings, SiteSummary, Viewer};
use crate::api::status::StatusReport;
use crate::live::LiveSnapshot;
use crate::stats::{
    HourlySales, Overview, PagesReport, Period, ProductPerformance, RangeQuery, SessionRow,
    StatsError, UserActivity,
};

/// Answers the Status page: database reachability, schema, version, uptime.
#[async_trait]
pub trait StatusSource: Send + Sync + 'static {
    /// The report, its times shown in `zone` (an IANA name).
    async fn status(&self, zone: &str) -> StatusReport;
}

/// Answers the dashboard's pages and the stats API from the rollup tables,
/// for sites the viewer belongs to (any other site is `UnknownSite`: 404).
/// Charts are left empty: the pages render them, the API does not need them.
#[async_trait]
pub trait StatsSource: Send + Sync + 'static {
    async fn overview(&self, viewer: &Viewer, query: &RangeQuery) -> Result<Overview, StatsError>;
    async fn hourly_sales(
        &self,
        viewer: &Viewer,
        query: &RangeQuery,
    ) -> Result<HourlySales, StatsError>;
    async fn products(
        &self,
        viewer: &Viewer,
        query: &RangeQuery,
    ) -> Result<ProductPerformance, StatsError>;
    async fn users(&self, viewer: &Viewer, query: &RangeQuery) -> Result<UserActivity, StatsError>;
    /// Landing and exit pages of the range's sessions.
    async fn pages(&self, viewer: &Viewer, query: &RangeQuery) -> Result<PagesReport, StatsError>;
    /// The newest sessions that started in the range, at most `limit`.
    async fn sessions(
        &self,
        viewer: &Viewer,
        query: &RangeQuery,
        limit: i64,
    ) -> Result<(Period, Vec<SessionRow>), StatsError>;
    /// The Real-Time page's first snapshot (the socket pushes the next).
    async fn live(&self, viewer: &Viewer, query: &RangeQuery) -> Result<LiveSnapshot, StatsError>;
}

/// The settings pages: the viewer's sites, their settings, and the
/// viewer's own account. Every call checks membership: another user's
/// site is "not found", exactly like a site that does not exist.
#[async_trait]
pub trait Admin: Send + Sync + 'static {
    async fn sites(&self, viewer: &Viewer) -> Result<Vec<SiteSummary>, AdminError>;
    /// `origin` is where the tracker is served from, for the snippet.
    async fn site(
        &self,
        viewer: &Viewer,
        key: &str,
        origin: &str,
    ) -> Result<SiteSettings, AdminError>;
    /// Creates a site with the viewer as its member.
    async fn create_site(
        &self,
        viewer: &Viewer,
        key: &str,
        form: &SiteForm,
    ) -> Result<(), AdminError>;
    async fn update_site(
        &self,
        viewer: &Viewer,
        key: &str,
        form: &SiteForm,
    ) -> Result<(), AdminError>;
    async fn rotate_secret(&self, viewer: &Viewer, key: &str) -> Result<(), AdminError>;
    async fn account(&self, viewer: &Viewer) -> Result<AccountInfo, AdminError>;
    /// A new API token, shown only in this answer.
    async fn create_token(&self, viewer: &Viewer, name: &str) -> Result<String, AdminError>;
    async fn revoke_token(&self, viewer: &Viewer, token_id: i64) -> Result<(), AdminError>;
    /// Changes the password, ends every session of the viewer and returns
    /// the `Set-Cookie` value of the new session for this browser.
    async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
    ) -> Result<String, AdminError>;
}
