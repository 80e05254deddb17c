//! The demo store's cart: a short list of SKUs and quantities kept in a
//! cookie (no server-side session to store or expire). The same compact
//! form, `SKU-001:2.SKU-014:1`, carries an order's lines into the thank-you
//! page's URL. Parsing is lenient and bounded: unknown SKUs and junk are
//! dropped, never an error page.

use super::catalog::{Catalog, Product};

/// The cookie that holds the cart.
pub const COOKIE: &str = "storepulse_demo_cart";
/// Distinct products in one cart.
pub const MAX_LINES: usize = 20;
/// Units of one product in one cart.
pub const MAX_QUANTITY: i64 = 10;

/// A product and how many of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub sku: String,
    pub quantity: i64,
}

/// Cart lines, in the order they were first added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cart {
    lines: Vec<Line>,
}

impl Cart {
    /// Reads the compact form, keeping only SKUs the catalog knows.
    pub fn parse(encoded: &str, catalog: &Catalog) -> Self {
        let mut cart = Self::default();
        for part in encoded.split('.').take(MAX_LINES * 2) {
            let Some((sku, quantity)) = part.split_once(':') else {
                continue;
            };
            let Ok(quantity) = quantity.parse::<i64>() else {
                continue;
            };
            if catalog.by_sku(sku).is_some() {
                cart.add(sku, quantity);
            }
        }
        cart
    }

    /// The compact form (empty for an empty cart).
    pub fn encode(&self) -> String {
        self.lines
            .iter()
            .map(|line| format!("{}:{}", line.sku, line.quantity))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Adds units, capped at [`MAX_QUANTITY`]; past [`MAX_LINES`] products a
    /// new one is not added.
    pub fn add(&mut self, sku: &str, quantity: i64) {
        if quantity < 1 {
            return;
        }
        if let Some(line) = self.lines.iter_mut().find(|l| l.sku == sku) {
            line.quantity = (line.quantity + quantity).min(MAX_QUANTITY);
        } else if self.lines.len() < MAX_LINES {
            self.lines.push(Line {
                sku: sku.to_owned(),
                quantity: quantity.min(MAX_QUANTITY),
            });
        }
    }

    /// Removes a product; returns the line that was removed.
    pub fn remove(&mut self, sku: &str) -> Option<Line> {
        let index = self.lines.iter().position(|l| l.sku == sku)?;
        Some(self.lines.remove(index))
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    /// Each line with its product (lines were checked against the catalog
    /// when parsed).
    pub fn priced<'a>(&'a self, catalog: &'a Catalog) -> Vec<(&'a Product, i64)> {
        self.lines
            .iter()
            .filter_map(|line| catalog.by_sku(&line.sku).map(|p| (p, line.quantity)))
            .collect()
    }

    /// The total in minor units.
    pub fn total_minor(&self, catalog: &Catalog) -> i64 {
        self.priced(catalog)
            .iter()
            .map(|(product, quantity)| product.price_minor * quantity)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::catalog::SEED;

    fn catalog() -> Catalog {
        Catalog::generate(SEED)
    }

    #[test]
    fn a_cart_survives_its_compact_form() {
        let catalog = catalog();
        let mut cart = Cart::default();
        cart.add("SKU-003", 2);
        cart.add("SKU-017", 1);
        cart.add("SKU-003", 1);
        assert_eq!(cart.encode(), "SKU-003:3.SKU-017:1");
        assert_eq!(Cart::parse(&cart.encode(), &catalog), cart);
        assert_eq!(cart.units(), 4);
        let expected = catalog.by_sku("SKU-003").expect("sku").price_minor * 3
            + catalog.by_sku("SKU-017").expect("sku").price_minor;
        assert_eq!(cart.total_minor(&catalog), expected);
    }

    #[test]
    fn junk_unknown_skus_and_bad_quantities_are_dropped() {
        let cart = Cart::parse(
            "SKU-001:2.SKU-999:1.nonsense.SKU-002:x.SKU-004:-3",
            &catalog(),
        );
        assert_eq!(cart.encode(), "SKU-001:2");
        assert!(Cart::parse("", &catalog()).is_empty());
    }

    #[test]
    fn quantities_and_lines_are_capped() {
        let mut cart = Cart::default();
        cart.add("SKU-001", 7);
        cart.add("SKU-001", 7);
        assert_eq!(cart.units(), MAX_QUANTITY);
        for n in 2..=30 {
            cart.add(&format!("SKU-{n:03}"), 1);
        }
        assert_eq!(cart.priced(&catalog()).len(), MAX_LINES);
    }

    #[test]
    fn removing_returns_the_line() {
        let mut cart = Cart::parse("SKU-001:2.SKU-002:1", &catalog());
        let removed = cart.remove("SKU-001").expect("was there");
        assert_eq!(removed.quantity, 2);
        assert_eq!(cart.encode(), "SKU-002:1");
        assert!(cart.remove("SKU-001").is_none());
    }
}
