//! The HTTP surface: which path goes to which handler, and the layers around
//! them.

use std::{sync::Arc, time::Duration};

use app::{ports::StatusSource, shell, App};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use sqlx::PgPool;
use tower_http::{compression::CompressionLayer, trace::TraceLayer};

use crate::store;

/// How long `/healthz` waits for the database before calling it unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared by every handler; cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub status: Arc<dyn StatusSource>,
}

/// Builds the router: health, the Leptos pages and server functions, and the
/// static files (compressed: the `.wasm` is most of a first visit's bytes).
pub fn router(state: AppState) -> Router {
    let context = {
        let status = state.status.clone();
        move || provide_context(status.clone())
    };
    let app_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    Router::new()
        .route("/healthz", get(health_show))
        .leptos_routes_with_context(&state, generate_route_list(App), context.clone(), app_shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /healthz`: 200 when the database answers, 503 (with the reason) when
/// it does not, so a load balancer takes this process out of rotation.
async fn health_show(State(pool): State<PgPool>) -> impl IntoResponse {
    let outcome = tokio::time::timeout(HEALTH_TIMEOUT, store::ping(&pool)).await;
    match outcome {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "reachable" })),
        ),
        Ok(Err(error)) => unhealthy(store::describe(&error)),
        Err(_) => unhealthy("timed out".to_owned()),
    }
}

fn unhealthy(reason: String) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "database": "unreachable", "reason": reason })),
    )
}
