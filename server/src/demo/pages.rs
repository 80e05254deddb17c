//! The demo store's HTML, rendered on the server with Leptos' `view!` (text
//! and attributes escaped by construction). These pages are plain documents
//! without the dashboard's WASM: a classic multi-page shop, the kind most
//! stores are, with the tracker embedded the way a store owner embeds it.
//!
//! What each page reports to Storepulse travels in `data-track` attributes
//! (JSON lists of `storepulse(name, params)` calls) that `/demo/shop.js`
//! replays: on load for the `<body>`, on submit for forms.

use leptos::prelude::*;
use serde_json::{json, Value};

use super::{
    cart::Cart,
    catalog::{Catalog, Product},
};

/// The store's name, as shoppers see it.
pub const SHOP_NAME: &str = "Spree Supply Co.";
/// The demo site's currency: catalog prices are in it.
pub const CURRENCY: &str = "EUR";

/// What every page has around its main content.
pub struct Frame<'a> {
    pub title: String,
    pub catalog: &'a Catalog,
    pub cart_units: i64,
    /// Calls made when the page loads.
    pub track: Value,
}

/// A whole HTML document.
pub fn document(frame: Frame<'_>, main: impl IntoView + 'static) -> String {
    let categories = frame
        .catalog
        .categories()
        .map(|(name, slug)| view! { <a href=format!("/demo/c/{slug}")>{name}</a> })
        .collect_view();
    // Set as escaped inner HTML, not as a text child: with
    // `erase_components` Leptos ends an element's children with a `<!>`
    // hydration marker, and inside `<title>` (raw text to the parser) the
    // browser, and so the tracker, would read it as part of the title.
    let title = html_escape::encode_text(&format!("{} · {SHOP_NAME}", frame.title)).into_owned();
    let cart_label = format!("Cart ({})", frame.cart_units);
    let html = view! {
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <title inner_html=title></title>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href="/demo/shop.css" />
                <script defer src="/tracker.js" data-site="demo"></script>
                <script defer src="/demo/shop.js"></script>
            </head>
            <body data-track=frame.track.to_string()>
                <p class="demo-banner">
                    "This is Storepulse's demo store: browse, add to cart and check out, then "
                    <a href="/" class="dashboard-link">"open the dashboard"</a>
                    " to see it arrive."
                </p>
                <header class="shop-header">
                    <a class="logo" href="/demo">{SHOP_NAME}</a>
                    <nav aria-label="Categories">{categories}</nav>
                    <form class="search" action="/demo/search" method="get" role="search">
                        <input type="search" name="q" placeholder="Search products" aria-label="Search products" />
                        <button type="submit">"Search"</button>
                    </form>
                    <a class="cart-link" href="/demo/cart">{cart_label}</a>
                </header>
                <main>{main}</main>
                <footer class="shop-footer">
                    {format!("{SHOP_NAME} is a made-up shop. Products, brands and prices are generated.")}
                </footer>
            </body>
        </html>
    };
    format!("<!DOCTYPE html>{}", html.to_html())
}

/// `€1,234.50` from minor units: the dashboard's formatting, in the demo
/// currency.
pub fn money(minor: i64) -> String {
    app::stats::money(minor, CURRENCY)
}

/// A decimal number of currency units for the tracker (GA4 wants numbers).
/// Exact: two decimals print back as they were.
pub fn amount(minor: i64) -> Value {
    json!(minor as f64 / 100.0)
}

/// A GA4 item.
pub fn item(product: &Product, quantity: i64) -> Value {
    json!({
        "item_id": product.sku,
        "item_name": product.name,
        "item_category": product.category,
        "item_brand": product.brand,
        "price": amount(product.price_minor),
        "quantity": quantity,
    })
}

/// A `storepulse(name, params)` call with the usual e-commerce parameters.
pub fn ecommerce(name: &str, lines: &[(&Product, i64)]) -> Value {
    let value: i64 = lines.iter().map(|(p, q)| p.price_minor * q).sum();
    let items: Vec<Value> = lines.iter().map(|(p, q)| item(p, *q)).collect();
    json!([name, { "currency": CURRENCY, "value": amount(value), "items": items }])
}

fn product_card(product: &Product) -> impl IntoView {
    let href = format!("/demo/p/{}", product.slug);
    view! {
        <li class="card" data-price=product.price_minor data-name=product.name.clone()>
            <a href=href>
                <span class="swatch" data-category=product.category_slug aria-hidden="true">
                    {product.name.chars().next().unwrap_or('?').to_string()}
                </span>
                <span class="name">{product.name.clone()}</span>
            </a>
            <span class="brand">{product.brand.clone()}</span>
            <span class="price">{money(product.price_minor)}</span>
        </li>
    }
}

fn grid(products: &[&Product]) -> impl IntoView {
    let cards = products.iter().map(|p| product_card(p)).collect_view();
    view! { <ul class="grid" id="products">{cards}</ul> }
}

/// `/demo`: a few products from every category.
pub fn home(catalog: &Catalog, cart: &Cart) -> String {
    let featured: Vec<&Product> = catalog
        .categories()
        .flat_map(|(_, slug)| catalog.in_category(slug).take(2))
        .collect();
    let lines: Vec<(&Product, i64)> = featured.iter().map(|p| (*p, 1)).collect();
    let mut list = ecommerce("view_item_list", &lines);
    list[1]["item_list_name"] = json!("Featured");
    let main = view! {
        <section class="hero">
            <h1>"Good things for everyday life"</h1>
            <p>"Electronics, clothing, books, sports gear and things for home and garden, shipped from Berlin."</p>
        </section>
        <h2>"Featured"</h2>
        {grid(&featured)}
    };
    document(frame("Home", catalog, cart, json!([list])), main)
}

/// `/demo/c/{slug}`: one category, sortable in the browser.
pub fn category(catalog: &Catalog, cart: &Cart, name: &str, slug: &str) -> String {
    let products: Vec<&Product> = catalog.in_category(slug).collect();
    let lines: Vec<(&Product, i64)> = products.iter().map(|p| (*p, 1)).collect();
    let mut list = ecommerce("view_item_list", &lines);
    list[1]["item_list_name"] = json!(name);
    let main = view! {
        <h1>{name.to_owned()}</h1>
        <p class="sort">
            "Sort by "
            <a href="?sort=featured" data-sort="featured">"featured"</a>
            " · "
            <a href="?sort=price" data-sort="price">"price"</a>
            " · "
            <a href="?sort=name" data-sort="name">"name"</a>
        </p>
        {grid(&products)}
    };
    document(frame(name, catalog, cart, json!([list])), main)
}

/// `/demo/p/{slug}`: a product with its add-to-cart form.
pub fn product(catalog: &Catalog, cart: &Cart, product: &Product) -> String {
    let add = json!([ecommerce("add_to_cart", &[(product, 1)])]).to_string();
    let related: Vec<&Product> = catalog
        .in_category(product.category_slug)
        .filter(|p| p.sku != product.sku)
        .take(4)
        .collect();
    let quantities = (1..=5)
        .map(|n| view! { <option value=n>{n}</option> })
        .collect_view();
    let main = view! {
        <nav class="crumbs" aria-label="Breadcrumb">
            <a href="/demo">"Home"</a>
            " / "
            <a href=format!("/demo/c/{}", product.category_slug)>{product.category}</a>
        </nav>
        <article class="product">
            <span class="swatch large" data-category=product.category_slug aria-hidden="true">
                {product.name.chars().next().unwrap_or('?').to_string()}
            </span>
            <div>
                <h1>{product.name.clone()}</h1>
                <p class="brand">{format!("by {}", product.brand)}</p>
                <p class="price">{money(product.price_minor)}</p>
                <p>{product.description.clone()}</p>
                <form method="post" action="/demo/cart/add" data-track=add>
                    <input type="hidden" name="sku" value=product.sku.clone() />
                    <label>"Quantity " <select name="quantity">{quantities}</select></label>
                    <button type="submit" class="primary">"Add to cart"</button>
                </form>
                <p class="sku">{format!("Item {}", product.sku)}</p>
            </div>
        </article>
        <h2>"You may also like"</h2>
        {grid(&related)}
    };
    let track = json!([ecommerce("view_item", &[(product, 1)])]);
    document(frame(&product.name, catalog, cart, track), main)
}

/// `/demo/search?q=`: results and a `search` event.
pub fn search(catalog: &Catalog, cart: &Cart, query: &str) -> String {
    let found = catalog.search(query, 50);
    let heading = format!("Results for “{query}”");
    let summary = match found.len() {
        0 => "Nothing matched. Try a category name, a brand or a kind of product.".to_owned(),
        1 => "1 product".to_owned(),
        n => format!("{n} products"),
    };
    let main = view! {
        <h1>{heading}</h1>
        <p>{summary}</p>
        {grid(&found)}
    };
    let track = json!([["search", { "search_term": query }]]);
    document(frame("Search", catalog, cart, track), main)
}

/// `/demo/cart`: lines with remove buttons and the way to checkout.
pub fn cart(catalog: &Catalog, cart: &Cart) -> String {
    let priced = cart.priced(catalog);
    let rows = priced
        .iter()
        .map(|(product, quantity)| {
            let remove =
                json!([ecommerce("remove_from_cart", &[(product, *quantity)])]).to_string();
            view! {
                <tr>
                    <td><a href=format!("/demo/p/{}", product.slug)>{product.name.clone()}</a></td>
                    <td class="num">{*quantity}</td>
                    <td class="num">{money(product.price_minor * quantity)}</td>
                    <td>
                        <form method="post" action="/demo/cart/remove" data-track=remove>
                            <input type="hidden" name="sku" value=product.sku.clone() />
                            <button type="submit" class="link">"Remove"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let total = money(cart.total_minor(catalog));
    let main = if cart.is_empty() {
        view! {
            <h1>"Your cart"</h1>
            <p>"Your cart is empty. " <a href="/demo">"Keep shopping"</a></p>
        }
        .into_any()
    } else {
        view! {
            <h1>"Your cart"</h1>
            <table class="lines">
                <thead><tr><th>"Product"</th><th class="num">"Qty"</th><th class="num">"Amount"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
                <tfoot><tr><th>"Total"</th><td></td><td class="num total">{total}</td><td></td></tr></tfoot>
            </table>
            <p><a class="button primary" href="/demo/checkout">"Checkout"</a></p>
        }
        .into_any()
    };
    document(frame("Cart", catalog, cart, json!([])), main)
}

/// `/demo/checkout`: `begin_checkout` and the order form.
pub fn checkout(catalog: &Catalog, cart: &Cart, name: &str, email: &str) -> String {
    let priced = cart.priced(catalog);
    let total = money(cart.total_minor(catalog));
    let summary = priced
        .iter()
        .map(|(p, q)| view! { <li>{format!("{q} × {}", p.name)}</li> })
        .collect_view();
    let main = view! {
        <h1>"Checkout"</h1>
        <div class="checkout">
            <form method="post" action="/demo/checkout" class="stack">
                <label>"Name" <input name="name" required value=name.to_owned() autocomplete="name" /></label>
                <label>"Email" <input name="email" type="email" required value=email.to_owned() autocomplete="email" /></label>
                <p class="hint">"This is a demo: nothing is charged and nothing is shipped."</p>
                <input type="hidden" name="visitor" value="" />
                <input type="hidden" name="session" value="" />
                <button type="submit" class="primary">{format!("Place order · {total}")}</button>
            </form>
            <aside>
                <h2>"Order summary"</h2>
                <ul>{summary}</ul>
                <p class="total">{total.clone()}</p>
            </aside>
        </div>
    };
    let track = json!([ecommerce("begin_checkout", &priced)]);
    document(frame("Checkout", catalog, cart, track), main)
}

/// `/demo/order/{id}`: the thank-you page with the browser's `purchase`.
pub fn thank_you(catalog: &Catalog, transaction_id: &str, order: &Cart) -> String {
    let priced = order.priced(catalog);
    let mut purchase = ecommerce("purchase", &priced);
    purchase[1]["transaction_id"] = json!(transaction_id);
    let lines = priced
        .iter()
        .map(|(p, q)| view! { <li>{format!("{q} × {} — {}", p.name, money(p.price_minor * q))}</li> })
        .collect_view();
    let main = view! {
        <h1>"Thank you for your order"</h1>
        <p>"Order " <strong class="order-id">{transaction_id.to_owned()}</strong> " is confirmed."</p>
        <ul>{lines}</ul>
        <p class="total">{money(order.total_minor(catalog))}</p>
        <p>
            <a href="/demo">"Continue shopping"</a>
            " or "
            <a href="/" class="dashboard-link">"see this order on the dashboard"</a>
        </p>
    };
    let empty = Cart::default();
    document(frame("Thank you", catalog, &empty, json!([purchase])), main)
}

/// A shop page for what does not exist (sent with status 404).
pub fn not_found(catalog: &Catalog, cart: &Cart) -> String {
    let main = view! {
        <h1>"Not found"</h1>
        <p>"We could not find that page. " <a href="/demo">"Back to the shop"</a></p>
    };
    document(frame("Not found", catalog, cart, json!([])), main)
}

fn frame<'a>(title: &str, catalog: &'a Catalog, cart: &Cart, track: Value) -> Frame<'a> {
    Frame {
        title: title.to_owned(),
        catalog,
        cart_units: cart.units(),
        track,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::catalog::SEED;

    #[test]
    fn money_groups_thousands_and_keeps_cents() {
        assert_eq!(money(0), "€0.00");
        assert_eq!(money(1_299), "€12.99");
        assert_eq!(money(123_456_789), "€1,234,567.89");
        assert_eq!(money(-505), "-€5.05");
    }

    #[test]
    fn amounts_print_back_exactly() {
        for minor in [1, 10, 1_299, 3_897, 89_999, 123_456_701] {
            let printed = amount(minor).to_string();
            let parsed = rust_decimal::Decimal::from_str_exact(&printed).expect("decimal");
            assert_eq!(
                parsed * rust_decimal::Decimal::from(100),
                minor.into(),
                "{printed}"
            );
        }
    }

    #[test]
    fn text_from_products_is_escaped() {
        let catalog = Catalog::generate(SEED);
        let mut product = catalog.products()[0].clone();
        product.name = "<img src=x onerror=alert(1)>".to_owned();
        let html = self::product(&catalog, &Cart::default(), &product);
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn a_product_page_reports_view_item_with_the_price() {
        let catalog = Catalog::generate(SEED);
        let product = &catalog.products()[3];
        let html = self::product(&catalog, &Cart::default(), product);
        assert!(html.starts_with("<!DOCTYPE html><html"));
        assert!(html.contains("view_item"));
        assert!(html.contains(&product.sku));
        assert!(html.contains(&money(product.price_minor)));
    }
}
