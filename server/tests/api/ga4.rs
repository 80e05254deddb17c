//! GA4's e-commerce fields through the real ingestion endpoint (what the
//! tracker's dataLayer bridge sends): the item fields, an order's tax,
//! shipping and coupon kept in the `events` row; tax and shipping on Hourly
//! Sales; list impressions; the rollups still equal a recomputation.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{create_site, envelope, now_ms, spawn_app, TestApp, SECRET};

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
    let body = serde_json::to_vec(&envelope(vec![backend])).unwrap();
    let signature = server::ingest::signature::sign(&body, SECRET.as_bytes(), now_ms() / 1000);
    let (status, receipt) = app
        .post_raw(
            "application/json",
            body,
            &[("x-storepulse-signature", signature)],
        )
        .await;
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
