//! Signed server-to-server requests (the scheme Stripe webhooks use).
//!
//! Header `X-Storepulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<raw body>"` with the site's signing secret. Several `v1` values may
//! be present (secret rotation); any match within the tolerance verifies.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-storepulse-signature";

/// Why a present signature was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is not of the form t=<seconds>,v1=<hex>")]
    Malformed,
    #[error("signature timestamp is outside the tolerance window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks `header` against `body` signed with `secret`, at time `now` (unix seconds).
pub fn verify(
    header: &str,
    body: &[u8],
    secret: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',').take(8) {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => {
                candidates.push(hex::decode(sig).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let signed = mac(secret, timestamp, body);
    // `verify_slice` compares in constant time.
    if candidates
        .iter()
        .any(|c| signed.clone().verify_slice(c).is_ok())
    {
        return Ok(());
    }
    Err(SignatureError::Mismatch)
}

/// HMAC-SHA256 of `"<t>.<body>"` under `secret`.
fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Makes the header value for `body` (the demo shop's backend, the
/// simulator and tests sign with this).
pub fn sign(body: &[u8], secret: &[u8], now: i64) -> String {
    let signed = mac(secret, now, body).finalize().into_bytes();
    format!("t={now},v1={}", hex::encode(signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret_of_enough_length";

    #[test]
    fn a_fresh_correct_signature_verifies() {
        let header = sign(b"{}", SECRET, 1_000);
        assert_eq!(verify(&header, b"{}", SECRET, 1_100, 300), Ok(()));
    }

    #[test]
    fn a_changed_body_or_wrong_secret_does_not_verify() {
        let header = sign(b"{}", SECRET, 1_000);
        assert_eq!(
            verify(&header, b"{ }", SECRET, 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, b"{}", b"other", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_signature_is_stale_even_if_correct() {
        let header = sign(b"{}", SECRET, 1_000);
        assert_eq!(
            verify(&header, b"{}", SECRET, 1_301, 300),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn garbage_headers_are_malformed() {
        for header in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz"] {
            assert_eq!(
                verify(header, b"{}", SECRET, 1, 300),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }
}
