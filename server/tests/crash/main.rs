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

/// The fold stage dies at each of its steps (rows read; rollups updated,
/// rows not deleted; all done but the commit; just committed), under load,
/// several times each; every fold is all or nothing.
#[sqlx::test(migrations = false)]
async fn a_fold_killed_at_any_step_folds_every_event_once(pool: PgPool) {
    let _serial = SERIAL.lock().await;
    let ledger = Ledger::new(&pool, 1_200, "f").await;
    let mut random = XorShift(0xf01d_5eed);
    let mut aborted = 0;
    for point in ["read", "applied", "before_commit", "committed"] {
        for _ in 0..2 {
            let nth = 1 + random.next() % 4;
            let mut server = ledger
                .start_server_with(&[
                    ("STOREPULSE_TEST_FOLD_ABORT", format!("{point}:{nth}")),
                    ("STOREPULSE_INGEST__FOLD_INTERVAL_MS", "20".to_owned()),
                ])
                .await;
            let drivers = ledger.drivers(&server.url);
            let deadline = Instant::now() + Duration::from_secs(20);
            let status = loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() > deadline || ledger.pending.lock().unwrap().is_empty() {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            for driver in drivers {
                driver.await.unwrap();
            }
            match status {
                Some(status) => {
                    use std::os::unix::process::ExitStatusExt as _;
                    assert_eq!(status.signal(), Some(6), "{point}: died by abort");
                    aborted += 1;
                }
                None => server.kill_9(),
            }
        }
    }
    assert!(
        aborted >= 6,
        "the crash points were reached ({aborted} of 8)"
    );
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
