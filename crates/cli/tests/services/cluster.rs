//! Several `tidings serve` processes on one PostgreSQL database, the starter
//! playbook loaded, fed a simulated month of a shop through whichever nodes
//! are up: one node is killed (SIGKILL) three times and started again, a
//! fourth joins midway, and another is paused (SIGSTOP) past its lease and
//! resumed. At the end every acknowledged event is stored, every segment's
//! members through the API (the union over the nodes' partitions) are what
//! the reference evaluator (`tidings segments eval`) finds in the log,
//! ownership moved as the lease log records it, and every message the
//! outbox records as sent reached the (real) SMTP server, none twice but
//! those in flight at a kill, with the same Message-ID.

use crate::{ADMIN_KEY, BIN, WRITE_KEY, drop_schema, free_addr, journey_crash, serve_with};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};
use tidings_testkit::http::{Client, basic, bearer};
use tidings_testkit::services::postgres_url;
use tidings_testkit::{SimConfig, Simulation};

const DAY: i64 = 86_400_000_000;
/// Past the default lease (6 s): a dead or paused node's partitions have moved.
const PAST_LEASE: Duration = Duration::from_secs(9);

struct Cluster {
    data: std::path::PathBuf,
    env: Vec<(String, String)>,
    nodes: BTreeMap<String, (SocketAddr, Option<Child>)>,
}

impl Cluster {
    fn start(&mut self, id: &str) {
        let addr = self.nodes.get(id).map_or_else(free_addr, |n| n.0);
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("TIDINGS_CLUSTER__NODE", id));
        let child = serve_with(&self.data, addr, &env);
        self.nodes.insert(id.to_string(), (addr, Some(child)));
    }

    fn kill(&mut self, id: &str) {
        if let Some((_, Some(mut c))) = self.nodes.get_mut(id).map(|n| (n.0, n.1.take())) {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    fn signal(&self, id: &str, signal: &str) {
        let pid = self.nodes[id].1.as_ref().unwrap().id();
        let ok = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
        assert!(ok.success(), "kill {signal} {pid}");
    }

    /// The nodes that are up, but not `except`.
    fn up(&self, except: Option<&str>) -> Vec<SocketAddr> {
        self.nodes.iter().filter(|(id, n)| n.1.is_some() && Some(id.as_str()) != except).map(|(_, n)| n.0).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, (_, child)) in self.nodes.iter_mut() {
            if let Some(c) = child.as_mut() {
                let _ = std::process::Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Every segment's members through the API of `addr`, as `segment,user_id` lines.
fn members(addr: SocketAddr, segments: &[String]) -> Option<BTreeSet<String>> {
    let mut c = Client::new(addr);
    let mut out = BTreeSet::new();
    for s in segments {
        let mut cursor = String::new();
        loop {
            let path = format!("/api/segments/{s}/members?limit=1000{cursor}");
            let r = c.get(&path, Some(&bearer(ADMIN_KEY))).ok()?;
            if r.status != 200 {
                return None;
            }
            let v = r.json();
            if v["complete"] != true {
                return None;
            }
            for m in v["members"].as_array()? {
                // As `segments eval` names a profile: its user id, else its first anonymous id.
                let id = m["user_id"].as_str().or_else(|| m["anonymous_ids"][0].as_str())?;
                out.insert(format!("{s},{id}"));
            }
            match v["next_cursor"].as_str() {
                Some(n) => cursor = format!("&cursor={n}"),
                None => break,
            }
        }
    }
    Some(out)
}

fn eval(cluster: &Cluster, at: &str) -> BTreeSet<String> {
    let out = std::process::Command::new(BIN)
        .args(["segments", "eval", "--quiet", "--data", cluster.data.to_str().unwrap(), "--as-of", at])
        .envs(cluster.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

/// Waits until each of `ids` holds a partition of an unexpired lease and all 64 are held.
fn wait_owned(schema: &str, ids: &[&str]) {
    let mut pg = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = tidings_model::Clock::now(&tidings_model::WallClock);
        let owners: BTreeMap<String, i64> = pg
            .query(
                &format!(
                    "SELECT owner, count(*) FROM {schema}.partition_leases
                     WHERE owner IS NOT NULL AND expires_at > $1 GROUP BY owner"
                ),
                &[&now],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if ids.iter().all(|id| owners.contains_key(*id)) && owners.values().sum::<i64>() == 64 {
            return;
        }
        assert!(Instant::now() < deadline, "partitions never settled on {ids:?}: {owners:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn now_text() -> String {
    tidings_model::time::format_time(tidings_model::Clock::now(&tidings_model::WallClock))
}

pub fn three_nodes_keep_segments_exact_through_kills_a_join_and_a_pause() {
    let schema = format!("cluster_{}", std::process::id());
    drop_schema(&schema);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    let init = std::process::Command::new(BIN).args(["init", data.to_str().unwrap()]).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let python = tidings_testkit::services::python(journey_crash::PYTHON_MODULES).unwrap();
    let mail = dir.path().join("received");
    std::fs::create_dir_all(&mail).unwrap();
    let (mut smtp, port) = journey_crash::smtp_server(&python, &mail);
    let env = vec![
        ("TIDINGS_MAIL__SMTP_URL".to_string(), format!("smtp://127.0.0.1:{port}")),
        ("TIDINGS_MAIL__FROM".to_string(), "Shop <shop@example.com>".to_string()),
        ("TIDINGS_STORAGE__POSTGRES_URL".to_string(), postgres_url()),
        ("TIDINGS_STORAGE__POSTGRES_SCHEMA".to_string(), schema.clone()),
        ("TIDINGS_PREDICT__EVERY".to_string(), "off".to_string()),
    ];
    let mut cluster = Cluster { data: data.clone(), env, nodes: BTreeMap::new() };
    for id in ["n1", "n2", "n3"] {
        cluster.start(id);
    }
    wait_owned(&schema, &["n1", "n2", "n3"]);

    // A month of a shop that ends now, sent 100 messages a request to the nodes in turn.
    let now = tidings_model::Clock::now(&tidings_model::WallClock);
    let messages: Vec<serde_json::Value> =
        Simulation::new(SimConfig::new(17, 250, now - 28 * DAY, 28)).map(|m| m.to_json()).collect();
    let batches: Vec<&[serde_json::Value]> = messages.chunks(100).collect();
    let mut acked: Vec<String> = Vec::new();
    let mut paused = None;
    for (i, batch) in batches.iter().enumerate() {
        let step = i * 20 / batches.len();
        match (i * 20 % batches.len() < 20, step) {
            // kill -9 n3, the others take its partitions, then it starts again: three times.
            (true, 4 | 8 | 12) => {
                wait_owned(&schema, &cluster.nodes.keys().map(String::as_str).collect::<Vec<_>>());
                cluster.kill("n3");
                std::thread::sleep(PAST_LEASE);
                cluster.start("n3");
            }
            // A fourth node joins and takes its share.
            (true, 10) => {
                cluster.start("n4");
                wait_owned(&schema, &["n1", "n2", "n3", "n4"]);
            }
            // n2 is paused past its lease while the others go on, then resumed.
            (true, 15) => {
                wait_owned(&schema, &["n1", "n2", "n3", "n4"]);
                cluster.signal("n2", "-STOP");
                paused = Some(Instant::now());
            }
            _ => {}
        }
        if paused.is_some_and(|t| t.elapsed() >= PAST_LEASE) {
            cluster.signal("n2", "-CONT");
            paused = None;
        }
        let skip = paused.map(|_| "n2");
        let up = cluster.up(skip);
        let addr = up[i % up.len()];
        let body = serde_json::json!({"batch": batch}).to_string();
        let r = Client::new(addr).post("/v1/batch", Some(&basic(WRITE_KEY)), body.as_bytes()).unwrap();
        assert_eq!(r.status, 200, "batch {i} to {addr}: {}", r.text());
        acked.extend(batch.iter().map(|m| m["messageId"].as_str().unwrap().to_string()));
    }
    if paused.is_some() {
        std::thread::sleep(PAST_LEASE);
        cluster.signal("n2", "-CONT");
    }

    // Every acknowledged message is stored, once.
    let mut pg = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
    let stored: i64 = pg
        .query_one(&format!("SELECT count(*) FROM {schema}.events WHERE message_id = ANY($1)"), &[&acked])
        .unwrap()
        .get(0);
    assert_eq!(stored as usize, acked.len(), "acknowledged events lost");

    // Ownership moved as the lease log says: expiries after the kills and the
    // pause, and the joining node took partitions.
    let changes: Vec<(Option<String>, Option<String>, String)> = pg
        .query(&format!("SELECT owner, previous, reason FROM {schema}.lease_changes ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expired_from = |n: &str| changes.iter().filter(|c| c.1.as_deref() == Some(n) && c.2 == "expired").count();
    assert!(expired_from("n3") > 0, "n3's partitions never moved after kill -9: {changes:?}");
    assert!(expired_from("n2") > 0, "n2's partitions never moved while it was paused: {changes:?}");
    assert!(changes.iter().any(|c| c.0.as_deref() == Some("n4")), "n4 took nothing: {changes:?}");

    // Memberships through any node equal the reference evaluator's, once the
    // nodes are settled: compared against the evaluation at the start and at
    // the end of the read, so that a window sliding in between is no failure.
    let segments: Vec<String> = {
        let v = Client::new(cluster.up(None)[0]).get("/api/segments", Some(&bearer(ADMIN_KEY))).unwrap().json();
        v["segments"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap().to_string()).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    loop {
        let before = now_text();
        let addr = cluster.up(None)[0];
        let got = members(addr, &segments);
        let after = now_text();
        if got.is_none() {
            last = "the API gave no complete answer".into();
        }
        if let Some(got) = got {
            let (a, b) = (eval(&cluster, &before), eval(&cluster, &after));
            let wrong: Vec<&String> = got.iter().filter(|m| !a.contains(*m) && !b.contains(*m)).collect();
            let missing: Vec<&String> = a.intersection(&b).filter(|m| !got.contains(*m)).collect();
            if wrong.is_empty() && missing.is_empty() {
                assert!(!got.is_empty(), "no memberships at all");
                break;
            }
            last = format!("{} members; not in the log's: {wrong:?}; missing: {missing:?}", got.len());
        }
        assert!(Instant::now() < deadline, "segments never matched the reference evaluator: {last}");
        std::thread::sleep(Duration::from_secs(1));
    }

    // Every message the outbox has sent reached the SMTP server; none twice
    // but those in flight at a kill or the pause (the same Message-ID).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = tidings_model::Clock::now(&tidings_model::WallClock);
        let due: i64 = pg
            .query_one(
                &format!("SELECT count(*) FROM {schema}.outbox WHERE status = 'pending' AND not_before <= $1"),
                &[&now],
            )
            .unwrap()
            .get(0);
        if due == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{due} messages due but never sent");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    let sent: BTreeSet<String> = pg
        .query(&format!("SELECT message_id FROM {schema}.outbox WHERE status = 'sent'"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for f in std::fs::read_dir(&mail).unwrap().flatten() {
        if f.path().extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let eml = std::fs::read_to_string(f.path()).unwrap();
        let id = journey_crash::header(&eml, "Message-ID").expect("a Message-ID");
        *received.entry(id.trim_matches(['<', '>']).to_string()).or_default() += 1;
    }
    assert!(!sent.is_empty(), "the journeys sent nothing: the check below would prove nothing");
    let lost: Vec<&String> = sent.iter().filter(|id| !received.contains_key(*id)).collect();
    assert!(lost.is_empty(), "recorded as sent, never received: {lost:?}");
    let unknown: Vec<&String> = received.keys().filter(|id| !sent.contains(*id)).collect();
    assert!(unknown.is_empty(), "received, but the outbox does not say sent: {unknown:?}");
    let twice: usize = received.values().map(|n| n - 1).sum();
    // At most one per delivery worker in flight at each of the three kills and the pause.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    assert!(twice <= 4 * workers, "{twice} messages sent more than once: {received:?}");
    eprintln!("cluster test: {} messages sent, {twice} resent with the same Message-ID", sent.len());
    drop(cluster);
    smtp.kill().unwrap();
    smtp.wait().unwrap();
    drop_schema(&schema);
}
