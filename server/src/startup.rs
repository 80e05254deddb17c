//! Startup and shutdown: connect, migrate, bind, serve, stop cleanly.

use std::{
    future::{Future, IntoFuture as _},
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    config::Config,
    routes::{router, AppState},
    store,
};

/// A server that is bound and migrated, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    shutdown_grace: Duration,
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
        let state = AppState {
            leptos_options,
            status: Arc::new(store::PgStatus::new(pool.clone(), started)),
            pool,
        };
        Ok(Self {
            listener,
            router: router(state),
            shutdown_grace: Duration::from_millis(config.http.shutdown_grace_ms),
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
        let signal = async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        };
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .into_future();
        let grace = self.shutdown_grace;
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = serve => served.context("serving HTTP")?,
            () = deadline => tracing::warn!(?grace, "grace period over, closing open connections"),
        }
        tracing::info!("stopped");
        Ok(())
    }
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
