//! The HTTP surface of Tidings on one port: the Segment-compatible ingest
//! API (`/v1/*`), the admin API (`/api/*`), the dashboard (`/dashboard`),
//! `/healthz` and `/metrics`.
//!
//! Architecture invariants:
//! - A `200` from ingest means the messages are durable: handlers wait for
//!   the [`ingest::IngestQueue`] writer, which commits before it answers.
//! - Every admin request is scoped to the workspace its key belongs to.
//! - Storage calls are synchronous and run on blocking threads, never on the
//!   async executor.

pub mod api;
pub mod auth;
pub mod body;
pub mod dashboard;
pub mod definitions;
pub mod error;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod preferences;
pub mod track;
pub mod v1;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tidings_model::Clock;
use tidings_store::Store;

pub use error::ApiError;
pub use ingest::{AppendObserver, IngestQueue};
pub use metrics::Metrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ingest: IngestQueue,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// The live segment engine of the default workspace, when it has definitions.
    pub live: Option<Arc<live::Live>>,
    /// The keys that sign and verify tracking tokens.
    pub signing: Option<Arc<tidings_render::tokens::SigningKeys>>,
    /// Journeys that `POST /api/journeys/KEY/enter` may start (those with an `api` trigger), when journeys run.
    pub api_journeys: Option<Arc<Vec<String>>>,
    /// The topics the preference center offers (those of the templates).
    pub topics: Option<Arc<Vec<String>>>,
    /// Templates a broadcast may send, when journeys run.
    pub templates: Option<Arc<Vec<String>>>,
    /// The definition files, for `/api/definitions`.
    pub definitions: Option<Arc<dyn definitions::DefinitionsHost>>,
}

impl AppState {
    /// With the live engine (see [`live::Live::start`]).
    pub fn with_live(mut self, live: Arc<live::Live>) -> AppState {
        self.live = Some(live);
        self
    }

    /// With the journeys the API may start.
    pub fn with_api_journeys(mut self, keys: Vec<String>) -> AppState {
        self.api_journeys = Some(Arc::new(keys));
        self
    }

    /// With the topics people may choose in the preference center.
    pub fn with_topics(mut self, topics: impl IntoIterator<Item = String>) -> AppState {
        let mut t: Vec<String> = topics.into_iter().collect();
        t.sort();
        t.dedup();
        self.topics = Some(Arc::new(t));
        self
    }

    /// With the templates broadcasts may send (`POST /api/broadcasts`).
    pub fn with_templates(mut self, names: impl IntoIterator<Item = String>) -> AppState {
        let mut t: Vec<String> = names.into_iter().collect();
        t.sort();
        self.templates = Some(Arc::new(t));
        self
    }

    /// With the definition files the admin API may show and replace.
    pub fn with_definitions(mut self, host: Arc<dyn definitions::DefinitionsHost>) -> AppState {
        self.definitions = Some(host);
        self
    }

    /// With the keys of the tracking links.
    pub fn with_signing(mut self, keys: tidings_render::tokens::SigningKeys) -> AppState {
        self.signing = Some(Arc::new(keys));
        self
    }

    /// State over `store`, with its ingest writer thread started.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, observers: Vec<Arc<dyn AppendObserver>>) -> AppState {
        let metrics = Arc::new(Metrics::default());
        let ingest = IngestQueue::start(store.clone(), metrics.clone(), observers);
        AppState {
            store,
            ingest,
            clock,
            metrics,
            live: None,
            signing: None,
            api_journeys: None,
            topics: None,
            templates: None,
            definitions: None,
        }
    }
}

/// Runs a storage call on a blocking thread.
pub async fn blocking<T, F>(app: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> tidings_store::Result<T> + Send + 'static,
{
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref())).await.map_err(ApiError::internal)?.map_err(ApiError::from)
}

/// The whole HTTP surface.
pub fn router(app: AppState) -> Router {
    Router::new()
        .merge(v1::routes())
        .merge(api::routes())
        .merge(definitions::routes())
        .merge(track::routes())
        .merge(dashboard::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .with_state(app)
}

async fn healthz(State(app): State<AppState>) -> impl IntoResponse {
    match blocking(&app, |s| s.workspaces()).await {
        Ok(_) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok", "storage": app.store.backend()}))),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "storage": app.store.backend()})),
        ),
    }
}

async fn metrics_text(State(app): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see docs/openapi.json")
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(app);
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
