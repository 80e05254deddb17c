//! The WebSocket edge: acks in order after commit, per-message errors,
//! close codes.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, protocol::frame::coding::CloseCode, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::helpers::{create_site, envelope, page_view, spawn_app, TestApp, BROWSER_UA};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    app: &TestApp,
    site: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{}/api/events/ws?site={site}", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("user-agent", BROWSER_UA.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await.expect("socket open").expect("message") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

fn message(seq: u64, events: Vec<Value>) -> Message {
    let mut body = envelope(events);
    body["seq"] = json!(seq);
    Message::Text(body.to_string().into())
}

#[sqlx::test(migrations = false)]
async fn acks_come_in_order_after_the_commit(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let mut socket = connect(&app, "demo").await.unwrap();
    for seq in 1..=20_u64 {
        let events = (0..5)
            .map(|i| page_view(&format!("ws-{seq}-{i}")))
            .collect();
        socket.send(message(seq, events)).await.unwrap();
    }
    let mut accepted = 0;
    for seq in 1..=20_u64 {
        let ack = next_json(&mut socket).await;
        assert_eq!(ack["ack"], seq, "{ack}");
        accepted += ack["accepted"].as_i64().unwrap();
        // Acknowledged means committed: the events are visible now.
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id LIKE $1")
            .bind(format!("ws-{seq}-%"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored, 5);
    }
    assert_eq!(accepted, 100);
}

#[sqlx::test(migrations = false)]
async fn a_bad_message_gets_an_error_for_its_seq_and_the_socket_stays_open(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let mut socket = connect(&app, "demo").await.unwrap();
    socket
        .send(Message::Text(r#"{"seq": 1, "events": "nope"}"#.into()))
        .await
        .unwrap();
    socket
        .send(message(2, vec![page_view("ok-1")]))
        .await
        .unwrap();
    let error = next_json(&mut socket).await;
    assert_eq!(
        (error["ack"].as_u64(), error["status"].as_u64()),
        (Some(1), Some(400)),
        "{error}"
    );
    let ack = next_json(&mut socket).await;
    assert_eq!(
        (ack["ack"].as_u64(), ack["accepted"].as_u64()),
        (Some(2), Some(1)),
        "{ack}"
    );
}

async fn close_code(socket: &mut Socket) -> Option<CloseCode> {
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

#[sqlx::test(migrations = false)]
async fn binary_messages_close_with_1008_and_oversized_ones_with_1009(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let mut socket = connect(&app, "demo").await.unwrap();
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Policy));

    let mut socket = connect(&app, "demo").await.unwrap();
    let huge = "x".repeat(1024 * 1024);
    socket.send(Message::Text(huge.into())).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Size));
}

/// A socket is for the site it was opened with: a message naming another
/// is refused whole, counted, and stores nothing.
#[sqlx::test(migrations = false)]
async fn a_message_for_another_site_is_refused_on_a_sites_socket(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    create_site(&pool, "other").await;
    let mut socket = connect(&app, "demo").await.unwrap();
    let mut elsewhere = envelope(vec![page_view("x-1"), page_view("x-2")]);
    elsewhere["site"] = json!("other");
    elsewhere["seq"] = json!(1);
    socket
        .send(Message::Text(elsewhere.to_string().into()))
        .await
        .unwrap();
    socket
        .send(message(2, vec![page_view("d-1")]))
        .await
        .unwrap();
    let refused = next_json(&mut socket).await;
    assert_eq!(
        (refused["ack"].as_u64(), refused["status"].as_u64()),
        (Some(1), Some(400)),
        "{refused}"
    );
    assert!(
        refused["error"].as_str().unwrap().contains("\"other\""),
        "{refused}"
    );
    let ack = next_json(&mut socket).await;
    assert_eq!(ack["accepted"], 1, "{ack}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1, "nothing of the other site's message");
    assert_eq!(
        app.metric("storepulse_events_rejected_total{reason=\"site_mismatch\"}")
            .await,
        2.0
    );
}

#[sqlx::test(migrations = false)]
async fn an_unknown_site_cannot_open_a_socket(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let Err(refused) = connect(&app, "nope").await else {
        panic!("the upgrade must be refused");
    };
    let status = match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    };
    assert_eq!(status, 404);
}

#[sqlx::test(migrations = false)]
async fn a_client_gets_a_bounded_number_of_sockets(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(
        pool.clone(),
        config(&[("STOREPULSE_INGEST__WS_MAX_PER_IP", "2")]),
    )
    .await;
    create_site(&pool, "demo").await;
    let first = connect(&app, "demo").await.unwrap();
    let _second = connect(&app, "demo").await.unwrap();
    match connect(&app, "demo").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a third socket should be refused, got {other:?}"),
    }
    drop(first);
    // The server notices the close and frees the slot.
    let mut again = None;
    for _ in 0..100 {
        if let Ok(socket) = connect(&app, "demo").await {
            again = Some(socket);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a closed socket gives its slot back");
}

#[sqlx::test(migrations = false)]
async fn a_silent_socket_is_pinged_then_closed_and_a_live_one_is_not(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(
        pool.clone(),
        config(&[("STOREPULSE_INGEST__WS_IDLE_SECS", "1")]),
    )
    .await;
    create_site(&pool, "demo").await;
    let mut silent = connect(&app, "demo").await.unwrap();
    let mut live = connect(&app, "demo").await.unwrap();
    // The live client keeps reading (tungstenite answers pings with pongs);
    // the silent one reads nothing, so it answers nothing.
    let mut pings = 0;
    let reading = async {
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(std::time::Duration::from_millis(3_500), live.next()).await
        {
            if matches!(message, Message::Ping(_)) {
                pings += 1;
            }
            if pings >= 3 {
                break;
            }
        }
    };
    reading.await;
    assert!(pings >= 3, "pinged while idle, kept open: {pings}");
    live.send(message(1, vec![page_view("still-here")]))
        .await
        .unwrap();
    assert_eq!(next_json(&mut live).await["accepted"], 1);

    let mut saw_ping = false;
    let close = loop {
        match silent.next().await {
            Some(Ok(Message::Ping(_))) => saw_ping = true,
            Some(Ok(Message::Close(frame))) => break frame,
            other => panic!("expected a ping and a close, got {other:?}"),
        }
    };
    assert!(saw_ping);
    assert_eq!(close.expect("close frame").code, CloseCode::Away);
}

fn config(pairs: &[(&str, &str)]) -> server::config::Config {
    server::config::Config::load(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_draining_server_answers_what_it_read_closes_with_1001_and_exits(pool: PgPool) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // A grace far longer than the test may take: the server must not wait
    // for it once its sockets are closed and the queue is empty.
    let (app, running) = crate::helpers::spawn_app_until(
        pool.clone(),
        config(&[("STOREPULSE_HTTP__SHUTDOWN_GRACE_MS", "600000")]),
        async {
            let _ = stopped.await;
        },
    )
    .await;
    create_site(&pool, "demo").await;
    let mut socket = connect(&app, "demo").await.unwrap();
    socket
        .send(message(1, vec![page_view("drain-1")]))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["accepted"], 1);

    socket
        .send(message(2, vec![page_view("drain-2")]))
        .await
        .unwrap();
    stop.send(()).unwrap();
    let mut acked_2 = false;
    let bound = std::time::Duration::from_secs(60);
    let code = loop {
        let next = tokio::time::timeout(bound, socket.next()).await;
        match next.expect("the draining server closes the socket") {
            Some(Ok(Message::Text(text))) => {
                let ack: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    (ack["ack"].as_u64(), ack["accepted"].as_u64()),
                    (Some(2), Some(1))
                );
                acked_2 = true;
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(CloseCode::Away));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id = 'drain-2'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        stored == 1,
        acked_2,
        "a message is stored exactly when it was answered"
    );
    // The server stops on its own once the socket closed (the bound only
    // keeps a broken drain from hanging the suite).
    let exited = tokio::time::timeout(std::time::Duration::from_secs(60), running).await;
    assert!(matches!(exited, Ok(Ok(Ok(())))), "{exited:?}");
}

#[sqlx::test(migrations = false)]
async fn an_overloaded_socket_reply_says_when_to_retry(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(
        pool.clone(),
        config(&[("STOREPULSE_INGEST__QUEUE_CAPACITY", "2")]),
    )
    .await;
    create_site(&pool, "demo").await;
    let mut socket = connect(&app, "demo").await.unwrap();
    let events = (0..3).map(|i| page_view(&format!("full-{i}"))).collect();
    socket.send(message(1, events)).await.unwrap();
    let reply = next_json(&mut socket).await;
    assert_eq!(
        (reply["status"].as_u64(), reply["retry_after"].as_u64()),
        (Some(503), Some(2)),
        "{reply}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_client_that_vanishes_is_not_counted_as_refused(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    // Half a frame, then the TCP connection is gone: no close handshake.
    let socket = connect(&app, "demo").await.unwrap();
    let MaybeTlsStream::Plain(mut tcp) = socket.into_inner() else {
        panic!("plain TCP");
    };
    use tokio::io::AsyncWriteExt;
    tcp.write_all(&[0x81, 0xFE, 0x00, 0x10, 1, 2, 3, 4, b'{'])
        .await
        .unwrap();
    drop(tcp);
    // A socket slot per client IP: once this one is free again the server
    // has seen the disconnect. Fill every slot to find out.
    let max = 32;
    let mut sockets = Vec::new();
    for _ in 0..200 {
        match connect(&app, "demo").await {
            Ok(socket) => sockets.push(socket),
            Err(_) => {
                sockets.clear();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        }
        if sockets.len() == max {
            break;
        }
    }
    assert_eq!(sockets.len(), max, "the vanished socket's slot came back");
    let refused = app.metric_family("storepulse_requests_refused_total").await;
    assert_eq!(refused, 0.0);
}

#[sqlx::test(migrations = false)]
async fn a_socket_sending_too_fast_gets_429_with_whole_seconds_to_wait(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(
        pool.clone(),
        config(&[
            ("STOREPULSE_INGEST__RATE_LIMIT_PER_SECOND", "1"),
            ("STOREPULSE_INGEST__RATE_LIMIT_BURST", "1"),
        ]),
    )
    .await;
    create_site(&pool, "demo").await;
    let mut socket = connect(&app, "demo").await.unwrap();
    socket
        .send(message(1, vec![page_view("fast-1")]))
        .await
        .unwrap();
    socket
        .send(message(2, vec![page_view("fast-2")]))
        .await
        .unwrap();
    let first = next_json(&mut socket).await;
    assert_eq!(first["ack"], 1, "{first}");
    let second = next_json(&mut socket).await;
    // The same type as a 503's: an integer of seconds.
    assert_eq!(
        (second["status"].as_u64(), second["retry_after"].as_u64()),
        (Some(429), Some(1)),
        "{second}"
    );
}
