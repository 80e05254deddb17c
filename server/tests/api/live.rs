//! The Real-Time page's socket: a snapshot about once a second, read from
//! the database, that shows a new purchase without being asked.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

use crate::helpers::{create_site, envelope, page_view, purchase, spawn_app, TestApp};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The live socket's handshake for `site`, with the test admin's session.
fn live_request(
    app: &TestApp,
    site: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/api/live/ws?site={site}", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", app.cookie.parse().unwrap());
    request
}

async fn watch(app: &TestApp, site: &str) -> Socket {
    tokio_tungstenite::connect_async(live_request(app, site))
        .await
        .expect("live socket")
        .0
}

/// Reads snapshots until one satisfies `done` (each arrives within about a
/// second; the test's own timeout bounds the wait).
async fn until(socket: &mut Socket, done: impl Fn(&Value) -> bool) -> Value {
    let mut last_seq = 0;
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("the live socket closed");
        };
        let snapshot: Value = serde_json::from_str(&text).expect("JSON");
        let seq = snapshot["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "sequence numbers increase");
        last_seq = seq;
        if done(&snapshot) {
            return snapshot;
        }
    }
}

#[sqlx::test(migrations = false)]
async fn a_purchase_appears_on_the_live_socket_by_itself(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    app.post_events(&envelope(vec![page_view("e-1")])).await;
    let mut socket = watch(&app, "demo").await;
    let first = until(&mut socket, |_| true).await;
    assert_eq!(first["visitors"], 1);
    assert_eq!(first["orders_today"], 0);
    assert_eq!(first["minutes"].as_array().map(Vec::len), Some(60));
    // The wide and the phone chart, each an SVG.
    let chart = first["chart"].as_str().unwrap();
    assert!(
        chart.starts_with("<div class=\"chart-wide\"><svg"),
        "{chart}"
    );
    assert_eq!(chart.matches("<svg").count(), 2);

    let (status, _) = app
        .post_events(&envelope(vec![purchase("e-2", "T-1")]))
        .await;
    assert_eq!(status, 202);
    let after = until(&mut socket, |s| s["orders_today"] == 1).await;
    assert_eq!(after["revenue_today"], 2598);
    assert_eq!(after["purchased"], 1);
    assert_eq!(after["feed"][0]["kind"], "purchase");
    assert_eq!(after["feed"][0]["value"], 2598);
    assert_eq!(after["feed"][1]["subject"], "/p/blue-mug");
}

#[sqlx::test(migrations = false)]
async fn an_unknown_site_gets_no_live_socket(pool: PgPool) {
    let app = spawn_app(pool).await;
    let error = tokio_tungstenite::connect_async(live_request(&app, "nope"))
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("404"), "{error}");
}

#[sqlx::test(migrations = false)]
async fn the_live_socket_needs_a_signed_in_member_of_the_site(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    crate::helpers::create_foreign_site(&pool, "other").await;
    let error = tokio_tungstenite::connect_async(live_request(&app, "other"))
        .await
        .expect_err("not a member");
    assert!(error.to_string().contains("404"), "{error}");
    let anonymous = format!("ws://{}/api/live/ws?site=demo", app.addr);
    let error = tokio_tungstenite::connect_async(anonymous)
        .await
        .expect_err("not signed in");
    assert!(error.to_string().contains("401"), "{error}");
}

#[sqlx::test(migrations = false)]
async fn another_sites_page_cannot_open_the_live_socket(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let request = |origin: &str| {
        let mut request = live_request(&app, "demo");
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    let error = tokio_tungstenite::connect_async(request("https://evil.example"))
        .await
        .expect_err("cross-origin refused");
    assert!(error.to_string().contains("403"), "{error}");
    let own = format!("http://{}", app.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(request(&own))
        .await
        .expect("same origin accepted");
    let first = until(&mut socket, |_| true).await;
    assert_eq!(first["site"], "demo", "{first}");
}

#[sqlx::test(migrations = false)]
async fn a_frame_over_the_limit_closes_the_live_socket_with_1009(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let mut socket = watch(&app, "demo").await;
    let big = "x".repeat(4 * 1024);
    socket.send(Message::Text(big.into())).await.unwrap();
    // Snapshots may arrive before the close; the close itself must say why.
    let code = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("the socket ended without a close frame: {error}"),
            None => panic!("the socket ended without a close frame"),
        }
    };
    assert_eq!(code, Some(CloseCode::Size));
}

/// Reads until the server closes the socket; returns its close code.
async fn closed(socket: &mut Socket) -> Option<u16> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

#[sqlx::test(migrations = false)]
async fn a_signed_out_or_removed_viewer_loses_the_open_socket(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let site_id = create_site(&pool, "demo").await;
    let ended = |mut socket: Socket| async move {
        tokio::time::timeout(std::time::Duration::from_secs(15), closed(&mut socket))
            .await
            .expect("closed within a recheck (5 s)")
    };
    // A member removed from the site loses its open socket, with the code
    // the page tells apart.
    let mut socket = watch(&app, "demo").await;
    until(&mut socket, |_| true).await;
    sqlx::query("DELETE FROM memberships WHERE site_id = $1")
        .bind(site_id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(ended(socket).await, Some(server::live::SESSION_ENDED));
    // Signing out elsewhere (the session row goes) ends it the same way.
    sqlx::query("INSERT INTO memberships (user_id, site_id) SELECT user_id, $1 FROM users")
        .bind(site_id)
        .execute(&pool)
        .await
        .unwrap();
    let mut socket = watch(&app, "demo").await;
    until(&mut socket, |_| true).await;
    sqlx::query("DELETE FROM login_sessions")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(ended(socket).await, Some(server::live::SESSION_ENDED));
}
