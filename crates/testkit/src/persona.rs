//! Simulated people: who they are (persona, traits, habits) and the state
//! their behaviour carries from one session to the next.

use crate::rng::{SimRng, derive};
use crate::time::{DAY, HOUR, MILLI, MINUTE, Zone, is_weekend_day};
use crate::words::{FIRST_NAMES, LAST_NAMES};

/// The kinds of simulated shoppers. See the crate docs for what each does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Persona {
    Browser,
    CartAbandoner,
    FirstTimeBuyer,
    WeekendBuyer,
    LoyalBuyer,
    OpenerNotClicker,
    Drifter,
    NewSignup,
}

impl Persona {
    pub const ALL: [Persona; 8] = [
        Persona::Browser,
        Persona::CartAbandoner,
        Persona::FirstTimeBuyer,
        Persona::WeekendBuyer,
        Persona::LoyalBuyer,
        Persona::OpenerNotClicker,
        Persona::Drifter,
        Persona::NewSignup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Persona::Browser => "browser",
            Persona::CartAbandoner => "cart_abandoner",
            Persona::FirstTimeBuyer => "first_time_buyer",
            Persona::WeekendBuyer => "weekend_buyer",
            Persona::LoyalBuyer => "loyal_buyer",
            Persona::OpenerNotClicker => "opener_not_clicker",
            Persona::Drifter => "drifter",
            Persona::NewSignup => "new_signup",
        }
    }

    /// Site sessions per day of a typical person of this kind.
    pub(crate) fn session_rate(self) -> f64 {
        match self {
            Persona::Browser => 0.30,
            Persona::CartAbandoner => 0.25,
            Persona::FirstTimeBuyer => 0.22,
            Persona::WeekendBuyer => 0.30,
            Persona::LoyalBuyer => 0.45,
            Persona::OpenerNotClicker => 0.05,
            Persona::Drifter => 0.60,
            Persona::NewSignup => 0.35,
        }
    }

    /// Share of people of this kind who start anonymous and identify later.
    fn anonymous_share(self) -> f64 {
        match self {
            Persona::NewSignup => 1.0,
            Persona::Browser => 0.5,
            Persona::FirstTimeBuyer => 0.4,
            Persona::CartAbandoner => 0.2,
            _ => 0.0,
        }
    }
}

/// How many people of each persona, as relative weights.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaMix(pub [(Persona, f64); 8]);

impl Default for PersonaMix {
    fn default() -> PersonaMix {
        PersonaMix([
            (Persona::Browser, 0.28),
            (Persona::CartAbandoner, 0.15),
            (Persona::FirstTimeBuyer, 0.12),
            (Persona::WeekendBuyer, 0.08),
            (Persona::LoyalBuyer, 0.08),
            (Persona::OpenerNotClicker, 0.10),
            (Persona::Drifter, 0.10),
            (Persona::NewSignup, 0.09),
        ])
    }
}

/// The kind of device a person mostly uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Mobile,
    Desktop,
    Tablet,
}

impl Device {
    /// Segment's `context.device.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Mobile => "mobile",
            Device::Desktop => "desktop",
            Device::Tablet => "tablet",
        }
    }

    pub(crate) fn user_agents(self) -> &'static [&'static str] {
        match self {
            Device::Mobile => &[
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
            ],
            Device::Desktop => &[
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
            ],
            Device::Tablet => &[
                "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            ],
        }
    }
}

/// One simulated person: fixed traits and habits, plus behavioural state.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub idx: u32,
    pub persona: Persona,
    pub zone: u8,
    pub device: Device,
    pub ua: u8,
    pub first: u8,
    pub last: u8,
    pub consent: bool,
    /// Their mail client prefetches images (Apple Mail Privacy Protection).
    pub mpp: bool,
    /// Starts anonymous; `identified` flips at sign-up or checkout.
    pub starts_anonymous: bool,
    pub identified: bool,
    /// Local hours at which they are most active, primary first.
    pub peaks: [u8; 2],
    /// Probability that a session falls on a weekend day.
    pub weekend_pref: f32,
    pub fav: [u8; 2],
    /// Personal multiplier on the persona's session rate.
    pub activity: f32,
    /// Personal multiplier on purchase probabilities.
    pub propensity: f32,
    /// 0 (indifferent) .. 1.5 (strongly prefers cheap products).
    pub price_sens: f32,
    /// When they first appear (sign-ups) or the customer record was made.
    pub joined_at: i64,
    /// Drifters: activity decays from `drift_from` with this time constant
    /// (days) and stops at `stop_at`.
    pub drift_tau: f32,
    pub drift_from: i64,
    pub stop_at: i64,
    pub rng: SimRng,
    pub email_rng: SimRng,
    pub id_key: u64,
    pub msg_seq: u32,
    // Behavioural state.
    pub sessions: u32,
    /// A `Session` wake is queued for them.
    pub scheduled: bool,
    pub order_seq: u32,
    pub cart: Vec<u32>,
    pub carts: u32,
    pub return_at: i64,
    pub recent: [(u32, i64); 6],
    pub recent_head: u8,
    pub orders: u32,
    pub purchase_due: i64,
    pub fatigue: f32,
    pub fatigue_at: i64,
    pub unsubscribed: bool,
}

impl Person {
    pub fn new(
        seed: u64,
        idx: u32,
        persona: Persona,
        (start, end): (i64, i64),
        ncat: usize,
        zone_weights: &[f64],
    ) -> Person {
        let mut r = SimRng::new(derive(seed, &[idx as u64, 1]));
        let zone = r.weighted(zone_weights) as u8;
        let device = match r.f64() {
            x if x < 0.58 => Device::Mobile,
            x if x < 0.92 => Device::Desktop,
            _ => Device::Tablet,
        };
        let ua = r.below(device.user_agents().len() as u64) as u8;
        let apple = device == Device::Tablet || (ua == 0 && device != Device::Desktop);
        let mpp = r.chance(if apple { 0.6 } else { 0.08 });
        let consent = match persona {
            Persona::NewSignup => r.chance(0.6),
            _ => r.chance(0.85),
        };
        // Evening dominates, then lunch, morning commute, late night.
        let peak = |r: &mut SimRng| -> u8 { [20u8, 12, 8, 22, 18, 7][r.weighted(&[0.34, 0.2, 0.14, 0.1, 0.14, 0.08])] };
        let p1 = peak(&mut r);
        let mut p2 = peak(&mut r);
        if p2 == p1 {
            p2 = (p1 + 3) % 24;
        }
        let weekend_pref = match persona {
            Persona::WeekendBuyer => 0.88,
            Persona::LoyalBuyer => 0.35,
            _ => r.uniform(0.22, 0.4),
        } as f32;
        let f1 = r.below(ncat as u64) as u8;
        let f2 = ((u64::from(f1) + 1 + r.below(ncat as u64 - 1)) % ncat as u64) as u8;
        let starts_anonymous = r.chance(persona.anonymous_share());
        let joined_at = match persona {
            Persona::NewSignup => start + r.below(((end - start) * 9 / 10).max(1) as u64) as i64,
            _ => start - (r.uniform(20.0, 900.0) * DAY as f64) as i64,
        };
        let drift_tau = r.uniform(4.0, 9.0) as f32;
        let stop_at = match persona {
            Persona::Drifter => start + (r.uniform(6.0, 24.0) * DAY as f64) as i64,
            _ => i64::MAX,
        };
        let propensity = r.lognormal(1.0, 0.3) as f32;
        let purchase_due = match persona {
            Persona::LoyalBuyer => start + (r.uniform(0.0, 12.0) * DAY as f64) as i64,
            _ => i64::MAX,
        };
        Person {
            idx,
            persona,
            zone,
            device,
            ua,
            first: r.below(FIRST_NAMES.len() as u64) as u8,
            last: r.below(LAST_NAMES.len() as u64) as u8,
            consent,
            mpp,
            starts_anonymous,
            identified: !starts_anonymous,
            peaks: [p1, p2],
            weekend_pref,
            fav: [f1, f2],
            activity: r.lognormal(1.0, 0.4) as f32,
            propensity,
            price_sens: r.uniform(0.0, 1.5) as f32,
            joined_at,
            drift_tau,
            drift_from: start,
            stop_at,
            rng: SimRng::new(derive(seed, &[idx as u64, 2])),
            email_rng: SimRng::new(derive(seed, &[idx as u64, 3])),
            id_key: derive(seed, &[idx as u64, 4]),
            msg_seq: 0,
            sessions: 0,
            scheduled: false,
            order_seq: 0,
            cart: Vec::new(),
            carts: 0,
            return_at: i64::MAX,
            recent: [(u32::MAX, i64::MIN); 6],
            recent_head: 0,
            orders: 0,
            purchase_due,
            fatigue: 0.0,
            fatigue_at: start,
            unsubscribed: false,
        }
    }

    /// Sessions per day at time `t`, before the global scale.
    pub fn rate_at(&self, t: i64) -> f64 {
        let base = self.persona.session_rate() * f64::from(self.activity);
        match self.persona {
            Persona::Drifter if t >= self.stop_at => 0.0,
            Persona::Drifter => base * self.drift_factor(t),
            Persona::FirstTimeBuyer if self.orders > 0 => base * 0.3,
            Persona::NewSignup => {
                let age = (t - self.joined_at).max(0) as f64 / DAY as f64;
                base * (0.4 + 0.6 * (-age / 14.0).exp())
            }
            _ => base,
        }
    }

    /// 1 at `drift_from`, decaying; 1 for everyone who does not drift.
    pub fn drift_factor(&self, t: i64) -> f64 {
        if self.persona != Persona::Drifter {
            return 1.0;
        }
        if t >= self.stop_at {
            return 0.0;
        }
        let days = (t - self.drift_from).max(0) as f64 / DAY as f64;
        (-days / f64::from(self.drift_tau)).exp()
    }

    /// A local time of day (micros since midnight) drawn from their habits.
    pub fn sample_time_of_day(&mut self) -> i64 {
        let peak = if self.rng.chance(0.65) { self.peaks[0] } else { self.peaks[1] };
        let h = (f64::from(peak) + 0.5 + 0.8 * self.rng.normal()).rem_euclid(24.0);
        ((h * HOUR as f64) as i64 / MILLI) * MILLI
    }

    /// Hours between local hour-of-day `h` and their nearest habit peak.
    pub fn hours_from_habit(&self, h: f64) -> f64 {
        self.peaks
            .iter()
            .map(|&p| {
                let d = (h - (f64::from(p) + 0.5)).abs();
                d.min(24.0 - d)
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// The next session strictly after `after`, or `None` if they go quiet.
    pub fn next_session(&mut self, zone: &Zone, after: i64, scale: f64) -> Option<i64> {
        let rate = self.rate_at(after) * scale;
        if rate < 1e-4 {
            return None;
        }
        let gap = self.rng.exp(1.0 / rate).max(0.02);
        let cand = after.saturating_add((gap * DAY as f64) as i64);
        let want_weekend = self.rng.chance(f64::from(self.weekend_pref));
        let of_day = self.sample_time_of_day();
        let earliest = after + 20 * MINUTE;
        let first_day = zone.local(cand).day;
        // The first day of the wanted kind (weekend or not) on which their
        // habitual time is still ahead.
        let t = (first_day..first_day + 14)
            .filter(|&d| is_weekend_day(d) == want_weekend)
            .map(|d| zone.to_utc(d, of_day))
            .find(|&t| t > earliest)?;
        (t < self.stop_at).then_some(t)
    }

    pub fn note_view(&mut self, product: u32, t: i64) {
        self.recent[self.recent_head as usize] = (product, t);
        self.recent_head = (self.recent_head + 1) % self.recent.len() as u8;
    }

    /// When they last looked at `product`, if among the recent ones.
    pub fn viewed_at(&self, product: u32) -> Option<i64> {
        self.recent.iter().filter(|r| r.0 == product).map(|r| r.1).max()
    }

    pub fn recent_products(&self) -> impl Iterator<Item = u32> + '_ {
        self.recent.iter().filter(|r| r.0 != u32::MAX).map(|r| r.0)
    }

    pub fn email(&self) -> String {
        format!(
            "{}.{}.{}@example.com",
            FIRST_NAMES[self.first as usize].to_ascii_lowercase(),
            LAST_NAMES[self.last as usize].to_ascii_lowercase(),
            self.idx
        )
    }
}
