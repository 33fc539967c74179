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

pub async fn collections(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Value>> {
    let collections = state.store.document_collections(&user.owner()).await?;
    Ok(Json(json!({"collections": collections})))
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn default_limit() -> usize {
    50
}

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
