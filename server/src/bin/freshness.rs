//! `freshness`: how long an event takes to reach the dashboard. Watches the
//! Real-Time push (`/api/live/ws`) of a running server like a browser on the
//! Real-Time page, sends one `search` event at a time with a term no other
//! event has, and times it from sending until a pushed snapshot lists it
//! in its feed. Prints p50/p99/max (a benchmark, not a test).
//!
//! ```text
//! freshness --url http://127.0.0.1:3000 --site demo --samples 40 [--json FILE]
//!           (--email/--password or STOREPULSE_ADMIN_EMAIL/_PASSWORD: a member)
//! ```
//! Samples are spaced unevenly, so they fall at every point of the
//! once-a-second push. Only ever point it at a server you run, on 127.0.0.1.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Parser;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(about = "Time from sending an event to seeing it on the Real-Time push")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    #[arg(long, default_value = "demo")]
    site: String,
    /// A member of the site, to watch its live socket.
    #[arg(long, env = "STOREPULSE_ADMIN_EMAIL")]
    email: String,
    #[arg(long, env = "STOREPULSE_ADMIN_PASSWORD", hide_env_values = true)]
    password: String,
    /// Events timed, one at a time.
    #[arg(long, default_value_t = 40)]
    samples: usize,
    /// How long one event may take before it counts as missed.
    #[arg(long, default_value_t = 10)]
    timeout_seconds: u64,
    /// Also write the results to this file as one JSON object.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// A browser's, so the bot filter keeps the events.
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

/// A pushed snapshot: when it arrived and what its feed lists.
struct Push {
    at: Instant,
    subjects: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    server::loopback::require(&args.url, "freshness")?;
    let live = format!(
        "{}/api/live/ws?site={}",
        args.url.replacen("http", "ws", 1),
        args.site
    );
    let cookie = server::loopback::sign_in(&args.url, &args.email, &args.password).await?;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            live.as_str(),
        )?;
    request.headers_mut().insert("cookie", cookie.parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .with_context(|| format!("connecting to {live}"))?;
    let (_sink, mut stream) = socket.split();
    // Timestamped as they arrive, not when the loop below gets to them,
    // which may be while it still waits for the POST's answer.
    let (pushes, mut received) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let at = Instant::now();
            let Ok(snapshot) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let subjects = snapshot["feed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item["subject"].as_str().map(str::to_owned))
                .collect();
            if pushes.send(Push { at, subjects }).is_err() {
                break;
            }
        }
    });
    // The first push comes at once: the ticker for the site is running.
    tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .context("no snapshot within 10 s of connecting")?
        .context("the live socket closed")?;

    let client = reqwest::Client::builder().user_agent(UA).build()?;
    let events_url = format!("{}/api/events", args.url);
    let run = chrono::Utc::now().timestamp_millis();
    let timeout = Duration::from_secs(args.timeout_seconds);
    let mut times = Vec::with_capacity(args.samples);
    let mut missed = 0;
    for i in 0..args.samples {
        let term = format!("fresh-{run}-{i}");
        let now = chrono::Utc::now().timestamp_millis();
        let envelope = json!({
            "site": args.site,
            "sent_at": now,
            "events": [{
                "id": term, "type": "search", "ts": now, "search_term": term,
                "visitor": format!("fresh-{run}"), "session": format!("fresh-{run}"),
                "url": format!("https://shop.example/search?q={term}"),
            }],
        });
        let sent = Instant::now();
        let response = client
            .post(&events_url)
            .header("content-type", "application/json")
            .body(envelope.to_string())
            .send()
            .await?;
        let status = response.status();
        let receipt = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST /api/events answered {status}: {receipt}");
        }
        let deadline = sent + timeout;
        let seen = loop {
            match tokio::time::timeout_at(deadline.into(), received.recv()).await {
                Ok(Some(push)) if push.subjects.contains(&term) => break Some(push.at),
                Ok(Some(_)) => {}
                Ok(None) => bail!("the live socket closed"),
                Err(_) => break None,
            }
        };
        match seen {
            Some(at) => times.push(at.saturating_duration_since(sent)),
            None => missed += 1,
        }
        // 100 to 599 ms, varying, so the samples fall at every phase of the tick.
        tokio::time::sleep(Duration::from_millis(100 + (i as u64 * 163) % 500)).await;
    }
    reader.abort();
    ensure!(!times.is_empty(), "no event reached the push in time");
    times.sort();
    let at = |p: f64| {
        let rank = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len());
        times[rank - 1].as_secs_f64() * 1000.0
    };
    println!("| samples | missed | freshness p50 | freshness p99 | max |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {missed} | {:.0} ms | {:.0} ms | {:.0} ms |",
        times.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
    if let Some(path) = &args.json {
        let summary = json!({
            "samples": times.len(),
            "missed": missed,
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
            "max_ms": at(1.0),
        });
        std::fs::write(path, format!("{summary:#}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
