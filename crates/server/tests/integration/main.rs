//! The HTTP surface end to end: a real server on a real socket, over SQLite.

mod dashboard;
mod experiments;
mod ingest;
mod journeys;
mod openapi;
mod playbook;
mod track;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use tidings_model::{Clock, KeyKind, WallClock, WorkspaceId, keys};
use tidings_server::AppState;
use tidings_store::Store;
use tidings_store_sqlite::{Durability, Mode, SqliteStore};
use tidings_testkit::http::{Client, basic, bearer};

pub struct Server {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub ws: WorkspaceId,
    pub write: String,
    pub admin: String,
    pub signing: tidings_render::tokens::SigningKeys,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

/// Rule files kept in memory, for `/api/definitions`.
struct MemoryDefinitions(parking_lot::Mutex<Vec<tidings_rules::SourceFile>>);

impl tidings_server::definitions::DefinitionsHost for MemoryDefinitions {
    fn rule_files(&self) -> Vec<tidings_rules::SourceFile> {
        self.0.lock().clone()
    }

    fn check_rest(
        &self,
        _: &tidings_rules::Workspace,
        _: &[String],
    ) -> (Vec<tidings_rules::Diagnostic>, Vec<tidings_rules::SourceFile>) {
        (Vec::new(), Vec::new())
    }

    fn write(&self, name: &str, text: &str) -> Result<(), String> {
        let mut files = self.0.lock();
        files.retain(|f| f.name != name);
        files.push(tidings_rules::SourceFile::new(name, text));
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    fn replaced(&self, _: Arc<tidings_rules::Workspace>) {}
}

impl Server {
    /// Without segment definitions.
    pub fn start() -> Server {
        Server::start_with(None)
    }

    /// With the live engine over `rules`.
    pub fn start_live(rules: &str) -> Server {
        Server::start_with(Some(rules))
    }

    fn start_with(rules: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Full).unwrap());
        let now = WallClock.now();
        let ws = store.create_workspace("shop", now).unwrap().id;
        let (write, admin) = (keys::generate(KeyKind::Write), keys::generate(KeyKind::Admin));
        store.add_key(ws, KeyKind::Write, &keys::hash(&write), "test", now).unwrap();
        store.add_key(ws, KeyKind::Admin, &keys::hash(&admin), "test", now).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let app = match rules {
            None => AppState::new(store.clone(), Arc::new(WallClock), Vec::new()),
            Some(text) => {
                let files = vec![tidings_rules::SourceFile::new("s.rules", text)];
                let (rules, d) = tidings_rules::check_workspace(&files, None);
                assert!(d.is_empty(), "{d:?}");
                let clock = Arc::new(WallClock);
                let (live, observer) =
                    tidings_server::live::Live::start(store.clone(), clock, ws, rules, jiff::tz::TimeZone::UTC, false)
                        .unwrap();
                // A journey key the API may start (the documentation test enters "everyone").
                AppState::new(store.clone(), Arc::new(WallClock), vec![observer])
                    .with_live(live)
                    .with_api_journeys(vec!["everyone".into()])
                    .with_templates(["newsletter".to_string()])
                    .with_definitions(Arc::new(MemoryDefinitions(parking_lot::Mutex::new(files))))
            }
        };
        let signing =
            tidings_render::tokens::SigningKeys::new(vec![b"a test signing key of 32 bytes!!".to_vec()]).unwrap();
        let app = app.with_signing(signing.clone()).with_topics(["cart".to_string(), "news".to_string()]);
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(tidings_server::serve(listener, app, std::future::pending()));
        Server { addr, store, ws, write, admin, signing, _dir: dir, _runtime: runtime }
    }

    /// A second workspace with its own keys: (id, write key, admin key).
    pub fn other_workspace(&self) -> (WorkspaceId, String, String) {
        let now = WallClock.now();
        let ws = self.store.create_workspace("other", now).unwrap().id;
        let (write, admin) = (keys::generate(KeyKind::Write), keys::generate(KeyKind::Admin));
        self.store.add_key(ws, KeyKind::Write, &keys::hash(&write), "test", now).unwrap();
        self.store.add_key(ws, KeyKind::Admin, &keys::hash(&admin), "test", now).unwrap();
        (ws, write, admin)
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> tidings_testkit::http::Response {
        self.client().post(path, Some(&basic(&self.write)), body.to_string().as_bytes()).unwrap()
    }

    pub fn admin_get(&self, path: &str) -> tidings_testkit::http::Response {
        self.client().get(path, Some(&bearer(&self.admin))).unwrap()
    }

    pub fn events_stored(&self) -> i64 {
        self.store.stats(self.ws).unwrap().events
    }
}
