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
//! - This crate knows HTTP and nothing else: what runs (the ingest writer,
//!   the engines, the runners) is the node's (`tidings-node`).

pub mod api;
pub mod auth;
pub mod body;
pub mod dashboard;
pub mod definitions;
pub mod error;
pub mod limits;
mod listener;
pub mod peers;
pub mod preferences;
pub mod track;
pub mod v1;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;

use std::sync::Arc;
use tidings_model::{Clock, WorkspaceId};
use tidings_node::{IngestQueue, Metrics, Node, Tenant};
use tidings_store::Store;

pub use error::{ApiError, ErrorCode, ErrorType};
pub use limits::Limits;

/// What every handler can reach: the running node, and the pieces of it
/// handlers use most.
#[derive(Clone)]
pub struct AppState {
    pub node: Node,
    pub store: Arc<dyn Store>,
    pub ingest: IngestQueue,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// The keys that sign and verify tracking tokens of workspaces that
    /// have none of their own.
    pub signing: Option<Arc<tidings_render::tokens::SigningKeys>>,
    /// What one client may cost (see [`limits`]).
    pub limits: Arc<Limits>,
    pub counters: Arc<limits::Counters>,
}

impl AppState {
    /// HTTP over `node`.
    pub fn new(node: Node) -> AppState {
        AppState {
            store: node.store().clone(),
            ingest: node.ingest().clone(),
            clock: node.clock().clone(),
            metrics: node.metrics().clone(),
            node,
            signing: None,
            limits: Arc::new(Limits::default()),
            counters: Arc::default(),
        }
    }

    /// With other limits than the defaults.
    pub fn with_limits(mut self, limits: Limits) -> AppState {
        self.limits = Arc::new(limits);
        self
    }

    /// With the keys of the tracking links.
    pub fn with_signing(mut self, keys: tidings_render::tokens::SigningKeys) -> AppState {
        self.signing = Some(Arc::new(keys));
        self
    }

    /// The keys that verify workspace `ws`'s tracking tokens: its own, else the server's.
    pub fn signing_for(&self, ws: WorkspaceId) -> Option<Arc<tidings_render::tokens::SigningKeys>> {
        self.tenant(ws).and_then(|t| t.signing.clone()).or_else(|| self.signing.clone())
    }

    /// The workspace as the node runs it, if it does.
    pub fn tenant(&self, ws: WorkspaceId) -> Option<&Arc<Tenant>> {
        self.node.tenant(ws)
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
        .layer(axum::middleware::from_fn_with_state(app.clone(), limits::auth_failures))
        .layer(axum::middleware::from_fn(limits::json_errors))
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
/// requests in flight, under the limits of [`AppState::limits`] (see
/// `listener`). (The node keeps running; stop it with [`Node::shutdown`].)
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, app, shutdown).await
}
