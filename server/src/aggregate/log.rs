//! The fold log's entries: what an acknowledgement leaves for the fold
//! stage (`fold_pending.body`).
//!
//! The acknowledging transaction decides each new event's [`Fate`] (it
//! holds the order rows then) and appends the counted events with their
//! fates, one row per site, instead of folding them itself. The fold stage
//! ([`super::stage`]) reads many such rows at once and sends them through
//! the one [`super::fold::fold`]. An entry keeps the fields the fold reads;
//! the rest of the event (title, full referrer, props…) is in `events`.
//!
//! The body is JSON: `serde_json` is already how events arrive and how
//! items are stored, it is versioned by its field names, and a human can
//! read a stuck row with `convert_from(body, 'UTF8')`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fold::Fate;
use crate::ingest::{
    event::{
        device_from_stored, tier_from_stored, Client, Event, EventType, Item, Money, Source, Utm,
    },
    money::Currency,
};

/// One counted event of a log row.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    id: String,
    kind: String,
    at: DateTime<Utc>,
    visitor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    referrer_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    utm_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    utm_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    utm_campaign: Option<String>,
    currency: String,
    site_currency: String,
    /// `money`: its currency and minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    money: Option<(String, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shipping: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transaction: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    items: Vec<Item>,
    device: String,
    browser: String,
    os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier: Option<String>,
    verified: bool,
    fate: WireFate,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "is", rename_all = "snake_case")]
enum WireFate {
    Plain,
    NewOrder,
    Verifies {
        hour: DateTime<Utc>,
        currency: String,
        old_minor: i64,
        old_tax: i64,
        old_shipping: i64,
    },
    RefundOf {
        hour: DateTime<Utc>,
    },
}

/// A log row that does not decode (written by another version, or edited
/// by hand): the fold stage leaves it in place and reports it.
#[derive(Debug, thiserror::Error)]
#[error("unreadable fold log entry: {0}")]
pub struct Unreadable(String);

/// The log body of one site's counted events.
pub fn encode<'a>(counted: impl IntoIterator<Item = (&'a Event, Fate)>) -> Vec<u8> {
    let entries: Vec<Entry> = counted
        .into_iter()
        .map(|(e, fate)| Entry {
            id: e.id.clone(),
            kind: e.kind.as_str().to_owned(),
            at: e.occurred_at,
            visitor: e.visitor_id.clone(),
            session: e.session_id.clone(),
            user: e.user_id.clone(),
            source: e.source.as_str().to_owned(),
            url: e.url.clone(),
            referrer_host: e.referrer_host.clone(),
            utm_source: e.utm.source.clone(),
            utm_medium: e.utm.medium.clone(),
            utm_campaign: e.utm.campaign.clone(),
            currency: e.currency.code().to_owned(),
            site_currency: e.site_currency.code().to_owned(),
            money: e.money.map(|m| (m.currency.code().to_owned(), m.minor)),
            tax: e.tax,
            shipping: e.shipping,
            transaction: e.transaction_id.clone(),
            items: e.items.clone(),
            device: e.client.device.to_owned(),
            browser: e.client.browser.clone(),
            os: e.client.os.clone(),
            tier: e.price_tier.map(str::to_owned),
            verified: e.verified,
            fate: match fate {
                Fate::Plain => WireFate::Plain,
                Fate::NewOrder => WireFate::NewOrder,
                Fate::Verifies {
                    hour,
                    currency,
                    old_minor,
                    old_tax,
                    old_shipping,
                } => WireFate::Verifies {
                    hour,
                    currency: currency.code().to_owned(),
                    old_minor,
                    old_tax,
                    old_shipping,
                },
                Fate::RefundOf { hour } => WireFate::RefundOf { hour },
            },
        })
        .collect();
    // Only strings, integers, booleans and timestamps: cannot fail.
    serde_json::to_vec(&entries).unwrap_or_default()
}

/// The counted events of a log body of `site_id`, as the fold takes them.
pub fn decode(site_id: i32, body: &[u8]) -> Result<Vec<(Event, Fate)>, Unreadable> {
    let entries: Vec<Entry> =
        serde_json::from_slice(body).map_err(|e| Unreadable(e.to_string()))?;
    let currency = |code: &str| {
        Currency::parse(code).ok_or_else(|| Unreadable(format!("unknown currency {code:?}")))
    };
    entries
        .into_iter()
        .map(|e| {
            let fate = match e.fate {
                WireFate::Plain => Fate::Plain,
                WireFate::NewOrder => Fate::NewOrder,
                WireFate::Verifies {
                    hour,
                    currency: code,
                    old_minor,
                    old_tax,
                    old_shipping,
                } => Fate::Verifies {
                    hour,
                    currency: currency(&code)?,
                    old_minor,
                    old_tax,
                    old_shipping,
                },
                WireFate::RefundOf { hour } => Fate::RefundOf { hour },
            };
            let money = match e.money {
                Some((code, minor)) => Some(Money {
                    currency: currency(&code)?,
                    minor,
                }),
                None => None,
            };
            let event = Event {
                site_id,
                site_currency: currency(&e.site_currency)?,
                id: e.id,
                kind: EventType::parse(&e.kind)
                    .ok_or_else(|| Unreadable(format!("unknown event type {:?}", e.kind)))?,
                occurred_at: e.at,
                received_at: e.at,
                visitor_id: e.visitor,
                session_id: e.session,
                user_id: e.user,
                source: Source::from_stored(&e.source),
                url: e.url,
                referrer: None,
                referrer_host: e.referrer_host,
                title: None,
                utm: Utm {
                    source: e.utm_source,
                    medium: e.utm_medium,
                    campaign: e.utm_campaign,
                },
                currency: currency(&e.currency)?,
                money,
                tax: e.tax,
                shipping: e.shipping,
                coupon: None,
                transaction_id: e.transaction,
                search_term: None,
                items: e.items,
                props: serde_json::Map::new(),
                client: Client {
                    device: device_from_stored(&e.device),
                    browser: e.browser,
                    os: e.os,
                },
                price_tier: tier_from_stored(e.tier.as_deref()),
                verified: e.verified,
            };
            Ok((event, fate))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold::fold;

    fn rich() -> Event {
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        Event {
            site_id: 7,
            site_currency: eur,
            id: "e-1".into(),
            kind: EventType::Purchase,
            occurred_at: "2026-11-30T10:20:30.123Z".parse().unwrap(),
            received_at: "2026-11-30T10:20:31Z".parse().unwrap(),
            visitor_id: "v-1".into(),
            session_id: Some("s-1".into()),
            user_id: Some("u-1".into()),
            source: Source::App,
            url: Some("https://shop.example/thanks".into()),
            referrer: Some("https://news.example/a".into()),
            referrer_host: Some("news.example".into()),
            title: Some("Thanks".into()),
            utm: Utm {
                source: Some("mail".into()),
                medium: None,
                campaign: Some("winter".into()),
            },
            currency: usd,
            money: Some(Money {
                currency: usd,
                minor: 12_345,
            }),
            tax: Some(100),
            shipping: Some(499),
            coupon: Some("TEN".into()),
            transaction_id: Some("T-1".into()),
            search_term: None,
            items: vec![Item {
                item_id: "SKU-1".into(),
                item_name: "Mug".into(),
                price: Some(1_000),
                quantity: 3,
                item_variant: Some("blue".into()),
                ..Item::default()
            }],
            props: serde_json::Map::new(),
            client: Client {
                device: "tablet",
                browser: "Firefox".into(),
                os: "Android".into(),
            },
            price_tier: Some("high"),
            verified: true,
        }
    }

    #[test]
    fn a_logged_event_folds_exactly_as_the_event() {
        let event = rich();
        let eur = Currency::parse("EUR").unwrap();
        let fates = [
            Fate::Plain,
            Fate::NewOrder,
            Fate::Verifies {
                hour: "2026-11-30T10:15:00Z".parse().unwrap(),
                currency: eur,
                old_minor: 9_000,
                old_tax: 10,
                old_shipping: 20,
            },
            Fate::RefundOf {
                hour: "2026-11-29T08:00:00Z".parse().unwrap(),
            },
        ];
        for fate in fates {
            let body = encode([(&event, fate)]);
            let decoded = decode(7, &body).unwrap();
            assert_eq!(decoded.len(), 1);
            assert_eq!(decoded[0].1, fate);
            let want = fold([(&event, fate)]).unwrap();
            let got = fold(decoded.iter().map(|(e, f)| (e, *f))).unwrap();
            assert_eq!(got, want, "{fate:?}");
        }
    }

    #[test]
    fn a_damaged_body_is_unreadable_not_a_panic() {
        assert!(decode(1, b"[{\"id\":1}]").is_err());
        assert!(decode(1, b"\xff").is_err());
        let mut body = encode([(&rich(), Fate::Plain)]);
        body = String::from_utf8(body)
            .unwrap()
            .replace("\"EUR\"", "\"XYZ\"")
            .into_bytes();
        assert!(decode(7, &body).is_err());
    }
}
