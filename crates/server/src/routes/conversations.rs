//! Conversations: list, get, memories, star, close, delete.

use axum::Json;
use axum::extract::{Path, State};
use chronicle_plugin_api::EndReason;
use chronicle_store::ConversationQuery;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;

/// `GET /api/sessions`: how many.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    #[serde(default = "default_limit")]
    limit: u32,
}

/// `GET /api/conversations`: a page, and what to show.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default = "default_limit")]
    limit: u32,
    #[serde(default)]
    offset: u32,
    /// Words in the title or transcript.
    q: Option<String>,
    starred: Option<bool>,
    /// RFC 3339 time or `YYYY-MM-DD` (UTC).
    since: Option<String>,
    until: Option<String>,
    /// `summary`: each conversation without its transcript and segments, with a `snippet`
    /// (the list pages show); anything else, everything.
    view: Option<String>,
}

fn default_limit() -> u32 {
    50
}

fn not_found() -> AppError {
    AppError::NotFound("Conversation not found".into())
}

#[utoipa::path(
    get, path = "/api/conversations", summary = "List conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, description = "A page of conversations, newest first", body = super::schemas::ConversationPage))
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<ListQuery>,
) -> AppResult<Json<Value>> {
    let limit = query.limit.clamp(1, 500);
    let filter = ConversationQuery {
        text: query.q.clone(),
        starred: query.starred,
        since: query.since.clone(),
        until: query.until.clone(),
    };
    let (conversations, total) = state
        .store
        .find_conversations(
            &user.owner(),
            &filter,
            limit as usize,
            query.offset as usize,
        )
        .await?;
    let conversations: Vec<Value> = if query.view.as_deref() == Some("summary") {
        conversations
            .into_iter()
            .map(|conversation| {
                let snippet = crate::tools::snippet(&conversation.transcript, query.q.as_deref());
                let mut value = json!(conversation);
                if let Some(object) = value.as_object_mut() {
                    object.remove("transcript");
                    object.remove("segments");
                    object.insert("snippet".into(), snippet.into());
                }
                value
            })
            .collect()
    } else {
        conversations.into_iter().map(|c| json!(c)).collect()
    };
    Ok(Json(
        json!({"conversations": conversations, "total": total, "limit": limit, "offset": query.offset}),
    ))
}

#[utoipa::path(
    get, path = "/api/conversations/{id}", summary = "A conversation with its transcript", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, description = "The conversation with its transcript and segments", body = super::schemas::ConversationAnswer))
)]
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

#[utoipa::path(
    get, path = "/api/conversations/{id}/memories", summary = "The memories drawn from a conversation", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, description = "The memories drawn from it", body = super::schemas::ConversationMemories))
)]
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
#[utoipa::path(
    post, path = "/api/conversations/{id}/star", summary = "Star or unstar a conversation", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, description = "The star toggled", body = super::schemas::Starred))
)]
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
#[utoipa::path(
    post, path = "/api/conversations/{id}/close", summary = "Close a device's open conversation", tag = "conversations",
    params(("id" = String, Path, description = "The streaming device's client id")),
    responses(
        (status = 200, description = "Its open conversation closed", body = super::schemas::Closed),
        (status = 409, description = "The device has no open conversation", body = super::schemas::Detail),
    )
)]
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

#[utoipa::path(
    delete, path = "/api/conversations/{id}", summary = "Delete a conversation", tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, description = "Deleted, with its memories and recording", body = super::schemas::ConversationDeleted))
)]
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
#[utoipa::path(
    get, path = "/api/conversations/{id}/audio", summary = "A conversation's recording", tag = "conversations",
    params(
        ("id" = String, Path, description = "The conversation's id"),
        ("Range" = Option<String>, Header, description = "A byte range, to seek"),
    ),
    responses(
        (status = 200, description = "The recording", content_type = "audio/wav", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "audio/wav", body = Vec<u8>),
        (status = 416, description = "A range outside the recording"),
    )
)]
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
#[utoipa::path(
    get, path = "/api/sessions", summary = "Device sessions", tag = "conversations", params(SessionsQuery),
    responses((status = 200, description = "Device sessions, newest first", body = super::schemas::SessionList))
)]
pub async fn sessions(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(page): AppQuery<SessionsQuery>,
) -> AppResult<Json<Value>> {
    let sessions = state
        .store
        .list_sessions(&user.owner(), page.limit.clamp(1, 500) as usize)
        .await?;
    Ok(Json(json!({"count": sessions.len(), "sessions": sessions})))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_snippet_shows_the_words_searched_for_or_the_start() {
        use crate::tools::snippet;
        let long = format!("{} buy oat milk {}", "x ".repeat(200), "y ".repeat(200));
        let around = snippet(&long, Some("OAT"));
        assert!(around.contains("buy oat milk"), "{around}");
        assert!(around.starts_with('…') && around.ends_with('…'));
        assert_eq!(snippet("short one", None), "short one");
        assert_eq!(snippet("short one", Some("absent")), "short one");
        assert_eq!(snippet("", Some("x")), "");
    }
}
