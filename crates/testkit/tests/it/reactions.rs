use std::collections::HashMap;

use tidings_testkit::{
    DAY, DEFAULT_START, Email, HOUR, MINUTE, PROXY_USER_AGENT, PersonInfo, Persona, Reaction, ReactionKind, SimConfig,
    SimMessage, Simulation,
};

const T0: i64 = DEFAULT_START + 7 * DAY;

fn world(seed: u64) -> Simulation {
    let mut sim = Simulation::new(SimConfig::new(seed, 6_000, DEFAULT_START, 21));
    sim.advance_to(T0);
    sim
}

fn email(p: &PersonInfo, at: i64, label: &str, products: Vec<String>) -> Email {
    Email { user_id: p.user_id.clone(), at, label: label.into(), topic: "offers".into(), products, ..Email::default() }
}

#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    opens: usize,
    machine: usize,
    clicks: usize,
    purchases: usize,
    unsubscribes: usize,
}

impl Tally {
    fn add(&mut self, reactions: &[Reaction]) {
        self.sent += 1;
        for r in reactions {
            match r.kind {
                ReactionKind::Open { machine: true, .. } => self.machine += 1,
                ReactionKind::Open { .. } => self.opens += 1,
                ReactionKind::Click { .. } => self.clicks += 1,
                ReactionKind::Purchase { .. } => self.purchases += 1,
                ReactionKind::Unsubscribe => self.unsubscribes += 1,
            }
        }
    }
}

fn orders_of(msgs: &[SimMessage], who: &[PersonInfo]) -> usize {
    msgs.iter()
        .filter(|m| m.event() == Some("Order Completed"))
        .filter(|m| who.iter().any(|p| m.user_id().as_ref() == Some(&p.user_id)))
        .count()
}

#[test]
fn behavioural_emails_beat_a_generic_newsletter() {
    let (mut abandon, mut newsletter, mut control) = (world(31), world(31), world(31));
    let carts: Vec<PersonInfo> = abandon.people().filter(|p| p.identified && !p.cart.is_empty()).collect();
    assert!(carts.len() > 600, "{}", carts.len());
    let generic: Vec<String> = abandon.catalog().in_category("home")[..3].iter().map(|p| p.id.clone()).collect();
    let (mut a, mut b) = (Tally::default(), Tally::default());
    let mut purchases = Vec::new();
    for p in &carts {
        let r = abandon.deliver(&email(p, T0, "cart_reminder", p.cart.clone()));
        a.add(&r);
        purchases.extend(r.into_iter().filter(|r| matches!(r.kind, ReactionKind::Purchase { .. })));
        b.add(&newsletter.deliver(&email(p, T0, "weekly_newsletter", generic.clone())));
    }
    assert!(a.clicks > 2 * b.clicks, "{a:?} vs {b:?}");
    assert!(a.purchases > 3 * b.purchases.max(5), "{a:?} vs {b:?}");
    let end = T0 + 3 * DAY;
    let (la, lb, lc) = (abandon.advance_to(end), newsletter.advance_to(end), control.advance_to(end));
    let (oa, ob, oc) = (orders_of(&la, &carts), orders_of(&lb, &carts), orders_of(&lc, &carts));
    assert!(oa as f64 > 1.2 * ob as f64 && oa as f64 > 1.2 * oc as f64, "{oa} {ob} {oc}");

    // Every purchase comes back as the order it announced, after a landing
    // page that names the campaign.
    for r in &purchases {
        let ReactionKind::Purchase { order_id, revenue, product_ids } = &r.kind else { unreachable!() };
        let order = la
            .iter()
            .map(SimMessage::to_json)
            .find(|v| v["event"] == "Order Completed" && v["properties"]["order_id"] == order_id.as_str())
            .expect("order emitted");
        assert_eq!(crate::micros(&order), r.at);
        assert_eq!(order["userId"], r.user_id.as_str());
        assert!((order["properties"]["revenue"].as_f64().unwrap() - revenue).abs() < 1e-9);
        let ids: Vec<&str> = order["properties"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["product_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, product_ids.iter().map(String::as_str).collect::<Vec<_>>());
        // The cart is what the reminder sold, so it is empty afterwards.
        assert!(abandon.person(&r.user_id).unwrap().cart.is_empty() || product_ids.len() < 6);
    }
    let landings = la
        .iter()
        .map(SimMessage::to_json)
        .filter(|v| v["name"] == "Email Landing")
        .filter(|v| v["context"]["page"]["url"].as_str().unwrap().contains("utm_campaign=cart_reminder"))
        .count();
    assert_eq!(landings, a.clicks);
}

#[test]
fn fatigue_lowers_opens() {
    let (mut fresh, mut tired) = (world(32), world(32));
    let people: Vec<PersonInfo> = fresh.people().filter(|p| p.identified && !p.machine_opens).collect();
    for k in 0..5 {
        for p in &people {
            tired.deliver(&email(p, T0 + k * 6 * HOUR, "daily", vec![]));
        }
    }
    let at = T0 + 30 * HOUR;
    fresh.advance_to(at);
    tired.advance_to(at);
    let (mut f, mut t) = (Tally::default(), Tally::default());
    for p in &people {
        f.add(&fresh.deliver(&email(p, at, "measured", vec![])));
        t.add(&tired.deliver(&email(p, at, "measured", vec![])));
    }
    assert!(f.opens as f64 > 1.5 * t.opens as f64, "{f:?} vs {t:?}");
}

/// The UTC time at which it is `hour`:30 local time for them on the day after T0.
fn local_time(p: &PersonInfo, hour: i8) -> i64 {
    let tz = jiff::tz::TimeZone::get(p.timezone).unwrap();
    let day = jiff::Timestamp::from_microsecond(T0).unwrap().to_zoned_datetime(tz.clone()).date().tomorrow().unwrap();
    day.at(hour, 30, 0, 0).to_zoned_datetime(tz).unwrap().timestamp().as_microsecond()
}

#[test]
fn mail_at_their_habit_hour_is_opened_more_and_sooner() {
    let (mut habit, mut night) = (world(33), world(33));
    let people: Vec<PersonInfo> = habit.people().filter(|p| p.identified && !p.machine_opens).collect();
    let mut delays = [Vec::new(), Vec::new()];
    let (mut h, mut n) = (Tally::default(), Tally::default());
    for p in &people {
        let at = local_time(p, p.habit_hours[0] as i8);
        let r = habit.deliver(&email(p, at, "sto", vec![]));
        delays[0].extend(r.iter().filter(|r| matches!(r.kind, ReactionKind::Open { .. })).map(|r| r.at - at));
        h.add(&r);
        let at = local_time(p, 3);
        let r = night.deliver(&email(p, at, "night", vec![]));
        delays[1].extend(r.iter().filter(|r| matches!(r.kind, ReactionKind::Open { .. })).map(|r| r.at - at));
        n.add(&r);
    }
    assert!(h.opens as f64 > 1.2 * n.opens as f64, "{h:?} vs {n:?}");
    for d in &mut delays {
        d.sort_unstable();
    }
    let median = |d: &Vec<i64>| d[d.len() / 2];
    assert!(median(&delays[0]) < HOUR, "{}", median(&delays[0]) / MINUTE);
    assert!(median(&delays[1]) > 3 * HOUR, "{}", median(&delays[1]) / MINUTE);
}

#[test]
fn openers_open_but_rarely_click_and_machines_open_at_once() {
    let mut sim = world(34);
    let people: Vec<PersonInfo> = sim.people().filter(|p| p.identified).collect();
    let mut by_persona: HashMap<bool, Tally> = HashMap::new();
    for p in &people {
        let r = sim.deliver(&email(p, T0, "weekly", vec![]));
        for x in &r {
            if let ReactionKind::Open { machine, user_agent } = x.kind {
                assert_eq!(machine, p.machine_opens, "only prefetching clients open by machine");
                if machine {
                    assert!(x.at - T0 <= 60_000_000);
                    assert_eq!(user_agent, PROXY_USER_AGENT);
                }
            }
        }
        if !p.machine_opens {
            by_persona.entry(p.persona == Persona::OpenerNotClicker).or_default().add(&r);
        }
    }
    let (openers, others) = (&by_persona[&true], &by_persona[&false]);
    let rate = |n: usize, d: usize| n as f64 / d as f64;
    assert!(rate(openers.opens, openers.sent) > 1.5 * rate(others.opens, others.sent), "{openers:?} {others:?}");
    assert!(rate(openers.clicks, openers.opens) < 0.05, "{openers:?}");
    assert!(rate(others.clicks, others.opens) > 0.05, "{others:?}");
}

#[test]
fn unsubscribed_people_stop_reacting() {
    let mut sim = world(35);
    let people: Vec<PersonInfo> = sim.people().filter(|p| p.identified && !p.marketing_consent).collect();
    let mut gone = Vec::new();
    for k in 0..40 {
        for p in &people {
            let r = sim.deliver(&email(p, T0 + k * 4 * HOUR, "spam", vec![]));
            if r.iter().any(|r| r.kind == ReactionKind::Unsubscribe) {
                gone.push(p.clone());
            }
        }
    }
    assert!(gone.len() > 20, "{}", gone.len());
    for p in &gone {
        assert!(sim.person(&p.user_id).unwrap().unsubscribed);
        let r = sim.deliver(&email(p, T0 + 7 * DAY, "after", vec![]));
        assert!(r.iter().all(|r| matches!(r.kind, ReactionKind::Open { machine: true, .. })));
    }
}
