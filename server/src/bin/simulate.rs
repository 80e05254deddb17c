//! `simulate`: realistic shoppers (see `server::simulate`) sent through the
//! real ingestion endpoint at a steady rate, or written to an NDJSON file.
//!
//! Open loop: sessions are started on schedule whatever the server's
//! latency, up to `--max-in-flight` requests at once; past that a session
//! is counted as `late` rather than queued without bound.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    io::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, ValueEnum};
use fake::rand::{rngs::StdRng, RngExt as _, SeedableRng as _};
use serde_json::{json, Value};
use server::{
    demo::catalog::{self, Catalog},
    ingest::signature,
    simulate::{self, Behaviour, Session},
};
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(about = "Send simulated shoppers to a Storepulse server, or write them to a file")]
struct Args {
    /// The server (ingestion at `<url>/api/events`).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Site key the events are for.
    #[arg(long, default_value = "demo")]
    site: String,
    /// Same seed, same shoppers and events (ids included). Default: 1 for
    /// `--out` files (a history is reproducible), a fresh one for live runs
    /// (a live run after importing a history would otherwise send nothing
    /// but that history's event ids again: duplicates); printed either way.
    #[arg(long)]
    seed: Option<u64>,
    /// Target events per second (open loop).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Stop after this many sessions.
    #[arg(long)]
    sessions: Option<u64>,
    /// One request per session (`batch`), per event (`single`), or one
    /// message per session over WebSockets (`ws`).
    #[arg(long, value_enum, default_value_t = Mode::Batch)]
    mode: Mode,
    /// Share of requests sent twice, as a client retrying would (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    dup_rate: f64,
    /// The site's signing secret: every order is also reported as a signed
    /// server event, as a shop's backend would.
    #[arg(long, env = "STOREPULSE_SIGNING_SECRET")]
    secret: Option<String>,
    /// Write the events as NDJSON (`{"user_agent", "event"}` per line)
    /// instead of sending them; no rate limit applies. Refunds (1 hour to 7
    /// days after their order) are written when they are due by now; a live
    /// run sends each when its time comes (signed with `--secret`), so only
    /// runs longer than an hour see them.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// With `--out`: spread session starts over the last N days (`30d`).
    #[arg(long, value_parser = parse_days)]
    history: Option<u64>,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// WebSocket streams in `--mode ws`.
    #[arg(long, default_value_t = 4)]
    sockets: usize,
    /// Live runs: send each refund this many seconds after its order
    /// instead of the modelled 1 hour to 7 days (for demos and tests).
    #[arg(long)]
    refund_delay: Option<u64>,
    /// Flash sale: this many times the rate, with twice the buying.
    #[arg(long, default_value_t = 1.0)]
    flash_sale: f64,
}

/// The User-Agent of the shop's backend reporting orders and refunds.
const BACKEND_USER_AGENT: &str = "shop-backend/1.0";

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Batch,
    Single,
    /// One envelope per session over `--sockets` WebSocket streams (signed
    /// server purchases still go over HTTP: signatures are an HTTP header).
    Ws,
}

fn parse_days(value: &str) -> Result<u64, String> {
    value
        .trim_end_matches('d')
        .parse()
        .map_err(|_| format!("{value:?}: give days, e.g. 30d"))
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    late: AtomicU64,
}

impl Counters {
    /// Counts a receipt (HTTP) or ack (WebSocket): they have the same fields.
    fn tally(&self, receipt: &Value) {
        let count = |key: &str| receipt[key].as_u64().unwrap_or(0);
        self.accepted.fetch_add(count("accepted"), Relaxed);
        self.duplicates.fetch_add(count("duplicates"), Relaxed);
        let rejected = receipt["rejected"].as_array().map_or(0, Vec::len);
        self.rejected.fetch_add(rejected as u64, Relaxed);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let catalog = Catalog::generate(catalog::SEED);
    let mut behaviour = Behaviour::default();
    if args.flash_sale > 1.0 {
        behaviour.add_to_cart = (behaviour.add_to_cart * 2.0).min(1.0);
        behaviour.purchase = (behaviour.purchase * 1.3).min(1.0);
    }
    if let Some(path) = &args.out {
        let seed = args.seed.unwrap_or(1);
        eprintln!("seed {seed}");
        return write(&args, seed, &catalog, &behaviour, path);
    }
    let seed = args.seed.unwrap_or_else(|| {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        nanos.unsigned_abs()
    });
    eprintln!("seed {seed} (--seed {seed} sends the same shoppers again)");
    let limit = args.sessions.unwrap_or(u64::MAX);
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.max_in_flight)
        .build()?;
    let endpoint = format!("{}/api/events", args.url.trim_end_matches('/'));
    let counters = Arc::new(Counters::default());
    let permits = Arc::new(Semaphore::new(args.max_in_flight));
    let mut sockets = Vec::new();
    if args.mode == Mode::Ws {
        let url = format!(
            "{}/api/events/ws?site={}",
            args.url.trim_end_matches('/').replacen("http", "ws", 1),
            args.site
        );
        for _ in 0..args.sockets.max(1) {
            sockets.push(socket(&url, args.max_in_flight, counters.clone()).await?);
        }
    }
    let rng = &mut StdRng::seed_from_u64(seed);
    let rate = args.rate * args.flash_sale;
    let started = Instant::now();
    let mut due = 0.0_f64;
    let mut n = 0;
    let mut last_report = Instant::now();
    let mut refunds: BinaryHeap<Reverse<(i64, u64, String)>> = BinaryHeap::new();
    while n < limit && deadline.is_none_or(|d| Instant::now() < d) {
        // Refunds whose time has come go out first, from the shop's backend.
        let now_ms = Utc::now().timestamp_millis();
        while refunds.peek().is_some_and(|r| r.0 .0 <= now_ms) {
            let Some(Reverse((_, _, event))) = refunds.pop() else {
                break;
            };
            let Ok(event) = serde_json::from_str::<Value>(&event) else {
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                counters.late.fetch_add(1, Relaxed);
                continue;
            };
            let request = backend_request(&args, event);
            let (client, endpoint, counters) = (client.clone(), endpoint.clone(), counters.clone());
            tokio::spawn(async move {
                send(&client, &endpoint, BACKEND_USER_AGENT, request, &counters).await;
                drop(permit);
            });
        }
        let elapsed = started.elapsed().as_secs_f64();
        if due > elapsed * rate {
            tokio::time::sleep(Duration::from_millis(2)).await;
        } else {
            // Live: the visit is happening now, its last event this instant,
            // so Real-Time shows the shopper.
            let session = ending_now(simulate::session(&catalog, &behaviour, seed, n, Utc::now()));
            due += session.events.len() as f64;
            n += 1;
            if let Some(refund) = &session.refund {
                if refunds.len() < MAX_PENDING_REFUNDS {
                    let mut refund = refund.clone();
                    if let Some(delay) = args.refund_delay {
                        let at = Utc::now().timestamp_millis() + delay as i64 * 1000;
                        refund["ts"] = json!(at);
                    }
                    let at = refund["ts"].as_i64().unwrap_or_default();
                    refunds.push(Reverse((at, n, refund.to_string())));
                } else {
                    counters.late.fetch_add(1, Relaxed);
                }
            }
            for body in envelopes(&args, &session) {
                let copies = if rng.random_bool(args.dup_rate.clamp(0.0, 1.0)) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        counters.late.fetch_add(1, Relaxed);
                        continue;
                    };
                    if !sockets.is_empty() && body.1.signature.is_none() {
                        let socket = &sockets[n as usize % sockets.len()];
                        let events = body.1.events;
                        if socket
                            .try_send((body.1.body.clone(), events, permit))
                            .is_err()
                        {
                            counters.late.fetch_add(1, Relaxed);
                        } else {
                            counters.sent.fetch_add(events, Relaxed);
                        }
                        continue;
                    }
                    let (client, endpoint, counters) =
                        (client.clone(), endpoint.clone(), counters.clone());
                    let (ua, body) = (body.0, body.1.clone());
                    tokio::spawn(async move {
                        send(&client, &endpoint, ua, body, &counters).await;
                        drop(permit);
                    });
                }
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            progress(&counters, started, n);
        }
    }
    let _ = permits.acquire_many(args.max_in_flight as u32).await;
    progress(&counters, started, n);
    println!();
    Ok(())
}

/// The requests for one session, each with its User-Agent.
fn envelopes(args: &Args, session: &Session) -> Vec<(&'static str, Request)> {
    let now = Utc::now().timestamp_millis();
    let envelope = |events: Vec<Value>| Request {
        events: events.len() as u64,
        body: json!({"site": args.site, "sent_at": now, "events": events}).to_string(),
        signature: None,
    };
    let mut out: Vec<(&'static str, Request)> = match args.mode {
        Mode::Batch | Mode::Ws => vec![(session.user_agent, envelope(session.events.clone()))],
        Mode::Single => session
            .events
            .iter()
            .map(|e| (session.user_agent, envelope(vec![e.clone()])))
            .collect(),
    };
    if let (Some(_), Some(event)) = (&args.secret, simulate::server_purchase(session)) {
        out.push((BACKEND_USER_AGENT, backend_request(args, event)));
    }
    out
}

/// One event from the shop's backend, signed when the secret is known.
fn backend_request(args: &Args, event: Value) -> Request {
    let now = Utc::now();
    let body = json!({"site": args.site, "sent_at": now.timestamp_millis(), "events": [event]})
        .to_string();
    let signature = args
        .secret
        .as_ref()
        .map(|secret| signature::sign(body.as_bytes(), secret.as_bytes(), now.timestamp()));
    Request {
        events: 1,
        body,
        signature,
    }
}

/// Refunds waiting for their time, soonest first; bounded so a long run at
/// a high rate cannot grow it without limit (past it, refunds are skipped
/// and counted `late`).
const MAX_PENDING_REFUNDS: usize = 100_000;

#[derive(Clone)]
struct Request {
    /// Events in the envelope, for the counters.
    events: u64,
    body: String,
    signature: Option<String>,
}

type Outgoing = (String, u64, tokio::sync::OwnedSemaphorePermit);

/// Opens one ingestion socket: envelopes sent in order with a `seq`, acks
/// read in order, each holding its in-flight permit until answered.
async fn socket(
    url: &str,
    capacity: usize,
    counters: Arc<Counters>,
) -> anyhow::Result<tokio::sync::mpsc::Sender<Outgoing>> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message};

    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("user-agent", simulate::DEVICES[1].1.parse()?);
    let (stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .with_context(|| format!("connecting {url}"))?;
    let (mut sink, mut acks) = stream.split();
    let (outgoing, mut queue) = tokio::sync::mpsc::channel::<Outgoing>(capacity);
    let (pending_tx, mut pending) =
        tokio::sync::mpsc::channel::<(u64, tokio::sync::OwnedSemaphorePermit)>(capacity);
    tokio::spawn(async move {
        let mut seq = 0_u64;
        while let Some((body, events, permit)) = queue.recv().await {
            seq += 1;
            let Ok(mut envelope) = serde_json::from_str::<Value>(&body) else {
                continue;
            };
            envelope["seq"] = json!(seq);
            if pending_tx.send((events, permit)).await.is_err()
                || sink
                    .send(Message::Text(envelope.to_string().into()))
                    .await
                    .is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(Ok(message)) = acks.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Some((events, permit)) = pending.recv().await else {
                break;
            };
            drop(permit);
            let ack: Value = serde_json::from_str(&text).unwrap_or_default();
            if ack.get("error").is_some() {
                counters.errors.fetch_add(events, Relaxed);
                continue;
            }
            counters.tally(&ack);
        }
    });
    Ok(outgoing)
}

async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    ua: &str,
    request: Request,
    counters: &Counters,
) {
    let events = request.events;
    counters.sent.fetch_add(events, Relaxed);
    let mut builder = client
        .post(endpoint)
        .header("content-type", "application/json")
        .header("user-agent", ua)
        .body(request.body);
    if let Some(signature) = request.signature {
        builder = builder.header(signature::HEADER, signature);
    }
    let receipt = match builder.send().await {
        Ok(response) if response.status().as_u16() == 202 => response.json::<Value>().await.ok(),
        _ => None,
    };
    match receipt {
        Some(receipt) => counters.tally(&receipt),
        None => {
            counters.errors.fetch_add(events, Relaxed);
        }
    }
}

fn progress(c: &Counters, started: Instant, sessions: u64) {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let sent = c.sent.load(Relaxed);
    print!(
        "\r{sessions} sessions, {sent} events sent, {} accepted, {} duplicates, {} rejected, {} failed, {} late; {:.0} events/s   ",
        c.accepted.load(Relaxed),
        c.duplicates.load(Relaxed),
        c.rejected.load(Relaxed),
        c.errors.load(Relaxed),
        c.late.load(Relaxed),
        sent as f64 / secs
    );
    let _ = std::io::stdout().flush();
}

/// Moves a session's events (and its refund) so that its last event is now.
fn ending_now(mut session: simulate::Session) -> simulate::Session {
    let now = Utc::now().timestamp_millis();
    let last = session.events.iter().filter_map(|e| e["ts"].as_i64()).max();
    let shift = last.map_or(0, |last| last - now);
    for event in session.events.iter_mut().chain(session.refund.as_mut()) {
        if let Some(ts) = event["ts"].as_i64() {
            event["ts"] = json!(ts - shift);
        }
    }
    session
}

/// Writes sessions as NDJSON, without a server.
fn write(
    args: &Args,
    seed: u64,
    catalog: &Catalog,
    behaviour: &Behaviour,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let sessions = args.sessions.unwrap_or(1_000);
    let now = Utc::now();
    let span = chrono::Duration::days(args.history.unwrap_or(0) as i64);
    let mut events = 0;
    for n in 0..sessions {
        // Evenly spread starts over the history window, ending 15 minutes ago.
        let back = span.num_seconds() as f64 * (1.0 - n as f64 / sessions as f64);
        let start = now - chrono::Duration::seconds(back as i64) - chrono::Duration::minutes(15);
        let session = simulate::session(catalog, behaviour, seed, n, start);
        let refund = session
            .refund
            .as_ref()
            .filter(|r| r["ts"].as_i64() <= Some(now.timestamp_millis()))
            .map(|r| (BACKEND_USER_AGENT, r));
        let lines = session.events.iter().map(|e| (session.user_agent, e));
        for (user_agent, event) in lines.chain(refund) {
            serde_json::to_writer(&mut out, &json!({"user_agent": user_agent, "event": event}))?;
            out.write_all(b"\n")?;
            events += 1;
        }
    }
    out.flush()?;
    println!(
        "{sessions} sessions, {events} events written to {}",
        path.display()
    );
    Ok(())
}
