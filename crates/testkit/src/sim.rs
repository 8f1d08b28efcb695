//! The simulation: a population of simulated people, a simulated clock, and
//! a time-ordered stream of what they do.
//!
//! Each person has one pending wake (their next session), plus any visits
//! that emails caused, in a [`TimeQueue`]. Waking a person runs a session,
//! whose messages wait in a [`MessageQueue`] ordered by timestamp; a message
//! is released once no wake can still produce an earlier one. Output is thus
//! in global time order, and the same configuration (and the same
//! deliveries) always gives the same messages.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::message::{SimMessage, user_id_string};
use crate::persona::{Device, Person, Persona, PersonaMix};
use crate::queue::{MessageQueue, TimeQueue, Timed};
use crate::rng::{SimRng, derive};
use crate::session::{self, Ctx, Visit, anon_key};
use crate::time::{DAY, MILLI, MINUTE, Zone};
use crate::words::FIRST_NAMES;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    /// Number of simulated people.
    pub profiles: u32,
    /// Start of the simulated window, microseconds since the Unix epoch.
    pub start: i64,
    /// Length of the window in days; nothing happens at or after its end.
    pub days: u32,
    /// Number of products in the catalogue.
    pub catalog_size: usize,
    pub mix: PersonaMix,
    /// Multiplies every person's session rate (more or fewer events).
    pub activity_scale: f64,
}

/// 2026-01-05T00:00:00Z, a Monday.
pub const DEFAULT_START: i64 = 1_767_571_200_000_000;

impl SimConfig {
    pub fn new(seed: u64, profiles: u32, start: i64, days: u32) -> SimConfig {
        SimConfig { seed, profiles, start, days, ..SimConfig::default() }
    }

    pub fn end(&self) -> i64 {
        self.start + i64::from(self.days) * DAY
    }
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 0,
            profiles: 1_000,
            start: DEFAULT_START,
            days: 28,
            catalog_size: 240,
            mix: PersonaMix::default(),
            activity_scale: 1.0,
        }
    }
}

/// Who a simulated person is (the ground truth a demo can report on).
#[derive(Debug, Clone, PartialEq)]
pub struct PersonInfo {
    pub user_id: String,
    /// Set for people who browsed anonymously before identifying.
    pub anonymous_id: Option<String>,
    pub persona: Persona,
    pub email: String,
    pub first_name: &'static str,
    pub timezone: &'static str,
    pub country: &'static str,
    pub marketing_consent: bool,
    pub device: Device,
    /// Their mail client prefetches images (machine opens).
    pub machine_opens: bool,
    /// Has told the shop who they are (so far).
    pub identified: bool,
    pub unsubscribed: bool,
    pub orders: u32,
    /// Local hours (0-23) around which they visit and read mail.
    pub habit_hours: [u8; 2],
    /// Product ids in their cart right now.
    pub cart: Vec<String>,
}

#[derive(Debug)]
pub(crate) enum WakeKind {
    Import,
    Session,
    Visit(Box<Visit>),
}

#[derive(Debug)]
pub(crate) struct Wake {
    pub at: i64,
    pub seq: u64,
    pub person: u32,
    pub kind: WakeKind,
}

impl PartialEq for Wake {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Wake {}
impl PartialOrd for Wake {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Wake {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}
impl Timed for Wake {
    fn at(&self) -> i64 {
        self.at
    }
}

/// A running simulation of the shop. See the crate docs.
pub struct Simulation {
    pub(crate) cfg: SimConfig,
    pub(crate) end: i64,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) zones: Vec<Zone>,
    pub(crate) people: Vec<Person>,
    wakes: TimeQueue<Wake>,
    pending: MessageQueue,
    seq: u64,
    /// Everything up to here has been emitted.
    pub(crate) clock: i64,
    scratch: Vec<SimMessage>,
}

impl Simulation {
    pub fn new(cfg: SimConfig) -> Simulation {
        let catalog = Arc::new(Catalog::generate(cfg.seed, cfg.catalog_size));
        let zones = Zone::all();
        let zone_weights = Zone::weights();
        let weights: Vec<f64> = cfg.mix.0.iter().map(|m| m.1.max(0.0)).collect();
        let (start, end) = (cfg.start, cfg.end());
        let ncat = catalog.category_count();
        let mut sim = Simulation {
            end,
            catalog,
            zones,
            people: Vec::with_capacity(cfg.profiles as usize),
            wakes: TimeQueue::new(MINUTE),
            pending: MessageQueue::default(),
            seq: 0,
            clock: start,
            scratch: Vec::new(),
            cfg,
        };
        for i in 0..sim.cfg.profiles {
            let seed = sim.cfg.seed;
            let persona = sim.cfg.mix.0[SimRng::new(derive(seed, &[u64::from(i), 0])).weighted(&weights)].0;
            let mut p = Person::new(seed, i, persona, (start, end), ncat, &zone_weights);
            if !p.starts_anonymous {
                // Known customers arrive as a CRM import during the first hour.
                let jitter = derive(seed, &[u64::from(i), 5]) % 3_600_000;
                sim.push(start + jitter as i64 * MILLI, i, WakeKind::Import);
            }
            let zone = &sim.zones[p.zone as usize];
            let first = if persona == Persona::NewSignup {
                let day = zone.local(p.joined_at).day;
                let t = zone.to_utc(day, p.sample_time_of_day());
                Some(if t < start { t + DAY } else { t })
            } else {
                p.next_session(zone, start, sim.cfg.activity_scale)
            };
            if let Some(t) = first {
                p.scheduled = true;
                sim.push(t, i, WakeKind::Session);
            }
            sim.people.push(p);
        }
        sim
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Everything before this moment has been emitted.
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// End of the simulated window (exclusive).
    pub fn end(&self) -> i64 {
        self.end
    }

    pub(crate) fn push(&mut self, at: i64, person: u32, kind: WakeKind) {
        let at = at + (MILLI - at.rem_euclid(MILLI)) % MILLI;
        if at < self.end {
            self.seq += 1;
            self.wakes.push(Wake { at, seq: self.seq, person, kind });
        }
    }

    /// Runs the clock up to `t` (inclusive) and returns everything that
    /// happened since the last call, in time order.
    pub fn advance_to(&mut self, t: i64) -> Vec<SimMessage> {
        let mut out = Vec::new();
        while let Some(m) = self.next_until(t) {
            out.push(m);
        }
        self.clock = self.clock.max(t.min(self.end));
        out
    }

    /// The next message at or before `until`, if any.
    pub fn next_until(&mut self, until: i64) -> Option<SimMessage> {
        loop {
            let next_wake = self.wakes.peek().map_or(i64::MAX, |w| w.at);
            if self.pending.peek_time().is_some_and(|t| t <= until.min(next_wake)) {
                let msg = self.pending.pop()?;
                self.clock = self.clock.max(msg.timestamp);
                return Some(msg);
            }
            if next_wake > until {
                return None;
            }
            let w = self.wakes.pop()?;
            self.wake(w);
        }
    }

    fn wake(&mut self, w: Wake) {
        let scale = self.cfg.activity_scale;
        let mut out = std::mem::take(&mut self.scratch);
        let p = &mut self.people[w.person as usize];
        let zone = &self.zones[p.zone as usize];
        let mut cx = Ctx { catalog: &self.catalog, zone, out: &mut out, end: self.end };
        let mut next = None;
        match w.kind {
            WakeKind::Import => cx.identify(p, w.at),
            WakeKind::Session => {
                let ended = session::session(p, &mut cx, w.at);
                next = p.next_session(zone, ended, scale);
                if p.return_at > ended && next.is_some_and(|n| p.return_at < n) {
                    next = Some(p.return_at);
                }
                p.scheduled = next.is_some();
            }
            WakeKind::Visit(v) => {
                session::visit(p, &mut cx, w.at, &v);
                if !p.scheduled {
                    next = p.next_session(zone, w.at + 30 * MINUTE, scale);
                    p.scheduled = next.is_some();
                }
            }
        }
        if let Some(t) = next {
            self.push(t, w.person, WakeKind::Session);
        }
        for msg in out.drain(..) {
            self.seq += 1;
            self.pending.push(self.seq, msg);
        }
        self.scratch = out;
    }

    /// Ground truth about every simulated person, in user id order.
    pub fn people(&self) -> impl Iterator<Item = PersonInfo> + '_ {
        self.people.iter().map(|p| self.info(p))
    }

    /// Ground truth about one person, by user id (`u000123`).
    pub fn person(&self, user_id: &str) -> Option<PersonInfo> {
        let idx = crate::message::parse_user_id(user_id)?;
        self.people.get(idx as usize).map(|p| self.info(p))
    }

    fn info(&self, p: &Person) -> PersonInfo {
        let zone = &self.zones[p.zone as usize];
        let anon = crate::message::SimMessage::anon_string(anon_key(p));
        PersonInfo {
            user_id: user_id_string(p.idx),
            anonymous_id: p.starts_anonymous.then_some(anon),
            persona: p.persona,
            email: p.email(),
            first_name: FIRST_NAMES[p.first as usize],
            timezone: zone.name,
            country: zone.country,
            marketing_consent: p.consent,
            device: p.device,
            machine_opens: p.mpp,
            identified: p.identified,
            unsubscribed: p.unsubscribed,
            orders: p.orders,
            habit_hours: p.peaks,
            cart: p.cart.iter().map(|&i| self.catalog.get(i).id.clone()).collect(),
        }
    }
}

/// Runs the simulation to the end of its window, message by message.
impl Iterator for Simulation {
    type Item = SimMessage;

    fn next(&mut self) -> Option<SimMessage> {
        let end = self.end;
        self.next_until(end)
    }
}
