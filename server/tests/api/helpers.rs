//! Starting a server for one test and talking to it.

use std::net::SocketAddr;

use leptos::prelude::LeptosOptions;
use serde_json::{json, Value};
use server::{config::Config, startup::Application};
use sqlx::PgPool;
use tokio::net::TcpListener;

/// A running server and clients for it. The server stops when the test's
/// runtime ends.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Signed in as [`ADMIN_EMAIL`] (a member of every site the test
    /// creates), sending this server's `Origin` like a browser on its pages.
    pub client: reqwest::Client,
    /// Not signed in, no `Origin`.
    pub anon: reqwest::Client,
    /// The `Cookie` header of `client`'s session (for WebSocket handshakes).
    pub cookie: String,
    /// The test's database, for [`TestApp::folded`].
    pub pool: PgPool,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Returns once every stored event is in the rollups: folds what the
    /// server's fold stage has not reached yet, with the same code (the
    /// two take turns per site). The posting helpers call it, so a test
    /// reads the reports as they stand once ingestion caught up.
    pub async fn folded(&self) {
        if self.pool.is_closed() {
            // A test that closed the database on purpose.
            return;
        }
        server::aggregate::stage::drain_all(&self.pool)
            .await
            .expect("folding the pending events");
    }
}

/// The default configuration with `pairs` (`STOREPULSE_…` variables).
pub fn config_with(pairs: &[(&str, &str)]) -> Config {
    Config::load(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .expect("config")
}

/// Binds port 0, migrates `pool`'s database and serves in the background.
/// The socket is bound before this returns, so requests need no waiting.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, Config::load(Vec::new()).expect("default config")).await
}

/// [`spawn_app`] with a given configuration.
pub async fn spawn_app_with(pool: PgPool, config: Config) -> TestApp {
    spawn_app_until(pool, config, std::future::pending())
        .await
        .0
}

/// A server that drains and stops when `shutdown` completes (as on
/// SIGTERM); the handle ends when it has stopped.
pub async fn spawn_app_until(
    pool: PgPool,
    mut config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (TestApp, tokio::task::JoinHandle<anyhow::Result<()>>) {
    if config.admin_email.is_none() {
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let leptos = LeptosOptions::builder()
        .output_name("storepulse")
        .site_addr(addr)
        .build();
    let app = Application::with_pool(config, leptos, listener, pool.clone())
        .await
        .expect("build application");
    let running = tokio::spawn(app.run_until(shutdown));
    let anon = reqwest::Client::builder()
        .user_agent(BROWSER_UA)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let origin = format!("http://{addr}");
    let cookie = sign_in(&anon, &origin, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect("the test admin signs in");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    headers.insert("origin", origin.parse().unwrap());
    let client = reqwest::Client::builder()
        .user_agent(BROWSER_UA)
        .default_headers(headers)
        .build()
        .expect("client");
    let app = TestApp {
        addr,
        client,
        anon,
        cookie,
        pool,
    };
    (app, running)
}

/// The admin every test server creates (`STOREPULSE_ADMIN_EMAIL`).
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Posts the sign-in form like a browser on `origin`'s login page; the
/// `name=value` of the session cookie, or the redirect it got instead.
pub async fn sign_in(
    client: &reqwest::Client,
    origin: &str,
    email: &str,
    password: &str,
) -> Result<String, String> {
    let response = client
        .post(format!("{origin}/login"))
        .header("origin", origin)
        .form(&[("email", email), ("password", password), ("next", "/")])
        .send()
        .await
        .expect("POST /login");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    match cookie {
        Some(cookie) => Ok(cookie),
        None => Err(response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no redirect")
            .to_owned()),
    }
}

/// A desktop Chrome User-Agent: events from it are not bots.
pub const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

pub const SECRET: &str = "sps_0123456789abcdef0123456789abcdef0123456789abcdef";

/// Inserts site `key` in UTC with the test signing secret.
async fn insert_site(pool: &PgPool, key: &str, name: &str, currency: &str) -> i32 {
    server::store::sites::insert(
        pool,
        &server::store::sites::NewSite {
            site_key: key,
            name,
            timezone: "UTC",
            currency,
            domains: &[],
            signing_secret: SECRET,
        },
    )
    .await
    .expect("create site")
    .site_id
}

/// Creates site `key` (currency USD) with the test signing secret; every
/// user already there becomes a member.
pub async fn create_site(pool: &PgPool, key: &str) -> i32 {
    let site_id = insert_site(pool, key, "Test shop", "USD").await;
    server::store::accounts::grant_everyone(pool, site_id)
        .await
        .expect("grant the site");
    site_id
}

/// Creates site `key` (currency EUR) belonging to another user
/// (`owner@example.com`): the test's signed-in admin is not a member. Its
/// name is "Their shop".
pub async fn create_foreign_site(pool: &PgPool, key: &str) -> i32 {
    let site_id = insert_site(pool, key, "Their shop", "EUR").await;
    let owner = server::store::accounts::upsert_user(pool, "owner@example.com", "x")
        .await
        .expect("create owner");
    server::store::accounts::grant(pool, owner, site_id)
        .await
        .expect("grant the site");
    site_id
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An envelope for site `demo` sent now.
pub fn envelope(events: Vec<Value>) -> Value {
    json!({ "site": "demo", "sent_at": now_ms(), "events": events })
}

/// A page view with a fresh id unless one is given.
pub fn page_view(id: &str) -> Value {
    json!({
        "id": id, "type": "page_view", "ts": now_ms(), "visitor": "v-1", "session": "s-1",
        "url": "https://shop.example/p/blue-mug?utm_source=news", "referrer": "https://www.google.com/",
        "title": "Blue mug"
    })
}

/// A browser-reported purchase of two mugs at 12.99.
pub fn purchase(id: &str, transaction: &str) -> Value {
    json!({
        "id": id, "type": "purchase", "ts": now_ms(), "visitor": "v-1", "session": "s-1",
        "user_id": "cust-1", "currency": "USD", "value": 25.98, "transaction_id": transaction,
        "items": [{"item_id": "SKU-17", "item_name": "Blue mug", "item_category": "Kitchen",
                   "price": 12.99, "quantity": 2}]
    })
}

impl TestApp {
    /// Posts `body` as JSON to `/api/events`; returns status and JSON body
    /// once the events are folded ([`TestApp::folded`]).
    pub async fn post_events(&self, body: &Value) -> (u16, Value) {
        let answer = self.post_events_unfolded(body).await;
        self.folded().await;
        answer
    }

    /// Returns once the server's own fold stage has folded everything
    /// stored (at most 30 s).
    pub async fn stage_caught_up(&self) {
        for _ in 0..3_000 {
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM fold_pending")
                .fetch_one(&self.pool)
                .await
                .expect("reading the fold log");
            if pending == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the server's fold stage did not catch up in 30 s");
    }

    /// [`TestApp::post_events`] without waiting for the fold.
    pub async fn post_events_unfolded(&self, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/events"))
            .json(body)
            .send()
            .await
            .expect("POST /api/events");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Posts raw bytes with the given content type and extra headers.
    pub async fn post_raw(
        &self,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/api/events"))
            .header("content-type", content_type)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("POST /api/events");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        self.folded().await;
        (status, body)
    }

    /// Posts `body` as the shop's backend would: signed with the test
    /// site secret ([`SECRET`]), now.
    pub async fn post_signed(&self, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("JSON");
        let signature = server::ingest::signature::sign(&bytes, SECRET.as_bytes(), now_ms() / 1000);
        self.post_raw(
            "application/json",
            bytes,
            &[("x-storepulse-signature", signature)],
        )
        .await
    }

    /// GETs `path` with the signed-in client; the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await;
        response.expect("GET").text().await.expect("body")
    }

    /// The value of a metric line (`name` or `name{labels}`) in `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .filter_map(|line| line.strip_prefix(series))
            .filter_map(|rest| rest.strip_prefix(' '))
            .filter_map(|value| value.trim().parse::<f64>().ok())
            .sum()
    }

    /// The sum of every series of a metric family in `/metrics`.
    pub async fn metric_family(&self, family: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .filter(|line| {
                line.starts_with(&format!("{family}{{")) || line.starts_with(&format!("{family} "))
            })
            .filter_map(|line| line.rsplit(' ').next())
            .filter_map(|value| value.parse::<f64>().ok())
            .sum()
    }

    async fn metrics_text(&self) -> String {
        self.get_text("/metrics").await
    }
}
