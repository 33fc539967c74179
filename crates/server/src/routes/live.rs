//! `GET /api/live/stream`: the signed-in user's live sessions as server-sent events, for the
//! web app's Live page — `interim` and `final` transcripts as the provider sends them,
//! `button` presses, and `session` starts and ends. Only the user's own devices, admins
//! included: it is a view of *my* sessions, not a wiretap.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, Sse};
use futures_util::stream::Stream;
use serde_json::json;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::auth::CurrentUser;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/live/stream", summary = "The caller's devices, live (server-sent events)", tag = "live",
    description = "Server-sent events for the caller's own devices: `connected`, `session`, `interim`, `final`, `button`, and `missed` when the watcher fell behind; a `heartbeat` comment every 15 s.",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String))
)]
pub async fn stream(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let user_id = user.id.clone();
    let updates =
        BroadcastStream::new(state.core.pipeline.watchers.subscribe()).filter_map(move |watched| {
            match watched {
                Ok(watched) if *watched.user_id == *user.id => Some(
                    SseEvent::default()
                        .event(watched.kind)
                        .data(serde_json::to_string(&watched).unwrap_or_default()),
                ),
                Ok(_) => None,
                // A watcher that fell behind is told how much it missed, and goes on.
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(
                    SseEvent::default()
                        .event("missed")
                        .data(json!({"updates": missed}).to_string()),
                ),
            }
        });
    super::events::event_stream(user_id, updates, Duration::from_secs(15))
}
