//! The demo store's catalog: about fifty products in five categories, made
//! with the `fake` crate from a fixed seed, so every server (and every test)
//! sees the same shop. Prices are exact minor units of the demo currency.

use fake::{
    faker::{company::en::CatchPhrase, name::en::LastName},
    rand::{rngs::StdRng, seq::IndexedRandom as _, SeedableRng as _},
    Fake as _,
};

/// The seed the demo store is built from.
pub const SEED: u64 = 20_261_122;

/// Products generated per category.
const PER_CATEGORY: usize = 10;

/// One category: its name, the range of its prices (minor units), the
/// suffixes its brands get, and the things it sells.
struct Department {
    name: &'static str,
    slug: &'static str,
    prices: (i64, i64),
    brand_suffixes: &'static [&'static str],
    adjectives: &'static [&'static str],
    nouns: &'static [&'static str],
}

const DEPARTMENTS: &[Department] = &[
    Department {
        name: "Electronics",
        slug: "electronics",
        prices: (1_900, 89_900),
        brand_suffixes: &["Audio", "Labs", "Electronics", "Tech"],
        adjectives: &[
            "Wireless",
            "Compact",
            "Smart",
            "Portable",
            "Noise-Cancelling",
            "Ultra",
        ],
        nouns: &[
            "Headphones",
            "Speaker",
            "Smartwatch",
            "Power Bank",
            "Keyboard",
            "Webcam",
            "E-Reader",
            "Drone",
        ],
    },
    Department {
        name: "Clothing",
        slug: "clothing",
        prices: (900, 17_900),
        brand_suffixes: &["Outfitters", "& Co.", "Apparel", "Denim"],
        adjectives: &[
            "Organic",
            "Slim-Fit",
            "Linen",
            "Merino",
            "Oversized",
            "Classic",
        ],
        nouns: &[
            "T-Shirt",
            "Hoodie",
            "Jeans",
            "Rain Jacket",
            "Sweater",
            "Chinos",
            "Scarf",
        ],
    },
    Department {
        name: "Books",
        slug: "books",
        prices: (700, 4_900),
        brand_suffixes: &["Press", "Books", "Publishing"],
        adjectives: &[
            "The Quiet",
            "A Brief",
            "The Hidden",
            "The Last",
            "Modern",
            "Practical",
        ],
        nouns: &[
            "Garden",
            "History of Maps",
            "Cookbook",
            "Atlas",
            "Guide to Rust",
            "Novel",
        ],
    },
    Department {
        name: "Sports",
        slug: "sports",
        prices: (1_200, 34_900),
        brand_suffixes: &["Athletics", "Sports", "Outdoor"],
        adjectives: &[
            "Trail",
            "Lightweight",
            "Pro",
            "Carbon",
            "All-Weather",
            "Training",
        ],
        nouns: &[
            "Running Shoes",
            "Yoga Mat",
            "Tennis Racket",
            "Backpack",
            "Water Bottle",
            "Bike Helmet",
        ],
    },
    Department {
        name: "Home & Garden",
        slug: "home-garden",
        prices: (800, 24_900),
        brand_suffixes: &["Home", "Living", "& Garden"],
        adjectives: &[
            "Ceramic",
            "Bamboo",
            "Cast-Iron",
            "Handmade",
            "Stoneware",
            "Copper",
        ],
        nouns: &[
            "Mug",
            "Planter",
            "Skillet",
            "Lamp",
            "Cutting Board",
            "Watering Can",
        ],
    },
];

/// A product as the store sells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    /// `SKU-001` …: the GA4 `item_id`.
    pub sku: String,
    pub slug: String,
    pub name: String,
    pub category: &'static str,
    pub category_slug: &'static str,
    pub brand: String,
    pub price_minor: i64,
    pub description: String,
}

/// All products, in SKU order.
#[derive(Clone, Debug)]
pub struct Catalog {
    products: Vec<Product>,
}

impl Catalog {
    /// The same catalog for the same seed, on every machine.
    pub fn generate(seed: u64) -> Self {
        let rng = &mut StdRng::seed_from_u64(seed);
        let mut products = Vec::with_capacity(DEPARTMENTS.len() * PER_CATEGORY);
        for department in DEPARTMENTS {
            let brands: Vec<String> = (0..3)
                .map(|_| {
                    let family: String = LastName().fake_with_rng(rng);
                    let suffix = department.brand_suffixes.choose(rng).expect("not empty");
                    format!("{family} {suffix}")
                })
                .collect();
            let mut names = Vec::new();
            while names.len() < PER_CATEGORY {
                let adjective = department.adjectives.choose(rng).expect("not empty");
                let noun = department.nouns.choose(rng).expect("not empty");
                let name = format!("{adjective} {noun}");
                // "Smart Smartwatch" is not a product name.
                let repeats = noun.to_lowercase().contains(&adjective.to_lowercase());
                if !repeats && !names.contains(&name) {
                    names.push(name);
                }
            }
            for name in names {
                let (low, high) = department.prices;
                let whole: i64 = (low / 100..high / 100).fake_with_rng(rng);
                let cents = *[99, 49, 0, 95].choose(rng).expect("not empty");
                let brand = brands.choose(rng).expect("not empty").clone();
                let pitch: String = CatchPhrase().fake_with_rng(rng);
                let sku = format!("SKU-{:03}", products.len() + 1);
                products.push(Product {
                    slug: format!("{}-{}", slug(&name), sku.to_ascii_lowercase()),
                    sku,
                    description: format!("{pitch}. Designed by {brand}."),
                    category: department.name,
                    category_slug: department.slug,
                    price_minor: whole * 100 + cents,
                    brand,
                    name,
                });
            }
        }
        Self { products }
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn by_sku(&self, sku: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.sku == sku)
    }

    pub fn by_slug(&self, slug: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.slug == slug)
    }

    /// Category names and slugs, in display order.
    pub fn categories(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        DEPARTMENTS.iter().map(|d| (d.name, d.slug))
    }

    pub fn in_category<'a>(&'a self, slug: &'a str) -> impl Iterator<Item = &'a Product> + 'a {
        self.products
            .iter()
            .filter(move |p| p.category_slug == slug)
    }

    /// Products whose name, brand or category contains every word of the
    /// query (case-insensitive), at most `limit` of them.
    pub fn search(&self, query: &str, limit: usize) -> Vec<&Product> {
        let words: Vec<String> = query
            .split_whitespace()
            .map(str::to_lowercase)
            .take(8)
            .collect();
        if words.is_empty() {
            return Vec::new();
        }
        self.products
            .iter()
            .filter(|p| {
                let haystack = format!("{} {} {}", p.name, p.brand, p.category).to_lowercase();
                words.iter().all(|w| haystack.contains(w.as_str()))
            })
            .take(limit)
            .collect()
    }
}

fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_catalog() {
        let a = Catalog::generate(SEED);
        let b = Catalog::generate(SEED);
        assert_eq!(a.products(), b.products());
        let c = Catalog::generate(SEED + 1);
        assert_ne!(a.products(), c.products());
    }

    #[test]
    fn every_category_has_ten_distinct_products_within_its_price_range() {
        let catalog = Catalog::generate(SEED);
        assert_eq!(catalog.products().len(), 50);
        for department in DEPARTMENTS {
            let products: Vec<_> = catalog.in_category(department.slug).collect();
            assert_eq!(products.len(), PER_CATEGORY, "{}", department.name);
            for product in products {
                let (low, high) = department.prices;
                assert!((low..high).contains(&product.price_minor), "{product:?}");
            }
        }
        let mut slugs: Vec<_> = catalog.products().iter().map(|p| &p.slug).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), 50, "slugs are unique");
    }

    #[test]
    fn search_matches_every_word_in_name_brand_or_category() {
        let catalog = Catalog::generate(SEED);
        let first = &catalog.products()[0];
        let noun = first.name.split(' ').next_back().expect("a word");
        let found = catalog.search(&format!("{} {noun}", first.category), 50);
        assert!(found.contains(&first));
        assert!(found.iter().all(|p| p.category == first.category));
        assert!(catalog.search("   ", 50).is_empty());
        assert!(catalog.search("no such thing anywhere", 50).is_empty());
    }

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slug("Home & Garden"), "home-garden");
        assert_eq!(
            slug("Noise-Cancelling Headphones"),
            "noise-cancelling-headphones"
        );
    }
}
