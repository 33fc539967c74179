//! `GET /api/search?q=&since=&until=&kind=memory|conversation&limit=`: full-text search over
//! the caller's memories and transcript segments (everyone's for an admin), ranked by BM25,
//! each hit with its kind, ids, time, score and a snippet whose matched words are in
//! `<mark>` (the rest HTML-escaped). Embeddings and their fusion come with the search issue;
//! until then the answer says it is full-text only (`"ranking": "bm25"`).

use axum::Json;
use axum::extract::State;
use chronicle_store::{HitKind, SearchQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    q: String,
    since: Option<String>,
    until: Option<String>,
    kind: Option<String>,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    20
}

#[utoipa::path(
    get, path = "/api/search", summary = "Search everything said and remembered", tag = "search", params(Params),
    responses((status = 200, description = "Hits, best first", body = super::schemas::SearchAnswer))
)]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(params): AppQuery<Params>,
) -> AppResult<Json<Value>> {
    let kind = match params.kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("memory") => Some(HitKind::Memory),
        Some("conversation") => Some(HitKind::Conversation),
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "`{other}` is not a kind; use memory or conversation"
            )));
        }
    };
    let query = SearchQuery {
        text: params.q.clone(),
        since: params.since,
        until: params.until,
        kind,
    };
    let hits = state
        .store
        .search(&user.owner(), &query, params.limit.clamp(1, 100) as usize)
        .await?;
    Ok(Json(json!({
        "query": params.q,
        "ranking": "bm25",
        "note": "full-text search only: no embeddings are configured yet",
        "count": hits.len(),
        "hits": hits,
    })))
}
