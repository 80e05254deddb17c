//! The demo store's backend reporting its orders to Storepulse as signed
//! server events (docs/protocol.md, signed server events), as a real shop's
//! backend would from its order webhook. The browser reports the same
//! purchase from the thank-you page; the shared `transaction_id` makes it
//! count once, as verified.
//!
//! The report goes through the same ingestion pipeline as a request to
//! `POST /api/events` with an `X-Storepulse-Signature` header, signature
//! check included, without a network round trip to itself.

use std::net::{IpAddr, Ipv4Addr};

use chrono::Utc;
use secrecy::ExposeSecret as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{
    cart::Cart,
    catalog::Catalog,
    pages::{amount, item, CURRENCY},
};
use crate::ingest::{
    pipeline::{Ingestor, Receipt, Refusal, Submission},
    signature,
};

/// The User-Agent the backend reports with.
const USER_AGENT: &str = "Storepulse demo backend";

/// An order as the demo backend knows it.
pub struct Order<'a> {
    pub transaction_id: &'a str,
    pub lines: &'a Cart,
    /// The shop's customer id (see [`customer_id`]).
    pub customer: &'a str,
    /// The tracker's visitor and session ids, when the browser sent them
    /// with the checkout form, so the order joins the shopper's session.
    pub visitor: Option<&'a str>,
    pub session: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the demo site does not exist")]
    NoSite,
    #[error("looking up the demo site: {0}")]
    Lookup(#[from] sqlx::Error),
    #[error("ingestion refused the order: {0}")]
    Refused(#[from] Refusal),
    #[error("ingestion rejected the order: {0}")]
    Rejected(String),
}

/// A stable, pseudonymous customer id for an email address: the dashboard
/// can count returning customers without the address being stored.
pub fn customer_id(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    format!("cust-{}", &hex::encode(digest)[..12])
}

/// A new order number: `SP-` and 12 random hex digits.
pub fn transaction_id() -> String {
    let mut bytes = [0_u8; 6];
    // An order number is not a secret; the clock stands in if the OS fails.
    if getrandom::fill(&mut bytes).is_err() {
        bytes.copy_from_slice(&Utc::now().timestamp_micros().to_be_bytes()[2..]);
    }
    format!("SP-{}", hex::encode_upper(bytes))
}

/// Reports the purchase, signed with the site's secret; returns once it is
/// stored.
pub async fn report_purchase(
    ingestor: &Ingestor,
    site_key: &str,
    catalog: &Catalog,
    order: &Order<'_>,
) -> Result<Receipt, ReportError> {
    let site = ingestor
        .sites
        .get(site_key)
        .await?
        .ok_or(ReportError::NoSite)?;
    let now = Utc::now();
    let priced = order.lines.priced(catalog);
    let items: Vec<_> = priced.iter().map(|(p, q)| item(p, *q)).collect();
    let body = json!({
        "site": site_key,
        "sent_at": now.timestamp_millis(),
        "events": [{
            "id": format!("srv-{}", order.transaction_id),
            "type": "purchase",
            "ts": now.timestamp_millis(),
            "source": "server",
            "visitor": order.visitor,
            "session": order.session,
            "user_id": order.customer,
            "transaction_id": order.transaction_id,
            "currency": CURRENCY,
            "value": amount(order.lines.total_minor(catalog)),
            "items": items,
        }],
    })
    .to_string();
    let secret = site.signing_secret.expose_secret().as_bytes();
    let header = signature::sign(body.as_bytes(), secret, now.timestamp());
    let submission = Submission {
        body: body.as_bytes(),
        signature: Some(&header),
        user_agent: Some(USER_AGENT),
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        site: None,
    };
    let receipt = ingestor.ingest(submission).await?;
    if let Some(rejected) = receipt.rejected.first() {
        return Err(ReportError::Rejected(rejected.reason.clone()));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_ignore_case_and_spaces_and_hide_the_address() {
        let id = customer_id(" Ada@Example.com ");
        assert_eq!(id, customer_id("ada@example.com"));
        assert!(id.starts_with("cust-") && id.len() == 17);
        assert!(!id.contains("ada"));
        assert_ne!(id, customer_id("bob@example.com"));
    }

    #[test]
    fn order_numbers_differ() {
        let a = transaction_id();
        assert!(a.starts_with("SP-") && a.len() == 15, "{a}");
        assert_ne!(a, transaction_id());
    }
}
