//! `POST /api/events`: the HTTP edge of ingestion.

use std::net::SocketAddr;

use axum::{
    body::{to_bytes, Body},
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use super::{
    pipeline::{Ingestor, Refusal, Submission},
    signature,
};

/// Takes one envelope (`application/json`, or `text/plain` as
/// `navigator.sendBeacon` sends it) and answers after the commit.
pub async fn events_create(
    State(ingestor): State<Ingestor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ip = ingestor.proxies.client_ip(peer.ip(), &headers);
    if let Err(wait) = ingestor.limiter.check(ip) {
        return too_many_requests(&ingestor, wait);
    }
    // A compressed body would be decompressed past the size limit checked
    // here (a zip bomb); trackers never compress, so it is refused whole.
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return refuse(
            &ingestor,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "compressed bodies are not accepted: send the JSON as it is",
        );
    }
    if !is_accepted_content_type(&headers) {
        return refuse(
            &ingestor,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json or text/plain",
        );
    }
    let limit = ingestor.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return refuse(
            &ingestor,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body over {limit} bytes"),
        );
    }
    // A client trickling its body in holds a connection: bounded.
    let timeout = std::time::Duration::from_millis(ingestor.config.body_read_timeout_ms);
    let bytes = match tokio::time::timeout(timeout, to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return refuse(
                &ingestor,
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body over {limit} bytes"),
            )
        }
        Err(_) => {
            return refuse(
                &ingestor,
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            )
        }
    };
    let submission = Submission {
        body: &bytes,
        signature: header_str(&headers, signature::HEADER),
        user_agent: header_str(&headers, header::USER_AGENT.as_str()),
        ip,
        site: None,
    };
    match ingestor.ingest(submission).await {
        Ok(receipt) => (StatusCode::ACCEPTED, Json(receipt)).into_response(),
        Err(refusal) => refusal_response(&ingestor, &refusal),
    }
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub fn too_many_requests(ingestor: &Ingestor, wait: std::time::Duration) -> Response {
    ingestor
        .metrics
        .refuse(StatusCode::TOO_MANY_REQUESTS.as_u16());
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let body = Json(json!({ "error": "too many requests from this client, slow down" }));
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.max(1).to_string())],
        body,
    )
        .into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_accepted_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = header_str(headers, header::CONTENT_TYPE.as_str()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(essence.as_str(), "application/json" | "text/plain")
}

/// The status code and body for a refused envelope.
pub fn refusal_response(ingestor: &Ingestor, refusal: &Refusal) -> Response {
    refuse(ingestor, status_of(refusal), &refusal.to_string())
}

/// The HTTP status that stands for a refusal (also sent in WebSocket errors).
pub fn status_of(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::BadEnvelope(_) => StatusCode::BAD_REQUEST,
        Refusal::TooManyEvents(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::UnknownSite => StatusCode::NOT_FOUND,
        Refusal::BadSignature(_) => StatusCode::UNAUTHORIZED,
        Refusal::Overloaded | Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn refuse(ingestor: &Ingestor, status: StatusCode, error: &str) -> Response {
    ingestor.metrics.refuse(status.as_u16());
    let body = Json(json!({ "error": error }));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry_after = ingestor.config.retry_after_secs.to_string();
        return (status, [(header::RETRY_AFTER, retry_after)], body).into_response();
    }
    (status, body).into_response()
}
