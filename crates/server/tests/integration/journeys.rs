//! The starter playbook's journeys, end to end under a simulated clock: the
//! real server (ingest, tracking endpoints), the live engine in manual time,
//! and the automation runner, with scripted behaviour and exact expected
//! sends, skips and deferrals.

use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use tidings_automation::{Assets, Sender, StepReport};
use tidings_delivery::{DeliveryError, OutgoingMessage, Receipt, Transport};
use tidings_model::message::{Envelope, parse_message};
use tidings_model::time::{DAY, HOUR, MINUTE, format_time, parse_time};
use tidings_model::{Clock, KeyKind, Micros, SimClock, WorkspaceId, keys};
use tidings_node::{IngestQueue, Node};
use tidings_server::AppState;
use tidings_store::Store;
use tidings_store_sqlite::{Durability, Mode, SqliteStore};
use tidings_testkit::http::Client;

/// Every message handed to the transport; addresses can be made to bounce
/// (550) or to be refused for now (421) a number of times.
#[derive(Default)]
pub struct Capture {
    pub messages: Mutex<Vec<OutgoingMessage>>,
    pub bounce: Mutex<BTreeSet<String>>,
    pub busy: Mutex<std::collections::BTreeMap<String, u32>>,
}

impl Transport for Capture {
    fn send(&self, m: &OutgoingMessage) -> Result<Receipt, DeliveryError> {
        let to = m.recipients.first().cloned().unwrap_or_default();
        if self.bounce.lock().contains(&to) {
            return Err(DeliveryError::from_reply(550, "5.1.1 No such user here"));
        }
        if let Some(n) = self.busy.lock().get_mut(&to).filter(|n| **n > 0) {
            *n -= 1;
            return Err(DeliveryError::from_reply(421, "4.3.2 Service shutting down"));
        }
        self.messages.lock().push(m.clone());
        Ok(Receipt { detail: "250 captured".into(), delivered: true })
    }
}

fn playbook() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cli/playbook")
}

/// A journey the playbook lacks: started through the API.
const API_JOURNEY: &str =
    "key = \"vip_invite\"\n[trigger]\napi = true\n[[step]]\nid = \"invite\"\nsend = \"loyalty_reward\"\n";

/// The playbook's rules, journeys and templates, checked, plus [`API_JOURNEY`] and `extra`.
fn assets(extra: &[(&str, &str)]) -> Assets {
    let dir = playbook();
    let rules_text = std::fs::read_to_string(dir.join("segments.rules")).unwrap();
    let files = [tidings_rules::SourceFile::new("segments.rules", rules_text)];
    let (rules, d) = tidings_rules::check_workspace(&files, None);
    assert!(!tidings_rules::has_errors(&d), "{d:?}");
    let renderer = tidings_render::Renderer::new(Default::default());
    let mut templates = std::collections::HashMap::new();
    for e in std::fs::read_dir(dir.join("templates")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "mjml") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let src =
                tidings_render::TemplateSource::parse(&name, &std::fs::read_to_string(&p).unwrap(), None).unwrap();
            let t = renderer.compile(&src).unwrap();
            templates.insert(t.name().to_string(), Arc::new(t));
        }
    }
    let mut names: Vec<String> = templates.keys().cloned().collect();
    names.sort();
    let mut jfiles = Vec::new();
    for e in std::fs::read_dir(dir.join("journeys")).unwrap() {
        let p = e.unwrap().path();
        jfiles.push(tidings_rules::SourceFile::new(p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
    }
    jfiles.sort_by(|a, b| a.name.cmp(&b.name));
    jfiles.push(tidings_rules::SourceFile::new("vip_invite.toml", API_JOURNEY));
    for (name, text) in extra {
        jfiles.push(tidings_rules::SourceFile::new(*name, *text));
    }
    let (journeys, d) = tidings_journeys::check_journeys(&jfiles, &rules, Some(&names), None);
    assert!(!tidings_rules::has_errors(&d), "{d:?}");
    assert_eq!(journeys.len(), 10 + extra.len());
    Assets {
        rules: Arc::new(rules),
        journeys,
        templates,
        policy: Default::default(),
        default_tz: jiff::tz::TimeZone::UTC,
        audience: None,
    }
}

/// A shop under a simulated clock.
pub struct Shop {
    pub clock: Arc<SimClock>,
    pub store: Arc<dyn Store>,
    pub ws: WorkspaceId,
    /// The whole product under the simulated clock, as the demo runs it.
    pub node: Node,
    pub ingest: IngestQueue,
    pub capture: Arc<Capture>,
    pub addr: std::net::SocketAddr,
    /// (time, user, template) of every message sent.
    pub sent: Vec<(Micros, String, String)>,
    pub reports: Vec<StepReport>,
    pub emails: Vec<tidings_automation::Sent>,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

pub const START: Micros = tidings_testkit::DEFAULT_START; // Monday 2026-01-05 00:00 UTC

impl Shop {
    pub fn new() -> Shop {
        Shop::with_journeys(&[])
    }

    /// With journeys besides the playbook's: (file name, TOML).
    pub fn with_journeys(extra: &[(&str, &str)]) -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Process).unwrap());
        let clock = Arc::new(SimClock::new(START));
        let ws = store.create_workspace("shop", START).unwrap().id;
        store.add_key(ws, KeyKind::Write, &keys::hash("w"), "test", START).unwrap();
        store.add_key(ws, KeyKind::Admin, &keys::hash("a"), "test", START).unwrap();
        let assets = assets(extra);
        let signing =
            tidings_render::tokens::SigningKeys::new(vec![b"a test signing key of 32 bytes!!".to_vec()]).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let capture = Arc::new(Capture::default());
        let sender = Sender {
            from: tidings_render::Mailbox::new(Some("Shop"), "shop@example.com").unwrap(),
            envelope_from: None,
            tracking_base: format!("http://{addr}"),
            keys: Arc::new(signing.clone()),
            dkim: None,
            message_id_domain: "shop.example.com".into(),
        };
        let tenant = tidings_node::TenantSettings {
            workspace: ws,
            rules: Some((*assets.rules).clone()),
            default_tz: jiff::tz::TimeZone::UTC,
            topics: Vec::new(),
            journeys: Some(tidings_node::Journeys {
                assets,
                sender,
                transport: capture.clone(),
                // The test's webhook receivers listen on this machine.
                webhooks: tidings_automation::webhook::Guard::allowing(["127.0.0.1".to_string()]),
            }),
            definitions: None,
            predictions: None,
            signing: None,
        };
        let node = Node::start(
            tidings_node::Settings { tenants: vec![tenant], manual: true, cluster: None },
            store.clone(),
            clock.clone(),
        )
        .unwrap();
        let app = AppState::new(node.clone()).with_signing(signing);
        let ingest = node.ingest().clone();
        runtime.spawn(tidings_server::serve(listener, app, std::future::pending()));
        Shop {
            clock,
            store,
            ws,
            node,
            ingest,
            capture,
            addr,
            sent: Vec::new(),
            reports: Vec::new(),
            emails: Vec::new(),
            _dir: dir,
            _runtime: runtime,
        }
    }

    /// One runner round at `t`.
    pub fn step(&self, t: Micros) -> StepReport {
        self.node.step(self.ws, t).expect("the shop runs journeys").unwrap()
    }

    /// Stores one Segment message (stamped with its own time).
    pub fn send(&self, mut m: Value) {
        let t = parse_time(m["timestamp"].as_str().unwrap()).unwrap();
        m["messageId"] = json!(format!("m-{}", tidings_model::message::new_message_id()));
        let env = Envelope { received_at: t.max(self.clock.now()), sent_at: None, default_type: None };
        let msg = parse_message(&m.to_string(), &env, &mut tidings_model::message::new_message_id).unwrap();
        self.ingest.append_blocking(self.ws, vec![msg]).unwrap();
    }

    pub fn person(&self, user: &str, consent: bool, tz: &str, t: Micros) {
        self.send(json!({
            "type": "identify", "userId": user, "timestamp": format_time(t),
            "traits": {"email": format!("{user}@example.com"), "first_name": user, "marketing_consent": consent, "timezone": tz},
        }));
    }

    pub fn track(&self, user: &str, event: &str, props: Value, t: Micros) {
        self.send(
            json!({"type": "track", "userId": user, "event": event, "timestamp": format_time(t), "properties": props}),
        );
    }

    /// Runs the clock to `until` in steps of `tick`, with `script` called
    /// at each step (to add what happens then) before the engine and the
    /// runner catch up.
    pub fn run(&mut self, until: Micros, tick: Micros, mut script: impl FnMut(&mut Shop, Micros)) {
        let mut t = self.clock.now();
        while t < until {
            t = (t + tick).min(until);
            self.clock.advance_to(t);
            script(self, t);
            self.node.sync();
            for _ in 0..5 {
                let r = self.step(t);
                let idle = r.events == 0 && r.timers == 0 && r.sent.is_empty();
                for s in &r.sent {
                    self.sent.push((s.at, s.user_id.clone().unwrap_or_default(), s.template.clone()));
                }
                self.emails.extend(r.sent.iter().cloned());
                self.reports.push(r);
                self.node.sync();
                if idle {
                    break;
                }
            }
        }
    }

    pub fn sent_to(&self, user: &str) -> Vec<(String, String)> {
        self.sent.iter().filter(|s| s.1 == user).map(|s| (format_time(s.0), s.2.clone())).collect()
    }

    pub fn decisions(&self, user: &str) -> Vec<(String, String)> {
        let p = self.store.find_profile(self.ws, user).unwrap().unwrap();
        let mut d: Vec<_> = self
            .store
            .decisions_for_profile(self.ws, p.id, 100)
            .unwrap()
            .into_iter()
            .map(|d| (d.decision, d.reason))
            .collect();
        d.reverse();
        d
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn cart_abandonment_and_post_purchase_run_every_branch_at_exact_times() {
    let mut shop = Shop::new();
    let mon = |h: i64, m: i64| START + h * HOUR + m * MINUTE;
    let mut done = BTreeSet::new();
    let mut unsubscribed = false;
    shop.run(START + 10 * DAY, 5 * MINUTE, |s, t| {
        let mut once = |key: &str, when: Micros, f: &dyn Fn(&Shop)| {
            if t >= when && done.insert(key.to_string()) {
                f(s);
            }
        };
        once("people", mon(9, 0), &|s| {
            for (u, consent) in [("ada", true), ("bob", true), ("carl", false), ("dana", true), ("eve", true)] {
                s.person(u, consent, "UTC", mon(9, 0));
            }
        });
        for u in ["ada", "bob", "carl", "eve"] {
            once(&format!("{u}-cart"), mon(10, 0), &|s| {
                s.track(u, "Product Added", json!({"product_id": "p1", "name": "Red shoes", "price": 59.0}), mon(10, 0))
            });
        }
        once("dana-cart", mon(21, 30), &|s| {
            s.track(
                "dana",
                "Product Added",
                json!({"product_id": "p2", "name": "Blue bag", "price": 80.0}),
                mon(21, 30),
            )
        });
        once("bob-order", mon(12, 0), &|s| {
            s.track(
                "bob",
                "Order Completed",
                json!({"order_id": "o1", "revenue": 59.0, "products": [{"product_id": "p1", "name": "Red shoes"}]}),
                mon(12, 0),
            )
        });
        // Eve uses one-click unsubscribe on her reminder.
        if !unsubscribed && t >= mon(12, 0) {
            let reminder = s.emails.iter().find(|e| e.user_id.as_deref() == Some("eve")).cloned();
            if let Some(e) = reminder {
                let header = e.email.headers.list_unsubscribe.clone().unwrap();
                let url = header.trim_start_matches('<').split('>').next().unwrap().to_string();
                let path = url.split_once(&s.addr.to_string()).unwrap().1.to_string();
                let r = s.client().request("POST", &path, None, &[], b"List-Unsubscribe=One-Click").unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                unsubscribed = true;
            }
        }
    });

    // Ada: reminded when the hour without an order is over, then the offer when a day passes without one.
    assert_eq!(
        shop.sent_to("ada"),
        pairs(&[("2026-01-05T11:00:00Z", "cart_reminder"), ("2026-01-06T11:00:00Z", "cart_offer")])
    );
    // Bob bought after the reminder: no offer; the post-purchase series two and nine days after the order.
    assert_eq!(
        shop.sent_to("bob"),
        pairs(&[
            ("2026-01-05T11:00:00Z", "cart_reminder"),
            ("2026-01-07T12:00:00Z", "post_purchase_care"),
            ("2026-01-14T12:00:00Z", "post_purchase_complements"),
        ])
    );
    // Carl gave no consent: nothing, and the reason is recorded.
    assert!(shop.sent_to("carl").is_empty());
    assert!(
        shop.decisions("carl").iter().any(|d| d.0 == "skip" && d.1 == "no marketing consent"),
        "{:?}",
        shop.decisions("carl")
    );
    // Dana's cart was left at 21:30: quiet hours defer (not drop) both mails to 08:00.
    assert_eq!(
        shop.sent_to("dana"),
        pairs(&[("2026-01-06T08:00:00Z", "cart_reminder"), ("2026-01-07T08:00:00Z", "cart_offer")])
    );
    assert!(shop.decisions("dana").iter().any(|d| d.0 == "defer" && d.1.starts_with("quiet hours 21:00-08:00")));
    // Eve unsubscribed with one click: the offer a day later is suppressed, and says so.
    assert_eq!(shop.sent_to("eve"), pairs(&[("2026-01-05T11:00:00Z", "cart_reminder")]));
    assert!(
        shop.decisions("eve").iter().any(|d| d.0 == "skip" && d.1 == "unsubscribed"),
        "{:?}",
        shop.decisions("eve")
    );

    // Every marketing message carries RFC 8058 headers and a stable Message-ID; nobody got one twice.
    let msgs = shop.capture.messages.lock();
    let ids: BTreeSet<_> = msgs.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), msgs.len(), "no Message-ID is sent twice");
    for m in msgs.iter() {
        let text = String::from_utf8_lossy(&m.data);
        assert!(text.contains("List-Unsubscribe: <http://"), "{text}");
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }
    // The reminder shows what was left in the cart.
    let ada = shop.emails.iter().find(|e| e.user_id.as_deref() == Some("ada")).unwrap();
    assert!(ada.email.html.contains("Red shoes"), "{}", ada.email.html);
}

/// What the preference center records reaches the runner: a topic opt-out
/// skips that topic's mail only; a weekly limit defers (never drops).
#[test]
fn topic_opt_outs_and_a_chosen_frequency_are_honoured() {
    let mut shop = Shop::new();
    let mon = |h: i64, m: i64| START + h * HOUR + m * MINUTE;
    let mut done = BTreeSet::new();
    shop.run(START + 8 * DAY, 15 * MINUTE, |s, t| {
        let mut once = |key: &str, when: Micros, f: &dyn Fn(&Shop)| {
            if t >= when && done.insert(key.to_string()) {
                f(s);
            }
        };
        once("people", mon(9, 0), &|s| {
            s.person("fay", true, "UTC", mon(9, 0));
            s.person("gus", true, "UTC", mon(9, 0));
            s.track("fay", "Unsubscribed", json!({"topic": "cart", "source": "preference-center"}), mon(9, 30));
            s.send(json!({"type": "identify", "userId": "gus", "timestamp": format_time(mon(9, 30)), "traits": {"email_frequency": "weekly"}}));
        });
        for u in ["fay", "gus"] {
            once(&format!("{u}-cart"), mon(10, 0), &|s| {
                s.track(u, "Product Added", json!({"product_id": "p1", "name": "Red shoes", "price": 59.0}), mon(10, 0))
            });
        }
        once("fay-order", mon(12, 0), &|s| {
            s.track("fay", "Order Completed", json!({"order_id": "o9", "revenue": 59.0, "products": [{"product_id": "p1"}]}), mon(12, 0))
        });
    });
    // Fay left "cart" only: no cart mail, and why; her order's follow-up (topic "orders") still comes.
    assert_eq!(shop.sent_to("fay"), pairs(&[("2026-01-07T12:00:00Z", "post_purchase_care")]));
    assert!(
        shop.decisions("fay").iter().any(|d| d.0 == "skip" && d.1 == "unsubscribed from the topic \"cart\""),
        "{:?}",
        shop.decisions("fay")
    );
    // Gus asked for one a week: the offer a day after the reminder waits until the week is over
    // (just after 11:00; the clock here moves in quarter hours).
    assert_eq!(
        shop.sent_to("gus"),
        pairs(&[("2026-01-05T11:00:00Z", "cart_reminder"), ("2026-01-12T11:15:00Z", "cart_offer")])
    );
    assert!(
        shop.decisions("gus")
            .iter()
            .any(|d| d.0 == "defer" && d.1 == "the recipient asked for at most one email a week")
    );
}

#[test]
fn an_api_call_starts_a_journey_once_and_bad_calls_say_why() {
    let mut shop = Shop::new();
    let admin = tidings_testkit::http::bearer("a");
    shop.person("ada", true, "UTC", START + HOUR);
    let post = |s: &Shop, path: &str, body: &str| {
        s.client()
            .request("POST", path, Some(&admin), &[("Content-Type", "application/json")], body.as_bytes())
            .unwrap()
    };
    shop.clock.advance_to(START + 10 * HOUR);
    let r = post(&shop, "/api/journeys/vip_invite/enter", r#"{"userId": "ada", "properties": {"reason": "vip"}}"#);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(post(&shop, "/api/journeys/nope/enter", r#"{"userId": "ada"}"#).status, 404);
    let r = post(&shop, "/api/journeys/vip_invite/enter", r#"{"properties": {}}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("userId"));
    assert_eq!(post(&shop, "/api/journeys/vip_invite/enter", "{not json").status, 400);
    shop.run(START + 2 * DAY, 5 * MINUTE, |_, _| {});
    assert_eq!(shop.sent_to("ada"), pairs(&[("2026-01-05T10:05:00Z", "loyalty_reward")]));
}

/// A broadcast planned through the API goes to each person at their best
/// hour: learned from their own human opens when they have them (Hana opens
/// on Saturday mornings), from the workspace's pattern when not (Ivan).
#[test]
fn a_broadcast_goes_out_at_each_persons_best_hour() {
    let mut shop = Shop::new();
    let admin = tidings_testkit::http::bearer("a");
    let sat_10 = START - 2 * DAY + 10 * HOUR; // Saturday 2026-01-03 10:00 UTC
    let tue_19 = START - 6 * DAY + 19 * HOUR; // Tuesday 2025-12-30 19:00 UTC
    for u in ["hana", "ivan", "jo"] {
        shop.person(u, true, "UTC", START - 30 * DAY);
    }
    for week in 0..4 {
        shop.track("hana", "Email Opened", json!({"machine": false}), sat_10 - week * 7 * DAY);
        // A mail-privacy proxy's opens teach nothing.
        shop.track("ivan", "Email Opened", json!({"machine": true}), sat_10 - week * 7 * DAY + HOUR);
    }
    for week in 0..10 {
        shop.track("jo", "Email Clicked", json!({"url": "https://shop.example"}), tue_19 - (week % 3) * 7 * DAY);
    }
    shop.clock.advance_to(START + 9 * HOUR);
    shop.node.sync();
    shop.step(START + 9 * HOUR);
    let post = |s: &Shop, body: &str| {
        s.client()
            .request("POST", "/api/broadcasts", Some(&admin), &[("Content-Type", "application/json")], body.as_bytes())
            .unwrap()
    };
    for (bad, why) in [
        (r#"{"name": "Spring!", "template": "newsletter", "audience": "subscribed"}"#, "invalid_name"),
        (r#"{"name": "spring", "template": "nope", "audience": "subscribed"}"#, "unknown_template"),
        (r#"{"name": "spring", "template": "newsletter", "audience": "in segment \"nope\""}"#, "invalid_audience"),
        (r#"{"name": "spring", "template": "newsletter", "audience": "did"}"#, "invalid_audience"),
        (
            r#"{"name": "spring", "template": "newsletter", "audience": "subscribed", "best_hour_within": "soon"}"#,
            "invalid_duration",
        ),
        (
            r#"{"name": "spring", "template": "newsletter", "audience": "subscribed", "per_hour": 0}"#,
            "invalid_per_hour",
        ),
    ] {
        let r = post(&shop, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.text().contains(why), "{bad}: {}", r.text());
    }
    let r = post(
        &shop,
        r#"{"name": "spring", "template": "newsletter", "audience": "subscribed", "best_hour_within": "7d"}"#,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    // Planning it again changes nothing for anybody.
    assert_eq!(
        post(
            &shop,
            r#"{"name": "spring", "template": "newsletter", "audience": "subscribed", "best_hour_within": "7d"}"#
        )
        .status,
        202
    );
    shop.run(START + 8 * DAY, 15 * MINUTE, |_, _| {});
    // (Hana, who opens but never clicks, also gets the playbook's opens-but-no-clicks offer.)
    let newsletter = |u: &str| shop.sent_to(u).into_iter().filter(|s| s.1 == "newsletter").collect::<Vec<_>>();
    assert_eq!(newsletter("hana"), pairs(&[("2026-01-10T10:00:00Z", "newsletter")]));
    assert_eq!(newsletter("jo"), pairs(&[("2026-01-06T19:00:00Z", "newsletter")]));
    assert_eq!(newsletter("ivan"), pairs(&[("2026-01-06T19:00:00Z", "newsletter")]));
    let why = shop.decisions("hana");
    assert!(why.iter().any(|d| d.1.contains("Sat 10:00 UTC, their best hour (from 4 own")), "{why:?}");
}

/// A throttled broadcast sends at most `per_hour` in any hour.
#[test]
fn a_throttled_broadcast_spreads_over_the_hours() {
    let mut shop = Shop::new();
    let admin = tidings_testkit::http::bearer("a");
    for u in ["p1", "p2", "p3", "p4", "p5"] {
        shop.person(u, true, "UTC", START);
    }
    shop.clock.advance_to(START + 10 * HOUR);
    let body = r#"{"name": "flash", "template": "newsletter", "audience": "trait email exists", "at": "2026-01-05T12:00:00Z", "per_hour": 2}"#;
    let r = shop
        .client()
        .request("POST", "/api/broadcasts", Some(&admin), &[("Content-Type", "application/json")], body.as_bytes())
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    shop.run(START + DAY, 5 * MINUTE, |_, _| {});
    let mut times: Vec<String> = shop.sent.iter().map(|s| format_time(s.0)).collect();
    times.sort();
    assert_eq!(
        times,
        [
            "2026-01-05T12:00:00Z",
            "2026-01-05T12:30:00Z",
            "2026-01-05T13:00:00Z",
            "2026-01-05T13:30:00Z",
            "2026-01-05T14:00:00Z"
        ]
    );
}

#[test]
fn a_bounce_suppresses_the_address_and_a_421_is_retried_to_one_copy() {
    let mut shop = Shop::new();
    shop.capture.bounce.lock().insert("fay@example.com".into());
    shop.capture.busy.lock().insert("gus@example.com".into(), 2);
    let mut done = BTreeSet::new();
    shop.run(START + 3 * DAY, 5 * MINUTE, |s, t| {
        if t >= START + 9 * HOUR && done.insert("people") {
            for u in ["fay", "gus"] {
                s.person(u, true, "UTC", START + 9 * HOUR);
            }
        }
        if t >= START + 10 * HOUR && done.insert("carts") {
            for u in ["fay", "gus"] {
                s.track(u, "Product Added", json!({"product_id": "p1", "name": "Red shoes"}), START + 10 * HOUR);
            }
        }
    });
    // Fay's reminder bounced: recorded, and the offer a day later is not attempted.
    assert!(shop.sent_to("fay").is_empty());
    let fay = shop.store.find_profile(shop.ws, "fay").unwrap().unwrap();
    let history = shop.store.profile_history(shop.ws, fay.id).unwrap();
    assert_eq!(history.iter().filter(|e| e.event.as_deref() == Some("Email Bounced")).count(), 1);
    assert!(
        shop.decisions("fay").iter().any(|d| d.0 == "skip" && d.1.contains("hard-bounced")),
        "{:?}",
        shop.decisions("fay")
    );
    // Gus's server said 421 twice: retried with backoff, one copy of each message in the end.
    let gus: Vec<String> = shop
        .capture
        .messages
        .lock()
        .iter()
        .filter(|m| m.recipients == ["gus@example.com"])
        .map(|m| m.message_id.clone())
        .collect();
    assert_eq!(gus.len(), 2, "reminder and offer, once each: {gus:?}");
    assert_ne!(gus[0], gus[1]);
    assert!(shop.reports.iter().map(|r| r.retried).sum::<usize>() >= 2);
}
