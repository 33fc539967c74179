//! The durable delivery queue under `/api/admin/deliveries`: list deliveries (dead letters
//! first of all), and replay one or every dead one. The same as `chronicle deliveries`.

use axum::Json;
use axum::extract::{Path, State};
use chronicle_host_ports::delivery::{DeliveryFilter, DeliveryQueue, DeliveryStatus, ReplayTarget};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AdminUser;
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;

/// How many deliveries a listing shows unless asked for another number.
const DEFAULT_LIMIT: usize = 100;
/// The most a listing shows.
const MAX_LIMIT: usize = 10_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses (`dead`, `failed,pending`, …); all when absent.
    status: Option<String>,
    user_id: Option<String>,
    /// Only the deliveries of this conversation's events.
    conversation_id: Option<String>,
    limit: Option<usize>,
}

/// Parses `dead,failed` into statuses, or says which names exist.
fn parse_statuses(text: &str) -> Result<Vec<DeliveryStatus>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::parse)
        .collect()
}

#[utoipa::path(
    get, path = "/api/admin/deliveries", summary = "The delivery queue", tag = "admin", params(ListQuery),
    responses((status = 200, description = "Deliveries, dead letters first, and the counts by status", body = super::schemas::DeliveryList))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<ListQuery>,
) -> AppResult<Json<Value>> {
    let statuses = match &query.status {
        Some(text) => parse_statuses(text).map_err(AppError::BadRequest)?,
        None => Vec::new(),
    };
    let filter = DeliveryFilter {
        statuses,
        user_id: query.user_id,
        lane: query
            .conversation_id
            .map(|conversation| chronicle_host_ports::delivery::lane(Some(&conversation), "")),
        limit: query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
    };
    let queue = &state.store;
    let deliveries = queue.list(&filter).await.map_err(internal)?;
    let counts: serde_json::Map<String, Value> = queue
        .status_counts()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(status, count)| (status.to_string(), json!(count)))
        .collect();
    Ok(Json(json!({"deliveries": deliveries, "counts": counts})))
}

#[utoipa::path(
    post, path = "/api/admin/deliveries/{id}/replay", summary = "Replay a delivery", tag = "admin",
    params(("id" = i64, Path, description = "The delivery's number")),
    responses(
        (status = 200, description = "It goes again", body = super::schemas::Replayed),
        (status = 409, description = "It is running now", body = super::schemas::Detail),
    )
)]
pub async fn replay_one(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let unknown = || AppError::NotFound(format!("No delivery {id}"));
    let number: i64 = id.parse().map_err(|_| unknown())?;
    let Some(delivery) = state.store.delivery(number).await.map_err(internal)? else {
        return Err(unknown());
    };
    if delivery.status == DeliveryStatus::Running {
        return Err(AppError::Conflict(format!(
            "Delivery {id} is running now; replay it once it has ended"
        )));
    }
    replay(&state, ReplayTarget::One(number)).await
}

#[utoipa::path(
    post, path = "/api/admin/deliveries/replay-dead", summary = "Replay every dead delivery", tag = "admin",
    responses((status = 200, description = "Every dead delivery goes again", body = super::schemas::Replayed))
)]
pub async fn replay_dead(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> AppResult<Json<Value>> {
    replay(&state, ReplayTarget::AllDead).await
}

async fn replay(state: &AppState, target: ReplayTarget) -> AppResult<Json<Value>> {
    let now = chronicle_store::delivery::now_ms();
    let replayed = state.store.replay(target, now).await.map_err(internal)?;
    state.core.pipeline.deliveries.wake();
    Ok(Json(json!({"replayed": replayed})))
}

fn internal(error: chronicle_host_ports::BackendError) -> AppError {
    AppError::Internal(anyhow::anyhow!(error.to_string()))
}
