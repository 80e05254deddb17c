//! Several processes and crash safety of the real binary: one batch sent
//! concurrently to two processes, `kill -9` at random moments under load,
//! and PostgreSQL restarted under load. Every acknowledged event must be
//! stored exactly once and every rollup must equal a recomputation from the
//! raw events.
//!
//! Uses the binary in `STOREPULSE_SERVER_BIN` (`cargo xtask test` points it
//! at the release build), else the one cargo built for this test run.

use std::{
    collections::HashSet,
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sqlx::PgPool;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn server_binary() -> String {
    std::env::var("STOREPULSE_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_server").to_owned())
}

/// The URL of the database `pool` talks to, for the child process.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let name = pool
        .connect_options()
        .get_database()
        .expect("database name")
        .to_owned();
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    format!("{server}/{name}")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts the binary and waits until `/healthz` answers 200.
    async fn start(database_url: &str, client: &reqwest::Client) -> Self {
        let port = free_port();
        let child = Command::new(server_binary())
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
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        self.child.wait().expect("reap")
    }

    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

/// A tiny deterministic generator, so a failing run can be repeated.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn batch(ids: &[String]) -> Value {
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
struct Ledger {
    database_url: String,
    client: reqwest::Client,
    pending: Arc<Mutex<Vec<Vec<String>>>>,
    acked: Arc<Mutex<HashSet<String>>>,
    all: usize,
}

impl Ledger {
    /// Creates the `demo` site in `pool`'s database and `batches` batches of
    /// 10 events with ids `<prefix>-<batch>-<n>`.
    async fn new(pool: &PgPool, batches: usize, prefix: &str) -> Self {
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

    async fn start_server(&self) -> Server {
        Server::start(&self.database_url, &self.client).await
    }

    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn wait_for_acks(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.acked() < count.min(self.all) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Eight concurrent senders to `url`.
    fn drivers(&self, url: &str) -> Vec<tokio::task::JoinHandle<()>> {
        (0..8)
            .map(|_| tokio::spawn(self.clone().drive(url.to_owned())))
            .collect()
    }

    /// Sends pending batches to `url` until none is left or the server stops
    /// answering 202; a batch without an answer stays pending.
    async fn drive(self, url: String) {
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
    async fn settle_and_check(self, pool: &PgPool) {
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

async fn assert_rollups_exact(pool: &PgPool) {
    let drift = server::store::drift::rollup_drift(pool).await.unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recomputation: {drift:?}"
    );
}

async fn create_site(pool: &PgPool) {
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

/// Runs the tests in this file one at a time: one of them restarts the
/// database the others use.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[sqlx::test(migrations = false)]
async fn kill_9_at_random_moments_loses_and_doubles_nothing(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 1_200, "k").await;
    let mut random = XorShift(0x5eed_1234_abcd);
    for _cycle in 0..20 {
        let server = ledger.start_server().await;
        let drivers = ledger.drivers(&server.url);
        // Let a random number of acknowledgements happen, then pull the plug.
        ledger
            .wait_for_acks(ledger.acked() + 50 + (random.next() % 400) as usize)
            .await;
        server.kill_9();
        for driver in drivers {
            driver.await.unwrap();
        }
    }
    ledger.settle_and_check(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn a_database_restart_under_load_loses_nothing_acknowledged(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 600, "r").await;
    let server = ledger.start_server().await;
    let load = {
        let (ledger, url) = (ledger.clone(), server.url.clone());
        tokio::spawn(async move {
            // Drivers stop at the first refusal (503 while the database is
            // down); keep starting them until everything is acknowledged.
            while !ledger.pending.lock().unwrap().is_empty() {
                for driver in ledger.drivers(&url) {
                    driver.await.unwrap();
                }
            }
        })
    };
    ledger.wait_for_acks(500).await;
    restart_database(&pool).await;
    load.await.unwrap();
    assert!(
        server.terminate().success(),
        "the server exits cleanly after SIGTERM"
    );
    ledger.settle_and_check(&pool).await;
}

/// Restarts PostgreSQL with the command in `STOREPULSE_PG_RESTART` (set by
/// `cargo xtask test`). Without it, cuts every other connection to this
/// database, which is what a restart looks like to the server.
async fn restart_database(pool: &PgPool) {
    match std::env::var("STOREPULSE_PG_RESTART") {
        Ok(command) => {
            let status = tokio::process::Command::new("sh")
                .args(["-c", &command])
                .status()
                .await
                .unwrap();
            assert!(status.success(), "restarting PostgreSQL with {command:?}");
        }
        Err(_) => {
            eprintln!("STOREPULSE_PG_RESTART unset: terminating connections instead of restarting");
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

#[sqlx::test(migrations = false)]
async fn sigterm_under_load_answers_everything_queued_and_exits_0(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 2_000, "t").await;
    let server = ledger.start_server().await;
    let drivers = ledger.drivers(&server.url);
    ledger.wait_for_acks(300).await;
    let stopping = Instant::now();
    let status = server.terminate();
    let took = stopping.elapsed();
    for driver in drivers {
        driver.await.unwrap();
    }
    assert!(status.success(), "exit status after SIGTERM: {status}");
    // Not a timing assertion on speed: the contract is the configured grace.
    assert!(
        took < Duration::from_secs(10),
        "exited {took:?} after SIGTERM, past the 10 s grace"
    );
    ledger.settle_and_check(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn the_same_batches_sent_concurrently_to_two_processes_count_once(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 100, "two").await;
    let (client, batches) = (
        ledger.client.clone(),
        ledger.pending.lock().unwrap().clone(),
    );
    let first = ledger.start_server().await;
    let second = ledger.start_server().await;
    let sends = batches.iter().flat_map(|ids| {
        [&first.url, &second.url, &first.url, &second.url].map(|url| {
            let request = client.post(format!("{url}/api/events")).json(&batch(ids));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        })
    });
    let receipts = futures_util::future::join_all(sends).await;
    let accepted: i64 = receipts
        .iter()
        .map(|r| r["accepted"].as_i64().unwrap())
        .sum();
    let duplicates: i64 = receipts
        .iter()
        .map(|r| r["duplicates"].as_i64().unwrap())
        .sum();
    assert_eq!((accepted, duplicates), (1_000, 3_000));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1_000);
    assert_rollups_exact(&pool).await;
    first.kill_9();
    second.kill_9();
}
