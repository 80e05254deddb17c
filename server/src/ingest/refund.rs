//! Refunds that name items but no value, as GA4 sends a partial refund
//! (`{"transaction_id": "T_1", "items": [{"item_id": "SKU_1", "quantity":
//! 1}]}`): the value is the lines' total, price × quantity, and a line
//! without a price takes the price its item had in the order.
//!
//! The order's price is looked up before the refund is queued, in the
//! database (the order's counted report) or among purchases of the same
//! batch, and copied into the refund's line: the stored refund then holds
//! every number the fold, a rebuild and the drift check book from it, and
//! none of them reads the order again. A refund without value that cannot
//! be priced (no such order yet, an item the order does not have, another
//! currency) is refused with the reason. A refund that has a value keeps
//! it; its lines are priced where the order allows and otherwise count as
//! units only.

use std::collections::HashMap;

use sqlx::PgPool;

use super::{
    event::{Event, EventType, Item, Money},
    money::{Currency, MAX_MINOR},
    rejection::{Reason, Rejection},
};

/// An order's lines, as a refund is priced from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLines {
    pub currency: Currency,
    pub items: Vec<Item>,
}

/// The lines' total, price × quantity, when every line has a price.
pub fn total(items: &[Item]) -> Option<i64> {
    items.iter().try_fold(0_i64, |sum, i| {
        sum.checked_add(i.price?.checked_mul(i.quantity)?)
    })
}

/// A refund with a line without price: priced from its order before it is
/// queued.
pub fn needs_order(event: &Event) -> bool {
    event.kind == EventType::Refund && event.items.iter().any(|i| i.price.is_none())
}

/// Prices `refund`'s lines that have no price from `order` (the first line
/// of the same item id); a refund without value takes the lines' total.
pub fn price_from_order(refund: &mut Event, order: Option<&OrderLines>) -> Result<(), Rejection> {
    let transaction = refund.transaction_id.clone().unwrap_or_default();
    let valued = refund.money.is_some();
    let order = match order {
        Some(order) if order.currency == refund.currency => order,
        // A value of its own: the lines count as units only.
        _ if valued => return Ok(()),
        Some(order) => {
            return Err(Rejection::new(
                Reason::InvalidCurrency,
                format!(
                    "the refund is in {} and order {transaction:?} in {}: send value or item prices",
                    refund.currency.code(),
                    order.currency.code()
                ),
            ))
        }
        None => {
            return Err(Rejection::new(
                Reason::MissingField,
                format!(
                    "order {transaction:?} is not known: a refund of it needs value or a price on every item"
                ),
            ))
        }
    };
    for line in refund.items.iter_mut().filter(|i| i.price.is_none()) {
        line.price = order
            .items
            .iter()
            .find(|i| i.item_id == line.item_id)
            .and_then(|i| i.price);
        if line.price.is_none() && !valued {
            return Err(Rejection::new(
                Reason::InvalidItem,
                format!(
                    "item {:?} has no price and none in order {transaction:?}",
                    line.item_id
                ),
            ));
        }
    }
    // Within bounds like the lines of any event: a refund may name more
    // units than the order had, at the order's price.
    let lines = refund.items.iter().try_fold(0_i64, |sum, i| {
        let line = i.price.unwrap_or(0).checked_mul(i.quantity)?;
        sum.checked_add(line).filter(|_| line <= MAX_MINOR)
    });
    let Some(lines) = lines.filter(|t| *t <= MAX_MINOR) else {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("the refund's items total over {MAX_MINOR} minor units"),
        ));
    };
    if !valued {
        refund.money = Some(Money {
            currency: refund.currency,
            minor: lines,
        });
    }
    Ok(())
}

/// Prices every refund of `events` that [`needs_order`], from the orders
/// stored in the database or, for orders not stored yet, from the first
/// purchase of them in `pending` (an import's batch) or `events`. Returns
/// each event's rejection, if it could not be priced.
pub async fn price_refunds(
    pool: &PgPool,
    events: &mut [Event],
    pending: &[Event],
) -> Result<Vec<Option<Rejection>>, sqlx::Error> {
    let mut verdicts = vec![None; events.len()];
    let key = |e: &Event| (e.site_id, e.transaction_id.clone().unwrap_or_default());
    let mut wanted: Vec<(i32, String)> =
        events.iter().filter(|e| needs_order(e)).map(key).collect();
    if wanted.is_empty() {
        return Ok(verdicts);
    }
    wanted.sort();
    wanted.dedup();
    let mut orders = crate::store::orders::lines(pool, &wanted).await?;
    for purchase in pending.iter().chain(events.iter()) {
        if let (EventType::Purchase, Some(money)) = (&purchase.kind, purchase.money) {
            if wanted.binary_search(&key(purchase)).is_ok() {
                orders.entry(key(purchase)).or_insert_with(|| OrderLines {
                    currency: money.currency,
                    items: purchase.items.clone(),
                });
            }
        }
    }
    for (event, verdict) in events.iter_mut().zip(&mut verdicts) {
        if needs_order(event) {
            *verdict = price_from_order(event, orders.get(&key(event))).err();
        }
    }
    Ok(verdicts)
}

/// Orders by (site, transaction id).
pub type Orders = HashMap<(i32, String), OrderLines>;

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn line(id: &str, price: Option<i64>, quantity: i64) -> Item {
        Item {
            item_id: id.to_owned(),
            item_name: id.to_owned(),
            price,
            quantity,
            ..Item::default()
        }
    }

    fn refund(value: Option<i64>, items: Vec<Item>) -> Event {
        Event {
            site_id: 1,
            site_currency: usd(),
            id: "r-1".to_owned(),
            kind: EventType::Refund,
            occurred_at: chrono::DateTime::UNIX_EPOCH,
            received_at: chrono::DateTime::UNIX_EPOCH,
            visitor_id: "v-1".to_owned(),
            session_id: None,
            user_id: None,
            source: super::super::event::Source::Server,
            url: None,
            referrer: None,
            referrer_host: None,
            title: None,
            utm: Default::default(),
            currency: usd(),
            money: value.map(|minor| Money {
                currency: usd(),
                minor,
            }),
            tax: None,
            shipping: None,
            coupon: None,
            transaction_id: Some("T-1".to_owned()),
            search_term: None,
            items,
            props: Default::default(),
            client: Default::default(),
            price_tier: None,
            verified: true,
        }
    }

    fn order() -> OrderLines {
        OrderLines {
            currency: usd(),
            items: vec![line("A", Some(1001), 3), line("B", Some(2101), 2)],
        }
    }

    #[test]
    fn unpriced_lines_take_the_orders_price_and_the_refund_their_total() {
        let mut r = refund(None, vec![line("A", None, 2), line("B", Some(2000), 1)]);
        assert!(needs_order(&r));
        price_from_order(&mut r, Some(&order())).unwrap();
        assert_eq!(r.items[0].price, Some(1001));
        assert_eq!(r.items[1].price, Some(2000), "a line's own price stands");
        assert_eq!(r.money.map(|m| m.minor), Some(2 * 1001 + 2000));
        assert!(!needs_order(&r));
    }

    #[test]
    fn a_refund_without_value_that_cannot_be_priced_is_refused_with_the_reason() {
        let mut unknown_item = refund(None, vec![line("Z", None, 1)]);
        let why = price_from_order(&mut unknown_item, Some(&order())).unwrap_err();
        assert_eq!(why.reason, Reason::InvalidItem);
        assert!(why.detail.contains("\"Z\""), "{why}");
        let mut unknown_order = refund(None, vec![line("A", None, 1)]);
        let why = price_from_order(&mut unknown_order, None).unwrap_err();
        assert_eq!(why.reason, Reason::MissingField);
        assert!(why.detail.contains("\"T-1\""), "{why}");
        let mut euros = order();
        euros.currency = Currency::parse("EUR").unwrap();
        let mut other_currency = refund(None, vec![line("A", None, 1)]);
        let why = price_from_order(&mut other_currency, Some(&euros)).unwrap_err();
        assert_eq!(why.reason, Reason::InvalidCurrency);
    }

    #[test]
    fn a_refund_with_a_value_keeps_it_and_prices_what_it_can() {
        let mut r = refund(Some(500), vec![line("A", None, 1), line("Z", None, 1)]);
        price_from_order(&mut r, Some(&order())).unwrap();
        assert_eq!(r.money.map(|m| m.minor), Some(500));
        assert_eq!((r.items[0].price, r.items[1].price), (Some(1001), None));
        let mut alone = refund(Some(500), vec![line("A", None, 1)]);
        price_from_order(&mut alone, None).unwrap();
        assert_eq!(alone.items[0].price, None);
    }

    #[test]
    fn totals_need_every_price_and_stay_in_bounds() {
        assert_eq!(
            total(&[line("A", Some(5), 3), line("B", Some(1), 1)]),
            Some(16)
        );
        assert_eq!(total(&[line("A", Some(5), 3), line("B", None, 1)]), None);
        let mut huge = refund(None, vec![line("A", None, 1_000_000)]);
        let order = OrderLines {
            currency: usd(),
            items: vec![line("A", Some(MAX_MINOR), 1)],
        };
        let why = price_from_order(&mut huge, Some(&order)).unwrap_err();
        assert_eq!(why.reason, Reason::InvalidValue);
    }
}
