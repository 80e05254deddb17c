//! GA4's e-commerce fields through the real ingestion endpoint (what the
//! tracker's dataLayer bridge sends): the item fields, an order's tax,
//! shipping and coupon kept in the `events` row; tax and shipping on Hourly
//! Sales; refunds of items on Products, and refunds valued from their
//! items; list impressions; the rollups still equal a recomputation.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{create_site, envelope, now_ms, spawn_app, TestApp};

/// Google's "Stan and Friends Tee", every GA4 item field it carries.
fn stan(quantity: i64) -> Value {
    json!({
        "item_id": "SKU_12345", "item_name": "Stan and Friends Tee",
        "affiliation": "Google Merchandise Store", "coupon": "SUMMER_FUN", "discount": 2.22,
        "index": 0, "item_brand": "Google", "item_category": "Apparel",
        "item_category2": "Adult", "item_category3": "Shirts", "item_category4": "Crew",
        "item_category5": "Short sleeve", "item_list_id": "related_products",
        "item_list_name": "Related Products", "item_variant": "green",
        "location_id": "ChIJIQBpAG2ahYAR_6128GcTUEo", "price": 10.01,
        "google_business_vertical": "retail", "quantity": quantity
    })
}

/// The second item of Google's purchase example.
fn grey() -> Value {
    json!({
        "item_id": "SKU_12346", "item_name": "Google Grey Women's Tee", "item_brand": "Google",
        "item_category": "Apparel", "item_variant": "gray", "discount": 3.33, "index": 1,
        "promotion_id": "P_12345", "promotion_name": "Summer Sale", "price": 21.01, "quantity": 2
    })
}

fn event(id: &str, kind: &str, extra: Value) -> Value {
    let mut event = json!({
        "id": id, "type": kind, "ts": now_ms(), "visitor": "v-1", "session": "s-1",
        "url": "https://shop.example/"
    });
    if let (Some(map), Value::Object(extra)) = (event.as_object_mut(), extra) {
        map.extend(extra);
    }
    event
}

/// Google's purchase example: 72.05 for both tees, tax 3.60, shipping 5.99.
fn google_purchase(id: &str, transaction: &str) -> Value {
    event(
        id,
        "purchase",
        json!({"transaction_id": transaction, "value": 72.05, "tax": 3.60, "shipping": 5.99,
               "currency": "USD", "coupon": "SUMMER_SALE", "items": [stan(3), grey()]}),
    )
}

/// Posts `events`; every one must be accepted.
async fn send(app: &TestApp, events: Vec<Value>) {
    let n = events.len();
    let (status, body) = app.post_events(&envelope(events)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], n, "{body}");
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn assert_no_drift(pool: &PgPool) {
    let drift = server::store::drift::rollup_drift(pool).await.unwrap();
    assert!(
        drift.is_empty(),
        "rollups differ from a recomputation: {drift:?}"
    );
}

/// One product of the products API, by item id.
fn product<'a>(body: &'a Value, item_id: &str) -> &'a Value {
    body["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["item_id"] == item_id)
        .unwrap_or_else(|| panic!("no {item_id} in {body}"))
}

#[sqlx::test(migrations = false)]
async fn a_purchase_keeps_its_ga4_item_fields_tax_shipping_and_coupon(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    send(&app, vec![google_purchase("p-1", "T_12345")]).await;

    let (tax, shipping, coupon, items): (Option<i64>, Option<i64>, Option<String>, Value) =
        sqlx::query_as(
            "SELECT tax_minor, shipping_minor, coupon, items FROM events WHERE event_id = 'p-1'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        (tax, shipping, coupon.as_deref()),
        (Some(360), Some(599), Some("SUMMER_SALE"))
    );
    // Money in cents of the order's currency; the field GA4 does not
    // define (google_business_vertical) is not kept.
    assert_eq!(
        items,
        json!([
            {"item_id": "SKU_12345", "item_name": "Stan and Friends Tee", "item_category": "Apparel",
             "item_brand": "Google", "price": 1001, "quantity": 3, "item_variant": "green",
             "item_category2": "Adult", "item_category3": "Shirts", "item_category4": "Crew",
             "item_category5": "Short sleeve", "affiliation": "Google Merchandise Store",
             "coupon": "SUMMER_FUN", "discount": 222, "index": 0,
             "item_list_id": "related_products", "item_list_name": "Related Products",
             "location_id": "ChIJIQBpAG2ahYAR_6128GcTUEo"},
            {"item_id": "SKU_12346", "item_name": "Google Grey Women's Tee", "item_category": "Apparel",
             "item_brand": "Google", "price": 2101, "quantity": 2, "item_variant": "gray",
             "discount": 333, "index": 1, "promotion_id": "P_12345", "promotion_name": "Summer Sale"}
        ])
    );
    assert_no_drift(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn hourly_sales_show_tax_and_shipping_and_net_revenue_leaves_them_out(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    send(&app, vec![google_purchase("p-1", "T_12345")]).await;
    // Google's refund example: one line, with its share of tax and shipping.
    let refund = event(
        "r-1",
        "refund",
        json!({"transaction_id": "T_12345", "currency": "USD", "value": 30.03, "tax": 1.11,
               "shipping": 3.33, "coupon": "SUMMER_FUN", "items": [stan(3)]}),
    );
    send(&app, vec![refund]).await;

    let body = get(&app, "/api/v1/sites/demo/hourly-sales?range=today").await;
    let totals = &body["totals"];
    let amount = |v: &Value| v["amount"].as_str().unwrap_or("?").to_owned();
    assert_eq!(amount(&totals["revenue"]), "72.05", "{body}");
    assert_eq!(amount(&totals["refunds"]), "30.03");
    // The orders' tax and shipping less what the refunds gave back.
    assert_eq!(amount(&totals["tax"]), "2.49");
    assert_eq!(amount(&totals["shipping"]), "2.66");
    // 72.05 - 30.03 - 2.49 - 2.66
    assert_eq!(amount(&totals["net_revenue"]), "36.87");
    assert_eq!(body["hours"][0]["tax"], totals["tax"]);
    assert_eq!(body["hours"][0]["shipping"], totals["shipping"]);

    let html = app.get_text("/hourly?site=demo&range=today").await;
    for text in [">Tax<", ">Shipping<", "$2.49", "$2.66", "$36.87"] {
        assert!(html.contains(text), "{text} not on the page");
    }
    assert_no_drift(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn a_signed_report_of_an_order_replaces_its_tax_and_shipping(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    send(&app, vec![google_purchase("browser-1", "T-8")]).await;
    // The shop's backend knows better: 3.70 tax, free shipping.
    let mut backend = google_purchase("backend-1", "T-8");
    backend["source"] = json!("server");
    backend["tax"] = json!(3.70);
    backend["shipping"] = json!(0);
    let (status, receipt) = app.post_signed(&envelope(vec![backend])).await;
    assert_eq!(
        (status, &receipt["accepted"]),
        (202, &json!(1)),
        "{receipt}"
    );
    let row: (i64, i64, i64, i64) =
        sqlx::query_as("SELECT revenue_verified, orders_verified, tax, shipping FROM hourly_sales")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(row, (7205, 1, 370, 0));
    // The signed copy stays in `events` but is no new event for Real-Time,
    // sessions and visitors, which their checks do not model: this test is
    // about the sales and product rows.
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    let sales: Vec<_> = drift
        .iter()
        .filter(|(table, _)| table.starts_with("hourly") || table.starts_with("product"))
        .collect();
    assert!(sales.is_empty(), "{drift:?}");
}

#[sqlx::test(migrations = false)]
async fn a_partial_refund_of_one_item_reduces_that_products_units_and_revenue(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    send(&app, vec![google_purchase("p-1", "T_12345")]).await;
    let refund = event(
        "r-1",
        "refund",
        json!({"transaction_id": "T_12345", "currency": "USD", "value": 10.01,
               "items": [{"item_id": "SKU_12345", "price": 10.01, "quantity": 1}]}),
    );
    send(&app, vec![refund]).await;

    let body = get(&app, "/api/v1/sites/demo/products?range=today").await;
    let stan = product(&body, "SKU_12345");
    assert_eq!((&stan["units"], &stan["purchases"]), (&json!(2), &json!(1)));
    assert_eq!(stan["revenue"]["amount"], "20.02");
    let grey = product(&body, "SKU_12346");
    assert_eq!(
        (&grey["units"], &grey["revenue"]["amount"]),
        (&json!(2), &json!("42.02"))
    );
    let hourly = get(&app, "/api/v1/sites/demo/hourly-sales?range=today").await;
    assert_eq!(hourly["totals"]["refunds"]["amount"], "10.01");
    assert_no_drift(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn a_refund_with_items_and_no_value_is_valued_from_them(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    send(&app, vec![google_purchase("p-1", "T_1")]).await;
    let refunds = vec![
        // Priced lines: their total.
        event(
            "r-priced",
            "refund",
            json!({"transaction_id": "T_1", "currency": "USD",
                   "items": [{"item_id": "SKU_12346", "price": 21.01, "quantity": 1}]}),
        ),
        // GA4's partial refund: id and quantity only, the price the order had.
        event(
            "r-unpriced",
            "refund",
            json!({"transaction_id": "T_1", "currency": "USD",
                   "items": [{"item_id": "SKU_12345", "quantity": 1}]}),
        ),
        // Nothing to take a value from.
        event(
            "r-nothing",
            "refund",
            json!({"transaction_id": "T_1", "currency": "USD"}),
        ),
        event(
            "r-unknown-order",
            "refund",
            json!({"transaction_id": "T_404", "currency": "USD",
                   "items": [{"item_id": "SKU_12345", "quantity": 1}]}),
        ),
        event(
            "r-unknown-item",
            "refund",
            json!({"transaction_id": "T_1", "currency": "USD",
                   "items": [{"item_id": "SKU_99999", "quantity": 1}]}),
        ),
    ];
    let (status, body) = app.post_events(&envelope(refunds)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2, "{body}");
    let reasons: Vec<&str> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3, "{body}");
    assert!(reasons[0].starts_with("missing_field: "), "{reasons:?}");
    assert!(
        reasons[1].starts_with("missing_field: ") && reasons[1].contains("T_404"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].starts_with("invalid_item: ") && reasons[2].contains("SKU_99999"),
        "{reasons:?}"
    );

    let stored: Vec<(String, Option<i64>, Value)> = sqlx::query_as(
        "SELECT event_id, value_minor, items FROM events WHERE event_type = 'refund' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        (stored[0].0.as_str(), stored[0].1),
        ("r-priced", Some(2101))
    );
    // The price the order had is kept with the refund.
    assert_eq!(
        (stored[1].0.as_str(), stored[1].1),
        ("r-unpriced", Some(1001))
    );
    assert_eq!(stored[1].2[0]["price"], 1001);

    let hourly = get(&app, "/api/v1/sites/demo/hourly-sales?range=today").await;
    assert_eq!(hourly["totals"]["refunds"]["amount"], "31.02", "{hourly}");
    let products = get(&app, "/api/v1/sites/demo/products?range=today").await;
    let stan = product(&products, "SKU_12345");
    assert_eq!(
        (&stan["units"], &stan["revenue"]["amount"]),
        (&json!(2), &json!("20.02"))
    );
    let grey = product(&products, "SKU_12346");
    assert_eq!(
        (&grey["units"], &grey["revenue"]["amount"]),
        (&json!(1), &json!("21.01"))
    );
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 3);
    assert_no_drift(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn list_impressions_show_on_products_and_unreported_events_are_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let list = json!({"item_list_id": "related_products", "item_list_name": "Related products",
                      "items": [stan(1), grey()]});
    let cart =
        json!({"currency": "USD", "value": 10.01, "coupon": "SUMMER_FUN", "items": [stan(1)]});
    let promotion = json!({"creative_name": "Summer Banner", "promotion_id": "P_12345",
                           "items": [stan(1)]});
    let events = vec![
        event("l-1", "view_item_list", list.clone()),
        event("l-2", "view_item_list", list.clone()),
        event("v-1", "view_item", cart.clone()),
        // What no report reads yet: stored as they came, items and all.
        event("x-1", "select_item", list),
        event("x-2", "add_to_wishlist", cart.clone()),
        event("x-3", "view_cart", cart.clone()),
        event("x-4", "add_shipping_info", cart.clone()),
        event("x-5", "add_payment_info", cart),
        event("x-6", "view_promotion", promotion.clone()),
        event("x-7", "select_promotion", promotion),
        event(
            "x-8",
            "generate_lead",
            json!({"currency": "USD", "value": 30.03}),
        ),
    ];
    send(&app, events).await;

    let body = get(&app, "/api/v1/sites/demo/products?range=today").await;
    let stan = product(&body, "SKU_12345");
    assert_eq!(
        (&stan["impressions"], &stan["views"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(stan["add_to_carts"], 0, "a wishlist is no cart");
    let grey = product(&body, "SKU_12346");
    assert_eq!(
        (&grey["impressions"], &grey["views"]),
        (&json!(2), &json!(0))
    );
    assert_eq!(body["categories"][0]["impressions"], 4);
    let csv = app
        .get_text("/api/v1/sites/demo/products.csv?range=today")
        .await;
    assert!(csv.starts_with("item_id,name,category,views,"), "{csv}");
    assert!(
        csv.lines().next().unwrap().ends_with(",impressions"),
        "{csv}"
    );
    assert!(
        csv.contains("SKU_12346,Google Grey Women's Tee,Apparel,0,0,0,0,0,0,0.00,USD,2\r\n"),
        "{csv}"
    );
    let html = app.get_text("/products?site=demo&range=today").await;
    assert!(html.contains(">Impressions<"), "no Impressions column");

    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, jsonb_array_length(items)::int8 FROM events \
          WHERE event_id LIKE 'x-%' ORDER BY event_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let kinds: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "select_item",
            "add_to_wishlist",
            "view_cart",
            "add_shipping_info",
            "add_payment_info",
            "view_promotion",
            "select_promotion",
            "generate_lead"
        ]
    );
    assert_eq!(stored[5].1, 1, "the promotion's item is kept");
    assert_no_drift(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn a_rebuild_and_a_time_zone_change_keep_tax_shipping_refunds_and_impressions(pool: PgPool) {
    use server::{
        ingest::money::Currency,
        store::{rebuild, sites},
    };

    let app = spawn_app(pool.clone()).await;
    let site_id = create_site(&pool, "demo").await;
    send(
        &app,
        vec![
            event("l-1", "view_item_list", json!({"items": [stan(1), grey()]})),
            google_purchase("p-1", "T_1"),
        ],
    )
    .await;
    send(
        &app,
        vec![event(
            "r-1",
            "refund",
            json!({"transaction_id": "T_1", "currency": "USD", "tax": 0.50,
                   "items": [{"item_id": "SKU_12345", "quantity": 2}]}),
        )],
    )
    .await;
    let snapshot = || {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(
                "SELECT (SELECT sum(tax)::int8 FROM hourly_sales), \
                        (SELECT sum(shipping)::int8 FROM hourly_sales), \
                        (SELECT sum(refunds)::int8 FROM hourly_sales), \
                        (SELECT sum(impressions)::int8 FROM product_days), \
                        (SELECT sum(units)::int8 FROM product_days)",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // Tax 3.60 - 0.50; two of three tees at 10.01 back; 3 + 2 units - 2.
    let live = snapshot().await;
    assert_eq!(live, (310, 599, 2002, 2, 3));
    assert_no_drift(&pool).await;

    sqlx::query("UPDATE hourly_sales SET tax = 0, shipping = 0")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE product_performance SET impressions = 0, units = 0")
        .execute(&pool)
        .await
        .unwrap();
    assert_ne!(snapshot().await, live, "the damage shows");
    let target = rebuild::Target {
        site_id,
        currency: Currency::parse("USD").unwrap(),
    };
    rebuild::rebuild(&pool, &target, None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(snapshot().await, live, "rebuilt");
    assert_no_drift(&pool).await;

    let zone = sites::SiteChanges {
        timezone: Some("Pacific/Kiritimati"),
        ..Default::default()
    };
    sites::update(&pool, "demo", &zone).await.unwrap().unwrap();
    assert_eq!(snapshot().await, live, "refolded in the new zone");
    assert_no_drift(&pool).await;
}

/// What a server before migration 0013 stored: raw events (a list view, an
/// order of two items, a refund of one of them two hours later, a wishlist)
/// and the rollups its fold made of them.
const BEFORE_0013: [&str; 5] = [
    "INSERT INTO events (site_id, event_id, event_type, occurred_at, received_at, visitor_id, \
        source, device, browser, os, currency, value_minor, transaction_id, items) VALUES \
     ($1, 'l-1', 'view_item_list', $2, $2, 'v-1', 'web', 'desktop', 'Chrome', 'Linux', NULL, NULL, NULL, \
      '[{\"item_id\": \"A\", \"item_name\": \"A\", \"item_category\": \"\", \"item_brand\": \"\", \"price\": 1001, \"quantity\": 1}, \
        {\"item_id\": \"B\", \"item_name\": \"B\", \"item_category\": \"\", \"item_brand\": \"\", \"price\": 2101, \"quantity\": 1}]'), \
     ($1, 'p-1', 'purchase', $2, $2, 'v-1', 'web', 'desktop', 'Chrome', 'Linux', 'USD', 7205, 'T_1', \
      '[{\"item_id\": \"A\", \"item_name\": \"A\", \"item_category\": \"\", \"item_brand\": \"\", \"price\": 1001, \"quantity\": 3}, \
        {\"item_id\": \"B\", \"item_name\": \"B\", \"item_category\": \"\", \"item_brand\": \"\", \"price\": 2101, \"quantity\": 2}]'), \
     ($1, 'r-1', 'refund', $2 + interval '2 hours', $2, 'v-1', 'server', 'other', '', '', 'USD', 1001, 'T_1', \
      '[{\"item_id\": \"A\", \"item_name\": \"A\", \"item_category\": \"\", \"item_brand\": \"\", \"price\": 1001, \"quantity\": 1}]'), \
     ($1, 'w-1', 'add_to_wishlist', $2, $2, 'v-1', 'web', 'desktop', 'Chrome', 'Linux', 'USD', 500, NULL, \
      '[{\"item_id\": \"C\", \"item_name\": \"C\", \"item_category\": \"\", \"item_brand\": \"\", \"price\": 500, \"quantity\": 1}]')",
    "INSERT INTO orders (site_id, transaction_id, event_id, hour, currency, value_minor, verified, visitor_id) \
     VALUES ($1, 'T_1', 'p-1', $2, 'USD', 7205, false, 'v-1')",
    "INSERT INTO hourly_sales (site_id, hour, currency, revenue_unverified, orders_unverified, refunds, \
        refund_count, units, customers) VALUES ($1, $2, 'USD', 7205, 1, 1001, 1, 5, 1)",
    "INSERT INTO hourly_customers (site_id, hour, currency, customer) VALUES ($1, $2, 'USD', 'v-1')",
    // The old fold made a row for every item of every event, zeros included.
    "INSERT INTO product_performance (site_id, hour, item_id, currency, item_name, purchases, units, revenue) \
     VALUES ($1, $2, 'A', 'USD', 'A', 1, 3, 3003), ($1, $2, 'B', 'USD', 'B', 1, 2, 4202), \
            ($1, $2 + interval '2 hours', 'A', 'USD', 'A', 0, 0, 0), ($1, $2, 'C', 'USD', 'C', 0, 0, 0)",
];

#[sqlx::test(migrations = false)]
async fn migration_0013_carries_existing_events_into_the_new_rollups(pool: PgPool) {
    use chrono::DurationRound;
    use sqlx::migrate::Migrator;

    let before = Migrator {
        migrations: server::store::MIGRATOR
            .migrations
            .iter()
            .filter(|m| m.version < 13)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        ..Migrator::DEFAULT
    };
    before.run(&pool).await.unwrap();
    let site_id = create_site(&pool, "demo").await;
    let hour = (chrono::Utc::now() - chrono::Duration::days(1))
        .duration_trunc(chrono::TimeDelta::hours(1))
        .unwrap();
    for statement in BEFORE_0013 {
        sqlx::query(statement)
            .bind(site_id)
            .bind(hour)
            .execute(&pool)
            .await
            .unwrap();
    }
    server::store::migrate(&pool).await.unwrap();

    let rows: Vec<(String, chrono::DateTime<chrono::Utc>, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT item_id, hour, impressions, purchases, units, revenue FROM product_performance \
         ORDER BY item_id, hour",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // A: one impression, 3 bought, 1 back in the order's hour; B: one
    // impression; C's and the refund hour's rows of zeros are gone.
    assert_eq!(
        rows,
        [
            ("A".to_owned(), hour, 1, 1, 2, 2002),
            ("B".to_owned(), hour, 1, 1, 2, 4202)
        ]
    );
    let days: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(impressions)::int8, sum(units)::int8, sum(revenue)::int8 FROM product_days",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(days, (2, 2, 4, 6204));
    // The rollups this migration touched equal a recomputation (the
    // sessions and visitors of this hand-made history were never made).
    let drift = server::store::drift::rollup_drift(&pool).await.unwrap();
    let touched: Vec<_> = drift
        .iter()
        .filter(|(table, _)| table.starts_with("hourly") || table.starts_with("product"))
        .collect();
    assert!(touched.is_empty(), "{drift:?}");
}

#[sqlx::test(migrations = false)]
async fn a_refund_is_priced_from_an_order_earlier_in_its_batch_or_import(pool: PgPool) {
    use server::ingest::import;

    let app = spawn_app(pool.clone()).await;
    create_site(&pool, "demo").await;
    let unpriced = |id: &str, transaction: &str| {
        event(
            id,
            "refund",
            json!({"transaction_id": transaction, "currency": "USD",
                   "items": [{"item_id": "SKU_12346", "quantity": 1}]}),
        )
    };
    send(
        &app,
        vec![google_purchase("p-1", "T_1"), unpriced("r-1", "T_1")],
    )
    .await;

    let site = server::store::sites::find(&pool, "demo")
        .await
        .unwrap()
        .unwrap();
    let lines = [
        google_purchase("p-2", "T_2"),
        unpriced("r-2", "T_2"),
        unpriced("r-3", "T_3"),
    ]
    .map(|e| json!({"user_agent": crate::helpers::BROWSER_UA, "event": e}).to_string())
    .join("\n");
    let options = import::Options::new(&Default::default(), 30);
    let report = import::import(&pool, &site, lines.as_bytes(), &options, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.imported, 2, "{report:?}");
    assert_eq!(report.rejected.get("missing_field"), Some(&1), "{report:?}");

    let values: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT event_id, value_minor FROM events WHERE event_type = 'refund' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        values,
        [
            ("r-1".to_owned(), Some(2101)),
            ("r-2".to_owned(), Some(2101))
        ]
    );
    assert_no_drift(&pool).await;
}
