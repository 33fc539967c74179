//! `/health` and `/metrics`: unauthenticated, for probes and scrapers.

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

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.core.metrics.render(),
    )
}
