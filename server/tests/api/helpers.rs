//! Starting a server for one test and talking to it.

use std::net::SocketAddr;

use leptos::prelude::LeptosOptions;
use server::{config::Config, startup::Application};
use sqlx::PgPool;
use tokio::net::TcpListener;

/// A running server and a client for it. The server stops when the test's
/// runtime ends.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Binds port 0, migrates `pool`'s database and serves in the background.
/// The socket is bound before this returns, so requests need no waiting.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let leptos = LeptosOptions::builder()
        .output_name("storepulse")
        .site_addr(addr)
        .build();
    let config = Config::load(Vec::new()).expect("default config");
    let app = Application::with_pool(config, leptos, listener, pool)
        .await
        .expect("build application");
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        addr,
        client: reqwest::Client::new(),
    }
}
