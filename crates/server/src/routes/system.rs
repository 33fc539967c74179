//! `/health` (unauthenticated, for probes) and `/metrics` (for scrapers holding
//! `METRICS_TOKEN`, or admins: it names the plugins and what they do).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chronicle_host_ports::delivery::DeliveryQueue as _;
use chronicle_plugin_host::PluginState;
use serde_json::{Value, json};

use crate::state::AppState;

#[utoipa::path(
    get, path = "/health", summary = "Whether the server runs, and its plugins", tag = "system", security(()),
    responses((status = 200, description = "The server answers, with its plugins' states", body = super::schemas::Health))
)]
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let plugins = state.core.host().plugins();
    let count = |state: PluginState| plugins.iter().filter(|p| p.status == state).count();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "plugins": {"initialized": count(PluginState::Initialized), "degraded": count(PluginState::Degraded), "failed": count(PluginState::Failed)},
        "sessions": state.core.pipeline.sessions.count(),
    }))
}

/// `GET /metrics`, Prometheus text: for `Authorization: Bearer $METRICS_TOKEN` or an admin's
/// token, 401 otherwise.
#[utoipa::path(
    get, path = "/metrics", summary = "Prometheus metrics", tag = "system",
    description = "Prometheus text, for `Authorization: Bearer $METRICS_TOKEN` or an admin's token or key.",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String))
)]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, crate::error::AppError> {
    let bearer = crate::auth::bearer_token(&headers).ok_or(crate::error::AppError::Unauthorized)?;
    let scraper = state
        .core
        .config
        .metrics_token
        .as_deref()
        .is_some_and(|token| constant_time_eq(token.as_bytes(), bearer.as_bytes()));
    if !scraper {
        let user = crate::auth::user_for_token(&state, bearer, chronicle_store::KeyScope::Admin)
            .await
            .ok_or(crate::error::AppError::Unauthorized)?;
        if !user.is_admin {
            return Err(crate::error::AppError::Forbidden);
        }
    }
    metrics::gauge!("chronicle_live_sessions").set(state.core.pipeline.sessions.count() as f64);
    if let Ok(counts) = state.store.status_counts().await {
        for status in chronicle_host_ports::delivery::DeliveryStatus::ALL {
            let count = counts
                .iter()
                .find(|(counted, _)| *counted == status)
                .map_or(0, |(_, count)| *count);
            metrics::gauge!("chronicle_deliveries", "status" => status.as_str()).set(count as f64);
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.core.metrics.render(),
    ))
}

/// Whether two byte strings are equal, taking as long whatever their first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// How long the System page waits for a provider to accept a connection.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /api/system`: what runs and whether its providers answer, for the System page. Counts
/// are the caller's own (everyone's for an admin); the data folder's size and the delivery
/// queue are for admins only.
#[utoipa::path(
    get, path = "/api/system", summary = "What runs, whether its providers answer, counts", tag = "system",
    responses((status = 200, description = "What runs and whether its providers answer", body = super::schemas::SystemInfo))
)]
pub async fn info(
    State(state): State<AppState>,
    user: crate::auth::CurrentUser,
) -> crate::error::AppResult<Json<Value>> {
    let config = &state.core.config.pipeline;
    let transcription = config.transcription.as_ref().map(|t| {
        (
            format!("{:?}", t.provider).to_lowercase(),
            t.model.clone(),
            t.url.clone(),
        )
    });
    let llm = config.llm.as_ref().map(|l| {
        (
            "openai-compatible".to_owned(),
            l.model.clone(),
            l.base_url.clone(),
        )
    });
    let (transcription, llm) = tokio::join!(provider(transcription), provider(llm));
    let totals = state.store.totals(&user.owner()).await?;
    let admin = user.0.is_admin;
    let (data_folder_bytes, deliveries) = if admin {
        let folder = state.store.folder().root().to_owned();
        let bytes = tokio::task::spawn_blocking(move || folder_bytes(&folder))
            .await
            .unwrap_or(0);
        let counts: serde_json::Map<String, Value> = state
            .store
            .status_counts()
            .await
            .map_err(|e| anyhow::anyhow!("cannot count the deliveries: {e}"))?
            .into_iter()
            .map(|(status, count)| (status.to_string(), json!(count)))
            .collect();
        (json!(bytes), Value::Object(counts))
    } else {
        (Value::Null, Value::Null)
    };
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.core.started.elapsed().as_secs(),
        "transcription": transcription,
        "llm": llm,
        "live_sessions": state.core.pipeline.sessions.count(),
        "data_folder_bytes": data_folder_bytes,
        "counts": {
            "conversations": totals.conversations,
            "open_conversations": totals.open_conversations,
            "memories": totals.memories,
            "deliveries": deliveries,
        },
    })))
}

/// A provider's name and model, and whether its server accepts a connection now. A connection
/// is what can be checked without spending the provider's money or time: a server that
/// accepts it but then fails a request shows up in the conversations it fails.
async fn provider(configured: Option<(String, String, String)>) -> Value {
    let Some((name, model, url)) = configured else {
        return json!({"provider": null, "ok": false, "message": "not configured"});
    };
    let (ok, message) = match url.parse::<axum::http::Uri>() {
        Err(error) => (false, format!("`{url}` is not a URL: {error}")),
        Ok(parsed) => {
            let host = parsed.host().unwrap_or_default().to_owned();
            let secure = matches!(parsed.scheme_str(), Some("https" | "wss"));
            let port = parsed.port_u16().unwrap_or(if secure { 443 } else { 80 });
            let started = std::time::Instant::now();
            match tokio::time::timeout(
                PROBE_TIMEOUT,
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            {
                Ok(Ok(_)) => (
                    true,
                    format!(
                        "{host}:{port} accepted a connection in {} ms",
                        started.elapsed().as_millis()
                    ),
                ),
                Ok(Err(error)) => (false, format!("{host}:{port} refused: {error}")),
                Err(_) => (
                    false,
                    format!(
                        "{host}:{port} did not answer in {} s",
                        PROBE_TIMEOUT.as_secs()
                    ),
                ),
            }
        }
    };
    json!({"provider": name, "model": model, "ok": ok, "message": message})
}

/// The bytes of every file under `folder` (recordings, database, spool), not following links.
fn folder_bytes(folder: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![folder.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => {
                    total += entry.metadata().map_or(0, |m| m.len());
                }
                _ => {}
            }
        }
    }
    total
}
