//! `GET /api/search?q=&since=&until=&kind=memory|conversation&limit=`: full-text search over
//! the caller's memories and transcript segments (everyone's for an admin), ranked by BM25,
//! each hit with its kind, ids, time, score and a snippet whose matched words are in
//! `<mark>` (the rest HTML-escaped). With an embeddings server the query is embedded too and
//! the two rankings are fused by reciprocal rank (`"ranking": "rrf"`); without one, or when it
//! fails, the words alone rank (`"ranking": "bm25"`) and the `note` says why.

use axum::Json;
use axum::extract::State;
use chronicle_store::{HitKind, SearchQuery, Semantic};
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
    let limit = params.limit.clamp(1, 100) as usize;
    let store = &state.store;
    let owner = user.owner();
    let (hits, ranking, note) = match &state.core.embedder {
        None => (
            store.search(&owner, &query, limit).await?,
            "bm25",
            "by words alone: no embeddings server is configured (embeddings in chronicle.yml)"
                .to_owned(),
        ),
        Some(embedder) => match embedder.model.embed(std::slice::from_ref(&params.q)).await {
            Ok(vectors) => {
                let semantic = Semantic {
                    model: embedder.model.model(),
                    vector: &vectors[0],
                    min_similarity: embedder.model.min_similarity(),
                };
                (
                    store
                        .hybrid_search(&owner, &query, Some(semantic), limit)
                        .await?,
                    "rrf",
                    format!(
                        "by words (BM25) and meaning ({}), fused by reciprocal rank",
                        embedder.model.model()
                    ),
                )
            }
            // The words still find what they find.
            Err(error) => {
                tracing::warn!(%error, "Searching by words alone: the query was not embedded.");
                (
                    store.search(&owner, &query, limit).await?,
                    "bm25",
                    format!("by words alone: {error}"),
                )
            }
        },
    };
    Ok(Json(json!({
        "query": params.q,
        "ranking": ranking,
        "note": note,
        "count": hits.len(),
        "hits": hits,
    })))
}
