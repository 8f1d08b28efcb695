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
/// naming the product, completed from older ones. `events` are in time order.
pub fn viewed_not_bought(events: &[ActivityEvent<'_>], limit: usize) -> Vec<Product> {
    let mut interests = Interests::default();
    for (i, e) in events.iter().enumerate() {
        interests.observe(e.name, e.timestamp, i as i64, e.properties);
    }
    interests.viewed_not_bought(limit)
}

/// When an event happened, and its place in the log: what orders two
/// events' details.
type Stamp = (Micros, i64);

/// One detail of a product, from the newest event that gave it.
#[derive(Debug, Clone)]
struct Detail<T> {
    at: Stamp,
    value: T,
}

fn keep<T>(slot: &mut Option<Detail<T>>, at: Stamp, value: Option<T>) {
    if let Some(value) = value
        && slot.as_ref().is_none_or(|d| at >= d.at)
    {
        *slot = Some(Detail { at, value });
    }
}

/// A product a person showed interest in.
#[derive(Debug, Clone)]
struct Interest {
    /// The newest view or cart addition.
    last: Micros,
    name: Option<Detail<String>>,
    price: Option<Detail<f64>>,
    category: Option<Detail<String>>,
    url: Option<Detail<String>>,
    image: Option<Detail<String>>,
}

/// A person's product interest, kept as their events arrive, in any order:
/// what [`viewed_not_bought`] reads from a whole history, folded one event
/// at a time. Each product detail keeps the newest event that gave it, so
/// the answer does not depend on the order events arrive in. It grows with
/// the distinct products a person touched, not with their events.
#[derive(Debug, Clone, Default)]
pub struct Interests {
    viewed: HashMap<String, Interest>,
    /// The newest order containing each product.
    bought: HashMap<String, Micros>,
}

impl Interests {
    /// Takes one `track` event (others are ignored). `seq` orders events of the same time.
    pub fn observe(&mut self, name: &str, timestamp: Micros, seq: i64, properties: &Map<String, Value>) {
        match name {
            PRODUCT_VIEWED | PRODUCT_ADDED => {
                let Some(p) = Product::from_properties(properties) else { return };
                let at = (timestamp, seq);
                let i = self.viewed.entry(p.id).or_insert(Interest {
                    last: timestamp,
                    name: None,
                    price: None,
                    category: None,
                    url: None,
                    image: None,
                });
                i.last = i.last.max(timestamp);
                keep(&mut i.name, at, p.name);
                keep(&mut i.price, at, p.price);
                keep(&mut i.category, at, p.category);
                keep(&mut i.url, at, p.url);
                keep(&mut i.image, at, p.image);
            }
            ORDER_COMPLETED => {
                for p in order_products(properties) {
                    let t = self.bought.entry(p.id).or_insert(timestamp);
                    *t = (*t).max(timestamp);
                }
            }
            _ => {}
        }
    }

    /// Products viewed or carted and not bought since, most recent first, at most `limit`.
    pub fn viewed_not_bought(&self, limit: usize) -> Vec<Product> {
        let mut out: Vec<(&String, &Interest)> =
            self.viewed.iter().filter(|(id, i)| self.bought.get(*id).is_none_or(|&b| b < i.last)).collect();
        out.sort_by(|a, b| b.1.last.cmp(&a.1.last).then_with(|| a.0.cmp(b.0)));
        let value = |d: &Option<Detail<String>>| d.as_ref().map(|d| d.value.clone());
        out.into_iter()
            .take(limit)
            .map(|(id, i)| Product {
                id: id.clone(),
                name: value(&i.name),
                price: i.price.as_ref().map(|d| d.value),
                category: value(&i.category),
                url: value(&i.url),
                image: value(&i.image),
            })
            .collect()
    }
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

    /// Folded in any arrival order, a person's interest reads the same as
    /// over the history in time order: details from the newest event that
    /// gave each, a product bought after its last view left out.
    #[test]
    fn interests_do_not_depend_on_arrival_order() {
        let events = [
            ("Product Viewed", 10, props(json!({"product_id": "a", "name": "Old A", "price": 5}))),
            ("Product Viewed", 20, props(json!({"product_id": "b", "name": "B"}))),
            ("Product Added", 30, props(json!({"product_id": "a", "name": "New A", "url": "https://x/a"}))),
            ("Order Completed", 40, props(json!({"products": [{"product_id": "b"}]}))),
            ("Product Viewed", 50, props(json!({"product_id": "c", "image_url": "https://x/c.png"}))),
            ("Product Viewed", 25, props(json!({"product_id": "a", "price": 7}))),
        ];
        let mut in_time: Vec<usize> = (0..events.len()).collect();
        in_time.sort_by_key(|&i| events[i].1);
        let activity: Vec<ActivityEvent<'_>> = in_time
            .iter()
            .map(|&i| ActivityEvent { name: events[i].0, timestamp: events[i].1, properties: &events[i].2 })
            .collect();
        let expected = viewed_not_bought(&activity, 5);
        assert_eq!(expected.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["c", "a"]);
        assert_eq!(expected[1].name.as_deref(), Some("New A"));
        assert_eq!(expected[1].price, Some(7.0));
        for order in [vec![5, 4, 3, 2, 1, 0], vec![3, 0, 5, 1, 4, 2], vec![2, 5, 0, 4, 1, 3]] {
            let mut interests = Interests::default();
            for i in order {
                interests.observe(events[i].0, events[i].1, i as i64, &events[i].2);
            }
            assert_eq!(interests.viewed_not_bought(5), expected);
        }
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
