//! `tidings serve`.

use crate::config::{self, Config};
use crate::open::{ensure_workspace, open_store};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use tidings_model::{Clock, WallClock};
use tidings_server::AppState;
use tidings_store_sqlite::Mode;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The data folder: configuration, definitions and (unless PostgreSQL is configured) the event store.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// Address to listen on [default: 127.0.0.1:7411, or [server] listen in tidings.toml].
    #[arg(long)]
    pub listen: Option<String>,
    /// Run with the clock stopped at this time (RFC 3339) instead of the wall
    /// clock: for exploring a demo's data folder as of the end of its simulation.
    #[arg(long)]
    pub clock: Option<String>,
}

pub fn run(args: ServeArgs) -> Result<()> {
    config::write_example(&args.data)?;
    let config = Config::load(&args.data)?;
    let store = open_store(&args.data, &config, Mode::ReadWrite)?;
    let clock: Arc<dyn Clock> = match &args.clock {
        None => Arc::new(WallClock),
        Some(t) => {
            let at = tidings_model::time::parse_time(t)
                .with_context(|| format!("--clock {t:?}: give an RFC 3339 time like 2026-02-04T00:00:00Z"))?;
            println!("The clock is stopped at {t} (--clock).");
            Arc::new(tidings_model::SimClock::new(at))
        }
    };
    let (ws, new_keys) = ensure_workspace(store.as_ref(), &config, clock.as_ref())?;
    if let Some(k) = new_keys {
        println!("Created workspace {:?}. Its keys are shown this once; keep them:", config.workspace_name());
        println!("  write key (ingest, HTTP Basic user): {}", k.write);
        println!("  admin key (admin API, Bearer):       {}", k.admin);
    }
    let listen = args.listen.or(config.server.listen.clone()).unwrap_or_else(|| "127.0.0.1:7411".into());
    let limits = config.server.limits()?;
    let signing = signing_keys(&args.data, &config)?;
    // Every workspace is a tenant of its own: the default one is the data
    // folder, any other the folder workspaces/NAME (its definitions, mail
    // settings and link keys); one without a folder only ingests.
    let mut tenants = vec![tenant(&args.data, &config, store.as_ref(), ws, &clock, &listen, "default")?];
    for w in store.workspaces()? {
        if w.id == ws {
            continue;
        }
        let dir = args.data.join(WORKSPACES_DIR).join(&w.name);
        if dir.is_dir() {
            let sub = Config::load_without_env(&dir)?;
            tenants.push(tenant(&dir, &sub, store.as_ref(), w.id, &clock, &listen, &w.name)?);
        } else {
            tracing::info!(workspace = %w.name, "no {WORKSPACES_DIR}/{} folder: it ingests, without segments or journeys", w.name);
        }
    }
    // With several nodes: leases first, so that the engines build the
    // partitions this node takes at once rather than after a round.
    let stop_leases = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (cluster, leases) = match &config.cluster.node {
        None => (None, None),
        Some(_) if store.backend() != "postgres" => anyhow::bail!(
            "[cluster] node is set, but the store is SQLite in {}: several nodes share one PostgreSQL database; \
             set [storage] postgres_url (or TIDINGS_STORAGE__POSTGRES_URL), or unset the node id",
            args.data.display()
        ),
        Some(id) => {
            let mut settings = tidings_node::partitions::LeaseSettings::new(id.clone());
            settings.address = Some(config.cluster.advertise.clone().unwrap_or_else(|| format!("http://{listen}")));
            let workspaces = tenants.iter().map(|t| t.workspace).collect();
            let leaser = tidings_node::partitions::Leaser::new(store.clone(), clock.clone(), settings, workspaces);
            leaser.round().context("taking this node's first partitions")?;
            let ownership = leaser.ownership();
            let held: usize = tenants.iter().map(|t| ownership.held(t.workspace, clock.now()).len()).sum();
            println!("Node {id}: {held} partition(s) held at start; the others' leases are respected");
            let cluster = tidings_node::Cluster { node: id.clone(), ownership };
            (Some(cluster), Some(leaser.spawn(stop_leases.clone())?))
        }
    };
    // Everything that runs is started here, outside the async runtime: the
    // store is synchronous, and the PostgreSQL client may not be driven from
    // inside a runtime's thread.
    let node = tidings_node::Node::start(
        tidings_node::Settings { tenants, manual: false, cluster },
        store.clone(),
        clock.clone(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let app = AppState::new(node.clone()).with_signing(signing).with_limits(limits);
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}; is another server running? try --listen"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, storage = store.backend(), data = %args.data.display(), "tidings is serving");
        println!("Tidings is listening on http://{addr} (storage: {})", store.backend());
        tidings_server::serve(listener, app, shutdown_signal()).await?;
        anyhow::Ok(())
    });
    node.shutdown();
    // Only once nothing of this node writes any more: the others take its partitions at once.
    stop_leases.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(l) = leases {
        let _ = l.join();
    }
    tracing::info!("stopped");
    served
}

/// Where the definitions of workspaces other than the default one live, one folder each.
pub const WORKSPACES_DIR: &str = "workspaces";

/// What workspace `ws` runs: the definitions in `dir`, mail and link keys
/// from `config`.
fn tenant(
    dir: &std::path::Path,
    config: &Config,
    store: &dyn tidings_store::Store,
    ws: tidings_model::WorkspaceId,
    clock: &Arc<dyn Clock>,
    listen: &str,
    name: &str,
) -> Result<tidings_node::TenantSettings> {
    let known = store.event_names(ws)?;
    let defs = crate::workspace::load(dir, Some(&known))?;
    let signing = signing_keys(dir, config)?;
    let public_url = config.mail.public_url.clone().unwrap_or_else(|| format!("http://{listen}"));
    let journeys = if defs.journeys.is_empty() {
        tracing::info!(
            workspace = name,
            "no journeys/*.toml in the data folder: no automated email (`tidings init` writes a starter set)"
        );
        None
    } else {
        let (transport, described) = crate::mail::transport(dir, config, clock.clone(), None)?;
        let sender = crate::mail::sender(dir, config, signing.clone(), &public_url)?;
        tracing::info!(workspace = name, journeys = defs.journeys.len(), mail = %described, "journeys are running");
        let webhooks = tidings_automation::webhook::Guard::allowing(config.webhooks.allow.clone());
        Some(tidings_node::Journeys { assets: defs.assets(None), sender, transport, webhooks })
    };
    if defs.rule_files.is_empty() {
        tracing::info!(
            workspace = name,
            "no *.rules files in the data folder: segments are off (`tidings init` writes a starter set)"
        );
    } else {
        let segments = defs.rules.segments().count();
        println!("Segments of {name}: {segments} live from {} definition file(s)", defs.rule_files.len());
    }
    let predictions = match config.predict.every.as_deref().unwrap_or("1d") {
        "off" => None,
        every => {
            let every = crate::history::parse_duration(every)
                .filter(|d| *d > 0)
                .with_context(|| format!("[predict] every = {every:?}: give a duration like 1d, or \"off\""))?;
            let h = config.predict.horizon.clone().unwrap_or_else(|| "90d".into());
            let horizon = crate::history::parse_duration(&h)
                .filter(|d| *d > 0)
                .with_context(|| format!("[predict] horizon = {h:?}: give a duration like 90d"))?;
            Some(tidings_node::PredictionSchedule { every, horizon, horizon_text: h })
        }
    };
    Ok(tidings_node::TenantSettings {
        workspace: ws,
        rules: (!defs.rule_files.is_empty()).then(|| defs.rules.clone()),
        default_tz: jiff::tz::TimeZone::UTC,
        journeys,
        topics: defs.topics(),
        definitions: Some(Arc::new(crate::workspace::FolderDefinitions { dir: dir.to_path_buf() })),
        predictions,
        signing: Some(signing),
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The tracking-link keys: configured, else the data folder's `tracking.key`
/// (generated at first start).
pub fn signing_keys(dir: &std::path::Path, config: &Config) -> Result<tidings_render::tokens::SigningKeys> {
    let text = match &config.tracking.signing_key {
        Some(k) => k.clone(),
        None => {
            let path = dir.join("tracking.key");
            match std::fs::read_to_string(&path) {
                Ok(k) => k.trim().to_string(),
                Err(_) => {
                    let k = tidings_model::keys::generate(tidings_model::KeyKind::Admin);
                    write_secret(&path, &k).with_context(|| format!("cannot write {}", path.display()))?;
                    k
                }
            }
        }
    };
    let keys: Vec<Vec<u8>> = text.split(',').map(|k| k.trim().as_bytes().to_vec()).filter(|k| !k.is_empty()).collect();
    tidings_render::tokens::SigningKeys::new(keys)
        .map_err(|e| anyhow::anyhow!("[tracking] signing_key: {e}; use at least 32 characters"))
}

/// Writes a secret readable by its owner only (the HMAC key behind every
/// link and webhook signature).
pub fn write_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(text.as_bytes())
}
