//! Exact money: decimal text from the wire to integer minor units.
//!
//! JSON numbers are never read as floats. The raw token (`25.98`, `"25.98"`,
//! `2.598e1`) is parsed as a decimal and scaled by the currency's ISO 4217
//! minor unit. More decimals than the currency has (a JavaScript sum such as
//! `25.980000000000004`) are rounded half away from zero to the minor unit,
//! the way a till rounds; everything after that is integer arithmetic.
//!
//! Every amount is at most [`MAX_MINOR`] minor units, so the sums the
//! reports keep in PostgreSQL `bigint` (at most 9.2 × 10^18) cannot wrap:
//! a row would need close to a million such amounts before it overflowed,
//! and past that the database refuses the addition and the flush turns the
//! one event into a dead letter (`sum_overflow`) instead of wrapping.

use std::str::FromStr;

use iso_currency::Currency as Iso;
use rust_decimal::{prelude::ToPrimitive, Decimal, RoundingStrategy};
use serde_json::value::RawValue;

/// An ISO 4217 currency code with its minor-unit exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    /// Accepts an upper-case ISO 4217 code with a decimal minor unit.
    pub fn parse(code: &str) -> Option<Self> {
        let iso = Iso::from_code(code)?;
        // Funds and metals (XAU, XDR…) have no minor unit: not shop money.
        let exponent = u8::try_from(iso.exponent()?).ok()?;
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        Some(Self {
            code: bytes,
            exponent,
        })
    }

    pub fn code(&self) -> &str {
        // Only ever built from a valid ASCII code in `parse`.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

/// The largest amount of one event, one item price and one line
/// (price × quantity), in minor units: 10^13, a hundred billion dollars or
/// euros, and still a hundred thousand dollars in the currencies with the
/// most minor units per dollar (the Iranian rial).
pub const MAX_MINOR: i64 = 10_000_000_000_000;

/// Why an amount was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoneyError {
    NotANumber,
    Negative,
    OutOfRange,
}

/// Parses a raw JSON number or numeric string into minor units of `currency`.
pub fn parse_minor(raw: &RawValue, currency: Currency) -> Result<i64, MoneyError> {
    let text = raw.get().trim();
    let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.trim(),
        None => text,
    };
    if text.is_empty() || text.len() > 40 {
        return Err(MoneyError::NotANumber);
    }
    let decimal = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str(text)
    }
    .map_err(|_| MoneyError::NotANumber)?;
    if decimal.is_sign_negative() && !decimal.is_zero() {
        return Err(MoneyError::Negative);
    }
    let scale = Decimal::from(10_i64.pow(u32::from(currency.exponent())));
    decimal
        .checked_mul(scale)
        .map(|d| d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
        .and_then(|d| d.to_i64())
        .filter(|minor| *minor <= MAX_MINOR)
        .ok_or(MoneyError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn decimal_numbers_become_exact_minor_units() {
        assert_eq!(parse_minor(&raw("25.98"), usd()), Ok(2598));
        assert_eq!(parse_minor(&raw("0.1"), usd()), Ok(10));
        assert_eq!(parse_minor(&raw("\"12.99\""), usd()), Ok(1299));
        assert_eq!(parse_minor(&raw("2.598e1"), usd()), Ok(2598));
        assert_eq!(parse_minor(&raw("7"), usd()), Ok(700));
    }

    #[test]
    fn float_noise_from_javascript_sums_rounds_to_the_cent() {
        assert_eq!(parse_minor(&raw("25.980000000000004"), usd()), Ok(2598));
        assert_eq!(parse_minor(&raw("0.30000000000000004"), usd()), Ok(30));
        assert_eq!(parse_minor(&raw("0.125"), usd()), Ok(13));
    }

    #[test]
    fn minor_units_follow_the_currency() {
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(parse_minor(&raw("1500"), jpy), Ok(1500));
        assert_eq!(parse_minor(&raw("1.234"), kwd), Ok(1234));
    }

    #[test]
    fn negative_huge_and_non_numeric_amounts_are_refused() {
        assert_eq!(parse_minor(&raw("-1"), usd()), Err(MoneyError::Negative));
        assert_eq!(
            parse_minor(&raw("1e17"), usd()),
            Err(MoneyError::OutOfRange)
        );
        assert_eq!(
            parse_minor(&raw("92233720368547758.07"), usd()),
            Err(MoneyError::OutOfRange)
        );
        assert_eq!(
            parse_minor(&raw("\"abc\""), usd()),
            Err(MoneyError::NotANumber)
        );
        assert_eq!(
            parse_minor(&raw("true"), usd()),
            Err(MoneyError::NotANumber)
        );
    }

    #[test]
    fn amounts_stop_at_the_documented_bound() {
        assert_eq!(parse_minor(&raw("100000000000.00"), usd()), Ok(MAX_MINOR));
        assert_eq!(
            parse_minor(&raw("100000000000.01"), usd()),
            Err(MoneyError::OutOfRange)
        );
    }

    #[test]
    fn only_real_iso_currencies_with_minor_units_are_accepted() {
        assert!(Currency::parse("EUR").is_some());
        assert!(Currency::parse("usd").is_none());
        assert!(Currency::parse("ABC").is_none());
        assert!(Currency::parse("XAU").is_none());
    }
}
