//! Product recommendations for templates, from a profile's own events and
//! from the shop's orders. Pure functions over plain structs; event names
//! and properties follow Segment's E-commerce Spec v2.
//!
//! - [`viewed_not_bought`]: products a person viewed (`Product Viewed`) or
//!   carted (`Product Added`) and has not bought (`Order Completed` with a
//!   `products` array) since, most recent interest first, each once.
//! - [`BoughtTogether`]: learned from co-purchases: two products count as
//!   bought together once per order containing both. A product's
//!   complements are ranked by that count, then by how often the complement
//!   sells overall, then by id, so the result is deterministic.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};
use tidings_model::Micros;

/// The event names this module reads.
pub const PRODUCT_VIEWED: &str = "Product Viewed";
pub const PRODUCT_ADDED: &str = "Product Added";
pub const ORDER_COMPLETED: &str = "Order Completed";

/// At most this many products of one order are paired, so one huge order
/// cannot cost quadratic time.
pub const MAX_PRODUCTS_PER_ORDER: usize = 50;

/// A product as templates see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: String,
    pub name: Option<String>,
    pub price: Option<f64>,
    pub category: Option<String>,
    pub url: Option<String>,
    pub image: Option<String>,
}

impl Product {
    /// Reads a product from event properties (or an entry of `products`):
    /// the id is `product_id`, else `sku`, else `id`; the image is
    /// `image_url` or `image`.
    pub fn from_properties(p: &Map<String, Value>) -> Option<Product> {
        let text = |key: &str| match p.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let id = text("product_id").or_else(|| text("sku")).or_else(|| text("id"))?;
        let price = match p.get("price") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Some(Product {
            id,
            name: text("name"),
            price: price.filter(|p: &f64| p.is_finite()),
            category: text("category"),
            url: text("url"),
            image: text("image_url").or_else(|| text("image")),
        })
    }

    /// Fills what `self` lacks from `older`.
    fn fill_from(&mut self, older: &Product) {
        self.name = self.name.take().or_else(|| older.name.clone());
        self.price = self.price.or(older.price);
        self.category = self.category.take().or_else(|| older.category.clone());
        self.url = self.url.take().or_else(|| older.url.clone());
        self.image = self.image.take().or_else(|| older.image.clone());
    }
}

/// One event of a profile's history, as far as recommendations care.
#[derive(Debug, Clone, Copy)]
pub struct ActivityEvent<'a> {
    pub name: &'a str,
    pub timestamp: Micros,
    pub properties: &'a Map<String, Value>,
}

/// The products of an `Order Completed` event's `products` array.
pub fn order_products(properties: &Map<String, Value>) -> Vec<Product> {
    match properties.get("products") {
        Some(Value::Array(items)) => {
            items.iter().filter_map(|v| v.as_object().and_then(Product::from_properties)).collect()
        }
        _ => Vec::new(),
    }
}

/// Products viewed or carted and not bought since, most recent first, each
/// product once, at most `limit`. Details come from the most recent event
/// naming the product, completed from older ones.
pub fn viewed_not_bought(events: &[ActivityEvent<'_>], limit: usize) -> Vec<Product> {
    struct Interest {
        last: Micros,
        product: Product,
        last_detail: Micros,
    }
    let mut interest: HashMap<String, Interest> = HashMap::new();
    let mut bought: HashMap<String, Micros> = HashMap::new();
    for e in events {
        match e.name {
            PRODUCT_VIEWED | PRODUCT_ADDED => {
                let Some(p) = Product::from_properties(e.properties) else { continue };
                match interest.get_mut(&p.id) {
                    None => {
                        interest
                            .insert(p.id.clone(), Interest { last: e.timestamp, last_detail: e.timestamp, product: p });
                    }
                    Some(i) => {
                        i.last = i.last.max(e.timestamp);
                        if e.timestamp >= i.last_detail {
                            let mut newer = p;
                            newer.fill_from(&i.product);
                            i.product = newer;
                            i.last_detail = e.timestamp;
                        } else {
                            i.product.fill_from(&p);
                        }
                    }
                }
            }
            ORDER_COMPLETED => {
                for p in order_products(e.properties) {
                    let t = bought.entry(p.id).or_insert(e.timestamp);
                    *t = (*t).max(e.timestamp);
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<Interest> =
        interest.into_values().filter(|i| bought.get(&i.product.id).is_none_or(|&b| b < i.last)).collect();
    out.sort_by(|a, b| b.last.cmp(&a.last).then_with(|| a.product.id.cmp(&b.product.id)));
    out.into_iter().take(limit).map(|i| i.product).collect()
}

/// Co-purchase counts learned from orders.
#[derive(Debug, Clone, Default)]
pub struct BoughtTogether {
    /// For each product, how many orders contained it with each other one.
    pairs: HashMap<String, HashMap<String, u32>>,
    /// How many orders contained each product.
    orders: HashMap<String, u32>,
    /// The latest details seen for each product.
    products: HashMap<String, Product>,
}

impl BoughtTogether {
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns from every `Order Completed` event of `events`.
    pub fn from_events<'a>(events: impl IntoIterator<Item = ActivityEvent<'a>>) -> Self {
        let mut model = Self::new();
        for e in events {
            if e.name == ORDER_COMPLETED {
                model.learn_order(&order_products(e.properties));
            }
        }
        model
    }

    /// Adds one order. A product listed twice counts once; past
    /// [`MAX_PRODUCTS_PER_ORDER`] distinct products the rest are ignored.
    pub fn learn_order(&mut self, products: &[Product]) {
        let mut distinct: Vec<&Product> = Vec::new();
        for p in products {
            if distinct.len() < MAX_PRODUCTS_PER_ORDER && !distinct.iter().any(|d| d.id == p.id) {
                distinct.push(p);
            }
        }
        for p in &distinct {
            *self.orders.entry(p.id.clone()).or_default() += 1;
            match self.products.get_mut(&p.id) {
                Some(known) => {
                    let mut newer = (*p).clone();
                    newer.fill_from(known);
                    *known = newer;
                }
                None => {
                    self.products.insert(p.id.clone(), (*p).clone());
                }
            }
        }
        for a in &distinct {
            for b in &distinct {
                if a.id != b.id {
                    *self.pairs.entry(a.id.clone()).or_default().entry(b.id.clone()).or_default() += 1;
                }
            }
        }
    }

    /// How many orders contained both `a` and `b`.
    pub fn count(&self, a: &str, b: &str) -> u32 {
        self.pairs.get(a).and_then(|m| m.get(b)).copied().unwrap_or(0)
    }

    /// The top `k` products bought with `product`.
    pub fn complements(&self, product: &str, k: usize) -> Vec<Product> {
        self.complements_of(&[product], k)
    }

    /// The top `k` products bought with any of `products` (counts summed),
    /// never one of `products` itself: what to suggest for a whole cart.
    pub fn complements_of(&self, products: &[&str], k: usize) -> Vec<Product> {
        let mut scores: BTreeMap<&str, u32> = BTreeMap::new();
        for p in products {
            for (other, n) in self.pairs.get(*p).into_iter().flatten() {
                if !products.contains(&other.as_str()) {
                    *scores.entry(other.as_str()).or_default() += n;
                }
            }
        }
        let mut ranked: Vec<(&str, u32)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| {
            b.1.cmp(&a.1).then_with(|| self.orders.get(b.0).cmp(&self.orders.get(a.0))).then_with(|| a.0.cmp(b.0))
        });
        ranked.into_iter().take(k).filter_map(|(id, _)| self.products.get(id).cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn viewed_or_carted_not_bought_newest_first() {
        let view = |id: &str, name: &str| props(json!({"product_id": id, "name": name, "price": 10}));
        let shoes = view("shoes", "Shoes");
        let hat_old = props(json!({"sku": "hat", "name": "Old hat name", "image_url": "https://img/hat.png"}));
        let hat = view("hat", "Hat");
        let scarf = view("scarf", "Scarf");
        let order = props(json!({"products": [{"product_id": "shoes"}]}));
        let later_order = props(json!({"products": [{"product_id": "scarf"}]}));
        let events = [
            ActivityEvent { name: PRODUCT_VIEWED, timestamp: 1, properties: &hat_old },
            ActivityEvent { name: PRODUCT_VIEWED, timestamp: 2, properties: &shoes },
            ActivityEvent { name: PRODUCT_ADDED, timestamp: 3, properties: &hat },
            ActivityEvent { name: ORDER_COMPLETED, timestamp: 4, properties: &order },
            ActivityEvent { name: PRODUCT_VIEWED, timestamp: 5, properties: &scarf },
            ActivityEvent { name: PRODUCT_VIEWED, timestamp: 6, properties: &shoes },
            ActivityEvent { name: ORDER_COMPLETED, timestamp: 7, properties: &later_order },
        ];
        let got = viewed_not_bought(&events, 10);
        let ids: Vec<&str> = got.iter().map(|p| p.id.as_str()).collect();
        // Shoes were bought at 4 but viewed again at 6; the scarf was bought after its view.
        assert_eq!(ids, ["shoes", "hat"]);
        assert_eq!(got[1].name.as_deref(), Some("Hat"));
        assert_eq!(got[1].image.as_deref(), Some("https://img/hat.png"));
        assert_eq!(viewed_not_bought(&events, 1).len(), 1);
    }

    #[test]
    fn bought_together_ranks_complements() {
        let order = |ids: &[&str]| {
            props(
                json!({"products": ids.iter().map(|i| json!({"product_id": i, "name": i.to_uppercase()})).collect::<Vec<_>>()}),
            )
        };
        let orders = [
            order(&["tent", "stove", "mat"]),
            order(&["tent", "stove"]),
            order(&["tent", "lamp", "lamp"]),
            order(&["mat", "lamp"]),
            order(&["stove"]),
        ];
        let model = BoughtTogether::from_events(orders.iter().map(|p| ActivityEvent {
            name: ORDER_COMPLETED,
            timestamp: 0,
            properties: p,
        }));
        assert_eq!(model.count("tent", "stove"), 2);
        assert_eq!(model.count("tent", "lamp"), 1);
        let ids = |ps: Vec<Product>| ps.into_iter().map(|p| p.id).collect::<Vec<_>>();
        // stove (2), then lamp and mat (1 each; both in 2 orders) by id.
        assert_eq!(ids(model.complements("tent", 3)), ["stove", "lamp", "mat"]);
        assert_eq!(ids(model.complements("tent", 1)), ["stove"]);
        assert_eq!(ids(model.complements_of(&["tent", "stove"], 5)), ["mat", "lamp"]);
        assert!(model.complements("unknown", 3).is_empty());
        assert_eq!(model.complements("tent", 1)[0].name.as_deref(), Some("STOVE"));
    }
}
