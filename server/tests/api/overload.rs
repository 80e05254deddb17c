//! Bounds under pressure: a full queue and a database that does not commit
//! both answer 503 with `Retry-After`, never an unbounded wait.

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{config_with as config, create_site, envelope, page_view, spawn_app_with};

#[sqlx::test(migrations = false)]
async fn a_batch_that_does_not_fit_the_queue_is_refused_at_once(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        config(&[("STOREPULSE_INGEST__QUEUE_CAPACITY", "2")]),
    )
    .await;
    create_site(&pool, "demo").await;
    let events = (0..3).map(|i| page_view(&format!("q-{i}"))).collect();
    let response = app
        .client
        .post(app.url("/api/events"))
        .json(&envelope(events))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(
        app.metric("storepulse_events_rejected_total{reason=\"overloaded\"}")
            .await,
        3.0
    );
    let (status, _) = app.post_events(&envelope(vec![page_view("q-ok")])).await;
    assert_eq!(status, 202, "a batch that fits still goes through");
}

#[sqlx::test(migrations = false)]
async fn without_a_commit_the_request_gets_503_after_the_bound(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        config(&[("STOREPULSE_INGEST__COMMIT_TIMEOUT_MS", "300")]),
    )
    .await;
    create_site(&pool, "demo").await;
    // Cache the site, then take the database away from this server.
    let (status, _) = app.post_events(&envelope(vec![page_view("d-1")])).await;
    assert_eq!(status, 202);
    pool.close().await;
    let response = app
        .client
        .post(app.url("/api/events"))
        .json(&envelope(vec![page_view("d-2")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("retry later"),
        "{body}"
    );
    assert!(app.metric("storepulse_db_errors_total").await >= 1.0);
}

#[sqlx::test(migrations = false)]
async fn a_client_sending_too_fast_gets_429_with_retry_after(pool: PgPool) {
    let limits = [
        ("STOREPULSE_INGEST__RATE_LIMIT_PER_SECOND", "1"),
        ("STOREPULSE_INGEST__RATE_LIMIT_BURST", "2"),
    ];
    let app = spawn_app_with(pool.clone(), config(&limits)).await;
    create_site(&pool, "demo").await;
    for i in 0..2 {
        let (status, _) = app
            .post_events(&envelope(vec![page_view(&format!("l-{i}"))]))
            .await;
        assert_eq!(status, 202);
    }
    let response = app
        .client
        .post(app.url("/api/events"))
        .json(&envelope(vec![page_view("l-3")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        app.metric("storepulse_requests_refused_total{status=\"429\"}")
            .await,
        1.0
    );
}

#[sqlx::test(migrations = false)]
async fn a_rebuild_of_one_site_holds_only_that_sites_events(pool: PgPool) {
    // One flush slot: a flush stuck behind the rebuild would hold it.
    let app = spawn_app_with(
        pool.clone(),
        config(&[
            ("STOREPULSE_INGEST__FLUSHERS", "1"),
            ("STOREPULSE_INGEST__COMMIT_TIMEOUT_MS", "3000"),
        ]),
    )
    .await;
    let rebuilt = create_site(&pool, "demo").await;
    create_site(&pool, "other").await;
    // The lock `server rollups rebuild` holds while it replaces the rows.
    let mut rebuild = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(0x5350_5242_i32)
        .bind(rebuilt)
        .execute(&mut *rebuild)
        .await
        .unwrap();
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/api/events"));
        tokio::spawn(async move {
            let body = envelope(vec![page_view("w-1")]);
            let response = client.post(url).json(&body).send().await.unwrap();
            response.status().as_u16()
        })
    };
    let mut other = envelope(vec![page_view("o-1")]);
    other["site"] = serde_json::json!("other");
    let (status, body) = app.post_events(&other).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (202, Some(1)),
        "{body}"
    );

    sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(0x5350_5242_i32)
        .bind(rebuilt)
        .execute(&mut *rebuild)
        .await
        .unwrap();
    assert_eq!(
        waiting.await.unwrap(),
        202,
        "the rebuilt site's events go on after it"
    );
}
