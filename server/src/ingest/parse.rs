//! Wire payload → validated [`Event`] or [`Rejection`].
//!
//! The wire types are private to this module: the only way out is
//! [`parse_event`], which checks every bound in [`Limits`] and the protocol
//! rules (docs/protocol.md). Envelopes are judged as a whole
//! ([`parse_envelope`]); the events inside one by one, so a bad event never
//! costs its good neighbours.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{value::RawValue, Map, Value};

use super::{
    enrich,
    event::{Client, Event, EventType, Item, Money, Source},
    money::{parse_minor, Currency, MoneyError, MAX_MINOR},
    refund,
    rejection::{Reason, Rejection},
};

/// Configurable bounds on what one event may contain.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_events_per_batch: usize,
    pub max_id_len: usize,
    pub max_name_len: usize,
    pub max_text_len: usize,
    pub max_url_len: usize,
    pub max_items: usize,
    pub max_props: usize,
    /// How far ahead of the server's clock an event may claim to be.
    pub max_future_ms: i64,
    /// How old an event may be on the live path (imports have their own).
    pub max_age_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_events_per_batch: 100,
            max_id_len: 100,
            max_name_len: 100,
            max_text_len: 500,
            max_url_len: 2000,
            max_items: 100,
            max_props: 20,
            max_future_ms: 5 * 60 * 1000,
            max_age_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// A batch as sent, with each event still raw (kept for dead letters).
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    pub site: String,
    pub sent_at: Option<i64>,
    #[serde(borrow)]
    pub events: Vec<&'a RawValue>,
    /// WebSocket only: the client's sequence number, echoed in the ack.
    pub seq: Option<u64>,
}

/// Why a whole envelope was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("body is not a JSON envelope: {0}")]
    NotAnEnvelope(String),
    #[error("{0} events in one batch, at most {1} allowed")]
    TooManyEvents(usize, usize),
}

pub fn parse_envelope<'a>(
    body: &'a str,
    limits: &Limits,
) -> std::result::Result<Envelope<'a>, EnvelopeError> {
    let envelope: Envelope<'a> =
        serde_json::from_str(body).map_err(|e| EnvelopeError::NotAnEnvelope(e.to_string()))?;
    if envelope.events.len() > limits.max_events_per_batch {
        return Err(EnvelopeError::TooManyEvents(
            envelope.events.len(),
            limits.max_events_per_batch,
        ));
    }
    Ok(envelope)
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    ts: Option<i64>,
    visitor: Option<String>,
    session: Option<String>,
    user_id: Option<String>,
    source: Option<String>,
    url: Option<String>,
    referrer: Option<String>,
    title: Option<String>,
    currency: Option<String>,
    value: Option<Box<RawValue>>,
    tax: Option<Box<RawValue>>,
    shipping: Option<Box<RawValue>>,
    coupon: Option<String>,
    #[serde(default)]
    items: Vec<WireItem>,
    transaction_id: Option<String>,
    search_term: Option<String>,
    #[serde(default)]
    props: Map<String, Value>,
}

/// GA4's item fields; others (`google_business_vertical`, custom item
/// parameters) are not kept.
#[derive(Deserialize)]
struct WireItem {
    item_id: Option<String>,
    item_name: Option<String>,
    item_category: Option<String>,
    item_brand: Option<String>,
    price: Option<Box<RawValue>>,
    quantity: Option<i64>,
    item_variant: Option<String>,
    item_category2: Option<String>,
    item_category3: Option<String>,
    item_category4: Option<String>,
    item_category5: Option<String>,
    affiliation: Option<String>,
    coupon: Option<String>,
    discount: Option<Box<RawValue>>,
    index: Option<Value>,
    item_list_id: Option<String>,
    item_list_name: Option<String>,
    location_id: Option<String>,
    creative_name: Option<String>,
    creative_slot: Option<String>,
    promotion_id: Option<String>,
    promotion_name: Option<String>,
}

/// What the server knows about the request an event came in.
pub struct Context<'a> {
    pub site_id: i32,
    pub site_currency: Currency,
    /// Price tier thresholds in minor units of the site currency.
    pub tiers: (i64, i64),
    pub received_at: DateTime<Utc>,
    pub sent_at: Option<i64>,
    pub client: &'a Client,
    /// Makes the visitor id the server derives when the client sends none.
    pub derived_visitor: &'a dyn Fn() -> String,
    /// The request carried a valid signature from the shop's backend.
    pub verified: bool,
    pub limits: &'a Limits,
    /// Hosts the site's pages are on (their subdomains too); events with a
    /// page URL elsewhere are refused. Empty: any host.
    pub domains: &'a [String],
}

type Result<T> = std::result::Result<T, Rejection>;

/// Parses and validates one raw event.
pub fn parse_event(raw: &RawValue, cx: &Context<'_>) -> Result<Event> {
    let wire: WireEvent = serde_json::from_str(raw.get())
        .map_err(|e| Rejection::new(Reason::Malformed, e.to_string()))?;
    let limits = cx.limits;
    let id = text("id", wire.id, limits.max_id_len)?;
    if id.is_empty() || id.chars().any(char::is_control) {
        return Err(Rejection::new(
            Reason::InvalidId,
            "id must be 1 or more printable characters",
        ));
    }
    let kind = EventType::parse(&wire.kind).ok_or_else(|| {
        Rejection::new(
            Reason::InvalidType,
            "type must be a GA4 e-commerce name or match [a-z][a-z0-9_]{0,39}",
        )
    })?;
    let occurred_at = occurred_at(wire.ts, cx)?;
    let source = match wire.source.as_deref() {
        None | Some("web") => Source::Web,
        Some("app") => Source::App,
        Some("server") => Source::Server,
        Some(_) => {
            return Err(Rejection::new(
                Reason::InvalidSource,
                "source must be web, app or server",
            ))
        }
    };
    let user_id = opt_text("user_id", wire.user_id, limits.max_id_len)?;
    let visitor_id = match opt_text("visitor", wire.visitor, limits.max_id_len)? {
        Some(visitor) => visitor,
        None => match &user_id {
            Some(user) => format!("u-{user}"),
            None => (cx.derived_visitor)(),
        },
    };
    let session_id = match opt_text("session", wire.session, limits.max_id_len)? {
        Some(session) => Some(session),
        None if source != Source::Server => Some(format!("s-{visitor_id}")),
        None => None,
    };
    let url = opt_url("url", wire.url, limits.max_url_len)?;
    // Someone else's pages sending our site key (a copied snippet, or
    // forged traffic): refused, unless the shop's backend signed it.
    if let (Some(url), false, false) = (&url, cx.domains.is_empty(), cx.verified) {
        if !host_allowed(url, cx.domains) {
            return Err(Rejection::new(
                Reason::DomainNotAllowed,
                "url is not on one of the site's domains",
            ));
        }
    }
    let referrer = opt_url("referrer", wire.referrer, limits.max_url_len)?;
    // Longer than a code but short enough to name in the answer: "EURO" is
    // an invalid currency, not a value too long.
    let currency = match opt_text("currency", wire.currency, 32)? {
        Some(code) => Some(Currency::parse(&code).ok_or_else(|| {
            Rejection::new(
                Reason::InvalidCurrency,
                format!("{code:?} is not an ISO 4217 currency"),
            )
        })?),
        None => None,
    };
    let money_currency = currency.unwrap_or(cx.site_currency);
    let money = match wire.value {
        Some(raw) => Some(Money {
            currency: money_currency,
            minor: amount("value", &raw, money_currency)?,
        }),
        None => None,
    };
    let transaction_id = opt_text("transaction_id", wire.transaction_id, limits.max_id_len)?;
    // A refund that names items may leave its value to them.
    let value_from_items = kind == EventType::Refund && !wire.items.is_empty();
    if kind.is_order() {
        for (field, missing) in [
            ("transaction_id", transaction_id.is_none()),
            ("currency", currency.is_none()),
            ("value", money.is_none() && !value_from_items),
        ] {
            if missing {
                let detail = format!("{field} is required for {}", kind.as_str());
                return Err(Rejection::new(Reason::MissingField, detail));
            }
        }
    }
    let items = items(wire.items, money_currency, limits)?;
    // Lines without a price are priced from the order before the refund
    // is stored (`refund::price_refunds`), and the value is set there.
    let money = match money {
        None if value_from_items => refund::total(&items).map(|minor| Money {
            currency: money_currency,
            minor,
        }),
        money => money,
    };
    let order_amount = |field: &str, raw: Option<Box<RawValue>>| {
        raw.map(|raw| amount(field, &raw, money_currency))
            .transpose()
    };
    let tax = order_amount("tax", wire.tax)?;
    let shipping = order_amount("shipping", wire.shipping)?;
    let props = props(wire.props, limits)?;
    let price_tier = enrich::price_tier(
        money.as_ref(),
        &items,
        cx.site_currency,
        money_currency,
        cx.tiers,
    );
    let event = Event {
        site_id: cx.site_id,
        site_currency: cx.site_currency,
        id,
        occurred_at,
        received_at: cx.received_at,
        visitor_id,
        session_id,
        user_id,
        source,
        referrer_host: referrer.as_deref().and_then(enrich::host),
        utm: url
            .as_deref()
            .map(enrich::utm)
            .transpose()?
            .unwrap_or_default(),
        url,
        referrer,
        title: opt_text("title", wire.title, limits.max_text_len)?,
        currency: money_currency,
        money,
        tax,
        shipping,
        coupon: opt_text("coupon", wire.coupon, limits.max_name_len)?,
        transaction_id,
        search_term: opt_text("search_term", wire.search_term, limits.max_name_len)?,
        items,
        props,
        client: cx.client.clone(),
        price_tier,
        verified: cx.verified && kind.is_order(),
        kind,
    };
    stored_text_is_clean(&event)?;
    Ok(event)
}

/// Every string the event will store, the derived ones included (UTM
/// values, the referrer's host, the User-Agent's browser and OS), is free of
/// NUL: PostgreSQL's `text` and `jsonb` refuse it, and one such value would
/// fail the whole flush. The wire fields were checked as they were read;
/// this is the net under everything derived from them.
fn stored_text_is_clean(event: &Event) -> Result<()> {
    let utm = &event.utm;
    let derived = [
        ("referrer host", event.referrer_host.as_deref()),
        ("utm_source", utm.source.as_deref()),
        ("utm_medium", utm.medium.as_deref()),
        ("utm_campaign", utm.campaign.as_deref()),
        ("browser", Some(event.client.browser.as_str())),
        ("os", Some(event.client.os.as_str())),
    ];
    match derived
        .into_iter()
        .find(|(_, v)| v.is_some_and(|v| v.contains('\0')))
    {
        Some((field, _)) => Err(Rejection::new(
            Reason::NulByte,
            format!("{field} contains a NUL byte"),
        )),
        None => Ok(()),
    }
}

/// `time = received_at - (sent_at - ts)`, within the configured window.
fn occurred_at(ts: Option<i64>, cx: &Context<'_>) -> Result<DateTime<Utc>> {
    let Some(ts) = ts else {
        return Ok(cx.received_at);
    };
    let skew = cx.sent_at.map_or(0, |sent| sent.saturating_sub(ts));
    let claimed = match cx.sent_at {
        Some(_) => cx.received_at - Duration::milliseconds(skew.clamp(-1 << 40, 1 << 40)),
        None => DateTime::from_timestamp_millis(ts)
            .ok_or_else(|| Rejection::new(Reason::TimeTooOld, "ts is not a valid time"))?,
    };
    let ahead = (claimed - cx.received_at).num_milliseconds();
    if ahead > cx.limits.max_future_ms {
        return Err(Rejection::new(
            Reason::TimeInFuture,
            format!("event time is {ahead} ms in the future"),
        ));
    }
    if -ahead > cx.limits.max_age_ms {
        return Err(Rejection::new(
            Reason::TimeTooOld,
            format!("event is {} ms old", -ahead),
        ));
    }
    Ok(claimed)
}

fn text(field: &str, value: String, max: usize) -> Result<String> {
    if value.contains('\0') {
        return Err(Rejection::new(
            Reason::NulByte,
            format!("{field} contains a NUL byte"),
        ));
    }
    if value.chars().count() > max {
        return Err(Rejection::new(
            Reason::TooLong,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(value)
}

/// An optional text field; empty strings count as absent.
fn opt_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>> {
    match value {
        Some(v) if !v.is_empty() => text(field, v, max).map(Some),
        _ => Ok(None),
    }
}

/// `url`'s host is one of `domains` or a subdomain of one.
pub fn host_allowed(url: &str, domains: &[String]) -> bool {
    let Some(host) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    domains.iter().any(|domain| {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        host == domain
            || host
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

fn opt_url(field: &str, value: Option<String>, max: usize) -> Result<Option<String>> {
    let Some(url) = opt_text(field, value, max)? else {
        return Ok(None);
    };
    match url::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            Ok(Some(url))
        }
        _ => Err(Rejection::new(
            Reason::InvalidUrl,
            format!("{field} must be an absolute http(s) URL"),
        )),
    }
}

fn amount(field: &str, raw: &RawValue, currency: Currency) -> Result<i64> {
    parse_minor(raw, currency).map_err(|error| {
        let why = match error {
            MoneyError::NotANumber => "is not a decimal number",
            MoneyError::Negative => "is negative",
            MoneyError::OutOfRange => "is out of range",
        };
        Rejection::new(Reason::InvalidValue, format!("{field} {why}"))
    })
}

fn items(wire: Vec<WireItem>, currency: Currency, limits: &Limits) -> Result<Vec<Item>> {
    if wire.len() > limits.max_items {
        let detail = format!("{} items, at most {}", wire.len(), limits.max_items);
        return Err(Rejection::new(Reason::TooManyItems, detail));
    }
    let items: Vec<Item> = wire
        .into_iter()
        .map(|item| item_of(item, currency, limits))
        .collect::<Result<_>>()?;
    // The lines' sum is bounded like one amount, so no fold can wrap.
    let total = items.iter().try_fold(0_i64, |sum, i| {
        sum.checked_add(i.price.unwrap_or(0) * i.quantity)
    });
    if total.is_none_or(|t| t > MAX_MINOR) {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("the items' total is over {MAX_MINOR} minor units"),
        ));
    }
    Ok(items)
}

/// The largest `index` an item may have in its list.
const MAX_INDEX: i64 = 1_000_000;

fn item_of(item: WireItem, currency: Currency, limits: &Limits) -> Result<Item> {
    let (id_len, name_len) = (limits.max_id_len, limits.max_name_len);
    let item_id = opt_text("item_id", item.item_id, id_len)?;
    let item_name = opt_text("item_name", item.item_name, name_len)?;
    let quantity = item.quantity.unwrap_or(1);
    if quantity <= 0 || quantity > 1_000_000 {
        return Err(Rejection::new(
            Reason::InvalidItem,
            "quantity must be a whole number from 1 to 1000000",
        ));
    }
    // Per unit, like the price; a line of either is bounded like an amount.
    let per_unit = |field: &str, raw: Option<Box<RawValue>>| -> Result<Option<i64>> {
        let Some(raw) = raw else { return Ok(None) };
        let minor = amount(field, &raw, currency)?;
        if minor
            .checked_mul(quantity)
            .is_none_or(|line| line > MAX_MINOR)
        {
            return Err(Rejection::new(
                Reason::InvalidValue,
                format!("{field} × quantity is over {MAX_MINOR} minor units"),
            ));
        }
        Ok(Some(minor))
    };
    let price = per_unit("price", item.price)?;
    let discount = per_unit("discount", item.discount)?;
    let index = match item.index {
        None | Some(Value::Null) => None,
        Some(index) => Some(
            index
                .as_i64()
                .filter(|i| (0..=MAX_INDEX).contains(i))
                .ok_or_else(|| {
                    Rejection::new(
                        Reason::InvalidItem,
                        format!("index must be a whole number from 0 to {MAX_INDEX}"),
                    )
                })?,
        ),
    };
    let item_id = item_id.or_else(|| item_name.clone()).ok_or_else(|| {
        Rejection::new(Reason::InvalidItem, "each item needs item_id or item_name")
    })?;
    let name = |field: &str, value: Option<String>| opt_text(field, value, name_len);
    let id = |field: &str, value: Option<String>| opt_text(field, value, id_len);
    Ok(Item {
        item_name: item_name.unwrap_or_else(|| item_id.clone()),
        item_id,
        item_category: name("item_category", item.item_category)?.unwrap_or_default(),
        item_brand: name("item_brand", item.item_brand)?.unwrap_or_default(),
        price,
        quantity,
        item_variant: name("item_variant", item.item_variant)?,
        item_category2: name("item_category2", item.item_category2)?,
        item_category3: name("item_category3", item.item_category3)?,
        item_category4: name("item_category4", item.item_category4)?,
        item_category5: name("item_category5", item.item_category5)?,
        affiliation: name("affiliation", item.affiliation)?,
        coupon: name("coupon", item.coupon)?,
        discount,
        index,
        item_list_id: id("item_list_id", item.item_list_id)?,
        item_list_name: name("item_list_name", item.item_list_name)?,
        location_id: id("location_id", item.location_id)?,
        creative_name: name("creative_name", item.creative_name)?,
        creative_slot: name("creative_slot", item.creative_slot)?,
        promotion_id: id("promotion_id", item.promotion_id)?,
        promotion_name: name("promotion_name", item.promotion_name)?,
    })
}

fn props(props: Map<String, Value>, limits: &Limits) -> Result<Map<String, Value>> {
    if props.len() > limits.max_props {
        let detail = format!("{} props, at most {}", props.len(), limits.max_props);
        return Err(Rejection::new(Reason::InvalidProps, detail));
    }
    for (key, value) in &props {
        text("props key", key.clone(), 40)?;
        match value {
            Value::String(s) => {
                text("props value", s.clone(), limits.max_text_len)?;
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
            Value::Array(_) | Value::Object(_) => {
                return Err(Rejection::new(
                    Reason::InvalidProps,
                    format!("props.{key} must be a scalar"),
                ));
            }
        }
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Parses `event` for a EUR site with the default limits.
    fn parse(event: Value) -> Result<Event> {
        let limits = Limits::default();
        let client = Client::default();
        let cx = Context {
            site_id: 1,
            site_currency: Currency::parse("EUR").unwrap(),
            tiers: (2_000, 10_000),
            received_at: Utc::now(),
            sent_at: None,
            client: &client,
            derived_visitor: &|| "h-1".to_owned(),
            verified: false,
            limits: &limits,
            domains: &[],
        };
        let raw = RawValue::from_string(event.to_string()).unwrap();
        parse_event(&raw, &cx)
    }

    /// A `view_item` in `currency` with one item carrying `fields` too.
    fn with_item(currency: &str, fields: Value) -> Value {
        let mut item = json!({"item_id": "SKU_1", "price": 10.01, "quantity": 3});
        if let (Some(item), Value::Object(fields)) = (item.as_object_mut(), fields) {
            item.extend(fields);
        }
        json!({"id": "e-1", "type": "view_item", "visitor": "v-1", "currency": currency,
               "items": [item]})
    }

    fn refused(event: Value) -> Rejection {
        parse(event).expect_err("refused")
    }

    #[test]
    fn a_currency_that_is_no_code_is_an_invalid_currency() {
        for code in ["EURO", "eu", "XYZ"] {
            let rejection = refused(with_item(code, json!({})));
            assert_eq!(rejection.reason, Reason::InvalidCurrency, "{code}");
            assert!(rejection.to_string().contains(code), "{rejection}");
        }
        let long = "E".repeat(40);
        assert_eq!(refused(with_item(&long, json!({}))).reason, Reason::TooLong);
    }

    #[test]
    fn ga4_item_fields_are_kept_with_money_in_minor_units_of_the_currency() {
        let fields = json!({
            "item_variant": "green", "item_category2": "Adult", "item_category3": "Shirts",
            "item_category4": "Crew", "item_category5": "Short sleeve",
            "affiliation": "Google Merchandise Store", "coupon": "SUMMER_FUN", "discount": 2.22,
            "index": 4, "item_list_id": "related_products", "item_list_name": "Related Products",
            "location_id": "ChIJIQBpAG2ahYAR_6128GcTUEo", "creative_name": "Summer Banner",
            "creative_slot": "featured_app_1", "promotion_id": "P_12345",
            "promotion_name": "Summer Sale", "google_business_vertical": "retail"
        });
        let item = &parse(with_item("USD", fields.clone())).unwrap().items[0];
        assert_eq!(
            (item.price, item.discount, item.index),
            (Some(1001), Some(222), Some(4))
        );
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        assert_eq!(
            [
                &item.item_variant,
                &item.item_category2,
                &item.item_category5,
                &item.affiliation,
                &item.coupon,
                &item.item_list_id,
                &item.item_list_name,
                &item.location_id,
                &item.creative_name,
                &item.creative_slot,
                &item.promotion_id,
                &item.promotion_name,
            ]
            .map(text),
            [
                "green",
                "Adult",
                "Short sleeve",
                "Google Merchandise Store",
                "SUMMER_FUN",
                "related_products",
                "Related Products",
                "ChIJIQBpAG2ahYAR_6128GcTUEo",
                "Summer Banner",
                "featured_app_1",
                "P_12345",
                "Summer Sale",
            ]
        );
        // Stored as JSON with what was given and nothing else.
        let stored = serde_json::to_value(item).unwrap();
        assert_eq!(stored["discount"], 222);
        assert!(stored.get("google_business_vertical").is_none());
        let bare = &parse(with_item("USD", json!({}))).unwrap().items[0];
        assert_eq!(
            serde_json::to_value(bare).unwrap(),
            json!({"item_id": "SKU_1", "item_name": "SKU_1", "item_category": "",
                   "item_brand": "", "price": 1001, "quantity": 3})
        );
        let yen = &parse(with_item("JPY", json!({"price": 1500, "discount": 150}))).unwrap();
        assert_eq!(
            (yen.items[0].price, yen.items[0].discount),
            (Some(1500), Some(150))
        );
    }

    #[test]
    fn item_texts_are_bounded_and_refuse_nul_bytes() {
        let long = "x".repeat(101);
        for field in [
            "item_variant",
            "item_category2",
            "item_category3",
            "item_category4",
            "item_category5",
            "affiliation",
            "coupon",
            "item_list_id",
            "item_list_name",
            "location_id",
            "creative_name",
            "creative_slot",
            "promotion_id",
            "promotion_name",
        ] {
            let why = refused(with_item("USD", json!({ field: long })));
            assert_eq!(
                (why.reason, why.detail.as_str()),
                (
                    Reason::TooLong,
                    format!("{field} is longer than 100 characters").as_str()
                )
            );
            let why = refused(with_item("USD", json!({ field: "a\0b" })));
            assert_eq!(why.reason, Reason::NulByte, "{field}");
            assert!(why.detail.starts_with(field), "{why}");
            let fine = parse(with_item("USD", json!({ field: "x".repeat(100) })));
            assert!(fine.is_ok(), "{field} of 100 characters");
        }
    }

    #[test]
    fn discounts_are_exact_amounts_and_indexes_whole_positions() {
        for (discount, why) in [
            (json!(-1), "discount is negative"),
            (json!("abc"), "discount is not a decimal number"),
            (json!(1e17), "discount is out of range"),
            (
                json!(100_000_000_000.00),
                "discount × quantity is over 10000000000000 minor units",
            ),
        ] {
            let rejection = refused(with_item("USD", json!({ "discount": discount })));
            assert_eq!(
                (rejection.reason, rejection.detail.as_str()),
                (Reason::InvalidValue, why)
            );
        }
        let exact = parse(with_item("USD", json!({"discount": "0.30000000000000004"})));
        assert_eq!(exact.unwrap().items[0].discount, Some(30));
        for index in [json!(-1), json!(1.5), json!("2"), json!(1_000_001)] {
            let why = refused(with_item("USD", json!({ "index": index })));
            assert_eq!(why.reason, Reason::InvalidItem, "{index}");
        }
        let unset = parse(with_item("USD", json!({"index": null}))).unwrap();
        assert_eq!(unset.items[0].index, None);
    }

    fn purchase(extra: Value) -> Value {
        let mut event = json!({"id": "p-1", "type": "purchase", "visitor": "v-1",
                               "transaction_id": "T_1", "currency": "USD", "value": 72.05});
        if let (Some(event), Value::Object(extra)) = (event.as_object_mut(), extra) {
            event.extend(extra);
        }
        event
    }

    #[test]
    fn tax_shipping_and_coupon_are_order_fields_of_their_own() {
        let event = parse(purchase(
            json!({"tax": 3.60, "shipping": "5.99", "coupon": "SUMMER_SALE"}),
        ))
        .unwrap();
        assert_eq!(
            (event.tax, event.shipping, event.coupon.as_deref()),
            (Some(360), Some(599), Some("SUMMER_SALE"))
        );
        assert!(event.props.is_empty());
        let why = refused(purchase(json!({"tax": -1})));
        assert_eq!(
            (why.reason, why.detail.as_str()),
            (Reason::InvalidValue, "tax is negative")
        );
        let why = refused(purchase(json!({"shipping": 1e20})));
        assert_eq!(
            (why.reason, why.detail.as_str()),
            (Reason::InvalidValue, "shipping is out of range")
        );
        let why = refused(purchase(json!({"coupon": "x".repeat(101)})));
        assert_eq!(why.reason, Reason::TooLong);
        let why = refused(purchase(json!({"coupon": "a\0"})));
        assert_eq!(why.reason, Reason::NulByte);
        let plain = parse(purchase(json!({}))).unwrap();
        assert_eq!(
            (plain.tax, plain.shipping, plain.coupon),
            (None, None, None)
        );
    }

    #[test]
    fn a_refund_without_value_takes_it_from_its_items() {
        let refund = |items: Value| {
            json!({"id": "r-1", "type": "refund", "visitor": "v-1", "transaction_id": "T_1",
                   "currency": "USD", "items": items})
        };
        let priced = parse(refund(json!([
            {"item_id": "A", "price": 10.01, "quantity": 2},
            {"item_id": "B", "price": 1, "quantity": 1}
        ])))
        .unwrap();
        assert_eq!(priced.money.map(|m| m.minor), Some(2102));
        assert!(!refund::needs_order(&priced));
        // Priced from the order before it is stored (`refund::price_refunds`).
        let unpriced = parse(refund(json!([{"item_id": "A", "quantity": 1}]))).unwrap();
        assert_eq!(unpriced.money, None);
        assert!(refund::needs_order(&unpriced));
        let why = refused(refund(json!([])));
        assert_eq!(
            (why.reason, why.detail.as_str()),
            (Reason::MissingField, "value is required for refund")
        );
        let mut no_value = purchase(json!({"items": [{"item_id": "A", "price": 1}]}));
        no_value.as_object_mut().unwrap().remove("value");
        assert_eq!(refused(no_value).reason, Reason::MissingField);
    }

    #[test]
    fn a_site_domain_allows_itself_and_its_subdomains_only() {
        let domains = vec!["Shop.Example".to_owned()];
        assert!(host_allowed("https://shop.example/p/1", &domains));
        assert!(host_allowed("https://www.SHOP.example/", &domains));
        assert!(!host_allowed("https://evilshop.example/", &domains));
        assert!(!host_allowed("https://shop.example.evil.test/", &domains));
        assert!(!host_allowed("https://evil.test/?shop.example", &domains));
    }
}
