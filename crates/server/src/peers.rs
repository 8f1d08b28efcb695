//! Answers that span partitions when several nodes share one database.
//!
//! Each node's engine holds only the partitions its node owns, so a segment's
//! size or members are a union over nodes. The node a request reaches
//! answers for its own partitions and asks every other live node (their
//! addresses are in the store's `nodes` table) for theirs, with the same
//! admin key and `scope=node`, which makes a node answer for itself alone.
//! Every answer names the partitions it covers; the union says whether all
//! of them were (`complete`), which is false only while a dead node's
//! partitions wait for a new owner (seconds).

use crate::AppState;
use crate::error::ApiError;
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tidings_model::WorkspaceId;
use tidings_node::Live;

/// How long a node waits for another's answer.
const TIMEOUT: Duration = Duration::from_secs(3);
/// The query parameter that asks a node for its own partitions only.
pub const SCOPE: &str = "scope";

/// Whether a request asks this node for its partitions alone.
pub fn local_only(scope: Option<&str>) -> bool {
    scope == Some("node")
}

/// This node's part of an answer: its id and the partitions it holds and
/// has built (one it just gained is not covered until its profiles are
/// built from the log, so the union says `complete: false` meanwhile).
pub fn covering(app: &AppState, live: &Live, ws: WorkspaceId) -> Option<(String, Vec<u32>)> {
    let c = live.cluster()?;
    let built = live.serving();
    let held =
        c.ownership.held(ws, app.clock.now()).into_iter().map(|(p, _)| p).filter(|p| built.contains(p)).collect();
    Some((c.node.clone(), held))
}

/// The same request's answers from every other live node, for their
/// partitions: `path_and_query` without the scope (it is added). Empty for a
/// node alone. A node that does not answer fails the request, saying which.
pub async fn ask_others(
    app: &AppState,
    live: &Live,
    headers: &HeaderMap,
    path_and_query: String,
) -> Result<Vec<Value>, ApiError> {
    let Some(cluster) = live.cluster() else { return Ok(Vec::new()) };
    let me = cluster.node.clone();
    let since = app.clock.now() - tidings_node::partitions::LeaseSettings::new("").ttl.as_micros() as i64;
    let auth = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let sep = if path_and_query.contains('?') { '&' } else { '?' };
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        let nodes = store.nodes(since).map_err(ApiError::from)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut out = Vec::new();
        for n in nodes.into_iter().filter(|n| n.id != me) {
            let Some(address) = n.address else {
                return Err(ApiError::unavailable(format!(
                    "node {} holds partitions but did not say where its API answers; give it [cluster] advertise",
                    n.id
                )));
            };
            let url = format!("{}{path_and_query}{sep}{SCOPE}=node", address.trim_end_matches('/'));
            let answer = agent
                .get(&url)
                .header("Authorization", &auth)
                .call()
                .map_err(|e| e.to_string())
                .and_then(|mut r| {
                    let status = r.status().as_u16();
                    let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
                    if status != 200 {
                        return Err(format!("HTTP {status}: {text}"));
                    }
                    serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())
                });
            match answer {
                Ok(v) => out.push(v),
                Err(why) => {
                    return Err(ApiError::unavailable(format!(
                        "node {} at {address} did not answer for its partitions ({why}); the answer would be partial, retry in a few seconds",
                        n.id
                    )));
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(ApiError::internal)?
}

/// The partitions that `answers` (each with a `partitions` list) and this
/// node's `mine` cover together, and the ones none covers.
pub fn coverage(mine: &[u32], answers: &[Value]) -> (BTreeSet<u32>, Vec<u32>) {
    let mut covered: BTreeSet<u32> = mine.iter().copied().collect();
    for a in answers {
        if let Some(ps) = a["partitions"].as_array() {
            covered.extend(ps.iter().filter_map(|p| p.as_u64()).map(|p| p as u32));
        }
    }
    let missing = (0..tidings_store::PARTITIONS).filter(|p| !covered.contains(p)).collect();
    (covered, missing)
}
