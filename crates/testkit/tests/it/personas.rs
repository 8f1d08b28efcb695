use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;
use tidings_testkit::{DAY, DEFAULT_START, HOUR, PersonInfo, Persona};

/// One four-week run of 4,000 people shared by these tests: each person's
/// messages, and who they are.
struct World {
    people: HashMap<String, PersonInfo>,
    by_person: HashMap<String, Vec<Value>>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let (sim, msgs) = crate::run(8, 4_000, 28);
    let owners = crate::owners(&sim);
    let mut by_person: HashMap<String, Vec<Value>> = HashMap::new();
    for v in crate::json(&msgs) {
        by_person.entry(crate::who(&v, &owners)).or_default().push(v);
    }
    let people = sim.people().map(|p| (p.user_id.clone(), p)).collect();
    World { people, by_person }
});

fn of(persona: Persona) -> impl Iterator<Item = (&'static PersonInfo, &'static [Value])> {
    let w = &*WORLD;
    w.people.values().filter(move |p| p.persona == persona).map(move |p| {
        let msgs = w.by_person.get(&p.user_id).map_or(&[][..], Vec::as_slice);
        (p, msgs)
    })
}

fn events<'a>(msgs: &'a [Value], name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    msgs.iter().filter(move |v| v["event"] == name)
}

fn orders_per_person(persona: Persona) -> f64 {
    let (n, orders) = of(persona).fold((0, 0), |(n, o), (_, m)| (n + 1, o + events(m, "Order Completed").count()));
    orders as f64 / f64::from(n)
}

#[test]
fn cart_abandoners_leave_carts_behind() {
    let (mut adds, mut carts_with_people) = (0, 0);
    for (_, msgs) in of(Persona::CartAbandoner) {
        let orders: Vec<i64> = events(msgs, "Order Completed").map(crate::micros).collect();
        for add in events(msgs, "Product Added") {
            adds += 1;
            let t = crate::micros(add);
            assert!(!orders.iter().any(|&o| o > t && o <= t + HOUR), "bought within the hour");
        }
        carts_with_people += usize::from(events(msgs, "Product Added").next().is_some());
    }
    assert!(adds > 500, "{adds}");
    assert!(carts_with_people > 300, "{carts_with_people}");
    // Checkout is started, then abandoned, often.
    let starts: usize = of(Persona::CartAbandoner).map(|(_, m)| events(m, "Checkout Started").count()).sum();
    assert!(starts * 5 > adds, "{starts} of {adds}");
}

#[test]
fn weekend_buyers_buy_on_local_weekends() {
    let orders: Vec<&Value> = of(Persona::WeekendBuyer).flat_map(|(_, m)| events(m, "Order Completed")).collect();
    let weekend = orders.iter().filter(|v| crate::local(v).0 >= 5).count();
    assert!(orders.len() > 150, "{}", orders.len());
    assert!(weekend as f64 >= 0.9 * orders.len() as f64, "{weekend} of {}", orders.len());
    // Everyone else buys on weekends about as often as there are weekend days.
    let others: Vec<&Value> = of(Persona::LoyalBuyer).flat_map(|(_, m)| events(m, "Order Completed")).collect();
    let share = others.iter().filter(|v| crate::local(v).0 >= 5).count() as f64 / others.len() as f64;
    assert!(share < 0.5, "{share}");
}

#[test]
fn loyal_buyers_buy_again_and_first_time_buyers_once() {
    let loyal = orders_per_person(Persona::LoyalBuyer);
    assert!(loyal > 1.8, "{loyal}");
    for p in [Persona::Browser, Persona::OpenerNotClicker, Persona::FirstTimeBuyer, Persona::CartAbandoner] {
        assert!(orders_per_person(p) < loyal / 2.0, "{p:?}");
    }
    let repeat = of(Persona::LoyalBuyer).filter(|(_, m)| events(m, "Order Completed").count() >= 2).count();
    assert!(repeat * 2 > of(Persona::LoyalBuyer).count());
    let buyers: Vec<usize> =
        of(Persona::FirstTimeBuyer).map(|(_, m)| events(m, "Order Completed").count()).filter(|&n| n > 0).collect();
    let once = buyers.iter().filter(|&&n| n == 1).count();
    assert!(buyers.len() > 200 && once as f64 > 0.75 * buyers.len() as f64, "{once} of {}", buyers.len());
}

#[test]
fn browsers_browse_and_do_not_buy() {
    let views: usize = of(Persona::Browser).map(|(_, m)| events(m, "Product Viewed").count()).sum();
    let n = of(Persona::Browser).count();
    assert!(views as f64 / n as f64 > 10.0);
    assert_eq!(orders_per_person(Persona::Browser), 0.0);
    let openers: usize = of(Persona::OpenerNotClicker).map(|(_, m)| m.len()).sum();
    assert!((openers as f64 / of(Persona::OpenerNotClicker).count() as f64) < 8.0);
}

#[test]
fn drifters_fade_and_stop() {
    let in_week = |w: i64| {
        of(Persona::Drifter)
            .flat_map(|(_, m)| m.iter())
            .filter(|v| v["type"] != "identify")
            .filter(|v| (crate::micros(v) - DEFAULT_START) / (7 * DAY) == w)
            .count()
    };
    let weeks: Vec<usize> = (0..4).map(in_week).collect();
    assert!(weeks.windows(2).all(|w| 4 * w[1] < 3 * w[0]), "{weeks:?}");
    assert!(weeks[3] * 20 < weeks[0], "{weeks:?}");
}

#[test]
fn new_signups_sign_up_with_and_without_consent() {
    let mut consent = [0usize; 2];
    for (p, msgs) in of(Persona::NewSignup) {
        let Some(signup) = events(msgs, "Signed Up").next() else {
            continue; // joined too close to the end
        };
        assert!(p.anonymous_id.is_some());
        assert!(msgs[0]["userId"].is_null(), "browsed anonymously first");
        let flag = signup["properties"]["marketing_consent"].as_bool().unwrap();
        assert_eq!(flag, p.marketing_consent);
        consent[usize::from(flag)] += 1;
    }
    assert!(consent[0] > 50 && consent[1] > 100, "{consent:?}");
}

#[test]
fn sessions_keep_to_local_habits() {
    let w = &*WORLD;
    let (mut near, mut night, mut all) = (0, 0, 0);
    for (uid, msgs) in &w.by_person {
        let habits = w.people[uid].habit_hours;
        for v in msgs.iter().filter(|v| v["type"] == "page") {
            let h = crate::local(v).1;
            all += 1;
            night += usize::from((2..6).contains(&h));
            let close = habits.iter().any(|&p| {
                let d = (i32::from(h) - i32::from(p)).rem_euclid(24);
                d <= 2 || d >= 23
            });
            near += usize::from(close);
        }
    }
    assert!(near as f64 > 0.85 * all as f64, "{near} of {all}");
    assert!((night as f64) < 0.03 * all as f64, "{night} of {all}");
}
