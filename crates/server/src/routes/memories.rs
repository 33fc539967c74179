//! Memories: list, search, create, delete.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppError, AppJson, AppQuery, AppResult};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    #[serde(default = "default_limit")]
    limit: u32,
    /// How many to skip, for the next page.
    #[serde(default)]
    offset: u32,
}

fn default_limit() -> u32 {
    50
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Search {
    query: String,
    #[serde(default = "default_limit")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewMemory {
    content: String,
    #[serde(default)]
    source_id: Option<String>,
}

#[utoipa::path(
    get, path = "/api/memories", summary = "List memories", tag = "memories", params(Limit),
    responses((status = 200, description = "A page of memories, newest first", body = super::schemas::MemoryPage))
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(limit): AppQuery<Limit>,
) -> AppResult<Json<Value>> {
    let (memories, total) = state
        .store
        .memory_page(
            &user.owner(),
            "",
            limit.limit.clamp(1, 1000) as usize,
            limit.offset as usize,
        )
        .await?;
    Ok(Json(
        json!({"count": memories.len(), "total": total, "offset": limit.offset, "memories": memories}),
    ))
}

#[utoipa::path(
    get, path = "/api/memories/search", summary = "Memories containing words", tag = "memories", params(Search),
    description = "Memories containing the words, as typed (no ranking: `/api/search` ranks).",
    responses((status = 200, description = "The matching memories", body = super::schemas::MemoryMatches))
)]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(search): AppQuery<Search>,
) -> AppResult<Json<Value>> {
    let (memories, total) = state
        .store
        .memory_page(
            &user.owner(),
            &search.query,
            search.limit.clamp(1, 1000) as usize,
            search.offset as usize,
        )
        .await?;
    Ok(Json(
        json!({"query": search.query, "count": memories.len(), "total": total, "offset": search.offset, "memories": memories}),
    ))
}

#[utoipa::path(
    post, path = "/api/memories", summary = "Add a memory", tag = "memories", request_body = NewMemory,
    responses((status = 200, description = "The memory", body = super::schemas::MemoryAnswer))
)]
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    AppJson(memory): AppJson<NewMemory>,
) -> AppResult<Json<Value>> {
    if memory.content.trim().is_empty() {
        return Err(AppError::BadRequest("content must not be empty".into()));
    }
    let created = state
        .store
        .add_memory(&user.id, memory.source_id.as_deref(), memory.content.trim())
        .await?;
    Ok(Json(json!({"memory": created})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MemoryEdit {
    content: String,
}

#[utoipa::path(
    patch, path = "/api/memories/{id}", summary = "Edit a memory", tag = "memories", request_body = MemoryEdit,
    params(("id" = String, Path, description = "The memory's id")),
    responses((status = 200, description = "The memory as it is now", body = super::schemas::MemoryAnswer))
)]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    AppJson(edit): AppJson<MemoryEdit>,
) -> AppResult<Json<Value>> {
    let content = edit.content.trim();
    if content.is_empty() {
        return Err(AppError::BadRequest("content must not be empty".into()));
    }
    match state
        .store
        .update_memory(&user.owner(), &id, content)
        .await?
    {
        Some(memory) => Ok(Json(json!({"memory": memory}))),
        None => Err(AppError::NotFound("Memory not found".into())),
    }
}

#[utoipa::path(
    delete, path = "/api/memories/{id}", summary = "Delete a memory", tag = "memories",
    params(("id" = String, Path, description = "The memory's id")),
    responses((status = 200, description = "Deleted", body = super::schemas::MemoryDeleted))
)]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    if !state.store.delete_memory(&user.owner(), &id).await? {
        return Err(AppError::NotFound("Memory not found".into()));
    }
    Ok(Json(json!({"message": "Memory deleted", "memory_id": id})))
}
