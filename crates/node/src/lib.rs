//! The running system of Tidings, behind one constructor: [`Node::start`]
//! takes settings, a store and a clock, and starts everything a server
//! runs, in this order:
//!
//! 1. for each workspace, its live segment engine ([`live`]): its segments
//!    and stages, and every condition its journeys, send policies and
//!    preference center ask about, built from its snapshot and the log
//!    before anything else runs;
//! 2. the ingest writer ([`ingest`]): group commit, then every committed
//!    append goes to the engines;
//! 3. for each workspace with journeys, its runner ([`tidings_automation`]):
//!    a thread calling [`tidings_automation::Automation::step`] with the
//!    wall clock, or, under a simulated clock, rounds the driver asks for
//!    with [`Node::step`]; and, when scheduled, the refresh of prediction
//!    traits ([`predictions`]).
//!
//! `tidings serve`, `tidings demo`, the benchmarks and the tests all start
//! a node; the HTTP server (`tidings-server`) is a face over it.
//! [`Node::shutdown`] stops the runners, then the engines (each saves a
//! snapshot).
//!
//! Architecture invariant: every message that enters the log while a node
//! runs goes through its [`IngestQueue`] (HTTP ingest, tracking links, the
//! preference center, the runner's own events), so each workspace's engine
//! sees every stored message once, in log order.
//! A node among several ([`Settings::cluster`]) cannot see the others'
//! queues: its engines tail the log by position instead, for the
//! partitions the node owns ([`live`], [`partitions`]), and its runners act
//! only for those.
//!
//! Architecture invariant: the store is synchronous. Nothing here calls it
//! from an async task: the node's work runs on its own threads, and the
//! HTTP layer runs store calls on blocking threads.

pub mod definitions;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod partitions;
pub mod predictions;
mod runner;

use jiff::tz::TimeZone;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tidings_automation::{Assets, Automation, AutomationError, StepReport};
use tidings_delivery::Transport;
use tidings_model::{Clock, WorkspaceId};
use tidings_store::Store;

pub use definitions::{DefinitionsError, DefinitionsHost};
pub use ingest::{AppendObserver, IngestError, IngestQueue};
pub use live::{Cluster, Live, LiveError, Progress, RecentChange, Replaced};
pub use metrics::Metrics;
pub use predictions::PredictionSchedule;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("the journey runner of workspace {workspace}: {source}")]
    Runner {
        workspace: i64,
        #[source]
        source: AutomationError,
    },
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// What runs a workspace's journeys.
pub struct Journeys {
    /// Journeys, templates, policies, audience (and the rules, replaced by the tenant's).
    pub assets: Assets,
    pub sender: tidings_automation::Sender,
    pub transport: Arc<dyn Transport>,
    /// Internal receivers webhook steps may call (`[webhooks] allow`).
    pub webhooks: tidings_automation::webhook::Guard,
}

/// One workspace a node serves.
pub struct TenantSettings {
    pub workspace: WorkspaceId,
    /// Its segment and stage definitions; `None` when it has no rule files
    /// (segments are off; the engine still runs for journeys' conditions).
    pub rules: Option<tidings_rules::Workspace>,
    /// For profiles without a valid `timezone` trait.
    pub default_tz: TimeZone,
    pub journeys: Option<Journeys>,
    /// The topics the preference center offers (those of the templates).
    pub topics: Vec<String>,
    /// Where its definition files live, for `/api/definitions`.
    pub definitions: Option<Arc<dyn DefinitionsHost>>,
    /// The scheduled refresh of prediction traits (not under a simulated clock).
    pub predictions: Option<PredictionSchedule>,
    /// The keys that sign and verify its tracking links (and webhook signatures).
    pub signing: Option<tidings_render::SigningKeys>,
}

/// What a node runs.
pub struct Settings {
    pub tenants: Vec<TenantSettings>,
    /// A simulated clock: engines take in appends on [`Node::sync`] and
    /// runners do a round on [`Node::step`], never by themselves.
    pub manual: bool,
    /// When several nodes share the database: this node's id and what it
    /// owns (kept by a [`partitions::Leaser`]); `None` for a node alone.
    pub cluster: Option<Cluster>,
}

/// A workspace as the node runs it.
pub struct Tenant {
    pub workspace: WorkspaceId,
    /// The live engine: segments and stages, and the conditions journeys
    /// and the preference center ask about.
    pub live: Arc<Live>,
    /// Whether the workspace has segment definitions (rule files).
    pub segments_on: bool,
    /// Journeys that `POST /api/journeys/KEY/enter` may start, when journeys run.
    pub api_journeys: Option<Vec<String>>,
    /// Templates a broadcast may send, when journeys run.
    pub templates: Option<Vec<String>>,
    pub topics: Vec<String>,
    pub definitions: Option<Arc<dyn DefinitionsHost>>,
    /// The keys of its tracking links, when it has its own.
    pub signing: Option<Arc<tidings_render::SigningKeys>>,
    runner: Mutex<Option<Automation>>,
}

impl Tenant {
    /// The live engine when the workspace has segment definitions.
    pub fn segments(&self) -> Option<&Arc<Live>> {
        Some(&self.live).filter(|_| self.segments_on)
    }

    /// Runs new rule definitions (checked by the caller against everything
    /// that refers to them): the engine rebuilds, then the runner takes them.
    pub fn replace_rules(&self, rules: tidings_rules::Workspace) -> Result<Replaced, LiveError> {
        let replaced = self.live.replace(rules)?;
        if let Some(runner) = self.runner.lock().as_mut() {
            runner.replace_rules(self.live.rules());
            tracing::info!(workspace = self.workspace.0, "journeys run under the new rule definitions");
        }
        Ok(replaced)
    }

    /// Whether journeys run for this workspace.
    pub fn has_runner(&self) -> bool {
        self.runner.lock().is_some()
    }
}

/// `subscribed`, and `subscribed to "TOPIC"` for each topic: what the send
/// policies and the preference center ask about every person.
pub fn consent_conditions(topics: &[String]) -> Vec<tidings_rules::Condition> {
    use tidings_rules::{Condition, Span, Subscribed};
    std::iter::once(None)
        .chain(topics.iter().map(Some))
        .map(|t| Condition::Subscribed(Subscribed { topic: t.cloned(), span: Span::default() }))
        .collect()
}

/// What a runner of a node among several acts for: its node's partitions, as of the clock.
struct Held {
    cluster: Cluster,
    clock: Arc<dyn Clock>,
}

impl tidings_automation::Partitions for Held {
    fn held(&self, ws: WorkspaceId) -> Vec<u32> {
        self.cluster.ownership.held(ws, self.clock.now()).into_iter().map(|(p, _)| p).collect()
    }

    fn owns(&self, ws: WorkspaceId, profile: tidings_model::ProfileId) -> bool {
        self.cluster.ownership.owns(ws, profile, self.clock.now())
    }
}

/// The running system. Cheap to clone; every clone is the same node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ingest: IngestQueue,
    metrics: Arc<Metrics>,
    tenants: HashMap<WorkspaceId, Arc<Tenant>>,
    manual: bool,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Node {
    /// Starts everything `settings` asks for over `store` (see the crate docs).
    pub fn start(settings: Settings, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Node, NodeError> {
        let metrics = Arc::new(Metrics::default());
        let mut lives = Vec::new();
        let mut observers: Vec<Arc<dyn AppendObserver>> = Vec::new();
        for t in &settings.tenants {
            let mut conditions = t.journeys.as_ref().map(|j| j.assets.conditions()).unwrap_or_default();
            conditions.extend(consent_conditions(&t.topics));
            let rules = t.rules.clone().unwrap_or_else(|| tidings_rules::check_workspace(&[], None).0);
            let (live, observer) = Live::start(
                store.clone(),
                clock.clone(),
                t.workspace,
                rules,
                conditions,
                t.default_tz.clone(),
                settings.manual,
                settings.cluster.clone(),
            )?;
            observers.push(observer);
            lives.push(live);
        }
        let ingest = IngestQueue::start(store.clone(), metrics.clone(), observers)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut tenants = HashMap::new();
        let mut threads = Vec::new();
        for (t, live) in settings.tenants.into_iter().zip(lives) {
            let mut api_journeys = None;
            let mut templates = None;
            let runner = match t.journeys {
                Some(j) => {
                    let mut api: Vec<String> = j
                        .assets
                        .journeys
                        .iter()
                        .filter(|j| matches!(j.trigger, tidings_journeys::Trigger::Api))
                        .map(|j| j.key.clone())
                        .collect();
                    api.sort();
                    api_journeys = Some(api);
                    let mut names: Vec<String> = j.assets.templates.keys().cloned().collect();
                    names.sort();
                    templates = Some(names);
                    let assets = Assets { rules: live.rules(), ..j.assets };
                    let automation = Automation::new(
                        store.clone(),
                        t.workspace,
                        Arc::new(assets),
                        j.sender,
                        j.transport,
                        Arc::new(ingest.clone()),
                        live.clone(),
                    )
                    .map_err(|source| NodeError::Runner { workspace: t.workspace.0, source })?
                    .with_webhook_guard(j.webhooks);
                    // With the wall clock, webhook calls are made off the runner's path.
                    let automation =
                        if settings.manual { automation } else { automation.with_webhook_pool(clock.clone())? };
                    let automation = match &settings.cluster {
                        Some(c) => {
                            automation.with_partitions(Arc::new(Held { cluster: c.clone(), clock: clock.clone() }))
                        }
                        None => automation,
                    };
                    Some(automation)
                }
                None => None,
            };
            let tenant = Arc::new(Tenant {
                workspace: t.workspace,
                segments_on: t.rules.is_some(),
                live,
                api_journeys,
                templates,
                topics: t.topics,
                definitions: t.definitions,
                signing: t.signing.map(Arc::new),
                runner: Mutex::new(runner),
            });
            if !settings.manual && tenant.has_runner() {
                threads.push(runner::spawn(tenant.clone(), clock.clone(), stop.clone())?);
            }
            if let (false, Some(schedule)) = (settings.manual, t.predictions) {
                let ingest = ingest.clone();
                threads.push(predictions::spawn(
                    store.clone(),
                    t.workspace,
                    ingest,
                    clock.clone(),
                    schedule,
                    stop.clone(),
                    settings.cluster.clone(),
                )?);
            }
            tenants.insert(t.workspace, tenant);
        }
        Ok(Node {
            inner: Arc::new(Inner {
                store,
                clock,
                ingest,
                metrics,
                tenants,
                manual: settings.manual,
                stop,
                threads: Mutex::new(threads),
            }),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Where every message enters the log.
    pub fn ingest(&self) -> &IngestQueue {
        &self.inner.ingest
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The workspace as this node runs it, if it runs it.
    pub fn tenant(&self, ws: WorkspaceId) -> Option<&Arc<Tenant>> {
        self.inner.tenants.get(&ws)
    }

    /// Whether time moves only when the driver says so.
    pub fn is_manual(&self) -> bool {
        self.inner.manual
    }

    /// Brings every engine up to everything appended and to the clock's
    /// time, with its changes recorded.
    pub fn sync(&self) {
        for t in self.inner.tenants.values() {
            t.live.sync();
        }
    }

    /// One runner round of workspace `ws` at `now` (under a simulated
    /// clock; with the wall clock the runner's thread does them). `None`
    /// when the workspace runs no journeys.
    pub fn step(&self, ws: WorkspaceId, now: tidings_model::Micros) -> Option<Result<StepReport, AutomationError>> {
        self.with_runner(ws, |a| a.step(now))
    }

    /// Calls `f` with workspace `ws`'s runner, between its rounds.
    pub fn with_runner<T>(&self, ws: WorkspaceId, f: impl FnOnce(&mut Automation) -> T) -> Option<T> {
        let t = self.tenant(ws)?;
        let mut runner = t.runner.lock();
        runner.as_mut().map(f)
    }

    /// Stops the runners and the prediction refresh, then the engines (each saves its snapshot).
    pub fn shutdown(&self) {
        self.inner.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in std::mem::take(&mut *self.inner.threads.lock()) {
            let _ = h.join();
        }
        for t in self.inner.tenants.values() {
            t.live.stop();
        }
    }
}
