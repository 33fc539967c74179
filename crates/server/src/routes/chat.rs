//! `/api/chat/sessions`: asking one's memories ([`crate::chat`]). Sessions are per user and
//! kept; a message is answered as server-sent events: `delta` (the answer's text as it comes),
//! `tool` (a tool the model called), `sources` (what the answer cited), then `done` (the saved
//! answer) or `error`.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chronicle_store::ChatRole;
use futures_util::StreamExt;
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::auth::CurrentUser;
use crate::chat::{Asker, ChatError, ChatEvent};
use crate::error::{AppError, AppJson, AppResult};
use crate::state::AppState;

/// The longest question taken.
const MAX_QUESTION_CHARS: usize = 4_000;
/// Messages a session shows.
const MAX_MESSAGES: usize = 200;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewSession {
    /// What it is about; the first question names it when absent.
    #[serde(default)]
    title: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Question {
    content: String,
    /// The asker's IANA time zone, for times in the question; the server's own when absent.
    #[serde(default)]
    tz: Option<String>,
}

#[utoipa::path(
    post, path = "/api/chat/sessions", summary = "Start a chat with your memories", tag = "chat",
    request_body = NewSession,
    responses((status = 201, description = "The session", body = super::schemas::ChatSessionAnswer))
)]
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    AppJson(new): AppJson<NewSession>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let title = new.title.unwrap_or_default();
    let session = state.store.create_chat_session(&user.id, &title).await?;
    Ok((StatusCode::CREATED, Json(json!({"session": session}))))
}

#[utoipa::path(
    get, path = "/api/chat/sessions", summary = "Your chat sessions", tag = "chat",
    responses((status = 200, description = "Sessions, the latest first", body = super::schemas::ChatSessionList))
)]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<Value>> {
    let sessions = state.store.chat_sessions(&user.owner(), 100).await?;
    Ok(Json(json!({"sessions": sessions})))
}

#[utoipa::path(
    get, path = "/api/chat/sessions/{id}", summary = "A chat session and its messages", tag = "chat",
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, description = "The session, its messages oldest first", body = super::schemas::ChatSessionMessages))
)]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let session = state
        .store
        .chat_session(&user.owner(), &id)
        .await?
        .ok_or_else(|| AppError::NotFound("Chat session not found".into()))?;
    let messages = state.store.chat_messages(&id, MAX_MESSAGES).await?;
    Ok(Json(json!({"session": session, "messages": messages})))
}

fn event(name: &str, data: Value) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default().event(name).data(data.to_string()))
}

#[utoipa::path(
    post, path = "/api/chat/sessions/{id}/messages", summary = "Ask a question", tag = "chat",
    description = "Answered as server-sent events: `delta` {text} as the answer comes, `tool` {name, arguments} for each tool the model calls, `sources` {sources} (what the answer cited: conversation id, time, what was said), then `done` {message} (the answer as saved) or `error` {detail}. 503 when no language model is configured, naming the setting.",
    params(("id" = String, Path, description = "The session's id")),
    request_body = Question,
    responses(
        (status = 200, description = "The answer as an event stream", content_type = "text/event-stream", body = String),
        (status = 503, description = "No language model is configured", body = super::schemas::Detail),
    )
)]
pub async fn ask(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    AppJson(question): AppJson<Question>,
) -> AppResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let content = question.content.trim().to_owned();
    if content.is_empty() {
        return Err(AppError::BadRequest("a question needs some words".into()));
    }
    if content.chars().count() > MAX_QUESTION_CHARS {
        return Err(AppError::BadRequest(format!(
            "a question is at most {MAX_QUESTION_CHARS} characters"
        )));
    }
    let tz = chronicle_pipeline::search::time_zone(question.tz.as_deref())
        .map_err(AppError::BadRequest)?;
    let owner = chronicle_store::Owner::User(user.id.clone());
    let session = state
        .store
        .chat_session(&owner, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("Chat session not found".into()))?;
    let llm = state
        .core
        .pipeline
        .llm
        .clone()
        .ok_or_else(|| AppError::Unavailable(ChatError::NoModel.to_string()))?;
    let history = state.store.chat_messages(&id, MAX_MESSAGES).await?;
    let asked = state
        .store
        .add_chat_message(&id, ChatRole::User, &content, &[])
        .await?;
    if history.is_empty() && session.title.is_empty() {
        // The first question names an untitled session.
        let _ = state.store.rename_chat_session(&id, &content).await;
    }
    // The answer's events as they come, then the one that ends it once the answer is saved.
    let (events, received) = tokio::sync::mpsc::unbounded_channel::<ChatEvent>();
    let (finished, last) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let asker = Asker {
            store: &state.store,
            embedder: state.core.embedder.as_ref(),
            llm: &llm,
            user: &user,
            tz,
        };
        let answered = asker.answer(&history, &content, &events).await;
        drop(events);
        let last = match answered {
            Ok(answer) => match state
                .store
                .add_chat_message(&id, ChatRole::Assistant, &answer.text, &answer.sources)
                .await
            {
                Ok(message) => event("done", json!({"message": message, "question": asked})),
                Err(error) => event(
                    "error",
                    json!({"detail": format!("the answer was not saved: {error}")}),
                ),
            },
            Err(error) => event("error", json!({"detail": error.to_string()})),
        };
        let _ = finished.send(last);
    });
    let streamed = UnboundedReceiverStream::new(received).map(|chat| match chat {
        ChatEvent::Delta(text) => event("delta", json!({"text": text})),
        ChatEvent::Tool { name, arguments } => {
            event("tool", json!({"name": name, "arguments": arguments}))
        }
        ChatEvent::Sources(sources) => event("sources", json!({"sources": sources})),
    });
    let last = futures_util::stream::once(last).filter_map(|last| async move { last.ok() });
    Ok(Sse::new(streamed.chain(last)).keep_alive(KeepAlive::default()))
}
