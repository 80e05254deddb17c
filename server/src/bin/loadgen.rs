//! `loadgen`: drives a running Storepulse server and prints a table of
//! ingest throughput and acknowledgement latency (a benchmark, not a test).
//!
//! ```text
//! loadgen --url http://127.0.0.1:3000 --site demo --mode batch --batch 20 \
//!         --concurrency 64 --seconds 10 --server-pid $(pgrep -x server)
//! ```
//! `--rate N` switches from fixed concurrency to an open loop of N
//! requests per second (at most `--concurrency` in flight; requests that
//! would exceed it are counted as `skipped`, never queued without bound).
//! `--json FILE` also writes the row's figures there, for `cargo xtask bench`.
//! Only ever point it at a server you run, on 127.0.0.1.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

#[derive(Parser, Clone)]
#[command(about = "Load generator for Storepulse ingestion")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    #[arg(long, default_value = "demo")]
    site: String,
    #[arg(long, value_enum, default_value = "single")]
    mode: Mode,
    /// Events per request (batch and ws modes).
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Requests (or sockets, in ws mode) in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Open loop: requests per second instead of fixed concurrency.
    #[arg(long)]
    rate: Option<u64>,
    /// PID of the server, to report its CPU and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Also write the results to this file as one JSON object.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Mode {
    Single,
    Batch,
    Ws,
}

#[derive(Default)]
struct Tally {
    events: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

impl Tally {
    fn record(&self, started: Instant, events: usize, ok: bool) {
        if ok {
            self.events.fetch_add(events as u64, Ordering::Relaxed);
            self.requests.fetch_add(1, Ordering::Relaxed);
            let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
            let mut latencies = self.latencies_us.lock().unwrap_or_else(|p| p.into_inner());
            // Bounded: ten million samples is plenty for percentiles.
            if latencies.len() < 10_000_000 {
                latencies.push(micros);
            }
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 storepulse-loadgen";

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn envelope(site: &str, events: usize, run: u64) -> Value {
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<Value> = (0..events)
        .map(|_| {
            let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            json!({
                "id": format!("lg-{run}-{n}"), "type": if n.is_multiple_of(10) { "add_to_cart" } else { "page_view" },
                "ts": now, "visitor": format!("v-{}", n % 5000), "session": format!("s-{}", n % 5000),
                "url": format!("https://shop.example/p/{}", n % 50),
                "items": if n.is_multiple_of(10) { json!([{"item_id": format!("SKU-{}", n % 50), "price": 12.5, "quantity": 1}]) } else { json!([]) },
            })
        })
        .collect();
    json!({ "site": site, "sent_at": now, "events": events })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    server::loopback::require(&args.url, "loadgen")?;
    let per_request = if args.mode == Mode::Single {
        1
    } else {
        args.batch
    };
    let run = chrono::Utc::now().timestamp_millis() as u64;
    let tally = Arc::new(Tally::default());
    let cpu_before = args.server_pid.and_then(cpu_ticks);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let sender = Sender::new(&args, per_request, run, &tally);
    match (args.mode, args.rate) {
        (Mode::Ws, _) => run_ws(&args, per_request, run, deadline, &tally).await?,
        (_, Some(rate)) => run_open_loop(&args, sender, rate, deadline).await,
        (_, None) => run_closed_loop(&args, sender, deadline).await,
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_percent = match (cpu_before, args.server_pid.and_then(cpu_ticks)) {
        (Some(before), Some(after)) => {
            Some((after - before) as f64 / ticks_per_second() / elapsed * 100.0)
        }
        _ => None,
    };
    let cpu = cpu_percent.map_or("n/a".to_owned(), |cpu| format!("{cpu:.0}%"));
    let rss_mb = args.server_pid.and_then(rss_mb);
    let rss = rss_mb.map_or("n/a".to_owned(), |mb| format!("{mb:.0} MB"));
    let mut latencies =
        std::mem::take(&mut *tally.latencies_us.lock().unwrap_or_else(|p| p.into_inner()));
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    let events_per_second = tally.events.load(Ordering::Relaxed) as f64 / elapsed;
    let requests_per_second = tally.requests.load(Ordering::Relaxed) as f64 / elapsed;
    let (errors, skipped) = (
        tally.errors.load(Ordering::Relaxed),
        tally.skipped.load(Ordering::Relaxed),
    );
    println!("| mode | events/request | concurrency | rate | events/s | requests/s | ack p50 | ack p99 | errors | skipped | server CPU | server RSS |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {:?} | {} | {} | {} | {:.0} | {:.0} | {:.1} ms | {:.1} ms | {} | {} | {} | {} |",
        args.mode,
        per_request,
        args.concurrency,
        args.rate
            .map_or("closed loop".to_owned(), |r| format!("{r}/s")),
        events_per_second,
        requests_per_second,
        pct(0.50),
        pct(0.99),
        errors,
        skipped,
        cpu,
        rss,
    );
    if let Some(path) = &args.json {
        let summary = json!({
            "mode": format!("{:?}", args.mode).to_lowercase(),
            "events_per_request": per_request,
            "concurrency": args.concurrency,
            "rate": args.rate,
            "seconds": elapsed,
            "events_per_second": events_per_second,
            "requests_per_second": requests_per_second,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": errors,
            "skipped": skipped,
            "server_cpu_percent": cpu_percent,
            "server_peak_rss_mb": rss_mb,
        });
        std::fs::write(path, format!("{summary:#}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Posts one envelope of `per_request` events and records the outcome.
#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    url: String,
    site: String,
    per_request: usize,
    run: u64,
    tally: Arc<Tally>,
}

impl Sender {
    fn new(args: &Args, per_request: usize, run: u64, tally: &Arc<Tally>) -> Self {
        Self {
            client: reqwest::Client::builder()
                .user_agent(UA)
                .build()
                .expect("client"),
            url: format!("{}/api/events", args.url),
            site: args.site.clone(),
            per_request,
            run,
            tally: tally.clone(),
        }
    }

    async fn send(&self) {
        let body = envelope(&self.site, self.per_request, self.run).to_string();
        let started = Instant::now();
        let request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json");
        // 202 from Storepulse, 204 from `ceiling` (which has no receipt).
        // The receipt is read to its end: a connection goes back to the
        // pool only then, and the ceiling sends none to read.
        let ok = match request.body(body).send().await {
            Ok(response) => {
                matches!(response.status().as_u16(), 202 | 204) && response.bytes().await.is_ok()
            }
            Err(_) => false,
        };
        self.tally.record(started, self.per_request, ok);
    }
}

async fn run_closed_loop(args: &Args, sender: Sender, deadline: Instant) {
    let workers = (0..args.concurrency).map(|_| {
        let sender = sender.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                sender.send().await;
            }
        })
    });
    futures_util::future::join_all(workers).await;
}

async fn run_open_loop(args: &Args, sender: Sender, rate: u64, deadline: Instant) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while Instant::now() < deadline {
        ticker.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            sender.tally.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let sender = sender.clone();
        tokio::spawn(async move {
            sender.send().await;
            drop(permit);
        });
    }
    let _ = in_flight.acquire_many(args.concurrency as u32).await;
}

/// Each socket keeps up to 16 messages in flight and matches acks by order.
async fn run_ws(
    args: &Args,
    per_request: usize,
    run: u64,
    deadline: Instant,
    tally: &Arc<Tally>,
) -> anyhow::Result<()> {
    let ws_url = format!(
        "{}/api/events/ws?site={}",
        args.url.replacen("http", "ws", 1),
        args.site
    );
    let mut sockets = Vec::new();
    for _ in 0..args.concurrency {
        let mut request = ws_url.as_str().into_client_request()?;
        request.headers_mut().insert("user-agent", UA.parse()?);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("connecting")?;
        let (tally, site) = (tally.clone(), args.site.clone());
        sockets.push(tokio::spawn(async move {
            let (mut sink, mut stream) = socket.split();
            let sent = Arc::new(Mutex::new(std::collections::VecDeque::new()));
            let window = Arc::new(tokio::sync::Semaphore::new(16));
            let reader = {
                let (sent, window, tally) = (sent.clone(), window.clone(), tally.clone());
                tokio::spawn(async move {
                    while let Some(Ok(Message::Text(text))) = stream.next().await {
                        let ok = serde_json::from_str::<Value>(&text)
                            .is_ok_and(|v| v.get("accepted").is_some());
                        let started = sent.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                        if let Some(started) = started {
                            tally.record(started, per_request, ok);
                        }
                        window.add_permits(1);
                    }
                })
            };
            let mut seq = 0_u64;
            while Instant::now() < deadline {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                seq += 1;
                let mut body = envelope(&site, per_request, run);
                body["seq"] = json!(seq);
                sent.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back(Instant::now());
                if sink
                    .send(Message::Text(body.to_string().into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let _ = window.acquire_many(16).await;
            let _ = sink.close().await;
            reader.abort();
        }));
    }
    futures_util::future::join_all(sockets).await;
    Ok(())
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn ticks_per_second() -> f64 {
    100.0
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
