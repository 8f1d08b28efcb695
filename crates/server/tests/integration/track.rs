//! Tracking links: only signed URLs are followed, tampered tokens change
//! nothing, and what readers do comes back as events.

use crate::Server;
use serde_json::json;
use tidings_model::ProfileId;
use tidings_render::tokens::{Action, Claims};

fn token(s: &Server, profile: ProfileId, action: Action) -> String {
    s.signing.sign(&Claims { workspace: s.ws, message: "<m1@shop.example>".into(), profile, action })
}

fn events(s: &Server) -> Vec<serde_json::Value> {
    s.admin_get("/api/profiles/ada/events?limit=100").json()["events"].as_array().cloned().unwrap()
}

#[test]
fn clicks_redirect_only_to_signed_urls_and_are_recorded() {
    let s = Server::start();
    s.post("/v1/identify", &json!({"userId": "ada", "traits": {"email": "ada@example.com"}}));
    let p = s.store.find_profile(s.ws, "ada").unwrap().unwrap().id;
    let url = "https://shop.example/cart?utm_campaign=cart";
    let t = token(&s, p, Action::Click { link: 2, url: url.into() });
    let r = s.client().get(&format!("/t/c/{t}"), None).unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some(url));
    let clicked: Vec<_> = events(&s).into_iter().filter(|e| e["event"] == "Email Clicked").collect();
    assert_eq!(clicked.len(), 1);
    assert_eq!(clicked[0]["properties"]["url"], url);
    assert_eq!(clicked[0]["properties"]["message_id"], "<m1@shop.example>");

    // Every single-character change to the token is refused and records nothing.
    let before = events(&s).len();
    let mut tampered = 0;
    for i in 0..t.len() {
        let mut bytes = t.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bytes).unwrap();
        if bad == t {
            continue;
        }
        let r = s.client().get(&format!("/t/c/{bad}"), None).unwrap();
        assert!((400..500).contains(&r.status), "position {i}: {}", r.status);
        assert!(r.header("location").is_none());
        tampered += 1;
    }
    assert!(tampered > 10);
    for junk in ["x", "..%2F..%2Fetc", &"A".repeat(2000), "https:%2F%2Fevil.example"] {
        let r = s.client().get(&format!("/t/c/{junk}"), None).unwrap();
        assert_eq!(r.status, 404, "{junk}");
    }
    // Another key (another installation or workspace) is not ours.
    let other = tidings_render::tokens::SigningKeys::new(vec![b"another key that is 32 bytes long".to_vec()]).unwrap();
    let forged = other.sign(&Claims {
        workspace: s.ws,
        message: "x".into(),
        profile: p,
        action: Action::Click { link: 0, url: "https://evil.example".into() },
    });
    assert_eq!(s.client().get(&format!("/t/c/{forged}"), None).unwrap().status, 404);
    // An open token is not a click token.
    let open = token(&s, p, Action::Open);
    assert_eq!(s.client().get(&format!("/t/c/{open}"), None).unwrap().status, 404);
    assert_eq!(events(&s).len(), before, "nothing recorded for any bad token");
}

#[test]
fn opens_are_recorded_with_machine_opens_flagged() {
    let s = Server::start();
    s.post("/v1/identify", &json!({"userId": "ada"}));
    let p = s.store.find_profile(s.ws, "ada").unwrap().unwrap().id;
    let t = token(&s, p, Action::Open);
    let r = s
        .client()
        .request("GET", &format!("/t/o/{t}"), None, &[("User-Agent", "Mozilla/5.0 (Macintosh)")], b"")
        .unwrap();
    assert_eq!((r.status, r.header("content-type")), (200, Some("image/gif")));
    let r = s
        .client()
        .request(
            "GET",
            &format!("/t/o/{t}"),
            None,
            &[("User-Agent", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)")],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let opens: Vec<bool> = events(&s)
        .into_iter()
        .filter(|e| e["event"] == "Email Opened")
        .map(|e| e["properties"]["machine"].as_bool().unwrap())
        .collect();
    assert_eq!(opens.len(), 2);
    assert!(opens.contains(&true) && opens.contains(&false));
    // A bad token still gets a pixel (mail clients show broken images otherwise) and records nothing.
    assert_eq!(s.client().get("/t/o/garbage", None).unwrap().status, 200);
    assert_eq!(events(&s).iter().filter(|e| e["event"] == "Email Opened").count(), 2);
}

#[test]
fn one_click_unsubscribe_needs_a_post_and_no_login() {
    let s = Server::start();
    s.post("/v1/identify", &json!({"userId": "ada"}));
    let p = s.store.find_profile(s.ws, "ada").unwrap().unwrap().id;
    let t = token(&s, p, Action::Unsubscribe);
    // A GET (a link scanner, a preview) shows a page and unsubscribes nobody.
    let page = s.client().get(&format!("/u/{t}"), None).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("method=post"));
    assert!(events(&s).iter().all(|e| e["event"] != "Unsubscribed"));
    // RFC 8058: POST with List-Unsubscribe=One-Click, no cookie, no login.
    let r = s
        .client()
        .request(
            "POST",
            &format!("/u/{t}"),
            None,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"List-Unsubscribe=One-Click",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let unsub: Vec<_> = events(&s).into_iter().filter(|e| e["event"] == "Unsubscribed").collect();
    assert_eq!(unsub.len(), 1);
    // A click token cannot unsubscribe.
    let click = token(&s, p, Action::Click { link: 0, url: "https://shop.example".into() });
    assert_eq!(s.client().post(&format!("/u/{click}"), None, b"").unwrap().status, 404);
}

#[test]
fn the_preference_center_saves_topics_and_frequency_behind_a_csrf_token() {
    let s = Server::start();
    s.post("/v1/identify", &json!({"userId": "ada", "traits": {"email": "ada@example.com"}}));
    let p = s.store.find_profile(s.ws, "ada").unwrap().unwrap().id;
    let t = token(&s, p, Action::Preferences);
    let path = format!("/p/{t}");
    // Only a preferences token opens it.
    assert_eq!(s.client().get(&format!("/p/{}", token(&s, p, Action::Open)), None).unwrap().status, 404);
    let page = s.client().get(&path, None).unwrap();
    assert_eq!(page.status, 200);
    let cookie = page.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert!(page.header("set-cookie").unwrap().contains("SameSite=Strict"));
    let html = page.text();
    let csrf = html.split("name=csrf value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(html.contains("name=topic value=\"cart\" checked") && html.contains("name=topic value=\"news\" checked"));
    assert!(html.contains("value=usual checked"), "{html}");
    let form = format!("csrf={csrf}&topic=news&frequency=weekly&action=save");
    let post = |body: &str, headers: &[(&str, &str)]| {
        s.client().request("POST", &path, None, headers, body.as_bytes()).unwrap()
    };

    // Refused, changing nothing: no cookie (a cross-site post), a cookie from
    // another visit, a forged token, a browser saying cross-site.
    let before = events(&s).len();
    assert_eq!(post(&form, &[]).status, 403);
    assert_eq!(post(&form, &[("Cookie", "tidings_prefs=AAAAAAAAAAAAAAAAAAAAAA")]).status, 403);
    assert_eq!(post("csrf=AAAA&topic=news&action=save", &[("Cookie", &cookie)]).status, 403);
    assert_eq!(post(&form, &[("Cookie", &cookie), ("Sec-Fetch-Site", "cross-site")]).status, 403);
    assert_eq!(events(&s).len(), before);
    let mut other = form.clone();
    other.insert_str(0, "x=1&");
    assert_eq!(
        s.client()
            .request(
                "POST",
                &format!("/p/{}", token(&s, p, Action::Unsubscribe)),
                None,
                &[("Cookie", &cookie)],
                other.as_bytes()
            )
            .unwrap()
            .status,
        404
    );

    // Saved: "cart" off (an Unsubscribed for that topic alone), weekly.
    let r = post(&form, &[("Cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    assert!(
        html.contains("name=topic value=\"cart\">") && html.contains("name=topic value=\"news\" checked"),
        "{html}"
    );
    assert!(html.contains("value=weekly checked"));
    let all = events(&s);
    let unsub: Vec<_> = all.iter().filter(|e| e["event"] == "Unsubscribed").collect();
    assert_eq!(unsub.len(), 1);
    assert_eq!(unsub[0]["properties"]["topic"], "cart");
    assert_eq!(unsub[0]["properties"]["source"], "preference-center");
    let profile = s.admin_get("/api/profiles/ada").json();
    assert_eq!(profile["traits"]["email_frequency"], "weekly", "{profile}");

    // Turning "cart" back on gives consent again; nothing else stays off.
    let r = post(&format!("csrf={csrf}&topic=news&topic=cart&frequency=weekly&action=save"), &[("Cookie", &cookie)]);
    assert!(r.text().contains("name=topic value=\"cart\" checked"));
    assert_eq!(s.admin_get("/api/profiles/ada").json()["traits"]["marketing_consent_source"], "preference-center");

    // Stop all: one Unsubscribed without a topic; the page says so.
    let r = post(&format!("csrf={csrf}&action=unsubscribe_all"), &[("Cookie", &cookie)]);
    assert!(r.text().contains("You receive no marketing email now"), "{}", r.text());
    let unsub: Vec<_> = events(&s).into_iter().filter(|e| e["event"] == "Unsubscribed").collect();
    assert_eq!(unsub.len(), 2);
    assert_eq!(unsub.iter().filter(|e| e["properties"].get("topic").is_none()).count(), 1);
}
