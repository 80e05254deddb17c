//! `cargo xtask bench [--events N] [--seconds S] [--requests R]`: the whole
//! benchmark in one command, printing one table. Builds the release server
//! and bundle, then runs, one phase after another (every process shares the
//! same cores):
//!
//! 1. `ceiling`, a trivial axum endpoint that parses the same JSON, under
//!    `loadgen` (single events, batches of 20, WebSocket): this machine's
//!    ceiling;
//! 2. the release server on a fresh database under the same three loads,
//!    each profiled (PostgreSQL's CPU seconds, its top statements, what its
//!    backends wait on: `profile`), then `freshness` (event sent → listed on
//!    the Real-Time push), then its peak RSS, then the database limit:
//!    PostgreSQL alone inserting bare event rows it makes itself;
//! 3. `dashbench` over N raw events on a database of its own, kept between
//!    runs so only the first one pays for generating them;
//! 4. the gzip sizes of the tracker and the WASM bundle.
//!
//! Our figures are also printed as a percentage of the ceiling's, which
//! drifts far less between runs on shared machines than absolute numbers.
//! Uses the local `bench` PostgreSQL (or `DATABASE_URL`); every process
//! started here is stopped however the run ends. Results of each tool are
//! kept in `target/bench/`, the server's log too.

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::commands::{profile, setup};
use crate::database::Database;
use crate::exec::{self, describe, interrupted, output, say};
use crate::pg::Purpose;

/// The database the ingestion runs write to, recreated every run.
const INGEST_DATABASE: &str = "storepulse_bench";
/// The bench server's admin (a throwaway database on 127.0.0.1).
const BENCH_ADMIN: (&str, &str) = ("bench@example.com", "bench-only-password");
/// Rows of the database-limit insert.
const LIMIT_ROWS: u64 = 500_000;
/// The database `dashbench` fills; kept, because filling it takes minutes.
const DASHBOARD_DATABASE: &str = "storepulse_bench_dashboard";

/// The three ingestion loads, as the README's ingestion benchmark runs them:
/// label, loadgen arguments.
const LOADS: [(&str, &str, &[&str]); 3] = [
    (
        "single events",
        "single",
        &["--mode", "single", "--concurrency", "64"],
    ),
    (
        "batches of 20",
        "batch",
        &["--mode", "batch", "--batch", "20", "--concurrency", "32"],
    ),
    (
        "WebSocket, 20 per message",
        "ws",
        &["--mode", "ws", "--batch", "20", "--concurrency", "8"],
    ),
];

struct Options {
    events: u64,
    seconds: u64,
    requests: u64,
    /// Batches of 20 for this long at the end, for the fold's sustained
    /// lag (0: skipped).
    sustain: u64,
    /// `deferred` (the fold stage) or `inline` (ingestion v1), passed to
    /// the server as `ingest.folding`.
    folding: String,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Self> {
        let mut options = Self {
            events: 10_000_000,
            seconds: 10,
            requests: 10,
            sustain: 60,
            folding: "deferred".to_owned(),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            if *flag == "--folding" {
                if !matches!(*value, "deferred" | "inline") {
                    bail!("--folding {value}: `deferred` or `inline`");
                }
                (*value).clone_into(&mut options.folding);
                continue;
            }
            let slot = match *flag {
                "--events" => &mut options.events,
                "--seconds" => &mut options.seconds,
                "--requests" => &mut options.requests,
                "--sustain" => &mut options.sustain,
                other => bail!("unknown bench option `{other}`"),
            };
            *slot = value
                .replace('_', "")
                .parse()
                .with_context(|| format!("{flag} {value}: not a whole number"))?;
        }
        Ok(options)
    }
}

pub fn run(repo: &Path, args: &[&str]) -> Result<ExitCode> {
    let options = Options::parse(args)?;
    let started = Instant::now();
    let ready = setup(repo, false)?;
    let path = ready.tools.path()?;
    build(repo, &path)?;
    let bin = target_dir(repo).join("release");
    let out = repo.join("target").join("bench");
    fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
    // Held until the end: dropping it stops the PostgreSQL started here.
    let database = Database::from_env_or_local(repo, Purpose::Bench, ready.system.pg)?;
    let pg = database.server();
    pg.recreate_database(INGEST_DATABASE)?;
    pg.ensure_database(DASHBOARD_DATABASE)?;

    let ceiling = ingest_phase(&bin, &out, &options, "ceiling", None, |port| {
        let mut command = Command::new(bin.join("ceiling"));
        command.arg("--addr").arg(format!("127.0.0.1:{port}"));
        command
    })?;
    let profiled = Some((pg, INGEST_DATABASE));
    let ours = ingest_phase(&bin, &out, &options, "storepulse", profiled, |port| {
        let mut command = Command::new(bin.join("server"));
        command
            .arg("serve")
            .current_dir(repo)
            .env("DATABASE_URL", pg.url(INGEST_DATABASE))
            .env("LEPTOS_SITE_ROOT", "target/site")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_OUTPUT_NAME", "storepulse")
            .env("STOREPULSE_BOOTSTRAP__DEMO_SITE", "true")
            // The member `freshness` signs in as (it inherits these).
            .env("STOREPULSE_ADMIN_EMAIL", BENCH_ADMIN.0)
            .env("STOREPULSE_ADMIN_PASSWORD", BENCH_ADMIN.1)
            .env("STOREPULSE_INGEST__RATE_LIMIT_PER_SECOND", "0")
            .env("STOREPULSE_INGEST__FOLDING", &options.folding)
            .env("STOREPULSE_LOG__FILTER", "warn");
        command
    })?;

    check_interrupt()?;
    say(format!(
        "database limit: PostgreSQL inserting {LIMIT_ROWS} bare event rows itself"
    ));
    let limit = profile::database_limit(pg, INGEST_DATABASE, LIMIT_ROWS)?;
    check_interrupt()?;
    say(format!(
        "dashbench: pages and stats API over {} raw events",
        options.events
    ));
    let dashboard_json = out.join("dashbench.json");
    let mut dashbench = Command::new(bin.join("dashbench"));
    dashbench
        .args(["--events", &options.events.to_string()])
        .args(["--requests", &options.requests.to_string()])
        .arg("--json")
        .arg(&dashboard_json)
        .current_dir(repo)
        .env("DATABASE_URL", pg.url(DASHBOARD_DATABASE))
        .env("STOREPULSE_LOG__FILTER", "warn")
        .stdout(Stdio::from(std::io::stderr()));
    say(describe(&dashbench));
    exec::run(&mut dashbench)?;
    let dashboard = read_json(&dashboard_json)?;
    drop(database);

    let sizes = Sizes {
        tracker: gzip_size(&repo.join("public/tracker.js"))?,
        wasm: gzip_size(&repo.join("target/site/pkg/storepulse.wasm"))?,
    };
    print_report(repo, &options, &ceiling, &ours, &dashboard, &sizes, limit);
    say(format!(
        "xtask bench took {}",
        minutes(started.elapsed().as_secs())
    ));
    Ok(ExitCode::SUCCESS)
}

/// The release server and WASM bundle as `cargo leptos` builds them, then
/// the other binaries of the server package with the same compile-time
/// environment: without `LEPTOS_OUTPUT_NAME` (which leptos reads with
/// `option_env!`) cargo would rebuild leptos and everything above it, and
/// the two builds would keep undoing each other.
fn build(repo: &Path, path: &std::ffi::OsStr) -> Result<()> {
    let mut leptos = Command::new("cargo");
    leptos
        .args(["leptos", "build", "--release"])
        .current_dir(repo)
        .env("PATH", path);
    say(describe(&leptos));
    exec::run(&mut leptos)?;
    let mut bins = Command::new("cargo");
    bins.args(["build", "--release", "-p", "server", "--bins"])
        .current_dir(repo)
        .env("PATH", path)
        .env("LEPTOS_OUTPUT_NAME", "storepulse");
    say(describe(&bins));
    exec::run(&mut bins)
}

/// What one target (ceiling or Storepulse) did under load.
struct Ingest {
    /// loadgen's JSON per load, in [`LOADS`] order.
    loads: Vec<Value>,
    /// `freshness`'s JSON; only for Storepulse.
    freshness: Option<Value>,
    /// VmHWM after all loads, in kB.
    peak_rss_kb: Option<u64>,
    /// Per load, what it cost the database; only for Storepulse.
    profiles: Vec<profile::Profile>,
    /// The sustained batch load (`--sustain`): loadgen's JSON and profile.
    sustained: Option<(Value, profile::Profile)>,
}

/// Starts the target `start` describes on a free port, runs the three loads
/// against it (and, for Storepulse, the freshness probe), reads its peak RSS
/// and stops it.
fn ingest_phase(
    bin: &Path,
    out: &Path,
    options: &Options,
    name: &'static str,
    profiled: Option<(&crate::database::Server, &str)>,
    start: impl FnOnce(u16) -> Command,
) -> Result<Ingest> {
    check_interrupt()?;
    let port = free_port()?;
    let log = out.join(format!("{name}.log"));
    let mut target = Background::start(name, start(port), &log)?;
    target.wait_until_healthy(port, &log)?;
    let url = format!("http://127.0.0.1:{port}");
    let mut loads = Vec::new();
    let mut profiles = Vec::new();
    for (label, mode, load) in LOADS {
        check_interrupt()?;
        say(format!("{name}: {label} for {} s", options.seconds));
        let json = out.join(format!("{name}-{mode}.json"));
        let mut loadgen = Command::new(bin.join("loadgen"));
        loadgen
            .args(["--url", &url, "--site", "demo"])
            .args(["--seconds", &options.seconds.to_string()])
            .args(load)
            .args(["--server-pid", &target.pid().to_string()])
            .arg("--json")
            .arg(&json)
            .stdout(Stdio::from(std::io::stderr()));
        let sampling = profiled.map(|(server, database)| profile::start(server, database));
        exec::run(&mut loadgen)?;
        if let (Some(sampling), Some((server, database))) = (sampling, profiled) {
            profiles.push(sampling.finish(server, database));
        }
        loads.push(read_json(&json)?);
    }
    // The fold keeping up at the highest rate: batches for `--sustain` s.
    let sustained = match profiled {
        Some((server, database)) if options.sustain > 0 => {
            check_interrupt()?;
            say(format!(
                "{name}: batches of 20 sustained for {} s",
                options.sustain
            ));
            let json = out.join(format!("{name}-sustained.json"));
            let mut loadgen = Command::new(bin.join("loadgen"));
            loadgen
                .args(["--url", &url, "--site", "demo"])
                .args(["--seconds", &options.sustain.to_string()])
                .args(LOADS[1].2)
                .args(["--server-pid", &target.pid().to_string()])
                .arg("--json")
                .arg(&json)
                .stdout(Stdio::from(std::io::stderr()));
            let sampling = profile::start(server, database);
            exec::run(&mut loadgen)?;
            let profile = sampling.finish(server, database);
            Some((read_json(&json)?, profile))
        }
        _ => None,
    };
    // The ceiling has no dashboard to push to.
    let freshness = if name == "storepulse" {
        check_interrupt()?;
        say(format!("{name}: freshness on the Real-Time push"));
        let json = out.join("freshness.json");
        let mut freshness = Command::new(bin.join("freshness"));
        freshness
            .args(["--url", &url, "--site", "demo"])
            .env("STOREPULSE_ADMIN_EMAIL", BENCH_ADMIN.0)
            .env("STOREPULSE_ADMIN_PASSWORD", BENCH_ADMIN.1)
            .arg("--json")
            .arg(&json)
            .stdout(Stdio::from(std::io::stderr()));
        exec::run(&mut freshness)?;
        Some(read_json(&json)?)
    } else {
        None
    };
    let peak_rss_kb = peak_rss_kb(target.pid());
    target.stop();
    Ok(Ingest {
        loads,
        freshness,
        peak_rss_kb,
        profiles,
        sustained,
    })
}

/// A process running beside the measurements; stopped with SIGTERM (then
/// SIGKILL after 15 s) when dropped, on success, error and Ctrl-C alike.
struct Background {
    name: &'static str,
    child: Child,
}

impl Background {
    fn start(name: &'static str, mut command: Command, log: &Path) -> Result<Self> {
        let file =
            File::create(log).with_context(|| format!("could not create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        say(format!("starting {name}: {}", describe(&command)));
        let child = command
            .spawn()
            .with_context(|| format!("could not start `{}`", describe(&command)))?;
        Ok(Self { name, child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `GET /healthz` until it answers 200 (Storepulse's means the
    /// database answers too); fails if the process ends first.
    fn wait_until_healthy(&mut self, port: u16, log: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            check_interrupt()?;
            if !matches!(self.child.try_wait(), Ok(None)) {
                bail!(
                    "{} ended before it answered; the end of {}:\n{}",
                    self.name,
                    log.display(),
                    tail(log, 20)
                );
            }
            if healthy(port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer /healthz on port {port} within 120 s; see {}",
                    self.name,
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(self) {
        // Drop does the work; this names the moment in the code.
        drop(self);
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        say(format!("stopping {} (pid {})", self.name, self.pid()));
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "warning: {} ignored SIGTERM for 15 s; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 request: xtask has no HTTP client and needs none.
fn healthy(port: u16) -> bool {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// A port nobody listens on now (the OS picks it; the target binds it a
/// moment later).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The peak resident set size (VmHWM) of a running process, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `gzip -9` of `path`, in bytes. Fed on stdin, so the header holds no file
/// name: the size a browser downloads with `Content-Encoding: gzip`.
fn gzip_size(path: &Path) -> Result<u64> {
    let file = File::open(path).with_context(|| format!("could not read {}", path.display()))?;
    let mut gzip = Command::new("gzip");
    gzip.arg("-9").stdin(file).stderr(Stdio::inherit());
    let out = gzip
        .output()
        .with_context(|| format!("could not start `{}`", describe(&gzip)))?;
    if !out.status.success() {
        bail!("`gzip -9 < {}` failed ({})", path.display(), out.status);
    }
    Ok(out.stdout.len() as u64)
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `CARGO_TARGET_DIR`, or the workspace's `target/`.
fn target_dir(repo: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    repo.join(target)
}

fn check_interrupt() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

struct Sizes {
    tracker: u64,
    wasm: u64,
}

/// The table, on stdout (everything else goes to stderr), ready to paste
/// into the README.
fn print_report(
    repo: &Path,
    options: &Options,
    ceiling: &Ingest,
    ours: &Ingest,
    dashboard: &Value,
    sizes: &Sizes,
    limit: f64,
) {
    let mut warnings = Vec::new();
    println!();
    println!("{}", machine(repo));
    println!(
        "ingest.folding = {}; loadgen closed loop, {} s per load on the same machine (single events: 64 requests \
         in flight, batches: 32, WebSocket: 8 sockets with 16 messages each); dashboard: {} \
         requests per route, one at a time, over {} raw events.",
        options.folding,
        options.seconds,
        options.requests,
        thousands(dashboard["events"].as_u64().unwrap_or_default()),
    );
    println!();
    println!("| measure | storepulse | ceiling (trivial axum) | % of ceiling |");
    println!("|---|---:|---:|---:|");
    for (index, (label, _, _)) in LOADS.iter().enumerate() {
        let (o, c) = (&ours.loads[index], &ceiling.loads[index]);
        for (load, who) in [(o, "storepulse"), (c, "ceiling")] {
            let errors = load["errors"].as_u64().unwrap_or_default();
            if errors > 0 {
                warnings.push(format!("{who}, {label}: {errors} failed requests"));
            }
        }
        let number = |load: &Value, key: &str| load[key].as_f64().unwrap_or_default();
        let rate = (
            number(o, "events_per_second"),
            number(c, "events_per_second"),
        );
        row(
            &format!("{label}: events/s"),
            &thousands(rate.0.round() as u64),
            &thousands(rate.1.round() as u64),
            percent(rate.0, rate.1),
        );
        for (key, name) in [("p50_ms", "ack p50"), ("p99_ms", "ack p99")] {
            let (ours, theirs) = (number(o, key), number(c, key));
            row(
                &format!("{label}: {name}"),
                &format!("{ours:.1} ms"),
                &format!("{theirs:.1} ms"),
                percent(ours, theirs),
            );
        }
        row(
            &format!("{label}: server CPU"),
            &format!("{:.0}%", number(o, "server_cpu_percent")),
            &format!("{:.0}%", number(c, "server_cpu_percent")),
            "–".to_owned(),
        );
        if let Some(profile) = ours.profiles.get(index) {
            let acknowledged = rate.0 * number(o, "seconds");
            row(
                &format!("{label}: PostgreSQL CPU-s per 1,000 acknowledged events"),
                &format!(
                    "{:.3}",
                    profile.postgres_cpu_s * 1000.0 / acknowledged.max(1.0)
                ),
                "–",
                "–".to_owned(),
            );
            fold_rows(label, profile);
        }
    }
    if let Some((load, profile)) = &ours.sustained {
        let label = format!(
            "batches of 20 sustained for {} s",
            load["seconds"].as_f64().unwrap_or_default().round()
        );
        row(
            &format!("{label}: events/s"),
            &thousands(
                load["events_per_second"]
                    .as_f64()
                    .unwrap_or_default()
                    .round() as u64,
            ),
            "–",
            "–".to_owned(),
        );
        fold_rows(&label, profile);
    }
    row(
        "database limit: PostgreSQL alone inserting bare event rows (one backend), rows/s",
        &thousands(limit.round() as u64),
        "–",
        "–".to_owned(),
    );
    row(
        "batches of 20 as a share of the database limit",
        &percent(
            ours.loads
                .get(1)
                .and_then(|l| l["events_per_second"].as_f64())
                .unwrap_or_default(),
            limit,
        ),
        "–",
        "–".to_owned(),
    );
    if let Some(freshness) = &ours.freshness {
        let missed = freshness["missed"].as_u64().unwrap_or_default();
        if missed > 0 {
            warnings.push(format!("freshness: {missed} events never showed up"));
        }
        for (key, name) in [("p50_ms", "p50"), ("p99_ms", "p99")] {
            row(
                &format!(
                    "freshness {name} (event sent → on the Real-Time push, {} samples)",
                    freshness["samples"]
                ),
                &format!("{:.0} ms", freshness[key].as_f64().unwrap_or_default()),
                "–",
                "–".to_owned(),
            );
        }
    }
    let events = thousands(dashboard["events"].as_u64().unwrap_or_default());
    for route in dashboard["routes"].as_array().into_iter().flatten() {
        let ms = |key: &str| route[key].as_f64().unwrap_or_default();
        row(
            &format!(
                "`{}` p50 / p99 at {events} events",
                route["route"].as_str().unwrap_or_default()
            ),
            &format!("{:.1} / {:.1} ms", ms("p50_ms"), ms("p99_ms")),
            "–",
            "–".to_owned(),
        );
    }
    let mb =
        |kb: Option<u64>| kb.map_or("?".to_owned(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    row(
        "server peak RSS (VmHWM, after the loads)",
        &mb(ours.peak_rss_kb),
        &mb(ceiling.peak_rss_kb),
        match (ours.peak_rss_kb, ceiling.peak_rss_kb) {
            (Some(o), Some(c)) => percent(o as f64, c as f64),
            _ => "–".to_owned(),
        },
    );
    row(
        "tracker (`public/tracker.js`), gzip -9",
        &format!("{} B", thousands(sizes.tracker)),
        "–",
        "–".to_owned(),
    );
    row(
        "WASM (`pkg/storepulse.wasm`), gzip -9",
        &format!("{} B", thousands(sizes.wasm)),
        "–",
        "–".to_owned(),
    );
    println!();
    println!(
        "% of ceiling: ours ÷ the ceiling's. For events/s higher is better and 100% \
         is all this machine gives; for latencies and RSS lower is better."
    );
    print_profiles(&ours.profiles, ours.sustained.as_ref().map(|(_, p)| p));
    for warning in warnings {
        println!("warning: {warning}");
    }
}

/// Where each load's database time went: top statements, wait events.
fn print_profiles(profiles: &[profile::Profile], sustained: Option<&profile::Profile>) {
    let labels = LOADS
        .iter()
        .map(|(label, _, _)| *label)
        .chain(["batches of 20, sustained"]);
    for (label, profile) in labels.zip(profiles.iter().chain(sustained)) {
        println!();
        println!(
            "{label}: PostgreSQL {:.1} CPU-s; {} samples of pg_stat_activity, {:.1} active backends on average",
            profile.postgres_cpu_s,
            profile.samples,
            profile.active as f64 / profile.samples.max(1) as f64
        );
        println!();
        match &profile.statements {
            Some(statements) => {
                println!("| total ms | calls | ms per call | statement |");
                println!("|---:|---:|---:|---|");
                for (ms, calls, query) in statements {
                    let per = ms / (*calls).max(1) as f64;
                    println!(
                        "| {ms:.0} | {calls} | {per:.3} | `{}` |",
                        query.replace('|', "\\|")
                    );
                }
            }
            None => println!("(no pg_stat_statements on this server)"),
        }
        println!();
        println!("| waiting on (CPU: not waiting) | samples | share |");
        println!("|---|---:|---:|");
        for (event, samples) in &profile.waits {
            let share = percent(*samples as f64, profile.active.max(1) as f64);
            println!("| {event} | {samples} | {share} |");
        }
    }
}

/// The fold stage's lag under a load and how fast it caught up after.
fn fold_rows(label: &str, profile: &profile::Profile) {
    let after = |seconds: Option<f64>| {
        seconds.map_or("not within 120 s".to_owned(), |s| format!("{s:.1} s"))
    };
    row(
        &format!(
            "{label}: fold lag p50 / p99 / max ({} samples)",
            profile.lags.len()
        ),
        &format!(
            "{:.2} / {:.2} / {:.2} s",
            profile.lag(0.5),
            profile.lag(0.99),
            profile.lag(1.0)
        ),
        "–",
        "–".to_owned(),
    );
    row(
        &format!("{label}: after the load, lag under 1 s / nothing pending"),
        &format!(
            "{} / {}",
            after(profile.under_1s_after),
            after(profile.drained_after)
        ),
        "–",
        "–".to_owned(),
    );
}

fn row(measure: &str, ours: &str, ceiling: &str, percent: String) {
    println!("| {measure} | {ours} | {ceiling} | {percent} |");
}

fn percent(ours: f64, ceiling: f64) -> String {
    if ceiling > 0.0 {
        format!("{:.0}%", ours / ceiling * 100.0)
    } else {
        "–".to_owned()
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn minutes(seconds: u64) -> String {
    format!("{} min {} s", seconds / 60, seconds % 60)
}

/// When and on what: date, cores, CPU model and commit, so tables from
/// different runs can be told apart.
fn machine(repo: &Path) -> String {
    let date = output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .map_or_else(|_| "?".to_owned(), |date| date.trim().to_owned());
    let cores = output(&mut Command::new("nproc"))
        .map_or_else(|_| "?".to_owned(), |cores| cores.trim().to_owned());
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mut git = Command::new("git");
    git.args(["describe", "--always", "--dirty"])
        .current_dir(repo);
    let commit =
        output(&mut git).map_or_else(|_| "?".to_owned(), |commit| commit.trim().to_owned());
    format!("{date}, {cores} cores ({cpu}), commit {commit}")
}
