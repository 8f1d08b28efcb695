//! The HTTP surface end to end: a real server on a real socket, over SQLite.

mod dashboard;
mod experiments;
mod hardening;
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

impl tidings_node::DefinitionsHost for MemoryDefinitions {
    fn rule_files(&self) -> Result<Vec<tidings_rules::SourceFile>, tidings_node::DefinitionsError> {
        Ok(self.0.lock().clone())
    }

    fn check_rest(
        &self,
        _: &tidings_rules::Workspace,
        _: &[String],
    ) -> (Vec<tidings_rules::Diagnostic>, Vec<tidings_rules::SourceFile>) {
        (Vec::new(), Vec::new())
    }

    fn write(&self, name: &str, text: &str) -> Result<(), tidings_node::DefinitionsError> {
        let mut files = self.0.lock();
        files.retain(|f| f.name != name);
        files.push(tidings_rules::SourceFile::new(name, text));
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }
}

/// The journey the documentation test enters, and the template broadcasts send.
const EVERYONE_JOURNEY: &str =
    "key = \"everyone\"\n[trigger]\napi = true\n[[step]]\nid = \"hello\"\nsend = \"newsletter\"\n";
const NEWSLETTER: &str = "---\nsubject: News\n---\n<p>Hello {{ profile.first_name }}</p>\n";

/// Journeys and templates for a server with rules: one journey started
/// through the API, one template, mail written to `dir`.
fn journeys(rules: &tidings_rules::Workspace, dir: &std::path::Path, addr: SocketAddr) -> tidings_node::Journeys {
    let src = tidings_render::TemplateSource::parse("newsletter.html", NEWSLETTER, None).unwrap();
    let template = tidings_render::Renderer::new(Default::default()).compile(&src).unwrap();
    let file = tidings_rules::SourceFile::new("everyone.toml", EVERYONE_JOURNEY);
    let (journeys, d) = tidings_journeys::check_journeys(&[file], rules, Some(&["newsletter".to_string()]), None);
    assert!(!tidings_rules::has_errors(&d), "{d:?}");
    let keys = tidings_render::SigningKeys::new(vec![b"a test signing key of 32 bytes!!".to_vec()]).unwrap();
    tidings_node::Journeys {
        assets: tidings_automation::Assets {
            rules: Arc::new(rules.clone()),
            journeys,
            templates: std::collections::HashMap::from([("newsletter".to_string(), Arc::new(template))]),
            policy: Default::default(),
            default_tz: jiff::tz::TimeZone::UTC,
            audience: None,
        },
        sender: tidings_automation::Sender {
            from: tidings_render::Mailbox::new(Some("Shop"), "shop@example.com").unwrap(),
            envelope_from: None,
            tracking_base: format!("http://{addr}"),
            keys: Arc::new(keys),
            dkim: None,
            message_id_domain: "shop.example.com".into(),
        },
        transport: Arc::new(tidings_delivery::FileTransport::new(dir.join("mail")).unwrap()),
        webhooks: Default::default(),
    }
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

    /// Without segment definitions, under other limits.
    pub fn start_limited(limits: tidings_server::Limits) -> Server {
        Server::start_full(None, limits)
    }

    fn start_with(rules: Option<&str>) -> Server {
        Server::start_full(rules, tidings_server::Limits::default())
    }

    fn start_full(rules: Option<&str>, limits: tidings_server::Limits) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Full).unwrap());
        let now = WallClock.now();
        let ws = store.create_workspace("shop", now).unwrap().id;
        let (write, admin) = (keys::generate(KeyKind::Write), keys::generate(KeyKind::Admin));
        store.add_key(ws, KeyKind::Write, &keys::hash(&write), "test", now).unwrap();
        store.add_key(ws, KeyKind::Admin, &keys::hash(&admin), "test", now).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tenant = tidings_node::TenantSettings {
            workspace: ws,
            rules: None,
            default_tz: jiff::tz::TimeZone::UTC,
            journeys: None,
            topics: vec!["cart".to_string(), "news".to_string()],
            definitions: None,
            predictions: None,
            signing: None,
        };
        if let Some(text) = rules {
            let files = vec![tidings_rules::SourceFile::new("s.rules", text)];
            let (rules, d) = tidings_rules::check_workspace(&files, None);
            assert!(d.is_empty(), "{d:?}");
            tenant.journeys = Some(journeys(&rules, dir.path(), addr));
            tenant.rules = Some(rules);
            tenant.definitions = Some(Arc::new(MemoryDefinitions(parking_lot::Mutex::new(files))));
        }
        let settings = tidings_node::Settings { tenants: vec![tenant], manual: false, cluster: None };
        let node = tidings_node::Node::start(settings, store.clone(), Arc::new(WallClock)).unwrap();
        let signing =
            tidings_render::tokens::SigningKeys::new(vec![b"a test signing key of 32 bytes!!".to_vec()]).unwrap();
        let app = AppState::new(node).with_signing(signing.clone()).with_limits(limits);
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
