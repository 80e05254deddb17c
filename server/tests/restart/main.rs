//! PostgreSQL restarted under load: every acknowledged event stored once,
//! every rollup exact. Its own test binary, so the restart cannot cut the
//! setup connections of other tests (cargo runs binaries one at a time).
//!
//! Uses the binary in `STOREPULSE_SERVER_BIN`, as the crash tests do.

#[path = "../crash/support.rs"]
mod support;

use sqlx::PgPool;
use support::*;

#[sqlx::test(migrations = false)]
async fn a_database_restart_under_load_loses_nothing_acknowledged(pool: PgPool) {
    let ledger = Ledger::new(&pool, 600, "r").await;
    let server = ledger.start_server().await;
    let load = {
        let (ledger, url) = (ledger.clone(), server.url.clone());
        tokio::spawn(async move {
            // Drivers stop at the first refusal (503 while the database is
            // down); keep starting them until everything is acknowledged.
            while !ledger.pending.lock().unwrap().is_empty() {
                for driver in ledger.drivers(&url) {
                    driver.await.unwrap();
                }
            }
        })
    };
    ledger.wait_for_acks(500).await;
    restart_database(&pool).await;
    load.await.unwrap();
    assert!(
        server.terminate().success(),
        "the server exits cleanly after SIGTERM"
    );
    ledger.settle_and_check(&pool).await;
}

/// Restarts PostgreSQL with the command in `STOREPULSE_PG_RESTART` (set by
/// `cargo xtask test`). Without it, cuts every other connection to this
/// database, which is what a restart looks like to the server.
async fn restart_database(pool: &PgPool) {
    match std::env::var("STOREPULSE_PG_RESTART") {
        Ok(command) => {
            let status = tokio::process::Command::new("sh")
                .args(["-c", &command])
                .status()
                .await
                .unwrap();
            assert!(status.success(), "restarting PostgreSQL with {command:?}");
        }
        Err(_) => {
            eprintln!("STOREPULSE_PG_RESTART unset: terminating connections instead of restarting");
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
                .execute(pool)
                .await
                .unwrap();
        }
    }
}
