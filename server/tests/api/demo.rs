//! The demo store over HTTP: a checkout is reported by the shop's backend as
//! a signed, verified purchase, and the browser's copy of it counts once.

use reqwest::{header, redirect, StatusCode};
use serde_json::json;
use server::{
    config::Config,
    demo::{cart, catalog::Catalog},
};
use sqlx::PgPool;

use crate::helpers::{envelope, now_ms, spawn_app_with, TestApp};

async fn spawn_demo(pool: PgPool) -> TestApp {
    let env = vec![(
        "STOREPULSE_BOOTSTRAP__DEMO_SITE".to_owned(),
        "true".to_owned(),
    )];
    spawn_app_with(pool, Config::load(env).expect("config")).await
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .user_agent(crate::helpers::BROWSER_UA)
        .build()
        .expect("client")
}

fn set_cookie(response: &reqwest::Response) -> String {
    let value = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii");
    value.split(';').next().expect("pair").to_owned()
}

#[sqlx::test(migrations = false)]
async fn a_checkout_becomes_one_verified_order_in_the_shoppers_session(pool: PgPool) {
    let app = spawn_demo(pool.clone()).await;
    let client = browser();
    let catalog = Catalog::generate(server::demo::catalog::SEED);
    let product = &catalog.products()[4];

    let home = client.get(app.url("/demo")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(
        html.contains(r#"src="/tracker.js" data-site="demo""#),
        "{html}"
    );

    let added = client
        .post(app.url("/demo/cart/add"))
        .form(&[("sku", product.sku.as_str()), ("quantity", "3")])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&added);
    assert_eq!(cookie, format!("{}={}:3", cart::COOKIE, product.sku));

    let placed = client
        .post(app.url("/demo/checkout"))
        .header(header::COOKIE, &cookie)
        .form(&[
            ("email", "ada@example.com"),
            ("visitor", "v-ada"),
            ("session", "s-ada"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        set_cookie(&placed),
        format!("{}=", cart::COOKIE),
        "the cart is emptied"
    );
    let location = placed.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let transaction = location
        .strip_prefix("/demo/order/")
        .and_then(|rest| rest.split('?').next())
        .expect("a thank-you URL")
        .to_owned();

    let total = product.price_minor * 3;
    let (value, verified, visitor): (i64, bool, String) = sqlx::query_as(
        "SELECT value_minor, verified, visitor_id FROM orders WHERE transaction_id = $1",
    )
    .bind(&transaction)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((value, verified, visitor.as_str()), (total, true, "v-ada"));
    let (session, source): (String, String) =
        sqlx::query_as("SELECT session_id, source FROM events WHERE event_type = 'purchase'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((session.as_str(), source.as_str()), ("s-ada", "server"));

    // The thank-you page reports the same order from the browser.
    let page = client.get(app.url(&location)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&transaction));
    let browser_copy = json!({
        "id": "browser-purchase", "type": "purchase", "ts": now_ms(),
        "visitor": "v-ada", "session": "s-ada", "transaction_id": transaction,
        "currency": "EUR", "value": total as f64 / 100.0,
    });
    for _ in 0..2 {
        let (status, body) = app.post_events(&envelope(vec![browser_copy.clone()])).await;
        assert_eq!(status, 202);
        assert_eq!(body["duplicates"], 1, "{body}");
    }
    let (verified, unverified, orders): (i64, i64, i64) = sqlx::query_as(
        "SELECT revenue_verified, revenue_unverified, orders_verified + orders_unverified FROM hourly_sales",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((verified, unverified, orders), (total, 0, 1));
}

#[sqlx::test(migrations = false)]
async fn unknown_products_and_malformed_orders_are_not_found(pool: PgPool) {
    let app = spawn_demo(pool).await;
    let client = browser();
    for path in [
        "/demo/p/no-such-product",
        "/demo/c/no-such-category",
        "/demo/order/SP-1?items=SKU-999:1",
        "/demo/order/%3Cscript%3E?items=SKU-001:1",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let empty = client.get(app.url("/demo/checkout")).send().await.unwrap();
    assert_eq!(
        empty.status(),
        StatusCode::SEE_OTHER,
        "no checkout with an empty cart"
    );
}

#[sqlx::test(migrations = false)]
async fn the_store_is_only_served_next_to_the_demo_site(pool: PgPool) {
    let app = crate::helpers::spawn_app(pool).await;
    let response = browser().get(app.url("/demo")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// The text of the document's `<title>`.
fn title(html: &str) -> &str {
    let start = html.find("<title>").expect("a <title>") + "<title>".len();
    let end = html[start..].find("</title>").expect("a </title>");
    &html[start..start + end]
}

#[sqlx::test(migrations = false)]
async fn page_titles_are_the_page_and_the_shop_name_and_nothing_else(pool: PgPool) {
    let app = spawn_demo(pool).await;
    let client = browser();
    let catalog = Catalog::generate(server::demo::catalog::SEED);
    let product = &catalog.products()[2];
    let (category, slug) = catalog.categories().next().expect("a category");
    for (path, page) in [
        ("/demo".to_owned(), "Home".to_owned()),
        (format!("/demo/c/{slug}"), category.to_owned()),
        (format!("/demo/p/{}", product.slug), product.name.clone()),
        ("/demo/cart".to_owned(), "Cart".to_owned()),
        ("/demo/p/no-such-product".to_owned(), "Not found".to_owned()),
    ] {
        let html = client
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(title(&html), format!("{page} · Spree Supply Co."), "{path}");
    }
}
