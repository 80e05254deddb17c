//! Pushing the Real-Time page: `GET /api/live/ws?site=…` streams a
//! [`LiveSnapshot`] once a second, and sooner (at most every
//! [`MIN_GAP`]) when this process has just acknowledged events of the
//! site ([`Nudges`]): a new order shows up within a few hundred
//! milliseconds, not at the next second.
//!
//! One ticker per watched site takes the snapshot from PostgreSQL (never
//! from this process's memory, so every process behind a load balancer
//! pushes the same numbers) and publishes it on a `watch` channel: each
//! socket only ever holds the newest snapshot, so a slow browser skips
//! ticks instead of growing a queue. The ticker stops when its last watcher
//! leaves. Bounded: at most [`MAX_SITES`] sites watched and
//! [`MAX_WATCHERS`] sockets per process (past them, 503), and
//! [`MAX_PER_CLIENT`] per client IP (past it, 429). A browser's socket must
//! come from a page of this server (`Origin` = `Host`; 403 otherwise), so
//! another site cannot open the live feed with a visitor's cookies. The
//! socket needs a signed-in member of the site (the routes' gate); any
//! other site is 404. A browser's frame over 1 KiB closes it with 1009.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use app::{accounts::Viewer, live::LiveSnapshot};
use axum::{
    extract::{
        ws::{close_code, CloseFrame, Message, WebSocket},
        ConnectInfo, Query, State, WebSocketUpgrade,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use chrono::Utc;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::{
    ingest::limit::{SocketCounter, TrustedProxies},
    store::{self, sites::Site},
};

const TICK: Duration = Duration::from_secs(1);
/// The shortest time between two snapshots of a site.
const MIN_GAP: Duration = Duration::from_millis(200);
pub const MAX_SITES: usize = 1_000;
pub const MAX_WATCHERS: usize = 10_000;
pub const MAX_PER_CLIENT: usize = 16;
/// A browser only ever closes or pings; anything larger closes with 1009.
const MAX_FRAME_BYTES: usize = 1024;

type Snapshot = Arc<LiveSnapshot>;

/// Wakes a watched site's ticker when ingestion stored events of it. One
/// entry per watched site (at most [`MAX_SITES`]); a nudge for a site
/// nobody watches does nothing.
#[derive(Clone, Default)]
pub struct Nudges(Arc<Mutex<HashMap<i32, Arc<tokio::sync::Notify>>>>);

impl Nudges {
    /// Events of `site_id` were just acknowledged.
    pub fn nudge(&self, site_id: i32) {
        let watched = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(notify) = watched.get(&site_id) {
            notify.notify_one();
        }
    }

    fn watch(&self, site_id: i32) -> Arc<tokio::sync::Notify> {
        let mut watched = self.0.lock().unwrap_or_else(|p| p.into_inner());
        watched.entry(site_id).or_default().clone()
    }

    fn unwatch(&self, site_id: i32) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&site_id);
    }
}

/// The tickers, by site key.
#[derive(Clone)]
pub struct Hub {
    pool: PgPool,
    /// Asked every [`RECHECK`] whether an open socket's viewer is still
    /// signed in and a member of its site.
    accounts: crate::accounts::Accounts,
    sites: Arc<Mutex<HashMap<String, watch::Sender<Snapshot>>>>,
    proxies: TrustedProxies,
    clients: SocketCounter,
    nudges: Nudges,
}

impl Hub {
    pub fn new(
        pool: PgPool,
        accounts: crate::accounts::Accounts,
        proxies: TrustedProxies,
        nudges: Nudges,
    ) -> Self {
        Self {
            pool,
            accounts,
            sites: Arc::default(),
            proxies,
            clients: SocketCounter::new(MAX_PER_CLIENT),
            nudges,
        }
    }

    /// A receiver of `site`'s snapshots, starting its ticker if needed.
    /// `None` past the bounds.
    fn subscribe(&self, site: Site) -> Option<watch::Receiver<Snapshot>> {
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        sites.retain(|_, sender| !sender.is_closed());
        let watchers: usize = sites.values().map(watch::Sender::receiver_count).sum();
        if watchers >= MAX_WATCHERS {
            return None;
        }
        if let Some(sender) = sites.get(&site.site_key) {
            return Some(sender.subscribe());
        }
        if sites.len() >= MAX_SITES {
            return None;
        }
        let (sender, receiver) = watch::channel(Snapshot::default());
        sites.insert(site.site_key.clone(), sender.clone());
        let nudges = self.nudges.clone();
        tokio::spawn(tick(self.pool.clone(), site, sender, nudges));
        Some(receiver)
    }
}

/// Takes a snapshot every [`TICK`] while anyone watches, and after a
/// nudge once [`MIN_GAP`] has passed since the last one.
async fn tick(pool: PgPool, site: Site, sender: watch::Sender<Snapshot>, nudges: Nudges) {
    let nudged = nudges.watch(site.site_id);
    let mut seq = 0;
    let now = tokio::time::Instant::now();
    let mut last = now.checked_sub(TICK).unwrap_or(now);
    while sender.receiver_count() > 0 {
        tokio::select! {
            () = tokio::time::sleep_until(last + TICK) => {}
            () = nudged.notified() => {
                tokio::time::sleep_until(last + MIN_GAP).await;
            }
        }
        last = tokio::time::Instant::now();
        match store::live::snapshot(&pool, &site, Utc::now()).await {
            Ok(mut snapshot) => {
                seq += 1;
                snapshot.seq = seq;
                snapshot.chart = chart(&snapshot);
                sender.send_replace(Arc::new(snapshot));
            }
            // The page keeps its last numbers; the next tick tries again.
            Err(error) => tracing::warn!(error = %store::describe(&error), "live snapshot failed"),
        }
    }
    nudges.unwatch(site.site_id);
}

/// Events per minute, drawn like the other charts.
pub fn chart(snapshot: &LiveSnapshot) -> String {
    let buckets: Vec<app::stats::Bucket> = snapshot
        .minutes
        .iter()
        .map(|m| app::stats::Bucket {
            label: format!("today {}", m.minute),
            value: m.total(),
        })
        .collect();
    app::charts::bars(
        "Events per minute, last 60 minutes",
        "Minute",
        "Events",
        app::charts::Unit::Count,
        &buckets,
    )
}

pub fn router<S: Clone + Send + Sync + 'static>(hub: Hub) -> Router<S> {
    Router::new()
        .route("/api/live/ws", get(live_socket))
        .with_state(hub)
}

#[derive(Deserialize)]
struct LiveParams {
    site: String,
}

async fn live_socket(
    State(hub): State<Hub>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(viewer): Extension<Viewer>,
    Query(params): Query<LiveParams>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin live socket").into_response();
    }
    let ip = hub.proxies.client_ip(peer.ip(), &headers);
    let Some(slot) = hub.clients.open(ip) else {
        return (StatusCode::TOO_MANY_REQUESTS, "too many live sockets").into_response();
    };
    let site = match store::sites::find_for_user(&hub.pool, viewer.user_id, &params.site).await {
        Ok(Some(site)) => site,
        Ok(None) => return (StatusCode::NOT_FOUND, "unknown site").into_response(),
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    };
    let key = site.site_key.clone();
    let Some(receiver) = hub.subscribe(site) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many live dashboards").into_response();
    };
    // What the socket was opened with, asked again while it is open: a
    // sign-out, an expired session, a revoked token or a removed member
    // ends it (close code 4401), and the page says so.
    let still = move || {
        let (hub, headers, key) = (hub.clone(), headers.clone(), key.clone());
        async move {
            let signed_in = hub.accounts.still_signed_in(&headers).await?;
            Ok::<_, sqlx::Error>(
                signed_in
                    && store::sites::find_for_user(&hub.pool, viewer.user_id, &key)
                        .await?
                        .is_some(),
            )
        }
    };
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            push(socket, receiver, still).await;
            drop(slot);
        })
}

/// How often an open socket's credentials are asked again.
const RECHECK: Duration = Duration::from_secs(5);

/// The close code of a socket whose viewer signed out, expired or lost the
/// site (in the range 4000–4999 the protocol leaves to applications).
pub const SESSION_ENDED: u16 = 4401;

/// No `Origin` (not a browser), or one whose host is the `Host` asked for.
fn same_origin(headers: &HeaderMap) -> bool {
    headers.get(header::ORIGIN).is_none_or(|origin| {
        origin
            .to_str()
            .is_ok_and(|o| crate::accounts::http::names_host(o, headers))
    })
}

/// Sends each new snapshot until the browser leaves, or `still` says the
/// viewer may no longer see it (a database error keeps the socket: the
/// next check decides).
async fn push<F, Fut>(mut socket: WebSocket, mut receiver: watch::Receiver<Snapshot>, still: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, sqlx::Error>>,
{
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    loop {
        tokio::select! {
            _ = recheck.tick() => {
                if let Ok(false) = still().await {
                    let frame = CloseFrame {
                        code: SESSION_ENDED,
                        reason: "session ended".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
            changed = receiver.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = receiver.borrow_and_update().clone();
                let Ok(text) = serde_json::to_string(&*snapshot) else { break };
                let send = socket.send(Message::Text(text.into()));
                // A browser that cannot take one message in 10 s is gone.
                if !matches!(tokio::time::timeout(Duration::from_secs(10), send).await, Ok(Ok(()))) {
                    break;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    if is_too_big(error) {
                        let frame = CloseFrame {
                            code: close_code::SIZE,
                            reason: "frames of at most 1 KiB".into(),
                        };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                    }
                    break;
                }
            },
        }
    }
}

/// Whether a read failed because the browser sent more than
/// [`MAX_FRAME_BYTES`] (the socket can still say so, with 1009); any other
/// read error has broken the connection.
fn is_too_big(error: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        error.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_nudge_wakes_the_watched_sites_ticker_only() {
        let nudges = Nudges::default();
        nudges.nudge(1); // nobody watches site 1: nothing is kept
        assert!(nudges.0.lock().unwrap().is_empty());
        let watched = nudges.watch(2);
        nudges.nudge(2);
        // The nudge came before anyone waited: its permit is kept.
        tokio::time::timeout(Duration::from_secs(5), watched.notified())
            .await
            .expect("the ticker is woken");
        nudges.unwatch(2);
        nudges.nudge(2);
        assert!(nudges.0.lock().unwrap().is_empty());
    }
}
