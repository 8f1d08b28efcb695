//! The simulated shop's catalogue: a gift and fashion shop whose products
//! have categories, prices, a popularity and complementary products (the
//! ones people buy together).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::rng::SimRng;
use crate::words::{CATEGORIES, COLOURS, STYLES};

/// One product of the simulated shop.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// `p00042`.
    pub id: String,
    /// `SHO-00042`.
    pub sku: String,
    /// `Riviera Sage Espadrilles`.
    pub name: String,
    pub category: &'static str,
    pub price_cents: u32,
    /// Products bought together with this one (indices into the catalogue).
    pub complements: Vec<u32>,
    /// Relative popularity (Zipf-like) inside its category.
    pub popularity: f64,
    /// `/products/riviera-sage-espadrilles-p00042`.
    pub path: String,
}

impl Product {
    pub fn price(&self) -> f64 {
        f64::from(self.price_cents) / 100.0
    }
}

/// The catalogue, generated from a seed.
#[derive(Debug, Clone)]
pub struct Catalog {
    products: Vec<Arc<Product>>,
    by_id: HashMap<String, u32>,
    categories: Vec<CategoryIndex>,
}

#[derive(Debug, Clone)]
struct CategoryIndex {
    name: &'static str,
    products: Vec<u32>,
    cumulative: Vec<f64>,
}

impl Catalog {
    /// Generates `size` products (at least one per category).
    pub fn generate(seed: u64, size: usize) -> Catalog {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x00CA_7A10_6000);
        let ncat = CATEGORIES.len();
        let size = size.max(ncat);
        let mut products: Vec<Product> = Vec::with_capacity(size);
        let mut names = HashSet::new();
        let mut categories: Vec<CategoryIndex> = CATEGORIES
            .iter()
            .map(|c| CategoryIndex { name: c.0, products: Vec::new(), cumulative: Vec::new() })
            .collect();
        for i in 0..size {
            let c = i % ncat;
            let (cat, nouns, (lo, hi), _) = CATEGORIES[c];
            let name = loop {
                let n = format!(
                    "{} {} {}",
                    STYLES[rng.random_range(0..STYLES.len())],
                    COLOURS[rng.random_range(0..COLOURS.len())],
                    nouns[rng.random_range(0..nouns.len())]
                );
                if names.insert(n.clone()) {
                    break n;
                }
                if names.len() > STYLES.len() * COLOURS.len() * nouns.len() / 2 {
                    break format!("{n} No. {i}");
                }
            };
            // Log-uniform prices, ending in .95 or .00 like a real shop.
            let euros =
                (f64::from(lo).ln() + rng.random::<f64>() * (f64::from(hi) / f64::from(lo)).ln()).exp().round() as u32;
            let cents = if rng.random_bool(0.7) { euros * 100 - 5 } else { euros * 100 };
            let rank = categories[c].products.len() + 1;
            let id = format!("p{i:05}");
            let path = format!("/products/{}-{id}", slug(&name));
            products.push(Product {
                sku: format!("{}-{i:05}", cat[..3].to_ascii_uppercase()),
                id,
                name,
                category: cat,
                price_cents: cents,
                complements: Vec::new(),
                popularity: 1.0 / (rank as f64).powf(0.9),
                path,
            });
            categories[c].products.push(i as u32);
        }
        // Complements: two or three products of complementary categories,
        // favouring the popular ones and a similar price.
        for i in 0..size {
            let partners = CATEGORIES[i % ncat].3;
            let k = rng.random_range(2..=3);
            let mut chosen = Vec::with_capacity(k);
            for _ in 0..k * 4 {
                if chosen.len() == k {
                    break;
                }
                let pc = partners[rng.random_range(0..partners.len())];
                let Some(cat) = categories.iter().find(|c| c.name == pc) else {
                    continue;
                };
                let j = cat.products[rng.random_range(0..cat.products.len().min(8))];
                let ratio = f64::from(products[j as usize].price_cents) / f64::from(products[i].price_cents);
                if !chosen.contains(&j) && (0.2..5.0).contains(&ratio) {
                    chosen.push(j);
                }
            }
            products[i].complements = chosen;
        }
        for cat in &mut categories {
            let mut acc = 0.0;
            cat.cumulative = cat
                .products
                .iter()
                .map(|&p| {
                    acc += products[p as usize].popularity;
                    acc
                })
                .collect();
        }
        let by_id = products.iter().enumerate().map(|(i, p)| (p.id.clone(), i as u32)).collect();
        Catalog { products: products.into_iter().map(Arc::new).collect(), by_id, categories }
    }

    pub fn products(&self) -> &[Arc<Product>] {
        &self.products
    }

    pub fn product(&self, id: &str) -> Option<&Arc<Product>> {
        self.index_of(id).map(|i| &self.products[i as usize])
    }

    /// Category names, in catalogue order.
    pub fn categories(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.categories.iter().map(|c| c.name)
    }

    /// The products of a category, most popular first.
    pub fn in_category(&self, category: &str) -> Vec<&Arc<Product>> {
        self.categories
            .iter()
            .find(|c| c.name == category)
            .map(|c| c.products.iter().map(|&i| &self.products[i as usize]).collect())
            .unwrap_or_default()
    }

    /// Products bought together with `id`.
    pub fn complements_of(&self, id: &str) -> Vec<&Arc<Product>> {
        self.product(id)
            .map(|p| p.complements.iter().map(|&i| &self.products[i as usize]).collect())
            .unwrap_or_default()
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn get(&self, idx: u32) -> &Arc<Product> {
        &self.products[idx as usize]
    }

    pub(crate) fn category_count(&self) -> usize {
        self.categories.len()
    }

    pub(crate) fn category_name(&self, c: usize) -> &'static str {
        self.categories[c].name
    }

    pub(crate) fn category_of(&self, idx: u32) -> usize {
        idx as usize % self.categories.len()
    }

    pub(crate) fn category_index(&self, name: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.name == name)
    }

    /// A product of category `c`, drawn by popularity.
    pub(crate) fn pick_in(&self, c: usize, rng: &mut SimRng) -> u32 {
        let cat = &self.categories[c];
        cat.products[rng.cumulative(&cat.cumulative)]
    }
}

fn slug(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            s.push(ch.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_seeded_and_consistent() {
        let a = Catalog::generate(5, 200);
        let b = Catalog::generate(5, 200);
        let c = Catalog::generate(6, 200);
        assert_eq!(a.products(), b.products());
        assert_ne!(a.products(), c.products());
        assert_eq!(a.products().len(), 200);
        for (i, p) in a.products().iter().enumerate() {
            assert_eq!(a.index_of(&p.id), Some(i as u32));
            assert_eq!(a.category_name(a.category_of(i as u32)), p.category);
            assert!(p.price_cents >= 495, "{p:?}");
            assert!(!p.complements.is_empty(), "{p:?}");
            for &j in &p.complements {
                assert_ne!(a.get(j).category, p.category);
            }
        }
        assert_eq!(a.categories().count(), 9);
        assert_eq!(a.in_category("shoes").len(), 23);
        assert!(a.product("p00007").unwrap().path.starts_with("/products/"));
    }
}
