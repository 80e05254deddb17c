//! The ports the server implements so server functions can read its data.
//!
//! `app` never depends on `server`: it declares these small traits, the
//! server implements them over PostgreSQL and hands them in as context when
//! it registers the Leptos routes.

use async_trait::async_trait;

use crate::api::status::StatusReport;

/// Answers the Status page: database reachability, schema, version, uptime.
#[async_trait]
pub trait StatusSource: Send + Sync + 'static {
    async fn status(&self) -> StatusReport;
}
