//! The demo storefront at `/demo`: a small shop with the tracker embedded,
//! so a person evaluating Storepulse can click through a purchase and watch
//! it arrive, and the end-to-end tests have a real shop to drive. Mounted
//! only with `bootstrap.demo_site`, next to the `demo` site it reports to.
//!
//! `catalog` makes the products, `cart` keeps the cart in a cookie, `pages`
//! renders the HTML, `backend` reports orders as signed server events. The
//! handlers below only extract, call and answer.

pub mod backend;
pub mod cart;
pub mod catalog;
pub mod pages;

use std::sync::Arc;

use axum::{
    extract::{Form, Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use fake::{
    faker::{internet::en::SafeEmail, name::en::Name},
    Fake as _,
};
use serde::Deserialize;
use tower_http::compression::CompressionLayer;

use self::{
    backend::{Order, ReportError},
    cart::Cart,
    catalog::Catalog,
};
use crate::{accounts::http::cookie, ingest::pipeline::Ingestor};

/// The site the demo store reports to (created by `bootstrap.demo_site`).
pub const SITE_KEY: &str = "demo";
/// How long the cart cookie lives.
const CART_MAX_AGE_SECS: u32 = 7 * 24 * 60 * 60;
/// Order numbers in thank-you URLs: what [`backend::transaction_id`] makes,
/// with room to spare.
const MAX_TRANSACTION_ID: usize = 40;

#[derive(Clone)]
struct Demo {
    catalog: Arc<Catalog>,
    ingestor: Ingestor,
}

/// The store's routes, ready to merge into the main router.
pub fn router<S: Clone + Send + Sync + 'static>(ingestor: Ingestor) -> Router<S> {
    let demo = Demo {
        catalog: Arc::new(Catalog::generate(catalog::SEED)),
        ingestor,
    };
    Router::new()
        .route("/demo", get(home_show))
        .route("/demo/c/{slug}", get(category_show))
        .route("/demo/p/{slug}", get(product_show))
        .route("/demo/search", get(search_show))
        .route("/demo/cart", get(cart_show))
        .route("/demo/cart/add", post(cart_add))
        .route("/demo/cart/remove", post(cart_remove))
        .route("/demo/checkout", get(checkout_show).post(checkout_create))
        .route("/demo/order/{transaction_id}", get(order_show))
        .layer(CompressionLayer::new())
        .with_state(demo)
}

async fn home_show(State(demo): State<Demo>, headers: HeaderMap) -> Html<String> {
    Html(pages::home(&demo.catalog, &demo.cart(&headers)))
}

async fn category_show(
    State(demo): State<Demo>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let cart = demo.cart(&headers);
    match demo.catalog.categories().find(|(_, s)| *s == slug) {
        Some((name, slug)) => {
            Html(pages::category(&demo.catalog, &cart, name, slug)).into_response()
        }
        None => demo.not_found(&cart),
    }
}

async fn product_show(
    State(demo): State<Demo>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let cart = demo.cart(&headers);
    match demo.catalog.by_slug(&slug) {
        Some(product) => Html(pages::product(&demo.catalog, &cart, product)).into_response(),
        None => demo.not_found(&cart),
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search_show(
    State(demo): State<Demo>,
    Query(query): Query<SearchQuery>,
    headers: HeaderMap,
) -> Html<String> {
    // Search terms are bounded like every other string we keep.
    let q: String = query.q.trim().chars().take(100).collect();
    Html(pages::search(&demo.catalog, &demo.cart(&headers), &q))
}

async fn cart_show(State(demo): State<Demo>, headers: HeaderMap) -> Html<String> {
    Html(pages::cart(&demo.catalog, &demo.cart(&headers)))
}

#[derive(Deserialize)]
struct AddForm {
    sku: String,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
}

async fn cart_add(
    State(demo): State<Demo>,
    headers: HeaderMap,
    Form(form): Form<AddForm>,
) -> Response {
    let mut cart = demo.cart(&headers);
    if demo.catalog.by_sku(&form.sku).is_some() {
        cart.add(&form.sku, form.quantity.clamp(1, cart::MAX_QUANTITY));
    }
    with_cart(&cart, Redirect::to("/demo/cart"))
}

#[derive(Deserialize)]
struct RemoveForm {
    sku: String,
}

async fn cart_remove(
    State(demo): State<Demo>,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Response {
    let mut cart = demo.cart(&headers);
    cart.remove(&form.sku);
    with_cart(&cart, Redirect::to("/demo/cart"))
}

async fn checkout_show(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let cart = demo.cart(&headers);
    if cart.is_empty() {
        return Redirect::to("/demo/cart").into_response();
    }
    // A made-up shopper, so a demo checkout is one click.
    let name: String = Name().fake();
    let email: String = SafeEmail().fake();
    Html(pages::checkout(&demo.catalog, &cart, &name, &email)).into_response()
}

#[derive(Deserialize)]
struct CheckoutForm {
    email: String,
    #[serde(default)]
    visitor: String,
    #[serde(default)]
    session: String,
}

async fn checkout_create(
    State(demo): State<Demo>,
    headers: HeaderMap,
    Form(form): Form<CheckoutForm>,
) -> Response {
    let cart = demo.cart(&headers);
    if cart.is_empty() {
        return Redirect::to("/demo/cart").into_response();
    }
    let transaction_id = backend::transaction_id();
    let customer = backend::customer_id(&form.email);
    let order = Order {
        transaction_id: &transaction_id,
        lines: &cart,
        customer: &customer,
        visitor: non_empty(&form.visitor),
        session: non_empty(&form.session),
    };
    if let Err(error) =
        backend::report_purchase(&demo.ingestor, SITE_KEY, &demo.catalog, &order).await
    {
        return report_failed(&error);
    }
    let thank_you = format!("/demo/order/{transaction_id}?items={}", cart.encode());
    with_cart(&Cart::default(), Redirect::to(&thank_you))
}

#[derive(Deserialize)]
struct OrderQuery {
    #[serde(default)]
    items: String,
}

async fn order_show(
    State(demo): State<Demo>,
    Path(transaction_id): Path<String>,
    Query(query): Query<OrderQuery>,
    headers: HeaderMap,
) -> Response {
    let order = Cart::parse(&query.items, &demo.catalog);
    let well_formed = transaction_id.len() <= MAX_TRANSACTION_ID
        && transaction_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !well_formed || order.is_empty() {
        return demo.not_found(&demo.cart(&headers));
    }
    Html(pages::thank_you(&demo.catalog, &transaction_id, &order)).into_response()
}

impl Demo {
    fn cart(&self, headers: &HeaderMap) -> Cart {
        cookie(headers, cart::COOKIE)
            .map_or_else(Cart::default, |value| Cart::parse(value, &self.catalog))
    }

    fn not_found(&self, cart: &Cart) -> Response {
        (
            StatusCode::NOT_FOUND,
            Html(pages::not_found(&self.catalog, cart)),
        )
            .into_response()
    }
}

/// `response` with the cart cookie set (or cleared when the cart is empty).
fn with_cart(cart: &Cart, response: impl IntoResponse) -> Response {
    let max_age = if cart.is_empty() {
        0
    } else {
        CART_MAX_AGE_SECS
    };
    let cookie = format!(
        "{}={}; Path=/demo; Max-Age={max_age}; HttpOnly; SameSite=Lax",
        cart::COOKIE,
        cart.encode()
    );
    ([(header::SET_COOKIE, cookie)], response).into_response()
}

fn non_empty(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty() && value.len() <= 100).then_some(value)
}

/// The order could not be reported: the shopper is told, the cart is kept.
fn report_failed(error: &ReportError) -> Response {
    tracing::error!(%error, "demo order not reported");
    let status = match error {
        ReportError::Refused(_) | ReportError::Lookup(_) => StatusCode::SERVICE_UNAVAILABLE,
        ReportError::NoSite | ReportError::Rejected(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message =
        "Your order could not be placed just now; your cart is kept. Please try again in a moment.";
    (status, [(header::RETRY_AFTER, "2")], message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cart_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            "a=1; storepulse_demo_cart=SKU-001:2"
                .parse()
                .expect("header"),
        );
        headers.append(header::COOKIE, "b=2".parse().expect("header"));
        assert_eq!(cookie(&headers, cart::COOKIE), Some("SKU-001:2"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
