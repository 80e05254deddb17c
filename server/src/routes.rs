//! The HTTP surface: which path goes to which handler, and the layers around
//! them.

use std::{sync::Arc, time::Duration};

use app::{
    ports::{Admin, StatsSource, StatusSource},
    shell, App,
};
use axum::{
    body::{to_bytes, Body},
    extract::{FromRef, Request, State},
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    middleware::{from_fn, from_fn_with_state, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use sqlx::PgPool;
use tower_http::{
    compression::CompressionLayer,
    cors::{Any, CorsLayer},
    trace::TraceLayer,
};

use crate::{
    accounts::{self, Accounts},
    aggregate::queue::Trouble,
    dashboard, demo,
    ingest::{http, pipeline::Ingestor, signature, ws},
    live, store,
};

/// How long `/healthz` waits for the database before calling it unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// A dashboard request's body at most: axum's default limit, which the
/// sign-in and setup forms had already (server functions had none).
const DASHBOARD_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Shared by every handler; cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub status: Arc<dyn StatusSource>,
    pub stats: Arc<dyn StatsSource>,
    pub admin: Arc<dyn Admin>,
    pub accounts: Accounts,
    pub live: live::Hub,
    pub ingestor: Ingestor,
}

/// Builds the router: health, metrics, ingestion, the Leptos pages and
/// server functions, the static files and, with `demo_store`, the demo shop.
pub fn router(state: AppState, demo_store: bool) -> Router {
    let context = {
        let status = state.status.clone();
        let stats = state.stats.clone();
        let admin = state.admin.clone();
        move || {
            provide_context(status.clone());
            provide_context(stats.clone());
            provide_context(admin.clone());
        }
    };
    let app_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    // Trackers post from any storefront origin, without credentials.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static(signature::HEADER),
        ])
        // The tracker honours Retry-After on 429/503; cross-origin it may
        // only read the headers listed here.
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(86_400));
    let ingestion = Router::new()
        .route("/api/events", post(http::events_create))
        .route("/api/events/ws", get(ws::events_socket))
        .layer(cors);
    // Pages, server functions and static files are compressed (the .wasm is
    // most of a first visit's bytes); ingestion answers are a few dozen
    // bytes, where compressing would only cost CPU. Pages and server
    // functions need a signed-in user (the gate); static files do not.
    let gate = from_fn_with_state(state.accounts.clone(), accounts::http::pages_gate);
    let api_gate = from_fn_with_state(state.accounts.clone(), accounts::http::api_gate);
    let bounds = BodyBounds {
        timeout: Duration::from_millis(state.ingestor.config.body_read_timeout_ms),
        limit: DASHBOARD_BODY_BYTES,
    };
    let pages = Router::new()
        .leptos_routes_with_context(&state, generate_route_list(App), context.clone(), app_shell)
        .route_layer(gate)
        .merge(accounts::http::router(state.accounts.clone()))
        .layer(from_fn_with_state(bounds, bounded_body))
        // Every state-changing request must come from our own pages (CSRF).
        .layer(from_fn(accounts::http::same_origin_only))
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(from_fn(canonical_path))
        .layer(from_fn(static_cache))
        .layer(axum::middleware::map_response(security_headers))
        .layer(CompressionLayer::new());
    let mut router = Router::new()
        .route("/healthz", get(health_show))
        // Prometheus scrapes without a session: keep it on a private network.
        .route("/metrics", get(metrics_show))
        .merge(ingestion)
        .merge(
            dashboard::api::router(state.stats.clone())
                .route_layer(api_gate.clone())
                .layer(CompressionLayer::new()),
        )
        .merge(
            crate::ingest::import_api::router(
                state.pool.clone(),
                state.ingestor.config.limits.clone(),
            )
            .route_layer(api_gate.clone()),
        )
        .merge(live::router(state.live.clone()).route_layer(api_gate));
    if demo_store {
        router = router.merge(demo::router(state.ingestor.clone()));
    }
    router
        .merge(pages)
        // Handlers log their own failures once; 501 and 503 are answers, not faults.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

/// How long a dashboard request's body may take to arrive, and its size.
#[derive(Clone, Copy)]
struct BodyBounds {
    timeout: Duration,
    limit: usize,
}

/// Reads a dashboard request's body (sign-in, setup, server functions)
/// before its handler does, within `ingest.body_read_timeout_ms` as an
/// ingestion body must arrive: a client trickling its body in would
/// otherwise hold the connection and the handler for as long as it likes.
/// Too slow: 408, and the connection closes. Over the limit: 413.
async fn bounded_body(State(bounds): State<BodyBounds>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(bounds.timeout, to_bytes(body, bounds.limit)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "the request body did not arrive in time",
        )
            .into_response(),
    }
}

/// `/hourly/?site=demo` is `/hourly?site=demo`: a path with trailing
/// slashes answers 308 to the path without them, query kept, before the
/// gate (the router matches only the canonical path; any other would be
/// rendered without a viewer). Never to a `//host` of another site.
async fn canonical_path(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let canonical = if trimmed.is_empty() { "/" } else { trimmed };
        if accounts::http::local_path(canonical) == canonical {
            let location = match request.uri().query() {
                Some(query) => format!("{canonical}?{query}"),
                None => canonical.to_owned(),
            };
            return Redirect::permanent(&location).into_response();
        }
    }
    next.run(request).await
}

/// `Cache-Control` of a static file (a response with `Last-Modified`):
/// the bundle and stylesheet (`/pkg/…`) and other files are revalidated on
/// every use (`no-cache`: a 304 without the 245 KB body when unchanged, and
/// a new build is picked up at once, which hashed names would need a build
/// step for); the tracker, loaded by every storefront page, is kept for an
/// hour. Documents are not touched: they carry their own nonce.
async fn static_cache(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let policy = if request.uri().path() == "/tracker.js" {
        "public, max-age=3600"
    } else {
        "no-cache"
    };
    let since = request.headers().get(header::IF_MODIFIED_SINCE).cloned();
    let mut response = next.run(request).await;
    let Some(modified) = response.headers().get(header::LAST_MODIFIED).cloned() else {
        return response;
    };
    // The file handler answers every request whole: a browser revalidating
    // with the date it was given gets 304 and no body. (Exact match, as the
    // browser sends back the very `Last-Modified` it got.)
    if since.as_ref() == Some(&modified) && response.status() == StatusCode::OK {
        let mut unchanged = StatusCode::NOT_MODIFIED.into_response();
        unchanged
            .headers_mut()
            .insert(header::LAST_MODIFIED, modified);
        response = unchanged;
    }
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(policy));
    response
}

/// Headers every dashboard page (and its static files) carries: no framing
/// (clickjacking), no MIME sniffing, no full URLs in referrers to other
/// sites. The policy restricts frames, plugins, `<base>` and form targets;
/// pages replace it with one that also limits scripts to the response's
/// nonce (`app::shell`), which this keeps.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'",
        ));
    response
}

/// `GET /healthz`: 200 when the database answers and ingestion flows, 503
/// (with the reason) when the database does not answer, flushes fail, or
/// events wait without a flush finishing, so a load balancer takes this
/// process out of rotation.
async fn health_show(
    State(pool): State<PgPool>,
    State(ingestor): State<Ingestor>,
) -> impl IntoResponse {
    let outcome = tokio::time::timeout(HEALTH_TIMEOUT, store::ping(&pool)).await;
    match (outcome, ingestor.queue.health().check()) {
        (Ok(Ok(())), None) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "reachable", "ingestion": "flowing" })),
        ),
        (Ok(Ok(())), Some(trouble)) => {
            let (ingestion, reason) = match trouble {
                Trouble::Failing => ("failing", "flushes fail"),
                Trouble::Stalled => ("stalled", "events wait and no flush finishes"),
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable", "database": "reachable",
                    "ingestion": ingestion, "reason": reason,
                })),
            )
        }
        (Ok(Err(error)), _) => unhealthy(store::describe(&error)),
        (Err(_), _) => unhealthy("timed out".to_owned()),
    }
}

/// `GET /metrics`: Prometheus/OpenMetrics text.
async fn metrics_show(State(ingestor): State<Ingestor>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ingestor.metrics.render(),
    )
}

fn unhealthy(reason: String) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "database": "unreachable", "reason": reason })),
    )
}
