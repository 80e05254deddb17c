//! Where an ingestion load's time goes, measured beside `cargo xtask bench`'s
//! loads: CPU seconds of every PostgreSQL process, the top statements from
//! `pg_stat_statements`, and what active backends wait on, sampled from
//! `pg_stat_activity` five times a second, with the fold stage's lag (age
//! of the oldest row in `fold_pending`) and, once the load stopped, how
//! long the fold took to catch up. Also the database's own insert
//! rate for bare event rows (no client, no rollups), the "database limit"
//! the acknowledgement path is compared with.
//!
//! `pg_stat_statements` needs `shared_preload_libraries`, which the
//! project's clusters start with; on a server without it (`DATABASE_URL`)
//! the statements are left out and said to be.

use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::database::Server;

/// What one load cost the database.
#[derive(Debug, Default)]
pub struct Profile {
    /// CPU seconds of all PostgreSQL processes during the load.
    pub postgres_cpu_s: f64,
    /// (total ms, calls, statement) by total time, at most [`TOP`].
    pub statements: Option<Vec<(f64, u64, String)>>,
    /// (wait event, samples) among active client backends, most first.
    pub waits: Vec<(String, u64)>,
    /// How often `pg_stat_activity` was sampled.
    pub samples: u64,
    /// Active client backends seen over all samples (the mean is this
    /// divided by `samples`).
    pub active: u64,
    /// Fold lag in seconds, one per sample (sorted).
    pub lags: Vec<f64>,
    /// Seconds from the load's end until the lag was under 1 s, and until
    /// nothing was pending (`None`: not within two minutes).
    pub under_1s_after: Option<f64>,
    pub drained_after: Option<f64>,
}

impl Profile {
    /// The lag at quantile `q` (0–1) of the samples.
    pub fn lag(&self, q: f64) -> f64 {
        if self.lags.is_empty() {
            return 0.0;
        }
        let index = ((self.lags.len() - 1) as f64 * q).round() as usize;
        self.lags[index.min(self.lags.len() - 1)]
    }
}

/// Statements kept per load.
const TOP: usize = 5;

/// A load being profiled; [`Sampling::finish`] ends it.
pub struct Sampling {
    cpu_at_start: f64,
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<Samples>,
}

/// What the sampler thread saw: wait events, samples, active backends,
/// fold lags.
type Samples = (BTreeMap<String, u64>, u64, u64, Vec<f64>);

/// The fold lag in seconds and the pending events, as one row.
const LAG_SQL: &str =
    "SELECT coalesce(extract(epoch FROM clock_timestamp() - min(logged_at)), 0)::float8, \
                       coalesce(sum(events), 0) FROM fold_pending";

fn lag_now(server: &Server, database: &str) -> Option<(f64, u64)> {
    let row = server.query(database, LAG_SQL).ok()?;
    let (lag, pending) = row.trim().split_once('|')?;
    Some((lag.parse().ok()?, pending.parse().ok()?))
}

/// Resets the statement statistics and starts sampling wait events.
pub fn start(server: &Server, database: &str) -> Sampling {
    // Fails without the library: the report then says so.
    let _ = server.query(
        database,
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, server, database) = (stop.clone(), server.clone(), database.to_owned());
        std::thread::spawn(move || sample_waits(&server, &database, &stop))
    };
    Sampling {
        cpu_at_start: postgres_cpu_seconds(),
        stop,
        sampler,
    }
}

impl Sampling {
    pub fn finish(self, server: &Server, database: &str) -> Profile {
        let postgres_cpu_s = postgres_cpu_seconds() - self.cpu_at_start;
        self.stop.store(true, Ordering::Relaxed);
        let (waits, samples, active, mut lags) = self.sampler.join().unwrap_or_default();
        lags.sort_by(f64::total_cmp);
        // The load has stopped: how long until the fold caught up.
        let stopped = Instant::now();
        let (mut under_1s_after, mut drained_after) = (None, None);
        while stopped.elapsed() < Duration::from_secs(120) {
            let Some((lag, pending)) = lag_now(server, database) else {
                break;
            };
            let now = stopped.elapsed().as_secs_f64();
            if lag < 1.0 && under_1s_after.is_none() {
                under_1s_after = Some(now);
            }
            if pending == 0 {
                drained_after = Some(now);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut waits: Vec<(String, u64)> = waits.into_iter().collect();
        waits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Profile {
            postgres_cpu_s,
            statements: top_statements(server, database).ok(),
            waits,
            samples,
            active,
            lags,
            under_1s_after,
            drained_after,
        }
    }
}

fn sample_waits(server: &Server, database: &str, stop: &AtomicBool) -> Samples {
    // One psql a sample: what the active backends wait on, and the lag as
    // a last row `lag:<seconds>`.
    let sql = "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity \
               WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid() \
               UNION ALL SELECT 'lag:' || coalesce(extract(epoch FROM clock_timestamp() - min(logged_at)), 0)::float8 \
               FROM fold_pending";
    let (mut waits, mut samples, mut active, mut lags) = (BTreeMap::new(), 0, 0, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if let Ok(rows) = server.query(database, sql) {
            samples += 1;
            for row in rows.lines().filter(|r| !r.is_empty()) {
                if let Some(lag) = row.strip_prefix("lag:") {
                    lags.extend(lag.parse::<f64>().ok());
                    continue;
                }
                active += 1;
                *waits.entry(row.to_owned()).or_default() += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(200).saturating_sub(started.elapsed()));
    }
    (waits, samples, active, lags)
}

fn top_statements(server: &Server, database: &str) -> Result<Vec<(f64, u64, String)>> {
    let sql = format!(
        "SELECT round(total_exec_time::numeric, 1), calls, \
                left(regexp_replace(query, '\\s+', ' ', 'g'), 90) \
         FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_%' \
         ORDER BY total_exec_time DESC LIMIT {TOP}"
    );
    let rows = server.query(database, &sql)?;
    Ok(rows
        .lines()
        .filter_map(|line| {
            let mut cells = line.splitn(3, '|');
            let ms = cells.next()?.parse().ok()?;
            let calls = cells.next()?.parse().ok()?;
            Some((ms, calls, cells.next()?.to_owned()))
        })
        .collect())
}

/// CPU seconds (user + system) of every process named `postgres`. Linux
/// counts them in ticks of 1/100 s in `/proc/PID/stat`.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0.0;
    };
    let ticks: u64 = entries
        .flatten()
        .filter_map(|entry| fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            // `pid (comm) state …`: the fields after the command name.
            let (name, rest) = stat.split_once(") ")?;
            if !name.ends_with("(postgres") {
                return None;
            }
            let fields: Vec<&str> = rest.split(' ').collect();
            // utime and stime are fields 14 and 15, here 11 and 12.
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    ticks as f64 / 100.0
}

/// PostgreSQL alone inserting `rows` bare event rows it generates itself, in
/// one statement and one backend: rows per second. The rows go to a site of
/// their own, removed again afterwards.
pub fn database_limit(server: &Server, database: &str, rows: u64) -> Result<f64> {
    server.query(
        database,
        "INSERT INTO sites (site_key, name, timezone, currency, signing_secret) \
         VALUES ('bench-limit', 'Database limit', 'UTC', 'USD', repeat('x', 32)) ON CONFLICT DO NOTHING",
    )?;
    let insert = format!(
        "INSERT INTO events (site_id, event_id, event_type, occurred_at, received_at, visitor_id, \
            session_id, source, url, items, props, device, browser, os) \
         SELECT s.site_id, 'limit-' || g, 'page_view', now(), now(), 'v-' || (g % 5000), \
            's-' || (g % 5000), 'web', 'https://shop.example/p/' || (g % 50), '[]', '{{}}', \
            'desktop', 'Chrome', 'Linux' \
         FROM sites s, generate_series(1, {rows}) g WHERE s.site_key = 'bench-limit' \
         ON CONFLICT DO NOTHING"
    );
    let started = Instant::now();
    server.query(database, &insert)?;
    let seconds = started.elapsed().as_secs_f64();
    server.query(database, "DELETE FROM sites WHERE site_key = 'bench-limit'")?;
    Ok(rows as f64 / seconds.max(1e-9))
}
