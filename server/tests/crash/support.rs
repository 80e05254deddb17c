//! What the crash tests share: the real binary as a child process, a
//! ledger of acknowledged ids driven by concurrent clients, and the checks
//! that every acknowledged event is stored once and every rollup is exact.
//! Included by the `crash` and `restart` test binaries; each uses part.
#![allow(dead_code)]

use std::{
    collections::HashSet,
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sqlx::PgPool;

pub const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

pub fn server_binary() -> String {
    std::env::var("STOREPULSE_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_server").to_owned())
}

/// The URL of the database `pool` talks to, for the child process.
pub fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let name = pool
        .connect_options()
        .get_database()
        .expect("database name")
        .to_owned();
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    format!("{server}/{name}")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts the binary and waits until `/healthz` answers 200.
    pub async fn start(database_url: &str, client: &reqwest::Client) -> Self {
        Self::start_with(database_url, client, &[]).await
    }

    /// [`Server::start`] with extra environment.
    pub async fn start_with(
        database_url: &str,
        client: &reqwest::Client,
        env: &[(&str, String)],
    ) -> Self {
        let port = free_port();
        let child = Command::new(server_binary())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DATABASE_URL", database_url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_OUTPUT_NAME", "storepulse")
            .env("RUST_LOG", "warn")
            // All load comes from 127.0.0.1: the per-client limit would turn
            // it into 429s instead of work.
            .env("STOREPULSE_INGEST__RATE_LIMIT_PER_SECOND", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server binary");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let healthy = client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if healthy {
                break;
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, url }
    }

    /// SIGTERM, then the exit status (the server must drain and exit 0).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        self.child.wait().expect("reap")
    }

    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

/// A tiny deterministic generator, so a failing run can be repeated.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub fn batch(ids: &[String]) -> Value {
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<Value> = ids
        .iter()
        .map(|id| {
            let n: u64 = id.bytes().map(u64::from).sum();
            let visitor = format!("v-{}", n % 7);
            if n.is_multiple_of(5) {
                json!({"id": id, "type": "purchase", "ts": now, "visitor": visitor, "session": format!("s-{visitor}"),
                       "currency": "USD", "value": "19.99", "transaction_id": format!("T-{id}"),
                       "items": [{"item_id": format!("SKU-{}", n % 4), "price": "19.99", "quantity": 1}]})
            } else {
                json!({"id": id, "type": if n.is_multiple_of(3) { "view_item" } else { "page_view" }, "ts": now,
                       "visitor": visitor, "session": format!("s-{visitor}"), "url": "https://shop.example/",
                       "items": [{"item_id": format!("SKU-{}", n % 4), "price": "19.99"}]})
            }
        })
        .collect();
    json!({"site": "demo", "sent_at": now, "events": events})
}

/// Sends every pending batch to `url` until the server stops answering.
/// Acknowledged ids move to `acked`; unacknowledged batches stay pending.
/// One test's load: the batches still to be acknowledged and the ids that
/// were. Cheap to clone into driver tasks.
#[derive(Clone)]
pub struct Ledger {
    pub database_url: String,
    pub client: reqwest::Client,
    pub pending: Arc<Mutex<Vec<Vec<String>>>>,
    pub acked: Arc<Mutex<HashSet<String>>>,
    pub all: usize,
}

impl Ledger {
    /// Creates the `demo` site in `pool`'s database and `batches` batches of
    /// 10 events with ids `<prefix>-<batch>-<n>`.
    pub async fn new(pool: &PgPool, batches: usize, prefix: &str) -> Self {
        create_site(pool).await;
        let pending: Vec<Vec<String>> = (0..batches)
            .map(|b| (0..10).map(|i| format!("{prefix}-{b}-{i}")).collect())
            .collect();
        Self {
            database_url: database_url(pool),
            client: reqwest::Client::builder().user_agent(UA).build().unwrap(),
            all: batches * 10,
            pending: Arc::new(Mutex::new(pending)),
            acked: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    pub async fn start_server(&self) -> Server {
        Server::start(&self.database_url, &self.client).await
    }

    pub async fn start_server_with(&self, env: &[(&str, String)]) -> Server {
        Server::start_with(&self.database_url, &self.client, env).await
    }

    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    pub async fn wait_for_acks(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.acked() < count.min(self.all) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Eight concurrent senders to `url`.
    pub fn drivers(&self, url: &str) -> Vec<tokio::task::JoinHandle<()>> {
        (0..8)
            .map(|_| tokio::spawn(self.clone().drive(url.to_owned())))
            .collect()
    }

    /// Sends pending batches to `url` until none is left or the server stops
    /// answering 202; a batch without an answer stays pending.
    pub async fn drive(self, url: String) {
        loop {
            let Some(ids) = self.pending.lock().unwrap().pop() else {
                return;
            };
            let sent = self
                .client
                .post(format!("{url}/api/events"))
                .json(&batch(&ids))
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == 202 => {
                    self.acked.lock().unwrap().extend(ids);
                }
                _ => {
                    self.pending.lock().unwrap().insert(0, ids);
                    return;
                }
            }
        }
    }

    /// Sends everything still pending to a fresh server, then checks that
    /// exactly the acknowledged events are stored and the rollups are exact.
    pub async fn settle_and_check(self, pool: &PgPool) {
        let server = self.start_server().await;
        while !self.pending.lock().unwrap().is_empty() {
            self.clone().drive(server.url.clone()).await;
        }
        server.kill_9();
        let acked = self.acked.lock().unwrap().clone();
        assert_eq!(
            acked.len(),
            self.all,
            "every event was acknowledged in the end"
        );
        let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM events")
            .fetch_all(pool)
            .await
            .unwrap();
        let stored: HashSet<String> = stored.into_iter().collect();
        assert_eq!(
            stored, acked,
            "stored events are exactly the acknowledged ones"
        );
        assert_rollups_exact(pool).await;
    }
}

pub async fn assert_rollups_exact(pool: &PgPool) {
    let drift = server::store::drift::rollup_drift(pool).await.unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recomputation: {drift:?}"
    );
}

pub async fn create_site(pool: &PgPool) {
    server::store::migrate(pool).await.unwrap();
    server::store::sites::insert(
        pool,
        &server::store::sites::NewSite {
            site_key: "demo",
            name: "Crash shop",
            timezone: "UTC",
            currency: "USD",
            domains: &[],
            signing_secret: "sps_crash_test_secret_0123456789abcdef0123",
        },
    )
    .await
    .unwrap();
}
