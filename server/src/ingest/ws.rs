//! `GET /api/events/ws?site=…`: the WebSocket edge of ingestion.
//!
//! Each text message is one envelope plus `"seq"`. Messages are ingested
//! concurrently (up to [`IN_FLIGHT`] per socket) but acknowledged strictly in
//! the order they arrived, each after its commit. A bad message gets an error
//! reply for its seq; the socket stays open. Too large a message closes with
//! 1009, a binary one with 1008. Each message counts against the client's
//! rate limit. A client may hold `ingest.ws_max_per_ip` sockets (more: 429);
//! a socket silent for `ingest.ws_idle_secs` is pinged, and closed with
//! 1001 if it stays silent as long again. When the server drains (SIGTERM)
//! a socket reads no further message, answers those it has, and closes
//! with 1001; the drain ends when the last socket has.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        ConnectInfo, Query, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    http::{refusal_response, status_of, too_many_requests},
    pipeline::{Ingestor, Receipt, Refusal, Submission},
};

/// Messages being ingested on one socket before reading pauses.
const IN_FLIGHT: usize = 64;

#[derive(Deserialize)]
pub struct SiteQuery {
    site: String,
}

pub async fn events_socket(
    State(ingestor): State<Ingestor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<SiteQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    match ingestor.sites.get(&query.site).await {
        Ok(Some(_)) => {}
        Ok(None) => return refusal_response(&ingestor, &Refusal::UnknownSite),
        Err(_) => return refusal_response(&ingestor, &Refusal::Unavailable),
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ip = ingestor.proxies.client_ip(peer.ip(), &headers);
    let Some(slot) = ingestor.sockets.open(ip) else {
        return too_many_requests(&ingestor, Duration::from_secs(1));
    };
    let limit = ingestor.config.max_body_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            serve(socket, ingestor, query.site, ip, user_agent).await;
            drop(slot);
        })
        .into_response()
}

type Reply = JoinHandle<Value>;

async fn serve(
    socket: WebSocket,
    ingestor: Ingestor,
    site: String,
    ip: IpAddr,
    user_agent: Option<String>,
) {
    let (mut sink, mut stream) = socket.split();
    let (replies, mut ordered) = mpsc::channel::<Reply>(IN_FLIGHT);
    let writer = tokio::spawn(async move {
        while let Some(reply) = ordered.recv().await {
            let Ok(value) = reply.await else { break };
            if value.get("ping").is_some() {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
                continue;
            }
            if let Some(code) = value.get("close").and_then(Value::as_u64) {
                let reason = value["error"].as_str().unwrap_or_default().to_owned();
                let frame = CloseFrame {
                    code: code as u16,
                    reason: reason.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            if sink
                .send(Message::Text(value.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let idle = Duration::from_secs(ingestor.config.ws_idle_secs.max(1));
    let mut pinged = false;
    let mut draining = ingestor.draining.clone();
    loop {
        let next = tokio::select! {
            biased;
            () = async { drop(draining.wait_for(|draining| *draining).await) } => {
                // Behind the replies already queued: those are answered first.
                let _ = replies.send(closing(1001, "server shutting down")).await;
                break;
            }
            next = tokio::time::timeout(idle, stream.next()) => next,
        };
        let message = match next {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_) if pinged => {
                let _ = replies.send(closing(1001, "idle")).await;
                break;
            }
            Err(_) => {
                pinged = true;
                if replies.send(ping()).await.is_err() {
                    break;
                }
                continue;
            }
        };
        pinged = false;
        let reply: Reply = match message {
            Ok(Message::Text(text)) => {
                let ingestor = ingestor.clone();
                let user_agent = user_agent.clone();
                let site = site.clone();
                tokio::spawn(async move {
                    let body = text.as_bytes();
                    ingest_message(&ingestor, &site, body, ip, user_agent.as_deref()).await
                })
            }
            Ok(Message::Binary(_)) => {
                ingestor
                    .metrics
                    .refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE.as_u16());
                let _ = replies.send(closing(1008, "send text messages")).await;
                break;
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(error) if is_too_large(&error) => {
                ingestor
                    .metrics
                    .refuse(StatusCode::PAYLOAD_TOO_LARGE.as_u16());
                let _ = replies
                    .send(closing(
                        1009,
                        "message refused: larger than ingest.max_body_bytes",
                    ))
                    .await;
                break;
            }
            // The client went away (reset, truncated frame): nothing was
            // refused, and there is no one left to answer.
            Err(_) => break,
        };
        if replies.send(reply).await.is_err() {
            break;
        }
    }
    drop(replies);
    let _ = writer.await;
}

/// A message over the size bound, as opposed to a broken connection.
fn is_too_large(error: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    let inner = std::error::Error::source(error).and_then(|e| e.downcast_ref::<Error>());
    matches!(inner, Some(Error::Capacity(_)))
}

fn ping() -> Reply {
    tokio::spawn(async { json!({ "ping": true }) })
}

fn closing(code: u16, error: &str) -> Reply {
    let value = json!({ "close": code, "error": error });
    tokio::spawn(async move { value })
}

async fn ingest_message(
    ingestor: &Ingestor,
    site: &str,
    body: &[u8],
    ip: IpAddr,
    user_agent: Option<&str>,
) -> Value {
    // The seq is read again only for an error reply; acks carry the
    // envelope's own.
    let seq = || {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("seq").and_then(Value::as_u64))
    };
    if let Err(wait) = ingestor.limiter.check(ip) {
        ingestor
            .metrics
            .refuse(StatusCode::TOO_MANY_REQUESTS.as_u16());
        // Whole seconds, as the 503's `retry_after` (and `Retry-After`) are.
        let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
        return json!({ "ack": seq(), "status": 429, "error": "too many messages, slow down", "retry_after": retry_after });
    }
    let submission = Submission {
        body,
        signature: None,
        user_agent,
        ip,
        site: Some(site),
    };
    match ingestor.ingest(submission).await {
        Ok(receipt) => ack(receipt.seq, &receipt),
        Err(refusal) => {
            let status = status_of(&refusal);
            ingestor.metrics.refuse(status.as_u16());
            let mut reply =
                json!({ "ack": seq(), "status": status.as_u16(), "error": refusal.to_string() });
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // As an HTTP 503's Retry-After: seconds before trying again.
                reply["retry_after"] = json!(ingestor.config.retry_after_secs);
            }
            reply
        }
    }
}

fn ack(seq: Option<u64>, receipt: &Receipt) -> Value {
    json!({
        "ack": seq,
        "accepted": receipt.accepted,
        "duplicates": receipt.duplicates,
        "rejected": receipt.rejected,
        "bots": receipt.bots,
    })
}
