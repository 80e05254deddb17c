//! `ceiling`: the fastest ingestion endpoint this machine can serve, for
//! `cargo xtask bench` to measure Storepulse against. A bare axum server
//! that parses each envelope loadgen sends and stores nothing:
//! `POST /api/events` answers 204, `GET /api/events/ws` acks each message
//! as the real server does. Absolute numbers drift between runs on shared
//! machines; a percentage of this ceiling, measured in the same run, does not.
//!
//! ```text
//! ceiling --addr 127.0.0.1:3400 &
//! loadgen --url http://127.0.0.1:3400 --mode single --seconds 10
//! ```

use anyhow::{ensure, Context as _};
use axum::{
    body::Bytes,
    extract::{
        ws::{Message, WebSocket},
        WebSocketUpgrade,
    },
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "A trivial ingestion endpoint: the ceiling loadgen can reach on this machine")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:3400")]
    addr: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.addr.ip().is_loopback(),
        "ceiling only listens on loopback, not {}",
        args.addr
    );
    let app = Router::new()
        .route("/api/events", post(events))
        .route("/api/events/ws", get(events_socket))
        // What xtask polls before it starts the load, as for the real server.
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    Ok(())
}

/// Parses the envelope fully (the real server parses it too) and answers
/// 204, or 400 when it is not JSON.
async fn events(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<Value>(&body) {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

async fn events_socket(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(acknowledge)
}

/// One ack per text message, in order, shaped like the real server's, so
/// loadgen's `ws` mode runs unchanged.
async fn acknowledge(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) => match serde_json::from_str::<Value>(&text) {
                Ok(envelope) => json!({
                    "ack": envelope.get("seq"),
                    "accepted": envelope["events"].as_array().map_or(0, Vec::len),
                    "duplicates": 0,
                    "rejected": [],
                    "bots": 0,
                }),
                Err(error) => json!({ "ack": null, "status": 400, "error": error.to_string() }),
            },
            Message::Close(_) => break,
            _ => continue,
        };
        if socket
            .send(Message::Text(reply.to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }
}
