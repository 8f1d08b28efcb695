//! What email did, read back from the event log in one pass: per journey,
//! per journey step, per template, per day sent, per segment and per stage
//! the recipient was in when it was sent, and per experiment arm (the
//! recipient's arm in the journey that sent it): sent, delivered, bounced, human opens
//! (machine opens apart), clicks, click-to-open, unsubscribes, and the
//! orders attributed to each email.
//!
//! Attribution is last touch: an order counts for the email whose latest
//! click came within the window before it, else whose latest human open
//! did. Machine opens (mail-privacy proxies, prefetches) never count. The
//! method travels with the numbers ([`EmailOutcomes::method`]).
//!
//! Rates are per email sent, except click-to-open (clicks per human open).
//! An email clicked but never seen opening (images off) counts as opened.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::feed::{Entry, Feed};

const DAY: i64 = 86_400_000_000;

/// The name under which an `identify` call's traits are given to
/// [`Accumulator::add`] (its `properties` are then the traits).
pub const TRAITS: &str = "$traits";

/// One entry of the log, as this module reads it.
#[derive(Debug, Clone, Copy)]
pub struct LogEvent<'a> {
    pub profile: i64,
    /// The event's name (`track` events only).
    pub name: &'a str,
    /// Microseconds since the epoch.
    pub timestamp: i64,
    pub properties: &'a Value,
}

/// The properties the report reads from an event, borrowed (see
/// [`Accumulator::add_props`]); build them from columns or a typed parse
/// instead of a whole JSON tree when speed matters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Props<'a> {
    pub message_id: Option<&'a str>,
    pub segment: Option<&'a str>,
    pub stage_set: Option<&'a str>,
    pub to: Option<&'a str>,
    pub journey: Option<&'a str>,
    pub experiment_id: Option<&'a str>,
    pub variation_id: Option<&'a str>,
    pub source: Option<&'a str>,
    pub template: Option<&'a str>,
    /// An open by a machine (mail-privacy proxy, prefetch).
    pub machine: bool,
    pub revenue: Option<f64>,
    pub predicted_clv: Option<f64>,
}

impl<'a> Props<'a> {
    /// The fields of a JSON object of properties (or traits).
    pub fn from_value(p: &'a Value) -> Props<'a> {
        Props {
            message_id: p["message_id"].as_str(),
            segment: p["segment"].as_str(),
            stage_set: p["stage_set"].as_str(),
            to: p["to"].as_str(),
            journey: p["journey"].as_str(),
            experiment_id: p["experiment_id"].as_str(),
            variation_id: p["variation_id"].as_str(),
            source: p["source"].as_str(),
            template: p["template"].as_str(),
            machine: p["machine"] == true,
            revenue: p["revenue"].as_f64(),
            predicted_clv: p["predicted_clv"].as_f64(),
        }
    }
}

/// Counts for a group of emails, and the rates that follow.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmailRates {
    pub sent: u64,
    pub delivered: u64,
    pub bounced: u64,
    pub human_opens: u64,
    pub machine_opens: u64,
    pub clicks: u64,
    pub unsubscribes: u64,
    pub conversions: u64,
    pub revenue: f64,
}

impl EmailRates {
    fn rate(n: u64, d: u64) -> Option<f64> {
        (d > 0).then(|| n as f64 / d as f64)
    }
    pub fn open_rate(&self) -> Option<f64> {
        Self::rate(self.human_opens, self.sent)
    }
    pub fn click_rate(&self) -> Option<f64> {
        Self::rate(self.clicks, self.sent)
    }
    pub fn click_to_open(&self) -> Option<f64> {
        Self::rate(self.clicks, self.human_opens)
    }
    pub fn unsubscribe_rate(&self) -> Option<f64> {
        Self::rate(self.unsubscribes, self.sent)
    }
    pub fn conversion_rate(&self) -> Option<f64> {
        Self::rate(self.conversions, self.sent)
    }
    pub fn revenue_per_email(&self) -> Option<f64> {
        (self.sent > 0).then(|| self.revenue / self.sent as f64)
    }

    /// The counts and the rates, for the API.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("counts encode");
        v["open_rate"] = self.open_rate().into();
        v["click_rate"] = self.click_rate().into();
        v["click_to_open"] = self.click_to_open().into();
        v["unsubscribe_rate"] = self.unsubscribe_rate().into();
        v["conversion_rate"] = self.conversion_rate().into();
        v["revenue_per_email"] = self.revenue_per_email().into();
        v
    }
}

/// What a segment's members did, over the whole log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SegmentStats {
    /// Profiles that were members at any time.
    pub members_ever: u64,
    /// Of those, how many ordered while a member.
    pub member_buyers: u64,
    /// Orders placed, and their revenue, by people who were members then.
    pub member_orders: u64,
    pub member_revenue: f64,
    /// Profiles never in the segment, and how many of them ordered.
    pub non_members: u64,
    pub non_member_buyers: u64,
    /// End-of-day size (UTC) on each day the size changed.
    pub size_by_day: BTreeMap<String, u64>,
    /// Members at the end of the log.
    pub members_now: u64,
    /// Of those, how many carry a `predicted_clv` trait (`tidings predict
    /// --write-traits`), and its mean over them.
    pub members_with_prediction: u64,
    pub predicted_clv_mean: Option<f64>,
}

impl SegmentStats {
    pub fn member_conversion(&self) -> Option<f64> {
        (self.members_ever > 0).then(|| self.member_buyers as f64 / self.members_ever as f64)
    }
    pub fn non_member_conversion(&self) -> Option<f64> {
        (self.non_members > 0).then(|| self.non_member_buyers as f64 / self.non_members as f64)
    }
    /// Average order value of orders placed by members.
    pub fn average_order_value(&self) -> Option<f64> {
        (self.member_orders > 0).then(|| self.member_revenue / self.member_orders as f64)
    }

    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("counts encode");
        v["member_conversion"] = self.member_conversion().into();
        v["non_member_conversion"] = self.non_member_conversion().into();
        v["average_order_value"] = self.average_order_value().into();
        v
    }
}

/// The tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmailOutcomes {
    /// How conversions were attributed, in words.
    pub method: String,
    /// By what sent it: `journey:KEY` or `broadcast:NAME`.
    pub by_journey: BTreeMap<String, EmailRates>,
    /// By journey step: `journey:KEY:STEP` (broadcasts as above).
    pub by_step: BTreeMap<String, EmailRates>,
    pub by_template: BTreeMap<String, EmailRates>,
    /// By the UTC day it was sent, `YYYY-MM-DD`.
    pub by_day: BTreeMap<String, EmailRates>,
    /// By each segment the recipient was in when it was sent.
    pub by_segment: BTreeMap<String, EmailRates>,
    /// By the recipient's stage when it was sent, `SET.STAGE`.
    pub by_stage: BTreeMap<String, EmailRates>,
    /// By experiment arm, `EXPERIMENT:VARIATION`, for emails of a journey
    /// in which the recipient was assigned one.
    pub by_variant: BTreeMap<String, EmailRates>,
    /// Segment entries and exits over the log.
    pub segment_movement: BTreeMap<String, (u64, u64)>,
    /// Per segment: members against everyone else, order value, size over time.
    /// Conversion here is the share of people with an order (members: while
    /// in the segment), whatever email they got.
    pub segments: BTreeMap<String, SegmentStats>,
}

impl EmailOutcomes {
    pub fn to_json(&self) -> Value {
        let table = |t: &BTreeMap<String, EmailRates>| -> Value {
            t.iter().map(|(k, r)| (k.clone(), r.to_json())).collect::<serde_json::Map<_, _>>().into()
        };
        serde_json::json!({
            "method": self.method,
            "by_journey": table(&self.by_journey),
            "by_step": table(&self.by_step),
            "by_template": table(&self.by_template),
            "by_day": table(&self.by_day),
            "by_segment": table(&self.by_segment),
            "by_stage": table(&self.by_stage),
            "by_variant": table(&self.by_variant),
            "segments": self.segments.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<serde_json::Map<_, _>>(),
            "segment_movement": self.segment_movement.iter()
                .map(|(k, (entered, exited))| (k.clone(), serde_json::json!({"entered": entered, "exited": exited})))
                .collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// A fast hasher for the accumulator's own keys (profile ids, interned
/// ids, message ids the runner made): FxHash's multiply-rotate.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        // The multiply leaves the high bits best mixed; hashbrown indexes
        // buckets with the low ones.
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

type Map<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// Strings, numbered once (segment, stage, source, template and arm names).
#[derive(Default)]
struct Names {
    ids: Map<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
}

struct Msg {
    source: u32,
    template: u32,
    /// Days since the epoch (UTC).
    day: i64,
    segments: Box<[u32]>,
    stages: Box<[u32]>,
    variant: Option<u32>,
    delivered: bool,
    bounced: bool,
    opened: bool,
    machine: bool,
    clicked: bool,
    unsubscribed: bool,
    converted: bool,
    revenue: f64,
}

/// What the pass keeps per profile, together, so that an event costs one
/// lookup (the log interleaves profiles; separate maps meant a cache miss
/// each).
#[derive(Default)]
struct Person {
    /// Segments it is in now (ids, sorted).
    current: Vec<u32>,
    /// Segments it was ever in (sorted).
    ever: Vec<u32>,
    /// Segments it ordered while a member of (sorted).
    bought_in: Vec<u32>,
    /// (stage set, `SET.STAGE`) ids.
    stages: Vec<(u32, u32)>,
    /// (journey, arm `EXPERIMENT:VARIATION`).
    variants: Vec<(u32, u32)>,
    /// (time, message index, is a click).
    touches: Vec<(i64, u32, bool)>,
    /// Its emails: (hash of the message id, index in `msgs`). Message ids
    /// never cross profiles, and a person gets few, so a short list beats a
    /// workspace-wide map of strings.
    sent: Vec<(u64, u32)>,
    buyer: bool,
    /// The latest `predicted_clv` trait.
    clv: Option<f64>,
}

impl Person {
    fn msg(&self, hash: u64) -> Option<u32> {
        self.sent.iter().find(|m| m.0 == hash).map(|m| m.1)
    }
}

/// A 64-bit hash of a message id (FNV-1a, then a final mix).
fn id_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32)
}

/// Reads the log in order ([`Accumulator::add`]), then [`Accumulator::finish`].
/// Strings are numbered as they first appear, so the pass allocates per
/// email sent, not per event.
pub struct Accumulator {
    window: i64,
    names: Names,
    msgs: Vec<Msg>,
    people: Map<i64, Person>,
    /// Per segment id.
    movement: Map<u32, (u64, u64)>,
    member_orders: Map<u32, (u64, f64)>,
    size: Map<u32, (u64, BTreeMap<i64, u64>)>,
    population: u64,
}

/// `YYYY-MM-DD` of a time (UTC).
pub fn utc_day(micros: i64) -> String {
    civil_day(micros.div_euclid(DAY))
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01). A day outside
/// the calendar `jiff` knows (years -9999 to 9999) prints as its number,
/// which no real log reaches.
fn civil_day(days: i64) -> String {
    let epoch = jiff::civil::Date::constant(1970, 1, 1);
    match jiff::Span::new().try_days(days).and_then(|span| epoch.checked_add(span)) {
        Ok(date) => date.strftime("%Y-%m-%d").to_string(),
        Err(_) => days.to_string(),
    }
}

impl Accumulator {
    /// `window`: how long after a click or open an order still counts for it.
    pub fn new(window: i64) -> Accumulator {
        Accumulator {
            window,
            names: Names::default(),
            msgs: Vec::new(),
            people: Map::default(),
            movement: Map::default(),
            member_orders: Map::default(),
            size: Map::default(),
            population: 0,
        }
    }

    /// How many profiles the workspace has (for the non-member side).
    pub fn population(&mut self, profiles: u64) {
        self.population = profiles;
    }

    /// Whether events of this name matter here (others can be skipped unparsed).
    pub fn reads(name: &str) -> bool {
        matches!(
            name,
            "Segment Entered"
                | "Segment Exited"
                | "Stage Changed"
                | "Experiment Viewed"
                | "Email Sent"
                | "Email Delivered"
                | "Email Bounced"
                | "Email Opened"
                | "Email Clicked"
                | "Unsubscribed"
                | "Order Completed"
        )
    }

    pub fn add(&mut self, e: LogEvent<'_>) {
        self.add_props(e.profile, e.name, e.timestamp, &Props::from_value(e.properties));
    }

    /// [`Accumulator::add`] with the properties already picked out.
    pub fn add_props(&mut self, profile: i64, name: &str, timestamp: i64, p: &Props<'_>) {
        if !Accumulator::reads(name) && name != TRAITS {
            return;
        }
        let person = self.people.entry(profile).or_default();
        let hash = p.message_id.map_or(0, id_hash);
        match name {
            TRAITS => {
                if let Some(v) = p.predicted_clv {
                    person.clv = Some(v);
                }
            }
            "Segment Entered" | "Segment Exited" => {
                let seg = self.names.id(p.segment.unwrap_or(""));
                let m = self.movement.entry(seg).or_default();
                let size = self.size.entry(seg).or_default();
                if name == "Segment Entered" {
                    m.0 += 1;
                    if let Err(at) = person.current.binary_search(&seg) {
                        person.current.insert(at, seg);
                        size.0 += 1;
                    }
                    if let Err(at) = person.ever.binary_search(&seg) {
                        person.ever.insert(at, seg);
                    }
                } else {
                    m.1 += 1;
                    if let Ok(at) = person.current.binary_search(&seg) {
                        person.current.remove(at);
                        size.0 = size.0.saturating_sub(1);
                    }
                }
                size.1.insert(timestamp.div_euclid(DAY), size.0);
            }
            "Stage Changed" => {
                let set_name = p.stage_set.unwrap_or("");
                let set = self.names.id(set_name);
                let label = p.to.map(|to| self.names.id(&format!("{set_name}.{to}")));
                person.stages.retain(|(s, _)| *s != set);
                if let Some(l) = label {
                    person.stages.push((set, l));
                }
            }
            "Experiment Viewed" => {
                if let (Some(j), Some(x), Some(v)) = (p.journey, p.experiment_id, p.variation_id) {
                    let (j, arm) = (self.names.id(j), self.names.id(&format!("{x}:{v}")));
                    match person.variants.iter_mut().find(|(pj, _)| *pj == j) {
                        Some(slot) => slot.1 = arm,
                        None => person.variants.push((j, arm)),
                    }
                }
            }
            "Email Sent" => {
                if person.msg(hash).is_some() {
                    return;
                }
                let variant = p
                    .journey
                    .and_then(|j| self.names.ids.get(j).copied())
                    .and_then(|j| person.variants.iter().find(|(pj, _)| *pj == j).map(|x| x.1));
                let msg = Msg {
                    source: self.names.id(p.source.unwrap_or("")),
                    template: self.names.id(p.template.unwrap_or("")),
                    day: timestamp.div_euclid(DAY),
                    segments: person.current.as_slice().into(),
                    stages: person.stages.iter().map(|(_, l)| *l).collect(),
                    variant,
                    delivered: false,
                    bounced: false,
                    opened: false,
                    machine: false,
                    clicked: false,
                    unsubscribed: false,
                    converted: false,
                    revenue: 0.0,
                };
                person.sent.push((hash, self.msgs.len() as u32));
                self.msgs.push(msg);
            }
            "Email Delivered" | "Email Bounced" | "Email Opened" | "Email Clicked" | "Unsubscribed" => {
                let Some(i) = person.msg(hash) else { return };
                let m = &mut self.msgs[i as usize];
                match name {
                    "Email Delivered" => m.delivered = true,
                    "Email Bounced" => m.bounced = true,
                    "Unsubscribed" => m.unsubscribed = true,
                    "Email Opened" if p.machine => m.machine = true,
                    "Email Opened" => {
                        m.opened = true;
                        person.touches.push((timestamp, i, false));
                    }
                    _ => {
                        m.clicked = true;
                        person.touches.push((timestamp, i, true));
                    }
                }
            }
            "Order Completed" => {
                let revenue = p.revenue.unwrap_or(0.0);
                person.buyer = true;
                for &seg in &person.current {
                    if let Err(at) = person.bought_in.binary_search(&seg) {
                        person.bought_in.insert(at, seg);
                    }
                    let o = self.member_orders.entry(seg).or_default();
                    o.0 += 1;
                    o.1 += revenue;
                }
                let window = self.window;
                let within = |x: &&(i64, u32, bool)| x.0 <= timestamp && timestamp - x.0 <= window;
                let t = &person.touches;
                let touch = t
                    .iter()
                    .filter(within)
                    .filter(|x| x.2)
                    .max_by_key(|x| x.0)
                    .or_else(|| t.iter().filter(within).max_by_key(|x| x.0));
                if let Some(&(_, i, _)) = touch {
                    let m = &mut self.msgs[i as usize];
                    m.converted = true;
                    m.revenue += revenue;
                }
            }
            _ => {}
        }
    }

    pub fn finish(self) -> EmailOutcomes {
        let hours = self.window as f64 / 3_600_000_000.0;
        let span = if hours >= 24.0 && hours % 24.0 == 0.0 {
            format!("{} days", hours / 24.0)
        } else {
            format!("{hours} hours")
        };
        let name = |i: u32| self.names.names[i as usize].clone();
        // Per segment: current members and their predictions; members ever,
        // those of them who bought at all, and who bought while members.
        #[derive(Default, Clone, Copy)]
        struct Seg {
            now: u64,
            with_prediction: u64,
            clv_sum: f64,
            ever: u64,
            ever_buyers: u64,
            member_buyers: u64,
        }
        let mut per: Map<u32, Seg> = Map::default();
        let mut buyers = 0u64;
        for person in self.people.values() {
            buyers += u64::from(person.buyer);
            for &seg in &person.current {
                let n = per.entry(seg).or_default();
                n.now += 1;
                if let Some(v) = person.clv {
                    n.with_prediction += 1;
                    n.clv_sum += v;
                }
            }
            for &seg in &person.ever {
                let n = per.entry(seg).or_default();
                n.ever += 1;
                n.ever_buyers += u64::from(person.buyer);
            }
            for &seg in &person.bought_in {
                per.entry(seg).or_default().member_buyers += 1;
            }
        }
        let mut segments = BTreeMap::new();
        for (&seg, n) in per.iter().filter(|(_, n)| n.ever > 0) {
            let (member_orders, member_revenue) = self.member_orders.get(&seg).copied().unwrap_or_default();
            let size_by_day =
                self.size.get(&seg).map(|s| s.1.iter().map(|(d, n)| (civil_day(*d), *n)).collect()).unwrap_or_default();
            segments.insert(
                name(seg),
                SegmentStats {
                    members_ever: n.ever,
                    member_buyers: n.member_buyers,
                    member_orders,
                    member_revenue,
                    non_members: self.population.saturating_sub(n.ever),
                    non_member_buyers: buyers - n.ever_buyers,
                    size_by_day,
                    members_now: n.now,
                    members_with_prediction: n.with_prediction,
                    predicted_clv_mean: (n.with_prediction > 0).then(|| n.clv_sum / n.with_prediction as f64),
                },
            );
        }
        // Sum per interned key first; names only at the end.
        let n = self.names.names.len();
        let mut journey_of: Vec<Option<String>> = vec![None; n];
        let (mut by_journey, mut by_step, mut by_template, mut by_segment, mut by_stage, mut by_variant) = (
            BTreeMap::<String, EmailRates>::new(),
            vec![EmailRates::default(); n],
            vec![EmailRates::default(); n],
            vec![EmailRates::default(); n],
            vec![EmailRates::default(); n],
            vec![EmailRates::default(); n],
        );
        let mut by_day: BTreeMap<i64, EmailRates> = BTreeMap::new();
        let mut journey_rates: Map<u32, EmailRates> = Map::default();
        for m in &self.msgs {
            let add = |r: &mut EmailRates| {
                r.sent += 1;
                r.delivered += u64::from(m.delivered);
                r.bounced += u64::from(m.bounced);
                r.human_opens += u64::from(m.opened || m.clicked);
                r.machine_opens += u64::from(m.machine);
                r.clicks += u64::from(m.clicked);
                r.unsubscribes += u64::from(m.unsubscribed);
                r.conversions += u64::from(m.converted);
                r.revenue += m.revenue;
            };
            add(journey_rates.entry(m.source).or_default());
            add(&mut by_template[m.template as usize]);
            add(by_day.entry(m.day).or_default());
            for &s in &m.segments {
                add(&mut by_segment[s as usize]);
            }
            for &s in &m.stages {
                add(&mut by_stage[s as usize]);
            }
            if let Some(v) = m.variant {
                add(&mut by_variant[v as usize]);
            }
        }
        let merge = |into: &mut EmailRates, r: &EmailRates| {
            into.sent += r.sent;
            into.delivered += r.delivered;
            into.bounced += r.bounced;
            into.human_opens += r.human_opens;
            into.machine_opens += r.machine_opens;
            into.clicks += r.clicks;
            into.unsubscribes += r.unsubscribes;
            into.conversions += r.conversions;
            into.revenue += r.revenue;
        };
        for (&source, r) in &journey_rates {
            let src = &self.names.names[source as usize];
            // Broadcast names may carry a date suffix (`newsletter-2026-01-06`): group them.
            let journey = journey_of[source as usize].get_or_insert_with(|| match src.strip_prefix("broadcast:") {
                Some(b) => format!("broadcast:{}", b.split('-').next().unwrap_or(b)),
                None => src.split(':').take(2).collect::<Vec<_>>().join(":"),
            });
            merge(by_journey.entry(journey.clone()).or_default(), r);
            merge(&mut by_step[source as usize], r);
        }
        let table = |rates: Vec<EmailRates>| -> BTreeMap<String, EmailRates> {
            rates.into_iter().enumerate().filter(|(_, r)| r.sent > 0).map(|(i, r)| (name(i as u32), r)).collect()
        };
        // Steps are keyed by their source, except broadcasts, which group like journeys.
        let mut steps = BTreeMap::<String, EmailRates>::new();
        for (i, r) in by_step.into_iter().enumerate().filter(|(_, r)| r.sent > 0) {
            let src = &self.names.names[i];
            let key =
                if src.starts_with("broadcast:") { journey_of[i].clone().unwrap_or_default() } else { src.clone() };
            merge(steps.entry(key).or_default(), &r);
        }
        EmailOutcomes {
            method: format!(
                "last touch: an order counts for the email last clicked within {span} before it, else the one last opened by a person (machine opens never count)"
            ),
            segment_movement: self.movement.iter().map(|(&k, &v)| (name(k), v)).collect(),
            segments,
            by_journey,
            by_step: steps,
            by_template: table(by_template),
            by_day: by_day.into_iter().map(|(d, r)| (civil_day(d), r)).collect(),
            by_segment: table(by_segment),
            by_stage: table(by_stage),
            by_variant: table(by_variant),
        }
    }
}

/// From the log: an `identify` gives its traits only when it carries a
/// prediction (the only trait read), so the others stay unparsed; of the
/// other calls, only the events [`Accumulator::reads`] are parsed.
impl Feed for Accumulator {
    fn feed(&mut self, x: &Entry<'_>) {
        let e = x.event();
        if e.kind == tidings_model::MessageType::Identify {
            if e.body.contains("predicted_clv") {
                let traits = x.traits();
                self.add(LogEvent { profile: e.profile.0, name: TRAITS, timestamp: e.timestamp, properties: traits });
            }
            return;
        }
        let Some(name) = e.event.as_deref().filter(|n| Accumulator::reads(n)) else { return };
        self.add(LogEvent { profile: e.profile.0, name, timestamp: e.timestamp, properties: x.properties() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: i64 = 3_600_000_000;

    #[test]
    fn days_are_civil_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_767_225_600_000_000), "2026-01-01");
        assert_eq!(utc_day(1_709_164_800_000_000), "2024-02-29");
        assert_eq!(utc_day(-1), "1969-12-31");
    }

    #[test]
    fn last_touch_prefers_the_latest_click_within_the_window() {
        let mut a = Accumulator::new(5 * 24 * H);
        let ev = |a: &mut Accumulator, name: &str, t: i64, p: Value| {
            a.add(LogEvent { profile: 1, name, timestamp: t, properties: &p })
        };
        ev(&mut a, "Segment Entered", 0, json!({"segment": "loyal"}));
        ev(&mut a, "Stage Changed", 0, json!({"stage_set": "lifecycle", "from": null, "to": "customer"}));
        ev(&mut a, "Experiment Viewed", 0, json!({"experiment_id": "x", "variation_id": "b", "journey": "cart"}));
        let sent =
            json!({"message_id": "a", "source": "journey:cart:remind", "template": "cart_reminder", "journey": "cart"});
        ev(&mut a, "Email Sent", H, sent);
        ev(
            &mut a,
            "Email Sent",
            2 * H,
            json!({"message_id": "b", "source": "broadcast:news-2026-01-01", "template": "newsletter"}),
        );
        ev(&mut a, "Email Delivered", 2 * H, json!({"message_id": "b"}));
        ev(&mut a, "Email Opened", 3 * H, json!({"message_id": "b", "machine": true}));
        ev(&mut a, "Email Clicked", 4 * H, json!({"message_id": "a"}));
        ev(&mut a, "Email Opened", 5 * H, json!({"message_id": "b", "machine": false}));
        // The click on "a" wins over the later open of "b".
        ev(&mut a, "Order Completed", 6 * H, json!({"revenue": 40.0}));
        // Outside the window of every touch: nobody's.
        ev(&mut a, "Order Completed", 200 * H, json!({"revenue": 99.0}));
        let o = a.finish();
        let cart = &o.by_journey["journey:cart"];
        assert_eq!((cart.sent, cart.clicks, cart.human_opens, cart.conversions, cart.revenue), (1, 1, 1, 1, 40.0));
        let news = &o.by_step["broadcast:news"];
        assert_eq!(
            (news.sent, news.delivered, news.machine_opens, news.human_opens, news.conversions),
            (1, 1, 1, 1, 0)
        );
        assert_eq!(o.by_template["cart_reminder"].revenue_per_email(), Some(40.0));
        assert_eq!(o.by_segment["loyal"].sent, 2);
        assert_eq!(o.by_day["1970-01-01"].sent, 2);
        assert_eq!(o.segment_movement["loyal"], (1, 0));
        assert_eq!(o.by_stage["lifecycle.customer"].sent, 2);
        assert_eq!(o.by_variant.keys().collect::<Vec<_>>(), ["x:b"], "only the journey's own email");
        assert_eq!(o.by_variant["x:b"].conversions, 1);
        let loyal = &o.segments["loyal"];
        assert_eq!((loyal.members_ever, loyal.member_buyers, loyal.member_orders), (1, 1, 2));
        assert_eq!(loyal.average_order_value(), Some((40.0 + 99.0) / 2.0));
        assert_eq!(loyal.size_by_day["1970-01-01"], 1);
        assert!(o.method.contains("5 days"));
        assert_eq!(o.to_json()["by_journey"]["journey:cart"]["click_to_open"], 1.0);
    }

    #[test]
    fn members_are_compared_with_everyone_never_in_the_segment() {
        let mut a = Accumulator::new(5 * 24 * H);
        a.population(4);
        let mut ev = |profile: i64, name: &str, t: i64, p: Value| {
            a.add(LogEvent { profile, name, timestamp: t, properties: &p })
        };
        ev(1, "Segment Entered", H, json!({"segment": "vip"}));
        ev(3, "Segment Entered", 2 * H, json!({"segment": "vip"}));
        ev(1, "Order Completed", 3 * H, json!({"revenue": 30.0}));
        ev(2, "Order Completed", 4 * H, json!({"revenue": 10.0}));
        ev(3, "Segment Exited", 25 * H, json!({"segment": "vip"}));
        // Ordered after leaving: not a member's order, and not a non-member either.
        ev(3, "Order Completed", 26 * H, json!({"revenue": 5.0}));
        let o = a.finish();
        let vip = &o.segments["vip"];
        assert_eq!((vip.members_ever, vip.member_buyers, vip.non_members, vip.non_member_buyers), (2, 1, 2, 1));
        assert_eq!((vip.member_conversion(), vip.non_member_conversion()), (Some(0.5), Some(0.5)));
        assert_eq!(vip.average_order_value(), Some(30.0));
        let days: Vec<(&str, u64)> = vip.size_by_day.iter().map(|(d, n)| (d.as_str(), *n)).collect();
        assert_eq!(days, [("1970-01-01", 2), ("1970-01-02", 1)]);
        assert_eq!(o.to_json()["segments"]["vip"]["average_order_value"], 30.0);
        assert_eq!(vip.members_now, 1);
    }

    #[test]
    fn predicted_value_is_averaged_over_current_members_with_one() {
        let mut a = Accumulator::new(H);
        let mut ev =
            |profile: i64, name: &str, p: Value| a.add(LogEvent { profile, name, timestamp: 0, properties: &p });
        ev(1, "Segment Entered", json!({"segment": "vip"}));
        ev(2, "Segment Entered", json!({"segment": "vip"}));
        ev(3, "Segment Entered", json!({"segment": "vip"}));
        ev(1, TRAITS, json!({"predicted_clv": 100.0}));
        ev(1, TRAITS, json!({"predicted_clv": 120.0}));
        ev(2, TRAITS, json!({"predicted_clv": 40.0}));
        ev(4, TRAITS, json!({"predicted_clv": 999.0}));
        let o = a.finish();
        let vip = &o.segments["vip"];
        assert_eq!((vip.members_now, vip.members_with_prediction, vip.predicted_clv_mean), (3, 2, Some(80.0)));
    }
}
