//! What one simulated person does during one visit to the shop: a burst of
//! page views, product views, searches, carts and orders a few seconds to
//! minutes apart.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::message::{MessageType, Props, SimMessage, Traits};
use crate::persona::{Person, Persona};
use crate::rng::{derive, mix64};
use crate::time::{DAY, HOUR, MILLI, SECOND, Zone};
use crate::words::{FIRST_NAMES, LAST_NAMES};

/// Where simulated pages live (the reserved example domain).
pub const SHOP_URL: &str = "https://shop.example.com";

/// Coupon that an email's incentive gives.
pub(crate) const EMAIL_COUPON: &str = "EMAIL10";

/// Everything a session needs besides the person.
pub(crate) struct Ctx<'a> {
    pub catalog: &'a Catalog,
    pub zone: &'a Zone,
    pub out: &'a mut Vec<SimMessage>,
    /// The simulation ends here; later messages are dropped.
    pub end: i64,
}

/// An email click, and the order it leads to when it does.
#[derive(Debug, Clone)]
pub(crate) struct Visit {
    pub campaign: String,
    pub product: Option<u32>,
    pub order: Option<PlannedOrder>,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedOrder {
    pub order_id: String,
    pub items: Vec<u32>,
    pub coupon: bool,
    pub at: i64,
}

impl Ctx<'_> {
    fn emit(&mut self, p: &mut Person, kind: MessageType, name: &'static str, t: i64, props: Props) {
        self.emit_with(p, kind, name, t, props, None);
    }

    fn emit_with(
        &mut self,
        p: &mut Person,
        kind: MessageType,
        name: &'static str,
        t: i64,
        props: Props,
        page: Option<String>,
    ) {
        // Whole milliseconds, as Segment timestamps carry.
        let t = t + (MILLI - t.rem_euclid(MILLI)) % MILLI;
        if t >= self.end {
            return;
        }
        p.msg_seq += 1;
        let a = derive(p.id_key, &[u64::from(p.msg_seq)]);
        self.out.push(SimMessage {
            kind,
            timestamp: t,
            user: p.identified.then_some(p.idx),
            anon: p.starts_anonymous.then(|| anon_key(p)),
            name,
            message_id: (u128::from(a) << 64) | u128::from(mix64(a ^ 0x1D)),
            props,
            traits: None,
            device: p.device,
            timezone: self.zone.name,
            user_agent: p.device.user_agents()[p.ua as usize],
            page_url: page,
        });
    }

    fn page(&mut self, p: &mut Person, t: i64, name: &'static str, path: String, title: String) {
        let url = format!("{SHOP_URL}{path}");
        self.emit_with(p, MessageType::Page, name, t, Props::Page { path, title }, Some(url));
    }

    fn product(&mut self, p: &mut Person, t: i64, event: &'static str, idx: u32) {
        let product = Arc::clone(self.catalog.get(idx));
        let cart = (event == "Product Added").then_some((p.idx, p.carts));
        let wishlist = event == "Product Added to Wishlist";
        let props = Props::Product { product, cart, wishlist };
        self.emit(p, MessageType::Track, event, t, props);
    }

    fn order(&mut self, p: &mut Person, t: i64, event: &'static str, id: &str, coupon: bool) {
        let items = p.cart.iter().map(|&i| Arc::clone(self.catalog.get(i))).collect();
        let props = Props::Order {
            order_id: id.to_string(),
            items,
            coupon: coupon.then_some(EMAIL_COUPON),
            completed: event == "Order Completed",
        };
        self.emit(p, MessageType::Track, event, t, props);
    }

    /// An `identify` carrying the person's traits (and both ids when they
    /// were anonymous before, which joins their anonymous history).
    pub fn identify(&mut self, p: &mut Person, t: i64) {
        p.identified = true;
        let before = self.out.len();
        self.emit(p, MessageType::Identify, "", t, Props::Empty);
        if let Some(msg) = self.out.get_mut(before) {
            msg.traits = Some(Box::new(Traits {
                email: p.email(),
                first_name: FIRST_NAMES[p.first as usize],
                last_name: LAST_NAMES[p.last as usize],
                timezone: self.zone.name,
                country: self.zone.country,
                consent: p.consent,
                device: p.device,
                created_at: p.joined_at.min(t),
            }));
        }
    }
}

pub(crate) fn anon_key(p: &Person) -> u64 {
    mix64(p.id_key ^ 0xA40A)
}

fn seconds(p: &mut Person, median: f64) -> i64 {
    let s = p.rng.lognormal(median, 0.6).clamp(2.0, median * 8.0);
    (s * 1000.0) as i64 * MILLI
}

/// A product to look at: near the cart, in a favourite category, or anywhere.
fn choose_product(p: &mut Person, catalog: &Catalog) -> u32 {
    if let Some(&c) = p.cart.last()
        && p.rng.chance(0.25)
    {
        let comp = &catalog.get(c).complements;
        if !comp.is_empty() {
            return comp[p.rng.below(comp.len() as u64) as usize];
        }
    }
    let cat = match p.rng.f64() {
        x if x < 0.5 => p.fav[0] as usize,
        x if x < 0.75 => p.fav[1] as usize,
        _ => p.rng.below(catalog.category_count() as u64) as usize,
    };
    catalog.pick_in(cat, &mut p.rng)
}

/// (add to cart, buy what is in the cart, start checkout and leave)
fn intentions(p: &Person, t: i64, weekend: bool, returning: bool) -> (f64, f64, f64) {
    let first = p.orders == 0;
    let (add, buy, checkout): (f64, f64, f64) = match p.persona {
        Persona::Browser => (0.04, 0.0, 0.1),
        Persona::CartAbandoner if returning => (0.0, 0.8, 0.0),
        Persona::CartAbandoner => (0.7, 0.0, 0.35),
        Persona::FirstTimeBuyer if first => (0.45, 0.6, 0.3),
        Persona::FirstTimeBuyer => (0.1, 0.2, 0.2),
        Persona::WeekendBuyer if weekend => (0.55, 0.75, 0.2),
        Persona::WeekendBuyer => (0.05, 0.0, 0.0),
        Persona::LoyalBuyer if t >= p.purchase_due => (0.95, 0.9, 0.1),
        Persona::LoyalBuyer => (0.15, 0.25, 0.2),
        Persona::OpenerNotClicker => (0.05, 0.2, 0.2),
        Persona::Drifter => (0.2, 0.35, 0.2),
        Persona::NewSignup if first => (0.3, 0.35, 0.3),
        Persona::NewSignup => (0.15, 0.2, 0.2),
    };
    let buy = match p.persona {
        Persona::Browser | Persona::CartAbandoner | Persona::WeekendBuyer => buy,
        _ if returning => buy.max(0.6),
        _ => buy,
    };
    (add, (buy * f64::from(p.propensity)).min(0.97), checkout)
}

/// Runs one organic session starting at `t0`; returns when it ended.
pub(crate) fn session(p: &mut Person, cx: &mut Ctx, t0: i64) -> i64 {
    p.sessions += 1;
    let weekend = cx.zone.local(t0).is_weekend();
    let returning = p.return_at <= t0 && !p.cart.is_empty();
    if p.return_at <= t0 {
        p.return_at = i64::MAX;
    }
    let mut t = t0;
    let cat = p.fav[usize::from(p.rng.chance(0.3))] as usize;
    let cat_name = cx.catalog.category_name(cat);
    match p.rng.below(10) {
        _ if returning => cx.page(p, t, "Cart", "/cart".into(), "Your cart".into()),
        0..=4 => cx.page(p, t, "Home", "/".into(), "Home".into()),
        5..=7 => {
            let title = format!("{}{}", cat_name[..1].to_ascii_uppercase(), &cat_name[1..]);
            cx.page(p, t, "Category", format!("/c/{cat_name}"), title)
        }
        _ => {
            t += seconds(p, 8.0);
            let idx = cx.catalog.pick_in(cat, &mut p.rng);
            let word = cx.catalog.get(idx).name.rsplit(' ').next().unwrap_or(cat_name);
            let query = word.to_ascii_lowercase();
            cx.emit(p, MessageType::Track, "Products Searched", t, Props::Search { query });
        }
    }
    if !p.identified && (p.persona == Persona::NewSignup || (p.sessions >= 2 && p.rng.chance(0.2))) {
        t += seconds(p, 60.0);
        cx.identify(p, t);
        let consent = p.consent;
        cx.emit(p, MessageType::Track, "Signed Up", t + MILLI, Props::SignedUp { consent });
        t += MILLI;
    }
    let (lo, hi) = match p.persona {
        Persona::Browser | Persona::FirstTimeBuyer => (2, 7),
        Persona::OpenerNotClicker => (1, 3),
        Persona::Drifter => (1, 4),
        _ => (2, 6),
    };
    let mut seen = [0u32; 8];
    let n = p.rng.range(lo, hi) as usize;
    for slot in seen.iter_mut().take(n) {
        t += seconds(p, 45.0);
        let idx = choose_product(p, cx.catalog);
        *slot = idx;
        cx.product(p, t, "Product Viewed", idx);
        p.note_view(idx, t);
        let wish = if p.persona == Persona::Browser { 0.06 } else { 0.025 };
        if p.rng.chance(wish) {
            t += seconds(p, 5.0);
            cx.product(p, t, "Product Added to Wishlist", idx);
        }
    }
    let (add, buy, checkout) = intentions(p, t0, weekend, returning);
    let mut added = false;
    if n > 0 && p.rng.chance(add) {
        // Cheaper products win more often for the price-sensitive.
        let weights: Vec<f64> = seen[..n]
            .iter()
            .map(|&i| f64::from(cx.catalog.get(i).price_cents).powf(-f64::from(p.price_sens)))
            .collect();
        let pick = seen[p.rng.weighted(&weights)];
        added = add_to_cart(p, cx, &mut t, pick);
        let comp = cx.catalog.get(pick).complements.clone();
        if added && !comp.is_empty() && p.rng.chance(0.2) {
            let c = comp[p.rng.below(comp.len() as u64) as usize];
            t += seconds(p, 30.0);
            cx.product(p, t, "Product Viewed", c);
            p.note_view(c, t);
            add_to_cart(p, cx, &mut t, c);
        }
    }
    if !p.cart.is_empty() && p.rng.chance(buy) {
        t += seconds(p, 90.0);
        if !p.identified {
            cx.identify(p, t); // guest checkout leaves an email address
        }
        p.order_seq += 1;
        let id = format!("o{:06}-{}", p.idx, p.order_seq);
        cx.order(p, t, "Checkout Started", &id, false);
        t += seconds(p, 150.0);
        cx.order(p, t, "Order Completed", &id, false);
        complete_order(p, t);
    } else if added {
        if p.rng.chance(checkout) {
            t += seconds(p, 90.0);
            let id = format!("o{:06}-{}", p.idx, p.order_seq + 1);
            cx.order(p, t, "Checkout Started", &id, false);
        }
        let comes_back = match p.persona {
            Persona::CartAbandoner => 0.2,
            Persona::WeekendBuyer | Persona::Browser => 0.0,
            _ => 0.35,
        };
        if p.return_at == i64::MAX && p.rng.chance(comes_back) {
            let delay = (p.rng.lognormal(1.5, 0.8) * DAY as f64) as i64;
            p.return_at = t + delay.max(3 * HOUR);
        }
    }
    t
}

fn add_to_cart(p: &mut Person, cx: &mut Ctx, t: &mut i64, idx: u32) -> bool {
    if p.cart.contains(&idx) || p.cart.len() >= 6 {
        return false;
    }
    if p.cart.is_empty() {
        p.carts += 1;
    }
    p.cart.push(idx);
    *t += seconds(p, 20.0);
    if p.return_at != i64::MAX {
        // Whoever means to come back for the cart takes a while to.
        p.return_at = p.return_at.max(*t + 3 * HOUR);
    }
    cx.product(p, *t, "Product Added", idx);
    true
}

fn complete_order(p: &mut Person, t: i64) {
    p.orders += 1;
    p.cart.clear();
    p.return_at = i64::MAX;
    if p.persona == Persona::LoyalBuyer {
        let days = p.rng.gamma(2.0, 9.0 / f64::from(p.propensity));
        p.purchase_due = t + (days.max(1.0) * DAY as f64) as i64;
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The visit an email click starts: the landing page, the product clicked,
/// and the order when the email convinced them.
pub(crate) fn visit(p: &mut Person, cx: &mut Ctx, t0: i64, v: &Visit) {
    let campaign = percent_encode(&v.campaign);
    let (path, title) = match v.product {
        Some(i) => (cx.catalog.get(i).path.clone(), cx.catalog.get(i).name.clone()),
        None => ("/".to_string(), "Home".to_string()),
    };
    let query = format!("?utm_source=tidings&utm_medium=email&utm_campaign={campaign}");
    let url = format!("{SHOP_URL}{path}{query}");
    let props = Props::Page { path, title };
    cx.emit_with(p, MessageType::Page, "Email Landing", t0, props, Some(url));
    let mut t = t0 + 2 * SECOND;
    if let Some(i) = v.product {
        cx.product(p, t, "Product Viewed", i);
        p.note_view(i, t);
    }
    if let Some(order) = &v.order {
        let checkout_at = order.at - 60 * SECOND;
        for &i in &order.items {
            t = (t + 10 * SECOND).min(checkout_at - SECOND);
            if !p.cart.contains(&i) {
                if p.cart.is_empty() {
                    p.carts += 1;
                }
                p.cart.push(i);
                cx.product(p, t, "Product Added", i);
            }
        }
        // Only what the email sold is bought; anything else stays in the cart.
        let rest: Vec<u32> = p.cart.iter().copied().filter(|i| !order.items.contains(i)).collect();
        p.cart.clone_from(&order.items);
        cx.order(p, checkout_at, "Checkout Started", &order.order_id, order.coupon);
        cx.order(p, order.at, "Order Completed", &order.order_id, order.coupon);
        complete_order(p, order.at);
        p.cart = rest;
    }
    if p.persona == Persona::Drifter {
        // A good email wins a drifter back for a while.
        p.drift_from = t0;
        p.stop_at = p.stop_at.max(t0 + 10 * DAY);
    }
}
