//! The event log: `GET /api/events` (own events for a user, all for an admin) and
//! `GET /api/events/stream`, which streams dispatches live as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use chronicle_store::EventFilter;

use crate::auth::CurrentUser;
use crate::error::AppQuery;
use crate::error::AppResult;
use crate::state::{AppState, log_entry};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    #[serde(default = "default_limit")]
    limit: u32,
    event_type: Option<String>,
    conversation_id: Option<String>,
    plugin_id: Option<String>,
    /// `executed`, `declined`, `skipped`, `failed` or `timed_out`.
    outcome: Option<String>,
}

fn default_limit() -> u32 {
    50
}

#[utoipa::path(
    get, path = "/api/events", summary = "The event log", tag = "events", params(Filter),
    responses((status = 200, description = "The newest event-log records", body = super::schemas::EventPage))
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(filter): AppQuery<Filter>,
) -> AppResult<Json<Value>> {
    let filter = EventFilter {
        limit: filter.limit.clamp(1, 200) as usize,
        event: filter.event_type,
        conversation_id: filter.conversation_id,
        plugin_id: filter.plugin_id,
        outcome: filter.outcome,
    };
    let events = state.store.recent_events(&user.owner(), &filter).await?;
    Ok(Json(json!({"total": events.len(), "events": events})))
}

#[utoipa::path(
    delete, path = "/api/events", summary = "Clear the event log", tag = "events",
    responses((status = 200, description = "The caller's records removed (everyone's for an admin)", body = super::schemas::EventsCleared))
)]
pub async fn clear(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<Value>> {
    let deleted = state.store.clear_events(&user.owner()).await?;
    Ok(Json(json!({"deleted": deleted})))
}

#[utoipa::path(
    get, path = "/api/events/stream", summary = "The event log, live (server-sent events)", tag = "events",
    description = "Server-sent events: `connected`, then a `plugin.event` (an event-log record as JSON) for each dispatch, and a `heartbeat` comment every 30 s.",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String))
)]
pub async fn stream(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let user_id = user.id.clone();
    let dispatches =
        BroadcastStream::new(state.core.dispatches.subscribe()).filter_map(move |record| {
            let record = record.ok()?;
            if !user.is_admin && *record.user_id != *user.id {
                return None;
            }
            Some(
                SseEvent::default()
                    .event("plugin.event")
                    .data(log_entry(&record).to_string()),
            )
        });
    event_stream(user_id, dispatches, Duration::from_secs(30))
}

/// An SSE answer: `connected` (naming the user), then `events`, with a `heartbeat` comment
/// every `heartbeat` so proxies keep the connection open.
pub(super) fn event_stream(
    user_id: String,
    events: impl Stream<Item = SseEvent> + Send + 'static,
    heartbeat: Duration,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let connected = SseEvent::default()
        .event("connected")
        .data(json!({"user_id": user_id}).to_string());
    let stream = tokio_stream::once(connected).chain(events).map(Ok);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
}
