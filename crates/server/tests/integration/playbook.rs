//! A month of scripted behaviour drives every playbook journey through each
//! of its branches, under a simulated clock, with the real engine, runner
//! and policies. Each person is there for one path; the expected sends and
//! times are worked out by hand in the comments.

use crate::journeys::{START, Shop};
use serde_json::json;
use tidings_model::ProfileId;
use tidings_model::time::{DAY, HOUR, MINUTE, format_time};

fn at(day: i64, h: i64, m: i64) -> i64 {
    START + day * DAY + h * HOUR + m * MINUTE
}

#[test]
fn a_month_of_behaviour_runs_every_playbook_journey_through_every_branch() {
    let mut shop = Shop::new();
    // Day 0 is Monday 2026-01-05; everyone is in UTC and consents.
    let people =
        ["wendy", "willa", "walt", "bria", "bram", "vera", "wes", "nell", "nora", "olga", "otto", "dora", "dan"];
    let mut script: Vec<(i64, &str, &str, serde_json::Value)> = vec![
        // Welcome: sign-up, then three product views two days apart (never two in 2 days).
        (at(0, 9, 0), "wendy", "Signed Up", json!({})),
        (at(0, 10, 0), "wendy", "Product Viewed", json!({"product_id": "p1"})),
        (at(2, 11, 0), "wendy", "Product Viewed", json!({"product_id": "p2"})),
        (at(4, 12, 0), "wendy", "Product Viewed", json!({"product_id": "p3"})),
        // Welcome without enough views: no offer.
        (at(0, 9, 0), "willa", "Signed Up", json!({})),
        // Welcome left for an order; the order starts post-purchase.
        (at(0, 9, 0), "walt", "Signed Up", json!({})),
        (at(1, 12, 0), "walt", "Order Completed", json!({"order_id": "w1", "revenue": 40})),
        // Browse abandonment.
        (at(0, 10, 0), "bria", "Product Viewed", json!({"product_id": "p1"})),
        (at(0, 11, 0), "bria", "Product Viewed", json!({"product_id": "p2"})),
        // Browse abandonment left for a cart, which is abandoned (plain offer).
        (at(0, 10, 0), "bram", "Product Viewed", json!({"product_id": "p1"})),
        (at(0, 11, 0), "bram", "Product Viewed", json!({"product_id": "p2"})),
        (at(0, 13, 0), "bram", "Product Added", json!({"product_id": "p2", "name": "Blue bag", "price": 80})),
        // A loyal buyer (three orders, 600 in revenue) abandons a cart: the VIP offer.
        (at(0, 9, 0), "vera", "Order Completed", json!({"order_id": "v1", "revenue": 200})),
        (at(0, 9, 30), "vera", "Order Completed", json!({"order_id": "v2", "revenue": 200})),
        (at(0, 10, 0), "vera", "Order Completed", json!({"order_id": "v3", "revenue": 200})),
        (at(1, 12, 0), "vera", "Product Added", json!({"product_id": "p9", "name": "Tent", "price": 300})),
        // Weekend buyer: two weekend orders.
        (at(5, 11, 0), "wes", "Order Completed", json!({"order_id": "x1", "revenue": 30})),
        (at(6, 11, 0), "wes", "Order Completed", json!({"order_id": "x2", "revenue": 30})),
        // Wishlist nudge, and one left for an order.
        (at(0, 10, 0), "nell", "Product Added to Wishlist", json!({"product_id": "p5"})),
        (at(0, 10, 0), "nora", "Product Added to Wishlist", json!({"product_id": "p5"})),
        (at(0, 20, 0), "nora", "Order Completed", json!({"order_id": "n1", "revenue": 55})),
        // Opens but never clicks; and one who clicks before the offer.
        (at(0, 12, 0), "olga", "Email Opened", json!({"machine": false})),
        (at(0, 13, 0), "olga", "Email Opened", json!({"machine": false})),
        (at(0, 14, 0), "olga", "Email Opened", json!({"machine": false})),
        (at(0, 12, 0), "otto", "Email Opened", json!({"machine": false})),
        (at(0, 13, 0), "otto", "Email Opened", json!({"machine": false})),
        (at(0, 14, 0), "otto", "Email Opened", json!({"machine": false})),
        (at(0, 20, 0), "otto", "Email Clicked", json!({"url": "https://shop.example"})),
        // Drifting away: seen once, then dormant 21 days later; Dan comes back briefly.
        (at(0, 10, 0), "dora", "Product Viewed", json!({"product_id": "p7"})),
        (at(0, 10, 0), "dan", "Product Viewed", json!({"product_id": "p7"})),
        (at(24, 9, 0), "dan", "Product Viewed", json!({"product_id": "p8"})),
    ];
    // Everyone else stays around (a visit on days 10 and 20), so only Dora and Dan drift away.
    for u in people.iter().filter(|u| !["dora", "dan"].contains(u)) {
        script.push((at(10, 8, 0), u, "App Opened", json!({})));
        script.push((at(20, 8, 0), u, "App Opened", json!({})));
    }
    script.sort_by_key(|s| s.0);
    let mut next = 0;
    let mut created = false;
    shop.run(at(28, 0, 0), 15 * MINUTE, |s, t| {
        if !created {
            for u in people {
                s.person(u, true, "UTC", START);
            }
            created = true;
        }
        while next < script.len() && script[next].0 <= t {
            let (when, user, event, props) = &script[next];
            s.track(user, event, props.clone(), *when);
            next += 1;
        }
    });
    let got = |u: &str| shop.sent_to(u);
    let expect = |u: &str, sends: &[(&str, &str)]| {
        let want: Vec<(String, String)> = sends.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(got(u), want, "{u}; decisions: {:?}", shop.decisions(u));
    };
    // Welcome: day 0, +2 days, +3 days the offer (3 views in the last 5 days).
    expect(
        "wendy",
        &[
            ("2026-01-05T09:00:00Z", "welcome_1"),
            ("2026-01-07T09:00:00Z", "welcome_2_bestsellers"),
            ("2026-01-10T09:00:00Z", "welcome_3_offer"),
        ],
    );
    // No views: the branch exits after the second email.
    expect("willa", &[("2026-01-05T09:00:00Z", "welcome_1"), ("2026-01-07T09:00:00Z", "welcome_2_bestsellers")]);
    // The order ends the welcome series at its next step; post-purchase two and nine days after the order.
    expect(
        "walt",
        &[
            ("2026-01-05T09:00:00Z", "welcome_1"),
            ("2026-01-08T12:00:00Z", "post_purchase_care"),
            ("2026-01-15T12:00:00Z", "post_purchase_complements"),
        ],
    );
    // Two views in two days at 11:00, the reminder four hours later.
    expect("bria", &[("2026-01-05T15:00:00Z", "browse_reminder")]);
    // The cart at 13:00 ends the browse journey (exit rule at 15:00); the cart an hour later, the offer a day later.
    expect("bram", &[("2026-01-05T14:00:00Z", "cart_reminder"), ("2026-01-06T14:00:00Z", "cart_offer")]);
    // Vera: reminder Tue 13:00; care Wed 09:00; the VIP offer (Wed 13:00) waits 16 h after the care
    // email (Thu 01:00), then for the end of quiet hours (08:00). The loyalty reward (Saturday 10:00)
    // would be a fourth email in 7 days: it waits until Tuesday's reminder leaves the window
    // (13:00 + 1 µs, sent at the 13:15 tick). The complements email, due Wed 14 09:00, fits.
    expect(
        "vera",
        &[
            ("2026-01-06T13:00:00Z", "cart_reminder"),
            ("2026-01-07T09:00:00Z", "post_purchase_care"),
            ("2026-01-08T08:00:00Z", "cart_offer_vip"),
            ("2026-01-13T13:15:00Z", "loyalty_reward"),
            ("2026-01-14T09:00:00Z", "post_purchase_complements"),
        ],
    );
    // Two weekend orders: weekend picks the next Saturday at 09:00; post-purchase from the first order.
    expect(
        "wes",
        &[
            ("2026-01-12T11:00:00Z", "post_purchase_care"),
            ("2026-01-17T09:00:00Z", "weekend_picks"),
            ("2026-01-19T11:00:00Z", "post_purchase_complements"),
        ],
    );
    expect("nell", &[("2026-01-06T10:00:00Z", "wishlist_nudge")]);
    // Nora ordered: no nudge; post-purchase instead.
    expect(
        "nora",
        &[("2026-01-07T20:00:00Z", "post_purchase_care"), ("2026-01-14T20:00:00Z", "post_purchase_complements")],
    );
    // Three human opens, no click: the offer at 10:00 the next morning; Otto clicked first.
    expect("olga", &[("2026-01-06T10:00:00Z", "single_offer")]);
    expect("otto", &[]);
    // Dormant 21 days after the last visit (Mon 26 10:00): the 90% arm gets "we miss you" at the
    // best hour of the next 24 (no history of their own: the workspace's, Monday 12:00, when most
    // opens happened); five days later, still away for more than 25 days, the incentive at the
    // best hour of Saturday 31 (11:00, when Wes ordered). Dan came back on day 24: no incentive.
    let arm = |u: &str| {
        let p = shop.store.find_profile(shop.ws, u).unwrap().unwrap().id;
        tidings_journeys::arm_bucket("re_engagement_holdout", ProfileId(p.0)) < 9_000
    };
    assert!(arm("dora") && arm("dan"), "both in the 90% arm (profile ids are fixed by creation order)");
    expect("dora", &[("2026-01-26T12:00:00Z", "we_miss_you"), ("2026-01-31T11:00:00Z", "we_miss_you_incentive")]);
    expect("dan", &[("2026-01-26T12:00:00Z", "we_miss_you")]);
    // And the loyalty journey set its trait after the reward.
    let vera = shop.store.find_profile(shop.ws, "vera").unwrap().unwrap();
    assert_eq!(vera.traits.values.get("loyalty_reward_sent"), Some(&json!(true)), "{}", format_time(at(0, 0, 0)));
}
