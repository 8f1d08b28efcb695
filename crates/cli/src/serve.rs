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
    let known = store.event_names(ws)?;
    let defs = crate::workspace::load(&args.data, Some(&known))?;
    let live = start_engine(&defs, &store, &clock, ws)?;
    let signing = signing_keys(&args.data, &config)?;
    let public_url = config.mail.public_url.clone().unwrap_or_else(|| format!("http://{listen}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}; is another server running? try --listen"))?;
        let addr = listener.local_addr()?;
        let observers: Vec<Arc<dyn tidings_server::AppendObserver>> = live.iter().map(|(_, o)| o.clone()).collect();
        let mut app = AppState::new(store.clone(), clock.clone(), observers)
            .with_signing(signing.clone())
            .with_topics(defs.topics());
        if let Some((l, _)) = &live {
            app = app.with_live(l.clone());
        }
        if !defs.journeys.is_empty() {
            let api: Vec<String> = defs
                .journeys
                .iter()
                .filter(|j| matches!(j.trigger, tidings_journeys::Trigger::Api))
                .map(|j| j.key.clone())
                .collect();
            app = app.with_api_journeys(api).with_templates(defs.templates.keys().cloned());
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (rules_tx, rules_rx) = std::sync::mpsc::channel();
        let host = crate::workspace::FolderDefinitions {
            dir: args.data.clone(),
            runner: (!defs.journeys.is_empty()).then_some(rules_tx),
        };
        app = app.with_definitions(Arc::new(host));
        let runner = if defs.journeys.is_empty() {
            tracing::info!(
                "no journeys/*.toml in the data folder: no automated email (`tidings init` writes a starter set)"
            );
            None
        } else {
            let (transport, described) = crate::mail::transport(&args.data, &config, clock.clone(), None)?;
            let sender = crate::mail::sender(&args.data, &config, signing, &public_url)?;
            let assets = Arc::new(defs.assets(None));
            let emitter = Arc::new(crate::mail::IngestEmitter(app.ingest.clone()));
            let automation =
                tidings_automation::Automation::new(store.clone(), ws, assets, sender, transport, emitter)?;
            tracing::info!(journeys = defs.journeys.len(), mail = %described, "journeys are running");
            Some(crate::mail::spawn_runner(automation, clock.clone(), stop.clone(), rules_rx)?)
        };
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
                Some(crate::predict::spawn_refresh(
                    store.clone(),
                    ws,
                    app.ingest.clone(),
                    clock.clone(),
                    every,
                    (horizon, h),
                    stop.clone(),
                )?)
            }
        };
        tracing::info!(%addr, storage = store.backend(), data = %args.data.display(), "tidings is serving");
        println!("Tidings is listening on http://{addr} (storage: {})", store.backend());
        tidings_server::serve(listener, app, shutdown_signal()).await?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = runner {
            let _ = r.join();
        }
        if let Some(p) = predictions {
            let _ = p.join();
        }
        if let Some((l, _)) = &live {
            l.stop();
        }
        tracing::info!("stopped");
        anyhow::Ok(())
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

type LiveParts = (Arc<tidings_server::live::Live>, Arc<dyn tidings_server::AppendObserver>);

/// The live segment engine over the data folder's definitions (`*.rules`),
/// built before the server takes requests; none when there are no definitions.
fn start_engine(
    defs: &crate::workspace::Definitions,
    store: &Arc<dyn tidings_store::Store>,
    clock: &Arc<dyn Clock>,
    ws: tidings_model::WorkspaceId,
) -> Result<Option<LiveParts>> {
    if defs.rule_files.is_empty() {
        tracing::info!("no *.rules files in the data folder: segments are off (`tidings init` writes a starter set)");
        return Ok(None);
    }
    let segments = defs.rules.segments().count();
    let (live, observer) = tidings_server::live::Live::start(
        store.clone(),
        clock.clone(),
        ws,
        defs.rules.clone(),
        jiff::tz::TimeZone::UTC,
        false,
    )?;
    println!("Segments: {segments} live from {} definition file(s)", defs.rule_files.len());
    Ok(Some((live, observer)))
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
                    std::fs::write(&path, &k).with_context(|| format!("cannot write {}", path.display()))?;
                    k
                }
            }
        }
    };
    let keys: Vec<Vec<u8>> = text.split(',').map(|k| k.trim().as_bytes().to_vec()).filter(|k| !k.is_empty()).collect();
    tidings_render::tokens::SigningKeys::new(keys)
        .map_err(|e| anyhow::anyhow!("[tracking] signing_key: {e}; use at least 32 characters"))
}
