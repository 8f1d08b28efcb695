use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tidings_testkit::{CURRENCY, DAY, DEFAULT_START, LIBRARY};

const EVENTS: &[&str] = &[
    "Products Searched",
    "Product Viewed",
    "Product Added to Wishlist",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Signed Up",
];

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 100.0).round() as i64
}

#[test]
fn every_message_follows_the_segment_spec() {
    let (sim, msgs) = crate::run(2, 1_000, 14);
    let end = DEFAULT_START + 14 * DAY;
    let mut ids = HashSet::new();
    let mut last_per_person: HashMap<String, i64> = HashMap::new();
    let mut seen_events = HashSet::new();
    let mut prev = i64::MIN;
    let owners = crate::owners(&sim);
    for (m, v) in msgs.iter().zip(crate::json(&msgs)) {
        let ty = v["type"].as_str().unwrap();
        assert!(["identify", "track", "page"].contains(&ty), "{v}");
        assert!(v["userId"].is_string() || v["anonymousId"].is_string(), "{v}");
        assert!(ids.insert(v["messageId"].as_str().unwrap().to_string()), "duplicate id {v}");
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z'));
        let t = crate::micros(&v);
        assert_eq!(t, m.timestamp);
        assert!((DEFAULT_START..end).contains(&t), "{v}");
        assert!(t >= prev, "not in time order");
        prev = t;
        let who = crate::who(&v, &owners);
        let before = last_per_person.insert(who, t).unwrap_or(i64::MIN);
        assert!(before <= t);
        let cx = &v["context"];
        assert_eq!(cx["library"]["name"], LIBRARY);
        assert!(["mobile", "desktop", "tablet"].contains(&cx["device"]["type"].as_str().unwrap()));
        assert!(cx["timezone"].as_str().unwrap().contains('/'));
        assert!(cx["userAgent"].as_str().unwrap().starts_with("Mozilla/5.0"));
        match ty {
            "identify" => {
                let t = &v["traits"];
                assert!(v["userId"].is_string());
                assert!(t["email"].as_str().unwrap().ends_with("@example.com"), "{v}");
                assert!(t["first_name"].is_string() && t["country"].is_string());
                assert!(t["marketing_consent"].is_boolean());
                assert_eq!(t["timezone"], cx["timezone"]);
            }
            "page" => {
                assert!(v["name"].is_string());
                assert!(cx["page"]["url"].as_str().unwrap().starts_with("https://shop.example.com/"));
            }
            _ => {
                let event = v["event"].as_str().unwrap();
                assert!(EVENTS.contains(&event), "{event}");
                seen_events.insert(event.to_string());
                check_properties(event, &v["properties"]);
            }
        }
    }
    assert_eq!(seen_events.len(), EVENTS.len(), "{seen_events:?}");
}

fn check_properties(event: &str, p: &Value) {
    let product = |p: &Value| {
        for key in ["product_id", "sku", "category", "name"] {
            assert!(p[key].is_string(), "{key} in {p}");
        }
        assert!(p["price"].as_f64().unwrap() > 0.0);
    };
    match event {
        "Product Viewed" | "Product Added to Wishlist" => product(p),
        "Product Added" => {
            product(p);
            assert!(p["cart_id"].is_string());
        }
        "Checkout Started" | "Order Completed" => {
            assert!(p["order_id"].is_string());
            assert_eq!(p["currency"], CURRENCY);
            let items = p["products"].as_array().unwrap();
            assert!(!items.is_empty());
            items.iter().for_each(product);
            let gross: i64 = items.iter().map(|i| cents(&i["price"])).sum();
            let discount = p.get("discount").map_or(0, cents);
            assert_eq!(cents(&p["revenue"]), gross - discount, "{p}");
        }
        "Products Searched" => assert!(p["query"].is_string()),
        "Signed Up" => assert!(p["marketing_consent"].is_boolean()),
        _ => unreachable!(),
    }
}

#[test]
fn anonymous_visitors_identify_with_both_ids() {
    let (sim, msgs) = crate::run(4, 1_000, 14);
    let vals = crate::json(&msgs);
    let joins: Vec<&Value> = vals.iter().filter(|v| v["type"] == "identify" && v["anonymousId"].is_string()).collect();
    assert!(joins.len() > 50, "{}", joins.len());
    for j in joins {
        let anon = j["anonymousId"].as_str().unwrap();
        let user = j["userId"].as_str().unwrap();
        let info = sim.person(user).unwrap();
        assert_eq!(info.anonymous_id.as_deref(), Some(anon));
        assert!(info.identified);
        // Before the join they were anonymous only; from it on, known.
        let t = crate::micros(j);
        for v in vals.iter().filter(|v| v["anonymousId"] == anon) {
            assert_eq!(v["userId"].is_string(), crate::micros(v) >= t, "{v}");
        }
    }
    // Known customers are imported during the first hour.
    let imports = vals
        .iter()
        .filter(|v| v["type"] == "identify" && v["anonymousId"].is_null())
        .filter(|v| crate::micros(v) < DEFAULT_START + 3_600_000_000)
        .count();
    let known = sim.people().filter(|p| p.anonymous_id.is_none()).count();
    assert_eq!(imports, known);
}
