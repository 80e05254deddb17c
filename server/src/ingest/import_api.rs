//! `POST /api/v1/sites/{site}/import`: the history import over HTTP, for a
//! holder of an API token (`Authorization: Bearer`). The body is NDJSON as
//! `server import` reads it, at most [`MAX_BODY_BYTES`]; larger histories
//! go in several requests (re-sent lines count as duplicates, never twice).
//! The answer is the import's report.

use std::sync::Arc;

use app::accounts::Viewer;
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Extension, Json, Router,
};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use super::{
    import::{self, Options},
    parse::Limits,
};
use crate::store;

/// The largest import body: held in memory while it is imported.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone)]
struct ImportState {
    pool: PgPool,
    limits: Arc<Limits>,
}

pub fn router<S: Clone + Send + Sync + 'static>(pool: PgPool, limits: Limits) -> Router<S> {
    Router::new()
        .route("/api/v1/sites/{site}/import", post(import_create))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ImportState {
            pool,
            limits: Arc::new(limits),
        })
}

#[derive(Deserialize)]
struct ImportParams {
    /// The body is the shop's own order export: purchases and refunds
    /// count as verified.
    #[serde(default)]
    verified: bool,
    max_age_days: Option<i64>,
}

async fn import_create(
    State(state): State<ImportState>,
    Extension(viewer): Extension<Viewer>,
    Path(site): Path<String>,
    Query(params): Query<ImportParams>,
    body: Bytes,
) -> Response {
    let site = match store::sites::find_for_user(&state.pool, viewer.user_id, &site).await {
        Ok(Some(site)) => site,
        Ok(None) => return failure(StatusCode::NOT_FOUND, format!("no site {site:?}")),
        Err(error) => {
            tracing::warn!(error = %store::describe(&error), "import: site lookup failed");
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable".into(),
            );
        }
    };
    let mut options = Options::new(&state.limits, params.max_age_days.unwrap_or(3 * 366));
    options.verified = params.verified;
    let outcome = import::import(
        &state.pool,
        &site,
        std::io::Cursor::new(body),
        &options,
        &mut |_| {},
    )
    .await;
    match outcome {
        Ok(report) => {
            tracing::info!(site = %site.site_key, user = viewer.user_id, lines = report.lines, imported = report.imported, "history imported");
            Json(json!({
                "lines": report.lines,
                "imported": report.imported,
                "duplicates": report.duplicates,
                "bots": report.bots,
                "rejected": report.rejected,
            }))
            .into_response()
        }
        // What was committed stays; re-sending skips it as duplicates.
        Err(error) if error.downcast_ref::<sqlx::Error>().is_some() => {
            tracing::warn!(error = %format!("{error:#}"), site = %site.site_key, "import stopped");
            failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable; what was imported stays, send the rest again".into(),
            )
        }
        Err(error) => failure(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
    }
}

fn failure(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
