//! Several processes and crash safety of the real binary: one batch sent
//! concurrently to two processes, `kill -9` at random moments under load,
//! and SIGTERM under load (a PostgreSQL restart is the `restart` binary's:
//! cargo runs test binaries one after another, and a restart would cut
//! the setup connections of tests running beside it). Every acknowledged event must be
//! stored exactly once and every rollup must equal a recomputation from the
//! raw events.
//!
//! Uses the binary in `STOREPULSE_SERVER_BIN` (`cargo xtask test` points it
//! at the release build), else the one cargo built for this test run.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;
use support::*;

/// Runs the tests in this file one at a time: one of them restarts the
/// database the others use.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[sqlx::test(migrations = false)]
async fn kill_9_at_random_moments_loses_and_doubles_nothing(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 1_200, "k").await;
    let mut random = XorShift(0x5eed_1234_abcd);
    for _cycle in 0..20 {
        let server = ledger.start_server().await;
        let drivers = ledger.drivers(&server.url);
        // Let a random number of acknowledgements happen, then pull the plug.
        ledger
            .wait_for_acks(ledger.acked() + 50 + (random.next() % 400) as usize)
            .await;
        server.kill_9();
        for driver in drivers {
            driver.await.unwrap();
        }
    }
    ledger.settle_and_check(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn sigterm_under_load_answers_everything_queued_and_exits_0(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 2_000, "t").await;
    let server = ledger.start_server().await;
    let drivers = ledger.drivers(&server.url);
    ledger.wait_for_acks(300).await;
    let stopping = Instant::now();
    let status = server.terminate();
    let took = stopping.elapsed();
    for driver in drivers {
        driver.await.unwrap();
    }
    assert!(status.success(), "exit status after SIGTERM: {status}");
    // Not a timing assertion on speed: the contract is the configured grace.
    assert!(
        took < Duration::from_secs(10),
        "exited {took:?} after SIGTERM, past the 10 s grace"
    );
    ledger.settle_and_check(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn the_same_batches_sent_concurrently_to_two_processes_count_once(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 100, "two").await;
    let (client, batches) = (
        ledger.client.clone(),
        ledger.pending.lock().unwrap().clone(),
    );
    let first = ledger.start_server().await;
    let second = ledger.start_server().await;
    let sends = batches.iter().flat_map(|ids| {
        [&first.url, &second.url, &first.url, &second.url].map(|url| {
            let request = client.post(format!("{url}/api/events")).json(&batch(ids));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        })
    });
    let receipts = futures_util::future::join_all(sends).await;
    let accepted: i64 = receipts
        .iter()
        .map(|r| r["accepted"].as_i64().unwrap())
        .sum();
    let duplicates: i64 = receipts
        .iter()
        .map(|r| r["duplicates"].as_i64().unwrap())
        .sum();
    assert_eq!((accepted, duplicates), (1_000, 3_000));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1_000);
    assert_rollups_exact(&pool).await;
    first.kill_9();
    second.kill_9();
}
