//! The fold stage as the server runs it: the acknowledgement stores the
//! events, the server's own stage brings the reports up to date, its lag
//! is on `/metrics` and the Status page, and past its bound ingestion
//! answers 503 instead of growing the log.

use std::time::Duration;

use serde_json::Value;
use server_fn::ServerFn as _;
use sqlx::PgPool;

use crate::helpers::{
    config_with as config, create_site, envelope, page_view, purchase, spawn_app_with,
};

async fn pending_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM fold_pending")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn the_servers_own_stage_folds_what_was_acknowledged(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        config(&[("STOREPULSE_INGEST__FOLD_INTERVAL_MS", "50")]),
    )
    .await;
    let site = create_site(&pool, "demo").await;
    let (status, body) = app
        .post_events_unfolded(&envelope(vec![
            page_view("f-1"),
            page_view("f-2"),
            purchase("f-3", "T-f"),
        ]))
        .await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(3)));
    app.stage_caught_up().await;
    let (pages, orders): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT sum(pages)::int8 FROM sessions WHERE site_id = $1), \
                (SELECT sum(orders_unverified)::int8 FROM hourly_sales WHERE site_id = $1)",
    )
    .bind(site)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((pages, orders), (2, 1));
    assert!(app.metric("storepulse_folded_events_total").await >= 3.0);
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");
}

#[sqlx::test(migrations = false)]
async fn a_fold_that_falls_behind_slows_producers_with_503(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        config(&[
            ("STOREPULSE_INGEST__FOLD_INTERVAL_MS", "20"),
            ("STOREPULSE_INGEST__FOLD_MAX_PENDING_EVENTS", "5"),
        ]),
    )
    .await;
    let site = create_site(&pool, "demo").await;
    // Another process holds the site's fold (as a stuck fold would).
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(server::aggregate::stage::FOLD_LOCK)
        .bind(site)
        .execute(&mut *holder)
        .await
        .unwrap();
    let events = (0..6).map(|i| page_view(&format!("b-{i}"))).collect();
    let (status, _) = app.post_events_unfolded(&envelope(events)).await;
    assert_eq!(status, 202);
    // The stage sees 6 pending, past the bound of 5: new batches wait.
    let mut refused = None;
    for i in 0..500 {
        let response = app
            .client
            .post(app.url("/api/events"))
            .json(&envelope(vec![page_view(&format!("w-{i}"))]))
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            refused = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = refused.expect("503 once the fold is past its bound");
    assert!(refused.headers().contains_key("retry-after"));
    assert!(app.metric("storepulse_fold_pending_events").await > 5.0);
    assert!(app.metric("storepulse_fold_lag_seconds").await > 0.0);
    // The Status page says how far the reports are behind.
    let status: Value = app
        .client
        .post(app.url(app::api::status::GetStatus::PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        status["fold"]["pending_events"].as_i64().unwrap() > 5,
        "{status}"
    );

    // The fold is free again: it catches up, and ingestion takes events.
    holder.rollback().await.unwrap();
    app.stage_caught_up().await;
    let mut accepted = false;
    for i in 0..500 {
        let (status, _) = app
            .post_events_unfolded(&envelope(vec![page_view(&format!("a-{i}"))]))
            .await;
        if status == 202 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted, "accepted again once the fold caught up");
    app.stage_caught_up().await;
    assert_eq!(pending_rows(&pool).await, 0);
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");
}
