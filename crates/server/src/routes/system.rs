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
        let user = crate::auth::user_for_token(&state, bearer)
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
