//! Nothing acknowledged is lost or doubled when the server is killed with
//! SIGKILL in the middle of ingest, several times: on a folder made by
//! `tidings init` (the starter segments, journeys and templates loaded, so
//! the engine and the runner work beside ingest), on SQLite and PostgreSQL.

use crate::{WRITE_KEY, drop_schema, free_addr, serve_with};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tidings_store::Store;
use tidings_testkit::http::{Client, basic};
use tidings_testkit::services::postgres_url;

pub fn acknowledged_events_survive_kill_9_exactly_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_and_count(dir.path(), &[], || {
        let store = tidings_store_sqlite::SqliteStore::open(
            dir.path(),
            tidings_store_sqlite::Mode::ReadOnly,
            tidings_store_sqlite::Durability::Full,
        )
        .unwrap();
        message_counts(&store)
    });
}

pub fn acknowledged_events_survive_kill_9_exactly_once_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("crash_{}", std::process::id());
    drop_schema(&schema);
    let url = postgres_url();
    let env = [("TIDINGS_STORAGE__POSTGRES_URL", url.as_str()), ("TIDINGS_STORAGE__POSTGRES_SCHEMA", schema.as_str())];
    kill_and_count(dir.path(), &env, || {
        let store = tidings_store_postgres::PostgresStore::open(&url, Some(&schema)).unwrap();
        message_counts(&store)
    });
    drop_schema(&schema);
}

fn message_counts(store: &dyn Store) -> HashMap<String, u32> {
    let ws = store.workspace_by_name("default").unwrap().unwrap().id;
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.scan(ws, after, 10_000).unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            *counts.entry(e.message_id).or_default() += 1;
        }
    }
    counts
}

/// Sends batches from three clients while killing the server four times;
/// then checks `counts()` holds every acknowledged id exactly once.
fn kill_and_count(dir: &std::path::Path, env: &[(&str, &str)], counts: impl FnOnce() -> HashMap<String, u32>) {
    let init = std::process::Command::new(crate::BIN).arg("init").arg(dir).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    // Each client's batch that was not acknowledged is sent again after the restart, as a real client would.
    let pending: Arc<Mutex<HashMap<usize, serde_json::Value>>> = Arc::default();
    let mut next_id = 0u64;
    for round in 0..4 {
        let addr = free_addr();
        let mut server = serve_with(dir, addr, env);
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for client_no in 0..3 {
            let (acked, pending, stop) = (acked.clone(), pending.clone(), stop.clone());
            let base = next_id + client_no as u64 * 1_000_000;
            clients.push(std::thread::spawn(move || {
                let mut c = Client::new(addr);
                let auth = basic(WRITE_KEY);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let batch = pending.lock().unwrap().remove(&client_no).unwrap_or_else(|| {
                        let msgs: Vec<_> = (0..50)
                            .map(|i| {
                                n += 1;
                                serde_json::json!({"type": "track", "userId": format!("u{}", (base + n) % 97),
                                    "event": "Product Viewed", "messageId": format!("r{round}-c{client_no}-{}-{i}", base + n)})
                            })
                            .collect();
                        serde_json::json!({"batch": msgs})
                    });
                    match c.post("/v1/batch", Some(&auth), batch.to_string().as_bytes()) {
                        Ok(r) if r.status == 200 => {
                            let ids = batch["batch"].as_array().unwrap().iter();
                            acked.lock().unwrap().extend(ids.map(|m| m["messageId"].as_str().unwrap().to_string()));
                        }
                        _ => {
                            pending.lock().unwrap().insert(client_no, batch);
                            break;
                        }
                    }
                }
            }));
        }
        next_id += 10_000_000;
        std::thread::sleep(Duration::from_millis(400 + 150 * round));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
    }
    // A last start delivers the batches that were in flight at the final kill.
    let addr = free_addr();
    let mut server = serve_with(dir, addr, env);
    let mut c = Client::new(addr);
    for (_, batch) in pending.lock().unwrap().drain() {
        let r = c.post("/v1/batch", Some(&basic(WRITE_KEY)), batch.to_string().as_bytes()).unwrap();
        assert_eq!(r.status, 200);
        acked
            .lock()
            .unwrap()
            .extend(batch["batch"].as_array().unwrap().iter().map(|m| m["messageId"].as_str().unwrap().to_string()));
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let counts = counts();
    let acked = acked.lock().unwrap();
    assert!(acked.len() > 1000, "the clients got too little through ({}) for the test to mean much", acked.len());
    let lost: Vec<_> = acked.iter().filter(|id| !counts.contains_key(*id)).take(5).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
}
