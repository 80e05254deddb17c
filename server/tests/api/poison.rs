//! Poison requests: amounts that would wrap a report's sum, NUL bytes in
//! values derived from a URL, and rows the database refuses must cost only
//! the event that carries them, never the flush, its neighbours, another
//! site or the health of the process (issue 14, part A).

use serde_json::{json, Value};
use server::config::Config;
use sqlx::PgPool;

use crate::helpers::{
    config_with as quick, create_site, now_ms, page_view, purchase, spawn_app_with, TestApp,
};

/// Two hours ago, ten past the hour: every event of a test in one bucket.
fn fixed_ts() -> i64 {
    let hour = 3_600_000;
    (now_ms() / hour - 2) * hour + 600_000
}

fn envelope_for(site: &str, events: Vec<Value>) -> Value {
    json!({ "site": site, "sent_at": now_ms(), "events": events })
}

fn huge_purchase(id: &str) -> Value {
    let mut event = purchase(id, &format!("t-{id}"));
    event["value"] = json!("92233720368547758.07");
    event["items"] = json!([]);
    event
}

async fn stored(pool: &PgPool, id: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn health(app: &TestApp) -> (u16, Value) {
    let response = app.anon.get(app.url("/healthz")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn reasons(body: &Value) -> Vec<(u64, String)> {
    body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            let reason = r["reason"].as_str().unwrap();
            let label = reason.split(':').next().unwrap().to_owned();
            (r["index"].as_u64().unwrap(), label)
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn the_audit_requests_cost_only_their_own_events(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), Config::load(Vec::new()).unwrap()).await;
    create_site(&pool, "demo").await;
    create_site(&pool, "other").await;

    // Two amounts that together wrap an i64: both refused at the parser.
    let (status, body) = app
        .post_events(&envelope_for(
            "demo",
            vec![huge_purchase("h-1"), huge_purchase("h-2")],
        ))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        reasons(&body),
        [(0, "invalid_value".into()), (1, "invalid_value".into())]
    );
    // Five more, one per request, as the audit sent them.
    for n in 3..8 {
        let (status, body) = app
            .post_events(&envelope_for(
                "demo",
                vec![huge_purchase(&format!("h-{n}"))],
            ))
            .await;
        assert_eq!((status, reasons(&body).len()), (202, 1));
    }
    // A NUL hidden in a UTM value of the URL, between two good events.
    let mut poisoned = page_view("n-bad");
    poisoned["url"] = json!("https://shop.example/?utm_campaign=%00");
    let (status, body) = app
        .post_events(&envelope_for(
            "demo",
            vec![page_view("n-1"), poisoned, page_view("n-2")],
        ))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(reasons(&body), [(1, "nul_byte".into())]);

    // Ordinary traffic to another site goes through as usual.
    let (status, body) = app
        .post_events(&envelope_for(
            "other",
            vec![page_view("o-1"), purchase("o-2", "t-o")],
        ))
        .await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(2)));
    for id in ["n-1", "n-2", "o-1", "o-2"] {
        assert!(stored(&pool, id).await, "{id} is stored");
    }
    let revenue: Option<i64> = sqlx::query_scalar(
        "SELECT sum(revenue_unverified)::int8 FROM hourly_sales h JOIN sites s USING (site_id) \
         WHERE s.site_key = 'demo'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(revenue, None, "no refused amount reached a report");
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 8);
    assert_eq!(health(&app).await.0, 200);
}

#[sqlx::test(migrations = false)]
async fn an_event_the_database_refuses_becomes_a_dead_letter_and_the_rest_commit(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), Config::load(Vec::new()).unwrap()).await;
    let demo = create_site(&pool, "demo").await;
    create_site(&pool, "other").await;
    let ts = fixed_ts();
    let at = |mut event: Value| {
        event["ts"] = json!(ts);
        event
    };
    let (status, _) = app
        .post_events(&envelope_for("demo", vec![at(purchase("p-1", "t-1"))]))
        .await;
    assert_eq!(status, 202);
    // That hour's sales row is a breath from bigint's end (as millions of
    // the largest amounts would leave it): the next order cannot be added.
    sqlx::query(
        "UPDATE hourly_sales SET revenue_unverified = 9223372036854775000 WHERE site_id = $1",
    )
    .bind(demo)
    .execute(&pool)
    .await
    .unwrap();

    let (status, body) = app
        .post_events_unfolded(&envelope_for(
            "demo",
            vec![
                at(page_view("p-2")),
                at(purchase("p-3", "t-3")),
                at(page_view("p-4")),
            ],
        ))
        .await;
    // The acknowledgement stores all three (it touches no rollup); the
    // fold stage finds the one sum that cannot be held, and moves that
    // order to the dead letters while its neighbours are folded.
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 3);
    app.stage_caught_up().await;
    assert!(stored(&pool, "p-2").await && stored(&pool, "p-4").await);
    assert!(!stored(&pool, "p-3").await, "quarantined by the fold");
    let orders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE transaction_id = 't-3'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(orders, 0, "its order went with it");
    let (reason, payload): (String, String) =
        sqlx::query_as("SELECT reason, payload FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reason, "sum_overflow");
    assert!(payload.contains("\"p-3\""), "{payload}");
    let pages: i64 = sqlx::query_scalar("SELECT sum(pages)::int8 FROM sessions WHERE site_id = $1")
        .bind(demo)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pages, 2, "the page views beside it were folded");
    assert_eq!(
        app.metric("storepulse_fold_quarantined_events_total").await,
        1.0
    );

    // Another site, and the same site's other hours, are untouched.
    let (status, body) = app
        .post_events(&envelope_for("other", vec![at(purchase("q-1", "t-q"))]))
        .await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)));
    let (status, body) = app
        .post_events(&envelope_for("demo", vec![purchase("p-5", "t-5")]))
        .await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)));
    assert_eq!(health(&app).await.0, 200);
}

#[sqlx::test(migrations = false)]
async fn a_flush_that_cannot_commit_gives_up_and_healthz_says_so(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        quick(&[
            ("STOREPULSE_INGEST__COMMIT_TIMEOUT_MS", "500"),
            ("STOREPULSE_INGEST__STALL_AFTER_MS", "200"),
        ]),
    )
    .await;
    create_site(&pool, "demo").await;
    let (status, _) = app
        .post_events(&envelope_for("demo", vec![page_view("l-0")]))
        .await;
    assert_eq!(status, 202);
    assert_eq!(health(&app).await.0, 200);

    // Hold the raw table: the database answers pings, flushes hang.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/api/events"));
        tokio::spawn(async move {
            let body = envelope_for("demo", vec![page_view("l-1")]);
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let mut seen = Value::Null;
    for _ in 0..200 {
        let (status, body) = health(&app).await;
        if status == 503 {
            seen = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(seen["ingestion"], "stalled", "{seen}");
    assert_eq!(
        waiting.await.unwrap(),
        503,
        "the request is answered at its bound"
    );
    blocker.rollback().await.unwrap();

    // The hung flush finishes once the lock is gone; the queue drains and
    // healthz recovers; new traffic flows.
    for _ in 0..400 {
        if health(&app).await.0 == 200 && app.metric("storepulse_queue_depth_events").await == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(health(&app).await.0, 200);
    let (status, _) = app
        .post_events(&envelope_for("demo", vec![page_view("l-2")]))
        .await;
    assert_eq!(status, 202);

    // A database gone for good: the flush gives up within the requests'
    // bound instead of holding its slot, and healthz says unavailable.
    pool.close().await;
    let (status, _) = app
        .post_events(&envelope_for("demo", vec![page_view("l-3")]))
        .await;
    assert_eq!(status, 503);
    for _ in 0..400 {
        if app.metric("storepulse_queue_depth_events").await == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(app.metric("storepulse_queue_depth_events").await, 0.0);
    assert_eq!(health(&app).await.0, 503);
}
