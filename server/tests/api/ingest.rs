//! The ingestion contract over HTTP: status codes, partial batches,
//! exactly-once counting, verified orders, refunds and the metrics law.

use serde_json::{json, Value};
use server::store;
use sqlx::PgPool;

use crate::helpers::{create_site, envelope, now_ms, page_view, purchase, spawn_app, SECRET};

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_good_batch_is_stored_and_answered_after_commit(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let (status, body) = app
        .post_events(&envelope(vec![
            page_view("e-1"),
            page_view("e-2"),
            purchase("e-3", "T-1"),
        ]))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body,
        json!({"accepted": 3, "duplicates": 0, "rejected": [], "bots": 0})
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 3);
    assert_eq!(
        count(&pool, "SELECT sum(events)::int8 FROM real_time_metrics").await,
        3
    );
    let (revenue, units, customers): (i64, i64, i64) =
        sqlx::query_as("SELECT revenue_unverified, units, customers FROM hourly_sales")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((revenue, units, customers), (2598, 2, 1));
}

#[sqlx::test(migrations = false)]
async fn replaying_a_batch_three_times_counts_it_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let batch = envelope(vec![page_view("r-1"), purchase("r-2", "T-9")]);
    let (_, first) = app.post_events(&batch).await;
    assert_eq!(first["accepted"], 2);
    for _ in 0..3 {
        let (status, again) = app.post_events(&batch).await;
        assert_eq!(status, 202);
        assert_eq!(
            (again["accepted"].as_i64(), again["duplicates"].as_i64()),
            (Some(0), Some(2))
        );
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 2);
    assert_eq!(
        count(&pool, "SELECT orders_unverified FROM hourly_sales").await,
        1
    );
    assert_eq!(count(&pool, "SELECT events FROM user_activity").await, 2);
    assert_eq!(count(&pool, "SELECT sessions FROM user_activity").await, 1);
}

#[sqlx::test(migrations = false)]
async fn a_bad_event_is_rejected_with_its_reason_and_its_neighbours_are_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let mut no_transaction = purchase("p-2", "T-2");
    no_transaction
        .as_object_mut()
        .unwrap()
        .remove("transaction_id");
    let batch = envelope(vec![
        page_view("p-1"),
        json!({"id": "p-x", "type": "Bad Type!"}),
        no_transaction,
        json!({"id": "p-4", "type": "page_view", "url": "javascript:alert(1)"}),
        json!({"id": "p-5", "type": "add_to_cart", "currency": "USD", "value": -3}),
        json!({"id": "p-6", "type": "search", "search_term": "nul\u{0}byte"}),
        json!({"id": "p-7", "type": "page_view", "ts": now_ms() + 3_600_000}),
        json!("not an object"),
        page_view("p-9"),
    ]);
    let (status, body) = app.post_events(&batch).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    let reasons: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["reason"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let expected = [
        (1, "invalid_type"),
        (2, "missing_field"),
        (3, "invalid_url"),
        (4, "invalid_value"),
        (5, "nul_byte"),
        (6, "time_in_future"),
        (7, "malformed"),
    ];
    assert_eq!(reasons, expected.map(|(i, r)| (i, r.to_owned())).to_vec());
    assert_eq!(count(&pool, "SELECT count(*) FROM dead_letters").await, 7);
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 2);
    assert_eq!(
        app.metric("storepulse_events_rejected_total{reason=\"invalid_type\"}")
            .await,
        1.0
    );
}

#[sqlx::test(migrations = false)]
async fn whole_requests_are_refused_with_the_right_status(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let (status, _) = app
        .post_raw("application/json", b"{not json".to_vec(), &[])
        .await;
    assert_eq!(status, 400, "not JSON");
    let (status, _) = app
        .post_raw("application/json", br#"{"events": []}"#.to_vec(), &[])
        .await;
    assert_eq!(status, 400, "not an envelope");
    let (status, _) = app
        .post_raw("application/json", vec![0xff, 0xfe], &[])
        .await;
    assert_eq!(status, 400, "not UTF-8");
    let (status, _) = app
        .post_events(&json!({"site": "nope", "events": [page_view("x")]}))
        .await;
    assert_eq!(status, 404, "unknown site");
    let (status, _) = app
        .post_raw("application/json", vec![b' '; 70 * 1024], &[])
        .await;
    assert_eq!(status, 413, "body too large");
    let many: Vec<Value> = (0..101).map(|i| page_view(&format!("m-{i}"))).collect();
    let (status, _) = app.post_events(&envelope(many)).await;
    assert_eq!(status, 413, "too many events");
    let (status, _) = app.post_raw("application/xml", b"<a/>".to_vec(), &[]).await;
    assert_eq!(status, 415, "content type");
    let body = serde_json::to_vec(&envelope(vec![purchase("s-1", "T-5")])).unwrap();
    let bad = [(
        "x-storepulse-signature",
        format!("t={},v1=00ff", now_ms() / 1000),
    )];
    let (status, _) = app.post_raw("application/json", body, &bad).await;
    assert_eq!(status, 401, "bad signature");
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 0);
    let beacon = serde_json::to_vec(&envelope(vec![page_view("b-1")])).unwrap();
    let (status, _) = app.post_raw("text/plain;charset=UTF-8", beacon, &[]).await;
    assert_eq!(status, 202, "sendBeacon's text/plain is accepted");
    assert_eq!(
        app.metric("storepulse_requests_refused_total{status=\"413\"}")
            .await,
        2.0
    );
}

#[sqlx::test(migrations = false)]
async fn a_second_purchase_with_the_same_transaction_is_a_duplicate(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    app.post_events(&envelope(vec![purchase("o-1", "T-7")]))
        .await;
    let (_, body) = app
        .post_events(&envelope(vec![purchase("o-2", "T-7")]))
        .await;
    assert_eq!(
        (body["accepted"].as_i64(), body["duplicates"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        count(&pool, "SELECT revenue_unverified FROM hourly_sales").await,
        2598
    );
    assert_eq!(
        count(&pool, "SELECT purchases FROM product_performance").await,
        1
    );
    assert_eq!(count(&pool, "SELECT orders FROM user_activity").await, 1);
}

#[sqlx::test(migrations = false)]
async fn a_signed_purchase_is_verified_and_supersedes_the_browser_report(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    app.post_events(&envelope(vec![purchase("browser-1", "T-8")]))
        .await;
    let mut backend = purchase("backend-1", "T-8");
    backend["source"] = json!("server");
    let (status, receipt) = app.post_signed(&envelope(vec![backend])).await;
    assert_eq!(status, 202, "{receipt}");
    assert_eq!(receipt["accepted"], 1);
    let row: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT revenue_verified, revenue_unverified, orders_verified, orders_unverified FROM hourly_sales",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row, (2598, 0, 1, 0));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM orders WHERE verified").await,
        1
    );
}

#[sqlx::test(migrations = false)]
async fn a_refund_reduces_net_revenue_of_the_orders_hour(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    app.post_events(&envelope(vec![purchase("f-1", "T-3")]))
        .await;
    let refund = json!({"id": "f-2", "type": "refund", "transaction_id": "T-3", "currency": "USD", "value": "12.99", "source": "server"});
    let (_, body) = app.post_events(&envelope(vec![refund])).await;
    assert_eq!(body["accepted"], 1, "{body}");
    let (revenue, refunds): (i64, i64) =
        sqlx::query_as("SELECT revenue_unverified, refunds FROM hourly_sales")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(revenue - refunds, 1299);
}

#[sqlx::test(migrations = false)]
async fn bots_are_counted_by_reason_and_not_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let body = serde_json::to_vec(&envelope(vec![page_view("bot-1"), page_view("bot-2")])).unwrap();
    let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let (status, receipt) = app
        .post_raw(
            "application/json",
            body,
            &[("user-agent", googlebot.to_owned())],
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(receipt["bots"], 2);
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 0);
    assert_eq!(
        app.metric("storepulse_events_bots_total{reason=\"bot_user_agent\"}")
            .await,
        2.0
    );
}

#[sqlx::test(migrations = false)]
async fn received_equals_accepted_plus_duplicates_plus_rejected_plus_bots(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let batch = envelope(vec![
        page_view("c-1"),
        json!({"id": "c-2", "type": "??"}),
        purchase("c-3", "T-4"),
    ]);
    app.post_events(&batch).await;
    app.post_events(&batch).await;
    app.post_events(&json!({"site": "nope", "events": [page_view("c-4")]}))
        .await;
    let bot = serde_json::to_vec(&envelope(vec![page_view("c-5")])).unwrap();
    app.post_raw("application/json", bot, &[("user-agent", String::new())])
        .await;
    let received = app.metric("storepulse_events_received_total").await;
    let accepted = app.metric("storepulse_events_accepted_total").await;
    let duplicates = app.metric("storepulse_events_duplicates_total").await;
    let rejected = app.metric_family("storepulse_events_rejected_total").await;
    let bots = app.metric_family("storepulse_events_bots_total").await;
    assert_eq!(received, 8.0);
    assert_eq!((accepted, duplicates, rejected, bots), (2.0, 2.0, 3.0, 1.0));
    assert_eq!(received, accepted + duplicates + rejected + bots);
}

#[sqlx::test(migrations = false)]
async fn cors_preflight_is_answered_for_any_origin(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/events"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

#[sqlx::test(migrations = false)]
async fn the_same_batch_sent_concurrently_to_two_servers_counts_once(pool: PgPool) {
    let first = spawn_app(pool.clone()).await;
    let second = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let events: Vec<Value> = (0..40_u32)
        .map(|i| {
            if i.is_multiple_of(4) {
                purchase(&format!("cc-{i}"), &format!("T-{i}"))
            } else {
                page_view(&format!("cc-{i}"))
            }
        })
        .collect();
    let batch = envelope(events);
    let sends = (0..6).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.post_events(&batch)
    });
    let answers = futures_util::future::join_all(sends).await;
    let accepted: i64 = answers
        .iter()
        .map(|(_, b)| b["accepted"].as_i64().unwrap())
        .sum();
    let duplicates: i64 = answers
        .iter()
        .map(|(_, b)| b["duplicates"].as_i64().unwrap())
        .sum();
    assert_eq!((accepted, duplicates), (40, 200));
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 40);
    assert_eq!(
        count(&pool, "SELECT sum(events)::int8 FROM real_time_metrics").await,
        40
    );
    assert_eq!(
        count(
            &pool,
            "SELECT sum(orders_unverified)::int8 FROM hourly_sales"
        )
        .await,
        10
    );
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recomputation: {drift:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn rollups_equal_a_recomputation_from_raw_events_after_a_mixed_run(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let view = |id: &str, kind: &str| {
        json!({"id": id, "type": kind, "ts": now_ms(), "visitor": format!("v-{}", id.len() % 3),
               "session": format!("s-{}", id.len() % 3), "currency": "USD", "value": 5,
               "items": [{"item_id": "SKU-1", "item_name": "Mug", "price": 5, "quantity": 1}]})
    };
    let batches = [
        envelope(vec![
            page_view("x-1"),
            view("x-22", "view_item"),
            view("x-333", "add_to_cart"),
        ]),
        envelope(vec![
            purchase("x-4", "T-40"),
            purchase("x-5", "T-40"),
            view("x-66", "begin_checkout"),
        ]),
        envelope(vec![
            page_view("x-1"),
            purchase("x-7", "T-41"),
            view("x-8", "remove_from_cart"),
        ]),
    ];
    for batch in &batches {
        app.post_events(batch).await;
    }
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recomputation: {drift:?}"
    );
    // The check itself can fail: disturb one rollup and it must notice.
    sqlx::query("UPDATE real_time_metrics SET events = events + 1 WHERE event_type = 'page_view'")
        .execute(&pool)
        .await
        .unwrap();
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert_eq!(drift, vec![("real_time_metrics", 2)]);
    sqlx::query("UPDATE session_days SET pages = pages + 1 WHERE dim = 't'")
        .execute(&pool)
        .await
        .unwrap();
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert_eq!(drift, vec![("session_days", 2), ("real_time_metrics", 2)]);
}

#[sqlx::test(migrations = false)]
async fn a_new_time_zone_moves_sessions_to_their_new_local_days(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    // 23:30 UTC yesterday: yesterday in UTC, today in Berlin.
    let late = (chrono::Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(23, 30, 0)
        .unwrap()
        .and_utc();
    let mut event = page_view("tz-1");
    event["ts"] = json!(late.timestamp_millis());
    app.post_events(&envelope(vec![event])).await;
    let day = |pool: PgPool| async move {
        sqlx::query_scalar::<_, chrono::NaiveDate>(
            "SELECT day FROM session_days WHERE dim = 't' AND sessions <> 0",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(day(pool.clone()).await, late.date_naive());
    let edit = server::store::sites::SiteChanges {
        timezone: Some("Europe/Berlin"),
        ..Default::default()
    };
    server::store::sites::update(&pool, "demo", &edit)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        day(pool.clone()).await,
        late.date_naive().succ_opt().unwrap()
    );
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    assert!(drift.is_empty(), "{drift:?}");
}

#[sqlx::test(migrations = false)]
async fn every_rejection_reason_is_exported_at_zero_before_traffic(pool: PgPool) {
    let app = spawn_app(pool).await;
    for reason in server::ingest::rejection::Reason::ALL {
        let series = format!(
            "storepulse_events_rejected_total{{reason=\"{}\"}}",
            reason.as_str()
        );
        let text = app.get_text("/metrics").await;
        assert!(
            text.lines().any(|line| line == format!("{series} 0")),
            "{series} missing"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn events_without_a_visitor_get_one_derived_id_per_client_and_day(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let anonymous =
        |id: &str| json!({"id": id, "type": "page_view", "url": "https://shop.example/"});
    app.post_events(&envelope(vec![anonymous("a-1"), anonymous("a-2")]))
        .await;
    app.post_events(&envelope(vec![anonymous("a-3")])).await;
    let visitors: Vec<String> = sqlx::query_scalar("SELECT DISTINCT visitor_id FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(visitors.len(), 1, "{visitors:?}");
    assert!(visitors[0].starts_with("h-") && !visitors[0].contains("127.0.0.1"));
    // A second server process on the same database (or this one after a
    // restart) derives the same id: the day's salt is shared, not its own.
    let second = spawn_app(pool.clone()).await;
    second.post_events(&envelope(vec![anonymous("a-4")])).await;
    let visitors: Vec<String> = sqlx::query_scalar("SELECT DISTINCT visitor_id FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(visitors.len(), 1, "one client, two processes: {visitors:?}");
    // Salts older than yesterday are gone once a day's is made.
    sqlx::query("INSERT INTO visitor_salts VALUES (current_date - 5, '\\x00')")
        .execute(&pool)
        .await
        .unwrap();
    let salts = server::ingest::salts::Salts::new(pool.clone());
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    salts.for_day(tomorrow, deadline).await.unwrap();
    let days: Vec<chrono::NaiveDate> =
        sqlx::query_scalar("SELECT day FROM visitor_salts ORDER BY day")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        days.first(),
        Some(&chrono::Utc::now().date_naive()),
        "{days:?}"
    );
    assert_eq!(days.last(), Some(&tomorrow));
}

#[sqlx::test(migrations = false)]
async fn a_signed_confirmation_leaves_one_purchase_row_that_every_recount_agrees_on(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let site_id = create_site(&pool, "demo").await;
    app.post_events(&envelope(vec![purchase("browser-9", "T-9")]))
        .await;
    // The backend confirms at its own amount (the browser said 25.98).
    let mut backend = purchase("backend-9", "T-9");
    backend["source"] = json!("server");
    backend["visitor"] = json!("u-cust-1");
    backend["value"] = json!("24.50");
    let body = serde_json::to_vec(&envelope(vec![backend])).unwrap();
    let sign =
        |body: &[u8]| server::ingest::signature::sign(body, SECRET.as_bytes(), now_ms() / 1000);
    let (status, receipt) = app
        .post_raw(
            "application/json",
            body.clone(),
            &[("x-storepulse-signature", sign(&body))],
        )
        .await;
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (202, Some(1)),
        "{receipt}"
    );
    // The backend retries: a duplicate, and nothing changes.
    let (_, receipt) = app
        .post_raw(
            "application/json",
            body.clone(),
            &[("x-storepulse-signature", sign(&body))],
        )
        .await;
    assert_eq!(receipt["duplicates"], 1, "{receipt}");

    let rows: Vec<(String, bool, i64)> = sqlx::query_as(
        "SELECT event_id, verified, value_minor FROM events WHERE event_type = 'purchase'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows, [("browser-9".to_owned(), true, 2450)]);
    let live = |pool: PgPool| async move {
        sqlx::query_as::<_, (i64, i64, i64, i64)>(
            "SELECT h.revenue_verified, h.revenue_unverified, \
                    (SELECT spend FROM user_activity WHERE visitor_id = 'v-1'), \
                    (SELECT sum(events)::int8 FROM real_time_metrics) FROM hourly_sales h",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(live(pool.clone()).await, (2450, 0, 2450, 1));
    assert!(store::drift::rollup_drift(&pool).await.unwrap().is_empty());

    let target = store::rebuild::Target {
        site_id,
        currency: server::ingest::money::Currency::parse("USD").unwrap(),
    };
    store::rebuild::rebuild(&pool, &target, None, &mut |_| {})
        .await
        .expect("rebuild");
    assert_eq!(live(pool.clone()).await, (2450, 0, 2450, 1));
    assert!(store::drift::rollup_drift(&pool).await.unwrap().is_empty());
}
