//! The public ingestion edge against hostile clients: compressed bodies,
//! absurd nesting, and a client hiding behind `X-Forwarded-For`; slow
//! clients of ingestion and of the dashboard's forms.

use serde_json::Value;
use server::config::Config;
use sqlx::PgPool;

use crate::helpers::{create_site, envelope, page_view, spawn_app, spawn_app_with, TestApp};

async fn post_from(app: &TestApp, forwarded_for: Option<&str>, id: &str) -> u16 {
    let mut request = app
        .client
        .post(app.url("/api/events"))
        .header("content-type", "application/json")
        .body(envelope(vec![page_view(id)]).to_string());
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.expect("post").status().as_u16()
}

fn limited(trusted: Option<&str>) -> Config {
    let mut pairs = vec![
        ("STOREPULSE_INGEST__RATE_LIMIT_PER_SECOND", "1"),
        ("STOREPULSE_INGEST__RATE_LIMIT_BURST", "1"),
    ];
    if let Some(trusted) = trusted {
        pairs.push(("STOREPULSE_INGEST__TRUSTED_PROXIES", trusted));
    }
    Config::load(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned()))).expect("config")
}

#[sqlx::test(migrations = false)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate_limit(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), limited(Some("127.0.0.1"))).await;
    create_site(&pool, "demo").await;
    assert_eq!(post_from(&app, Some("203.0.113.1"), "a1").await, 202);
    assert_eq!(post_from(&app, Some("203.0.113.1"), "a2").await, 429);
    // Another client through the same proxy is not punished for the first,
    // and a hop the client wrote itself (left of the real one) changes nothing.
    assert_eq!(post_from(&app, Some("203.0.113.2"), "b1").await, 202);
    assert_eq!(
        post_from(&app, Some("198.51.100.7, 203.0.113.1"), "a3").await,
        429
    );
}

#[sqlx::test(migrations = false)]
async fn without_a_trusted_proxy_forwarded_for_is_ignored(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), limited(None)).await;
    create_site(&pool, "demo").await;
    assert_eq!(post_from(&app, Some("203.0.113.1"), "a1").await, 202);
    assert_eq!(post_from(&app, Some("203.0.113.2"), "b1").await, 429);
}

#[sqlx::test(migrations = false)]
async fn a_compressed_body_is_refused_before_it_is_inflated(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    // A gzip stream of 10 MiB of zeros is about 10 KiB: under the body
    // limit, far over it once inflated.
    let bomb = std::process::Command::new("sh")
        .args(["-c", "head -c 10485760 /dev/zero | gzip -9"])
        .output()
        .expect("gzip")
        .stdout;
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let response = app
        .client
        .post(app.url("/api/events"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("compressed"));
    assert_eq!(
        app.metric("storepulse_requests_refused_total{status=\"415\"}")
            .await,
        1.0
    );
    assert_eq!(post_from(&app, None, "after").await, 202, "still serving");
}

#[sqlx::test(migrations = false)]
async fn ten_thousand_levels_of_nesting_are_refused_not_a_crash(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let deep = |inner: &str| format!("{}{inner}{}", "[".repeat(10_000), "]".repeat(10_000));
    let post = |body: String| {
        app.client
            .post(app.url("/api/events"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Inside one event: that event is refused, its neighbour is stored.
    let body = format!(
        "{{\"site\":\"demo\",\"events\":[{{\"id\":\"deep\",\"type\":\"page_view\",\"props\":{{\"x\":{}}}}},{}]}}",
        deep("1"),
        page_view("neighbour")
    );
    assert!(body.len() < 64 * 1024);
    let response = post(body).await.unwrap();
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["accepted"], 1, "{receipt}");
    let reason = receipt["rejected"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("recursion"), "{reason}");
    // In the envelope itself: a bad request.
    let body = format!("{{\"site\":{},\"events\":[]}}", deep("1"));
    let response = post(body).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(post_from(&app, None, "after").await, 202, "still serving");
}

#[sqlx::test(migrations = false)]
async fn events_from_pages_off_the_sites_domains_are_refused_with_a_reason(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    server::store::sites::insert(
        &pool,
        &server::store::sites::NewSite {
            site_key: "demo",
            name: "Shop",
            timezone: "UTC",
            currency: "USD",
            domains: &["shop.example".to_owned()],
            signing_secret: crate::helpers::SECRET,
        },
    )
    .await
    .unwrap();
    let at = |id: &str, url: &str| {
        let mut event = page_view(id);
        event["url"] = serde_json::json!(url);
        event
    };
    let mut no_url = page_view("app-screen");
    no_url.as_object_mut().unwrap().remove("url");
    let events = vec![
        at("ours", "https://shop.example/"),
        at("sub", "https://www.shop.example/p/1"),
        at("theirs", "https://copycat.example/"),
        no_url,
    ];
    let response = app
        .client
        .post(app.url("/api/events"))
        .header("content-type", "application/json")
        .body(envelope(events).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["accepted"], 3, "{receipt}");
    assert_eq!(receipt["rejected"][0]["index"], 2);
    assert!(receipt["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("domains"));
    assert_eq!(
        app.metric("storepulse_events_rejected_total{reason=\"domain_not_allowed\"}")
            .await,
        1.0
    );
    let dead: String = sqlx::query_scalar("SELECT reason FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(dead.contains("domains"), "{dead}");
}

/// Reads until the server closes the connection; what it said first.
async fn until_closed(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut seen = Vec::new();
    let mut buffer = [0_u8; 4096];
    // A bound so a regression fails instead of hanging the suite.
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), reading)
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&seen).into_owned()
}

fn timeouts() -> Config {
    Config::load(
        [
            ("STOREPULSE_HTTP__HEADER_READ_TIMEOUT_MS", "500"),
            ("STOREPULSE_INGEST__BODY_READ_TIMEOUT_MS", "500"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .expect("config")
}

#[sqlx::test(migrations = false)]
async fn slow_and_idle_connections_are_closed(pool: PgPool) {
    use tokio::io::AsyncWriteExt as _;
    let app = spawn_app_with(pool.clone(), timeouts()).await;
    create_site(&pool, "demo").await;

    // Slow loris: headers that never end.
    let mut loris = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    loris
        .write_all(b"POST /api/events HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .await
        .unwrap();
    assert!(!until_closed(&mut loris).await.contains("202"));

    // A connection that says nothing at all.
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    until_closed(&mut silent).await;

    // Keep-alive: one answered request, then idle.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let said = until_closed(&mut idle).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");

    // A body that trickles: 408, and the server goes on serving.
    let mut trickle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    trickle
        .write_all(
            b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"site\":",
        )
        .await
        .unwrap();
    let said = until_closed(&mut trickle).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert_eq!(
        app.metric("storepulse_requests_refused_total{status=\"408\"}")
            .await,
        1.0
    );
    assert_eq!(post_from(&app, None, "after").await, 202);
}

#[sqlx::test(migrations = false)]
async fn a_dashboard_body_that_trickles_in_gets_408(pool: PgPool) {
    use tokio::io::AsyncWriteExt as _;
    let config = Config::load(
        [("STOREPULSE_INGEST__BODY_READ_TIMEOUT_MS", "300")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .expect("config");
    let app = spawn_app_with(pool, config).await;
    let status = <app::api::status::GetStatus as server_fn::ServerFn>::PATH;
    for path in ["/login", "/setup", status] {
        let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nOrigin: http://x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        // One byte at a time, until the server stops listening.
        let trickle = tokio::spawn(async move {
            for byte in b"email=a%40example.com&password=".iter().cycle().take(1000) {
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            writer
        });
        let said = until_closed(&mut reader).await;
        assert!(said.starts_with("HTTP/1.1 408"), "{path}: {said}");
        trickle.abort();
    }
    // The dashboard goes on serving.
    let response = app.client.get(app.url("/status")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
