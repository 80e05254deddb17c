//! Startup and shutdown: connect, migrate, bind, serve, stop cleanly.

use std::{
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use tokio::{net::TcpListener, task::JoinHandle};

use secrecy::ExposeSecret;

use crate::{
    accounts::{sites::PgAdmin, Accounts},
    aggregate::{
        queue::{Queue, QueueConfig},
        stage::{Stage, StageConfig},
    },
    config::Config,
    ingest::{
        enrich::UserAgents,
        limit::{ClientLimiter, SocketCounter, TrustedProxies},
        pipeline::Ingestor,
        rejection::Reason,
        sites::SiteCache,
    },
    metrics::Metrics,
    routes::{router, AppState},
    store,
};

/// A server that is bound and migrated, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    flusher: JoinHandle<()>,
    /// The fold stage, stopped once the queue drained.
    stage: JoinHandle<()>,
    stage_stop: tokio::sync::watch::Sender<bool>,
    /// Tells WebSockets the server drains.
    draining: tokio::sync::watch::Sender<bool>,
    shutdown_grace: Duration,
    header_read_timeout: Duration,
}

impl Application {
    /// Binds the address in `leptos.site_addr` and prepares the server.
    pub async fn build(config: Config, leptos: LeptosOptions) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(leptos.site_addr)
            .await
            .with_context(|| format!("binding {}", leptos.site_addr))?;
        Self::with_listener(config, leptos, listener).await
    }

    /// Prepares the server on an already bound listener.
    pub async fn with_listener(
        config: Config,
        leptos_options: LeptosOptions,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let pool = store::connect(&config.database).context("configuring the database pool")?;
        Self::with_pool(config, leptos_options, listener, pool).await
    }

    /// Prepares the server with a given pool (tests hand in a fresh database).
    pub async fn with_pool(
        config: Config,
        leptos_options: LeptosOptions,
        listener: TcpListener,
        pool: PgPool,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        store::migrate(&pool)
            .await
            .context("applying database migrations")?;
        let demo_store = config.bootstrap.demo_site;
        let proxies = TrustedProxies::parse(&config.ingest.trusted_proxies)
            .map_err(anyhow::Error::msg)
            .context("ingest.trusted_proxies")?;
        let accounts = Accounts::new(pool.clone(), &config.accounts, config.mode, proxies.clone())
            .await
            .context("accounts")?;
        let admin = config
            .admin_email
            .as_deref()
            .zip(config.admin_password.as_ref());
        if demo_store {
            crate::cli::ensure_demo_site(&pool).await?;
            // Development and the end-to-end tests: the admin's password is
            // (re)set at every start, and it is a member of `demo`.
            if let Some((email, password)) = admin {
                let demo = store::sites::find(&pool, "demo").await?.map(|s| s.site_id);
                accounts
                    .add_user(email, password.expose_secret(), demo.as_slice())
                    .await
                    .context("STOREPULSE_ADMIN_EMAIL/STOREPULSE_ADMIN_PASSWORD")?;
            }
        }
        if let Some(path) = accounts.bootstrap(admin).await? {
            tracing::warn!(
                "no user yet: open http://{}{path} to create the first one (this link works once, \
                 until the server restarts)",
                leptos_options.site_addr
            );
        }
        let sweeper = accounts.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every.tick().await;
                sweeper.sweep().await;
            }
        });
        let metrics = Arc::new(Metrics::new());
        // Every reason shows on /metrics from the start, at zero, so rates
        // and alerts work before the first rejection.
        for reason in Reason::ALL {
            metrics.reject(reason.as_str(), 0);
        }
        let (draining, draining_rx) = tokio::sync::watch::channel(false);
        let queue_config = QueueConfig {
            capacity: config.ingest.queue_capacity,
            max_flush_events: config.ingest.max_flush_events,
            flushers: config.ingest.flushers,
            stall_after: Duration::from_millis(config.ingest.stall_after_ms),
            folding: config.ingest.folding,
        };
        let stage = Stage::new(
            pool.clone(),
            StageConfig {
                interval: Duration::from_millis(config.ingest.fold_interval_ms),
                busy_interval: Duration::from_millis(config.ingest.fold_busy_interval_ms),
                busy_events: config.ingest.fold_busy_events,
                window_events: config.ingest.fold_window_events.max(1),
                max_lag: Duration::from_millis(config.ingest.fold_max_lag_ms),
                max_pending_events: config.ingest.fold_max_pending_events,
            },
            metrics.clone(),
        );
        let lag = stage.lag();
        let (stage_stop, stop_rx) = tokio::sync::watch::channel(false);
        // The stage runs in inline mode too: it folds what a deferred
        // process (or an earlier run) left in the log.
        let stage = stage.start(stop_rx);
        let (queue, flusher) = Queue::start(
            pool.clone(),
            queue_config,
            metrics.clone(),
            Some(lag.clone()),
        );
        let limiter = ClientLimiter::new(
            config.ingest.rate_limit_per_second,
            config.ingest.rate_limit_burst,
        );
        let nudges = crate::live::Nudges::default();
        let ingestor = Ingestor {
            nudges: nudges.clone(),
            limiter,
            sockets: SocketCounter::new(config.ingest.ws_max_per_ip),
            proxies: proxies.clone(),
            user_agents: UserAgents::default(),
            config: Arc::new(config.ingest),
            sites: SiteCache::new(pool.clone()),
            pool: pool.clone(),
            queue,
            metrics,
            salts: crate::ingest::salts::Salts::new(pool.clone()),
            draining: draining_rx,
        };
        let state = AppState {
            leptos_options,
            status: Arc::new(store::PgStatus::new(
                pool.clone(),
                started,
                lag,
                ingestor.metrics.clone(),
            )),
            stats: crate::dashboard::PgStats::new(pool.clone()),
            admin: Arc::new(PgAdmin::new(accounts.clone())),
            live: crate::live::Hub::new(pool.clone(), accounts.clone(), proxies, nudges),
            accounts,
            pool,
            ingestor,
        };
        Ok(Self {
            listener,
            router: router(state, demo_store),
            flusher,
            stage,
            stage_stop,
            draining,
            shutdown_grace: Duration::from_millis(config.http.shutdown_grace_ms),
            header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms.max(1)),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests,
    /// waiting at most the configured grace period for them.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr()?, "listening");
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let draining = self.draining;
        let signal = async move {
            shutdown.await;
            let _ = stopping_tx.send(());
            // Upgraded connections (WebSockets) are past hyper's graceful
            // shutdown: they hear it here, and each holds the queue until
            // it closed, so the flusher's end below waits for them too.
            let _ = draining.send(true);
        };
        let serve = serve(self.listener, self.router, self.header_read_timeout, signal);
        let grace = self.shutdown_grace;
        let (deadline_tx, deadline_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
                let _ = deadline_tx.send(true);
            }
        });
        let deadline = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|passed| *passed).await;
        };
        tokio::select! {
            served = serve => served.context("serving HTTP")?,
            () = deadline(deadline_rx.clone()) => {
                tracing::warn!(?grace, "grace period over, closing open connections");
            }
        }
        // The router (and with it every queue handle) is gone: the flusher
        // drains what was queued and ends.
        tokio::select! {
            _ = self.flusher => tracing::info!("ingestion queue drained"),
            () = deadline(deadline_rx) => tracing::warn!("grace period over before the queue drained"),
        }
        // What is still in the fold log is folded by the next process.
        let _ = self.stage_stop.send(true);
        let _ = self.stage.await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Accepts connections until `signal`, then waits for open ones to finish
/// their requests. HTTP/1.1 through hyper directly rather than
/// `axum::serve`, which sets no timer, so hyper's header read timeout (the
/// bound on slow-loris clients, and on idle keep-alive connections) would
/// not apply.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    header_read_timeout: Duration,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    // Open connections each hold a `closed` sender: when the last is gone,
    // every connection has finished.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (closed, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                router.clone().oneshot(request)
            },
        );
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let (mut stopping, closed) = (stopping.clone(), closed.clone());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                    // Finish the request in flight, take no new one.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(closed);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(closed);
    let _ = all_closed.recv().await;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
