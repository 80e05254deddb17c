//! The traffic simulator's shoppers: sessions that browse, search, add and
//! remove from the cart, abandon or check out and buy, from a store model
//! built with `fake` (the demo store's catalog) and a seed. Pure: the same
//! seed, session number and start time give the same events, ids included,
//! so a run can be replayed, written to a file or compared with a server.
//!
//! The `simulate` binary sends these sessions through the real endpoints.

use chrono::{DateTime, Duration, Utc};
use fake::rand::{rngs::StdRng, seq::IndexedRandom as _, RngExt as _, SeedableRng as _};
use serde_json::{json, Value};

use crate::demo::catalog::{Catalog, Product};

/// How shoppers behave: each a probability in `0.0..=1.0`.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// A session views at least one product.
    pub view_product: f64,
    /// A session that viewed products adds one to the cart.
    pub add_to_cart: f64,
    /// A session with a cart removes a line again.
    pub remove: f64,
    /// A session with a cart begins checkout.
    pub checkout: f64,
    /// A session that began checkout buys.
    pub purchase: f64,
    /// A session searches.
    pub search: f64,
    /// A visitor comes from the mobile app rather than the website.
    pub app: f64,
    /// A visitor is a returning customer with a `user_id`.
    pub returning: f64,
    /// An order is refunded later (1 hour to 7 days after the purchase).
    pub refund: f64,
}

impl Default for Behaviour {
    /// Rates in the range e-commerce benchmarks report (a 2–3% conversion).
    fn default() -> Self {
        Self {
            view_product: 0.6,
            add_to_cart: 0.15,
            remove: 0.2,
            checkout: 0.45,
            purchase: 0.55,
            search: 0.25,
            app: 0.2,
            returning: 0.3,
            refund: 0.08,
        }
    }
}

/// Devices with a User-Agent each, and how often they come.
pub const DEVICES: &[(&str, &str, u32)] = &[
    (
        "mobile",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        55,
    ),
    (
        "desktop",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        38,
    ),
    (
        "tablet",
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        7,
    ),
];

/// Where visits come from: (referrer, utm query), weighted.
const SOURCES: &[(Option<&str>, Option<&str>, u32)] = &[
    (None, None, 35),
    (Some("https://www.google.com/"), None, 30),
    (
        Some("https://www.instagram.com/"),
        Some("utm_source=instagram&utm_medium=social&utm_campaign=autumn"),
        12,
    ),
    (
        None,
        Some("utm_source=newsletter&utm_medium=email&utm_campaign=weekly"),
        13,
    ),
    (Some("https://www.bing.com/"), None, 10),
];

/// One simulated visit: who, from which device, and its events in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub user_agent: &'static str,
    pub device: &'static str,
    /// Wire-format events (docs/protocol.md).
    pub events: Vec<Value>,
    /// The order, if the session bought: (transaction id, value in minor units).
    pub order: Option<(String, i64)>,
    /// The shop's backend refunding that order later, as one wire event
    /// (`source: server`); its `ts` may lie in the future of the session.
    pub refund: Option<Value>,
}

/// Makes session number `n` of the run with `seed`, starting at `start`.
pub fn session(
    catalog: &Catalog,
    behaviour: &Behaviour,
    seed: u64,
    n: u64,
    start: DateTime<Utc>,
) -> Session {
    let rng = &mut StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n);
    let (device, user_agent, _) = *weighted(rng, DEVICES, |d| d.2);
    let (referrer, utm, _) = *weighted(rng, SOURCES, |s| s.2);
    let app = rng.random_bool(behaviour.app);
    let customer = rng
        .random_bool(behaviour.returning)
        .then(|| format!("cust-{}", rng.random_range(1..=5_000)));
    let visitor = match &customer {
        Some(c) => format!("v-{c}"),
        None => format!("v-{seed}-{n}"),
    };
    let mut s = Builder {
        events: Vec::new(),
        at: start,
        seq: 0,
        id: format!("sim-{seed}-{n}"),
        visitor,
        session: format!("s-{seed}-{n}"),
        customer,
        source: if app { "app" } else { "web" },
        referrer: referrer.map(str::to_owned),
    };
    let landing = match utm {
        Some(q) => format!("https://shop.example/?{q}"),
        None => "https://shop.example/".to_owned(),
    };
    s.push(
        rng,
        json!({"type": "page_view", "url": landing, "title": "Home"}),
    );
    s.referrer = None;
    if rng.random_bool(behaviour.search) {
        let term = catalog
            .products()
            .choose(rng)
            .map_or("gift", |p| p.name.split(' ').next_back().unwrap_or("gift"));
        s.push(rng, json!({"type": "search", "search_term": term.to_lowercase(), "url": "https://shop.example/search"}));
    }
    let mut cart: Vec<(&Product, i64)> = Vec::new();
    if rng.random_bool(behaviour.view_product) {
        let views = rng.random_range(1..=4);
        let mut viewed = Vec::new();
        for _ in 0..views {
            let product = catalog.products().choose(rng).expect("a catalog");
            s.push(
                rng,
                with_items("view_item", &[(product, 1)], &product_url(product)),
            );
            viewed.push(product);
        }
        if rng.random_bool(behaviour.add_to_cart) {
            let product = *viewed.choose(rng).expect("viewed one");
            let quantity = if rng.random_bool(0.2) { 2 } else { 1 };
            cart.push((product, quantity));
            s.push(
                rng,
                with_items("add_to_cart", &[(product, quantity)], &product_url(product)),
            );
            if rng.random_bool(0.3) {
                let other = *viewed.choose(rng).expect("viewed one");
                if other.sku != product.sku {
                    cart.push((other, 1));
                    s.push(
                        rng,
                        with_items("add_to_cart", &[(other, 1)], &product_url(other)),
                    );
                }
            }
        }
    }
    if cart.len() > 1 && rng.random_bool(behaviour.remove) {
        let removed = cart.pop().expect("two lines");
        s.push(
            rng,
            with_items("remove_from_cart", &[removed], "https://shop.example/cart"),
        );
    }
    let mut order = None;
    let mut refund = None;
    if !cart.is_empty() && rng.random_bool(behaviour.checkout) {
        s.push(
            rng,
            with_items("begin_checkout", &cart, "https://shop.example/checkout"),
        );
        if rng.random_bool(behaviour.purchase) {
            let transaction = format!("SIM-{seed}-{n}");
            let mut purchase = with_items("purchase", &cart, "https://shop.example/thank-you");
            purchase["transaction_id"] = json!(transaction);
            // Prices include 19% VAT; shipping is 4.90 below 50.00, free above.
            let subtotal: i64 = cart.iter().map(|(p, q)| p.price_minor * q).sum();
            let shipping = if subtotal < 5_000 { 490 } else { 0 };
            let value = subtotal + shipping;
            let tax = value - (value as f64 / 1.19).round() as i64;
            let cents = |minor: i64| format!("{}.{:02}", minor / 100, minor % 100);
            purchase["value"] = json!(value as f64 / 100.0);
            purchase["shipping"] = json!(cents(shipping));
            purchase["tax"] = json!(cents(tax));
            s.push(rng, purchase);
            if rng.random_bool(behaviour.refund) {
                // The whole order, its tax and shipping with it.
                let later = s.at + Duration::minutes(rng.random_range(60..7 * 24 * 60));
                refund = Some(json!({
                    "type": "refund", "id": format!("{}-refund", s.id), "source": "server",
                    "ts": later.timestamp_millis(), "visitor": s.visitor, "transaction_id": transaction,
                    "currency": "EUR", "value": value as f64 / 100.0,
                    "tax": cents(tax), "shipping": cents(shipping),
                }));
            }
            order = Some((transaction, value));
        }
    }
    Session {
        user_agent,
        device,
        events: s.events,
        order,
        refund,
    }
}

/// The signed server-side report of a session's order (what a shop's
/// backend sends), as one wire event.
pub fn server_purchase(session: &Session) -> Option<Value> {
    let purchase = session.events.iter().find(|e| e["type"] == "purchase")?;
    let mut event = purchase.clone();
    event["id"] = json!(format!(
        "{}-srv",
        purchase["id"].as_str().unwrap_or_default()
    ));
    event["source"] = json!("server");
    Some(event)
}

struct Builder {
    events: Vec<Value>,
    at: DateTime<Utc>,
    seq: u32,
    id: String,
    visitor: String,
    session: String,
    customer: Option<String>,
    source: &'static str,
    referrer: Option<String>,
}

impl Builder {
    /// Adds an event a few seconds after the last one.
    fn push(&mut self, rng: &mut StdRng, mut event: Value) {
        self.seq += 1;
        self.at += Duration::milliseconds(rng.random_range(2_000..40_000));
        event["id"] = json!(format!("{}-{}", self.id, self.seq));
        event["ts"] = json!(self.at.timestamp_millis());
        event["visitor"] = json!(self.visitor);
        event["session"] = json!(self.session);
        event["source"] = json!(self.source);
        if let Some(customer) = &self.customer {
            event["user_id"] = json!(customer);
        }
        if let Some(referrer) = &self.referrer {
            event["referrer"] = json!(referrer);
        }
        self.events.push(event);
    }
}

fn with_items(kind: &str, lines: &[(&Product, i64)], url: &str) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(p, q)| {
            json!({"item_id": p.sku, "item_name": p.name, "item_category": p.category,
                   "item_brand": p.brand, "price": p.price_minor as f64 / 100.0, "quantity": q})
        })
        .collect();
    let value: i64 = lines.iter().map(|(p, q)| p.price_minor * q).sum();
    json!({"type": kind, "url": url, "currency": "EUR", "value": value as f64 / 100.0, "items": items})
}

fn product_url(product: &Product) -> String {
    format!("https://shop.example/p/{}", product.slug)
}

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut pick = rng.random_range(0..total);
    for item in items {
        let w = weight(item);
        if pick < w {
            return item;
        }
        pick -= w;
    }
    &items[items.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::catalog::SEED;
    use crate::ingest::{
        event::Client,
        money::Currency,
        parse::{parse_event, Context, Limits},
    };

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).expect("time")
    }

    #[test]
    fn the_same_seed_gives_the_same_sessions_and_another_seed_does_not() {
        let catalog = Catalog::generate(SEED);
        let b = Behaviour::default();
        for n in 0..50 {
            assert_eq!(
                session(&catalog, &b, 7, n, start()),
                session(&catalog, &b, 7, n, start())
            );
        }
        let a: Vec<_> = (0..50)
            .map(|n| session(&catalog, &b, 7, n, start()).events)
            .collect();
        let c: Vec<_> = (0..50)
            .map(|n| session(&catalog, &b, 8, n, start()).events)
            .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn every_generated_event_passes_the_servers_validation() {
        let catalog = Catalog::generate(SEED);
        let limits = Limits::default();
        let client = Client {
            device: "desktop",
            browser: "Chrome".into(),
            os: "Windows".into(),
        };
        let derived = || "v-derived".to_owned();
        let now = Utc::now();
        for n in 0..2_000 {
            let s = session(&catalog, &Behaviour::default(), 1, n, now);
            let last = s.events.last().and_then(|e| e["ts"].as_i64()).expect("ts");
            let cx = Context {
                site_id: 1,
                site_currency: Currency::parse("EUR").expect("EUR"),
                tiers: (2_000, 10_000),
                received_at: now,
                sent_at: Some(last),
                client: &client,
                derived_visitor: &derived,
                verified: false,
                limits: &limits,
                domains: &[],
            };
            for event in s.events.iter().chain(server_purchase(&s).as_ref()) {
                let raw = serde_json::value::to_raw_value(event).expect("raw");
                if let Err(rejection) = parse_event(&raw, &cx) {
                    panic!("session {n}: {event} was rejected: {rejection}");
                }
            }
            // A refund is sent when it happens, days later.
            if let Some(refund) = &s.refund {
                let cx = Context {
                    sent_at: refund["ts"].as_i64(),
                    ..cx
                };
                let raw = serde_json::value::to_raw_value(refund).expect("raw");
                if let Err(rejection) = parse_event(&raw, &cx) {
                    panic!("session {n}: {refund} was rejected: {rejection}");
                }
            }
        }
    }

    #[test]
    fn a_large_run_converts_at_the_configured_rates() {
        let catalog = Catalog::generate(SEED);
        let b = Behaviour::default();
        let runs = 20_000;
        let (mut viewed, mut carted, mut checked_out, mut bought, mut app) = (0, 0, 0, 0, 0);
        for n in 0..runs {
            let s = session(&catalog, &b, 3, n, start());
            let has = |kind: &str| s.events.iter().any(|e| e["type"] == kind);
            viewed += u32::from(has("view_item"));
            carted += u32::from(has("add_to_cart"));
            checked_out += u32::from(has("begin_checkout"));
            bought += u32::from(has("purchase"));
            app += u32::from(s.events[0]["source"] == "app");
        }
        let near = |got: u32, of: u32, want: f64| {
            let rate = f64::from(got) / f64::from(of);
            assert!(
                (rate - want).abs() < 0.03,
                "rate {rate:.3}, configured {want}"
            );
        };
        near(viewed, runs as u32, b.view_product);
        near(carted, viewed, b.add_to_cart);
        near(checked_out, carted, b.checkout);
        near(bought, checked_out, b.purchase);
        near(app, runs as u32, b.app);
    }

    #[test]
    fn orders_carry_shipping_and_tax_and_some_are_refunded_later() {
        let catalog = Catalog::generate(SEED);
        let b = Behaviour::default();
        let (mut orders, mut refunds) = (0, 0);
        for n in 0..20_000 {
            let s = session(&catalog, &b, 5, n, start());
            let Some((transaction, value)) = &s.order else {
                assert!(s.refund.is_none());
                continue;
            };
            orders += 1;
            let purchase = s
                .events
                .iter()
                .find(|e| e["type"] == "purchase")
                .expect("purchase");
            let items: i64 = purchase["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| {
                    (i["price"].as_f64().unwrap() * 100.0).round() as i64
                        * i["quantity"].as_i64().unwrap()
                })
                .sum();
            let shipping = if items < 5_000 { 490 } else { 0 };
            assert_eq!(*value, items + shipping);
            assert_eq!(
                (purchase["value"].as_f64().unwrap() * 100.0).round() as i64,
                *value
            );
            assert!(purchase["tax"].as_str().is_some_and(|t| t.contains('.')));
            assert_eq!(
                purchase["shipping"],
                json!(if shipping == 0 { "0.00" } else { "4.90" })
            );
            if let Some(refund) = &s.refund {
                refunds += 1;
                assert_eq!(refund["transaction_id"], json!(transaction));
                assert_eq!(refund["value"], purchase["value"]);
                let after = refund["ts"].as_i64().unwrap() - purchase["ts"].as_i64().unwrap();
                assert!(
                    (3_600_000..7 * 86_400_000).contains(&after),
                    "{after} ms later"
                );
            }
        }
        let rate = f64::from(refunds) / f64::from(orders);
        assert!(
            orders > 200 && (rate - b.refund).abs() < 0.03,
            "{refunds} of {orders}"
        );
    }
}
