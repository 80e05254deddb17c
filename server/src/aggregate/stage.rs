//! The fold stage: committed events become rollups, exactly once, off the
//! acknowledgement's path.
//!
//! An acknowledgement appends its counted events, with the fate it decided
//! for each, to `fold_pending` (one row per site and flush; see
//! [`super::log`]). The fold stage takes everything pending for a site (up
//! to [`StageConfig::window_rows`] rows), runs it through the one pure
//! [`fold`], applies the deltas in key order, and deletes the rows it
//! folded, all in one transaction. A row is therefore folded exactly once:
//! a crash or a lost connection before the commit leaves every row in
//! place for the next try, and after the commit none is left.
//!
//! One writer per site: a fold holds the site's fold lock (an advisory
//! transaction lock), so with several server processes on one database
//! each site is folded by whichever gets there first and the others pass
//! it over. A fold also holds the site's rebuild lock shared, and the
//! site's row `FOR SHARE`, so a `rollups rebuild` (which deletes the
//! site's pending rows: their events are in what it refolds) and a
//! time-zone refold run between folds, never across one.
//!
//! Windows amortize: a session touched five times a second is upserted
//! once per fold, not once per acknowledgement, and no two acknowledgements
//! wait on each other's rollup rows. The lag (age of the oldest pending
//! row) and the pending events are on `/metrics`; past the configured
//! bound ingestion answers 503 with `Retry-After` ([`Lag::behind`]), so a
//! fold that falls behind slows producers instead of growing the log
//! without bound.
//!
//! A window the database refuses on a data error (a rollup sum that would
//! leave `bigint`) is bisected down to the one event to blame, which is
//! moved from `events` to `dead_letters` (`sum_overflow`, counted in
//! `storepulse_fold_quarantined_events`): the rollups could not hold it,
//! and a number that is not stored cannot disagree with a recomputation.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sqlx::{Acquire as _, PgPool, Postgres, Row, Transaction};
use tokio::{sync::watch, task::JoinHandle};

use super::{
    fold::{fold, fold_one, Deltas, Fate},
    log,
};
use crate::{
    ingest::event::Event,
    metrics::Metrics,
    store::{
        flush::{FlushError, FoldedMembers},
        rebuild::busy_sites,
        rollups,
    },
};

/// First key of the advisory lock a fold holds per site (second: site id).
pub const FOLD_LOCK: i32 = 0x5350_464C; // "SPFL"

/// How the fold stage runs.
#[derive(Clone, Copy, Debug)]
pub struct StageConfig {
    /// Time between the starts of two folds while events keep coming: the
    /// window. Shorter is fresher, longer amortizes more.
    pub interval: Duration,
    /// The window once a pass folded at least `busy_events`: under load a
    /// longer window upserts each session and visitor row once for more
    /// events, which is most of what a fold costs.
    pub busy_interval: Duration,
    pub busy_events: u64,
    /// Events one fold transaction takes at most (whole log rows, at least
    /// one): the bound on the window's memory.
    pub window_events: i64,
    /// Ingestion answers 503 while the oldest pending event is older…
    pub max_lag: Duration,
    /// …or more events than this are pending.
    pub max_pending_events: i64,
}

/// What the fold stage last saw, for `/metrics`, the Status page and the
/// ingestion bound. Shared by the stage and every request handler.
#[derive(Debug)]
pub struct Lag {
    /// Milliseconds; -1 before the first look.
    lag_ms: AtomicI64,
    pending: AtomicI64,
    last_error: Mutex<Option<(DateTime<Utc>, String)>>,
    max_lag_ms: i64,
    max_pending: i64,
}

/// One reading of [`Lag`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LagReading {
    pub lag_seconds: f64,
    pub pending_events: i64,
    pub last_error: Option<(DateTime<Utc>, String)>,
}

impl Lag {
    pub fn new(config: &StageConfig) -> Self {
        Self {
            lag_ms: AtomicI64::new(-1),
            pending: AtomicI64::new(0),
            last_error: Mutex::new(None),
            max_lag_ms: i64::try_from(config.max_lag.as_millis()).unwrap_or(i64::MAX),
            max_pending: config.max_pending_events,
        }
    }

    /// The fold is past its bound: new events should wait (503).
    pub fn behind(&self) -> bool {
        self.lag_ms.load(Ordering::Relaxed) > self.max_lag_ms
            || self.pending.load(Ordering::Relaxed) > self.max_pending
    }

    pub fn reading(&self) -> LagReading {
        LagReading {
            lag_seconds: self.lag_ms.load(Ordering::Relaxed).max(0) as f64 / 1000.0,
            pending_events: self.pending.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    fn saw(&self, lag_ms: i64, pending: i64, metrics: &Metrics) {
        self.lag_ms.store(lag_ms, Ordering::Relaxed);
        self.pending.store(pending, Ordering::Relaxed);
        metrics.fold_lag_seconds.set(lag_ms as f64 / 1000.0);
        metrics.fold_pending.set(pending);
    }

    fn failed(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Utc::now(), error));
    }
}

/// Where a fold may be made to abort the process, for the crash tests
/// (`STOREPULSE_TEST_FOLD_ABORT=<point>:<n>` aborts at the n-th fold that
/// reaches the point). Unset in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashPoint {
    /// Rows read, nothing applied.
    Read,
    /// Rollups updated, rows not yet deleted.
    Applied,
    /// Everything done but the commit.
    BeforeCommit,
    /// Committed, before the stage looks again.
    Committed,
}

struct Crash {
    point: CrashPoint,
    countdown: AtomicI64,
}

impl Crash {
    fn from_env() -> Option<Self> {
        let spec = std::env::var("STOREPULSE_TEST_FOLD_ABORT").ok()?;
        let (point, n) = spec.split_once(':').unwrap_or((&spec, "1"));
        let point = match point {
            "read" => CrashPoint::Read,
            "applied" => CrashPoint::Applied,
            "before_commit" => CrashPoint::BeforeCommit,
            "committed" => CrashPoint::Committed,
            _ => return None,
        };
        Some(Self {
            point,
            countdown: AtomicI64::new(n.parse().unwrap_or(1)),
        })
    }

    fn at(this: Option<&Self>, point: CrashPoint) {
        if let Some(crash) = this {
            if crash.point == point && crash.countdown.fetch_sub(1, Ordering::SeqCst) == 1 {
                eprintln!("STOREPULSE_TEST_FOLD_ABORT: aborting at {point:?}");
                std::process::abort();
            }
        }
    }
}

/// What one pass over the pending sites did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub events: u64,
    pub rows: u64,
    /// Some site had more rows than one window: look again at once.
    pub more: bool,
    /// Sites another process (or a rebuild) held.
    pub skipped: u64,
    pub quarantined: u64,
}

/// The fold stage's state in this process.
pub struct Stage {
    pool: PgPool,
    config: StageConfig,
    metrics: Arc<Metrics>,
    lag: Arc<Lag>,
    members: FoldedMembers,
    crash: Option<Crash>,
}

impl Stage {
    pub fn new(pool: PgPool, config: StageConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            lag: Arc::new(Lag::new(&config)),
            pool,
            config,
            metrics,
            members: FoldedMembers::default(),
            crash: Crash::from_env(),
        }
    }

    pub fn lag(&self) -> Arc<Lag> {
        self.lag.clone()
    }

    /// Runs until `stop` turns true; an unfinished fold then rolls back.
    pub fn start(self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let started = Instant::now();
                let wait = match self.pass().await {
                    Ok(pass) if pass.more => Duration::ZERO,
                    Ok(pass) => {
                        backoff = Duration::from_millis(100);
                        let window = if pass.events >= self.config.busy_events {
                            self.config.busy_interval
                        } else {
                            self.config.interval
                        };
                        window.saturating_sub(started.elapsed())
                    }
                    Err(error) => {
                        self.metrics.fold_errors.inc();
                        tracing::warn!(%error, "fold failed; retrying");
                        self.lag.failed(error.to_string());
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        backoff
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    }

    /// Looks at the log once and folds every site with pending rows (up to
    /// one window each).
    pub async fn pass(&self) -> Result<Pass, FlushError> {
        let sites: Vec<(i32, i64, i64)> = sqlx::query_as(
            "SELECT site_id, sum(events)::int8, \
                    (extract(epoch FROM clock_timestamp() - min(logged_at)) * 1000)::int8 \
             FROM fold_pending GROUP BY site_id ORDER BY site_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let pending: i64 = sites.iter().map(|s| s.1).sum();
        let lag_ms = sites.iter().map(|s| s.2).max().unwrap_or(0);
        self.lag.saw(lag_ms, pending, &self.metrics);
        let mut pass = Pass::default();
        for (site, _, _) in sites {
            let started = Instant::now();
            let Some(done) = self.fold_site(site).await? else {
                pass.skipped += 1;
                continue;
            };
            self.metrics
                .fold_seconds
                .observe(started.elapsed().as_secs_f64());
            self.metrics.fold_events.observe(done.events as f64);
            self.metrics.folded.inc_by(done.events);
            self.metrics.fold_quarantined.inc_by(done.quarantined);
            pass.events += done.events;
            pass.rows += done.rows;
            pass.quarantined += done.quarantined;
            pass.more |= done.more;
            Crash::at(self.crash.as_ref(), CrashPoint::Committed);
        }
        Ok(pass)
    }

    /// Folds one window of `site`; `None` when another fold or a rebuild
    /// holds the site.
    pub async fn fold_site(&self, site: i32) -> Result<Option<Window>, FlushError> {
        fold_window(
            &self.pool,
            site,
            self.config.window_events,
            &self.members,
            self.crash.as_ref(),
        )
        .await
    }
}

/// What one fold transaction did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub events: u64,
    pub rows: u64,
    pub more: bool,
    pub quarantined: u64,
}

/// Folds `site`'s pending rows until none is left (the import's and the
/// command line's way: no stage runs there). Waits for a fold another
/// process holds.
pub async fn drain_site(pool: &PgPool, site: i32) -> Result<u64, FlushError> {
    let members = FoldedMembers::default();
    let mut events = 0;
    loop {
        match fold_window(pool, site, 50_000, &members, None).await? {
            Some(window) if window.more => events += window.events,
            Some(window) => return Ok(events + window.events),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Folds everything pending, of every site.
pub async fn drain_all(pool: &PgPool) -> Result<u64, FlushError> {
    let sites: Vec<i32> =
        sqlx::query_scalar("SELECT DISTINCT site_id FROM fold_pending ORDER BY 1")
            .fetch_all(pool)
            .await?;
    let mut events = 0;
    for site in sites {
        events += drain_site(pool, site).await?;
    }
    Ok(events)
}

/// Pending events of every site (for `rollups check`, which compares only
/// what was folded).
pub async fn pending_events(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(sum(events), 0)::int8 FROM fold_pending")
        .fetch_one(pool)
        .await
}

pub type Tx<'c> = Transaction<'c, Postgres>;

/// Takes the site's fold lock, its rebuild lock (shared) and its row (for
/// share), without waiting on another fold or a rebuild; `false`: one of
/// them holds the site.
async fn lock_site(tx: &mut Tx<'_>, site: i32) -> Result<bool, sqlx::Error> {
    let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
        .bind(FOLD_LOCK)
        .bind(site)
        .fetch_one(&mut **tx)
        .await?;
    if !mine || !busy_sites(tx, &[site]).await?.is_empty() {
        return Ok(false);
    }
    // The site stays while its window folds (a deleted site's rows go with
    // it); a time-zone change holds the rebuild lock, refused above.
    sqlx::query("SELECT 1 FROM sites WHERE site_id = $1 FOR SHARE")
        .bind(site)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// One log row, as stored: bodies are decoded one at a time while
/// folding, so a window holds its compact JSON, not its events.
struct Logged {
    id: i64,
    body: Vec<u8>,
}

/// The oldest rows of `site` holding at most `window_events` events (at
/// least one row), and whether more are pending.
async fn read_rows(
    tx: &mut Tx<'_>,
    site: i32,
    window_events: i64,
) -> Result<(Vec<Logged>, bool), sqlx::Error> {
    // Sizes first, bodies only of the rows the window takes.
    let sizes: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT id, events FROM fold_pending WHERE site_id = $1 ORDER BY id LIMIT 100000",
    )
    .bind(site)
    .fetch_all(&mut **tx)
    .await?;
    let mut total = 0_i64;
    let taken: Vec<i64> = sizes
        .iter()
        .take_while(|(_, events)| {
            let fits = total == 0 || total + i64::from(*events) <= window_events;
            total += i64::from(*events);
            fits
        })
        .map(|(id, _)| *id)
        .collect();
    let more = taken.len() < sizes.len();
    let rows = sqlx::query(
        "SELECT id, body FROM fold_pending WHERE site_id = $1 AND id = ANY($2) ORDER BY id",
    )
    .bind(site)
    .bind(&taken)
    .fetch_all(&mut **tx)
    .await?;
    let logged = rows
        .iter()
        .map(|row| {
            Ok(Logged {
                id: row.try_get("id")?,
                body: row.try_get("body")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((logged, more))
}

async fn fold_window(
    pool: &PgPool,
    site: i32,
    window_events: i64,
    members: &FoldedMembers,
    crash: Option<&Crash>,
) -> Result<Option<Window>, FlushError> {
    let mut tx = pool.begin().await?;
    if !lock_site(&mut tx, site).await? {
        return Ok(None);
    }
    let (window, remember) = fold_rows(&mut tx, site, window_events, members, crash).await?;
    Crash::at(crash, CrashPoint::BeforeCommit);
    tx.commit().await?;
    if let Some(keys) = remember {
        members.remember(keys);
    }
    Ok(Some(window))
}

/// Folds everything pending for `site` inside the caller's transaction,
/// which holds the site (a range rebuild: the log's events must be in the
/// rollups before it replaces the range's rows from `events`).
pub async fn fold_all_in(tx: &mut Tx<'_>, site: i32) -> Result<u64, FlushError> {
    let members = FoldedMembers::default();
    let mut events = 0;
    loop {
        let (window, _) = fold_rows(tx, site, 50_000, &members, None).await?;
        events += window.events;
        if !window.more {
            return Ok(events);
        }
    }
}

/// Reads one window of `site`'s log, folds and applies it, and deletes
/// its rows, in `tx`; returns what it did and the member keys to remember
/// once `tx` commits.
async fn fold_rows(
    tx: &mut Tx<'_>,
    site: i32,
    window_events: i64,
    members: &FoldedMembers,
    crash: Option<&Crash>,
) -> Result<
    (
        Window,
        Option<std::collections::BTreeSet<crate::aggregate::fold::MemberKey>>,
    ),
    FlushError,
> {
    let (rows, more) = read_rows(tx, site, window_events).await?;
    Crash::at(crash, CrashPoint::Read);
    let mut window = Window {
        rows: rows.len() as u64,
        more,
        ..Window::default()
    };
    // Decode and fold row by row; rows that do not decode go to the dead
    // letters (written by another version or edited by hand: kept where a
    // human can read them) and the rest go on.
    let mut deltas = Deltas::default();
    let mut overflowed = false;
    let mut readable = Vec::with_capacity(rows.len());
    for row in &rows {
        match log::decode(site, &row.body) {
            Ok(events) => {
                window.events += events.len() as u64;
                readable.push(row);
                for (event, fate) in &events {
                    if !overflowed && fold_one(&mut deltas, event, *fate).is_err() {
                        overflowed = true;
                    }
                }
            }
            Err(error) => {
                tracing::error!(site, id = row.id, %error, "unreadable fold log row moved to dead letters");
                rollups::insert_dead_letters(
                    tx,
                    &[&crate::store::flush::DeadLetter {
                        site_id: Some(site),
                        received_at: Utc::now(),
                        reason: "unfoldable".to_owned(),
                        payload: String::from_utf8_lossy(&row.body).into_owned(),
                    }],
                )
                .await?;
            }
        }
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let applied = if overflowed {
        Err(FlushError::from(crate::aggregate::fold::Overflow))
    } else {
        members.retain_new(&mut deltas.members);
        // In a savepoint: a data error leaves the transaction usable for
        // the bisection below.
        let mut attempt = (&mut *tx).begin().await?;
        match rollups::apply(&mut attempt, &deltas).await {
            Ok(()) => {
                attempt.commit().await?;
                Ok(std::mem::take(&mut deltas.members))
            }
            Err(error) => {
                attempt.rollback().await?;
                Err(FlushError::from(error))
            }
        }
    };
    let remember = match applied {
        Ok(keys) => Some(keys),
        Err(error) if error.data_rejection().is_some() => {
            // Rare: every event of the window, decoded, to find the one.
            let mut all = Vec::new();
            for row in readable {
                all.extend(log::decode(site, &row.body).unwrap_or_default());
            }
            let entries: Vec<(&Event, Fate)> = all.iter().map(|(e, f)| (e, *f)).collect();
            window.quarantined = bisect(tx, &entries).await?;
            None
        }
        Err(error) => return Err(error),
    };
    Crash::at(crash, CrashPoint::Applied);
    sqlx::query("DELETE FROM fold_pending WHERE site_id = $1 AND id = ANY($2)")
        .bind(site)
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
    Ok((window, remember))
}

/// Applies `entries` part by part, each part in a savepoint, halving a
/// part the database refuses on a data error down to the one event to
/// blame, which is quarantined. Returns how many were.
async fn bisect(tx: &mut Tx<'_>, entries: &[(&Event, Fate)]) -> Result<u64, FlushError> {
    let mut quarantined = 0;
    // Parts still to apply, the next on top.
    let mut parts = vec![(0, entries.len())];
    while let Some((start, end)) = parts.pop() {
        if start >= end {
            continue;
        }
        let part = &entries[start..end];
        let mut attempt = (&mut **tx).begin().await?;
        let result = match fold(part.iter().copied()) {
            Ok(deltas) => rollups::apply(&mut attempt, &deltas)
                .await
                .map_err(FlushError::from),
            Err(overflow) => Err(FlushError::from(overflow)),
        };
        match result {
            Ok(()) => attempt.commit().await?,
            Err(error) if error.data_rejection().is_some() => {
                attempt.rollback().await?;
                if part.len() == 1 {
                    quarantine(tx, part[0].0).await?;
                    quarantined += 1;
                } else {
                    let middle = start + part.len() / 2;
                    parts.push((middle, end));
                    parts.push((start, middle));
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(quarantined)
}

/// Moves an acknowledged event the rollups cannot hold out of `events`
/// (and its order, if it was the first report) into `dead_letters`.
async fn quarantine(tx: &mut Tx<'_>, event: &Event) -> Result<(), sqlx::Error> {
    tracing::error!(
        site = event.site_id,
        event = %event.id,
        "a rollup sum would leave bigint: event moved to dead letters"
    );
    let payload: Option<String> = sqlx::query_scalar(
        "DELETE FROM events WHERE site_id = $1 AND event_id = $2 RETURNING to_jsonb(events)::text",
    )
    .bind(event.site_id)
    .bind(&event.id)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM orders WHERE site_id = $1 AND event_id = $2")
        .bind(event.site_id)
        .bind(&event.id)
        .execute(&mut **tx)
        .await?;
    rollups::insert_dead_letters(
        tx,
        &[&crate::store::flush::DeadLetter {
            site_id: Some(event.site_id),
            received_at: Utc::now(),
            reason: crate::ingest::rejection::Reason::SumOverflow
                .as_str()
                .to_owned(),
            payload: payload.unwrap_or_default(),
        }],
    )
    .await
}
