//! Segment definitions through the admin API: read the rule files, and
//! replace one with the checks `tidings check` makes. A replacement that
//! has any error changes nothing; one that passes is written to the data
//! folder, the live engine rebuilds every profile's state from the log in
//! parallel (progress in `GET /api/segments`), and the journey runner takes
//! the new rules.
//!
//! - `GET /api/definitions`: `{"files": [{"name", "text"}]}`.
//! - `PUT /api/definitions/{name}` with the file's text as the body
//!   (`name` ends in `.rules`, no folders): `200` with what is live now, or
//!   `422 invalid_definitions` with every diagnostic, located and rendered.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use tidings_model::WorkspaceId;
use tidings_node::DefinitionsHost;
use tidings_rules::{SourceFile, check_workspace, has_errors};

use crate::{ApiError, AppState, ErrorCode};

/// The largest rule file the API takes.
pub const MAX_RULES_BYTES: usize = 1 << 20;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/definitions", get(list)).route("/api/definitions/{name}", get(one).put(replace))
}

fn host(app: &AppState, ws: WorkspaceId) -> Result<Arc<dyn DefinitionsHost>, ApiError> {
    app.tenant(ws).and_then(|t| t.definitions.clone()).ok_or_else(|| {
        ApiError::not_found("this server does not manage definition files; edit *.rules in the data folder and restart")
    })
}

fn rule_files(host: &dyn DefinitionsHost) -> Result<Vec<SourceFile>, ApiError> {
    host.rule_files().map_err(ApiError::internal)
}

async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ws = crate::api::admin(&app, &headers).await?;
    let host = host(&app, ws)?;
    let files: Vec<Value> =
        rule_files(host.as_ref())?.into_iter().map(|f| json!({"name": f.name, "text": f.text})).collect();
    Ok(Json(json!({"files": files})))
}

async fn one(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ws = crate::api::admin(&app, &headers).await?;
    let host = host(&app, ws)?;
    let file = rule_files(host.as_ref())?
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no rule file {name:?}; GET /api/definitions lists them")))?;
    Ok(Json(json!({"name": file.name, "text": file.text})))
}

/// A file name the API may write: `NAME.rules`, no folders, no dot files.
fn valid_name(name: &str) -> bool {
    let stem = name.strip_suffix(".rules").unwrap_or("");
    !stem.is_empty()
        && !stem.starts_with('.')
        && stem.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

async fn replace(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ws = crate::api::admin(&app, &headers).await?;
    let host = host(&app, ws)?;
    let tenant = app.tenant(ws).cloned().ok_or_else(|| ApiError::not_found("this server runs no segment engine"))?;
    if !tenant.segments_on {
        return Err(ApiError::not_found("this server runs no segment engine"));
    }
    if tenant.live.cluster().is_some() {
        return Err(ApiError::new(
            ErrorCode::SingleNodeOnly,
            "this node is one of several sharing the database, and the others would keep the old definitions: \
             change the files on every node and restart them one at a time",
        ));
    }
    if !valid_name(&name) {
        return Err(ApiError::new(
            ErrorCode::InvalidName,
            format!("{name:?}: a rule file is named like segments.rules (letters, digits, _ - .; no folders)"),
        ));
    }
    let body = crate::body::read_bytes(&headers, body, MAX_RULES_BYTES, app.limits.body_timeout, ErrorCode::TooLarge)
        .await
        .map_err(|e| match e.code {
            ErrorCode::TooLarge => ApiError::new(
                ErrorCode::TooLarge,
                format!("a rule file may have at most {MAX_RULES_BYTES} bytes; split it into several files"),
            ),
            _ => e,
        })?;
    let text = String::from_utf8(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidUtf8, format!("the body is not UTF-8 text: {e}")))?;
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        // One replacement at a time: each checks against what the last one left.
        let _one = tenant.live.replacing.lock();
        let mut files = rule_files(host.as_ref())?;
        match files.iter_mut().find(|f| f.name == name) {
            Some(f) => f.text = text.clone(),
            None => {
                files.push(SourceFile::new(name.clone(), text.clone()));
                files.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
        let known = store.event_names(ws).map_err(ApiError::from)?;
        let (rules, mut diags) = check_workspace(&files, Some(&known));
        let (rest, rest_files) = host.check_rest(&rules, &known);
        diags.extend(rest);
        let all: Vec<SourceFile> = files.iter().chain(&rest_files).cloned().collect();
        let described: Vec<Value> = diags
            .iter()
            .map(|d| {
                let text = all.iter().find(|f| f.name == d.file).map(|f| f.text.as_str());
                json!({
                    "severity": if d.is_error() { "error" } else { "warning" },
                    "code": d.code.as_str(),
                    "message": d.message,
                    "file": d.file,
                    "rendered": d.render(text),
                })
            })
            .collect();
        if has_errors(&diags) {
            let n = diags.iter().filter(|d| d.is_error()).count();
            return Err(ApiError::new(
                ErrorCode::InvalidDefinitions,
                format!("{n} error(s) in the definitions; nothing was changed (each diagnostic says where and why)"),
            )
            .with(json!({"diagnostics": described})));
        }
        host.write(&name, &text).map_err(ApiError::internal)?;
        let replaced = tenant.replace_rules(rules).map_err(|e| {
            ApiError::busy(e, "the file is written but the engine could not take the new rules (a restart runs them)")
        })?;
        Ok((StatusCode::OK, Json(json!({"live": replaced, "diagnostics": described}))))
    })
    .await
    .map_err(ApiError::internal)?
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn only_plain_rule_file_names_are_written() {
        for ok in ["segments.rules", "vip-2026.rules", "a_b.c.rules"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".rules", "../x.rules", "a/b.rules", ".hidden.rules", "x.toml", "x.rules/", "x\\y.rules"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
