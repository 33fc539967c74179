//! `GET /api/search?q=&since=&until=&kind=memory|conversation&limit=`: full-text search over
//! the caller's memories and transcript segments (everyone's for an admin), ranked by BM25,
//! each hit with its kind, ids, time, score and a snippet whose matched words are in
//! `<mark>` (the rest HTML-escaped). With an embeddings server the query is embedded too and
//! the two rankings are fused by reciprocal rank (`"ranking": "rrf"`); without one, or when it
//! fails, the words alone rank (`"ranking": "bm25"`) and the `note` says why.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;
use chronicle_pipeline::search::SearchRequest;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// The words. A time in them ("yesterday", "6 hours ago", "last Tuesday", "in the past 3
    /// days") becomes a time filter and is not searched for.
    q: String,
    /// RFC 3339 time or `YYYY-MM-DD`: only from then.
    since: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (the whole day): only until then.
    until: Option<String>,
    /// `memory` or `conversation`: only that kind.
    kind: Option<String>,
    /// The asker's IANA time zone (`Europe/Berlin`), for the times in `q`; the server's own
    /// when absent.
    tz: Option<String>,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    20
}

#[utoipa::path(
    get, path = "/api/search", summary = "Search everything said and remembered", tag = "search", params(Params),
    description = "Ranked by words (BM25) and, with an embeddings server, by meaning too, fused by reciprocal rank. A question about a time alone (\"what did I discuss yesterday?\") lists that time's memories and segments, newest first.",
    responses((status = 200, description = "Hits, best first", body = super::schemas::SearchAnswer))
)]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(params): AppQuery<Params>,
) -> AppResult<Json<Value>> {
    let kind =
        chronicle_pipeline::search::kind(params.kind.as_deref()).map_err(AppError::BadRequest)?;
    let tz = chronicle_pipeline::search::time_zone(params.tz.as_deref())
        .map_err(AppError::BadRequest)?;
    let outcome = chronicle_pipeline::search::search(
        &state.store,
        state.core.embedder.as_ref(),
        &user.owner(),
        SearchRequest {
            text: params.q.clone(),
            since: params.since,
            until: params.until,
            kind,
            tz,
            limit: params.limit.clamp(1, 100) as usize,
        },
    )
    .await?;
    Ok(Json(json!({
        "query": params.q,
        "searched_for": outcome.searched_for,
        "time_filter": outcome.time_filter,
        "ranking": outcome.ranking,
        "note": outcome.note,
        "count": outcome.hits.len(),
        "hits": outcome.hits,
    })))
}
