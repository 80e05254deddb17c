//! Wire payload → validated [`Event`] or [`Rejection`].
//!
//! The wire types are private to this module: the only way out is
//! [`parse_event`], which checks every bound in [`Limits`] and the protocol
//! rules (design.md, "Event protocol v1"). Envelopes are judged as a whole
//! ([`parse_envelope`]); the events inside one by one, so a bad event never
//! costs its good neighbours.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{value::RawValue, Map, Value};

use super::{
    enrich,
    event::{Client, Event, EventType, Item, Money, Source},
    money::{parse_minor, Currency, MoneyError, MAX_MINOR},
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
    #[serde(default)]
    items: Vec<WireItem>,
    transaction_id: Option<String>,
    search_term: Option<String>,
    #[serde(default)]
    props: Map<String, Value>,
}

#[derive(Deserialize)]
struct WireItem {
    item_id: Option<String>,
    item_name: Option<String>,
    item_category: Option<String>,
    item_brand: Option<String>,
    price: Option<Box<RawValue>>,
    quantity: Option<i64>,
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
    let currency = match opt_text("currency", wire.currency, 3)? {
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
    if kind.is_order() {
        for (field, missing) in [
            ("transaction_id", transaction_id.is_none()),
            ("currency", currency.is_none()),
            ("value", money.is_none()),
        ] {
            if missing {
                let detail = format!("{field} is required for {}", kind.as_str());
                return Err(Rejection::new(Reason::MissingField, detail));
            }
        }
    }
    let items = items(wire.items, money_currency, limits)?;
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
        money,
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
        .map(|item| {
            let name_len = limits.max_name_len;
            let item_id = opt_text("item_id", item.item_id, limits.max_id_len)?;
            let item_name = opt_text("item_name", item.item_name, name_len)?;
            let quantity = item.quantity.unwrap_or(1);
            if quantity <= 0 || quantity > 1_000_000 {
                return Err(Rejection::new(
                    Reason::InvalidItem,
                    "quantity must be a whole number from 1 to 1000000",
                ));
            }
            let price = match item.price {
                Some(raw) => Some(amount("price", &raw, currency)?),
                None => None,
            };
            if price.is_some_and(|p| p.checked_mul(quantity).is_none_or(|line| line > MAX_MINOR)) {
                return Err(Rejection::new(
                    Reason::InvalidValue,
                    format!("price × quantity is over {MAX_MINOR} minor units"),
                ));
            }
            let item_id = item_id.or_else(|| item_name.clone()).ok_or_else(|| {
                Rejection::new(Reason::InvalidItem, "each item needs item_id or item_name")
            })?;
            Ok(Item {
                item_name: item_name.unwrap_or_else(|| item_id.clone()),
                item_id,
                item_category: opt_text("item_category", item.item_category, name_len)?
                    .unwrap_or_default(),
                item_brand: opt_text("item_brand", item.item_brand, name_len)?.unwrap_or_default(),
                price,
                quantity,
            })
        })
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
    use super::host_allowed;

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
