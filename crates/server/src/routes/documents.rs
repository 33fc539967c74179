//! What plugins stored through the `database` service, for people to look at: the guide's
//! "verify the todos in the database" step. A user sees the documents whose `user_id` is
//! theirs; an admin sees every document.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppQuery, AppResult};
use crate::state::AppState;

/// The most documents one page shows.
const MAX_PAGE: usize = 200;

#[utoipa::path(
    get, path = "/api/plugins/documents", summary = "Plugins' document collections", tag = "documents",
    responses((status = 200, description = "Every collection holding documents the caller may see", body = super::schemas::Collections))
)]
pub async fn collections(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Value>> {
    let collections = state.store.document_collections(&user.owner()).await?;
    Ok(Json(json!({"collections": collections})))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn default_limit() -> usize {
    50
}

#[utoipa::path(
    get, path = "/api/plugins/{plugin_id}/documents/{collection}", summary = "A page of a plugin's documents", tag = "documents",
    params(
        ("plugin_id" = String, Path, description = "The plugin that keeps the collection"),
        ("collection" = String, Path, description = "The collection"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of documents, in insertion order", body = chronicle_store::DocumentPage))
)]
pub async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((plugin_id, collection)): Path<(String, String)>,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<Value>> {
    let page = state
        .store
        .browse_documents(
            &plugin_id,
            &collection,
            &user.owner(),
            query.limit.clamp(1, MAX_PAGE),
            query.offset,
        )
        .await?;
    Ok(Json(json!(page)))
}
