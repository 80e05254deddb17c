//! Reads of stored orders off the flush: the lines a refund without prices
//! is priced from (`ingest::refund`), read without locks, so a request
//! that carries such a refund waits on no shared row.

use sqlx::{PgPool, Row};

use crate::ingest::{
    event::Item,
    money::Currency,
    refund::{OrderLines, Orders},
};

/// The lines of the orders `keys` (site, transaction id) name, from each
/// order's counted report; orders not stored are missing.
pub async fn lines(pool: &PgPool, keys: &[(i32, String)]) -> Result<Orders, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.site_id, o.transaction_id, o.currency::text AS currency, e.items::text AS items \
         FROM orders o JOIN UNNEST($1::int[], $2::text[]) AS k(site_id, transaction_id) \
           ON o.site_id = k.site_id AND o.transaction_id = k.transaction_id \
         JOIN events e ON e.site_id = o.site_id AND e.event_id = o.event_id",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    let mut orders = Orders::new();
    for row in rows {
        let code: String = row.try_get("currency")?;
        let items: String = row.try_get("items")?;
        let (Some(currency), Ok(items)) = (
            Currency::parse(code.trim()),
            serde_json::from_str::<Vec<Item>>(&items),
        ) else {
            continue;
        };
        orders.insert(
            (row.try_get("site_id")?, row.try_get("transaction_id")?),
            OrderLines { currency, items },
        );
    }
    Ok(orders)
}
