//! Conversations: list, get, memories, star, close, delete.

use axum::Json;
use axum::extract::{Path, State};
use chronicle_plugin_api::EndReason;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Page {
    #[serde(default = "default_limit")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

fn default_limit() -> u32 {
    50
}

fn not_found() -> AppError {
    AppError::NotFound("Conversation not found".into())
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(page): AppQuery<Page>,
) -> AppResult<Json<Value>> {
    let limit = page.limit.clamp(1, 500);
    let (conversations, total) = state
        .store
        .list_conversations(&user.owner(), limit as usize, page.offset as usize)
        .await?;
    Ok(Json(
        json!({"conversations": conversations, "total": total, "limit": limit, "offset": page.offset}),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let conversation = state
        .store
        .conversation(&user.owner(), &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(json!({"conversation": conversation})))
}

pub async fn memories(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    state
        .store
        .conversation(&user.owner(), &id)
        .await?
        .ok_or_else(not_found)?;
    let memories = state
        .store
        .conversation_memories(&user.owner(), &id)
        .await?;
    Ok(Json(
        json!({"conversation_id": id, "count": memories.len(), "memories": memories}),
    ))
}

/// Toggles the star and dispatches `conversation.starred`.
pub async fn star(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let answer = state
        .core
        .pipeline
        .toggle_star(user.owner(), &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(answer))
}

/// `POST /api/conversations/{client_id}/close`: ends the conversation open on that device.
pub async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(client_id): Path<String>,
) -> AppResult<Json<Value>> {
    let pipeline = &state.core.pipeline;
    let session = pipeline
        .sessions
        .by_client(&client_id, (!user.0.is_admin).then_some(user.0.id.as_str()))
        .ok_or_else(|| AppError::NotFound(format!("Client '{client_id}' is not connected")))?;
    let closed = session.close(pipeline, EndReason::UserRequested).await?;
    if !closed {
        return Err(AppError::Conflict(format!(
            "Client '{client_id}' has no open conversation"
        )));
    }
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(Json(
        json!({"message": "Conversation closed", "client_id": client_id, "timestamp": timestamp}),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    if !state.store.delete_conversation(&user.owner(), &id).await? {
        return Err(not_found());
    }
    Ok(Json(
        json!({"message": "Conversation deleted", "conversation_id": id}),
    ))
}

/// `GET /api/conversations/{id}/audio`: the conversation's recording (WAV), for whoever may
/// see the conversation, honouring `Range` (206) so a player can seek.
pub async fn audio(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> AppResult<axum::response::Response> {
    let conversation = state
        .store
        .conversation(&user.owner(), &id)
        .await?
        .ok_or_else(not_found)?;
    let no_audio = || AppError::NotFound("this conversation has no recording".into());
    let path = std::path::PathBuf::from(conversation.audio_path.ok_or_else(no_audio)?);
    if !state.store.folder().holds_audio(&path) || !path.is_file() {
        return Err(no_audio());
    }
    let wav = axum::http::HeaderValue::from_static("audio/wav");
    let response = tower::ServiceExt::oneshot(tower_http::services::ServeFile::new(&path), request)
        .await
        .map_err(|error| AppError::Internal(error.into()))?;
    let mut response = response.map(axum::body::Body::new);
    // Recordings are WAV whatever their name says (a guess by extension could differ).
    if response.status().is_success() {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, wav);
    }
    Ok(response)
}

/// `GET /api/sessions`: device sessions, newest first.
pub async fn sessions(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(page): AppQuery<Page>,
) -> AppResult<Json<Value>> {
    let sessions = state
        .store
        .list_sessions(&user.owner(), page.limit.clamp(1, 500) as usize)
        .await?;
    Ok(Json(json!({"count": sessions.len(), "sessions": sessions})))
}
