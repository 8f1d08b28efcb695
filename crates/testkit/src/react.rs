//! How simulated people react to email: open, click, buy, unsubscribe, or
//! nothing, and when.
//!
//! The probabilities multiply a persona's base rates by four factors:
//!
//! - relevance: does the email show what they carted (1.0), viewed lately
//!   (0.75, fading with age), a complement of it (0.45), or just a favourite
//!   category (0.25-0.3)? Relevance lifts opens a little, clicks and
//!   purchases a lot;
//! - send hour: mail that arrives near their habitual hours is opened more,
//!   and within minutes; otherwise later, when they next look;
//! - fatigue: every email adds 1 to a score that decays with a four-day time
//!   constant; opens fall as 1 / (1 + 0.25 x score) and unsubscribes rise;
//! - activity: a drifter's interest fades with their site activity.
//!
//! An incentive (a coupon) lifts clicks and purchases, more so for the
//! price-sensitive. People whose mail client prefetches images produce a
//! machine open within seconds of every delivery, and their real opens are
//! invisible (the image is cached), as with Apple Mail Privacy Protection.

use crate::message::{order_total, user_id_string};
use crate::persona::{Person, Persona};
use crate::session::{PlannedOrder, Visit};
use crate::sim::{Simulation, WakeKind};
use crate::time::{DAY, HOUR, MILLI, MINUTE, SECOND, Zone};

/// An email the engine sends to a simulated person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Email {
    /// `u000123`.
    pub user_id: String,
    /// When it is delivered, microseconds since the Unix epoch.
    pub at: i64,
    /// Template or journey label; becomes `utm_campaign` of the landing page.
    pub label: String,
    /// Subscription topic (informational).
    pub topic: String,
    /// Product ids shown. Link `i < products.len()` opens `products[i]`;
    /// link `products.len()` is the main call to action (the shop).
    pub products: Vec<String>,
    /// Category names the email is about.
    pub categories: Vec<String>,
    /// Carries a coupon (10% off).
    pub incentive: bool,
}

/// Something a simulated person does because of an email, at a future time.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub user_id: String,
    pub at: i64,
    pub kind: ReactionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReactionKind {
    /// The open pixel is fetched. `machine` opens come from a privacy proxy
    /// seconds after delivery, with its user agent; send them through the
    /// pixel like any other.
    Open { machine: bool, user_agent: &'static str },
    /// A link is followed (see [`Email::products`] for the numbering).
    Click { link: usize, product_id: Option<String> },
    /// The click ends in an order. Informational: the simulation itself
    /// emits the visit and its `Order Completed` from `advance_to`.
    Purchase { order_id: String, revenue: f64, product_ids: Vec<String> },
    /// The unsubscribe link (or List-Unsubscribe) is used.
    Unsubscribe,
}

/// User agent of the image proxy behind machine opens.
pub const PROXY_USER_AGENT: &str = "Mozilla/5.0";

/// Base (open, click given open, purchase given click) rates per persona.
fn base_rates(persona: Persona) -> (f64, f64, f64) {
    match persona {
        Persona::Browser => (0.22, 0.20, 0.06),
        Persona::CartAbandoner => (0.32, 0.22, 0.30),
        Persona::FirstTimeBuyer => (0.30, 0.20, 0.18),
        Persona::WeekendBuyer => (0.32, 0.20, 0.20),
        Persona::LoyalBuyer => (0.45, 0.25, 0.30),
        Persona::OpenerNotClicker => (0.65, 0.015, 0.05),
        Persona::Drifter => (0.30, 0.18, 0.12),
        Persona::NewSignup => (0.45, 0.22, 0.18),
    }
}

struct Relevance {
    score: f64,
    /// The link of the most relevant product shown.
    link: Option<usize>,
    from_cart: bool,
}

fn relevance(p: &Person, sim: &Simulation, email: &Email, at: i64) -> Relevance {
    let cat = &sim.catalog;
    let likes = |c: usize| p.fav.contains(&(c as u8)) || p.recent_products().any(|r| cat.category_of(r) == c);
    let mut best = Relevance { score: 0.0, link: None, from_cart: false };
    for (i, id) in email.products.iter().enumerate() {
        let Some(idx) = cat.index_of(id) else {
            continue;
        };
        let score = if p.cart.contains(&idx) {
            1.0
        } else if let Some(seen) = p.viewed_at(idx) {
            0.3 + 0.45 * (-((at - seen) as f64) / (5.0 * DAY as f64)).exp()
        } else if p.recent_products().any(|r| cat.get(r).complements.contains(&idx)) {
            0.45
        } else if likes(cat.category_of(idx)) {
            0.25
        } else {
            0.05
        };
        if score > best.score {
            best = Relevance { score, link: Some(i), from_cart: score >= 1.0 };
        }
    }
    for c in &email.categories {
        if cat.category_index(c).is_some_and(likes) && best.score < 0.3 {
            best.score = 0.3;
        }
    }
    best
}

/// Time from `at` until they next look at their mail: soon when `at` is in
/// their habitual hours, else around their next habitual hour.
fn open_delay(p: &mut Person, zone: &Zone, at: i64, hours_off: f64) -> i64 {
    if hours_off <= 1.5 {
        let minutes = p.email_rng.lognormal(12.0, 1.0).clamp(0.5, 360.0);
        return (minutes * MINUTE as f64) as i64;
    }
    let day = zone.local(at).day;
    let next = p
        .peaks
        .iter()
        .flat_map(|&h| (0..2).map(move |d| (day + d, i64::from(h) * HOUR + 30 * MINUTE)))
        .map(|(d, of_day)| zone.to_utc(d, of_day))
        .filter(|&t| t > at)
        .min()
        .unwrap_or(at + DAY);
    next - at + (p.email_rng.lognormal(10.0, 0.8).min(120.0) * MINUTE as f64) as i64
}

fn round_ms(t: i64) -> i64 {
    t - t.rem_euclid(MILLI)
}

impl Simulation {
    /// Delivers an email to a simulated person and returns what they will do
    /// about it. Deliver at or after the clock (the last `advance_to`); an
    /// earlier `at` is taken as the clock. Unknown users, and deliveries at
    /// or after the end of the window, get no reactions.
    pub fn deliver(&mut self, email: &Email) -> Vec<Reaction> {
        let Some(idx) = crate::message::parse_user_id(&email.user_id) else {
            return Vec::new();
        };
        if idx as usize >= self.people.len() || email.at.max(self.clock) >= self.end {
            return Vec::new();
        }
        let at = round_ms(email.at.max(self.clock));
        let rel = relevance(&self.people[idx as usize], self, email, at);
        let end = self.end;
        let p = &mut self.people[idx as usize];
        let zone = &self.zones[p.zone as usize];
        let r = &mut p.email_rng;
        let user_id = user_id_string(idx);
        let mut out = Vec::new();
        let mut react = |at: i64, kind: ReactionKind| {
            if at < end {
                out.push(Reaction { user_id: user_id.clone(), at: round_ms(at), kind });
            }
        };

        let since = (at - p.fatigue_at).max(0) as f64;
        let fatigue = f64::from(p.fatigue) * (-since / (4.0 * DAY as f64)).exp();
        p.fatigue = (fatigue + 1.0) as f32;
        p.fatigue_at = p.fatigue_at.max(at);
        if p.mpp && r.chance(0.95) {
            let user_agent = PROXY_USER_AGENT;
            let delay = r.range(2_000, 45_000) as i64 * MILLI;
            react(at + delay, ReactionKind::Open { machine: true, user_agent });
        }
        if p.unsubscribed {
            return out;
        }

        let (base_open, base_click, base_buy) = base_rates(p.persona);
        let hours_off = p.hours_from_habit(zone.local(at).hour_f());
        let hour_factor = if hours_off <= 1.5 {
            1.0
        } else if hours_off <= 3.0 {
            0.85
        } else {
            0.7
        };
        let interest = 0.2 + 0.8 * p.drift_factor(at);
        let p_open = base_open * hour_factor * interest * (0.85 + 0.3 * rel.score) / (1.0 + 0.25 * fatigue);
        if !p.email_rng.chance(p_open.min(0.95)) {
            return out;
        }
        let open_at = at + open_delay(p, zone, at, hours_off);
        let r = &mut p.email_rng;
        if !p.mpp {
            let user_agent = p.device.user_agents()[p.ua as usize];
            react(open_at, ReactionKind::Open { machine: false, user_agent });
        }

        let p_unsub = (0.002 + 0.004 * fatigue)
            * if rel.score < 0.2 { 1.6 } else { 1.0 }
            * if p.consent { 1.0 } else { 4.0 }
            * if p.persona == Persona::Drifter { 2.0 } else { 1.0 };
        if r.chance(p_unsub) {
            p.unsubscribed = true;
            let delay = r.range(20_000, 120_000) as i64 * MILLI;
            react(open_at + delay, ReactionKind::Unsubscribe);
            return out;
        }

        let sens = f64::from(p.price_sens) / 1.5;
        let incentive = if email.incentive { 1.2 + 0.3 * sens } else { 1.0 };
        let p_click = base_click * (0.25 + 1.5 * rel.score) * incentive.sqrt();
        if !r.chance(p_click.min(0.9)) {
            return out;
        }
        let click_at = open_at + (r.lognormal(40.0, 0.8).clamp(3.0, 1800.0) * SECOND as f64) as i64;
        let n_links = email.products.len() + 1;
        let link = match rel.link {
            Some(l) if r.chance(0.7) => l,
            _ => r.below(n_links as u64) as usize,
        };
        let clicked = email.products.get(link).and_then(|id| self.catalog.index_of(id));
        let product_id = clicked.map(|i| self.catalog.get(i).id.clone());
        react(click_at, ReactionKind::Click { link, product_id });

        let p_buy = base_buy * (0.15 + 1.85 * rel.score) * incentive * f64::from(p.propensity);
        let buy_at = click_at + (r.lognormal(6.0, 0.6).clamp(1.0, 50.0) * MINUTE as f64) as i64;
        let buys = r.chance(p_buy.min(0.9)) && buy_at + 3 * MINUTE < end;
        let order = if buys {
            let items = if rel.from_cart {
                p.cart.clone()
            } else if let Some(i) = clicked {
                vec![i]
            } else {
                let cat =
                    email.categories.iter().find_map(|c| self.catalog.category_index(c)).unwrap_or(p.fav[0] as usize);
                vec![self.catalog.pick_in(cat, &mut p.email_rng)]
            };
            p.order_seq += 1;
            let order_id = format!("o{:06}-{}", p.idx, p.order_seq);
            let items_p: Vec<_> = items.iter().map(|&i| self.catalog.get(i).clone()).collect();
            let revenue = order_total(&items_p, email.incentive) as f64 / 100.0;
            let product_ids = items_p.iter().map(|p| p.id.clone()).collect();
            let at = round_ms(buy_at + 3 * MINUTE);
            react(at, ReactionKind::Purchase { order_id: order_id.clone(), revenue, product_ids });
            Some(PlannedOrder { order_id, items, coupon: email.incentive, at })
        } else {
            None
        };
        let visit = Visit { campaign: email.label.clone(), product: clicked, order };
        self.push(round_ms(click_at), idx, WakeKind::Visit(Box::new(visit)));
        out
    }
}
